#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Driver instructions per I/O on the simulated controller, with the device model excluded.
#
# Method (callgrind, deterministic):
#  * The bench runs in --callgrind mode: controller in inline mode (no device thread; the model
#    runs only inside simulated_controller::step(), called from the simulator's own poller on the loop), no clock calls, a
#    fixed I/O count and a fixed random sequence, so every run executes the same instructions.
#  * --collect-atstart=no plus --toggle-collect on the driver's entry points turns counting on
#    only while the CPU is inside them: nvme_device::submit() (the block_device hook every I/O
#    enters through), io_queue::poll() (the loop's per-iteration completion reaping) and
#    io_queue::flush_submissions() (the per-iteration doorbell write). None of them calls another,
#    so the toggles never nest.
#  * Whole-stack column: the same option on convme::sim::simulated_controller::step() toggles counting OFF on
#    entry and back ON on return: the whole device model (doorbell scan, SQE fetch, PRP walk, data
#    copy, CQE post) runs inside step() and is excluded (the driver never calls it: the model has its
#    own poller, so the loop's dispatch to it stays counted). iova_space::translate() (the sim's IOVA table behind
#    pci_device::translate, standing in for the VFIO mapping table) is excluded the same way; the
#    driver's own caching and PRP building around it stay counted.
#  * Setup (controller bring-up, queue creation on the first I/O, drain) is identical for any I/O
#    count, so each point is run with N1 and N2 I/Os and reported as (Ir(N2) - Ir(N1)) / (N2 - N1).
#  * Second column: the whole per-core stack (loop::run_once: ready queue, coroutine resumption,
#    block_device validation, the bench's worker loop, driver) minus the same model/seam parts.
#
# usage: bench/sim/instructions.sh [path/to/convme-sim-bench]   (builds a RelWithDebInfo copy if omitted)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bench="${1:-}"
if [[ -z "$bench" ]]; then
    build="$root/build/sim-bench-release"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVME_BUILD_TESTS=OFF \
          -DCONVME_BUILD_EXAMPLES=OFF >/dev/null
    ninja -C "$build" convme-sim-bench >/dev/null
    bench="$build/bench/sim/convme-sim-bench"
fi
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }

N1=${N1:-2000}
N2=${N2:-12000}
URI=${URI:-"sim:mem?size=64M&inline=1"}
QDS=${QDS:-"1 8 32 128"}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# What is counted per I/O (device model excluded): one definition for both scripts.
source "$(dirname "${BASH_SOURCE[0]}")/callgrind_toggles.sh"

# count <op> <qd> <ios> <entry-array-name> -> collected instructions
count() {
    local op=$1 qd=$2 ios=$3 set=$4
    local out="$tmp/cg.$op.$qd.$ios.$set"
    local -n entries=$set
    local -n excluded=$([[ $set == driver_entries ]] && echo driver_model_excluded || echo stack_model_excluded)
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        "${entries[@]}" "${excluded[@]}" \
        "$bench" --callgrind --uri "$URI" --ios "$ios" --qd "$qd" --op "$op" >/dev/null 2>"$out.log" ||
        { cat "$out.log" >&2; exit 1; }
    awk '/^totals:/ {print $2}' "$out"
}

per_io() {  # op qd set
    local a b
    a=$(count "$1" "$2" "$N1" "$3")
    b=$(count "$1" "$2" "$N2" "$3")
    echo $(( (b - a) / (N2 - N1) ))
}

echo "instructions per 4 KiB I/O (callgrind, device model excluded; $URI; (Ir($N2)-Ir($N1))/$((N2 - N1)))"
printf '%-6s %5s %14s %18s\n' op QD driver loop+driver
for op in read write; do
    for qd in $QDS; do
        printf '%-6s %5s %14s %18s\n' "$op" "$qd" "$(per_io "$op" "$qd" driver_entries)" \
            "$(per_io "$op" "$qd" stack_entries)"
    done
done

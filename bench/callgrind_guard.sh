#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CI guard on the per-I/O software cost: instructions per operation of the main paths, counted by
# callgrind (deterministic: the same binary and arguments give the same count on a loaded machine;
# no clock is read), compared with the committed baseline bench/callgrind_baseline.txt.
#
#   bench/callgrind_guard.sh [--build DIR] [--update] [--breakdown PATH[,PATH...]] [--only PATH[,PATH...]]
#
#   --build DIR   build tree with convme-sim-bench and convme_micro_callgrind_runtime
#                 (default build/ci: gcc -O2 -g, the configuration the baseline was taken with)
#   --update      write the measured counts as the new baseline (do it in the commit that improves
#                 them; a rise needs a reason in the commit message)
#   --breakdown   also print, per path, the instructions per I/O of each function (self cost,
#                 inlined code counted in the function it was inlined into), largest first
#   --only        measure only these paths
#
# Exit status 1 when a path costs more than 5 % above its baseline (GUARD_TOLERANCE_PCT), and
# prints the table either way. Paths (4 KiB random reads, one loop; see bench/README.md
# "Instruction budget"):
#   null.qd1 / null.qd32          null: through the whole stack: loop::run_once (ready queue,
#                                 coroutine resumption), the bench worker, block_device front end
#                                 and validation, the null backend's submit and poll
#   sim.driver.qd1 / .qd32        sim:mem?inline=1, NVMe driver only: nvme_device::submit,
#                                 io_queue::poll, io_queue::flush_submissions; the simulated
#                                 controller (its own poller, controller::step) and its IOVA
#                                 table excluded
#   sim.stack.qd1 / .qd32         the same device, driver + loop + coroutine (loop::run_once),
#                                 device model excluded as above
#   runtime.task                  task create + co_await + destroy (bench/micro_callgrind_runtime.cpp)
#   runtime.yield                 co_await yield(): suspend, ready queue, resume
# Each I/O path runs with N1 and N2 I/Os and reports (Ir(N2) - Ir(N1)) / (N2 - N1), so setup and
# teardown cancel out; the runtime paths run N and 0 operations.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="$root/build/ci"
update=0
breakdown=""
only=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --update) update=1; shift ;;
        --breakdown) breakdown=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "callgrind_guard: unknown argument $1" >&2; exit 2 ;;
    esac
done
baseline="$root/bench/callgrind_baseline.txt"
tolerance=${GUARD_TOLERANCE_PCT:-5}
N1=${N1:-2000}
N2=${N2:-12000}
RN=${RN:-100000}
bench="$build/bench/sim/convme-sim-bench"
micro="$build/bench/convme_micro_callgrind_runtime"

command -v valgrind >/dev/null || { echo "callgrind_guard: valgrind not found: apt-get install valgrind" >&2; exit 1; }
for exe in "$bench" "$micro"; do
    [[ -x $exe ]] || { echo "callgrind_guard: $exe not found (cmake --build $build --target convme-sim-bench convme_micro_callgrind_runtime)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# What is counted per I/O (device model excluded): one definition for both scripts.
source "$(dirname "${BASH_SOURCE[0]}")/sim/callgrind_toggles.sh"

# path name -> "uri qd entries" (I/O paths) or "micro mode" (runtime paths)
declare -A spec=(
    [null.qd1]="null:?size=64M 1 stack"
    [null.qd32]="null:?size=64M 32 stack"
    [sim.driver.qd1]="sim:mem?size=64M&inline=1 1 driver"
    [sim.driver.qd32]="sim:mem?size=64M&inline=1 32 driver"
    [sim.stack.qd1]="sim:mem?size=64M&inline=1 1 stack"
    [sim.stack.qd32]="sim:mem?size=64M&inline=1 32 stack"
    [runtime.task]="micro task"
    [runtime.yield]="micro yield"
)
order=(null.qd1 null.qd32 sim.driver.qd1 sim.driver.qd32 sim.stack.qd1 sim.stack.qd32 runtime.task runtime.yield)
if [[ -n $only ]]; then IFS=, read -r -a order <<<"$only"; fi

# run_io <name> <uri> <qd> <driver|stack> <ios> -> callgrind output file
run_io() {
    local name=$1 uri=$2 qd=$3 set=$4 ios=$5 out="$tmp/cg.$1.$5"
    local entries=("${stack_entries[@]}" "${stack_model_excluded[@]}")
    [[ $set == driver ]] && entries=("${driver_entries[@]}" "${driver_model_excluded[@]}")
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no "${entries[@]}" \
        "$bench" --callgrind --uri "$uri" --ios "$ios" --qd "$qd" --op read \
        >/dev/null 2>"$out.log" || { echo "callgrind_guard: $name failed:" >&2; cat "$out.log" >&2; exit 1; }
    echo "$out"
}
run_micro() {
    local name=$1 mode=$2 n=$3 out="$tmp/cg.$1.$3"
    valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='convme_measure_*' "$micro" "$mode" "$n" \
        >/dev/null 2>"$out.log" || { echo "callgrind_guard: $name failed:" >&2; cat "$out.log" >&2; exit 1; }
    echo "$out"
}
total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

# Per-function self cost per operation: (annotate(b) - annotate(a)) / n, functions merged across
# the source files their inlined parts come from.
breakdown_of() {
    local a=$1 b=$2 n=$3
    python3 - "$a" "$b" "$n" <<'EOF'
import re, subprocess, sys
def costs(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2)
        name = re.sub(r"\s*\[[^\]]*\]\s*$", "", name)          # [object]
        name = re.sub(r"^[^:]*\.(?:cpp|hpp|h|cc|c|tcc)?:", "", name)  # inlined-from file
        name = re.sub(r"^\?\?\?:", "", name)
        name = re.sub(r"^/usr/include/[^:]*:", "", name)
        name = re.sub(r"\(anonymous namespace\)::", "", name)
        name = re.sub(r"std::__n4861::", "std::", name)
        name = re.sub(r"\bstd::span<std::byte, 18446744073709551615ul>", "span", name)
        name = re.sub(r"::_ZN\w+\.Frame\*\)", ")", name)
        name = re.sub(r"\(\w+\((?:[^()]|\([^()]*\))*\)", "(", name)  # coroutine actor/destroy argument lists
        res[name] = res.get(name, 0) + int(m.group(1).replace(",", ""))
    return res
a, b, n = costs(sys.argv[1]), costs(sys.argv[2]), int(sys.argv[3])
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / n, k) for k in set(a) | set(b))
rows = [r for r in rows if abs(r[0]) >= 0.5]
for per, name in reversed(rows):
    short = name if len(name) <= 110 else name[:107] + "..."
    print(f"    {per:8.1f}  {short}")
print(f"    {sum(r[0] for r in rows):8.1f}  (sum of the rows above)")
EOF
}

declare -A now
for name in "${order[@]}"; do
    [[ -n ${spec[$name]:-} ]] || { echo "callgrind_guard: unknown path $name (known: ${!spec[*]})" >&2; exit 2; }
    read -r kind a2 a3 <<<"${spec[$name]}"
    if [[ $kind == micro ]]; then
        fa=$(run_micro "$name" "$a2" 0)
        fb=$(run_micro "$name" "$a2" "$RN")
        n=$RN
    else
        fa=$(run_io "$name" "$kind" "$a2" "$a3" "$N1")
        fb=$(run_io "$name" "$kind" "$a2" "$a3" "$N2")
        n=$((N2 - N1))
    fi
    now[$name]=$(awk -v a="$(total "$fa")" -v b="$(total "$fb")" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')
    if [[ ",$breakdown," == *",$name,"* || $breakdown == all ]]; then
        echo "$name: instructions per operation by function"
        breakdown_of "$fa" "$fb" "$n"
    fi
done

declare -A base
if [[ -f $baseline ]]; then
    while read -r k v _; do
        [[ -z $k || $k == \#* ]] && continue
        base[$k]=$v
    done <"$baseline"
fi

fail=0
printf '%-18s %10s %10s %9s  %s\n' path baseline now change verdict
for name in "${order[@]}"; do
    b=${base[$name]:-}
    v=${now[$name]}
    if [[ -z $b ]]; then
        printf '%-18s %10s %10s %9s  %s\n' "$name" - "$v" - "no baseline"
        continue
    fi
    read -r pct verdict < <(awk -v b="$b" -v v="$v" -v t="$tolerance" 'BEGIN {
        p = (v - b) / b * 100
        printf "%+.1f%% %s\n", p, (p > t ? "FAIL" : (p < -t ? "ok (improved: update the baseline)" : "ok"))}')
    [[ $verdict == FAIL ]] && fail=1
    printf '%-18s %10s %10s %9s  %s\n' "$name" "$b" "$v" "$pct" "$verdict"
done

if [[ $update == 1 ]]; then
    {
        echo "# Instructions per operation of the main paths (bench/callgrind_guard.sh), gcc 12 -O2 -g"
        echo "# (preset ci), x86_64. The guard fails when a path rises more than 5 % above its value here."
        echo "# Update with bench/callgrind_guard.sh --update in the commit that changes them."
        for name in "${!spec[@]}"; do
            v=${now[$name]:-${base[$name]:-}}
            [[ -n $v ]] && echo "$name $v"
        done | sort
    } >"$baseline.new"
    mv "$baseline.new" "$baseline"
    echo "baseline written: $baseline"
    exit 0
fi
if [[ $fail == 1 ]]; then
    echo "callgrind_guard: FAILED: a path costs more than $tolerance % above bench/callgrind_baseline.txt" >&2
    exit 1
fi
echo "callgrind_guard: ok (tolerance $tolerance %)"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions per runtime operation, counted exactly by callgrind (deterministic, unlike time).
#
#   bench/callgrind_runtime.sh [build-dir] [N]
#
# Runs bench/micro_callgrind_runtime.cpp (target convme_micro_callgrind_runtime) for each mode
# with N and with 0 operations, collecting only inside convme_measure_*, and prints
# (Ir(N) - Ir(0)) / N. Use an optimized build (RelWithDebInfo/Release) for meaningful numbers.
# valgrind 3.19 cannot read clang 14's default DWARF 5: for a clang build configure with
# -DCMAKE_CXX_FLAGS=-gdwarf-4 (gcc 12 builds work as they are).
set -euo pipefail

build=${1:-build/default}
n=${2:-100000}
exe="$build/bench/convme_micro_callgrind_runtime"

if ! command -v valgrind >/dev/null; then
    echo "valgrind not found: apt-get install valgrind" >&2
    exit 1
fi
if [[ ! -x $exe ]]; then
    echo "$exe not found: build it with 'ninja -C $build convme_micro_callgrind_runtime'" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Total instructions collected in one run.
count_ir() {
    local mode=$1 iters=$2 out="$tmp/cg.$1.$2"
    valgrind --tool=callgrind --toggle-collect='convme_measure_*' --callgrind-out-file="$out" \
        "$exe" "$mode" "$iters" >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
    # "summary:" (older valgrind) or "totals:" line holds the event totals; Ir is the first.
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

printf '%-8s %14s %14s %10s\n' mode "Ir(N=$n)" "Ir(N=0)" "Ir/op"
for mode in task value yield frame; do
    full=$(count_ir "$mode" "$n")
    base=$(count_ir "$mode" 0)
    per=$(awk -v a="$full" -v b="$base" -v n="$n" 'BEGIN {printf "%.1f", (a - b) / n}')
    printf '%-8s %14s %14s %10s\n' "$mode" "$full" "$base" "$per"
done

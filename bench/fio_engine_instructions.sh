#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The fio engine's own cost per I/O, deterministic: callgrind instruction counts of fio with the
# convme engine on the null: backend against fio's own --ioengine=null, 4 KiB randread, --thread,
# one job, QD 1 and 32. Per I/O = the difference of two runs that differ only in --number_ios,
# so start-up (dlopen, symbol lookup, open/close) cancels out.
# Usage: bench/fio_engine_instructions.sh [ENGINE.so]   (default: build/ci's engine)
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-build/ci/runtime/bindings/fio/libconvme_fio.so}
command -v fio >/dev/null || { echo "SKIP: fio is not installed"; exit 77; }
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
[ -f "$engine" ] || { echo "SKIP: $engine not built"; exit 77; }
engine=$(realpath "$engine")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
few=2000 many=10000

instructions() {  # qd n fio-engine-args...
  local qd=$1 n=$2; shift 2
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" fio --name=x --thread --size=1G \
    --rw=randread --bs=4k --iodepth="$qd" --number_ios="$n" --disk_util=0 --eta=never \
    --output=/dev/null "$@" 2>&1 | sed -nE 's/.*Collected : ([0-9]+).*/\1/p'
}
per_io() {  # qd fio-engine-args...
  local qd=$1; shift
  local a b
  a=$(instructions "$qd" $few "$@"); b=$(instructions "$qd" $many "$@")
  echo "scale=1; ($b - $a) / ($many - $few)" | bc
}

echo "| QD | fio --ioengine=null | convme engine on null: | engine + convme cost per I/O |"
echo "|---:|--:|--:|--:|"
for qd in 1 32; do
  f=$(per_io $qd --ioengine=null)
  c=$(per_io $qd --ioengine=external:"$engine" --filename='null\:?size=1G')
  echo "| $qd | $f | $c | $(echo "$c - $f" | bc) |"
done
echo
echo "Instructions per 4 KiB read (callgrind, difference of $few and $many I/Os, gcc -O2)."

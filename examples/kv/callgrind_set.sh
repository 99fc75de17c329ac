#!/bin/bash
# SPDX-License-Identifier: MIT
# User-space instructions per request of a server under a fixed redis-benchmark load, from
# callgrind (deterministic, unlike rates on a shared machine): the counters are zeroed once the
# server is up, so start-up and shutdown are not counted.
# Usage: examples/kv/callgrind_set.sh kv|redis [BINARY] [REQUESTS] [TEST]
# e.g. examples/kv/callgrind_set.sh kv build/ci/examples/convme-kv 100000 set
# Prints instructions per request; the profile is left in $OUT (default /tmp/callgrind.<kind>).
set -eu
KIND=$1
BIN=${2:-build/ci/examples/convme-kv}
N=${3:-100000}
TEST=${4:-set}
PORT=${PORT:-6402}
OUT=${OUT:-/tmp/callgrind.$KIND}
rm -f "$OUT" "$OUT.1"
WORK=$(mktemp -d /tmp/kv-cg.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
VG=(valgrind --tool=callgrind --callgrind-out-file="$OUT" --dump-instr=no)
case $KIND in
    kv) "${VG[@]}" "$BIN" --port $PORT --cores 1 --spin-us 0 --dir "$WORK" >"$WORK/log" 2>&1 & ;;
    redis) "${VG[@]}" redis-server --port $PORT --save '' --appendonly no --dir "$WORK" >"$WORK/log" 2>&1 & ;;
esac
PID=$!
for _ in $(seq 600); do redis-cli -p $PORT PING >/dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p $PORT -n 2000 -c 50 -P 16 -r 1000000 -t "$TEST" -q >/dev/null  # warm up
callgrind_control -z $PID >/dev/null 2>&1
redis-benchmark -p $PORT -n "$N" -c 50 -P 16 -r 1000000 -t "$TEST" -q >/dev/null
callgrind_control -d $PID >/dev/null 2>&1
kill -TERM $PID; wait $PID 2>/dev/null || true
F=$OUT.1  # the dump requested above ($OUT itself is the shutdown's, written at exit)
IR=$(awk '/^summary:|^totals:/ {print $2; exit}' "$F")
echo "$KIND $TEST: $IR instructions over $N requests = $((IR / N)) per request ($F)"

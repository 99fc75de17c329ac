#!/bin/bash
# SPDX-License-Identifier: MIT
# Side by side on this machine: convme-kv --cores 1 and --cores 2 against redis-server with
# appendfsync always and without persistence, under the same redis-benchmark load, in interleaved
# rounds; prints the median of each as a Markdown table (requests per second).
# Usage: examples/kv/bench.sh [SERVER_BINARY] [ROUNDS] [EXTRA redis-benchmark ARGS...]
set -eu
BIN=${1:-build/default/examples/convme-kv}
ROUNDS=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
LOAD=(-n 200000 -c 50 -P 16 -r 1000000 -t set,get "$@")
PORT=6401
WORK=$(mktemp -d /tmp/kv-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
CONFIGS=("kv1" "kv2" "redis-always" "redis-none")

wait_port() { for _ in $(seq 200); do redis-cli -p $PORT PING >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

start() {  # $1 = config; sets PID (started from this shell, so that `wait` works)
    rm -rf "$WORK/data" && mkdir -p "$WORK/data"
    case $1 in
        kv1) "$BIN" --port $PORT --cores 1 --dir "$WORK/data" >"$WORK/log" 2>&1 & ;;
        kv2) "$BIN" --port $PORT --cores 2 --dir "$WORK/data" >"$WORK/log" 2>&1 & ;;
        redis-always) redis-server --port $PORT --dir "$WORK/data" --save '' --appendonly yes \
                          --appendfsync always >"$WORK/log" 2>&1 & ;;
        redis-none) redis-server --port $PORT --dir "$WORK/data" --save '' --appendonly no >"$WORK/log" 2>&1 & ;;
    esac
    PID=$!
}

for round in $(seq "$ROUNDS"); do
    for cfg in "${CONFIGS[@]}"; do
        start "$cfg"
        wait_port || { echo "$cfg did not start:"; cat "$WORK/log"; exit 1; }
        redis-benchmark -p $PORT "${LOAD[@]}" --csv 2>/dev/null | tail -n +2 | tr -d '"' |
            awk -F, -v c="$cfg" -v r="$round" '{print c, r, $1, $2}' >>"$WORK/results"
        kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
    done
done

echo "redis-benchmark ${LOAD[*]}; median of $ROUNDS interleaved rounds (each round: the four in turn)"
echo
echo "| server | SET/s | GET/s |"
echo "| --- | ---: | ---: |"
for cfg in "${CONFIGS[@]}"; do
    row="| $cfg"
    for t in SET GET; do
        m=$(awk -v c="$cfg" -v t="$t" '$1==c && $3==t {print $4}' "$WORK/results" | sort -n |
            awk '{v[NR]=$1} END {if (NR) printf "%.0f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')
        row="$row | $m"
    done
    echo "$row |"
done
echo
echo "every run:"
sort -k1,1 -k3,3 -k2,2n "$WORK/results" | awk '{printf "  %-13s round %s %s %s\n", $1, $2, $3, $4}'

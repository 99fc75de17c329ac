#!/bin/bash
# SPDX-License-Identifier: MIT
# Side by side on this machine: convme-kv --cores 1 and --cores 2 against redis-server with
# appendfsync always and without persistence, under the same redis-benchmark loads, in interleaved
# rounds; prints the median of each as a Markdown table (requests per second), with the load
# average before and after each run and the CPU time the server and the client used.
# Usage: examples/kv/bench.sh [SERVER_BINARY] [ROUNDS]
# Environment: CLIENT_CPUS=0 runs redis-benchmark under `taskset -c 0`; SERVER_CPUS=1 runs every
# server under `taskset -c 1` (give kv --cores 2 two CPUs: SERVER_CPUS=0,1);
# LOADS="seq rand" picks the loads (seq: the issue's command, one key; rand: -r 1000000).
set -eu
BIN=${1:-build/default/examples/convme-kv}
ROUNDS=${2:-3}
COMMON=(-n 200000 -c 50 -P 16 -t set,get)
LOADS=(${LOADS:-seq rand})
PORT=6401
WORK=$(mktemp -d /tmp/kv-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
CONFIGS=("kv1" "kv2" "redis-always" "redis-none")
CLIENT=()
[ -n "${CLIENT_CPUS:-}" ] && CLIENT=(taskset -c "$CLIENT_CPUS")
SERVER=()
[ -n "${SERVER_CPUS:-}" ] && SERVER=(taskset -c "$SERVER_CPUS")

# shellcheck source=examples/kv/bench_probes.sh
. "$(dirname "$0")/bench_probes.sh"  # wait_port, cpu_ticks, machine_ticks
load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
load_args() { [ "$1" = rand ] && echo "-r 1000000" || true; }

start() {  # $1 = config; sets PID (started from this shell, so that `wait` works)
    rm -rf "$WORK/data" && mkdir -p "$WORK/data"
    case $1 in
        kv1) "${SERVER[@]}" "$BIN" --port $PORT --cores 1 --dir "$WORK/data" >"$WORK/log" 2>&1 & ;;
        kv2) "${SERVER[@]}" "$BIN" --port $PORT --cores 2 --dir "$WORK/data" >"$WORK/log" 2>&1 & ;;
        redis-always) "${SERVER[@]}" redis-server --port $PORT --dir "$WORK/data" --save '' --appendonly yes \
                          --appendfsync always >"$WORK/log" 2>&1 & ;;
        redis-none) "${SERVER[@]}" redis-server --port $PORT --dir "$WORK/data" --save '' --appendonly no \
                          >"$WORK/log" 2>&1 & ;;
    esac
    PID=$!
}

echo "start $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs" >&2
for round in $(seq "$ROUNDS"); do
    for load in "${LOADS[@]}"; do
        for cfg in "${CONFIGS[@]}"; do
            start "$cfg"
            wait_port || { echo "$cfg did not start:"; cat "$WORK/log"; exit 1; }
            before=$(load1)
            s0=$(cpu_ticks "$PID")
            m0=$(machine_ticks)
            w0=$(now)
            # shellcheck disable=SC2046
            /usr/bin/time -f "%U %S" -o "$WORK/ctime" "${CLIENT[@]}" redis-benchmark -p $PORT "${COMMON[@]}" \
                $(load_args "$load") --csv 2>/dev/null | tail -n +2 | tr -d '"' >"$WORK/run"
            after=$(load1)
            wall=$(awk -v a="$w0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
            # CPU-s the whole machine spent busy and idle during the run (all processes)
            read -r mb mi <<<"$(awk -v a="$m0" -v b="$(machine_ticks)" -v t="$(getconf CLK_TCK)" \
                'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.2f %.2f", (y[1] - x[1]) / t, (y[2] - x[2]) / t}')"
            scpu=$(awk -v a="$s0" -v b="$(cpu_ticks "$PID")" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}')
            ccpu=$(awk '{printf "%.2f", $1 + $2}' "$WORK/ctime")
            awk -F, -v c="$cfg" -v r="$round" -v l="$load" -v b="$before" -v a="$after" -v s="$scpu" -v k="$ccpu" \
                -v w="$wall" -v mb="$mb" -v mi="$mi" '{print c, l, r, $1, $2, b, a, s, k, w, mb, mi}' "$WORK/run" | tee -a "$WORK/results" >&2
            kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
        done
    done
done
echo "end $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

median() { sort -n | awk '{v[NR]=$1} END {if (NR) printf "%.0f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo "redis-benchmark ${COMMON[*]} (seq) and the same with -r 1000000 (rand);"
echo "median of $ROUNDS interleaved rounds${CLIENT_CPUS:+, client on CPU $CLIENT_CPUS}${SERVER_CPUS:+, servers on CPU $SERVER_CPUS}"
echo
hdr="| server"; sep="| ---"
for load in "${LOADS[@]}"; do hdr="$hdr | SET/s $load | GET/s $load"; sep="$sep | ---: | ---:"; done
echo "$hdr |"; echo "$sep |"
for cfg in "${CONFIGS[@]}"; do
    row="| $cfg"
    for load in "${LOADS[@]}"; do
        for t in SET GET; do
            row="$row | $(awk -v c="$cfg" -v l="$load" -v t="$t" '$1==c && $2==l && $4==t {print $5}' "$WORK/results" | median)"
        done
    done
    echo "$row |"
done
m() { awk -v c="$1" -v l="$2" -v t="$3" '$1==c && $2==l && $4==t {print $5}' "$WORK/results" | median; }
for load in "${LOADS[@]}"; do
    for t in SET GET; do
        a=$(m kv2 "$load" $t); b=$(m kv1 "$load" $t)
        [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" -v l="$load" -v t="$t" \
            'BEGIN {printf "kv2/kv1 %s %s: %.2fx\n", t, l, a / b}'
    done
done
echo
echo "every run (requests/s; 1-minute load average before -> after; CPU seconds the server and"
echo "redis-benchmark used in that run, SET and GET together; wall seconds of the run and the CPU"
echo "seconds the whole machine was busy and idle in it, all processes):"
sort -k1,1 -k2,2 -k4,4 -k3,3n "$WORK/results" |
    awk '{printf "  %-13s %-4s round %s %s %8s  load %s -> %s  cpu server %s client %s  wall %s machine busy %s idle %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}'

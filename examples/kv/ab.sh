#!/bin/bash
# SPDX-License-Identifier: MIT
# Interleaved A/B of kv variants (binaries and/or flags) and redis without persistence under one
# redis-benchmark load: every round runs every variant once, each on a fresh data directory.
# Per run: requests/s, the server's CPU-s (/proc, every thread, also exited io-wq workers), the
# whole machine's busy CPU-s (kernel workers included: RWF_DSYNC syncs run in one), the server's
# context switches (its live threads, at the end minus at the start) and the 1-minute load.
# Usage: examples/kv/ab.sh ROUNDS NAME=BINARY[@FLAGS] ...   (NAME=redis: redis-server, no persistence)
# e.g. examples/kv/ab.sh 5 old=/tmp/kv-old new=build/ci/examples/convme-kv \
#        'datasync=build/ci/examples/convme-kv@--device uring:@DIR@/kv.log?create_size=256M&create_fill=zero&wait=block&sync=datasync'
# Environment: TESTS (default "set,get"), LOADS (default "seq rand"), N (default 200000).
set -eu
ROUNDS=$1
shift
N=${N:-200000}
LOADS=(${LOADS:-seq rand})
PORT=${PORT:-6403}
WORK=$(mktemp -d /tmp/kv-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TCK=$(getconf CLK_TCK)

# shellcheck source=examples/kv/bench_probes.sh
. "$(dirname "$0")/bench_probes.sh"  # wait_port, cpu_ticks, machine_ticks
busy() { machine_ticks | cut -d' ' -f1; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

echo "start $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    for load in "${LOADS[@]}"; do
        for v in "$@"; do
            name=${v%%=*} spec=${v#*=}
            bin=${spec%%@*} flags=""
            [ "$spec" != "$bin" ] && flags=${spec#*@}
            rm -rf "$WORK/d" && mkdir -p "$WORK/d"
            if [ "$name" = redis ]; then
                redis-server --port $PORT --dir "$WORK/d" --save '' --appendonly no >"$WORK/log" 2>&1 &
            else
                # shellcheck disable=SC2086
                "$bin" --port $PORT --cores 1 --dir "$WORK/d" ${flags//@DIR@/$WORK/d} >"$WORK/log" 2>&1 &
            fi
            pid=$!
            wait_port 300 || { echo "$name did not start:"; cat "$WORK/log"; kill $pid; exit 1; }
            l0=$(cut -d' ' -f1 /proc/loadavg) t0=$(cpu_ticks $pid) b0=$(busy) c0=$(switches $pid)
            args=(-n "$N" -c 50 -P 16 -t "${TESTS:-set,get}")
            [ "$load" = rand ] && args+=(-r 1000000)
            redis-benchmark -p $PORT "${args[@]}" --csv 2>/dev/null | tail -n +2 | tr -d '"' >"$WORK/run"
            t1=$(cpu_ticks $pid) b1=$(busy) c1=$(switches $pid) l1=$(cut -d' ' -f1 /proc/loadavg)
            awk -F, -v n="$name" -v l="$load" -v r="$round" -v s=$(((t1 - t0))) -v m=$(((b1 - b0))) \
                -v c=$((c1 - c0)) -v k="$TCK" -v la="$l0 $l1" \
                '{printf "%s %s %s %s %d server_cpu %.2f machine_cpu %.2f switches %d load %s\n", n, l, r, $1, $2, s / k, m / k, c, la}' \
                "$WORK/run" | tee -a "$WORK/results" >&2
            kill -TERM $pid
            wait $pid 2>/dev/null || true
        done
    done
done
echo "end $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Medians (and ranges) per variant, load and test; CPU and switches are per run (all tests).
awk '{k = $1 " " $2 " " $4; v[k] = v[k] " " $5; if (!(k in seen)) {seen[k] = 1; order[++n] = k}
      r = $1 " " $2 " " $3; if (!(r in cpu)) {cpu[r] = $7; mc[r] = $9; sw[r] = $11; rk[$1 " " $2] = rk[$1 " " $2] " " r}}
     function med(s,   a, m, i, j, t) {m = split(s, a, " "); for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
         if (a[j] + 0 < a[i] + 0) {t = a[i]; a[i] = a[j]; a[j] = t}
         return sprintf("%.0fk (%.0f-%.0fk)", (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2) / 1000, a[1] / 1000, a[m] / 1000)}
     END {for (i = 1; i <= n; i++) print order[i], med(v[order[i]])
          for (g in rk) {m = split(rk[g], x, " "); s = ""; for (j = 1; j <= m; j += 3) {r = x[j] " " x[j + 1] " " x[j + 2]
              s = s sprintf(" %s/%s/%d", cpu[r], mc[r], sw[r])}; print g, "server/machine CPU-s, switches per run:" s}}' \
    "$WORK/results"

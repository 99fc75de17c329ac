# SPDX-License-Identifier: MIT
# Probes shared by bench.sh and ab.sh (sourced): server readiness and CPU accounting from /proc.

# wait_port [TRIES]: until redis-cli gets a PING reply on $PORT, 50 ms apart (default 200 tries).
wait_port() {
    for _ in $(seq "${1:-200}"); do
        redis-cli -p "$PORT" PING >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
# utime + stime of a process, in ticks (every thread's, and that of exited ones such as io-wq
# workers).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Whole machine: "busy idle" ticks over all CPUs (idle and iowait count as idle; kernel workers'
# time is busy).
machine_ticks() { awk '$1=="cpu" {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }

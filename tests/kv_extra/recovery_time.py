#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long convme-kv takes to recover: store KEYS keys (20-byte values) with CORES cores (one
shard each), stop it, start it again and time launch -> the 'ready' line, ROUNDS times.
Not a CTest test (it measures; the figures are in examples/kv/README.md).
Usage: recovery_time.py SERVER_BINARY WORKDIR [KEYS] [CORES] [ROUNDS] [VARIANT...]
Each VARIANT is a string of extra server flags for the restarts (e.g. "--recovery-read-ahead 0");
with several, every round restarts once with each, in turn, on the same data.
KV_STOP=kill: every stop (after the fill and after each restart) is a SIGKILL instead of SIGTERM,
so each start recovers a crashed store. The device is kv's default one (create_fill=zero,
wait=block, sync=datasync), sized for KEYS."""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, log  # noqa: E402


def runqueue_wait(pid):
    """Seconds the threads of `pid` spent runnable but waiting for a CPU (/proc schedstat)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    keys = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    cores = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    variants = sys.argv[6:] or [""]
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-recovery-", dir=work)
    device = "uring:%s/kv.log?create_size=%dM&create_fill=zero&wait=block&sync=datasync" % (
        data, max(256, keys * 2 * 100 // 1000000 * cores))
    stop_sig = signal.SIGKILL if os.environ.get("KV_STOP") == "kill" else signal.SIGTERM
    srv = kvlib.Server(binary, data, device=device, cores=cores).start()
    try:
        t = time.monotonic()
        kvlib.fill(srv.port, keys)
        log("stored %d keys in %.1f s" % (keys, time.monotonic() - t))
    finally:
        srv.stop(sig=stop_sig)
    times = {v: [] for v in variants}
    cpus = {v: [] for v in variants}
    waits = {v: [] for v in variants}  # seconds the server's threads were runnable but not running
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):
        for v in variants:
            srv = kvlib.Server(binary, data, device=device, cores=cores, extra=v.split())
            t = time.monotonic()
            srv.start(timeout=120)
            c = Client(srv.port)
            c.call("PING")  # launch -> the first reply
            times[v].append(time.monotonic() - t)
            with open("/proc/%d/stat" % srv.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpus[v].append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
            waits[v].append(runqueue_wait(srv.proc.pid))
            n = c.call("DBSIZE")
            c.close()
            srv.stop(sig=stop_sig)
            if n != keys:
                raise AssertionError("recovered %r keys of %d" % (n, keys))
    loads.append(os.getloadavg()[0])
    for v in variants:
        w, u, q = sorted(times[v]), sorted(cpus[v]), sorted(waits[v])
        log("recovery of %d keys on %d core(s), %d shard(s)%s%s: median %.2f s wall, %.2f CPU-s "
            "waiting for a CPU %.2f s (wall: %s; CPU: %s; in launch order: %s); load %.1f -> %.1f" %
            (keys, cores, cores, " after kill -9" if stop_sig == signal.SIGKILL else "",
             " [%s]" % v if v else "", w[len(w) // 2], u[len(u) // 2], q[len(q) // 2],
             ", ".join("%.2f" % x for x in w), ", ".join("%.2f" % x for x in u),
             ", ".join("%.2f" % x for x in times[v]), loads[0], loads[1]))
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

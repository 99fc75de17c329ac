#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long convme-kv takes to recover: store KEYS keys (20-byte values) with CORES cores (one
shard each), stop it, start it again and time launch -> the 'ready' line, ROUNDS times.
Not a CTest test (it measures; the figures are in examples/kv/README.md).
Usage: recovery_time.py SERVER_BINARY WORKDIR [KEYS] [CORES] [ROUNDS]"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, log  # noqa: E402


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    keys = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    cores = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-recovery-", dir=work)
    device = "uring:%s/kv.log?create_size=%dM" % (data, max(256, keys * 2 * 100 // 1000000 * cores))
    srv = kvlib.Server(binary, data, device=device, cores=cores).start()
    try:
        t = time.monotonic()
        kvlib.fill(srv.port, keys)
        log("stored %d keys in %.1f s" % (keys, time.monotonic() - t))
    finally:
        srv.stop()
    times, cpus = [], []
    for _ in range(rounds):
        srv = kvlib.Server(binary, data, device=device, cores=cores)
        t = time.monotonic()
        srv.start(timeout=120)
        times.append(time.monotonic() - t)
        with open("/proc/%d/stat" % srv.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpus.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        c = Client(srv.port)
        n = c.call("DBSIZE")
        c.close()
        srv.stop()
        if n != keys:
            raise AssertionError("recovered %r keys of %d" % (n, keys))
    times.sort()
    cpus.sort()
    log("recovery of %d keys on %d core(s), %d shard(s): median %.2f s wall, %.2f CPU-s (wall: %s; CPU: %s)" %
        (keys, cores, cores, times[len(times) // 2], cpus[len(cpus) // 2], ", ".join("%.2f" % x for x in times),
         ", ".join("%.2f" % x for x in cpus)))
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

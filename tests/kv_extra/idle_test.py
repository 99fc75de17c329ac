#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv idle cost (issue 12, bug 5): with no clients, or with clients that send nothing, the
server's loops sleep. It must use under 3 % of one CPU over 3 s (it used ~30 % with 2 cores when
each idle loop woke every millisecond and spun for 200 us), and still answer at once when a client
speaks again. Usage: idle_test.py SERVER_BINARY WORKDIR"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, log  # noqa: E402

LIMIT_PERCENT = 3.0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_percent(pid, seconds=3.0):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-idle-", dir=work)
    srv = kvlib.Server(binary, data, device="uring:%s/kv.log?create_size=64M" % data, cores=2).start()
    try:
        time.sleep(1.0)  # let startup work finish
        p = idle_percent(srv.proc.pid)
        log("idle, no clients: %.2f %% of a CPU" % p)
        if p > LIMIT_PERCENT:
            raise AssertionError("an idle server used %.1f %% of a CPU (limit %.1f %%)" % (p, LIMIT_PERCENT))
        clients = [Client(srv.port) for _ in range(8)]
        for i, c in enumerate(clients):
            if c.call("SET", "k%d" % i, "v") != "OK":
                raise AssertionError("SET failed")
        time.sleep(0.5)
        p = idle_percent(srv.proc.pid)
        log("idle, 8 silent clients: %.2f %% of a CPU" % p)
        if p > LIMIT_PERCENT:
            raise AssertionError("an idle server with silent clients used %.1f %% of a CPU" % p)
        worst = 0.0
        for i, c in enumerate(clients):
            t = time.monotonic()
            if c.call("GET", "k%d" % i) != b"v":
                raise AssertionError("GET after idling")
            worst = max(worst, time.monotonic() - t)
        log("first replies after idling: worst %.1f ms" % (worst * 1000))
        if worst > 0.05:
            raise AssertionError("a reply after idling took %.0f ms" % (worst * 1000))
        for c in clients:
            c.close()
    finally:
        rc = srv.stop()
    return kvlib.finish(rc, data)


if __name__ == "__main__":
    sys.exit(main())

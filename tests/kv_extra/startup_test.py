#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv multi-core start (issue 12, bug 4): no client may be served before every shard is
recovered. A 2-core store with many keys is restarted; a client connects as early as it can and
must see the whole store at once (DBSIZE, GET and MGET of existing keys, a SET).
Also prints how long recovery took. Usage: startup_test.py SERVER_BINARY WORKDIR [KEYS]"""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, log  # noqa: E402


def first_client(port, proc, timeout=60.0):
    """Connect as soon as the port accepts; returns (client, seconds since the start)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("the server exited with %r while starting" % proc.returncode)
        try:
            c = Client(port, timeout=60)
            return c, time.monotonic() - t0
        except OSError:
            time.sleep(0.002)
    raise RuntimeError("the server did not accept a connection within %.0f s" % timeout)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    keys = int(sys.argv[3]) if len(sys.argv) > 3 else 300000
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-startup-", dir=work)
    device = "uring:%s/kv.log?create_size=256M" % data
    srv = kvlib.Server(binary, data, device=device, cores=2).start()
    try:
        t = time.monotonic()
        kvlib.fill(srv.port, keys)
        log("filled %d keys in %.1f s" % (keys, time.monotonic() - t))
    finally:
        if srv.stop() != 0:
            raise AssertionError("the first run did not stop cleanly")

    port = kvlib.free_port()
    srv = kvlib.Server(binary, data, device=device, cores=2, port=port).launch()
    try:
        c, at = first_client(port, srv.proc)
        # The very first commands on the first connection must already see every shard.
        probe = ["key:0", "key:1", "key:%d" % (keys // 2), "key:%d" % (keys - 1)]
        dbsize = c.call("DBSIZE")
        gets = [c.call("GET", k) for k in probe]
        mget = c.call("MGET", *probe)
        setr = c.call("SET", "after-start", "x")
        log("first connection after %.2f s; DBSIZE %r" % (at, dbsize))
        want = [k.ljust(20, "v").encode() for k in probe]
        if dbsize != keys:
            raise AssertionError("DBSIZE on the first connection: got %r, want %d" % (dbsize, keys))
        if gets != want or mget != want:
            raise AssertionError("reads on the first connection: GET %r, MGET %r, want %r" % (gets, mget, want))
        if setr != "OK":
            raise AssertionError("SET on the first connection: %r" % setr)
        log("ok: the first client saw the whole store (%d keys)" % keys)
        c.close()
        srv.start()  # read the ready line
        log("ok: ready within %.2f s of launch (recovery of %d keys on 2 cores)" % (at, keys))
    finally:
        rc = srv.stop()
    return kvlib.finish(rc, data, "the second run did not stop cleanly")


if __name__ == "__main__":
    sys.exit(main())

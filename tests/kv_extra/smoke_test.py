#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv smoke test: redis-cli commands, bad input, a short redis-benchmark, clean shutdown
and restart with the data intact. Usage: smoke_test.py SERVER_BINARY WORKDIR [DEVICE_URI]"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, Error, expect, log  # noqa: E402


def cli(port, *args, stdin=None):
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("redis-cli %s failed: %s" % (args, r.stderr))
    return r.stdout.strip()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    device_arg = sys.argv[3] if len(sys.argv) > 3 else None
    if not shutil.which("redis-cli") or not shutil.which("redis-benchmark"):
        print("SKIP: redis-cli / redis-benchmark not installed (Debian package redis-tools)")
        return kvlib.SKIP
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-smoke-", dir=work)
    device = device_arg.replace("@DIR@", data) if device_arg else "uring:%s/kv.log?create_size=64M" % data
    srv = kvlib.Server(binary, data, device=device).start()
    port = srv.port
    try:
        expect(cli(port, "PING"), "PONG", "PING")
        expect(cli(port, "SET", "greeting", "hello world"), "OK", "SET")
        expect(cli(port, "GET", "greeting"), "hello world", "GET")
        expect(cli(port, "SET", "greeting", "x", "NX"), "", "SET NX on an existing key")
        expect(cli(port, "INCR", "counter"), "1", "INCR")
        expect(cli(port, "INCRBY", "counter", "9"), "10", "INCRBY")
        expect(cli(port, "MSET", "a", "1", "b", "2"), "OK", "MSET")
        expect(cli(port, "MGET", "a", "b", "missing"), "1\n2", "MGET")
        expect(cli(port, "SET", "temp", "v", "EX", "1000"), "OK", "SET EX")
        expect(cli(port, "TTL", "temp"), "1000", "TTL")
        expect(cli(port, "DEL", "a", "missing"), "1", "DEL")
        expect(cli(port, "EXISTS", "a", "b"), "1", "EXISTS")
        expect(cli(port, "DBSIZE"), "4", "DBSIZE")
        expect(cli(port, "CONFIG", "GET", "save"), "save", "CONFIG GET save")
        expect(cli(port, "ECHO", "bin\x01ary"), "bin\x01ary", "ECHO")
        if "redis_version" not in cli(port, "INFO"):
            raise AssertionError("INFO lacks redis_version")
        # Pipelined inline commands from stdin (redis-cli sends them in one stream).
        expect(cli(port, stdin="SET p1 v1\nSET p2 v2\nGET p1\nGET p2\n"), "OK\nOK\nv1\nv2", "pipelined stdin")

        # Bad input: an error to that client, the connection closes, the server keeps serving.
        c = Client(port)
        c.send_raw(b"*1\r\n$999999999999\r\n")
        r = c.reply()
        if not (isinstance(r, Error) and "invalid bulk length" in r):
            raise AssertionError("huge bulk length: %r" % r)
        log("ok: huge bulk length refused:", r)
        c.close()
        c = Client(port)
        c.send_raw(b"*2\r\n$3\r\nGET\r\n+oops\r\n")
        r = c.reply()
        if not (isinstance(r, Error) and "Protocol error" in r):
            raise AssertionError("malformed multibulk: %r" % r)
        log("ok: malformed request refused:", r)
        c.close()
        # A client that vanishes mid-request (half a bulk, then a reset).
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly-part")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        c = Client(port)
        expect(c.call("GET", "greeting"), b"hello world", "still serving after bad clients")
        expect(c.call("GET", "k"), None, "a half-sent SET was not applied")
        big = b"x" * (3 << 20)
        expect(c.call("SET", "big", big), "OK", "3 MiB value")
        expect(c.call("STRLEN", "big"), len(big), "3 MiB value length")
        c.close()

        bench = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", "2000", "-c", "20",
                                "-q", "-t", "set,get,incr,mset"], capture_output=True, text=True, timeout=120)
        out = bench.stdout + bench.stderr
        log(out.replace("\r", "\n").splitlines()[-4:] if out else "(no output)")
        if bench.returncode != 0 or "WARNING" in out or "requests per second" not in out:
            raise AssertionError("redis-benchmark failed (rc %d): %s" % (bench.returncode, out[-2000:]))
        log("ok: redis-benchmark -n 2000")
    finally:
        rc = srv.stop()
    expect(rc, 0, "clean shutdown on SIGTERM")

    srv = kvlib.Server(binary, data, device=device).start()
    try:
        if "recovered" not in srv.banner:
            raise AssertionError("restart did not recover the store: " + srv.banner)
        expect(cli(srv.port, "GET", "greeting"), "hello world", "GET after restart")
        expect(cli(srv.port, "GET", "counter"), "10", "counter after restart")
        expect(cli(srv.port, "EXISTS", "a"), "0", "deleted key stays deleted")
        expect(cli(srv.port, "STRLEN", "big"), str(3 << 20), "big value after restart")
    finally:
        expect(srv.stop(), 0, "second clean shutdown")
    shutil.rmtree(data, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

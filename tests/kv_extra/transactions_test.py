#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv MULTI/EXEC as redis-py's default pipeline() sends it (issue 12, bug 6): nothing
queued may run before EXEC, EXEC runs all of it, DISCARD none of it. (The old server refused MULTI
as an unknown command, then ran the SET and INCR that followed and failed EXEC.)
Usage: transactions_test.py SERVER_BINARY WORKDIR [CORES]"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, encode, expect, log  # noqa: E402


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    cores = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-multi-", dir=work)
    srv = kvlib.Server(binary, data, device="uring:%s/kv.log?create_size=64M" % data, cores=cores).start()
    try:
        c, other = Client(srv.port), Client(srv.port)
        # What redis-py's pipeline(transaction=True) writes, in one packet. One key for both
        # commands: a transaction may only use keys of one shard.
        c.send_raw(encode("MULTI") + encode("SET", "tx", "10") + encode("INCR", "tx"))
        replies = [c.reply() for _ in range(3)]
        seen = other.call("GET", "tx")
        log("MULTI, SET, INCR: %r; another client's GET tx before EXEC: %r" % (replies, seen))
        expect(seen, None, "nothing queued runs before EXEC")
        expect(replies, ["OK", "QUEUED", "QUEUED"], "MULTI and the queued commands")
        expect(c.call("EXEC"), ["OK", 11], "EXEC runs them in order")
        expect(other.call("GET", "tx"), b"11", "EXEC's writes are visible")
        c.send_raw(encode("MULTI") + encode("SET", "tx", "99") + encode("DISCARD"))
        expect([c.reply() for _ in range(3)], ["OK", "QUEUED", "OK"], "MULTI ... DISCARD")
        expect(other.call("GET", "tx"), b"11", "DISCARD drops what was queued")
        c.close()
        other.close()
    finally:
        rc = srv.stop()
    return kvlib.finish(rc, data)


if __name__ == "__main__":
    sys.exit(main())

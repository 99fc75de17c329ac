#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv multi-key writes on a full store (issue 12, bug 3), as a client sees them: a command
that replies an error has changed nothing, one that replies success is durable as a whole. On a
full device: an MSET of new keys and a DEL of every key; each reply is checked against DBSIZE and
against the keys themselves, then again after a restart. (The old server replied '-ERR out of
space' to the DEL yet had deleted its first keys.)
Usage: all_or_nothing_test.py SERVER_BINARY WORKDIR [DEVICE_URI with @DIR@] [CORES]"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from full_device_test import fill_until_full  # noqa: E402
from kvlib import Client, Error, log  # noqa: E402


def check_mset(c, before):
    """MSET of keys that do not exist, too big for the room left: all of them or none."""
    args = []
    for i in range(64):
        args += ["mset:%d" % i, "z" * 4000]
    r = c.call("MSET", *args)
    present = sum(c.call("EXISTS", "mset:%d" % i) for i in range(64))
    size = c.call("DBSIZE")
    log("MSET of 64 new keys on the full store: %r; %d of them exist, DBSIZE %d (was %d)" % (r, present, size, before))
    if isinstance(r, Error):
        if present != 0 or size != before:
            raise AssertionError("MSET replied %r but changed the store (%d keys set)" % (r, present))
        return before
    if r != "OK" or present != 64 or size != before + 64:
        raise AssertionError("MSET replied %r but set %d of 64 keys" % (r, present))
    return size


def main():
    args = kvlib.device_test_args(__doc__, "kv-aon-")
    if args is None:
        return 2
    start, data, _ = args

    srv = start()
    try:
        keys = fill_until_full(srv.port)
        log("ok: the device is full after %d SETs" % len(keys))
        c = Client(srv.port, timeout=60)
        size = check_mset(c, len(keys))
        r = c.call("DEL", *keys)
        left = c.call("DBSIZE")
        still = sum(1 for k in keys[:64] if c.call("EXISTS", k))
        log("DEL of all %d keys: %r; DBSIZE after %d; %d of the first 64 keys still exist" % (len(keys), r, left, still))
        if isinstance(r, Error):
            if left != size or still != 64:
                raise AssertionError("DEL replied %r but deleted %d keys" % (r, size - left))
            expect_after = size
        else:
            if r != len(keys) or left != size - len(keys) or still != 0:
                raise AssertionError("DEL replied %r but DBSIZE is %d (was %d)" % (r, left, size))
            expect_after = left
        c.close()
    finally:
        if srv.stop() != 0:
            raise AssertionError("did not stop cleanly")
    srv = start()
    try:
        c = Client(srv.port)
        n = c.call("DBSIZE")
        c.close()
        if n != expect_after:
            raise AssertionError("after a restart DBSIZE is %r, want %d" % (n, expect_after))
        log("ok: after a restart the store holds what the replies said (%d keys)" % n)
    finally:
        srv.stop()
    shutil.rmtree(data, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

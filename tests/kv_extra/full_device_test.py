#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv on a full device (issue 12, bugs 1-3), as a user meets it: pipelined 1000-byte SETs
until '-ERR out of space', then SIGTERM and restart, several times (a restart used to need room
for a record: the second one failed with 'No space left on device'); then the store must be
emptied by DEL, EXPIRE and FLUSHDB, each reply meaning what it says, and take new data again.
Usage: full_device_test.py SERVER_BINARY WORKDIR [DEVICE_URI with @DIR@] [CORES] [RESTARTS]
(RESTARTS, default 3: restarts before the emptying; 0 checks the emptying on its own)"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, Error, encode, log  # noqa: E402


def fill_until_full(port):
    """Pipelined SET fill:N (1000 bytes) until one answers out of space; returns the keys set."""
    c = Client(port, timeout=60)
    keys, n, full = [], 0, False
    while not full:
        batch = ["fill:%d" % (n + i) for i in range(100)]
        n += len(batch)
        c.send_raw(b"".join(encode("SET", k, "x" * 1000) for k in batch))
        for k in batch:
            r = c.reply()
            if r == "OK":
                keys.append(k)
            elif isinstance(r, Error) and r.startswith("ERR out of space"):
                full = True
            else:
                raise AssertionError("SET %s: %r" % (k, r))
    c.close()
    return keys


def main():
    args = kvlib.device_test_args(__doc__, "kv-full-", (3,))
    if args is None:
        return 2
    start, data, (restarts,) = args

    srv = start()
    try:
        keys = fill_until_full(srv.port)
        log("ok: the device is full after %d SETs" % len(keys))
    finally:
        if srv.stop() != 0:
            raise AssertionError("the filling run did not stop cleanly")
    for i in range(restarts):
        srv = start()
        try:
            c = Client(srv.port)
            if c.call("DBSIZE") != len(keys):
                raise AssertionError("restart %d lost keys" % i)
            c.close()
            log("ok: restart %d of the full store serves all %d keys" % (i + 1, len(keys)))
        finally:
            if srv.stop() != 0:
                raise AssertionError("restart %d did not stop cleanly" % i)

    srv = start()
    try:
        c = Client(srv.port, timeout=60)
        half = len(keys) // 2
        r = c.call("DEL", *keys[:half])
        if r != half:
            raise AssertionError("DEL of %d keys on the full store: %r" % (half, r))
        if c.call("EXPIRE", keys[half], "-1") != 1 or c.call("EXPIRE", keys[half + 1], "1000") != 1:
            raise AssertionError("EXPIRE on the full store failed")
        if c.call("DBSIZE") != len(keys) - half - 1:
            raise AssertionError("DBSIZE after the deletes")
        # Room again: new data goes in (after the deletes a compaction frees the dead records).
        for i in range(200):
            r = c.call("SET", "new:%d" % i, "y" * 1000)
            if r != "OK":
                raise AssertionError("SET after emptying half the store: %r" % r)
        if c.call("FLUSHDB") != "OK" or c.call("DBSIZE") != 0:
            raise AssertionError("FLUSHDB on the store")
        c.close()
        log("ok: DEL, EXPIRE and FLUSHDB work on the full store and it takes new data")
    finally:
        if srv.stop() != 0:
            raise AssertionError("did not stop cleanly")
    srv = start()
    try:
        c = Client(srv.port)
        if c.call("DBSIZE") != 0:
            raise AssertionError("FLUSHDB did not survive a restart")
        c.close()
    finally:
        srv.stop()
    shutil.rmtree(data, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

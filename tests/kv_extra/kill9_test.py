#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""convme-kv durability under kill -9: clients write in a loop (single SETs, pipelined SETs,
INCRs), the test SIGKILLs the server mid-load, restarts it and checks that every acknowledged
write is there. Several rounds on the same data directory.
Usage: kill9_test.py SERVER_BINARY WORKDIR [DEVICE_URI with @DIR@] [ROUNDS] [SERVER FLAGS...]"""
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlib  # noqa: E402
from kvlib import Client, Error, encode, log  # noqa: E402

WRITERS = 4
PIPELINE = 8


def writer(port, wid, rnd, acked, counters, stop):
    """Writes until `stop` is set or the server dies; records only what was acknowledged."""
    try:
        c = Client(port, timeout=10)
    except OSError:
        return
    i = 0
    try:
        while not stop.is_set():
            if i % 3 == 2:  # a pipelined burst: all replies must come back OK
                keys = ["r%d:w%d:p%d:%d" % (rnd, wid, i, j) for j in range(PIPELINE)]
                c.send_raw(b"".join(encode("SET", k, "v-" + k) for k in keys))
                for k in keys:
                    if c.reply() != "OK":
                        raise RuntimeError("SET not OK")
                    acked[k] = "v-" + k
            elif i % 3 == 1:
                name = "counter:w%d" % wid
                v = c.call("INCR", name)
                if isinstance(v, Error):
                    raise RuntimeError(v)
                counters[name] = v
            else:
                k = "r%d:w%d:%d" % (rnd, wid, i)
                # Overwrite one hot key too: its latest acknowledged value must win.
                if c.call("SET", k, "v-" + k) != "OK" or c.call("SET", "hot:w%d" % wid, k) != "OK":
                    raise RuntimeError("SET not OK")
                acked[k] = "v-" + k
                acked["hot:w%d" % wid] = k
            i += 1
    except (OSError, ConnectionError, RuntimeError, ValueError):
        pass  # the server was killed: whatever had no reply was never acknowledged
    finally:
        c.close()


def order(value):
    """(round, step) of a hot-key value "r<round>:w<writer>:<step>"."""
    r, _, step = value.split(":")
    return (int(r[1:]), int(step))


def verify(port, acked, counters):
    c = Client(port)
    keys = sorted(acked)
    missing = []
    for n in range(0, len(keys), 200):
        chunk = keys[n:n + 200]
        got = c.call("MGET", *chunk)
        for k, v in zip(chunk, got):
            want = acked[k].encode()
            if k.startswith("hot:") and v is not None:
                # A later SET of the hot key may have run without its reply arriving: the value
                # must be the acknowledged one or a newer one from the same writer.
                if order(v.decode()) >= order(acked[k]):
                    continue
            if v != want:
                missing.append((k, want, v))
    for name, v in counters.items():
        got = c.call("GET", name)
        # An INCR that ran but whose reply was lost may have made it: >= the acknowledged value.
        if got is None or int(got) < v:
            missing.append((name, v, got))
    c.close()
    return missing


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    device_arg = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    extra = sys.argv[5:]
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix="kv-kill9-", dir=work)
    device = device_arg.replace("@DIR@", data) if device_arg else "uring:%s/kv.log?create_size=64M" % data
    acked, counters = {}, {}
    for rnd in range(rounds):
        srv = kvlib.Server(binary, data, device=device, extra=extra).start()
        if rnd > 0:
            bad = verify(srv.port, acked, counters)
            if bad:
                srv.stop(signal.SIGKILL)
                log("LOST %d acknowledged writes, e.g. %r" % (len(bad), bad[:5]))
                return 1
            log("round %d: all %d acknowledged keys and %d counters present after kill -9"
                % (rnd, len(acked), len(counters)))
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(srv.port, w, rnd, acked, counters, stop))
                   for w in range(WRITERS)]
        before = len(acked)
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) - before < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.proc.send_signal(signal.SIGKILL)  # mid-load: writers are still sending
        srv.proc.wait()
        srv.stop()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        log("round %d: killed the server with %d acknowledged keys so far" % (rnd, len(acked)))
        if len(acked) == before:
            log("no write was acknowledged in round %d" % rnd)
            return 1
    srv = kvlib.Server(binary, data, device=device, extra=extra).start()
    bad = verify(srv.port, acked, counters)
    srv.stop()
    if bad:
        log("LOST %d acknowledged writes, e.g. %r" % (len(bad), bad[:5]))
        return 1
    log("final: all %d acknowledged keys and %d counters present" % (len(acked), len(counters)))
    shutil.rmtree(data, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

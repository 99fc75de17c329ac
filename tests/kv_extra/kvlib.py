# SPDX-License-Identifier: MIT
"""Helpers for the convme-kv integration tests: start/stop the server, a tiny RESP client."""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def log(*args):
    print(*args, flush=True)


def expect(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))
    log("ok:", what)


def finish(stop_rc, data, what="did not stop cleanly"):
    """A test's end: the server's stop() returned `stop_rc` (must be 0); its data goes. Returns 0."""
    if stop_rc != 0:
        raise AssertionError("%s: %r" % (what, stop_rc))
    shutil.rmtree(data, ignore_errors=True)
    log("PASS")
    return 0


class Server:
    """convme-kv on a free loopback port (--port 0; the port is read from its 'ready' line)."""

    def __init__(self, binary, datadir, device=None, cores=2, extra=(), port=0):
        self.binary = binary
        self.fixed_port = port
        self.datadir = datadir
        self.device = device
        self.cores = cores
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.banner = ""

    def launch(self):
        """Start the process without waiting for its ready line (see start())."""
        cmd = [self.binary, "--port", str(self.fixed_port), "--bind", "127.0.0.1", "--cores", str(self.cores), "--dir", self.datadir]
        if self.device:
            cmd += ["--device", self.device]
        cmd += self.extra
        log("starting:", " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True)
        return self

    def start(self, timeout=30.0):
        if self.proc is None:
            self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                sys.stdout.write("server: " + line)
                m = re.search(r"listening on [0-9.]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self.banner = line
                    return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError("convme-kv did not become ready (exit code %r)" % self.proc.poll())

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise RuntimeError("convme-kv did not stop within %.0f s after signal %d" % (timeout, sig))
        rest = self.proc.stdout.read()
        if rest:
            sys.stdout.write("".join("server: " + l + "\n" for l in rest.splitlines()))
        self.proc = None
        return rc


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    """Blocking RESP2 client that parses one reply at a time."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Error(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad reply line %r" % line)

    def call(self, *args):
        self.send_raw(encode(*args))
        return self.reply()


class Error(str):
    pass


def free_port():
    """A loopback TCP port that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fill(port, count, prefix="key:", value_size=20, per_command=1000):
    """MSET `count` keys prefix0..prefixN (value = the key, padded), pipelined."""
    c = Client(port, timeout=120)
    sent = 0
    window = []
    while sent < count:
        n = min(per_command, count - sent)
        args = ["MSET"]
        for i in range(sent, sent + n):
            k = "%s%d" % (prefix, i)
            args += [k, k.ljust(value_size, "v")]
        c.send_raw(encode(*args))
        window.append(n)
        sent += n
        if len(window) >= 8:
            window.pop(0)
            r = c.reply()
            if r != "OK":
                raise RuntimeError("MSET failed: %r" % r)
    for _ in window:
        r = c.reply()
        if r != "OK":
            raise RuntimeError("MSET failed: %r" % r)
    c.close()


def device_test_args(doc, prefix, extra_defaults=()):
    """The command line of the full-device tests: SERVER_BINARY WORKDIR [DEVICE_URI with @DIR@]
    [CORES] [extra...]. Returns (start, data, extra): start() starts a server on the fresh data
    dir `data` under WORKDIR with that device; None after printing the usage."""
    if len(sys.argv) < 3:
        print(doc)
        return None
    binary, work = sys.argv[1], sys.argv[2]
    device_arg = sys.argv[3] if len(sys.argv) > 3 else "sim:file=@DIR@/small.sim?size=64M"
    cores = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    extra = [int(sys.argv[5 + i]) if len(sys.argv) > 5 + i else d for i, d in enumerate(extra_defaults)]
    os.makedirs(work, exist_ok=True)
    data = tempfile.mkdtemp(prefix=prefix, dir=work)
    device = device_arg.replace("@DIR@", data)
    return (lambda: Server(binary, data, device=device, cores=cores).start()), data, extra


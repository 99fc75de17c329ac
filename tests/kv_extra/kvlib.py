"""Helpers for the convme-kv integration tests: start/stop the server, a tiny RESP client."""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

SKIP = 77


def log(*args):
    print(*args, flush=True)


class Server:
    """convme-kv on a free loopback port (--port 0; the port is read from its 'ready' line)."""

    def __init__(self, binary, datadir, device=None, cores=2, extra=()):
        self.binary = binary
        self.datadir = datadir
        self.device = device
        self.cores = cores
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.banner = ""

    def start(self, timeout=30.0):
        cmd = [self.binary, "--port", "0", "--bind", "127.0.0.1", "--cores", str(self.cores), "--dir", self.datadir]
        if self.device:
            cmd += ["--device", self.device]
        cmd += self.extra
        log("starting:", " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True)
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

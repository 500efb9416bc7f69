#!/usr/bin/env python3
"""The host side of test/qemu/e2e_vsock.sh and bench_vsock.sh, over the unix
sockets vzkit's vsock proxies use (doc/vsock.md). The guest side is
test/guest/vsock_tool.c, driven by the test guest's vzkit.vsock= actions.

  listen SOCK OUT              accept one connection on SOCK, write what it sent to OUT
  http SOCK FILE               serve FILE to every HTTP GET on SOCK (a client-served Ignition)
  checks --pid P --console LOG --echo S --sink S --source S --hello S --none S --bytes N
                               the connect-mode checks, as PASS/FAIL lines
  bench --out S --in S --tcp PORT --bytes N --rounds R --echo S --connections C
                               the other side of the guest's bench action: guest -> host and
                               host -> guest over vsock (unix sockets S, vzkit's listen-mode
                               proxies) and over NAT (TCP on 127.0.0.1:PORT and PORT+1),
                               medians and ratios; then C host connections set up through the
                               connect-mode socket --echo
"""
import argparse
import hashlib
import http.server
import os
import re
import socket
import socketserver
import sys
import threading
import time


def listen(path, out):
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    server.settimeout(300)
    conn, _ = server.accept()
    data = b""
    while True:
        piece = conn.recv(65536)
        if not piece:
            break
        data += piece
    with open(out, "wb") as f:
        f.write(data)


def serve_http(path, file):
    body = open(file, "rb").read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

        def address_string(self):
            return "vsock"

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with Server(path, Handler) as server:
        server.serve_forever()


class Checks:
    def __init__(self, args):
        self.args = args
        self.failures = 0

    def result(self, name, ok, why=""):
        if ok:
            print("PASS " + name, flush=True)
        else:
            print("FAIL %s: %s" % (name, why), flush=True)
            self.failures += 1

    def connect(self, path, timeout=30):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(path)
        return s

    def read_all(self, s):
        data = b""
        while True:
            piece = s.recv(1 << 20)
            if not piece:
                return data
            data += piece

    def console_line(self, pattern, timeout):
        """The first console line matching pattern (a regex), waiting up to timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                text = open(self.args.console, errors="replace").read()
            except OSError:
                text = ""
            m = re.search(pattern, text)
            if m:
                return m
            time.sleep(0.2)
        return None

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.args.pid))

    def echo_three(self):
        """Three host connections at once, each echoed by the guest with its own bytes."""
        results = [None] * 3

        def one(i):
            try:
                s = self.connect(self.args.echo)
                payload = (b"connection %d " % i) * 20000
                sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
                sender.start()
                got = self.read_all(s)
                sender.join()
                s.close()
                results[i] = got == payload or "got %d of %d bytes" % (len(got), len(payload))
            except OSError as e:
                results[i] = str(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.result("connect mode: three concurrent host connections, each echoed through a guest listener",
                    all(r is True for r in results), results)

    def half_close(self):
        # host close -> guest EOF: the guest's sink sees EOF after our bytes and says so
        s = self.connect(self.args.sink)
        s.sendall(b"x" * 1000)
        s.close()
        m = self.console_line(r"VZKIT vsock-sink port=\d+ bytes=1000 sha256=([0-9a-f]+)", 30)
        self.result("host close -> guest EOF (the guest's reader ends after the 1000 bytes)",
                    m is not None and m.group(1) == hashlib.sha256(b"x" * 1000).hexdigest(), "no sink line")
        # guest close -> host EOF: the guest writes and closes; we never close first
        s = self.connect(self.args.hello)
        start = time.time()
        try:
            got = self.read_all(s)
        except socket.timeout:
            got = None
        self.result("guest close -> host EOF (the guest's bytes, then EOF while the host still holds its end)",
                    got == b"hello from the guest\n" and time.time() - start < 10, repr(got))
        s.close()

    def bulk(self):
        n = self.args.bytes
        payload = os.urandom(n)
        want_in = hashlib.sha256(payload).hexdigest()
        got_out = {}

        def fetch():
            s = self.connect(self.args.source, timeout=120)
            h = hashlib.sha256()
            count = 0
            while True:
                piece = s.recv(1 << 20)
                if not piece:
                    break
                h.update(piece)
                count += len(piece)
            got_out["bytes"], got_out["sha"] = count, h.hexdigest()

        start = time.time()
        fetcher = threading.Thread(target=fetch)
        fetcher.start()
        s = self.connect(self.args.sink, timeout=120)
        s.sendall(payload)
        s.close()
        fetcher.join()
        into = self.console_line(r"VZKIT vsock-sink port=\d+ bytes=%d sha256=([0-9a-f]+)" % n, 120)
        out = self.console_line(r"VZKIT vsock-source port=\d+ bytes=%d sha256=([0-9a-f]+)" % n, 30)
        mib = n >> 20
        self.result("%d MiB host -> guest, the guest's sha256 equals ours" % mib,
                    into is not None and into.group(1) == want_in, "guest: %s" % (into and into.group(1)))
        self.result("%d MiB guest -> host, our sha256 equals the guest's" % mib,
                    out is not None and got_out.get("bytes") == n and out.group(1) == got_out.get("sha"),
                    "got %s bytes, %s; guest %s" % (got_out.get("bytes"), got_out.get("sha"), out and out.group(1)))
        print("# bulk: %d MiB each way at once in %.1f s" % (mib, time.time() - start), flush=True)

    def many(self):
        before = self.fds()
        start = time.time()
        bad = None
        for i in range(500):
            try:
                s = self.connect(self.args.echo, timeout=10)
                s.sendall(b"%d" % i)
                s.shutdown(socket.SHUT_WR)
                got = self.read_all(s)
                s.close()
                if got != b"%d" % i:
                    bad = "connection %d echoed %r" % (i, got)
                    break
            except OSError as e:
                bad = "connection %d: %s" % (i, e)
                break
        took = time.time() - start
        self.result("500 connections one after another, each echoed", bad is None, bad)
        print("# 500 connections in %.1f s (%.0f per second)" % (took, 500 / took), flush=True)
        after = None
        for _ in range(100):
            after = self.fds()
            if after <= before:
                break
            time.sleep(0.1)
        self.result("vzkit's fd count is back where it started after 500 connections", after <= before,
                    "%d fds before, %d after" % (before, after))

    def refused(self):
        s = self.connect(self.args.none)
        start = time.time()
        try:
            got = self.read_all(s)
        except socket.timeout:
            got = None
        took = time.time() - start
        self.result("a connection to a guest port nobody listens on is closed promptly (< 3 s)",
                    got == b"" and took < 3, "got %r after %.1f s" % (got, took))

    def run(self):
        self.echo_three()
        self.half_close()
        self.refused()
        self.bulk()
        self.many()
        return 0 if self.failures == 0 else 1


def bench(args):
    """Times each transfer from the host's accept to its end: guest -> host ends
    at EOF after every byte, host -> guest when the guest closes after reading
    every byte."""
    times = {"vsock-out": [], "vsock-in": [], "tcp-out": [], "tcp-in": []}
    lock = threading.Lock()

    def serve(listener, kind):
        while True:
            conn, _ = listener.accept()
            start = time.monotonic()
            count = 0
            if kind.endswith("out"):
                while True:
                    piece = conn.recv(1 << 20)
                    if not piece:
                        break
                    count += len(piece)
            else:
                block = bytes(1 << 20)
                left = args.bytes
                while left > 0:
                    conn.sendall(block[:min(left, len(block))])
                    left -= min(left, len(block))
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
                count = args.bytes
            conn.close()
            with lock:
                times[kind].append((time.monotonic() - start, count))

    listeners = []
    for path, kind in ((args.out, "vsock-out"), (args.into, "vsock-in")):
        l = socket.socket(socket.AF_UNIX)
        l.bind(path)
        listeners.append((l, kind))
    for port, kind in ((args.tcp, "tcp-out"), (args.tcp + 1, "tcp-in")):
        l = socket.socket(socket.AF_INET)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("127.0.0.1", port))
        listeners.append((l, kind))
    for l, kind in listeners:
        l.listen(4)
        threading.Thread(target=serve, args=(l, kind), daemon=True).start()
    print("# listening", flush=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        with lock:
            if all(len(v) >= args.rounds for v in times.values()):
                break
        time.sleep(0.2)
    status = 0

    def rate(kind):
        runs = sorted(n / t / 1e6 for t, n in times[kind])
        return runs[len(runs) // 2] if runs else 0.0, runs

    mib = args.bytes >> 20
    results = {}
    for kind in ("vsock-out", "tcp-out", "vsock-in", "tcp-in"):
        median, runs = rate(kind)
        results[kind] = median
        if len(runs) < args.rounds or any(n != args.bytes for _, n in times[kind]):
            status = 1
        print("%-10s %d x %d MiB: median %6.1f MB/s  (runs: %s)" % (
            kind, len(runs), mib, median, " ".join("%.1f" % r for r in runs)), flush=True)
    for direction, label in (("out", "guest -> host"), ("in", "host -> guest")):
        tcp = results["tcp-" + direction]
        ratio = results["vsock-" + direction] / tcp if tcp > 0 else float("inf")
        print("ratio %s: vsock / virtio-net NAT = %.2fx" % (label, ratio), flush=True)
    # connection set-up: connect, one byte there and back, close
    start = time.monotonic()
    done = 0
    for i in range(args.connections):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        try:
            s.connect(args.echo)
            s.sendall(b"x")
            if s.recv(1) != b"x":
                break
        except OSError:
            break
        finally:
            s.close()
        done += 1
    took = time.monotonic() - start
    print("connections host -> guest (connect, 1 byte echoed, close): %d in %.1f s = %.0f per second" % (
        done, took, done / took if took > 0 else 0), flush=True)
    if done != args.connections:
        status = 1
    return status


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("listen")
    p.add_argument("sock")
    p.add_argument("out")
    p = sub.add_parser("http")
    p.add_argument("sock")
    p.add_argument("file")
    p = sub.add_parser("checks")
    for name in ("console", "echo", "sink", "source", "hello", "none"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    p = sub.add_parser("bench")
    p.add_argument("--out", required=True)
    p.add_argument("--in", dest="into", required=True)
    p.add_argument("--echo", required=True)
    p.add_argument("--tcp", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    if args.command == "listen":
        listen(args.sock, args.out)
    elif args.command == "http":
        serve_http(args.sock, args.file)
    elif args.command == "bench":
        sys.exit(bench(args))
    else:
        sys.exit(Checks(args).run())


if __name__ == "__main__":
    main()

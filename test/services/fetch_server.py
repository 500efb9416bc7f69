#!/usr/bin/env python3
"""The test server for the downloader (test/services/test_fetch.sh).

Serves ROOT/NAME at /files/NAME over HTTP and HTTPS on 127.0.0.1, with byte
ranges (Range, If-Range against its ETag), and counts what it serves, so a test
can tell whether bytes were fetched twice. Controls (plain HTTP GETs):
  /_ctl/stats                      JSON: body_bytes, file_requests, sha256_requests, ranges
  /_ctl/reset                      zero the counters and clear the settings below
  /_ctl/set?cut=N                  the next file response ends (connection closed) after N body bytes
  /_ctl/set?rate=BYTES             throttle file bodies to BYTES per second
  /_ctl/set?digest=good|bad        send a Repr-Digest header (right or wrong)
  /redirect/NAME                   302 to /files/NAME
Writes "HTTP_PORT HTTPS_PORT" to PORT_FILE once both listen.
"""
import base64
import hashlib
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

ROOT, PORT_FILE, CERT, KEY = sys.argv[1:5]
lock = threading.Lock()
state = {}


def reset():
    with lock:
        state.clear()
        state.update(body_bytes=0, file_requests=0, sha256_requests=0, ranges=[],
                     cut=None, rate=None, digest=None)


reset()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "vzkit-test"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_ctl/stats":
            with lock:
                body = json.dumps({k: state[k] for k in ("body_bytes", "file_requests", "sha256_requests", "ranges")})
            return self.reply(200, body.encode())
        if url.path == "/_ctl/reset":
            reset()
            return self.reply(200, b"ok")
        if url.path == "/_ctl/set":
            with lock:
                for k, v in urllib.parse.parse_qsl(url.query):
                    state[k] = int(v) if k in ("cut", "rate") else v
            return self.reply(200, b"ok")
        if url.path.startswith("/redirect/"):
            return self.reply(302, headers=[("Location", "/files/" + url.path[len("/redirect/"):])])
        if url.path.startswith("/files/"):
            return self.serve_file(url.path[len("/files/"):])
        return self.reply(404, b"not found\n")

    def serve_file(self, name):
        path = os.path.join(ROOT, os.path.basename(name))
        if not os.path.isfile(path):
            return self.reply(404, b"not found\n")
        with open(path, "rb") as f:
            data = f.read()
        st = os.stat(path)
        etag = '"%x-%x"' % (st.st_size, st.st_mtime_ns)
        is_sum = name.endswith(".sha256")
        with lock:
            if is_sum:
                state["sha256_requests"] += 1
            else:
                state["file_requests"] += 1
            cut, state["cut"] = (state["cut"], None) if not is_sum else (None, state["cut"])
            rate, digest = state["rate"], state["digest"]
        headers = [("ETag", etag), ("Accept-Ranges", "bytes")]
        if digest and not is_sum:
            d = hashlib.sha256(data if digest == "good" else b"other").digest()
            headers.append(("Repr-Digest", "sha-256=:%s:" % base64.b64encode(d).decode()))
        start, code = 0, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and (if_range is None or if_range == etag):
            first = rng.split("=", 1)[1].split("-", 1)[0]
            start = int(first)
            if start >= len(data):
                return self.reply(416, headers=[("Content-Range", "bytes */%d" % len(data))])
            code = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data))))
        if not is_sum:
            with lock:
                state["ranges"].append(start)
        body = data[start:]
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = len(body) if cut is None else min(cut, len(body))
        sent, chunk, t0 = 0, 16384, time.monotonic()
        try:
            while sent < limit:
                n = min(chunk, limit - sent)
                self.wfile.write(body[sent:sent + n])
                sent += n
                if not is_sum:
                    with lock:
                        state["body_bytes"] += n
                if rate:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        except OSError:
            return
        if cut is not None:
            self.close_connection = True
            self.connection.shutdown(2)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up, TLS handshakes a client refused


class TLSServer(Server):
    def get_request(self):
        sock, addr = self.socket.accept()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERT, KEY)
        # The handshake runs in the handler's thread, on first read.
        return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


plain = Server(("127.0.0.1", 0), Handler)
tls = TLSServer(("127.0.0.1", 0), Handler)
for s in (plain, tls):
    threading.Thread(target=s.serve_forever, daemon=True).start()
with open(PORT_FILE + ".tmp", "w") as f:
    f.write("%d %d\n" % (plain.server_address[1], tls.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
threading.Event().wait()

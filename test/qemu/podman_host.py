#!/usr/bin/env python3
"""The host half of podman machine's first boot, as podman and gvproxy do it:
- ignition.sock: an HTTP server on a unix socket; vzkit carries the guest's
  vsock port 1024 to it and the guest GETs its Ignition config;
- ready.sock: podman listens here; vzkit carries the guest's port 1025 to it
  and the guest writes "Ready\\n" once it has booted;
- gvproxy.sock: a unixgram socket standing in for gvproxy's network.
Writes a JSON summary (what arrived where, when) to OUT and exits once Ready
came (or after SECONDS)."""
import json, os, socket, sys, threading, time

directory, config_path, out, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
config = open(config_path, "rb").read()
summary = {"ignition_requests": [], "ready": None, "ready_at": None, "datagrams": [], "started": time.time()}
lock = threading.Lock()
done = threading.Event()


def listener(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(directory, name))
    s.listen(16)
    return s


def serve_ignition(server):
    while not done.is_set():
        conn, _ = server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            line = request.split(b"\r\n", 1)[0].decode(errors="replace")
            with lock:
                summary["ignition_requests"].append(line)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(config) + config)


def wait_ready(server):
    conn, _ = server.accept()
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            break
        data += chunk
    with lock:
        summary["ready"] = data.decode(errors="replace")
        summary["ready_at"] = time.time()
    done.set()


def gvproxy(sock):
    sock.settimeout(0.5)
    while not done.is_set():
        try:
            data, _ = sock.recvfrom(65536)
        except socket.timeout:
            continue
        with lock:
            if len(summary["datagrams"]) < 4:
                summary["datagrams"].append(data.hex())


net = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
net.bind(os.path.join(directory, "gvproxy.sock"))
threads = [threading.Thread(target=serve_ignition, args=(listener("ignition.sock"),), daemon=True),
           threading.Thread(target=wait_ready, args=(listener("ready.sock"),), daemon=True),
           threading.Thread(target=gvproxy, args=(net,), daemon=True)]
for t in threads:
    t.start()
open(out + ".ready", "w").close()
done.wait(seconds)
time.sleep(0.5)  # a few more datagrams
with lock:
    json.dump(summary, open(out, "w"))

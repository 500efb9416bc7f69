#!/usr/bin/env python3
"""A stand-in for gvproxy: a unixgram socket that records the datagrams it
gets (the first one is vfkit's "VFKT") and writes a summary as JSON."""
import json, socket, sys, time

path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(0.5)
open(out + ".ready", "w").close()
datagrams, peer = [], None
deadline = time.time() + seconds
while time.time() < deadline and len(datagrams) < 20:
    try:
        data, peer = sock.recvfrom(65536)
    except socket.timeout:
        continue
    datagrams.append(data.hex())
    if len(datagrams) >= 3:
        break
json.dump({"datagrams": datagrams, "peer": peer}, open(out, "w"))

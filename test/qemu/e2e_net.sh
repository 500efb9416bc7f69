#!/bin/bash
# virtio-net on a unixgram socket, as podman's gvproxy uses it: vzkit sends
# the "VFKT" datagram first (unless vfkitMagic=off), then the guest's Ethernet
# frames arrive one per datagram, from the guest's MAC.
source "$(dirname "$0")/lib.sh"
need_guest "net unixgram"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$scratch"

run_with_peer() { # NAME EXTRA_KEYS
	python3 "$here/net_peer.py" "$scratch/$1.sock" "$scratch/$1.json" 60 &
	local peer=$!
	for _ in $(seq 50); do [ -e "$scratch/$1.json.ready" ] && break; sleep 0.1; done
	"$VZKIT" --bootloader "$(linux_boot report vzkit.net=dhcp vzkit.settle=8)" \
		--device virtio-serial,logFilePath="$scratch/$1.log" \
		--device "virtio-net,unixSocketPath=$scratch/$1.sock,mac=52:54:00:00:00:0$2${3:-}" 2> "$1.err" &
	local pid=$!
	wait "$peer"
	wait_exit $pid 120 >/dev/null
}

run_with_peer magic 1
check "unixgram: the first datagram is VFKT" python3 -c "
import json; d=json.load(open('magic.json'))['datagrams']; assert d and bytes.fromhex(d[0])==b'VFKT', d[:1]"
check "unixgram: then Ethernet frames from the guest's MAC" python3 -c "
import json; d=json.load(open('magic.json'))['datagrams'][1:]
assert d and all(bytes.fromhex(f)[6:12]==bytes.fromhex('525400000001') for f in d), d[:1]"
check "unixgram: the peer sees vzkit's own socket address (so it can answer)" python3 -c "
import json; p=json.load(open('magic.json'))['peer']; assert p and p.startswith('/'), p"

run_with_peer nomagic 2 ",vfkitMagic=off"
check "vfkitMagic=off: no VFKT, frames straight away" python3 -c "
import json; d=json.load(open('nomagic.json'))['datagrams']
assert d and bytes.fromhex(d[0])[6:12]==bytes.fromhex('525400000002'), d[:1]"
finish

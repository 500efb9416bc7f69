#!/bin/bash
# podman machine's first boot, end to end, as podman drives vfkit: its argv
# (a linux bootloader in place of EFI), run under the name vfkit; gvproxy's
# unixgram network; the guest fetches Ignition over vsock port 1024 from
# podman's HTTP server on a unix socket, then says "Ready" on port 1025;
# podman stops the machine over REST; vzkit exits 0 and leaves nothing. No
# /dev/vhost-vsock is needed: vzkit serves the vsock device itself.
source "$(dirname "$0")/lib.sh"
need_guest "podman first boot"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$scratch"

ln -s "$VZKIT" "$scratch/vfkit"
printf '{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA test"]}]}}\n' >config.ign
truncate -s 64M disk.raw
python3 "$here/podman_host.py" "$scratch" config.ign host.json 150 &
host=$!
for _ in $(seq 50); do [ -e host.json.ready ] && break; sleep 0.1; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

started=$(date +%s.%N)
"$scratch/vfkit" --cpus 1 --memory 512 \
	--bootloader "$(linux_boot vsock vzkit.vsock=ignition,ready:1025)" \
	--device "virtio-blk,path=$scratch/disk.raw" \
	--device virtio-rng \
	--device "virtio-vsock,port=1025,socketURL=$scratch/ready.sock,listen" \
	--device "virtio-serial,logFilePath=$scratch/console.log" \
	--device "virtio-net,unixSocketPath=$scratch/gvproxy.sock,mac=5a:94:ef:e4:0c:ee" \
	--device "virtio-vsock,port=1024,socketURL=$scratch/ignition.sock,listen" \
	--restful-uri "tcp://localhost:$port" \
	--pidfile "$scratch/vfkit.pid" >vfkit.out 2>vfkit.err &
pid=$!

wait "$host"
ready=$(python3 -c 'import json; d=json.load(open("host.json")); print(repr(d["ready"]))')
check_eq "podman: 'Ready\\n' arrives on the socket podman listens on (guest port 1025)" "$ready" "'Ready\\n'"
check "podman: the guest fetched its Ignition config over vsock port 1024" \
	python3 -c 'import json; r=json.load(open("host.json"))["ignition_requests"]; assert r and r[0].startswith("GET /config.ign "), r'
wait_for_line console.log "VZKIT ignition" 10
want="bytes=$(wc -c <config.ign) sha256=$(sha256sum config.ign | cut -d' ' -f1)"
check_eq "podman: the guest got the config byte for byte" \
	"$(grep -o 'VZKIT ignition .*' console.log | head -n1)" "VZKIT ignition $want"
check "podman: gvproxy's socket got vfkit's VFKT datagram first" python3 -c '
import json; d=json.load(open("host.json"))["datagrams"]
assert d and bytes.fromhex(d[0]) == b"VFKT", d[:1]'
check_eq "podman: the pidfile names vfkit's pid" "$(cat vfkit.pid 2>/dev/null)" "$pid"
state=$(curl -s "http://localhost:$port/vm/state")
check "podman: GET /vm/state says Running" grep -q '"state":"VirtualMachineStateRunning"' <<<"$state"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Stop"}' "http://localhost:$port/vm/state")
check_eq "podman: POST Stop is accepted" "$code" 202
wait_exit "$pid" 60
status=$?
check_eq "podman: the guest powers off and vfkit exits 0" "$status" 0
check "podman: the guest saw the power button" grep -q 'VZKIT powerbutton' console.log
check "podman: pidfile removed" test ! -e vfkit.pid
check_eq "podman: no QEMU left" "$(procs_mentioning "/tmp/vzkit-$pid-")" ""
check "podman: no runtime directory left" runtime_dir_gone "$pid"
check_eq "podman: stderr has no error or warning line" "$(grep -v 'accelerator:' vfkit.err | grep -iE 'error|warning')" ""
printf '# podman first boot: Ready after %.1f s\n' "$(python3 -c "import json; d=json.load(open('host.json')); print(d['ready_at'] - $started)")"
finish

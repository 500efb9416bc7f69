#!/bin/bash
# vsock end to end on a host without /dev/vhost-vsock: vzkit serves the device
# itself over vhost-user (doc/vsock.md). Two test guests under TCG at once,
# both using host port 1025 (no clash: each VM has its own vsock device):
#   A: podman's readiness (Ready\n to port 1025, arriving on the unix socket
#      the client listens on), --ignition FILE (HTTP over port 1024), and the
#      connect-mode checks of vsock_host.py: three concurrent echoes,
#      half-close both ways, a port nobody listens on, 64 MiB each way with
#      equal sha256, 500 connections with vzkit's fd count back where it was;
#   B: readiness, and Ignition the other way vzkit supports: podman's
#      virtio-vsock,port=1024,socketURL=...,listen to a client-served HTTP socket.
# The guest side is test/guest/vsock_tool.c (vzkit.mode=vsock, README.md).
source "$(dirname "$0")/lib.sh"
need_guest "vsock e2e"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$scratch"
bytes=${VZKIT_VSOCK_E2E_BYTES:-67108864}
started=$(date +%s)

echo '{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core"}]}}' > a.ign
echo '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname"}]}}' > b.ign
helpers=()
python3 "$here/vsock_host.py" listen "$scratch/a-ready.sock" a-ready.out & helpers+=($!)
python3 "$here/vsock_host.py" listen "$scratch/b-ready.sock" b-ready.out & helpers+=($!)
python3 "$here/vsock_host.py" http "$scratch/b-ign.sock" b.ign & helpers+=($!)
for _ in $(seq 50); do
	[ -S a-ready.sock ] && [ -S b-ready.sock ] && [ -S b-ign.sock ] && break
	sleep 0.1
done

connect() { echo "--device virtio-vsock,port=$1,socketURL=$scratch/$2,connect"; }
# shellcheck disable=SC2046 # the connect devices are words on purpose
"$VZKIT" --cpus 2 --memory 512 \
	--bootloader "$(linux_boot vsock "vzkit.vsock=ready:1025,ignition,echo:5000,sink:5001,source:5002:$bytes,hello:5003")" \
	--device virtio-serial,logFilePath="$scratch/a.log" \
	--device "virtio-vsock,port=1025,socketURL=$scratch/a-ready.sock,listen" --ignition "$scratch/a.ign" \
	$(connect 5000 a-echo.sock) $(connect 5001 a-sink.sock) $(connect 5002 a-source.sock) \
	$(connect 5003 a-hello.sock) $(connect 5004 a-none.sock) 2> a.err &
vm_a=$!
"$VZKIT" --memory 256 --bootloader "$(linux_boot vsock vzkit.vsock=ready:1025,ignition)" \
	--device virtio-serial,logFilePath="$scratch/b.log" \
	--device "virtio-vsock,port=1025,socketURL=$scratch/b-ready.sock,listen" \
	--device "virtio-vsock,port=1024,socketURL=$scratch/b-ign.sock,listen" 2> b.err &
vm_b=$!

check "VM A: the guest's vsock actions ran (listeners up)" wait_for_line a.log "VZKIT vsock-listening port=5003" 90
check "VM B: the guest's vsock actions ran" wait_for_line b.log "VZKIT vsock-actions done" 90
check "readiness: the guest's Ready arrives on the unix socket the client listens on" \
	bash -c "[ \"\$(cat a-ready.out)\" = Ready ]"
check "two VMs at once, both with host port 1025: the second one's Ready arrives on its own socket" \
	bash -c "[ \"\$(cat b-ready.out)\" = Ready ]"
check "readiness: the guest says its connect succeeded" grep -q "VZKIT vsock-ready port=1025 ok" a.log
sha() { sha256sum "$1" | cut -d' ' -f1; }
check "--ignition FILE: the guest fetched it over vsock port 1024, byte for byte" \
	grep -q "VZKIT ignition bytes=$(stat -c %s a.ign) sha256=$(sha a.ign)" a.log
check "Ignition from a client-served HTTP socket (virtio-vsock,port=1024,...,listen), byte for byte" \
	grep -q "VZKIT ignition bytes=$(stat -c %s b.ign) sha256=$(sha b.ign)" b.log

python3 "$here/vsock_host.py" checks --pid "$vm_a" --console a.log --echo a-echo.sock --sink a-sink.sock \
	--source a-source.sock --hello a-hello.sock --none a-none.sock --bytes "$bytes" > checks.out 2>&1
cat checks.out
grep -q '^FAIL' checks.out && failures=$((failures + 1))
grep -q '^PASS 500 connections' checks.out || fail "host checks" "did not finish: $(tail -n 3 checks.out | tr '\n' ' ')"

kill -TERM $vm_a $vm_b
check "VM A stops cleanly (exit 0)" wait_exit $vm_a 60
check "VM B stops cleanly (exit 0)" wait_exit $vm_b 60
# (port 5004's refusal is logged by the proxy: "vsock port 5004: ...")
check "the vsock device logged no problem with either guest" bash -c "! grep -h '^vzkit: vsock: ' a.err b.err"
check "no runtime directory left" bash -c "runtime_dir_gone() { ! compgen -G \"/tmp/vzkit-\$1-*\" >/dev/null; }; runtime_dir_gone $vm_a && runtime_dir_gone $vm_b"
kill "${helpers[@]}" 2>/dev/null
wait "${helpers[@]}" 2>/dev/null
echo "# e2e_vsock: $(($(date +%s) - started)) s"
finish

#!/bin/bash
# make bench: vsock through vzkit's own vhost-user back end (doc/vsock.md)
# against the same transfers over virtio-net with NAT, in one VM and one run,
# under TCG. The guest (test guest, vzkit.mode=vsock, action bench) does
# BENCH_RUNS rounds of: BENCH_BYTES to the host over vsock, from the host over
# vsock, to the host over TCP (NAT), from the host over TCP — interleaved, so
# drifts in the shared machine's load hit both alike; the host side
# (vsock_host.py bench) times each from its accept to the last byte and
# prints medians and the vsock/NAT ratio per direction. Then connection set-up:
# BENCH_CONNECTIONS host connections through a connect-mode socket, each with
# one byte echoed by a guest listener. Exit status 1 when a transfer failed.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VZKIT=${VZKIT:-$REPO/vzkit}
RUNS=${BENCH_RUNS:-5}
BYTES=${BENCH_BYTES:-16777216}
CONNECTIONS=${BENCH_CONNECTIONS:-200}
guest=$REPO/build/test-guest

if ! bash "$REPO/test/guest/build.sh" "$guest" >/dev/null 2>&1; then
	echo "bench_vsock: the test guest did not build (bash test/guest/build.sh $guest)"
	exit 1
fi
dir=$(mktemp -d /tmp/vzkit-bench-vsock.XXXXXX)
trap 'kill $host $vm 2>/dev/null; rm -rf "$dir"' EXIT
tcp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$REPO/test/qemu/vsock_host.py" bench --out "$dir/out.sock" --in "$dir/in.sock" --echo "$dir/echo.sock" \
	--tcp "$tcp" --bytes "$BYTES" --rounds "$RUNS" --connections "$CONNECTIONS" > "$dir/result" 2>&1 &
host=$!
for _ in $(seq 50); do grep -q listening "$dir/result" 2>/dev/null && break; sleep 0.1; done
"$VZKIT" --cpus 2 --memory 512 \
	--bootloader "linux,kernel=$guest/vmlinuz,initrd=$guest/initrd.img,cmdline=\"console=hvc0 vzkit.mode=vsock vzkit.vsock=dhcp,echo:5000,bench:$RUNS:$BYTES:$tcp\"" \
	--device "virtio-serial,logFilePath=$dir/console.log" --device virtio-net,nat \
	--device "virtio-vsock,port=6000,socketURL=$dir/out.sock,listen" \
	--device "virtio-vsock,port=6001,socketURL=$dir/in.sock,listen" \
	--device "virtio-vsock,port=5000,socketURL=$dir/echo.sock,connect" 2> "$dir/vzkit.err" &
vm=$!
echo "bench_vsock: $RUNS rounds of $((BYTES >> 20)) MiB each way, vsock and NAT, TCG, 2 vCPUs"
wait $host
status=$?
grep -v '^# listening' "$dir/result"
grep -h "VZKIT vsock-dhcp" "$dir/console.log" | sed 's/^/guest: /'
[ $status -eq 0 ] || { echo "bench_vsock: a transfer failed"; tail -n 5 "$dir/vzkit.err" "$dir/console.log"; }
kill -TERM $vm 2>/dev/null
wait $vm 2>/dev/null
exit $status

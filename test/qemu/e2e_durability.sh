#!/bin/bash
# No acknowledged write is lost: the guest (vzkit.mode=write-blocks) writes
# sector after sector of a virtio-blk disk, each with fsync, and reports each
# one only after its fsync returned. However the VM then ends — the guest
# powers off, SIGTERM, REST HardStop, QEMU killed with SIGKILL — every
# sector reported must be in the host's file once vzkit has exited.
#
# Every way vzkit can attach the disk: a disk image (cached, guest flushes
# become fsync), a host block device (a loop device: full sync), NBD with
# sync=full and NBD with sync=none (flushes not passed on: the writes still
# reach the server, so they survive anything but a crash of the server's
# host; see doc/vzkit.1). make check runs each mode and each way of stopping
# once (4 boots); make check-long (VZKIT_LONG=1) every pair (16 boots).
. "$(dirname "$0")/lib.sh"
need_guest "durability"
cd "$scratch"
root=0
[ "$(id -u)" -eq 0 ] && root=1
modes=(image dev nbd-full nbd-none)
stops=(poweroff sigterm hardstop kill9-qemu)

# run MODE STOP
run() {
	local mode=$1 stop=$2 name="$1/$2" disk=$scratch/$1-$2.img device loop= server= pid blocks=1000000 status
	truncate -s 16M "$disk"
	case $mode in
	image) device="virtio-blk,path=$disk" ;;
	dev)
		loop=$(losetup --find --show "$disk") || { skip "durability $name" "losetup failed"; return; }
		device="virtio-blk,path=$loop,type=dev"
		;;
	nbd-*)
		qemu-nbd -f raw -x disk -t -k "$scratch/nbd-$mode-$stop.sock" "$disk" 2> "$scratch/nbd.err" &
		server=$!
		for _ in $(seq 50); do [ -S "$scratch/nbd-$mode-$stop.sock" ] && break; sleep 0.1; done
		device="nbd,uri=nbd+unix:///disk?socket=$scratch/nbd-$mode-$stop.sock,sync=${mode#nbd-}"
		;;
	esac
	# The guest powers off by itself after 30 sectors; the other stops come
	# while it is still writing.
	[ "$stop" = poweroff ] && blocks=30
	"$VZKIT" --bootloader "$(linux_boot write-blocks "vzkit.blocks=$blocks")" \
		--device "virtio-serial,logFilePath=$scratch/$mode-$stop.log" --device "$device" \
		--restful-uri "unix://$scratch/$mode-$stop.rest" 2> "$scratch/$mode-$stop.err" &
	pid=$!
	if ! wait_for_line "$scratch/$mode-$stop.log" '^VZKIT wrote 9$' 120; then
		fail "durability $name: the guest writes" "no 'VZKIT wrote 9' within 120 s: $(tail -n 3 "$scratch/$mode-$stop.log" "$scratch/$mode-$stop.err" | tr '\n' '|')"
		kill -9 "$pid" 2>/dev/null
	fi
	case $stop in
	poweroff) ;;
	sigterm) kill -TERM "$pid" ;;
	hardstop) curl -s --unix-socket "$scratch/$mode-$stop.rest" -X POST -d '{"state":"HardStop"}' http://vm/vm/state ;;
	kill9-qemu) kill -9 "$(pgrep -P "$pid" -f qemu-system | head -n1)" ;;
	esac
	wait_exit "$pid" 60
	status=$?
	[ -n "$loop" ] && losetup -d "$loop"
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null
		wait "$server" 2>/dev/null
	fi
	local want=0
	[ "$stop" = kill9-qemu ] && want=1
	check "durability $name: vzkit exits $want (got $status)" [ "$status" -eq "$want" ]
	# Every sector the guest reported must hold its marker.
	local reported=0 missing=0 n
	for n in $(sed -n 's/^VZKIT wrote \([0-9]*\)$/\1/p' "$scratch/$mode-$stop.log"); do
		reported=$((reported + 1))
		[ "$(dd if="$disk" bs=512 skip="$n" count=1 2>/dev/null | head -c 17)" = "$(printf 'VZKITBLK %08d' "$n")" ] ||
			missing=$((missing + 1))
	done
	check "durability $name: all $reported acknowledged sectors are in the file ($missing missing)" \
		[ "$reported" -ge 10 -a "$missing" -eq 0 ]
	rm -f "$disk"
}

pairs=()
if [ "${VZKIT_LONG:-0}" = 1 ]; then
	for m in "${modes[@]}"; do for s in "${stops[@]}"; do pairs+=("$m $s"); done; done
else
	# each mode once, each stop once
	for i in 0 1 2 3; do pairs+=("${modes[$i]} ${stops[$(((i + 1) % 4))]}"); done
fi
for pair in "${pairs[@]}"; do
	set -- $pair
	if [ "$1" = dev ] && [ "$root" = 0 ]; then
		skip "durability $1/$2" "a loop device needs root"
		continue
	fi
	if [[ $1 == nbd-* ]] && ! command -v qemu-nbd >/dev/null; then
		skip "durability $1/$2" "qemu-nbd missing"
		continue
	fi
	run "$1" "$2"
done
finish

#!/bin/bash
# EFI boot through OVMF (variable store created once, reused, never created
# without `create`), NBD disks served by a real nbdkit (unix socket and TCP),
# and QEMU's image locking: a second VM on a writable image is refused.
source "$(dirname "$0")/lib.sh"
need_guest "qemu efi/nbd"
cd "$scratch"
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# 1. EFI: firmware -> GRUB on the ESP -> the same kernel, report mode.
"$VZKIT" --memory 512 --bootloader efi,variable-store="$scratch/efi-vars",create \
	--device virtio-blk,path="$GUEST/efi-disk.img",readonly \
	--device virtio-serial,logFilePath="$scratch/efi.log" 2> efi.err &
pid=$!
wait_exit $pid 180
status=$?
check "efi: the firmware booted the kernel from the disk (report done)" grep -q '^VZKIT report done' efi.log
check "efi: vzkit exits 0 on guest poweroff" [ "$status" -eq 0 ]
check "efi: create made the variable store" [ -s efi-vars ]
rm -f missing-vars
"$VZKIT" --bootloader efi,variable-store="$scratch/missing-vars" --device virtio-serial,logFilePath="$scratch/efi2.log" 2> efi2.err
check "efi: a missing store without create is bad input (exit 2)" [ $? -eq 2 ]
check "efi: and nothing was created" [ ! -e missing-vars -a ! -e efi2.log ]

# 2. NBD through nbdkit, on a unix socket and on TCP.
if command -v nbdkit >/dev/null; then
	truncate -s 16M nbd.img
	printf 'NBDEXPORT' | dd of=nbd.img conv=notrunc status=none
	nbdkit --exit-with-parent -U "$scratch/nbd.sock" file "$scratch/nbd.img" &
	nbd_pid=$!
	port=$((20000 + RANDOM % 20000))
	truncate -s 8M nbd2.img
	printf 'OVERTCP' | dd of=nbd2.img conv=notrunc status=none
	nbdkit --exit-with-parent -i 127.0.0.1 -p $port file "$scratch/nbd2.img" &
	nbd2_pid=$!
	for _ in $(seq 50); do [ -S nbd.sock ] && break; sleep 0.1; done
	sleep 0.3
	"$VZKIT" --bootloader "$(linux_boot report vzkit.disks=2)" \
		--device virtio-serial,logFilePath="$scratch/nbd.log" \
		--device "nbd,uri=nbd+unix:///?socket=$scratch/nbd.sock,deviceId=nbd-unix" \
		--device "nbd,uri=nbd://127.0.0.1:$port,readonly,timeout=5000" 2> nbd.err &
	pid=$!
	wait_exit $pid 120
	status=$?
	check "nbd: vzkit exits 0" [ "$status" -eq 0 ]
	check "nbd over a unix socket: size and first bytes" grep -q "name=vda size=16777216 .*head=$(hex NBDEXPORT)" nbd.log
	check "nbd: deviceId is the guest-visible serial" [ "$(report_value nbd.log disk vda serial)" = nbd-unix ]
	check "nbd over TCP: size and first bytes" grep -q "name=vdb size=8388608 .*head=$(hex OVERTCP)" nbd.log
	check "nbd readonly: the guest's write is refused" grep -q '^VZKIT disk-write name=vdb refused' nbd.log
	check "nbd: the guest's write reached the server's file" grep -q '^VZKIT disk-write name=vda ok' nbd.log
	kill $nbd_pid $nbd2_pid 2>/dev/null
else
	skip "nbd" "nbdkit is not installed"
fi

# 3. Two VMs on one writable image: QEMU's lock refuses the second.
truncate -s 4M shared.img
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/first.log" \
	--device virtio-blk,path="$scratch/shared.img" 2> first.err &
first=$!
if wait_for_line first.log '^VZKIT ready' 60; then
	"$VZKIT" --bootloader "$(linux_boot report)" --device virtio-serial,logFilePath="$scratch/second.log" \
		--device virtio-blk,path="$scratch/shared.img" 2> second.err
	status=$?
	check "image locking: the second VM fails (exit 1)" [ "$status" -eq 1 ]
	check "image locking: QEMU's lock message is shown" grep -qi 'lock' second.err
	check "image locking: one error line, naming the --device QEMU refused" \
		[ "$(grep -c "^vzkit: --device virtio-blk ($scratch/shared.img): QEMU refused it: .*lock" second.err)" -eq 1 ]
	kill -TERM $first
	wait_exit $first 30 >/dev/null
else
	fail "image locking: first VM ready" "no VZKIT ready"
	kill -9 $first
fi
finish

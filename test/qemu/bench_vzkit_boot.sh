#!/bin/bash
# make bench: boot-to-poweroff of the test guest (report mode, one disk, NAT,
# rng, console to a file) (a) through vzkit, (b) through a hand-written lean
# QEMU command line with the same devices, (c) QEMU's q35 defaults; runs
# interleaved, medians and ratios; and vzkit's own peak RSS while a VM runs.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VZKIT=${VZKIT:-$REPO/vzkit}
RUNS=${BENCH_RUNS:-5}
guest=$REPO/build/test-guest
bash "$REPO/test/guest/build.sh" "$guest" >/dev/null || exit 1
dir=$(mktemp -d /tmp/vzkit-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
truncate -s 64M "$dir/disk.img"
append="console=hvc0 vzkit.mode=report"
now() { date +%s.%N; }

run_vzkit() {
	"$VZKIT" --cpus 1 --memory 512 --bootloader "linux,kernel=$guest/vmlinuz,initrd=$guest/initrd.img,cmdline=\"$append\"" \
		--device virtio-serial,logFilePath="$dir/a.log" --device virtio-blk,path="$dir/disk.img" \
		--device virtio-net,nat --device virtio-rng 2>/dev/null &
	local pid=$! peak=0
	while kill -0 $pid 2>/dev/null; do
		local hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$pid/status 2>/dev/null)
		[ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
		sleep 0.2
	done
	wait $pid
	echo "$peak" >> "$dir/rss"
}
run_handwritten() {
	qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -machine q35,accel=tcg -cpu max -smp 1 -m 512M \
		-display none -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" -append "$append" \
		-blockdev driver=file,node-name=f,filename="$dir/disk.img" -blockdev driver=raw,node-name=d,file=f \
		-device virtio-blk-pci,drive=d -netdev user,id=n -device virtio-net-pci,netdev=n \
		-object rng-random,id=r,filename=/dev/urandom -device virtio-rng-pci,rng=r \
		-device virtio-serial-pci -chardev file,id=c,path="$dir/b.log" -device virtconsole,chardev=c >/dev/null 2>&1
}
run_defaults() {
	qemu-system-x86_64 -M q35 -accel tcg -m 512 -no-reboot -display none -kernel "$guest/vmlinuz" \
		-initrd "$guest/initrd.img" -append "$append" -drive file="$dir/disk.img",format=raw,if=virtio \
		-device virtio-rng-pci -device virtio-serial-pci -chardev file,id=c,path="$dir/c.log" \
		-device virtconsole,chardev=c >/dev/null 2>&1
}
for i in $(seq "$RUNS"); do
	for kind in vzkit handwritten defaults; do
		start=$(now)
		run_$kind
		echo "$(echo "$(now) - $start" | bc)" >> "$dir/$kind"
	done
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
a=$(median "$dir/vzkit"); b=$(median "$dir/handwritten"); c=$(median "$dir/defaults")
printf 'boot to poweroff, TCG, median of %d runs (interleaved):\n' "$RUNS"
printf '  %-34s %6.2f s\n' "vzkit" "$a" "hand-written lean QEMU" "$b" "QEMU q35 defaults" "$c"
printf '  ratio vzkit / hand-written: %.3f\n' "$(echo "$a / $b" | bc -l)"
printf '  ratio vzkit / q35 defaults: %.3f\n' "$(echo "$a / $c" | bc -l)"
printf '  vzkit peak RSS while the VM runs: median %s KiB\n' "$(median "$dir/rss")"
grep -q 'VZKIT report done' "$dir/a.log" || { echo "vzkit boot did not reach the report"; exit 1; }

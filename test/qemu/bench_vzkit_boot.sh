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

# peak_rss PID: vzkit's VmHWM (a high-water mark) once a second, with shell
# builtins only so the measuring takes no CPU from the guest; the last
# sample goes to $dir/rss.now.
peak_rss() {
	local peak=0 key value rest
	while kill -0 "$1" 2>/dev/null; do
		while read -r key value rest; do
			[ "$key" = VmHWM: ] && [ "$value" -gt "$peak" ] && peak=$value
		done < "/proc/$1/status" 2>/dev/null
		echo "$peak" > "$dir/rss.now"
		sleep 1
	done
}
run_vzkit() {
	rm -f "$dir/rss.now"
	"$VZKIT" --cpus 1 --memory 512 --bootloader "linux,kernel=$guest/vmlinuz,initrd=$guest/initrd.img,cmdline=\"$append\"" \
		--device virtio-serial,logFilePath="$dir/a.log" --device virtio-blk,path="$dir/disk.img" \
		--device virtio-net,nat --device virtio-rng 2>/dev/null &
	local pid=$!
	peak_rss $pid &
	local sampler=$!
	wait $pid # the run ends when vzkit does, not when the sampler notices
	kill $sampler 2>/dev/null
	wait $sampler 2>/dev/null
	cat "$dir/rss.now" >> "$dir/rss"
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
order=(vzkit handwritten defaults)
for i in $(seq "$RUNS"); do
	# rotate the order: whoever goes first in a round is not always the same
	order=("${order[@]:1}" "${order[0]}")
	for kind in "${order[@]}"; do
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

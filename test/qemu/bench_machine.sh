#!/bin/bash
# make bench: the evidence behind the QEMU engine's machine type under TCG.
# The same test guest (report mode, console on virtio-serial) on q35 and on
# microvm, with hand-written QEMU command lines, idle and with two busy loops
# loading the CPUs; microvm both as is and with the known fix for its TSC
# calibration hang (tsc_early_khz=<host kHz> on the kernel command line).
# Boot to poweroff; median of the boots that finished, and how many hung
# (no poweroff within HANG_SECONDS). Interleaved, so load drifts hit all alike.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${BENCH_RUNS:-5}
HANG_SECONDS=${BENCH_HANG_SECONDS:-25}
guest=$REPO/build/test-guest
bash "$REPO/test/guest/build.sh" "$guest" >/dev/null || exit 1
dir=$(mktemp -d /tmp/vzkit-bench-machine.XXXXXX)
busy=()
stop_load() { [ ${#busy[@]} -gt 0 ] && kill "${busy[@]}" 2>/dev/null; busy=(); }
trap 'stop_load; rm -rf "$dir"' EXIT
khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)

# boot MACHINE LOG: seconds to poweroff, or "hang"
boot() {
	local machine=$1 log=$2 bus=pci append="console=hvc0 vzkit.mode=report"
	case $machine in
	microvm*) bus=device ;;
	esac
	[ "$machine" = microvm-tsc ] && append="$append tsc_early_khz=$khz"
	local start
	start=$(date +%s.%N)
	timeout "$HANG_SECONDS" qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
		-machine "${machine%-tsc},accel=tcg" -cpu max -smp 1 -m 512M -display none \
		-kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" -append "$append" \
		-device virtio-serial-$bus -chardev file,id=c,path="$log" -device virtconsole,chardev=c >/dev/null 2>&1
	local status=$?
	if [ $status -eq 0 ] && grep -q 'VZKIT report done' "$log"; then
		echo "$(date +%s.%N) - $start" | bc
	else
		echo hang
	fi
}

median() { sort -n "$1" | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

machines="q35 microvm microvm-tsc"
for load in idle loaded; do
	[ "$load" = loaded ] && for _ in 1 2; do sh -c 'while :; do :; done' & busy+=($!); done
	for i in $(seq "$RUNS"); do
		for m in $machines; do
			t=$(boot "$m" "$dir/$m-$load-$i.log")
			if [ "$t" = hang ]; then
				echo x >> "$dir/$m-$load.hangs"
			else
				echo "$t" >> "$dir/$m-$load.times"
			fi
		done
	done
	stop_load
done

printf 'TCG boot to poweroff (hand-written QEMU, 1 vCPU), %d runs each, hang = no poweroff in %d s:\n' "$RUNS" "$HANG_SECONDS"
printf '  %-10s %-12s %10s %8s\n' load machine median hangs
for load in idle loaded; do
	for m in $machines; do
		touch "$dir/$m-$load.times" "$dir/$m-$load.hangs"
		printf '  %-10s %-12s %9s s %4d/%d\n' "$load" "$m" "$(median "$dir/$m-$load.times")" \
			"$(wc -l < "$dir/$m-$load.hangs")" "$RUNS"
	done
	q=$(median "$dir/q35-$load.times") t=$(median "$dir/microvm-tsc-$load.times")
	if [ "$q" != - ] && [ "$t" != - ]; then
		printf '  %-10s ratio microvm-tsc / q35: %.3f\n' "$load" "$(echo "$t / $q" | bc -l)"
	fi
done

#!/bin/bash
# make bench: what vzkit costs on top of QEMU. Boot to power-off of the test
# guest in report mode (one virtio-blk disk, NAT networking, rng, console to a
# log file) under TCG, RUNS times each, interleaved (so drifts in the shared
# machine's load hit every kind alike):
#   vzkit            $VZKIT as a user runs it (automatic accelerator: the KVM probe's
#                    verdict cached for the boot, so it probes at most once)
#   vzkit-tcg        $VZKIT --accel tcg (no probe: the launcher's own overhead)
#   handwritten      a lean hand-written QEMU line with the same devices
#                    (q35, -nodefaults, explicit raw blockdev, virtio everywhere, -no-reboot)
#   defaults         QEMU's q35 defaults as a user types them (-nographic, serial console,
#                    default NIC and display devices, -drive if=virtio)
#   microvm          (BENCH_MICROVM=0 skips) microvm with the same devices on virtio-mmio and
#                    tsc_early_khz (the fix for its TSC calibration hang under TCG): what the
#                    machine choice (q35) costs or saves
# Prints medians with min/max, the ratios, and vzkit's own memory (VmHWM and
# VmRSS of the vzkit process, not QEMU's) while the VM runs, QEMU's beside it
# for scale. Exit status 1 when a vzkit boot failed.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VZKIT=${VZKIT:-$REPO/vzkit}
RUNS=${BENCH_RUNS:-5}
TIMEOUT=${BENCH_TIMEOUT:-90}
MICROVM=${BENCH_MICROVM:-1}
guest=$REPO/build/test-guest

if ! bash "$REPO/test/guest/build.sh" "$guest" >/dev/null 2>&1; then
	echo "bench_boot: the test guest did not build (bash test/guest/build.sh $guest)"
	exit 1
fi
command -v qemu-system-x86_64 >/dev/null || { echo "bench_boot: qemu-system-x86_64 missing"; exit 1; }
dir=$(mktemp -d /tmp/vzkit-bench-boot.XXXXXX)
trap 'rm -rf "$dir"' EXIT
truncate -s 64M "$dir/disk.img"
khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
report="vzkit.mode=report"

# ---- the kinds: each starts one boot in the background, console to $1 ----

start_vzkit() {
	"$VZKIT" --cpus 1 --memory 512 \
		--bootloader "linux,kernel=$guest/vmlinuz,initrd=$guest/initrd.img,cmdline=\"console=hvc0 $report\"" \
		--device virtio-serial,logFilePath="$1" --device virtio-blk,path="$dir/disk.img" \
		--device virtio-net,nat,mac=52:54:00:00:00:01 --device virtio-rng "${@:2}" </dev/null >/dev/null 2>"$1.err" &
}
start_vzkit-tcg() { start_vzkit "$1" --accel tcg; }
start_handwritten() {
	qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -machine q35,accel=tcg -cpu max -smp 1 -m 512M \
		-display none -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" -append "console=hvc0 $report" \
		-blockdev driver=file,node-name=f0,filename="$dir/disk.img" -blockdev driver=raw,node-name=d0,file=f0 \
		-device virtio-blk-pci,drive=d0 -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01 \
		-object rng-random,id=r0,filename=/dev/urandom -device virtio-rng-pci,rng=r0 \
		-device virtio-serial-pci -chardev file,id=c0,path="$1" -device virtconsole,chardev=c0 \
		</dev/null >/dev/null 2>"$1.err" &
}
start_defaults() {
	qemu-system-x86_64 -M q35 -accel tcg -m 512 -nographic -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
		-append "console=ttyS0 $report" -drive file="$dir/disk.img",format=raw,if=virtio \
		-device virtio-rng-pci </dev/null >"$1" 2>"$1.err" &
}
start_microvm() {
	qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -machine microvm,accel=tcg -cpu max -smp 1 -m 512M \
		-display none -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
		-append "console=hvc0 tsc_early_khz=$khz $report" \
		-blockdev driver=file,node-name=f0,filename="$dir/disk.img" -blockdev driver=raw,node-name=d0,file=f0 \
		-device virtio-blk-device,drive=d0 -netdev user,id=n0 -device virtio-net-device,netdev=n0,mac=52:54:00:00:00:01 \
		-object rng-random,id=r0,filename=/dev/urandom -device virtio-rng-device,rng=r0 \
		-device virtio-serial-device -chardev file,id=c0,path="$1" -device virtconsole,chardev=c0 \
		</dev/null >/dev/null 2>"$1.err" &
}

# kib PID KEY: a "KEY: N kB" value of /proc/PID/status, or nothing
kib() {
	local key value rest
	{ while read -r key value rest; do
		[ "$key" = "$2:" ] && { echo "$value"; return; }
	done <"/proc/$1/status"; } 2>/dev/null
}

# sample PID OUT: while PID runs, the peak VmRSS seen and the last VmHWM, of
# PID and of its QEMU child, written to OUT as "hwm rss qemu_hwm" (KiB). The
# first QEMU child may be the short-lived KVM probe: a child that is gone is
# looked for again, so the VM's QEMU has the last word.
sample() {
	local pid=$1 out=$2 hwm=0 rss=0 qemu_hwm=0 child="" value
	while kill -0 "$pid" 2>/dev/null; do
		value=$(kib "$pid" VmHWM) && [ -n "$value" ] && hwm=$value
		value=$(kib "$pid" VmRSS) && [ -n "$value" ] && [ "$value" -gt "$rss" ] && rss=$value
		[ -n "$child" ] && [ ! -e "/proc/$child" ] && child=""
		[ -z "$child" ] && child=$(pgrep -P "$pid" qemu-system 2>/dev/null | head -n1)
		if [ -n "$child" ]; then
			value=$(kib "$child" VmHWM) && [ -n "$value" ] && qemu_hwm=$value
		fi
		echo "$hwm $rss $qemu_hwm" >"$out"
		sleep 0.2
	done
}

# run KIND ROUND: one timed boot; appends seconds to KIND.times, or a line to KIND.failed
run() {
	local kind=$1 log=$dir/$1-$2.log start end status watchdog sampler=""
	start=$(date +%s%N)
	"start_$kind" "$log"
	local pid=$!
	(sleep "$TIMEOUT"; kill -9 "$pid" 2>/dev/null) &
	watchdog=$!
	case $kind in vzkit*) sample "$pid" "$dir/$kind-$2.mem" & sampler=$! ;; esac
	wait "$pid"
	status=$?
	end=$(date +%s%N)
	kill "$watchdog" 2>/dev/null
	wait "$watchdog" 2>/dev/null
	[ -n "$sampler" ] && wait "$sampler"
	if [ "$status" -eq 0 ] && grep -q 'VZKIT report done' "$log"; then
		echo "$(( (end - start) / 1000000 ))" >>"$dir/$kind.times"
		[ -f "$dir/$kind-$2.mem" ] && cat "$dir/$kind-$2.mem" >>"$dir/$kind.mem"
	else
		echo "round $2: status $status, $(tail -n 1 "$log.err" 2>/dev/null)" >>"$dir/$kind.failed"
	fi
}

kinds="vzkit vzkit-tcg handwritten defaults"
[ "$MICROVM" = 1 ] && kinds="$kinds microvm"
set -- $kinds
count=$#
for round in $(seq "$RUNS"); do
	# rotate the order each round: no kind always runs right after another
	for ((k = 0; k < count; k++)); do
		i=$(( (k + round - 1) % count + 1 ))
		run "${!i}" "$round"
	done
done

# stats FILE [COLUMN]: "median min max" of the column (ms or KiB), or "- - -"
stats() {
	[ -s "$1" ] || { echo "- - -"; return; }
	awk -v c="${2:-1}" '{print $c}' "$1" | sort -n |
		awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR]}'
}
seconds() { [ "$1" = - ] && echo "-" || awk -v ms="$1" 'BEGIN {printf "%.2f", ms / 1000}'; }
ratio() { { [ "$1" = - ] || [ "$2" = - ]; } && echo "-" || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
mib() { [ "$1" = - ] && echo "-" || awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

declare -A median
printf '\nboot to power-off under TCG (1 vCPU, 512 MiB; virtio-blk, NAT, rng, console to a file), %d runs each, interleaved:\n' "$RUNS"
printf '  %-46s %8s %8s %8s %6s\n' kind median min max ok
for kind in $kinds; do
	touch "$dir/$kind.times" "$dir/$kind.failed"
	read -r m lo hi < <(stats "$dir/$kind.times")
	median[$kind]=$m
	case $kind in
	vzkit) label="vzkit (automatic accelerator, cached)" ;;
	vzkit-tcg) label="vzkit --accel tcg" ;;
	handwritten) label="hand-written lean QEMU (q35, -nodefaults)" ;;
	defaults) label="QEMU q35 defaults (-nographic, ttyS0)" ;;
	microvm) label="microvm + tsc_early_khz (hand-written)" ;;
	esac
	printf '  %-46s %7s s %7s s %7s s %3d/%d\n' "$label" "$(seconds "$m")" "$(seconds "$lo")" "$(seconds "$hi")" \
		"$(wc -l <"$dir/$kind.times")" "$RUNS"
done
printf '\nratios of medians:\n'
printf '  vzkit / hand-written           %s\n' "$(ratio "${median[vzkit]}" "${median[handwritten]}")"
printf '  vzkit / q35 defaults           %s\n' "$(ratio "${median[vzkit]}" "${median[defaults]}")"
printf '  vzkit --accel tcg / hand-written %s\n' "$(ratio "${median[vzkit-tcg]}" "${median[handwritten]}")"
printf '  vzkit / vzkit --accel tcg      %s   (the accelerator choice, cached per boot)\n' "$(ratio "${median[vzkit]}" "${median[vzkit-tcg]}")"
[ "$MICROVM" = 1 ] &&
	printf '  microvm / hand-written q35     %s\n' "$(ratio "${median[microvm]}" "${median[handwritten]}")"
printf '\nmemory while the VM runs (MiB; median over runs, max in brackets):\n'
for kind in vzkit vzkit-tcg; do
	touch "$dir/$kind.mem"
	read -r hwm _ hwm_max < <(stats "$dir/$kind.mem" 1)
	read -r rss _ rss_max < <(stats "$dir/$kind.mem" 2)
	read -r qemu _ _ < <(stats "$dir/$kind.mem" 3)
	printf '  %-10s vzkit process: peak VmHWM %s (%s), VmRSS %s (%s); its QEMU child for scale: VmHWM %s\n' \
		"$kind" "$(mib "$hwm")" "$(mib "$hwm_max")" "$(mib "$rss")" "$(mib "$rss_max")" "$(mib "$qemu")"
done
failed=0
for kind in $kinds; do
	if [ -s "$dir/$kind.failed" ]; then
		echo "failed boots of $kind:"
		sed 's/^/  /' "$dir/$kind.failed"
		case $kind in vzkit*) failed=1 ;; esac
	fi
done
exit $failed

#!/bin/bash
# Self-check of the test guest: boots it directly with qemu-system-x86_64 under TCG (no vzkit
# involved) with every device kind the guest reports on, and checks each VZKIT line against
# what was attached. Also boots efi-disk.img under OVMF, and drives the power button through
# QMP. Run by hand: test/guest/selftest.sh [OUTDIR]  (default build/test-guest).
# Prints PASS/FAIL/SKIP lines like the other tests, and "# time" lines with boot times.
# Env: VZKIT_SELFTEST_RUNS=N boots report mode N times for the median boot time (default 1).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/build/test-guest}
runs=${VZKIT_SELFTEST_RUNS:-1}
qemu=${QEMU:-qemu-system-x86_64}
virtiofsd=/usr/lib/qemu/virtiofsd

[ "$(uname -m)" = x86_64 ] || { echo "SKIP guest-selftest: x86_64 hosts only"; exit 0; }
command -v "$qemu" >/dev/null || { echo "SKIP guest-selftest: $qemu not installed"; exit 0; }
bash "$here/build.sh" "$out" >/dev/null || { echo "FAIL guest-build: build.sh failed"; exit 1; }

work=$(mktemp -d /tmp/vzkit-guest-selftest.XXXXXX)
qemu_pid=
virtiofsd_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	[ -n "$virtiofsd_pid" ] && kill "$virtiofsd_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "PASS $1"; }
fail() {
	echo "FAIL $1: $2"
	failures=$((failures + 1))
}
skip() { echo "SKIP $1: $2"; }

# expect_line NAME LOG LINE: LOG holds exactly LINE.
expect_line() {
	if grep -qxF -- "$3" "$2"; then pass "$1"; else fail "$1" "no line '$3' in ${2##*/}"; fi
}
# expect_match NAME LOG REGEX: some line of LOG matches the extended REGEX.
expect_match() {
	if grep -qE -- "$3" "$2"; then pass "$1"; else fail "$1" "no line matching '$3' in ${2##*/}"; fi
}
# expect_none NAME LOG REGEX
expect_none() {
	if grep -qE -- "$3" "$2"; then fail "$1" "unexpected '$(grep -m1 -E -- "$3" "$2")'"; else pass "$1"; fi
}

hex16() { head -c 16 "$1" | od -An -tx1 -v | tr -d ' \n'; }
now() { date +%s%N; }
ms_since() { echo $((($(now) - $1) / 1000000)); }

# run_qemu TIMEOUT ARGS...: QEMU in the foreground; sets qemu_rc and boot_ms.
run_qemu() {
	local limit=$1 start
	shift
	start=$(now)
	timeout -k 5 "$limit" "$qemu" -accel tcg -nodefaults -no-reboot -display none "$@" \
		>"$work/qemu.out" 2>&1
	qemu_rc=$?
	boot_ms=$(ms_since "$start")
}

# start_qemu ARGS...: QEMU in the background with QMP on the pipe $work/qmp.{in,out}.
start_qemu() {
	rm -f "$work/qmp.in" "$work/qmp.out" "$work/qmp.log"
	mkfifo "$work/qmp.in" "$work/qmp.out"
	qemu_start=$(now)
	"$qemu" -accel tcg -nodefaults -no-reboot -display none \
		-chardev pipe,id=qmp,path="$work/qmp" -mon chardev=qmp,mode=control "$@" \
		>"$work/qemu.out" 2>&1 &
	qemu_pid=$!
	exec 3<>"$work/qmp.in"
	cat "$work/qmp.out" >"$work/qmp.log" &
	qmp '{"execute":"qmp_capabilities"}'
}
qmp() { echo "$1" >&3; }

# wait_for LOG REGEX SECONDS: until a line of LOG matches, or QEMU is gone, or time is up.
wait_for() {
	local deadline=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		[ -n "$qemu_pid" ] && ! kill -0 "$qemu_pid" 2>/dev/null && { grep -qE -- "$2" "$1" 2>/dev/null; return; }
		sleep 0.2
	done
	return 1
}

# wait_qemu SECONDS: wait for the background QEMU to exit; sets qemu_rc (124 on time-out).
wait_qemu() {
	local deadline=$(($(date +%s) + $1))
	while kill -0 "$qemu_pid" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill "$qemu_pid"
			wait "$qemu_pid" 2>/dev/null
			qemu_pid=
			qemu_rc=124
			exec 3>&-
			return
		fi
		sleep 0.2
	done
	wait "$qemu_pid"
	qemu_rc=$?
	boot_ms=$(ms_since "$qemu_start")
	qemu_pid=
	exec 3>&-
	sleep 0.2 # let cat copy the last QMP events
}

console_args() { # console_args LOG [virtio-serial device]: hvc0 into LOG
	echo "-device ${2:-virtio-serial-pci} -chardev file,id=con0,path=$1 -device virtconsole,chardev=con0"
}

# --- disks, share and network for the report boot -------------------------------------------
printf 'VZKIT-DISK1-HEAD' >"$work/disk1.img" && truncate -s 1M "$work/disk1.img"
printf 'VZKIT-DISK2-RO..' >"$work/disk2.img" && truncate -s 2M "$work/disk2.img"
printf 'VZKIT-NVME3.....' >"$work/disk3.img" && truncate -s 3M "$work/disk3.img"
printf 'VZKIT-USB4......' >"$work/disk4.img" && truncate -s 4M "$work/disk4.img"
mkdir -p "$work/cidata"
echo "instance-id: selftest" >"$work/cidata/meta-data"
echo "#cloud-config" >"$work/cidata/user-data"
if command -v xorriso >/dev/null; then
	xorriso -as mkisofs -quiet -V cidata -J -r -o "$work/cidata.iso" "$work/cidata" 2>/dev/null
else
	truncate -s 1M "$work/cidata.iso"
fi
ro_sum_before=$(md5sum <"$work/disk2.img")
mkdir -p "$work/share"
echo "hello from host" >"$work/share/hello.txt"
mac=52:54:00:12:34:56

start_virtiofsd() {
	rm -f "$work/share/guest-wrote.txt" "$work/vfs.sock"
	"$virtiofsd" --socket-path="$work/vfs.sock" -o source="$work/share" -o cache=auto \
		-o sandbox=chroot >"$work/virtiofsd.log" 2>&1 &
	virtiofsd_pid=$!
	for _ in $(seq 50); do
		[ -S "$work/vfs.sock" ] && return 0
		sleep 0.1
	done
	return 1
}

have_virtiofs=0
[ "$(id -u)" = 0 ] && [ -x "$virtiofsd" ] && have_virtiofs=1

report_boot() { # report_boot LOG
	local fs_args=() shares=vzkit.shares=myshare,nosuch
	if [ $have_virtiofs = 1 ] && start_virtiofsd; then
		fs_args=(-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
			-chardev socket,id=vfs,path="$work/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=myshare)
	fi
	rm -f "$1" "$1.serial"
	# shellcheck disable=SC2046
	run_qemu 180 -M q35 -m 512 -smp 2 \
		-kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
		-append "console=hvc0 console=ttyS0 vzkit.mode=report vzkit.net=dhcp vzkit.disks=5 $shares" \
		-serial file:"$1.serial" $(console_args "$1") \
		-device virtserialport,chardev=port1,name=org.vzkit.test -chardev null,id=port1 \
		-blockdev driver=file,filename="$work/disk1.img",node-name=d1 \
		-device virtio-blk-pci,drive=d1,serial=vzk-serial-1 \
		-blockdev driver=file,filename="$work/disk2.img",node-name=d2,read-only=on \
		-device virtio-blk-pci,drive=d2 \
		-blockdev driver=file,filename="$work/cidata.iso",node-name=iso,read-only=on \
		-device virtio-blk-pci,drive=iso \
		-blockdev driver=file,filename="$work/disk3.img",node-name=d3 -device nvme,drive=d3,serial=NVMESER3 \
		-device qemu-xhci -blockdev driver=file,filename="$work/disk4.img",node-name=d4 \
		-device usb-storage,drive=d4,serial=USBSER4 \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=$mac \
		-device virtio-rng-pci -device virtio-balloon-pci "${fs_args[@]}"
	[ -n "$virtiofsd_pid" ] && { wait "$virtiofsd_pid" 2>/dev/null; virtiofsd_pid=; }
}

# --- 1. report mode on q35 with every device ---------------------------------------------
log=$work/report.log
report_boot "$log"
echo "# time report-q35 boot_to_poweroff_ms=$boot_ms"
report_times=$boot_ms
if [ "$qemu_rc" = 0 ]; then pass report-poweroff; else fail report-poweroff "qemu exit $qemu_rc"; fi
expect_line report-booted "$log" "VZKIT-GUEST booted"
expect_line report-virtio-blk "$log" "VZKIT disk name=vda size=1048576 ro=0 serial=vzk-serial-1 head=$(hex16 "$work/disk1.img")"
expect_line report-virtio-blk-write "$log" "VZKIT disk-write name=vda ok"
expect_line report-readonly "$log" "VZKIT disk name=vdb size=2097152 ro=1 serial=- head=$(hex16 "$work/disk2.img")"
expect_line report-readonly-refused "$log" "VZKIT disk-write name=vdb refused"
if [ "$(md5sum <"$work/disk2.img")" = "$ro_sum_before" ]; then pass report-readonly-unchanged; else fail report-readonly-unchanged "read-only image changed"; fi
if [ -s "$work/cidata.iso" ] && command -v xorriso >/dev/null; then
	expect_line report-iso "$log" "VZKIT iso name=vdc volid=cidata files=meta-data,user-data"
else
	skip report-iso "xorriso not installed"
fi
expect_line report-nvme "$log" "VZKIT disk name=nvme0n1 size=3145728 ro=0 serial=NVMESER3 head=$(hex16 "$work/disk3.img")"
expect_line report-usb-storage "$log" "VZKIT disk name=sda size=4194304 ro=0 serial=USBSER4 head=$(hex16 "$work/disk4.img")"
expect_line report-net "$log" "VZKIT net name=eth0 mac=$mac"
expect_line report-net-dhcp "$log" "VZKIT net-dhcp name=eth0 ip=10.0.2.15 gateway=10.0.2.2"
expect_line report-rng "$log" "VZKIT rng present=1"
expect_line report-balloon "$log" "VZKIT balloon present=1"
expect_line report-console "$log" "VZKIT console devices=hvc0"
expect_match report-port "$log" "^VZKIT port dev=vport[0-9]+p[0-9]+ name=org.vzkit.test$"
mem_kb=$(sed -n 's/^VZKIT cpus=2 mem_kb=\([0-9]*\)$/\1/p' "$log")
if [ -n "$mem_kb" ] && [ "$mem_kb" -gt 400000 ] && [ "$mem_kb" -le 524288 ]; then
	pass report-cpus-mem
else
	fail report-cpus-mem "$(grep -m1 'VZKIT cpus' "$log")"
fi
expect_match report-power-button-input "$log" "^VZKIT input dev=event[0-9]+ name=Power_Button$"
expect_match report-virtio-ids "$log" "^VZKIT virtio dev=virtio[0-9]+ id=4 driver=virtio_rng$"
expect_match report-modules "$log" "^VZKIT modules loaded=[0-9]+ failed=(-|crct10dif_pclmul)$"
if [ $have_virtiofs = 1 ]; then
	expect_line report-share-mount "$log" "VZKIT share tag=myshare mount=ok"
	expect_line report-share-read "$log" "VZKIT share tag=myshare read=hello from host"
	expect_line report-share-write "$log" "VZKIT share tag=myshare write=ok"
	if [ "$(cat "$work/share/guest-wrote.txt" 2>/dev/null)" = "written by guest" ]; then
		pass report-share-host-sees-write
	else
		fail report-share-host-sees-write "guest-wrote.txt missing on the host"
	fi
	expect_line report-share-missing-tag "$log" "VZKIT share tag=nosuch mount=fail"
else
	skip report-share "virtiofsd needs root"
fi
last=$(grep '^VZKIT' "$log" | tail -n 1)
if [ "$last" = "VZKIT report done" ]; then pass report-done-last; else fail report-done-last "last line '$last'"; fi
# Every VZKIT line is KIND key=value...: no stray output on the report channel.
expect_none report-format "$log" '^VZKIT .*[[:cntrl:]]'
expect_match report-serial-too "$log.serial" "^VZKIT report done"
expect_none report-settled "$log" "^VZKIT settle-timeout"
grep '^VZKIT boot mode=' "$log" | sed 's/^/# /'

# Extra report boots for the boot-time median.
for ((i = 2; i <= runs; i++)); do
	report_boot "$work/report$i.log"
	grep -qxF "VZKIT report done" "$work/report$i.log" || fail "report-run-$i" "no report"
	echo "# time report-q35 boot_to_poweroff_ms=$boot_ms $(grep '^VZKIT boot mode=' "$work/report$i.log")"
	report_times="$report_times $boot_ms"
done
median=$(echo "$report_times" | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "# time report-q35 median_ms=$median runs=$runs all=[$report_times] initrd_bytes=$(stat -c %s "$out/initrd.img")"

# --- 2. wait mode, power button through QMP, pause stops the ticks (q35) ---------------------
log=$work/wait.log
rm -f "$log"
# shellcheck disable=SC2046
start_qemu -M q35 -m 256 -smp 1 -kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
	-append "console=hvc0 vzkit.mode=wait" $(console_args "$log")
if wait_for "$log" '^VZKIT tick 2$' 90; then
	expect_match wait-ready "$log" '^VZKIT powerbuttons count=[1-9]$'
	expect_line wait-ready-line "$log" "VZKIT ready"
	qmp '{"execute":"stop"}'
	sleep 0.5
	paused_ticks=$(grep -c '^VZKIT tick' "$log")
	sleep 2
	if [ "$(grep -c '^VZKIT tick' "$log")" = "$paused_ticks" ]; then pass wait-paused-no-ticks; else fail wait-paused-no-ticks "ticks went on while paused"; fi
	qmp '{"execute":"cont"}'
	if wait_for "$log" "^VZKIT tick $((paused_ticks + 2))\$" 30; then pass wait-resumed-ticks; else fail wait-resumed-ticks "no ticks after cont"; fi
	powerdown_start=$(now)
	qmp '{"execute":"system_powerdown"}'
	wait_qemu 60
	echo "# time wait-q35 powerdown_to_exit_ms=$(ms_since "$powerdown_start")"
	expect_line wait-powerbutton "$log" "VZKIT powerbutton"
	if [ "$qemu_rc" = 0 ]; then pass wait-poweroff; else fail wait-poweroff "qemu exit $qemu_rc"; fi
	expect_match wait-qmp-guest-shutdown "$work/qmp.log" '"SHUTDOWN".*"guest": true.*"guest-shutdown"'
else
	fail wait-ready "no ticks: $(tail -n 3 "$log" 2>/dev/null | tr '\n' '|')"
	wait_qemu 1
fi

# --- 3. ignore-powerbutton: the guest stays up ----------------------------------------------
log=$work/ignore.log
rm -f "$log"
# shellcheck disable=SC2046
start_qemu -M q35 -m 256 -smp 1 -kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
	-append "console=hvc0 vzkit.mode=ignore-powerbutton" $(console_args "$log")
if wait_for "$log" '^VZKIT tick 2$' 90; then
	qmp '{"execute":"system_powerdown"}'
	if wait_for "$log" '^VZKIT powerbutton ignored$' 30; then pass ignore-seen; else fail ignore-seen "no 'powerbutton ignored'"; fi
	ticks=$(grep -c '^VZKIT tick' "$log")
	if wait_for "$log" "^VZKIT tick $((ticks + 2))\$" 30; then pass ignore-still-running; else fail ignore-still-running "guest stopped ticking"; fi
	qmp '{"execute":"quit"}'
	wait_qemu 30
	expect_none ignore-no-poweroff "$log" '^VZKIT powerbutton$'
else
	fail ignore-seen "no ticks"
	wait_qemu 1
fi

# --- 4. EFI: OVMF -> GRUB on the ESP -> kernel -> report ---------------------------------------
# The firmware is found the way QEMU's tools do: JSON descriptors, UEFI on flash for q35,
# without Secure Boot or SMM.
firmware_code='' firmware_vars=''
for descriptor in /usr/share/qemu/firmware/*.json; do
	[ -f "$descriptor" ] || continue
	command -v jq >/dev/null || break
	jq -e '(.["interface-types"] | index("uefi")) and .mapping.device == "flash"
		and ([.targets[] | select(.architecture == "x86_64") | .machines[] | select(test("q35"))] | length > 0)
		and ((.features // []) | (index("secure-boot") or index("requires-smm")) | not)' \
		"$descriptor" >/dev/null 2>&1 || continue
	firmware_code=$(jq -r '.mapping.executable.filename' "$descriptor")
	firmware_vars=$(jq -r '.mapping["nvram-template"].filename' "$descriptor")
	break
done
if [ -n "$firmware_code" ] && [ -r "$firmware_code" ] && [ -r "$firmware_vars" ]; then
	log=$work/efi.log
	cp "$firmware_vars" "$work/efi-vars.fd"
	# shellcheck disable=SC2046
	run_qemu 240 -M q35 -m 512 -smp 2 \
		-drive if=pflash,format=raw,unit=0,readonly=on,file="$firmware_code" \
		-drive if=pflash,format=raw,unit=1,file="$work/efi-vars.fd" \
		-blockdev driver=file,filename="$out/efi-disk.img",node-name=esp,read-only=on \
		-device virtio-blk-pci,drive=esp,bootindex=0 \
		-serial file:"$log.serial" $(console_args "$log")
	echo "# time efi-q35 boot_to_poweroff_ms=$boot_ms (firmware ${firmware_code##*/})"
	expect_match efi-grub-reached "$log.serial" "vzkit test guest: loading the kernel"
	expect_match efi-kernel-reached "$log.serial" "Linux version"
	expect_match efi-cmdline "$log.serial" "Command line: .*console=hvc0 console=ttyS0 vzkit.mode=report"
	expect_line efi-report-done "$log" "VZKIT report done"
	expect_line efi-rng-absent "$log" "VZKIT rng present=0"
	if [ "$qemu_rc" = 0 ]; then pass efi-poweroff; else fail efi-poweroff "qemu exit $qemu_rc"; fi
else
	skip efi-boot "no UEFI firmware descriptor for q35 (ovmf, jq)"
fi

# --- 5. microvm: virtio-mmio devices, ACPI power button --------------------------------------
# microvm has no HPET or PM timer: under TCG the kernel may hang calibrating the TSC unless
# told its frequency (see doc/host-facts.md), which equals the host's under TCG.
tsc_khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
log=$work/microvm.log
rm -f "$log"
# shellcheck disable=SC2046
start_qemu -M microvm -m 256 -smp 1 -kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
	-append "console=hvc0 tsc_early_khz=$tsc_khz vzkit.mode=wait" $(console_args "$log" virtio-serial-device) \
	-blockdev driver=file,filename="$work/disk1.img",node-name=d1,read-only=on \
	-device virtio-blk-device,drive=d1,serial=vzk-serial-1
if wait_for "$log" '^VZKIT tick 2$' 90; then
	expect_match microvm-ready "$log" '^VZKIT powerbuttons count=[1-9]$'
	qmp '{"execute":"system_powerdown"}'
	wait_qemu 60
	expect_line microvm-powerbutton "$log" "VZKIT powerbutton"
	if [ "$qemu_rc" = 0 ]; then pass microvm-poweroff; else fail microvm-poweroff "qemu exit $qemu_rc"; fi
else
	fail microvm-ready "no ticks: $(tail -n 3 "$log" 2>/dev/null | tr '\n' '|')"
	wait_qemu 1
fi

# --- 6. demo mode ------------------------------------------------------------------------------
log=$work/demo.log
# shellcheck disable=SC2046
run_qemu 120 -M q35 -m 256 -smp 1 -kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
	-append "console=hvc0 quiet vzkit.mode=demo vzkit.disks=2 vzkit.settle=1" $(console_args "$log") \
	-blockdev driver=file,filename="$work/disk1.img",node-name=d1,read-only=on \
	-device virtio-blk-pci,drive=d1,serial=demo-disk
expect_match demo-greeting "$log" "Hello from a vzkit guest"
expect_match demo-disk "$log" "disk +vda: 1 MiB, read-only, serial demo-disk"
# vzkit.disks=2 with one disk attached: the wait gives up after vzkit.settle=1 and says why.
expect_match demo-settle-timeout "$log" "^VZKIT settle-timeout seconds=1 reason=fewer_than_2_disks"
if [ "$qemu_rc" = 0 ]; then pass demo-poweroff; else fail demo-poweroff "qemu exit $qemu_rc"; fi

[ $failures = 0 ] || { echo "# logs kept in $work"; trap - EXIT; }
exit $((failures > 0))

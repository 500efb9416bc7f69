#!/bin/bash
# What the QEMU engine refuses up front, with one clear line and nothing left
# behind (macOS guests, Rosetta, --nested without KVM, a broken qcow2 or an
# empty disk image, --accel kvm where KVM does not run guests), what it no
# longer refuses (vsock without /dev/vhost-vsock: vzkit serves it), what it
# skips with a warning (Rosetta ignore-if-missing, in a real boot), and
# --dry-run=qemu's plan read back by a shell.
source "$(dirname "$0")/lib.sh"
need_guest "qemu refusals"
cd "$scratch"
touch machine-id hw-model aux.img

# refuse NAME STATUS PATTERN ARGS...: vzkit exits STATUS with one stderr line
# matching PATTERN (after the accelerator line) and starts no QEMU.
refuse() {
	local name=$1 want=$2 pattern=$3
	shift 3
	"$VZKIT" "$@" > out.txt 2> err.txt &
	local pid=$!
	wait $pid
	local status=$?
	local errors
	errors=$(grep -v '^vzkit: accelerator:' err.txt)
	check "$name: exit $want" [ "$status" -eq "$want" ]
	check "$name: one line says why" bash -c "[ $(printf '%s\n' "$errors" | grep -c .) -eq 1 ] && grep -q -- \"$pattern\" err.txt"
	check "$name: no runtime directory left" runtime_dir_gone $pid
}

refuse "macOS bootloader" 2 "Apple silicon" --bootloader \
	"macos,machineIdentifierPath=$scratch/machine-id,hardwareModelPath=$scratch/hw-model,auxImagePath=$scratch/aux.img"
refuse "rosetta" 2 "Rosetta needs a macOS host" --bootloader "$(linux_boot report)" --device rosetta,mountTag=rosetta
refuse "--nested without KVM" 2 "nested" --nested --accel tcg --bootloader "$(linux_boot report)"
# vsock needs no kernel module: vzkit's own vhost-user back end serves it (doc/vsock.md).
vsock_planned() {
	"$VZKIT" --dry-run=qemu --bootloader "$(linux_boot report)" \
		--device "virtio-vsock,port=1025,socketURL=$scratch/vsock.sock" > plan.txt 2> err.txt &&
		grep -q -- '-device vhost-user-vsock-pci,chardev=vsock0' plan.txt && ! grep -q vhost-vsock err.txt
}
check "vsock is not refused whether or not /dev/vhost-vsock exists: vhost-user-vsock-pci planned" vsock_planned
# Disk images vfkit or QEMU would refuse, refused before the start with the
# device and the path (--gui without a display is no refusal: e2e_gui.sh).
{ printf 'QFI\373\0\0\0\3'; head -c 4096 /dev/zero; } > broken.qcow2
refuse "a file with qcow2's magic that is no qcow2 image" 2 \
	"--device virtio-blk: $scratch/broken.qcow2 starts like a qcow2 image but is not a valid one" \
	--bootloader "$(linux_boot report)" --device "virtio-blk,path=$scratch/broken.qcow2"
: > empty.img
refuse "a zero-byte virtio-blk image" 2 "--device virtio-blk: failed to read the header of file $scratch/empty.img: EOF" \
	--bootloader "$(linux_boot report)" --device "virtio-blk,path=$scratch/empty.img"
# What only QEMU finds out (a backing file gone) is still said naming the device.
qemu-img create -q -f qcow2 base.qcow2 64M && qemu-img create -q -f qcow2 -b "$scratch/base.qcow2" -F qcow2 over.qcow2 &&
	rm base.qcow2
refuse "a qcow2 image whose backing file is gone" 1 \
	"--device virtio-blk ($scratch/over.qcow2): QEMU refused it: Could not open backing file" \
	--bootloader "$(linux_boot report)" --device "virtio-blk,path=$scratch/over.qcow2"
if "$VZKIT" --accel kvm --dry-run=qemu --bootloader "$(linux_boot report)" > /dev/null 2>&1; then
	skip "--accel kvm where KVM does not run guests" "KVM runs guests on this host"
else
	refuse "--accel kvm where KVM does not run guests" 1 "KVM cannot run guests" --accel kvm \
		--bootloader "$(linux_boot report)"
fi

# --dry-run=qemu: the accelerator as a comment, then commands a shell reads
# back into the same words (a path with a space and a comma stays one word).
mkdir "dir with space,comma"
truncate -s 1M "dir with space,comma/disk.img"
"$VZKIT" --dry-run=qemu --accel tcg --bootloader "$(linux_boot report)" \
	--device "virtio-blk,path=\"$scratch/dir with space,comma/disk.img\"" > plan.txt 2> plan.err &
pid=$!
wait $pid
check "dry-run=qemu: exit 0" [ $? -eq 0 ]
check "dry-run=qemu: nothing created (no runtime directory)" runtime_dir_gone $pid
check "dry-run=qemu: the accelerator comes first, as a comment" grep -qx '# accelerator: tcg (--accel tcg)' plan.txt
qemu_line=$(grep '^qemu-system' plan.txt)
eval "set -- $qemu_line"
check "dry-run=qemu: the shell reads the QEMU command back (-nodefaults, -no-user-config)" \
	bash -c "[ '$1' = qemu-system-x86_64 ] && grep -q -- '-nodefaults -no-user-config' plan.txt"
found=0
for word in "$@"; do
	[ "$word" = "driver=file,node-name=disk0-file,read-only=off,filename=$scratch/dir with space,,comma/disk.img" ] && found=1
done
check "dry-run=qemu: the disk path is one word, its comma doubled for QEMU" [ "$found" -eq 1 ]

# Rosetta with ignore-if-missing: a warning, then the VM runs without it.
"$VZKIT" --bootloader "$(linux_boot report)" --device virtio-serial,logFilePath="$scratch/rosetta.log" \
	--device rosetta,mountTag=rosetta,ignore-if-missing 2> rosetta.err &
pid=$!
wait_exit $pid 120
status=$?
check "rosetta ignore-if-missing: the VM runs to poweroff (exit 0)" [ "$status" -eq 0 ]
check "rosetta ignore-if-missing: the guest ran" grep -q '^VZKIT report done' rosetta.log
check "rosetta ignore-if-missing: one warning says it was skipped" \
	bash -c "[ \$(grep -ci 'rosetta' rosetta.err) -eq 1 ] && grep -qi 'warning.*rosetta\|rosetta.*going on without' rosetta.err"
finish

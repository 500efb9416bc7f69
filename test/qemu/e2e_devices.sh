#!/bin/bash
# One boot of the test guest through vzkit with every storage kind, network,
# rng, balloon, a virtio-fs share and a serial log; the guest reports what it
# saw and powers off; vzkit must exit 0.
source "$(dirname "$0")/lib.sh"
need_guest "qemu devices"

cd "$scratch"
make_disk() { truncate -s "$2" "$1"; printf '%s' "$3" | dd of="$1" conv=notrunc status=none; }
make_disk blk.img 8M VIRTIOBLK
make_disk ro.img 2M READONLY
make_disk nvme.img 3M NVMEDISK
make_disk usb.img 4M USBDISK
qemu-img create -q -f qcow2 thin.qcow2 6M
mkdir share && echo "host says hello" > share/hello.txt
ro_sum=$(sha256sum ro.img)
# A previous run's log: vfkit starts each run's log afresh, tools waiting for
# a boot marker must not match the old text.
printf 'VZKIT report done (a previous run)\n' > console.log

"$VZKIT" --cpus 2 --memory 512 \
	--bootloader "$(linux_boot report "vzkit.shares=hostshare vzkit.disks=5")" \
	--device virtio-serial,logFilePath="$scratch/console.log" \
	--device virtio-blk,path="$scratch/blk.img",deviceId=vzkit-blk0 \
	--device virtio-blk,path="$scratch/ro.img",readonly \
	--device nvme,path="$scratch/nvme.img" \
	--device usb-mass-storage,path="$scratch/usb.img" \
	--device virtio-blk,path="$scratch/thin.qcow2" \
	--device virtio-net,nat,mac=52:54:00:ab:cd:ef \
	--device virtio-rng \
	--device virtio-balloon \
	--device virtio-fs,sharedDir="$scratch/share",mountTag=hostshare \
	> vzkit.out 2> vzkit.err &
pid=$!
wait_exit $pid 120
status=$?
log=console.log
check "guest poweroff: vzkit exits 0" [ "$status" -eq 0 ]
check "serial log holds the whole report" grep -q '^VZKIT report done' $log
check "serial log starts afresh at each run (the previous run's text is gone)" \
	eval "! grep -q 'a previous run' $log"
check "vzkit says which accelerator it used" grep -q 'accelerator: \(tcg\|kvm\)' vzkit.err
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
check "virtio-blk: size seen by the guest" [ "$(report_value $log disk vda size)" = 8388608 ]
check "virtio-blk: first bytes" grep -q "name=vda .*head=$(hex VIRTIOBLK)" $log
check "virtio-blk: deviceId is the guest-visible serial" [ "$(report_value $log disk vda serial)" = vzkit-blk0 ]
check "readonly: the guest sees a read-only disk" [ "$(report_value $log disk vdb ro)" = 1 ]
check "readonly: the guest's write is refused" grep -q '^VZKIT disk-write name=vdb refused' $log
check "readonly: the image is unchanged" [ "$(sha256sum ro.img)" = "$ro_sum" ]
check "nvme: size and first bytes" grep -q "name=nvme0n1 size=3145728 .*head=$(hex NVMEDISK)" $log
check "usb-mass-storage: size and first bytes" grep -q "name=sda size=4194304 .*head=$(hex USBDISK)" $log
check "qcow2: opened as qcow2 (virtual size, not file size)" [ "$(report_value $log disk vdc size)" = 6291456 ]
check "writable disk: the guest's write went through" grep -q '^VZKIT disk-write name=vda ok' $log
check "virtio-net: the MAC address" grep -q '^VZKIT net name=eth0 mac=52:54:00:ab:cd:ef' $log
check "virtio-rng: present" grep -q '^VZKIT rng present=1' $log
check "virtio-balloon: present" grep -q '^VZKIT balloon present=1' $log
check "virtio-fs: the guest read the host file" grep -q '^VZKIT share tag=hostshare read=host says hello' $log
check "virtio-fs: the guest's write is on the host" grep -qx 'written by guest' share/guest-wrote.txt
check "cpus and memory reach the guest" grep -q '^VZKIT cpus=2 ' $log
check "no virtiofsd left behind" [ -z "$(procs_mentioning "$scratch/share")" ]
check "runtime directory removed" runtime_dir_gone $pid
finish

#!/bin/bash
# Builds the vzkit test guest from the host's own Debian packages:
#   OUTDIR/vmlinuz       the newest installed Debian kernel (linux-image-*)
#   OUTDIR/initrd.img    gzip'd cpio: busybox-static, the modules in modules.txt, ./init
#   OUTDIR/efi-disk.img  raw GPT disk, one FAT EFI system partition holding a standalone GRUB
#                        (EFI/BOOT/BOOTX64.EFI or BOOTAA64.EFI) that boots the same kernel+initrd
# Needs no root: the disk is assembled with sfdisk, mkfs.vfat and mtools, never mounted.
# Idempotent: when nothing that goes into the guest changed, it only says so.
# Env: VZKIT_GUEST_KVER picks a kernel version instead of the newest.
set -euo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }
warn() { echo "$prog: warning: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $prog OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

for tool in modprobe cpio gzip sfdisk mkfs.vfat mcopy mmd grub-mkstandalone gcc; do
	command -v "$tool" >/dev/null || die "$tool not found (Debian packages: see debian-packages.txt)"
done
# sfdisk and mkfs.vfat live in /usr/sbin, which a non-root PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $arch in
amd64 | x86_64) grub_target=x86_64-efi efi_binary=BOOTX64.EFI serial_console=ttyS0 ;;
arm64 | aarch64) grub_target=arm64-efi efi_binary=BOOTAA64.EFI serial_console=ttyAMA0 ;;
*) die "no EFI layout known for architecture $arch" ;;
esac
grub_dir=/usr/lib/grub/$grub_target
[ -d "$grub_dir" ] || die "$grub_dir missing (install grub-efi-${arch}-bin)"
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || die "$busybox missing (install busybox-static)"
# A dynamically linked busybox would need its libraries in the initramfs.
if command -v file >/dev/null && file -L "$busybox" | grep -q dynamic; then
	die "$busybox is dynamically linked; install busybox-static"
fi

# The newest kernel that has both an image in /boot and its modules.
if [ -n "${VZKIT_GUEST_KVER:-}" ]; then
	kver=$VZKIT_GUEST_KVER
else
	kver=$(
		for image in /boot/vmlinuz-*; do
			[ -e "$image" ] || continue
			version=${image#/boot/vmlinuz-}
			[ -d "/lib/modules/$version" ] && echo "$version"
		done | sort -V | tail -n 1
	)
fi
[ -n "$kver" ] || die "no /boot/vmlinuz-* with matching /lib/modules (install linux-image-$arch)"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel not readable"

# Everything that decides the output; when it matches the last build, there is nothing to do.
kernel_cmdline="console=hvc0 console=$serial_console vzkit.mode=report"
stamp=$(
	{
		echo "kver=$kver arch=$arch grub=$grub_target"
		echo "cmdline=$kernel_cmdline"
		stat -L -c '%n %s %Y' "$kernel" "$busybox" "$grub_dir/linux.mod" "/lib/modules/$kver/modules.dep"
		cat "$here/build.sh" "$here/init" "$here/modules.txt" "$here/vsock_tool.c"
	} | sha256sum | cut -d' ' -f1
)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] &&
	[ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ -s "$out/efi-disk.img" ]; then
	echo "$prog: $out is up to date (kernel $kver)"
	exit 0
fi

work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -f "$out/.stamp"

echo "$prog: kernel $kver ($arch)"
cp "$kernel" "$work/vmlinuz"

# --- initramfs -------------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,root,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init" "$root/init"
# busybox has no vsock applet: the guest's vsock client and servers, static like busybox.
gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/vsock-tool" "$here/vsock_tool.c" || die "cannot build vsock-tool (needs gcc and libc6-dev)"

# Resolve every wanted module to its insmod chain; keep the first appearance of each file so
# that dependencies always come before their users.
declare -A seen=()
load_order=$root/lib/modules/load-order
: >"$load_order"
modules_packed=0
while read -r module params; do
	case $module in '' | '#'*) continue ;; esac
	# -C /dev/null: the host's /etc/modprobe.d options are not the guest's business.
	if ! chain=$(modprobe -C /dev/null -S "$kver" --show-depends "$module" 2>/dev/null); then
		warn "kernel $kver has no module $module; skipped"
		continue
	fi
	last_path=$(printf "%s\n" "$chain" | tail -n 1 | awk "{print \$2}")
	while read -r verb path _; do
		[ "$verb" = insmod ] || continue # "builtin NAME": nothing to load
		[ -n "${seen[$path]:-}" ] && continue
		seen[$path]=1
		base=${path##*/}
		case $base in
		*.ko.xz) xz -dc "$path" >"$root/lib/modules/${base%.xz}" ;;
		*.ko.zst) zstd -qdc "$path" >"$root/lib/modules/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$path" >"$root/lib/modules/${base%.gz}" ;;
		*.ko) cp "$path" "$root/lib/modules/$base" ;;
		*) warn "unexpected module file $path; skipped"; continue ;;
		esac
		base=${base%.xz}
		base=${base%.zst}
		base=${base%.gz}
		# Line: FILE NAME [PARAMS]; NAME with "_" for "-" as the kernel spells module names.
		# Parameters from modules.txt belong to the module asked for, not its dependencies.
		name=$(echo "${base%.ko}" | tr - _)
		if [ "$path" = "$last_path" ] && [ -n "$params" ]; then
			echo "$base $name $params" >>"$load_order"
		else
			echo "$base $name" >>"$load_order"
		fi
		modules_packed=$((modules_packed + 1))
	done <<<"$chain"
done <"$here/modules.txt"
echo "$kver" >"$root/etc/kernel-release"

# Reproducible archive: sorted names, fixed times, no owners from the build host.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -9 >"$work/initrd.img"
echo "$prog: initrd.img $(stat -c %s "$work/initrd.img") bytes, $modules_packed modules"

# --- EFI disk ------------------------------------------------------------------------
# GRUB finds the partition by a marker file, so another disk with a /vmlinuz cannot win.
cat >"$work/grub.cfg" <<EOF
set timeout=0
search --no-floppy --set=root --file /vzkit-guest-esp
echo "vzkit test guest: loading the kernel"
linux /vmlinuz $kernel_cmdline
initrd /initrd.img
boot
EOF
grub_modules="part_gpt fat search search_fs_file normal linux echo test configfile"
[ "$grub_target" = arm64-efi ] && grub_modules="$grub_modules gzio"
grub-mkstandalone -O "$grub_target" -o "$work/$efi_binary" \
	--modules="$grub_modules" --install-modules="$grub_modules" \
	--locales= --fonts= --themes= \
	"boot/grub/grub.cfg=$work/grub.cfg"
echo "vzkit test guest ESP, kernel $kver" >"$work/vzkit-guest-esp"

# ESP size: the files plus room for FAT metadata, whole MiB, at least 32 MiB.
payload=$(($(stat -c %s "$work/vmlinuz") + $(stat -c %s "$work/initrd.img") + $(stat -c %s "$work/$efi_binary")))
esp_mib=$((payload / 1048576 + 8))
[ $esp_mib -ge 32 ] || esp_mib=32
esp=$work/esp.img
mkfs.vfat -C -n VZKITESP -i 766b6974 "$esp" $((esp_mib * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT
mcopy -i "$esp" "$work/$efi_binary" "::/EFI/BOOT/$efi_binary"
mcopy -i "$esp" "$work/vmlinuz" ::/vmlinuz
mcopy -i "$esp" "$work/initrd.img" ::/initrd.img
mcopy -i "$esp" "$work/vzkit-guest-esp" ::/vzkit-guest-esp

# GPT: 1 MiB before the ESP, 1 MiB after it for the backup table.
disk=$work/efi-disk.img
truncate -s $(((esp_mib + 2) * 1048576)) "$disk"
sfdisk --quiet "$disk" <<EOF
label: gpt
label-id: 7A6B6974-0000-4000-8000-00000000E5E5
unit: sectors
first-lba: 2048
start=2048, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=7A6B6974-0000-4000-8000-0000000000E5, name="EFI system partition"
EOF
dd if="$esp" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
echo "$prog: efi-disk.img $((esp_mib + 2)) MiB, ESP holds EFI/BOOT/$efi_binary"

mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.img" "$out/initrd.img"
mv -f "$disk" "$out/efi-disk.img"
echo "$stamp" >"$out/.stamp"
echo "$prog: done: $out"

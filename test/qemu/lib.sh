# Shared by the QEMU engine's end-to-end tests: the test guest, a scratch
# directory, PASS/FAIL lines, and waiting for things with deadlines.
set -u
VZKIT=${VZKIT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/vzkit}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GUEST=${VZKIT_TEST_GUEST:-$REPO/build/test-guest}
# shellcheck source=test/lib.sh
source "$REPO/test/lib.sh"

need_guest() {
	if ! bash "$REPO/test/guest/build.sh" "$GUEST" >/dev/null 2>"$GUEST.build.log"; then
		skip "${1:-qemu e2e}" "test guest did not build (see $GUEST.build.log)"
		exit 0
	fi
	if ! command -v qemu-system-x86_64 >/dev/null; then
		skip "${1:-qemu e2e}" "qemu-system-x86_64 missing"
		exit 0
	fi
}

scratch=$(mktemp -d /tmp/vzkit-e2e.XXXXXX)
cleanup_scratch() { rm -rf "$scratch"; }
trap cleanup_scratch EXIT

# linux_boot MODE [EXTRA_CMDLINE]: the --bootloader for the test guest
linux_boot() {
	echo "linux,kernel=$GUEST/vmlinuz,initrd=$GUEST/initrd.img,cmdline=\"console=hvc0 vzkit.mode=$1${2:+ $2}\""
}



# report_value LOG KIND NAME KEY: the value of KEY= on the "VZKIT KIND name=NAME" line
report_value() {
	grep "^VZKIT $2 .*name=$3 " "$1" | head -n1 | tr ' ' '\n' | sed -n "s/^$4=//p"
}


# runtime_dir_gone PID: vzkit PID's runtime directory (/tmp/vzkit-PID-*) is gone
runtime_dir_gone() { ! compgen -G "/tmp/vzkit-$1-*" >/dev/null; }
runtime_dir_exists() { compgen -G "/tmp/vzkit-$1-*" >/dev/null; }

# Shared by the QEMU engine's end-to-end tests: the test guest, a scratch
# directory, PASS/FAIL lines, and waiting for things with deadlines.
set -u
VZKIT=${VZKIT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/vzkit}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GUEST=${VZKIT_TEST_GUEST:-$REPO/build/test-guest}
failures=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
skip() { echo "SKIP $1: $2"; }
# check NAME COMMAND...: PASS when the command succeeds
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name" "$*"; fi; }

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

# wait_for_line FILE PATTERN SECONDS: true once a line matches
wait_for_line() {
	local file=$1 pattern=$2 deadline=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# wait_exit PID SECONDS: its exit status, or 255 on timeout (then it is killed)
wait_exit() {
	local pid=$1 deadline=$(($(date +%s) + $2))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill -9 "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 255
		fi
		sleep 0.1
	done
	wait "$pid"
}

# report_value LOG KIND NAME KEY: the value of KEY= on the "VZKIT KIND name=NAME" line
report_value() {
	grep "^VZKIT $2 .*name=$3 " "$1" | head -n1 | tr ' ' '\n' | sed -n "s/^$4=//p"
}

# processes whose command line mentions a path
procs_mentioning() { pgrep -f -- "$1" || true; }

finish() {
	[ "$failures" -eq 0 ]
}

# runtime_dir_gone PID: vzkit PID's runtime directory (/tmp/vzkit-PID-*) is gone
runtime_dir_gone() { ! compgen -G "/tmp/vzkit-$1-*" >/dev/null; }
runtime_dir_exists() { compgen -G "/tmp/vzkit-$1-*" >/dev/null; }

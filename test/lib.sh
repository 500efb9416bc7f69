# The one shell library of the test scripts: PASS/FAIL/SKIP lines for the
# runner (test/run-tests.sh counts them) and waiting with deadlines.
# test/qemu/lib.sh adds the test guest on top of it.
# shellcheck shell=bash
failures=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
skip() { echo "SKIP $1: $2"; }
# check NAME COMMAND...: PASS when the command succeeds
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name" "$*"; fi; }
# check_eq NAME GOT WANT: PASS when the two strings are equal
check_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }

# mono_ms: milliseconds on the boot clock (10 ms steps). Durations and
# deadlines use it, never the wall clock: these hosts are virtual machines
# that get snapshotted and restored, and their wall clock is then stepped.
mono_ms() {
	local up
	read -r up _ </proc/uptime
	up=${up/./}
	echo $((10#$up * 10))
}

# wait_for_line FILE PATTERN SECONDS: true once a line matches
wait_for_line() {
	local file=$1 pattern=$2 deadline=$(($(mono_ms) + $3 * 1000))
	while [ "$(mono_ms)" -lt "$deadline" ]; do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# wait_exit PID SECONDS: its exit status, or 255 on timeout (then it is killed)
wait_exit() {
	local pid=$1 deadline=$(($(mono_ms) + $2 * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(mono_ms)" -ge "$deadline" ]; then
			kill -9 "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 255
		fi
		sleep 0.1
	done
	wait "$pid"
}

# procs_mentioning PATH: processes whose command line mentions PATH or that
# hold a file below it open, deleted or not (QEMU's command line names no
# runtime directory, but its stderr is the runtime directory's qemu.log)
procs_mentioning() {
	{
		pgrep -f -- "$1"
		find /proc/[0-9]*/fd -maxdepth 1 -lname "$1*" 2>/dev/null | cut -d/ -f3
	} | grep -vx "$$" | sort -u || true
}

finish() {
	[ "$failures" -eq 0 ]
}

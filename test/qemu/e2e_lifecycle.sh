#!/bin/bash
# How vzkit lives and dies with its VM: SIGTERM asks the guest to stop (and
# stops it hard after 5 s when it does not), --pidfile, a QEMU killed or
# stopped from outside, and kill -9 of vzkit leaving no QEMU, virtiofsd or runtime dir.
source "$(dirname "$0")/lib.sh"
need_guest "qemu lifecycle"
cd "$scratch"
mkdir share

# 1. SIGTERM: the guest gets the ACPI power button and powers off; exit 0.
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/term.log" \
	--pidfile "$scratch/vzkit.pid" 2> term.err &
pid=$!
if wait_for_line term.log '^VZKIT ready' 60; then
	check "pidfile holds vzkit's pid while it runs" [ "$(cat vzkit.pid)" = "$pid" ]
	check "pidfile is the decimal pid with no newline, as vfkit writes it" cmp -s vzkit.pid <(printf '%s' "$pid")
	check "pidfile is mode 0600" [ "$(stat -c %a vzkit.pid)" = 600 ]
	qemu_pid=$(pgrep -P "$pid" -f qemu-system || true)
	check "QEMU is vzkit's child" [ -n "$qemu_pid" ]
	kill -TERM "$pid"
	wait_exit "$pid" 30
	status=$?
	check "SIGTERM: vzkit exits 0 after the guest powers off" [ "$status" -eq 0 ]
	check "SIGTERM: the guest saw the power button" grep -q '^VZKIT powerbutton$' term.log
	check "pidfile removed at exit" [ ! -e vzkit.pid ]
	check "SIGTERM: no QEMU left" bash -c "! kill -0 ${qemu_pid:-0} 2>/dev/null"
else
	fail "SIGTERM: guest ready" "no VZKIT ready in term.log"
	kill -9 $pid
fi

# 2. A guest that ignores the power button is stopped hard after the grace period.
"$VZKIT" --bootloader "$(linux_boot ignore-powerbutton)" --device virtio-serial,logFilePath="$scratch/ignore.log" 2> ignore.err &
pid=$!
if wait_for_line ignore.log '^VZKIT ready' 60; then
	# Milliseconds from the SIGTERM to the hard-stop line and to vzkit's exit.
	start=$(mono_ms)
	kill -TERM "$pid"
	# vzkit may log the line and exit between two polls: the last poll that
	# did not see it is then a lower bound for when the line came.
	line_ms=
	unseen_ms=0
	while kill -0 "$pid" 2>/dev/null && [ $(($(mono_ms) - start)) -lt 30000 ]; do
		poll_ms=$(($(mono_ms) - start))
		if grep -q 'did not stop within' ignore.err; then
			line_ms=$poll_ms
			break
		fi
		unseen_ms=$poll_ms
		sleep 0.02
	done
	wait_exit "$pid" 10
	status=$?
	exit_ms=$(($(mono_ms) - start))
	if [ -z "$line_ms" ] && grep -q 'did not stop within' ignore.err; then
		line_ms=$unseen_ms
	fi
	check "SIGTERM to a stubborn guest: the guest did not power off by itself" bash -c "! grep -q '^VZKIT powerbutton$' ignore.log"
	check "SIGTERM to a stubborn guest: vzkit stops it hard and exits" [ "$status" -eq 0 ]
	# The grace is LIFECYCLE_STOP_GRACE_SECONDS (cmd/lifecycle.h): 5 s, not 4, not 10.
	check "SIGTERM to a stubborn guest: the hard stop comes 5 s after the signal (${line_ms:-never} ms)" \
		[ "${line_ms:-0}" -ge 4900 -a "${line_ms:-0}" -le 7000 ]
	check "SIGTERM to a stubborn guest: vzkit exits soon after the hard stop (${exit_ms} ms)" \
		[ -n "$line_ms" -a "$exit_ms" -le $((${line_ms:-0} + 3000)) ]
	check "the hard stop is logged" grep -q 'did not stop within 5 s' ignore.err
else
	fail "stubborn guest ready" "no VZKIT ready"
	kill -9 $pid
fi

# 3. QEMU killed from outside: vzkit says so and exits non-zero.
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/killq.log" 2> killq.err &
pid=$!
if wait_for_line killq.log '^VZKIT ready' 60; then
	kill -9 "$(pgrep -P "$pid" -f qemu-system)"
	wait_exit "$pid" 20
	status=$?
	check "QEMU killed: vzkit exits 1" [ "$status" -eq 1 ]
	check "QEMU killed: the error names QEMU" grep -q 'vzkit: QEMU died' killq.err
	check "QEMU killed: runtime directory removed" runtime_dir_gone $pid
else
	fail "QEMU killed: guest ready" "no VZKIT ready"
	kill -9 $pid
fi

# 3b. QEMU stopped with SIGTERM from outside: QEMU exits 0 after a SHUTDOWN
# event of its own (reason host-signal), which is no guest power-off.
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/termq.log" 2> termq.err &
pid=$!
if wait_for_line termq.log '^VZKIT ready' 60; then
	kill -TERM "$(pgrep -P "$pid" -f qemu-system)"
	wait_exit "$pid" 20
	status=$?
	check "QEMU stopped with SIGTERM from outside: vzkit exits 1 (got $status)" [ "$status" -eq 1 ]
	check "QEMU stopped with SIGTERM from outside: vzkit says so" \
		grep -q 'vzkit: QEMU was stopped by a signal from outside vzkit' termq.err
	check "QEMU stopped with SIGTERM from outside: the guest saw no power button" \
		bash -c "! grep -q '^VZKIT powerbutton$' termq.log"
else
	fail "QEMU SIGTERM: guest ready" "no VZKIT ready"
	kill -9 $pid
fi

# 4. kill -9 of vzkit: QEMU and virtiofsd die with it; its cleanup watcher
# removes the runtime dir, the pidfile and the REST socket, then exits.
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/kill9.log" \
	--pidfile "$scratch/kill9.pid" --restful-uri "unix://$scratch/kill9.sock" \
	--device virtio-fs,sharedDir="$scratch/share",mountTag=share 2> kill9.err &
pid=$!
if wait_for_line kill9.log '^VZKIT ready' 60; then
	check "kill -9: virtiofsd ran" [ -n "$(procs_mentioning "$scratch/share")" ]
	check "kill -9: runtime directory exists while running" runtime_dir_exists $pid
	check "kill -9: pidfile and REST socket exist while running" [ -f kill9.pid -a -S kill9.sock ]
	# what "no QEMU left" below rests on: the run's QEMU is found by its runtime directory
	qemu=$(pgrep -P "$pid" -f qemu-system)
	check "kill -9: QEMU ($qemu) is among the run's processes" \
		bash -c "[ -n '$qemu' ] && grep -qx '$qemu' <<<'$(procs_mentioning "/tmp/vzkit-$pid-")'"
	watcher=$(pgrep -P "$pid" -x vzkit-cleanup)
	check "kill -9: the cleanup watcher runs (vzkit-cleanup)" [ -n "$watcher" ]
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	gone=0
	for _ in $(seq 50); do
		if [ -z "$(procs_mentioning "/tmp/vzkit-$pid-")" ] && runtime_dir_gone $pid && [ ! -e kill9.pid ] &&
			[ ! -e kill9.sock ] && ! kill -0 "${watcher:-0}" 2>/dev/null; then gone=1; break; fi
		sleep 0.1
	done
	check "kill -9: no QEMU or virtiofsd left" [ -z "$(procs_mentioning "/tmp/vzkit-$pid-")" ]
	check "kill -9: runtime directory removed" runtime_dir_gone $pid
	check "kill -9: pidfile removed" [ ! -e kill9.pid ]
	check "kill -9: REST socket removed" [ ! -e kill9.sock ]
	check "kill -9: everything gone within 5 s, watcher exited" [ "$gone" -eq 1 ]
else
	fail "kill -9: guest ready" "no VZKIT ready"
	kill -9 $pid
fi
finish

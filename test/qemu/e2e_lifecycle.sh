#!/bin/bash
# How vzkit lives and dies with its VM: SIGTERM asks the guest to stop (and
# stops it hard after 5 s when it does not), --pidfile, a QEMU killed from
# outside, and kill -9 of vzkit leaving no QEMU, virtiofsd or runtime dir.
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
	start=$(date +%s)
	kill -TERM "$pid"
	wait_exit "$pid" 30
	status=$?
	took=$(($(date +%s) - start))
	check "SIGTERM to a stubborn guest: the guest did not power off by itself" bash -c "! grep -q '^VZKIT powerbutton$' ignore.log"
	check "SIGTERM to a stubborn guest: vzkit stops it hard and exits" [ "$status" -eq 0 ]
	check "SIGTERM to a stubborn guest: after the 5 s grace, not long after (${took}s)" [ "$took" -ge 4 -a "$took" -le 15 ]
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

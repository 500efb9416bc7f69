#!/bin/bash
# Faults with a definite answer: a helper that dies under a running VM (one
# line naming the device and how it died, exit 1 within 2 s), a helper that
# fails while starting (its own stderr quoted), and stop requests while the
# start waits on a helper that never listens (SIGTERM) or an NBD server that
# never answers (SIGTERM, SIGINT, REST HardStop): the start is abandoned
# within 1 s, exit 0. Each leaves no QEMU,
# helper, runtime directory, pidfile or REST socket. Needs root (virtiofsd).
. "$(dirname "$0")/lib.sh"
need_guest "faults"
cd "$scratch"
mkdir share
# nothing_left PID NAME: no process, runtime dir, pidfile or socket of that run
nothing_left() {
	local pid=$1 name=$2 i
	for i in $(seq 50); do
		[ -z "$(procs_mentioning "/tmp/vzkit-$pid-")" ] && runtime_dir_gone "$pid" &&
			[ ! -e "$name.pid" ] && [ ! -e "$name.sock" ] && return 0
		sleep 0.1
	done
	return 1
}

if [ "$(id -u)" -ne 0 ]; then
	skip "faults: helpers" "virtiofsd needs root"
else
	# 1. virtiofsd killed under a running VM
	"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/fsd.log" \
		--pidfile fsd.pid --restful-uri "unix://$scratch/fsd.sock" \
		--device virtio-fs,sharedDir="$scratch/share",mountTag=myshare 2> fsd.err &
	pid=$!
	if wait_for_line fsd.log '^VZKIT ready' 90; then
		fsd=$(pgrep -f -- "--socket-path=/tmp/vzkit-$pid-" | head -n1)
		start=$(mono_ms)
		kill -9 "$fsd"
		wait_exit "$pid" 10
		status=$? took=$(($(mono_ms) - start))
		check "helper killed: vzkit exits 1 (got $status)" [ "$status" -eq 1 ]
		check "helper killed: one line names the share and the signal" \
			grep -qx "vzkit: virtio-fs share 'myshare': virtiofsd was killed by signal 9" fsd.err
		check "helper killed: exit within 2 s (${took} ms)" [ "$took" -lt 2000 ]
		check "helper killed: nothing left" nothing_left "$pid" fsd
	else
		fail "helper killed: guest ready" "no VZKIT ready"
		kill -9 "$pid"
	fi

	# 2. a helper that fails while starting: its stderr is quoted
	cat > badfsd <<-'EOS'
		#!/bin/sh
		echo "badfsd: cannot open /nowhere: Permission denied" >&2
		exit 3
	EOS
	chmod +x badfsd
	VZKIT_VIRTIOFSD=$scratch/badfsd "$VZKIT" --bootloader "$(linux_boot wait)" \
		--pidfile bad.pid --device virtio-fs,sharedDir="$scratch/share",mountTag=myshare 2> bad.err &
	pid=$!
	wait_exit "$pid" 30
	status=$?
	check "helper fails at start: exit 1 (got $status)" [ "$status" -eq 1 ]
	check "helper fails at start: its own stderr quoted" \
		grep -q "virtio-fs share 'myshare': badfsd exited with status 3 before it listened: badfsd: cannot open /nowhere: Permission denied" bad.err
	check "helper fails at start: nothing left" nothing_left "$pid" bad

	# 3. a helper that never listens: SIGTERM abandons the wait within 1 s
	cat > slowfsd <<-'EOS'
		#!/bin/sh
		exec sleep 60
	EOS
	chmod +x slowfsd
	VZKIT_VIRTIOFSD=$scratch/slowfsd "$VZKIT" --bootloader "$(linux_boot wait)" \
		--pidfile slow.pid --device virtio-fs,sharedDir="$scratch/share",mountTag=myshare 2> slow.err &
	pid=$!
	helper=
	for _ in $(seq 100); do helper=$(pgrep -P "$pid" -x sleep) && break; sleep 0.05; done
	sleep 0.5
	start=$(mono_ms)
	kill -TERM "$pid"
	wait_exit "$pid" 10
	status=$? took=$(($(mono_ms) - start))
	check "stop while a helper starts: exit 0 (got $status)" [ "$status" -eq 0 ]
	check "stop while a helper starts: within 1 s (${took} ms)" [ "$took" -lt 1000 ]
	check "stop while a helper starts: nothing left" nothing_left "$pid" slow
	helper_gone() { [ -n "$helper" ] && ! kill -0 "$helper" 2>/dev/null; }
	check "stop while a helper starts: the helper ran and is gone" helper_gone
fi

# 4. stop requests while the start waits on an NBD server that accepts and
# never answers (QEMU waits for the handshake up to the 60 s timeout).
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
' > nbd.port &
server=$!
for _ in $(seq 50); do [ -s nbd.port ] && break; sleep 0.1; done
port=$(cat nbd.port)
for how in TERM INT HardStop; do
	"$VZKIT" --bootloader "$(linux_boot wait)" --device "nbd,uri=nbd://127.0.0.1:$port/x,timeout=60000" \
		--pidfile "$how.pid" --restful-uri "unix://$scratch/$how.sock" 2> "$how.err" &
	pid=$!
	starting=0
	for _ in $(seq 100); do
		if curl -s --max-time 1 --unix-socket "$how.sock" http://vm/vm/state | grep -q Starting &&
			[ -n "$(pgrep -P "$pid" -f qemu-system)" ]; then starting=1; break; fi
		sleep 0.1
	done
	sleep 1 # QEMU is connected to the server by now
	check "stop while starting ($how): VM is Starting, QEMU waits on NBD" [ "$starting" -eq 1 ]
	start=$(mono_ms)
	if [ "$how" = HardStop ]; then
		body=$(curl -s --max-time 2 --unix-socket "$how.sock" http://vm/vm/state)
		check "stop while starting: GET /vm/state offers HardStop ($body)" \
			grep -q '"canHardStop":true.*"state":"VirtualMachineStateStarting"' <<<"$body"
		start=$(mono_ms)
		code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$how.sock" -X POST -d '{"state":"HardStop"}' http://vm/vm/state)
		check "stop while starting (HardStop): request accepted (HTTP $code)" [ "$code" = 202 ]
	else
		kill "-$how" "$pid"
	fi
	wait_exit "$pid" 10
	status=$? took=$(($(mono_ms) - start))
	check "stop while starting ($how): exit 0 (got $status)" [ "$status" -eq 0 ]
	check "stop while starting ($how): within 1 s (${took} ms)" [ "$took" -lt 1000 ]
	check "stop while starting ($how): says the start was abandoned" grep -q 'start abandoned' "$how.err"
	check "stop while starting ($how): nothing left" nothing_left "$pid" "$how"
done
kill "$server"
finish

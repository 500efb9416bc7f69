#!/bin/bash
# The fault campaign: vzkit runs the test guest with everything it can leave
# behind (runtime directory, QEMU, virtiofsd, a REST unix socket, a pidfile,
# its terminal in raw mode for a stdio console, a read-only disk), and one
# fault hits it at a random moment from just after exec to well after boot:
#
#   kill9-vzkit     kill -9 of vzkit                        no status (137)
#   kill9-qemu      kill -9 of QEMU                         1
#   kill9-virtiofsd kill -9 of virtiofsd                    1
#   sigterm         SIGTERM to vzkit                        0
#   sigint          SIGINT to vzkit                         0
#   rest-hardstop   REST HardStop                           0
#   rest-stop       REST Stop to a guest that ignores it:   0
#                   still running 3 s later, then HardStop
#   sigstop-qemu    QEMU SIGSTOPped, then SIGTERM to vzkit  0
#   log-full        the serial log's filesystem (a small    0
#                   tmpfs) fills up; 2 s later SIGTERM
#
# Each trial checks the exit status against doc/vzkit.1 (EXIT STATUS), the
# time from fault to exit, and that nothing is left: no QEMU or virtiofsd,
# no cleanup watcher, no runtime directory, REST socket or pidfile, the
# read-only disk unchanged, the terminal's settings as before. Prints
# "faults: N of M trials left nothing behind".
#
# Trials: FAULTS_TRIALS (default 12; 60 under make check-long, VZKIT_LONG=1).
# Replay: FAULTS_SEED=S (printed at the start) gives the same trials;
# FAULTS_ONLY=K runs only trial K of that seed.
. "$(dirname "$0")/lib.sh"
need_guest "faults"
unset XDG_RUNTIME_DIR # the runtime directory in /tmp, where lib.sh looks

trials=${FAULTS_TRIALS:-$([ "${VZKIT_LONG:-0}" = 1 ] && echo 60 || echo 12)}
seed=${FAULTS_SEED:-$(( $(date +%s) % 100000 ))}
only=${FAULTS_ONLY:-}
root=0
[ "$(id -u)" -eq 0 ] && root=1
kinds=(kill9-vzkit kill9-qemu kill9-virtiofsd sigterm sigint rest-hardstop rest-stop sigstop-qemu log-full)
declare -A expected=([kill9-vzkit]=137 [kill9-qemu]=1 [kill9-virtiofsd]=1 [sigterm]=0 [sigint]=0
	[rest-hardstop]=0 [rest-stop]=0 [sigstop-qemu]=0 [log-full]=0)
echo "faults: seed $seed, $trials trials (replay: FAULTS_SEED=$seed [FAULTS_ONLY=K] bash $0)"


# A pty that stays open between runs (a tty nobody holds forgets its
# settings): vzkit gets it as stdin, QEMU's stdio console makes it raw.
python3 -c '
import os, pty, sys, time
master, slave = pty.openpty()
print(os.ttyname(slave), flush=True)
while True:
    try:
        if not os.read(master, 65536):
            time.sleep(0.1)
    except OSError:
        time.sleep(0.1)
' > "$scratch/pty.name" &
pty_holder=$!
for _ in $(seq 50); do [ -s "$scratch/pty.name" ] && break; sleep 0.1; done
tty=$(cat "$scratch/pty.name")
cleanup_faults() {
	kill "$pty_holder" 2>/dev/null
	for m in "$scratch"/t*/logfs; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
	cleanup_scratch
}
trap cleanup_faults EXIT

head -c 1M /dev/urandom > "$scratch/ro.img"
ro_sum=$(sha256sum < "$scratch/ro.img")

clean=0 ran=0
declare -A times clean_times
for trial in $(seq 1 "$trials"); do
	RANDOM=$((seed * 1000 + trial))
	# Every kind in turn (any 9 trials in a row cover them all), from a
	# seeded start; the moment is random.
	kind=${kinds[$(((trial - 1 + seed) % ${#kinds[@]}))]}
	# 70 %: 0.1-9 s after exec (starting, booting: 6-30 s under TCG on a
	# busy machine); 30 %: 0-5 s after the guest said it is ready.
	late=$((RANDOM % 100 >= 70))
	delay_ms=$((late ? RANDOM % 5000 : 100 + RANDOM % 9000))
	[ -n "$only" ] && [ "$trial" != "$only" ] && continue
	if [ "$root" = 0 ] && { [ "$kind" = kill9-virtiofsd ] || [ "$kind" = log-full ]; }; then
		skip "faults: trial $trial $kind" "needs root (virtiofsd, mount)"
		continue
	fi
	ran=$((ran + 1))
	dir=$scratch/t$trial
	mkdir -p "$dir/share" "$dir/logfs"
	log=$dir/console.log
	if [ "$kind" = log-full ]; then
		# A small tmpfs that the fault fills to the last byte.
		mount -t tmpfs -o size=64k tmpfs "$dir/logfs"
		log=$dir/logfs/console.log
	fi
	mode=wait
	[ "$kind" = rest-stop ] && mode=ignore-powerbutton
	share=()
	[ "$root" = 1 ] && share=(--device "virtio-fs,sharedDir=$dir/share,mountTag=share")
	tty_before=$(stty -g -F "$tty")
	start=$(mono_ms)
	"$VZKIT" --bootloader "$(linux_boot $mode)" \
		--device "virtio-serial,logFilePath=$log" --device virtio-serial,stdio \
		--device "virtio-blk,path=$scratch/ro.img,readonly" "${share[@]}" \
		--restful-uri "unix://$dir/rest.sock" --pidfile "$dir/vzkit.pid" \
		< "$tty" > "$dir/stdout" 2> "$dir/stderr" &
	pid=$!
	note=
	# wait_for CONDITION...: until it holds (or vzkit is gone, or 60 s)
	wait_for() {
		local deadline=$(($(mono_ms) + 60000))
		until "$@"; do
			kill -0 "$pid" 2>/dev/null && [ "$(mono_ms)" -lt "$deadline" ] || return 1
			sleep 0.02
		done
	}
	qemu_pid() { pgrep -P "$pid" -f qemu-system | head -n1; }
	fsd_pid() { pgrep -f -- "--socket-path=/tmp/vzkit-$pid-" | head -n1; }
	have_qemu() { [ -n "$(qemu_pid)" ]; }
	have_fsd() { [ -n "$(fsd_pid)" ]; }
	have_socket() { [ -S "$dir/rest.sock" ]; }
	rest() { curl -s --max-time 2 --unix-socket "$dir/rest.sock" "$@"; }
	sleep_until() { local left=$(($1 - $(mono_ms))); [ "$left" -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"; }
	if [ "$late" = 1 ]; then
		guest_ready() { grep -q '^VZKIT ready' "$log" 2>/dev/null; }
		wait_for guest_ready || note="guest not ready within 60 s;"
		sleep_until $(($(mono_ms) + delay_ms))
	else
		sleep_until $((start + delay_ms))
	fi
	watcher=$(pgrep -P "$pid" -x vzkit-cleanup)
	case $kind in
	kill9-vzkit) fault=$(mono_ms); kill -9 "$pid" ;;
	kill9-qemu) wait_for have_qemu; fault=$(mono_ms); kill -9 "$(qemu_pid)" ;;
	kill9-virtiofsd) wait_for have_fsd; fault=$(mono_ms); kill -9 "$(fsd_pid)" ;;
	sigterm) fault=$(mono_ms); kill -TERM "$pid" ;;
	sigint) fault=$(mono_ms); kill -INT "$pid" ;;
	rest-hardstop)
		wait_for have_socket
		fault=$(mono_ms)
		rest -X POST -d '{"state":"HardStop"}' http://vm/vm/state >/dev/null
		;;
	rest-stop)
		wait_for have_socket
		fault=$(mono_ms)
		state=$(rest http://vm/vm/state)
		rest -X POST -d '{"state":"Stop"}' http://vm/vm/state >/dev/null
		# A guest that ignores the power button keeps running: vzkit too.
		if echo "$state" | grep -q Running; then
			sleep 3
			if kill -0 "$pid" 2>/dev/null; then note="still running 3 s after Stop;"
			else note="exited after an ignored Stop;"; fi
			fault=$(mono_ms)
		fi
		rest -X POST -d '{"state":"HardStop"}' http://vm/vm/state >/dev/null
		;;
	sigstop-qemu)
		wait_for have_qemu
		stopped=$(qemu_pid)
		kill -STOP "$stopped"
		fault=$(mono_ms)
		kill -TERM "$pid"
		;;
	log-full)
		fault=$(mono_ms)
		cat /dev/zero > "$dir/logfs/filler" 2>/dev/null
		sleep 2
		kill -TERM "$pid"
		;;
	esac
	# Exit, then everything gone.
	deadline=$(($(mono_ms) + 30000))
	while kill -0 "$pid" 2>/dev/null && [ "$(mono_ms)" -lt "$deadline" ]; do sleep 0.02; done
	exited=$(mono_ms)
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		note="$note did not exit within 30 s;"
	fi
	wait "$pid" 2>/dev/null
	status=$?
	took=$((exited - fault))
	leftovers() {
		local what=
		[ -n "$(procs_mentioning "/tmp/vzkit-$pid-")" ] && what="$what processes($(procs_mentioning "/tmp/vzkit-$pid-" | tr '\n' ' '))"
		[ -n "$watcher" ] && kill -0 "$watcher" 2>/dev/null && what="$what watcher"
		runtime_dir_exists "$pid" && what="$what runtime-dir"
		[ -e "$dir/rest.sock" ] && what="$what rest-socket"
		[ -e "$dir/vzkit.pid" ] && what="$what pidfile"
		[ "$(sha256sum < "$scratch/ro.img")" = "$ro_sum" ] || what="$what read-only-disk-changed"
		[ "$(stty -g -F "$tty")" = "$tty_before" ] || what="$what terminal-settings"
		echo "$what"
	}
	# The watcher needs a moment after a kill -9 (it waits for QEMU to die).
	for _ in $(seq 100); do left=$(leftovers); [ -z "$left" ] && break; sleep 0.05; done
	cleaned=$(($(mono_ms) - fault))
	[ -n "${stopped:-}" ] && kill -CONT "$stopped" 2>/dev/null
	stopped=
	mountpoint -q "$dir/logfs" && umount -l "$dir/logfs"
	want=${expected[$kind]}
	label="faults: trial $trial $kind at $((fault - start)) ms$([ "$late" = 1 ] && echo " (after boot)")"
	if [ "$status" = "$want" ] && [ -z "$left" ] && [[ "$note" != *"did not exit"* ]] && [[ "$note" != *"exited after"* ]]; then
		clean=$((clean + 1))
		pass "$label: exit $status in $took ms, nothing left after $cleaned ms ${note}"
		times[$kind]="${times[$kind]:-} $took"
		clean_times[$kind]="${clean_times[$kind]:-} $cleaned"
	else
		fail "$label" "exit $status (documented: $want) in $took ms; left:${left:- nothing}; ${note} stderr: $(tail -n 2 "$dir/stderr" | tr '\n' '|')"
	fi
done
echo "faults: $clean of $ran trials left nothing behind (seed $seed)"
for kind in "${kinds[@]}"; do
	[ -n "${times[$kind]:-}" ] || continue
	# shellcheck disable=SC2086 # a list of numbers
	sorted=$(printf '%s\n' ${times[$kind]} | sort -n)
	n=$(echo "$sorted" | wc -l)
	# shellcheck disable=SC2086
	gone=$(printf '%s\n' ${clean_times[$kind]} | sort -n)
	echo "# $kind: fault to exit, median $(echo "$sorted" | sed -n "$(((n + 1) / 2))p") ms, max $(echo "$sorted" | tail -n1) ms; to nothing left, max $(echo "$gone" | tail -n1) ms ($n trials)"
done
finish

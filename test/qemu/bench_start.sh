#!/bin/bash
# make bench: what vzkit itself costs at start and while its VM idles
# (doc/performance.md), each a median of RUNS runs in this one command:
#   exec -> QEMU exec   from the exec of vzkit to the exec of the VM's QEMU
#                       (kernel sched_process_exec events, perf record: no
#                       ptrace stops in between), with a cold accelerator cache
#                       (the KVM probe runs), a warm one, --accel tcg (no probe,
#                       no cache) and, as the floor, env(1) exec'ing QEMU
#   memory              vzkit's peak resident set (VmHWM) while the VM runs with
#                       the REST server on, and the cleanup watcher's
#   idle wake-ups       voluntary context switches per second, summed over all
#                       of vzkit's threads, during IDLE seconds of an idle guest
# The boot-to-power-off ratio against a hand-written QEMU line is
# bench_boot.sh's (make bench runs both). The machines are shared: the
# starts run at nice BENCH_NICE (default -10, all four kinds alike, when
# allowed) so other tenants' load shifts them less, and the load average is
# printed beside the numbers.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VZKIT=${VZKIT:-$REPO/vzkit}
RUNS=${BENCH_RUNS:-5}
IDLE=${BENCH_IDLE_SECONDS:-10}
guest=$REPO/build/test-guest

if ! bash "$REPO/test/guest/build.sh" "$guest" >/dev/null 2>&1; then
	echo "bench_start: the test guest did not build (bash test/guest/build.sh $guest)"
	exit 1
fi
qemu=$(command -v qemu-system-x86_64) || { echo "bench_start: qemu-system-x86_64 missing"; exit 1; }
have_perf=1
perf record -q -e sched:sched_process_exec -o /dev/null -- true >/dev/null 2>&1 || have_perf=0
NICE=${BENCH_NICE:--10}
[ "$(nice -n "$NICE" nice 2>/dev/null)" = "$(( $(nice) + NICE ))" ] || NICE=0 # not allowed: as is
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
dir=$(mktemp -d /tmp/vzkit-bench-start.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export XDG_RUNTIME_DIR=$dir/xdg # a cache of the bench's own, emptied for cold runs
mkdir -m 0700 "$XDG_RUNTIME_DIR"
truncate -s 64M "$dir/disk.img"

vm_args() { # MODE CONSOLE: the VM into the array VM (wait mode idles until powered off)
	VM=(--cpus 1 --memory 512
		--bootloader "linux,kernel=$guest/vmlinuz,initrd=$guest/initrd.img,cmdline=\"console=hvc0 vzkit.mode=$1\""
		--device "virtio-serial,logFilePath=$2" --device "virtio-blk,path=$dir/disk.img"
		--device virtio-net,nat --device virtio-rng --restful-uri "unix://$dir/rest.sock")
}
rest() { curl -s --max-time 5 --unix-socket "$dir/rest.sock" "$@" 2>/dev/null; }
wait_running() { # up to 30 s for the REST state Running
	for _ in $(seq 300); do
		rest http://localhost/vm/state | grep -q VirtualMachineStateRunning && return 0
		sleep 0.1
	done
	return 1
}
hard_stop() { rest -X POST -d '{"state":"HardStop"}' http://localhost/vm/state >/dev/null; }

# exec_gap FILE BINARY: ms from BINARY's exec to the last QEMU exec in a perf
# record of sched_process_exec events
exec_gap() {
	perf script -i "$1" -F time,trace 2>/dev/null | awk -v first="$2" '
		{ t = $1; sub(":", "", t); file = $0; sub(/.*filename=/, "", file); sub(/ pid=.*/, "", file) }
		file == first && start == "" { start = t }
		file ~ /qemu-system-x86_64$/ { qemu = t }
		END { if (start != "" && qemu != "") printf "%.3f\n", (qemu - start) * 1000 }'
}

# start_run KIND: one start, its exec gap appended to KIND.ms
start_run() {
	local kind=$1 args=() data=$dir/$1.perf log=$dir/$1.console
	case $kind in
	cold) rm -rf "$XDG_RUNTIME_DIR/vzkit" ;;
	tcg) args=(--accel tcg) ;;
	esac
	if [ "$kind" = env ]; then
		nice -n "$NICE" perf record -q -e sched:sched_process_exec -o "$data" -- env "$qemu" -version >/dev/null 2>&1
		exec_gap "$data" "$(command -v env)" >>"$dir/$kind.ms"
		return
	fi
	vm_args wait "$log"
	nice -n "$NICE" perf record -q -e sched:sched_process_exec -o "$data" -- "$VZKIT" "${VM[@]}" "${args[@]}" \
		</dev/null >/dev/null 2>"$dir/$kind.err" &
	local pid=$!
	if wait_running; then hard_stop; else kill -9 "$pid" 2>/dev/null; fi
	wait "$pid"
	exec_gap "$data" "$VZKIT" >>"$dir/$kind.ms"
}

# kib PID KEY: "KEY: N kB" of /proc/PID/status
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}'; }

# idle_run: boot the wait-mode guest with REST on, then IDLE seconds of nothing
idle_run() {
	local log=$dir/idle.console
	rm -f "$log"
	vm_args wait "$log"
	"$VZKIT" "${VM[@]}" </dev/null >/dev/null 2>"$dir/idle.err" &
	local pid=$! watcher a b
	for _ in $(seq 900); do grep -q '^VZKIT ready' "$log" 2>/dev/null && break; sleep 0.1; done
	if ! grep -q '^VZKIT ready' "$log" 2>/dev/null; then
		echo "bench_start: the guest did not come up: $(tail -n1 "$dir/idle.err")" >&2
		kill -9 "$pid" 2>/dev/null; wait "$pid"; return 1
	fi
	sleep 1
	a=$(switches "$pid"); sleep "$IDLE"; b=$(switches "$pid")
	awk -v a="$a" -v b="$b" -v s="$IDLE" 'BEGIN {printf "%.2f\n", (b - a) / s}' >>"$dir/wakeups"
	kib "$pid" VmHWM >>"$dir/vzkit.kib"
	watcher=$(pgrep -P "$pid" -x vzkit-cleanup | head -n1)
	[ -n "$watcher" ] && kib "$watcher" VmHWM >>"$dir/watcher.kib"
	hard_stop
	wait "$pid"
}

for round in $(seq "$RUNS"); do
	if [ "$have_perf" = 1 ]; then
		# rotate the order each round
		set -- cold warm tcg env
		for ((k = 0; k < 4; k++)); do
			i=$(( (k + round - 1) % 4 + 1 ))
			[ "${!i}" = warm ] && [ ! -e "$XDG_RUNTIME_DIR/vzkit/accel-x86_64" ] && start_run cold >/dev/null
			start_run "${!i}"
		done
	fi
	idle_run || exit 1
done

median() { [ -s "$1" ] && sort -n "$1" | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m}' || echo -; }
range() { [ -s "$1" ] && sort -n "$1" | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s..%s", lo, hi}' || echo -; }
ratio() { { [ "$1" = - ] || [ "$2" = - ]; } && echo - || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

printf '\nvzkit start and idle, %d runs each (medians; min..max); load average %s before, %s after\n' "$RUNS" \
	"$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$have_perf" = 1 ]; then
	printf 'exec of vzkit -> exec of the VM'"'"'s QEMU (ms, at nice %s):\n' "$NICE"
	for kind in cold warm tcg env; do
		case $kind in
		cold) label="cold cache (the KVM probe runs)" ;;
		warm) label="warm cache" ;;
		tcg) label="--accel tcg (no probe, no cache)" ;;
		env) label="floor: env(1) exec'ing QEMU" ;;
		esac
		printf '  %-36s %8s  (%s)\n' "$label" "$(median "$dir/$kind.ms")" "$(range "$dir/$kind.ms")"
	done
	printf '  ratios: warm / --accel tcg %s, cold / warm %s, warm / env floor %s\n' \
		"$(ratio "$(median "$dir/warm.ms")" "$(median "$dir/tcg.ms")")" \
		"$(ratio "$(median "$dir/cold.ms")" "$(median "$dir/warm.ms")")" \
		"$(ratio "$(median "$dir/warm.ms")" "$(median "$dir/env.ms")")"
else
	echo "exec -> QEMU exec: not measured (perf record of sched:sched_process_exec is not allowed here)"
fi
printf 'while the VM idles with the REST server on:\n'
printf '  vzkit peak resident set (VmHWM)      %6s KiB  (%s)\n' "$(median "$dir/vzkit.kib")" "$(range "$dir/vzkit.kib")"
printf '  cleanup watcher peak (VmHWM)         %6s KiB  (%s)\n' "$(median "$dir/watcher.kib")" "$(range "$dir/watcher.kib")"
printf '  wake-ups per second, all threads     %6s      (%s) over %d s\n' "$(median "$dir/wakeups")" "$(range "$dir/wakeups")" "$IDLE"

#!/bin/bash
# make check-long: consecutive boots of the minimal test guest through vzkit
# while two busy loops keep both host CPUs loaded (the condition under which
# microvm hung at TSC calibration, doc/host-facts.md). Every boot must reach power-off
# within the deadline: exit status 0 and "VZKIT report done" in its console
# log; and leave nothing behind (no QEMU, no runtime directory). One PASS or
# FAIL line per boot, then the count and the spread of boot times.
#   RELIABILITY_BOOTS (20), RELIABILITY_TIMEOUT seconds per boot (90)
source "$(dirname "$0")/lib.sh"
need_guest "reliability under load"
BOOTS=${RELIABILITY_BOOTS:-20}
DEADLINE=${RELIABILITY_TIMEOUT:-90}

busy=()
stop_load() {
	[ ${#busy[@]} -gt 0 ] && kill "${busy[@]}" 2>/dev/null
	[ ${#busy[@]} -gt 0 ] && wait "${busy[@]}" 2>/dev/null
	busy=()
}
trap 'stop_load; cleanup_scratch' EXIT
for _ in 1 2; do
	sh -c 'while :; do :; done' &
	busy+=($!)
done

# the runtime directories vzkit PID may have made (XDG_RUNTIME_DIR or /tmp)
leftover_dirs() {
	local base
	for base in ${XDG_RUNTIME_DIR:-} /tmp; do
		compgen -G "$base/vzkit-$1-*" || true
	done
}

ok=0
: >"$scratch/times"
for i in $(seq "$BOOTS"); do
	log=$scratch/boot$i.log
	start=$(date +%s%N)
	"$VZKIT" --bootloader "$(linux_boot report)" --device virtio-serial,logFilePath="$log" \
		</dev/null >"$scratch/boot$i.out" 2>"$scratch/boot$i.err" &
	pid=$!
	wait_exit "$pid" "$DEADLINE"
	status=$?
	took=$(awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN {printf "%.2f", ns / 1e9}')
	why=""
	if [ "$status" -eq 255 ]; then
		why="no power-off within $DEADLINE s; console's last line: $(tail -n 1 "$log" 2>/dev/null)"
	elif [ "$status" -ne 0 ]; then
		why="vzkit exited $status after $took s: $(tail -n 1 "$scratch/boot$i.err")"
	elif ! grep -q '^VZKIT report done' "$log"; then
		why="exit 0 after $took s but no 'VZKIT report done'; last line: $(tail -n 1 "$log")"
	fi
	# nothing outlives the VM: its QEMU (whose argv names the log) and runtime directory
	left=$(procs_mentioning "$log")
	dirs=$(leftover_dirs "$pid")
	if [ -z "$why" ] && { [ -n "$left" ] || [ -n "$dirs" ]; }; then
		why="left behind: processes ${left:-none}; directories ${dirs:-none}"
	fi
	[ -n "$left" ] && kill -9 $left 2>/dev/null
	name="reliability: boot $i of $BOOTS under CPU load reaches power-off, leaves nothing behind"
	if [ -n "$why" ]; then
		fail "$name" "$why"
	else
		pass "$name ($took s)"
		ok=$((ok + 1))
		echo "$took" >>"$scratch/times"
	fi
done
stop_load

spread=$(sort -n "$scratch/times" | awk '{v[NR] = $1} END {
	if (NR == 0) { print "no boot finished"; exit }
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "boot to power-off min %.2f s, median %.2f s, max %.2f s", v[1], m, v[NR] }')
echo "reliability: $ok of $BOOTS boots reached power-off under load; $spread"
finish

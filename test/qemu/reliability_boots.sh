#!/bin/bash
# make check-long: 20 consecutive boots of the minimal guest through vzkit
# while two busy loops keep the host's CPUs loaded; every one must reach
# poweroff (report done, exit 0).
source "$(dirname "$0")/lib.sh"
need_guest "reliability"
cd "$scratch"
BOOTS=${RELIABILITY_BOOTS:-20}
busy=()
for _ in 1 2; do sh -c 'while :; do :; done' & busy+=($!); done
trap 'kill ${busy[*]} 2>/dev/null; cleanup_scratch' EXIT
ok=0
for i in $(seq "$BOOTS"); do
	start=$(date +%s.%N)
	"$VZKIT" --bootloader "$(linux_boot report)" --device virtio-serial,logFilePath="$scratch/boot$i.log" 2> boot$i.err &
	pid=$!
	wait_exit $pid 120
	status=$?
	took=$(echo "$(date +%s.%N) - $start" | bc)
	if [ "$status" -eq 0 ] && grep -q '^VZKIT report done' boot$i.log; then
		ok=$((ok + 1)); pass "boot $i under load reaches poweroff (${took} s)"
	else
		fail "boot $i under load reaches poweroff" "status $status after ${took} s: $(tail -n 1 boot$i.err)"
	fi
done
echo "reliability: $ok of $BOOTS boots reached poweroff under load"
finish

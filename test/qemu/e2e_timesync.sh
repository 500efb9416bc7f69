#!/bin/bash
# --timesync end to end: vzkit sets the guest's clock through the guest agent
# on the given vsock port. The test guest runs a stand-in for
# qemu-guest-agent (vsock-tool listen PORT qga); SIGUSR2 asks vzkit for a sync
# now, the path a host resume takes, without suspending the host.
source "$(dirname "$0")/lib.sh"
need_guest "timesync"
cd "$scratch"

"$VZKIT" --cpus 1 --memory 512 --bootloader "$(linux_boot vsock vzkit.vsock=qga:1234)" \
	--device "virtio-serial,logFilePath=$scratch/console.log" \
	--timesync vsockPort=1234 2>vzkit.err &
pid=$!
if ! wait_for_line console.log "VZKIT vsock-listening port=1234" 120; then
	fail "timesync: the guest's agent listens" "$(tail -n 5 console.log vzkit.err 2>/dev/null | tr '\n' ' ')"
	kill -9 "$pid"; finish; exit
fi
before_ns=$(date +%s%N)
kill -USR2 "$pid"
wait_for_line console.log "VZKIT qga port=1234 command=" 30
after_ns=$(date +%s%N)
command=$(grep -o 'VZKIT qga port=1234 command=.*' console.log | head -n1 | sed 's/^VZKIT qga port=1234 command=//')
check "timesync: SIGUSR2 makes vzkit send guest-set-time with the host's clock (ns)" python3 -c "
import json, sys
c = json.loads(sys.argv[1])
assert c['execute'] == 'guest-set-time', c
t = c['arguments']['time']
assert $before_ns - 1e9 <= t <= $after_ns, (t, $before_ns, $after_ns)" "$command"
check "timesync: the agent's answer is taken (the clock was set)" wait_for_line vzkit.err "timesync: the guest clock was set" 10
check "timesync: vzkit is still running" kill -0 "$pid"
kill -TERM "$pid"
wait_exit "$pid" 60
check_eq "timesync: SIGTERM, the guest powers off, exit 0" "$?" 0
check_eq "timesync: no error line" "$(grep -v 'accelerator:' vzkit.err | grep -iE 'error|warning')" ""
finish

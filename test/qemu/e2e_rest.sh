#!/bin/bash
# The REST API against a real guest, driven with curl as backends drive vfkit:
# state Running once the vCPUs run, inspect equal to --dry-run, Pause stops
# the guest (its tick counter stops), Resume restarts it, Stop powers it off
# and vzkit exits 0; HardStop ends a guest that ignores Stop; bad requests get
# their status codes and leave the VM running.
source "$(dirname "$0")/lib.sh"
need_guest "rest e2e"
cd "$scratch"
command -v curl >/dev/null || { skip "rest e2e" "curl is missing"; exit 0; }
sock="$scratch/rest.sock"
api() { curl -s --max-time 5 --unix-socket "$sock" "$@"; }
state() { api http://vzkit/vm/state | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null; }
wait_state() { for _ in $(seq $(($2 * 10))); do [ "$(state)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
ticks() { grep -c '^VZKIT tick' "$1"; }

flags=(--cpus 1 --memory 256 --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/wait.log" --device virtio-rng)
"$VZKIT" "${flags[@]}" --restful-uri "unix://$sock" 2> wait.err &
pid=$!
check "state becomes Running" wait_state VirtualMachineStateRunning 60
check "the socket is 0600" [ "$(stat -c %a "$sock")" = 600 ]
full=$(api http://vzkit/vm/state)
check "GET /vm/state has vfkit's fields" python3 -c "
import json,sys; d=json.loads(sys.argv[1])
assert d=={'state':'VirtualMachineStateRunning','canStart':False,'canPause':True,'canResume':False,'canStop':True,'canHardStop':True}, d" "$full"
"$VZKIT" "${flags[@]}" --dry-run > dry.json
api http://vzkit/vm/inspect > inspect.json
check "GET /vm/inspect equals --dry-run" python3 -c "
import json; a=json.load(open('inspect.json')); b=json.load(open('dry.json')); assert a==b, (a,b)"
wait_for_line wait.log '^VZKIT tick 3$' 60

code=$(api -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Pause"}' http://vzkit/vm/state)
check "Pause: 202 Accepted" [ "$code" = 202 ]
check "Pause: state Paused" wait_state VirtualMachineStatePaused 10
before=$(ticks wait.log); sleep 2; after=$(ticks wait.log)
check "Pause: the guest really stops (no ticks for 2 s: $before -> $after)" [ "$before" -eq "$after" ]
check "Paused: canResume true, canPause false" python3 -c "
import json,sys; d=json.loads(sys.argv[1]); assert d['canResume'] and not d['canPause'], d" "$(api http://vzkit/vm/state)"
code=$(api -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Pause"}' http://vzkit/vm/state)
check "Pause while Paused: 500" [ "$code" = 500 ]
code=$(api -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Resume"}' http://vzkit/vm/state)
check "Resume: 202" [ "$code" = 202 ]
check "Resume: state Running" wait_state VirtualMachineStateRunning 10
sleep 2
check "Resume: the ticks go on" [ "$(ticks wait.log)" -gt "$after" ]

# bad requests: their status codes, and the VM keeps running
check "malformed JSON: 400" [ "$(api -o /dev/null -w '%{http_code}' -X POST -d '{"state":' http://vzkit/vm/state)" = 400 ]
check "unknown state: 500" [ "$(api -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Explode"}' http://vzkit/vm/state)" = 500 ]
head -c 100000 /dev/zero | tr '\0' 'x' > big.body
check "huge body: 413" [ "$(api -o /dev/null -w '%{http_code}' -X POST --data-binary @big.body http://vzkit/vm/state)" = 413 ]
check "wrong method: 405" [ "$(api -o /dev/null -w '%{http_code}' -X DELETE http://vzkit/vm/state)" = 405 ]
check "unknown path: 404" [ "$(api -o /dev/null -w '%{http_code}' http://vzkit/nope)" = 404 ]
python3 -c "
import socket,time; s=socket.socket(socket.AF_UNIX); s.connect('$sock'); time.sleep(8)" &
hanger=$!
sleep 0.5
check "a client that never sends does not block others" [ "$(state)" = VirtualMachineStateRunning ]
kill $hanger 2>/dev/null
check "after all that the VM still runs" [ "$(state)" = VirtualMachineStateRunning ]
check "state changes are logged" grep -q 'Pause' wait.err

code=$(api -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Stop"}' http://vzkit/vm/state)
check "Stop: 202" [ "$code" = 202 ]
wait_exit $pid 30
check "Stop: the guest powers off and vzkit exits 0" [ $? -eq 0 ]
check "Stop: the guest saw the power button" grep -q '^VZKIT powerbutton$' wait.log
check "the REST socket is removed at exit" [ ! -e "$sock" ]

# a guest that ignores Stop, over TCP: HardStop ends it
port=$((20000 + RANDOM % 20000))
"$VZKIT" --cpus 1 --memory 256 --bootloader "$(linux_boot ignore-powerbutton)" \
	--device virtio-serial,logFilePath="$scratch/ignore.log" --restful-uri "tcp://127.0.0.1:$port" 2> ignore.err &
pid=$!
tstate() { curl -s --max-time 5 "http://127.0.0.1:$port/vm/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null; }
for _ in $(seq 600); do [ "$(tstate)" = VirtualMachineStateRunning ] && break; sleep 0.1; done
wait_for_line ignore.log '^VZKIT ready' 60
check "tcp: Stop accepted" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"state":"Stop"}' "http://127.0.0.1:$port/vm/state")" = 202 ]
sleep 3
check "tcp: a guest that ignores Stop keeps running" [ "$(tstate)" = VirtualMachineStateRunning ]
start=$(mono_ms)
check "tcp: HardStop accepted" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"state":"HardStop"}' "http://127.0.0.1:$port/vm/state")" = 202 ]
wait_exit $pid 20
status=$?
took=$((($(mono_ms) - start) / 1000))
check "HardStop: vzkit exits 0" [ "$status" -eq 0 ]
check "HardStop: promptly (${took} s, limit 5 s)" [ "$took" -le 5 ]
finish

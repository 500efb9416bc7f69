#!/bin/bash
# The REST server as scripts reach it: the curl command line (curl
# --unix-socket, and plain TCP) against `test_rest --serve` (the real server,
# cmd/rest.c, in front of the fake VM of test/rest/fake_vm.h). Also: the
# socket is 0600, a second server on the same path is refused while the first
# lives, and the socket is gone once the server has exited on SIGTERM.
set -u
: "${BUILD_DIR:?BUILD_DIR must name the build folder}"
server_bin=$BUILD_DIR/test/rest/test_rest
tmp=$(mktemp -d /tmp/vzkit-rest-curl.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=test/lib.sh
source "$(dirname "$0")/../lib.sh"

if ! command -v curl >/dev/null; then
	echo "SKIP curl command line: curl is not installed (debian-packages.txt lists it)"
	exit 0
fi
if [ ! -x "$server_bin" ]; then
	fail "test server" "$server_bin is not built"
	exit 1
fi

# start_server URI OUTFILE: runs test_rest --serve in the background, waits for "ready"
start_server() {
	"$server_bin" --serve "$1" >"$2" 2>"$2.err" &
	pids+=($!)
	server_pid=$!
	for _ in $(seq 100); do
		grep -q '^ready' "$2" 2>/dev/null && return 0
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

sock=$tmp/api.sock
# vfkit's bytes: gin.H, so Go sorts the keys; compact.
running='{"canHardStop":true,"canPause":true,"canResume":false,"canStart":false,"canStop":true,"state":"VirtualMachineStateRunning"}'
paused='{"canHardStop":true,"canPause":false,"canResume":true,"canStart":false,"canStop":false,"state":"VirtualMachineStatePaused"}'

if ! start_server "unix://$sock" "$tmp/server.out"; then
	fail "test server starts on unix://$sock" "$(cat "$tmp/server.out.err")"
	exit 1
fi
unix_pid=$server_pid
pass "test server starts on unix://$sock"

check_eq "socket mode 0600" "$(stat -c %a "$sock")" 600

c=(curl -s --max-time 5 --unix-socket "$sock")
check_eq "curl GET /vm/state" "$("${c[@]}" http://localhost/vm/state)" "$running"
check_eq "curl GET /vm/state content type" \
	"$("${c[@]}" -o /dev/null -w '%{content_type}' http://localhost/vm/state)" "application/json; charset=utf-8"
check_eq "curl POST Pause: 202, empty body" \
	"$("${c[@]}" -w '%{http_code}' -X POST -d '{"state":"Pause"}' http://localhost/vm/state)" "202"
check_eq "curl GET /vm/state after Pause" "$("${c[@]}" http://localhost/vm/state)" "$paused"
check_eq "curl POST Resume: 202" \
	"$("${c[@]}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary '{"state":"Resume"}' http://localhost/vm/state)" "202"
check_eq "curl POST not JSON: 400" \
	"$("${c[@]}" -o /dev/null -w '%{http_code}' -d 'state=Stop' http://localhost/vm/state)" "400"
check_eq "curl POST unknown state: 500 with the reason" \
	"$("${c[@]}" -w ' %{http_code}' -d '{"state":"Reboot"}' http://localhost/vm/state)" \
	'{"error":"invalid new VMState: Reboot"} 500'
check_eq "curl POST with an empty body: 400 EOF" \
	"$("${c[@]}" -w ' %{http_code}' -X POST http://localhost/vm/state)" '{"error":"EOF"} 400'
check_eq "curl PUT /vm/state: 405" \
	"$("${c[@]}" -o /dev/null -w '%{http_code}' -X PUT http://localhost/vm/state)" "405"
check_eq "curl GET /nothing: 404" \
	"$("${c[@]}" -o /dev/null -w '%{http_code}' http://localhost/nothing)" "404"
head -c 10000 /dev/zero | tr '\0' ' ' >"$tmp/big.json"
check_eq "curl POST 10 kB body: 413" \
	"$("${c[@]}" -o /dev/null -w '%{http_code}' --data-binary @"$tmp/big.json" http://localhost/vm/state)" "413"
inspect=$("${c[@]}" http://localhost/vm/inspect)
if command -v jq >/dev/null; then
	check_eq "curl GET /vm/inspect is the VM JSON" "$(printf '%s' "$inspect" | jq -c '{vcpus, memoryBytes, kind: .bootloader.kind}')" \
		'{"vcpus":2,"memoryBytes":536870912,"kind":"linuxBootloader"}'
else
	check_eq "curl GET /vm/inspect is the VM JSON" "${inspect:0:11}" '{"vcpus":2,'
fi

# A second server on the same path is refused while the first lives.
if "$server_bin" --serve "unix://$sock" >"$tmp/second.out" 2>"$tmp/second.err"; then
	fail "second server on a live socket refused" "it started"
else
	if grep -q "$sock" "$tmp/second.err" && grep -q "in use" "$tmp/second.err"; then
		pass "second server on a live socket refused, naming the path"
	else
		fail "second server on a live socket refused, naming the path" "$(cat "$tmp/second.err")"
	fi
fi
check_eq "first server still answers" "$("${c[@]}" http://localhost/vm/state)" "$running"

kill -TERM "$unix_pid"
wait "$unix_pid"
check_eq "server exits 0 on SIGTERM" "$?" 0
if [ -e "$sock" ]; then fail "socket removed after the server stopped" "$sock still exists"; else
	pass "socket removed after the server stopped"; fi

# TCP, through the URI parser: tcp://127.0.0.1:PORT with a port found free.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo 18081)
if start_server "tcp://127.0.0.1:$port" "$tmp/tcp.out"; then
	check_eq "curl GET over tcp://127.0.0.1:$port" "$(curl -s --max-time 5 "http://127.0.0.1:$port/vm/state")" "$running"
	kill -TERM "$server_pid"
	wait "$server_pid"
else
	fail "test server starts on tcp://127.0.0.1:$port" "$(cat "$tmp/tcp.out.err")"
fi

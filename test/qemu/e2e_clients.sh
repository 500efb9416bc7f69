#!/bin/bash
# Client replay: vzkit started through a link named `vfkit`, the way podman
# machine, crc and minikube start vfkit (their argv shapes, with the test
# guest's linux bootloader where they use EFI; their stdout/stderr handling,
# pidfiles, version parsing, REST calls with plain curl and no extra headers,
# SIGTERM and SIGKILL, a second start with the same argv, a stale REST socket),
# checking what each client checks. The devices a client adds that this host
# cannot run (vsock without /dev/vhost-vsock, virtio-fs without root) are left
# out with a SKIP line saying so.
source "$(dirname "$0")/lib.sh"
need_guest "clients"
command -v curl >/dev/null || { skip "clients" "curl is missing"; exit 0; }
cd "$scratch"
mkdir bin home crc podman minikube
ln -s "$VZKIT" bin/vfkit
VFKIT=$scratch/bin/vfkit

# What this host can run.
if "$VFKIT" --bootloader "$(linux_boot wait)" --device virtio-vsock --dry-run=qemu >/dev/null 2>&1; then
	have_vsock=1
else
	have_vsock=0
	skip "clients: vsock devices (podman's ready and ignition ports, crc's timesync)" \
		"this host has no /dev/vhost-vsock; the clients run without them"
fi
if [ "$(id -u)" = 0 ] && [ -x /usr/lib/qemu/virtiofsd ]; then
	have_fs=1
else
	have_fs=0
	skip "clients: virtio-fs shares (podman's volumes, crc's home)" "needs root and virtiofsd here"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# gvproxy's side of a unixgram network: keeps the first datagram it gets
gvproxy() { # SOCKET FIRST_DATAGRAM_FILE
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
first = True
while True:
    data = s.recv(65536)
    if first:
        open(sys.argv[2], "w").write(data.hex())
        first = False
' "$1" "$2" &
	for _ in $(seq 50); do [ -e "$2.ready" ] && break; sleep 0.1; done
}
first_datagram_is_vfkt() { [ "$(cat "$1" 2>/dev/null)" = 56464b54 ]; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }
qemu_child() { pgrep -P "$1" -f qemu-system || true; }
# go_json FIELD: what Go's decoder would put in a struct field FIELD (stdin: the body)
go_json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" 2>/dev/null; }
truncate -s 64M crc/crc.img podman/disk.raw minikube/disk.img
truncate -s 4M minikube/boot2docker.iso

# ---- crc: pins a vfkit release and reads `vfkit --version` -------------------------------------
# crc: stdout of `vfkit --version`, split on ':', field 1 trimmed, "v" trimmed, equal to its pin.
out=$(VZKIT_VFKIT_VERSION=0.6.1 "$VFKIT" --version 2>/dev/null)
field=$(printf '%s' "$out" | cut -d: -f2 | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
check_eq "crc: --version parsed as crc parses it matches its pinned 0.6.1" "${field#v}" "0.6.1"
out=$("$VFKIT" -v 2>/dev/null)
check_eq "crc: -v without a pin names the release vzkit implements" "$out" "vfkit version: v0.6.4"

gvproxy "$scratch/crc/vfkit.sock" "$scratch/crc/first"
crc_peer=$!
# crc's vm.ToCmdLine(): cpus, memory, bootloader, then the devices in the order crc adds them.
crc_args=(--cpus 2 --memory 1024 --bootloader "$(linux_boot wait)"
	--device "virtio-serial,logFilePath=$scratch/crc/vfkit.log")
[ "$have_fs" = 1 ] && crc_args+=(--device "virtio-fs,sharedDir=$scratch/home,mountTag=dir0")
crc_args+=(--device virtio-rng --device "virtio-blk,path=$scratch/crc/crc.img"
	--device "virtio-net,unixSocketPath=$scratch/crc/vfkit.sock,mac=5a:94:ef:e4:0c:dd")
[ "$have_vsock" = 1 ] && crc_args+=(--timesync vsockPort=1234)

crc_start() { # crc's startVfkit: stdout and stderr to its logger, an exit within 1 s is a failed start
	"$VFKIT" "${crc_args[@]}" >> crc/logger.txt 2>&1 &
	crc_pid=$!
	sleep 1
	check "crc $1: vfkit is still running 1 s after the start" kill -0 "$crc_pid"
	# crc writes the pidfile itself: the decimal pid, no newline, 0600
	(umask 077; printf '%d' "$crc_pid" > crc/vfkit.pid)
	# findVfkitProcess: pid from the file (TrimSpace, ParseInt), the process's name starts with "vfkit"
	local pid
	pid=$(tr -d '[:space:]' < crc/vfkit.pid)
	check "crc $1: the pidfile's process is named vfkit (crc's name check)" bash -c "[[ '$(comm_of "$pid")' == vfkit* ]]"
	check "crc $1: the guest boots" wait_for_line crc/vfkit.log '^VZKIT ready' 90
}
crc_start "start"
check "crc: gvproxy's socket gets VFKT first" first_datagram_is_vfkt crc/first
# crc's Stop: SIGTERM, then GetState every 2 s (up to 120 s) until the process is gone
qemu_pid=$(qemu_child "$crc_pid")
kill -TERM "$crc_pid"
wait_exit "$crc_pid" 120
check_eq "crc stop: SIGTERM ends vfkit with status 0 once the guest powered off" "$?" 0
check "crc stop: SIGTERM asked the guest to stop (its logger has the line)" grep -q 'received Terminated: stopping the VM' crc/logger.txt
check "crc stop: no QEMU left" bash -c "! kill -0 ${qemu_pid:-0} 2>/dev/null"
# GetState after the stop: the pidfile names a process that is gone, so crc says Stopped
check "crc stop: the pidfile names no vfkit process any more" bash -c "[[ '$(comm_of "$(cat crc/vfkit.pid)")' != vfkit* ]]"
kill "$crc_peer" 2>/dev/null

# ---- podman machine: REST on tcp, gvproxy, wait4 polling ---------------------------------------
port=$(free_port)
gvproxy "$scratch/podman/gvproxy.sock" "$scratch/podman/first"
pod_peer=$!
# vm.Cmd() from pkg/config: the disk, rng, ready vsock and console, then gvproxy's net and
# the volumes; then --restful-uri; in debug mode the GUI devices and --gui; on first boot
# the ignition vsock.
pod_args=(--cpus 2 --memory 1024 --bootloader "$(linux_boot wait)"
	--device "virtio-blk,path=$scratch/podman/disk.raw" --device virtio-rng)
[ "$have_vsock" = 1 ] && pod_args+=(--device "virtio-vsock,port=1025,socketURL=$scratch/podman/ready.sock,listen")
pod_args+=(--device "virtio-serial,logFilePath=$scratch/podman/console.log"
	--device "virtio-net,unixSocketPath=$scratch/podman/gvproxy.sock,mac=5a:94:ef:e4:0c:ee")
[ "$have_fs" = 1 ] && pod_args+=(--device "virtio-fs,sharedDir=$scratch/home,mountTag=a2a0ee2c717462feb1de2f5afd59de5fd2d8")
pod_args+=(--restful-uri "tcp://localhost:$port")
pod_debug=(--device virtio-gpu,width=800,height=600 --device virtio-input,pointing --device virtio-input,keyboard --gui)
[ "$have_vsock" = 1 ] && pod_debug+=(--device "virtio-vsock,port=1024,socketURL=$scratch/podman/ignition.sock,listen")

api() { curl -s --max-time 5 "$@"; }
pod_state() { api "http://localhost:$port/vm/state" | go_json state; }
# podman's Wait4(WNOHANG) loop every 500 ms while it waits for the guest
pod_wait_ready() { # PID
	local i
	for i in $(seq 180); do
		kill -0 "$1" 2>/dev/null || return 1
		grep -q '^VZKIT ready' podman/console.log 2>/dev/null && [ "$(pod_state)" = VirtualMachineStateRunning ] && return 0
		sleep 0.5
	done
	return 1
}
# podman's Stop(force=false, wait=true): POST Stop (Go's client: no Content-Type), then GET the
# state every 500 ms until the endpoint stops answering; HardStop after 90 s.
pod_stop() { # PID NAME [plain: a script's curl -d, form content type]
	local code stopped=0 header=(-H 'Content-Type:')
	[ "${3:-}" = plain ] && header=()
	code=$(api -o /dev/null -w '%{http_code}' "${header[@]}" -d '{"state":"Stop"}' "http://localhost:$port/vm/state")
	check_eq "podman $2: POST Stop is accepted (202)" "$code" 202
	for _ in $(seq 180); do
		if ! api -o /dev/null "http://localhost:$port/vm/state"; then stopped=1; break; fi
		sleep 0.5
	done
	[ "$stopped" = 1 ] || api -o /dev/null -H 'Content-Type:' --data-binary '{"state":"HardStop"}' "http://localhost:$port/vm/state"
	check_eq "podman $2: the REST endpoint stops answering within 90 s of Stop" "$stopped" 1
	wait_exit "$1" 30
	check_eq "podman $2: vfkit exits 0" "$?" 0
}

# normal mode: stdout and stderr are not kept
"$VFKIT" "${pod_args[@]}" >/dev/null 2>&1 &
pod_pid=$!
check "podman: the machine comes up (wait4 polling, REST Running)" pod_wait_ready "$pod_pid"
body=$(api "http://localhost:$port/vm/state")
check "podman: GET /vm/state decodes into its VMState and maps to a machine status" python3 -c "
import json, sys; d = json.loads(sys.argv[1])
assert d['state'] in ('VirtualMachineStateRunning', 'VirtualMachineStateStopped', 'VirtualMachineStatePaused',
    'VirtualMachineStateError', 'VirtualMachineStateStarting', 'VirtualMachineStateStopping'), d" "$body"
check_eq "podman: the state body is vfkit's bytes" "$body" \
	'{"canHardStop":true,"canPause":true,"canResume":false,"canStart":false,"canStop":true,"state":"VirtualMachineStateRunning"}'
check_eq "podman: the content type is gin's" "$(api -o /dev/null -w '%{content_type}' "http://localhost:$port/vm/state")" \
	"application/json; charset=utf-8"
check "podman: gvproxy's socket gets VFKT first" first_datagram_is_vfkt podman/first
pod_stop "$pod_pid" "stop"

# debug mode (podman --log-level debug): its stdout/stderr, the GUI devices and --gui, no display here
rm -f podman/first
(unset DISPLAY WAYLAND_DISPLAY; exec "$VFKIT" "${pod_args[@]}" "${pod_debug[@]}" > podman/debug.out 2> podman/debug.err) &
pod_pid=$!
check "podman debug: --gui without a display still comes up" pod_wait_ready "$pod_pid"
check "podman debug: one warning says there is no window" \
	[ "$(grep -c -- '--gui: no display' podman/debug.err)" -eq 1 ]
check "podman debug: no keyboard or display added on top of its own" bash -c "! grep -q 'adding --device' podman/debug.err"
pod_stop "$pod_pid" "debug stop (plain curl -d)" plain
kill "$pod_peer" 2>/dev/null

# ---- minikube: REST on a unix socket, its own pidfile, Stop/HardStop then signals ----------------
sock=$scratch/minikube/vfkit.sock
mac=$(printf '52:54:00:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
# startVfkit: memory, cpus, REST, debug logs, the linux bootloader with a quoted cmdline, then devices
mk_args=(--memory 1024 --cpus 2 --restful-uri "unix://$sock" --log-level debug
	--bootloader "$(linux_boot wait)"
	--device "virtio-net,nat,mac=$mac" --device virtio-rng
	--device "virtio-blk,path=$scratch/minikube/boot2docker.iso"
	--device "virtio-blk,path=$scratch/minikube/disk.img"
	--device "virtio-serial,logFilePath=$scratch/minikube/serial.log")
mk_api() { curl -s --max-time 5 --unix-socket "$sock" "$@"; }
mk_state() { mk_api http://_/vm/state | go_json state; }
mk_start() { # NAME [--keep-socket]: os.Remove(sock) unless told not to, own process group, stderr to vfkit.log
	[ "${2:-}" = --keep-socket ] || rm -f "$sock"
	: > minikube/serial.log
	setsid "$VFKIT" "${mk_args[@]}" "${mk_extra[@]}" > /dev/null 2> minikube/vfkit.log &
	mk_pid=$!
	printf '%d' "$mk_pid" > minikube/vfkit.pid # minikube's process.WritePidfile
	# Go's cmd.Start returns once the exec is done; here, wait for setsid's exec
	for _ in $(seq 20); do [ "$(comm_of "$mk_pid")" = setsid ] || [ -z "$(comm_of "$mk_pid")" ] || break; sleep 0.1; done
	check "minikube $1: process.Exists(pid, \"vfkit\")" [ "$(comm_of "$(cat minikube/vfkit.pid)")" = vfkit ]
	local ok=0
	for _ in $(seq 180); do
		grep -q '^VZKIT ready' minikube/serial.log && [ "$(mk_state)" = VirtualMachineStateRunning ] && { ok=1; break; }
		kill -0 "$mk_pid" 2>/dev/null || break
		sleep 0.5
	done
	check_eq "minikube $1: GetVFKitState says Running once the guest is up" "$ok" 1
}
mk_extra=(--pidfile "$scratch/minikube/own.pid")
mk_start "start"
check "minikube: vfkit's own --pidfile reads back as vfkit's process.ReadPidFile reads it" \
	[ "$(tr -d '[:space:]' < minikube/own.pid)" = "$mk_pid" ]
check "minikube: vfkit's --pidfile is the pid with no newline, mode 0600" \
	bash -c "cmp -s minikube/own.pid <(printf '%s' $mk_pid) && [ \$(stat -c %a minikube/own.pid) = 600 ]"
check "minikube: --log-level debug goes to its log file, not stdout" test -s minikube/vfkit.log
# SetVFKitState("Stop"): POST with Content-Type application/json
code=$(mk_api -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"state":"Stop"}' http://_/vm/state)
check_eq "minikube stop: POST Stop answers 202" "$code" 202
wait_exit "$mk_pid" 90
check_eq "minikube stop: vfkit exits 0" "$?" 0
check "minikube stop: the socket is gone" [ ! -e "$sock" ]

mk_extra=()
mk_start "second start, same argv"
# killVfkit's fallback when the REST call fails: process.Kill (SIGKILL). vfkit
# leaves its socket behind; vzkit's cleanup watcher removes it (doc/vzkit.1,
# LIFECYCLE AND SIGNALS) — how soon is a race with this script, so wait.
qemu_pid=$(qemu_child "$mk_pid")
kill -KILL "$mk_pid"
wait "$mk_pid" 2>/dev/null
for _ in $(seq 50); do [ -e "$sock" ] || break; sleep 0.1; done
check "minikube SIGKILL: the cleanup watcher removes the REST socket" [ ! -e "$sock" ]
for _ in $(seq 50); do kill -0 "${qemu_pid:-0}" 2>/dev/null || break; sleep 0.1; done
check "minikube SIGKILL: no QEMU left" bash -c "! kill -0 ${qemu_pid:-0} 2>/dev/null"
check "minikube SIGKILL: the stale pidfile names no vfkit (minikube says Stopped)" \
	bash -c "[ '$(comm_of "$(cat minikube/vfkit.pid)")' != vfkit ]"
# a start that finds a dead vfkit's socket (minikube removes it first; vfkit
# must not need that): a socket file nobody listens on any more, as a vfkit
# killed with its watcher leaves
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
check "minikube: a stale socket is in place" [ -S "$sock" ]
mk_start "start over a stale socket" --keep-socket
# killVfkit: SetVFKitState("HardStop")
code=$(mk_api -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"state":"HardStop"}' http://_/vm/state)
check_eq "minikube kill: POST HardStop answers 202" "$code" 202
wait_exit "$mk_pid" 30
check_eq "minikube kill: vfkit exits 0 after HardStop" "$?" 0
check "minikube kill: the socket is gone" [ ! -e "$sock" ]

finish

#!/bin/bash
# The vzkit binary ($VZKIT) as a user and a caller see it: bad input exits 2
# with exactly one "vzkit: " line on stderr and touches no file; help and
# version exit 0; --dry-run prints JSON equal to the golden files, and
# --dry-run=cmdline prints a command line that gives the same JSON again;
# a symlink named vfkit behaves identically; the flag table, --help and the
# man page agree.
set -u
: "${VZKIT:?VZKIT must name the vzkit binary}"
root=$(cd "$(dirname "$0")/../.." && pwd)
golden=$root/test/devices/golden
tmp=$(mktemp -d /tmp/vzkit-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=test/lib.sh
source "$root/test/lib.sh"

# run BIN ARGS...: sets rc, out, err (stdout and stderr text)
run() {
	local bin=$1
	shift
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

LINUX=(--bootloader linux,kernel=/vm/vmlinuz)

# bad NAME WANT ARGS...: exit 2, nothing on stdout, one stderr line "vzkit: ...WANT..."
bad() {
	local name=$1 want=$2
	shift 2
	run "$VZKIT" "$@"
	local lines
	lines=$(printf '%s' "$err" | grep -c '')
	if [ "$rc" -ne 2 ]; then
		fail "bad input: $name" "exit status $rc, want 2 (stderr: $err)"
	elif [ -n "$out" ]; then
		fail "bad input: $name" "printed on stdout: $out"
	elif [ "$lines" -ne 1 ]; then
		fail "bad input: $name" "$lines stderr lines, want 1: $err"
	elif [[ "$err" != "vzkit: "* ]]; then
		fail "bad input: $name" "stderr does not start with 'vzkit: ': $err"
	elif [[ "$err" != *"$want"* ]]; then
		fail "bad input: $name" "stderr lacks '$want': $err"
	else
		pass "bad input: $name"
	fi
}

bad "unknown flag" "unknown flag --bogus" --bogus
bad "unknown short flag" "unknown flag -x" -x
bad "flag without its value" "--cpus needs a value" --cpus
bad "unknown flag: long names are exact (--cpu is not --cpus)" "unknown flag --cpu (see --help)" "${LINUX[@]}" --cpu 2
bad "a bool flag's value in Go's ParseBool forms only" "--gui: 'yes' is not a boolean" "${LINUX[@]}" --gui=yes
bad "unknown device type lists the known ones" \
	"--device: unknown type 'virtio-floppy' (known: nbd, nvme, rosetta, usb-mass-storage, virtio-balloon, virtio-blk, virtio-fs, virtio-gpu, virtio-input, virtio-net, virtio-rng, virtio-serial, virtio-vsock)" \
	"${LINUX[@]}" --device virtio-floppy
bad "unknown key lists the valid keys" \
	"--device virtio-blk: unknown key 'sizes' (valid keys: path, readonly, type, size, cache, sync, deviceId)" \
	"${LINUX[@]}" --device virtio-blk,path=/d,sizes=10G
bad "a disk size the guest cannot use" \
	"--device virtio-blk: size '1000001' is not a whole number of 512-byte sectors" \
	"${LINUX[@]}" --device virtio-blk,path=/d,size=1000001
bad "missing required key" "--device virtio-fs: missing required key 'sharedDir'" "${LINUX[@]}" --device virtio-fs,mountTag=x
bad "malformed number" "--cpus: 'two' is not a number" "${LINUX[@]}" --cpus two
bad "malformed number in a device" "--device virtio-gpu: key 'width' needs a decimal number" "${LINUX[@]}" --device virtio-gpu,width=wide
bad "malformed MAC" "--device virtio-net: mac '52:54:00:zz:00:01' is not a MAC address" "${LINUX[@]}" --device virtio-net,nat,mac=52:54:00:zz:00:01
bad "malformed REST URI" "--restful-uri: unknown scheme" "${LINUX[@]}" --restful-uri ftp://localhost:21
bad "unix REST URI with a host" "--restful-uri:" "${LINUX[@]}" --restful-uri unix://host/tmp/x.sock
bad "unix REST socket path over 103 bytes (vfkit's limit)" "--restful-uri: socket path longer than 103 bytes" \
	"${LINUX[@]}" --restful-uri "unix:///$(printf 'p%.0s' $(seq 103))"
bad "malformed NBD URI" "--device nbd: uri 'http://h/x' must start with nbd://" "${LINUX[@]}" --device nbd,uri=http://h/x
bad "--cpus 0" "--cpus: 0 is out of range (1 to 64)" "${LINUX[@]}" --cpus 0
bad "--memory too small" "--memory: 64 MiB is out of range" "${LINUX[@]}" --memory 64
bad "no bootloader" "a bootloader is required" --cpus 2
bad "unbalanced quote" "--bootloader: unbalanced double quote" --bootloader 'linux,kernel=/k,cmdline="console=hvc0'
bad "boolean key with a value" "--device virtio-blk: key 'readonly' is a flag and takes no value" "${LINUX[@]}" --device virtio-blk,path=/d,readonly=true
bad "virtio-net without an attachment" "--device virtio-net: needs exactly one of nat" "${LINUX[@]}" --device virtio-net
bad "duplicate vsock port" "--device virtio-vsock: port 1025 is given twice" "${LINUX[@]}" \
	--device virtio-vsock,port=1025,socketURL=/a --device virtio-vsock,port=1025,socketURL=/b
bad "deprecated kernel flags with --bootloader" "cannot be used with --bootloader" "${LINUX[@]}" --kernel /k --initrd /i --kernel-cmdline x
bad "--timesync without a port" "--timesync: vsockPort needs a number" "${LINUX[@]}" --timesync vsockPort=0
bad "--dry-run mode" "--dry-run: 'yaml' is not one of json, cmdline, qemu" "${LINUX[@]}" --dry-run=yaml
bad "bad input with --dry-run" "--device virtio-blk: missing required key 'path'" "${LINUX[@]}" --device virtio-blk --dry-run
bad "--gui with bad input: no warnings, one line" "--cpus: 0 is out of range" "${LINUX[@]}" --gui --cpus 0
bad "--gui with a missing kernel: no warnings, one line" "--bootloader linux: kernel: $tmp/no-kernel" \
	--bootloader "linux,kernel=$tmp/no-kernel" --gui
bad "--config of a missing file" "--config: $tmp/none.json" --config "$tmp/none.json"
echo '{"vcpus":2,"devices":[{"kind":"floppy"}]}' >"$tmp/bad.json"
bad "--config with an unknown kind" "--config: devices[0]: unknown kind 'floppy'" --config "$tmp/bad.json"
bad "missing kernel file (host check)" "--bootloader linux: kernel: $tmp/no-kernel: No such file or directory" \
	--bootloader "linux,kernel=$tmp/no-kernel"

# Bad input creates and truncates nothing: not the pidfile, not a log file,
# not a cloud-init ISO.
check_untouched() {
	local name=$1
	shift
	mkdir -p "$tmp/files/tmpdir"
	printf 'pid file content\n' >"$tmp/files/pid"
	printf 'log file content\n' >"$tmp/files/log"
	printf '#cloud-config\n' >"$tmp/files/user-data"
	printf 'instance-id: x\n' >"$tmp/files/meta-data"
	: >"$tmp/files/kernel"
	local before after
	before=$(cd "$tmp/files" && find . -printf '%p %s %T@\n' | sort)
	TMPDIR=$tmp/files/tmpdir "$VZKIT" "$@" >/dev/null 2>&1 </dev/null
	rc=$?
	after=$(cd "$tmp/files" && find . -printf '%p %s %T@\n' | sort)
	if [ "$rc" -ne 2 ]; then
		fail "bad input touches no file: $name" "exit status $rc, want 2"
	elif [ "$before" != "$after" ] || [ "$(cat "$tmp/files/pid")" != "pid file content" ] ||
		[ "$(cat "$tmp/files/log")" != "log file content" ]; then
		fail "bad input touches no file: $name" "files changed: $(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
	else
		pass "bad input touches no file: $name"
	fi
	rm -rf "$tmp/files"
}
F=$tmp/files
check_untouched "unknown device type after --pidfile and a log" --pidfile "$F/pid" --bootloader "linux,kernel=$F/kernel" \
	--device "virtio-serial,logFilePath=$F/log" --cloud-init "$F/user-data,$F/meta-data" --device virtio-floppy
check_untouched "device before --pidfile" --device virtio-floppy --pidfile "$F/pid" --bootloader "linux,kernel=$F/kernel" \
	--device "virtio-serial,logFilePath=$F/log"
check_untouched "new pidfile and log are not created" --pidfile "$F/new-pid" --bootloader "linux,kernel=$F/kernel" \
	--device "virtio-serial,logFilePath=$F/new-log" --cpus 0
check_untouched "validation failure" --pidfile "$F/pid" --bootloader "linux,kernel=$F/kernel" \
	--device "virtio-serial,logFilePath=$F/log" --device virtio-gpu --device virtio-gpu
check_untouched "host check failure" --pidfile "$F/pid" --bootloader "linux,kernel=$F/no-kernel" \
	--device "virtio-serial,logFilePath=$F/log" --cloud-init "$F/user-data,$F/meta-data"
check_untouched "missing cloud-init file" --pidfile "$F/pid" --bootloader "linux,kernel=$F/kernel" \
	--cloud-init "$F/user-data,$F/no/meta-data"

# The cloud-init disk is part of the VZ configuration: the QEMU plan shows
# the read-only ISO a real run attaches, and a dry run writes no ISO.
mkdir -p "$tmp/ci/tmpdir" && : >"$tmp/ci/kernel" && printf '#cloud-config\n' >"$tmp/ci/user-data" &&
	printf 'instance-id: x\n' >"$tmp/ci/meta-data"
plan=$(TMPDIR=$tmp/ci/tmpdir "$VZKIT" --dry-run=qemu --accel tcg --bootloader "linux,kernel=$tmp/ci/kernel" \
	--cloud-init "$tmp/ci/user-data,$tmp/ci/meta-data" 2>/dev/null)
iso="$tmp/ci/tmpdir/vzkit-cloudinit-"
if printf '%s\n' "$plan" | grep -q -- "filename=$iso[0-9]*\.iso" && printf '%s\n' "$plan" | grep -q -- "read-only=on"; then
	pass "--dry-run=qemu shows the cloud-init disk"
else
	fail "--dry-run=qemu shows the cloud-init disk" "no $iso*.iso read-only node in: $plan"
fi
# QEMU's monitor is a descriptor it inherits, named in the plan, on the -chardev that says it
if printf '%s\n' "$plan" | grep -qx "# fd 3: QEMU's monitor, a socket pair with vzkit" &&
	printf '%s\n' "$plan" | grep -q -- " -chardev socket,id=qmp,fd=3 -mon chardev=qmp,mode=control"; then
	pass "--dry-run=qemu names the descriptor QEMU's monitor is on"
else
	fail "--dry-run=qemu names the descriptor QEMU's monitor is on" "$plan"
fi
if compgen -G "$iso*" >/dev/null; then
	fail "--dry-run=qemu writes no cloud-init ISO" "$(ls "$tmp/ci/tmpdir")"
else
	pass "--dry-run=qemu writes no cloud-init ISO"
fi

# Help and version: exit 0, text on stdout, nothing on stderr.
good_help() {
	local name=$1 want=$2
	shift 2
	run "$VZKIT" "$@"
	if [ "$rc" -eq 0 ] && [ -z "$err" ] && [[ "$out" == *"$want"* ]]; then
		pass "help: $name"
	else
		fail "help: $name" "exit $rc, stderr '$err', stdout '${out:0:200}'"
	fi
}
good_help "--help" "--device" --help
good_help "-h" "Usage: vzkit" -h
good_help "--version" "vzkit version" --version
good_help "-v" "vzkit version" -v
good_help "--device help" "virtio-blk" --device help
good_help "--device virtio-blk,help" "deviceId" --device virtio-blk,help
good_help "--device virtio-net,help (with other keys)" "vfkitMagic" --device virtio-net,nat,help
good_help "--bootloader help" "macos" --bootloader help
good_help "--bootloader efi,help" "variable-store" --bootloader efi,help
good_help "help wins over bad input elsewhere" "virtio-vsock" --cpus 0 --device help

# --dry-run: JSON that parses and equals the golden file; --dry-run=cmdline
# run again gives the same JSON.
dry_runs=0
if command -v python3 >/dev/null; then
	json_checker="python3 -m json.tool"
elif command -v jq >/dev/null; then
	json_checker="jq -e ."
else
	json_checker=
fi
for args_file in "$golden"/*.args; do
	name=$(basename "$args_file" .args)
	mapfile -t args <"$args_file"
	run "$VZKIT" "${args[@]}" --dry-run
	if [ "$rc" -ne 0 ]; then
		fail "dry-run $name" "exit $rc: $err"
		continue
	fi
	dry_runs=$((dry_runs + 1))
	json=$out
	if [ -z "$json_checker" ]; then
		skip "dry-run $name: JSON parses" "neither python3 nor jq is installed"
	elif printf '%s' "$json" | $json_checker >/dev/null 2>&1; then
		pass "dry-run $name: JSON parses"
	else
		fail "dry-run $name: JSON parses" "$json"
	fi
	if [ "$json" = "$(cat "$golden/$name.json")" ]; then
		pass "dry-run $name: equals the golden JSON"
	else
		fail "dry-run $name: equals the golden JSON" "got $json"
	fi
	run "$VZKIT" "${args[@]}" --dry-run=cmdline
	cmdline=$out
	if [ "$rc" -ne 0 ] || [[ "$cmdline" != "vzkit "* ]]; then
		fail "dry-run $name: cmdline" "exit $rc: $cmdline $err"
		continue
	fi
	again=$(eval "\"\$VZKIT\" ${cmdline#vzkit } --dry-run" 2>&1)
	if [ "$again" = "$json" ]; then
		pass "dry-run $name: the printed command line gives the same JSON"
	else
		fail "dry-run $name: the printed command line gives the same JSON" "$cmdline gave $again"
	fi
done
[ "$dry_runs" -gt 0 ] || fail "dry-run golden cases" "none found in $golden"

# --config FILE with --dry-run: the file is the base; flags add to it.
"$VZKIT" --bootloader linux,kernel=/k --device virtio-rng --cpus 3 --dry-run >"$tmp/base.json" 2>/dev/null
run "$VZKIT" --config "$tmp/base.json" --device virtio-balloon --memory 1024 --dry-run
if [ "$rc" -eq 0 ] && [ "$out" = '{"vcpus":3,"memoryBytes":1073741824,"bootloader":{"kind":"linuxBootloader","vmlinuzPath":"/k"},"devices":[{"kind":"virtiorng"},{"kind":"virtioballoon"}]}' ]; then
	pass "--config with more flags"
else
	fail "--config with more flags" "exit $rc: $out $err"
fi

# --gui warns on stderr (not stdout) and still exits 0.
run "$VZKIT" "${LINUX[@]}" --gui --dry-run
if [ "$rc" -eq 0 ] && [[ "$err" == *"vzkit: warning: --gui without a display"* ]] && [[ "$out" == "{"* ]]; then
	pass "--gui warnings go to stderr"
else
	fail "--gui warnings go to stderr" "exit $rc, stderr '$err', stdout '$out'"
fi

# Started through a symlink named vfkit, it behaves identically.
ln -s "$VZKIT" "$tmp/vfkit"
same_as_vfkit() {
	local name=$1
	shift
	run "$VZKIT" "$@"
	local rc1=$rc out1=$out err1=$err
	run "$tmp/vfkit" "$@"
	if [ "$rc" = "$rc1" ] && [ "$out" = "$out1" ] && [ "$err" = "$err1" ]; then
		pass "as vfkit: $name"
	else
		fail "as vfkit: $name" "vzkit: $rc1 '$out1' '$err1'; vfkit: $rc '$out' '$err'"
	fi
}
same_as_vfkit "--dry-run" "${LINUX[@]}" --device virtio-net,nat --dry-run
same_as_vfkit "--dry-run=cmdline" "${LINUX[@]}" --device virtio-blk,path=/d --dry-run=cmdline

# -v/--version: as vfkit, cobra's "vfkit version: vX.Y.Z", which crc splits on
# ':' and compares (after TrimSpace and TrimPrefix "v") with the version it
# pins; VZKIT_VFKIT_VERSION sets that number. As vzkit, vzkit's own.
crc_version() { # what crc's getVersionGeneric + TrimPrefix("v") reads
	local field
	field=$(printf '%s' "$1" | head -n 1 | cut -d: -f2)
	field=$(printf '%s' "$field" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
	printf '%s' "${field#v}"
}
check_version() {
	local name=$1 want_out=$2 want_crc=$3
	shift 3
	if [ "$rc" -eq 0 ] && [ "$out" = "$want_out" ] && [ "$(crc_version "$out")" = "$want_crc" ]; then
		pass "version: $name"
	else
		fail "version: $name" "exit $rc, stdout '$out' (crc reads '$(crc_version "$out")'), stderr '$err'"
	fi
}
run "$tmp/vfkit" --version
check_version "vfkit --version is vfkit's line for v0.6.4" "vfkit version: v0.6.4" "0.6.4"
run "$tmp/vfkit" -v
check_version "vfkit -v" "vfkit version: v0.6.4" "0.6.4"
VZKIT_VFKIT_VERSION=0.6.1 run "$tmp/vfkit" -v
check_version "VZKIT_VFKIT_VERSION=0.6.1 pins the number" "vfkit version: v0.6.1" "0.6.1"
VZKIT_VFKIT_VERSION=v0.5.1 run "$tmp/vfkit" --version
check_version "VZKIT_VFKIT_VERSION=v0.5.1 (with its v)" "vfkit version: v0.5.1" "0.5.1"
VZKIT_VFKIT_VERSION='1:2' run "$tmp/vfkit" --version
if [ "$out" = "vfkit version: v0.6.4" ] && [[ "$err" == *"ignoring VZKIT_VFKIT_VERSION='1:2'"* ]]; then
	pass "version: an unusable VZKIT_VFKIT_VERSION is ignored with a warning"
else
	fail "version: an unusable VZKIT_VFKIT_VERSION is ignored with a warning" "stdout '$out', stderr '$err'"
fi
VZKIT_VFKIT_VERSION=0.6.1 run "$VZKIT" -v
if [ "$rc" -eq 0 ] && [[ "$out" == "vzkit version "* ]] && [[ "$out" == *"vfkit v0.6.4"* ]] && [ -z "$err" ]; then
	pass "version: as vzkit, vzkit's own version"
else
	fail "version: as vzkit, vzkit's own version" "exit $rc, stdout '$out', stderr '$err'"
fi
mkdir -p "$tmp/bin"
ln -s "$VZKIT" "$tmp/bin/vfkit-0.6"
run "$tmp/bin/vfkit-0.6" --version
if [[ "$out" == "vzkit version "* ]]; then
	pass "version: only the name vfkit itself gives vfkit's line"
else
	fail "version: only the name vfkit itself gives vfkit's line" "stdout '$out'"
fi

# Words that are not flags: a warning each, then the run goes on (vfkit
# ignores them); "--" ends the flags.
run "$tmp/vfkit" "${LINUX[@]}" run --dry-run -- --cpus 9
if [ "$rc" -eq 0 ] && [[ "$out" == '{"vcpus":1,'* ]] &&
	[ "$err" = "vzkit: warning: ignoring 'run': not a flag (vfkit takes flags only)
vzkit: warning: ignoring '--cpus' after --: vfkit takes flags only
vzkit: warning: ignoring '9' after --: vfkit takes flags only" ]; then
	pass "words that are not flags are ignored with a warning; -- ends the flags"
else
	fail "words that are not flags are ignored with a warning; -- ends the flags" "exit $rc, stdout '$out', stderr '$err'"
fi
run "$VZKIT" "${LINUX[@]}" run --cpus 0
if [ "$rc" -eq 2 ] && [ "$err" = "vzkit: --cpus: 0 is out of range (1 to 64)" ]; then
	pass "bad input: the warnings about ignored words are not printed, one line"
else
	fail "bad input: the warnings about ignored words are not printed, one line" "exit $rc, stderr '$err'"
fi
# Shorthands and clusters as pflag reads them.
run "$tmp/vfkit" "${LINUX[@]}" -nc4 -m1024 -t vsockPort=7 --dry-run
if [ "$rc" -eq 0 ] && [[ "$out" == '{"vcpus":4,"memoryBytes":1073741824,'* ]] && [[ "$out" == *'"timesync":{"vsockPort":7},"nested":true}' ]]; then
	pass "shorthands: -nc4 -m1024 -t vsockPort=7"
else
	fail "shorthands: -nc4 -m1024 -t vsockPort=7" "exit $rc, stdout '$out', stderr '$err'"
fi
same_as_vfkit "--help" --help
same_as_vfkit "bad input" "${LINUX[@]}" --device floppy
same_as_vfkit "validation error" "${LINUX[@]}" --cpus 0

# The flag table (cmd/args.c), --help and the man page agree.
flags=$(sed -n 's/^\t{"\([a-z-]*\)", .*/\1/p' "$root/cmd/args.c")
if [ -z "$flags" ]; then
	fail "flag table" "no flags found in cmd/args.c"
fi
help_text=$("$VZKIT" --help 2>&1)
for flag in $flags; do
	if grep -q -- "--$flag\b" <<<"$help_text"; then
		pass "--help lists --$flag"
	else
		fail "--help lists --$flag" "missing from --help"
	fi
done

man=$root/doc/vzkit.1
if [ ! -f "$man" ]; then
	skip "man page lists every flag, device type and key" "doc/vzkit.1 does not exist yet"
else
	# The page's text with troff escapes removed, and as rendered by man.
	man_text=$(sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\(em/-/g; s/\\&//g' "$man")
	if command -v man >/dev/null; then
		man_text+=$'\n'$(MANWIDTH=250 man -l "$man" 2>/dev/null | col -b)
	fi
	for flag in $flags; do
		if grep -q -- "--$flag\b" <<<"$man_text"; then
			pass "man page lists --$flag"
		else
			fail "man page lists --$flag" "not in doc/vzkit.1"
		fi
	done
	for kind in device bootloader; do
		types=$("$VZKIT" --$kind help | sed -n 's/^  \([a-z0-9-]*\) .*/\1/p')
		[ -n "$types" ] || fail "man page: $kind types" "--$kind help listed none"
		for type in $types; do
			if grep -qw -- "$type" <<<"$man_text"; then
				pass "man page lists --$kind $type"
			else
				fail "man page lists --$kind $type" "not in doc/vzkit.1"
			fi
			keys=$("$VZKIT" --$kind "$type,help" | sed -n 's/^  \([A-Za-z0-9-][A-Za-z0-9-]*\).*/\1/p')
			for key in $keys; do
				if grep -q -- "$key" <<<"$man_text"; then
					pass "man page lists $type key $key"
				else
					fail "man page lists $type key $key" "not in doc/vzkit.1"
				fi
			done
		done
	done
fi

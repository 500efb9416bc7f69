#!/bin/bash
# vzkit --fetch against a real HTTP and HTTPS server on 127.0.0.1
# (test/services/fetch_server.py, with a test CA made here by openssl):
# full fetch, redirect, cache hit, cut-and-resume without refetching bytes,
# sha256 from the user / URL.sha256 / Repr-Digest, 404, closed port, untrusted
# certificate, progress on a pty and off it, two concurrent fetches, a full
# disk, and bad input (exit 2, one line, nothing created).
set -u
: "${VZKIT:?VZKIT must name the vzkit binary}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/vzkit-fetch.XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

for tool in python3 openssl curl jq script; do
	if ! command -v $tool >/dev/null; then
		skip "fetch" "$tool is not installed"
		exit 0
	fi
done

# A test CA, a server certificate for 127.0.0.1 signed by it, and a second CA
# that signed nothing (the "untrusted" case).
(
	cd "$tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=vzkit-test-ca
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem -days 2 -subj /CN=vzkit-other-ca
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
) > "$tmp/openssl.log" 2>&1 || { fail "test CA" "openssl failed: $(tail -3 "$tmp/openssl.log")"; exit 1; }

mkdir -p "$tmp/root"
head -c 8388608 /dev/urandom > "$tmp/root/big.bin"
head -c 6000000 /dev/urandom > "$tmp/root/cut.bin"
head -c 4194304 /dev/urandom > "$tmp/root/shared.bin"
head -c 1048576 /dev/urandom > "$tmp/root/slow.bin"
head -c 100000 /dev/urandom > "$tmp/root/small.bin"
for f in sum-good sum-bad hdr-good hdr-bad sha-user sha-wrong disk; do head -c 300000 /dev/urandom > "$tmp/root/$f.bin"; done
(cd "$tmp/root" && sha256sum sum-good.bin > sum-good.bin.sha256)
echo "$(sha256sum < "$tmp/root/small.bin" | cut -c1-64)  sum-bad.bin" > "$tmp/root/sum-bad.bin.sha256"

python3 "$here/fetch_server.py" "$tmp/root" "$tmp/ports" "$tmp/server.pem" "$tmp/server.key" 2> "$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/ports" ] && break; sleep 0.1; done
if [ ! -s "$tmp/ports" ]; then
	fail "test server" "did not start: $(tail -3 "$tmp/server.log")"
	exit 1
fi
read -r http_port https_port < "$tmp/ports"
HTTP=http://127.0.0.1:$http_port
HTTPS=https://127.0.0.1:$https_port

export XDG_CACHE_HOME=$tmp/cache
export SSL_CERT_FILE=$tmp/ca.pem
unset CURL_CA_BUNDLE SSL_CERT_DIR
cache=$XDG_CACHE_HOME/vzkit

ctl() { curl -sf "$HTTP/_ctl/$1" > /dev/null; }
stat_of() { curl -sf "$HTTP/_ctl/stats" | jq -r ".$1"; }
size_of() { stat -c %s "$1"; }

# fetch ARGS...: sets rc, out, err
fetch() {
	"$VZKIT" "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}
vzkit_lines() { grep -c '^vzkit: ' <<<"$err"; }

# --- a full fetch over HTTPS ---------------------------------------------------
ctl reset
start=$(date +%s.%N)
fetch --fetch "$HTTPS/files/big.bin"
end=$(date +%s.%N)
if [ "$rc" -eq 0 ] && [ -f "$out" ] && cmp -s "$out" "$tmp/root/big.bin" && [[ "$out" == "$cache/"*"-big.bin" ]] &&
	[ "$(stat_of body_bytes)" -eq 8388608 ]; then
	pass "fetch: full fetch over HTTPS, path printed, bytes identical"
	echo "# 8 MiB over HTTPS from the loopback server (ASan build, fetch incl. startup): $(awk "BEGIN { printf \"%.3f\", $end - $start }") s"
else
	fail "fetch: full fetch over HTTPS" "rc=$rc out=$out err=$err"
fi
if [ "$(grep -c '' <<<"$out")" -eq 1 ] && [ ! -e "$out.part" ] && [ -f "$out.sha256" ] &&
	[ "$(cut -c1-64 "$out.sha256")" = "$(sha256sum < "$tmp/root/big.bin" | cut -c1-64)" ]; then
	pass "fetch: one line on stdout, no partial file left, verified sha256 kept beside the entry"
else
	fail "fetch: one line on stdout, no partial file left" "out=$out; $(ls -la "$cache")"
fi

# --- a cache hit fetches nothing -----------------------------------------------
ctl reset
first=$out
fetch --fetch "$HTTPS/files/big.bin"
if [ "$rc" -eq 0 ] && [ "$out" = "$first" ] && [ "$(stat_of file_requests)" -eq 0 ] &&
	[ "$(stat_of sha256_requests)" -eq 0 ]; then
	pass "fetch: a second request is a cache hit and asks the server nothing"
else
	fail "fetch: cache hit" "rc=$rc out=$out requests=$(stat_of file_requests) err=$err"
fi
fetch --fetch "$HTTPS/files/big.bin,sha256=$(sha256sum < "$tmp/root/big.bin" | cut -c1-64)"
if [ "$rc" -eq 0 ] && [ "$out" = "$first" ] && [ "$(stat_of file_requests)" -eq 0 ]; then
	pass "fetch: a cache hit with the right sha256 asks the server nothing"
else
	fail "fetch: cache hit with sha256" "rc=$rc out=$out requests=$(stat_of file_requests) err=$err"
fi

# --- a redirect over plain HTTP ------------------------------------------------
fetch --fetch "$HTTP/redirect/small.bin"
if [ "$rc" -eq 0 ] && cmp -s "$out" "$tmp/root/small.bin"; then
	pass "fetch: follows a redirect (HTTP)"
else
	fail "fetch: redirect" "rc=$rc err=$err"
fi

# --- cut mid-transfer, then resumed by a second run -----------------------------
ctl reset
ctl "set?cut=2500000"
fetch --fetch "$HTTPS/files/cut.bin"
entry=$(ls "$cache"/*-cut.bin.part 2>/dev/null | sed 's/\.part$//')
if [ "$rc" -eq 1 ] && [ "$(vzkit_lines)" -eq 1 ] && grep -q "run again to resume" <<<"$err" && [ -n "$entry" ] &&
	[ ! -e "$entry" ] && [ "$(size_of "$entry.part")" -eq 2500000 ]; then
	pass "fetch: a cut transfer exits 1 with one line, keeps 2500000 bytes in .part, nothing under the final name"
else
	fail "fetch: cut transfer" "rc=$rc entry=$entry err=$err"
fi
fetch --fetch "$HTTPS/files/cut.bin"
if [ "$rc" -eq 0 ] && [ "$out" = "$entry" ] && cmp -s "$out" "$tmp/root/cut.bin" && [ ! -e "$entry.part" ]; then
	pass "fetch: the second run resumes and the result is byte-identical"
else
	fail "fetch: resume" "rc=$rc out=$out err=$err"
fi
served=$(stat_of body_bytes)
ranges=$(curl -sf "$HTTP/_ctl/stats" | jq -r '.ranges|map(tostring)|join(",")')
if [ "$served" -eq 6000000 ] && [ "$ranges" = "0,2500000" ] && grep -q "resuming after" <<<"$err"; then
	pass "fetch: resuming asks for bytes=2500000- and the server serves each byte once ($served bytes in all)"
else
	fail "fetch: resume fetches nothing twice" "served $served bytes for a 6000000-byte file, ranges $ranges"
fi

# --- sha256 ---------------------------------------------------------------------
good=$(sha256sum < "$tmp/root/sha-user.bin" | cut -c1-64)
fetch --fetch "$HTTPS/files/sha-user.bin,sha256=$good"
if [ "$rc" -eq 0 ] && cmp -s "$out" "$tmp/root/sha-user.bin" && grep -q "sha256 matches the user" <<<"$err"; then
	pass "fetch: the user's sha256 is checked and matches"
else
	fail "fetch: user sha256" "rc=$rc err=$err"
fi
fetch --fetch "$HTTPS/files/sha-wrong.bin,sha256=$good"
if [ "$rc" -eq 1 ] && [ "$(vzkit_lines)" -eq 1 ] && grep -q "sha256 mismatch" <<<"$err" &&
	[ -z "$(ls "$cache"/*-sha-wrong.bin* 2>/dev/null | grep -v '\.lock$')" ]; then
	pass "fetch: a wrong sha256 is one line and leaves no file under the final name (nor a partial one)"
else
	fail "fetch: wrong sha256" "rc=$rc err=$err files=$(ls "$cache" | grep sha-wrong)"
fi
fetch --fetch "$HTTPS/files/sum-good.bin"
if [ "$rc" -eq 0 ] && grep -q "sha256 matches URL.sha256" <<<"$err"; then
	pass "fetch: the sha256 the server publishes at URL.sha256 is checked"
else
	fail "fetch: URL.sha256" "rc=$rc err=$err"
fi
fetch --fetch "$HTTPS/files/sum-bad.bin"
if [ "$rc" -eq 1 ] && grep -q "sha256 mismatch.*(from URL.sha256)" <<<"$err" && ! ls "$cache"/*-sum-bad.bin >/dev/null 2>&1; then
	pass "fetch: a file that does not match its URL.sha256 is refused"
else
	fail "fetch: bad URL.sha256" "rc=$rc err=$err"
fi
ctl "set?digest=good"
fetch --fetch "$HTTPS/files/hdr-good.bin"
if [ "$rc" -eq 0 ] && grep -q "sha256 matches the Repr-Digest header" <<<"$err"; then
	pass "fetch: the server's Repr-Digest header is checked"
else
	fail "fetch: Repr-Digest" "rc=$rc err=$err"
fi
ctl "set?digest=bad"
fetch --fetch "$HTTPS/files/hdr-bad.bin"
if [ "$rc" -eq 1 ] && grep -q "sha256 mismatch.*Repr-Digest" <<<"$err" && ! ls "$cache"/*-hdr-bad.bin >/dev/null 2>&1; then
	pass "fetch: a file that does not match its Repr-Digest header is refused"
else
	fail "fetch: bad Repr-Digest" "rc=$rc err=$err"
fi
ctl reset

# --- one clear line for each failure --------------------------------------------
# one_line NAME WANT ARGS...: exit 1, exactly one stderr line (progress quiet), containing WANT
one_line() {
	local name=$1 want=$2
	shift 2
	fetch --log-level error "$@"
	if [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(grep -c '' <<<"$err")" -eq 1 ] && [[ "$err" == "vzkit: "*"$want"* ]]; then
		pass "fetch: $name: one line ($err)"
	else
		fail "fetch: $name" "rc=$rc out=$out err=$err"
	fi
}
one_line "404" "the server answered HTTP 404 Not Found" --fetch "$HTTPS/files/missing.bin"
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
one_line "closed port" "cannot connect" --fetch "http://127.0.0.1:$closed/x.bin"
SSL_CERT_FILE=$tmp/other-ca.pem one_line "untrusted certificate" "TLS certificate is not trusted" --fetch "$HTTPS/files/small.bin"

# --- progress: lines off a terminal, a bar on one -------------------------------
ctl "set?rate=700000"
fetch --fetch "$HTTPS/files/slow.bin"
if [ "$rc" -eq 0 ] && ! grep -q $'\r' "$tmp/err" && grep -q "^fetch: $HTTPS/files/slow.bin: .*%, .* of 1.0 MiB" <<<"$err" &&
	grep -q "^fetch: $HTTPS/files/slow.bin: 1.0 MiB in 0:0[0-9] (.*/s)$" <<<"$err"; then
	pass "fetch: off a terminal, progress is plain lines (no carriage returns)"
else
	fail "fetch: progress lines" "rc=$rc err=$(cat -A "$tmp/err" | head -5)"
fi
rm -f "$cache"/*-slow.bin
script -qec "$VZKIT --fetch $HTTPS/files/slow.bin" /dev/null > "$tmp/pty" 2>&1
bars=$(tr '\r' '\n' < "$tmp/pty" | grep -c '\] *[0-9]*%  .* / 1.0 MiB  .*/s  ETA [0-9-]*:[0-9-]*')
if [ "$bars" -ge 3 ] && grep -q '100%' "$tmp/pty" && tr '\r' '\n' < "$tmp/pty" | grep -q "^$cache/.*-slow.bin"; then
	pass "fetch: on a terminal, a bar redrawn in place ($bars frames: percent, bytes, rate, ETA)"
else
	fail "fetch: progress bar" "$bars frames: $(cat -A "$tmp/pty" | head -c 600)"
fi

# --- two vzkits fetching one URL --------------------------------------------------
ctl reset
ctl "set?rate=4000000"
"$VZKIT" --fetch "$HTTPS/files/shared.bin" > "$tmp/a.out" 2> "$tmp/a.err" &
a=$!
"$VZKIT" --fetch "$HTTPS/files/shared.bin" > "$tmp/b.out" 2> "$tmp/b.err" &
b=$!
wait $a; rc_a=$?
wait $b; rc_b=$?
if [ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ] && [ "$(cat "$tmp/a.out")" = "$(cat "$tmp/b.out")" ] &&
	cmp -s "$(cat "$tmp/a.out")" "$tmp/root/shared.bin" && [ "$(stat_of body_bytes)" -eq 4194304 ] &&
	grep -q "waiting for another vzkit" "$tmp/a.err" "$tmp/b.err"; then
	pass "fetch: two concurrent fetches of one URL: one downloads, the other waits and finds it (4194304 bytes served)"
else
	fail "fetch: concurrent" "rc $rc_a/$rc_b served $(stat_of body_bytes): $(cat "$tmp/a.err" "$tmp/b.err")"
fi
ctl reset

# --- a full disk ---------------------------------------------------------------------
mkdir -p "$tmp/small-disk"
if unshare -m true 2>/dev/null; then
	unshare -m sh -c "mount -t tmpfs -o size=200k tmpfs '$tmp/small-disk' && XDG_CACHE_HOME='$tmp/small-disk' '$VZKIT' --log-level error --fetch '$HTTPS/files/disk.bin'; echo \"rc=\$?\"; ls '$tmp/small-disk/vzkit'" > "$tmp/disk.out" 2> "$tmp/disk.err"
	if grep -q '^rc=1$' "$tmp/disk.out" && [ "$(grep -c '' "$tmp/disk.err")" -eq 1 ] &&
		grep -q "No space left on device" "$tmp/disk.err" && ! grep -q -- '-disk.bin$' "$tmp/disk.out"; then
		pass "fetch: a full disk is one line ($(cat "$tmp/disk.err")) and no file under the final name"
	else
		fail "fetch: full disk" "$(cat "$tmp/disk.out" "$tmp/disk.err")"
	fi
else
	skip "fetch: full disk" "cannot mount a small tmpfs here (unshare -m is not permitted)"
fi

# --- bad input: exit 2, one line, nothing created -----------------------------------
rm -rf "$XDG_CACHE_HOME"
bad() {
	local name=$1 want=$2
	shift 2
	fetch "$@"
	if [ "$rc" -eq 2 ] && [ -z "$out" ] && [ "$(grep -c '' <<<"$err")" -eq 1 ] && [[ "$err" == "vzkit: "*"$want"* ]] &&
		[ ! -e "$XDG_CACHE_HOME" ]; then
		pass "fetch: bad input: $name"
	else
		fail "fetch: bad input: $name" "rc=$rc err=$err"
	fi
}
bad "not http(s)" "--fetch: 'ftp://h/x' is not an http:// or https:// URL" --fetch ftp://h/x
bad "no host" "--fetch: 'https:///x' has no host" --fetch https:///x
bad "short sha256" "--fetch: sha256 needs 64 hex digits (got 'abc')" --fetch "$HTTPS/files/x,sha256=abc"
bad "unknown key" "--fetch: unknown key 'md5'" --fetch "$HTTPS/files/x,md5=abc"
bad "blank in the URL" "--fetch: the URL has a blank" --fetch "$HTTPS/files/a b"
bad "with VM flags" "--fetch runs alone; it cannot be combined with --cpus" --fetch "$HTTPS/files/x" --cpus 2
bad "twice" "--fetch: given twice" --fetch "$HTTPS/files/x" --fetch "$HTTPS/files/y"
exit 0

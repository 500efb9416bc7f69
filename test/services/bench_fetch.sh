#!/bin/bash
# make bench: vzkit --fetch against the curl tool (the same libcurl, so the
# baseline for what the downloader adds: sha256, fsync, the URL.sha256 probe,
# the lock) fetching one file from the loopback test server
# (test/services/fetch_server.py), over HTTP and HTTPS. Rounds alternate which
# goes first; medians, min and max, and the ratio vzkit/curl of the medians.
set -u
: "${VZKIT:?VZKIT must name the vzkit binary}"
here=$(cd "$(dirname "$0")" && pwd)
size_mib=${BENCH_FETCH_MIB:-256}
rounds=${BENCH_FETCH_ROUNDS:-5}
tmp=$(mktemp -d /tmp/vzkit-bench-fetch.XXXXXX)
server_pid=
trap '[ -n "$server_pid" ] && kill $server_pid 2>/dev/null; rm -rf "$tmp"' EXIT

(
	cd "$tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
) > "$tmp/openssl.log" 2>&1 || { echo "bench_fetch: openssl failed"; exit 1; }
mkdir -p "$tmp/root"
head -c "$((size_mib * 1048576))" /dev/urandom > "$tmp/root/blob.bin"
python3 "$here/fetch_server.py" "$tmp/root" "$tmp/ports" "$tmp/server.pem" "$tmp/server.key" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/ports" ] && break; sleep 0.1; done
read -r http_port https_port < "$tmp/ports"
export SSL_CERT_FILE=$tmp/ca.pem
unset CURL_CA_BUNDLE SSL_CERT_DIR

now() { date +%s.%N; }
stats() { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f %.3f %.3f", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

for scheme in http https; do
	port=$http_port
	[ $scheme = https ] && port=$https_port
	url=$scheme://127.0.0.1:$port/files/blob.bin
	: > "$tmp/curl.times"
	: > "$tmp/vzkit.times"
	for round in $(seq "$rounds"); do
		order="curl vzkit"
		[ $((round % 2)) -eq 0 ] && order="vzkit curl"
		for who in $order; do
			rm -rf "$tmp/cache" "$tmp/out.bin"
			start=$(now)
			if [ $who = curl ]; then
				curl -sSf -o "$tmp/out.bin" "$url" || { echo "bench_fetch: curl failed"; exit 1; }
			else
				XDG_CACHE_HOME=$tmp/cache "$VZKIT" --log-level error --fetch "$url" > /dev/null ||
					{ echo "bench_fetch: vzkit failed"; exit 1; }
			fi
			awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.4f\n", b - a }' >> "$tmp/$who.times"
		done
	done
	read -r c_med c_min c_max < <(stats < "$tmp/curl.times")
	read -r v_med v_min v_max < <(stats < "$tmp/vzkit.times")
	awk -v n="$size_mib" -v s="$scheme" -v r="$rounds" -v cm="$c_med" -v cl="$c_min" -v ch="$c_max" \
		-v vm="$v_med" -v vl="$v_min" -v vh="$v_max" 'BEGIN {
		printf "fetch %d MiB over %s (%d rounds): curl median %.3f s (%.3f-%.3f, %.0f MiB/s), vzkit --fetch median %.3f s (%.3f-%.3f, %.0f MiB/s); vzkit/curl = %.2f\n",
			n, s, r, cm, cl, ch, n / cm, vm, vl, vh, n / vm, vm / cm }'
done

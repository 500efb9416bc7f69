#!/bin/bash
# nbds:// — NBD over TLS against a real nbdkit that requires TLS: the server's
# certificate is checked against the CA in SSL_CERT_FILE (default: the
# system's CAs), and for TCP against the host named in the URI. One boot with
# a TLS disk on TCP and one on a unix socket; then the refusals: a CA that did
# not sign the server, and a certificate for another host name.
source "$(dirname "$0")/lib.sh"
need_guest "qemu nbd tls"
command -v nbdkit >/dev/null || { skip "nbd tls" "nbdkit is not installed"; exit 0; }
command -v openssl >/dev/null || { skip "nbd tls" "openssl is not installed"; exit 0; }
cd "$scratch"
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# A test CA and a server certificate for the name localhost (not for 127.0.0.1).
mkdir pki other
openssl req -x509 -newkey rsa:2048 -nodes -keyout pki/ca-key.pem -out pki/ca-cert.pem -days 2 \
	-subj "/CN=vzkit test CA" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout pki/server-key.pem -out server.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA pki/ca-cert.pem -CAkey pki/ca-key.pem -CAcreateserial \
	-out pki/server-cert.pem -days 2 -extfile ext.cnf 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other/ca-key.pem -out other/ca-cert.pem -days 2 \
	-subj "/CN=some other CA" 2>/dev/null
[ -s pki/server-cert.pem ] || { fail "nbd tls: test certificates" "openssl failed"; exit 1; }

truncate -s 16M tcp.img
printf 'TLSOVERTCP' | dd of=tcp.img conv=notrunc status=none
truncate -s 8M unix.img
printf 'TLSOVERUNIX' | dd of=unix.img conv=notrunc status=none
port=$((20000 + RANDOM % 20000))
nbdkit --exit-with-parent --tls=require --tls-certificates="$scratch/pki" -i 127.0.0.1 -p $port \
	file "$scratch/tcp.img" 2> nbdkit-tcp.err &
nbdkit --exit-with-parent --tls=require --tls-certificates="$scratch/pki" -U "$scratch/nbd.sock" \
	file "$scratch/unix.img" 2> nbdkit-unix.err &
for _ in $(seq 50); do [ -S nbd.sock ] && break; sleep 0.1; done
sleep 0.3

# 1. Both TLS disks, the CA given through SSL_CERT_FILE.
SSL_CERT_FILE="$scratch/pki/ca-cert.pem" "$VZKIT" --bootloader "$(linux_boot report vzkit.disks=2)" \
	--device virtio-serial,logFilePath="$scratch/tls.log" \
	--device "nbd,uri=nbds://localhost:$port/,deviceId=tls-tcp" \
	--device "nbd,uri=nbds+unix:///?socket=$scratch/nbd.sock,readonly" 2> tls.err &
pid=$!
wait_exit $pid 120
status=$?
check "nbds: vzkit exits 0 after the guest's report" [ "$status" -eq 0 ]
check "nbds over TCP: size and first bytes through TLS" grep -q "name=vda size=16777216 .*head=$(hex TLSOVERTCP)" tls.log
check "nbds over TCP: the guest's write reached the server" grep -q '^VZKIT disk-write name=vda ok' tls.log
check "nbds over a unix socket: size and first bytes" grep -q "name=vdb size=8388608 .*head=$(hex TLSOVERUNIX)" tls.log
check "nbds readonly: the guest's write is refused" grep -q '^VZKIT disk-write name=vdb refused' tls.log

# 2. A CA that did not sign the server's certificate: refused, nothing boots.
SSL_CERT_FILE="$scratch/other/ca-cert.pem" "$VZKIT" --bootloader "$(linux_boot report)" \
	--device virtio-serial,logFilePath="$scratch/wrongca.log" \
	--device "nbd,uri=nbds://localhost:$port/,timeout=3000" 2> wrongca.err
status=$?
check "nbds with an untrusted server certificate: vzkit exits 1" [ "$status" -eq 1 ]
check "nbds with an untrusted server certificate: the error says why" grep -qi 'certificate\|issuer' wrongca.err
check "nbds with an untrusted server certificate: the guest never ran" [ ! -s wrongca.log ]

# 3. The right CA but another name for the same server: the certificate is
# for localhost, the URI says 127.0.0.1.
SSL_CERT_FILE="$scratch/pki/ca-cert.pem" "$VZKIT" --bootloader "$(linux_boot report)" \
	--device virtio-serial,logFilePath="$scratch/wrongname.log" \
	--device "nbd,uri=nbds://127.0.0.1:$port/,timeout=3000" 2> wrongname.err
status=$?
check "nbds with a certificate for another host name: vzkit exits 1" [ "$status" -eq 1 ]
check "nbds with a certificate for another host name: the error says why" grep -qi 'certificate\|host' wrongname.err
check "nbds with a certificate for another host name: the guest never ran" [ ! -s wrongname.log ]
finish

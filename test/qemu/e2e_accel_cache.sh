#!/bin/bash
# The KVM probe's verdict kept for the host's boot, through the vzkit binary
# (the cache's own rules: test_accel_cache.c): the accelerator line says
# when the answer came from the cache, --accel bypasses it, a different QEMU
# on PATH or a corrupt entry misses it (and the entry is rewritten), two
# vzkits starting at once on a cold cache both boot. Then the idle VM: no
# thread of vzkit wakes while the guest idles with the REST server on, and
# the libraries only some runs need are not loaded (doc/performance.md).
source "$(dirname "$0")/lib.sh"
need_guest "accel cache"
cd "$scratch"
export XDG_RUNTIME_DIR=$scratch/xdg
mkdir -m 0700 xdg
entry=$XDG_RUNTIME_DIR/vzkit/accel-x86_64
truncate -s 16M disk.img

plan() { "$VZKIT" --bootloader "$(linux_boot report)" --device virtio-blk,path=disk.img --dry-run=qemu "$@" 2>&1 | head -n1; }
fresh() { case $1 in "# accelerator: "*"(kvm probe: "*) return 0 ;; esac; return 1; }
cached() { case $1 in "# accelerator: "*"(kvm probe, cached for this boot in $entry: "*) return 0 ;; esac; return 1; }

line=$(plan)
check "cold cache: the probe runs ($line)" fresh "$line"
check "cold cache: the entry is written in \$XDG_RUNTIME_DIR/vzkit, 0700" \
	bash -c "[ -f '$entry' ] && [ \"\$(stat -c %a '$XDG_RUNTIME_DIR/vzkit')\" = 700 ]"
line=$(plan)
check "warm cache: the line says the answer came from the cache ($line)" cached "$line"
verdict=$(sed -n 's/^verdict=//p' "$entry")
check "warm cache: same accelerator as the probe" grep -q "^# accelerator: $verdict " <<<"$line"

before=$(stat -c %Y.%i "$entry")
check "--accel tcg: no probe, no cache" grep -qx '# accelerator: tcg (--accel tcg)' <<<"$(plan --accel tcg)"
line=$(plan --accel kvm)
case $line in *"cached for this boot"*) fail "--accel kvm: bypasses the cache" "$line" ;; *) pass "--accel kvm: bypasses the cache" ;; esac
check "--accel leaves the entry alone" [ "$(stat -c %Y.%i "$entry")" = "$before" ]

# Another QEMU binary first on PATH: a miss, and the entry names it.
mkdir bin
printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v qemu-system-x86_64)" >bin/qemu-system-x86_64
chmod +x bin/qemu-system-x86_64
line=$(PATH=$scratch/bin:$PATH plan)
check "another QEMU on PATH: the probe runs again" fresh "$line"
check "another QEMU on PATH: the entry names it" grep -q "^qemu=$scratch/bin/qemu-system-x86_64 " "$entry"
check "back to the first QEMU: a miss again" fresh "$(plan)"

printf 'vzkit-accel-cache 1\nboot=nonsense\n' >"$entry"
check "a corrupt entry is ignored" fresh "$(plan)"
check "a corrupt entry is rewritten (the next start hits)" cached "$(plan)"
sed -i 's/^boot=.*/boot=00000000-0000-0000-0000-000000000000/' "$entry"
check "an entry of another boot is ignored" fresh "$(plan)"
check "an entry of another boot is rewritten" grep -q "^boot=$(cat /proc/sys/kernel/random/boot_id)$" "$entry"

# Two vzkits start at once on a cold cache: both probe, both boot, one entry stays.
rm -rf "$XDG_RUNTIME_DIR/vzkit"
truncate -s 16M disk2.img
for i in 1 2; do
	disk=disk.img; [ $i = 2 ] && disk=disk2.img
	"$VZKIT" --bootloader "$(linux_boot report)" --device virtio-blk,path=$disk \
		--device virtio-serial,logFilePath="$scratch/both$i.log" 2>both$i.err &
	eval "pid$i=$!"
done
wait_exit "$pid1" 120; s1=$?
wait_exit "$pid2" 120; s2=$?
check "two vzkits at once: both exit 0 ($s1, $s2)" [ "$s1" = 0 -a "$s2" = 0 ]
check "two vzkits at once: both guests ran" bash -c "grep -q 'VZKIT report done' both1.log && grep -q 'VZKIT report done' both2.log"
check "two vzkits at once: one valid entry, no temporary file" \
	bash -c "[ \"\$(ls -A '$XDG_RUNTIME_DIR/vzkit')\" = accel-x86_64 ] && tail -n1 '$entry' | grep -qx end"

# The idle VM: every thread of vzkit sleeps until something happens.
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,logFilePath="$scratch/idle.log" \
	--restful-uri "unix://$scratch/rest.sock" 2>idle.err &
pid=$!
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n + 0}'; }
if wait_for_line idle.log '^VZKIT ready' 90; then
	sleep 1
	a=$(switches "$pid"); sleep 5; b=$(switches "$pid")
	check "idle VM with REST on: no wake-ups of vzkit's threads in 5 s ($((b - a)))" [ $((b - a)) -eq 0 ]
	# doc/performance.md: what only --fetch or --cloud-init needs is not
	# loaded, and the REST server brings no TLS library.
	check "idle VM: vzkit has loaded no libcurl, libcrypto, libisofs or GnuTLS" \
		bash -c "! grep -E 'lib(curl|crypto|isofs|gnutls)' /proc/$pid/maps"
	curl -s --unix-socket rest.sock http://localhost/vm/state >state.json
	check "idle VM: REST still answers" grep -q VirtualMachineStateRunning state.json
	kill -TERM "$pid"
	wait_exit "$pid" 30
	check "idle VM: stops on SIGTERM" [ $? -eq 0 ]
else
	fail "idle VM: guest ready" "no VZKIT ready in idle.log"
	kill -9 "$pid"
fi
finish

#!/bin/bash
# Consoles and disks vzkit makes: virtio-serial on the terminal (restored on
# every exit path), on a pty (its path printed, the guest's output readable),
# and the --cloud-init NoCloud disk as the guest sees it.
source "$(dirname "$0")/lib.sh"
need_guest "qemu consoles"
cd "$scratch"
command -v script >/dev/null || { skip "stdio console" "script(1) is missing"; exit 0; }

# 1. stdio: the guest's console is the terminal; its settings come back.
cat > stdio.sh <<INNER
stty -g > "$scratch/stty.before"
"$VZKIT" --bootloader '$(linux_boot report)' --device virtio-serial,stdio 2> "$scratch/stdio.err"
echo "status=\$?" > "$scratch/stdio.status"
stty -g > "$scratch/stty.after"
INNER
timeout 120 script -qec "bash $scratch/stdio.sh" stdio.typescript > /dev/null 2>&1
check "stdio: the guest's report reaches the terminal" grep -q 'VZKIT report done' stdio.typescript
check "stdio: vzkit exits 0" grep -qx 'status=0' stdio.status
check "stdio: terminal settings restored after a normal exit" cmp -s stty.before stty.after

# 2. stdio when QEMU is killed: the terminal is restored all the same.
# (A background job's stdin is /dev/null unless redirected: <&0 keeps the tty.)
cat > stdio-kill.sh <<INNER
stty -g > "$scratch/stty2.before"
"$VZKIT" --bootloader '$(linux_boot wait)' --device virtio-serial,stdio 2> "$scratch/stdio2.err" <&0 &
pid=\$!
for i in \$(seq 600); do q=\$(pgrep -P \$pid -f qemu-system); [ -n "\$q" ] && grep -q 'VM started' "$scratch/stdio2.err" && break; sleep 0.1; done
sleep 4
stty -g > "$scratch/stty2.during"
kill -9 \$q
wait \$pid
echo "status=\$?" > "$scratch/stdio2.status"
stty -g > "$scratch/stty2.after"
INNER
timeout 120 script -qec "bash $scratch/stdio-kill.sh" stdio2.typescript > /dev/null 2>&1
check "stdio, QEMU killed: vzkit exits 1" grep -qx 'status=1' stdio2.status
check "stdio, QEMU killed: the terminal was raw while the VM ran" bash -c "! cmp -s stty2.before stty2.during"
check "stdio, QEMU killed: terminal settings restored" cmp -s stty2.before stty2.after

# 2b. stdio when vzkit itself is killed (-9): QEMU dies with it and the
# runtime-dir watcher puts the terminal back.
cat > stdio-kill9.sh <<INNER
stty -g > "$scratch/stty3.before"
"$VZKIT" --bootloader '$(linux_boot wait)' --device virtio-serial,stdio 2> "$scratch/stdio3.err" <&0 &
pid=\$!
echo \$pid > "$scratch/stdio3.pid"
for i in \$(seq 600); do grep -q 'VM started' "$scratch/stdio3.err" && break; sleep 0.1; done
sleep 4
stty -g > "$scratch/stty3.during"
kill -9 \$pid
wait \$pid
sleep 1
stty -g > "$scratch/stty3.after"
INNER
timeout 120 script -qec "bash $scratch/stdio-kill9.sh" stdio3.typescript > /dev/null 2>&1
check "stdio, vzkit killed: the terminal was raw while the VM ran" bash -c "! cmp -s stty3.before stty3.during"
check "stdio, vzkit killed (-9): terminal settings restored" cmp -s stty3.before stty3.after
check "stdio, vzkit killed (-9): the watcher finished (runtime dir removed)" runtime_dir_gone "$(cat stdio3.pid)"

# 3. pty: the path is printed; the guest's output can be read from it.
"$VZKIT" --bootloader "$(linux_boot wait)" --device virtio-serial,pty 2> pty.err &
pid=$!
for _ in $(seq 100); do grep -q '/dev/pts/' pty.err && break; sleep 0.1; done
pty=$(grep -o '/dev/pts/[0-9]*' pty.err | head -n1)
check "pty: its path is printed" [ -n "$pty" ]
if [ -n "$pty" ]; then
	timeout 60 cat "$pty" > pty.out 2>/dev/null &
	reader=$!
	wait_for_line pty.out 'VZKIT ready' 60
	check "pty: the guest's console output is readable on it" grep -q 'VZKIT ready' pty.out
	kill $reader 2>/dev/null
fi
kill -TERM $pid
wait_exit $pid 30 >/dev/null

# 4. --cloud-init: a NoCloud ISO (volume cidata) with the two files.
printf '#cloud-config\nhostname: vzkit-test\n' > user-data
printf 'instance-id: vzkit-1\n' > meta-data
"$VZKIT" --bootloader "$(linux_boot report vzkit.disks=1)" --device virtio-serial,logFilePath="$scratch/ci.log" \
	--cloud-init "$scratch/user-data,$scratch/meta-data" 2> ci.err &
pid=$!
wait_exit $pid 120
check "cloud-init: vzkit exits 0" [ $? -eq 0 ]
check "cloud-init: the guest sees an ISO labelled cidata" grep -q '^VZKIT iso name=vda volid=cidata' ci.log
check "cloud-init: with user-data and meta-data" grep -q '^VZKIT iso name=vda .*meta-data' ci.log
check "cloud-init: read-only to the guest" [ "$(report_value ci.log disk vda ro)" = 1 ]
check "cloud-init: the ISO is removed at exit" [ ! -e "${TMPDIR:-/tmp}/vzkit-cloudinit-$pid.iso" ]
finish

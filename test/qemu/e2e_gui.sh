#!/bin/bash
# --gui: without a display a warning and a VM without a window; with one
# (Xvfb), a real QEMU window opens, and the guest sees the virtio GPU and the
# input devices.
source "$(dirname "$0")/lib.sh"
need_guest "gui"
cd "$scratch"

# No display: vfkit's callers (podman's debug mode) add --gui anyway, so vzkit
# warns and runs the VM without a window; the guest still has the display device.
env -u DISPLAY -u WAYLAND_DISPLAY "$VZKIT" --gui --bootloader "$(linux_boot report)" \
	--device virtio-serial,logFilePath="$scratch/nodisplay.log" 2> nodisplay.err &
pid=$!
wait_exit $pid 120
check "--gui without a display: the VM runs and vzkit exits 0 when it powers off" [ $? -eq 0 ]
check "--gui without a display: one warning says so" \
	[ "$(grep -c -- '--gui: no display (neither DISPLAY nor WAYLAND_DISPLAY is set); running without a window' nodisplay.err)" -eq 1 ]
check "--gui without a display: the guest has the virtio GPU --gui added" grep -q '^VZKIT virtio dev=.* id=16 ' nodisplay.log

if ! command -v Xvfb >/dev/null || ! command -v xwininfo >/dev/null; then
	skip "gui window" "Xvfb or xwininfo is not installed"
	finish
	exit
fi
display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1280x1024x24 -nolisten tcp > xvfb.log 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; cleanup_scratch' EXIT
for _ in $(seq 50); do DISPLAY=$display xwininfo -root >/dev/null 2>&1 && break; sleep 0.1; done
DISPLAY=$display "$VZKIT" --gui --bootloader "$(linux_boot report)" \
	--device virtio-serial,logFilePath="$scratch/gui.log" \
	--device virtio-gpu,width=1024,height=768 --device virtio-input,pointing 2> gui.err &
pid=$!
window=0
for _ in $(seq 300); do
	if DISPLAY=$display xwininfo -root -tree 2>/dev/null | grep -qi qemu; then window=1; break; fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
check "--gui: a QEMU window opens on the display" [ "$window" -eq 1 ]
wait_exit $pid 120
check "--gui: vzkit exits 0 when the guest powers off" [ $? -eq 0 ]
check "--gui: the guest has a virtio GPU (virtio device id 16)" grep -q '^VZKIT virtio dev=.* id=16 ' gui.log
check "--gui: the guest has the pointing device" grep -qi '^VZKIT input .*tablet' gui.log
# vfkit adds a keyboard only when there is no virtio-input device at all.
check "--gui: with a pointing device no keyboard is added, no warning" bash -c "! grep -q 'adding --device virtio-input' gui.err"
check "--gui: the guest has no virtio keyboard" bash -c "! grep -qi '^VZKIT input .*virtio.*keyboard' gui.log"
finish

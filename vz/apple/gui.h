/* --gui: one AppKit window holding a VZVirtualMachineView of the VM, driven
 * through the Objective-C runtime like everything else. AppKit wants the
 * main thread: open, pump and close it there (engine run() does). */
#ifndef VZKIT_VZ_APPLE_GUI_H
#define VZKIT_VZ_APPLE_GUI_H

#include <stdbool.h>
#include <stdint.h>

#include "flags/error.h"
#include "vz/apple/host.h"
#include "vz/apple/runtime.h"

struct apple_gui;

int apple_gui_open(const struct apple_host *host, id machine, uint32_t width, uint32_t height,
		   struct apple_gui **out, struct vzk_error *err);
/* Handles the window's events for up to `seconds`. False once the user has
 * closed the window. */
bool apple_gui_pump(struct apple_gui *gui, double seconds);
/* Closes the window and releases it. NULL ok. */
void apple_gui_close(struct apple_gui *gui);

#endif

/* Delegates for the framework, as classes made at run time (no Objective-C
 * source): a VZVirtualMachineDelegate (guest stopped / stopped with an error),
 * a VZVirtioSocketListenerDelegate (a guest connection to a listened port)
 * and an NSWindowDelegate (--gui: the window is closing). Every delegate
 * property is weak: the caller keeps the objects. */
#ifndef VZKIT_VZ_APPLE_DELEGATE_H
#define VZKIT_VZ_APPLE_DELEGATE_H

#include <stdbool.h>

#include "flags/error.h"
#include "vz/apple/runtime.h"

/* Called on the VM's queue. */
struct apple_vm_events {
	void (*guest_did_stop)(void *context);
	void (*did_stop_with_error)(void *context, id error);
	void *context;
};

/* Called on the VM's queue; true accepts the connection. */
struct apple_socket_events {
	bool (*accept)(void *context, id connection);
	void *context;
};

/* Called on the main thread (AppKit) when the user closes the window, or
 * when -close is sent to it. */
struct apple_window_events {
	void (*will_close)(void *context);
	void *context;
};

/* New (+1) delegate objects; the events must outlive them. nil with err. */
id apple_vm_delegate_new(const struct apple_vm_events *events, struct vzk_error *err);
id apple_socket_delegate_new(const struct apple_socket_events *events, struct vzk_error *err);
id apple_window_delegate_new(const struct apple_window_events *events, struct vzk_error *err);

#endif

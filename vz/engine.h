/* The one narrow interface between vzkit's front end and an engine (QEMU on
 * Linux, Apple's Virtualization framework on macOS). An engine first builds a
 * printable plan from a validated configuration, then runs it. */
#ifndef VZKIT_VZ_ENGINE_H
#define VZKIT_VZ_ENGINE_H

#include <stdbool.h>
#include <stdio.h>

#include "flags/error.h"
#include "vz/vz.h"

/* VZVirtualMachineState, with vfkit's REST names (vm_state_name). */
enum vm_state {
	VM_STATE_STOPPED = 0,
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_ERROR,
	VM_STATE_STARTING,
	VM_STATE_PAUSING,
	VM_STATE_RESUMING,
	VM_STATE_STOPPING,
	VM_STATE_SAVING,
	VM_STATE_RESTORING,
};

enum vm_state_request {
	VM_REQUEST_STOP = 0,  /* guest-initiated stop (ACPI power button / requestStop) */
	VM_REQUEST_HARD_STOP, /* immediate stop */
	VM_REQUEST_PAUSE,
	VM_REQUEST_RESUME,
};

enum engine_accel { ENGINE_ACCEL_AUTO = 0, ENGINE_ACCEL_KVM, ENGINE_ACCEL_TCG };

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

struct engine_options {
	enum engine_accel accel;
	enum log_level log_level;
	/* Where the engine makes its private 0700 directory for sockets and
	 * helper files (removed again at destroy); NULL: $XDG_RUNTIME_DIR, else
	 * /tmp. Unix socket paths must fit in 108 bytes, so keep it short. */
	const char *runtime_dir;
	/* Called (from any thread) after every state change; may be NULL. */
	void (*on_state_change)(void *context, enum vm_state state);
	/* A warning for the user (one line, no prefix), e.g. a device skipped
	 * with ignore-if-missing; may be NULL. */
	void (*warn)(void *context, const char *message);
	/* Every other line an engine has for the user (one line, no prefix, no
	 * newline), from any thread. Engines print nothing themselves: the
	 * launcher decides where lines go and filters them by level. May be NULL. */
	void (*log)(void *context, enum log_level level, const char *message);
	/* A local copy of an http(s) URL, made by the launcher's downloader
	 * (its cache, its progress): the Apple engine's macOS restore image
	 * (--bootloader macos,restoreImage=URL or latest). 0 with *path
	 * (malloc'd), or -1 with err. May be NULL: such URLs are refused. */
	int (*fetch)(void *context, const char *url, char **path, struct vzk_error *err);
	void *context;
	/* The launcher's cleanup watcher (vz/cleanup_watcher.h): the engine
	 * registers what it creates (runtime directory, processes, terminal
	 * settings) so that a killed launcher leaves nothing behind. May be NULL. */
	struct cleanup_watcher *watcher;
};

struct engine_vm; /* one engine's VM, opaque */

struct vz_engine_ops {
	const char *name;
	/* Builds the plan: no process started, nothing created. The configuration
	 * and options must outlive the engine VM (engines keep pointers to them). */
	int (*create)(const struct vz_vm_configuration *config, const struct engine_options *options,
		      struct engine_vm **out, struct vzk_error *err);
	/* Prints the plan (QEMU: the command lines; Apple: the message sequence). */
	int (*print_plan)(struct engine_vm *vm, FILE *out, struct vzk_error *err);
	/* Starts the VM; returns once its vCPUs run (state Running). */
	int (*start)(struct engine_vm *vm, struct vzk_error *err);
	/* Supervises the VM until it has stopped. 0: it stopped normally (guest
	 * power-off, or a requested stop); -1 with err: it failed or died. */
	int (*run)(struct engine_vm *vm, struct vzk_error *err);
	/* Thread-safe. */
	enum vm_state (*state)(struct engine_vm *vm);
	/* Thread-safe: asks for a state change; returns once it is under way.
	 * Usage-kind error when the VM cannot make that change now. */
	int (*request)(struct engine_vm *vm, enum vm_state_request request, struct vzk_error *err);
	/* The pty allocated for serial port `serial_index` (inspect ptyName), or NULL. */
	const char *(*pty_name)(struct engine_vm *vm, size_t serial_index);
	/* vsock primitives for the launcher's services (port proxies, ignition,
	 * timesync), called once the VM runs; NULL when the engine has none.
	 * listen: guest connections to host port `port` arrive as connected stream
	 * fds, handed to on_connection (which owns them) from an engine thread.
	 * connect: a connected stream fd to the guest's port. */
	int (*vsock_listen)(struct engine_vm *vm, uint32_t port,
			    void (*on_connection)(void *context, int fd), void *context,
			    struct vzk_error *err);
	int (*vsock_connect)(struct engine_vm *vm, uint32_t port, int *fd, struct vzk_error *err);
	/* Stops everything still running, removes runtime files, frees. NULL ok. */
	void (*destroy)(struct engine_vm *vm);
};

/* What start() returns when a stop asked for before the VM ran abandoned it
 * (the command takes it as the stop it asked for: exit 0). */
static inline int engine_start_abandoned(struct vzk_error *err)
{
	return vzk_runtime_error(err, "start abandoned: a stop was requested");
}

/* "VirtualMachineStateRunning" */
const char *vm_state_name(enum vm_state state);
/* Whether a request makes sense in a state (the REST can* fields). */
bool vm_state_allows(enum vm_state state, enum vm_state_request request);
/* "Stop" -> VM_REQUEST_STOP; -1 when unknown. */
int vm_state_request_parse(const char *name);
const char *vm_state_request_name(enum vm_state_request request);

#endif

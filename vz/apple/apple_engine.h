/* The Apple engine: runs a vz/ configuration on Apple's Virtualization
 * framework (macOS), through the Objective-C runtime from plain C. */
#ifndef VZKIT_VZ_APPLE_APPLE_ENGINE_H
#define VZKIT_VZ_APPLE_APPLE_ENGINE_H

#include "vz/apple/host.h"
#include "vz/engine.h"

extern const struct vz_engine_ops apple_engine;

/* apple_engine.create on a given host instead of the running one: the plan,
 * the version and architecture checks and start() follow `host` (tests
 * simulate hosts with it). The configuration must stay valid until destroy. */
int apple_engine_create_on_host(const struct vz_vm_configuration *config, const struct engine_options *options,
				const struct apple_host *host, struct engine_vm **out, struct vzk_error *err);

/* How long vsock_connect waits for an answer (default 5 s; tests shorten it). */
void apple_engine_set_vsock_connect_timeout(struct engine_vm *vm, unsigned milliseconds);

/* How often the macOS installer's progress is read (default 1 s; tests shorten it). */
void apple_engine_set_install_poll_interval(struct engine_vm *vm, unsigned milliseconds);

#endif

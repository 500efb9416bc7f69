/* Everything vzkit offers the guest over vsock, started and stopped together:
 * the port proxies (vsock_proxy.c), the Ignition server (ignition.c) and
 * timesync (timesync.c). Works on any engine with vsock primitives. */
#ifndef VZKIT_CMD_SERVICES_VSOCK_SERVICES_H
#define VZKIT_CMD_SERVICES_VSOCK_SERVICES_H

#include "cmd/services/ignition.h"
#include "cmd/services/timesync.h"
#include "cmd/services/vsock_proxy.h"
#include "flags/error.h"
#include "vz/engine.h"
#include "vz/vz.h"

struct vsock_services;

/* Starts every service the configuration asks for; *out stays NULL when
 * there is none. Needs engine->vsock_listen/vsock_connect. */
int vsock_services_start(const struct vz_engine_ops *engine, struct engine_vm *vm,
			 const struct vz_vm_configuration *config, struct vsock_services **out,
			 struct vzk_error *err);
/* Ends every thread that calls into the engine (timesync, the connect-mode
 * accept loops): call it before the engine VM is destroyed. What the engine
 * calls back (guest connections) still lands safely and is closed. NULL ok. */
void vsock_services_quiesce(struct vsock_services *services);
/* Asks timesync to set the guest's clock now; false when there is no
 * --timesync (services NULL ok). Async-safe for the signal thread: it only
 * wakes the timesync thread. */
bool vsock_services_sync_guest_clock(struct vsock_services *services);
/* Stops them all (quiesced first; every connection closed, every thread
 * joined, every unix socket it made removed): call it after the engine VM
 * is destroyed, when no engine callback can come any more. NULL ok. */
void vsock_services_stop(struct vsock_services *services);

#endif

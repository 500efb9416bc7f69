/* What vzkit offers the guest over vsock, on any engine with vsock primitives:
 * - the --device virtio-vsock port proxies between guest ports and host unix
 *   sockets (listen: guest connects, we dial socketURL; connect: we listen on
 *   socketURL and dial the guest),
 * - the --ignition config, served over HTTP on vsock port 1024,
 * - --timesync: after the host resumes from suspend, set the guest clock
 *   through qemu-guest-agent on the given vsock port. */
#ifndef VZKIT_CMD_SERVICES_VSOCK_SERVICES_H
#define VZKIT_CMD_SERVICES_VSOCK_SERVICES_H

#include <stdint.h>

#include "flags/error.h"
#include "vz/engine.h"
#include "vz/vz.h"

struct vsock_services;

/* Starts every service the configuration asks for; *out stays NULL when
 * there is none. Needs engine->vsock_listen/vsock_connect. */
int vsock_services_start(const struct vz_engine_ops *engine, struct engine_vm *vm,
			 const struct vz_vm_configuration *config, struct vsock_services **out,
			 struct vzk_error *err);
/* Closes every connection, joins every thread, removes the unix sockets it
 * made. NULL ok. */
void vsock_services_stop(struct vsock_services *services);

/* Timesync pieces, public for tests. */
/* True when CLOCK_BOOTTIME gained on CLOCK_MONOTONIC by a second or more
 * since the last sample: the host was suspended in between. */
bool timesync_host_resumed(int64_t boottime_minus_monotonic_ns_before,
			   int64_t boottime_minus_monotonic_ns_now);
/* Sends guest-set-time with the host's clock over an open agent connection
 * and reads the reply. */
int timesync_set_guest_time(int agent_fd, struct vzk_error *err);

#endif

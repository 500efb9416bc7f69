/* The --device virtio-vsock port proxies between guest vsock ports and host
 * unix sockets (listen: the guest connects, we dial socketURL; connect: we
 * listen on socketURL and dial the guest). */
#ifndef VZKIT_CMD_SERVICES_VSOCK_PROXY_H
#define VZKIT_CMD_SERVICES_VSOCK_PROXY_H

#include "flags/error.h"
#include "vz/engine.h"
#include "vz/vz.h"

struct vsock_proxy;

/* Starts a proxy for every port in config->vsock_ports; *out stays NULL when
 * there is none. Needs engine->vsock_listen/vsock_connect. */
int vsock_proxy_start(const struct vz_engine_ops *engine, struct engine_vm *vm,
		      const struct vz_vm_configuration *config, struct vsock_proxy **out, struct vzk_error *err);
/* Joins the threads that call into the engine (the connect-mode accept
 * loops); guest connections arriving afterwards are closed at once. NULL ok. */
void vsock_proxy_quiesce(struct vsock_proxy *proxy);
/* Quiesces, closes every connection, joins every thread, removes the unix
 * sockets it made. NULL ok. */
void vsock_proxy_stop(struct vsock_proxy *proxy);

#endif

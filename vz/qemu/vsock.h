/* The QEMU engine's vsock: the vhost-user socket QEMU's vhost-user-vsock-pci
 * connects to, served by vz/qemu/vsock_backend.c on a thread of vzkit
 * (doc/vsock.md). No kernel vsock (/dev/vhost-vsock) is involved. */
#ifndef VZKIT_VZ_QEMU_VSOCK_H
#define VZKIT_VZ_QEMU_VSOCK_H

#include <stdint.h>

#include "flags/error.h"
#include "vz/engine.h"

/* The CID every guest has: one vsock device per VM, so no host-wide namespace. */
#define QEMU_VSOCK_GUEST_CID 3

struct qemu_vsock;

/* Listens on socket_path (QEMU connects there when it starts) and starts the backend's thread. */
int qemu_vsock_new(const char *socket_path, uint32_t guest_cid,
		   void (*log)(void *context, enum log_level level, const char *message), void *log_context,
		   struct qemu_vsock **out, struct vzk_error *err);
int qemu_vsock_listen(struct qemu_vsock *vsock, uint32_t port, void (*on_connection)(void *, int),
		      void *context, struct vzk_error *err);
int qemu_vsock_connect(struct qemu_vsock *vsock, uint32_t port, int *fd, struct vzk_error *err);
/* Stops the backend, closes every connection, removes the socket. NULL ok. */
void qemu_vsock_free(struct qemu_vsock *vsock);

#endif

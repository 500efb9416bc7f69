/* Host side of vhost-vsock: AF_VSOCK listeners for guest connections to host
 * ports, and connections to the guest's ports. */
#ifndef VZKIT_VZ_QEMU_VSOCK_H
#define VZKIT_VZ_QEMU_VSOCK_H

#include <stdint.h>

#include "flags/error.h"

struct qemu_vsock;

int qemu_vsock_new(uint32_t guest_cid, struct qemu_vsock **out, struct vzk_error *err);
int qemu_vsock_listen(struct qemu_vsock *vsock, uint32_t port, void (*on_connection)(void *, int),
		      void *context, struct vzk_error *err);
int qemu_vsock_connect(struct qemu_vsock *vsock, uint32_t port, int *fd, struct vzk_error *err);
/* Stops the listener threads. NULL ok. */
void qemu_vsock_free(struct qemu_vsock *vsock);

#endif

/* The virtio-vsock device, served to QEMU over vhost-user (doc/vsock.md):
 * QEMU's vhost-user-vsock-pci forwards the guest's rx and tx rings here and
 * this backend carries every guest stream connection to a host socket.
 *
 * One event loop (epoll) owns everything: the vhost-user connection, the
 * rings' kick eventfds and the host ends of the connections. It runs on its
 * own thread (vsock_backend_start), or — in tests and the fuzzer — one round
 * at a time in the caller's thread (vsock_backend_poll).
 *
 * Host side of a connection: one end of a socketpair, the other end driven
 * here. vsock_listen hands guest connections to host port P to a callback;
 * vsock_connect opens a connection to a guest port. The guest is untrusted:
 * whatever it puts in its rings is checked, and a bad packet is dropped or
 * answered with RST, logged once per kind. */
#ifndef VZKIT_VZ_QEMU_VSOCK_BACKEND_H
#define VZKIT_VZ_QEMU_VSOCK_BACKEND_H

#include <stdint.h>

#include "flags/error.h"
#include "vz/engine.h"

#define VSOCK_HOST_CID 2
/* The receive buffer each connection offers the guest (its buf_alloc), as Linux's default. */
#define VSOCK_BUFFER_BYTES (256u * 1024)
#define VSOCK_MAX_CONNECTIONS 1024

struct vsock_backend_options {
	uint64_t guest_cid;         /* the guest's own CID (3 unless said otherwise) */
	int connect_timeout_ms;     /* host connect: how long the guest may take to answer; 0: 5000 */
	int close_timeout_ms;       /* after a full shutdown: how long to wait for the guest's RST; 0: 8000 */
	int credit_stall_ms;        /* out of the guest's credit this long: send CREDIT_REQUEST; 0: 1000 */
	/* Offer the event index and ask for rx kicks only while starved (doc/vsock.md,
	 * "Notifications"). Off in vzkit: host -> guest measured slower with it under
	 * TCG (doc/performance.md); the tests and the fuzzer turn it on. */
	bool suppress_notifications;
	/* One log line (no prefix); may be NULL. Called on the backend's thread. */
	void (*log)(void *context, enum log_level level, const char *message);
	void *log_context;
};

struct vsock_backend;

int vsock_backend_new(const struct vsock_backend_options *options, struct vsock_backend **out,
		      struct vzk_error *err);
/* The vhost-user front end: either a listening unix socket (QEMU connects to
 * it; one front end at a time) or a connected one. The backend owns the fd. */
int vsock_backend_serve(struct vsock_backend *backend, int listen_fd, struct vzk_error *err);
int vsock_backend_attach(struct vsock_backend *backend, int front_end_fd, struct vzk_error *err);
/* Runs the event loop on a thread of its own until vsock_backend_free. */
int vsock_backend_start(struct vsock_backend *backend, struct vzk_error *err);
/* Without a thread: one round of the loop, waiting up to timeout_ms for an
 * event. The number of events handled (0: nothing happened, and nothing is
 * left to do but wait). */
int vsock_backend_poll(struct vsock_backend *backend, int timeout_ms);

/* Guest connections to host port `port` are handed to on_connection (which
 * owns the fd: a blocking stream socket) from the backend's thread. The
 * callback must not wait for the backend (no vsock_backend_connect in it). */
int vsock_backend_listen(struct vsock_backend *backend, uint32_t port, void (*on_connection)(void *, int),
			 void *context, struct vzk_error *err);
/* A connected stream fd to the guest's port; fails when the guest answers
 * with RST (nobody listens), does not answer in time, or has no vsock driver
 * running. Needs the thread (vsock_backend_start). */
int vsock_backend_connect(struct vsock_backend *backend, uint32_t port, int *fd, struct vzk_error *err);
/* The same without waiting, for the single-threaded tests and the fuzzer:
 * the fd reads EOF if the guest refuses. */
int vsock_backend_connect_async(struct vsock_backend *backend, uint32_t port, int *fd, struct vzk_error *err);

/* Counters for tests and logs. */
struct vsock_backend_stats {
	size_t connections;     /* open now */
	size_t host_fds;        /* host socket ends the backend holds open */
	uint64_t packets_dropped;
	uint64_t resets_sent;
};
void vsock_backend_stats(struct vsock_backend *backend, struct vsock_backend_stats *stats);

/* Stops the thread, closes every host socket and the front end, unmaps guest memory. NULL ok. */
void vsock_backend_free(struct vsock_backend *backend);

#endif

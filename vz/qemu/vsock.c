#include "vz/qemu/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct vsock_listener {
	struct qemu_vsock *owner;
	int fd;
	uint32_t port;
	void (*on_connection)(void *, int);
	void *context;
	pthread_t thread;
	struct vsock_listener *next;
};

struct qemu_vsock {
	uint32_t guest_cid;
	int wake_pipe[2];
	pthread_mutex_t lock;
	struct vsock_listener *listeners;
};

int qemu_vsock_new(uint32_t guest_cid, struct qemu_vsock **out, struct vzk_error *err)
{
	struct qemu_vsock *vsock = calloc(1, sizeof(*vsock));

	if (vsock == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (pipe2(vsock->wake_pipe, O_CLOEXEC) != 0) {
		free(vsock);
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	}
	vsock->guest_cid = guest_cid;
	pthread_mutex_init(&vsock->lock, NULL);
	*out = vsock;
	return 0;
}

static void *listener_main(void *context)
{
	struct vsock_listener *listener = context;

	for (;;) {
		struct pollfd polls[2] = {{.fd = listener->fd, .events = POLLIN},
					  {.fd = listener->owner->wake_pipe[0], .events = POLLIN}};
		int fd;
		if (poll(polls, 2, -1) < 0 && errno != EINTR)
			break;
		if (polls[1].revents != 0)
			break;
		if (!(polls[0].revents & POLLIN))
			continue;
		struct sockaddr_vm peer;
		socklen_t peer_len = sizeof(peer);
		fd = accept4(listener->fd, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* The port is bound for every CID: only our own guest gets through. */
		if (peer.svm_cid != listener->owner->guest_cid) {
			close(fd);
			continue;
		}
		listener->on_connection(listener->context, fd);
	}
	return NULL;
}

int qemu_vsock_listen(struct qemu_vsock *vsock, uint32_t port, void (*on_connection)(void *, int),
		      void *context, struct vzk_error *err)
{
	struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	struct vsock_listener *listener = calloc(1, sizeof(*listener));

	if (listener == NULL)
		return vzk_runtime_error(err, "out of memory");
	listener->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener->fd < 0 || bind(listener->fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
	    listen(listener->fd, 16) != 0) {
		int saved = errno;
		if (listener->fd >= 0)
			close(listener->fd);
		free(listener);
		return vzk_runtime_error(err, "vsock port %u: cannot listen: %s", port, strerror(saved));
	}
	listener->owner = vsock;
	listener->port = port;
	listener->on_connection = on_connection;
	listener->context = context;
	if (pthread_create(&listener->thread, NULL, listener_main, listener) != 0) {
		close(listener->fd);
		free(listener);
		return vzk_runtime_error(err, "vsock port %u: cannot start a thread", port);
	}
	pthread_mutex_lock(&vsock->lock);
	listener->next = vsock->listeners;
	vsock->listeners = listener;
	pthread_mutex_unlock(&vsock->lock);
	return 0;
}

int qemu_vsock_connect(struct qemu_vsock *vsock, uint32_t port, int *fd_out, struct vzk_error *err)
{
	struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_cid = vsock->guest_cid, .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		return vzk_runtime_error(err, "cannot connect to the guest's vsock port %u: %s", port, strerror(saved));
	}
	*fd_out = fd;
	return 0;
}

void qemu_vsock_free(struct qemu_vsock *vsock)
{
	struct vsock_listener *listener;

	if (vsock == NULL)
		return;
	if (write(vsock->wake_pipe[1], "x", 1) != 1)
		return; /* cannot wake the threads: leak rather than hang */
	listener = vsock->listeners;
	while (listener != NULL) {
		struct vsock_listener *next = listener->next;
		pthread_join(listener->thread, NULL);
		close(listener->fd);
		free(listener);
		listener = next;
	}
	close(vsock->wake_pipe[0]);
	close(vsock->wake_pipe[1]);
	pthread_mutex_destroy(&vsock->lock);
	free(vsock);
}

/* The engine's side of vsock: a unix socket in the runtime directory for
 * QEMU's vhost-user chardev, and the backend thread behind it. */
#include "vz/qemu/vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vz/qemu/vsock_backend.h"

struct qemu_vsock {
	struct vsock_backend *backend;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

int qemu_vsock_new(const char *socket_path, uint32_t guest_cid,
		   void (*log)(void *context, enum log_level level, const char *message), void *log_context,
		   struct qemu_vsock **out, struct vzk_error *err)
{
	struct vsock_backend_options options = {.guest_cid = guest_cid, .log = log, .log_context = log_context};
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	struct qemu_vsock *vsock;
	int fd;

	*out = NULL;
	if (strlen(socket_path) >= sizeof(address.sun_path))
		return vzk_runtime_error(err, "vsock: socket path too long: %s", socket_path);
	vsock = calloc(1, sizeof(*vsock));
	if (vsock == NULL)
		return vzk_runtime_error(err, "out of memory");
	memcpy(address.sun_path, socket_path, strlen(socket_path));
	memcpy(vsock->path, socket_path, strlen(socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 1) != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		free(vsock);
		return vzk_runtime_error(err, "vsock: cannot listen on %s: %s", socket_path, strerror(saved));
	}
	if (vsock_backend_new(&options, &vsock->backend, err) != 0 || vsock_backend_serve(vsock->backend, fd, err) != 0 ||
	    vsock_backend_start(vsock->backend, err) != 0) {
		if (vsock->backend == NULL)
			close(fd);
		qemu_vsock_free(vsock);
		return -1;
	}
	*out = vsock;
	return 0;
}

int qemu_vsock_listen(struct qemu_vsock *vsock, uint32_t port, void (*on_connection)(void *, int), void *context,
		      struct vzk_error *err)
{
	return vsock_backend_listen(vsock->backend, port, on_connection, context, err);
}

int qemu_vsock_connect(struct qemu_vsock *vsock, uint32_t port, int *fd, struct vzk_error *err)
{
	return vsock_backend_connect(vsock->backend, port, fd, err);
}

void qemu_vsock_free(struct qemu_vsock *vsock)
{
	if (vsock == NULL)
		return;
	vsock_backend_free(vsock->backend);
	unlink(vsock->path);
	free(vsock);
}

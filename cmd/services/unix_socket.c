#include "cmd/services/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int fd_set_cloexec(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static int make_address(const char *path, struct sockaddr_un *address)
{
	size_t len = strlen(path);

	memset(address, 0, sizeof(*address));
	address->sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof(address->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(address->sun_path, path, len);
	return 0;
}

int unix_socket_connect(const char *path)
{
	struct sockaddr_un address;
	int fd;

	if (make_address(path, &address) != 0)
		return -1;
	fd = fd_set_cloexec(socket(AF_UNIX, SOCK_STREAM, 0));
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int unix_socket_listen(const char *path, const char *what, struct vzk_error *err)
{
	struct sockaddr_un address;
	struct stat st;
	mode_t old_umask;
	int fd;

	if (make_address(path, &address) != 0)
		return vzk_usage_error(err, "%s: socket path must be 1 to %zu bytes: %s", what,
				       sizeof(address.sun_path) - 1, path);
	if (lstat(path, &st) == 0) {
		int probe;
		if (!S_ISSOCK(st.st_mode))
			return vzk_usage_error(err, "%s: %s exists and is not a socket", what, path);
		probe = unix_socket_connect(path);
		if (probe >= 0 || errno == EAGAIN) {
			if (probe >= 0)
				close(probe);
			return vzk_usage_error(err, "%s: %s is in use by another process", what, path);
		}
		if (errno != ECONNREFUSED)
			return vzk_usage_error(err, "%s: %s: %s", what, path, strerror(errno));
		/* Refused: nobody listens, the leftover of a launcher that died. */
		unlink(path);
	}
	fd = fd_set_cloexec(socket(AF_UNIX, SOCK_STREAM, 0));
	if (fd < 0)
		return vzk_runtime_error(err, "%s: socket: %s", what, strerror(errno));
	old_umask = umask(0177); /* the socket is born 0600 */
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 64) != 0) {
		int saved = errno;
		umask(old_umask);
		close(fd);
		return vzk_runtime_error(err, "%s: cannot listen on %s: %s", what, path, strerror(saved));
	}
	umask(old_umask);
	return fd;
}

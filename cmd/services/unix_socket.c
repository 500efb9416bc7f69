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

int unix_socket_listen(const char *path, const char *what, bool nonblocking, struct unix_socket_identity *identity,
		       struct vzk_error *err)
{
	struct sockaddr_un address;
	struct stat st;
	mode_t old_umask;
	int fd, bound, saved;

	if (make_address(path, &address) != 0)
		return vzk_usage_error(err, "%s: socket path must be 1 to %zu bytes: %s", what,
				       sizeof(address.sun_path) - 1, path);
	if (lstat(path, &st) == 0) {
		int probe;
		if (!S_ISSOCK(st.st_mode))
			return vzk_usage_error(err, "%s: %s exists and is not a socket (not replacing it)", what, path);
		probe = unix_socket_connect(path);
		/* EAGAIN: a live listener whose backlog is full */
		if (probe >= 0 || errno == EAGAIN) {
			if (probe >= 0)
				close(probe);
			return vzk_usage_error(err, "%s: %s is in use by another process", what, path);
		}
		if (errno != ECONNREFUSED)
			return vzk_usage_error(err, "%s: %s: %s", what, path, strerror(errno));
		/* Refused: nobody listens, the leftover of a launcher that died. */
		if (unlink(path) != 0 && errno != ENOENT)
			return vzk_runtime_error(err, "%s: cannot remove the stale socket %s: %s", what, path,
						 strerror(errno));
	}
	fd = fd_set_cloexec(socket(AF_UNIX, SOCK_STREAM, 0));
	if (fd < 0)
		return vzk_runtime_error(err, "%s: socket: %s", what, strerror(errno));
	if (nonblocking && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		saved = errno;
		close(fd);
		return vzk_runtime_error(err, "%s: socket: %s", what, strerror(saved));
	}
	/* bind() creates the file with the umask applied: 0177 makes it 0600
	 * from the start, with no window where others could connect. umask is
	 * process-wide: listeners are made before the VM's threads exist. */
	old_umask = umask(0177);
	bound = bind(fd, (struct sockaddr *)&address, sizeof(address));
	saved = errno;
	umask(old_umask);
	if (bound != 0) {
		close(fd);
		return vzk_runtime_error(err, "%s: cannot listen on %s: %s", what, path, strerror(saved));
	}
	if (listen(fd, 128) != 0 || lstat(path, &st) != 0) {
		saved = errno;
		close(fd);
		unlink(path);
		return vzk_runtime_error(err, "%s: cannot listen on %s: %s", what, path, strerror(saved));
	}
	if (identity != NULL) {
		identity->dev = st.st_dev;
		identity->ino = st.st_ino;
	}
	return fd;
}

void unix_socket_remove_if_ours(const char *path, const struct unix_socket_identity *identity)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == identity->dev && st.st_ino == identity->ino)
		unlink(path);
}

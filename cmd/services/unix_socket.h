/* Unix stream sockets the launcher listens on (REST API, vsock connect-mode
 * ports): born 0600, a stale leftover replaced, a live one or a non-socket
 * file refused. */
#ifndef VZKIT_CMD_SERVICES_UNIX_SOCKET_H
#define VZKIT_CMD_SERVICES_UNIX_SOCKET_H

#include <stdbool.h>
#include <sys/types.h>

#include "flags/error.h"

/* Which file a listener made, so it removes only its own: another launcher
 * may have replaced it since. */
struct unix_socket_identity {
	dev_t dev;
	ino_t ino;
};

/* A listening socket at `path` (close-on-exec, backlog 128, non-blocking
 * when asked: a thread pool sharing it must not block in accept). `what`
 * names the flag for errors; *identity (may be NULL) gets the file made. */
int unix_socket_listen(const char *path, const char *what, bool nonblocking, struct unix_socket_identity *identity,
		       struct vzk_error *err);
/* Removes `path` if it is still the file `identity` names. */
void unix_socket_remove_if_ours(const char *path, const struct unix_socket_identity *identity);
/* A connected socket, or -1 with errno set. */
int unix_socket_connect(const char *path);
/* Sets close-on-exec (macOS has no SOCK_CLOEXEC); returns fd. */
int fd_set_cloexec(int fd);

#endif

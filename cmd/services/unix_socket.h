/* Unix stream sockets the launcher listens on (REST API, vsock connect-mode
 * ports): born 0600, a stale leftover replaced, a live one or a non-socket
 * file refused. */
#ifndef VZKIT_CMD_SERVICES_UNIX_SOCKET_H
#define VZKIT_CMD_SERVICES_UNIX_SOCKET_H

#include "flags/error.h"

/* A listening socket at `path` (close-on-exec); `what` names the flag for errors. */
int unix_socket_listen(const char *path, const char *what, struct vzk_error *err);
/* A connected socket, or -1 with errno set. */
int unix_socket_connect(const char *path);
/* Sets close-on-exec (macOS has no SOCK_CLOEXEC); returns fd. */
int fd_set_cloexec(int fd);

#endif

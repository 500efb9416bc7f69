/* NBD URIs, the one parser for validation (devices/nbd.c) and the QEMU plan:
 * nbd://host[:port][/export], nbd+unix:///[export]?socket=PATH, and the
 * nbds forms with TLS; query parameters socket= and tls-hostname=. Every part
 * is percent-decoded (doc/vzkit.1, "nbd"). */
#ifndef VZKIT_FLAGS_NBD_URI_H
#define VZKIT_FLAGS_NBD_URI_H

#include <stdbool.h>

#include "flags/error.h"

struct nbd_uri {
	bool tls;
	bool is_unix;
	char host[256];    /* inet: name or address, without IPv6 brackets */
	char port[8];      /* inet: "10809" unless given; 1..65535 */
	char socket[4096]; /* unix: an absolute path */
	char export_name[4096];
	/* TLS: the name the server's certificate must carry: ?tls-hostname=,
	 * else the URI's host, else (unix) "localhost" */
	char tls_hostname[256];
};

/* 0, or -1 with a usage error naming `what` ("--device nbd") when the URI is
 * malformed. */
int nbd_uri_parse(const char *uri, const char *what, struct nbd_uri *out, struct vzk_error *err);

#endif

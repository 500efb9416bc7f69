/* --restful-uri: tcp://host:port, http://host:port, unix:///abs/path, none:// */
#ifndef VZKIT_FLAGS_URI_H
#define VZKIT_FLAGS_URI_H

#include <stdint.h>

#include "flags/error.h"

enum rest_uri_kind { REST_URI_NONE = 0, REST_URI_TCP, REST_URI_UNIX };

struct rest_uri {
	enum rest_uri_kind kind;
	char host[256];  /* tcp: empty host means loopback only */
	uint16_t port;   /* tcp */
	char path[108];  /* unix: absolute socket path (sun_path size) */
};

int rest_uri_parse(const char *text, struct rest_uri *out, struct vzk_error *err);

#endif

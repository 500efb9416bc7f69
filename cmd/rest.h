/* vfkit's REST API (--restful-uri) on libmicrohttpd. The server knows nothing
 * of engines: it calls the handlers, which must be thread-safe (the server
 * answers from its own threads and never blocks VM supervision). */
#ifndef VZKIT_CMD_REST_H
#define VZKIT_CMD_REST_H

#include "flags/error.h"
#include "flags/uri.h"
#include "vz/engine.h"

struct rest_handlers {
	void *context;
	enum vm_state (*get_state)(void *context);
	/* Returns 0 once the change is under way; -1 with err when it cannot be made. */
	int (*request_state)(void *context, enum vm_state_request request, struct vzk_error *err);
	/* The VM JSON (GET /vm/inspect), malloc'd; NULL on failure. */
	char *(*inspect_json)(void *context);
	/* Logging of state-change requests (info level); may be NULL. */
	void (*log)(void *context, const char *message);
};

struct rest_server;

/* Starts serving `uri` (REST_URI_NONE: returns 0 and *out = NULL). A unix
 * socket is created 0600; a stale one is replaced, a live one is an error. */
int rest_server_start(const struct rest_uri *uri, const struct rest_handlers *handlers,
		      struct rest_server **out, struct vzk_error *err);
/* Stops serving and removes the unix socket. NULL ok. */
void rest_server_stop(struct rest_server *server);

/* The largest POST body accepted; larger gets 413. */
#define REST_MAX_BODY_BYTES 4096

/* POST /vm/state body → request. 0, or -1 with err and *http_status 400 (not
 * JSON) or 500 (no such state), as vfkit answers. */
int rest_parse_state_body(const char *body, size_t len, enum vm_state_request *out,
			  int *http_status, struct vzk_error *err);

#endif

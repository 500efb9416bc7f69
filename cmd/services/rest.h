/* vfkit's REST API (--restful-uri) on libmicrohttpd. The server knows nothing
 * of engines: it calls the handlers, which must be thread-safe (the server
 * answers from its own threads and never blocks VM supervision).
 *
 *   GET  /vm/state    200 {"canHardStop":b,"canPause":b,"canResume":b,"canStart":b,
 *                     "canStop":b,"state":"VirtualMachineStateRunning"} (keys sorted, as gin writes it)
 *   POST /vm/state    {"state":"Stop"|"HardStop"|"Pause"|"Resume"} -> 202, empty body;
 *                     empty, not JSON, or a value of the wrong kind -> 400, an
 *                     unknown or missing state or a refused change -> 500, both
 *                     {"error":"..."} (vfkit's words: "EOF", "invalid new VMState: X")
 *   JSON bodies are sent as application/json; charset=utf-8.
 *   GET  /vm/inspect  200, the VM JSON (handlers->inspect_json)
 *   other method on those paths -> 405 (Allow header), other path -> 404,
 *   a body over REST_BODY_LIMIT bytes -> 413. */
#ifndef VZKIT_CMD_SERVICES_REST_H
#define VZKIT_CMD_SERVICES_REST_H

#include <stddef.h>
#include <stdint.h>

#include "flags/error.h"
#include "flags/uri.h"
#include "vz/engine.h"

/* The largest request body accepted (a state change is about 20 bytes). */
#define REST_BODY_LIMIT 4096
/* A connection idle this long (e.g. a client that connects and never sends) is closed. */
#define REST_CONNECTION_TIMEOUT_SECONDS 5
/* Connections served at once. Idle connections cost no thread (MHD polls
 * them with epoll), so the limit is set well above what a misbehaving local
 * process holds (1,000 idle or byte-at-a-time connections must not keep a
 * new client from an answer within 100 ms: test_rest_pressure). Past it, MHD
 * closes new connections at once. Per-IP limits would not help: every unix
 * socket client has the same (no) address. */
#define REST_CONNECTION_LIMIT 4096
/* Memory MHD may use per connection (request line, headers, response
 * headers; a POST body has its own REST_BODY_LIMIT buffer). Requests here
 * are a few hundred bytes; a longer header block is answered 431 and
 * closed. Bounds the server at REST_CONNECTION_LIMIT x this = 32 MiB. */
#define REST_CONNECTION_MEMORY_BYTES 8192

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

/* Starts serving `uri` (REST_URI_NONE: returns 0 and *out = NULL) from the
 * server's own threads. The handlers are copied. A unix socket is created
 * 0600; a stale one (nothing accepts on it) is replaced, a live one or a file
 * that is not a socket is an error. tcp: an empty host means 127.0.0.1; a
 * name is resolved and its first IPv4 address (else IPv6) is bound; port 0
 * (programmatic use only: the URI parser refuses it) binds an ephemeral port,
 * see rest_server_port. */
int rest_server_start(const struct rest_uri *uri, const struct rest_handlers *handlers,
		      struct rest_server **out, struct vzk_error *err);
/* The TCP port being served (0 for a unix socket). */
uint16_t rest_server_port(const struct rest_server *server);
/* The unix socket file being served, or NULL (TCP, or no server). */
const char *rest_server_socket_path(const struct rest_server *server);
/* Stops serving (waits for the server's threads) and removes the unix
 * socket if it is still the one this server made. NULL ok. */
void rest_server_stop(struct rest_server *server);

/* What rest_parse_state_body found: the POST /vm/state status follows. */
enum rest_body_result {
	REST_BODY_OK = 0,               /* *out set */
	REST_BODY_MALFORMED = -1,       /* empty, not JSON, or not an object/null with a string/null "state": 400 */
	REST_BODY_UNKNOWN_STATE = -2,   /* a "state" that names no request (absent or null: ""): 500 */
};

/* Parses a POST /vm/state body, as vfkit does: a JSON object (or null) whose
 * "state" member (matched case-insensitively, the last one wins, other
 * members ignored) names a request; absent or null, it is "". Returns an enum rest_body_result; err is set
 * (usage kind) on failure. Pure: no I/O, safe on any bytes. */
int rest_parse_state_body(const char *body, size_t len, enum vm_state_request *out,
			  struct vzk_error *err);

#endif

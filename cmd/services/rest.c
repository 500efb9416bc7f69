/* vfkit's REST API on libmicrohttpd (HTTP parsing is the library's; the
 * JSON is jansson's). The server binds its listening socket itself (errors
 * come back as values with the path or address in them, the unix socket is
 * never wider than 0600) and hands it to MHD, which answers from a small
 * pool of its own threads: a slow handler or a stuck client stalls at most
 * the connections of one thread, never VM supervision. */
#include "cmd/services/rest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd/services/unix_socket.h"

/* MHD threads. A request never computes for long. On 2 cores (make bench,
 * median of 5 runs) 2 threads equal 1 in throughput and p99 at 16 and 64
 * clients, while 4 were slower at 1 client and had twice the p99 at 64;
 * with 2, a slow state change (its handler blocks one thread) leaves the
 * other thread answering. -DREST_THREAD_POOL_SIZE=N to measure again. */
#ifndef REST_THREAD_POOL_SIZE
#define REST_THREAD_POOL_SIZE 2
#endif
#define REST_LISTEN_BACKLOG 128

struct rest_server {
	struct MHD_Daemon *daemon;
	struct rest_handlers handlers;
	uint16_t port;
	/* unix: the socket file, removed at stop only while it is still ours */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct unix_socket_identity socket_identity;
};

/* One request with a body: the body collected so far. Requests without a
 * body are answered at once and never get one. */
struct rest_request {
	size_t body_len;
	bool too_large;
	char body[REST_BODY_LIMIT];
};

/* The request context of every request without a body (an address only). */
static char no_body_request;

/* ---- the POST body ---- */

/* A copy of untrusted text fit for a log line and a JSON string: printable
 * ASCII only, at most size-1 bytes. */
static void printable_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
}

/* The name Go's encoding/json gives a JSON value's kind in its errors. */
static const char *go_json_kind(const json_t *value)
{
	if (json_is_object(value))
		return "object";
	if (json_is_array(value))
		return "array";
	if (json_is_string(value))
		return "string";
	if (json_is_boolean(value))
		return "bool";
	return "number";
}

/* vfkit decodes the body with gin's ShouldBindJSON into {State string} and
 * hands State to its state switch, so its answers are Go's: an empty body is
 * "EOF" (400), a value of the wrong JSON kind is a json.UnmarshalTypeError
 * (400), and a body without a state (or null) asks for the state "", which
 * the switch refuses like any unknown name (500). */
int rest_parse_state_body(const char *body, size_t len, enum vm_state_request *out,
			  struct vzk_error *err)
{
	json_error_t json_err;
	json_t *root;
	json_t *state = NULL;
	const char *key;
	const char *name;
	json_t *value;
	char shown[65];
	int request;
	size_t blank = 0;

	while (blank < len && (body[blank] == ' ' || body[blank] == '\t' || body[blank] == '\r' || body[blank] == '\n'))
		blank++;
	if (blank == len) {
		vzk_usage_error(err, "EOF");
		return REST_BODY_MALFORMED;
	}
	/* Go's Decoder reads the first value and leaves what follows unread. */
	root = json_loadb(body, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &json_err);
	if (root == NULL) {
		/* jansson quotes the offending input: keep it printable */
		char reason[sizeof(json_err.text)];
		printable_copy(reason, sizeof(reason), json_err.text);
		vzk_usage_error(err, "request body is not JSON: %s", reason);
		return REST_BODY_MALFORMED;
	}
	if (!json_is_object(root) && !json_is_null(root)) {
		vzk_usage_error(err, "json: cannot unmarshal %s into Go value of type define.VMState", go_json_kind(root));
		json_decref(root);
		return REST_BODY_MALFORMED;
	}
	/* Go's encoding/json (vfkit) matches member names case-insensitively
	 * and the last match wins. */
	json_object_foreach(root, key, value) {
		if (strcasecmp(key, "state") == 0)
			state = value;
	}
	if (state != NULL && !json_is_string(state) && !json_is_null(state)) {
		vzk_usage_error(err, "json: cannot unmarshal %s into Go struct field VMState.state of type string",
				go_json_kind(state));
		json_decref(root);
		return REST_BODY_MALFORMED;
	}
	name = json_is_string(state) ? json_string_value(state) : "";
	request = vm_state_request_parse(name);
	/* A name with an embedded NUL cannot be valid: JSON_ALLOW_NUL is off,
	 * so jansson has refused it already. */
	if (request < 0) {
		printable_copy(shown, sizeof(shown), name);
		json_decref(root);
		vzk_usage_error(err, "invalid new VMState: %s", shown);
		return REST_BODY_UNKNOWN_STATE;
	}
	json_decref(root);
	*out = (enum vm_state_request)request;
	return REST_BODY_OK;
}

/* ---- responses ---- */

/* Queues `text` (malloc'd, taken; NULL: no body) with `status`. */
static enum MHD_Result respond(struct MHD_Connection *connection, unsigned int status, char *text,
			       const char *allow)
{
	struct MHD_Response *response;
	enum MHD_Result result;

	response = MHD_create_response_from_buffer(text != NULL ? strlen(text) : 0, text,
						   text != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (response == NULL) {
		free(text);
		return MHD_NO;
	}
	if (text != NULL) /* what gin's c.JSON sends */
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	if (allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	result = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return result;
}

/* Queues `root` (taken) as JSON, compact with its keys sorted, as Go
 * encodes the map (gin.H) vfkit answers with. */
static enum MHD_Result respond_json(struct MHD_Connection *connection, unsigned int status, json_t *root,
				    const char *allow)
{
	char *text = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(root);
	if (text == NULL)
		return MHD_NO; /* out of memory: MHD closes the connection */
	return respond(connection, status, text, allow);
}

/* {"error":"message"} */
static enum MHD_Result respond_error(struct MHD_Connection *connection, unsigned int status,
				     const char *message, const char *allow)
{
	json_t *text = json_string(message);

	if (text == NULL) /* not UTF-8: never expected, our messages are ASCII */
		text = json_string("request failed");
	return respond_json(connection, status, json_pack("{s:o}", "error", text), allow);
}

/* ---- endpoints ---- */

static void log_line(const struct rest_server *server, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_line(const struct rest_server *server, const char *fmt, ...)
{
	char line[1200];
	va_list args;

	if (server->handlers.log == NULL)
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	server->handlers.log(server->handlers.context, line);
}

static enum MHD_Result get_state(struct rest_server *server, struct MHD_Connection *connection)
{
	enum vm_state state = server->handlers.get_state(server->handlers.context);
	json_t *root = json_pack("{s:s,s:b,s:b,s:b,s:b,s:b}", "state", vm_state_name(state),
				 "canStart", state == VM_STATE_STOPPED,
				 "canPause", vm_state_allows(state, VM_REQUEST_PAUSE),
				 "canResume", vm_state_allows(state, VM_REQUEST_RESUME),
				 "canStop", vm_state_allows(state, VM_REQUEST_STOP),
				 "canHardStop", vm_state_allows(state, VM_REQUEST_HARD_STOP));

	return respond_json(connection, MHD_HTTP_OK, root, NULL);
}

static enum MHD_Result post_state(struct rest_server *server, struct MHD_Connection *connection,
				  const char *body, size_t len)
{
	struct vzk_error err = {0};
	enum vm_state_request request;
	int parsed = rest_parse_state_body(body, len, &request, &err);

	if (parsed == REST_BODY_MALFORMED)
		return respond_error(connection, MHD_HTTP_BAD_REQUEST, err.message, NULL);
	if (parsed == REST_BODY_UNKNOWN_STATE) {
		log_line(server, "REST: state change refused: %s", err.message);
		return respond_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, err.message, NULL);
	}
	if (server->handlers.request_state(server->handlers.context, request, &err) != 0) {
		if (err.message[0] == '\0')
			vzk_runtime_error(&err, "the VM cannot %s now", vm_state_request_name(request));
		log_line(server, "REST: state change %s failed: %s", vm_state_request_name(request), err.message);
		return respond_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, err.message, NULL);
	}
	log_line(server, "REST: state change %s requested", vm_state_request_name(request));
	return respond(connection, MHD_HTTP_ACCEPTED, NULL, NULL);
}

static enum MHD_Result get_inspect(struct rest_server *server, struct MHD_Connection *connection)
{
	char *text = server->handlers.inspect_json(server->handlers.context);

	if (text == NULL)
		return respond_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot describe the VM", NULL);
	return respond(connection, MHD_HTTP_OK, text, NULL);
}

/* Routes a complete request. HEAD is GET without the body (MHD drops it). */
static enum MHD_Result dispatch(struct rest_server *server, struct MHD_Connection *connection,
				const char *url, const char *method, const char *body, size_t len)
{
	bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	if (strcmp(url, "/vm/state") == 0) {
		if (is_get)
			return get_state(server, connection);
		if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
			return post_state(server, connection, body, len);
		return respond_error(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
				     "method not allowed on /vm/state (GET, POST)", "GET, HEAD, POST");
	}
	if (strcmp(url, "/vm/inspect") == 0) {
		if (is_get)
			return get_inspect(server, connection);
		return respond_error(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
				     "method not allowed on /vm/inspect (GET)", "GET, HEAD");
	}
	return respond_error(connection, MHD_HTTP_NOT_FOUND,
			     "not found (endpoints: /vm/state, /vm/inspect)", NULL);
}

static enum MHD_Result body_too_large(struct MHD_Connection *connection)
{
	char message[80];

	snprintf(message, sizeof(message), "request body larger than %d bytes", REST_BODY_LIMIT);
	return respond_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, message, NULL);
}

/* Whether the request announces a body, and whether its declared length is
 * already over the limit (then it is answered 413 before it is read). */
static bool request_has_body(struct MHD_Connection *connection, bool *declared_too_large)
{
	const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_CONTENT_LENGTH);
	*declared_too_large = false;
	if (length != NULL) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(length, &end, 10);
		/* MHD has refused a malformed Content-Length already. */
		if (errno != 0 || n > REST_BODY_LIMIT)
			*declared_too_large = true;
		return n > 0 || *declared_too_large;
	}
	return MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* MHD calls this once when the headers are in, then once per piece of body,
 * then once more (upload_data_size 0) when the body is complete. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **request_context)
{
	struct rest_server *server = cls;
	struct rest_request *request = *request_context;

	(void)version;
	if (request == NULL) {
		bool declared_too_large;

		/* Answered on the next call, not this one: MHD closes a connection
		 * whose response was queued before the request was complete, and
		 * keep-alive is worth a connect() per request. */
		if (!request_has_body(connection, &declared_too_large)) {
			*request_context = &no_body_request;
			return MHD_YES;
		}
		if (declared_too_large)
			return body_too_large(connection); /* MHD closes: the body stays unread */
		request = calloc(1, sizeof(*request));
		if (request == NULL)
			return MHD_NO;
		*request_context = request;
		return MHD_YES;
	}
	if ((void *)request == &no_body_request)
		return dispatch(server, connection, url, method, "", 0);
	if (*upload_data_size > 0) {
		/* A chunked body over the limit is read and dropped: MHD can only
		 * answer once the body is in. Memory stays bounded. */
		if (request->too_large || *upload_data_size > sizeof(request->body) - request->body_len) {
			request->too_large = true;
		} else {
			memcpy(request->body + request->body_len, upload_data, *upload_data_size);
			request->body_len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (request->too_large)
		return body_too_large(connection);
	return dispatch(server, connection, url, method, request->body, request->body_len);
}

static void on_request_completed(void *cls, struct MHD_Connection *connection, void **request_context,
				 enum MHD_RequestTerminationCode termination)
{
	(void)cls;
	(void)connection;
	(void)termination;
	if (*request_context != &no_body_request)
		free(*request_context);
	*request_context = NULL;
}

/* ---- listening sockets ---- */

/* A socket, close-on-exec and optionally non-blocking (macOS has no
 * SOCK_CLOEXEC or SOCK_NONBLOCK). */
static int new_socket(int family, int type, int protocol, bool nonblocking)
{
	int fd = socket(family, type, protocol);
	int flags;

	if (fd < 0)
		return -1;
	flags = fcntl(fd, F_GETFL);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || flags < 0 ||
	    (nonblocking && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int listen_unix(struct rest_server *server, const char *path, int *out_fd, struct vzk_error *err)
{
	/* Non-blocking: MHD's thread pool shares the listening socket. */
	int fd = unix_socket_listen(path, "--restful-uri", true, &server->socket_identity, err);

	if (fd < 0)
		return -1;
	snprintf(server->socket_path, sizeof(server->socket_path), "%s", path);
	*out_fd = fd;
	return 0;
}

static int listen_on_address(const struct addrinfo *ai)
{
	int fd = new_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol, true);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, REST_LISTEN_BACKLOG) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		return 0;
	if (addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port);
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return 0;
}

/* Binds one address of `host` (an empty host: loopback only). Like Go's
 * net.Listen with a name, which vfkit uses: IPv4 first, then IPv6. */
static int listen_tcp(struct rest_server *server, const char *host, uint16_t port, int *out_fd,
		      struct vzk_error *err)
{
	const char *name = host[0] != '\0' ? host : "127.0.0.1";
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *list = NULL;
	char service[8];
	int status, fd = -1, last_errno = EADDRNOTAVAIL;

	snprintf(service, sizeof(service), "%u", (unsigned)port);
	status = getaddrinfo(name, service, &hints, &list);
	if (status != 0)
		return vzk_runtime_error(err, "--restful-uri: cannot resolve '%s': %s", name, gai_strerror(status));
	for (int family_pass = 0; family_pass < 2 && fd < 0; family_pass++) {
		for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
			bool ipv4 = ai->ai_family == AF_INET;
			if ((family_pass == 0) != ipv4)
				continue;
			fd = listen_on_address(ai);
			if (fd < 0)
				last_errno = errno;
		}
	}
	freeaddrinfo(list);
	if (fd < 0)
		return vzk_runtime_error(err, "--restful-uri: cannot listen on %s:%u: %s", name, (unsigned)port,
					 strerror(last_errno));
	server->port = bound_port(fd);
	*out_fd = fd;
	return 0;
}

/* ---- the server ---- */

/* Room for REST_CONNECTION_LIMIT connections beside the VM's own files:
 * the soft limit is often 1,024 while the hard one is far higher. */
static void raise_file_limit(void)
{
	struct rlimit files;
	rlim_t wanted = REST_CONNECTION_LIMIT + 1024;

	if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= wanted)
		return;
	files.rlim_cur = files.rlim_max != RLIM_INFINITY && files.rlim_max < wanted ? files.rlim_max : wanted;
	setrlimit(RLIMIT_NOFILE, &files);
}

int rest_server_start(const struct rest_uri *uri, const struct rest_handlers *handlers,
		      struct rest_server **out, struct vzk_error *err)
{
	struct rest_server *server;
	int fd = -1, mhd_fd;

	*out = NULL;
	if (uri->kind == REST_URI_NONE)
		return 0;
	if (handlers == NULL || handlers->get_state == NULL || handlers->request_state == NULL ||
	    handlers->inspect_json == NULL)
		return vzk_runtime_error(err, "REST server: missing handlers");
	server = calloc(1, sizeof(*server));
	if (server == NULL)
		return vzk_runtime_error(err, "out of memory");
	server->handlers = *handlers;
	if (uri->kind == REST_URI_UNIX) {
		if (listen_unix(server, uri->path, &fd, err) != 0)
			goto fail;
	} else if (listen_tcp(server, uri->host, uri->port, &fd, err) != 0) {
		goto fail;
	}
	/* MHD gets a duplicate and owns it (MHD_stop_daemon closes it). Whether
	 * a failed MHD_start_daemon closes the socket it was given is not
	 * documented: with our own copy closed here on every path there is
	 * never a double close (at worst MHD's copy leaks on that error path). */
	mhd_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	close(fd);
	if (mhd_fd < 0) {
		vzk_runtime_error(err, "--restful-uri: dup: %s", strerror(errno));
		goto fail;
	}
	raise_file_limit();
	/* MHD_USE_AUTO: epoll on Linux, poll elsewhere. */
	server->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, server,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)mhd_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)REST_THREAD_POOL_SIZE,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)REST_CONNECTION_LIMIT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REST_CONNECTION_MEMORY_BYTES,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)REST_LISTEN_BACKLOG,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)REST_CONNECTION_TIMEOUT_SECONDS,
		MHD_OPTION_NOTIFY_COMPLETED, on_request_completed, NULL,
		MHD_OPTION_END);
	if (server->daemon == NULL) {
		vzk_runtime_error(err, "--restful-uri: cannot start the HTTP server");
		goto fail;
	}
	*out = server;
	return 0;
fail:
	if (server->socket_path[0] != '\0')
		unlink(server->socket_path);
	free(server);
	return -1;
}

uint16_t rest_server_port(const struct rest_server *server)
{
	return server != NULL ? server->port : 0;
}

const char *rest_server_socket_path(const struct rest_server *server)
{
	return server != NULL && server->socket_path[0] != '\0' ? server->socket_path : NULL;
}

void rest_server_stop(struct rest_server *server)
{
	if (server == NULL)
		return;
	MHD_stop_daemon(server->daemon);
	if (server->socket_path[0] != '\0')
		unix_socket_remove_if_ours(server->socket_path, &server->socket_identity);
	free(server);
}

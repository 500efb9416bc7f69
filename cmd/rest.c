/* vfkit's REST API on libmicrohttpd: GET/POST /vm/state, GET /vm/inspect. */
#include "cmd/rest.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/unix_socket.h"

/* Enough threads for two cores; a stuck client holds one connection, not a
 * thread, and is dropped after the timeout. */
#define REST_THREADS 2
#define REST_CONNECTION_TIMEOUT_SECONDS 10
#define REST_CONNECTION_LIMIT 512

struct rest_server {
	struct MHD_Daemon *daemon;
	struct rest_handlers handlers;
	int listen_fd;
	char unix_path[108];
};

/* One request's state across the access handler's calls. */
struct rest_request {
	char body[REST_MAX_BODY_BYTES];
	size_t body_len;
	bool too_large;
};

int rest_parse_state_body(const char *body, size_t len, enum vm_state_request *out,
			  int *http_status, struct vzk_error *err)
{
	json_error_t json_err;
	json_t *root = json_loadb(body, len, 0, &json_err);
	json_t *state;
	int request;

	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		*http_status = MHD_HTTP_BAD_REQUEST;
		return vzk_usage_error(err, "the body must be a JSON object like {\"state\":\"Stop\"}");
	}
	state = json_object_get(root, "state");
	request = json_is_string(state) ? vm_state_request_parse(json_string_value(state)) : -1;
	if (request < 0) {
		*http_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		vzk_usage_error(err, "unknown state '%s' (valid: Stop, HardStop, Pause, Resume)",
				json_is_string(state) ? json_string_value(state) : "");
		json_decref(root);
		return -1;
	}
	json_decref(root);
	*out = (enum vm_state_request)request;
	return 0;
}

static enum MHD_Result send_text(struct MHD_Connection *connection, unsigned status, const char *text,
				 const char *content_type)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result result;

	if (response == NULL)
		return MHD_NO;
	if (content_type != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	result = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return result;
}

static enum MHD_Result send_json(struct MHD_Connection *connection, unsigned status, json_t *value)
{
	char *text = value != NULL ? json_dumps(value, JSON_COMPACT) : NULL;
	enum MHD_Result result;

	json_decref(value);
	if (text == NULL)
		return send_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "{\"error\":\"out of memory\"}",
				 "application/json");
	result = send_text(connection, status, text, "application/json");
	free(text);
	return result;
}

static enum MHD_Result send_error(struct MHD_Connection *connection, unsigned status, const char *message)
{
	return send_json(connection, status, json_pack("{ss}", "error", message));
}

static enum MHD_Result send_method_not_allowed(struct MHD_Connection *connection, const char *allow)
{
	struct MHD_Response *response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result result;

	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	result = MHD_queue_response(connection, MHD_HTTP_METHOD_NOT_ALLOWED, response);
	MHD_destroy_response(response);
	return result;
}

static enum MHD_Result get_state(struct rest_server *server, struct MHD_Connection *connection)
{
	enum vm_state state = server->handlers.get_state(server->handlers.context);

	return send_json(connection, MHD_HTTP_OK,
			 json_pack("{sssbsbsbsbsb}", "state", vm_state_name(state), "canStart",
				   state == VM_STATE_STOPPED, "canPause", vm_state_allows(state, VM_REQUEST_PAUSE),
				   "canResume", vm_state_allows(state, VM_REQUEST_RESUME), "canStop",
				   vm_state_allows(state, VM_REQUEST_STOP), "canHardStop",
				   vm_state_allows(state, VM_REQUEST_HARD_STOP)));
}

static void log_line(struct rest_server *server, const char *fmt, const char *a, const char *b)
{
	char line[1200];

	if (server->handlers.log == NULL)
		return;
	snprintf(line, sizeof(line), fmt, a, b);
	server->handlers.log(server->handlers.context, line);
}

static enum MHD_Result post_state(struct rest_server *server, struct MHD_Connection *connection,
				  const struct rest_request *request)
{
	enum vm_state_request change;
	struct vzk_error err = {0};
	int http_status;

	if (rest_parse_state_body(request->body, request->body_len, &change, &http_status, &err) != 0) {
		log_line(server, "REST: state change refused: %s%s", err.message, "");
		return send_error(connection, (unsigned)http_status, err.message);
	}
	if (server->handlers.request_state(server->handlers.context, change, &err) != 0) {
		log_line(server, "REST: %s requested: failed: %s", vm_state_request_name(change), err.message);
		return send_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, err.message);
	}
	log_line(server, "REST: %s requested: accepted%s", vm_state_request_name(change), "");
	return send_text(connection, MHD_HTTP_ACCEPTED, "", NULL);
}

static enum MHD_Result get_inspect(struct rest_server *server, struct MHD_Connection *connection)
{
	char *text = server->handlers.inspect_json(server->handlers.context);
	enum MHD_Result result;

	if (text == NULL)
		return send_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot describe the VM");
	result = send_text(connection, MHD_HTTP_OK, text, "application/json");
	free(text);
	return result;
}

static bool declared_too_large(struct MHD_Connection *connection)
{
	const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return length != NULL && strtoull(length, NULL, 10) > REST_MAX_BODY_BYTES;
}

static enum MHD_Result handle_request(void *context, struct MHD_Connection *connection, const char *url,
				      const char *method, const char *version, const char *upload_data,
				      size_t *upload_data_size, void **request_context)
{
	struct rest_server *server = context;
	struct rest_request *request = *request_context;
	bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
	bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	(void)version;
	if (strcmp(url, "/vm/state") != 0 && strcmp(url, "/vm/inspect") != 0)
		return send_error(connection, MHD_HTTP_NOT_FOUND, "no such endpoint (try /vm/state or /vm/inspect)");
	if (strcmp(url, "/vm/inspect") == 0)
		return is_get ? get_inspect(server, connection) : send_method_not_allowed(connection, "GET");
	if (is_get)
		return get_state(server, connection);
	if (!is_post)
		return send_method_not_allowed(connection, "GET, POST");

	if (request == NULL) {
		/* First call, headers only: answer an oversized body before reading it. */
		if (declared_too_large(connection))
			return send_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
		request = calloc(1, sizeof(*request));
		if (request == NULL)
			return MHD_NO;
		*request_context = request;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (request->body_len + *upload_data_size > sizeof(request->body))
			request->too_large = true; /* chunked past the limit: drop the rest */
		else
			memcpy(request->body + request->body_len, upload_data, *upload_data_size);
		request->body_len += request->too_large ? 0 : *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (request->too_large)
		return send_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
	return post_state(server, connection, request);
}

static void request_completed(void *context, struct MHD_Connection *connection, void **request_context,
			      enum MHD_RequestTerminationCode code)
{
	(void)context;
	(void)connection;
	(void)code;
	free(*request_context);
	*request_context = NULL;
}

/* tcp://host:port binds that address; no host means loopback only. */
static int tcp_listen(const struct rest_uri *uri, struct vzk_error *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *found = NULL;
	char port[8];
	int fd = -1, status, saved = 0;

	snprintf(port, sizeof(port), "%u", (unsigned)uri->port);
	status = getaddrinfo(uri->host[0] != '\0' ? uri->host : "127.0.0.1", port, &hints, &found);
	if (status != 0)
		return vzk_usage_error(err, "--restful-uri: cannot resolve '%s': %s", uri->host, gai_strerror(status));
	for (struct addrinfo *ai = found; ai != NULL; ai = ai->ai_next) {
		int one = 1;
		fd = fd_set_cloexec(socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol));
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(found);
	if (fd < 0)
		return vzk_runtime_error(err, "--restful-uri: cannot listen on %s:%u: %s",
					 uri->host[0] ? uri->host : "127.0.0.1", (unsigned)uri->port, strerror(saved));
	return fd;
}

int rest_server_start(const struct rest_uri *uri, const struct rest_handlers *handlers,
		      struct rest_server **out, struct vzk_error *err)
{
	struct rest_server *server;

	*out = NULL;
	if (uri->kind == REST_URI_NONE)
		return 0;
	server = calloc(1, sizeof(*server));
	if (server == NULL)
		return vzk_runtime_error(err, "out of memory");
	server->handlers = *handlers;
	if (uri->kind == REST_URI_UNIX) {
		server->listen_fd = unix_socket_listen(uri->path, "--restful-uri", err);
		snprintf(server->unix_path, sizeof(server->unix_path), "%s", uri->path);
	} else {
		server->listen_fd = tcp_listen(uri, err);
	}
	if (server->listen_fd < 0) {
		free(server);
		return -1;
	}
	server->daemon = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC, 0, NULL, NULL, handle_request, server,
		MHD_OPTION_LISTEN_SOCKET, server->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)REST_THREADS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)REST_CONNECTION_TIMEOUT_SECONDS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)REST_CONNECTION_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
		MHD_OPTION_END);
	if (server->daemon == NULL) {
		close(server->listen_fd);
		if (server->unix_path[0] != '\0')
			unlink(server->unix_path);
		free(server);
		return vzk_runtime_error(err, "--restful-uri: cannot start the HTTP server");
	}
	*out = server;
	return 0;
}

void rest_server_stop(struct rest_server *server)
{
	if (server == NULL)
		return;
	MHD_stop_daemon(server->daemon);
	close(server->listen_fd);
	if (server->unix_path[0] != '\0')
		unlink(server->unix_path);
	free(server);
}

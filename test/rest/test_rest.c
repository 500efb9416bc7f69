/* The REST server (cmd/services/rest.c) against a fake VM (fake_vm.h), through
 * libcurl, on a unix socket and on TCP: every endpoint with its exact status,
 * body and headers; the body parser; the unix socket's mode, stale and live
 * sockets, files that are not sockets, removal at stop; clients that
 * connect and never send, and a slow engine, do not hold up other clients.
 *
 * `test_rest --serve URI` runs the server with the fake VM until SIGTERM or
 * SIGINT (for test_rest_curl.sh and manual tries), printing "ready" first. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd/services/rest.h"
#include "test/rest/fake_vm.h"
#include "test/rest/http_client.h"
#include "test/testlib.h"

/* vfkit answers with a gin.H map: Go writes its keys sorted. */
#define RUNNING_JSON                                                                                    \
	"{\"canHardStop\":true,\"canPause\":true,\"canResume\":false,\"canStart\":false,\"canStop\":true," \
	"\"state\":\"VirtualMachineStateRunning\"}"
#define PAUSED_JSON                                                                                    \
	"{\"canHardStop\":true,\"canPause\":false,\"canResume\":true,\"canStart\":false,\"canStop\":false," \
	"\"state\":\"VirtualMachineStatePaused\"}"
#define STOPPED_JSON                                                                                   \
	"{\"canHardStop\":false,\"canPause\":false,\"canResume\":false,\"canStart\":true,\"canStop\":false," \
	"\"state\":\"VirtualMachineStateStopped\"}"
/* gin's c.JSON */
#define JSON_TYPE "application/json; charset=utf-8"

static char temp_dir[64];

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void temp_path(char *dst, size_t size, const char *name)
{
	snprintf(dst, size, "%s/%s", temp_dir, name);
}

static struct rest_uri unix_uri(const char *path)
{
	struct rest_uri uri = {.kind = REST_URI_UNIX};
	snprintf(uri.path, sizeof(uri.path), "%s", path);
	return uri;
}

static struct rest_uri tcp_uri(const char *host, uint16_t port)
{
	struct rest_uri uri = {.kind = REST_URI_TCP, .port = port};
	snprintf(uri.host, sizeof(uri.host), "%s", host);
	return uri;
}

/* A bound unix socket at `path`: listening (a live server) or not (what a
 * dead process leaves). Returns the fd (close it to let go). */
static int make_socket_file(const char *path, bool listening)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || (listening && listen(fd, 4) != 0)) {
		printf("# cannot make socket %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A raw connection that sends `partial` (maybe "") and then nothing. */
static int connect_stuck(const struct http_target *target, uint16_t port, const char *partial)
{
	int fd;

	if (target->unix_path[0] != '\0') {
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", target->unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			close(fd);
			return -1;
		}
	} else {
		struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			close(fd);
			return -1;
		}
	}
	if (fd >= 0 && partial[0] != '\0' && write(fd, partial, strlen(partial)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the server has closed `fd` (EOF or error), waiting up to timeout_ms. */
static bool closed_by_server(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buffer[512];

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	for (;;) { /* a timeout may come with a response first (408) */
		ssize_t n = read(fd, buffer, sizeof(buffer));
		if (n <= 0)
			return true;
	}
}

/* Whether any log line contains every one of the (NULL-ended) words. */
static bool logged(struct fake_vm *vm, const char *word, ...)
{
	bool found = false;

	pthread_mutex_lock(&vm->lock);
	for (size_t i = 0; i < vm->log_count && !found; i++) {
		va_list args;
		const char *w = word;
		found = true;
		va_start(args, word);
		for (; w != NULL; w = va_arg(args, const char *))
			if (strstr(vm->logs[i], w) == NULL)
				found = false;
		va_end(args);
	}
	pthread_mutex_unlock(&vm->lock);
	return found;
}

static size_t request_count(struct fake_vm *vm)
{
	size_t n;
	pthread_mutex_lock(&vm->lock);
	n = vm->request_count;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

/* Whether `text` is a JSON object {"error": non-empty string} and nothing else. */
static bool is_error_json(const char *text)
{
	json_t *root = json_loads(text, 0, NULL);
	json_t *message = json_object_get(root, "error");
	bool ok = json_is_object(root) && json_object_size(root) == 1 && json_is_string(message) &&
		  json_string_length(message) > 0;
	json_decref(root);
	return ok;
}

/* ---- the body parser, alone ---- */

static void test_parse_state_body(void)
{
	static const struct {
		const char *body;
		int want;
		enum vm_state_request request;
		const char *message; /* vfkit's exact words where they are fixed; NULL: any */
	} cases[] = {
		{"{\"state\":\"Stop\"}", REST_BODY_OK, VM_REQUEST_STOP, NULL},
		{"{\"state\":\"HardStop\"}", REST_BODY_OK, VM_REQUEST_HARD_STOP, NULL},
		{"{\"state\":\"Pause\"}", REST_BODY_OK, VM_REQUEST_PAUSE, NULL},
		{"{\"state\":\"Resume\"}", REST_BODY_OK, VM_REQUEST_RESUME, NULL},
		{" {\n \"state\" : \"Stop\" } \n", REST_BODY_OK, VM_REQUEST_STOP, NULL},
		{"{\"other\":1,\"state\":\"Pause\",\"x\":[1,{}]}", REST_BODY_OK, VM_REQUEST_PAUSE, NULL},
		{"{\"State\":\"Pause\"}", REST_BODY_OK, VM_REQUEST_PAUSE, NULL},   /* Go matches names case-insensitively */
		{"{\"state\":\"Stop\",\"STATE\":\"Resume\"}", REST_BODY_OK, VM_REQUEST_RESUME, NULL}, /* the last wins */
		{"{\"state\":\"Stop\",\"state\":\"Pause\"}", REST_BODY_OK, VM_REQUEST_PAUSE, NULL},
		{"", REST_BODY_MALFORMED, 0, "EOF"},
		{" \r\n\t", REST_BODY_MALFORMED, 0, "EOF"},
		{"Stop", REST_BODY_MALFORMED, 0, NULL},
		{"{\"state\":\"Stop\"", REST_BODY_MALFORMED, 0, NULL},
		{"{\"state\":\"Stop\"} trailing", REST_BODY_OK, VM_REQUEST_STOP, NULL}, /* Go's Decoder reads one value */
		{"[\"Stop\"]", REST_BODY_MALFORMED, 0, "json: cannot unmarshal array into Go value of type define.VMState"},
		{"\"Stop\"", REST_BODY_MALFORMED, 0, "json: cannot unmarshal string into Go value of type define.VMState"},
		{"{}", REST_BODY_UNKNOWN_STATE, 0, "invalid new VMState: "},
		{"null", REST_BODY_UNKNOWN_STATE, 0, "invalid new VMState: "},
		{"{\"state\":null}", REST_BODY_UNKNOWN_STATE, 0, "invalid new VMState: "},
		{"{\"state\":5}", REST_BODY_MALFORMED, 0,
		 "json: cannot unmarshal number into Go struct field VMState.state of type string"},
		{"{\"state\":true}", REST_BODY_MALFORMED, 0,
		 "json: cannot unmarshal bool into Go struct field VMState.state of type string"},
		{"{\"state\":[\"Stop\"]}", REST_BODY_MALFORMED, 0, NULL},
		{"{\"state\":\"Stop\\u0000x\"}", REST_BODY_MALFORMED, 0, NULL},
		{"{\"state\":\"Reboot\"}", REST_BODY_UNKNOWN_STATE, 0, "invalid new VMState: Reboot"},
		{"{\"state\":\"stop\"}", REST_BODY_UNKNOWN_STATE, 0, NULL}, /* values are case-sensitive, as in vfkit */
		{"{\"state\":\"\"}", REST_BODY_UNKNOWN_STATE, 0, NULL},
		{"{\"state\":\"Stop \"}", REST_BODY_UNKNOWN_STATE, 0, NULL},
		{"{\"state\":\"VirtualMachineStateRunning\"}", REST_BODY_UNKNOWN_STATE, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vzk_error err = {0};
		enum vm_state_request request = (enum vm_state_request)99;
		int got = rest_parse_state_body(cases[i].body, strlen(cases[i].body), &request, &err);
		char name[160];

		snprintf(name, sizeof(name), "parse body %zu %.60s", i, cases[i].body);
		for (char *c = name; *c != '\0'; c++) /* one line per check */
			if (*c == '\n')
				*c = ' ';
		if (cases[i].want == REST_BODY_OK)
			CHECK_NAMED(name, got == REST_BODY_OK && request == cases[i].request && err.kind == VZK_ERR_NONE,
				    "got %d request %d (%s)", got, (int)request, err.message);
		else
			CHECK_NAMED(name, got == cases[i].want && err.message[0] != '\0' && request == 99 &&
					  (cases[i].message == NULL || strcmp(err.message, cases[i].message) == 0),
				    "got %d, want %d ('%s', want '%s')", got, cases[i].want, err.message,
				    cases[i].message != NULL ? cases[i].message : "(any)");
	}
	{
		struct vzk_error err = {0};
		enum vm_state_request request;
		const char body[] = "{\"state\":\"Stop\"}";
		/* the length is honoured: no NUL needed, none read past */
		CHECK_NAMED("parse body: length bounds the input",
			    rest_parse_state_body(body, 10, &request, &err) == REST_BODY_MALFORMED,
			    "a prefix parsed");
	}
	{
		struct vzk_error err = {0};
		enum vm_state_request request;
		const char body[] = "{\"state\":\"Re\\nboot\\u00e9\"}";
		rest_parse_state_body(body, strlen(body), &request, &err);
		CHECK_NAMED("parse body: an unknown state is shown as printable ASCII",
			    strcmp(err.message, "invalid new VMState: Re?boot?\?") == 0, "%s", err.message);
	}
}

/* ---- endpoints ---- */

static void check_reply(const char *name, const struct http_reply *reply, long status, const char *body,
			const char *content_type)
{
	bool ok = reply->code == CURLE_OK && reply->status == status;
	if (body != NULL)
		ok = ok && strcmp(reply->body, body) == 0;
	if (content_type != NULL)
		ok = ok && strcmp(reply->content_type, content_type) == 0;
	CHECK_NAMED(name, ok, "curl %d (%s), status %ld want %ld, body '%s' want '%s', content type '%s'",
		    (int)reply->code, curl_easy_strerror(reply->code), reply->status, status, reply->body,
		    body != NULL ? body : "(any)", reply->content_type);
}

static void post_state(const struct http_target *target, const char *body, struct http_reply *reply)
{
	http_request(target, "POST", "/vm/state", body, strlen(body), 0, reply);
}

/* Every endpoint and status on `target`; `label` names the transport. */
static void test_endpoints(const char *label, const struct http_target *target, struct fake_vm *vm)
{
	struct http_reply reply;
	char name[128];

#define NAME(what) (snprintf(name, sizeof(name), "%s: %s", label, (what)), name)
	fake_vm_set_state(vm, VM_STATE_RUNNING);
	fake_vm_clear_records(vm);

	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	check_reply(NAME("GET /vm/state running"), &reply, 200, RUNNING_JSON, JSON_TYPE);

	post_state(target, "{\"state\":\"Pause\"}", &reply);
	check_reply(NAME("POST Pause: 202, empty body"), &reply, 202, "", NULL);
	CHECK_NAMED(NAME("POST Pause reached the engine"), request_count(vm) == 1 && vm->requests[0] == VM_REQUEST_PAUSE,
		    "%zu requests", request_count(vm));
	CHECK_NAMED(NAME("POST Pause logged"), logged(vm, "Pause", "requested", NULL), "no log line");
	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	check_reply(NAME("GET /vm/state paused"), &reply, 200, PAUSED_JSON, JSON_TYPE);

	post_state(target, "{\"state\":\"Resume\"}", &reply);
	check_reply(NAME("POST Resume: 202"), &reply, 202, "", NULL);
	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	check_reply(NAME("GET /vm/state running after Resume"), &reply, 200, RUNNING_JSON, NULL);

	/* The engine refuses (request_state -1): 500 with its message, logged. */
	pthread_mutex_lock(&vm->lock);
	vm->refuse = true;
	pthread_mutex_unlock(&vm->lock);
	post_state(target, "{\"state\":\"Stop\"}", &reply);
	check_reply(NAME("POST Stop refused by the engine: 500 with its message"), &reply, 500,
		    "{\"error\":\"refused by the fake engine\"}", JSON_TYPE);
	CHECK_NAMED(NAME("refused Stop logged with the reason"),
		    logged(vm, "Stop", "failed", "refused by the fake engine", NULL), "no log line");
	pthread_mutex_lock(&vm->lock);
	vm->refuse = false;
	pthread_mutex_unlock(&vm->lock);
	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	check_reply(NAME("state unchanged after a refused Stop"), &reply, 200, RUNNING_JSON, NULL);

	post_state(target, "{\"state\":\"Stop\"}", &reply);
	check_reply(NAME("POST Stop: 202"), &reply, 202, "", NULL);
	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	check_reply(NAME("GET /vm/state stopped"), &reply, 200, STOPPED_JSON, NULL);
	post_state(target, "{\"state\":\"Pause\"}", &reply);
	check_reply(NAME("POST Pause on a stopped VM: 500"), &reply, 500,
		    "{\"error\":\"cannot Pause a VM in state VirtualMachineStateStopped\"}", JSON_TYPE);

	fake_vm_set_state(vm, VM_STATE_PAUSED);
	post_state(target, "{\"state\":\"HardStop\"}", &reply);
	check_reply(NAME("POST HardStop on a paused VM: 202"), &reply, 202, "", NULL);
	CHECK_NAMED(NAME("HardStop stopped the fake"), fake_vm_get_state(vm) == VM_STATE_STOPPED, "state %d",
		    (int)fake_vm_get_state(vm));
	fake_vm_set_state(vm, VM_STATE_RUNNING);

	/* Unknown state: 500, the engine never asked, the refusal logged. */
	fake_vm_clear_records(vm);
	post_state(target, "{\"state\":\"Reboot\"}", &reply);
	check_reply(NAME("POST unknown state: 500"), &reply, 500,
		    "{\"error\":\"invalid new VMState: Reboot\"}", JSON_TYPE);
	CHECK_NAMED(NAME("unknown state: engine not asked, logged"),
		    request_count(vm) == 0 && logged(vm, "refused", "Reboot", NULL), "%zu requests", request_count(vm));

	/* Not JSON, or no "state" string: 400. */
	{
		static const char *const bad[] = {"not json", "{\"state\":\"Stop\"", "[1]", "{\"state\":5}", ""};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char what[80];
			snprintf(what, sizeof(what), "POST malformed body '%s': 400 {\"error\":...}", bad[i]);
			post_state(target, bad[i], &reply);
			CHECK_NAMED(NAME(what), reply.status == 400 && is_error_json(reply.body) &&
						 strcmp(reply.content_type, JSON_TYPE) == 0,
				    "status %ld body '%s'", reply.status, reply.body);
		}
		http_request(target, "POST", "/vm/state", NULL, 0, 0, &reply);
		check_reply(NAME("POST without a body: 400 {\"error\":\"EOF\"} (gin's bind error)"), &reply, 400,
			    "{\"error\":\"EOF\"}", JSON_TYPE);
		post_state(target, "{}", &reply);
		check_reply(NAME("POST {}: 500, the state \"\" is refused as vfkit refuses it"), &reply, 500,
			    "{\"error\":\"invalid new VMState: \"}", JSON_TYPE);
		CHECK_NAMED(NAME("malformed bodies never reach the engine"), request_count(vm) == 0, "%zu requests",
			    request_count(vm));
	}

	/* A body in several chunks is put together. */
	{
		const char body[] = "{\"state\":\"Pause\",\"padding\":\""
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "...................................................................."
				    "\"}";
		http_request(target, "POST", "/vm/state", body, strlen(body), HTTP_CHUNKED, &reply);
		check_reply(NAME("POST chunked Pause (1 KiB in 2 chunks): 202"), &reply, 202, "", NULL);
		CHECK_NAMED(NAME("chunked Pause paused"), fake_vm_get_state(vm) == VM_STATE_PAUSED, "state %d",
			    (int)fake_vm_get_state(vm));
		fake_vm_set_state(vm, VM_STATE_RUNNING);
	}

	/* Bodies: exactly the limit is read; one byte more is 413, announced
	 * (Content-Length, with or without Expect: 100-continue) or chunked. */
	{
		static char body[REST_BODY_LIMIT * 16 + 1];
		const char *head = "{\"state\":\"Pause\"}";
		memset(body, ' ', sizeof(body) - 1);
		memcpy(body, head, strlen(head));

		http_request(target, "POST", "/vm/state", body, REST_BODY_LIMIT, 0, &reply);
		check_reply(NAME("POST body of exactly the limit: 202"), &reply, 202, "", NULL);
		fake_vm_set_state(vm, VM_STATE_RUNNING);
		fake_vm_clear_records(vm);
		http_request(target, "POST", "/vm/state", body, REST_BODY_LIMIT + 1, 0, &reply);
		CHECK_NAMED(NAME("POST body one byte over the limit: 413"), reply.status == 413 && is_error_json(reply.body),
			    "curl %d status %ld body '%s'", (int)reply.code, reply.status, reply.body);
		http_request(target, "POST", "/vm/state", body, sizeof(body) - 1, HTTP_EXPECT_100, &reply);
		CHECK_NAMED(NAME("POST 64 KiB with Expect: 100-continue: 413"),
			    reply.status == 413 && is_error_json(reply.body), "curl %d status %ld body '%s'",
			    (int)reply.code, reply.status, reply.body);
		http_request(target, "POST", "/vm/state", body, sizeof(body) - 1, HTTP_CHUNKED, &reply);
		CHECK_NAMED(NAME("POST 64 KiB chunked: 413"), reply.status == 413 && is_error_json(reply.body),
			    "curl %d status %ld body '%s'", (int)reply.code, reply.status, reply.body);
		CHECK_NAMED(NAME("oversized bodies never reach the engine"), request_count(vm) == 0, "%zu requests",
			    request_count(vm));
	}

	http_request(target, "GET", "/vm/inspect", NULL, 0, 0, &reply);
	check_reply(NAME("GET /vm/inspect: the handler's JSON"), &reply, 200, FAKE_VM_INSPECT_JSON, JSON_TYPE);
	pthread_mutex_lock(&vm->lock);
	vm->inspect_fails = true;
	pthread_mutex_unlock(&vm->lock);
	http_request(target, "GET", "/vm/inspect", NULL, 0, 0, &reply);
	CHECK_NAMED(NAME("GET /vm/inspect when the handler fails: 500"), reply.status == 500 && is_error_json(reply.body),
		    "status %ld body '%s'", reply.status, reply.body);
	pthread_mutex_lock(&vm->lock);
	vm->inspect_fails = false;
	pthread_mutex_unlock(&vm->lock);

	http_request(target, "HEAD", "/vm/state", NULL, 0, 0, &reply);
	check_reply(NAME("HEAD /vm/state: 200, no body"), &reply, 200, "", JSON_TYPE);
	http_request(target, "GET", "/vm/state?verbose=1", NULL, 0, 0, &reply);
	check_reply(NAME("GET /vm/state with a query: 200"), &reply, 200, RUNNING_JSON, NULL);

	/* Wrong method on a known path: 405 with Allow. */
	{
		static const struct {
			const char *method, *path, *allow;
		} cases[] = {
			{"PUT", "/vm/state", "GET, HEAD, POST"},
			{"DELETE", "/vm/state", "GET, HEAD, POST"},
			{"PATCH", "/vm/state", "GET, HEAD, POST"},
			{"POST", "/vm/inspect", "GET, HEAD"},
			{"DELETE", "/vm/inspect", "GET, HEAD"},
			{"OPTIONS", "/vm/inspect", "GET, HEAD"},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char what[80];
			const char *body = strcmp(cases[i].method, "POST") == 0 ? "{\"state\":\"Stop\"}" : NULL;
			snprintf(what, sizeof(what), "%s %s: 405, Allow: %s", cases[i].method, cases[i].path, cases[i].allow);
			http_request(target, cases[i].method, cases[i].path, body, body != NULL ? strlen(body) : 0, 0, &reply);
			CHECK_NAMED(NAME(what), reply.status == 405 && strcmp(reply.allow, cases[i].allow) == 0 &&
						 is_error_json(reply.body),
				    "status %ld allow '%s' body '%s'", reply.status, reply.allow, reply.body);
		}
		CHECK_NAMED(NAME("405s never reach the engine"), fake_vm_get_state(vm) == VM_STATE_RUNNING &&
								      request_count(vm) == 0,
			    "%zu requests", request_count(vm));
	}

	/* Unknown paths: 404. */
	{
		static const char *const paths[] = {"/", "/vm", "/vm/", "/vm/state/", "/vm/states", "/VM/STATE",
						    "/vm/state/x", "/vm/inspect/../state"};
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			char what[80];
			snprintf(what, sizeof(what), "GET %s: 404", paths[i]);
			http_request(target, "GET", paths[i], NULL, 0, 0, &reply);
			CHECK_NAMED(NAME(what), reply.status == 404 && is_error_json(reply.body), "status %ld body '%s'",
				    reply.status, reply.body);
		}
		http_request(target, "POST", "/vm/stop", "{\"state\":\"Stop\"}", 16, 0, &reply);
		CHECK_NAMED(NAME("POST to an unknown path: 404"), reply.status == 404, "status %ld", reply.status);
	}
	fake_vm_set_state(vm, VM_STATE_RUNNING);
#undef NAME
}

/* Reads one response to GET /vm/state from `fd` into `dst`: headers and
 * the RUNNING_JSON body. false on EOF, error or a 2 s silence. */
static bool read_state_response(int fd, char *dst, size_t size)
{
	size_t got = 0;
	const char *body = NULL;

	dst[0] = '\0';
	while (body == NULL || strlen(body) < strlen(RUNNING_JSON)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (got + 1 >= size || poll(&p, 1, 2000) <= 0)
			return false;
		n = read(fd, dst + got, size - 1 - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
		dst[got] = '\0';
		body = strstr(dst, "\r\n\r\n");
		if (body != NULL)
			body += 4;
	}
	return true;
}

/* Keep-alive: two requests on one connection, neither answered with
 * "Connection: close" (a connect per request would cost most of the time). */
static void test_keep_alive(const char *label, const struct http_target *target, uint16_t port)
{
	static const char request[] = "GET /vm/state HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char first[1024], second[1024], name[128];
	int fd = connect_stuck(target, port, request);
	bool got_first = fd >= 0 && read_state_response(fd, first, sizeof(first));
	bool got_second = got_first && write(fd, request, sizeof(request) - 1) == (ssize_t)(sizeof(request) - 1) &&
			  read_state_response(fd, second, sizeof(second));

	snprintf(name, sizeof(name), "%s: keep-alive, two GETs on one connection", label);
	CHECK_NAMED(name, got_second && strncmp(first, "HTTP/1.1 200 ", 13) == 0 &&
				  strncmp(second, "HTTP/1.1 200 ", 13) == 0 &&
				  strcasestr(first, "Connection: close") == NULL,
		    "first '%.80s', second '%.80s'", first, got_first ? second : "");
	if (fd >= 0)
		close(fd);
}

/* ---- clients that never send, a slow engine ---- */

struct slow_post {
	const struct http_target *target;
	struct http_reply reply;
	atomic_bool done;
};

static void *slow_post_main(void *context)
{
	struct slow_post *post = context;
	post_state(post->target, "{\"state\":\"Pause\"}", &post->reply);
	post->done = true;
	return NULL;
}

#define STUCK_CLIENTS 12

/* Clients that connect and send nothing or half a request hold no one up;
 * the server drops them after its timeout. Returns the stuck fds (closed
 * by the caller after checking the timeout). */
static void test_stuck_clients(const char *label, const struct http_target *target, uint16_t port,
			       int stuck[STUCK_CLIENTS])
{
	struct http_reply reply;
	char name[128];
	int connected = 0, still_open = 0;
	double start;

	for (int i = 0; i < STUCK_CLIENTS; i++) {
		stuck[i] = connect_stuck(target, port, i % 3 == 2 ? "GET /vm/state HTTP/1.1\r\nHo" : "");
		connected += stuck[i] >= 0;
	}
	start = now_seconds();
	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	for (int i = 0; i < STUCK_CLIENTS; i++)
		still_open += stuck[i] >= 0 && !closed_by_server(stuck[i], 0);
	snprintf(name, sizeof(name), "%s: GET answered while %d clients hang", label, STUCK_CLIENTS);
	CHECK_NAMED(name, connected == STUCK_CLIENTS && reply.status == 200 && strcmp(reply.body, RUNNING_JSON) == 0 &&
				  still_open == STUCK_CLIENTS,
		    "%d connected, %d still open, status %ld after %.3f s", connected, still_open, reply.status,
		    now_seconds() - start);
	printf("# %s: GET beside %d hanging clients took %.1f ms\n", label, STUCK_CLIENTS,
	       (now_seconds() - start) * 1000.0);
}

static void check_stuck_clients_dropped(const char *label, int stuck[STUCK_CLIENTS], double connected_at)
{
	char name[128];
	int dropped = 0;
	double deadline = connected_at + REST_CONNECTION_TIMEOUT_SECONDS + 4.0;

	for (int i = 0; i < STUCK_CLIENTS; i++) {
		int wait_ms = (int)((deadline - now_seconds()) * 1000.0);
		dropped += stuck[i] >= 0 && closed_by_server(stuck[i], wait_ms > 0 ? wait_ms : 0);
		if (stuck[i] >= 0)
			close(stuck[i]);
	}
	snprintf(name, sizeof(name), "%s: hanging clients dropped after the %d s timeout", label,
		 REST_CONNECTION_TIMEOUT_SECONDS);
	CHECK_NAMED(name, dropped == STUCK_CLIENTS, "%d of %d dropped", dropped, STUCK_CLIENTS);
}

/* A state change the engine takes 1.5 s to start does not hold up a GET. */
static void test_slow_engine(const char *label, const struct http_target *target, struct fake_vm *vm)
{
	struct slow_post post = {.target = target};
	struct http_reply reply;
	pthread_t thread;
	char name[128];
	bool post_done_before;
	double start;

	fake_vm_set_state(vm, VM_STATE_RUNNING);
	fake_vm_clear_records(vm);
	pthread_mutex_lock(&vm->lock);
	vm->request_delay_ms = 1500;
	pthread_mutex_unlock(&vm->lock);
	pthread_create(&thread, NULL, slow_post_main, &post);
	/* wait until the POST is in the engine */
	for (int i = 0; i < 500 && fake_vm_requests_started(vm) == 0; i++)
		nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
	start = now_seconds();
	http_request(target, "GET", "/vm/state", NULL, 0, 0, &reply);
	post_done_before = post.done;
	snprintf(name, sizeof(name), "%s: GET answered while a slow state change is under way", label);
	CHECK_NAMED(name, reply.status == 200 && !post_done_before && now_seconds() - start < 1.0,
		    "status %ld, POST already done: %d, %.3f s", reply.status, (int)post_done_before,
		    now_seconds() - start);
	pthread_join(thread, NULL);
	snprintf(name, sizeof(name), "%s: the slow state change completes: 202", label);
	CHECK_NAMED(name, post.reply.status == 202, "status %ld", post.reply.status);
	pthread_mutex_lock(&vm->lock);
	vm->request_delay_ms = 0;
	pthread_mutex_unlock(&vm->lock);
	fake_vm_set_state(vm, VM_STATE_RUNNING);
}

/* ---- the unix socket's file ---- */

/* This program's own bind(), in front of libc's (the executable's symbol wins
 * for the library's calls too): it binds through the system call and notes
 * the mode the socket file has the moment bind() creates it, before anything
 * after bind() (a chmod, say) could narrow it. */
static char bind_watch_path[108];
static int bind_watch_mode = -1;

int bind(int fd, __CONST_SOCKADDR_ARG address, socklen_t length)
{
	const struct sockaddr_un *unix_address = address.__sockaddr_un__;
	int status = (int)syscall(SYS_bind, fd, address.__sockaddr__, length);
	struct stat st;

	if (status == 0 && length > offsetof(struct sockaddr_un, sun_path) && unix_address->sun_family == AF_UNIX &&
	    bind_watch_path[0] != '\0' && strcmp(unix_address->sun_path, bind_watch_path) == 0 &&
	    lstat(bind_watch_path, &st) == 0)
		bind_watch_mode = (int)(st.st_mode & 07777);
	return status;
}

static void test_unix_socket_files(struct fake_vm *vm)
{
	struct rest_handlers handlers = fake_vm_handlers(vm);
	struct rest_server *server = NULL, *second = NULL;
	struct vzk_error err = {0};
	struct http_target target;
	struct http_reply reply;
	struct rest_uri uri;
	char path[128];
	struct stat st;
	mode_t previous;
	int fd;

	/* Mode 0600 even under a permissive umask. */
	temp_path(path, sizeof(path), "mode.sock");
	uri = unix_uri(path);
	snprintf(bind_watch_path, sizeof(bind_watch_path), "%.*s", (int)sizeof(bind_watch_path) - 1, path);
	previous = umask(0);
	CHECK_NAMED("unix: start under umask 0", rest_server_start(&uri, &handlers, &server, &err) == 0 && server != NULL,
		    "%s", err.message);
	mode_t umask_after = umask(previous);
	bind_watch_path[0] = '\0';
	CHECK_NAMED("unix: the socket is 0600 the moment bind() creates it, under umask 0 (no window)",
		    bind_watch_mode == 0600, "mode %o at bind", (unsigned)bind_watch_mode);
	CHECK_NAMED("unix: the caller's umask is given back", umask_after == 0, "umask %o after start",
		    (unsigned)umask_after);
	CHECK_NAMED("unix: socket mode is 0600", stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
		    "mode %o", (unsigned)st.st_mode);
	CHECK_NAMED("unix: rest_server_port is 0", rest_server_port(server) == 0, "%u", rest_server_port(server));

	/* A live server's socket is refused, named, and left alone. */
	vzk_error_clear(&err);
	CHECK_NAMED("unix: a live socket (our own server) is refused",
		    rest_server_start(&uri, &handlers, &second, &err) != 0 && second == NULL &&
			    strstr(err.message, path) != NULL && strstr(err.message, "in use") != NULL,
		    "error '%s'", err.message);
	http_target_unix(&target, path);
	http_request(&target, "GET", "/vm/state", NULL, 0, 0, &reply);
	CHECK_NAMED("unix: the live server still answers after the refused start", reply.status == 200,
		    "status %ld (%s)", reply.status, curl_easy_strerror(reply.code));
	rest_server_stop(server);
	server = NULL;
	CHECK_NAMED("unix: socket removed at stop", lstat(path, &st) != 0 && errno == ENOENT, "still there");

	/* A socket some other program listens on: refused too. */
	temp_path(path, sizeof(path), "other-live.sock");
	uri = unix_uri(path);
	fd = make_socket_file(path, true);
	vzk_error_clear(&err);
	CHECK_NAMED("unix: another program's live socket is refused with an error naming it",
		    fd >= 0 && rest_server_start(&uri, &handlers, &server, &err) != 0 && strstr(err.message, path) != NULL,
		    "error '%s'", err.message);
	CHECK_NAMED("unix: the other program's socket is left in place", lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
		    "gone");
	if (fd >= 0)
		close(fd);
	rest_server_stop(server);
	server = NULL;

	/* A dead process's socket (bound, nobody listening): replaced. */
	temp_path(path, sizeof(path), "stale.sock");
	uri = unix_uri(path);
	fd = make_socket_file(path, false);
	if (fd >= 0)
		close(fd);
	vzk_error_clear(&err);
	CHECK_NAMED("unix: a stale socket is replaced",
		    fd >= 0 && rest_server_start(&uri, &handlers, &server, &err) == 0 && server != NULL, "error '%s'",
		    err.message);
	http_target_unix(&target, path);
	http_request(&target, "GET", "/vm/state", NULL, 0, 0, &reply);
	CHECK_NAMED("unix: the server on a replaced stale socket answers", reply.status == 200, "status %ld",
		    reply.status);
	CHECK_NAMED("unix: the replacement is 0600", stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "mode %o",
		    (unsigned)st.st_mode);

	/* At stop, a socket that is no longer ours (replaced meanwhile) stays. */
	unlink(path);
	fd = make_socket_file(path, false);
	rest_server_stop(server);
	server = NULL;
	CHECK_NAMED("unix: stop leaves a socket file that another process put there",
		    fd >= 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode), "removed");
	if (fd >= 0)
		close(fd);
	unlink(path);

	/* Not a socket: never deleted. */
	temp_path(path, sizeof(path), "regular-file");
	uri = unix_uri(path);
	{
		FILE *f = fopen(path, "w");
		char content[32] = {0};
		if (f != NULL) {
			fputs("precious\n", f);
			fclose(f);
		}
		vzk_error_clear(&err);
		CHECK_NAMED("unix: a regular file at the path is an error naming it",
			    rest_server_start(&uri, &handlers, &server, &err) != 0 && server == NULL &&
				    strstr(err.message, path) != NULL && strstr(err.message, "not a socket") != NULL,
			    "error '%s'", err.message);
		f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(content, sizeof(content), f) == NULL)
				content[0] = '\0';
			fclose(f);
		}
		CHECK_NAMED("unix: the regular file is untouched", strcmp(content, "precious\n") == 0, "content '%s'",
			    content);
	}
	temp_path(path, sizeof(path), "a-directory");
	uri = unix_uri(path);
	mkdir(path, 0700);
	vzk_error_clear(&err);
	CHECK_NAMED("unix: a directory at the path is an error",
		    rest_server_start(&uri, &handlers, &server, &err) != 0 && strstr(err.message, "not a socket") != NULL &&
			    stat(path, &st) == 0 && S_ISDIR(st.st_mode),
		    "error '%s'", err.message);
	rmdir(path);

	/* A path in a folder that does not exist: an error naming it. */
	temp_path(path, sizeof(path), "missing-dir/api.sock");
	uri = unix_uri(path);
	vzk_error_clear(&err);
	CHECK_NAMED("unix: a path in a missing folder is an error naming it",
		    rest_server_start(&uri, &handlers, &server, &err) != 0 && strstr(err.message, path) != NULL,
		    "error '%s'", err.message);
}

/* Open descriptors of this process, or -1 where /proc is missing. */
static int open_fd_count(void)
{
	int count = 0;
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;

	if (dir == NULL)
		return -1;
	while ((entry = readdir(dir)) != NULL)
		count += entry->d_name[0] != '.';
	closedir(dir);
	return count;
}

/* Start and stop, with requests and failed starts between, leak nothing. */
static void test_no_descriptor_leak(struct fake_vm *vm)
{
	struct rest_handlers handlers = fake_vm_handlers(vm);
	struct http_target target;
	struct http_reply reply;
	struct rest_uri uri;
	char path[128];
	int before = open_fd_count(), after, answered = 0;

	if (before < 0) {
		SKIP("start/stop leaks no descriptor", "no /proc/self/fd");
		return;
	}
	temp_path(path, sizeof(path), "cycle.sock");
	uri = unix_uri(path);
	http_target_unix(&target, path);
	for (int i = 0; i < 10; i++) {
		struct rest_server *server = NULL, *refused = NULL;
		struct vzk_error err = {0};
		if (rest_server_start(&uri, &handlers, &server, &err) != 0)
			continue;
		rest_server_start(&uri, &handlers, &refused, &err); /* live: refused */
		http_request(&target, "GET", "/vm/state", NULL, 0, 0, &reply);
		answered += reply.status == 200;
		rest_server_stop(server);
	}
	after = open_fd_count();
	CHECK_NAMED("10 start/request/refused start/stop cycles leak no descriptor", answered == 10 && after == before,
		    "%d answered, %d descriptors before, %d after", answered, before, after);
}

/* ---- tcp addresses ---- */

/* A port free a moment ago (for tests that need a number in a URI). */
static uint16_t free_tcp_port(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A non-loopback IPv4 address of this host, or false. */
static bool external_ipv4(char *dst, size_t size)
{
	struct ifaddrs *list, *i;
	bool found = false;

	if (getifaddrs(&list) != 0)
		return false;
	for (i = list; i != NULL && !found; i = i->ifa_next) {
		struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
		if (a == NULL || a->sin_family != AF_INET || ntohl(a->sin_addr.s_addr) >> 24 == 127)
			continue;
		found = inet_ntop(AF_INET, &a->sin_addr, dst, (socklen_t)size) != NULL;
	}
	freeifaddrs(list);
	return found;
}

static void test_tcp_addresses(struct fake_vm *vm)
{
	struct rest_handlers handlers = fake_vm_handlers(vm);
	struct rest_server *server = NULL, *second = NULL;
	struct vzk_error err = {0};
	struct http_target target;
	struct http_reply reply;
	struct rest_uri uri;
	char address[64], text[128];

	/* tcp://localhost:PORT, through the URI parser: the name is resolved. */
	for (int attempt = 0; attempt < 5; attempt++) {
		uint16_t port = free_tcp_port();
		snprintf(text, sizeof(text), "tcp://localhost:%u", (unsigned)port);
		vzk_error_clear(&err);
		if (rest_uri_parse(text, &uri, &err) == 0 && rest_server_start(&uri, &handlers, &server, &err) == 0)
			break;
	}
	CHECK_NAMED("tcp: tcp://localhost:PORT starts", server != NULL && rest_server_port(server) == uri.port,
		    "%s: %s", text, err.message);
	if (server != NULL) {
		http_target_tcp(&target, "127.0.0.1", uri.port);
		http_request(&target, "GET", "/vm/state", NULL, 0, 0, &reply);
		check_reply("tcp: localhost binds 127.0.0.1 (IPv4 first, like vfkit)", &reply, 200, RUNNING_JSON, NULL);

		vzk_error_clear(&err);
		snprintf(address, sizeof(address), "%u", (unsigned)uri.port);
		CHECK_NAMED("tcp: a port in use is an error naming it",
			    rest_server_start(&uri, &handlers, &second, &err) != 0 && second == NULL &&
				    strstr(err.message, address) != NULL,
			    "error '%s'", err.message);
		rest_server_stop(server);
		server = NULL;
	}

	/* tcp://:PORT (no host): loopback only. */
	uri = tcp_uri("", 0);
	vzk_error_clear(&err);
	CHECK_NAMED("tcp: an empty host starts", rest_server_start(&uri, &handlers, &server, &err) == 0 &&
							 rest_server_port(server) != 0,
		    "%s", err.message);
	if (server != NULL) {
		http_target_tcp(&target, "127.0.0.1", rest_server_port(server));
		http_request(&target, "GET", "/vm/state", NULL, 0, 0, &reply);
		check_reply("tcp: an empty host answers on 127.0.0.1", &reply, 200, RUNNING_JSON, NULL);
		if (external_ipv4(address, sizeof(address))) {
			http_target_tcp(&target, address, rest_server_port(server));
			http_request(&target, "GET", "/vm/state", NULL, 0, 0, &reply);
			snprintf(text, sizeof(text), "tcp: an empty host does not answer on %s", address);
			CHECK_NAMED(text, reply.code == CURLE_COULDNT_CONNECT && reply.status == 0, "curl %d status %ld",
				    (int)reply.code, reply.status);
		} else {
			SKIP("tcp: an empty host does not answer on an external address", "this host has none");
		}
		rest_server_stop(server);
		server = NULL;
	}

	uri = tcp_uri("no-such-host.invalid", 8081);
	vzk_error_clear(&err);
	CHECK_NAMED("tcp: an unresolvable host is an error naming it",
		    rest_server_start(&uri, &handlers, &server, &err) != 0 &&
			    strstr(err.message, "no-such-host.invalid") != NULL,
		    "error '%s'", err.message);

	uri = (struct rest_uri){.kind = REST_URI_NONE};
	server = (struct rest_server *)&uri; /* must be overwritten */
	CHECK_NAMED("none://: starts nothing", rest_server_start(&uri, &handlers, &server, &err) == 0 && server == NULL,
		    "server %p", (void *)server);
	rest_server_stop(NULL);
}

/* ---- the two transports end to end ---- */

struct transport {
	const char *label;
	struct rest_server *server;
	struct http_target target;
	int stuck[STUCK_CLIENTS];
	double stuck_at;
};

static bool transport_start(struct transport *t, const char *label, const struct rest_uri *uri, struct fake_vm *vm)
{
	struct rest_handlers handlers = fake_vm_handlers(vm);
	struct vzk_error err = {0};
	char name[128];

	t->label = label;
	snprintf(name, sizeof(name), "%s: server starts", label);
	CHECK_NAMED(name, rest_server_start(uri, &handlers, &t->server, &err) == 0 && t->server != NULL, "%s",
		    err.message);
	if (t->server == NULL)
		return false;
	if (uri->kind == REST_URI_UNIX)
		http_target_unix(&t->target, uri->path);
	else
		http_target_tcp(&t->target, "127.0.0.1", rest_server_port(t->server));
	/* The hanging clients stay connected through every other test, which
	 * all run beside them; their timeout is checked at the end. */
	t->stuck_at = now_seconds();
	test_stuck_clients(label, &t->target, rest_server_port(t->server), t->stuck);
	test_keep_alive(label, &t->target, rest_server_port(t->server));
	return true;
}

static void transport_finish(struct transport *t)
{
	check_stuck_clients_dropped(t->label, t->stuck, t->stuck_at);
	rest_server_stop(t->server);
}

/* ---- --serve ---- */

static int serve(const char *text)
{
	struct fake_vm vm;
	struct rest_handlers handlers;
	struct rest_server *server = NULL;
	struct vzk_error err = {0};
	struct rest_uri uri;
	sigset_t set;
	int signal_number;

	fake_vm_init(&vm);
	handlers = fake_vm_handlers(&vm);
	handlers.log = NULL;
	/* The server's threads inherit the mask: the signals come to sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rest_uri_parse(text, &uri, &err) != 0 || rest_server_start(&uri, &handlers, &server, &err) != 0) {
		fprintf(stderr, "test_rest: %s\n", err.message);
		return 1;
	}
	printf("ready %u\n", (unsigned)rest_server_port(server));
	fflush(stdout);
	sigwait(&set, &signal_number);
	rest_server_stop(server);
	fake_vm_destroy(&vm);
	return 0;
}

int main(int argc, char **argv)
{
	/* files the tests leave on purpose (not the server's sockets) */
	static const char *const leftovers[] = {"other-live.sock", "regular-file"};
	struct fake_vm vm;
	struct rest_uri uri;
	struct transport transports[2];
	bool started[2];
	char path[128];

	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(temp_dir, sizeof(temp_dir), "/tmp/vzkit-rest.XXXXXX");
	if (mkdtemp(temp_dir) == NULL) {
		printf("FAIL setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	fake_vm_init(&vm);

	TEST_CASE("rest");
	test_parse_state_body();
	/* Both transports at once: their hanging clients time out together. */
	temp_path(path, sizeof(path), "api.sock");
	uri = unix_uri(path);
	started[0] = transport_start(&transports[0], "unix", &uri, &vm);
	uri = tcp_uri("127.0.0.1", 0);
	started[1] = transport_start(&transports[1], "tcp", &uri, &vm);
	for (int i = 0; i < 2; i++)
		if (started[i])
			test_endpoints(transports[i].label, &transports[i].target, &vm);
	for (int i = 0; i < 2; i++)
		if (started[i])
			test_slow_engine(transports[i].label, &transports[i].target, &vm);
	for (int i = 0; i < 2; i++)
		if (started[i])
			transport_finish(&transports[i]);
	test_unix_socket_files(&vm);
	test_tcp_addresses(&vm);
	test_no_descriptor_leak(&vm);

	fake_vm_destroy(&vm);
	curl_global_cleanup();
	for (size_t i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
		temp_path(path, sizeof(path), leftovers[i]);
		unlink(path);
	}
	CHECK_NAMED("temp folder empty at the end (every socket removed)", rmdir(temp_dir) == 0, "%s: %s", temp_dir,
		    strerror(errno));
	TEST_EXIT();
}

/* The REST server (cmd/services/rest.c) under pressure from another local
 * process's worth of connections, on its unix socket: 1,000 connections that
 * send nothing, then 1,000 that send their request one byte at a time (each
 * byte well inside the idle timeout, so none is ever timed out). Throughout,
 * a new client's GET /vm/state must be answered within 100 ms, every time;
 * state changes must keep working; the server's memory must stay bounded. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd/services/rest.h"
#include "test/rest/fake_vm.h"
#include "test/testlib.h"

#define PRESSURE_CONNECTIONS 1000
#define PROBES 30
#define PROBE_LIMIT_MS 100.0

static char socket_path[108];

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int connect_unix(void)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(address.sun_path, socket_path, strlen(socket_path));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request on a new connection; the whole response (Connection: close)
 * into `reply`. Returns the milliseconds it took, or -1. */
static double request(const char *text, char *reply, size_t size)
{
	double start = now_ms();
	int fd = connect_unix();
	size_t used = 0;

	reply[0] = '\0';
	if (fd < 0)
		return -1;
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd wait = {.fd = fd, .events = POLLIN};
		if (poll(&wait, 1, 2000) <= 0)
			break;
		ssize_t got = recv(fd, reply + used, size - 1 - used, 0);
		if (got <= 0)
			break;
		used += (size_t)got;
		if (used == size - 1)
			break;
	}
	reply[used] = '\0';
	close(fd);
	return used > 0 ? now_ms() - start : -1;
}

/* PROBES fresh GET /vm/state: the slowest and the median, in ms (-1: one failed). */
static void probe(const char *want_state, double *slowest, double *median)
{
	double times[PROBES];
	char reply[1024];

	*slowest = 0;
	for (int i = 0; i < PROBES; i++) {
		times[i] = request("GET /vm/state HTTP/1.1\r\nHost: vm\r\nConnection: close\r\n\r\n", reply,
				   sizeof(reply));
		if (times[i] < 0 || strstr(reply, " 200 ") == NULL || strstr(reply, want_state) == NULL) {
			*slowest = -1;
			*median = -1;
			return;
		}
		if (times[i] > *slowest)
			*slowest = times[i];
	}
	for (int i = 1; i < PROBES; i++)
		for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
			double t = times[j];
			times[j] = times[j - 1];
			times[j - 1] = t;
		}
	*median = times[PROBES / 2];
}

static bool post(const char *state)
{
	char body[64], text[256], reply[1024];

	snprintf(body, sizeof(body), "{\"state\":\"%s\"}", state);
	snprintf(text, sizeof(text),
		 "POST /vm/state HTTP/1.1\r\nHost: vm\r\nConnection: close\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	return request(text, reply, sizeof(reply)) >= 0 && strstr(reply, " 202 ") != NULL;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *file = fopen("/proc/self/status", "r");

	while (file != NULL && fgets(line, sizeof(line), file) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (file != NULL)
		fclose(file);
	return kib;
}

static enum vm_state vm_now(struct fake_vm *vm)
{
	enum vm_state state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return state;
}

/* ---- the pressure ---- */

struct pressure {
	int fds[PRESSURE_CONNECTIONS];
	size_t count;
	atomic_bool trickle; /* a thread sends one byte per connection per round */
	atomic_bool stop;
	pthread_t thread;
	atomic_size_t bytes_sent;
};

static void open_connections(struct pressure *pressure)
{
	pressure->count = 0;
	for (size_t i = 0; i < PRESSURE_CONNECTIONS; i++) {
		int fd = connect_unix();
		if (fd < 0)
			break;
		fcntl(fd, F_SETFL, O_NONBLOCK);
		pressure->fds[pressure->count++] = fd;
	}
}

static void close_connections(struct pressure *pressure)
{
	for (size_t i = 0; i < pressure->count; i++)
		close(pressure->fds[i]);
	pressure->count = 0;
}

/* A request that never ends, one byte at a time: a header line, then an
 * endless header value. Each connection gets a byte every round (about 1 s:
 * well inside the server's idle timeout). */
static void *trickle_main(void *context)
{
	static const char start[] = "GET /vm/state HTTP/1.1\r\nX-Slow: ";
	struct pressure *pressure = context;
	size_t position = 0;

	while (!pressure->stop) {
		char byte = position < sizeof(start) - 1 ? start[position] : 'a';
		for (size_t i = 0; i < pressure->count && !pressure->stop; i++) {
			if (send(pressure->fds[i], &byte, 1, MSG_NOSIGNAL) == 1)
				pressure->bytes_sent++;
		}
		position++;
		for (int i = 0; i < 10 && !pressure->stop; i++)
			nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	}
	return NULL;
}

static size_t still_open(const struct pressure *pressure)
{
	size_t open = 0;

	for (size_t i = 0; i < pressure->count; i++) {
		char byte;
		ssize_t got = recv(pressure->fds[i], &byte, 1, MSG_DONTWAIT | MSG_PEEK);
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			open++;
	}
	return open;
}

static void under_pressure(const char *label, struct fake_vm *vm, struct pressure *pressure)
{
	char name[160];
	double slowest, median;

	probe("Running", &slowest, &median);
	snprintf(name, sizeof(name), "%s: a new client's GET /vm/state within %.0f ms (%d tries: median %.1f ms, slowest %.1f ms)",
		 label, PROBE_LIMIT_MS, PROBES, median, slowest);
	CHECK_NAMED(name, slowest >= 0 && slowest < PROBE_LIMIT_MS, "slowest %.1f ms", slowest);
	printf("# %s: %zu connections held, GET /vm/state median %.2f ms, slowest %.2f ms\n", label, pressure->count,
	       median, slowest);
	snprintf(name, sizeof(name), "%s: state changes work (Pause, Resume)", label);
	bool paused = post("Pause");
	probe("Paused", &slowest, &median);
	bool resumed = post("Resume");
	CHECK_NAMED(name, paused && slowest >= 0 && resumed && vm_now(vm) == VM_STATE_RUNNING,
		    "pause %d (probe %.1f) resume %d", paused, slowest, resumed);
}

int main(void)
{
	struct fake_vm vm;
	struct rest_handlers handlers;
	struct rest_server *server = NULL;
	struct vzk_error err = {0};
	struct rest_uri uri = {.kind = REST_URI_UNIX};
	struct rlimit files;
	static struct pressure pressure;
	char dir[64] = "/tmp/vzkit-rest-pressure.XXXXXX";
	char name[160];
	long rss_before, rss_peak = 0;

	signal(SIGPIPE, SIG_IGN);
	/* Both ends of every connection live in this process. */
	if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 4 * PRESSURE_CONNECTIONS) {
		files.rlim_cur = files.rlim_max < 4 * PRESSURE_CONNECTIONS ? files.rlim_max : 4 * PRESSURE_CONNECTIONS;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	if (mkdtemp(dir) == NULL) {
		printf("FAIL rest pressure: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(socket_path, sizeof(socket_path), "%s/api.sock", dir);
	snprintf(uri.path, sizeof(uri.path), "%s", socket_path);
	fake_vm_init(&vm);
	handlers = fake_vm_handlers(&vm);
	handlers.log = NULL;
	CHECK_NAMED("rest pressure: server starts", rest_server_start(&uri, &handlers, &server, &err) == 0, "%s",
		    err.message);
	if (server == NULL)
		return 1;
	double slowest, median;
	probe("Running", &slowest, &median);
	printf("# unloaded: GET /vm/state median %.2f ms, slowest %.2f ms\n", median, slowest);
	rss_before = rss_kib();

	/* 1. idle connections */
	open_connections(&pressure);
	snprintf(name, sizeof(name), "rest pressure: %d idle connections opened", PRESSURE_CONNECTIONS);
	CHECK_NAMED(name, pressure.count == PRESSURE_CONNECTIONS, "only %zu", pressure.count);
	nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
	under_pressure("idle x1000", &vm, &pressure);
	if (rss_kib() > rss_peak)
		rss_peak = rss_kib();
	/* The idle ones are timed out; the server is unloaded again. */
	nanosleep(&(struct timespec){REST_CONNECTION_TIMEOUT_SECONDS + 1, 500 * 1000 * 1000}, NULL);
	snprintf(name, sizeof(name), "rest pressure: idle connections closed after %d s", REST_CONNECTION_TIMEOUT_SECONDS);
	size_t open = still_open(&pressure);
	CHECK_NAMED(name, open == 0, "%zu still open", open);
	close_connections(&pressure);

	/* 2. one byte at a time */
	open_connections(&pressure);
	pthread_create(&pressure.thread, NULL, trickle_main, &pressure);
	nanosleep(&(struct timespec){2, 0}, NULL);
	under_pressure("byte-at-a-time x1000", &vm, &pressure);
	nanosleep(&(struct timespec){REST_CONNECTION_TIMEOUT_SECONDS + 1, 0}, NULL);
	under_pressure("byte-at-a-time x1000, past the idle timeout", &vm, &pressure);
	if (rss_kib() > rss_peak)
		rss_peak = rss_kib();
	pressure.stop = true;
	pthread_join(pressure.thread, NULL);
	printf("# byte-at-a-time: %zu bytes sent, %zu of %zu connections still open\n", (size_t)pressure.bytes_sent,
	       still_open(&pressure), pressure.count);
	close_connections(&pressure);

	snprintf(name, sizeof(name), "rest pressure: memory bounded (RSS %ld KiB before, peak %ld KiB)", rss_before,
		 rss_peak);
	/* The limit: the per-connection memory pool times the connection limit,
	 * and this process holds the client ends too. */
	CHECK_NAMED(name, rss_peak - rss_before < 64 * 1024, "grew by %ld KiB", rss_peak - rss_before);
	rest_server_stop(server);
	fake_vm_destroy(&vm);
	rmdir(dir);
	TEST_EXIT();
}

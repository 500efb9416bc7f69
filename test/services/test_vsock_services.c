/* vsock services against a fake engine whose "guest" is the far end of
 * socketpairs: the port proxies in both directions, ignition over HTTP,
 * timesync's agent protocol, and the unix-socket rules. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd/services/unix_socket.h"
#include "cmd/services/vsock_services.h"
#include "test/testlib.h"
#include "vz/vz.h"

/* ---- the fake engine ---- */
struct listener_slot {
	uint32_t port;
	void (*on_connection)(void *, int);
	void *context;
};
static struct listener_slot listeners[8];
static size_t listener_count;
static int guest_side_of_connect = -1; /* the guest's end of the last vsock_connect */
static uint32_t last_connect_port;

static int fake_vsock_listen(struct engine_vm *vm, uint32_t port, void (*on_connection)(void *, int),
			     void *context, struct vzk_error *err)
{
	(void)vm;
	(void)err;
	listeners[listener_count++] = (struct listener_slot){port, on_connection, context};
	return 0;
}

static int fake_vsock_connect(struct engine_vm *vm, uint32_t port, int *fd, struct vzk_error *err)
{
	int pair[2];
	(void)vm;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
		return vzk_runtime_error(err, "socketpair");
	*fd = pair[0];
	guest_side_of_connect = pair[1];
	last_connect_port = port;
	return 0;
}

static const struct vz_engine_ops fake_engine = {
	.name = "fake",
	.vsock_listen = fake_vsock_listen,
	.vsock_connect = fake_vsock_connect,
};

/* The guest connects to host port `port`: returns the guest's end. */
static int guest_connects(uint32_t port)
{
	int pair[2];
	for (size_t i = 0; i < listener_count; i++) {
		if (listeners[i].port == port) {
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
				return -1;
			listeners[i].on_connection(listeners[i].context, pair[1]);
			return pair[0];
		}
	}
	return -1;
}

static ssize_t read_some(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	return read(fd, buf, size);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(a.sun_path, path, strnlen(path, sizeof(a.sun_path) - 1));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0)
		return -1;
	return fd;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(a.sun_path, path, strnlen(path, sizeof(a.sun_path) - 1));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static char dir[] = "/tmp/vzkit-vsock-test.XXXXXX";

static void test_port_proxies(void)
{
	struct vz_vm_configuration config = {0};
	struct vsock_services *services = NULL;
	struct vzk_error err = {0};
	char listen_path[256], connect_path[256], buf[64];
	int host_listener, host_conn, guest, client;
	ssize_t n;
	struct stat st;

	TEST_CASE("vsock listen-mode port carries guest connections to the host socket");
	snprintf(listen_path, sizeof(listen_path), "%s/ready.sock", dir);
	snprintf(connect_path, sizeof(connect_path), "%s/connect.sock", dir);
	host_listener = listen_unix(listen_path);
	struct vz_vsock_port *p = vz_add_vsock_port(&config);
	p->port = 1025;
	p->socket_path = strdup(listen_path);
	p->listen = true;
	p = vz_add_vsock_port(&config);
	p->port = 6;
	p->socket_path = strdup(connect_path);
	p->listen = false;
	config.socket_device = true;
	CHECK(vsock_services_start(&fake_engine, NULL, &config, &services, &err) == 0);
	CHECK(listener_count == 1 && listeners[0].port == 1025);
	guest = guest_connects(1025);
	host_conn = accept(host_listener, NULL, NULL);
	CHECK(guest >= 0 && host_conn >= 0);
	CHECK(write(guest, "Ready\n", 6) == 6);
	n = read_some(host_conn, buf, sizeof(buf), 2000);
	CHECK_NAMED("guest bytes reach the host socket", n == 6 && memcmp(buf, "Ready\n", 6) == 0, "got %zd", n);
	CHECK(write(host_conn, "pong", 4) == 4);
	n = read_some(guest, buf, sizeof(buf), 2000);
	CHECK_NAMED("host bytes reach the guest", n == 4 && memcmp(buf, "pong", 4) == 0, "got %zd", n);
	shutdown(guest, SHUT_WR);
	n = read_some(host_conn, buf, sizeof(buf), 2000);
	CHECK_NAMED("a guest half-close reaches the host as EOF", n == 0, "got %zd", n);
	CHECK(write(host_conn, "late", 4) == 4);
	n = read_some(guest, buf, sizeof(buf), 2000);
	CHECK_NAMED("the other direction stays open after a half-close", n == 4, "got %zd", n);
	close(guest);
	close(host_conn);

	TEST_CASE("vsock connect-mode port: vzkit listens on socketURL and dials the guest");
	CHECK_NAMED("connect-mode socket is created 0600", stat(connect_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    (st.st_mode & 0777) == 0600, "mode %o", (unsigned)st.st_mode);
	client = connect_unix(connect_path);
	CHECK(client >= 0);
	CHECK(write(client, "hello", 5) == 5);
	for (int i = 0; i < 100 && guest_side_of_connect < 0; i++)
		usleep(10000);
	CHECK_NAMED("the guest port dialled is the configured one", last_connect_port == 6, "port %u", last_connect_port);
	n = guest_side_of_connect >= 0 ? read_some(guest_side_of_connect, buf, sizeof(buf), 2000) : -1;
	CHECK_NAMED("host client bytes reach the guest", n == 5 && memcmp(buf, "hello", 5) == 0, "got %zd", n);

	TEST_CASE("stop closes live connections and removes the sockets vzkit made");
	vsock_services_stop(services);
	n = read_some(client, buf, sizeof(buf), 2000);
	CHECK_NAMED("a live proxied connection is closed at stop", n == 0 || n < 0, "got %zd", n);
	CHECK_NAMED("connect-mode socket removed at stop", stat(connect_path, &st) != 0, "still there");
	CHECK_NAMED("the host's own listen socket is left alone", stat(listen_path, &st) == 0, "gone");
	close(client);
	close(guest_side_of_connect);
	guest_side_of_connect = -1;
	close(host_listener);
	unlink(listen_path);
	vz_vm_configuration_free(&config);
	listener_count = 0;
}

static void test_socket_rules(void)
{
	struct vz_vm_configuration config = {0};
	struct vsock_services *services = NULL;
	struct vzk_error err = {0};
	char path[256];
	int live;
	FILE *file;

	snprintf(path, sizeof(path), "%s/rules.sock", dir);
	struct vz_vsock_port *p = vz_add_vsock_port(&config);
	p->port = 7;
	p->socket_path = strdup(path);
	p->listen = false;
	config.socket_device = true;

	TEST_CASE("a stale socket file is replaced");
	live = listen_unix(path);
	close(live); /* the file stays, nobody answers */
	CHECK(vsock_services_start(&fake_engine, NULL, &config, &services, &err) == 0);
	vsock_services_stop(services);

	TEST_CASE("a live socket is refused with a clear error");
	live = listen_unix(path);
	CHECK(vsock_services_start(&fake_engine, NULL, &config, &services, &err) != 0);
	CHECK_NAMED("the error names the path", strstr(err.message, path) != NULL && strstr(err.message, "in use") != NULL,
		    "%s", err.message);
	vsock_services_stop(services);
	close(live);
	unlink(path);

	TEST_CASE("a regular file at the path is never deleted");
	file = fopen(path, "w");
	fputs("precious", file);
	fclose(file);
	CHECK(vsock_services_start(&fake_engine, NULL, &config, &services, &err) != 0);
	vsock_services_stop(services);
	file = fopen(path, "r");
	CHECK_NAMED("the file is still there", file != NULL, "deleted");
	if (file != NULL)
		fclose(file);
	unlink(path);

	TEST_CASE("a socket path longer than sun_path is refused, naming the limit");
	{
		char long_path[160];
		memset(long_path, 'x', sizeof(long_path) - 1);
		long_path[0] = '/';
		long_path[sizeof(long_path) - 1] = '\0';
		vzk_error_clear(&err);
		CHECK_NAMED(testlib_case,
			    unix_socket_listen(long_path, "--device virtio-vsock", false, NULL, &err) < 0 &&
				    strstr(err.message, "1 to 107 bytes") != NULL,
			    "error '%s'", err.message);
		errno = 0;
		CHECK_NAMED("connecting to a path longer than sun_path fails with ENAMETOOLONG",
			    unix_socket_connect(long_path) < 0 && errno == ENAMETOOLONG, "errno %d", errno);
	}

	TEST_CASE("a live datagram socket at the path is refused and left alone (not taken for a stale one)");
	{
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		struct stat before, after;
		int dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
		snprintf(a.sun_path, sizeof(a.sun_path), "%s/dgram.sock", dir);
		CHECK(dgram >= 0 && bind(dgram, (struct sockaddr *)&a, sizeof(a)) == 0 && lstat(a.sun_path, &before) == 0);
		vzk_error_clear(&err);
		CHECK_NAMED(testlib_case,
			    unix_socket_listen(a.sun_path, "--device virtio-vsock", false, NULL, &err) < 0 &&
				    strstr(err.message, a.sun_path) != NULL,
			    "error '%s'", err.message);
		CHECK_NAMED("the other program's datagram socket file is still its own",
			    lstat(a.sun_path, &after) == 0 && after.st_ino == before.st_ino, "replaced or removed");
		close(dgram);
		unlink(a.sun_path);
	}

	TEST_CASE("an engine without vsock is a clear error");
	struct vz_engine_ops no_vsock = {.name = "novsock"};
	CHECK(vsock_services_start(&no_vsock, NULL, &config, &services, &err) != 0 &&
	      strstr(err.message, "vsock") != NULL);
	vsock_services_stop(services);
	vz_vm_configuration_free(&config);
	listener_count = 0;
}

static void test_ignition(void)
{
	struct vz_vm_configuration config = {0};
	struct vsock_services *services = NULL;
	struct vzk_error err = {0};
	char path[256], response[8192];
	const char *body = "{\"ignition\":{\"version\":\"3.4.0\"}}";
	const char *request = "GET / HTTP/1.1\r\nHost: ignition\r\nConnection: close\r\n\r\n";
	size_t used = 0;
	ssize_t n;
	int guest;
	FILE *file;

	TEST_CASE("ignition config is served over HTTP on vsock port 1024");
	snprintf(path, sizeof(path), "%s/config.ign", dir);
	file = fopen(path, "w");
	fputs(body, file);
	fclose(file);
	config.ignition_path = strdup(path);
	config.socket_device = true;
	CHECK(vsock_services_start(&fake_engine, NULL, &config, &services, &err) == 0);
	CHECK(listener_count == 1 && listeners[0].port == VZ_IGNITION_VSOCK_PORT);
	guest = guest_connects(VZ_IGNITION_VSOCK_PORT);
	CHECK(write(guest, request, strlen(request)) == (ssize_t)strlen(request));
	while (used < sizeof(response) - 1 && (n = read_some(guest, response + used, sizeof(response) - 1 - used, 3000)) > 0)
		used += (size_t)n;
	response[used] = '\0';
	CHECK_NAMED("ignition answers 200", strncmp(response, "HTTP/1.1 200", 12) == 0, "%.40s", response);
	CHECK_NAMED("ignition body is the file", strstr(response, body) != NULL, "%s", response);
	close(guest);
	vsock_services_stop(services);
	unlink(path);
	vz_vm_configuration_free(&config);
	listener_count = 0;
}

/* The whole HTTP response to one GET on the guest's end, in a malloc'd
 * buffer; *body points past the headers (NULL when there are none). */
static char *fetch_ignition(size_t *size, char **body)
{
	const char *request = "GET /config.ign HTTP/1.1\r\nHost: ignition\r\nConnection: close\r\n\r\n";
	size_t capacity = 1 << 20, used = 0;
	char *response = malloc(capacity);
	int guest = guest_connects(VZ_IGNITION_VSOCK_PORT);
	ssize_t n;

	*body = NULL;
	if (guest < 0 || write(guest, request, strlen(request)) != (ssize_t)strlen(request)) {
		*size = 0;
		return response;
	}
	while (used < capacity - 1 && (n = read_some(guest, response + used, capacity - 1 - used, 5000)) > 0)
		used += (size_t)n;
	response[used] = '\0';
	close(guest);
	char *end = strstr(response, "\r\n\r\n");
	if (end != NULL)
		*body = end + 4;
	*size = used;
	return response;
}

/* A config over one read chunk (the loader reads 64 KiB at a time) comes out
 * byte for byte; one over the limit is refused before the guest sees anything. */
static void test_ignition_sizes(void)
{
	struct vz_vm_configuration config = {0};
	struct vsock_services *services = NULL;
	struct vzk_error err = {0};
	char path[256], length_header[64];
	size_t size = 200 * 1024, response_size;
	char *body = malloc(size), *response, *served;
	FILE *file;

	TEST_CASE("ignition: a 200 KiB config is served byte for byte");
	/* every byte depends on its offset, so a chunk read to the wrong place shows */
	for (size_t i = 0; i < size; i++)
		body[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	memcpy(body, "{\"pad\":\"", 8);
	memcpy(body + size - 2, "\"}", 2);
	snprintf(path, sizeof(path), "%s/big.ign", dir);
	file = fopen(path, "w");
	CHECK(file != NULL && fwrite(body, 1, size, file) == size);
	fclose(file);
	config.ignition_path = strdup(path);
	config.socket_device = true;
	CHECK(vsock_services_start(&fake_engine, NULL, &config, &services, &err) == 0);
	response = fetch_ignition(&response_size, &served);
	snprintf(length_header, sizeof(length_header), "Content-Length: %zu\r\n", size);
	CHECK_NAMED("ignition: 200 KiB answer is 200 with the file's length",
		    strncmp(response, "HTTP/1.1 200", 12) == 0 && strcasestr(response, length_header) != NULL, "%.200s",
		    response);
	CHECK_NAMED("ignition: 200 KiB body equals the file",
		    served != NULL && (size_t)(response + response_size - served) == size && memcmp(served, body, size) == 0,
		    "body of %zd bytes differs", served != NULL ? (ssize_t)(response + response_size - served) : -1);
	free(response);

	TEST_CASE("ignition: anything but GET is answered 405 with no config");
	{
		const char *post = "POST / HTTP/1.1\r\nHost: ignition\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
		char answer[4096];
		size_t got = 0;
		ssize_t n;
		int guest = guest_connects(VZ_IGNITION_VSOCK_PORT);
		CHECK(guest >= 0 && write(guest, post, strlen(post)) == (ssize_t)strlen(post));
		while (got < sizeof(answer) - 1 && (n = read_some(guest, answer + got, sizeof(answer) - 1 - got, 3000)) > 0)
			got += (size_t)n;
		answer[got] = '\0';
		CHECK_NAMED("ignition: POST is answered 405", strncmp(answer, "HTTP/1.1 405", 12) == 0, "%.60s", answer);
		CHECK_NAMED("ignition: the 405 carries no config", strstr(answer, "{\"pad\"") == NULL, "config served");
		close(guest);
	}
	vsock_services_stop(services);
	services = NULL;
	listener_count = 0;

	TEST_CASE("ignition: a config of exactly 16 MiB is accepted");
	CHECK(truncate(path, 16 << 20) == 0);
	CHECK_NAMED(testlib_case, vsock_services_start(&fake_engine, NULL, &config, &services, &err) == 0, "%s",
		    err.message);
	vsock_services_stop(services);
	services = NULL;
	listener_count = 0;

	TEST_CASE("ignition: a config over 16 MiB is refused, naming the file and the limit");
	CHECK(truncate(path, (16 << 20) + 1) == 0);
	vzk_error_clear(&err);
	CHECK_NAMED(testlib_case,
		    vsock_services_start(&fake_engine, NULL, &config, &services, &err) != 0 &&
			    strstr(err.message, path) != NULL && strstr(err.message, "larger than 16 MiB") != NULL,
		    "error '%s'", err.message);
	CHECK_NAMED("ignition: nothing listens for the guest after the refusal", listener_count == 0,
		    "%zu listeners", listener_count);
	vsock_services_stop(services);
	services = NULL;
	listener_count = 0;

	TEST_CASE("ignition: a missing file is refused, naming it");
	unlink(path);
	vzk_error_clear(&err);
	CHECK_NAMED(testlib_case,
		    vsock_services_start(&fake_engine, NULL, &config, &services, &err) != 0 &&
			    strstr(err.message, path) != NULL && err.kind == VZK_ERR_USAGE,
		    "error '%s'", err.message);
	vsock_services_stop(services);
	listener_count = 0;
	vz_vm_configuration_free(&config);
	free(body);
}

/* This program's own clock_gettime(), in front of libc's: CLOCK_BOOTTIME
 * runs ahead by boottime_skew_ns, which is what a host suspend looks like
 * to timesync (CLOCK_MONOTONIC stops while suspended, CLOCK_BOOTTIME does not). */
static _Atomic long long boottime_skew_ns;

int clock_gettime(clockid_t clock, struct timespec *now)
{
	int status = (int)syscall(SYS_clock_gettime, clock, now);
	long long skew = boottime_skew_ns;

	if (status == 0 && clock == CLOCK_BOOTTIME && skew != 0) {
		long long ns = (long long)now->tv_sec * 1000000000LL + now->tv_nsec + skew;
		now->tv_sec = ns / 1000000000LL;
		now->tv_nsec = ns % 1000000000LL;
	}
	return status;
}

/* And its own timerfd_create()/timerfd_settime() while fake_clock_watch is
 * set: timesync's clock watch (a CANCEL_ON_SET timerfd the kernel cancels
 * on a resume) becomes a pipe this test makes readable, since a real resume
 * cannot be had here. Otherwise they are the system calls. */
static _Atomic bool fake_clock_watch;
static int fake_clock_watch_write_end = -1;

int timerfd_create(int clock, int flags)
{
	int pair[2];

	if (!fake_clock_watch)
		return (int)syscall(SYS_timerfd_create, clock, flags);
	if (pipe2(pair, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	fake_clock_watch_write_end = pair[1];
	return pair[0];
}

int timerfd_settime(int fd, int flags, const struct itimerspec *value, struct itimerspec *old)
{
	if (!fake_clock_watch)
		return (int)syscall(SYS_timerfd_settime, fd, flags, value, old);
	return 0;
}

struct fake_agent {
	int fd;
	bool fail;
	char received[1024];
};

static void *fake_agent_main(void *context)
{
	struct fake_agent *agent = context;
	size_t used = 0;
	ssize_t n;
	while (used < sizeof(agent->received) - 1 &&
	       (n = read_some(agent->fd, agent->received + used, sizeof(agent->received) - 1 - used, 3000)) > 0) {
		used += (size_t)n;
		if (memchr(agent->received, '\n', used) != NULL)
			break;
	}
	agent->received[used] = '\0';
	const char *reply = agent->fail ? "{\"error\":{\"class\":\"GenericError\",\"desc\":\"not permitted\"}}\n"
					: "{\"return\": {}}\n";
	if (write(agent->fd, reply, strlen(reply)) < 0)
		agent->fail = true;
	return NULL;
}

/* Voluntary context switches of every thread but the main one: how often
 * they went to sleep again after waking. */
static long other_threads_voluntary_switches(void)
{
	char path[300], line[128];
	long total = 0;
	DIR *tasks = opendir("/proc/self/task");
	struct dirent *task;

	while (tasks != NULL && (task = readdir(tasks)) != NULL) {
		if (task->d_name[0] == '.' || strtol(task->d_name, NULL, 10) == (long)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", task->d_name);
		FILE *status = fopen(path, "r");
		if (status == NULL)
			continue;
		while (fgets(line, sizeof(line), status) != NULL)
			if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
				total += strtol(line + 24, NULL, 10);
		fclose(status);
	}
	if (tasks != NULL)
		closedir(tasks);
	return total;
}

enum { QUIET_ATTEMPTS = 5 };

/* Whether the realtime clock was set since `control` was opened (closes it).
 * A watch that could not be made counts as set: nothing is then asserted. */
static bool clock_was_set(int control)
{
	struct pollfd set = {.fd = control, .events = POLLIN};
	bool fired = control < 0 || (poll(&set, 1, 0) == 1 && timesync_clock_watch_fired(control));

	if (control >= 0)
		close(control);
	return fired;
}

static void test_timesync(void)
{
	int pair[2];
	pthread_t thread;
	struct fake_agent agent = {0};
	struct vzk_error err = {0};
	json_t *sent;
	struct timespec now;

	TEST_CASE("timesync detects a host suspend from CLOCK_BOOTTIME gaining on CLOCK_MONOTONIC");
	CHECK(timesync_host_resumed(5000000000LL, 5000000000LL + 30000000000LL));
	CHECK(!timesync_host_resumed(5000000000LL, 5000000000LL + 1000000LL));

	/* These hosts are virtual machines that get snapshotted and restored:
	 * their realtime clock is then set, sometimes many times a second. Each
	 * quiet window is watched by a clock watch of the test's own, and a
	 * window in which the host's clock was set is tried again. */
	bool measured = false;
	for (int attempt = 0; attempt < QUIET_ATTEMPTS && !measured; attempt++) {
		int control = timesync_clock_watch_open();
		int watch = timesync_clock_watch_open();
		struct pollfd quiet = {.fd = watch, .events = POLLIN};
		bool fired = watch < 0 || poll(&quiet, 1, 300) != 0 || timesync_clock_watch_fired(watch);
		if (!clock_was_set(control)) {
			CHECK_NAMED("timesync's clock watch stays quiet while the clock runs normally", !fired,
				    "the watch fired though the clock was not set");
			measured = true;
		}
		if (watch >= 0)
			close(watch);
	}
	if (!measured)
		SKIP("timesync's clock watch stays quiet while the clock runs normally",
		     "the host's clock was set during each of %d windows", QUIET_ATTEMPTS);

	struct timesync *timesync = NULL;
	measured = false;
	CHECK_NAMED("the timesync thread starts", timesync_start(&fake_engine, NULL, 7, &timesync, &err) == 0 &&
							  timesync != NULL, "%s", err.message);
	for (int attempt = 0; attempt < QUIET_ATTEMPTS && !measured && timesync != NULL; attempt++) {
		int control = timesync_clock_watch_open();
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
		long before = other_threads_voluntary_switches();
		nanosleep(&(struct timespec){2, 500 * 1000 * 1000}, NULL);
		long woke = other_threads_voluntary_switches() - before;
		if (!clock_was_set(control)) {
			CHECK_NAMED("timesync: 0 wake-ups in 2.5 s (the old loop woke every second)", woke == 0,
				    "%ld wake-ups", woke);
			measured = true;
		}
	}
	if (!measured && timesync != NULL)
		SKIP("timesync: 0 wake-ups in 2.5 s (the old loop woke every second)",
		     "the host's clock was set during each of %d windows", QUIET_ATTEMPTS);
	timesync_stop(timesync);

	TEST_CASE("timesync sends guest-set-time with the host clock");
	socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
	agent.fd = pair[1];
	pthread_create(&thread, NULL, fake_agent_main, &agent);
	CHECK(timesync_set_guest_time(pair[0], &err) == 0);
	pthread_join(thread, NULL);
	sent = json_loads(agent.received, 0, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	json_int_t sent_ns = json_integer_value(json_object_get(json_object_get(sent, "arguments"), "time"));
	json_int_t now_ns = (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec;
	CHECK_STR(json_string_value(json_object_get(sent, "execute")), "guest-set-time");
	CHECK_NAMED("the time sent is the host's, in ns", sent_ns <= now_ns && now_ns - sent_ns < 2000000000LL,
		    "sent %lld now %lld", (long long)sent_ns, (long long)now_ns);
	json_decref(sent);
	close(pair[0]);
	close(pair[1]);

	TEST_CASE("a guest agent error reaches the caller");
	socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
	agent.fd = pair[1];
	agent.fail = true;
	pthread_create(&thread, NULL, fake_agent_main, &agent);
	CHECK(timesync_set_guest_time(pair[0], &err) != 0);
	pthread_join(thread, NULL);
	CHECK_NAMED("the agent's message is in the error", strstr(err.message, "not permitted") != NULL, "%s", err.message);
	close(pair[0]);
	close(pair[1]);
}

/* The guest agent's end of the connection timesync makes: waits for it. */
static void *agent_on_connect_main(void *context)
{
	struct fake_agent *agent = context;

	for (int i = 0; i < 500 && guest_side_of_connect < 0; i++)
		usleep(10000);
	agent->fd = guest_side_of_connect;
	if (agent->fd < 0)
		return NULL;
	return fake_agent_main(agent);
}

static void test_timesync_after_suspend(void)
{
	struct timesync *timesync = NULL;
	struct vzk_error err = {0};
	struct fake_agent agent = {.fd = -1};
	struct timespec before, after;
	pthread_t thread;

	TEST_CASE("timesync: nothing runs without --timesync");
	CHECK(timesync_start(&fake_engine, NULL, 0, &timesync, &err) == 0 && timesync == NULL);

	TEST_CASE("timesync: after a host suspend the guest clock is set over the agent's vsock port");
	guest_side_of_connect = -1;
	last_connect_port = 0;
	fake_clock_watch = true;
	CHECK(timesync_start(&fake_engine, NULL, 4321, &timesync, &err) == 0 && timesync != NULL);
	usleep(300000);
	CHECK_NAMED("timesync: no connection while the host does not sleep", guest_side_of_connect < 0, "connected");
	pthread_create(&thread, NULL, agent_on_connect_main, &agent);
	boottime_skew_ns = 30000000000LL; /* the host slept 30 s */
	CHECK_NAMED("timesync: the clock watch was armed", fake_clock_watch_write_end >= 0, "no watch");
	if (fake_clock_watch_write_end >= 0 && write(fake_clock_watch_write_end, "resumed!", 8) != 8)
		perror("write");
	pthread_join(thread, NULL);
	CHECK_NAMED("timesync: the agent's port is dialled", last_connect_port == 4321, "port %u", last_connect_port);
	json_t *sent = json_loads(agent.received, 0, NULL);
	CHECK_NAMED("timesync: guest-set-time is sent after the suspend",
		    sent != NULL && json_is_string(json_object_get(sent, "execute")) &&
			    strcmp(json_string_value(json_object_get(sent, "execute")), "guest-set-time") == 0,
		    "received '%s'", agent.received);
	json_decref(sent);
	clock_gettime(CLOCK_MONOTONIC, &before);
	timesync_stop(timesync);
	clock_gettime(CLOCK_MONOTONIC, &after);
	long long stop_ms = (after.tv_sec - before.tv_sec) * 1000LL + (after.tv_nsec - before.tv_nsec) / 1000000;
	CHECK_NAMED("timesync: stop returns at once", stop_ms < 500, "%lld ms",
		    stop_ms);
	if (agent.fd >= 0)
		close(agent.fd);
	guest_side_of_connect = -1;
	boottime_skew_ns = 0;
	fake_clock_watch = false;
	if (fake_clock_watch_write_end >= 0)
		close(fake_clock_watch_write_end);
	fake_clock_watch_write_end = -1;
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	test_port_proxies();
	test_socket_rules();
	test_ignition();
	test_ignition_sizes();
	test_timesync();
	test_timesync_after_suspend();
	rmdir(dir);
	TEST_EXIT();
}

/* --timesync: after the host resumes from suspend, the guest's clock is set
 * through qemu-guest-agent (guest-set-time) on the given vsock port. A resume
 * shows as a clock that counts suspend gaining on one that stops during it:
 * CLOCK_BOOTTIME and CLOCK_MONOTONIC on Linux; on macOS, CLOCK_MONOTONIC
 * (which counts sleep there) and CLOCK_UPTIME_RAW.
 *
 * Noticing it without waking up (doc/performance.md): on Linux the thread
 * sleeps on a CLOCK_REALTIME timerfd armed far in the future with
 * TFD_TIMER_CANCEL_ON_SET. The kernel cancels such timers whenever the wall
 * clock moves against CLOCK_MONOTONIC: when it is set, and on every resume
 * (timekeeping_resume calls timerfd_resume). The read then fails with
 * ECANCELED, and the BOOTTIME-MONOTONIC gap tells a resume from a clock set.
 * A CLOCK_BOOTTIME timer would not do: no timer fires because time passed
 * asleep unless it was due. Elsewhere the thread looks once a second. */
#include "cmd/services/timesync.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/timerfd.h>
#endif

#include "cmd/log/log.h"
#include "cmd/services/unix_socket.h"

#if defined(__APPLE__)
#define CLOCK_COUNTING_SUSPEND CLOCK_MONOTONIC
#define CLOCK_STOPPED_IN_SUSPEND CLOCK_UPTIME_RAW
#else
#define CLOCK_COUNTING_SUSPEND CLOCK_BOOTTIME
#define CLOCK_STOPPED_IN_SUSPEND CLOCK_MONOTONIC
#endif

struct timesync {
	const struct vz_engine_ops *engine;
	struct engine_vm *vm;
	uint32_t port;
	pthread_t thread;
	bool thread_started;
	atomic_bool stopping;
	int wake_pipe[2]; /* 'x' once at stop; 's' for a sync now (timesync_sync_now) */
};

bool timesync_host_resumed(int64_t boottime_minus_monotonic_ns_before,
			   int64_t boottime_minus_monotonic_ns_now)
{
	return boottime_minus_monotonic_ns_now - boottime_minus_monotonic_ns_before >= 1000000000LL;
}

static int64_t boottime_minus_monotonic(void)
{
	struct timespec boottime, monotonic;
	clock_gettime(CLOCK_COUNTING_SUSPEND, &boottime);
	clock_gettime(CLOCK_STOPPED_IN_SUSPEND, &monotonic);
	return (int64_t)(boottime.tv_sec - monotonic.tv_sec) * 1000000000LL +
	       (boottime.tv_nsec - monotonic.tv_nsec);
}

int timesync_set_guest_time(int agent_fd, struct vzk_error *err)
{
	struct timespec now;
	json_t *command;
	char *text;
	char reply[4096];
	size_t used = 0;
	json_t *parsed;
	json_error_t json_err;
	int status;

	clock_gettime(CLOCK_REALTIME, &now);
	command = json_pack("{s:s, s:{s:I}}", "execute", "guest-set-time", "arguments", "time",
			    (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec);
	text = command != NULL ? json_dumps(command, JSON_COMPACT) : NULL;
	json_decref(command);
	if (text == NULL)
		return vzk_runtime_error(err, "timesync: out of memory");
	size_t len = strlen(text);
	status = write(agent_fd, text, len) == (ssize_t)len && write(agent_fd, "\n", 1) == 1 ? 0 : -1;
	free(text);
	if (status != 0)
		return vzk_runtime_error(err, "timesync: cannot write to the guest agent: %s", strerror(errno));
	/* The agent answers one JSON object per line. */
	while (used < sizeof(reply) - 1) {
		struct pollfd wait = {.fd = agent_fd, .events = POLLIN};
		ssize_t got;
		if (poll(&wait, 1, 5000) <= 0)
			return vzk_runtime_error(err, "timesync: the guest agent did not answer");
		got = read(agent_fd, reply + used, sizeof(reply) - 1 - used);
		if (got <= 0)
			return vzk_runtime_error(err, "timesync: the guest agent closed the connection");
		used += (size_t)got;
		if (memchr(reply, '\n', used) != NULL)
			break;
	}
	reply[used] = '\0';
	parsed = json_loads(reply, JSON_DISABLE_EOF_CHECK, &json_err);
	if (parsed == NULL)
		return vzk_runtime_error(err, "timesync: the guest agent's answer is not JSON");
	status = json_object_get(parsed, "return") != NULL ? 0 : -1;
	if (status != 0) {
		json_t *desc = json_object_get(json_object_get(parsed, "error"), "desc");
		vzk_runtime_error(err, "timesync: guest-set-time failed: %s",
				  json_is_string(desc) ? json_string_value(desc) : "unknown error");
	}
	json_decref(parsed);
	return status;
}

static void sync_guest_clock(struct timesync *timesync, const char *why)
{
	struct vzk_error err = {0};
	int fd;

	log_message(LOG_LEVEL_INFO, "timesync: %s; setting the guest clock", why);
	if (timesync->engine->vsock_connect(timesync->vm, timesync->port, &fd, &err) == 0) {
		if (timesync_set_guest_time(fd, &err) != 0)
			log_message(LOG_LEVEL_ERROR, "%s", err.message);
		else
			log_message(LOG_LEVEL_INFO, "timesync: the guest clock was set");
		close(fd);
	} else {
		log_message(LOG_LEVEL_ERROR, "timesync: %s", err.message);
	}
}

int timesync_clock_watch_open(void)
{
#if defined(__linux__)
	int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	/* Absolute, ~30 years ahead: never due, only ever cancelled. */
	struct itimerspec far = {.it_value = {.tv_sec = time(NULL) + (30LL * 365 * 24 * 3600)}};

	if (fd < 0)
		return -1;
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, NULL) != 0) {
		close(fd);
		return -1;
	}
	return fd;
#else
	return -1;
#endif
}

int timesync_clock_watch_fired(int watch_fd)
{
	uint64_t expirations;

	if (read(watch_fd, &expirations, sizeof(expirations)) < 0 && errno == ECANCELED)
		return 1;
	return 0;
}

static void *timesync_main(void *context)
{
	struct timesync *timesync = context;
	int64_t last = boottime_minus_monotonic();
	int watch = timesync_clock_watch_open();

	for (;;) {
		struct pollfd polls[2] = {{.fd = timesync->wake_pipe[0], .events = POLLIN},
					  {.fd = watch, .events = POLLIN}};
		int64_t now;
		/* With the clock watch: no timeout at all. Without: a look a second. */
		int ready = poll(polls, 2, watch >= 0 ? -1 : 1000);
		if (atomic_load(&timesync->stopping))
			break;
		if (ready < 0)
			continue;
		if (polls[0].revents != 0) {
			char request;
			if (read(timesync->wake_pipe[0], &request, 1) != 1 || request != 's')
				break;
			sync_guest_clock(timesync, "asked for (SIGUSR2)");
			continue;
		}
		if (watch >= 0) {
			if (!(polls[1].revents & POLLIN))
				continue;
			if (timesync_clock_watch_fired(watch)) {
				/* A cancelled timer stays cancelled: arm a new one. */
				close(watch);
				watch = timesync_clock_watch_open();
			}
		}
		now = boottime_minus_monotonic();
		if (timesync_host_resumed(last, now))
			sync_guest_clock(timesync, "the host resumed");
		last = now;
	}
	if (watch >= 0)
		close(watch);
	return NULL;
}

int timesync_start(const struct vz_engine_ops *engine, struct engine_vm *vm, uint32_t port,
		   struct timesync **out, struct vzk_error *err)
{
	struct timesync *timesync;

	*out = NULL;
	if (port == 0)
		return 0;
	timesync = calloc(1, sizeof(*timesync));
	if (timesync == NULL)
		return vzk_runtime_error(err, "out of memory");
	timesync->engine = engine;
	timesync->vm = vm;
	timesync->port = port;
	timesync->wake_pipe[0] = timesync->wake_pipe[1] = -1;
	*out = timesync;
	if (pipe(timesync->wake_pipe) != 0)
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	fd_set_cloexec(timesync->wake_pipe[0]);
	fd_set_cloexec(timesync->wake_pipe[1]);
	if (pthread_create(&timesync->thread, NULL, timesync_main, timesync) != 0)
		return vzk_runtime_error(err, "cannot start the timesync thread");
	timesync->thread_started = true;
	return 0;
}

bool timesync_sync_now(struct timesync *timesync)
{
	if (timesync == NULL || timesync->wake_pipe[1] < 0)
		return false;
	return write(timesync->wake_pipe[1], "s", 1) == 1;
}

void timesync_stop(struct timesync *timesync)
{
	if (timesync == NULL)
		return;
	atomic_store(&timesync->stopping, true);
	if (timesync->wake_pipe[1] >= 0 && write(timesync->wake_pipe[1], "x", 1) != 1)
		log_message(LOG_LEVEL_DEBUG, "timesync: wake pipe write failed");
	if (timesync->thread_started)
		pthread_join(timesync->thread, NULL);
	if (timesync->wake_pipe[0] >= 0) {
		close(timesync->wake_pipe[0]);
		close(timesync->wake_pipe[1]);
	}
	free(timesync);
}

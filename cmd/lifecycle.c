#include "cmd/lifecycle.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/services/cloudinit.h"
#include "cmd/services/fetch.h"
#include "cmd/log/log.h"
#include "cmd/output.h"
#include "cmd/services/rest.h"
#include "cmd/services/vsock_services.h"
#include "devices/registry.h"
#include "vz/cleanup_watcher.h"

struct lifecycle {
	const struct vz_engine_ops *engine;
	struct engine_vm *vm;
	const struct vm_description *description;
	pthread_t signal_thread;
	bool signal_thread_started;
	atomic_bool finished;
	/* A stop was asked for (signal or REST): a start it interrupts is no failure. */
	atomic_bool stop_requested;
	/* Set once the vsock services run; read by the signal thread (SIGUSR2),
	 * which ends before they are stopped. */
	struct vsock_services *_Atomic services;
};

/* ---- REST handlers: thin, thread-safe calls into the engine ---- */

static enum vm_state rest_get_state(void *context)
{
	struct lifecycle *life = context;
	return life->engine->state(life->vm);
}

static int rest_request_state(void *context, enum vm_state_request request, struct vzk_error *err)
{
	struct lifecycle *life = context;
	int status = life->engine->request(life->vm, request, err);

	if (status == 0 && (request == VM_REQUEST_STOP || request == VM_REQUEST_HARD_STOP))
		life->stop_requested = true;
	return status;
}

/* The VM JSON plus what only a running VM knows: each pty's name. */
static char *rest_inspect_json(void *context)
{
	struct lifecycle *life = context;
	json_t *root = vm_description_to_json(life->description);
	json_t *devices = json_object_get(root, "devices");
	size_t serial_index = 0;
	char *text;

	for (size_t i = 0; i < life->description->device_count && devices != NULL; i++) {
		const struct component *device = &life->description->devices[i];
		if (device->ops != &virtio_serial_device)
			continue;
		if (component_given(device->ops, device->given, "pty") && life->engine->pty_name != NULL) {
			const char *pty = life->engine->pty_name(life->vm, serial_index);
			if (pty != NULL)
				json_object_set_new(json_array_get(devices, i), "ptyName", json_string(pty));
		}
		serial_index++;
	}
	text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return text;
}

static void rest_log(void *context, const char *message)
{
	(void)context;
	log_message(LOG_LEVEL_INFO, "%s", message);
}

static void on_state_change(void *context, enum vm_state state)
{
	(void)context;
	log_message(LOG_LEVEL_DEBUG, "VM state: %s", vm_state_name(state));
}

/* ---- signals: SIGINT/SIGTERM ask the guest to stop, then stop it hard ---- */

static bool wait_for_stopped(struct lifecycle *life, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		if (life->finished || life->engine->state(life->vm) == VM_STATE_STOPPED)
			return true;
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	return life->finished;
}

static void *signal_thread_main(void *context)
{
	struct lifecycle *life = context;
	sigset_t set;
	int signal_number;
	int stop_signals = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	for (;;) {
		struct vzk_error err = {0};
		if (sigwait(&set, &signal_number) != 0)
			continue;
		if (signal_number == SIGUSR1 || life->finished)
			return NULL; /* the VM has stopped: lifecycle_run is cleaning up */
		if (signal_number == SIGUSR2) {
			/* Set the guest's clock now, as after a host resume (doc/vzkit.1,
			 * LIFECYCLE AND SIGNALS): after the host clock was stepped, and
			 * how tests reach the sync path without suspending the host. */
			if (!vsock_services_sync_guest_clock(atomic_load(&life->services)))
				log_message(LOG_LEVEL_INFO, "received %s: no --timesync, nothing to do",
					    strsignal(signal_number));
			continue;
		}
		stop_signals++;
		life->stop_requested = true;
		log_message(LOG_LEVEL_INFO, "received %s: stopping the VM", strsignal(signal_number));
		if (stop_signals == 1 && vm_state_allows(life->engine->state(life->vm), VM_REQUEST_STOP) &&
		    life->engine->request(life->vm, VM_REQUEST_STOP, &err) == 0) {
			if (wait_for_stopped(life, LIFECYCLE_STOP_GRACE_SECONDS))
				continue;
			log_message(LOG_LEVEL_INFO, "the guest did not stop within %d s: stopping it hard",
				    LIFECYCLE_STOP_GRACE_SECONDS);
		}
		if (!life->finished && life->engine->request(life->vm, VM_REQUEST_HARD_STOP, &err) != 0)
			log_message(LOG_LEVEL_ERROR, "hard stop failed: %s", err.message);
	}
}

static int start_signal_thread(struct lifecycle *life, struct vzk_error *err)
{
	int status = pthread_create(&life->signal_thread, NULL, signal_thread_main, life);
	if (status != 0)
		return vzk_runtime_error(err, "cannot start the signal thread: %s", strerror(status));
	life->signal_thread_started = true;
	return 0;
}

static void stop_signal_thread(struct lifecycle *life)
{
	if (!life->signal_thread_started)
		return;
	life->finished = true;
	pthread_kill(life->signal_thread, SIGUSR1);
	pthread_join(life->signal_thread, NULL);
	life->signal_thread_started = false;
}

/* ---- pidfile ---- */

/* As vfkit writes it: the decimal pid, no newline, a new file mode 0600. */
static int write_pidfile(const char *path, struct vzk_error *err)
{
	char text[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int len = snprintf(text, sizeof(text), "%ld", (long)getpid());

	if (fd < 0)
		return vzk_runtime_error(err, "--pidfile: %s: %s", path, strerror(errno));
	if (write(fd, text, (size_t)len) != len) {
		close(fd);
		unlink(path);
		return vzk_runtime_error(err, "--pidfile: cannot write %s", path);
	}
	close(fd);
	return 0;
}

/* Removes the pidfile only while it still names this process. */
static void remove_pidfile(const char *path)
{
	char text[32] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (read(fd, text, sizeof(text) - 1) > 0 && strtol(text, NULL, 10) == (long)getpid())
		unlink(path);
	close(fd);
}

/* engine_options.fetch: the downloader (cache, resume, checks), its progress
 * on stderr like --fetch's. */
static int fetch_for_engine(void *context, const char *url, char **path, struct vzk_error *err)
{
	struct fetch_request request = {.url = url, .progress_stream = stderr};
	struct fetch_result result = {0};

	(void)context;
	if (fetch_file(&request, &result, err) != 0)
		return -1;
	*path = result.path;
	result.path = NULL;
	fetch_result_free(&result);
	return 0;
}

int lifecycle_run(const struct vz_engine_ops *engine, const struct vm_description *vm,
		  struct vz_vm_configuration *vz, const struct run_options *options,
		  const char *deferred_warnings, struct vzk_error *err)
{
	struct lifecycle life = {.engine = engine, .description = vm};
	struct engine_options engine_options = {
		.accel = options->accel,
		.log_level = options->log_level,
		.on_state_change = on_state_change,
		.warn = log_engine_warning,
		.log = log_engine_line,
		.fetch = fetch_for_engine,
		.context = &life,
	};
	struct rest_handlers handlers = {
		.context = &life,
		.get_state = rest_get_state,
		.request_state = rest_request_state,
		.inspect_json = rest_inspect_json,
		.log = rest_log,
	};
	struct rest_server *server = NULL;
	struct cloud_init_disk *cloud_init = NULL;
	struct vsock_services *services = NULL;
	struct cleanup_watcher *watcher = NULL;
	bool pidfile_written = false;
	sigset_t blocked, previous;
	int status = -1;

	/* Signals are taken by one thread (sigwait); every thread made from
	 * here on inherits the mask. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &blocked, &previous);
	signal(SIGPIPE, SIG_IGN);

	/* First, so that it can clean up after whatever is made from here on
	 * if vzkit is killed outright. */
	if (cleanup_watcher_start(&watcher, err) != 0)
		goto out;
	engine_options.watcher = watcher;
	if (cloud_init_disk_create(vz, &cloud_init, err) != 0)
		goto out;
	if (cloud_init != NULL && cleanup_watcher_add_file(watcher, cloud_init_disk_path(cloud_init), err) != 0)
		goto out;
	if (engine->create(vz, &engine_options, &life.vm, err) != 0)
		goto out;
	/* The input is good: disks with size= that are missing are made now. */
	if (vz_create_missing_disk_images(vz, err) != 0)
		goto out;
	log_write_lines(deferred_warnings);
	if (options->pidfile != NULL) {
		if (write_pidfile(options->pidfile, err) != 0)
			goto out;
		pidfile_written = true;
		if (cleanup_watcher_add_file(watcher, options->pidfile, err) != 0)
			goto out;
	}
	if (rest_server_start(&options->rest_uri, &handlers, &server, err) != 0)
		goto out;
	if (rest_server_socket_path(server) != NULL &&
	    cleanup_watcher_add_file(watcher, rest_server_socket_path(server), err) != 0)
		goto out;
	if (start_signal_thread(&life, err) != 0)
		goto out;
	/* A stop asked for while starting abandons the start (the QEMU engine
	 * gives up within a second): the VM stopped as asked, exit status 0. */
	if (life.stop_requested || engine->start(life.vm, err) != 0) {
		if (life.stop_requested) {
			log_message(LOG_LEVEL_INFO, "stop requested while starting: start abandoned");
			vzk_error_clear(err);
			status = 0;
		}
		goto out;
	}
	log_message(LOG_LEVEL_INFO, "VM started (%s engine)", engine->name);
	if (vsock_services_start(engine, life.vm, vz, &services, err) != 0) {
		struct vzk_error stop_err = {0};
		engine->request(life.vm, VM_REQUEST_HARD_STOP, &stop_err);
		goto out;
	}
	atomic_store(&life.services, services);
	if (engine->run(life.vm, err) != 0)
		goto out;
	log_message(LOG_LEVEL_INFO, "VM stopped");
	status = 0;
out:
	stop_signal_thread(&life);
	rest_server_stop(server);
	/* Threads that call the engine end before it goes; the services' memory
	 * stays until no engine callback can reach it any more. */
	vsock_services_quiesce(services);
	if (life.vm != NULL)
		engine->destroy(life.vm);
	vsock_services_stop(services);
	cloud_init_disk_free(cloud_init);
	if (pidfile_written)
		remove_pidfile(options->pidfile);
	/* Last: everything above is done, the watcher has nothing left to do. */
	cleanup_watcher_stop(watcher);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	return status;
}

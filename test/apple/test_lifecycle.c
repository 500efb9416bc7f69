/* The engine's lifecycle against a stand-in VZVirtualMachine whose queue runs
 * synchronously: start, the state requests, the delegate's calls, errors,
 * vsock, --gui, and what destroy leaves behind. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test/apple/rig.h"
#include "test/apple/tests.h"
#include "vz/vz.h"

struct observed {
	enum vm_state states[64];
	size_t count;
};

static void on_state_change(void *context, enum vm_state state)
{
	struct observed *seen = context;

	if (seen->count < sizeof(seen->states) / sizeof(seen->states[0]))
		seen->states[seen->count++] = state;
}

/* "Starting,Running,..." */
static const char *states_text(const struct observed *seen)
{
	static char text[1024];
	size_t used = 0;

	text[0] = '\0';
	for (size_t i = 0; i < seen->count && used < sizeof(text); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", i > 0 ? "," : "",
					 vm_state_name(seen->states[i]) + strlen("VirtualMachineState"));
	return text;
}

struct session {
	struct vz_vm_configuration config;
	struct observed seen;
	char warnings[1024]; /* the engine's warn() lines, each ending in \n */
	struct engine_vm *vm;
	struct vzk_error err;
};

static void on_warning(void *context, const char *message)
{
	struct observed *seen = context;
	struct session *s = (struct session *)(void *)((char *)seen - offsetof(struct session, seen));
	size_t used = strlen(s->warnings);

	snprintf(s->warnings + used, sizeof(s->warnings) - used, "%s\n", message);
}

/* Creates the VM; 0 when that worked (after a FAIL line otherwise). */
static int session_create(struct session *s, const char *name, void (*setup)(struct vz_vm_configuration *config))
{
	struct apple_host host = RIG_HOST_DEFAULT;
	struct engine_options options = {.on_state_change = on_state_change, .warn = on_warning, .context = &s->seen};

	memset(s, 0, sizeof(*s));
	standin_reset();
	rig_config_init(&s->config);
	rig_touch("vmlinuz");
	if (setup != NULL)
		setup(&s->config);
	options.runtime_dir = rig_tmpdir();
	if (apple_engine_create_on_host(&s->config, &options, &host, &s->vm, &s->err) != 0)
		return rig_check(name, false, "create: %s", s->err.message) ? 0 : -1;
	standin_clear_log();
	return 0;
}

static int session_start(struct session *s, const char *name, void (*setup)(struct vz_vm_configuration *config))
{
	if (session_create(s, name, setup) != 0)
		return -1;
	if (apple_engine.start(s->vm, &s->err) != 0)
		return rig_check(name, false, "start: %s", s->err.message) ? 0 : -1;
	return 0;
}

static void session_end(struct session *s, const char *name)
{
	char check[200];

	rig_collect_log(standin_log());
	apple_engine.destroy(s->vm);
	snprintf(check, sizeof(check), "apple memory %s: every object released once", name);
	const char *leaks = standin_leaks();
	rig_check(check, leaks[0] == '\0' && standin_problems()[0] == '\0', "alive: %s; problems: %s", leaks,
		  standin_problems());
	vz_vm_configuration_free(&s->config);
}

static void with_vsock(struct vz_vm_configuration *config)
{
	config->socket_device = true;
}

static void with_pty(struct vz_vm_configuration *config)
{
	vz_add_serial_port(config)->attachment = VZ_SERIAL_ATTACHMENT_PTY;
}

static void with_gui(struct vz_vm_configuration *config)
{
	struct vz_graphics_device *display = vz_add_graphics_device(config);

	*display = (struct vz_graphics_device){.kind = VZ_GRAPHICS_VIRTIO, .width = 1280, .height = 720, .uses_gui = true};
	vz_add_keyboard(config, VZ_KEYBOARD_USB);
	vz_add_pointing_device(config, VZ_POINTING_USB_SCREEN_COORDINATE);
	config->gui = true;
}

static void start_and_stop(void)
{
	const char *name = "apple lifecycle start";
	struct session s;

	if (session_start(&s, name, with_vsock) != 0)
		goto out;
	rig_check_golden(name, "lifecycle_start.txt", standin_log());
	rig_check("apple lifecycle start: Running once the completion handler ran",
		  apple_engine.state(s.vm) == VM_STATE_RUNNING && standin_vm_state() == 1, "state %s",
		  vm_state_name(apple_engine.state(s.vm)));
	rig_check("apple lifecycle start: on_state_change saw Starting, Running",
		  strcmp(states_text(&s.seen), "Starting,Running") == 0, "saw %s", states_text(&s.seen));

	standin_clear_log();
	rig_check("apple lifecycle request Stop: accepted", apple_engine.request(s.vm, VM_REQUEST_STOP, &s.err) == 0,
		  "%s", s.err.message);
	rig_check_golden("apple lifecycle request Stop: messages", "lifecycle_request_stop.txt", standin_log());
	rig_check("apple lifecycle request Stop: the guest powered off, Stopped",
		  apple_engine.state(s.vm) == VM_STATE_STOPPED, "state %s", vm_state_name(apple_engine.state(s.vm)));
	rig_check("apple lifecycle request Stop: run() returns 0", apple_engine.run(s.vm, &s.err) == 0, "%s",
		  s.err.message);
	rig_check("apple lifecycle request after Stopped: usage error",
		  apple_engine.request(s.vm, VM_REQUEST_PAUSE, &s.err) != 0 && s.err.kind == VZK_ERR_USAGE &&
			  strcmp(s.err.message, "cannot pause the VM: it is VirtualMachineStateStopped") == 0,
		  "'%s'", s.err.message);
	standin_clear_log();
out:
	session_end(&s, name);
}

static void request_then_hard_stop(void)
{
	const char *name = "apple lifecycle stop order";
	struct session s;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	standin_vm_guest_obeys(false);
	rig_check("apple lifecycle guest ignores Stop: still Running",
		  apple_engine.request(s.vm, VM_REQUEST_STOP, &s.err) == 0 && apple_engine.state(s.vm) == VM_STATE_RUNNING,
		  "%s / %s", s.err.message, vm_state_name(apple_engine.state(s.vm)));
	standin_clear_log();
	rig_check("apple lifecycle HardStop: accepted", apple_engine.request(s.vm, VM_REQUEST_HARD_STOP, &s.err) == 0,
		  "%s", s.err.message);
	rig_check_golden("apple lifecycle HardStop: messages", "lifecycle_hard_stop.txt", standin_log());
	rig_check("apple lifecycle HardStop: Stopping then Stopped",
		  strcmp(states_text(&s.seen), "Starting,Running,Stopping,Stopped") == 0, "saw %s", states_text(&s.seen));
	rig_check("apple lifecycle HardStop: run() returns 0", apple_engine.run(s.vm, &s.err) == 0, "%s", s.err.message);
out:
	session_end(&s, name);
}

static void pause_resume(void)
{
	const char *name = "apple lifecycle pause/resume";
	struct session s;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	standin_clear_log();
	rig_check("apple lifecycle Pause: Paused",
		  apple_engine.request(s.vm, VM_REQUEST_PAUSE, &s.err) == 0 && apple_engine.state(s.vm) == VM_STATE_PAUSED,
		  "%s / %s", s.err.message, vm_state_name(apple_engine.state(s.vm)));
	rig_check("apple lifecycle Pause while Paused: usage error naming the state",
		  apple_engine.request(s.vm, VM_REQUEST_PAUSE, &s.err) != 0 && s.err.kind == VZK_ERR_USAGE &&
			  strcmp(s.err.message, "cannot pause the VM now: it is VirtualMachineStatePaused") == 0,
		  "'%s'", s.err.message);
	rig_check("apple lifecycle Resume: Running",
		  apple_engine.request(s.vm, VM_REQUEST_RESUME, &s.err) == 0 && apple_engine.state(s.vm) == VM_STATE_RUNNING,
		  "%s / %s", s.err.message, vm_state_name(apple_engine.state(s.vm)));
	rig_check("apple lifecycle Resume while Running: usage error",
		  apple_engine.request(s.vm, VM_REQUEST_RESUME, &s.err) != 0 && s.err.kind == VZK_ERR_USAGE, "'%s'",
		  s.err.message);
	rig_check_golden("apple lifecycle pause/resume: messages", "lifecycle_pause_resume.txt", standin_log());
	rig_check("apple lifecycle pause/resume: states",
		  strcmp(states_text(&s.seen), "Starting,Running,Pausing,Paused,Resuming,Running") == 0, "saw %s",
		  states_text(&s.seen));
out:
	session_end(&s, name);
}

static void guest_stops(void)
{
	const char *name = "apple lifecycle guest stop";
	struct session s;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	standin_vm_guest_stops();
	rig_check("apple lifecycle guestDidStopVirtualMachine: Stopped, run() returns 0",
		  apple_engine.state(s.vm) == VM_STATE_STOPPED && apple_engine.run(s.vm, &s.err) == 0, "%s / %s",
		  vm_state_name(apple_engine.state(s.vm)), s.err.message);
	standin_clear_log();
out:
	session_end(&s, name);
}

static void stops_with_error(void)
{
	const char *name = "apple lifecycle stop with error";
	struct session s;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	standin_vm_stops_with_error("VZErrorDomain", 1, "The virtual machine stopped unexpectedly.");
	rig_check("apple lifecycle virtualMachine:didStopWithError: reaches run()'s error",
		  apple_engine.run(s.vm, &s.err) != 0 && s.err.kind == VZK_ERR_RUNTIME &&
			  strcmp(s.err.message, "the VM stopped with an error: The virtual machine stopped unexpectedly. "
						"(VZErrorDomain error 1)") == 0 &&
			  apple_engine.state(s.vm) == VM_STATE_ERROR,
		  "'%s', state %s", s.err.message, vm_state_name(apple_engine.state(s.vm)));
	standin_clear_log();
out:
	session_end(&s, name);
}

static void start_fails(void)
{
	const char *name = "apple lifecycle start fails";
	struct session s;

	if (session_create(&s, name, NULL) != 0)
		goto out;
	standin_vm_start_fails("VZErrorDomain", 1, "Internal Virtualization error. The virtual machine failed to start.");
	rig_check("apple lifecycle start's completion error reaches err",
		  apple_engine.start(s.vm, &s.err) != 0 && s.err.kind == VZK_ERR_RUNTIME &&
			  strcmp(s.err.message, "cannot start the VM: Internal Virtualization error. The virtual machine "
						"failed to start. (VZErrorDomain error 1)") == 0,
		  "'%s'", s.err.message);
	rig_check("apple lifecycle start fails: state Error", apple_engine.state(s.vm) == VM_STATE_ERROR, "state %s",
		  vm_state_name(apple_engine.state(s.vm)));
	standin_clear_log();
out:
	session_end(&s, name);
}

static void not_started(void)
{
	const char *name = "apple lifecycle before start";
	struct session s;

	if (session_create(&s, name, NULL) != 0)
		goto out;
	rig_check("apple lifecycle pause before start: usage error",
		  apple_engine.request(s.vm, VM_REQUEST_PAUSE, &s.err) != 0 && s.err.kind == VZK_ERR_USAGE &&
			  strcmp(s.err.message, "cannot pause the VM: it is VirtualMachineStateStopped") == 0,
		  "'%s'", s.err.message);
	rig_check("apple lifecycle run before start: usage error",
		  apple_engine.run(s.vm, &s.err) != 0 && s.err.kind == VZK_ERR_USAGE, "'%s'", s.err.message);
	rig_check("apple lifecycle pty_name before start: none", apple_engine.pty_name(s.vm, 0) == NULL, "got one");
out:
	session_end(&s, name);
}

/* A stop before start: accepted, and the start that follows gives up
 * before anything is built or sent to the framework. */
static void stop_before_start(void)
{
	const char *name = "apple lifecycle stop before start";
	struct session s;

	if (session_create(&s, name, NULL) != 0)
		goto out;
	rig_check("apple lifecycle stop before start: accepted",
		  apple_engine.request(s.vm, VM_REQUEST_STOP, &s.err) == 0, "'%s'", s.err.message);
	int status = apple_engine.start(s.vm, &s.err);
	rig_check("apple lifecycle stop before start: the start is abandoned, no VM made",
		  status != 0 && strcmp(s.err.message, "start abandoned: a stop was requested") == 0 &&
			  strstr(standin_log(), "VZVirtualMachine") == NULL && s.seen.count == 0,
		  "status %d '%s', states %s, log:\n%s", status, s.err.message, states_text(&s.seen), standin_log());
	standin_clear_log();
out:
	session_end(&s, name);
}

static struct session *stopping_session;
static int stop_during_start_status;

static void hard_stop_now(void)
{
	stop_during_start_status = apple_engine.request(stopping_session->vm, VM_REQUEST_HARD_STOP, &stopping_session->err);
}

/* SIGTERM or REST HardStop while the framework starts the VM (canStop NO):
 * accepted, and the VM is stopped as soon as its start completes. */
static void stop_during_start(void)
{
	const char *name = "apple lifecycle stop while starting";
	struct session s;

	if (session_create(&s, name, NULL) != 0)
		goto out;
	stopping_session = &s;
	stop_during_start_status = -2;
	standin_during_start(hard_stop_now);
	int status = apple_engine.start(s.vm, &s.err);
	const char *log = standin_log();
	const char *started = strstr(log, "startWithCompletionHandler:");
	const char *stopped = strstr(log, "stopWithCompletionHandler:");
	rig_check("apple lifecycle stop while starting: the request is accepted in Starting",
		  stop_during_start_status == 0, "status %d '%s'", stop_during_start_status, s.err.message);
	rig_check("apple lifecycle stop while starting: the started VM is stopped at once, start abandoned",
		  status != 0 && strcmp(s.err.message, "start abandoned: a stop was requested") == 0 && started != NULL &&
			  stopped != NULL && stopped > started && standin_vm_state() == 0 &&
			  apple_engine.state(s.vm) == VM_STATE_STOPPED,
		  "status %d '%s', framework state %ld, log:\n%s", status, s.err.message, standin_vm_state(), log);
	rig_check("apple lifecycle stop while starting: never reported Running",
		  strcmp(states_text(&s.seen), "Starting,Stopping,Stopped") == 0, "states %s", states_text(&s.seen));
	standin_clear_log();
out:
	stopping_session = NULL;
	session_end(&s, name);
}

static void destroy_running(void)
{
	const char *name = "apple lifecycle destroy while running";
	struct session s;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	standin_clear_log();
	rig_collect_log(standin_log());
	apple_engine.destroy(s.vm);
	s.vm = NULL;
	rig_check_golden("apple lifecycle destroy while running: stops, then releases", "lifecycle_destroy.txt",
			 standin_log());
	standin_clear_log();
out:
	session_end(&s, name);
}

static void silent_stop_is_polled(void)
{
	const char *name = "apple lifecycle state polling";
	struct session s;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	standin_vm_set_state(0); /* Stopped, without a delegate call */
	rig_check("apple lifecycle run() polls -state and sees Stopped",
		  apple_engine.run(s.vm, &s.err) == 0 && apple_engine.state(s.vm) == VM_STATE_STOPPED, "%s / %s",
		  s.err.message, vm_state_name(apple_engine.state(s.vm)));
	standin_clear_log();
out:
	session_end(&s, name);
}

/* ---- vsock ---- */

struct accepted {
	int fd;
	int calls;
};

static void on_connection(void *context, int fd)
{
	struct accepted *accepted = context;

	accepted->calls++;
	if (accepted->fd >= 0)
		close(accepted->fd);
	accepted->fd = fd;
}

static bool carries(int from, int to, const char *what)
{
	char buffer[32] = {0};
	size_t n = strlen(what);

	return write(from, what, n) == (ssize_t)n && read(to, buffer, sizeof(buffer) - 1) == (ssize_t)n &&
	       memcmp(buffer, what, n) == 0;
}

static void vsock_listen_connect(void)
{
	const char *name = "apple lifecycle vsock";
	struct accepted accepted = {.fd = -1};
	struct session s;
	int guest = -1, host = -1;

	if (session_start(&s, name, with_vsock) != 0)
		goto out;
	standin_clear_log();
	rig_check("apple vsock_listen 1025: accepted", apple_engine.vsock_listen(s.vm, 1025, on_connection, &accepted,
										   &s.err) == 0,
		  "%s", s.err.message);
	rig_check_golden("apple vsock_listen: messages", "vsock_listen.txt", standin_log());
	rig_check("apple vsock guest connects to 1025: on_connection gets a working fd",
		  standin_vsock_guest_connects(1025, &guest) == 1 && accepted.calls == 1 && accepted.fd >= 0 &&
			  carries(guest, accepted.fd, "Ready\n") && carries(accepted.fd, guest, "ok"),
		  "calls %d fd %d", accepted.calls, accepted.fd);
	rig_check("apple vsock guest connects to an unlistened port: nobody asked",
		  standin_vsock_guest_connects(1026, &guest) == -1, "a listener answered");

	standin_clear_log();
	rig_check("apple vsock_connect 5: a working fd",
		  apple_engine.vsock_connect(s.vm, 5, &host, &s.err) == 0 && host >= 0, "%s", s.err.message);
	int guest_end = standin_vsock_take_guest_end();
	rig_check("apple vsock_connect 5: bytes reach the guest and back",
		  guest_end >= 0 && carries(host, guest_end, "GET /") && carries(guest_end, host, "200"), "no guest end");
	rig_check_golden("apple vsock_connect: messages", "vsock_connect.txt", standin_log());
	if (guest_end >= 0)
		close(guest_end);

	standin_fail("VZVirtioSocketDevice", "connectToPort:completionHandler:", "NSPOSIXErrorDomain", 61,
		     "Connection refused");
	int refused = -1;
	rig_check("apple vsock_connect refused: the NSError reaches err",
		  apple_engine.vsock_connect(s.vm, 6, &refused, &s.err) != 0 && refused == -1 &&
			  strcmp(s.err.message, "cannot connect to the guest's vsock port 6: Connection refused "
						"(NSPOSIXErrorDomain error 61)") == 0,
		  "'%s'", s.err.message);
	standin_clear_log();
out:
	if (accepted.fd >= 0)
		close(accepted.fd);
	if (guest >= 0)
		close(guest);
	if (host >= 0)
		close(host);
	session_end(&s, name);
}

struct connect_call {
	struct session *s;
	uint32_t port;
	int fd;
	int status;
	struct vzk_error err;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;
};

static void *connect_thread(void *context)
{
	struct connect_call *call = context;

	call->status = apple_engine.vsock_connect(call->s->vm, call->port, &call->fd, &call->err);
	pthread_mutex_lock(&call->lock);
	call->done = true;
	pthread_cond_broadcast(&call->done_cond);
	pthread_mutex_unlock(&call->lock);
	return NULL;
}

/* Whether the call returned within `seconds`. */
static bool wait_call(struct connect_call *call, int seconds)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += seconds;
	pthread_mutex_lock(&call->lock);
	while (!call->done)
		if (pthread_cond_timedwait(&call->done_cond, &call->lock, &deadline) != 0)
			break;
	bool done = call->done;
	pthread_mutex_unlock(&call->lock);
	return done;
}

/* A guest port nobody listens on: the framework never calls the handler. */
static void vsock_connect_no_answer(void)
{
	const char *name = "apple lifecycle vsock connect without answer";
	struct connect_call call = {.port = 7, .fd = -1};
	struct session s;
	pthread_t thread;
	struct timespec before, after;

	pthread_mutex_init(&call.lock, NULL);
	pthread_cond_init(&call.done_cond, NULL);
	if (session_start(&s, name, with_vsock) != 0)
		goto out;
	call.s = &s;
	apple_engine_set_vsock_connect_timeout(s.vm, 200);
	standin_vsock_connect_silent(true);
	clock_gettime(CLOCK_MONOTONIC, &before);
	if (pthread_create(&thread, NULL, connect_thread, &call) != 0)
		abort();
	bool returned = wait_call(&call, 3);
	clock_gettime(CLOCK_MONOTONIC, &after);
	long waited_ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
	rig_check("apple vsock_connect: gives up at its deadline when the guest never answers",
		  returned && call.status != 0 && call.fd == -1 && waited_ms >= 190 &&
			  strcmp(call.err.message, "cannot connect to the guest's vsock port 7: no answer within 200 ms "
						   "(is anything listening on it in the guest?)") == 0,
		  "returned %d after %ld ms, status %d, '%s'", returned, waited_ms, call.status, call.err.message);
	/* The guest starts to listen after all: the handler comes late. */
	bool answered = standin_vsock_answer_pending();
	if (!returned)
		wait_call(&call, 3);
	pthread_join(thread, NULL);
	int guest_end = standin_vsock_take_guest_end();
	char byte;
	standin_drain_pool(); /* the connection object goes, and its descriptor with it */
	struct pollfd readable = {.fd = guest_end, .events = POLLIN};
	rig_check("apple vsock_connect: a late answer touches no waiter and closes its connection",
		  answered && guest_end >= 0 && poll(&readable, 1, 1000) == 1 && read(guest_end, &byte, 1) == 0 &&
			  standin_problems()[0] == '\0',
		  "answered %d, guest end %d, problems '%s'", answered, guest_end, standin_problems());
	if (guest_end >= 0)
		close(guest_end);
	if (call.fd >= 0)
		close(call.fd);
	standin_vsock_connect_silent(false);
	standin_clear_log();
out:
	session_end(&s, name);
	pthread_cond_destroy(&call.done_cond);
	pthread_mutex_destroy(&call.lock);
}

static void vsock_without_device(void)
{
	const char *name = "apple lifecycle vsock without device";
	struct session s;
	int fd;

	if (session_start(&s, name, NULL) != 0)
		goto out;
	rig_check("apple vsock_connect without a virtio-vsock device: usage error",
		  apple_engine.vsock_connect(s.vm, 5, &fd, &s.err) != 0 && s.err.kind == VZK_ERR_USAGE &&
			  strcmp(s.err.message, "vsock port 5: the VM has no virtio-vsock device") == 0,
		  "'%s'", s.err.message);
	standin_clear_log();
out:
	session_end(&s, name);
}

static void pty_name(void)
{
	const char *name = "apple lifecycle pty";
	struct session s;
	struct stat st;

	if (session_start(&s, name, with_pty) != 0)
		goto out;
	const char *pty = apple_engine.pty_name(s.vm, 0);
	rig_check("apple pty_name after start: an existing pty", pty != NULL && stat(pty, &st) == 0 && S_ISCHR(st.st_mode),
		  "got %s", pty != NULL ? pty : "(none)");
	standin_clear_log();
out:
	session_end(&s, name);
}

/* ---- --gui ---- */

static void guest_powers_off(void)
{
	standin_vm_guest_stops();
}

static void gui(void)
{
	const char *name = "apple lifecycle gui";
	struct session s;

	if (session_start(&s, name, with_gui) != 0)
		goto out;
	standin_clear_log();
	standin_after_events(2, guest_powers_off);
	rig_check("apple gui: run() shows the window until the guest stops", apple_engine.run(s.vm, &s.err) == 0, "%s",
		  s.err.message);
	rig_check_golden("apple gui: messages", "gui.txt", standin_log());
	rig_check("apple gui: the app is activated after finishLaunching (the window comes to the front, focused)",
		  standin_app_active(), "activated before launching, or not at all");
	standin_clear_log();
out:
	session_end(&s, name);
}

static size_t count_lines(const char *log, const char *what)
{
	size_t n = 0;

	for (const char *p = log; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void third_pump_guest_powers_off(void)
{
	standin_after_events(2, guest_powers_off);
}

static void miniaturize_then_power_off(void)
{
	standin_window_miniaturize();
	third_pump_guest_powers_off();
}

/* The yellow button: -isVisible is NO, yet nothing was closed. */
static void gui_miniaturized(void)
{
	const char *name = "apple lifecycle gui miniaturised";
	struct session s;

	if (session_start(&s, name, with_gui) != 0)
		goto out;
	standin_clear_log();
	standin_after_events(1, miniaturize_then_power_off);
	int status = apple_engine.run(s.vm, &s.err);
	rig_check("apple gui: a miniaturised window is not a closed one (the VM runs on, events still pumped)",
		  status == 0 && !standin_window_visible() && strstr(standin_log(), "stopWithCompletionHandler:") == NULL &&
			  strstr(standin_log(), "requestStopWithError:") == NULL &&
			  count_lines(standin_log(), "nextEventMatchingMask:") == 3 &&
			  strcmp(states_text(&s.seen), "Starting,Running,Stopped") == 0,
		  "status %d (%s), states %s, log:\n%s", status, s.err.message, states_text(&s.seen), standin_log());
	standin_clear_log();
out:
	session_end(&s, name);
}

static void guest_powers_off_later(void)
{
	standin_after_state_reads(2, guest_powers_off);
}

static void user_closes_window(void)
{
	standin_window_user_closes();
	guest_powers_off_later();
}

/* The red button: as vfkit, the VM keeps running without its window until
 * something else stops it. */
static void gui_closed(void)
{
	const char *name = "apple lifecycle gui closed";
	struct session s;

	if (session_start(&s, name, with_gui) != 0)
		goto out;
	standin_clear_log();
	standin_after_events(1, user_closes_window);
	int status = apple_engine.run(s.vm, &s.err);
	rig_check("apple gui: closing the window leaves the VM running until the guest stops",
		  status == 0 && strstr(standin_log(), "stopWithCompletionHandler:") == NULL &&
			  strstr(standin_log(), "requestStopWithError:") == NULL &&
			  strcmp(states_text(&s.seen), "Starting,Running,Stopped") == 0,
		  "status %d (%s), states %s", status, s.err.message, states_text(&s.seen));
	rig_check("apple gui: after the window closed, no more AppKit event waits",
		  count_lines(standin_log(), "nextEventMatchingMask:") == 1, "log:\n%s", standin_log());
	rig_check("apple gui: the closed window is reported through warn",
		  strcmp(s.warnings, "the --gui window was closed; the VM keeps running (stop it with Ctrl-C, SIGTERM or "
				     "the REST API)\n") == 0,
		  "warnings '%s'", s.warnings);
	standin_clear_log();
out:
	session_end(&s, name);
}

/* What the VM goes without reaches the user through warn, once, at start. */
static void with_skipped_things(struct vz_vm_configuration *config)
{
	struct vz_directory_share *share = vz_add_directory_share(config);
	struct vz_network_device *net = vz_add_network_device(config);

	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 1); /* not installed */
	share->kind = VZ_SHARE_ROSETTA;
	share->tag = strdup("rosetta");
	share->rosetta_ignore_if_missing = true;
	net->attachment = VZ_NETWORK_ATTACHMENT_FILE_HANDLE;
	net->fd = 9;
	net->offloading = true;
}

static void warnings(void)
{
	const char *name = "apple lifecycle warnings";
	static const char want[] =
		"--device virtio-net: offloading=on has no counterpart in the Virtualization framework; ignored\n"
		"--device rosetta rosetta: Rosetta is not installed; going on without the share (ignore-if-missing)\n";
	struct session s;
	char *plan = NULL;
	size_t size = 0;
	FILE *out;

	if (session_create(&s, name, with_skipped_things) != 0)
		goto out;
	rig_check("apple warnings: none while only planning", s.warnings[0] == '\0', "'%s'", s.warnings);
	out = open_memstream(&plan, &size);
	if (out == NULL)
		abort();
	apple_engine.print_plan(s.vm, out, &s.err);
	fclose(out);
	rig_check("apple warnings: the plan shows them as comments",
		  plan != NULL && strstr(plan, "# warning: --device rosetta rosetta: Rosetta is not installed") != NULL &&
			  strstr(plan, "# warning: --device virtio-net: offloading=on") != NULL,
		  "%s", plan != NULL ? plan : "(none)");
	free(plan);
	if (apple_engine.start(s.vm, &s.err) != 0) {
		rig_check(name, false, "start: %s", s.err.message);
		goto out;
	}
	rig_check("apple warnings: a skipped Rosetta share and ignored offloading reach warn once, at start",
		  strcmp(s.warnings, want) == 0, "got '%s'", s.warnings);
	standin_clear_log();
out:
	session_end(&s, name);
}

static void real_host(void)
{
	struct vz_vm_configuration config;
	struct engine_options options = {0};
	struct engine_vm *vm = NULL;
	struct vzk_error err = {0};

	rig_config_init(&config);
	rig_check("apple create on Linux: one clear line",
		  apple_engine.create(&config, &options, &vm, &err) != 0 && vm == NULL &&
			  strcmp(err.message, "the Apple Virtualization framework engine needs a macOS host") == 0,
		  "'%s'", err.message);
	vz_vm_configuration_free(&config);
}

static void plan_header(void)
{
	const char *name = "apple print_plan";
	struct session s;
	char *plan = NULL;
	size_t size = 0;
	FILE *out;

	if (session_create(&s, name, with_gui) != 0)
		goto out;
	out = open_memstream(&plan, &size);
	if (out == NULL)
		abort();
	apple_engine.print_plan(s.vm, out, &s.err);
	fclose(out);
	rig_check("apple print_plan: names the host, then the messages, then the start",
		  plan != NULL && strstr(plan, "# host: macOS 15.0, arm64\n") != NULL &&
			  strstr(plan, "[VZVirtualMachineConfiguration#1 validateWithError:&error]\n") != NULL &&
			  strstr(plan, "# [VZVirtualMachine#1 startWithCompletionHandler:^{}]\n") != NULL &&
			  strstr(plan, "# --gui:") != NULL,
		  "%s", plan != NULL ? plan : "(none)");
	free(plan);
out:
	session_end(&s, name);
}

void test_lifecycle(void)
{
	start_and_stop();
	request_then_hard_stop();
	pause_resume();
	guest_stops();
	stops_with_error();
	start_fails();
	not_started();
	stop_before_start();
	stop_during_start();
	destroy_running();
	silent_stop_is_polled();
	vsock_listen_connect();
	vsock_connect_no_answer();
	vsock_without_device();
	pty_name();
	gui();
	gui_miniaturized();
	gui_closed();
	warnings();
	real_host();
	plan_header();
}

/* The Apple engine (struct vz_engine_ops) on a VZVirtualMachine.
 *
 * create() builds the plan: the configuration's message sequence, checked
 * against the host, with nothing created. start() builds the configuration
 * for real, makes the VM on its own serial queue and starts it. The state
 * the REST API reads is kept here: set by our requests' completion handlers,
 * by the delegate (guest stopped, stopped with an error) and by polling
 * -state while run() supervises. vfkit's shutdown order (request a stop,
 * wait, stop hard) is the caller's, through request(). */
#include "vz/apple/apple_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vz/apple/builder.h"
#include "vz/apple/completion.h"
#include "vz/apple/delegate.h"
#include "vz/apple/gui.h"
#include "vz/apple/queue.h"
#include "vz/apple/translate.h"

/* How often run() reads -state besides the delegate's calls. */
#define STATE_POLL_MS 250
/* How long one AppKit event wait lasts under --gui. */
#define GUI_PUMP_SECONDS 0.1
/* How long vsock_connect waits for the framework's answer. A guest port
 * nobody listens on gets no answer at all (Apple: connectToPort: "does
 * nothing"); Linux's AF_VSOCK gives up after 2 s, a slow guest gets more. */
#define VSOCK_CONNECT_TIMEOUT_MS 5000
/* How often the macOS installer's progress is read. */
#define INSTALL_POLL_MS 1000

struct apple_listener {
	struct engine_vm *vm;
	uint32_t port;
	void (*on_connection)(void *context, int fd);
	void *context;
	struct apple_socket_events events;
	id listener; /* VZVirtioSocketListener, +1 */
	id delegate; /* +1: the listener's delegate property is weak */
};

struct engine_vm {
	const struct vz_vm_configuration *config;
	struct engine_options options;
	char *runtime_dir_option;
	struct apple_host host;
	char *plan;

	char *runtime_dir;
	bool made_runtime_dir;
	struct apple_builder *live; /* the live configuration and its host resources */
	id configuration;           /* owned by live */
	struct apple_queue *queue;
	struct apple_vm_events events;
	id delegate;      /* +1: VZVirtualMachine's delegate property is weak */
	id socket_device; /* +0: belongs to machine */
	struct apple_listener **listeners;
	size_t listener_count;
	struct apple_gui *gui;
	unsigned vsock_connect_timeout_ms;
	bool installing;        /* restoreImage: macOS goes on the disk before the first start */
	id installer;           /* VZMacOSInstaller, +1 */
	id install_progress;    /* its NSProgress, +0 */
	unsigned install_poll_ms;
	id start_options;       /* VZMacOSVirtualMachineStartOptions (recovery), owned by live */

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t changed;
	id machine; /* VZVirtualMachine, +1 */
	enum vm_state state;
	bool finished; /* stopped or failed: run() returns */
	bool started;  /* the start completed and no stop was waiting for it */
	bool stop_after_start; /* a stop came before the VM ran: the start is abandoned */
	bool failed;
	char failure[600];
};

/* ---- state ---- */

static void notify(struct engine_vm *vm, enum vm_state state)
{
	if (vm->options.on_state_change != NULL)
		vm->options.on_state_change(vm->options.context, state);
}

/* A line for the user (cmd/ prints it); the engine never prints. */
static void warn(struct engine_vm *vm, const char *message)
{
	if (vm->options.warn != NULL)
		vm->options.warn(vm->options.context, message);
}

static void set_state(struct engine_vm *vm, enum vm_state state)
{
	bool changed;

	pthread_mutex_lock(&vm->lock);
	changed = !vm->finished && vm->state != state;
	if (changed) {
		vm->state = state;
		pthread_cond_broadcast(&vm->changed);
	}
	pthread_mutex_unlock(&vm->lock);
	if (changed)
		notify(vm, state);
}

/* The VM is over: Stopped, or Error with why. */
static void finish(struct engine_vm *vm, enum vm_state state, const char *failure)
{
	bool changed;

	pthread_mutex_lock(&vm->lock);
	changed = vm->state != state;
	vm->state = state;
	if (!vm->finished && failure != NULL) {
		vm->failed = true;
		snprintf(vm->failure, sizeof(vm->failure), "%s", failure);
	}
	vm->finished = true;
	pthread_cond_broadcast(&vm->changed);
	pthread_mutex_unlock(&vm->lock);
	if (changed)
		notify(vm, state);
}

/* VZVirtualMachineState has the order of enum vm_state (Apple's headers; see
 * doc/apple-engine.md). */
static enum vm_state state_from_framework(NSInteger raw)
{
	return raw >= VM_STATE_STOPPED && raw <= VM_STATE_RESTORING ? (enum vm_state)raw : VM_STATE_ERROR;
}

static void observe_state(struct engine_vm *vm, enum vm_state state)
{
	if (state == VM_STATE_STOPPED)
		finish(vm, VM_STATE_STOPPED, NULL);
	else if (state == VM_STATE_ERROR)
		finish(vm, VM_STATE_ERROR, "the virtual machine entered the error state");
	else
		set_state(vm, state);
}

static id machine_of(struct engine_vm *vm)
{
	id machine;

	pthread_mutex_lock(&vm->lock);
	machine = vm->machine;
	pthread_mutex_unlock(&vm->lock);
	return machine;
}

/* ---- work on the VM's queue ---- */

struct queue_work {
	struct engine_vm *vm;
	struct vzk_error *err;
	int status;
	NSInteger answer;
	enum vm_state_request request;
	struct apple_completion *completion;
	struct apple_listener *listener;
	uint32_t port;
};

/* Reads -state where we already are on the queue. */
static void refresh_state_here(struct engine_vm *vm)
{
	union apple_value state;

	if (apple_send(&vm->host, M_VM_STATE, vm->machine, &state, NULL) == 0)
		observe_state(vm, state_from_framework(state.integer));
}

static void guest_did_stop(void *context)
{
	finish(context, VM_STATE_STOPPED, NULL);
}

static void did_stop_with_error(void *context, id error)
{
	char text[600];

	apple_describe_error(error, text, sizeof(text));
	finish(context, VM_STATE_ERROR, text);
}

static void create_machine_on_queue(void *context)
{
	struct queue_work *work = context;
	struct engine_vm *vm = work->vm;
	union apple_value value;
	id cls;

	work->status = -1;
	if (apple_check_class(&vm->host, C_VZVirtualMachine, work->err) != 0 ||
	    (cls = apple_class_object(C_VZVirtualMachine, work->err)) == nil ||
	    apple_send(&vm->host, M_ALLOC, cls, &value, work->err) != 0 ||
	    apple_send(&vm->host, M_VM_INIT, value.object, &value, work->err, apple_arg_object(vm->configuration),
		       apple_arg_object(apple_queue_object(vm->queue))) != 0)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->machine = value.object;
	pthread_mutex_unlock(&vm->lock);
	vm->events = (struct apple_vm_events){guest_did_stop, did_stop_with_error, vm};
	vm->delegate = apple_vm_delegate_new(&vm->events, work->err);
	if (vm->delegate == nil ||
	    apple_send(&vm->host, M_VM_SET_DELEGATE, vm->machine, NULL, work->err, apple_arg_object(vm->delegate)) != 0)
		return;
	work->status = 0;
}

static void start_on_queue(void *context)
{
	struct queue_work *work = context;
	struct apple_completion *started = work->completion;
	struct vzk_error err = {0};
	int status;

	if (work->vm->start_options != nil)
		status = apple_send(&work->vm->host, M_VM_START_WITH_OPTIONS, work->vm->machine, NULL, &err,
				    apple_arg_object(work->vm->start_options),
				    apple_arg_block((void *)^(id error) { apple_completion_finish(started, error); }));
	else
		status = apple_send(&work->vm->host, M_VM_START, work->vm->machine, NULL, &err,
				    apple_arg_block((void *)^(id error) { apple_completion_finish(started, error); }));
	if (status != 0)
		apple_completion_fail(started, err.message);
}

/* VZMacOSInstaller on the VM (which is stopped), on the VM's queue. */
static void install_on_queue(void *context)
{
	struct queue_work *work = context;
	struct engine_vm *vm = work->vm;
	struct apple_completion *installed = work->completion;
	union apple_value value;
	struct vzk_error err = {0};
	id cls;

	if ((cls = apple_class_object(C_VZMacOSInstaller, &err)) == nil ||
	    apple_send(&vm->host, M_ALLOC, cls, &value, &err) != 0 ||
	    apple_send(&vm->host, M_INSTALLER_INIT, value.object, &value, &err, apple_arg_object(vm->machine),
		       apple_arg_object(apple_builder_restore_image_url(vm->live))) != 0) {
		apple_completion_fail(installed, err.message);
		return;
	}
	vm->installer = value.object;
	if (apple_send(&vm->host, M_INSTALLER_PROGRESS, vm->installer, &value, &err) != 0) {
		apple_completion_fail(installed, err.message);
		return;
	}
	vm->install_progress = value.object;
	if (apple_send(&vm->host, M_INSTALLER_INSTALL, vm->installer, NULL, &err,
		       apple_arg_block((void *)^(id error) { apple_completion_finish(installed, error); })) != 0)
		apple_completion_fail(installed, err.message);
}

/* A stop asked for before the VM ran (apple_request): the start gives up at
 * its next step. */
static bool stop_pending(struct engine_vm *vm)
{
	bool pending;

	pthread_mutex_lock(&vm->lock);
	pending = vm->stop_after_start;
	pthread_mutex_unlock(&vm->lock);
	return pending;
}

static void log_line(struct engine_vm *vm, const char *message)
{
	if (vm->options.log != NULL)
		vm->options.log(vm->options.context, LOG_LEVEL_INFO, message);
}

/* Installs macOS and reports its progress (the installer's NSProgress,
 * read every poll interval) in whole percents. */
static int install_macos(struct engine_vm *vm, struct vzk_error *err)
{
	struct queue_work work = {.vm = vm, .err = err};
	struct apple_completion installed;
	int reported = -1;
	bool cancelled = false;
	char line[128];

	log_line(vm, "installing macOS on the first disk (this takes a while)");
	apple_completion_init(&installed);
	work.completion = &installed;
	apple_queue_async(vm->queue, install_on_queue, &work);
	for (;;) {
		bool done = apple_completion_wait_for(&installed, (double)vm->install_poll_ms / 1000.0);
		union apple_value fraction;
		void *pool = apple_pool_push();
		if (vm->install_progress != nil &&
		    apple_send(&vm->host, M_PROGRESS_FRACTION, vm->install_progress, &fraction, NULL) == 0 &&
		    (int)(fraction.real * 100.0) != reported && !(done && installed.failed)) {
			reported = (int)(fraction.real * 100.0);
			snprintf(line, sizeof(line), "installing macOS: %d%%", reported);
			log_line(vm, line);
		}
		if (!done && !cancelled && stop_pending(vm) && vm->install_progress != nil) {
			/* The installer's progress is its cancel button (Apple: cancelling
			 * it before the install began raises, hence the nil check). */
			cancelled = true;
			apple_send(&vm->host, M_PROGRESS_CANCEL, vm->install_progress, NULL, NULL);
		}
		apple_pool_pop(pool);
		if (done)
			break;
	}
	if (installed.failed && cancelled) {
		apple_builder_remove_created(vm->live);
		apple_completion_destroy(&installed);
		return engine_start_abandoned(err);
	}
	if (installed.failed) {
		vzk_runtime_error(err, "--bootloader macos: installing macOS failed: %s", installed.message);
		apple_builder_remove_created(vm->live);
		apple_completion_destroy(&installed);
		return -1;
	}
	apple_completion_destroy(&installed);
	log_line(vm, "macOS is installed; starting it");
	return 0;
}

static void find_socket_device_on_queue(void *context)
{
	struct queue_work *work = context;
	struct engine_vm *vm = work->vm;
	union apple_value devices, count, device;

	work->status = -1;
	if (apple_send(&vm->host, M_VM_SOCKET_DEVICES, vm->machine, &devices, work->err) != 0 ||
	    apple_send(&vm->host, M_ARRAY_COUNT, devices.object, &count, work->err) != 0)
		return;
	if (count.uinteger == 0) {
		vzk_runtime_error(work->err, "the VM has no virtio-vsock device");
		return;
	}
	if (apple_send(&vm->host, M_ARRAY_OBJECT_AT, devices.object, &device, work->err, apple_arg_uinteger(0)) != 0)
		return;
	vm->socket_device = device.object;
	work->status = 0;
}

static void read_state_on_queue(void *context)
{
	struct queue_work *work = context;
	union apple_value state;

	work->status = apple_send(&work->vm->host, M_VM_STATE, work->vm->machine, &state, work->err);
	work->answer = state.integer;
}

/* A completion handler of stop/pause/resume: the state the request aimed at,
 * or what the VM says after a failure. */
static void request_done(struct engine_vm *vm, id error, enum vm_state reached)
{
	void *pool = apple_pool_push(); /* the handler runs on the framework's thread */

	if (error != nil)
		refresh_state_here(vm);
	else if (reached == VM_STATE_STOPPED)
		finish(vm, VM_STATE_STOPPED, NULL);
	else
		set_state(vm, reached);
	apple_pool_pop(pool);
}

static enum vm_state apple_state(struct engine_vm *vm);

static const char *request_verb(enum vm_state_request request)
{
	switch (request) {
	case VM_REQUEST_STOP:
		return "ask the guest to stop";
	case VM_REQUEST_HARD_STOP:
		return "stop";
	case VM_REQUEST_PAUSE:
		return "pause";
	case VM_REQUEST_RESUME:
		return "resume";
	}
	return "change";
}

static void request_on_queue(void *context)
{
	struct queue_work *work = context;
	struct engine_vm *vm = work->vm;
	enum apple_message_id can, change;
	enum vm_state passing, reached;
	union apple_value allowed;

	switch (work->request) {
	case VM_REQUEST_STOP:
		work->status = apple_send(&vm->host, M_VM_CAN_REQUEST_STOP, vm->machine, &allowed, work->err);
		if (work->status == 0 && !allowed.boolean)
			work->status = vzk_usage_error(work->err, "cannot %s now: the VM is %s", request_verb(work->request),
						       vm_state_name(apple_state(vm)));
		if (work->status == 0)
			work->status = apple_send(&vm->host, M_VM_REQUEST_STOP, vm->machine, NULL, work->err,
						  apple_arg_error_out());
		return;
	case VM_REQUEST_HARD_STOP:
		can = M_VM_CAN_STOP, change = M_VM_STOP, passing = VM_STATE_STOPPING, reached = VM_STATE_STOPPED;
		break;
	case VM_REQUEST_PAUSE:
		can = M_VM_CAN_PAUSE, change = M_VM_PAUSE, passing = VM_STATE_PAUSING, reached = VM_STATE_PAUSED;
		break;
	case VM_REQUEST_RESUME:
		can = M_VM_CAN_RESUME, change = M_VM_RESUME, passing = VM_STATE_RESUMING, reached = VM_STATE_RUNNING;
		break;
	default:
		work->status = vzk_usage_error(work->err, "unknown state request %d", (int)work->request);
		return;
	}
	work->status = apple_send(&vm->host, can, vm->machine, &allowed, work->err);
	if (work->status != 0)
		return;
	if (!allowed.boolean) {
		work->status = vzk_usage_error(work->err, "cannot %s the VM now: it is %s", request_verb(work->request),
					       vm_state_name(apple_state(vm)));
		return;
	}
	set_state(vm, passing);
	work->status = apple_send(&vm->host, change, vm->machine, NULL, work->err,
				  apple_arg_block((void *)^(id error) { request_done(vm, error, reached); }));
	if (work->status != 0)
		refresh_state_here(vm);
}

/* ---- create / plan ---- */

static void vm_free(struct engine_vm *vm)
{
	free(vm->plan);
	free(vm->runtime_dir_option);
	free(vm->runtime_dir);
	free(vm->listeners);
	pthread_cond_destroy(&vm->changed);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static int build_plan(struct engine_vm *vm, struct vzk_error *err)
{
	struct apple_builder_options options = {.mode = APPLE_MODE_PLAN, .host = &vm->host};
	struct apple_builder *b = apple_builder_new(&options);
	int status = -1;

	if (b == NULL)
		return vzk_runtime_error(err, "out of memory");
	apple_builder_set_error(b, err);
	apple_note(b, "vzkit plan for Apple's Virtualization framework: the messages start() sends, in order");
	apple_note(b, "host: macOS %u.%u, %s", vm->host.macos.major, vm->host.macos.minor,
		   apple_host_arch_name(vm->host.arch));
	id start_options = nil;

	if (apple_build_configuration(b, vm->config) == nil ||
	    apple_macos_start_options(b, vm->config, &start_options) != 0)
		goto out;
	apple_note(b, "then, on the VM's serial dispatch queue:");
	apple_note(b, "[VZVirtualMachine alloc]");
	apple_note(b, "[VZVirtualMachine#1 initWithConfiguration:VZVirtualMachineConfiguration#1 queue:<queue>]");
	apple_note(b, "[VZVirtualMachine#1 setDelegate:VZKitVirtualMachineDelegate#1]");
	if (vz_macos_needs_install(vm->config)) {
		apple_note(b, "[VZMacOSInstaller alloc]");
		apple_note(b, "[VZMacOSInstaller#1 initWithVirtualMachine:VZVirtualMachine#1 restoreImageURL:<the image>]");
		apple_note(b, "[VZMacOSInstaller#1 installWithCompletionHandler:^{}], its progress logged until it ends");
	}
	if (start_options != nil)
		apple_note(b, "[VZVirtualMachine#1 startWithOptions:VZMacOSVirtualMachineStartOptions#1 completionHandler:^{}]");
	else
		apple_note(b, "[VZVirtualMachine#1 startWithCompletionHandler:^{}]");
	if (vm->config->gui)
		apple_note(b, "--gui: a window on the main thread holding a VZVirtualMachineView of VZVirtualMachine#1");
	if (apple_builder_plan(b) == NULL || (vm->plan = strdup(apple_builder_plan(b))) == NULL) {
		vzk_runtime_error(err, "out of memory");
		goto out;
	}
	status = 0;
out:
	apple_builder_free(b);
	return status;
}

int apple_engine_create_on_host(const struct vz_vm_configuration *config, const struct engine_options *options,
				const struct apple_host *host, struct engine_vm **out, struct vzk_error *err)
{
	struct engine_vm *vm = calloc(1, sizeof(*vm));
	void *pool;
	int status;

	*out = NULL;
	if (vm == NULL)
		return vzk_runtime_error(err, "out of memory");
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->changed, NULL);
	vm->config = config;
	vm->options = *options;
	vm->host = *host;
	vm->state = VM_STATE_STOPPED;
	vm->vsock_connect_timeout_ms = VSOCK_CONNECT_TIMEOUT_MS;
	vm->install_poll_ms = INSTALL_POLL_MS;
	if (options->runtime_dir != NULL && (vm->runtime_dir_option = strdup(options->runtime_dir)) == NULL) {
		vm_free(vm);
		return vzk_runtime_error(err, "out of memory");
	}
	vm->options.runtime_dir = vm->runtime_dir_option;
	pool = apple_pool_push();
	status = build_plan(vm, err);
	apple_pool_pop(pool);
	if (status != 0) {
		vm_free(vm);
		return -1;
	}
	*out = vm;
	return 0;
}

static int apple_create(const struct vz_vm_configuration *config, const struct engine_options *options,
			struct engine_vm **out, struct vzk_error *err)
{
	struct apple_host host;

	*out = NULL;
	if (apple_host_detect(&host, err) != 0)
		return -1;
	return apple_engine_create_on_host(config, options, &host, out, err);
}

static int apple_print_plan(struct engine_vm *vm, FILE *out, struct vzk_error *err)
{
	if (fputs(vm->plan, out) == EOF || fflush(out) != 0)
		return vzk_runtime_error(err, "cannot print the plan: %s", strerror(errno));
	return 0;
}

/* ---- start ---- */

static int make_runtime_dir(struct engine_vm *vm, struct vzk_error *err)
{
	char template[] = "/tmp/vzkit-apple.XXXXXX";

	if (vm->options.runtime_dir != NULL) {
		vm->runtime_dir = strdup(vm->options.runtime_dir);
		return vm->runtime_dir == NULL ? vzk_runtime_error(err, "out of memory") : 0;
	}
	if (mkdtemp(template) == NULL)
		return vzk_runtime_error(err, "cannot make a runtime directory: %s", strerror(errno));
	vm->made_runtime_dir = true;
	vm->runtime_dir = strdup(template);
	if (vm->runtime_dir == NULL) {
		rmdir(template);
		vm->made_runtime_dir = false;
		return vzk_runtime_error(err, "out of memory");
	}
	return 0;
}

static void wait_until_finished(struct engine_vm *vm);

/* The framework cannot cancel a start (canStop is NO while Starting): a stop
 * that came meanwhile is carried out once the start completes. */
static int stop_started_machine(struct engine_vm *vm, struct vzk_error *err)
{
	struct queue_work work = {.vm = vm, .err = err, .request = VM_REQUEST_HARD_STOP};

	apple_queue_sync(vm->queue, request_on_queue, &work);
	if (work.status != 0)
		return vzk_error_prefix(err, "a stop was requested while starting, but the started VM");
	wait_until_finished(vm);
	return engine_start_abandoned(err);
}

static int start_machine(struct engine_vm *vm, struct vzk_error *err)
{
	struct apple_builder_options options = {.mode = APPLE_MODE_LIVE, .host = &vm->host,
						.warn = vm->options.warn, .warn_context = vm->options.context,
						.log = vm->options.log, .fetch = vm->options.fetch};
	struct queue_work work = {.vm = vm, .err = err};
	struct apple_completion started;

	if (vm->live != NULL)
		return vzk_usage_error(err, "the VM was started already");
	if (stop_pending(vm))
		return engine_start_abandoned(err);
	if (make_runtime_dir(vm, err) != 0)
		return -1;
	options.runtime_dir = vm->runtime_dir;
	vm->live = apple_builder_new(&options);
	if (vm->live == NULL)
		return vzk_runtime_error(err, "out of memory");
	apple_builder_set_error(vm->live, err);
	vm->configuration = apple_build_configuration(vm->live, vm->config);
	if (vm->configuration == nil || apple_macos_start_options(vm->live, vm->config, &vm->start_options) != 0)
		return -1;
	/* The build made the identity files for an install: the installer follows. */
	vm->installing = apple_builder_restore_image_url(vm->live) != nil;
	vm->queue = apple_queue_new("org.vzkit.vm", err);
	if (vm->queue == NULL)
		return -1;
	apple_queue_sync(vm->queue, create_machine_on_queue, &work);
	if (work.status != 0)
		return vzk_error_prefix(err, "cannot create the VM");
	if (vm->installing && install_macos(vm, err) != 0)
		return -1;
	if (stop_pending(vm))
		return engine_start_abandoned(err);

	set_state(vm, VM_STATE_STARTING);
	apple_completion_init(&started);
	work.completion = &started;
	apple_queue_async(vm->queue, start_on_queue, &work);
	apple_completion_wait(&started);
	if (started.failed) {
		finish(vm, VM_STATE_ERROR, started.message);
		vzk_runtime_error(err, "cannot start the VM: %s", started.message);
		apple_completion_destroy(&started);
		return -1;
	}
	apple_completion_destroy(&started);
	/* Under the lock that apple_request takes: a stop either came before
	 * this point (and is carried out now) or finds the VM started. */
	pthread_mutex_lock(&vm->lock);
	bool abandon = vm->stop_after_start;
	vm->started = !abandon;
	bool running = vm->state == VM_STATE_STARTING && !vm->finished;
	pthread_mutex_unlock(&vm->lock);
	if (abandon)
		return stop_started_machine(vm, err);
	if (running)
		set_state(vm, VM_STATE_RUNNING);

	if (vm->config->socket_device) {
		apple_queue_sync(vm->queue, find_socket_device_on_queue, &work);
		if (work.status != 0)
			return vzk_error_prefix(err, "--device virtio-vsock");
	}
	return 0;
}

static int apple_start(struct engine_vm *vm, struct vzk_error *err)
{
	void *pool = apple_pool_push();
	int status = start_machine(vm, err);

	apple_pool_pop(pool);
	return status;
}

/* ---- run ---- */

static void poll_state(struct engine_vm *vm)
{
	struct vzk_error err = {0};
	struct queue_work work = {.vm = vm, .err = &err};
	void *pool = apple_pool_push();

	apple_queue_sync(vm->queue, read_state_on_queue, &work);
	apple_pool_pop(pool);
	if (work.status == 0)
		observe_state(vm, state_from_framework(work.answer));
}

static bool is_finished(struct engine_vm *vm)
{
	bool finished;

	pthread_mutex_lock(&vm->lock);
	finished = vm->finished;
	pthread_mutex_unlock(&vm->lock);
	return finished;
}

static void wait_for_change(struct engine_vm *vm, long milliseconds)
{
	struct timeval now;
	struct timespec deadline;

	gettimeofday(&now, NULL);
	deadline.tv_sec = now.tv_sec + milliseconds / 1000;
	deadline.tv_nsec = (long)now.tv_usec * 1000 + (milliseconds % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	if (!vm->finished)
		pthread_cond_timedwait(&vm->changed, &vm->lock, &deadline);
	pthread_mutex_unlock(&vm->lock);
}

static void wait_until_finished(struct engine_vm *vm)
{
	while (!is_finished(vm)) {
		wait_for_change(vm, STATE_POLL_MS);
		if (!is_finished(vm))
			poll_state(vm);
	}
}

/* --gui: AppKit's events on this (main) thread until the VM is over. A
 * closed window leaves the VM running, as vfkit does: the guest is not
 * stopped behind the user's back (doc/vzkit.1, --gui); stopping stays with
 * the signals, the REST API and the guest. */
static int run_with_window(struct engine_vm *vm, struct vzk_error *err)
{
	const struct vz_graphics_device *display = vm->config->graphics_device_count > 0 ? &vm->config->graphics_devices[0]
											: NULL;

	if (apple_gui_open(&vm->host, machine_of(vm), display != NULL ? display->width : 800,
			   display != NULL ? display->height : 600, &vm->gui, err) != 0)
		return -1;
	while (!is_finished(vm)) {
		if (!apple_gui_pump(vm->gui, GUI_PUMP_SECONDS)) {
			warn(vm, "the --gui window was closed; the VM keeps running (stop it with Ctrl-C, SIGTERM or the "
				 "REST API)");
			wait_until_finished(vm);
			break;
		}
		poll_state(vm);
	}
	return 0;
}

static int apple_run(struct engine_vm *vm, struct vzk_error *err)
{
	if (machine_of(vm) == nil)
		return vzk_usage_error(err, "the VM was not started");
	if (vm->config->gui) {
		if (run_with_window(vm, err) != 0)
			return -1;
	} else {
		wait_until_finished(vm);
	}
	char failure[sizeof(vm->failure)];
	pthread_mutex_lock(&vm->lock);
	bool failed = vm->failed;
	memcpy(failure, vm->failure, sizeof(failure));
	pthread_mutex_unlock(&vm->lock);
	if (failed)
		return vzk_runtime_error(err, "the VM stopped with an error: %s", failure);
	return 0;
}

/* ---- state, requests ---- */

static enum vm_state apple_state(struct engine_vm *vm)
{
	enum vm_state state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return state;
}

static int apple_request(struct engine_vm *vm, enum vm_state_request request, struct vzk_error *err)
{
	struct queue_work work = {.vm = vm, .err = err, .request = request};
	void *pool;

	if (request == VM_REQUEST_STOP || request == VM_REQUEST_HARD_STOP) {
		pthread_mutex_lock(&vm->lock);
		bool before_running = !vm->finished && !vm->started;
		if (before_running)
			vm->stop_after_start = true;
		pthread_mutex_unlock(&vm->lock);
		if (before_running)
			return 0;
	}
	if (machine_of(vm) == nil || is_finished(vm))
		return vzk_usage_error(err, "cannot %s the VM: it is %s", request_verb(request),
				       vm_state_name(apple_state(vm)));
	pool = apple_pool_push();
	apple_queue_sync(vm->queue, request_on_queue, &work);
	apple_pool_pop(pool);
	return work.status;
}

static const char *apple_pty_name(struct engine_vm *vm, size_t serial_index)
{
	return vm->live != NULL ? apple_builder_pty_name(vm->live, serial_index) : NULL;
}

/* ---- vsock ---- */

/* A guest connection to a listened port, on the VM's queue. */
static bool listener_accept(void *context, id connection)
{
	struct apple_listener *listener = context;
	union apple_value fd;
	int own_fd;

	if (apple_send(&listener->vm->host, M_SOCKET_CONNECTION_FD, connection, &fd, NULL) != 0)
		return false;
	/* The connection object closes its descriptor when it goes; ours stays. */
	own_fd = fcntl(fd.int32, F_DUPFD_CLOEXEC, 0);
	if (own_fd < 0)
		return false;
	listener->on_connection(listener->context, own_fd);
	return true;
}

static void listen_on_queue(void *context)
{
	struct queue_work *work = context;
	struct engine_vm *vm = work->vm;
	struct apple_listener *listener = work->listener;
	union apple_value value;
	id cls;

	work->status = -1;
	if ((cls = apple_class_object(C_VZVirtioSocketListener, work->err)) == nil ||
	    apple_send(&vm->host, M_ALLOC, cls, &value, work->err) != 0 ||
	    apple_send(&vm->host, M_INIT, value.object, &value, work->err) != 0)
		return;
	listener->listener = value.object;
	listener->delegate = apple_socket_delegate_new(&listener->events, work->err);
	if (listener->delegate == nil ||
	    apple_send(&vm->host, M_SOCKET_LISTENER_SET_DELEGATE, listener->listener, NULL, work->err,
		       apple_arg_object(listener->delegate)) != 0 ||
	    apple_send(&vm->host, M_SOCKET_DEVICE_SET_LISTENER, vm->socket_device, NULL, work->err,
		       apple_arg_object(listener->listener), apple_arg_uint32(listener->port)) != 0)
		return;
	work->status = 0;
}

static void release(id object)
{
	if (object != nil)
		apple_send(NULL, M_RELEASE, object, NULL, NULL);
}

static int apple_vsock_listen(struct engine_vm *vm, uint32_t port, void (*on_connection)(void *context, int fd),
			      void *context, struct vzk_error *err)
{
	struct apple_listener *listener;
	struct queue_work work = {.vm = vm, .err = err};
	struct apple_listener **grown;
	void *pool;

	if (machine_of(vm) == nil || vm->socket_device == nil)
		return vzk_usage_error(err, "vsock port %u: the VM %s", port,
				       machine_of(vm) == nil ? "is not running" : "has no virtio-vsock device");
	listener = calloc(1, sizeof(*listener));
	grown = realloc(vm->listeners, (vm->listener_count + 1) * sizeof(*vm->listeners));
	if (grown != NULL)
		vm->listeners = grown;
	if (listener == NULL || grown == NULL) {
		free(listener);
		return vzk_runtime_error(err, "out of memory");
	}
	*listener = (struct apple_listener){.vm = vm, .port = port, .on_connection = on_connection, .context = context};
	listener->events = (struct apple_socket_events){listener_accept, listener};
	work.listener = listener;
	pool = apple_pool_push();
	apple_queue_sync(vm->queue, listen_on_queue, &work);
	apple_pool_pop(pool);
	if (work.status != 0) {
		release(listener->listener);
		release(listener->delegate);
		free(listener);
		return vzk_error_prefix(err, "vsock port %u", port);
	}
	vm->listeners[vm->listener_count++] = listener;
	return 0;
}

/* One -connectToPort:completionHandler: on the heap, shared by the waiting
 * thread and the handler: the framework "does nothing" while the guest does
 * not listen on the port (Apple's documentation), so the waiter gives up
 * after a deadline and the handler may still come afterwards, or never.
 * Whoever lets go last frees it; a handler that comes after the waiter gave
 * up closes what it got and touches nothing else. */
struct connect_attempt {
	pthread_mutex_t lock;
	pthread_cond_t answered;
	int references; /* the waiter's, and the handler's (or the queue work's) */
	bool done, abandoned, failed;
	char message[600];
	int fd;
	uint32_t port;
	struct apple_host host; /* a copy: the handler may outlive the engine VM */
	id socket_device;       /* +0, used on the queue only */
};

static void attempt_let_go(struct connect_attempt *attempt)
{
	bool last;

	pthread_mutex_lock(&attempt->lock);
	last = --attempt->references == 0;
	pthread_mutex_unlock(&attempt->lock);
	if (!last)
		return;
	if (attempt->fd >= 0)
		close(attempt->fd);
	pthread_cond_destroy(&attempt->answered);
	pthread_mutex_destroy(&attempt->lock);
	free(attempt);
}

/* The handler's answer (fd >= 0: a duplicate we own), then its reference goes. */
static void attempt_answer(struct connect_attempt *attempt, int fd, const char *failure)
{
	pthread_mutex_lock(&attempt->lock);
	if (attempt->abandoned || attempt->done) {
		if (fd >= 0)
			close(fd);
	} else {
		attempt->done = true;
		attempt->failed = failure != NULL;
		if (failure != NULL)
			snprintf(attempt->message, sizeof(attempt->message), "%s", failure);
		attempt->fd = fd;
		pthread_cond_broadcast(&attempt->answered);
	}
	pthread_mutex_unlock(&attempt->lock);
	attempt_let_go(attempt);
}

static void connection_made(struct connect_attempt *attempt, id connection, id error)
{
	union apple_value fd;
	struct vzk_error err = {0};
	char text[600];
	void *pool = apple_pool_push();
	int own_fd;

	if (connection == nil) {
		apple_describe_error(error, text, sizeof(text));
		attempt_answer(attempt, -1, text);
	} else if (apple_send(&attempt->host, M_SOCKET_CONNECTION_FD, connection, &fd, &err) != 0) {
		attempt_answer(attempt, -1, err.message);
	} else if ((own_fd = fcntl(fd.int32, F_DUPFD_CLOEXEC, 0)) < 0) {
		/* The connection object closes its descriptor when it goes; ours stays. */
		attempt_answer(attempt, -1, strerror(errno));
	} else {
		attempt_answer(attempt, own_fd, NULL);
	}
	apple_pool_pop(pool);
}

static void connect_on_queue(void *context)
{
	struct connect_attempt *attempt = context;
	struct vzk_error err = {0};

	/* The queue work's reference becomes the handler's. */
	if (apple_send(&attempt->host, M_SOCKET_DEVICE_CONNECT, attempt->socket_device, NULL, &err,
		       apple_arg_uint32(attempt->port),
		       apple_arg_block((void *)^(id connection, id error) { connection_made(attempt, connection, error); })) != 0)
		attempt_answer(attempt, -1, err.message);
}

static int apple_vsock_connect(struct engine_vm *vm, uint32_t port, int *fd, struct vzk_error *err)
{
	struct connect_attempt *attempt;
	struct timeval now;
	struct timespec deadline;
	void *pool;
	int status = 0;

	*fd = -1;
	if (machine_of(vm) == nil || vm->socket_device == nil)
		return vzk_usage_error(err, "vsock port %u: the VM %s", port,
				       machine_of(vm) == nil ? "is not running" : "has no virtio-vsock device");
	attempt = calloc(1, sizeof(*attempt));
	if (attempt == NULL)
		return vzk_runtime_error(err, "out of memory");
	pthread_mutex_init(&attempt->lock, NULL);
	pthread_cond_init(&attempt->answered, NULL);
	attempt->references = 2;
	attempt->fd = -1;
	attempt->port = port;
	attempt->host = vm->host;
	attempt->socket_device = vm->socket_device;

	gettimeofday(&now, NULL);
	deadline.tv_sec = now.tv_sec + (time_t)(vm->vsock_connect_timeout_ms / 1000);
	deadline.tv_nsec = (long)now.tv_usec * 1000 + (long)(vm->vsock_connect_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pool = apple_pool_push();
	apple_queue_async(vm->queue, connect_on_queue, attempt);
	apple_pool_pop(pool);

	pthread_mutex_lock(&attempt->lock);
	while (!attempt->done)
		if (pthread_cond_timedwait(&attempt->answered, &attempt->lock, &deadline) == ETIMEDOUT)
			break;
	if (!attempt->done) {
		attempt->abandoned = true;
		status = vzk_runtime_error(err, "cannot connect to the guest's vsock port %u: no answer within %u ms "
						"(is anything listening on it in the guest?)",
					   port, vm->vsock_connect_timeout_ms);
	} else if (attempt->failed) {
		status = vzk_runtime_error(err, "cannot connect to the guest's vsock port %u: %s", port, attempt->message);
	} else {
		*fd = attempt->fd;
		attempt->fd = -1;
	}
	pthread_mutex_unlock(&attempt->lock);
	attempt_let_go(attempt);
	return status;
}

void apple_engine_set_vsock_connect_timeout(struct engine_vm *vm, unsigned milliseconds)
{
	vm->vsock_connect_timeout_ms = milliseconds;
}

void apple_engine_set_install_poll_interval(struct engine_vm *vm, unsigned milliseconds)
{
	vm->install_poll_ms = milliseconds;
}

/* ---- destroy ---- */

static void stop_for_destroy_on_queue(void *context)
{
	struct queue_work *work = context;
	struct engine_vm *vm = work->vm;
	struct apple_completion *stopped = work->completion;
	union apple_value allowed;
	struct vzk_error err = {0};

	if (apple_send(&vm->host, M_VM_CAN_STOP, vm->machine, &allowed, &err) != 0 || !allowed.boolean) {
		apple_completion_fail(stopped, "cannot stop");
		return;
	}
	if (apple_send(&vm->host, M_VM_STOP, vm->machine, NULL, &err,
		       apple_arg_block((void *)^(id error) { apple_completion_finish(stopped, error); })) != 0)
		apple_completion_fail(stopped, err.message);
}

/* The VM goes on its own queue; nothing of it is used afterwards. */
static void release_machine_on_queue(void *context)
{
	struct engine_vm *vm = context;

	for (size_t i = 0; i < vm->listener_count; i++)
		apple_send(&vm->host, M_SOCKET_DEVICE_REMOVE_LISTENER, vm->socket_device, NULL, NULL,
			   apple_arg_uint32(vm->listeners[i]->port));
	vm->socket_device = nil;
	release(vm->machine);
	pthread_mutex_lock(&vm->lock);
	vm->machine = nil;
	pthread_mutex_unlock(&vm->lock);
}

static void apple_destroy(struct engine_vm *vm)
{
	void *pool;

	if (vm == NULL)
		return;
	pool = apple_pool_push();
	apple_gui_close(vm->gui);
	vm->gui = NULL;
	if (machine_of(vm) != nil) {
		if (!is_finished(vm)) {
			struct apple_completion stopped;
			struct queue_work work = {.vm = vm};
			apple_completion_init(&stopped);
			work.completion = &stopped;
			apple_queue_async(vm->queue, stop_for_destroy_on_queue, &work);
			apple_completion_wait(&stopped);
			apple_completion_destroy(&stopped);
		}
		apple_queue_sync(vm->queue, release_machine_on_queue, vm);
	}
	release(vm->installer);
	release(vm->delegate);
	for (size_t i = 0; i < vm->listener_count; i++) {
		release(vm->listeners[i]->listener);
		release(vm->listeners[i]->delegate);
		free(vm->listeners[i]);
	}
	apple_builder_free(vm->live);
	apple_queue_free(vm->queue);
	if (vm->made_runtime_dir)
		rmdir(vm->runtime_dir);
	apple_pool_pop(pool);
	vm_free(vm);
}

const struct vz_engine_ops apple_engine = {
	.name = "apple",
	.create = apple_create,
	.print_plan = apple_print_plan,
	.start = apple_start,
	.run = apple_run,
	.state = apple_state,
	.request = apple_request,
	.pty_name = apple_pty_name,
	.vsock_listen = apple_vsock_listen,
	.vsock_connect = apple_vsock_connect,
	.destroy = apple_destroy,
};

/* The QEMU engine through struct vz_engine_ops, as cmd/ drives it, against
 * the real test guest under TCG: run() on the main thread while another
 * thread calls state() and request() — pause (the guest's ticks stop),
 * resume (they go on), a refused request, stop (the guest gets the power
 * button and powers off: run() returns 0) — with every state change reported
 * in order through on_state_change, transitional states included; then a
 * hard stop, and destroy() leaving no runtime directory behind. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/testlib.h"
#include "vz/qemu/process.h"
#include "vz/qemu/qmp.h"
#include "vz/qemu/qemu_engine.h"
#include "vz/vz.h"

#define MAX_CHANGES 64

struct recorder {
	pthread_mutex_t lock;
	enum vm_state changes[MAX_CHANGES];
	size_t count;
	char log_lines[4096]; /* what the engine handed the log callback, one per line */
};

struct scenario {
	const struct vz_engine_ops *ops;
	struct engine_vm *vm;
	struct recorder *recorder;
	const char *log_path;
	bool hard_stop; /* else: pause, resume, stop */
	/* results, written by the controller thread */
	bool ready, paused_seen, ticks_stopped, resumed_seen, ticks_went_on, refused_resume_while_running;
	bool pausing_seen_at_once;
	char failure[1600];
};

static void record(void *context, enum vm_state state)
{
	struct recorder *recorder = context;

	pthread_mutex_lock(&recorder->lock);
	if (recorder->count < MAX_CHANGES)
		recorder->changes[recorder->count++] = state;
	pthread_mutex_unlock(&recorder->lock);
}

static void record_log(void *context, enum log_level level, const char *message)
{
	struct recorder *recorder = context;
	size_t used;

	(void)level;
	pthread_mutex_lock(&recorder->lock);
	used = strlen(recorder->log_lines);
	snprintf(recorder->log_lines + used, sizeof(recorder->log_lines) - used, "%s\n", message);
	pthread_mutex_unlock(&recorder->lock);
}

static bool glob_matches(const char *pattern)
{
	glob_t found;
	bool matched = glob(pattern, 0, NULL, &found) == 0 && found.gl_pathc > 0;

	globfree(&found);
	return matched;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static bool log_has(const char *path, const char *text)
{
	FILE *file = fopen(path, "r");
	char line[512];
	bool found = false;

	if (file == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), file) != NULL)
		found = strstr(line, text) != NULL;
	fclose(file);
	return found;
}

static bool wait_for_state(struct scenario *s, enum vm_state want, int ms)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (s->ops->state(s->vm) == want)
			return true;
		sleep_ms(20);
	}
	return false;
}

/* The other thread: what a REST client or cmd's signal handling does. */
static void *controller(void *context)
{
	struct scenario *s = context;
	struct vzk_error err = {0};

	for (int i = 0; i < 600 && !s->ready; i++) {
		s->ready = log_has(s->log_path, "VZKIT ready");
		if (!s->ready)
			sleep_ms(100);
	}
	if (!s->ready) {
		snprintf(s->failure, sizeof(s->failure), "the guest never said VZKIT ready");
		s->ops->request(s->vm, VM_REQUEST_HARD_STOP, &err);
		return NULL;
	}
	if (s->hard_stop) {
		if (s->ops->request(s->vm, VM_REQUEST_HARD_STOP, &err) != 0)
			snprintf(s->failure, sizeof(s->failure), "hard stop refused: %s", err.message);
		return NULL;
	}
	s->refused_resume_while_running = s->ops->request(s->vm, VM_REQUEST_RESUME, &err) != 0;
	memset(&err, 0, sizeof(err));
	if (s->ops->request(s->vm, VM_REQUEST_PAUSE, &err) != 0) {
		snprintf(s->failure, sizeof(s->failure), "pause refused: %s", err.message);
		goto stop;
	}
	enum vm_state now = s->ops->state(s->vm);
	s->pausing_seen_at_once = now == VM_STATE_PAUSING || now == VM_STATE_PAUSED;
	s->paused_seen = wait_for_state(s, VM_STATE_PAUSED, 5000);
	long before = file_size(s->log_path);
	sleep_ms(1500); /* the guest ticks every 0.5 s while it runs */
	s->ticks_stopped = s->paused_seen && file_size(s->log_path) == before;
	if (s->ops->request(s->vm, VM_REQUEST_RESUME, &err) != 0) {
		snprintf(s->failure, sizeof(s->failure), "resume refused: %s", err.message);
		goto stop;
	}
	s->resumed_seen = wait_for_state(s, VM_STATE_RUNNING, 5000);
	before = file_size(s->log_path);
	sleep_ms(1500);
	s->ticks_went_on = file_size(s->log_path) > before;
stop:
	memset(&err, 0, sizeof(err));
	if (s->ops->request(s->vm, VM_REQUEST_STOP, &err) != 0) {
		snprintf(s->failure + strlen(s->failure), sizeof(s->failure) - strlen(s->failure), "; stop refused: %s",
			 err.message);
		s->ops->request(s->vm, VM_REQUEST_HARD_STOP, &err);
	}
	return NULL;
}

/* The order of the reported states, as one comparable string. */
static void describe_changes(struct recorder *recorder, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	pthread_mutex_lock(&recorder->lock);
	for (size_t i = 0; i < recorder->count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "",
					 vm_state_name(recorder->changes[i]) + strlen("VirtualMachineState"));
	pthread_mutex_unlock(&recorder->lock);
}

static bool guest_available(char *kernel, char *initrd, size_t size)
{
	const char *guest = getenv("VZKIT_TEST_GUEST");
	char command[1024];

	if (guest == NULL)
		guest = "build/test-guest";
	snprintf(kernel, size, "%s/vmlinuz", guest);
	snprintf(initrd, size, "%s/initrd.img", guest);
	if (access(kernel, R_OK) == 0 && access(initrd, R_OK) == 0)
		return true;
	snprintf(command, sizeof(command), "bash test/guest/build.sh '%s' >/dev/null 2>&1", guest);
	return system(command) == 0 && access(kernel, R_OK) == 0;
}

static int run_scenario(bool hard_stop, const char *kernel, const char *initrd, const char *scratch)
{
	struct vz_vm_configuration config = {.cpu_count = 1, .memory_size = 512ull << 20};
	struct recorder recorder = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct engine_options options = {.accel = ENGINE_ACCEL_TCG, .log_level = LOG_LEVEL_INFO,
					 .on_state_change = record, .log = record_log, .context = &recorder,
					 .runtime_dir = scratch};
	struct scenario s = {.ops = &qemu_engine, .recorder = &recorder, .hard_stop = hard_stop};
	struct vzk_error err = {0};
	char log_path[512], changes[512], runtime_glob[128];
	const char *which = hard_stop ? "hard stop" : "pause/resume/stop";
	pthread_t thread;
	int run_status;

	snprintf(log_path, sizeof(log_path), "%s/%s.log", scratch, hard_stop ? "hard" : "soft");
	s.log_path = log_path;
	config.boot_loader.kind = VZ_BOOT_LOADER_LINUX;
	config.boot_loader.kernel_path = strdup(kernel);
	config.boot_loader.initrd_path = strdup(initrd);
	config.boot_loader.command_line = strdup(hard_stop ? "console=hvc0 vzkit.mode=ignore-powerbutton"
							   : "console=hvc0 vzkit.mode=wait");
	struct vz_serial_port *port = vz_add_serial_port(&config);
	port->attachment = VZ_SERIAL_ATTACHMENT_FILE;
	port->log_path = strdup(log_path);

	if (qemu_engine.create(&config, &options, &s.vm, &err) != 0) {
		CHECK_NAMED(which, false, "create: %s", err.message);
		qemu_engine.destroy(s.vm);
		vz_vm_configuration_free(&config);
		return -1;
	}
	if (qemu_engine.start(s.vm, &err) != 0) {
		CHECK_NAMED(which, false, "start: %s", err.message);
		qemu_engine.destroy(s.vm);
		vz_vm_configuration_free(&config);
		return -1;
	}
	char name[160];
	snprintf(name, sizeof(name), "%s: Running once start() returns", which);
	CHECK_NAMED(name, qemu_engine.state(s.vm) == VM_STATE_RUNNING, "%s", vm_state_name(qemu_engine.state(s.vm)));
	snprintf(name, sizeof(name), "%s: the runtime directory is made under engine_options.runtime_dir", which);
	snprintf(runtime_glob, sizeof(runtime_glob), "%s/vzkit-%ld-*/qemu.log", scratch, (long)getpid());
	CHECK_NAMED(name, glob_matches(runtime_glob), "no %s", runtime_glob);
	snprintf(name, sizeof(name), "%s: the engine's lines reach the log callback", which);
	pthread_mutex_lock(&recorder.lock);
	CHECK_NAMED(name, strstr(recorder.log_lines, "accelerator: tcg (--accel tcg)\n") != NULL, "log: %s",
		    recorder.log_lines);
	pthread_mutex_unlock(&recorder.lock);
	snprintf(name, sizeof(name), "%s: a file console has no pty", which);
	CHECK_NAMED(name, qemu_engine.pty_name(s.vm, 0) == NULL && qemu_engine.pty_name(s.vm, 5) == NULL, "pty");
	pthread_create(&thread, NULL, controller, &s);
	run_status = qemu_engine.run(s.vm, &err); /* on the main thread, as cmd/ does */
	pthread_join(thread, NULL);
	describe_changes(&recorder, changes, sizeof(changes));
	printf("# %s: states %s\n", which, changes);

	snprintf(name, sizeof(name), "%s: run() returns 0", which);
	CHECK_NAMED(name, run_status == 0, "%d: %s", run_status, err.message);
	snprintf(name, sizeof(name), "%s: the controller thread saw no failure", which);
	CHECK_NAMED(name, s.failure[0] == '\0', "%s", s.failure);
	snprintf(name, sizeof(name), "%s: Stopped after run()", which);
	CHECK_NAMED(name, qemu_engine.state(s.vm) == VM_STATE_STOPPED, "%s", vm_state_name(qemu_engine.state(s.vm)));
	if (hard_stop) {
		snprintf(name, sizeof(name), "%s: states reported in order", which);
		CHECK_NAMED(name, strcmp(changes, "Starting Running Stopping Stopped") == 0, "%s", changes);
		snprintf(name, sizeof(name), "%s: the guest was stopped, it did not power off", which);
		CHECK_NAMED(name, !log_has(log_path, "VZKIT powerbutton\n") && log_has(log_path, "VZKIT ready"), "log");
	} else {
		CHECK_NAMED("resume is refused while Running", s.refused_resume_while_running, "accepted");
		CHECK_NAMED("pause: Pausing (or already Paused) as soon as request() returns", s.pausing_seen_at_once, "no");
		CHECK_NAMED("pause: Paused", s.paused_seen, "never Paused");
		CHECK_NAMED("pause: the guest's ticks stop", s.ticks_stopped, "the log grew while Paused");
		CHECK_NAMED("resume: Running again", s.resumed_seen, "never Running again");
		CHECK_NAMED("resume: the guest's ticks go on", s.ticks_went_on, "the log did not grow");
		CHECK_NAMED("stop: the guest saw the power button and powered off", log_has(log_path, "VZKIT powerbutton"),
			    "no powerbutton line");
		CHECK_NAMED("pause/resume/stop: states reported in order",
			    strcmp(changes, "Starting Running Pausing Paused Resuming Running Stopping Stopped") == 0, "%s",
			    changes);
	}
	snprintf(runtime_glob, sizeof(runtime_glob), "%s/vzkit-%ld-*", scratch, (long)getpid());
	qemu_engine.destroy(s.vm);
	vz_vm_configuration_free(&config);
	snprintf(name, sizeof(name), "%s: destroy() removed the runtime directory", which);
	CHECK_NAMED(name, !glob_matches(runtime_glob), "%s exists", runtime_glob);
	return 0;
}

/* Leftovers of other vzkits under the runtime parent, made before start():
 * the directory of a vzkit that is gone must go, a live one's must stay, and
 * a symlink named like a leftover must not be followed. */
struct leftovers {
	pid_t live_pid;
	char dead[160], live[160], link[160], link_target[160];
};

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void make_leftovers(const char *scratch, struct leftovers *l)
{
	char path[200];
	pid_t dead = dead_pid(), dead_too = dead_pid();
	FILE *file;

	l->live_pid = fork();
	if (l->live_pid == 0) {
		pause();
		_exit(0);
	}
	snprintf(l->dead, sizeof(l->dead), "%s/vzkit-%ld-0badf00d", scratch, (long)dead);
	snprintf(l->live, sizeof(l->live), "%s/vzkit-%ld-0badf00d", scratch, (long)l->live_pid);
	snprintf(l->link, sizeof(l->link), "%s/vzkit-%ld-0badf00d", scratch, (long)dead_too);
	snprintf(l->link_target, sizeof(l->link_target), "%s/not-a-leftover", scratch);
	mkdir(l->dead, 0700);
	snprintf(path, sizeof(path), "%s/qemu.log", l->dead); /* not empty: removed as a tree */
	file = fopen(path, "w");
	if (file != NULL)
		fclose(file);
	mkdir(l->live, 0700);
	mkdir(l->link_target, 0700);
	snprintf(path, sizeof(path), "%s/keep", l->link_target);
	file = fopen(path, "w");
	if (file != NULL)
		fclose(file);
	if (symlink(l->link_target, l->link) != 0)
		perror("symlink");
}

static void check_leftovers(struct leftovers *l)
{
	char path[200];
	struct stat st;

	CHECK_NAMED("start(): a dead vzkit's runtime directory is removed", stat(l->dead, &st) != 0 && errno == ENOENT,
		    "%s is still there", l->dead);
	CHECK_NAMED("start(): a live vzkit's runtime directory is kept", stat(l->live, &st) == 0, "%s is gone", l->live);
	snprintf(path, sizeof(path), "%s/keep", l->link_target);
	CHECK_NAMED("start(): a symlink named like a leftover is not followed", stat(path, &st) == 0,
		    "%s was removed", path);
	kill(l->live_pid, SIGKILL);
	waitpid(l->live_pid, NULL, 0);
	rmdir(l->live);
}

/* fd=N must be a datagram socket (vfkit's file-handle attachment): a stream
 * socket is refused at start, naming the fd, before QEMU runs. */
static void check_stream_fd_refused(const char *kernel, const char *initrd, const char *scratch)
{
	struct vz_vm_configuration config = {.cpu_count = 1, .memory_size = 512ull << 20};
	struct engine_options options = {.accel = ENGINE_ACCEL_TCG, .log_level = LOG_LEVEL_ERROR, .runtime_dir = scratch};
	struct engine_vm *vm = NULL;
	struct vzk_error err = {0};
	char runtime_glob[128], expected[64];
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
		return;
	config.boot_loader.kind = VZ_BOOT_LOADER_LINUX;
	config.boot_loader.kernel_path = strdup(kernel);
	config.boot_loader.initrd_path = strdup(initrd);
	struct vz_network_device *net = vz_add_network_device(&config);
	net->attachment = VZ_NETWORK_ATTACHMENT_FILE_HANDLE;
	net->fd = pair[0];
	snprintf(expected, sizeof(expected), "fd=%d is not a datagram socket", pair[0]);
	int status = qemu_engine.create(&config, &options, &vm, &err);
	if (status == 0)
		status = qemu_engine.start(vm, &err);
	CHECK_NAMED("start(): virtio-net fd=N of a stream socket is refused as bad input, naming the fd",
		    status != 0 && err.kind == VZK_ERR_USAGE && strstr(err.message, expected) != NULL, "status %d: %s",
		    status, err.message);
	qemu_engine.destroy(vm);
	snprintf(runtime_glob, sizeof(runtime_glob), "%s/vzkit-%ld-*", scratch, (long)getpid());
	CHECK_NAMED("start(): nothing is left of the refused VM", !glob_matches(runtime_glob), "%s exists", runtime_glob);
	vz_vm_configuration_free(&config);
	close(pair[0]);
	close(pair[1]);
}

static int always_starting(void *context)
{
	(void)context;
	return 1;
}

/* The monitor is a socket pair (doc/design.md): a QEMU that dies before it
 * greets closes its end, and vzkit hears that at once, not at the start
 * timeout, even before the process is reaped. */
static void check_qmp_eof(void)
{
	struct qmp qmp;
	struct vzk_error err = {0};
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		perror("socketpair");
		return;
	}
	close(pair[1]); /* QEMU's end, gone with QEMU */
	int status = qmp_attach(&qmp, pair[0], 60000, always_starting, NULL, &err);
	CHECK_NAMED("qmp_attach: QEMU's end closed before the greeting is an error at once, not a timeout",
		    status != 0 && strcmp(err.message, "QMP: QEMU closed the monitor") == 0, "status %d: %s", status,
		    err.message);
	CHECK_NAMED("qmp_attach: the descriptor is closed on failure", qmp.fd == -1 && fcntl(pair[0], F_GETFD) == -1,
		    "fd %d", qmp.fd);
}

int main(void)
{
	struct leftovers leftovers;
	char kernel[512], initrd[512];
	char scratch[] = "/tmp/vzkit-test-engine-XXXXXX";

	check_qmp_eof();
	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0) {
		SKIP("qemu engine", "qemu-system-x86_64 is not installed");
		return 0;
	}
	if (!guest_available(kernel, initrd, sizeof(kernel))) {
		SKIP("qemu engine", "the test guest did not build");
		return 0;
	}
	if (mkdtemp(scratch) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	check_stream_fd_refused(kernel, initrd, scratch);
	make_leftovers(scratch, &leftovers);
	run_scenario(false, kernel, initrd, scratch);
	check_leftovers(&leftovers);
	run_scenario(true, kernel, initrd, scratch);
	remove_tree(scratch);
	TEST_EXIT();
}

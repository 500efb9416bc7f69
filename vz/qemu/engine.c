/* The QEMU engine: plan at create(), then start QEMU and its helpers, drive
 * it over QMP, and supervise it until the guest stops. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vz/cleanup_watcher.h"
#include "vz/qemu/accel.h"
#include "vz/qemu/device_error.h"
#include "vz/qemu/host.h"
#include "vz/qemu/plan.h"
#include "vz/qemu/process.h"
#include "vz/qemu/qemu_engine.h"
#include "vz/qemu/qmp.h"
#include "vz/qemu/vsock.h"

#define HELPER_SOCKET_TIMEOUT_MS 5000
#define QMP_CONNECT_TIMEOUT_MS 15000
#define HARD_STOP_GRACE_MS 3000
/* A helper died under a running VM: QEMU gets this long to quit before it
 * is killed (the whole stop must take under 2 s). */
#define HELPER_DEATH_GRACE_MS 1000
#define FIRMWARE_DESCRIPTOR_DIR "/usr/share/qemu/firmware"

struct engine_vm {
	const struct vz_vm_configuration *config;
	struct engine_options options;
	enum qemu_arch arch;
	enum qemu_accel accel;
	char accel_reason[512];
	char runtime_dir[80];
	struct qemu_firmware firmware;
	bool *disk_is_qcow2;
	struct qemu_plan plan;
	bool skipped_rosetta;
	bool gui_headless; /* --gui without a display: run without a window, as podman's debug mode needs */
	char gui_backend[16];
	const char *tls_ca_file;

	/* running */
	bool started;
	pid_t qemu_pid;
	int qemu_pidfd;
	pid_t *helper_pids;
	int *helper_pidfds;
	int *passed_fds;
	int stderr_log_fd;
	int qmp_end; /* vzkit's end of the monitor's socket pair, until qmp_attach takes it */
	struct qmp qmp;
	struct terminal_state saved_terminal;
	bool terminal_saved;
	char **pty_names;
	struct qemu_vsock *vsock;

	/* shared with other threads */
	pthread_mutex_t lock;
	enum vm_state state;
	int request_pipe[2];
	bool hard_stop_requested;
	bool abort_start;        /* a stop was asked for before the VM ran */
	bool run_over;           /* run() has returned: Stopped is final */
	bool guest_shutdown;     /* SHUTDOWN from the guest (power off) */
	char shutdown_reason[64];
};

static void engine_log(const struct engine_vm *vm, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void engine_log(const struct engine_vm *vm, enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level > vm->options.log_level || vm->options.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vm->options.log(vm->options.context, level, line);
}

static void vsock_log(void *context, enum log_level level, const char *message)
{
	engine_log(context, level, "%s", message);
}

static void set_state(struct engine_vm *vm, enum vm_state state)
{
	bool changed;

	pthread_mutex_lock(&vm->lock);
	changed = vm->state != state;
	vm->state = state;
	pthread_mutex_unlock(&vm->lock);
	if (changed && vm->options.on_state_change != NULL)
		vm->options.on_state_change(vm->options.context, state);
}

/* ---- create: everything decided, nothing started or created ---- */

static int check_devices(struct engine_vm *vm, struct vzk_error *err)
{
	const struct vz_vm_configuration *config = vm->config;

	if (config->boot_loader.kind == VZ_BOOT_LOADER_MACOS)
		return vzk_usage_error(err, "--bootloader macos: macOS guests need a macOS host on Apple silicon");
	for (size_t i = 0; i < config->directory_share_count; i++) {
		const struct vz_directory_share *share = &config->directory_shares[i];
		if (share->kind != VZ_SHARE_ROSETTA)
			continue;
		if (!share->rosetta_ignore_if_missing)
			return vzk_usage_error(err, "--device rosetta: Rosetta needs a macOS host on Apple silicon (add ignore-if-missing to go on without it)");
		vm->skipped_rosetta = true;
	}
	if (config->platform.nested_virtualization) {
		if (vm->accel != QEMU_ACCEL_KVM)
			return vzk_usage_error(err, "--nested: needs KVM, and this host runs guests under TCG (%s)",
					       vm->accel_reason);
		char nested[8] = "";
		FILE *file = fopen("/sys/module/kvm_intel/parameters/nested", "r");
		if (file == NULL)
			file = fopen("/sys/module/kvm_amd/parameters/nested", "r");
		if (file != NULL) {
			if (fgets(nested, sizeof(nested), file) == NULL)
				nested[0] = '\0';
			fclose(file);
		}
		if (nested[0] != 'Y' && nested[0] != '1')
			return vzk_usage_error(err, "--nested: the host's KVM does not allow nested virtualisation");
	}
	for (size_t i = 0; i < config->directory_share_count; i++)
		if (config->directory_shares[i].kind == VZ_SHARE_SINGLE_DIRECTORY && geteuid() != 0)
			return vzk_usage_error(err, "--device virtio-fs: QEMU's virtiofsd here needs root (it cannot sandbox itself otherwise); run vzkit as root");
	vm->gui_headless = config->gui && getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL;
	if (config->gui && !vm->gui_headless &&
	    qemu_find_gui_backend(vm->arch, vm->gui_backend, sizeof(vm->gui_backend), err) != 0)
		return -1;
	for (size_t i = 0; i < config->storage_device_count; i++) {
		static const char *const flags[] = {[VZ_STORAGE_VIRTIO_BLOCK] = "virtio-blk", [VZ_STORAGE_NVME] = "nvme",
						    [VZ_STORAGE_USB_MASS_STORAGE] = "usb-mass-storage"};
		const struct vz_storage_device *disk = &config->storage_devices[i];
		const char *problem = disk->attachment.kind == VZ_STORAGE_ATTACHMENT_DISK_IMAGE &&
						      qemu_image_is_qcow2(disk->attachment.path)
					      ? qemu_qcow2_header_problem(disk->attachment.path)
					      : NULL;
		if (problem != NULL)
			return vzk_usage_error(err, "--device %s: %s starts like a qcow2 image but is not a valid one (%s)",
					       flags[disk->kind], disk->attachment.path, problem);
	}
	return 0;
}

static int engine_create(const struct vz_vm_configuration *config, const struct engine_options *options,
			 struct engine_vm **out, struct vzk_error *err)
{
	struct engine_vm *vm = calloc(1, sizeof(*vm));
	struct qemu_plan_params params = {0};

	*out = NULL;
	if (vm == NULL)
		return vzk_runtime_error(err, "out of memory");
	vm->config = config;
	vm->options = *options;
	vm->arch = qemu_host_arch();
	vm->qemu_pidfd = vm->stderr_log_fd = -1;
	vm->request_pipe[0] = vm->request_pipe[1] = -1;
	vm->qmp.fd = -1;
	vm->qmp_end = -1;
	vm->state = VM_STATE_STOPPED;
	pthread_mutex_init(&vm->lock, NULL);
	*out = vm;
	/* The pid names the runtime directory (so a stale one can be told from a
	 * live one) and a random suffix keeps others from squatting the name;
	 * it is decided here so the plan can print it before it exists. */
	const char *base = options->runtime_dir != NULL ? options->runtime_dir : getenv("XDG_RUNTIME_DIR");
	unsigned char noise[4] = {0};
	if (base == NULL || base[0] != '/' || (options->runtime_dir == NULL && strlen(base) >= 30))
		base = "/tmp";
	if (getrandom(noise, sizeof(noise), 0) != (ssize_t)sizeof(noise))
		noise[0] = (unsigned char)time(NULL);
	if (snprintf(vm->runtime_dir, sizeof(vm->runtime_dir), "%s/vzkit-%ld-%02x%02x%02x%02x", base, (long)getpid(),
		     noise[0], noise[1], noise[2], noise[3]) >= (int)sizeof(vm->runtime_dir))
		return vzk_usage_error(err, "runtime directory %s: too long for unix socket paths", base);
	if (qemu_choose_accel_cached(vm->arch, options->accel, QEMU_KVM_PROBE_DEADLINE_MS, NULL, &vm->accel,
				     vm->accel_reason, sizeof(vm->accel_reason), err) != 0)
		return -1;
	if (check_devices(vm, err) != 0)
		return -1;
	if (config->boot_loader.kind == VZ_BOOT_LOADER_EFI &&
	    qemu_find_firmware(FIRMWARE_DESCRIPTOR_DIR, vm->arch, &vm->firmware, err) != 0)
		return -1;
	vm->disk_is_qcow2 = calloc(config->storage_device_count + 1, sizeof(bool));
	vm->pty_names = calloc(config->serial_port_count + 1, sizeof(char *));
	if (vm->disk_is_qcow2 == NULL || vm->pty_names == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; i < config->storage_device_count; i++)
		if (config->storage_devices[i].attachment.kind == VZ_STORAGE_ATTACHMENT_DISK_IMAGE)
			vm->disk_is_qcow2[i] = qemu_image_is_qcow2(config->storage_devices[i].attachment.path);
	params.arch = vm->arch;
	params.accel = vm->accel;
	params.qemu_binary = qemu_binary_for(vm->arch);
	/* Debian's QEMU ships it there; VZKIT_VIRTIOFSD names another build
	 * (e.g. the Rust one in /usr/libexec). */
	params.virtiofsd = getenv("VZKIT_VIRTIOFSD") != NULL && getenv("VZKIT_VIRTIOFSD")[0] == '/'
				   ? getenv("VZKIT_VIRTIOFSD")
				   : "/usr/lib/qemu/virtiofsd";
	params.runtime_dir = vm->runtime_dir;
	params.efi_code = vm->firmware.code;
	params.efi_vars_format = vm->firmware.format[0] ? vm->firmware.format : "raw";
	params.helpers_as_root = geteuid() == 0;
	params.gui_display = config->gui && !vm->gui_headless;
	params.gui_backend = vm->gui_backend;
	/* nbds:// servers are checked against the system's CAs, or the
	 * bundle named the way OpenSSL and GnuTLS tools name it. */
	vm->tls_ca_file = getenv("SSL_CERT_FILE") != NULL && getenv("SSL_CERT_FILE")[0] == '/'
				  ? getenv("SSL_CERT_FILE")
				  : "/etc/ssl/certs/ca-certificates.crt";
	params.tls_ca_file = vm->tls_ca_file;
	params.vsock_guest_cid = config->socket_device ? QEMU_VSOCK_GUEST_CID : 0;
	params.disk_is_qcow2 = vm->disk_is_qcow2;
	return qemu_plan_build(config, &params, &vm->plan, err);
}

static int engine_print_plan(struct engine_vm *vm, FILE *out, struct vzk_error *err)
{
	(void)err;
	fprintf(out, "# accelerator: %s (%s)\n", vm->accel == QEMU_ACCEL_KVM ? "kvm" : "tcg", vm->accel_reason);
	if (vm->gui_headless)
		fprintf(out, "# --gui: no display (neither DISPLAY nor WAYLAND_DISPLAY is set), no window\n");
	if (vm->skipped_rosetta)
		fprintf(out, "# rosetta: not available on this host, skipped (ignore-if-missing)\n");
	if (vm->plan.tls_dir != NULL)
		fprintf(out, "# nbds: %s/ca-cert.pem -> %s\n", vm->plan.tls_dir, vm->plan.tls_ca_file);
	/* The descriptors QEMU inherits exist only at start (the plan names them by number). */
	for (size_t i = 0; i < vm->plan.fd_count; i++) {
		const struct qemu_passed_fd *fd = &vm->plan.fds[i];
		if (fd->kind == QEMU_FD_QMP)
			fprintf(out, "# fd %d: QEMU's monitor, a socket pair with vzkit\n", fd->target_fd);
		else
			fprintf(out, "# fd %d: network device %zu, %s\n", fd->target_fd, fd->network_index,
				fd->kind == QEMU_FD_NET_UNIXGRAM ? "a unixgram socket vzkit connects" : "the given fd");
	}
	for (size_t i = 0; i < vm->plan.helper_count; i++)
		strv_print_shell(&vm->plan.helpers[i].argv, out);
	strv_print_shell(&vm->plan.argv, out);
	return 0;
}

/* ---- start ---- */

/* How long QEMU may take to come up: its own start, plus the longest NBD
 * connection timeout (QEMU opens the disks before it answers). */
static int start_timeout_ms(const struct vz_vm_configuration *config)
{
	uint64_t longest = 0;

	for (size_t i = 0; i < config->storage_device_count; i++)
		if (config->storage_devices[i].attachment.kind == VZ_STORAGE_ATTACHMENT_NBD &&
		    config->storage_devices[i].attachment.timeout_ms > longest)
			longest = config->storage_devices[i].attachment.timeout_ms;
	if (longest > 24 * 3600 * 1000)
		longest = 24 * 3600 * 1000;
	return QMP_CONNECT_TIMEOUT_MS + (int)longest + 1000;
}

static bool start_aborted(struct engine_vm *vm)
{
	bool aborted;

	pthread_mutex_lock(&vm->lock);
	aborted = vm->abort_start;
	pthread_mutex_unlock(&vm->lock);
	return aborted;
}

/* Whether a child has exited, without reaping it (its pid stays ours). */
static bool child_exited(pid_t pid)
{
	siginfo_t info = {0};

	return pid > 0 && waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

static int still_starting(void *context)
{
	struct engine_vm *vm = context;
	return !start_aborted(vm) && !child_exited(vm->qemu_pid);
}

/* qmp_execute waits for an answer only while QEMU lives and no stop (of a
 * start or a running VM) was requested: a SIGSTOPped QEMU never answers. */
static int qmp_keep_waiting(void *context)
{
	struct engine_vm *vm = context;
	bool stop;

	pthread_mutex_lock(&vm->lock);
	stop = vm->abort_start || vm->hard_stop_requested;
	pthread_mutex_unlock(&vm->lock);
	return !stop && !child_exited(vm->qemu_pid);
}


/* "was killed by signal 9", "exited with status 1" */
static void describe_exit(int status, char *out, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(out, size, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
}

static const char *program_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash != NULL ? slash + 1 : path;
}

/* QEMU's "qemu-system-x86_64: -blockdev <value>: message" without the
 * program name and the echoed option: the message is what the user needs. */
static const char *strip_qemu_prefix(const char *line)
{
	const char *colon;

	if (strncmp(line, "qemu-system-", 12) == 0 && (colon = strstr(line, ": ")) != NULL)
		line = colon + 2;
	if (line[0] == '-') {
		const char *space = strchr(line, ' ');
		if (space != NULL && (colon = strstr(space, ": ")) != NULL)
			line = colon + 2;
	}
	return line;
}

/* The last two lines a child wrote to its log in the runtime directory, as
 * one line for error messages. */
static void log_tail(struct engine_vm *vm, const char *name, char *out, size_t size)
{
	char path[160];
	char buffer[4096];
	char *lines[2] = {NULL, NULL};
	ssize_t got;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", vm->runtime_dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	lseek(fd, end > (off_t)sizeof(buffer) - 1 ? end - (off_t)sizeof(buffer) + 1 : 0, SEEK_SET);
	got = read(fd, buffer, sizeof(buffer) - 1);
	close(fd);
	if (got <= 0)
		return;
	buffer[got] = '\0';
	/* split into lines, keep the last two non-empty ones */
	char *cursor = buffer;
	while (*cursor != '\0') {
		char *line_end = cursor + strcspn(cursor, "\r\n");
		bool more = *line_end != '\0';
		*line_end = '\0';
		if (*cursor != '\0') {
			lines[0] = lines[1];
			lines[1] = cursor;
		}
		cursor = more ? line_end + 1 : line_end;
	}
	if (lines[1] == NULL)
		return;
	if (lines[0] != NULL)
		snprintf(out, size, "%.*s %.*s", (int)size / 2 - 1, strip_qemu_prefix(lines[0]), (int)size / 2 - 1,
			 strip_qemu_prefix(lines[1]));
	else
		snprintf(out, size, "%.*s", (int)size - 1, strip_qemu_prefix(lines[1]));
}

static void qemu_stderr_tail(struct engine_vm *vm, char *out, size_t size)
{
	log_tail(vm, "qemu.log", out, size);
}

/* Runtime directories of vzkits that died without cleaning up (the watcher
 * normally removes them; a machine crash does not give it the chance). */
static void remove_stale_runtime_dirs(const struct engine_vm *vm)
{
	char parent[sizeof(vm->runtime_dir)];
	char *slash;
	DIR *listing;
	struct dirent *entry;

	snprintf(parent, sizeof(parent), "%s", vm->runtime_dir);
	slash = strrchr(parent, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	listing = opendir(parent);
	if (listing == NULL)
		return;
	while ((entry = readdir(listing)) != NULL) {
		char path[512];
		struct stat st;
		long pid;
		char rest;
		if (sscanf(entry->d_name, "vzkit-%ld-%c", &pid, &rest) != 2 || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, entry->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
			remove_tree(path);
	}
	closedir(listing);
}

static void close_passed_fds(struct engine_vm *vm)
{
	for (size_t i = 0; vm->passed_fds != NULL && i < vm->plan.fd_count; i++)
		if (vm->passed_fds[i] >= 0) {
			close(vm->passed_fds[i]);
			vm->passed_fds[i] = -1;
		}
}

/* The descriptors QEMU gets as 3, 4, ...: the file-handle networks' sockets
 * and its monitor's end of a socket pair. */
static int open_passed_fds(struct engine_vm *vm, struct vzk_error *err)
{
	vm->passed_fds = calloc(vm->plan.fd_count + 1, sizeof(int));
	if (vm->passed_fds == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; i < vm->plan.fd_count; i++)
		vm->passed_fds[i] = -1;
	for (size_t i = 0; i < vm->plan.fd_count; i++) {
		const struct qemu_passed_fd *passed = &vm->plan.fds[i];
		if (passed->kind == QEMU_FD_QMP) {
			int pair[2];
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
				return vzk_runtime_error(err, "cannot make QEMU's monitor socket: %s", strerror(errno));
			vm->qmp_end = pair[0];
			vm->passed_fds[i] = pair[1];
			continue;
		}
		const struct vz_network_device *device = &vm->config->network_devices[passed->network_index];
		if (passed->kind == QEMU_FD_NET_INHERITED) {
			int type = 0;
			socklen_t len = sizeof(type);
			if (getsockopt(device->fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM)
				return vzk_usage_error(err, "--device virtio-net: fd=%d is not a datagram socket", device->fd);
			vm->passed_fds[i] = dup(device->fd);
			continue;
		}
		/* A unixgram socket with an address of our own, connected to the
		 * user-mode network stack; vfkit's "VFKT" first tells it where we are. */
		struct sockaddr_un local = {.sun_family = AF_UNIX}, remote = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		vm->passed_fds[i] = fd;
		snprintf(local.sun_path, sizeof(local.sun_path), "%s/net%zu.sock", vm->runtime_dir, passed->network_index);
		if (strlen(device->unix_socket_path) >= sizeof(remote.sun_path))
			return vzk_usage_error(err, "--device virtio-net: socket path too long: %s", device->unix_socket_path);
		memcpy(remote.sun_path, device->unix_socket_path, strlen(device->unix_socket_path));
		if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0)
			return vzk_runtime_error(err, "--device virtio-net: cannot make a unixgram socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&remote, sizeof(remote)) != 0)
			return vzk_runtime_error(err, "--device virtio-net: cannot connect to %s: %s",
						 device->unix_socket_path, strerror(errno));
		if (device->vfkit_magic && send(fd, "VFKT", 4, 0) != 4)
			return vzk_runtime_error(err, "--device virtio-net: cannot send VFKT to %s: %s",
						 device->unix_socket_path, strerror(errno));
	}
	return 0;
}

/* Waits for helper `index` to listen; a helper that dies first is reported
 * with its own last stderr lines. */
static int wait_for_socket(struct engine_vm *vm, size_t index, struct vzk_error *err)
{
	const struct qemu_helper *helper = &vm->plan.helpers[index];
	const char *program = program_name(helper->argv.items[0]);

	for (int waited = 0; waited < HELPER_SOCKET_TIMEOUT_MS; waited += 10) {
		struct stat st;
		int status = 0;
		if (stat(helper->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (start_aborted(vm))
			return engine_start_abandoned(err);
		if (waitpid(vm->helper_pids[index], &status, WNOHANG) == vm->helper_pids[index]) {
			char how[64], log_name[32], tail[512];
			vm->helper_pids[index] = 0;
			describe_exit(status, how, sizeof(how));
			snprintf(log_name, sizeof(log_name), "helper%zu.log", index);
			log_tail(vm, log_name, tail, sizeof(tail));
			return vzk_runtime_error(err, "%s: %s %s before it listened%s%s", helper->device, program, how,
						 tail[0] ? ": " : "", tail);
		}
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	return vzk_runtime_error(err, "%s: %s did not listen on %s within %d ms", helper->device, program,
				 helper->socket_path, HELPER_SOCKET_TIMEOUT_MS);
}

/* Each helper writes its stderr to its own log (helperN.log), so a failure
 * quotes its own words. */
static int start_helpers(struct engine_vm *vm, struct vzk_error *err)
{
	vm->helper_pids = calloc(vm->plan.helper_count + 1, sizeof(pid_t));
	vm->helper_pidfds = calloc(vm->plan.helper_count + 1, sizeof(int));
	if (vm->helper_pids == NULL || vm->helper_pidfds == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; i < vm->plan.helper_count; i++)
		vm->helper_pidfds[i] = -1;
	for (size_t i = 0; i < vm->plan.helper_count; i++) {
		char log_path[160];
		int log_fd;
		snprintf(log_path, sizeof(log_path), "%s/helper%zu.log", vm->runtime_dir, i);
		log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		struct child_spec spec = {.argv = vm->plan.helpers[i].argv.items, .stdin_fd = -1, .stdout_fd = -1,
					  .stderr_fd = log_fd, .new_session = true};
		int spawned = child_spawn(&spec, &vm->helper_pids[i], &vm->helper_pidfds[i], err);
		if (log_fd >= 0)
			close(log_fd);
		if (spawned != 0 || cleanup_watcher_add_process(vm->options.watcher, vm->helper_pids[i], err) != 0)
			return -1;
		if (wait_for_socket(vm, i, err) != 0)
			return -1;
	}
	return 0;
}

static int prepare_efi_store(struct engine_vm *vm, struct vzk_error *err)
{
	const struct vz_boot_loader *boot = &vm->config->boot_loader;
	char buffer[65536];
	int in, out;
	ssize_t got;

	if (boot->kind != VZ_BOOT_LOADER_EFI || access(boot->variable_store_path, F_OK) == 0)
		return 0;
	if (!boot->create_variable_store)
		return vzk_usage_error(err, "--bootloader efi: variable-store %s does not exist (add create)",
				       boot->variable_store_path);
	in = open(vm->firmware.vars_template, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return vzk_runtime_error(err, "--bootloader efi: %s: %s", vm->firmware.vars_template, strerror(errno));
	out = open(boot->variable_store_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return vzk_runtime_error(err, "--bootloader efi: cannot create %s: %s", boot->variable_store_path,
					 strerror(errno));
	}
	while ((got = read(in, buffer, sizeof(buffer))) > 0) {
		if (write(out, buffer, (size_t)got) != got) {
			close(in);
			close(out);
			unlink(boot->variable_store_path);
			return vzk_runtime_error(err, "--bootloader efi: writing %s: %s", boot->variable_store_path,
						 strerror(errno));
		}
	}
	close(in);
	if (fsync(out) != 0 || close(out) != 0 || got < 0) {
		unlink(boot->variable_store_path);
		return vzk_runtime_error(err, "--bootloader efi: writing %s failed", boot->variable_store_path);
	}
	return 0;
}

/* QEMU reads the CA for nbds:// servers from <dir>/ca-cert.pem. */
static int prepare_tls(struct engine_vm *vm, struct vzk_error *err)
{
	char link[256];

	if (vm->plan.tls_dir == NULL)
		return 0;
	if (access(vm->plan.tls_ca_file, R_OK) != 0)
		return vzk_usage_error(err, "--device nbd: nbds:// needs the CA certificates in %s: %s (set SSL_CERT_FILE)",
				       vm->plan.tls_ca_file, strerror(errno));
	snprintf(link, sizeof(link), "%s/ca-cert.pem", vm->plan.tls_dir);
	if (mkdir(vm->plan.tls_dir, 0700) != 0 || symlink(vm->plan.tls_ca_file, link) != 0)
		return vzk_runtime_error(err, "cannot prepare %s: %s", vm->plan.tls_dir, strerror(errno));
	return 0;
}

static void on_event(void *context, json_t *event);

/* The pty names QEMU allocated ("pty:/dev/pts/3" for label consoleN). */
static void read_pty_names(struct engine_vm *vm, struct vzk_error *err)
{
	json_t *chardevs = NULL;
	size_t index;
	json_t *chardev;

	if (qmp_execute(&vm->qmp, "query-chardev", NULL, &chardevs, on_event, vm, err) != 0)
		return;
	json_array_foreach(chardevs, index, chardev) {
		const char *label = json_string_value(json_object_get(chardev, "label"));
		const char *filename = json_string_value(json_object_get(chardev, "filename"));
		size_t port;
		if (label == NULL || filename == NULL || sscanf(label, "console%zu", &port) != 1 ||
		    port >= vm->config->serial_port_count || strncmp(filename, "pty:", 4) != 0)
			continue;
		free(vm->pty_names[port]);
		vm->pty_names[port] = strdup(filename + 4);
		engine_log(vm, LOG_LEVEL_INFO, "virtio-serial port %zu: %s", port, filename + 4);
	}
	json_decref(chardevs);
}

static int start_vm(struct engine_vm *vm, struct vzk_error *err)
{
	char log_path[160];

	set_state(vm, VM_STATE_STARTING);
	if (start_aborted(vm))
		return engine_start_abandoned(err);
	engine_log(vm, LOG_LEVEL_INFO, "accelerator: %s (%s)", vm->accel == QEMU_ACCEL_KVM ? "kvm" : "tcg",
		   vm->accel_reason);
	if (vm->gui_headless && vm->options.warn != NULL)
		vm->options.warn(vm->options.context, "--gui: no display (neither DISPLAY nor WAYLAND_DISPLAY is set); running without a window");
	if (vm->skipped_rosetta && vm->options.warn != NULL)
		vm->options.warn(vm->options.context, "--device rosetta: not available on this host; going on without it (ignore-if-missing)");
	if (mkdir(vm->runtime_dir, 0700) != 0)
		return vzk_runtime_error(err, "cannot create %s: %s", vm->runtime_dir, strerror(errno));
	vm->started = true;
	if (cleanup_watcher_add_tree(vm->options.watcher, vm->runtime_dir, err) != 0)
		return -1;
	vm->terminal_saved = vm->plan.uses_stdio && terminal_state_save(&vm->saved_terminal) == 0;
	if (vm->terminal_saved &&
	    cleanup_watcher_set_terminal(vm->options.watcher, &vm->saved_terminal.settings,
					 vm->saved_terminal.file_flags, err) != 0)
		return -1;
	if (pipe2(vm->request_pipe, O_CLOEXEC) != 0)
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	snprintf(log_path, sizeof(log_path), "%s/qemu.log", vm->runtime_dir);
	vm->stderr_log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (prepare_efi_store(vm, err) != 0 || prepare_tls(vm, err) != 0 || open_passed_fds(vm, err) != 0 ||
	    start_helpers(vm, err) != 0)
		return -1;
	/* QEMU connects to the vsock backend while it sets its devices up. */
	if (vm->plan.vsock_socket_path != NULL &&
	    qemu_vsock_new(vm->plan.vsock_socket_path, QEMU_VSOCK_GUEST_CID, vsock_log, vm, &vm->vsock, err) != 0)
		return -1;
	struct child_spec spec = {
		.argv = vm->plan.argv.items,
		.stdin_fd = vm->plan.uses_stdio ? STDIN_FILENO : -1,
		.stdout_fd = vm->plan.uses_stdio ? STDOUT_FILENO : -1,
		.stderr_fd = vm->stderr_log_fd,
		.passed_fds = vm->passed_fds,
		.passed_fd_count = vm->plan.fd_count,
		.new_session = true,
	};
	if (child_spawn(&spec, &vm->qemu_pid, &vm->qemu_pidfd, err) != 0 ||
	    cleanup_watcher_add_process(vm->options.watcher, vm->qemu_pid, err) != 0)
		return -1;
	/* QEMU holds its copies now; ours would only keep the monitor from
	 * reading EOF when QEMU dies. */
	close_passed_fds(vm);
	/* While QEMU starts up: nothing above needs it done first. */
	remove_stale_runtime_dirs(vm);
	int qmp_end = vm->qmp_end;
	vm->qmp_end = -1;
	if (qmp_attach(&vm->qmp, qmp_end, start_timeout_ms(vm->config), still_starting, vm, err) != 0) {
		char tail[512];
		if (start_aborted(vm))
			return engine_start_abandoned(err);
		if (qemu_device_error(vm->config, log_path, tail, sizeof(tail)))
			return vzk_runtime_error(err, "%s", tail); /* names the --device */
		qemu_stderr_tail(vm, tail, sizeof(tail));
		if (tail[0] != '\0')
			return vzk_runtime_error(err, "QEMU failed to start: %s", tail);
		return -1;
	}
	vm->qmp.keep_waiting = qmp_keep_waiting;
	vm->qmp.keep_waiting_context = vm;
	if (vm->config->serial_port_count > 0)
		read_pty_names(vm, err);
	if (qmp_execute(&vm->qmp, "cont", NULL, NULL, on_event, vm, err) != 0)
		return start_aborted(vm) ? engine_start_abandoned(err) : -1;
	set_state(vm, VM_STATE_RUNNING);
	return 0;
}

static int engine_start(struct engine_vm *vm, struct vzk_error *err)
{
	if (start_vm(vm, err) == 0)
		return 0;
	pthread_mutex_lock(&vm->lock);
	vm->run_over = true;
	pthread_mutex_unlock(&vm->lock);
	set_state(vm, start_aborted(vm) ? VM_STATE_STOPPED : VM_STATE_ERROR);
	return -1;
}

/* ---- run: events, requests, exit ---- */

static void on_event(void *context, json_t *event)
{
	struct engine_vm *vm = context;
	const char *name = json_string_value(json_object_get(event, "event"));
	json_t *data = json_object_get(event, "data");

	if (name == NULL)
		return;
	engine_log(vm, LOG_LEVEL_DEBUG, "QMP event %s", name);
	if (strcmp(name, "STOP") == 0) {
		set_state(vm, VM_STATE_PAUSED);
	} else if (strcmp(name, "RESUME") == 0) {
		set_state(vm, VM_STATE_RUNNING);
	} else if (strcmp(name, "SHUTDOWN") == 0) {
		const char *reason = json_string_value(json_object_get(data, "reason"));
		pthread_mutex_lock(&vm->lock);
		vm->guest_shutdown = json_is_true(json_object_get(data, "guest"));
		snprintf(vm->shutdown_reason, sizeof(vm->shutdown_reason), "%s", reason != NULL ? reason : "");
		pthread_mutex_unlock(&vm->lock);
		set_state(vm, VM_STATE_STOPPING);
	}
}

/* Sends the QMP command for a request taken from the pipe. */
static void carry_out(struct engine_vm *vm, enum vm_state_request request)
{
	struct vzk_error err = {0};
	static const char *const commands[] = {
		[VM_REQUEST_STOP] = "system_powerdown",
		[VM_REQUEST_HARD_STOP] = "quit",
		[VM_REQUEST_PAUSE] = "stop",
		[VM_REQUEST_RESUME] = "cont",
	};

	if (qmp_send(&vm->qmp, commands[request], NULL, &err) != 0) {
		engine_log(vm, LOG_LEVEL_ERROR, "%s", err.message);
		if (request == VM_REQUEST_HARD_STOP)
			kill(vm->qemu_pid, SIGKILL);
	}
}

/* QEMU refused a request (its answer arrives in the run loop): say so and
 * take the state from QEMU again, so no transitional state sticks. */
static void request_refused(struct engine_vm *vm, json_t *answer)
{
	const char *desc = json_string_value(json_object_get(json_object_get(answer, "error"), "desc"));
	struct vzk_error err = {0};
	json_t *status = NULL;

	engine_log(vm, LOG_LEVEL_ERROR, "QEMU refused a state change: %s", desc != NULL ? desc : "unknown error");
	if (qmp_execute(&vm->qmp, "query-status", NULL, &status, on_event, vm, &err) != 0) {
		engine_log(vm, LOG_LEVEL_ERROR, "%s", err.message);
		return;
	}
	const char *run_state = json_string_value(json_object_get(status, "status"));
	if (run_state != NULL && strcmp(run_state, "running") == 0)
		set_state(vm, VM_STATE_RUNNING);
	else if (run_state != NULL && strcmp(run_state, "paused") == 0)
		set_state(vm, VM_STATE_PAUSED);
	json_decref(status);
}

static void restore_terminal(struct engine_vm *vm)
{
	if (vm->terminal_saved) {
		terminal_state_restore(&vm->saved_terminal);
		vm->terminal_saved = false;
	}
}

static long monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* A helper exited. While QEMU runs on, that is the VM's failure: the first
 * such death is remembered (helper_failure) and QEMU is told to quit. When
 * QEMU is itself going away (guest power-off, a requested stop, QEMU died:
 * helpers leave when QEMU closes their socket), it is no failure. */
static bool helper_exited(struct engine_vm *vm, size_t index, char *failure, size_t size)
{
	const struct qemu_helper *helper = &vm->plan.helpers[index];
	int status = 0;
	bool qemu_leaving;

	if (waitpid(vm->helper_pids[index], &status, WNOHANG) != vm->helper_pids[index])
		return false;
	vm->helper_pids[index] = 0;
	close(vm->helper_pidfds[index]);
	vm->helper_pidfds[index] = -1;
	/* QEMU closes the helper's socket before it becomes a zombie: give its
	 * exit a moment to show. */
	struct pollfd qemu = {.fd = vm->qemu_pidfd, .events = POLLIN};
	qemu_leaving = vm->qemu_pidfd >= 0 ? poll(&qemu, 1, 100) > 0 : child_exited(vm->qemu_pid);
	pthread_mutex_lock(&vm->lock);
	qemu_leaving = qemu_leaving || vm->hard_stop_requested || vm->state == VM_STATE_STOPPING ||
		       vm->shutdown_reason[0] != '\0';
	pthread_mutex_unlock(&vm->lock);
	if (qemu_leaving || failure[0] != '\0')
		return false;
	char how[64];
	describe_exit(status, how, sizeof(how));
	snprintf(failure, size, "%s: %s %s", helper->device, program_name(helper->argv.items[0]), how);
	engine_log(vm, LOG_LEVEL_DEBUG, "%s: stopping the VM", failure);
	return true;
}

static int engine_run(struct engine_vm *vm, struct vzk_error *err)
{
	long hard_stop_deadline = 0;
	int wait_status = 0;
	bool qmp_open = true;
	char helper_failure[512] = "";
	size_t helper_count = vm->helper_pidfds != NULL ? vm->plan.helper_count : 0;
	struct pollfd *polls = calloc(3 + helper_count, sizeof(*polls));

	if (polls == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (;;) {
		polls[0] = (struct pollfd){.fd = vm->qemu_pidfd, .events = POLLIN};
		polls[1] = (struct pollfd){.fd = vm->request_pipe[0], .events = POLLIN};
		polls[2] = (struct pollfd){.fd = qmp_open ? vm->qmp.fd : -1, .events = POLLIN};
		for (size_t i = 0; i < helper_count; i++)
			polls[3 + i] = (struct pollfd){.fd = vm->helper_pidfds[i], .events = POLLIN};
		/* Event-driven while the VM runs (no wake-ups, doc/performance.md):
		 * a timeout only while a stop's grace runs, or to poll QEMU's exit
		 * on a kernel without pidfds. */
		int idle_timeout = vm->qemu_pidfd >= 0 ? -1 : 1000;
		int timeout = hard_stop_deadline != 0 ? (int)(hard_stop_deadline - monotonic_ms()) : idle_timeout;

		if (hard_stop_deadline != 0 && timeout <= 0) {
			engine_log(vm, LOG_LEVEL_INFO, "QEMU did not quit in time: killing it");
			kill(vm->qemu_pid, SIGKILL);
			hard_stop_deadline = 0;
			timeout = idle_timeout;
		}
		if (poll(polls, 3 + helper_count, timeout) < 0 && errno != EINTR) {
			free(polls);
			return vzk_runtime_error(err, "poll: %s", strerror(errno));
		}
		if (polls[1].revents & POLLIN) {
			unsigned char request;
			if (read(vm->request_pipe[0], &request, 1) == 1) {
				carry_out(vm, (enum vm_state_request)request);
				if (request == VM_REQUEST_HARD_STOP && hard_stop_deadline == 0)
					hard_stop_deadline = monotonic_ms() + HARD_STOP_GRACE_MS;
			}
		}
		if (qmp_open && (polls[2].revents & (POLLIN | POLLHUP))) {
			json_t *message;
			struct vzk_error qmp_err = {0};
			int status;
			while ((status = qmp_read(&vm->qmp, 0, &message, &qmp_err)) == 1) {
				if (json_object_get(message, "event") != NULL)
					on_event(vm, message);
				else if (json_object_get(message, "error") != NULL)
					request_refused(vm, message);
				json_decref(message);
			}
			if (status < 0)
				qmp_open = false; /* QEMU is going away: its exit tells the rest */
		}
		for (size_t i = 0; i < helper_count; i++) {
			if (!(polls[3 + i].revents & POLLIN) ||
			    !helper_exited(vm, i, helper_failure, sizeof(helper_failure)))
				continue;
			struct vzk_error quit_err = {0};
			if (!qmp_open || qmp_send(&vm->qmp, "quit", NULL, &quit_err) != 0)
				kill(vm->qemu_pid, SIGKILL);
			if (hard_stop_deadline == 0 || hard_stop_deadline > monotonic_ms() + HELPER_DEATH_GRACE_MS)
				hard_stop_deadline = monotonic_ms() + HELPER_DEATH_GRACE_MS;
		}
		/* pidfd readable: QEMU exited (without a pidfd, poll its status) */
		if ((vm->qemu_pidfd >= 0 && (polls[0].revents & POLLIN)) ||
		    (vm->qemu_pidfd < 0 && waitpid(vm->qemu_pid, &wait_status, WNOHANG) == vm->qemu_pid)) {
			if (vm->qemu_pidfd >= 0)
				waitpid(vm->qemu_pid, &wait_status, 0);
			vm->qemu_pid = 0;
			/* QEMU's last events (SHUTDOWN) may still sit in the socket */
			json_t *message;
			struct vzk_error drain_err = {0};
			while (qmp_open && qmp_read(&vm->qmp, 0, &message, &drain_err) == 1) {
				if (json_object_get(message, "event") != NULL)
					on_event(vm, message);
				json_decref(message);
			}
			break;
		}
	}
	free(polls);
	restore_terminal(vm);
	pthread_mutex_lock(&vm->lock);
	vm->run_over = true;
	pthread_mutex_unlock(&vm->lock);
	set_state(vm, VM_STATE_STOPPED);
	if (helper_failure[0] != '\0')
		return vzk_runtime_error(err, "%s", helper_failure);
	pthread_mutex_lock(&vm->lock);
	bool requested = vm->hard_stop_requested;
	bool guest = vm->guest_shutdown;
	char reason[64];
	snprintf(reason, sizeof(reason), "%s", vm->shutdown_reason);
	pthread_mutex_unlock(&vm->lock);
	if (requested || (guest && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0))
		return 0;
	char tail[512];
	qemu_stderr_tail(vm, tail, sizeof(tail));
	if (strcmp(reason, "host-signal") == 0)
		return vzk_runtime_error(err, "QEMU was stopped by a signal from outside vzkit");
	if (WIFSIGNALED(wait_status))
		return vzk_runtime_error(err, "QEMU died (signal %d)%s%s", WTERMSIG(wait_status), tail[0] ? ": " : "", tail);
	return vzk_runtime_error(err, "QEMU exited with status %d%s%s", WEXITSTATUS(wait_status), tail[0] ? ": " : "", tail);
}

static enum vm_state engine_state(struct engine_vm *vm)
{
	enum vm_state state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return state;
}

static int engine_request(struct engine_vm *vm, enum vm_state_request request, struct vzk_error *err)
{
	unsigned char byte = (unsigned char)request;
	enum vm_state state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	/* A stop before the VM runs abandons the start: QEMU may be waiting
	 * for a slow NBD server or helper, and whoever asks wants it gone now.
	 * Should the start complete first, the byte makes run() stop it hard. */
	if ((request == VM_REQUEST_STOP || request == VM_REQUEST_HARD_STOP) && !vm->run_over &&
	    (state == VM_STATE_STARTING || state == VM_STATE_STOPPED)) {
		unsigned char hard = VM_REQUEST_HARD_STOP;
		vm->abort_start = true;
		vm->hard_stop_requested = true;
		if (vm->request_pipe[1] >= 0 && write(vm->request_pipe[1], &hard, 1) != 1) {
			/* the start checks abort_start anyway */
		}
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	if (!vm_state_allows(state, request) || vm->request_pipe[1] < 0) {
		pthread_mutex_unlock(&vm->lock);
		return vzk_usage_error(err, "cannot %s a VM in state %s", vm_state_request_name(request),
				       vm_state_name(state));
	}
	/* Stop only asks the guest: like VZ's requestStop, the VM stays Running
	 * until the guest powers off. The others are under way at once. */
	if (request == VM_REQUEST_HARD_STOP) {
		vm->hard_stop_requested = true;
		vm->state = VM_STATE_STOPPING;
	} else if (request == VM_REQUEST_PAUSE) {
		vm->state = VM_STATE_PAUSING;
	} else if (request == VM_REQUEST_RESUME) {
		vm->state = VM_STATE_RESUMING;
	}
	bool changed = vm->state != state;
	state = vm->state;
	if (write(vm->request_pipe[1], &byte, 1) != 1) {
		pthread_mutex_unlock(&vm->lock);
		return vzk_runtime_error(err, "cannot pass the request on: %s", strerror(errno));
	}
	pthread_mutex_unlock(&vm->lock);
	if (changed && vm->options.on_state_change != NULL)
		vm->options.on_state_change(vm->options.context, state);
	return 0;
}

static const char *engine_pty_name(struct engine_vm *vm, size_t serial_index)
{
	if (vm->pty_names == NULL || serial_index >= vm->config->serial_port_count)
		return NULL;
	return vm->pty_names[serial_index];
}

static int engine_vsock_listen(struct engine_vm *vm, uint32_t port, void (*on_connection)(void *, int),
			       void *context, struct vzk_error *err)
{
	if (vm->vsock == NULL)
		return vzk_runtime_error(err, "this VM has no vsock device");
	return qemu_vsock_listen(vm->vsock, port, on_connection, context, err);
}

static int engine_vsock_connect(struct engine_vm *vm, uint32_t port, int *fd, struct vzk_error *err)
{
	if (vm->vsock == NULL)
		return vzk_runtime_error(err, "this VM has no vsock device");
	return qemu_vsock_connect(vm->vsock, port, fd, err);
}

static void engine_destroy(struct engine_vm *vm)
{
	if (vm == NULL)
		return;
	qemu_vsock_free(vm->vsock);
	if (vm->qemu_pid > 0)
		child_kill_and_reap(vm->qemu_pid);
	restore_terminal(vm);
	for (size_t i = 0; vm->helper_pids != NULL && i < vm->plan.helper_count; i++) {
		child_kill_and_reap(vm->helper_pids[i]);
		if (vm->helper_pidfds != NULL && vm->helper_pidfds[i] >= 0)
			close(vm->helper_pidfds[i]);
	}
	qmp_close(&vm->qmp);
	if (vm->qmp_end >= 0)
		close(vm->qmp_end);
	close_passed_fds(vm);
	if (vm->qemu_pidfd >= 0)
		close(vm->qemu_pidfd);
	if (vm->stderr_log_fd >= 0)
		close(vm->stderr_log_fd);
	if (vm->request_pipe[0] >= 0) {
		close(vm->request_pipe[0]);
		close(vm->request_pipe[1]);
	}
	if (vm->started) {
		remove_tree(vm->runtime_dir);
		cleanup_watcher_forget(vm->options.watcher, vm->runtime_dir);
	}
	for (size_t i = 0; vm->pty_names != NULL && i < vm->config->serial_port_count; i++)
		free(vm->pty_names[i]);
	free(vm->pty_names);
	free(vm->passed_fds);
	free(vm->helper_pids);
	free(vm->helper_pidfds);
	free(vm->disk_is_qcow2);
	qemu_plan_free(&vm->plan);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

const struct vz_engine_ops qemu_engine = {
	.name = "qemu",
	.create = engine_create,
	.print_plan = engine_print_plan,
	.start = engine_start,
	.run = engine_run,
	.state = engine_state,
	.request = engine_request,
	.pty_name = engine_pty_name,
	.vsock_listen = engine_vsock_listen,
	.vsock_connect = engine_vsock_connect,
	.destroy = engine_destroy,
};

#include "vz/qemu/plan.h"

#include <stdlib.h>
#include <string.h>

#include "flags/nbd_uri.h"

/* QEMU's option syntax doubles a comma to put one in a value. */
static char *escape_commas(const char *text)
{
	size_t commas = 0;
	char *escaped, *out;

	for (const char *p = text; *p != '\0'; p++)
		commas += *p == ',';
	escaped = malloc(strlen(text) + commas + 1);
	if (escaped == NULL)
		return NULL;
	out = escaped;
	for (const char *p = text; *p != '\0'; p++) {
		*out++ = *p;
		if (*p == ',')
			*out++ = ',';
	}
	*out = '\0';
	return escaped;
}

/* Pushes "FORMAT" where %s gets `path` with its commas doubled. */
static void push_with_path(struct strv *argv, const char *prefix, const char *path, const char *suffix)
{
	char *escaped = escape_commas(path);

	if (escaped == NULL) {
		argv->failed = 1;
		return;
	}
	strv_pushf(argv, "%s%s%s", prefix, escaped, suffix);
	free(escaped);
}

static const char *pci_suffix(const struct qemu_plan_params *params)
{
	(void)params;
	return "pci"; /* q35 and virt both have PCIe; devices are the -pci forms */
}

static void add_machine(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
			struct qemu_plan *plan)
{
	struct strv *argv = &plan->argv;
	bool kvm = params->accel == QEMU_ACCEL_KVM;

	strv_push(argv, params->qemu_binary);
	strv_push(argv, "-nodefaults");
	strv_push(argv, "-no-user-config");
	strv_push(argv, "-no-reboot");
	strv_push(argv, "-S"); /* vzkit starts the vCPUs over QMP once everything is wired */
	/* q35 on x86 whatever the accelerator; it holds every device type.
	 * microvm was measured (test/qemu/bench_machine.sh, TCG): as is it hung
	 * calibrating the TSC in 4 of 5 loaded boots (doc/host-facts.md: 8 of 10); with
	 * tsc_early_khz=<host kHz> appended to the guest's command line it did
	 * not hang and was 7-9 % faster — too little for editing the user's
	 * kernel command line with a guessed frequency the guest can never
	 * correct (microvm has no timer to refine it against). Under KVM microvm
	 * could not be tried here (KVM guests hang on these hosts), so q35 is
	 * the only machine with evidence behind it. */
	plan->machine = params->arch == QEMU_ARCH_AARCH64 ? "virt" : "q35";
	strv_push(argv, "-machine");
	if (params->arch == QEMU_ARCH_AARCH64)
		/* gic-version=max: virt's default GICv2 stops at 8 vCPUs (VZ allows 64) */
		strv_pushf(argv, "virt,accel=%s,gic-version=max%s", kvm ? "kvm" : "tcg",
			   config->platform.nested_virtualization ? ",virtualization=on" : "");
	else
		strv_pushf(argv, "q35,accel=%s", kvm ? "kvm" : "tcg");
	strv_push(argv, "-cpu");
	if (kvm)
		strv_push(argv, "host"); /* passes vmx/svm through when the host allows nesting */
	else
		strv_push(argv, "max");
	strv_push(argv, "-smp");
	strv_pushf(argv, "%u", config->cpu_count);
	strv_push(argv, "-m");
	strv_pushf(argv, "%lluM", (unsigned long long)(config->memory_size >> 20));
	if (config->directory_share_count > 0 || params->vsock_guest_cid != 0) {
		/* vhost-user back ends (virtiofsd, vzkit's vsock) map guest memory: it must be shared */
		strv_push(argv, "-object");
		strv_pushf(argv, "memory-backend-memfd,id=mem,size=%lluM,share=on",
			   (unsigned long long)(config->memory_size >> 20));
		strv_push(argv, "-numa");
		strv_push(argv, "node,memdev=mem");
	}
	if (config->gui && params->gui_display) {
		strv_push(argv, "-display");
		strv_push(argv, params->gui_backend);
	} else {
		strv_push(argv, "-display");
		strv_push(argv, "none");
	}
}

static void add_boot_loader(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
			    struct strv *argv)
{
	const struct vz_boot_loader *boot = &config->boot_loader;

	if (boot->kind == VZ_BOOT_LOADER_LINUX) {
		strv_push(argv, "-kernel");
		strv_push(argv, boot->kernel_path);
		if (boot->initrd_path != NULL) {
			strv_push(argv, "-initrd");
			strv_push(argv, boot->initrd_path);
		}
		if (boot->command_line != NULL) {
			strv_push(argv, "-append");
			strv_push(argv, boot->command_line);
		}
	} else if (boot->kind == VZ_BOOT_LOADER_EFI) {
		strv_push(argv, "-drive");
		push_with_path(argv, "if=pflash,format=raw,unit=0,readonly=on,file=", params->efi_code, "");
		strv_push(argv, "-drive");
		{
			char *prefix = NULL;
			if (asprintf(&prefix, "if=pflash,format=%s,unit=1,file=", params->efi_vars_format) < 0) {
				argv->failed = 1;
				return;
			}
			push_with_path(argv, prefix, boot->variable_store_path, "");
			free(prefix);
		}
	}
}

/* ",cache...." options of a disk's node: how writes reach the storage. */
static void cache_options(const struct vz_storage_attachment *attachment, bool file_node, char *buffer, size_t size)
{
	buffer[0] = '\0';
	/* VZ's "none" synchronisation: the guest's flushes are not passed on. */
	if (attachment->sync_mode == VZ_DISK_SYNC_NONE)
		snprintf(buffer, size, ",cache.no-flush=on");
	/* Uncached: the host's page cache is bypassed (O_DIRECT) for the image file. */
	if (file_node && attachment->caching_mode == VZ_DISK_CACHING_UNCACHED)
		snprintf(buffer + strlen(buffer), size - strlen(buffer), ",cache.direct=on");
}

static int add_blockdev(const struct vz_storage_device *device, size_t index, bool qcow2, struct qemu_plan *plan,
			struct vzk_error *err)
{
	const struct vz_storage_attachment *attachment = &device->attachment;
	struct strv *argv = &plan->argv;
	const char *ro = attachment->read_only ? "on" : "off";
	char cache[64];

	strv_push(argv, "-blockdev");
	switch (attachment->kind) {
	case VZ_STORAGE_ATTACHMENT_DISK_IMAGE:
	case VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE: {
		char *prefix = NULL;
		const char *driver = attachment->kind == VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE ? "host_device" : "file";
		cache_options(attachment, true, cache, sizeof(cache));
		if (asprintf(&prefix, "driver=%s,node-name=disk%zu-file,read-only=%s%s,filename=", driver, index, ro,
			     cache) < 0) {
			argv->failed = 1;
			return 0;
		}
		push_with_path(argv, prefix, attachment->path, "");
		free(prefix);
		/* The format is always stated, never probed: a raw image that
		 * starts like a qcow2 header must stay raw. */
		cache_options(attachment, false, cache, sizeof(cache));
		strv_push(argv, "-blockdev");
		strv_pushf(argv, "driver=%s,node-name=disk%zu,file=disk%zu-file,read-only=%s%s", qcow2 ? "qcow2" : "raw",
			   index, index, ro, cache);
		break;
	}
	case VZ_STORAGE_ATTACHMENT_NBD: {
		struct nbd_uri address;
		char *host = NULL, *socket = NULL, *export_name = NULL, *server = NULL, *tls = NULL;
		if (nbd_uri_parse(attachment->url, "--device nbd", &address, err) != 0)
			return -1;
		cache_options(attachment, false, cache, sizeof(cache));
		host = escape_commas(address.host);
		socket = escape_commas(address.socket);
		export_name = escape_commas(address.export_name);
		bool made = host != NULL && socket != NULL && export_name != NULL;
		if (made && address.is_unix)
			made = asprintf(&server, "server.type=unix,server.path=%s", socket) >= 0;
		else if (made)
			made = asprintf(&server, "server.type=inet,server.host=%s,server.port=%s", host, address.port) >= 0;
		/* The server's certificate must be for the host the user named. */
		if (made && address.tls) {
			char *tls_hostname = escape_commas(address.tls_hostname);
			made = tls_hostname != NULL &&
			       asprintf(&tls, ",tls-creds=nbd-tls,tls-hostname=%s", tls_hostname) >= 0;
			free(tls_hostname);
		}
		/* open-timeout: how long the first connection may take (VZ's
		 * timeout); QEMU counts whole seconds. */
		if (made)
			strv_pushf(argv, "driver=nbd,node-name=disk%zu,read-only=%s,%s%s%s%s,open-timeout=%llu%s", index, ro,
				   server, address.export_name[0] ? ",export=" : "", export_name, tls != NULL ? tls : "",
				   (unsigned long long)((attachment->timeout_ms + 999) / 1000), cache);
		else
			argv->failed = 1;
		free(host);
		free(socket);
		free(export_name);
		free(server);
		free(tls);
		break;
	}
	}
	return 0;
}

static int add_storage(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
		       struct qemu_plan *plan, struct vzk_error *err)
{
	struct strv *argv = &plan->argv;
	bool xhci_added = false;
	size_t nvme_count = 0;

	for (size_t i = 0; i < config->storage_device_count; i++) {
		const struct vz_storage_device *device = &config->storage_devices[i];
		bool qcow2 = params->disk_is_qcow2 != NULL && params->disk_is_qcow2[i];

		if (add_blockdev(device, i, qcow2, plan, err) != 0)
			return -1;
		if (device->kind == VZ_STORAGE_USB_MASS_STORAGE && !xhci_added) {
			/* the controller goes before its first disk */
			strv_push(argv, "-device");
			strv_push(argv, "qemu-xhci,id=xhci");
			xhci_added = true;
		}
		strv_push(argv, "-device");
		switch (device->kind) {
		case VZ_STORAGE_VIRTIO_BLOCK:
			if (device->block_device_identifier != NULL) {
				char *serial = escape_commas(device->block_device_identifier);
				strv_pushf(argv, "virtio-blk-%s,drive=disk%zu,serial=%s", pci_suffix(params), i,
					   serial != NULL ? serial : "");
				free(serial);
			} else {
				strv_pushf(argv, "virtio-blk-%s,drive=disk%zu", pci_suffix(params), i);
			}
			break;
		case VZ_STORAGE_NVME:
			/* QEMU's nvme needs a serial number */
			strv_pushf(argv, "nvme,drive=disk%zu,serial=vzkit-nvme%zu", i, nvme_count++);
			break;
		case VZ_STORAGE_USB_MASS_STORAGE:
			strv_pushf(argv, "usb-storage,bus=xhci.0,drive=disk%zu,removable=%s", i,
				   device->attachment.read_only ? "on" : "off");
			break;
		}
	}
	return 0;
}

/* nbds:// disks share one set of TLS credentials: the CA that vouches for
 * the servers. QEMU wants a directory holding ca-cert.pem. */
static int add_tls_credentials(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
			       struct qemu_plan *plan)
{
	bool tls = false;

	for (size_t i = 0; i < config->storage_device_count; i++) {
		const struct vz_storage_attachment *attachment = &config->storage_devices[i].attachment;
		tls = tls || (attachment->kind == VZ_STORAGE_ATTACHMENT_NBD && strncmp(attachment->url, "nbds", 4) == 0);
	}
	if (!tls)
		return 0;
	if (asprintf(&plan->tls_dir, "%s/tls", params->runtime_dir) < 0) {
		plan->tls_dir = NULL;
		return -1;
	}
	plan->tls_ca_file = params->tls_ca_file;
	strv_push(&plan->argv, "-object");
	push_with_path(&plan->argv, "tls-creds-x509,id=nbd-tls,endpoint=client,verify-peer=on,dir=", plan->tls_dir, "");
	return 0;
}

static void add_network(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
			struct qemu_plan *plan)
{
	struct strv *argv = &plan->argv;

	for (size_t i = 0; i < config->network_device_count; i++) {
		const struct vz_network_device *device = &config->network_devices[i];
		char mac[18];

		vz_format_mac(device->mac_address, mac);
		strv_push(argv, "-netdev");
		if (device->attachment == VZ_NETWORK_ATTACHMENT_NAT) {
			strv_pushf(argv, "user,id=net%zu", i);
		} else {
			struct qemu_passed_fd *fd = &plan->fds[plan->fd_count];
			fd->kind = device->unix_socket_path != NULL ? QEMU_FD_NET_UNIXGRAM : QEMU_FD_NET_INHERITED;
			fd->target_fd = QEMU_FIRST_PASSED_FD + (int)plan->fd_count;
			fd->network_index = i;
			plan->fd_count++;
			strv_pushf(argv, "dgram,id=net%zu,local.type=fd,local.str=%d", i, fd->target_fd);
		}
		strv_push(argv, "-device");
		strv_pushf(argv, "virtio-net-%s,netdev=net%zu,mac=%s", pci_suffix(params), i, mac);
	}
}

static void add_serial_ports(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
			     struct qemu_plan *plan)
{
	struct strv *argv = &plan->argv;

	if (config->serial_port_count == 0)
		return;
	strv_push(argv, "-device");
	strv_pushf(argv, "virtio-serial-%s,id=vser0", pci_suffix(params));
	for (size_t i = 0; i < config->serial_port_count; i++) {
		const struct vz_serial_port *port = &config->serial_ports[i];
		strv_push(argv, "-chardev");
		switch (port->attachment) {
		case VZ_SERIAL_ATTACHMENT_FILE: {
			char *prefix = NULL;
			/* Truncated at each run, like vfkit's log files (doc/vzkit.1). */
			if (asprintf(&prefix, "file,id=console%zu,path=", i) < 0) {
				argv->failed = 1;
				return;
			}
			push_with_path(argv, prefix, port->log_path, "");
			free(prefix);
			break;
		}
		case VZ_SERIAL_ATTACHMENT_STDIO:
			/* signal=off: Ctrl-C goes to the guest, as on a real console */
			strv_pushf(argv, "stdio,id=console%zu,signal=off", i);
			plan->uses_stdio = true;
			break;
		case VZ_SERIAL_ATTACHMENT_PTY:
			strv_pushf(argv, "pty,id=console%zu", i);
			break;
		}
		strv_push(argv, "-device");
		strv_pushf(argv, "virtconsole,bus=vser0.0,chardev=console%zu,id=port%zu", i, i);
	}
}

/* virtiofsd reads -o with libfuse's fuse_opt: a backslash takes the next
 * character literally, so commas and backslashes are escaped that way (QEMU's
 * comma doubling would split the option). */
static void push_fuse_option(struct strv *argv, const char *prefix, const char *value)
{
	size_t len = strlen(prefix), extra = 0;
	char *text, *out;

	for (const char *p = value; *p != '\0'; p++)
		extra += *p == ',' || *p == '\\';
	text = malloc(len + strlen(value) + extra + 1);
	if (text == NULL) {
		argv->failed = 1;
		return;
	}
	memcpy(text, prefix, len);
	out = text + len;
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == ',' || *p == '\\')
			*out++ = '\\';
		*out++ = *p;
	}
	*out = '\0';
	strv_push(argv, text);
	free(text);
}

static int add_shares(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
		      struct qemu_plan *plan, struct vzk_error *err)
{
	struct strv *argv = &plan->argv;

	for (size_t i = 0; i < config->directory_share_count; i++) {
		const struct vz_directory_share *share = &config->directory_shares[i];
		struct qemu_helper *helper;

		if (share->kind == VZ_SHARE_ROSETTA)
			continue; /* the engine refused it or skipped it with a warning */
		helper = &plan->helpers[plan->helper_count++];
		if (asprintf(&helper->socket_path, "%s/fs%zu.sock", params->runtime_dir, i) < 0 ||
		    asprintf(&helper->device, "virtio-fs share '%s'", share->tag) < 0)
			return vzk_runtime_error(err, "out of memory");
		strv_push(&helper->argv, params->virtiofsd);
		strv_pushf(&helper->argv, "--socket-path=%s", helper->socket_path);
		strv_push(&helper->argv, "-o");
		push_fuse_option(&helper->argv, "source=", share->directory);
		strv_push(&helper->argv, "-o");
		strv_push(&helper->argv, "cache=auto");
		strv_push(&helper->argv, "-o");
		strv_push(&helper->argv, params->helpers_as_root ? "sandbox=chroot" : "sandbox=namespace");
		strv_push(argv, "-chardev");
		{
			char *prefix = NULL;
			if (asprintf(&prefix, "socket,id=fs%zu,path=", i) < 0)
				return vzk_runtime_error(err, "out of memory");
			push_with_path(argv, prefix, helper->socket_path, "");
			free(prefix);
		}
		strv_push(argv, "-device");
		{
			char *tag = escape_commas(share->tag);
			if (tag == NULL)
				return vzk_runtime_error(err, "out of memory");
			strv_pushf(argv, "vhost-user-fs-%s,chardev=fs%zu,tag=%s", pci_suffix(params), i, tag);
			free(tag);
		}
	}
	return 0;
}

static void add_other_devices(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
			      struct strv *argv)
{
	for (size_t i = 0; i < config->entropy_device_count; i++) {
		strv_push(argv, "-object");
		strv_pushf(argv, "rng-random,id=rng%zu,filename=/dev/urandom", i);
		strv_push(argv, "-device");
		strv_pushf(argv, "virtio-rng-%s,rng=rng%zu", pci_suffix(params), i);
	}
	for (size_t i = 0; i < config->memory_balloon_device_count; i++) {
		strv_push(argv, "-device");
		strv_pushf(argv, "virtio-balloon-%s", pci_suffix(params));
	}
	for (size_t i = 0; i < config->graphics_device_count; i++) {
		const struct vz_graphics_device *gpu = &config->graphics_devices[i];
		strv_push(argv, "-device");
		strv_pushf(argv, "virtio-gpu-%s,xres=%u,yres=%u", pci_suffix(params), gpu->width, gpu->height);
	}
	for (size_t i = 0; i < config->keyboard_count; i++) {
		strv_push(argv, "-device");
		strv_pushf(argv, "virtio-keyboard-%s", pci_suffix(params));
	}
	for (size_t i = 0; i < config->pointing_device_count; i++) {
		/* absolute coordinates, like VZ's screen-coordinate pointing device */
		strv_push(argv, "-device");
		strv_pushf(argv, "virtio-tablet-%s", pci_suffix(params));
	}
}

/* vsock is served by vzkit itself over vhost-user (doc/vsock.md); QEMU reads
 * the guest's CID from it, so the command line names only the socket. */
static int add_vsock(const struct qemu_plan_params *params, struct qemu_plan *plan)
{
	if (params->vsock_guest_cid == 0)
		return 0;
	if (asprintf(&plan->vsock_socket_path, "%s/vsock.sock", params->runtime_dir) < 0) {
		plan->vsock_socket_path = NULL;
		return -1;
	}
	strv_push(&plan->argv, "-chardev");
	push_with_path(&plan->argv, "socket,id=vsock0,path=", plan->vsock_socket_path, "");
	strv_push(&plan->argv, "-device");
	strv_pushf(&plan->argv, "vhost-user-vsock-%s,chardev=vsock0", pci_suffix(params));
	return 0;
}

/* The monitor is one end of a socket pair made at start, not a socket in
 * the runtime directory: vzkit talks to it at once instead of polling
 * connect() until QEMU listens, and QEMU's death reads as EOF. */
static void add_monitor(struct qemu_plan *plan)
{
	struct qemu_passed_fd *fd = &plan->fds[plan->fd_count];

	fd->kind = QEMU_FD_QMP;
	fd->target_fd = QEMU_FIRST_PASSED_FD + (int)plan->fd_count;
	plan->fd_count++;
	strv_push(&plan->argv, "-chardev");
	strv_pushf(&plan->argv, "socket,id=qmp,fd=%d", fd->target_fd);
	strv_push(&plan->argv, "-mon");
	strv_push(&plan->argv, "chardev=qmp,mode=control");
}

int qemu_plan_build(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
		    struct qemu_plan *plan, struct vzk_error *err)
{
	memset(plan, 0, sizeof(*plan));
	plan->helpers = calloc(config->directory_share_count + 1, sizeof(*plan->helpers));
	plan->fds = calloc(config->network_device_count + 1 /* the monitor */, sizeof(*plan->fds));
	if (plan->helpers == NULL || plan->fds == NULL) {
		qemu_plan_free(plan);
		return vzk_runtime_error(err, "out of memory");
	}
	add_machine(config, params, plan);
	add_boot_loader(config, params, &plan->argv);
	if (add_tls_credentials(config, params, plan) != 0) {
		qemu_plan_free(plan);
		return vzk_runtime_error(err, "out of memory");
	}
	if (add_storage(config, params, plan, err) != 0) {
		qemu_plan_free(plan);
		return -1;
	}
	add_network(config, params, plan);
	add_serial_ports(config, params, plan);
	if (add_shares(config, params, plan, err) != 0) {
		qemu_plan_free(plan);
		return -1;
	}
	add_other_devices(config, params, &plan->argv);
	if (add_vsock(params, plan) != 0) {
		qemu_plan_free(plan);
		return vzk_runtime_error(err, "out of memory");
	}
	add_monitor(plan);
	for (size_t i = 0; i < plan->helper_count; i++)
		if (plan->helpers[i].argv.failed)
			plan->argv.failed = 1;
	if (plan->argv.failed) {
		qemu_plan_free(plan);
		return vzk_runtime_error(err, "out of memory");
	}
	return 0;
}

void qemu_plan_free(struct qemu_plan *plan)
{
	if (plan == NULL)
		return;
	strv_free(&plan->argv);
	for (size_t i = 0; i < plan->helper_count; i++) {
		strv_free(&plan->helpers[i].argv);
		free(plan->helpers[i].socket_path);
		free(plan->helpers[i].device);
	}
	free(plan->helpers);
	free(plan->fds);
	free(plan->tls_dir);
	free(plan->vsock_socket_path);
	memset(plan, 0, sizeof(*plan));
}

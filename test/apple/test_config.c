/* Every bootloader and device: the plan (create + print_plan) and what the
 * stand-in runtime receives when the configuration is built for real must
 * both equal test/apple/golden/<case>.txt; then error paths and the host
 * version/architecture gates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <pty.h>

#include "devices/registry.h"
#include "test/apple/rig.h"
#include "test/apple/tests.h"
#include "vz/apple/translate.h"
#include "vz/vz.h"

static char *text(const char *s)
{
	char *copy = strdup(s);
	if (copy == NULL)
		abort();
	return copy;
}

static struct vz_storage_device *add_disk(struct vz_vm_configuration *config, enum vz_storage_device_kind kind,
					  enum vz_storage_attachment_kind attachment, const char *file)
{
	struct vz_storage_device *device = vz_add_storage_device(config);

	device->kind = kind;
	device->attachment.kind = attachment;
	device->attachment.caching_mode = VZ_DISK_CACHING_AUTOMATIC;
	device->attachment.sync_mode = VZ_DISK_SYNC_FULL;
	if (file != NULL) {
		rig_touch(file);
		device->attachment.path = rig_path(file);
	}
	return device;
}

static struct vz_network_device *add_nat(struct vz_vm_configuration *config)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct vz_network_device *net = vz_add_network_device(config);

	net->attachment = VZ_NETWORK_ATTACHMENT_NAT;
	memcpy(net->mac_address, mac, 6);
	return net;
}

/* ---- the cases ---- */

static void linux_full(struct vz_vm_configuration *config)
{
	rig_touch("initrd");
	config->boot_loader.initrd_path = rig_path("initrd");
	config->boot_loader.command_line = text("console=hvc0 root=/dev/vda rw msg=\"a\\b\"");
}

static void efi_create(struct vz_vm_configuration *config)
{
	free(config->boot_loader.kernel_path);
	config->boot_loader = (struct vz_boot_loader){.kind = VZ_BOOT_LOADER_EFI};
	config->boot_loader.variable_store_path = rig_path("efi-new.store");
	config->boot_loader.create_variable_store = true;
	unlink(config->boot_loader.variable_store_path);
}

static void efi_open(struct vz_vm_configuration *config)
{
	efi_create(config);
	rig_touch("efi-new.store");
}

static void macos_files(struct vz_vm_configuration *config)
{
	free(config->boot_loader.kernel_path);
	config->boot_loader = (struct vz_boot_loader){.kind = VZ_BOOT_LOADER_MACOS};
	config->platform.kind = VZ_PLATFORM_MAC;
	rig_touch("HardwareModel");
	rig_touch("MachineIdentifier");
	rig_touch("AuxiliaryStorage");
	config->platform.hardware_model_path = rig_path("HardwareModel");
	config->platform.machine_identifier_path = rig_path("MachineIdentifier");
	config->platform.auxiliary_storage_path = rig_path("AuxiliaryStorage");
}

static void macos(struct vz_vm_configuration *config)
{
	struct vz_graphics_device *display;

	macos_files(config);
	add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_DISK_IMAGE, "macos.img");
	display = vz_add_graphics_device(config);
	*display = (struct vz_graphics_device){.kind = VZ_GRAPHICS_MAC, .width = 1920, .height = 1200,
					       .pixels_per_inch = 80};
	vz_add_keyboard(config, VZ_KEYBOARD_MAC);
	vz_add_pointing_device(config, VZ_POINTING_MAC_TRACKPAD);
}

static void nested(struct vz_vm_configuration *config)
{
	config->platform.nested_virtualization = true;
}

static void virtio_blk(struct vz_vm_configuration *config)
{
	struct vz_storage_device *disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_DISK_IMAGE,
						  "disk.img");
	disk->attachment.read_only = true;
	disk->block_device_identifier = text("disk0");
}

static void disk_modes(struct vz_vm_configuration *config)
{
	struct vz_storage_device *disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_DISK_IMAGE,
						  "disk.img");
	disk->attachment.caching_mode = VZ_DISK_CACHING_CACHED;
	disk->attachment.sync_mode = VZ_DISK_SYNC_NONE;
	disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_DISK_IMAGE, "disk2.img");
	disk->attachment.caching_mode = VZ_DISK_CACHING_UNCACHED;
	disk->attachment.sync_mode = VZ_DISK_SYNC_FSYNC;
}

static void disk_plain(struct vz_vm_configuration *config)
{
	add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_DISK_IMAGE, "disk.img");
}

/* A device as the user types it, parsed and emitted by devices/ ($TMP is the
 * temp directory): the defaults the engine receives are devices/' own. */
static void add_from_flags(struct vz_vm_configuration *config, const char *flags)
{
	struct component component = {0};
	struct vzk_error err = {0};
	bool help = false;
	char *text = NULL;
	char *tmp = strstr(flags, "$TMP");

	if (tmp == NULL || asprintf(&text, "%.*s%s%s", (int)(tmp - flags), flags, rig_tmpdir(), tmp + 4) < 0)
		text = strdup(flags);
	if (text == NULL)
		abort();
	if (component_parse(device_registry, "--device", text, &component, &help, &err) != 0 ||
	    component_emit(&component, config, &err) != 0)
		rig_check("apple flags parse", false, "%s: %s", text, err.message);
	component_free(&component);
	free(text);
}

/* vfkit's modes: disk images cached with fsync, block devices full. */
static void disk_defaults(struct vz_vm_configuration *config)
{
	rig_touch("disk.img");
	rig_touch("blockdev");
	add_from_flags(config, "virtio-blk,path=$TMP/disk.img");
	add_from_flags(config, "nvme,path=$TMP/disk.img");
	add_from_flags(config, "usb-mass-storage,path=$TMP/disk.img,readonly");
	add_from_flags(config, "virtio-blk,path=$TMP/blockdev,type=dev");
}

/* cache= and sync= (vzkit keys) as the user types them. */
static void disk_keys(struct vz_vm_configuration *config)
{
	rig_touch("disk.img");
	rig_touch("blockdev");
	add_from_flags(config, "virtio-blk,path=$TMP/disk.img,cache=automatic,sync=full");
	add_from_flags(config, "nvme,path=$TMP/disk.img,cache=uncached,sync=none");
	add_from_flags(config, "virtio-blk,path=$TMP/blockdev,type=dev,sync=none");
}

/* macOS 11 has no modes: the default falls back to the framework's. */
static void disk_defaults_host11(struct vz_vm_configuration *config)
{
	rig_touch("disk.img");
	add_from_flags(config, "virtio-blk,path=$TMP/disk.img");
}

static void nvme(struct vz_vm_configuration *config)
{
	add_disk(config, VZ_STORAGE_NVME, VZ_STORAGE_ATTACHMENT_DISK_IMAGE, "nvme.img");
}

static void usb_mass_storage(struct vz_vm_configuration *config)
{
	add_disk(config, VZ_STORAGE_USB_MASS_STORAGE, VZ_STORAGE_ATTACHMENT_DISK_IMAGE, "installer.iso")
		->attachment.read_only = true;
}

static void block_device(struct vz_vm_configuration *config)
{
	struct vz_storage_device *disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE,
						  "blockdev");
	disk->block_device_identifier = text("dev0");
	add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE, "blockdev-ro")->attachment.read_only =
		true;
}

static void nbd(struct vz_vm_configuration *config)
{
	struct vz_storage_device *disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_NBD, NULL);

	disk->attachment.url = text("nbd://localhost:10809/export");
	disk->attachment.timeout_ms = 30000;
	disk->attachment.sync_mode = VZ_DISK_SYNC_NONE;
	disk->attachment.read_only = true;
	disk->block_device_identifier = text("nbd0");
}

static void net_nat(struct vz_vm_configuration *config)
{
	add_nat(config);
}

static void net_fd(struct vz_vm_configuration *config)
{
	struct vz_network_device *net = add_nat(config);

	net->attachment = VZ_NETWORK_ATTACHMENT_FILE_HANDLE;
	net->fd = 7;
}

/* A gvproxy stand-in: the unixgram socket the engine connects to. */
static int gvproxy_fd = -1;

static void net_unixgram_common(struct vz_vm_configuration *config, bool magic)
{
	struct vz_network_device *net = add_nat(config);
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	char *path = rig_path("gvproxy.sock");

	unlink(path);
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	if (gvproxy_fd >= 0)
		close(gvproxy_fd);
	gvproxy_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (gvproxy_fd < 0 || bind(gvproxy_fd, (struct sockaddr *)&address, sizeof(address)) != 0)
		rig_check("apple gvproxy stand-in", false, "cannot bind %s: %s", path, strerror(errno));
	net->attachment = VZ_NETWORK_ATTACHMENT_FILE_HANDLE;
	net->unix_socket_path = path;
	net->vfkit_magic = magic;
	net->offloading = true;
}

static void net_unixgram(struct vz_vm_configuration *config)
{
	net_unixgram_common(config, true);
}

static void net_unixgram_check(struct apple_builder *b)
{
	char datagram[16] = {0};
	ssize_t n = recv(gvproxy_fd, datagram, sizeof(datagram), MSG_DONTWAIT);
	char *local = rig_path("net0.sock");
	struct stat st;

	(void)b;
	rig_check("apple net unixgram: the peer receives VFKT first", n == 4 && memcmp(datagram, "VFKT", 4) == 0,
		  "received %zd bytes '%.*s'", n, n > 0 ? (int)n : 0, datagram);
	rig_check("apple net unixgram: bound in the runtime directory", stat(local, &st) == 0 && S_ISSOCK(st.st_mode),
		  "%s is not a socket", local);
	free(local);
}

static void net_unixgram_no_magic(struct vz_vm_configuration *config)
{
	net_unixgram_common(config, false);
}

static void net_unixgram_no_magic_check(struct apple_builder *b)
{
	char datagram[16];
	ssize_t n = recv(gvproxy_fd, datagram, sizeof(datagram), MSG_DONTWAIT);

	(void)b;
	rig_check("apple net unixgram vfkitMagic=off: no datagram", n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
		  "received %zd bytes", n);
}

static void serial_file(struct vz_vm_configuration *config)
{
	struct vz_serial_port *port = vz_add_serial_port(config);

	port->attachment = VZ_SERIAL_ATTACHMENT_FILE;
	port->log_path = rig_path("console.log");
}

static void serial_stdio(struct vz_vm_configuration *config)
{
	vz_add_serial_port(config)->attachment = VZ_SERIAL_ATTACHMENT_STDIO;
}

/* vfkit's layout: log files as console serial ports, ptys as the ports of
 * one console device. */
static void serial_pty(struct vz_vm_configuration *config)
{
	struct vz_serial_port *port;

	serial_file(config);
	vz_add_serial_port(config)->attachment = VZ_SERIAL_ATTACHMENT_PTY;
	port = vz_add_serial_port(config);
	port->attachment = VZ_SERIAL_ATTACHMENT_FILE;
	port->log_path = rig_path("console2.log");
	vz_add_serial_port(config)->attachment = VZ_SERIAL_ATTACHMENT_PTY;
}

static void serial_pty_check(struct apple_builder *b)
{
	const char *name = apple_builder_pty_name(b, 1);
	struct stat st;

	rig_check("apple serial pty: port 1 has a pty", name != NULL && stat(name, &st) == 0 && S_ISCHR(st.st_mode),
		  "pty name %s", name != NULL ? name : "(none)");
	rig_check("apple serial pty: port 0 (a file) has none", apple_builder_pty_name(b, 0) == NULL, "it has one");
	const char *second = apple_builder_pty_name(b, 3);
	rig_check("apple serial pty: port 3 has a pty of its own",
		  second != NULL && name != NULL && strcmp(second, name) != 0 && stat(second, &st) == 0 && S_ISCHR(st.st_mode),
		  "pty name %s", second != NULL ? second : "(none)");
}

static void vsock(struct vz_vm_configuration *config)
{
	struct vz_vsock_port *port = vz_add_vsock_port(config);

	config->socket_device = true;
	port->port = 1025;
	port->socket_path = rig_path("vsock-1025.sock");
	port->listen = true;
}

static void virtio_fs(struct vz_vm_configuration *config)
{
	struct vz_directory_share *share = vz_add_directory_share(config);
	char *dir = rig_path("shared");

	mkdir(dir, 0755);
	share->kind = VZ_SHARE_SINGLE_DIRECTORY;
	share->directory = dir;
	share->tag = text("share0");
	share->read_only = true;
	share = vz_add_directory_share(config);
	share->kind = VZ_SHARE_SINGLE_DIRECTORY;
	share->directory = rig_path("shared");
	share->tag = text("rw");
}

static struct vz_directory_share *add_rosetta(struct vz_vm_configuration *config)
{
	struct vz_directory_share *share = vz_add_directory_share(config);

	share->kind = VZ_SHARE_ROSETTA;
	share->tag = text("rosetta");
	return share;
}

static void rosetta_installed(struct vz_vm_configuration *config)
{
	add_rosetta(config);
}

static void rosetta_install(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 1);
	add_rosetta(config)->rosetta_install = true;
}

static void rosetta_missing_ignored(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 1);
	add_rosetta(config)->rosetta_ignore_if_missing = true;
}

static void rosetta_unsupported_ignored(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 0);
	add_rosetta(config)->rosetta_ignore_if_missing = true;
}

static void rosetta_install_fails_ignored(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 1);
	standin_fail("VZLinuxRosettaDirectoryShare", "installRosettaWithCompletionHandler:", "VZErrorDomain", 9,
		     "The user cancelled the installation.");
	struct vz_directory_share *share = add_rosetta(config);
	share->rosetta_install = true;
	share->rosetta_ignore_if_missing = true;
}

static void virtio_gpu_input(struct vz_vm_configuration *config)
{
	struct vz_graphics_device *display = vz_add_graphics_device(config);

	*display = (struct vz_graphics_device){.kind = VZ_GRAPHICS_VIRTIO, .width = 1024, .height = 768};
	vz_add_keyboard(config, VZ_KEYBOARD_USB);
	vz_add_pointing_device(config, VZ_POINTING_USB_SCREEN_COORDINATE);
}

static void entropy_balloon(struct vz_vm_configuration *config)
{
	config->entropy_device_count = 1;
	config->memory_balloon_device_count = 1;
}

static void everything(struct vz_vm_configuration *config)
{
	linux_full(config);
	virtio_blk(config);
	nbd(config);
	add_nat(config);
	serial_file(config);
	vsock(config);
	virtio_fs(config);
	add_rosetta(config);
	virtio_gpu_input(config);
	entropy_balloon(config);
	nested(config);
}

struct golden_case {
	const char *name;
	struct apple_host host;
	void (*setup)(struct vz_vm_configuration *config);
	void (*check_live)(struct apple_builder *b); /* after the live build */
	bool plan_differs;                          /* the plan has its own golden NAME.plan.txt */
};

static void no_setup(struct vz_vm_configuration *config)
{
	(void)config;
}

static void run_golden(const struct golden_case *c)
{
	struct vz_vm_configuration config;
	struct engine_options options = {0};
	struct engine_vm *vm = NULL;
	struct vzk_error err = {0};
	struct apple_builder_options live = {.mode = APPLE_MODE_LIVE, .host = &c->host, .runtime_dir = rig_tmpdir()};
	struct apple_builder *b;
	char name[160], golden[160];
	char *plan = NULL;

	standin_reset();
	rig_config_init(&config);
	rig_touch("vmlinuz");
	c->setup(&config);

	/* The plan first: create() must not make anything the build needs. */
	if (apple_engine_create_on_host(&config, &options, &c->host, &vm, &err) == 0)
		plan = rig_plan_messages(vm);
	else
		snprintf(name, sizeof(name), "create: %s", err.message);

	/* What the runtime receives is the reference (UPDATE_GOLDEN=1 writes it). */
	standin_clear_log();
	snprintf(golden, sizeof(golden), "%s.txt", c->name);
	snprintf(name, sizeof(name), "apple live %s", c->name);
	void *pool = apple_pool_push(); /* as the engine's start() has */
	b = apple_builder_new(&live);
	apple_builder_set_error(b, &err);
	if (apple_build_configuration(b, &config) == nil) {
		rig_check(name, false, "build: %s", err.message);
	} else {
		rig_check_golden(name, golden, standin_log());
		if (c->check_live != NULL)
			c->check_live(b);
	}

	/* The plan must say exactly that (or its own golden when it differs). */
	snprintf(name, sizeof(name), "apple plan %s", c->name);
	if (plan == NULL) {
		rig_check(name, false, "create failed");
	} else if (c->plan_differs) {
		snprintf(golden, sizeof(golden), "%s.plan.txt", c->name);
		rig_check_golden(name, golden, plan);
	} else {
		rig_compare_golden(name, golden, plan);
	}
	free(plan);

	rig_collect_log(standin_log());
	apple_builder_free(b);
	apple_pool_pop(pool);
	apple_engine.destroy(vm);

	snprintf(name, sizeof(name), "apple memory %s: every object released once", c->name);
	const char *leaks = standin_leaks();
	rig_check(name, leaks[0] == '\0' && standin_problems()[0] == '\0', "alive: %s; problems: %s", leaks,
		  standin_problems());
	vz_vm_configuration_free(&config);
}

static const struct golden_case golden_cases[] = {
	{"linux_minimal", {{15, 0}, APPLE_HOST_ARM64}, no_setup, NULL, false},
	{"linux_full", {{15, 0}, APPLE_HOST_X86_64}, linux_full, NULL, false},
	{"efi_create", {{13, 0}, APPLE_HOST_ARM64}, efi_create, NULL, false},
	{"efi_open", {{13, 0}, APPLE_HOST_X86_64}, efi_open, NULL, false},
	{"macos", {{14, 0}, APPLE_HOST_ARM64}, macos, NULL, false},
	{"macos_host12", {{12, 0}, APPLE_HOST_ARM64}, macos, NULL, false},
	{"nested", {{15, 0}, APPLE_HOST_ARM64}, nested, NULL, false},
	{"virtio_blk", {{14, 0}, APPLE_HOST_ARM64}, virtio_blk, NULL, false},
	{"disk_modes", {{12, 0}, APPLE_HOST_X86_64}, disk_modes, NULL, false},
	{"disk_host11", {{11, 0}, APPLE_HOST_X86_64}, disk_plain, NULL, false},
	{"disk_defaults", {{14, 0}, APPLE_HOST_ARM64}, disk_defaults, NULL, false},
	{"disk_keys", {{14, 0}, APPLE_HOST_ARM64}, disk_keys, NULL, false},
	{"disk_defaults_host11", {{11, 0}, APPLE_HOST_X86_64}, disk_defaults_host11, NULL, false},
	{"nvme", {{14, 0}, APPLE_HOST_ARM64}, nvme, NULL, false},
	{"usb_mass_storage", {{13, 0}, APPLE_HOST_ARM64}, usb_mass_storage, NULL, false},
	{"block_device", {{14, 0}, APPLE_HOST_ARM64}, block_device, NULL, false},
	{"nbd", {{14, 0}, APPLE_HOST_ARM64}, nbd, NULL, false},
	{"net_nat", {{11, 0}, APPLE_HOST_X86_64}, net_nat, NULL, false},
	{"net_fd", {{14, 0}, APPLE_HOST_ARM64}, net_fd, NULL, false},
	{"net_unixgram", {{14, 0}, APPLE_HOST_ARM64}, net_unixgram, net_unixgram_check, false},
	{"net_unixgram_no_magic", {{14, 0}, APPLE_HOST_ARM64}, net_unixgram_no_magic, net_unixgram_no_magic_check, false},
	{"serial_file", {{14, 0}, APPLE_HOST_ARM64}, serial_file, NULL, false},
	{"serial_stdio", {{14, 0}, APPLE_HOST_ARM64}, serial_stdio, NULL, false},
	{"serial_pty", {{14, 0}, APPLE_HOST_ARM64}, serial_pty, serial_pty_check, false},
	{"vsock", {{14, 0}, APPLE_HOST_ARM64}, vsock, NULL, false},
	{"virtio_fs", {{12, 0}, APPLE_HOST_X86_64}, virtio_fs, NULL, false},
	{"rosetta_installed", {{14, 0}, APPLE_HOST_ARM64}, rosetta_installed, NULL, false},
	{"rosetta_install", {{14, 0}, APPLE_HOST_ARM64}, rosetta_install, NULL, true},
	{"rosetta_missing_ignored", {{14, 0}, APPLE_HOST_ARM64}, rosetta_missing_ignored, NULL, false},
	{"rosetta_unsupported_ignored", {{14, 0}, APPLE_HOST_ARM64}, rosetta_unsupported_ignored, NULL, false},
	{"rosetta_install_fails_ignored", {{14, 0}, APPLE_HOST_ARM64}, rosetta_install_fails_ignored, NULL, true},
	{"virtio_gpu_input", {{13, 0}, APPLE_HOST_X86_64}, virtio_gpu_input, NULL, false},
	{"entropy_balloon", {{11, 0}, APPLE_HOST_X86_64}, entropy_balloon, NULL, false},
	{"everything", {{15, 0}, APPLE_HOST_ARM64}, everything, NULL, false},
};

/* ---- error paths ---- */

enum stage { AT_CREATE, AT_BUILD };

struct error_case {
	const char *name;
	struct apple_host host;
	void (*setup)(struct vz_vm_configuration *config);
	enum stage stage;
	enum vzk_error_kind kind;
	const char *message; /* the whole error line, with $TMP */
};

static void nbd_plain(struct vz_vm_configuration *config)
{
	struct vz_storage_device *disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_NBD, NULL);
	disk->attachment.url = text("nbd://localhost/export");
}

static void rosetta_plain(struct vz_vm_configuration *config)
{
	add_rosetta(config);
}

static void nested_unsupported(struct vz_vm_configuration *config)
{
	standin_answer("VZGenericPlatformConfiguration", "isNestedVirtualizationSupported", 0);
	nested(config);
}

static void disk_image_fails(struct vz_vm_configuration *config)
{
	disk_plain(config);
	standin_fail("VZDiskImageStorageDeviceAttachment", "initWithURL:readOnly:cachingMode:synchronizationMode:error:",
		     "VZErrorDomain", 2, "The storage device attachment is invalid.");
}

static void validate_fails(struct vz_vm_configuration *config)
{
	disk_plain(config);
	standin_fail("VZVirtualMachineConfiguration", "validateWithError:", "VZErrorDomain", 2,
		     "Invalid virtual machine configuration. The memory size must be a multiple of 1 MB.");
}

static void macos_missing_model(struct vz_vm_configuration *config)
{
	macos_files(config);
	char *path = rig_path("HardwareModel");
	unlink(path);
	free(path);
}

static void macos_bad_model(struct vz_vm_configuration *config)
{
	macos_files(config);
	standin_fail("VZMacHardwareModel", "initWithDataRepresentation:", "", 0, "");
}

static void macos_unsupported_model(struct vz_vm_configuration *config)
{
	macos_files(config);
	standin_answer("VZMacHardwareModel", "isSupported", 0);
}

static void efi_create_fails(struct vz_vm_configuration *config)
{
	efi_create(config);
	standin_fail("VZEFIVariableStore", "initCreatingVariableStoreAtURL:options:error:", "NSCocoaErrorDomain", 513,
		     "You don't have permission to save the file.");
}

static void rosetta_missing(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 1);
	add_rosetta(config);
}

static void rosetta_unsupported(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 0);
	add_rosetta(config)->rosetta_install = true;
}

static void rosetta_install_fails(struct vz_vm_configuration *config)
{
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 1);
	standin_fail("VZLinuxRosettaDirectoryShare", "installRosettaWithCompletionHandler:", "VZErrorDomain", 9,
		     "The user cancelled the installation.");
	add_rosetta(config)->rosetta_install = true;
}

static void rosetta_share_fails(struct vz_vm_configuration *config)
{
	add_rosetta(config);
	standin_fail("VZLinuxRosettaDirectoryShare", "initWithError:", "VZErrorDomain", 10001,
		     "Rosetta is not installed.");
}

static void bad_tag(struct vz_vm_configuration *config)
{
	virtio_fs(config);
	standin_fail("VZVirtioFileSystemDeviceConfiguration", "validateTag:error:", "VZErrorDomain", 2,
		     "The tag is too long.");
}

static void unixgram_missing_peer(struct vz_vm_configuration *config)
{
	struct vz_network_device *net = add_nat(config);
	net->attachment = VZ_NETWORK_ATTACHMENT_FILE_HANDLE;
	net->unix_socket_path = rig_path("nobody.sock");
	net->vfkit_magic = true;
}

static void block_device_missing(struct vz_vm_configuration *config)
{
	struct vz_storage_device *disk = add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE, NULL);
	disk->attachment.path = rig_path("no-such-device");
}

static void block_device_fsync(struct vz_vm_configuration *config)
{
	add_disk(config, VZ_STORAGE_VIRTIO_BLOCK, VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE, "blockdev")->attachment.sync_mode =
		VZ_DISK_SYNC_FSYNC;
}

static void no_boot_loader(struct vz_vm_configuration *config)
{
	free(config->boot_loader.kernel_path);
	config->boot_loader = (struct vz_boot_loader){.kind = VZ_BOOT_LOADER_NONE};
}

static void efi_plain(struct vz_vm_configuration *config)
{
	efi_open(config);
}

static void gpu(struct vz_vm_configuration *config)
{
	virtio_gpu_input(config);
}

static void disk_with_id(struct vz_vm_configuration *config)
{
	virtio_blk(config);
}

static void usb_disk(struct vz_vm_configuration *config)
{
	usb_mass_storage(config);
}

static void nvme_disk(struct vz_vm_configuration *config)
{
	nvme(config);
}

static void block_dev(struct vz_vm_configuration *config)
{
	block_device(config);
}

static const struct error_case error_cases[] = {
	/* the host gates: usage errors at create, before anything is made */
	{"gate nbd on macOS 13", {{13, 6}, APPLE_HOST_ARM64}, nbd_plain, AT_CREATE, VZK_ERR_USAGE,
	 "--device nbd nbd://localhost/export: VZNetworkBlockDeviceStorageDeviceAttachment needs macOS 14.0 or newer; "
	 "this host runs macOS 13.6"},
	{"gate nested on macOS 14", {{14, 5}, APPLE_HOST_ARM64}, nested, AT_CREATE, VZK_ERR_USAGE,
	 "--nested: +[VZGenericPlatformConfiguration isNestedVirtualizationSupported] needs macOS 15.0 or newer; "
	 "this host runs macOS 14.5"},
	{"gate nested unsupported chip", {{15, 0}, APPLE_HOST_ARM64}, nested_unsupported, AT_CREATE, VZK_ERR_USAGE,
	 "--nested: this Mac cannot run nested virtualization "
	 "(VZGenericPlatformConfiguration.isNestedVirtualizationSupported is NO)"},
	{"gate macos bootloader on x86_64", {{14, 0}, APPLE_HOST_X86_64}, macos, AT_CREATE, VZK_ERR_USAGE,
	 "--bootloader macos: VZMacOSBootLoader needs a Mac with Apple silicon (arm64); this host is x86_64"},
	{"gate rosetta on x86_64", {{14, 0}, APPLE_HOST_X86_64}, rosetta_plain, AT_CREATE, VZK_ERR_USAGE,
	 "--device rosetta rosetta: VZLinuxRosettaDirectoryShare needs a Mac with Apple silicon (arm64); this host is x86_64"},
	{"gate efi on macOS 12", {{12, 7}, APPLE_HOST_ARM64}, efi_plain, AT_CREATE, VZK_ERR_USAGE,
	 "--bootloader efi: VZEFIBootLoader needs macOS 13.0 or newer; this host runs macOS 12.7"},
	{"gate virtio-gpu on macOS 12", {{12, 6}, APPLE_HOST_X86_64}, gpu, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-gpu 1024x768: VZVirtioGraphicsDeviceConfiguration needs macOS 13.0 or newer; "
	 "this host runs macOS 12.6"},
	{"gate deviceId on macOS 12.2", {{12, 2}, APPLE_HOST_ARM64}, disk_with_id, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-blk $TMP/disk.img: deviceId 'disk0': +[VZVirtioBlockDeviceConfiguration "
	 "validateBlockDeviceIdentifier:error:] needs macOS 12.3 or newer; this host runs macOS 12.2"},
	{"gate usb-mass-storage on macOS 12", {{12, 0}, APPLE_HOST_ARM64}, usb_disk, AT_CREATE, VZK_ERR_USAGE,
	 "--device usb-mass-storage $TMP/installer.iso: VZUSBMassStorageDeviceConfiguration needs macOS 13.0 or newer; "
	 "this host runs macOS 12.0"},
	{"gate nvme on macOS 13", {{13, 0}, APPLE_HOST_ARM64}, nvme_disk, AT_CREATE, VZK_ERR_USAGE,
	 "--device nvme $TMP/nvme.img: VZNVMExpressControllerDeviceConfiguration needs macOS 14.0 or newer; "
	 "this host runs macOS 13.0"},
	{"gate block device on macOS 13", {{13, 0}, APPLE_HOST_ARM64}, block_dev, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-blk $TMP/blockdev: VZDiskBlockDeviceStorageDeviceAttachment needs macOS 14.0 or newer; "
	 "this host runs macOS 13.0"},
	{"gate disk modes on macOS 11", {{11, 0}, APPLE_HOST_X86_64}, disk_modes, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-blk $TMP/disk.img: caching and synchronization modes need macOS 12.0 or newer"},
	{"gate pty console on macOS 12", {{12, 6}, APPLE_HOST_ARM64}, serial_pty, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-serial pty: VZVirtioConsoleDeviceConfiguration needs macOS 13.0 or newer; "
	 "this host runs macOS 12.6"},
	{"gate virtio-fs on macOS 11", {{11, 0}, APPLE_HOST_X86_64}, virtio_fs, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-fs $TMP/shared: VZVirtioFileSystemDeviceConfiguration needs macOS 12.0 or newer; "
	 "this host runs macOS 11.0"},
	{"block device sync=fsync", {{14, 0}, APPLE_HOST_ARM64}, block_device_fsync, AT_CREATE, VZK_ERR_USAGE,
	 "--device virtio-blk $TMP/blockdev: sync=fsync exists only for disk images (full or none here)"},
	{"no boot loader", {{14, 0}, APPLE_HOST_ARM64}, no_boot_loader, AT_CREATE, VZK_ERR_USAGE,
	 "a bootloader is required: --bootloader linux|efi|macos,..."},
	{"rosetta not installed", {{14, 0}, APPLE_HOST_ARM64}, rosetta_missing, AT_CREATE, VZK_ERR_USAGE,
	 "--device rosetta rosetta: Rosetta is not installed (add install to install it, or ignore-if-missing)"},
	{"rosetta not supported", {{14, 0}, APPLE_HOST_ARM64}, rosetta_unsupported, AT_CREATE, VZK_ERR_USAGE,
	 "--device rosetta rosetta: Rosetta is not supported on this host"},
	/* the framework says no (NSError), at start's build */
	{"disk image refused", {{14, 0}, APPLE_HOST_ARM64}, disk_image_fails, AT_BUILD, VZK_ERR_RUNTIME,
	 "--device virtio-blk $TMP/disk.img: The storage device attachment is invalid. (VZErrorDomain error 2)"},
	{"configuration refused", {{14, 0}, APPLE_HOST_ARM64}, validate_fails, AT_BUILD, VZK_ERR_RUNTIME,
	 "the Virtualization framework rejects this configuration: Invalid virtual machine configuration. The memory "
	 "size must be a multiple of 1 MB. (VZErrorDomain error 2)"},
	{"macos hardware model missing", {{14, 0}, APPLE_HOST_ARM64}, macos_missing_model, AT_BUILD, VZK_ERR_RUNTIME,
	 "--bootloader macos: hardwareModelPath $TMP/HardwareModel: The file couldn't be opened because there is no "
	 "such file. (NSCocoaErrorDomain error 260)"},
	{"macos hardware model garbage", {{14, 0}, APPLE_HOST_ARM64}, macos_bad_model, AT_BUILD, VZK_ERR_RUNTIME,
	 "--bootloader macos: hardwareModelPath $TMP/HardwareModel does not hold a VZMacHardwareModel: "
	 "-[VZMacHardwareModel initWithDataRepresentation:] failed"},
	{"macos hardware model unsupported", {{14, 0}, APPLE_HOST_ARM64}, macos_unsupported_model, AT_BUILD, VZK_ERR_USAGE,
	 "--bootloader macos: the hardware model in $TMP/HardwareModel is not supported by this host"},
	{"efi store creation refused", {{14, 0}, APPLE_HOST_ARM64}, efi_create_fails, AT_BUILD, VZK_ERR_RUNTIME,
	 "--bootloader efi: variable-store $TMP/efi-new.store: You don't have permission to save the file. "
	 "(NSCocoaErrorDomain error 513)"},
	{"rosetta install fails", {{14, 0}, APPLE_HOST_ARM64}, rosetta_install_fails, AT_BUILD, VZK_ERR_RUNTIME,
	 "--device rosetta rosetta: installing Rosetta failed: The user cancelled the installation. (VZErrorDomain error 9)"},
	{"rosetta share refused", {{14, 0}, APPLE_HOST_ARM64}, rosetta_share_fails, AT_BUILD, VZK_ERR_RUNTIME,
	 "--device rosetta rosetta: Rosetta is not installed. (VZErrorDomain error 10001)"},
	{"virtio-fs tag refused", {{14, 0}, APPLE_HOST_ARM64}, bad_tag, AT_BUILD, VZK_ERR_RUNTIME,
	 "--device virtio-fs $TMP/shared: mountTag 'share0': The tag is too long. (VZErrorDomain error 2)"},
	{"unixgram peer missing", {{14, 0}, APPLE_HOST_ARM64}, unixgram_missing_peer, AT_BUILD, VZK_ERR_RUNTIME,
	 "--device virtio-net 52:54:00:12:34:56: cannot connect to $TMP/nobody.sock: No such file or directory"},
	{"block device missing", {{14, 0}, APPLE_HOST_ARM64}, block_device_missing, AT_BUILD, VZK_ERR_RUNTIME,
	 "--device virtio-blk $TMP/no-such-device: cannot open $TMP/no-such-device: No such file or directory"},
};

static void run_error(const struct error_case *c)
{
	struct vz_vm_configuration config;
	struct engine_options options = {0};
	struct engine_vm *vm = NULL;
	struct vzk_error err = {0};
	struct apple_builder_options live = {.mode = APPLE_MODE_LIVE, .host = &c->host, .runtime_dir = rig_tmpdir()};
	struct apple_builder *b = NULL;
	char name[200];
	char *got;
	int status;

	standin_reset();
	rig_config_init(&config);
	rig_touch("vmlinuz");
	c->setup(&config);
	status = apple_engine_create_on_host(&config, &options, &c->host, &vm, &err);
	void *pool = apple_pool_push(); /* as the engine's start() has */
	if (c->stage == AT_BUILD && status == 0) {
		b = apple_builder_new(&live);
		apple_builder_set_error(b, &err);
		status = apple_build_configuration(b, &config) == nil ? -1 : 0;
	}
	got = rig_redact(err.message);
	snprintf(name, sizeof(name), "apple error %s", c->name);
	rig_check(name, status != 0 && err.kind == c->kind && strcmp(got, c->message) == 0,
		  "status %d, kind %d (want %d), message '%s' (want '%s')", status, (int)err.kind, (int)c->kind, got,
		  c->message);
	free(got);
	rig_collect_log(standin_log());
	apple_builder_free(b);
	apple_pool_pop(pool);
	apple_engine.destroy(vm);
	snprintf(name, sizeof(name), "apple memory error %s: every object released once", c->name);
	const char *leaks = standin_leaks();
	rig_check(name, leaks[0] == '\0' && standin_problems()[0] == '\0', "alive: %s; problems: %s", leaks,
		  standin_problems());
	vz_vm_configuration_free(&config);
}

/* Skipped devices leave no trace in the configuration. */
static void check_rosetta_skipped(void)
{
	struct vz_vm_configuration config;
	struct apple_host host = RIG_HOST_DEFAULT;
	struct apple_builder_options live = {.mode = APPLE_MODE_LIVE, .host = &host, .runtime_dir = rig_tmpdir()};
	struct apple_builder *b;
	struct vzk_error err = {0};

	standin_reset();
	rig_config_init(&config);
	rosetta_install_fails_ignored(&config);
	void *pool = apple_pool_push(); /* as the engine's start() has */
	b = apple_builder_new(&live);
	apple_builder_set_error(b, &err);
	bool built = apple_build_configuration(b, &config) != nil;
	rig_check("apple rosetta install fails + ignore-if-missing: VM without the share",
		  built && strstr(standin_log(), "setDirectorySharingDevices:") == NULL &&
			  strstr(standin_log(), "installRosettaWithCompletionHandler:") != NULL,
		  "built %d: %s", built, err.message);
	apple_builder_free(b);
	apple_pool_pop(pool);
	standin_leaks();
	vz_vm_configuration_free(&config);
}

/* stdio on a terminal: vfkit's console mode, not cfmakeraw. */
static void check_stdio_terminal(void)
{
	struct vz_vm_configuration config;
	struct apple_host host = RIG_HOST_DEFAULT;
	struct apple_builder_options live = {.mode = APPLE_MODE_LIVE, .host = &host, .runtime_dir = rig_tmpdir()};
	struct apple_builder *b;
	struct vzk_error err = {0};
	struct termios before, during, after;
	int master, peer, saved_stdin;

	if (openpty(&master, &peer, NULL, NULL, NULL) != 0) {
		rig_skip("apple stdio terminal", "no pty");
		return;
	}
	saved_stdin = dup(STDIN_FILENO);
	dup2(peer, STDIN_FILENO);
	tcgetattr(peer, &before);
	standin_reset();
	rig_config_init(&config);
	serial_stdio(&config);
	void *pool = apple_pool_push(); /* as the engine's start() has */
	b = apple_builder_new(&live);
	apple_builder_set_error(b, &err);
	bool built = apple_build_configuration(b, &config) != nil;
	tcgetattr(peer, &during);
	rig_check("apple stdio terminal: keys go to the guest unechoed and unedited, CR stays CR",
		  built && !(during.c_lflag & ICANON) && !(during.c_lflag & ECHO) && !(during.c_iflag & ICRNL),
		  "built %d (%s), lflag %#lx iflag %#lx", built, err.message, (unsigned long)during.c_lflag,
		  (unsigned long)during.c_iflag);
	rig_check("apple stdio terminal: Ctrl-C still signals vzkit (a graceful stop, as vfkit)",
		  (during.c_lflag & ISIG) != 0, "ISIG cleared");
	rig_check("apple stdio terminal: vzkit's own lines keep their carriage returns",
		  (during.c_oflag & OPOST) != 0 && (during.c_oflag & ONLCR) == (before.c_oflag & ONLCR), "oflag %#lx",
		  (unsigned long)during.c_oflag);
	apple_builder_free(b);
	apple_pool_pop(pool);
	tcgetattr(peer, &after);
	rig_check("apple stdio terminal: restored when the configuration goes",
		  after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag && after.c_oflag == before.c_oflag,
		  "lflag %#lx, want %#lx", (unsigned long)after.c_lflag, (unsigned long)before.c_lflag);
	dup2(saved_stdin, STDIN_FILENO);
	close(saved_stdin);
	close(peer);
	close(master);
	standin_leaks();
	vz_vm_configuration_free(&config);
}

void test_config(void)
{
	for (size_t i = 0; i < sizeof(golden_cases) / sizeof(golden_cases[0]); i++)
		run_golden(&golden_cases[i]);
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		run_error(&error_cases[i]);
	check_rosetta_skipped();
	check_stdio_terminal();
	if (gvproxy_fd >= 0)
		close(gvproxy_fd);
	gvproxy_fd = -1;
}

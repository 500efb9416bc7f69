/* The framework's own rules for a VZVirtualMachineConfiguration
 * (validateWithError:), checked before any engine sees the configuration. */
#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vz/vz.h"

/* Duplicate detection sorts (key, index) pairs instead of comparing every
 * pair, so validation stays linear-logarithmic in the number of devices
 * (make bench: 100,000 --device flags). A key is a string or a number. */
struct keyed_item {
	const char *text; /* NULL: the key is `number` */
	uint64_t number;
	size_t index;
};

static int compare_keys(const struct keyed_item *a, const struct keyed_item *b)
{
	if (a->text != NULL)
		return strcmp(a->text, b->text);
	return (a->number > b->number) - (a->number < b->number);
}

static int compare_keyed_items(const void *a, const void *b)
{
	const struct keyed_item *x = a, *y = b;
	int order = compare_keys(x, y);

	if (order != 0)
		return order;
	return (x->index > y->index) - (x->index < y->index);
}

/* The smallest index whose key an earlier item already has, or SIZE_MAX:
 * the item a pairwise scan in order would report. Sorts `items`. */
static size_t first_repeat(struct keyed_item *items, size_t count)
{
	size_t first = SIZE_MAX;

	if (count < 2)
		return SIZE_MAX;
	qsort(items, count, sizeof(*items), compare_keyed_items);
	for (size_t i = 1; i < count; i++)
		if (compare_keys(&items[i - 1], &items[i]) == 0 && items[i].index < first)
			first = items[i].index;
	return first;
}

static struct keyed_item *keyed_items_new(size_t count, struct vzk_error *err)
{
	struct keyed_item *items = calloc(count > 0 ? count : 1, sizeof(*items));
	if (items == NULL)
		vzk_runtime_error(err, "out of memory");
	return items;
}

static int validate_vsock_ports(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	size_t count = config->vsock_port_count;
	struct keyed_item *by_port, *by_socket;
	size_t port_repeat, socket_repeat;

	for (size_t i = 0; i < count; i++) {
		const struct vz_vsock_port *port = &config->vsock_ports[i];
		if (port->listen && (port->port == config->timesync_vsock_port ||
				     (config->ignition_path != NULL && port->port == VZ_IGNITION_VSOCK_PORT)))
			return vzk_usage_error(err, "--device virtio-vsock: port %u is already used by %s", port->port,
					       port->port == config->timesync_vsock_port ? "--timesync" : "--ignition");
	}
	by_port = keyed_items_new(count, err);
	by_socket = keyed_items_new(count, err);
	if (by_port == NULL || by_socket == NULL) {
		free(by_port);
		free(by_socket);
		return -1;
	}
	/* A port may be used once per direction: listen and connect are
	 * different endpoints. */
	for (size_t i = 0; i < count; i++) {
		by_port[i] = (struct keyed_item){.number = ((uint64_t)config->vsock_ports[i].listen << 32) |
							   config->vsock_ports[i].port,
						 .index = i};
		by_socket[i] = (struct keyed_item){.text = config->vsock_ports[i].socket_path, .index = i};
	}
	port_repeat = first_repeat(by_port, count);
	socket_repeat = first_repeat(by_socket, count);
	free(by_port);
	free(by_socket);
	if (port_repeat != SIZE_MAX && port_repeat <= socket_repeat)
		return vzk_usage_error(err, "--device virtio-vsock: port %u is given twice",
				       config->vsock_ports[port_repeat].port);
	if (socket_repeat != SIZE_MAX)
		return vzk_usage_error(err, "--device virtio-vsock: socketURL %s is given twice",
				       config->vsock_ports[socket_repeat].socket_path);
	if (config->ignition_path != NULL && config->timesync_vsock_port == VZ_IGNITION_VSOCK_PORT)
		return vzk_usage_error(err, "--timesync: vsock port %u is used by --ignition", VZ_IGNITION_VSOCK_PORT);
	return 0;
}

static int validate_shares(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	size_t count = config->directory_share_count;
	struct keyed_item *by_tag;
	size_t repeat;

	for (size_t i = 0; i < count; i++)
		if (config->directory_shares[i].kind == VZ_SHARE_ROSETTA && config->platform.kind == VZ_PLATFORM_MAC)
			return vzk_usage_error(err, "--device rosetta: Rosetta is for Linux guests, not with --bootloader macos");
	if ((by_tag = keyed_items_new(count, err)) == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		by_tag[i] = (struct keyed_item){.text = config->directory_shares[i].tag, .index = i};
	repeat = first_repeat(by_tag, count);
	free(by_tag);
	if (repeat != SIZE_MAX) {
		const struct vz_directory_share *share = &config->directory_shares[repeat];
		return vzk_usage_error(err, "--device %s: mountTag '%s' is used twice; each share needs its own tag",
				       share->kind == VZ_SHARE_ROSETTA ? "rosetta" : "virtio-fs", share->tag);
	}
	return 0;
}

static int validate_serial_ports(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	size_t stdio_ports = 0, files = 0, repeat;
	struct keyed_item *by_path;

	for (size_t i = 0; i < config->serial_port_count; i++)
		if (config->serial_ports[i].attachment == VZ_SERIAL_ATTACHMENT_STDIO && ++stdio_ports > 1)
			return vzk_usage_error(err, "--device virtio-serial: only one serial port can use stdio");
	if ((by_path = keyed_items_new(config->serial_port_count, err)) == NULL)
		return -1;
	for (size_t i = 0; i < config->serial_port_count; i++)
		if (config->serial_ports[i].attachment == VZ_SERIAL_ATTACHMENT_FILE)
			by_path[files++] = (struct keyed_item){.text = config->serial_ports[i].log_path, .index = i};
	repeat = first_repeat(by_path, files);
	free(by_path);
	if (repeat != SIZE_MAX)
		return vzk_usage_error(err, "--device virtio-serial: logFilePath %s is used twice",
				       config->serial_ports[repeat].log_path);
	return 0;
}

static uint64_t mac_number(const uint8_t mac[6])
{
	uint64_t number = 0;
	for (int i = 0; i < 6; i++)
		number = number << 8 | mac[i];
	return number;
}

static int validate_network(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	size_t count = config->network_device_count, fds = 0;
	struct keyed_item *by_mac, *by_fd;
	size_t mac_repeat, fd_repeat;

	for (size_t i = 0; i < count; i++) {
		int fd = config->network_devices[i].fd;
		if (fd >= 0 && fd <= 2)
			return vzk_usage_error(err, "--device virtio-net: fd=%d is a standard stream, not a socket", fd);
	}
	by_mac = keyed_items_new(count, err);
	by_fd = keyed_items_new(count, err);
	if (by_mac == NULL || by_fd == NULL) {
		free(by_mac);
		free(by_fd);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		const struct vz_network_device *device = &config->network_devices[i];
		by_mac[i] = (struct keyed_item){.number = mac_number(device->mac_address), .index = i};
		if (device->fd >= 0)
			by_fd[fds++] = (struct keyed_item){.number = (uint64_t)device->fd, .index = i};
	}
	mac_repeat = first_repeat(by_mac, count);
	fd_repeat = first_repeat(by_fd, fds);
	free(by_mac);
	free(by_fd);
	if (mac_repeat != SIZE_MAX && mac_repeat <= fd_repeat) {
		char mac[18];
		vz_format_mac(config->network_devices[mac_repeat].mac_address, mac);
		return vzk_usage_error(err, "--device virtio-net: MAC address %s is used twice", mac);
	}
	if (fd_repeat != SIZE_MAX)
		return vzk_usage_error(err, "--device virtio-net: fd=%d is used twice", config->network_devices[fd_repeat].fd);
	return 0;
}

int vz_validate(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	if (config->boot_loader.kind == VZ_BOOT_LOADER_NONE)
		return vzk_usage_error(err, "a bootloader is required: --bootloader linux|efi|macos,...");
	if (config->cpu_count < VZ_MIN_CPU_COUNT || config->cpu_count > VZ_MAX_CPU_COUNT)
		return vzk_usage_error(err, "--cpus: %u is out of range (%u to %u)", config->cpu_count,
				       VZ_MIN_CPU_COUNT, VZ_MAX_CPU_COUNT);
	if (config->memory_size % (1ull << 20) != 0)
		return vzk_usage_error(err, "--memory: %llu bytes is not a whole number of MiB",
				       (unsigned long long)config->memory_size);
	if (config->memory_size < VZ_MIN_MEMORY_SIZE || config->memory_size > VZ_MAX_MEMORY_SIZE)
		return vzk_usage_error(err, "--memory: %llu MiB is out of range (%llu to %llu MiB)",
				       (unsigned long long)(config->memory_size >> 20), VZ_MIN_MEMORY_SIZE >> 20,
				       VZ_MAX_MEMORY_SIZE >> 20);
	if (config->platform.nested_virtualization && config->platform.kind == VZ_PLATFORM_MAC)
		return vzk_usage_error(err, "--nested: nested virtualisation is not available with --bootloader macos");
	if (config->graphics_device_count > 1)
		return vzk_usage_error(err, "--device virtio-gpu: at most one graphics device (got %zu)",
				       config->graphics_device_count);
	if (config->memory_balloon_device_count > 1)
		return vzk_usage_error(err, "--device virtio-balloon: at most one memory balloon (got %zu)",
				       config->memory_balloon_device_count);
	if (config->gui && config->graphics_device_count == 0)
		return vzk_usage_error(err, "--gui needs a display (--device virtio-gpu)");
	if (validate_vsock_ports(config, err) != 0 || validate_shares(config, err) != 0 ||
	    validate_serial_ports(config, err) != 0 || validate_network(config, err) != 0)
		return -1;
	return 0;
}

/* ---- host checks ---- */

static int need_file(const char *path, const char *what, bool must_be_regular, struct vzk_error *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return vzk_usage_error(err, "%s: %s: %s", what, path, strerror(errno));
	if (must_be_regular && !S_ISREG(st.st_mode))
		return vzk_usage_error(err, "%s: %s is not a regular file", what, path);
	if (access(path, R_OK) != 0)
		return vzk_usage_error(err, "%s: %s: %s", what, path, strerror(errno));
	return 0;
}

static int need_parent_dir(const char *path, const char *what, struct vzk_error *err)
{
	char *copy = strdup(path);
	struct stat st;
	int status = 0;

	if (copy == NULL)
		return vzk_runtime_error(err, "out of memory");
	const char *dir = dirname(copy);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		status = vzk_usage_error(err, "%s: directory %s of %s does not exist", what, dir, path);
	free(copy);
	return status;
}

static int check_storage(const struct vz_storage_device *device, struct vzk_error *err)
{
	static const char *const flag_names[] = {
		[VZ_STORAGE_VIRTIO_BLOCK] = "--device virtio-blk",
		[VZ_STORAGE_NVME] = "--device nvme",
		[VZ_STORAGE_USB_MASS_STORAGE] = "--device usb-mass-storage",
	};
	const char *what = flag_names[device->kind];
	struct stat st;

	switch (device->attachment.kind) {
	case VZ_STORAGE_ATTACHMENT_DISK_IMAGE:
		/* size=: made at start when missing (vz_create_missing_disk_images) */
		if (device->attachment.create_size > 0 && stat(device->attachment.path, &st) != 0 && errno == ENOENT)
			return need_parent_dir(device->attachment.path, what, err);
		if (need_file(device->attachment.path, what, true, err) != 0)
			return -1;
		/* vfkit reads a virtio-blk image's first bytes before it starts
		 * (looking for qcow2) and refuses a file that has none. */
		if (device->kind == VZ_STORAGE_VIRTIO_BLOCK && stat(device->attachment.path, &st) == 0 && st.st_size == 0)
			return vzk_usage_error(err, "%s: failed to read the header of file %s: EOF (the image is empty)", what,
					       device->attachment.path);
		if (!device->attachment.read_only && access(device->attachment.path, W_OK) != 0)
			return vzk_usage_error(err, "%s: %s is not writable (add readonly?)", what,
					       device->attachment.path);
		return 0;
	case VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE:
		if (stat(device->attachment.path, &st) != 0)
			return vzk_usage_error(err, "%s: %s: %s", what, device->attachment.path, strerror(errno));
		if (!S_ISBLK(st.st_mode))
			return vzk_usage_error(err, "%s: type=dev needs a block device; %s is not one", what,
					       device->attachment.path);
		return 0;
	case VZ_STORAGE_ATTACHMENT_NBD:
		return 0; /* the server is reached at start */
	}
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;
	return path != NULL && stat(path, &st) == 0;
}

bool vz_macos_needs_install(const struct vz_vm_configuration *config)
{
	const struct vz_platform *platform = &config->platform;

	return config->boot_loader.kind == VZ_BOOT_LOADER_MACOS && config->boot_loader.restore_image != NULL &&
	       !exists(platform->machine_identifier_path) && !exists(platform->hardware_model_path) &&
	       !exists(platform->auxiliary_storage_path);
}

/* restoreImage: the three files all exist (the guest boots, the image is not
 * looked at) or none does (install: their directories must exist, a local
 * image too, and the first disk is where macOS goes). Never a mix: vzkit
 * overwrites nothing and cannot guess which of them belong together. */
static int check_macos_install(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	const struct vz_platform *platform = &config->platform;
	const char *paths[3] = {platform->machine_identifier_path, platform->hardware_model_path,
				platform->auxiliary_storage_path};
	static const char *const keys[3] = {"machineIdentifierPath", "hardwareModelPath", "auxImagePath"};
	const char *image = config->boot_loader.restore_image;
	size_t present = 0;

	for (size_t i = 0; i < 3; i++)
		present += exists(paths[i]);
	if (present == 3)
		return 0;
	if (present > 0) {
		for (size_t i = 0; i < 3; i++)
			if (!exists(paths[i]))
				return vzk_usage_error(err, "--bootloader macos: %s %s does not exist while the other files do; "
							    "vzkit installs only when none of the three exists and never "
							    "overwrites one (move them away to install afresh)",
						       keys[i], paths[i]);
	}
	for (size_t i = 0; i < 3; i++)
		if (need_parent_dir(paths[i], "--bootloader macos", err) != 0)
			return -1;
	if (strcmp(image, "latest") != 0 && strncmp(image, "http://", 7) != 0 && strncmp(image, "https://", 8) != 0 &&
	    need_file(image, "--bootloader macos: restoreImage", true, err) != 0)
		return -1;
	if (config->storage_device_count == 0 ||
	    config->storage_devices[0].attachment.kind != VZ_STORAGE_ATTACHMENT_DISK_IMAGE)
		return vzk_usage_error(err, "--bootloader macos: restoreImage installs macOS on the first disk: give a "
					    "--device virtio-blk,path=DISK first (with size=64G to create it)");
	if (config->storage_devices[0].attachment.read_only)
		return vzk_usage_error(err, "--bootloader macos: restoreImage cannot install on the read-only disk %s",
				       config->storage_devices[0].attachment.path);
	return 0;
}

int vz_check_host_paths(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	const struct vz_boot_loader *boot = &config->boot_loader;
	struct stat st;

	if (boot->kind == VZ_BOOT_LOADER_LINUX) {
		if (need_file(boot->kernel_path, "--bootloader linux: kernel", true, err) != 0)
			return -1;
		if (boot->initrd_path != NULL && need_file(boot->initrd_path, "--bootloader linux: initrd", true, err) != 0)
			return -1;
	}
	if (boot->kind == VZ_BOOT_LOADER_EFI) {
		if (stat(boot->variable_store_path, &st) != 0) {
			if (!boot->create_variable_store)
				return vzk_usage_error(err, "--bootloader efi: variable-store %s does not exist (add create to make it)",
						       boot->variable_store_path);
			if (need_parent_dir(boot->variable_store_path, "--bootloader efi: variable-store", err) != 0)
				return -1;
		} else if (!S_ISREG(st.st_mode)) {
			return vzk_usage_error(err, "--bootloader efi: variable-store %s is not a regular file",
					       boot->variable_store_path);
		}
	}
	if (boot->kind == VZ_BOOT_LOADER_MACOS && boot->restore_image != NULL &&
	    check_macos_install(config, err) != 0)
		return -1;
	if (boot->kind == VZ_BOOT_LOADER_MACOS && !vz_macos_needs_install(config)) {
		if (need_file(config->platform.machine_identifier_path, "--bootloader macos: machineIdentifierPath", true, err) != 0 ||
		    need_file(config->platform.hardware_model_path, "--bootloader macos: hardwareModelPath", true, err) != 0 ||
		    need_file(config->platform.auxiliary_storage_path, "--bootloader macos: auxImagePath", true, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < config->storage_device_count; i++)
		if (!(config->cloud_init_file_count > 0 && i == config->cloud_init_disk_index) && /* written at start */
		    check_storage(&config->storage_devices[i], err) != 0)
			return -1;
	for (size_t i = 0; i < config->cloud_init_file_count; i++)
		if (need_file(config->cloud_init_files[i], "--cloud-init", true, err) != 0)
			return -1;
	for (size_t i = 0; i < config->directory_share_count; i++) {
		const struct vz_directory_share *share = &config->directory_shares[i];
		if (share->kind != VZ_SHARE_SINGLE_DIRECTORY)
			continue;
		if (stat(share->directory, &st) != 0 || !S_ISDIR(st.st_mode))
			return vzk_usage_error(err, "--device virtio-fs: sharedDir %s is not a directory", share->directory);
	}
	for (size_t i = 0; i < config->serial_port_count; i++)
		if (config->serial_ports[i].attachment == VZ_SERIAL_ATTACHMENT_FILE &&
		    need_parent_dir(config->serial_ports[i].log_path, "--device virtio-serial: logFilePath", err) != 0)
			return -1;
	for (size_t i = 0; i < config->vsock_port_count; i++)
		if (need_parent_dir(config->vsock_ports[i].socket_path, "--device virtio-vsock: socketURL", err) != 0)
			return -1;
	for (size_t i = 0; i < config->network_device_count; i++)
		if (config->network_devices[i].unix_socket_path != NULL &&
		    need_parent_dir(config->network_devices[i].unix_socket_path, "--device virtio-net: unix socket", err) != 0)
			return -1;
	if (config->ignition_path != NULL && need_file(config->ignition_path, "--ignition", true, err) != 0)
		return -1;
	return 0;
}

#include "vz/qemu/device_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The index after the first of `prefixes` found in [start, end), or -1. */
static long id_index(const char *start, const char *end, const char *const *prefixes)
{
	for (size_t i = 0; prefixes[i] != NULL; i++) {
		size_t len = strlen(prefixes[i]);
		for (const char *p = start; p + len < end; p++) {
			/* a whole key: at the start or after a comma */
			if ((p == start || p[-1] == ',' || p[-1] == ' ') && strncmp(p, prefixes[i], len) == 0 &&
			    p[len] >= '0' && p[len] <= '9')
				return strtol(p + len, NULL, 10);
		}
	}
	return -1;
}

static const char *storage_flag(enum vz_storage_device_kind kind)
{
	switch (kind) {
	case VZ_STORAGE_VIRTIO_BLOCK:
		return "virtio-blk";
	case VZ_STORAGE_NVME:
		return "nvme";
	case VZ_STORAGE_USB_MASS_STORAGE:
		return "usb-mass-storage";
	}
	return "disk";
}

int qemu_device_error_line(const struct vz_vm_configuration *config, const char *line, char *out, size_t size)
{
	static const char *const disk_ids[] = {"node-name=disk", "drive=disk", NULL};
	static const char *const net_ids[] = {"netdev=net", "id=net", NULL};
	static const char *const fs_ids[] = {"chardev=fs", "id=fs", NULL};
	static const char *const console_ids[] = {"chardev=console", "id=console", NULL};
	const char *option, *message;
	long index;

	/* "qemu-system-x86_64: -blockdev driver=...,node-name=disk1,...: message" */
	if (strncmp(line, "qemu-system-", 12) != 0 || (option = strstr(line, ": -")) == NULL)
		return 0;
	option += 2;
	message = strchr(option, ' ');
	message = message != NULL ? strstr(message, ": ") : NULL;
	if (message == NULL)
		return 0;
	if ((index = id_index(option, message, disk_ids)) >= 0 && (size_t)index < config->storage_device_count) {
		const struct vz_storage_device *disk = &config->storage_devices[index];
		const char *what = disk->attachment.kind == VZ_STORAGE_ATTACHMENT_NBD ? disk->attachment.url
										      : disk->attachment.path;
		snprintf(out, size, "--device %s (%s): QEMU refused it: %s",
			 disk->attachment.kind == VZ_STORAGE_ATTACHMENT_NBD ? "nbd" : storage_flag(disk->kind),
			 what != NULL ? what : "?", message + 2);
		return 1;
	}
	if ((index = id_index(option, message, net_ids)) >= 0 && (size_t)index < config->network_device_count) {
		const struct vz_network_device *net = &config->network_devices[index];
		char what[160];
		if (net->attachment == VZ_NETWORK_ATTACHMENT_NAT)
			snprintf(what, sizeof(what), "nat");
		else if (net->unix_socket_path != NULL)
			snprintf(what, sizeof(what), "%s", net->unix_socket_path);
		else
			snprintf(what, sizeof(what), "fd=%d", net->fd);
		snprintf(out, size, "--device virtio-net (%s): QEMU refused it: %s", what, message + 2);
		return 1;
	}
	if ((index = id_index(option, message, fs_ids)) >= 0 && (size_t)index < config->directory_share_count) {
		const struct vz_directory_share *share = &config->directory_shares[index];
		snprintf(out, size, "--device virtio-fs (%s): QEMU refused it: %s",
			 share->directory != NULL ? share->directory : share->tag, message + 2);
		return 1;
	}
	if ((index = id_index(option, message, console_ids)) >= 0 && (size_t)index < config->serial_port_count) {
		const struct vz_serial_port *port = &config->serial_ports[index];
		snprintf(out, size, "--device virtio-serial (%s): QEMU refused it: %s",
			 port->log_path != NULL ? port->log_path : "console", message + 2);
		return 1;
	}
	return 0;
}

int qemu_device_error(const struct vz_vm_configuration *config, const char *log_path, char *out, size_t size)
{
	FILE *log = fopen(log_path, "re");
	char line[4096];
	int found = 0;

	if (log == NULL)
		return 0;
	/* the last QEMU line that names a device: later lines may be a helper's */
	while (fgets(line, sizeof(line), log) != NULL) {
		char candidate[1024];
		line[strcspn(line, "\r\n")] = '\0';
		if (qemu_device_error_line(config, line, candidate, sizeof(candidate))) {
			snprintf(out, size, "%s", candidate);
			found = 1;
		}
	}
	fclose(log);
	return found;
}

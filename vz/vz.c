#include "vz/vz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows an array by one zeroed element; returns it or NULL. */
static void *append_zeroed(void **array, size_t *count, size_t element_size)
{
	char *grown = realloc(*array, (*count + 1) * element_size);
	if (grown == NULL)
		return NULL;
	memset(grown + *count * element_size, 0, element_size);
	*array = grown;
	return grown + (*count)++ * element_size;
}

#define APPEND(config, list, count) \
	append_zeroed((void **)&(config)->list, &(config)->count, sizeof(*(config)->list))

struct vz_storage_device *vz_add_storage_device(struct vz_vm_configuration *config)
{
	return APPEND(config, storage_devices, storage_device_count);
}

struct vz_network_device *vz_add_network_device(struct vz_vm_configuration *config)
{
	struct vz_network_device *device = APPEND(config, network_devices, network_device_count);
	if (device != NULL)
		device->fd = -1;
	return device;
}

struct vz_serial_port *vz_add_serial_port(struct vz_vm_configuration *config)
{
	return APPEND(config, serial_ports, serial_port_count);
}

struct vz_vsock_port *vz_add_vsock_port(struct vz_vm_configuration *config)
{
	return APPEND(config, vsock_ports, vsock_port_count);
}

struct vz_directory_share *vz_add_directory_share(struct vz_vm_configuration *config)
{
	return APPEND(config, directory_shares, directory_share_count);
}

struct vz_graphics_device *vz_add_graphics_device(struct vz_vm_configuration *config)
{
	return APPEND(config, graphics_devices, graphics_device_count);
}

int vz_add_keyboard(struct vz_vm_configuration *config, enum vz_keyboard_kind kind)
{
	enum vz_keyboard_kind *slot = APPEND(config, keyboards, keyboard_count);
	if (slot == NULL)
		return -1;
	*slot = kind;
	return 0;
}

int vz_add_pointing_device(struct vz_vm_configuration *config, enum vz_pointing_kind kind)
{
	enum vz_pointing_kind *slot = APPEND(config, pointing_devices, pointing_device_count);
	if (slot == NULL)
		return -1;
	*slot = kind;
	return 0;
}

void vz_vm_configuration_free(struct vz_vm_configuration *config)
{
	if (config == NULL)
		return;
	free(config->boot_loader.kernel_path);
	free(config->boot_loader.initrd_path);
	free(config->boot_loader.command_line);
	free(config->boot_loader.variable_store_path);
	free(config->boot_loader.restore_image);
	free(config->platform.hardware_model_path);
	free(config->platform.machine_identifier_path);
	free(config->platform.auxiliary_storage_path);
	for (size_t i = 0; i < config->storage_device_count; i++) {
		free(config->storage_devices[i].attachment.path);
		free(config->storage_devices[i].attachment.url);
		free(config->storage_devices[i].block_device_identifier);
	}
	free(config->storage_devices);
	for (size_t i = 0; i < config->cloud_init_file_count; i++)
		free(config->cloud_init_files[i]);
	free(config->cloud_init_files);
	for (size_t i = 0; i < config->network_device_count; i++)
		free(config->network_devices[i].unix_socket_path);
	free(config->network_devices);
	for (size_t i = 0; i < config->serial_port_count; i++)
		free(config->serial_ports[i].log_path);
	free(config->serial_ports);
	for (size_t i = 0; i < config->vsock_port_count; i++)
		free(config->vsock_ports[i].socket_path);
	free(config->vsock_ports);
	for (size_t i = 0; i < config->directory_share_count; i++) {
		free(config->directory_shares[i].tag);
		free(config->directory_shares[i].directory);
	}
	free(config->directory_shares);
	free(config->graphics_devices);
	free(config->keyboards);
	free(config->pointing_devices);
	free(config->ignition_path);
	memset(config, 0, sizeof(*config));
}

void vz_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

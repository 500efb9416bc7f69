/* VZVirtualMachineConfiguration: CPUs, memory, boot loader, platform, then
 * each device list in the user's order, then validateWithError:. The small
 * devices without options (entropy, balloon, the one vsock device) are here. */
#include <stdlib.h>

#include "vz/apple/translate.h"

static int set_list(struct apple_builder *b, enum apple_message_id setter, id configuration, const id *items,
		    size_t count)
{
	id array = apple_nsarray(b, items, count);
	if (array == nil)
		return -1;
	return apple_call(b, setter, configuration, apple_arg_object(array));
}

static id *new_items(struct apple_builder *b, size_t count)
{
	id *items = calloc(count > 0 ? count : 1, sizeof(*items));
	if (items == NULL)
		vzk_runtime_error(apple_builder_error(b), "out of memory");
	return items;
}

static int storage_devices(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->storage_device_count);
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->storage_device_count; i++)
		if ((items[i] = apple_storage_device(b, &config->storage_devices[i])) == nil)
			goto out;
	status = set_list(b, M_CONFIG_SET_STORAGE_DEVICES, configuration, items, config->storage_device_count);
out:
	free(items);
	return status;
}

static int network_devices(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->network_device_count);
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->network_device_count; i++)
		if ((items[i] = apple_network_device(b, &config->network_devices[i], i)) == nil)
			goto out;
	status = set_list(b, M_CONFIG_SET_NETWORK_DEVICES, configuration, items, config->network_device_count);
out:
	free(items);
	return status;
}

static int serial_ports(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->serial_port_count);
	size_t count = 0;
	id console = nil;
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->serial_port_count; i++) {
		if (config->serial_ports[i].attachment == VZ_SERIAL_ATTACHMENT_PTY)
			continue;
		if ((items[count++] = apple_serial_port(b, &config->serial_ports[i], i)) == nil)
			goto out;
	}
	if (count > 0 && set_list(b, M_CONFIG_SET_SERIAL_PORTS, configuration, items, count) != 0)
		goto out;
	if (apple_console_device(b, config, &console) != 0 ||
	    (console != nil && set_list(b, M_CONFIG_SET_CONSOLE_DEVICES, configuration, &console, 1) != 0))
		goto out;
	status = 0;
out:
	free(items);
	return status;
}

static int socket_devices(struct apple_builder *b, id configuration)
{
	id device = apple_new(b, C_VZVirtioSocketDeviceConfiguration, M_SOCKET_CONFIG_INIT);

	if (device == nil)
		return vzk_error_prefix(apple_builder_error(b), "--device virtio-vsock");
	return set_list(b, M_CONFIG_SET_SOCKET_DEVICES, configuration, &device, 1);
}

static int directory_shares(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->directory_share_count);
	size_t count = 0;
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->directory_share_count; i++) {
		id device = nil;
		if (apple_directory_share(b, &config->directory_shares[i], &device) != 0)
			goto out;
		if (device != nil)
			items[count++] = device;
	}
	status = count == 0 ? 0 : set_list(b, M_CONFIG_SET_DIRECTORY_SHARING_DEVICES, configuration, items, count);
out:
	free(items);
	return status;
}

static int graphics_devices(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->graphics_device_count);
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->graphics_device_count; i++)
		if ((items[i] = apple_graphics_device(b, &config->graphics_devices[i])) == nil)
			goto out;
	status = set_list(b, M_CONFIG_SET_GRAPHICS_DEVICES, configuration, items, config->graphics_device_count);
out:
	free(items);
	return status;
}

static int keyboards(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->keyboard_count);
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->keyboard_count; i++)
		if ((items[i] = apple_keyboard(b, config->keyboards[i])) == nil)
			goto out;
	status = set_list(b, M_CONFIG_SET_KEYBOARDS, configuration, items, config->keyboard_count);
out:
	free(items);
	return status;
}

static int pointing_devices(struct apple_builder *b, const struct vz_vm_configuration *config, id configuration)
{
	id *items = new_items(b, config->pointing_device_count);
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < config->pointing_device_count; i++)
		if ((items[i] = apple_pointing_device(b, config->pointing_devices[i])) == nil)
			goto out;
	status = set_list(b, M_CONFIG_SET_POINTING_DEVICES, configuration, items, config->pointing_device_count);
out:
	free(items);
	return status;
}

/* Devices without options: n of the same class. */
static int plain_devices(struct apple_builder *b, size_t count, enum apple_class_id cls, enum apple_message_id init,
			 enum apple_message_id setter, id configuration, const char *what)
{
	id *items = new_items(b, count);
	int status = -1;

	if (items == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		if ((items[i] = apple_new(b, cls, init)) == nil) {
			vzk_error_prefix(apple_builder_error(b), "%s", what);
			goto out;
		}
	status = set_list(b, setter, configuration, items, count);
out:
	free(items);
	return status;
}

id apple_build_configuration(struct apple_builder *b, const struct vz_vm_configuration *config)
{
	struct vzk_error *err = apple_builder_error(b);
	id configuration, boot_loader, platform = nil;

	configuration = apple_new(b, C_VZVirtualMachineConfiguration, M_INIT);
	if (configuration == nil)
		return nil;
	if (apple_call(b, M_CONFIG_SET_CPU_COUNT, configuration, apple_arg_uinteger(config->cpu_count)) != 0 ||
	    apple_call(b, M_CONFIG_SET_MEMORY_SIZE, configuration, apple_arg_uinteger(config->memory_size)) != 0)
		return nil;
	if (apple_macos_install_prepare(b, config) != 0)
		return nil;
	boot_loader = apple_boot_loader(b, &config->boot_loader);
	if (boot_loader == nil || apple_call(b, M_CONFIG_SET_BOOT_LOADER, configuration, apple_arg_object(boot_loader)) != 0)
		return nil;
	if (apple_platform(b, &config->platform, &platform) != 0)
		return nil;
	if (platform != nil && apple_call(b, M_CONFIG_SET_PLATFORM, configuration, apple_arg_object(platform)) != 0)
		return nil;

	if (config->storage_device_count > 0 && storage_devices(b, config, configuration) != 0)
		return nil;
	if (config->network_device_count > 0 && network_devices(b, config, configuration) != 0)
		return nil;
	if (config->serial_port_count > 0 && serial_ports(b, config, configuration) != 0)
		return nil;
	if (config->socket_device && socket_devices(b, configuration) != 0)
		return nil;
	if (config->directory_share_count > 0 && directory_shares(b, config, configuration) != 0)
		return nil;
	if (config->graphics_device_count > 0 && graphics_devices(b, config, configuration) != 0)
		return nil;
	if (config->keyboard_count > 0 && keyboards(b, config, configuration) != 0)
		return nil;
	if (config->pointing_device_count > 0 && pointing_devices(b, config, configuration) != 0)
		return nil;
	if (config->entropy_device_count > 0 &&
	    plain_devices(b, config->entropy_device_count, C_VZVirtioEntropyDeviceConfiguration, M_ENTROPY_INIT,
			  M_CONFIG_SET_ENTROPY_DEVICES, configuration, "--device virtio-rng") != 0)
		return nil;
	if (config->memory_balloon_device_count > 0 &&
	    plain_devices(b, config->memory_balloon_device_count, C_VZVirtioTraditionalMemoryBalloonDeviceConfiguration,
			  M_BALLOON_INIT, M_CONFIG_SET_MEMORY_BALLOON_DEVICES, configuration, "--device virtio-balloon") != 0)
		return nil;

	if (apple_call(b, M_CONFIG_VALIDATE, configuration, apple_arg_error_out()) != 0) {
		vzk_error_prefix(err, "the Virtualization framework rejects this configuration");
		return nil;
	}
	if (apple_builder_plan(b) == NULL) {
		vzk_runtime_error(err, "out of memory");
		return nil;
	}
	return configuration;
}

/* --bootloader macos: a macOS guest on Apple silicon (VZMacOSBootLoader +
 * VZMacPlatformConfiguration with its hardware model, machine identifier and
 * auxiliary storage). */
#include "bootloader/registry.h"
#include "vz/vz.h"

struct macos_config {
	char *machine_identifier;
	char *hardware_model;
	char *aux_image;
};

static const struct key_spec macos_keys[] = {
	{.name = "machineIdentifierPath", .kind = KEY_PATH,
	 .offset = offsetof(struct macos_config, machine_identifier),
	 .help = "file with the VM's machine identifier (binary property list)", .required = true,
	 .json_name = "machineIdentifierPath"},
	{.name = "hardwareModelPath", .kind = KEY_PATH, .offset = offsetof(struct macos_config, hardware_model),
	 .help = "file with the VM's hardware model (binary property list)", .required = true,
	 .json_name = "hardwareModelPath"},
	{.name = "auxImagePath", .kind = KEY_PATH, .offset = offsetof(struct macos_config, aux_image),
	 .help = "the VM's auxiliary storage (NVRAM and iBoot)", .required = true,
	 .json_name = "auxImagePath"},
};

static int macos_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
		      struct vzk_error *err)
{
	const struct macos_config *macos = config;

	(void)given;
	vz->boot_loader.kind = VZ_BOOT_LOADER_MACOS;
	vz->platform.kind = VZ_PLATFORM_MAC;
	vz->platform.machine_identifier_path = component_strdup(macos->machine_identifier);
	vz->platform.hardware_model_path = component_strdup(macos->hardware_model);
	vz->platform.auxiliary_storage_path = component_strdup(macos->aux_image);
	if (vz->platform.machine_identifier_path == NULL || vz->platform.hardware_model_path == NULL ||
	    vz->platform.auxiliary_storage_path == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

const struct component_ops macos_bootloader = {
	.name = "macos",
	.json_kind = "macosBootloader",
	.summary = "boot a macOS guest (Apple silicon hosts only)",
	.keys = {macos_keys, sizeof(macos_keys) / sizeof(macos_keys[0])},
	.config_size = sizeof(struct macos_config),
	.emit = macos_emit,
};

/* --bootloader macos: a macOS guest on Apple silicon (VZMacOSBootLoader +
 * VZMacPlatformConfiguration with its hardware model, machine identifier and
 * auxiliary storage). vzkit keys: restoreImage installs macOS when the three
 * files do not exist yet (doc/guide-macos-vm.md); recovery starts macOS
 * Recovery. */
#include <string.h>

#include "bootloader/registry.h"
#include "vz/vz.h"

struct macos_config {
	char *machine_identifier;
	char *hardware_model;
	char *aux_image;
	char *restore_image;
	bool recovery;
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
	{.name = "restoreImage", .kind = KEY_STRING, .offset = offsetof(struct macos_config, restore_image),
	 .help = "install macOS from a .ipsw, an http(s) URL or 'latest' when the three files do not exist (vzkit)",
	 .json_name = "restoreImage"},
	{.name = "recovery", .kind = KEY_BOOL, .offset = offsetof(struct macos_config, recovery),
	 .help = "start macOS Recovery (macOS 13 hosts) (vzkit; not in the JSON)"},
};

static bool is_url(const char *text)
{
	return strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0;
}

static int macos_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	const struct macos_config *macos = config;

	(void)given;
	if (macos->restore_image == NULL)
		return 0;
	if (macos->restore_image[0] == '\0')
		return vzk_usage_error(err, "%s: restoreImage needs a .ipsw file, an http(s) URL or 'latest'", what);
	if (strchr(macos->restore_image, ':') != NULL && !is_url(macos->restore_image))
		return vzk_usage_error(err, "%s: restoreImage '%s': only http:// and https:// URLs can be fetched", what,
				       macos->restore_image);
	return 0;
}

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
	vz->boot_loader.start_up_from_recovery = macos->recovery;
	if (vz->platform.machine_identifier_path == NULL || vz->platform.hardware_model_path == NULL ||
	    vz->platform.auxiliary_storage_path == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (macos->restore_image != NULL && (vz->boot_loader.restore_image = component_strdup(macos->restore_image)) == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

const struct component_ops macos_bootloader = {
	.name = "macos",
	.json_kind = "macosBootloader",
	.summary = "boot a macOS guest (Apple silicon hosts only)",
	.keys = {macos_keys, sizeof(macos_keys) / sizeof(macos_keys[0])},
	.config_size = sizeof(struct macos_config),
	.check = macos_check,
	.emit = macos_emit,
};

/* --bootloader efi: UEFI firmware with a per-VM variable store
 * (VZEFIBootLoader + VZEFIVariableStore). */
#include "bootloader/registry.h"
#include "vz/vz.h"

struct efi_config {
	char *variable_store;
	bool create;
};

static const struct key_spec efi_keys[] = {
	{.name = "variable-store", .kind = KEY_PATH, .offset = offsetof(struct efi_config, variable_store),
	 .help = "the VM's EFI variable store file", .required = true,
	 .json_name = "efiVariableStorePath"},
	{.name = "create", .kind = KEY_BOOL, .offset = offsetof(struct efi_config, create),
	 .help = "create the variable store when it does not exist", .json_name = "createVariableStore"},
};

static int efi_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
		    struct vzk_error *err)
{
	const struct efi_config *efi = config;

	(void)given;
	vz->boot_loader.kind = VZ_BOOT_LOADER_EFI;
	vz->platform.kind = VZ_PLATFORM_GENERIC;
	vz->boot_loader.create_variable_store = efi->create;
	vz->boot_loader.variable_store_path = component_strdup(efi->variable_store);
	if (vz->boot_loader.variable_store_path == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

const struct component_ops efi_bootloader = {
	.name = "efi",
	.json_kind = "efiBootloader",
	.summary = "boot through UEFI firmware from the VM's disks",
	.keys = {efi_keys, sizeof(efi_keys) / sizeof(efi_keys[0])},
	.config_size = sizeof(struct efi_config),
	.emit = efi_emit,
};

/* Boot loaders (VZLinuxBootLoader, VZEFIBootLoader + VZEFIVariableStore,
 * VZMacOSBootLoader) and platforms (VZGenericPlatformConfiguration with
 * nested virtualization, VZMacPlatformConfiguration with its hardware model,
 * machine identifier and auxiliary storage). */
#include <unistd.h>

#include "vz/apple/translate.h"

static id linux_boot_loader(struct apple_builder *b, const struct vz_boot_loader *boot)
{
	id kernel, loader;

	kernel = apple_file_url(b, boot->kernel_path);
	if (kernel == nil)
		return nil;
	loader = apple_new(b, C_VZLinuxBootLoader, M_LINUX_INIT_KERNEL, apple_arg_object(kernel));
	if (loader == nil)
		return nil;
	if (boot->initrd_path != NULL) {
		id initrd = apple_file_url(b, boot->initrd_path);
		if (initrd == nil || apple_call(b, M_LINUX_SET_INITRD, loader, apple_arg_object(initrd)) != 0)
			return nil;
	}
	if (boot->command_line != NULL) {
		id command_line = apple_nsstring(b, boot->command_line);
		if (command_line == nil ||
		    apple_call(b, M_LINUX_SET_COMMAND_LINE, loader, apple_arg_object(command_line)) != 0)
			return nil;
	}
	return loader;
}

/* An existing store is opened, never recreated: its boot entries survive
 * (vfkit recreates it at every start; see doc/vfkit-differences.md). */
static id efi_boot_loader(struct apple_builder *b, const struct vz_boot_loader *boot)
{
	struct vzk_error *err = apple_builder_error(b);
	id loader, url, store;

	if (boot->variable_store_path == NULL) {
		vzk_usage_error(err, "variable-store is required");
		return nil;
	}
	loader = apple_new(b, C_VZEFIBootLoader, M_EFI_INIT);
	if (loader == nil)
		return nil;
	url = apple_file_url(b, boot->variable_store_path);
	if (url == nil)
		return nil;
	if (boot->create_variable_store && access(boot->variable_store_path, F_OK) != 0) {
		apple_note(b, "%s does not exist: it is created", boot->variable_store_path);
		store = apple_new(b, C_VZEFIVariableStore, M_EFI_STORE_INIT_CREATING, apple_arg_object(url),
				  apple_arg_uinteger(0), apple_arg_error_out());
	} else {
		store = apple_new(b, C_VZEFIVariableStore, M_EFI_STORE_INIT_URL, apple_arg_object(url));
	}
	if (store == nil) {
		vzk_error_prefix(err, "variable-store %s", boot->variable_store_path);
		return nil;
	}
	if (apple_call(b, M_EFI_SET_VARIABLE_STORE, loader, apple_arg_object(store)) != 0)
		return nil;
	return loader;
}

id apple_boot_loader(struct apple_builder *b, const struct vz_boot_loader *boot)
{
	struct vzk_error *err = apple_builder_error(b);
	id loader = nil;

	switch (boot->kind) {
	case VZ_BOOT_LOADER_LINUX:
		if ((loader = linux_boot_loader(b, boot)) == nil)
			vzk_error_prefix(err, "--bootloader linux");
		return loader;
	case VZ_BOOT_LOADER_EFI:
		if ((loader = efi_boot_loader(b, boot)) == nil)
			vzk_error_prefix(err, "--bootloader efi");
		return loader;
	case VZ_BOOT_LOADER_MACOS:
		if ((loader = apple_new(b, C_VZMacOSBootLoader, M_MACOS_BOOT_INIT)) == nil)
			vzk_error_prefix(err, "--bootloader macos");
		return loader;
	case VZ_BOOT_LOADER_NONE:
		break;
	}
	vzk_usage_error(err, "a bootloader is required: --bootloader linux|efi|macos,...");
	return nil;
}

/* The data of a file the framework made earlier (dataRepresentation). */
static id mac_object_from_file(struct apple_builder *b, enum apple_class_id cls, enum apple_message_id init,
			       const char *path, const char *what)
{
	struct vzk_error *err = apple_builder_error(b);
	id data, object;

	if (path == NULL) {
		vzk_usage_error(err, "%s is required", what);
		return nil;
	}
	data = apple_nsdata_from_file(b, path);
	if (data == nil) {
		vzk_error_prefix(err, "%s %s", what, path);
		return nil;
	}
	object = apple_new(b, cls, init, apple_arg_object(data));
	if (object == nil)
		vzk_error_prefix(err, "%s %s does not hold a %s", what, path, apple_classes[cls].name);
	return object;
}

static id mac_platform(struct apple_builder *b, const struct vz_platform *platform)
{
	struct vzk_error *err = apple_builder_error(b);
	id configuration, model, identifier, storage_url, storage;
	union apple_value supported;

	configuration = apple_new(b, C_VZMacPlatformConfiguration, M_MAC_PLATFORM_INIT);
	if (configuration == nil)
		return nil;
	model = mac_object_from_file(b, C_VZMacHardwareModel, M_HARDWARE_MODEL_INIT_DATA, platform->hardware_model_path,
				     "hardwareModelPath");
	if (model == nil || apple_ask(b, M_HARDWARE_MODEL_IS_SUPPORTED, model, &supported) != 0)
		return nil;
	if (!apple_planning(b) && !supported.boolean) {
		vzk_usage_error(err, "the hardware model in %s is not supported by this host", platform->hardware_model_path);
		return nil;
	}
	if (apple_call(b, M_MAC_PLATFORM_SET_HARDWARE_MODEL, configuration, apple_arg_object(model)) != 0)
		return nil;
	identifier = mac_object_from_file(b, C_VZMacMachineIdentifier, M_MACHINE_IDENTIFIER_INIT_DATA,
					  platform->machine_identifier_path, "machineIdentifierPath");
	if (identifier == nil ||
	    apple_call(b, M_MAC_PLATFORM_SET_MACHINE_IDENTIFIER, configuration, apple_arg_object(identifier)) != 0)
		return nil;
	if (platform->auxiliary_storage_path == NULL) {
		vzk_usage_error(err, "auxImagePath is required");
		return nil;
	}
	/* Booting opens the existing storage; creating it is the installer's job. */
	storage_url = apple_file_url(b, platform->auxiliary_storage_path);
	if (storage_url == nil)
		return nil;
	if (apple_version_at_least(apple_builder_host(b)->macos, apple_messages[M_AUX_STORAGE_INIT_URL].since))
		storage = apple_new(b, C_VZMacAuxiliaryStorage, M_AUX_STORAGE_INIT_URL, apple_arg_object(storage_url));
	else
		storage = apple_new(b, C_VZMacAuxiliaryStorage, M_AUX_STORAGE_INIT_CONTENTS, apple_arg_object(storage_url));
	if (storage == nil) {
		vzk_error_prefix(err, "auxImagePath %s", platform->auxiliary_storage_path);
		return nil;
	}
	if (apple_call(b, M_MAC_PLATFORM_SET_AUXILIARY_STORAGE, configuration, apple_arg_object(storage)) != 0)
		return nil;
	return configuration;
}

static id nested_platform(struct apple_builder *b)
{
	struct vzk_error *err = apple_builder_error(b);
	union apple_value supported;
	id generic = apple_class(b, C_VZGenericPlatformConfiguration);
	id configuration;

	if (generic == nil || apple_ask(b, M_GENERIC_NESTED_SUPPORTED, generic, &supported) != 0)
		return nil;
	if (!supported.boolean) {
		vzk_usage_error(err, "this Mac cannot run nested virtualization "
				     "(VZGenericPlatformConfiguration.isNestedVirtualizationSupported is NO)");
		return nil;
	}
	configuration = apple_new(b, C_VZGenericPlatformConfiguration, M_GENERIC_PLATFORM_INIT);
	if (configuration == nil ||
	    apple_call(b, M_GENERIC_SET_NESTED, configuration, apple_arg_bool(true)) != 0)
		return nil;
	return configuration;
}

int apple_platform(struct apple_builder *b, const struct vz_platform *platform, id *out)
{
	struct vzk_error *err = apple_builder_error(b);

	*out = nil;
	if (platform->kind == VZ_PLATFORM_MAC) {
		if ((*out = mac_platform(b, platform)) == nil)
			return vzk_error_prefix(err, "--bootloader macos");
		return 0;
	}
	/* The framework's default platform is the generic one: only nested
	 * virtualization needs the object (and macOS 12 for it to exist). */
	if (!platform->nested_virtualization)
		return 0;
	if ((*out = nested_platform(b)) == nil)
		return vzk_error_prefix(err, "--nested");
	return 0;
}

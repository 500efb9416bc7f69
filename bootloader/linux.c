/* --bootloader linux: a kernel, an initrd and a command line (VZLinuxBootLoader). */
#include <stdlib.h>
#include <string.h>

#include "bootloader/registry.h"
#include "vz/vz.h"

struct linux_config {
	char *kernel;
	char *initrd;
	char *cmdline;
};

static const struct key_spec linux_keys[] = {
	{.name = "kernel", .kind = KEY_PATH, .offset = offsetof(struct linux_config, kernel),
	 .help = "kernel image", .required = true, .json_name = "vmlinuzPath"},
	{.name = "initrd", .kind = KEY_PATH, .offset = offsetof(struct linux_config, initrd),
	 .help = "initial ramdisk", .json_name = "initrdPath"},
	{.name = "cmdline", .kind = KEY_STRING, .offset = offsetof(struct linux_config, cmdline),
	 .help = "kernel command line (quote it: cmdline=\"console=hvc0 root=/dev/vda\")",
	 .json_name = "kernelCmdLine"},
};

static int linux_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
		      struct vzk_error *err)
{
	const struct linux_config *boot = config;

	(void)given;
	vz->boot_loader.kind = VZ_BOOT_LOADER_LINUX;
	vz->platform.kind = VZ_PLATFORM_GENERIC;
	vz->boot_loader.kernel_path = component_strdup(boot->kernel);
	vz->boot_loader.initrd_path = component_strdup(boot->initrd);
	vz->boot_loader.command_line = component_strdup(boot->cmdline);
	if (vz->boot_loader.kernel_path == NULL || (boot->initrd != NULL && vz->boot_loader.initrd_path == NULL) ||
	    (boot->cmdline != NULL && vz->boot_loader.command_line == NULL))
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

const struct component_ops linux_bootloader = {
	.name = "linux",
	.json_kind = "linuxBootloader",
	.summary = "boot a Linux kernel directly",
	.keys = {linux_keys, sizeof(linux_keys) / sizeof(linux_keys[0])},
	.config_size = sizeof(struct linux_config),
	.emit = linux_emit,
};

int linux_bootloader_from_legacy(const char *kernel, const char *initrd, const char *cmdline,
				 struct component *out, struct vzk_error *err)
{
	struct linux_config *boot;

	memset(out, 0, sizeof(*out));
	if (kernel == NULL || initrd == NULL || cmdline == NULL)
		return vzk_usage_error(err, "--kernel, --initrd and --kernel-cmdline must be given together");
	if (kernel[0] == '\0' || initrd[0] == '\0')
		return vzk_usage_error(err, "--kernel and --initrd need non-empty paths");
	boot = calloc(1, sizeof(*boot));
	if (boot == NULL)
		return vzk_runtime_error(err, "out of memory");
	out->ops = &linux_bootloader;
	out->config = boot;
	boot->kernel = strdup(kernel);
	boot->initrd = strdup(initrd);
	boot->cmdline = strdup(cmdline);
	if (boot->kernel == NULL || boot->initrd == NULL || boot->cmdline == NULL) {
		component_free(out);
		return vzk_runtime_error(err, "out of memory");
	}
	out->given = 0x7;
	return 0;
}

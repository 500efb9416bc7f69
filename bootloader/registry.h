/* Every bootloader type, in one sorted table. */
#ifndef VZKIT_BOOTLOADER_REGISTRY_H
#define VZKIT_BOOTLOADER_REGISTRY_H

#include "flags/component.h"

extern const struct component_ops efi_bootloader;
extern const struct component_ops linux_bootloader;
extern const struct component_ops macos_bootloader;

extern const struct component_ops *const bootloader_registry[];

/* The deprecated --kernel/--initrd/--kernel-cmdline flags, as `linux,...`. */
int linux_bootloader_from_legacy(const char *kernel, const char *initrd, const char *cmdline,
				 struct component *out, struct vzk_error *err);

#endif

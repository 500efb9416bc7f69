#include "bootloader/registry.h"

#include <stddef.h>

const struct component_ops *const bootloader_registry[] = {
	&efi_bootloader,
	&linux_bootloader,
	&macos_bootloader,
	NULL,
};

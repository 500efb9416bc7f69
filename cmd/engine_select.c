#include "cmd/engine_select.h"

#if defined(__APPLE__)
#include "vz/apple/apple_engine.h"
#else
#include "vz/qemu/qemu_engine.h"
#endif

const struct vz_engine_ops *engine_select(const struct vz_vm_configuration *config,
					  struct vzk_error *err)
{
#if defined(__APPLE__)
	(void)err;
	(void)config;
	return &apple_engine;
#else
	if (config->boot_loader.kind == VZ_BOOT_LOADER_MACOS) {
		vzk_usage_error(err, "--bootloader macos: macOS guests need a macOS host on Apple silicon; this host runs the QEMU engine");
		return NULL;
	}
	return &qemu_engine;
#endif
}

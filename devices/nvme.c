/* --device nvme: a disk on an NVM Express controller (VZNVMExpressControllerDeviceConfiguration). */
#include "devices/registry.h"
#include "devices/storage.h"
#include "vz/vz.h"

static const struct key_spec nvme_keys[] = {DISK_KEYS};

static int nvme_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
		     struct vzk_error *err)
{
	(void)given;
	return disk_emit(config, VZ_STORAGE_NVME, vz, err);
}

const struct component_ops nvme_device = {
	.name = "nvme",
	.json_kind = "nvme",
	.dev_name = "nvme",
	.summary = "disk on an NVM Express controller",
	.keys = {nvme_keys, sizeof(nvme_keys) / sizeof(nvme_keys[0])},
	.config_size = sizeof(struct disk_config),
	.check = disk_check,
	.emit = nvme_emit,
};

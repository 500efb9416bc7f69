/* --device usb-mass-storage: a USB disk or ISO image (VZUSBMassStorageDeviceConfiguration). */
#include "devices/registry.h"
#include "devices/storage.h"
#include "vz/vz.h"

static const struct key_spec usb_mass_storage_keys[] = {DISK_KEYS};

static int usb_mass_storage_emit(const void *config, key_set_mask given,
				 struct vz_vm_configuration *vz, struct vzk_error *err)
{
	(void)given;
	return disk_emit(config, VZ_STORAGE_USB_MASS_STORAGE, vz, err);
}

const struct component_ops usb_mass_storage_device = {
	.name = "usb-mass-storage",
	.json_kind = "usbmassstorage",
	.dev_name = "usb-mass-storage",
	.summary = "USB mass storage disk (raw or ISO image)",
	.keys = {usb_mass_storage_keys, sizeof(usb_mass_storage_keys) / sizeof(usb_mass_storage_keys[0])},
	.config_size = sizeof(struct disk_config),
	.check = disk_check,
	.emit = usb_mass_storage_emit,
};

/* --device virtio-blk: a disk on a virtio block device (VZVirtioBlockDeviceConfiguration). */
#include "devices/registry.h"
#include "devices/storage.h"
#include "vz/vz.h"

static const struct key_spec virtio_blk_keys[] = {
	DISK_KEYS,
	{.name = "deviceId", .kind = KEY_STRING, .offset = offsetof(struct disk_config, device_id),
	 .help = "identifier the guest sees (/dev/disk/by-id/virtio-ID), up to 20 characters",
	 .json_name = "deviceIdentifier"},
};

static int virtio_blk_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	const struct disk_config *disk = config;
	if (disk_check(config, given, what, err) != 0)
		return -1;
	return check_block_device_identifier(disk->device_id, what, err);
}

static int virtio_blk_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			   struct vzk_error *err)
{
	(void)given;
	return disk_emit(config, VZ_STORAGE_VIRTIO_BLOCK, vz, err);
}

const struct component_ops virtio_blk_device = {
	.name = "virtio-blk",
	.json_kind = "virtioblk",
	.dev_name = "virtio-blk",
	.summary = "disk on a virtio block device",
	.keys = {virtio_blk_keys, sizeof(virtio_blk_keys) / sizeof(virtio_blk_keys[0])},
	.config_size = sizeof(struct disk_config),
	.check = virtio_blk_check,
	.emit = virtio_blk_emit,
};

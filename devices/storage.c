#include "devices/storage.h"
#include "vz/vz.h"

#include <string.h>

const char *const disk_type_choices[] = {"image", "dev", NULL};

int disk_emit(const struct disk_config *disk, enum vz_storage_device_kind kind,
	      struct vz_vm_configuration *vz, struct vzk_error *err)
{
	struct vz_storage_device *device = vz_add_storage_device(vz);

	if (device == NULL)
		return vzk_runtime_error(err, "out of memory");
	device->kind = kind;
	device->attachment.kind = disk->type == DISK_TYPE_DEV ? VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE
							       : VZ_STORAGE_ATTACHMENT_DISK_IMAGE;
	device->attachment.path = component_strdup(disk->path);
	device->attachment.read_only = disk->read_only;
	/* vfkit's modes for disk images: host-cached, guest flushes become
	 * fsync. The framework's defaults (automatic, full) corrupted images
	 * under load (doc/vzkit.1, virtio-blk). Block devices take full. */
	device->attachment.caching_mode = VZ_DISK_CACHING_CACHED;
	device->attachment.sync_mode = disk->type == DISK_TYPE_DEV ? VZ_DISK_SYNC_FULL : VZ_DISK_SYNC_FSYNC;
	device->block_device_identifier = component_strdup(disk->device_id);
	if (device->attachment.path == NULL || (disk->device_id != NULL && device->block_device_identifier == NULL))
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

int check_block_device_identifier(const char *id, const char *what, struct vzk_error *err)
{
	if (id == NULL)
		return 0;
	if (id[0] == '\0' || strlen(id) > 20)
		return vzk_usage_error(err, "%s: deviceId must be 1 to 20 characters (got '%s')", what, id);
	for (const char *p = id; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return vzk_usage_error(err, "%s: deviceId must be printable ASCII without spaces (got '%s')",
					       what, id);
	return 0;
}

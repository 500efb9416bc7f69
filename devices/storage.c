#include "devices/storage.h"
#include "vz/vz.h"

#include <ctype.h>
#include <string.h>

const char *const disk_type_choices[] = {"image", "dev", NULL};
const char *const disk_cache_choices[] = {"cached", "uncached", "automatic", NULL};
const char *const disk_sync_choices[] = {"fsync", "full", "none", NULL};

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
	/* By default vfkit's modes for disk images: host-cached, guest flushes
	 * become fsync. The framework's defaults (automatic, full) corrupted
	 * images under load (doc/vzkit.1, virtio-blk). Block devices take full
	 * (disk_check). */
	static const enum vz_disk_caching_mode caching[] = {
		[DISK_CACHE_CACHED] = VZ_DISK_CACHING_CACHED,
		[DISK_CACHE_UNCACHED] = VZ_DISK_CACHING_UNCACHED,
		[DISK_CACHE_AUTOMATIC] = VZ_DISK_CACHING_AUTOMATIC,
	};
	static const enum vz_disk_sync_mode syncing[] = {
		[DISK_SYNC_FSYNC] = VZ_DISK_SYNC_FSYNC,
		[DISK_SYNC_FULL] = VZ_DISK_SYNC_FULL,
		[DISK_SYNC_NONE] = VZ_DISK_SYNC_NONE,
	};
	device->attachment.caching_mode = caching[disk->cache];
	device->attachment.sync_mode = syncing[disk->sync];
	device->block_device_identifier = component_strdup(disk->device_id);
	if (disk->size != NULL && disk_parse_size(disk->size, "size", &device->attachment.create_size, err) != 0)
		return -1;
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

/* Bounds: whole 512-byte sectors (what a block device is made of), at least
 * 512 KiB, at most 1 PiB (far above any guest's needs, far below what a
 * sparse file or off_t can hold). */
#define DISK_SIZE_MIN (512u << 10)
#define DISK_SIZE_MAX (1ull << 50)

int disk_parse_size(const char *text, const char *what, uint64_t *bytes, struct vzk_error *err)
{
	static const char units[] = "KMGTP";
	const char *p = text;
	uint64_t value = 0, scale = 1;

	if (!isdigit((unsigned char)*p))
		return vzk_usage_error(err, "%s: size '%s' is not a size (a number with K, M, G or T, e.g. 64G)", what, text);
	for (; isdigit((unsigned char)*p); p++) {
		if (value > (UINT64_MAX - 9) / 10)
			return vzk_usage_error(err, "%s: size '%s' is too large (at most 1P)", what, text);
		value = value * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		const char *unit = strchr(units, toupper((unsigned char)*p));
		if (unit == NULL || p[1] != '\0')
			return vzk_usage_error(err, "%s: size '%s' is not a size (a number with K, M, G or T, e.g. 64G)", what,
					       text);
		for (const char *u = units; u <= unit; u++)
			scale *= 1024;
	}
	if (value > DISK_SIZE_MAX / scale)
		return vzk_usage_error(err, "%s: size '%s' is too large (at most 1P)", what, text);
	value *= scale;
	if (value < DISK_SIZE_MIN)
		return vzk_usage_error(err, "%s: size '%s' is too small for a disk (at least 512K)", what, text);
	if (value % 512 != 0)
		return vzk_usage_error(err, "%s: size '%s' is not a whole number of 512-byte sectors", what, text);
	*bytes = value;
	return 0;
}

int disk_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	struct disk_config *disk = config;
	uint64_t bytes;

	/* A block device knows full and none; full unless told otherwise. */
	if (disk->type == DISK_TYPE_DEV) {
		/* DISK_KEYS open every disk device's table: same bits everywhere. */
		static const struct key_spec disk_keys[] = {DISK_KEYS};
		static const struct key_table table = {disk_keys, sizeof(disk_keys) / sizeof(disk_keys[0])};
		bool sync_given = keytab_given(*given, &table, "sync");
		bool cache_given = keytab_given(*given, &table, "cache");
		if (sync_given && disk->sync == DISK_SYNC_FSYNC)
			return vzk_usage_error(err, "%s: sync=fsync is for disk images; a block device takes full or none", what);
		if (cache_given)
			return vzk_usage_error(err, "%s: cache= is for disk images, not type=dev", what);
		if (!sync_given)
			disk->sync = DISK_SYNC_FULL;
	}
	if (disk->size == NULL)
		return 0;
	if (disk->type == DISK_TYPE_DEV)
		return vzk_usage_error(err, "%s: size= creates disk images; type=dev is a device that exists", what);
	return disk_parse_size(disk->size, what, &bytes, err);
}

/* What virtio-blk, nvme and usb-mass-storage share: a disk image or host block
 * device behind a storage device (vfkit's StorageConfig). */
#ifndef VZKIT_DEVICES_STORAGE_H
#define VZKIT_DEVICES_STORAGE_H

#include "flags/component.h"
#include "vz/vz.h"

enum disk_type { DISK_TYPE_IMAGE = 0, DISK_TYPE_DEV = 1 };
extern const char *const disk_type_choices[];
/* cache= and sync= (vzkit keys); the first choice is the default (vfkit's). */
enum disk_cache { DISK_CACHE_CACHED = 0, DISK_CACHE_UNCACHED, DISK_CACHE_AUTOMATIC };
enum disk_sync { DISK_SYNC_FSYNC = 0, DISK_SYNC_FULL, DISK_SYNC_NONE };
extern const char *const disk_cache_choices[];
extern const char *const disk_sync_choices[];

struct disk_config {
	char *path;
	bool read_only;
	int type; /* enum disk_type */
	char *device_id;
	char *size; /* "64G": create the image this big when it is missing (vzkit) */
	int cache;  /* enum disk_cache */
	int sync;   /* enum disk_sync */
};

/* Key table entries shared by the three disk devices. */
#define DISK_KEYS                                                                                  \
	{.name = "path", .kind = KEY_PATH, .offset = offsetof(struct disk_config, path),           \
	 .help = "disk image (raw; qcow2 on the QEMU engine) or block device", .required = true,   \
	 .json_name = "imagePath"},                                                                \
	{.name = "readonly", .kind = KEY_BOOL, .offset = offsetof(struct disk_config, read_only),  \
	 .help = "the guest cannot write to the disk", .json_name = "readOnly"},                   \
	{.name = "type", .kind = KEY_ENUM, .offset = offsetof(struct disk_config, type),           \
	 .help = "image: a file (default); dev: a host block device", .choices = disk_type_choices, \
	 .json_name = "type"},                                                                     \
	{.name = "size", .kind = KEY_STRING, .offset = offsetof(struct disk_config, size),         \
	 .help = "create the image, sparse, this big (512K..1P, e.g. 64G) when it is missing (vzkit)", \
	 .json_name = "size"},                                                                     \
	{.name = "cache", .kind = KEY_ENUM, .offset = offsetof(struct disk_config, cache),         \
	 .help = "host caching of an image: cached (default), uncached or automatic (vzkit)",       \
	 .choices = disk_cache_choices, .json_name = "cachingMode"},                               \
	{.name = "sync", .kind = KEY_ENUM, .offset = offsetof(struct disk_config, sync),           \
	 .help = "what a guest flush does: fsync (images' default), full (devices' default) or none (vzkit)", \
	 .choices = disk_sync_choices, .json_name = "synchronizationMode"}

/* The check hook of the three disk devices: size= is a size the guest can
 * use, on an image. */
int disk_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err);
/* "64G" -> bytes (K, M, G, T, P: powers of 1024); -1 with a usage error. */
int disk_parse_size(const char *text, const char *what, uint64_t *bytes, struct vzk_error *err);

int disk_emit(const struct disk_config *disk, enum vz_storage_device_kind kind,
	      struct vz_vm_configuration *vz, struct vzk_error *err);

/* VZ limits a virtio-blk identifier to 20 bytes of ASCII. */
int check_block_device_identifier(const char *id, const char *what, struct vzk_error *err);

#endif

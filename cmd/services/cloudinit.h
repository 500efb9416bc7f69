/* --cloud-init: the given user-data/meta-data files as a NoCloud ISO 9660 disk
 * (volume id "cidata"), attached read-only as a virtio-blk device. */
#ifndef VZKIT_CMD_SERVICES_CLOUDINIT_H
#define VZKIT_CMD_SERVICES_CLOUDINIT_H

#include <stddef.h>

#include "flags/error.h"
#include "vz/vz.h"

struct cloud_init_disk;

/* Adds the cloud-init disk to vz: a read-only virtio-blk ISO at
 * $TMPDIR/vzkit-cloudinit-PID.iso, made from `paths` by cloud_init_disk_create
 * at start. Nothing is written here (dry runs print the plan). */
int cloud_init_disk_add(char *const *paths, size_t count, struct vz_vm_configuration *vz, struct vzk_error *err);
/* Writes the ISO vz plans (removing stale ones of dead vzkit processes
 * first); *out stays NULL when vz has no cloud-init disk. */
int cloud_init_disk_create(const struct vz_vm_configuration *vz, struct cloud_init_disk **out, struct vzk_error *err);
/* The ISO's path (for tests). */
const char *cloud_init_disk_path(const struct cloud_init_disk *disk);
/* Removes the ISO. NULL ok. */
void cloud_init_disk_free(struct cloud_init_disk *disk);

/* Writes a NoCloud ISO with the given files at `iso_path`, and an empty
 * user-data or meta-data when the files have none (as vfkit does). */
int cloud_init_write_iso(char *const *paths, size_t count, const char *iso_path,
			 struct vzk_error *err);

#endif

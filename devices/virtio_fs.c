/* --device virtio-fs: a host directory shared with the guest
 * (VZVirtioFileSystemDeviceConfiguration + VZSingleDirectoryShare). */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "devices/registry.h"
#include "vz/vz.h"

struct virtio_fs_config {
	char *shared_dir;
	char *mount_tag;
};

static const struct key_spec virtio_fs_keys[] = {
	{.name = "sharedDir", .kind = KEY_PATH, .offset = offsetof(struct virtio_fs_config, shared_dir),
	 .help = "host directory to share", .required = true, .json_name = "sharedDir"},
	{.name = "mountTag", .kind = KEY_STRING, .offset = offsetof(struct virtio_fs_config, mount_tag),
	 .help = "tag the guest mounts (default: the directory's base name)", .json_name = "mountTag"},
};

/* VZVirtioFileSystemDeviceConfiguration validateTag: 1 to 36 bytes. */
int check_mount_tag(const char *tag, const char *what, struct vzk_error *err)
{
	if (tag[0] == '\0' || strlen(tag) > 36)
		return vzk_usage_error(err, "%s: mountTag must be 1 to 36 bytes (got '%s')", what, tag);
	if (strpbrk(tag, ",\"'") != NULL)
		return vzk_usage_error(err, "%s: mountTag must not contain commas or quotes (got '%s')", what, tag);
	return 0;
}

static int virtio_fs_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	struct virtio_fs_config *fs = config;

	if (fs->mount_tag == NULL) {
		char *copy = strdup(fs->shared_dir);
		size_t len;
		if (copy == NULL)
			return vzk_runtime_error(err, "out of memory");
		/* basename("/a/b/") is "b" with glibc's POSIX basename */
		len = strlen(copy);
		while (len > 1 && copy[len - 1] == '/')
			copy[--len] = '\0';
		fs->mount_tag = strdup(basename(copy));
		free(copy);
		if (fs->mount_tag == NULL)
			return vzk_runtime_error(err, "out of memory");
		component_mark_given(&virtio_fs_device, given, "mountTag");
	}
	return check_mount_tag(fs->mount_tag, what, err);
}

static int virtio_fs_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			  struct vzk_error *err)
{
	const struct virtio_fs_config *fs = config;
	struct vz_directory_share *share = vz_add_directory_share(vz);

	(void)given;
	if (share == NULL)
		return vzk_runtime_error(err, "out of memory");
	share->kind = VZ_SHARE_SINGLE_DIRECTORY;
	share->tag = strdup(fs->mount_tag);
	share->directory = strdup(fs->shared_dir);
	if (share->tag == NULL || share->directory == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

const struct component_ops virtio_fs_device = {
	.name = "virtio-fs",
	.json_kind = "virtiofs",
	.summary = "host directory shared with the guest over virtio-fs",
	.keys = {virtio_fs_keys, sizeof(virtio_fs_keys) / sizeof(virtio_fs_keys[0])},
	.config_size = sizeof(struct virtio_fs_config),
	.check = virtio_fs_check,
	.emit = virtio_fs_emit,
};

/* size= on a disk image: the image is made at start when it is missing, as
 * a sparse file (no blocks written), never over an existing file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vz/vz.h"

static int create_one(const struct vz_storage_attachment *attachment, struct vzk_error *err)
{
	int fd = open(attachment->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		if (errno == EEXIST)
			return 0; /* it is there: used as it is */
		return vzk_runtime_error(err, "cannot create the disk image %s: %s", attachment->path, strerror(errno));
	}
	if (ftruncate(fd, (off_t)attachment->create_size) != 0) {
		int saved = errno;
		close(fd);
		unlink(attachment->path);
		return vzk_runtime_error(err, "cannot make the disk image %s %llu bytes long: %s", attachment->path,
					 (unsigned long long)attachment->create_size, strerror(saved));
	}
	close(fd);
	return 0;
}

int vz_create_missing_disk_images(const struct vz_vm_configuration *config, struct vzk_error *err)
{
	for (size_t i = 0; i < config->storage_device_count; i++) {
		const struct vz_storage_attachment *attachment = &config->storage_devices[i].attachment;
		if (attachment->kind == VZ_STORAGE_ATTACHMENT_DISK_IMAGE && attachment->create_size > 0 &&
		    create_one(attachment, err) != 0)
			return -1;
	}
	return 0;
}

/* Storage: an attachment (disk image, host block device, NBD server) inside
 * a virtio-blk, NVMe or USB mass-storage device. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vz/apple/translate.h"

/* Values of the framework's enums (Apple's headers; not in vz-selectors.tsv,
 * see doc/apple-engine.md). */
enum {
	VZ_DISK_IMAGE_CACHING_AUTOMATIC = 0,
	VZ_DISK_IMAGE_CACHING_UNCACHED = 1,
	VZ_DISK_IMAGE_CACHING_CACHED = 2,
	VZ_DISK_IMAGE_SYNC_FULL = 1,
	VZ_DISK_IMAGE_SYNC_FSYNC = 2,
	VZ_DISK_IMAGE_SYNC_NONE = 3,
	VZ_DISK_SYNC_MODE_FULL = 0, /* VZDiskSynchronizationMode (block devices, NBD) */
	VZ_DISK_SYNC_MODE_NONE = 1,
};

static NSInteger caching_mode(enum vz_disk_caching_mode mode)
{
	switch (mode) {
	case VZ_DISK_CACHING_UNCACHED:
		return VZ_DISK_IMAGE_CACHING_UNCACHED;
	case VZ_DISK_CACHING_CACHED:
		return VZ_DISK_IMAGE_CACHING_CACHED;
	case VZ_DISK_CACHING_AUTOMATIC:
		break;
	}
	return VZ_DISK_IMAGE_CACHING_AUTOMATIC;
}

static NSInteger image_sync_mode(enum vz_disk_sync_mode mode)
{
	switch (mode) {
	case VZ_DISK_SYNC_FSYNC:
		return VZ_DISK_IMAGE_SYNC_FSYNC;
	case VZ_DISK_SYNC_NONE:
		return VZ_DISK_IMAGE_SYNC_NONE;
	case VZ_DISK_SYNC_FULL:
		break;
	}
	return VZ_DISK_IMAGE_SYNC_FULL;
}

/* Block devices and NBD know only full and none. */
static int disk_sync_mode(struct apple_builder *b, enum vz_disk_sync_mode mode, NSInteger *out)
{
	switch (mode) {
	case VZ_DISK_SYNC_FULL:
		*out = VZ_DISK_SYNC_MODE_FULL;
		return 0;
	case VZ_DISK_SYNC_NONE:
		*out = VZ_DISK_SYNC_MODE_NONE;
		return 0;
	case VZ_DISK_SYNC_FSYNC:
		break;
	}
	return vzk_usage_error(apple_builder_error(b), "sync=fsync exists only for disk images (full or none here)");
}

static id disk_image_attachment(struct apple_builder *b, const struct vz_storage_attachment *attachment)
{
	struct vzk_error *err = apple_builder_error(b);
	id url = apple_file_url(b, attachment->path);

	if (url == nil)
		return nil;
	if (apple_version_at_least(apple_builder_host(b)->macos, apple_messages[M_DISK_IMAGE_INIT_MODES].since))
		return apple_new(b, C_VZDiskImageStorageDeviceAttachment, M_DISK_IMAGE_INIT_MODES, apple_arg_object(url),
				 apple_arg_bool(attachment->read_only), apple_arg_integer(caching_mode(attachment->caching_mode)),
				 apple_arg_integer(image_sync_mode(attachment->sync_mode)), apple_arg_error_out());
	/* macOS 11 has only the framework's own modes (automatic, full). vzkit's
	 * default (cached, fsync) falls back to them; other choices are refused. */
	if (attachment->caching_mode == VZ_DISK_CACHING_CACHED && attachment->sync_mode == VZ_DISK_SYNC_FSYNC) {
		apple_warn(b, "disk image %s: macOS 11 has no disk caching or synchronization modes; the framework's own "
			      "(automatic, full) apply", attachment->path);
	} else if (attachment->caching_mode != VZ_DISK_CACHING_AUTOMATIC || attachment->sync_mode != VZ_DISK_SYNC_FULL) {
		vzk_usage_error(err, "caching and synchronization modes need macOS 12.0 or newer");
		return nil;
	}
	return apple_new(b, C_VZDiskImageStorageDeviceAttachment, M_DISK_IMAGE_INIT, apple_arg_object(url),
			 apple_arg_bool(attachment->read_only), apple_arg_error_out());
}

static id block_device_attachment(struct apple_builder *b, const struct vz_storage_attachment *attachment)
{
	struct vzk_error *err = apple_builder_error(b);
	NSInteger sync;
	id handle;
	int fd = -1;

	/* Refuse before opening anything when the host lacks the class. */
	if (apple_class(b, C_VZDiskBlockDeviceStorageDeviceAttachment) == nil ||
	    disk_sync_mode(b, attachment->sync_mode, &sync) != 0)
		return nil;
	if (apple_planning(b)) {
		apple_note(b, "opens %s %s for the next file handle", attachment->path,
			   attachment->read_only ? "read-only" : "read-write");
	} else {
		fd = open(attachment->path, (attachment->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			vzk_runtime_error(err, "cannot open %s: %s", attachment->path, strerror(errno));
			return nil;
		}
		if (apple_keep_fd(b, fd) != 0)
			return nil;
	}
	handle = apple_file_handle(b, fd);
	if (handle == nil)
		return nil;
	return apple_new(b, C_VZDiskBlockDeviceStorageDeviceAttachment, M_BLOCK_DEVICE_INIT, apple_arg_object(handle),
			 apple_arg_bool(attachment->read_only), apple_arg_integer(sync), apple_arg_error_out());
}

static id nbd_attachment(struct apple_builder *b, const struct vz_storage_attachment *attachment)
{
	double timeout = attachment->timeout_ms > 0 ? (double)attachment->timeout_ms / 1000.0 : 15.0;
	NSInteger sync;
	id url;

	if (apple_class(b, C_VZNetworkBlockDeviceStorageDeviceAttachment) == nil ||
	    disk_sync_mode(b, attachment->sync_mode, &sync) != 0)
		return nil;
	url = apple_url(b, attachment->url);
	if (url == nil)
		return nil;
	return apple_new(b, C_VZNetworkBlockDeviceStorageDeviceAttachment, M_NBD_INIT, apple_arg_object(url),
			 apple_arg_double(timeout), apple_arg_bool(attachment->read_only), apple_arg_integer(sync),
			 apple_arg_error_out());
}

static id storage_attachment(struct apple_builder *b, const struct vz_storage_attachment *attachment)
{
	switch (attachment->kind) {
	case VZ_STORAGE_ATTACHMENT_DISK_IMAGE:
		return disk_image_attachment(b, attachment);
	case VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE:
		return block_device_attachment(b, attachment);
	case VZ_STORAGE_ATTACHMENT_NBD:
		return nbd_attachment(b, attachment);
	}
	vzk_runtime_error(apple_builder_error(b), "internal error: unknown storage attachment %d", (int)attachment->kind);
	return nil;
}

static id virtio_block_device(struct apple_builder *b, const struct vz_storage_device *device, id attachment)
{
	id block = apple_new(b, C_VZVirtioBlockDeviceConfiguration, M_VIRTIO_BLOCK_INIT, apple_arg_object(attachment));
	id identifier, cls;

	if (block == nil || device->block_device_identifier == NULL)
		return block;
	identifier = apple_nsstring(b, device->block_device_identifier);
	cls = apple_class(b, C_VZVirtioBlockDeviceConfiguration);
	if (identifier == nil || cls == nil)
		return nil;
	if (apple_call(b, M_VIRTIO_BLOCK_VALIDATE_IDENTIFIER, cls, apple_arg_object(identifier), apple_arg_error_out()) != 0) {
		vzk_error_prefix(apple_builder_error(b), "deviceId '%s'", device->block_device_identifier);
		return nil;
	}
	if (apple_call(b, M_VIRTIO_BLOCK_SET_IDENTIFIER, block, apple_arg_object(identifier)) != 0)
		return nil;
	return block;
}

id apple_storage_device(struct apple_builder *b, const struct vz_storage_device *device)
{
	static const char *const names[] = {
		[VZ_STORAGE_VIRTIO_BLOCK] = "virtio-blk",
		[VZ_STORAGE_NVME] = "nvme",
		[VZ_STORAGE_USB_MASS_STORAGE] = "usb-mass-storage",
	};
	bool nbd = device->attachment.kind == VZ_STORAGE_ATTACHMENT_NBD;
	const char *name = nbd ? "nbd" : (size_t)device->kind < 3 ? names[device->kind] : "?";
	const char *where = nbd ? device->attachment.url : device->attachment.path;
	id attachment, configured = nil;

	attachment = storage_attachment(b, &device->attachment);
	if (attachment != nil) {
		switch (device->kind) {
		case VZ_STORAGE_VIRTIO_BLOCK:
			configured = virtio_block_device(b, device, attachment);
			break;
		case VZ_STORAGE_NVME:
			configured = apple_new(b, C_VZNVMExpressControllerDeviceConfiguration, M_NVME_INIT,
					       apple_arg_object(attachment));
			break;
		case VZ_STORAGE_USB_MASS_STORAGE:
			configured = apple_new(b, C_VZUSBMassStorageDeviceConfiguration, M_USB_MASS_STORAGE_INIT,
					       apple_arg_object(attachment));
			break;
		}
	}
	if (configured == nil)
		vzk_error_prefix(apple_builder_error(b), "--device %s %s", name, where != NULL ? where : "");
	return configured;
}

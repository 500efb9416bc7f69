/* Every device type, in one sorted table. */
#ifndef VZKIT_DEVICES_REGISTRY_H
#define VZKIT_DEVICES_REGISTRY_H

#include "flags/component.h"

extern const struct component_ops nbd_device;
extern const struct component_ops nvme_device;
extern const struct component_ops rosetta_device;
extern const struct component_ops usb_mass_storage_device;
extern const struct component_ops virtio_balloon_device;
extern const struct component_ops virtio_blk_device;
extern const struct component_ops virtio_fs_device;
extern const struct component_ops virtio_gpu_device;
extern const struct component_ops virtio_input_device;
extern const struct component_ops virtio_net_device;
extern const struct component_ops virtio_rng_device;
extern const struct component_ops virtio_serial_device;
extern const struct component_ops virtio_vsock_device;

/* Shared by virtio-fs and rosetta: VZ's rule for a virtio-fs tag. */
int check_mount_tag(const char *tag, const char *what, struct vzk_error *err);

/* NULL-terminated, sorted by name. */
extern const struct component_ops *const device_registry[];

#endif

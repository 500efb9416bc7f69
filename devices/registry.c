#include "devices/registry.h"

#include <stddef.h>

/* The one place that knows every device type; keep it sorted by name. */
const struct component_ops *const device_registry[] = {
	&nbd_device,
	&nvme_device,
	&rosetta_device,
	&usb_mass_storage_device,
	&virtio_balloon_device,
	&virtio_blk_device,
	&virtio_fs_device,
	&virtio_gpu_device,
	&virtio_input_device,
	&virtio_net_device,
	&virtio_rng_device,
	&virtio_serial_device,
	&virtio_vsock_device,
	NULL,
};

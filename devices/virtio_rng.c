/* --device virtio-rng: host entropy for the guest (VZVirtioEntropyDeviceConfiguration). */
#include "devices/registry.h"
#include "vz/vz.h"

static int virtio_rng_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			   struct vzk_error *err)
{
	(void)config;
	(void)given;
	(void)err;
	vz->entropy_device_count++;
	return 0;
}

const struct component_ops virtio_rng_device = {
	.name = "virtio-rng",
	.json_kind = "virtiorng",
	.summary = "random number generator fed from the host",
	.emit = virtio_rng_emit,
};

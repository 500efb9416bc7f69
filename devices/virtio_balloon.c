/* --device virtio-balloon: lets the host reclaim guest memory
 * (VZVirtioTraditionalMemoryBalloonDeviceConfiguration). */
#include "devices/registry.h"
#include "vz/vz.h"

static int virtio_balloon_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			       struct vzk_error *err)
{
	(void)config;
	(void)given;
	(void)err;
	vz->memory_balloon_device_count++;
	return 0;
}

const struct component_ops virtio_balloon_device = {
	.name = "virtio-balloon",
	.json_kind = "virtioballoon",
	.summary = "memory balloon",
	.emit = virtio_balloon_emit,
};

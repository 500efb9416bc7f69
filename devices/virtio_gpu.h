/* virtio-gpu's config is public because --gui marks it (usesGUI). */
#ifndef VZKIT_DEVICES_VIRTIO_GPU_H
#define VZKIT_DEVICES_VIRTIO_GPU_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_GPU_DEFAULT_WIDTH 800
#define VIRTIO_GPU_DEFAULT_HEIGHT 600

struct virtio_gpu_config {
	uint64_t width;
	uint64_t height;
	bool uses_gui;
};

#endif

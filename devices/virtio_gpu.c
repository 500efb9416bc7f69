/* --device virtio-gpu: a display. A virtio graphics device with one scanout, or
 * with the macOS bootloader a Mac graphics device with one 80 ppi display. */
#include <strings.h>

#include "devices/registry.h"
#include "devices/virtio_gpu.h"
#include "vz/vz.h"

static const struct key_spec virtio_gpu_keys[] = {
	{.name = "width", .kind = KEY_UINT, .offset = offsetof(struct virtio_gpu_config, width),
	 .help = "horizontal resolution in pixels (default 800)", .min = 1, .max = 16384,
	 .json_name = "width"},
	{.name = "height", .kind = KEY_UINT, .offset = offsetof(struct virtio_gpu_config, height),
	 .help = "vertical resolution in pixels (default 600)", .min = 1, .max = 16384,
	 .json_name = "height"},
};

static int virtio_gpu_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	struct virtio_gpu_config *gpu = config;
	bool has_width = component_given(&virtio_gpu_device, *given, "width");
	bool has_height = component_given(&virtio_gpu_device, *given, "height");

	/* vfkit fills in 800x600 only when both are missing. */
	if (has_width != has_height)
		return vzk_usage_error(err, "%s: invalid dimensions for virtio-gpu device resolution: %llux%llu (give width and height, or neither)",
				       what, has_width ? (unsigned long long)gpu->width : 0ull,
				       has_height ? (unsigned long long)gpu->height : 0ull);
	if (!has_width) {
		gpu->width = VIRTIO_GPU_DEFAULT_WIDTH;
		component_mark_given(&virtio_gpu_device, given, "width");
	}
	if (!has_height) {
		gpu->height = VIRTIO_GPU_DEFAULT_HEIGHT;
		component_mark_given(&virtio_gpu_device, given, "height");
	}
	return 0;
}

static int virtio_gpu_json_in(void *config, key_set_mask *given, const char *field, json_t *value,
			      const char *what, struct vzk_error *err)
{
	struct virtio_gpu_config *gpu = config;

	(void)given;
	if (strcasecmp(field, "usesGUI") != 0)
		return 0;
	if (!json_is_boolean(value))
		return vzk_usage_error(err, "%s: field 'usesGUI' must be true or false", what);
	gpu->uses_gui = json_is_true(value);
	return 1;
}

static int virtio_gpu_json_out(const void *config, key_set_mask given, json_t *object)
{
	const struct virtio_gpu_config *gpu = config;
	(void)given;
	return json_object_set_new(object, "usesGUI", json_boolean(gpu->uses_gui));
}

static int virtio_gpu_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			   struct vzk_error *err)
{
	const struct virtio_gpu_config *gpu = config;
	struct vz_graphics_device *device = vz_add_graphics_device(vz);

	(void)given;
	if (device == NULL)
		return vzk_runtime_error(err, "out of memory");
	device->kind = vz->platform.kind == VZ_PLATFORM_MAC ? VZ_GRAPHICS_MAC : VZ_GRAPHICS_VIRTIO;
	device->width = (uint32_t)gpu->width;
	device->height = (uint32_t)gpu->height;
	device->pixels_per_inch = device->kind == VZ_GRAPHICS_MAC ? 80 : 0;
	device->uses_gui = gpu->uses_gui;
	return 0;
}

const struct component_ops virtio_gpu_device = {
	.name = "virtio-gpu",
	.json_kind = "virtiogpu",
	.summary = "graphics device with one display",
	.keys = {virtio_gpu_keys, sizeof(virtio_gpu_keys) / sizeof(virtio_gpu_keys[0])},
	.config_size = sizeof(struct virtio_gpu_config),
	.check = virtio_gpu_check,
	.json_in = virtio_gpu_json_in,
	.json_out = virtio_gpu_json_out,
	.emit = virtio_gpu_emit,
};

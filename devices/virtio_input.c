/* --device virtio-input: a keyboard or a pointing device (VZ: USB keyboard, USB
 * screen-coordinate pointing device; Mac keyboard and trackpad for macOS guests). */
#include <string.h>
#include <strings.h>

#include "devices/registry.h"
#include "vz/vz.h"

enum input_type { INPUT_NONE = 0, INPUT_KEYBOARD, INPUT_POINTING };

struct virtio_input_config {
	int type; /* enum input_type */
};

/* Both keys set one field: as in vfkit, the last one given wins. */
static const struct key_spec virtio_input_keys[] = {
	{.name = "keyboard", .kind = KEY_SELECT, .offset = offsetof(struct virtio_input_config, type),
	 .help = "a keyboard", .min = INPUT_KEYBOARD},
	{.name = "pointing", .kind = KEY_SELECT, .offset = offsetof(struct virtio_input_config, type),
	 .help = "a pointing device (mouse/tablet)", .min = INPUT_POINTING},
};

static int virtio_input_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	const struct virtio_input_config *input = config;
	(void)given;
	if (input->type == INPUT_NONE)
		return vzk_usage_error(err, "%s: needs keyboard or pointing", what);
	return 0;
}

/* vfkit's JSON: "inputType": "keyboard" | "pointing". */
static int virtio_input_json_in(void *config, key_set_mask *given, const char *field, json_t *value,
				const char *what, struct vzk_error *err)
{
	struct virtio_input_config *input = config;
	const char *type;

	if (strcasecmp(field, "inputType") != 0)
		return 0;
	type = json_string_value(value);
	if (type != NULL && strcmp(type, "keyboard") == 0)
		input->type = INPUT_KEYBOARD;
	else if (type != NULL && strcmp(type, "pointing") == 0)
		input->type = INPUT_POINTING;
	else
		return vzk_usage_error(err, "%s: field 'inputType' must be \"keyboard\" or \"pointing\"", what);
	component_mark_given(&virtio_input_device, given, type);
	return 1;
}

static int virtio_input_json_out(const void *config, key_set_mask given, json_t *object)
{
	const struct virtio_input_config *input = config;
	(void)given;
	return json_object_set_new(object, "inputType", json_string(input->type == INPUT_KEYBOARD ? "keyboard" : "pointing"));
}

static int virtio_input_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			     struct vzk_error *err)
{
	const struct virtio_input_config *input = config;
	bool mac = vz->platform.kind == VZ_PLATFORM_MAC;
	int status;

	(void)given;
	if (input->type == INPUT_KEYBOARD)
		status = vz_add_keyboard(vz, mac ? VZ_KEYBOARD_MAC : VZ_KEYBOARD_USB);
	else
		status = vz_add_pointing_device(vz, mac ? VZ_POINTING_MAC_TRACKPAD
							: VZ_POINTING_USB_SCREEN_COORDINATE);
	return status == 0 ? 0 : vzk_runtime_error(err, "out of memory");
}

const struct component_ops virtio_input_device = {
	.name = "virtio-input",
	.json_kind = "virtioinput",
	.summary = "keyboard or pointing device",
	.keys = {virtio_input_keys, sizeof(virtio_input_keys) / sizeof(virtio_input_keys[0])},
	.config_size = sizeof(struct virtio_input_config),
	.check = virtio_input_check,
	.json_in = virtio_input_json_in,
	.json_out = virtio_input_json_out,
	.emit = virtio_input_emit,
};

/* Graphics (a virtio-gpu with one scanout, or a Mac graphics device with one
 * display) and input (USB or Mac keyboard, USB pointer or Mac trackpad). */
#include "vz/apple/translate.h"

#define MAC_DISPLAY_DEFAULT_PPI 80

static id virtio_graphics(struct apple_builder *b, const struct vz_graphics_device *device)
{
	id gpu, scanout, scanouts;

	gpu = apple_new(b, C_VZVirtioGraphicsDeviceConfiguration, M_VIRTIO_GPU_INIT);
	if (gpu == nil)
		return nil;
	scanout = apple_new(b, C_VZVirtioGraphicsScanoutConfiguration, M_SCANOUT_INIT,
			    apple_arg_integer(device->width), apple_arg_integer(device->height));
	if (scanout == nil || (scanouts = apple_nsarray(b, &scanout, 1)) == nil ||
	    apple_call(b, M_VIRTIO_GPU_SET_SCANOUTS, gpu, apple_arg_object(scanouts)) != 0)
		return nil;
	return gpu;
}

static id mac_graphics(struct apple_builder *b, const struct vz_graphics_device *device)
{
	uint32_t ppi = device->pixels_per_inch > 0 ? device->pixels_per_inch : MAC_DISPLAY_DEFAULT_PPI;
	id graphics, display, displays;

	graphics = apple_new(b, C_VZMacGraphicsDeviceConfiguration, M_MAC_GRAPHICS_INIT);
	if (graphics == nil)
		return nil;
	display = apple_new(b, C_VZMacGraphicsDisplayConfiguration, M_MAC_DISPLAY_INIT, apple_arg_integer(device->width),
			    apple_arg_integer(device->height), apple_arg_integer(ppi));
	if (display == nil || (displays = apple_nsarray(b, &display, 1)) == nil ||
	    apple_call(b, M_MAC_GRAPHICS_SET_DISPLAYS, graphics, apple_arg_object(displays)) != 0)
		return nil;
	return graphics;
}

id apple_graphics_device(struct apple_builder *b, const struct vz_graphics_device *device)
{
	id graphics = device->kind == VZ_GRAPHICS_MAC ? mac_graphics(b, device) : virtio_graphics(b, device);

	if (graphics == nil)
		vzk_error_prefix(apple_builder_error(b), "--device virtio-gpu %ux%u", device->width, device->height);
	return graphics;
}

/* The Mac keyboard (macOS 14) and trackpad (macOS 13) improve a macOS
 * guest; before them the USB devices do the job. */
static bool host_has(struct apple_builder *b, enum apple_class_id cls)
{
	return apple_version_at_least(apple_builder_host(b)->macos, apple_classes[cls].since);
}

id apple_keyboard(struct apple_builder *b, enum vz_keyboard_kind kind)
{
	id keyboard;

	if (kind == VZ_KEYBOARD_MAC && host_has(b, C_VZMacKeyboardConfiguration)) {
		keyboard = apple_new(b, C_VZMacKeyboardConfiguration, M_MAC_KEYBOARD_INIT);
	} else {
		if (kind == VZ_KEYBOARD_MAC)
			apple_note(b, "VZMacKeyboardConfiguration needs macOS 14: a USB keyboard instead");
		keyboard = apple_new(b, C_VZUSBKeyboardConfiguration, M_USB_KEYBOARD_INIT);
	}
	if (keyboard == nil)
		vzk_error_prefix(apple_builder_error(b), "--device virtio-input keyboard");
	return keyboard;
}

id apple_pointing_device(struct apple_builder *b, enum vz_pointing_kind kind)
{
	id pointer;

	if (kind == VZ_POINTING_MAC_TRACKPAD && host_has(b, C_VZMacTrackpadConfiguration)) {
		pointer = apple_new(b, C_VZMacTrackpadConfiguration, M_MAC_TRACKPAD_INIT);
	} else {
		if (kind == VZ_POINTING_MAC_TRACKPAD)
			apple_note(b, "VZMacTrackpadConfiguration needs macOS 13: a USB pointing device instead");
		pointer = apple_new(b, C_VZUSBScreenCoordinatePointingDeviceConfiguration, M_USB_POINTING_INIT);
	}
	if (pointer == nil)
		vzk_error_prefix(apple_builder_error(b), "--device virtio-input pointing");
	return pointer;
}

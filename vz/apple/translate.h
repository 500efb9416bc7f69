/* One translation per VZ object: the vz/ model (vz/vz.h) into
 * Virtualization framework objects, through the builder (plan or live, see
 * builder.h). Each function returns the new object, owned by the builder, or
 * nil with the builder's error set and prefixed with the user's name for the
 * device ("--device virtio-blk /path: ..."). */
#ifndef VZKIT_VZ_APPLE_TRANSLATE_H
#define VZKIT_VZ_APPLE_TRANSLATE_H

#include "vz/apple/builder.h"
#include "vz/vz.h"

/* The whole VZVirtualMachineConfiguration, ending with validateWithError:. */
id apple_build_configuration(struct apple_builder *b, const struct vz_vm_configuration *config);

/* boot.c */
id apple_boot_loader(struct apple_builder *b, const struct vz_boot_loader *boot);
/* *out stays nil when the configuration needs no platform object. */
int apple_platform(struct apple_builder *b, const struct vz_platform *platform, id *out);

/* install.c: when vz_macos_needs_install, the restore image is loaded and
 * checked and the three identity files are made (live); 0 otherwise too. */
int apple_macos_install_prepare(struct apple_builder *b, const struct vz_vm_configuration *config);
/* recovery: *out is VZMacOSVirtualMachineStartOptions starting macOS
 * Recovery; it stays nil when the VM starts normally. */
int apple_macos_start_options(struct apple_builder *b, const struct vz_vm_configuration *config, id *out);

/* storage.c */
id apple_storage_device(struct apple_builder *b, const struct vz_storage_device *device);

/* network.c: index numbers the host socket of a unix-socket attachment. */
id apple_network_device(struct apple_builder *b, const struct vz_network_device *device, size_t index);

/* serial.c: a log-file or stdio port; the pty ports go into the console device. */
id apple_serial_port(struct apple_builder *b, const struct vz_serial_port *port, size_t index);
/* *out stays nil when no port is a pty. */
int apple_console_device(struct apple_builder *b, const struct vz_vm_configuration *config, id *out);

/* shares.c: *out stays nil when a Rosetta share is skipped (ignore-if-missing). */
int apple_directory_share(struct apple_builder *b, const struct vz_directory_share *share, id *out);

/* display.c */
id apple_graphics_device(struct apple_builder *b, const struct vz_graphics_device *device);
id apple_keyboard(struct apple_builder *b, enum vz_keyboard_kind kind);
id apple_pointing_device(struct apple_builder *b, enum vz_pointing_kind kind);

#endif

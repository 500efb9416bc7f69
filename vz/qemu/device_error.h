/* QEMU's start-up errors, said in the user's terms: which --device the
 * QEMU object it refused came from (the plan names them disk<N>, net<N>,
 * fs<N>, console<N> after their place in the VZ configuration). */
#ifndef VZKIT_VZ_QEMU_DEVICE_ERROR_H
#define VZKIT_VZ_QEMU_DEVICE_ERROR_H

#include <stddef.h>

#include "vz/vz.h"

/* Reads QEMU's log at `log_path`; when its last error line ("qemu-system-...:
 * -opt args: message") is about an object the plan made for a device, writes
 * "--device TYPE (what): message" into `out` and returns 1; else 0. */
int qemu_device_error(const struct vz_vm_configuration *config, const char *log_path, char *out, size_t size);

/* The same for one line (exposed for the tests). */
int qemu_device_error_line(const struct vz_vm_configuration *config, const char *line, char *out, size_t size);

#endif

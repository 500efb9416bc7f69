/* What the QEMU engine finds out about the host before it plans: which
 * accelerator really runs guests, which EFI firmware QEMU ships, image formats. */
#ifndef VZKIT_VZ_QEMU_HOST_H
#define VZKIT_VZ_QEMU_HOST_H

#include <stdbool.h>

#include "flags/error.h"
#include "vz/engine.h"
#include "vz/qemu/plan.h"

enum qemu_arch qemu_host_arch(void);
const char *qemu_binary_for(enum qemu_arch arch);

/* KVM when a tiny guest really runs under it within `deadline_ms`, else TCG.
 * `reason` says why, for the one line that reports the choice. Forcing KVM
 * where it does not work is an error. */
int qemu_choose_accel(enum qemu_arch arch, enum engine_accel wanted, int deadline_ms,
		      enum qemu_accel *out, char *reason, size_t reason_size, struct vzk_error *err);

struct qemu_firmware {
	char code[512];         /* executable, read-only */
	char vars_template[512];/* NVRAM template copied to a new variable store */
	char format[16];        /* "raw" */
};

/* Finds a non-secure-boot UEFI firmware for the arch's machine type through
 * QEMU's JSON descriptors in `descriptor_dir` (/usr/share/qemu/firmware). */
int qemu_find_firmware(const char *descriptor_dir, enum qemu_arch arch, struct qemu_firmware *out,
		       struct vzk_error *err);

/* 1 when the file starts with the qcow2 magic ("QFI\xfb"), 0 otherwise. */
int qemu_image_is_qcow2(const char *path);

#endif

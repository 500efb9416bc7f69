/* What the QEMU engine finds out about the host before it plans: which QEMU
 * binary, which EFI firmware QEMU ships, image formats. (The accelerator:
 * vz/qemu/accel.h.) */
#ifndef VZKIT_VZ_QEMU_HOST_H
#define VZKIT_VZ_QEMU_HOST_H

#include <stdbool.h>

#include "flags/error.h"
#include "vz/engine.h"
#include "vz/qemu/plan.h"

enum qemu_arch qemu_host_arch(void);
const char *qemu_binary_for(enum qemu_arch arch);

struct qemu_firmware {
	char code[512];         /* executable, read-only */
	char vars_template[512];/* NVRAM template copied to a new variable store */
	char format[16];        /* "raw" */
};

/* Finds a non-secure-boot UEFI firmware for the arch's machine type through
 * QEMU's JSON descriptors in `descriptor_dir` (/usr/share/qemu/firmware). */
int qemu_find_firmware(const char *descriptor_dir, enum qemu_arch arch, struct qemu_firmware *out,
		       struct vzk_error *err);

/* The display backend --gui opens a window with: gtk, else sdl; a usage
 * error when this QEMU has neither. */
int qemu_find_gui_backend(enum qemu_arch arch, char *out, size_t size, struct vzk_error *err);

/* 1 when the file starts with the qcow2 magic ("QFI\xfb"), 0 otherwise. */
int qemu_image_is_qcow2(const char *path);

/* Reads the qcow2 header of `path` the way QEMU checks it when it opens the
 * image: NULL when it looks like one QEMU opens, else a static text saying
 * what is wrong (so the start is refused naming the device, not later by
 * QEMU in words that name nothing). */
const char *qemu_qcow2_header_problem(const char *path);

#endif

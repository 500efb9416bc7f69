/* The VM as the user described it: top-level values, one bootloader and the
 * devices in the order given. This is what vfkit's JSON holds (cmd/config/vm_json.c);
 * vm_description_to_vz() turns it into the VZ object model. */
#ifndef VZKIT_CMD_CONFIG_VM_H
#define VZKIT_CMD_CONFIG_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "flags/component.h"
#include "flags/error.h"
#include "vz/vz.h"

#define VM_DEFAULT_CPUS 1
#define VM_DEFAULT_MEMORY_MIB 512

struct vm_description {
	uint64_t vcpus;
	uint64_t memory_bytes;
	bool has_bootloader;
	struct component bootloader;
	struct component *devices;
	size_t device_count;
	uint64_t timesync_vsock_port; /* 0: none */
	char *ignition_path;
	bool nested;
	bool gui;
	char **cloud_init_paths; /* --cloud-init files (user-data, meta-data, ...) */
	size_t cloud_init_count;
};

void vm_description_init(struct vm_description *vm);
void vm_description_free(struct vm_description *vm);
/* Takes ownership of *device (its config moves into the list). */
int vm_description_add_device(struct vm_description *vm, struct component *device,
			      struct vzk_error *err);

/* What --gui implies: a virtio-gpu (800x600) when there is none and a
 * keyboard when there is no virtio-input device (a warning line each goes to
 * `warnings`), and usesGUI on every display. */
int vm_description_apply_gui(struct vm_description *vm, FILE *warnings, struct vzk_error *err);

/* Emits every component into a fresh VZ configuration and validates it. */
int vm_description_to_vz(const struct vm_description *vm, struct vz_vm_configuration *vz,
			 struct vzk_error *err);

/* vfkit's JSON (cmd/config/vm_json.c). */
json_t *vm_description_to_json(const struct vm_description *vm);
int vm_description_from_json(json_t *root, struct vm_description *vm, struct vzk_error *err);
/* The equivalent command line (argv without argv[0]); *argv is malloc'd and
 * NULL-terminated, each string malloc'd. */
int vm_description_to_argv(const struct vm_description *vm, char ***argv, size_t *argc,
			   struct vzk_error *err);
void vm_argv_free(char **argv);

#endif

/* A component is what one option string describes: a device (`--device TYPE,...`)
 * or a bootloader (`--bootloader TYPE,...`). Each type is one module exporting
 * one const struct component_ops; devices/registry.c and bootloader/registry.c
 * list them. The key table drives parsing, help, JSON field names and the
 * cmdline printer; the hooks hold what a table cannot say. */
#ifndef VZKIT_FLAGS_COMPONENT_H
#define VZKIT_FLAGS_COMPONENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flags/error.h"
#include "flags/keytab.h"
struct vz_vm_configuration; /* vz/vz.h: the emit hook fills one; flags/ sits below vz/ */

struct component_ops {
	const char *name;      /* the TYPE in the option string: "virtio-blk", "linux" */
	const char *json_kind; /* vfkit's JSON "kind": "virtioblk", "linuxBootloader" */
	const char *dev_name;  /* vfkit's JSON "devName" (storage devices), or NULL */
	const char *summary;   /* one line for `--device help` and the man page */
	struct key_table keys;
	size_t config_size; /* sizeof the module's typed config struct */

	/* After parsing (from flags or JSON): mutual exclusions, value checks,
	 * defaults (a default that is filled in sets its bit in *given, so the
	 * printers show it). `what` names the place for messages. May be NULL. */
	int (*check)(void *config, key_set_mask *given, const char *what, struct vzk_error *err);
	/* A JSON field the key table does not name: 1 consumed, 0 unknown, -1
	 * error. May be NULL. */
	int (*json_in)(void *config, key_set_mask *given, const char *field, json_t *value,
		       const char *what, struct vzk_error *err);
	/* After the JSON fields, before check: what vfkit's JSON means by a
	 * field it left out (Go's zero value, e.g. no "listen" is connect),
	 * where that differs from the option string's default. May be NULL. */
	void (*json_absent)(void *config, key_set_mask *given);
	/* Adds the JSON fields the key table cannot produce. May be NULL. */
	int (*json_out)(const void *config, key_set_mask given, json_t *object);
	/* Emits the VZ object(s) for this component into the configuration. */
	int (*emit)(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
		    struct vzk_error *err);
};

/* One parsed component: its type, its typed config and which keys are set. */
struct component {
	const struct component_ops *ops;
	void *config;
	key_set_mask given;
};

/* Parses "TYPE,k=v,..." with the type looked up in `registry` (NULL-terminated);
 * `flag` is "--device" or "--bootloader". Unknown types list the known ones.
 * "TYPE,help" sets *help_requested instead. */
int component_parse(const struct component_ops *const *registry, const char *flag, const char *text,
		    struct component *out, bool *help_requested, struct vzk_error *err);
/* Builds a component from a JSON object with a "kind" field. */
int component_from_json(const struct component_ops *const *registry, const char *what,
			json_t *object, struct component *out, struct vzk_error *err);
/* The JSON object for a component ("kind" first, then its fields). */
json_t *component_to_json(const struct component *component);
/* "TYPE,k=v,..." as it would be typed (values quoted where needed); malloc'd. */
char *component_to_option_string(const struct component *component);
int component_emit(const struct component *component, struct vz_vm_configuration *vz,
		   struct vzk_error *err);
void component_free(struct component *component);

/* Looks a type up by option-string name or by JSON kind. */
const struct component_ops *component_find(const struct component_ops *const *registry,
					   const char *name);
const struct component_ops *component_find_kind(const struct component_ops *const *registry,
						const char *json_kind);

/* `--device help`: one line per type. `--device TYPE,help`: the type's keys. */
void component_print_list(const struct component_ops *const *registry, FILE *out);
void component_print_keys(const struct component_ops *ops, FILE *out);

/* Helpers for the modules' hooks. */
static inline bool component_given(const struct component_ops *ops, key_set_mask given,
				   const char *key)
{
	return keytab_given(given, &ops->keys, key);
}
void component_mark_given(const struct component_ops *ops, key_set_mask *given, const char *key);
char *component_strdup(const char *text); /* NULL-safe strdup */

#endif

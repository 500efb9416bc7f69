/* Key tables: each device and bootloader declares its keys once (name, kind,
 * help, where the value goes). The same table drives parsing, error messages,
 * `--device TYPE,help`, the man page lists and the cmdline printer. */
#ifndef VZKIT_FLAGS_KEYTAB_H
#define VZKIT_FLAGS_KEYTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags/error.h"
#include "flags/optstr.h"

enum key_kind {
	KEY_BOOL,   /* bare key, no value: `bool` field */
	KEY_STRING, /* any text: `char *` field, owned by the struct */
	KEY_PATH,   /* host path, non-empty: `char *` field */
	KEY_UINT,   /* decimal unsigned within [min, max]: `uint64_t` field */
	KEY_ENUM,   /* one of `choices`: `int` field holding the index */
	KEY_ONOFF,  /* "on" or "off": `bool` field (a JSON boolean) */
	KEY_SELECT, /* bare key that stores its `min` in an `int` field several keys
		     * share: the last one given wins (virtio-input,pointing,keyboard).
		     * Not a JSON field itself (json_name NULL; the module's hooks). */
};

struct key_spec {
	const char *name;
	enum key_kind kind;
	size_t offset;               /* where the value goes in the config struct */
	const char *help;            /* one line, for help output and the man page */
	const char *const *choices;  /* KEY_ENUM: NULL-terminated */
	uint64_t min, max;           /* KEY_UINT bounds (max 0 means UINT64_MAX) */
	bool required;
	const char *json_name;       /* field name in vfkit's JSON; NULL: not there as such */
};

struct key_table {
	const struct key_spec *keys;
	size_t count;
};

/* Which keys of a table the user gave: bit i for keys[i]. */
typedef uint32_t key_set_mask;

/* Parses opts->items[first..] against the table into `config`. `flag` and
 * `what` name the place in errors ("--device virtio-blk"). Unknown, repeated,
 * valueless or value-bearing-boolean keys and malformed values are usage
 * errors naming the key and the accepted values. Required keys are checked. */
int keytab_parse(const struct key_table *table, const struct optstr *opts, size_t first,
		 const char *what, void *config, key_set_mask *given, struct vzk_error *err);

/* Index of `name` in the table, or -1. */
int keytab_find(const struct key_table *table, const char *name);
static inline bool keytab_given(key_set_mask given, const struct key_table *table, const char *name)
{
	int index = keytab_find(table, name);
	return index >= 0 && (given & (1u << index)) != 0;
}

/* Frees the strings a config holds for KEY_STRING/KEY_PATH keys. */
void keytab_free_strings(const struct key_table *table, void *config);

/* "a, b, c": the key names, for messages. Writes into buf. */
const char *keytab_names(const struct key_table *table, char *buf, size_t size);
/* Prints one line per key ("  name=<kind>  help"). */
void keytab_print_help(const struct key_table *table, void *out_file);

/* Whether text is valid UTF-8: strings end up in vfkit's JSON, which holds
 * nothing else (jansson refuses to make such a string). */
bool text_is_utf8(const char *text);

/* Number parsing shared by every flag: decimal only, no sign, no junk. */
int parse_uint64(const char *text, uint64_t min, uint64_t max, uint64_t *out);

#endif

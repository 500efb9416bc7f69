/* Option strings: "TYPE,key=value,key,...", split as vfkit splits them
 * (doc/vzkit.1, OPTION STRINGS). The tokenizer knows nothing about devices;
 * flags/keytab.h turns the items into a typed struct. */
#ifndef VZKIT_FLAGS_OPTSTR_H
#define VZKIT_FLAGS_OPTSTR_H

#include <stddef.h>

#include "flags/error.h"

struct optstr_item {
	char *key;
	char *value; /* NULL for a bare key ("readonly"); "" for "key=" */
};

struct optstr {
	size_t count;
	struct optstr_item *items;
};

/* Splits text on commas outside double quotes; only the first '=' splits key
 * from value; a value wholly in double quotes loses them; empty items are
 * skipped. `flag` names the flag in error messages ("--device"). Returns 0 or
 * -1 with a usage error (unbalanced quote, empty key). */
int optstr_parse(const char *text, const char *flag, struct optstr *out, struct vzk_error *err);
void optstr_free(struct optstr *opts);

/* A list of plain values ("a,b,c", --cloud-init's paths): split on commas
 * outside double quotes, each element trimmed as vfkit's TrimQuotes does (one that starts and ends
 * with a double quote loses every leading and trailing one: ""a"" is a), empty
 * elements dropped. *items is malloc'd (each element too); free with
 * optstr_list_free. Returns 0 or -1 with a usage error (unbalanced quote). */
int optstr_split_list(const char *text, const char *flag, char ***items, size_t *count,
		      struct vzk_error *err);
void optstr_list_free(char **items, size_t count);

/* Appends one item to an option string being rebuilt (for --dry-run=cmdline),
 * written so that optstr_parse reads the same value back: quoted when it holds
 * a comma, a quote, a blank or '=' (or is empty) and quoting reads back.
 * Returns -1 when out of memory or when no writing reads back (a value with an
 * odd number of double quotes, or one like "a,b" with its own quotes). */
int optstr_append(char **text, const char *key, const char *value);

#endif

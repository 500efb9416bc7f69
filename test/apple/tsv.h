/* vz-selectors.tsv (test/apple/vz-selectors.tsv, a copy of the project's
 * reference table read from the macOS SDK): one row per Virtualization
 * framework method. */
#ifndef VZKIT_TEST_APPLE_TSV_H
#define VZKIT_TEST_APPLE_TSV_H

#include <stddef.h>

struct tsv_row {
	char *cls;
	char *super;
	char kind;      /* '+' or '-' */
	char *selector; /* without the kind */
	char *types;
	char *since;
	char *arch;   /* "any" or "arm64" */
	char *c_cast;
	char *block_sig;
};

struct tsv_table {
	struct tsv_row *rows;
	size_t count;
};

/* 0, or -1 with a message in error. */
int tsv_load(const char *path, struct tsv_table *out, char *error, size_t size);
void tsv_free(struct tsv_table *table);
const struct tsv_row *tsv_find(const struct tsv_table *table, const char *cls, char kind, const char *selector);
/* The superclass of cls per the table, or NULL when cls has no row. */
const char *tsv_super(const struct tsv_table *table, const char *cls);
/* The table's path: $VZ_SELECTORS_TSV or test/apple/vz-selectors.tsv. */
const char *tsv_default_path(void);

#endif

#include "test/apple/tsv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tsv_default_path(void)
{
	const char *path = getenv("VZ_SELECTORS_TSV");
	return path != NULL && path[0] != '\0' ? path : "test/apple/vz-selectors.tsv";
}

static char *next_field(char **cursor)
{
	char *start = *cursor;
	char *tab;

	if (start == NULL)
		return NULL;
	tab = strchr(start, '\t');
	if (tab != NULL) {
		*tab = '\0';
		*cursor = tab + 1;
	} else {
		*cursor = NULL;
	}
	return start;
}

static char *copy(const char *text)
{
	return strdup(text != NULL ? text : "");
}

int tsv_load(const char *path, struct tsv_table *out, char *error, size_t size)
{
	FILE *file = fopen(path, "r");
	char *line = NULL;
	size_t capacity = 0;
	ssize_t length;
	bool header = true;

	out->rows = NULL;
	out->count = 0;
	if (file == NULL) {
		snprintf(error, size, "cannot open %s", path);
		return -1;
	}
	while ((length = getline(&line, &capacity, file)) >= 0) {
		char *cursor = line, *fields[8];
		struct tsv_row *grown;

		while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
			line[--length] = '\0';
		if (header) {
			header = false;
			continue;
		}
		if (length == 0)
			continue;
		for (int i = 0; i < 8; i++)
			fields[i] = next_field(&cursor);
		if (fields[6] == NULL || (fields[2][0] != '+' && fields[2][0] != '-')) {
			snprintf(error, size, "%s: malformed row '%s'", path, line);
			goto fail;
		}
		grown = realloc(out->rows, (out->count + 1) * sizeof(*out->rows));
		if (grown == NULL) {
			snprintf(error, size, "out of memory");
			goto fail;
		}
		out->rows = grown;
		out->rows[out->count] = (struct tsv_row){
			.cls = copy(fields[0]),
			.super = copy(fields[1]),
			.kind = fields[2][0],
			.selector = copy(fields[2] + 1),
			.types = copy(fields[3]),
			.since = copy(fields[4]),
			.arch = copy(fields[5]),
			.c_cast = copy(fields[6]),
			.block_sig = copy(fields[7]),
		};
		out->count++;
	}
	free(line);
	fclose(file);
	if (out->count == 0) {
		snprintf(error, size, "%s: no rows", path);
		return -1;
	}
	return 0;
fail:
	free(line);
	fclose(file);
	tsv_free(out);
	return -1;
}

void tsv_free(struct tsv_table *table)
{
	for (size_t i = 0; i < table->count; i++) {
		struct tsv_row *row = &table->rows[i];
		free(row->cls);
		free(row->super);
		free(row->selector);
		free(row->types);
		free(row->since);
		free(row->arch);
		free(row->c_cast);
		free(row->block_sig);
	}
	free(table->rows);
	table->rows = NULL;
	table->count = 0;
}

const struct tsv_row *tsv_find(const struct tsv_table *table, const char *cls, char kind, const char *selector)
{
	for (size_t i = 0; i < table->count; i++) {
		const struct tsv_row *row = &table->rows[i];
		if (row->kind == kind && strcmp(row->cls, cls) == 0 && strcmp(row->selector, selector) == 0)
			return row;
	}
	return NULL;
}

const char *tsv_super(const struct tsv_table *table, const char *cls)
{
	for (size_t i = 0; i < table->count; i++)
		if (strcmp(table->rows[i].cls, cls) == 0)
			return table->rows[i].super;
	return NULL;
}

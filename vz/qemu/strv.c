#include "vz/qemu/strv.h"

#include "flags/shell.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void strv_push(struct strv *list, const char *text)
{
	char **grown;
	char *copy;

	if (list->failed)
		return;
	copy = strdup(text);
	grown = realloc(list->items, (list->count + 2) * sizeof(*grown));
	if (copy == NULL || grown == NULL) {
		free(copy);
		if (grown != NULL)
			list->items = grown;
		list->failed = 1;
		return;
	}
	grown[list->count++] = copy;
	grown[list->count] = NULL;
	list->items = grown;
}

void strv_pushf(struct strv *list, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		list->failed = 1;
		return;
	}
	strv_push(list, text);
	free(text);
}

void strv_free(struct strv *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

void strv_print_shell(const struct strv *list, FILE *out)
{
	for (size_t i = 0; i < list->count; i++) {
		if (i > 0)
			fputc(' ', out);
		shell_quote(list->items[i], out);
	}
	fputc('\n', out);
}

/* A growable, NULL-terminated list of strings: argv under construction. */
#ifndef VZKIT_VZ_QEMU_STRV_H
#define VZKIT_VZ_QEMU_STRV_H

#include <stddef.h>
#include <stdio.h>

struct strv {
	char **items; /* NULL-terminated once anything is pushed */
	size_t count;
	int failed;   /* an allocation failed: the list is incomplete */
};

void strv_push(struct strv *list, const char *text);
void strv_pushf(struct strv *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_free(struct strv *list);
/* One line, each item shell-quoted where needed. */
void strv_print_shell(const struct strv *list, FILE *out);

#endif

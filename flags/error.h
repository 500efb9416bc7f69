/* Errors travel as values: a function that can fail takes a struct vzk_error *,
 * fills its message on failure and returns -1. Only cmd/ prints the message and
 * picks the exit status (STYLE.md, rule 4). */
#ifndef VZKIT_FLAGS_ERROR_H
#define VZKIT_FLAGS_ERROR_H

#include <stddef.h>

enum vzk_error_kind {
	VZK_ERR_NONE = 0,
	VZK_ERR_USAGE,   /* bad input from the user: exit status 2, nothing started */
	VZK_ERR_RUNTIME, /* the host, an engine or a helper failed: exit status 1 */
};

struct vzk_error {
	enum vzk_error_kind kind;
	char message[1024];
};

/* Sets a usage error (bad input) and returns -1. */
int vzk_usage_error(struct vzk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets a runtime error and returns -1. */
int vzk_runtime_error(struct vzk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prepends "context: " to an error already set; returns -1. */
int vzk_error_prefix(struct vzk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vzk_error_clear(struct vzk_error *err);
/* The exit status an error maps to (2 usage, 1 runtime). */
int vzk_error_exit_status(const struct vzk_error *err);

#endif

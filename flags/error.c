#include "flags/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int set_error(struct vzk_error *err, enum vzk_error_kind kind, const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	err->kind = kind;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	/* An error is one line: input echoed in it (a word, a value) may hold a
	 * newline or other control bytes. */
	for (char *c = err->message; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -1;
}

int vzk_usage_error(struct vzk_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(err, VZK_ERR_USAGE, fmt, ap);
	va_end(ap);
	return -1;
}

int vzk_runtime_error(struct vzk_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_error(err, VZK_ERR_RUNTIME, fmt, ap);
	va_end(ap);
	return -1;
}

int vzk_error_prefix(struct vzk_error *err, const char *fmt, ...)
{
	char prefix[512];
	size_t prefix_len, old_len, room;
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	prefix_len = strlen(prefix);
	memcpy(prefix + prefix_len, ": ", 3);
	prefix_len += 2;
	old_len = strlen(err->message);
	room = sizeof(err->message) - 1 - prefix_len;
	if (old_len > room)
		old_len = room;
	memmove(err->message + prefix_len, err->message, old_len);
	memcpy(err->message, prefix, prefix_len);
	err->message[prefix_len + old_len] = '\0';
	if (err->kind == VZK_ERR_NONE)
		err->kind = VZK_ERR_RUNTIME;
	return -1;
}

void vzk_error_clear(struct vzk_error *err)
{
	if (err == NULL)
		return;
	err->kind = VZK_ERR_NONE;
	err->message[0] = '\0';
}

int vzk_error_exit_status(const struct vzk_error *err)
{
	return err != NULL && err->kind == VZK_ERR_USAGE ? 2 : 1;
}

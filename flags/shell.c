#include "flags/shell.h"

#include <string.h>

void shell_quote(const char *arg, FILE *out)
{
	/* Characters a POSIX shell leaves alone outside quotes. */
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "@%+=:,./-_";

	if (arg[0] != '\0' && strspn(arg, safe) == strlen(arg)) {
		fputs(arg, out);
		return;
	}
	fputc('\'', out);
	for (const char *p = arg; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", out);
		else
			fputc(*p, out);
	}
	fputc('\'', out);
}

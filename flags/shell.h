/* Writing arguments so a POSIX shell reads them back unchanged (--dry-run). */
#ifndef VZKIT_FLAGS_SHELL_H
#define VZKIT_FLAGS_SHELL_H

#include <stdio.h>

/* Writes `arg`, single-quoted when the shell would otherwise split or expand it. */
void shell_quote(const char *arg, FILE *out);

#endif

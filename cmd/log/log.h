/* The one place vzkit writes its own lines: stderr, "vzkit: " first,
 * filtered by --log-level. Every folder below cmd/ hands lines up through
 * callbacks or error values instead of printing. */
#ifndef VZKIT_CMD_LOG_LOG_H
#define VZKIT_CMD_LOG_LOG_H

#include "flags/error.h"
#include "vz/engine.h"

void log_set_level(enum log_level level);
void log_message(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lines already formatted ("vzkit: warning: ...\n" each), written as one
 * block: the warnings held back until the input is known to be good. */
void log_write_lines(const char *lines);
/* "vzkit: warning: ...", shown at every level. */
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the error (one line) and returns the exit status it means: the one
 * place where an error becomes an exit status (doc/vzkit.1, EXIT STATUS). */
int log_failure(const struct vzk_error *err);
/* engine_options callbacks: an engine's lines and warnings through this module.
 * `context` is unused. */
void log_engine_line(void *context, enum log_level level, const char *message);
void log_engine_warning(void *context, const char *message);

#endif

/* Log lines on stderr, "vzkit: " first, filtered by --log-level. */
#ifndef VZKIT_CMD_LOG_H
#define VZKIT_CMD_LOG_H

#include "vz/engine.h"

void log_set_level(enum log_level level);
void log_message(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

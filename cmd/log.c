#include "cmd/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_message(enum log_level level, const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "vzkit: %s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

#include "cmd/log/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
	current_level = level;
}

static void write_line(const char *prefix, const char *line)
{
	/* One write per line, so lines from threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "vzkit: %s%s\n", prefix, line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
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
	write_line("", line);
}

void log_write_lines(const char *lines)
{
	if (lines == NULL || lines[0] == '\0')
		return;
	pthread_mutex_lock(&log_lock);
	fputs(lines, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_warning(const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	write_line("warning: ", line);
}

int log_failure(const struct vzk_error *err)
{
	if (err->message[0] != '\0')
		write_line("", err->message);
	return vzk_error_exit_status(err);
}

void log_engine_line(void *context, enum log_level level, const char *message)
{
	(void)context;
	if (level <= current_level)
		write_line("", message);
}

void log_engine_warning(void *context, const char *message)
{
	(void)context;
	write_line("warning: ", message);
}

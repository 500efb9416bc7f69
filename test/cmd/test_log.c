/* cmd/log/log.c: the one place vzkit writes its own lines. The log level
 * filters, every line is "vzkit: ...", warnings say so, and log_failure
 * turns an error into its exit status (doc/vzkit.1, EXIT STATUS). stderr is
 * a temporary file while the calls run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/log/log.h"
#include "test/testlib.h"

static FILE *captured;
static int saved_stderr = -1;

static void capture_start(void)
{
	fflush(stderr);
	captured = tmpfile();
	saved_stderr = dup(2);
	dup2(fileno(captured), 2);
}

/* What was written to stderr since capture_start (malloc'd). */
static char *capture_end(void)
{
	long size;
	char *text;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	size = ftell(captured);
	text = calloc(1, (size_t)(size > 0 ? size : 0) + 1);
	rewind(captured);
	if (size > 0 && fread(text, 1, (size_t)size, captured) != (size_t)size)
		text[0] = '\0';
	fclose(captured);
	return text;
}

int main(void)
{
	struct vzk_error usage = {0}, runtime = {0};
	char *text;
	int usage_status, runtime_status;

	TEST_CASE("log: the default level (info) drops debug lines");
	capture_start();
	log_message(LOG_LEVEL_DEBUG, "a debug line");
	log_message(LOG_LEVEL_INFO, "an info line %d", 1);
	log_message(LOG_LEVEL_ERROR, "an error line");
	log_engine_line(NULL, LOG_LEVEL_DEBUG, "an engine debug line");
	log_engine_line(NULL, LOG_LEVEL_INFO, "an engine info line");
	text = capture_end();
	CHECK_STR(text, "vzkit: an info line 1\nvzkit: an error line\nvzkit: an engine info line\n");
	free(text);

	TEST_CASE("log: --log-level debug keeps them");
	log_set_level(LOG_LEVEL_DEBUG);
	capture_start();
	log_message(LOG_LEVEL_DEBUG, "a debug line");
	log_engine_line(NULL, LOG_LEVEL_DEBUG, "an engine debug line");
	text = capture_end();
	CHECK_STR(text, "vzkit: a debug line\nvzkit: an engine debug line\n");
	free(text);

	TEST_CASE("log: error level keeps errors only");
	log_set_level(LOG_LEVEL_ERROR);
	capture_start();
	log_message(LOG_LEVEL_INFO, "an info line");
	log_engine_line(NULL, LOG_LEVEL_INFO, "an engine info line");
	log_message(LOG_LEVEL_ERROR, "an error line");
	text = capture_end();
	CHECK_STR(text, "vzkit: an error line\n");
	free(text);

	TEST_CASE("log: warnings are shown at every level, marked as warnings");
	capture_start();
	log_warning("disk %s is slow", "/d");
	log_engine_warning(NULL, "offloading ignored");
	log_write_lines("vzkit: warning: deferred\n");
	log_write_lines(NULL);
	log_write_lines("");
	text = capture_end();
	CHECK_STR(text, "vzkit: warning: disk /d is slow\nvzkit: warning: offloading ignored\nvzkit: warning: deferred\n");
	free(text);
	log_set_level(LOG_LEVEL_INFO);

	TEST_CASE("log_failure: one line, exit status 2 for bad input and 1 at run time");
	vzk_usage_error(&usage, "--cpus: 0 is out of range");
	vzk_runtime_error(&runtime, "QEMU died");
	capture_start();
	usage_status = log_failure(&usage);
	runtime_status = log_failure(&runtime);
	text = capture_end();
	CHECK_NAMED("log_failure: bad input exits 2", usage_status == 2, "%d", usage_status);
	CHECK_NAMED("log_failure: a run-time failure exits 1", runtime_status == 1, "%d", runtime_status);
	CHECK_STR(text, "vzkit: --cpus: 0 is out of range\nvzkit: QEMU died\n");
	free(text);
	TEST_EXIT();
}

/* A minimal test harness. Each check prints one line the runner counts:
 *   PASS name | FAIL name: why | SKIP name: why
 * A test program exits non-zero when any check failed. */
#ifndef VZKIT_TEST_TESTLIB_H
#define VZKIT_TEST_TESTLIB_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int testlib_failures __attribute__((unused));
static const char *testlib_case __attribute__((unused)) = "?";

#define TEST_CASE(name) (testlib_case = (name))

/* Records one named check. */
#define CHECK_NAMED(name, cond, ...)                                              \
	do {                                                                      \
		if (cond) {                                                       \
			printf("PASS %s\n", (name));                              \
		} else {                                                          \
			testlib_failures++;                                       \
			printf("FAIL %s: %s:%d: ", (name), __FILE__, __LINE__);   \
			printf(__VA_ARGS__);                                      \
			printf("\n");                                             \
		}                                                                 \
		fflush(stdout);                                                   \
	} while (0)

/* Records a check named after the current case and the condition. */
#define CHECK(cond)                                                               \
	CHECK_NAMED(testlib_case, (cond), "%s", #cond)

#define CHECK_STR(got, want)                                                      \
	do {                                                                      \
		const char *got_ = (got), *want_ = (want);                        \
		CHECK_NAMED(testlib_case, got_ != NULL && want_ != NULL && strcmp(got_, want_) == 0, \
			    "got '%s', want '%s'", got_ ? got_ : "(null)", want_ ? want_ : "(null)"); \
	} while (0)

#define SKIP(name, ...)                                                           \
	do {                                                                      \
		printf("SKIP %s: ", (name));                                      \
		printf(__VA_ARGS__);                                              \
		printf("\n");                                                     \
	} while (0)

#define TEST_EXIT() return testlib_failures == 0 ? 0 : 1

#endif

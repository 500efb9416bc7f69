/* test_apple: the Apple engine on Linux, against stand-ins of Apple's
 * frameworks registered in the GNU Objective-C runtime (see standin.h). */
#include <stdio.h>

#include "test/apple/rig.h"
#include "test/apple/tests.h"

/* The GNU runtime keeps what class_addMethod copies, and what it sets up for
 * its own classes at load time, for the life of the process in a form
 * LeakSanitizer cannot see (classes are never unregistered); libobjc has no
 * frame pointers, so only its name identifies those allocations. Objects
 * (class_createInstance) are checked by the stand-ins' reference counts. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libobjc.so\n";
}

int main(void)
{
	/* A stdio serial port sets up a terminal stdin for the console: keep the
	 * user's terminal out of it. */
	if (freopen("/dev/null", "r", stdin) == NULL)
		return 1;
	if (rig_setup() != 0)
		return 1;
	test_config();
	test_lifecycle();
	test_install();
	/* Last: it also checks what every earlier test sent. */
	test_tables();
	rig_teardown();
	return rig_failures() == 0 ? 0 : 1;
}

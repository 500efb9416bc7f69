/* test_apple: the Apple engine on Linux, against stand-ins of Apple's
 * frameworks registered in the GNU Objective-C runtime (see standin.h). */
#include <stdio.h>

#include "test/apple/rig.h"
#include "test/apple/tests.h"

int main(void)
{
	/* A stdio serial port puts a terminal stdin in raw mode: keep the
	 * user's terminal out of it. */
	if (freopen("/dev/null", "r", stdin) == NULL)
		return 1;
	if (rig_setup() != 0)
		return 1;
	test_config();
	test_lifecycle();
	/* Last: it also checks what every earlier test sent. */
	test_tables();
	rig_teardown();
	return rig_failures() == 0 ? 0 : 1;
}

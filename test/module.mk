# Tests mirror the tree: test/<module>/... Each test directory appends here.
include test/flags/tests.mk
include test/devices/tests.mk
include test/bootloader/tests.mk
include test/vz/tests.mk
include test/qemu/tests.mk
include test/apple/tests.mk
include test/cmd/tests.mk
include test/rest/tests.mk
include test/services/tests.mk
include test/cross-macos/tests.mk
include test/layout/tests.mk
# The standing mutation check (test/mutations.txt): in make check-long only.
LONG_TEST_SCRIPTS += \
	test/mutate.sh

TEST_PROGRAMS += \
	test/bootloader/test_bootloader

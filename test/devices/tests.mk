TEST_PROGRAMS += \
	test/devices/test_devices

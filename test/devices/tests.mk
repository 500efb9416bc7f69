TEST_PROGRAMS += \
	test/devices/test_devices \
	test/devices/test_golden \
	test/devices/test_roundtrip

TEST_PROGRAMS += \
	test/vz/test_validate

TEST_PROGRAMS += \
	test/cmd/test_args

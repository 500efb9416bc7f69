TEST_PROGRAMS += \
	test/cmd/test_args \
	test/cmd/test_cloudinit

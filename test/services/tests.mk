TEST_PROGRAMS += \
	test/services/test_vsock_services

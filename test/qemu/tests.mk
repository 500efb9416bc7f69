TEST_SCRIPTS += \
	test/qemu/e2e_devices.sh

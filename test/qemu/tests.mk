TEST_PROGRAMS += \
	test/qemu/test_accel
TEST_SCRIPTS += \
	test/qemu/e2e_devices.sh
TEST_SCRIPTS += \
	test/qemu/e2e_lifecycle.sh
TEST_SCRIPTS += \
	test/qemu/e2e_boot_storage.sh
TEST_SCRIPTS += \
	test/qemu/e2e_console.sh
TEST_SCRIPTS += \
	test/qemu/e2e_rest.sh
TEST_SCRIPTS += \
	test/qemu/e2e_gui.sh
TEST_SCRIPTS += \
	test/qemu/e2e_net.sh
TEST_PROGRAMS += \
	test/qemu/test_argv
BENCH_SCRIPTS += \
	test/qemu/bench_vzkit_boot.sh
LONG_TEST_SCRIPTS += \
	test/qemu/reliability_boots.sh
TEST_PROGRAMS += \
	test/qemu/test_plan_golden
TEST_SCRIPTS += \
	test/qemu/e2e_nbd_tls.sh
TEST_SCRIPTS += \
	test/qemu/e2e_refusals.sh
BENCH_SCRIPTS += \
	test/qemu/bench_machine.sh
TEST_PROGRAMS += \
	test/qemu/test_plan
TEST_PROGRAMS += \
	test/qemu/test_firmware
TEST_PROGRAMS += \
	test/qemu/test_engine
BENCH_SCRIPTS += \
	test/qemu/bench_boot.sh
LONG_TEST_SCRIPTS += \
	test/qemu/reliability.sh

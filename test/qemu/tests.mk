# The QEMU engine: plans (golden, from flags and from C-built configurations),
# host facts, the engine driven directly, and real guests booted end to end.
TEST_PROGRAMS += \
	test/qemu/test_accel \
	test/qemu/test_accel_cache \
	test/qemu/test_device_error \
	test/qemu/test_engine \
	test/qemu/test_firmware \
	test/qemu/test_plan \
	test/qemu/test_plan_golden \
	test/qemu/test_vsock_backend
TEST_SCRIPTS += \
	test/qemu/e2e_accel_cache.sh \
	test/qemu/e2e_devices.sh \
	test/qemu/e2e_lifecycle.sh \
	test/qemu/e2e_boot_storage.sh \
	test/qemu/e2e_console.sh \
	test/qemu/e2e_rest.sh \
	test/qemu/e2e_gui.sh \
	test/qemu/e2e_net.sh \
	test/qemu/e2e_vsock.sh \
	test/qemu/e2e_podman.sh \
	test/qemu/e2e_timesync.sh \
	test/qemu/e2e_nbd_tls.sh \
	test/qemu/e2e_refusals.sh \
	test/qemu/e2e_clients.sh \
	test/qemu/e2e_faults.sh \
	test/qemu/faults.sh \
	test/qemu/e2e_durability.sh
BENCH_SCRIPTS += \
	test/qemu/bench_start.sh \
	test/qemu/bench_boot.sh \
	test/qemu/bench_machine.sh \
	test/qemu/bench_vsock.sh
# faults.sh runs 12 trials in make check and 60 in make check-long (VZKIT_LONG=1);
# e2e_durability.sh each disk mode and each stop once, every pair in check-long.
LONG_TEST_SCRIPTS += \
	test/qemu/reliability.sh
# The vsock back end's rings and packets from the fuzzer's bytes (doc/vsock.md).
FUZZ_TARGETS += \
	test/qemu/fuzz_vsock_backend.c

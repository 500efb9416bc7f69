TEST_PROGRAMS += \
	test/devices/test_config_json_seeds \
	test/devices/test_device_options_seeds \
	test/devices/test_devices \
	test/devices/test_golden \
	test/devices/test_roundtrip \
	test/devices/test_vfkit_fields
FUZZ_TARGETS += \
	test/devices/fuzz_config_json.c \
	test/devices/fuzz_device_options.c
BENCH_PROGRAMS += \
	test/devices/bench_parse

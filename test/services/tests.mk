TEST_PROGRAMS += \
	test/services/test_fetch_parse \
	test/services/test_fetch_parse_seeds \
	test/services/test_vsock_services
TEST_SCRIPTS += \
	test/services/test_fetch.sh
FUZZ_TARGETS += \
	test/services/fuzz_fetch_parse.c
BENCH_SCRIPTS += \
	test/services/bench_fetch.sh

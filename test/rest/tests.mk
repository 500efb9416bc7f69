# test/rest: the REST server (cmd/services/rest.c) against a fake VM (fake_vm.h),
# through libcurl and the curl command line; its benchmark; the POST body
# parser's fuzz target and its seed corpus run as a test.
TEST_PROGRAMS += \
	test/rest/test_rest \
	test/rest/test_rest_pressure \
	test/rest/test_state_body_seeds
TEST_SCRIPTS += \
	test/rest/test_rest_curl.sh
BENCH_PROGRAMS += \
	test/rest/bench_rest
FUZZ_TARGETS += \
	test/rest/fuzz_state_body.c
TEST_LIBS_test_rest := -lcurl
TEST_LIBS_bench_rest := -lcurl

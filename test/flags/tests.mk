TEST_PROGRAMS += \
	test/flags/test_keytab \
	test/flags/test_optstr \
	test/flags/test_optstr_seeds \
	test/flags/test_shell \
	test/flags/test_uri
FUZZ_TARGETS += \
	test/flags/fuzz_optstr.c

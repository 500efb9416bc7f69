TEST_PROGRAMS += \
	test/cmd/test_args \
	test/cmd/test_args_seeds \
	test/cmd/test_log \
	test/cmd/test_lifecycle \
	test/cmd/test_cloudinit
TEST_SCRIPTS += \
	test/cmd/test_cli.sh
FUZZ_TARGETS += \
	test/cmd/fuzz_args.c

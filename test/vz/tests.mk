TEST_PROGRAMS += \
	test/vz/test_cleanup_watcher \
	test/vz/test_validate

# make cross-macos, as part of make check (warm: a second or two).
TEST_SCRIPTS += \
	test/cross-macos/test_cross_macos.sh

# The tree's design read from its sources: include graph, printing, citations.
TEST_SCRIPTS += \
	test/layout/test_layout.sh

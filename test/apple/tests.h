/* The groups of test_apple (each prints PASS/FAIL lines through rig_check). */
#ifndef VZKIT_TEST_APPLE_TESTS_H
#define VZKIT_TEST_APPLE_TESTS_H

void test_tables(void);
void test_config(void);
void test_lifecycle(void);
void test_install(void);

#endif

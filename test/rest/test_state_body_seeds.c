/* The seed corpus of fuzz_state_body run as a test in make check (see
 * test/flags/fuzz_seeds.h). */
#include "test/rest/fuzz_state_body.c"
#include "test/flags/fuzz_seeds.h"

int main(void)
{
	return run_fuzz_seeds("test/rest/corpus/fuzz_state_body");
}

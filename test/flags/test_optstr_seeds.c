/* The seed corpus of fuzz_optstr run as a test in make check (see fuzz_seeds.h). */
#include "test/flags/fuzz_optstr.c"
#include "test/flags/fuzz_seeds.h"

int main(void)
{
	return run_fuzz_seeds("test/flags/corpus/fuzz_optstr");
}

/* The seed corpus of fuzz_args run as a test in make check (see
 * test/flags/fuzz_seeds.h). */
#include "test/cmd/fuzz_args.c"
#include "test/flags/fuzz_seeds.h"

int main(void)
{
	return run_fuzz_seeds("test/cmd/corpus/fuzz_args");
}

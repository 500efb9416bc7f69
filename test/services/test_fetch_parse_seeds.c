/* The seed corpus of fuzz_fetch_parse run as a test in make check (see fuzz_seeds.h). */
#include "test/services/fuzz_fetch_parse.c"
#include "test/flags/fuzz_seeds.h"

int main(void)
{
	return run_fuzz_seeds("test/services/corpus/fuzz_fetch_parse");
}

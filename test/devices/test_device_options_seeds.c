/* The seed corpus of fuzz_device_options run as a test in make check (see fuzz_seeds.h). */
#include "test/devices/fuzz_device_options.c"
#include "test/flags/fuzz_seeds.h"

int main(void)
{
	return run_fuzz_seeds("test/devices/corpus/fuzz_device_options");
}

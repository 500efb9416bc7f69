/* Runs a libFuzzer target's seed corpus as an ordinary test (gcc, ASan and
 * UBSan, in make check): each file under test/<dir>/corpus/<target>/ is fed to
 * LLVMFuzzerTestOneInput once; a property violation aborts, which the runner
 * counts as a failure. Include after the target's source. */
#ifndef VZKIT_TEST_FUZZ_SEEDS_H
#define VZKIT_TEST_FUZZ_SEEDS_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int run_fuzz_seeds(const char *dir)
{
	DIR *listing = opendir(dir);
	struct dirent *entry;
	size_t seeds = 0;

	if (listing == NULL) {
		printf("FAIL seeds %s: cannot open the folder (run from the repository root)\n", dir);
		return 1;
	}
	while ((entry = readdir(listing)) != NULL) {
		char path[1024];
		FILE *in;
		char *data = NULL;
		size_t size = 0;
		FILE *buffer;
		int c;

		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		in = fopen(path, "rb");
		if (in == NULL)
			continue;
		buffer = open_memstream(&data, &size);
		while ((c = getc(in)) != EOF)
			putc(c, buffer);
		fclose(buffer);
		fclose(in);
		LLVMFuzzerTestOneInput((const uint8_t *)data, size);
		free(data);
		seeds++;
	}
	closedir(listing);
	if (seeds == 0) {
		printf("FAIL seeds %s: no seed files\n", dir);
		return 1;
	}
	printf("PASS seeds %s: %zu inputs hold every property\n", dir, seeds);
	return 0;
}

#endif

/* Golden files for the tests: a text the code produces is compared with the
 * file holding what it must be; UPDATE_GOLDEN=1 in the environment rewrites
 * the file instead (then review the diff before committing it). */
#ifndef VZKIT_TEST_GOLDEN_H
#define VZKIT_TEST_GOLDEN_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated and malloc'd; NULL when unreadable. */
static inline char *golden_read_file(const char *path)
{
	FILE *file = fopen(path, "rb");
	char *data = NULL;
	size_t size = 0, used = 0;

	if (file == NULL)
		return NULL;
	for (;;) {
		if (used + 4096 + 1 > size) {
			char *grown = realloc(data, size = (used + 4096 + 1) * 2);
			if (grown == NULL) {
				free(data);
				fclose(file);
				return NULL;
			}
			data = grown;
		}
		size_t got = fread(data + used, 1, size - used - 1, file);
		used += got;
		if (got == 0)
			break;
	}
	fclose(file);
	data[used] = '\0';
	return data;
}

/* "line N: want '...', got '...'" for the first line where the texts differ. */
static inline void golden_first_difference(const char *want, const char *got, char *out, size_t size)
{
	unsigned line = 1;

	while (*want != '\0' || *got != '\0') {
		const char *want_end = strchr(want, '\n'), *got_end = strchr(got, '\n');
		size_t want_n = want_end != NULL ? (size_t)(want_end - want) : strlen(want);
		size_t got_n = got_end != NULL ? (size_t)(got_end - got) : strlen(got);
		if (want_n != got_n || strncmp(want, got, want_n) != 0 || (want_end == NULL) != (got_end == NULL)) {
			snprintf(out, size, "line %u: want '%.*s', got '%.*s'", line, (int)want_n, want, (int)got_n, got);
			return;
		}
		want += want_n + (want_end != NULL);
		got += got_n + (got_end != NULL);
		line++;
	}
	snprintf(out, size, "texts are equal");
}

/* True when `text` equals the golden file at `path`; otherwise `why` says
 * where they differ. With UPDATE_GOLDEN=1 (and `may_update`) the file is
 * rewritten with `text` and the result is whether that worked. */
static inline bool golden_matches(const char *path, const char *text, bool may_update, char *why, size_t why_size)
{
	const char *update = getenv("UPDATE_GOLDEN");
	char *want;
	bool same;

	if (may_update && update != NULL && strcmp(update, "1") == 0) {
		FILE *file = fopen(path, "w");
		bool written = file != NULL && fputs(text, file) != EOF;
		if (file != NULL && fclose(file) != 0)
			written = false;
		snprintf(why, why_size, "cannot write %.400s", path);
		return written;
	}
	want = golden_read_file(path);
	if (want == NULL) {
		snprintf(why, why_size, "cannot read %.400s (UPDATE_GOLDEN=1 writes it)", path);
		return false;
	}
	same = strcmp(want, text) == 0;
	if (!same)
		golden_first_difference(want, text, why, why_size);
	free(want);
	return same;
}

#endif

/* libFuzzer target for what the downloader reads from servers and users
 * (cmd/services/fetch_parse.c). The first byte picks the parser:
 *   0: response header lines (split on '\n'), 1: a published sha256 file,
 *   2: a --fetch value.
 * Properties: a Content-Range taken has start <= end < total; a digest is only
 * taken with its header's name; an accepted --fetch value gives an http(s) URL
 * without blanks; a refusal is a usage error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/services/fetch_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "fuzz_fetch_parse: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	size_t len = size > 0 ? size - 1 : 0;

	if (size == 0)
		return 0;
	if (data[0] % 3 == 0) {
		struct fetch_response_headers h;
		const char *end = text + len;
		memset(&h, 0, sizeof(h));
		while (text < end) {
			const char *nl = memchr(text, '\n', (size_t)(end - text));
			size_t line = (size_t)((nl != NULL ? nl + 1 : end) - text);
			fetch_headers_parse_line(&h, text, line);
			if (h.has_content_range && !h.range_unsatisfied) {
				require(h.range_start <= h.range_end, "range start after its end");
				require(!h.range_total_known || h.range_end < h.range_total, "range end past the total");
			}
			require(!h.has_digest || strcmp(h.digest_header, "Repr-Digest") == 0 ||
					strcmp(h.digest_header, "Digest") == 0,
				"a digest without its header");
			require(strlen(h.validator) < sizeof(h.validator) && strchr(h.validator, '\n') == NULL,
				"validator with a newline");
			text += line;
		}
	} else if (data[0] % 3 == 1) {
		uint8_t digest[FETCH_SHA256_BYTES];
		(void)fetch_parse_sha256_file(text, len, "f.iso", digest);
	} else {
		char *value = malloc(len + 1);
		struct fetch_spec spec;
		struct vzk_error err = {0};
		if (value == NULL)
			return 0;
		memcpy(value, text, len);
		value[len] = '\0';
		if (fetch_spec_parse(value, &spec, &err) == 0) {
			require(strncasecmp(spec.url, "http://", 7) == 0 || strncasecmp(spec.url, "https://", 8) == 0,
				"accepted a URL that is not http(s)");
			for (const char *p = spec.url; *p != '\0'; p++)
				require((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f, "accepted a blank");
		} else {
			require(err.kind == VZK_ERR_USAGE || strcmp(err.message, "out of memory") == 0,
				"a refusal that is not a usage error");
			require(strncmp(err.message, "--fetch", 7) == 0 || strcmp(err.message, "out of memory") == 0,
				"a refusal that does not name the flag");
		}
		fetch_spec_free(&spec);
		free(value);
	}
	return 0;
}

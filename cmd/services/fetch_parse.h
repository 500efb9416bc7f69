/* What the downloader reads from servers, as pure functions (fuzzed by
 * test/services/fuzz_fetch_parse.c): HTTP response header lines, the
 * sha256 a server publishes beside a file (URL.sha256) or in a digest header,
 * and the value of `--fetch URL[,sha256=HEX]`. */
#ifndef VZKIT_CMD_SERVICES_FETCH_PARSE_H
#define VZKIT_CMD_SERVICES_FETCH_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags/error.h"

#define FETCH_SHA256_BYTES 32
#define FETCH_SHA256_HEX (2 * FETCH_SHA256_BYTES + 1)

/* The headers of one response that the downloader uses. */
struct fetch_response_headers {
	long status;                /* from the status line; 0 until one is seen */
	char reason[64];            /* its reason phrase (HTTP/1.x), printable ASCII */
	bool has_content_length;
	uint64_t content_length;
	bool has_content_range;     /* "bytes START-END/TOTAL" or "bytes * /TOTAL" */
	bool range_unsatisfied;     /* the "*" form (416) */
	uint64_t range_start, range_end;
	bool range_total_known;
	uint64_t range_total;
	char validator[256];        /* a strong ETag, else Last-Modified; "" when neither */
	bool validator_is_etag;
	bool has_digest;            /* sha-256 from Repr-Digest or Digest */
	uint8_t digest[FETCH_SHA256_BYTES];
	char digest_header[16];     /* which header gave it: "Repr-Digest" or "Digest" */
};

/* Reads one header line as libcurl's header callback hands it (with or
 * without its CRLF). A status line ("HTTP/...") starts a new response and
 * clears what an earlier one (a redirect) set. Unknown or malformed headers
 * are ignored: a server's mistake here costs a resume or a check, never
 * a wrong byte, because what they say is checked against the transfer. */
void fetch_headers_parse_line(struct fetch_response_headers *headers, const char *line, size_t len);

/* Finds the sha256 in the text of a published checksum file: "HEX", "HEX  NAME",
 * "HEX *NAME" (sha256sum) or "SHA256 (NAME) = HEX" (BSD). With several lines,
 * the one naming `file_name` wins; a single digest is taken whatever it names.
 * Returns true and fills `digest` when one was found. */
bool fetch_parse_sha256_file(const char *text, size_t len, const char *file_name,
			     uint8_t digest[FETCH_SHA256_BYTES]);

/* 64 hex digits (either case) → 32 bytes. */
bool fetch_sha256_from_hex(const char *hex, size_t len, uint8_t digest[FETCH_SHA256_BYTES]);
void fetch_sha256_to_hex(const uint8_t digest[FETCH_SHA256_BYTES], char hex[FETCH_SHA256_HEX]);

/* `--fetch URL[,sha256=HEX]`: the URL is http:// or https://, has a host and
 * no blank or control character; trailing ",key=value" items are keys (a
 * comma inside the URL is written %2C). Fills url (malloc'd) and, when given,
 * sha256. Usage errors name the flag and the key. */
struct fetch_spec {
	char *url;
	bool has_sha256;
	uint8_t sha256[FETCH_SHA256_BYTES];
};
int fetch_spec_parse(const char *text, struct fetch_spec *spec, struct vzk_error *err);
void fetch_spec_free(struct fetch_spec *spec);

#endif

/* The downloader's parsers (cmd/services/fetch_parse.c): response headers,
 * published checksum files, `--fetch` values, and the cache entry's name. */
#include <stdio.h>
#include <string.h>

#include "cmd/services/fetch.h"
#include "cmd/services/fetch_parse.h"
#include "test/testlib.h"

/* sha256("abc") */
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_B64 "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="

static void feed(struct fetch_response_headers *h, const char *const *lines)
{
	memset(h, 0, sizeof(*h));
	for (; *lines != NULL; lines++)
		fetch_headers_parse_line(h, *lines, strlen(*lines));
}

static bool is_abc(const uint8_t digest[FETCH_SHA256_BYTES])
{
	char hex[FETCH_SHA256_HEX];
	fetch_sha256_to_hex(digest, hex);
	return strcmp(hex, ABC_HEX) == 0;
}

static void test_headers(void)
{
	struct fetch_response_headers h;

	TEST_CASE("headers: a 206 with Content-Range, strong ETag and Content-Length");
	feed(&h, (const char *const[]){"HTTP/1.1 206 Partial Content\r\n", "Content-Length: 100\r\n",
				      "content-range:  bytes 900-999/1000 \r\n", "ETag: \"abc\"\r\n",
				      "Last-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\n", NULL});
	CHECK(h.status == 206 && strcmp(h.reason, "Partial Content") == 0);
	CHECK(h.has_content_length && h.content_length == 100);
	CHECK(h.has_content_range && !h.range_unsatisfied && h.range_start == 900 && h.range_end == 999 &&
	      h.range_total_known && h.range_total == 1000);
	CHECK_STR(h.validator, "\"abc\"");

	TEST_CASE("headers: a redirect's headers are forgotten at the next status line");
	feed(&h, (const char *const[]){"HTTP/1.1 302 Found", "Content-Length: 5", "ETag: \"x\"", "HTTP/2 200",
				      NULL});
	CHECK(h.status == 200 && h.reason[0] == '\0' && !h.has_content_length && h.validator[0] == '\0');

	TEST_CASE("headers: 416 with bytes */TOTAL");
	feed(&h, (const char *const[]){"HTTP/1.1 416 Range Not Satisfiable", "Content-Range: bytes */4096", NULL});
	CHECK(h.status == 416 && h.has_content_range && h.range_unsatisfied && h.range_total == 4096);

	TEST_CASE("headers: malformed Content-Range values are ignored");
	const char *bad_ranges[] = {"Content-Range: bytes 10-5/100", "Content-Range: bytes 0-100/100",
				    "Content-Range: items 0-1/2", "Content-Range: bytes -1-5/10",
				    "Content-Range: bytes 0-5/", "Content-Range: bytes */*",
				    "Content-Range: bytes 99999999999999999999999-1/2", "Content-Range: bytes 1-2",
				    NULL};
	for (const char *const *r = bad_ranges; *r != NULL; r++) {
		feed(&h, (const char *const[]){"HTTP/1.1 206 x", *r, NULL});
		CHECK_NAMED(*r, !h.has_content_range, "accepted");
	}
	feed(&h, (const char *const[]){"HTTP/1.1 206 x", "Content-Range: bytes 0-5/*", NULL});
	CHECK(h.has_content_range && !h.range_total_known && h.range_end == 5);

	TEST_CASE("headers: a weak ETag is no validator; Last-Modified is, when there is no strong ETag");
	feed(&h, (const char *const[]){"HTTP/1.1 200 OK", "ETag: W/\"weak\"", "Last-Modified: yesterday", NULL});
	CHECK(strcmp(h.validator, "yesterday") == 0 && !h.validator_is_etag);
	feed(&h, (const char *const[]){"HTTP/1.1 200 OK", "Last-Modified: yesterday", "ETag: \"s\"", NULL});
	CHECK(strcmp(h.validator, "\"s\"") == 0 && h.validator_is_etag);

	TEST_CASE("headers: Repr-Digest sha-256 among other members");
	feed(&h, (const char *const[]){"HTTP/1.1 200 OK", "Repr-Digest: sha-512=:AAAA:, sha-256=:" ABC_B64 ":",
				      NULL});
	CHECK(h.has_digest && is_abc(h.digest) && strcmp(h.digest_header, "Repr-Digest") == 0);

	TEST_CASE("headers: Digest SHA-256 (any case), and Repr-Digest wins over it in either order");
	feed(&h, (const char *const[]){"HTTP/1.1 200 OK", "Digest: MD5=xyz, SHA-256=" ABC_B64, NULL});
	CHECK(h.has_digest && is_abc(h.digest) && strcmp(h.digest_header, "Digest") == 0);
	feed(&h, (const char *const[]){"HTTP/1.1 200 OK", "Repr-Digest: sha-256=:" ABC_B64 ":",
				      "Digest: sha-256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL});
	CHECK(h.has_digest && is_abc(h.digest) && strcmp(h.digest_header, "Repr-Digest") == 0);

	TEST_CASE("headers: digests of the wrong length or alphabet are ignored");
	const char *bad_digests[] = {"Repr-Digest: sha-256=:AAAA:", "Repr-Digest: sha-256=" ABC_B64,
				     "Repr-Digest: SHA-256=:" ABC_B64 ":", "Digest: sha-256=!!!",
				     "Repr-Digest: sha-256=:" ABC_B64 "AAAA:", NULL};
	for (const char *const *d = bad_digests; *d != NULL; d++) {
		feed(&h, (const char *const[]){"HTTP/1.1 200 OK", *d, NULL});
		CHECK_NAMED(*d, !h.has_digest, "accepted");
	}
}

static void test_sha256_files(void)
{
	static const struct {
		const char *text, *name;
		bool found;
	} cases[] = {
		{ABC_HEX "\n", "f.iso", true},
		{ABC_HEX "  f.iso\n", "f.iso", true},
		{ABC_HEX " *f.iso", "f.iso", true},
		{ABC_HEX "  other.iso\n", "f.iso", true}, /* a single digest, whatever it names */
		{"SHA256 (f.iso) = " ABC_HEX "\n", "f.iso", true},
		{"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD  ./dir/f.iso\r\n", "f.iso", true},
		{"0000000000000000000000000000000000000000000000000000000000000000  a.iso\n" ABC_HEX "  f.iso\n",
		 "f.iso", true},
		{"0000000000000000000000000000000000000000000000000000000000000000  a.iso\n" ABC_HEX "  b.iso\n",
		 "f.iso", false}, /* several, none for this file */
		{"<html>not found</html>", "f.iso", false},
		{ABC_HEX "x  f.iso", "f.iso", false},
		{"", "f.iso", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t digest[FETCH_SHA256_BYTES] = {0};
		bool found = fetch_parse_sha256_file(cases[i].text, strlen(cases[i].text), cases[i].name, digest);
		char name[96];
		snprintf(name, sizeof(name), "sha256 file %zu: %.40s", i, cases[i].text);
		CHECK_NAMED(name, found == cases[i].found && (!found || is_abc(digest)), "found=%d", found);
	}
}

static void test_spec(void)
{
	struct fetch_spec spec;
	struct vzk_error err = {0};
	static const struct {
		const char *text, *error;
	} bad[] = {
		{"", "--fetch: needs a URL"},
		{"file:///etc/passwd", "is not an http:// or https:// URL"},
		{"https://", "is not an http"},
		{"https:///x", "has no host"},
		{"http://h/x,sha256=" ABC_HEX "0", "sha256 needs 64 hex digits"},
		{"http://h/x,sha256=", "sha256 needs 64 hex digits"},
		{"http://h/x,sha256=" ABC_HEX ",sha256=" ABC_HEX, "given twice"},
		{"http://h/x,size=3", "unknown key 'size'"},
		{"http://h/\x7f", "control"},
		{"http://h/\xc3\xa9", "non-ASCII"},
	};

	TEST_CASE("--fetch: a URL with a query and a sha256");
	CHECK(fetch_spec_parse("HTTPS://example.com/a.iso?x=1&y=2,sha256=" ABC_HEX, &spec, &err) == 0 &&
	      strcmp(spec.url, "HTTPS://example.com/a.iso?x=1&y=2") == 0 && spec.has_sha256 && is_abc(spec.sha256));
	fetch_spec_free(&spec);
	TEST_CASE("--fetch: a comma not followed by key= stays in the URL");
	CHECK(fetch_spec_parse("http://h/a,b", &spec, &err) == 0 && strcmp(spec.url, "http://h/a,b") == 0 &&
	      !spec.has_sha256);
	fetch_spec_free(&spec);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[96];
		memset(&err, 0, sizeof(err));
		snprintf(name, sizeof(name), "--fetch refuses '%.40s'", bad[i].text);
		CHECK_NAMED(name, fetch_spec_parse(bad[i].text, &spec, &err) == -1 && err.kind == VZK_ERR_USAGE &&
			    strstr(err.message, bad[i].error) != NULL && spec.url == NULL,
			    "got '%s'", err.message);
	}
}

static void test_cache_path(void)
{
	struct vzk_error err = {0};
	char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	TEST_CASE("cache: DIR/<16 hex>-<file name>, same URL same entry, another URL another");
	CHECK(fetch_cache_path("/c", "https://h/dir/UniversalMac_13.ipsw?token=1#x", &a, &err) == 0 &&
	      fetch_cache_path("/c", "https://h/dir/UniversalMac_13.ipsw?token=1#x", &b, &err) == 0 &&
	      fetch_cache_path("/c", "https://h/dir/UniversalMac_13.ipsw?token=2", &c, &err) == 0 &&
	      fetch_cache_path("/c", "https://h/", &d, &err) == 0);
	if (a != NULL && b != NULL && c != NULL && d != NULL) {
		CHECK(strlen(a) == 3 + 16 + 1 + strlen("UniversalMac_13.ipsw") && strncmp(a, "/c/", 3) == 0 &&
		      strspn(a + 3, "0123456789abcdef") == 16 && strcmp(a + 19, "-UniversalMac_13.ipsw") == 0);
		CHECK(strcmp(a, b) == 0 && strcmp(a, c) != 0);
		CHECK(strcmp(d + 19, "-download") == 0);
	}
	free(a), free(b), free(c), free(d);
	a = NULL;
	TEST_CASE("cache: odd characters in the file name become _");
	CHECK(fetch_cache_path("/c", "http://h/a%20b$(x).iso", &a, &err) == 0 && a != NULL &&
	      strcmp(a + 19, "-a_20b__x_.iso") == 0);
	free(a);
}

static void test_progress(void)
{
	struct fetch_progress p = {.url = "https://h/f", .received = 512 << 20, .total = 1024u << 20,
				   .resumed_from = 0, .seconds = 4};
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	TEST_CASE("progress: a bar with percent, bytes, rate and ETA; a plain line; the last line");
	fetch_progress_print(out, true, &p);
	fflush(out);
	CHECK_STR(text, "\r\033[K[###############---------------]  50%  512.0 MiB / 1.0 GiB  128.0 MiB/s  ETA 0:04");
	rewind(out);
	fetch_progress_print(out, false, &p);
	fputc('\0', out);
	fflush(out);
	CHECK_STR(text, "fetch: https://h/f: 50%, 512.0 MiB of 1.0 GiB, 128.0 MiB/s, ETA 0:04\n");
	rewind(out);
	p.done = true;
	p.received = p.total;
	p.resumed_from = 512 << 20;
	fetch_progress_print(out, false, &p);
	fputc('\0', out);
	fflush(out);
	CHECK_STR(text, "fetch: https://h/f: 1.0 GiB in 0:04 (128.0 MiB/s), resumed\n");
	fclose(out);
	free(text);
}

int main(void)
{
	test_headers();
	test_sha256_files();
	test_spec();
	test_cache_path();
	test_progress();
	TEST_EXIT();
}

#include "cmd/services/fetch_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flags/hex.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

bool fetch_sha256_from_hex(const char *hex, size_t len, uint8_t digest[FETCH_SHA256_BYTES])
{
	if (len != 2 * FETCH_SHA256_BYTES)
		return false;
	for (size_t i = 0; i < FETCH_SHA256_BYTES; i++) {
		int hi = hex_digit_value(hex[2 * i]), lo = hex_digit_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		digest[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void fetch_sha256_to_hex(const uint8_t digest[FETCH_SHA256_BYTES], char hex[FETCH_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < FETCH_SHA256_BYTES; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * FETCH_SHA256_BYTES] = '\0';
}

/* Decimal digits only, no sign, no overflow. */
static bool parse_decimal(const char *text, size_t len, uint64_t *out)
{
	uint64_t value = 0;
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		if (value > (UINT64_MAX - (uint64_t)(text[i] - '0')) / 10)
			return false;
		value = value * 10 + (uint64_t)(text[i] - '0');
	}
	*out = value;
	return true;
}

/* Standard base64 (RFC 4648 §4), padding optional, that decodes to exactly
 * 32 bytes. */
static bool base64_sha256(const char *text, size_t len, uint8_t out[FETCH_SHA256_BYTES])
{
	uint32_t bits = 0;
	size_t nbits = 0, produced = 0;

	while (len > 0 && text[len - 1] == '=')
		len--;
	if (len != 43)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		int v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			return false;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			if (produced == FETCH_SHA256_BYTES)
				return false;
			out[produced++] = (uint8_t)(bits >> nbits);
			bits &= (1u << nbits) - 1;
		}
	}
	return produced == FETCH_SHA256_BYTES && bits == 0;
}

static bool printable(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return false;
	return true;
}

static void parse_content_range(struct fetch_response_headers *h, const char *v, size_t len)
{
	const char *end = v + len, *dash, *slash;
	uint64_t start = 0, last = 0, total = 0;
	bool total_known;

	if (len < 6 || strncasecmp(v, "bytes", 5) != 0 || !is_blank(v[5]))
		return;
	v += 6;
	while (v < end && is_blank(*v))
		v++;
	slash = memchr(v, '/', (size_t)(end - v));
	if (slash == NULL)
		return;
	total_known = !(end - slash == 2 && slash[1] == '*');
	if (total_known && !parse_decimal(slash + 1, (size_t)(end - slash - 1), &total))
		return;
	if (slash - v == 1 && *v == '*') {
		if (!total_known)
			return;
		h->has_content_range = true;
		h->range_unsatisfied = true;
		h->range_total_known = true;
		h->range_total = total;
		return;
	}
	dash = memchr(v, '-', (size_t)(slash - v));
	if (dash == NULL || !parse_decimal(v, (size_t)(dash - v), &start) ||
	    !parse_decimal(dash + 1, (size_t)(slash - dash - 1), &last) || last < start ||
	    (total_known && last >= total))
		return;
	h->has_content_range = true;
	h->range_unsatisfied = false;
	h->range_start = start;
	h->range_end = last;
	h->range_total_known = total_known;
	h->range_total = total;
}

static void set_validator(struct fetch_response_headers *h, const char *v, size_t len, bool etag)
{
	if (len == 0 || len >= sizeof(h->validator) || !printable(v, len))
		return;
	memcpy(h->validator, v, len);
	h->validator[len] = '\0';
	h->validator_is_etag = etag;
}

/* Calls each(member, len) for the comma-separated members of a list header,
 * blanks trimmed; stops when it returns true. */
static void each_member(const char *v, size_t len, bool (*each)(struct fetch_response_headers *, const char *, size_t),
			struct fetch_response_headers *h)
{
	const char *end = v + len;
	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *stop = comma != NULL ? comma : end, *a = v, *b = stop;
		while (a < b && is_blank(*a))
			a++;
		while (b > a && is_blank(b[-1]))
			b--;
		if (b > a && each(h, a, (size_t)(b - a)))
			return;
		v = comma != NULL ? comma + 1 : end;
	}
}

/* Repr-Digest (RFC 9530): a structured dictionary, "sha-256=:BASE64:". */
static bool repr_digest_member(struct fetch_response_headers *h, const char *m, size_t len)
{
	static const char key[] = "sha-256=:";
	size_t klen = sizeof(key) - 1;
	if (len < klen + 1 || memcmp(m, key, klen) != 0 || m[len - 1] != ':')
		return false;
	if (!base64_sha256(m + klen, len - klen - 1, h->digest))
		return false;
	h->has_digest = true;
	snprintf(h->digest_header, sizeof(h->digest_header), "Repr-Digest");
	return true;
}

/* Digest (RFC 3230, the older form): "SHA-256=BASE64", algorithm case-insensitive. */
static bool digest_member(struct fetch_response_headers *h, const char *m, size_t len)
{
	uint8_t digest[FETCH_SHA256_BYTES];
	if (len < 8 || strncasecmp(m, "sha-256=", 8) != 0 || !base64_sha256(m + 8, len - 8, digest))
		return false;
	memcpy(h->digest, digest, sizeof(digest));
	h->has_digest = true;
	snprintf(h->digest_header, sizeof(h->digest_header), "Digest");
	return true;
}

static bool header_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

void fetch_headers_parse_line(struct fetch_response_headers *h, const char *line, size_t len)
{
	const char *colon, *v;
	size_t vlen;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		const char *space = memchr(line, ' ', len);
		uint64_t status = 0;
		memset(h, 0, sizeof(*h));
		if (space != NULL && line + len - space > 3 && parse_decimal(space + 1, 3, &status)) {
			const char *reason = space + 4;
			size_t reason_len = (size_t)(line + len - reason);
			h->status = (long)status;
			while (reason_len > 0 && is_blank(*reason))
				reason++, reason_len--;
			if (reason_len < sizeof(h->reason) && printable(reason, reason_len)) {
				memcpy(h->reason, reason, reason_len);
				h->reason[reason_len] = '\0';
			}
		}
		return;
	}
	colon = memchr(line, ':', len);
	if (colon == NULL || colon == line)
		return;
	v = colon + 1;
	vlen = len - (size_t)(v - line);
	while (vlen > 0 && is_blank(*v))
		v++, vlen--;
	while (vlen > 0 && is_blank(v[vlen - 1]))
		vlen--;
	if (header_is(line, (size_t)(colon - line), "Content-Length")) {
		h->has_content_length = parse_decimal(v, vlen, &h->content_length);
	} else if (header_is(line, (size_t)(colon - line), "Content-Range")) {
		parse_content_range(h, v, vlen);
	} else if (header_is(line, (size_t)(colon - line), "ETag")) {
		/* A weak ETag cannot validate a byte range (RFC 9110 §13.1.5). */
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
			set_validator(h, v, vlen, true);
	} else if (header_is(line, (size_t)(colon - line), "Last-Modified")) {
		if (!h->validator_is_etag)
			set_validator(h, v, vlen, false);
	} else if (header_is(line, (size_t)(colon - line), "Repr-Digest")) {
		each_member(v, vlen, repr_digest_member, h);
	} else if (header_is(line, (size_t)(colon - line), "Digest")) {
		if (!h->has_digest || strcmp(h->digest_header, "Digest") == 0)
			each_member(v, vlen, digest_member, h);
	}
}

static bool same_file_name(const char *name, size_t len, const char *file_name)
{
	const char *slash;
	size_t i;
	if (file_name == NULL)
		return false;
	for (i = len, slash = NULL; i > 0; i--)
		if (name[i - 1] == '/') {
			slash = name + i;
			break;
		}
	if (slash != NULL) {
		len -= (size_t)(slash - name);
		name = slash;
	}
	return strlen(file_name) == len && memcmp(name, file_name, len) == 0;
}

/* One line of a checksum file → digest and the name it is for (may be empty). */
static bool sha256_line(const char *line, size_t len, uint8_t digest[FETCH_SHA256_BYTES],
			const char **name, size_t *name_len)
{
	static const char bsd[] = "SHA256 (";
	const size_t hexlen = 2 * FETCH_SHA256_BYTES;

	while (len > 0 && (is_blank(line[len - 1]) || line[len - 1] == '\r'))
		len--;
	while (len > 0 && is_blank(*line))
		line++, len--;
	if (len > sizeof(bsd) - 1 && memcmp(line, bsd, sizeof(bsd) - 1) == 0) {
		/* SHA256 (NAME) = HEX */
		const char *close;
		if (len < sizeof(bsd) - 1 + 4 + hexlen)
			return false;
		close = line + len - hexlen - 4;
		if (memcmp(close, ") = ", 4) != 0 || !fetch_sha256_from_hex(close + 4, hexlen, digest))
			return false;
		*name = line + sizeof(bsd) - 1;
		*name_len = (size_t)(close - *name);
		return true;
	}
	if (len < hexlen || !fetch_sha256_from_hex(line, hexlen, digest))
		return false;
	if (len == hexlen) {
		*name = line + len;
		*name_len = 0;
		return true;
	}
	if (!is_blank(line[hexlen]))
		return false;
	line += hexlen, len -= hexlen;
	while (len > 0 && is_blank(*line))
		line++, len--;
	if (len > 0 && *line == '*')
		line++, len--;
	*name = line;
	*name_len = len;
	return true;
}

bool fetch_parse_sha256_file(const char *text, size_t len, const char *file_name,
			     uint8_t digest[FETCH_SHA256_BYTES])
{
	uint8_t only[FETCH_SHA256_BYTES];
	size_t found = 0;
	const char *end = text + len;

	while (text < end) {
		const char *nl = memchr(text, '\n', (size_t)(end - text));
		size_t line_len = (size_t)((nl != NULL ? nl : end) - text);
		uint8_t line_digest[FETCH_SHA256_BYTES];
		const char *name;
		size_t name_len;
		if (sha256_line(text, line_len, line_digest, &name, &name_len)) {
			if (name_len > 0 && same_file_name(name, name_len, file_name)) {
				memcpy(digest, line_digest, sizeof(line_digest));
				return true;
			}
			if (found == 0 || memcmp(only, line_digest, sizeof(only)) != 0)
				found++;
			memcpy(only, line_digest, sizeof(only));
		}
		text = nl != NULL ? nl + 1 : end;
	}
	if (found != 1)
		return false;
	memcpy(digest, only, sizeof(only));
	return true;
}

static bool is_key_item(const char *item, size_t len)
{
	size_t i = 0;
	if (len == 0 || !((item[0] >= 'a' && item[0] <= 'z') || (item[0] >= 'A' && item[0] <= 'Z')))
		return false;
	while (i < len && item[i] != '=') {
		char c = item[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		i++;
	}
	return i < len;
}

void fetch_spec_free(struct fetch_spec *spec)
{
	if (spec == NULL)
		return;
	free(spec->url);
	spec->url = NULL;
}

int fetch_spec_parse(const char *text, struct fetch_spec *spec, struct vzk_error *err)
{
	size_t url_len = strlen(text), host_len;
	const char *host;
	bool seen_sha256 = false;

	memset(spec, 0, sizeof(*spec));
	/* Keys are the trailing ",key=value" items. */
	for (;;) {
		const char *comma = NULL, *item;
		size_t item_len;
		for (size_t i = url_len; i > 0; i--)
			if (text[i - 1] == ',') {
				comma = text + i - 1;
				break;
			}
		if (comma == NULL)
			break;
		item = comma + 1;
		item_len = url_len - (size_t)(item - text);
		if (!is_key_item(item, item_len))
			break;
		if (item_len > 7 && strncmp(item, "sha256=", 7) == 0) {
			if (seen_sha256)
				return vzk_usage_error(err, "--fetch: key 'sha256' is given twice");
			if (!fetch_sha256_from_hex(item + 7, item_len - 7, spec->sha256))
				return vzk_usage_error(err, "--fetch: sha256 needs 64 hex digits (got '%.*s')",
						       (int)(item_len - 7 > 80 ? 80 : item_len - 7), item + 7);
			spec->has_sha256 = seen_sha256 = true;
		} else {
			const char *eq = memchr(item, '=', item_len);
			if (strncmp(item, "sha256=", 7) == 0)
				return vzk_usage_error(err, "--fetch: sha256 needs 64 hex digits (got '')");
			return vzk_usage_error(err, "--fetch: unknown key '%.*s' (valid keys: sha256; a comma in the URL is written %%2C)",
					       (int)(eq - item > 64 ? 64 : eq - item), item);
		}
		url_len = (size_t)(comma - text);
	}
	if (url_len == 0)
		return vzk_usage_error(err, "--fetch: needs a URL (http:// or https://)");
	if (url_len > 8192)
		return vzk_usage_error(err, "--fetch: the URL is longer than 8192 characters");
	for (size_t i = 0; i < url_len; i++)
		if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f)
			return vzk_usage_error(err, "--fetch: the URL has a blank, control or non-ASCII character (percent-encode it)");
	if (url_len > 7 && strncasecmp(text, "http://", 7) == 0)
		host = text + 7;
	else if (url_len > 8 && strncasecmp(text, "https://", 8) == 0)
		host = text + 8;
	else
		return vzk_usage_error(err, "--fetch: '%.*s' is not an http:// or https:// URL",
				       (int)(url_len > 200 ? 200 : url_len), text);
	host_len = strcspn(host, "/?#");
	if (host_len > url_len - (size_t)(host - text))
		host_len = url_len - (size_t)(host - text);
	if (host_len == 0 || host[0] == '@' || host[0] == ':')
		return vzk_usage_error(err, "--fetch: '%.*s' has no host", (int)(url_len > 200 ? 200 : url_len), text);
	spec->url = strndup(text, url_len);
	if (spec->url == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

#include "cmd/services/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <CommonCrypto/CommonDigest.h>
#else
#include <openssl/evp.h>
#endif

#ifndef VZKIT_VERSION
#define VZKIT_VERSION "0.1.0"
#endif

/* sha256 from the platform's own library: CommonCrypto on macOS (part of the
 * OS), OpenSSL's libcrypto elsewhere (libcurl links it on Debian anyway). */
struct sha256 {
#if defined(__APPLE__)
	CC_SHA256_CTX ctx;
#else
	EVP_MD_CTX *ctx;
#endif
};

static int sha256_begin(struct sha256 *h)
{
#if defined(__APPLE__)
	CC_SHA256_Init(&h->ctx);
	return 0;
#else
	if (h->ctx == NULL && (h->ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	return EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
#endif
}

static void sha256_add(struct sha256 *h, const void *data, size_t len)
{
#if defined(__APPLE__)
	const unsigned char *p = data;
	while (len > 0) {
		CC_LONG chunk = len > 1u << 30 ? 1u << 30 : (CC_LONG)len;
		CC_SHA256_Update(&h->ctx, p, chunk);
		p += chunk;
		len -= chunk;
	}
#else
	EVP_DigestUpdate(h->ctx, data, len);
#endif
}

static void sha256_end(struct sha256 *h, uint8_t digest[FETCH_SHA256_BYTES])
{
#if defined(__APPLE__)
	CC_SHA256_Final(digest, &h->ctx);
#else
	unsigned int len = FETCH_SHA256_BYTES;
	EVP_DigestFinal_ex(h->ctx, digest, &len);
#endif
}

static void sha256_free(struct sha256 *h)
{
#if !defined(__APPLE__)
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
#else
	(void)h;
#endif
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *join(const char *a, const char *b)
{
	size_t len = strlen(a) + strlen(b) + 1;
	char *out = malloc(len);
	if (out != NULL)
		snprintf(out, len, "%s%s", a, b);
	return out;
}

int fetch_default_cache_dir(char **dir, struct vzk_error *err)
{
	const char *home = getenv("HOME");
#if defined(__APPLE__)
	if (home == NULL || home[0] != '/')
		return vzk_runtime_error(err, "fetch: HOME is not set to an absolute path, so there is no cache directory");
	*dir = join(home, "/Library/Caches/vzkit");
#else
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg != NULL && xdg[0] == '/')
		*dir = join(xdg, "/vzkit");
	else if (home != NULL && home[0] == '/')
		*dir = join(home, "/.cache/vzkit");
	else
		return vzk_runtime_error(err, "fetch: neither XDG_CACHE_HOME nor HOME is an absolute path, so there is no cache directory");
#endif
	if (*dir == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

static int sha256_of_text(const char *text, uint8_t digest[FETCH_SHA256_BYTES])
{
	struct sha256 h = {0};
	if (sha256_begin(&h) != 0)
		return -1;
	sha256_add(&h, text, strlen(text));
	sha256_end(&h, digest);
	sha256_free(&h);
	return 0;
}

/* The last path segment of a URL (query and fragment dropped), with only
 * [A-Za-z0-9._-] kept, so that a listing of the cache stays readable. */
static void url_file_name(const char *url, char *name, size_t size)
{
	const char *start = strstr(url, "://"), *end, *slash;
	size_t n = 0;

	start = start != NULL ? start + 3 : url;
	end = start + strcspn(start, "?#");
	slash = NULL;
	for (const char *p = start; p < end; p++)
		if (*p == '/')
			slash = p;
	start = slash != NULL ? slash + 1 : end;
	for (const char *p = start; p < end && n + 1 < size && n < 100; p++) {
		char c = *p;
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '-' || c == '_';
		name[n++] = keep ? c : '_';
	}
	name[n] = '\0';
	if (n == 0 || strspn(name, ".") == n)
		snprintf(name, size, "download");
}

int fetch_cache_path(const char *cache_dir, const char *url, char **path, struct vzk_error *err)
{
	uint8_t digest[FETCH_SHA256_BYTES];
	char hex[FETCH_SHA256_HEX], name[128];
	size_t len;

	if (sha256_of_text(url, digest) != 0)
		return vzk_runtime_error(err, "fetch: sha256 is not available");
	fetch_sha256_to_hex(digest, hex);
	url_file_name(url, name, sizeof(name));
	len = strlen(cache_dir) + 1 + 16 + 1 + strlen(name) + 1;
	if ((*path = malloc(len)) == NULL)
		return vzk_runtime_error(err, "out of memory");
	snprintf(*path, len, "%s/%.16s-%s", cache_dir, hex, name);
	return 0;
}

void fetch_result_free(struct fetch_result *result)
{
	if (result == NULL)
		return;
	free(result->path);
	result->path = NULL;
}

static int mkdir_p(const char *dir, struct vzk_error *err)
{
	char *copy = strdup(dir);
	int status = 0;

	if (copy == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (char *p = copy + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
				status = vzk_runtime_error(err, "fetch: cannot create the cache directory %s: %s", copy,
							   strerror(errno));
				break;
			}
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	free(copy);
	return status;
}

/* ---- progress ---------------------------------------------------------- */

static void human_bytes(double bytes, char *out, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t unit = 0;
	while (bytes >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		unit++;
	}
	if (unit == 0)
		snprintf(out, size, "%.0f B", bytes);
	else
		snprintf(out, size, "%.1f %s", bytes, units[unit]);
}

static void human_duration(double seconds, char *out, size_t size)
{
	unsigned long s = seconds < 0 ? 0 : seconds > 359999 ? 359999 : (unsigned long)(seconds + 0.5);
	if (s >= 3600)
		snprintf(out, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, size, "%lu:%02lu", s / 60, s % 60);
}

void fetch_progress_print(FILE *stream, bool bar, const struct fetch_progress *p)
{
	char got[32], total[32], rate_text[32], eta[32];
	double fetched = (double)(p->received - p->resumed_from);
	double rate = p->seconds > 0 ? fetched / p->seconds : 0;

	human_bytes((double)p->received, got, sizeof(got));
	human_bytes((double)p->total, total, sizeof(total));
	human_bytes(rate, rate_text, sizeof(rate_text));
	if (p->total > 0 && rate > 0)
		human_duration((double)(p->total > p->received ? p->total - p->received : 0) / rate, eta, sizeof(eta));
	else
		snprintf(eta, sizeof(eta), "--:--");
	if (bar) {
		char cells[31];
		size_t width = sizeof(cells) - 1, filled = 0;
		int percent = p->total > 0 ? (int)((double)p->received * 100 / (double)p->total) : 0;
		if (p->total > 0)
			filled = (size_t)((double)p->received * (double)width / (double)p->total);
		if (filled > width)
			filled = width;
		memset(cells, '#', filled);
		memset(cells + filled, '-', width - filled);
		cells[width] = '\0';
		if (p->total > 0)
			fprintf(stream, "\r\033[K[%s] %3d%%  %s / %s  %s/s  ETA %s", cells, percent, got, total,
				rate_text, eta);
		else
			fprintf(stream, "\r\033[K%s  %s/s", got, rate_text);
		if (p->done)
			fputc('\n', stream);
	} else if (p->done) {
		char took[32];
		human_duration(p->seconds, took, sizeof(took));
		fprintf(stream, "fetch: %s: %s in %s (%s/s)%s\n", p->url, got, took, rate_text,
			p->resumed_from > 0 ? ", resumed" : "");
	} else if (p->total > 0) {
		fprintf(stream, "fetch: %s: %d%%, %s of %s, %s/s, ETA %s\n", p->url,
			(int)((double)p->received * 100 / (double)p->total), got, total, rate_text, eta);
	} else {
		fprintf(stream, "fetch: %s: %s, %s/s\n", p->url, got, rate_text);
	}
	fflush(stream);
}

static void note(const struct fetch_request *request, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A one-line remark on the progress stream ("resuming at ..."); quiet without one. */
static void note(const struct fetch_request *request, const char *fmt, ...)
{
	va_list ap;
	if (request->progress_stream == NULL || request->progress != NULL)
		return;
	va_start(ap, fmt);
	fputs("fetch: ", request->progress_stream);
	vfprintf(request->progress_stream, fmt, ap);
	fputc('\n', request->progress_stream);
	fflush(request->progress_stream);
	va_end(ap);
}

/* ---- one transfer -------------------------------------------------------- */

struct transfer {
	const struct fetch_request *request;
	CURL *curl;
	int fd;                   /* the partial file */
	const char *part_path, *meta_path;
	struct sha256 hash;
	uint64_t base;            /* bytes on disk before this response's body */
	uint64_t written;         /* body bytes written by this response */
	uint64_t expected_total;  /* 0: unknown */
	bool body_started;
	bool range_mismatch;
	int write_errno;
	struct fetch_response_headers headers;
	/* progress */
	bool bar;
	double started, last_shown;
	uint64_t resumed_from;
};

static size_t on_header(char *data, size_t size, size_t count, void *opaque)
{
	struct transfer *t = opaque;
	fetch_headers_parse_line(&t->headers, data, size * count);
	return size * count;
}

static void write_meta(struct transfer *t)
{
	int fd;
	if (t->headers.validator[0] == '\0') {
		unlink(t->meta_path);
		return;
	}
	fd = open(t->meta_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, t->headers.validator, strlen(t->headers.validator)) < 0)
		unlink(t->meta_path);
	close(fd);
}

/* The first body bytes of a successful response (or its end, for an empty
 * body): a 200 starts the file over, a 206 must continue it exactly. */
static int begin_body(struct transfer *t, long status)
{
	t->body_started = true;
	if (status == 206) {
		if (!t->headers.has_content_range || t->headers.range_unsatisfied ||
		    t->headers.range_start != t->base) {
			t->range_mismatch = true;
			return -1;
		}
		t->expected_total = t->headers.range_total_known ? t->headers.range_total : 0;
		return 0;
	}
	if (t->base > 0) {
		note(t->request, "%s: the server sent the whole file, not the rest; starting over",
		     t->request->url);
		if (ftruncate(t->fd, 0) != 0) {
			t->write_errno = errno;
			return -1;
		}
		t->base = 0;
		t->resumed_from = 0;
	}
	if (sha256_begin(&t->hash) != 0)
		return -1;
	t->expected_total = t->headers.has_content_length ? t->headers.content_length : 0;
	write_meta(t);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t count, void *opaque)
{
	struct transfer *t = opaque;
	size_t len = size * count, done = 0;
	long status = 0;

	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 && status != 206)
		return len; /* an error page: not the file */
	if (!t->body_started && begin_body(t, status) != 0)
		return 0;
	while (done < len) {
		ssize_t n = pwrite(t->fd, data + done, len - done, (off_t)(t->base + t->written + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			t->write_errno = n < 0 ? errno : ENOSPC;
			sha256_add(&t->hash, data, done);
			t->written += done;
			return 0;
		}
		done += (size_t)n;
	}
	sha256_add(&t->hash, data, len);
	t->written += len;
	return len;
}

static void show_progress(struct transfer *t, bool done)
{
	const struct fetch_request *r = t->request;
	struct fetch_progress p = {
		.url = r->url,
		.received = t->base + t->written,
		.total = t->expected_total,
		.resumed_from = t->resumed_from,
		.seconds = now_seconds() - t->started,
		.done = done,
	};
	if (r->progress != NULL)
		r->progress(&p, r->progress_opaque);
	else if (r->progress_stream != NULL)
		fetch_progress_print(r->progress_stream, t->bar, &p);
	t->last_shown = now_seconds();
}

static int on_xfer(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *t = opaque;
	double interval;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;

	if (!t->body_started)
		return 0;
	interval = t->bar ? 0.2 : (t->request->progress_interval_ms > 0 ? (double)t->request->progress_interval_ms / 1000 : 5.0);
	if (now_seconds() - t->last_shown >= interval)
		show_progress(t, false);
	return 0;
}

static void set_ca_options(CURL *curl)
{
	/* What the curl tool honours, so that `curl` and vzkit agree on trust. */
	const char *file = getenv("CURL_CA_BUNDLE");
	const char *dir = getenv("SSL_CERT_DIR");
	if (file == NULL || file[0] == '\0')
		file = getenv("SSL_CERT_FILE");
	if (file != NULL && file[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, file);
	if (dir != NULL && dir[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAPATH, dir);
}

static CURL *new_easy(const struct fetch_request *request, const char *url, char *errbuf)
{
	CURL *curl = curl_easy_init();
	if (curl == NULL)
		return NULL;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request->connect_timeout_seconds > 0 ? request->connect_timeout_seconds : 30L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, request->low_speed_seconds > 0 ? request->low_speed_seconds : 60L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, request->low_speed_bytes > 0 ? request->low_speed_bytes : 1024L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Fewer, larger writes and hash updates than the 16 KiB default. */
	curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "vzkit/" VZKIT_VERSION);
	set_ca_options(curl);
	return curl;
}

/* libcurl's error text, on one line. */
static const char *one_line(char *text, CURLcode code)
{
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	while (text[0] != '\0' && text[strlen(text) - 1] == ' ')
		text[strlen(text) - 1] = '\0';
	return text[0] != '\0' ? text : curl_easy_strerror(code);
}

/* ---- the published sha256 (URL.sha256) ---------------------------------- */

struct small_body {
	char text[4096];
	size_t len;
	bool too_big;
};

static size_t on_small_body(char *data, size_t size, size_t count, void *opaque)
{
	struct small_body *body = opaque;
	size_t len = size * count;
	if (len > sizeof(body->text) - body->len) {
		body->too_big = true;
		return 0;
	}
	memcpy(body->text + body->len, data, len);
	body->len += len;
	return len;
}

/* Looks for URL.sha256 (the query kept after it); any failure means "none". */
static bool fetch_published_sha256(const struct fetch_request *request, uint8_t digest[FETCH_SHA256_BYTES])
{
	const char *url = request->url;
	size_t path_end = strcspn(url, "?#"), len = strlen(url) + 8;
	char *sum_url = malloc(len), errbuf[CURL_ERROR_SIZE] = "", name[128];
	struct small_body *body = calloc(1, sizeof(*body));
	bool found = false;
	long status = 0;
	CURL *curl;

	if (sum_url == NULL || body == NULL) {
		free(sum_url);
		free(body);
		return false;
	}
	snprintf(sum_url, len, "%.*s.sha256%s", (int)path_end, url, url + path_end);
	curl = new_easy(request, sum_url, errbuf);
	if (curl != NULL) {
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_small_body);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
		if (curl_easy_perform(curl) == CURLE_OK && curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
		    status == 200 && !body->too_big) {
			url_file_name(url, name, sizeof(name));
			found = fetch_parse_sha256_file(body->text, body->len, name, digest);
		}
		curl_easy_cleanup(curl);
	}
	free(sum_url);
	free(body);
	return found;
}

/* ---- files ---------------------------------------------------------------- */

static int hash_file(int fd, uint64_t length, struct sha256 *h)
{
	static char buf[1 << 16];
	uint64_t at = 0;
	while (at < length) {
		size_t want = length - at > sizeof(buf) ? sizeof(buf) : (size_t)(length - at);
		ssize_t n = pread(fd, buf, want, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		sha256_add(h, buf, (size_t)n);
		at += (uint64_t)n;
	}
	return 0;
}

static bool read_small_file(const char *path, char *text, size_t size, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return false;
	n = read(fd, text, size - 1);
	close(fd);
	if (n < 0)
		return false;
	text[n] = '\0';
	*len = (size_t)n;
	return true;
}

/* PATH.sha256, "HEX  NAME", written beside an entry once it is verified, so
 * that a later request with a sha256 is answered without reading the file. */
static int write_digest_file(const char *entry, const uint8_t digest[FETCH_SHA256_BYTES])
{
	char *sum_path = join(entry, ".sha256"), *tmp = join(entry, ".sha256.tmp");
	char hex[FETCH_SHA256_HEX], line[FETCH_SHA256_HEX + 256];
	const char *slash = strrchr(entry, '/');
	int fd = -1, status = -1;

	if (sum_path == NULL || tmp == NULL)
		goto out;
	fetch_sha256_to_hex(digest, hex);
	snprintf(line, sizeof(line), "%s  %s\n", hex, slash != NULL ? slash + 1 : entry);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line) && close(fd) == 0) {
		fd = -1;
		status = rename(tmp, sum_path);
	}
	if (status != 0)
		unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(sum_path);
	free(tmp);
	return status;
}

/* The digest of a finished entry: from PATH.sha256, else by reading it. */
static int entry_digest(const char *entry, uint64_t *size, uint8_t digest[FETCH_SHA256_BYTES], struct vzk_error *err)
{
	char *sum_path = join(entry, ".sha256"), text[512];
	const char *slash = strrchr(entry, '/');
	struct sha256 h = {0};
	struct stat st;
	size_t len;
	int fd, status = 0;

	if (sum_path == NULL)
		return vzk_runtime_error(err, "out of memory");
	fd = open(entry, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		status = vzk_runtime_error(err, "fetch: cannot open the cache entry %s: %s", entry, strerror(errno));
		goto out;
	}
	*size = (uint64_t)st.st_size;
	if (read_small_file(sum_path, text, sizeof(text), &len) &&
	    fetch_parse_sha256_file(text, len, slash != NULL ? slash + 1 : entry, digest))
		goto out;
	if (sha256_begin(&h) != 0 || hash_file(fd, *size, &h) != 0) {
		status = vzk_runtime_error(err, "fetch: cannot read the cache entry %s: %s", entry, strerror(errno));
		goto out;
	}
	sha256_end(&h, digest);
	write_digest_file(entry, digest);
out:
	if (fd >= 0)
		close(fd);
	sha256_free(&h);
	free(sum_path);
	return status;
}

static void describe_transfer_error(const struct transfer *t, CURLcode code, char *errbuf, struct vzk_error *err)
{
	const char *url = t->request->url;
	uint64_t have = t->base + t->written;
	char got[32], total[32];

	human_bytes((double)have, got, sizeof(got));
	human_bytes((double)t->expected_total, total, sizeof(total));
	switch (code) {
	case CURLE_WRITE_ERROR:
		if (t->range_mismatch)
			vzk_runtime_error(err, "fetch %s: the server answered with another byte range than the one asked for",
					  url);
		else
			vzk_runtime_error(err, "fetch %s: writing %s: %s (%s kept there; run again to resume)", url,
					  t->part_path, strerror(t->write_errno != 0 ? t->write_errno : EIO), got);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		vzk_runtime_error(err, "fetch %s: cannot resolve the host (%s)", url, one_line(errbuf, code));
		break;
	case CURLE_COULDNT_CONNECT:
		vzk_runtime_error(err, "fetch %s: cannot connect (%s)", url, one_line(errbuf, code));
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		vzk_runtime_error(err, "fetch %s: the server's TLS certificate is not trusted (%s); SSL_CERT_FILE or CURL_CA_BUNDLE can name the CA bundle to trust",
				  url, one_line(errbuf, code));
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		vzk_runtime_error(err, "fetch %s: TLS failed (%s)", url, one_line(errbuf, code));
		break;
	case CURLE_OPERATION_TIMEDOUT:
		vzk_runtime_error(err, "fetch %s: timed out after %s of %s (%s); run again to resume", url, got,
				  t->expected_total > 0 ? total : "?", one_line(errbuf, code));
		break;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
		vzk_runtime_error(err, "fetch %s: the connection broke after %s of %s (%s); run again to resume", url,
				  got, t->expected_total > 0 ? total : "?", one_line(errbuf, code));
		break;
	default:
		vzk_runtime_error(err, "fetch %s: %s", url, one_line(errbuf, code));
		break;
	}
}

enum transfer_outcome { TRANSFER_FAILED = -1, TRANSFER_DONE = 0, TRANSFER_RESTART = 1 };

/* One request for the rest of the file (all of it when the partial file is
 * empty). On success the partial file holds the whole file and `digest` its
 * sha256. */
static enum transfer_outcome transfer_once(const struct fetch_request *request, const char *part_path,
					   const char *meta_path, struct fetch_result *result,
					   uint8_t digest[FETCH_SHA256_BYTES], struct fetch_response_headers *headers_out,
					   struct vzk_error *err)
{
	struct transfer t = {.request = request, .part_path = part_path, .meta_path = meta_path, .fd = -1};
	struct curl_slist *extra = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", range[64], validator[300], if_range[320], have[32];
	enum transfer_outcome outcome = TRANSFER_FAILED;
	struct stat st;
	size_t vlen = 0;
	long status = 0;
	CURLcode code;

	t.fd = open(part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (t.fd < 0 || fstat(t.fd, &st) != 0) {
		vzk_runtime_error(err, "fetch %s: cannot open %s: %s", request->url, part_path, strerror(errno));
		goto out;
	}
	t.base = t.resumed_from = (uint64_t)st.st_size;
	if (sha256_begin(&t.hash) != 0 || hash_file(t.fd, t.base, &t.hash) != 0) {
		vzk_runtime_error(err, "fetch %s: cannot read %s: %s", request->url, part_path, strerror(errno));
		goto out;
	}
	if ((t.curl = new_easy(request, request->url, errbuf)) == NULL) {
		vzk_runtime_error(err, "fetch %s: libcurl failed to start", request->url);
		goto out;
	}
	if (t.base > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)t.base);
		curl_easy_setopt(t.curl, CURLOPT_RANGE, range);
		/* If-Range: the rest of the same file, or all of a changed one. */
		if (read_small_file(meta_path, validator, sizeof(validator), &vlen) && vlen > 0 &&
		    strchr(validator, '\n') == NULL && strchr(validator, '\r') == NULL) {
			snprintf(if_range, sizeof(if_range), "If-Range: %s", validator);
			extra = curl_slist_append(NULL, if_range);
			curl_easy_setopt(t.curl, CURLOPT_HTTPHEADER, extra);
		}
		human_bytes((double)t.base, have, sizeof(have));
		note(request, "%s: resuming after the %s already fetched", request->url, have);
	}
	curl_easy_setopt(t.curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t.curl, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(t.curl, CURLOPT_XFERINFOFUNCTION, on_xfer);
	curl_easy_setopt(t.curl, CURLOPT_XFERINFODATA, &t);
	curl_easy_setopt(t.curl, CURLOPT_NOPROGRESS, 0L);
	t.bar = request->progress_style == FETCH_PROGRESS_BAR ||
		(request->progress_style == FETCH_PROGRESS_AUTO && request->progress_stream != NULL &&
		 isatty(fileno(request->progress_stream)));
	t.started = now_seconds();
	t.last_shown = 0; /* the first call after the body starts shows it */

	code = curl_easy_perform(t.curl);
	curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
	result->bytes_fetched += t.written;
	if (code == CURLE_OK && (status == 200 || status == 206) && !t.body_started && begin_body(&t, status) != 0)
		code = CURLE_WRITE_ERROR;
	if (code != CURLE_OK) {
		if (t.body_started)
			show_progress(&t, true);
		describe_transfer_error(&t, code, errbuf, err);
		goto out;
	}
	if (status == 416 && t.base > 0) {
		/* Nothing after the bytes we have: complete if the sizes agree. */
		if (t.headers.range_unsatisfied && t.headers.range_total == t.base) {
			t.expected_total = t.base;
			t.body_started = true;
		} else {
			note(request, "%s: the partial file does not fit the server's file; starting over", request->url);
			outcome = ftruncate(t.fd, 0) == 0 ? TRANSFER_RESTART : TRANSFER_FAILED;
			if (outcome == TRANSFER_FAILED)
				vzk_runtime_error(err, "fetch %s: truncating %s: %s", request->url, part_path, strerror(errno));
			goto out;
		}
	} else if (status != 200 && status != 206) {
		vzk_runtime_error(err, "fetch %s: the server answered HTTP %ld%s%s", request->url, status,
				  t.headers.reason[0] != '\0' ? " " : "", t.headers.reason);
		goto out;
	}
	show_progress(&t, true);
	if (t.expected_total > 0 && t.base + t.written != t.expected_total) {
		char got[32], want[32];
		human_bytes((double)(t.base + t.written), got, sizeof(got));
		human_bytes((double)t.expected_total, want, sizeof(want));
		vzk_runtime_error(err, "fetch %s: got %s of %s (%llu of %llu bytes); run again to resume", request->url,
				  got, want, (unsigned long long)(t.base + t.written), (unsigned long long)t.expected_total);
		goto out;
	}
	if (fsync(t.fd) != 0) {
		vzk_runtime_error(err, "fetch %s: writing %s: %s", request->url, part_path, strerror(errno));
		goto out;
	}
	sha256_end(&t.hash, digest);
	result->size = t.base + t.written;
	result->resumed_from = t.resumed_from;
	result->seconds = now_seconds() - t.started;
	*headers_out = t.headers;
	outcome = TRANSFER_DONE;
out:
	if (t.curl != NULL)
		curl_easy_cleanup(t.curl);
	curl_slist_free_all(extra);
	sha256_free(&t.hash);
	if (t.fd >= 0)
		close(t.fd);
	return outcome;
}

struct entry_paths {
	char *entry, *part, *meta, *lock;
};

static void entry_paths_free(struct entry_paths *p)
{
	free(p->entry);
	free(p->part);
	free(p->meta);
	free(p->lock);
}

/* Downloads into PATH.part and renames it to PATH once size and sha256 hold. */
static int download(const struct fetch_request *request, const struct entry_paths *paths,
		    struct fetch_result *result, struct vzk_error *err)
{
	struct fetch_response_headers headers;
	uint8_t published[FETCH_SHA256_BYTES], digest[FETCH_SHA256_BYTES];
	const uint8_t *want = NULL;
	enum transfer_outcome outcome = TRANSFER_RESTART;
	char got_hex[FETCH_SHA256_HEX], want_hex[FETCH_SHA256_HEX];

	if (request->has_sha256) {
		want = request->sha256;
		snprintf(result->sha256_source, sizeof(result->sha256_source), "the user");
	} else if (!request->skip_sha256_file && fetch_published_sha256(request, published)) {
		want = published;
		snprintf(result->sha256_source, sizeof(result->sha256_source), "URL.sha256");
	}
	for (int attempt = 0; attempt < 2 && outcome == TRANSFER_RESTART; attempt++)
		outcome = transfer_once(request, paths->part, paths->meta, result, digest, &headers, err);
	if (outcome == TRANSFER_RESTART)
		return vzk_runtime_error(err, "fetch %s: the server's answers to range requests do not agree", request->url);
	if (outcome != TRANSFER_DONE)
		return -1;
	if (want == NULL && headers.has_digest) {
		want = headers.digest;
		snprintf(result->sha256_source, sizeof(result->sha256_source), "the %s header", headers.digest_header);
	}
	memcpy(result->sha256, digest, sizeof(digest));
	if (want != NULL && memcmp(want, digest, sizeof(digest)) != 0) {
		/* The bytes are wrong, so resuming them is pointless. */
		unlink(paths->part);
		unlink(paths->meta);
		fetch_sha256_to_hex(digest, got_hex);
		fetch_sha256_to_hex(want, want_hex);
		return vzk_runtime_error(err, "fetch %s: sha256 mismatch: got %s, want %s (from %s); the file is deleted",
					 request->url, got_hex, want_hex, result->sha256_source);
	}
	write_digest_file(paths->entry, digest);
	if (rename(paths->part, paths->entry) != 0)
		return vzk_runtime_error(err, "fetch %s: renaming %s: %s", request->url, paths->part, strerror(errno));
	unlink(paths->meta);
	return 0;
}

int fetch_file(const struct fetch_request *request, struct fetch_result *result, struct vzk_error *err)
{
	struct entry_paths paths = {0};
	char *default_dir = NULL;
	const char *dir = request->cache_dir;
	struct stat st;
	int lock_fd = -1, status = -1;

	memset(result, 0, sizeof(*result));
	if (dir == NULL) {
		if (fetch_default_cache_dir(&default_dir, err) != 0)
			return -1;
		dir = default_dir;
	}
	if (mkdir_p(dir, err) != 0 || fetch_cache_path(dir, request->url, &paths.entry, err) != 0)
		goto out;
	paths.part = join(paths.entry, ".part");
	paths.meta = join(paths.entry, ".part.meta");
	paths.lock = join(paths.entry, ".lock");
	if (paths.part == NULL || paths.meta == NULL || paths.lock == NULL) {
		vzk_runtime_error(err, "out of memory");
		goto out;
	}
	/* One vzkit per entry at a time; the others wait, then find it done. */
	lock_fd = open(paths.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0) {
		vzk_runtime_error(err, "fetch %s: cannot open %s: %s", request->url, paths.lock, strerror(errno));
		goto out;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
		note(request, "%s: waiting for another vzkit fetching it", request->url);
		while (flock(lock_fd, LOCK_EX) != 0) {
			if (errno != EINTR) {
				vzk_runtime_error(err, "fetch %s: locking %s: %s", request->url, paths.lock, strerror(errno));
				goto out;
			}
		}
	}
	if (stat(paths.entry, &st) == 0) {
		if (entry_digest(paths.entry, &result->size, result->sha256, err) != 0)
			goto out;
		if (!request->has_sha256 || memcmp(request->sha256, result->sha256, FETCH_SHA256_BYTES) == 0) {
			result->from_cache = true;
			if (request->has_sha256)
				snprintf(result->sha256_source, sizeof(result->sha256_source), "the user");
			status = 0;
			goto done;
		}
		note(request, "%s: the cached copy has another sha256; fetching it again", request->url);
		result->size = 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		vzk_runtime_error(err, "fetch %s: libcurl failed to start", request->url);
		goto out;
	}
	status = download(request, &paths, result, err);
	curl_global_cleanup();
done:
	if (status == 0) {
		result->path = paths.entry;
		paths.entry = NULL;
	}
out:
	if (lock_fd >= 0)
		close(lock_fd);
	entry_paths_free(&paths);
	free(default_dir);
	return status;
}

int fetch_command(const struct fetch_spec *spec, FILE *progress, FILE *out, struct vzk_error *err)
{
	struct fetch_request request = {
		.url = spec->url,
		.has_sha256 = spec->has_sha256,
		.progress_stream = progress,
	};
	struct fetch_result result;

	memcpy(request.sha256, spec->sha256, sizeof(request.sha256));
	if (fetch_file(&request, &result, err) != 0)
		return -1;
	if (progress != NULL && result.from_cache)
		fprintf(progress, "fetch: %s: in the cache%s\n", spec->url,
			result.sha256_source[0] != '\0' ? ", sha256 as given" : "");
	else if (progress != NULL && result.sha256_source[0] != '\0')
		fprintf(progress, "fetch: %s: sha256 matches %s\n", spec->url, result.sha256_source);
	fprintf(out, "%s\n", result.path);
	fflush(out);
	fetch_result_free(&result);
	return 0;
}

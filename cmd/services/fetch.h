/* The downloader (doc/downloads.md): one URL into a cache directory, on libcurl.
 * HTTPS with the system's CAs (SSL_CERT_FILE, SSL_CERT_DIR and CURL_CA_BUNDLE
 * name others), redirects, connect and low-speed timeouts; a partial file kept
 * beside the cache entry and resumed with HTTP Range, also by a later run;
 * size and sha256 checked before the file takes its final name; a lock file
 * so that two vzkits fetching one URL take turns. Engine-independent: --fetch
 * uses it, and so does the macOS bootloader for restore images. */
#ifndef VZKIT_CMD_SERVICES_FETCH_H
#define VZKIT_CMD_SERVICES_FETCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cmd/services/fetch_parse.h"
#include "flags/error.h"

struct fetch_progress {
	const char *url;
	uint64_t received;     /* bytes of the file on disk, resumed ones included */
	uint64_t total;        /* 0 while unknown */
	uint64_t resumed_from; /* bytes that were on disk when this run started */
	double seconds;        /* since this run's transfer started */
	bool done;             /* the last call for this transfer */
};

typedef void (*fetch_progress_fn)(const struct fetch_progress *progress, void *opaque);

enum fetch_progress_style {
	FETCH_PROGRESS_AUTO = 0, /* a bar when the stream is a terminal, else lines */
	FETCH_PROGRESS_BAR,
	FETCH_PROGRESS_LINES,
};

struct fetch_request {
	const char *url;
	bool has_sha256; /* the user's sha256; else the server's, when it publishes one */
	uint8_t sha256[FETCH_SHA256_BYTES];
	const char *cache_dir; /* NULL: fetch_default_cache_dir() */
	long connect_timeout_seconds; /* 0: 30 */
	long low_speed_seconds;       /* 0: 60 s below low_speed_bytes per second aborts */
	long low_speed_bytes;         /* 0: 1024 */
	/* Progress: the callback when set, else lines or a bar on progress_stream
	 * (NULL: quiet), lines every progress_interval_ms (0: 5000). */
	fetch_progress_fn progress;
	void *progress_opaque;
	FILE *progress_stream;
	enum fetch_progress_style progress_style;
	long progress_interval_ms;
	/* Where the published URL.sha256 file is not looked for (tests; servers
	 * that answer every path). */
	bool skip_sha256_file;
};

struct fetch_result {
	char *path;              /* the cache entry (malloc'd) */
	bool from_cache;         /* nothing was transferred */
	uint64_t bytes_fetched;  /* body bytes this run wrote */
	uint64_t resumed_from;   /* bytes a partial file already held */
	uint64_t size;
	uint8_t sha256[FETCH_SHA256_BYTES];
	char sha256_source[64];  /* "the user", "URL.sha256", "Repr-Digest header", "" (unchecked) */
	double seconds;          /* of the transfer */
};

/* $XDG_CACHE_HOME/vzkit (else ~/.cache/vzkit) on Linux, ~/Library/Caches/vzkit
 * on macOS. Malloc'd. */
int fetch_default_cache_dir(char **dir, struct vzk_error *err);

/* The entry's path for a URL: DIR/<16 hex of sha256(URL)>-<the URL's file
 * name>; the partial file is PATH.part, the lock PATH.lock, the verified
 * digest PATH.sha256. Malloc'd. */
int fetch_cache_path(const char *cache_dir, const char *url, char **path, struct vzk_error *err);

/* Fetches request->url into the cache, or finds it there. Fills result (free
 * it with fetch_result_free) or returns -1 with a one-line runtime error; a
 * failed or cut transfer leaves at most the partial file, never the entry. */
int fetch_file(const struct fetch_request *request, struct fetch_result *result, struct vzk_error *err);
void fetch_result_free(struct fetch_result *result);

/* `vzkit --fetch`: fetches spec into the default cache with progress on
 * `progress` (NULL: quiet) and prints the entry's path on `out`. */
int fetch_command(const struct fetch_spec *spec, FILE *progress, FILE *out, struct vzk_error *err);

/* The built-in progress display (used when request->progress is NULL). */
void fetch_progress_print(FILE *stream, bool bar, const struct fetch_progress *progress);

#endif

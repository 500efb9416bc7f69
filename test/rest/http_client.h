/* A small libcurl client for the REST tests: one request, its status, body,
 * Content-Type and Allow header, over a unix socket or TCP. Header-only. */
#ifndef VZKIT_TEST_REST_HTTP_CLIENT_H
#define VZKIT_TEST_REST_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Where the server is: a unix socket path, or a TCP base URL. */
struct http_target {
	char unix_path[108];   /* "": TCP */
	char base_url[128];    /* "http://localhost" for a unix socket */
};

enum http_flags {
	HTTP_CHUNKED = 1,    /* send the body with Transfer-Encoding: chunked */
	HTTP_EXPECT_100 = 2, /* send Expect: 100-continue (else never) */
};

struct http_reply {
	CURLcode code;
	long status;
	char body[8192];
	size_t body_len;
	bool body_truncated;
	char content_type[128];
	char allow[128];
	double seconds;
};

struct http_upload {
	const char *data;
	size_t len;
	size_t offset;
};

static inline void http_target_unix(struct http_target *target, const char *path)
{
	snprintf(target->unix_path, sizeof(target->unix_path), "%s", path);
	snprintf(target->base_url, sizeof(target->base_url), "http://localhost");
}

static inline void http_target_tcp(struct http_target *target, const char *host, unsigned port)
{
	target->unix_path[0] = '\0';
	snprintf(target->base_url, sizeof(target->base_url), "http://%s:%u", host, port);
}

static inline size_t http_on_body(char *data, size_t size, size_t count, void *context)
{
	struct http_reply *reply = context;
	size_t len = size * count;
	size_t room = sizeof(reply->body) - 1 - reply->body_len;

	if (len > room) {
		reply->body_truncated = true;
		len = room;
	}
	memcpy(reply->body + reply->body_len, data, len);
	reply->body_len += len;
	reply->body[reply->body_len] = '\0';
	return size * count;
}

/* Copies the value of header `name` from `line` ("Name: value\r\n") into dst. */
static inline void http_header_value(const char *line, size_t len, const char *name, char *dst, size_t size)
{
	size_t name_len = strlen(name);
	size_t start, end;

	if (len <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
		return;
	start = name_len + 1;
	while (start < len && line[start] == ' ')
		start++;
	end = len;
	while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n'))
		end--;
	if (end - start >= size)
		end = start + size - 1;
	memcpy(dst, line + start, end - start);
	dst[end - start] = '\0';
}

static inline size_t http_on_header(char *data, size_t size, size_t count, void *context)
{
	struct http_reply *reply = context;
	size_t len = size * count;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response (after 100 Continue) */
		reply->content_type[0] = '\0';
		reply->allow[0] = '\0';
	}
	http_header_value(data, len, "Content-Type", reply->content_type, sizeof(reply->content_type));
	http_header_value(data, len, "Allow", reply->allow, sizeof(reply->allow));
	return len;
}

static inline size_t http_on_read(char *buffer, size_t size, size_t count, void *context)
{
	struct http_upload *upload = context;
	size_t len = size * count;

	if (len > upload->len - upload->offset)
		len = upload->len - upload->offset;
	if (len > 1000) /* several chunks, like a client that streams */
		len = 1000;
	memcpy(buffer, upload->data + upload->offset, len);
	upload->offset += len;
	return len;
}

/* One request. body NULL: none. Returns 0 when an HTTP response came back. */
static inline int http_request(const struct http_target *target, const char *method, const char *path,
			       const char *body, size_t body_len, int flags, struct http_reply *reply)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	struct http_upload upload = {body, body_len, 0};
	char url[512];

	memset(reply, 0, sizeof(*reply));
	if (curl == NULL) {
		reply->code = CURLE_FAILED_INIT;
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s", target->base_url, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (target->unix_path[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, target->unix_path);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L); /* send /../ as written */
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body == NULL && strcmp(method, "POST") == 0) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		if (flags & HTTP_CHUNKED) {
			curl_easy_setopt(curl, CURLOPT_READFUNCTION, http_on_read);
			curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
			headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
		} else {
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		}
		headers = curl_slist_append(headers, (flags & HTTP_EXPECT_100) ? "Expect: 100-continue" : "Expect:");
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	}
	reply->code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &reply->seconds);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	return reply->code == CURLE_OK ? 0 : -1;
}

#endif

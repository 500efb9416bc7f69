/* --restful-uri parsing (flags/uri.c): every scheme and every error. */
#include <stdio.h>
#include <string.h>

#include "flags/uri.h"
#include "test/testlib.h"

struct good_case {
	const char *text;
	enum rest_uri_kind kind;
	const char *host;
	unsigned port;
	const char *path;
};

static const struct good_case good_cases[] = {
	{"none://", REST_URI_NONE, "", 0, ""},
	{"none", REST_URI_NONE, "", 0, ""},
	{"tcp://localhost:8081", REST_URI_TCP, "localhost", 8081, ""},
	{"tcp://127.0.0.1:1", REST_URI_TCP, "127.0.0.1", 1, ""},
	{"tcp://:65535", REST_URI_TCP, "", 65535, ""},
	{"http://localhost:8080", REST_URI_TCP, "localhost", 8080, ""},
	{"tcp://[::1]:8081", REST_URI_TCP, "::1", 8081, ""},
	{"tcp://[fe80::1%eth0]:9", REST_URI_TCP, "fe80::1%eth0", 9, ""},
	{"unix:///tmp/vzkit.sock", REST_URI_UNIX, "", 0, "/tmp/vzkit.sock"},
	{"unix:///", REST_URI_UNIX, "", 0, "/"},
	/* Go's url.Parse lower-cases the scheme */
	{"TCP://localhost:8081", REST_URI_TCP, "localhost", 8081, ""},
	{"Http://localhost:8080", REST_URI_TCP, "localhost", 8080, ""},
	{"UNIX:///tmp/v.sock", REST_URI_UNIX, "", 0, "/tmp/v.sock"},
	{"NONE://", REST_URI_NONE, "", 0, ""},
	{"none:///x", REST_URI_NONE, "", 0, ""}, /* vfkit checks nothing after none:// */
};

struct bad_case {
	const char *text;
	const char *want;
};

static const struct bad_case bad_cases[] = {
	{"unix://host/tmp/x.sock", "a unix URI takes no host"},
	{"unix://relative.sock", "a unix URI takes no host"},
	{"unix://", "a unix URI takes no host"},
	{"tcp://localhost", "needs a port"},
	{"tcp://localhost:", "port must be a number from 1 to 65535"},
	{"tcp://localhost:0", "port must be a number from 1 to 65535"},
	{"tcp://localhost:65536", "port must be a number from 1 to 65535"},
	{"tcp://localhost:http", "port must be a number from 1 to 65535"},
	{"tcp://localhost:-1", "port must be a number from 1 to 65535"},
	{"tcp://[::1", "malformed IPv6 host"},
	{"tcp://[::1]8081", "malformed IPv6 host"},
	{"tcp://a/b:80", "malformed host"},
	{"ftp://host:21", "unknown scheme"},
	{"TCPX://host:80", "unknown scheme"},
	{"tcp:/host:80", "unknown scheme"},
	{"", "unknown scheme"},
	{"localhost:8080", "unknown scheme"},
};

static void test_good(void)
{
	TEST_CASE("restful-uri good cases");
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		struct rest_uri uri;
		struct vzk_error err = {0};
		char name[160];
		int status = rest_uri_parse(c->text, &uri, &err);

		snprintf(name, sizeof(name), "restful-uri '%s'", c->text);
		CHECK_NAMED(name,
			    status == 0 && uri.kind == c->kind && strcmp(uri.host, c->host) == 0 && uri.port == c->port &&
				    strcmp(uri.path, c->path) == 0,
			    "status %d (%s) kind %d host '%s' port %u path '%s'", status, err.message, uri.kind, uri.host,
			    uri.port, uri.path);
	}
}

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct rest_uri uri;
		struct vzk_error err = {0};
		char name[160];
		int status = rest_uri_parse(c->text, &uri, &err);

		snprintf(name, sizeof(name), "restful-uri error '%s'", c->text);
		CHECK_NAMED(name,
			    status == -1 && err.kind == VZK_ERR_USAGE && strncmp(err.message, "--restful-uri: ", 15) == 0 &&
				    strstr(err.message, c->want) != NULL,
			    "status %d message '%s'", status, err.message);
	}
}

static void test_limits(void)
{
	char text[400];
	struct rest_uri uri;
	struct vzk_error err = {0};

	/* vfkit's limit everywhere is macOS's: 104 bytes with the NUL, so 103 */
	memcpy(text, "unix://", 7);
	text[7] = '/';
	memset(text + 8, 'p', 102);
	text[8 + 102] = '\0';
	CHECK_NAMED("restful-uri: a 103-byte socket path fits", rest_uri_parse(text, &uri, &err) == 0 &&
								      strlen(uri.path) == 103,
		    "%s", err.message);
	strcat(text, "p");
	CHECK_NAMED("restful-uri: a 104-byte socket path is refused, as vfkit refuses it",
		    rest_uri_parse(text, &uri, &err) == -1 &&
			    strstr(err.message, "--restful-uri: socket path longer than 103 bytes (the macOS limit vfkit applies)") != NULL,
		    "%s", err.message);
	memcpy(text, "tcp://", 6);
	memset(text + 6, 'h', 300);
	memcpy(text + 306, ":80", 4);
	CHECK_NAMED("restful-uri: a host longer than 255 bytes is refused",
		    rest_uri_parse(text, &uri, &err) == -1 && strstr(err.message, "host too long") != NULL, "%s",
		    err.message);
	memcpy(text, "tcp://[", 7);
	memset(text + 7, 'h', 300);
	memcpy(text + 307, "]:80", 5);
	CHECK_NAMED("restful-uri: a bracketed host longer than 255 bytes is refused",
		    rest_uri_parse(text, &uri, &err) == -1 && strstr(err.message, "host too long") != NULL, "%s",
		    err.message);
}

int main(void)
{
	test_good();
	test_bad();
	test_limits();
	TEST_EXIT();
}

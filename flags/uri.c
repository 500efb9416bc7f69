#include "flags/uri.h"

#include <stdbool.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "flags/keytab.h"

static int parse_tcp(const char *text, const char *rest, struct rest_uri *out, struct vzk_error *err)
{
	const char *colon;
	size_t host_len;
	uint64_t port;

	if (rest[0] == '[') { /* [::1]:8081 */
		const char *close = strchr(rest, ']');
		if (close == NULL || close[1] != ':')
			return vzk_usage_error(err, "--restful-uri: malformed IPv6 host in '%s'", text);
		host_len = (size_t)(close - rest - 1);
		if (host_len >= sizeof(out->host))
			return vzk_usage_error(err, "--restful-uri: host too long in '%s'", text);
		memcpy(out->host, rest + 1, host_len);
		out->host[host_len] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (colon == NULL)
			return vzk_usage_error(err, "--restful-uri: '%s' needs a port (tcp://host:port)", text);
		host_len = (size_t)(colon - rest);
		if (host_len >= sizeof(out->host))
			return vzk_usage_error(err, "--restful-uri: host too long in '%s'", text);
		memcpy(out->host, rest, host_len);
		out->host[host_len] = '\0';
	}
	if (strchr(out->host, '/') != NULL)
		return vzk_usage_error(err, "--restful-uri: malformed host in '%s'", text);
	if (parse_uint64(colon + 1, 1, 65535, &port) != 0)
		return vzk_usage_error(err, "--restful-uri: port must be a number from 1 to 65535 in '%s'",
				       text);
	out->kind = REST_URI_TCP;
	out->port = (uint16_t)port;
	return 0;
}

/* vfkit refuses a unix socket path longer than macOS's sun_path holds (104
 * bytes with the NUL), on every host: a URI that works with vzkit here works
 * with vfkit on a Mac. */
#define REST_UNIX_PATH_MAX 103

/* Go's url.Parse, which vfkit uses, lower-cases the scheme: TCP:// is tcp://. */
static bool has_scheme(const char *text, const char *scheme)
{
	size_t len = strlen(scheme);
	return strncasecmp(text, scheme, len) == 0 && strncmp(text + len, "://", 3) == 0;
}

int rest_uri_parse(const char *text, struct rest_uri *out, struct vzk_error *err)
{
	memset(out, 0, sizeof(*out));
	if (has_scheme(text, "none") || strcmp(text, "none") == 0)
		return 0;
	if (has_scheme(text, "tcp"))
		return parse_tcp(text, text + 6, out, err);
	if (has_scheme(text, "http"))
		return parse_tcp(text, text + 7, out, err);
	if (has_scheme(text, "unix")) {
		const char *path = text + 7;
		if (path[0] != '/')
			return vzk_usage_error(err,
					       "--restful-uri: '%s' must be unix:///absolute/path (a unix URI takes no host)",
					       text);
		if (strlen(path) > REST_UNIX_PATH_MAX)
			return vzk_usage_error(err, "--restful-uri: socket path longer than %d bytes (the macOS limit vfkit applies) in '%s'",
					       REST_UNIX_PATH_MAX, text);
		out->kind = REST_URI_UNIX;
		snprintf(out->path, sizeof(out->path), "%s", path);
		return 0;
	}
	return vzk_usage_error(err, "--restful-uri: unknown scheme in '%s' (valid: tcp://, unix://, none://)",
			       text);
}

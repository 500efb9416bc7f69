#include "flags/uri.h"

#include <stdio.h>
#include <string.h>

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

int rest_uri_parse(const char *text, struct rest_uri *out, struct vzk_error *err)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(text, "none://") == 0 || strcmp(text, "none") == 0)
		return 0;
	if (strncmp(text, "tcp://", 6) == 0)
		return parse_tcp(text, text + 6, out, err);
	if (strncmp(text, "http://", 7) == 0)
		return parse_tcp(text, text + 7, out, err);
	if (strncmp(text, "unix://", 7) == 0) {
		const char *path = text + 7;
		if (path[0] != '/')
			return vzk_usage_error(err,
					       "--restful-uri: '%s' must be unix:///absolute/path (a unix URI takes no host)",
					       text);
		if (strlen(path) >= sizeof(out->path))
			return vzk_usage_error(err, "--restful-uri: socket path longer than %zu bytes in '%s'",
					       sizeof(out->path) - 1, text);
		out->kind = REST_URI_UNIX;
		snprintf(out->path, sizeof(out->path), "%s", path);
		return 0;
	}
	return vzk_usage_error(err, "--restful-uri: unknown scheme in '%s' (valid: tcp://, unix://, none://)",
			       text);
}

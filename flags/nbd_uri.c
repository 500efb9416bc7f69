#include "flags/nbd_uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/hex.h"

/* Copies text[0..len) into out, decoding %XX; -1 when it does not fit or a
 * %-escape is malformed or decodes to NUL. */
static int percent_decode(const char *text, size_t len, char *out, size_t size)
{
	size_t used = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1; /* a % needs two hex digits after it */
			int high = hex_digit_value(text[i + 1]), low = hex_digit_value(text[i + 2]);
			if (high < 0 || low < 0 || (high == 0 && low == 0))
				return -1;
			c = (char)(high * 16 + low);
			i += 2;
		}
		if (used + 1 >= size)
			return -1;
		out[used++] = c;
	}
	out[used] = '\0';
	return 0;
}

/* The value of `name` in a query string ("a=1&b=2"), decoded into out;
 * 1 found, 0 absent, -1 malformed. */
static int query_value(const char *query, const char *name, char *out, size_t size)
{
	size_t name_len = strlen(name);

	for (const char *item = query; item != NULL && *item != '\0';) {
		size_t item_len = strcspn(item, "&");
		if (item_len > name_len && strncmp(item, name, name_len) == 0 && item[name_len] == '=')
			return percent_decode(item + name_len + 1, item_len - name_len - 1, out, size) == 0 ? 1 : -1;
		item = item[item_len] == '&' ? item + item_len + 1 : NULL;
	}
	return 0;
}

int nbd_uri_parse(const char *uri, const char *what, struct nbd_uri *out, struct vzk_error *err)
{
	static const struct {
		const char *scheme;
		bool tls, is_unix;
	} schemes[] = {
		{"nbd://", false, false},
		{"nbds://", true, false},
		{"nbd+unix://", false, true},
		{"nbds+unix://", true, true},
	};
	const char *rest = NULL, *query, *path_end;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strncmp(uri, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
			rest = uri + strlen(schemes[i].scheme);
			out->tls = schemes[i].tls;
			out->is_unix = schemes[i].is_unix;
		}
	}
	if (rest == NULL)
		return vzk_usage_error(err, "%s: uri '%s' must start with nbd://, nbds://, nbd+unix:// or nbds+unix://", what, uri);
	query = strchr(rest, '?');
	path_end = query != NULL ? query : rest + strlen(rest);
	if (query != NULL)
		query++;
	if (query_value(query, "tls-hostname", out->tls_hostname, sizeof(out->tls_hostname)) < 0)
		return vzk_usage_error(err, "%s: uri '%s': malformed tls-hostname", what, uri);
	if (out->is_unix) {
		/* nbd+unix:///[export]?socket=PATH[&...] */
		int socket = query_value(query, "socket", out->socket, sizeof(out->socket));
		if (rest[0] != '/')
			return vzk_usage_error(err, "%s: uri '%s': a unix NBD URI takes no host (nbd+unix:///export?socket=PATH)",
					       what, uri);
		if (socket == 0 || out->socket[0] != '/')
			return vzk_usage_error(err, "%s: uri '%s' needs ?socket=/absolute/path", what, uri);
		if (socket < 0 ||
		    percent_decode(rest + 1, (size_t)(path_end - rest - 1), out->export_name, sizeof(out->export_name)) != 0)
			return vzk_usage_error(err, "%s: uri '%s': malformed export name or socket path", what, uri);
		/* A server on a unix socket is local: its certificate names localhost. */
		if (out->tls_hostname[0] == '\0')
			snprintf(out->tls_hostname, sizeof(out->tls_hostname), "localhost");
		return 0;
	}
	/* nbd://host[:port][/export] with host a name, an IPv4 or [IPv6] address */
	const char *authority_end = rest + strcspn(rest, "/?");
	const char *host_end, *port_start = NULL;
	if (rest[0] == '[') {
		const char *bracket = memchr(rest, ']', (size_t)(authority_end - rest));
		if (bracket == NULL)
			return vzk_usage_error(err, "%s: uri '%s': unclosed [ in the host", what, uri);
		host_end = bracket + 1;
		if (host_end < authority_end && *host_end == ':')
			port_start = host_end + 1;
		else if (host_end != authority_end)
			return vzk_usage_error(err, "%s: uri '%s': malformed host", what, uri);
	} else {
		host_end = memchr(rest, ':', (size_t)(authority_end - rest));
		if (host_end != NULL)
			port_start = host_end + 1;
		else
			host_end = authority_end;
	}
	size_t host_len = (size_t)(host_end - rest);
	if (rest[0] == '[') {
		rest++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(out->host))
		return vzk_usage_error(err, "%s: uri '%s' needs a host (nbd://host:port/export)", what, uri);
	memcpy(out->host, rest, host_len);
	if (port_start != NULL) {
		size_t port_len = (size_t)(authority_end - port_start);
		if (port_len == 0 || port_len >= sizeof(out->port))
			return vzk_usage_error(err, "%s: uri '%s' has a malformed port", what, uri);
		memcpy(out->port, port_start, port_len);
		long number = strtol(out->port, NULL, 10);
		if (strspn(out->port, "0123456789") < port_len || number < 1 || number > 65535)
			return vzk_usage_error(err, "%s: uri '%s': port must be a number from 1 to 65535", what, uri);
	} else {
		snprintf(out->port, sizeof(out->port), "10809");
	}
	if (*authority_end == '/' &&
	    percent_decode(authority_end + 1, (size_t)(path_end - authority_end - 1), out->export_name,
			   sizeof(out->export_name)) != 0)
		return vzk_usage_error(err, "%s: uri '%s': malformed export name", what, uri);
	if (out->tls_hostname[0] == '\0')
		snprintf(out->tls_hostname, sizeof(out->tls_hostname), "%s", out->host);
	return 0;
}


#include "flags/optstr.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static char *dup_range(const char *start, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, start, len);
	copy[len] = '\0';
	return copy;
}

/* A value wholly enclosed in double quotes ("...") is unquoted; inner quotes stay. */
static char *unquote_value(const char *start, size_t len)
{
	if (len >= 2 && start[0] == '"' && start[len - 1] == '"')
		return dup_range(start + 1, len - 2);
	return dup_range(start, len);
}

static int push_item(struct optstr *out, const char *start, size_t len, const char *flag,
		     struct vzk_error *err)
{
	const char *eq = memchr(start, '=', len);
	size_t key_len = eq != NULL ? (size_t)(eq - start) : len;
	struct optstr_item *grown;
	struct optstr_item item = {0};

	if (key_len == 0)
		return vzk_usage_error(err, "%s: empty key in '%.*s'", flag, (int)len, start);
	item.key = dup_range(start, key_len);
	if (item.key == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (eq != NULL) {
		item.value = unquote_value(eq + 1, len - key_len - 1);
		if (item.value == NULL) {
			free(item.key);
			return vzk_runtime_error(err, "out of memory");
		}
	}
	grown = realloc(out->items, (out->count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(item.key);
		free(item.value);
		return vzk_runtime_error(err, "out of memory");
	}
	out->items = grown;
	out->items[out->count++] = item;
	return 0;
}

int optstr_parse(const char *text, const char *flag, struct optstr *out, struct vzk_error *err)
{
	const char *item_start = text;
	bool in_quotes = false;

	out->count = 0;
	out->items = NULL;
	for (const char *p = text;; p++) {
		if (*p == '"') {
			in_quotes = !in_quotes;
			continue;
		}
		if (*p != '\0' && (*p != ',' || in_quotes))
			continue;
		if (*p == '\0' && in_quotes) {
			optstr_free(out);
			return vzk_usage_error(err, "%s: unbalanced double quote in '%s'", flag, text);
		}
		if (p > item_start && push_item(out, item_start, (size_t)(p - item_start), flag, err) != 0) {
			optstr_free(out);
			return -1;
		}
		if (*p == '\0')
			break;
		item_start = p + 1;
	}
	return 0;
}

void optstr_free(struct optstr *opts)
{
	if (opts == NULL)
		return;
	for (size_t i = 0; i < opts->count; i++) {
		free(opts->items[i].key);
		free(opts->items[i].value);
	}
	free(opts->items);
	opts->items = NULL;
	opts->count = 0;
}

int optstr_append(char **text, const char *key, const char *value)
{
	size_t old_len = *text != NULL ? strlen(*text) : 0;
	/* Quote what a reader would misread: commas, quotes, blanks, a second '='. */
	bool quote = value != NULL && (strpbrk(value, ",\" \t=") != NULL || value[0] == '\0');
	size_t add = 1 + strlen(key) + (value != NULL ? 1 + strlen(value) + (quote ? 2 : 0) : 0);
	char *grown = realloc(*text, old_len + add + 1);
	char *p;

	if (grown == NULL)
		return -1;
	p = grown + old_len;
	if (old_len > 0)
		*p++ = ',';
	p = stpcpy(p, key);
	if (value != NULL) {
		*p++ = '=';
		if (quote)
			*p++ = '"';
		p = stpcpy(p, value);
		if (quote)
			*p++ = '"';
	}
	*p = '\0';
	*text = grown;
	return 0;
}

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

/* vfkit's TrimQuotes on [*start, *start + *len): when the text starts and
 * ends with a double quote, every leading and trailing one goes (""a"" is a);
 * inner quotes stay. */
static void trim_quotes_range(const char **start, size_t *len)
{
	if (*len == 0 || (*start)[0] != '"' || (*start)[*len - 1] != '"')
		return;
	while (*len > 0 && (*start)[0] == '"')
		(*start)++, (*len)--;
	while (*len > 0 && (*start)[*len - 1] == '"')
		(*len)--;
}

/* A value wholly enclosed in double quotes ("...") is unquoted. */
static char *unquote_value(const char *start, size_t len)
{
	trim_quotes_range(&start, &len);
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

/* The one splitter of option strings and plain lists: items end at commas
 * outside double quotes; each non-empty item goes to on_item. -1 with a
 * usage error for an unbalanced quote, or on_item's error. */
static int split_outside_quotes(const char *text, const char *flag,
				int (*on_item)(void *context, const char *start, size_t len, const char *flag,
					       struct vzk_error *err),
				void *context, struct vzk_error *err)
{
	const char *item_start = text;
	bool in_quotes = false;

	for (const char *p = text;; p++) {
		if (*p == '"') {
			in_quotes = !in_quotes;
			continue;
		}
		if (*p != '\0' && (*p != ',' || in_quotes))
			continue;
		if (*p == '\0' && in_quotes)
			return vzk_usage_error(err, "%s: unbalanced double quote in '%s'", flag, text);
		if (p > item_start && on_item(context, item_start, (size_t)(p - item_start), flag, err) != 0)
			return -1;
		if (*p == '\0')
			return 0;
		item_start = p + 1;
	}
}

static int push_option_item(void *context, const char *start, size_t len, const char *flag,
			    struct vzk_error *err)
{
	return push_item(context, start, len, flag, err);
}

struct plain_list {
	char ***items;
	size_t *count;
};

/* A --cloud-init style element: vfkit's TrimQuotes, empty ones dropped. */
static int push_list_item(void *context, const char *start, size_t len, const char *flag,
			  struct vzk_error *err)
{
	struct plain_list *list = context;
	char **grown;
	char *copy;

	(void)flag;
	trim_quotes_range(&start, &len);
	if (len == 0)
		return 0;
	grown = realloc(*list->items, (*list->count + 1) * sizeof(*grown));
	if (grown != NULL)
		*list->items = grown;
	copy = dup_range(start, len);
	if (grown == NULL || copy == NULL) {
		free(copy);
		return vzk_runtime_error(err, "out of memory");
	}
	(*list->items)[(*list->count)++] = copy;
	return 0;
}

int optstr_parse(const char *text, const char *flag, struct optstr *out, struct vzk_error *err)
{
	out->count = 0;
	out->items = NULL;
	if (split_outside_quotes(text, flag, push_option_item, out, err) != 0) {
		optstr_free(out);
		return -1;
	}
	return 0;
}

void optstr_list_free(char **items, size_t count)
{
	for (size_t i = 0; items != NULL && i < count; i++)
		free(items[i]);
	free(items);
}

int optstr_split_list(const char *text, const char *flag, char ***items, size_t *count,
		      struct vzk_error *err)
{
	struct plain_list list = {.items = items, .count = count};

	*items = NULL;
	*count = 0;
	if (split_outside_quotes(text, flag, push_list_item, &list, err) != 0) {
		optstr_list_free(*items, *count);
		*items = NULL;
		*count = 0;
		return -1;
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

/* Whether `raw`, written after "key=", reads back as `value`: no comma outside
 * quotes, balanced quotes, and the wholly-quoted rule applied. */
static bool reads_back(const char *raw, size_t len, const char *value)
{
	bool in_quotes = false;

	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '"')
			in_quotes = !in_quotes;
		else if (raw[i] == ',' && !in_quotes)
			return false;
	}
	if (in_quotes)
		return false;
	trim_quotes_range(&raw, &len);
	return len == strlen(value) && memcmp(raw, value, len) == 0;
}

/* Quoting a value that holds quotes inverts which parts are inside them, so
 * the value is quoted only when that reads back, and written bare when that
 * does; some values (an odd number of quotes) can be written neither way. */
static int choose_quoting(const char *value, bool *quote)
{
	size_t len = strlen(value);
	char *wrapped = malloc(len + 3);
	bool wrapped_ok, bare_ok;
	/* Quote what a reader would misread: commas, quotes, blanks, a second '='. */
	bool prefer_quotes = strpbrk(value, ",\" \t=") != NULL || value[0] == '\0';

	if (wrapped == NULL)
		return -1;
	wrapped[0] = '"';
	memcpy(wrapped + 1, value, len);
	wrapped[len + 1] = '"';
	wrapped[len + 2] = '\0';
	wrapped_ok = reads_back(wrapped, len + 2, value);
	bare_ok = reads_back(value, len, value);
	free(wrapped);
	if (!wrapped_ok && !bare_ok)
		return -1;
	*quote = wrapped_ok && (prefer_quotes || !bare_ok);
	return 0;
}

int optstr_append(char **text, const char *key, const char *value)
{
	size_t old_len = *text != NULL ? strlen(*text) : 0;
	bool quote = false;
	size_t add;
	char *grown;
	char *p;

	if (value != NULL && choose_quoting(value, &quote) != 0)
		return -1;
	add = 1 + strlen(key) + (value != NULL ? 1 + strlen(value) + (quote ? 2 : 0) : 0);
	grown = realloc(*text, old_len + add + 1);
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

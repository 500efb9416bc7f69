#include "flags/keytab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parse_uint64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long value;
	char *end;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

bool text_is_utf8(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p != '\0') {
		unsigned int code;
		int extra;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			extra = 1, code = *p & 0x1f;
		else if (*p >= 0xe0 && *p <= 0xef)
			extra = 2, code = *p & 0x0f;
		else if (*p >= 0xf0 && *p <= 0xf4)
			extra = 3, code = *p & 0x07;
		else
			return false; /* a continuation byte first, or an overlong 0xc0/0xc1 lead */
		p++;
		for (int i = 0; i < extra; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			code = (code << 6) | (*p & 0x3f);
		}
		if ((extra == 2 && code < 0x800) || (extra == 3 && (code < 0x10000 || code > 0x10ffff)) ||
		    (code >= 0xd800 && code <= 0xdfff))
			return false; /* overlong, beyond Unicode, or a UTF-16 surrogate */
	}
	return true;
}

int keytab_find(const struct key_table *table, const char *name)
{
	for (size_t i = 0; i < table->count; i++)
		if (strcmp(table->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *keytab_names(const struct key_table *table, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < table->count && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", table->keys[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

static const char *choices_list(const char *const *choices, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; choices[i] != NULL && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", choices[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

static int set_value(const struct key_spec *key, const char *value, const char *what, void *config,
		     struct vzk_error *err)
{
	char *field = (char *)config + key->offset;
	char list[512];

	switch (key->kind) {
	case KEY_BOOL:
		if (value != NULL)
			return vzk_usage_error(err, "%s: key '%s' is a flag and takes no value (got '%s=%s')",
					       what, key->name, key->name, value);
		*(bool *)field = true;
		return 0;
	case KEY_SELECT:
		if (value != NULL)
			return vzk_usage_error(err, "%s: key '%s' is a flag and takes no value (got '%s=%s')",
					       what, key->name, key->name, value);
		*(int *)field = (int)key->min;
		return 0;
	case KEY_STRING:
	case KEY_PATH: {
		char *copy;
		if (value == NULL)
			return vzk_usage_error(err, "%s: key '%s' needs a value (%s=...)", what, key->name,
					       key->name);
		if (key->kind == KEY_PATH && value[0] == '\0')
			return vzk_usage_error(err, "%s: key '%s' needs a non-empty path", what, key->name);
		if (!text_is_utf8(value))
			return vzk_usage_error(err, "%s: key '%s' is not valid UTF-8", what, key->name);
		copy = strdup(value);
		if (copy == NULL)
			return vzk_runtime_error(err, "out of memory");
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case KEY_UINT: {
		uint64_t max = key->max != 0 ? key->max : UINT64_MAX;
		if (value == NULL || parse_uint64(value, key->min, max, (uint64_t *)field) != 0)
			return vzk_usage_error(err,
					       "%s: key '%s' needs a decimal number from %llu to %llu (got '%s')",
					       what, key->name, (unsigned long long)key->min,
					       (unsigned long long)max, value != NULL ? value : "");
		return 0;
	}
	case KEY_ONOFF:
		if (value != NULL && (strcmp(value, "on") == 0 || strcmp(value, "off") == 0)) {
			*(bool *)field = strcmp(value, "on") == 0;
			return 0;
		}
		return vzk_usage_error(err, "%s: key '%s' must be on or off (got '%s')", what, key->name,
				       value != NULL ? value : "nothing");
	case KEY_ENUM:
		for (int i = 0; value != NULL && key->choices[i] != NULL; i++) {
			if (strcmp(key->choices[i], value) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return vzk_usage_error(err, "%s: key '%s' must be one of %s (got '%s')", what, key->name,
				       choices_list(key->choices, list, sizeof(list)),
				       value != NULL ? value : "nothing");
	}
	return vzk_runtime_error(err, "%s: key '%s' has an unknown kind", what, key->name);
}

int keytab_parse(const struct key_table *table, const struct optstr *opts, size_t first,
		 const char *what, void *config, key_set_mask *given, struct vzk_error *err)
{
	char names[512];

	*given = 0;
	for (size_t i = first; i < opts->count; i++) {
		const struct optstr_item *item = &opts->items[i];
		int index = keytab_find(table, item->key);

		if (index < 0) {
			if (table->count == 0)
				return vzk_usage_error(err, "%s: takes no keys (got '%s')", what, item->key);
			return vzk_usage_error(err, "%s: unknown key '%s' (valid keys: %s)", what, item->key,
					       keytab_names(table, names, sizeof(names)));
		}
		if (*given & (1u << index))
			return vzk_usage_error(err, "%s: key '%s' given twice", what, item->key);
		if (set_value(&table->keys[index], item->value, what, config, err) != 0)
			return -1;
		*given |= 1u << index;
	}
	for (size_t i = 0; i < table->count; i++)
		if (table->keys[i].required && !(*given & (1u << i)))
			return vzk_usage_error(err, "%s: missing required key '%s'", what, table->keys[i].name);
	return 0;
}

void keytab_free_strings(const struct key_table *table, void *config)
{
	if (config == NULL)
		return;
	for (size_t i = 0; i < table->count; i++) {
		const struct key_spec *key = &table->keys[i];
		if (key->kind == KEY_STRING || key->kind == KEY_PATH) {
			char **field = (char **)((char *)config + key->offset);
			free(*field);
			*field = NULL;
		}
	}
}

static const char *kind_placeholder(const struct key_spec *key, char *buf, size_t size)
{
	switch (key->kind) {
	case KEY_BOOL:
	case KEY_SELECT:
		return "";
	case KEY_STRING:
		return "=<text>";
	case KEY_PATH:
		return "=<path>";
	case KEY_UINT:
		return "=<number>";
	case KEY_ONOFF:
		return "=on|off";
	case KEY_ENUM: {
		char list[256];
		snprintf(buf, size, "=%s", choices_list(key->choices, list, sizeof(list)));
		for (char *p = buf; *p != '\0'; p++)
			if (*p == ',')
				*p = '|';
		/* choices_list joins with ", " — squeeze the spaces out */
		char *dst = buf;
		for (char *src = buf; *src != '\0'; src++)
			if (*src != ' ')
				*dst++ = *src;
		*dst = '\0';
		return buf;
	}
	}
	return "";
}

void keytab_print_help(const struct key_table *table, void *out_file)
{
	FILE *out = out_file;
	char buf[256];

	for (size_t i = 0; i < table->count; i++) {
		const struct key_spec *key = &table->keys[i];
		char left[384];
		snprintf(left, sizeof(left), "%s%s", key->name, kind_placeholder(key, buf, sizeof(buf)));
		fprintf(out, "  %-28s %s%s\n", left, key->help, key->required ? " (required)" : "");
	}
}

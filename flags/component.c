#include "flags/component.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flags/optstr.h"

char *component_strdup(const char *text)
{
	return text != NULL ? strdup(text) : NULL;
}

void component_mark_given(const struct component_ops *ops, key_set_mask *given, const char *key)
{
	int index = keytab_find(&ops->keys, key);
	if (index >= 0)
		*given |= 1u << index;
}

const struct component_ops *component_find(const struct component_ops *const *registry,
					   const char *name)
{
	for (size_t i = 0; registry[i] != NULL; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const struct component_ops *component_find_kind(const struct component_ops *const *registry,
						const char *json_kind)
{
	for (size_t i = 0; registry[i] != NULL; i++)
		if (strcmp(registry[i]->json_kind, json_kind) == 0)
			return registry[i];
	return NULL;
}

static const char *registry_names(const struct component_ops *const *registry, char *buf,
				  size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; registry[i] != NULL && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", registry[i]->name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

static int component_alloc(const struct component_ops *ops, struct component *out,
			   struct vzk_error *err)
{
	out->ops = ops;
	out->given = 0;
	out->config = calloc(1, ops->config_size > 0 ? ops->config_size : 1);
	if (out->config == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

int component_parse(const struct component_ops *const *registry, const char *flag, const char *text,
		    struct component *out, bool *help_requested, struct vzk_error *err)
{
	struct optstr opts;
	const struct component_ops *ops;
	char what[128];
	char names[512];
	int status = -1;

	memset(out, 0, sizeof(*out));
	*help_requested = false;
	if (optstr_parse(text, flag, &opts, err) != 0)
		return -1;
	if (opts.count == 0) {
		vzk_usage_error(err, "%s: needs a type (one of %s)", flag,
				registry_names(registry, names, sizeof(names)));
		goto out;
	}
	if (opts.items[0].value != NULL || (ops = component_find(registry, opts.items[0].key)) == NULL) {
		if (strcmp(opts.items[0].key, "help") == 0 && opts.items[0].value == NULL) {
			*help_requested = true;
			status = 0;
			goto out;
		}
		vzk_usage_error(err, "%s: unknown type '%s' (known: %s)", flag,
				opts.items[0].value != NULL ? text : opts.items[0].key,
				registry_names(registry, names, sizeof(names)));
		goto out;
	}
	for (size_t i = 1; i < opts.count; i++) {
		if (strcmp(opts.items[i].key, "help") == 0 && opts.items[i].value == NULL) {
			out->ops = ops;
			*help_requested = true;
			status = 0;
			goto out;
		}
	}
	snprintf(what, sizeof(what), "%s %s", flag, ops->name);
	if (component_alloc(ops, out, err) != 0)
		goto out;
	if (keytab_parse(&ops->keys, &opts, 1, what, out->config, &out->given, err) != 0)
		goto out;
	if (ops->check != NULL && ops->check(out->config, &out->given, what, err) != 0)
		goto out;
	status = 0;
out:
	optstr_free(&opts);
	if (status != 0)
		component_free(out);
	return status;
}

static int json_field_in(const struct key_spec *key, json_t *value, const char *what, void *config,
			 bool *is_set, struct vzk_error *err)
{
	char *field = (char *)config + key->offset;

	*is_set = false;
	if (json_is_null(value))
		return 0;
	switch (key->kind) {
	case KEY_BOOL:
	case KEY_ONOFF:
		if (!json_is_boolean(value))
			return vzk_usage_error(err, "%s: field '%s' must be true or false", what, key->json_name);
		*(bool *)field = json_is_true(value);
		*is_set = key->kind == KEY_ONOFF || json_is_true(value);
		return 0;
	case KEY_SELECT:
		break; /* never a JSON field: json_name is NULL */
	case KEY_STRING:
	case KEY_PATH:
		if (!json_is_string(value))
			return vzk_usage_error(err, "%s: field '%s' must be a string", what, key->json_name);
		if (json_string_length(value) == 0)
			return 0; /* vfkit writes "" for unset strings */
		free(*(char **)field);
		*(char **)field = strdup(json_string_value(value));
		if (*(char **)field == NULL)
			return vzk_runtime_error(err, "out of memory");
		*is_set = true;
		return 0;
	case KEY_UINT: {
		uint64_t max = key->max != 0 ? key->max : UINT64_MAX;
		json_int_t number;
		if (!json_is_integer(value) || (number = json_integer_value(value)) < 0 ||
		    (uint64_t)number < key->min || (uint64_t)number > max)
			return vzk_usage_error(err, "%s: field '%s' must be an integer from %llu to %llu", what,
					       key->json_name, (unsigned long long)key->min,
					       (unsigned long long)max);
		*(uint64_t *)field = (uint64_t)number;
		*is_set = true;
		return 0;
	}
	case KEY_ENUM:
		for (int i = 0; json_is_string(value) && key->choices[i] != NULL; i++) {
			if (strcmp(key->choices[i], json_string_value(value)) == 0) {
				*(int *)field = i;
				*is_set = true;
				return 0;
			}
		}
		return vzk_usage_error(err, "%s: field '%s' has an unknown value", what, key->json_name);
	}
	return vzk_runtime_error(err, "%s: field '%s' has an unknown kind", what, key->json_name);
}

/* Go's encoding/json matches field names without regard to case; so do we,
 * so that JSON written by any vfkit version loads. */
static int find_json_key(const struct component_ops *ops, const char *field)
{
	for (size_t i = 0; i < ops->keys.count; i++)
		if (ops->keys.keys[i].json_name != NULL && strcasecmp(ops->keys.keys[i].json_name, field) == 0)
			return (int)i;
	return -1;
}

int component_from_json(const struct component_ops *const *registry, const char *what,
			json_t *object, struct component *out, struct vzk_error *err)
{
	const struct component_ops *ops;
	json_t *kind;
	const char *field;
	json_t *value;
	char where[160];

	memset(out, 0, sizeof(*out));
	if (!json_is_object(object))
		return vzk_usage_error(err, "%s: must be a JSON object", what);
	kind = json_object_get(object, "kind");
	if (!json_is_string(kind))
		return vzk_usage_error(err, "%s: missing \"kind\"", what);
	ops = component_find_kind(registry, json_string_value(kind));
	if (ops == NULL)
		return vzk_usage_error(err, "%s: unknown kind '%s'", what, json_string_value(kind));
	snprintf(where, sizeof(where), "%s (%s)", what, ops->json_kind);
	if (component_alloc(ops, out, err) != 0)
		return -1;
	json_object_foreach(object, field, value) {
		int index;
		bool is_set;

		if (strcmp(field, "kind") == 0 || strcasecmp(field, "devName") == 0)
			continue;
		index = find_json_key(ops, field);
		if (index >= 0) {
			if (json_field_in(&ops->keys.keys[index], value, where, out->config, &is_set, err) != 0)
				goto fail;
			if (is_set)
				out->given |= 1u << index;
			continue;
		}
		if (ops->json_in != NULL) {
			int consumed = ops->json_in(out->config, &out->given, field, value, where, err);
			if (consumed < 0)
				goto fail;
			if (consumed > 0)
				continue;
		}
		vzk_usage_error(err, "%s: unknown field '%s'", where, field);
		goto fail;
	}
	if (ops->json_absent != NULL)
		ops->json_absent(out->config, &out->given);
	for (size_t i = 0; i < ops->keys.count; i++) {
		if (ops->keys.keys[i].required && !(out->given & (1u << i))) {
			vzk_usage_error(err, "%s: missing field '%s'", where,
					ops->keys.keys[i].json_name ? ops->keys.keys[i].json_name
								    : ops->keys.keys[i].name);
			goto fail;
		}
	}
	if (ops->check != NULL && ops->check(out->config, &out->given, where, err) != 0)
		goto fail;
	return 0;
fail:
	component_free(out);
	return -1;
}

json_t *component_to_json(const struct component *component)
{
	const struct component_ops *ops = component->ops;
	json_t *object = json_object();

	if (object == NULL)
		return NULL;
	json_object_set_new(object, "kind", json_string(ops->json_kind));
	if (ops->dev_name != NULL)
		json_object_set_new(object, "devName", json_string(ops->dev_name));
	for (size_t i = 0; i < ops->keys.count; i++) {
		const struct key_spec *key = &ops->keys.keys[i];
		const char *field = (const char *)component->config + key->offset;
		bool given = (component->given & (1u << i)) != 0;

		if (key->json_name == NULL)
			continue;
		switch (key->kind) {
		case KEY_BOOL:
			json_object_set_new(object, key->json_name, json_boolean(*(const bool *)field));
			break;
		case KEY_ONOFF:
			if (given)
				json_object_set_new(object, key->json_name, json_boolean(*(const bool *)field));
			break;
		case KEY_SELECT:
			break;
		case KEY_STRING:
		case KEY_PATH:
			/* "" is how vfkit's JSON says unset (json_field_in reads it so):
			 * writing an empty value would not read back as written. */
			if (*(char *const *)field != NULL && (*(char *const *)field)[0] != '\0')
				json_object_set_new(object, key->json_name, json_string(*(char *const *)field));
			break;
		case KEY_UINT:
			if (given)
				json_object_set_new(object, key->json_name,
						    json_integer((json_int_t) * (const uint64_t *)field));
			break;
		case KEY_ENUM:
			if (given)
				json_object_set_new(object, key->json_name,
						    json_string(key->choices[*(const int *)field]));
			break;
		}
	}
	if (ops->json_out != NULL && ops->json_out(component->config, component->given, object) != 0) {
		json_decref(object);
		return NULL;
	}
	return object;
}

char *component_to_option_string(const struct component *component)
{
	const struct component_ops *ops = component->ops;
	char *text = NULL;

	if (optstr_append(&text, ops->name, NULL) != 0)
		return NULL;
	for (size_t i = 0; i < ops->keys.count; i++) {
		const struct key_spec *key = &ops->keys.keys[i];
		const char *field = (const char *)component->config + key->offset;
		char number[32];
		int status = 0;

		if (!(component->given & (1u << i)))
			continue;
		switch (key->kind) {
		case KEY_BOOL:
			if (*(const bool *)field)
				status = optstr_append(&text, key->name, NULL);
			break;
		case KEY_SELECT:
			if (*(const int *)field == (int)key->min)
				status = optstr_append(&text, key->name, NULL);
			break;
		case KEY_ONOFF:
			status = optstr_append(&text, key->name, *(const bool *)field ? "on" : "off");
			break;
		case KEY_STRING:
		case KEY_PATH:
			if (*(char *const *)field != NULL)
				status = optstr_append(&text, key->name, *(char *const *)field);
			break;
		case KEY_UINT:
			snprintf(number, sizeof(number), "%llu",
				 (unsigned long long)*(const uint64_t *)field);
			status = optstr_append(&text, key->name, number);
			break;
		case KEY_ENUM:
			status = optstr_append(&text, key->name, key->choices[*(const int *)field]);
			break;
		}
		if (status != 0) {
			free(text);
			return NULL;
		}
	}
	return text;
}

int component_emit(const struct component *component, struct vz_vm_configuration *vz,
		   struct vzk_error *err)
{
	return component->ops->emit(component->config, component->given, vz, err);
}

void component_free(struct component *component)
{
	if (component == NULL || component->config == NULL)
		return;
	keytab_free_strings(&component->ops->keys, component->config);
	free(component->config);
	component->config = NULL;
}

void component_print_list(const struct component_ops *const *registry, FILE *out)
{
	for (size_t i = 0; registry[i] != NULL; i++)
		fprintf(out, "  %-18s %s\n", registry[i]->name, registry[i]->summary);
}

void component_print_keys(const struct component_ops *ops, FILE *out)
{
	fprintf(out, "%s: %s\n", ops->name, ops->summary);
	if (ops->keys.count == 0)
		fprintf(out, "  (no keys)\n");
	else
		keytab_print_help(&ops->keys, out);
}

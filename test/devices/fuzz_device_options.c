/* libFuzzer target for device and bootloader option strings: component_parse
 * over device_registry and bootloader_registry with arbitrary text.
 * Properties checked on every input:
 * - a refusal is a usage error naming the flag;
 * - an accepted component emits without error, and its JSON loads back
 *   (component_from_json) to the same JSON;
 * - its printed option string parses back to the same JSON; there is none
 *   only when a value holds an odd number of double quotes (what vfkit's
 *   TrimQuotes leaves of ""a"b": no option string can say it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/registry.h"
#include "devices/registry.h"
#include "vz/vz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition, const char *what, const char *text, const char *detail)
{
	if (!condition) {
		fprintf(stderr, "fuzz_device_options: %s (input '%s'): %s\n", what, text, detail ? detail : "");
		abort();
	}
}

/* Whether a string member holds an odd number of double quotes. */
static bool has_odd_quotes(json_t *object)
{
	const char *key;
	json_t *value;

	json_object_foreach(object, key, value) {
		size_t quotes = 0;
		for (const char *p = json_string_value(value); p != NULL && *p != '\0'; p++)
			quotes += *p == '"';
		if (quotes % 2 == 1)
			return true;
	}
	return false;
}

static void check_one(const struct component_ops *const *registry, const char *flag, const char *text)
{
	struct component component, loaded, reparsed;
	struct vzk_error err = {0};
	struct vz_vm_configuration vz;
	bool help = false;
	json_t *json, *json_loaded, *json_reparsed;
	char *option_string;

	if (component_parse(registry, flag, text, &component, &help, &err) != 0) {
		require(err.kind == VZK_ERR_USAGE, "a refusal is not a usage error", text, err.message);
		require(strncmp(err.message, flag, strlen(flag)) == 0, "a refusal does not name the flag", text, err.message);
		require(component.config == NULL, "a refusal left a config", text, NULL);
		return;
	}
	if (help)
		return;

	memset(&vz, 0, sizeof(vz));
	require(component_emit(&component, &vz, &err) == 0, "an accepted component does not emit", text, err.message);
	vz_vm_configuration_free(&vz);

	json = component_to_json(&component);
	require(json != NULL, "no JSON", text, NULL);
	require(component_from_json(registry, "fuzz", json, &loaded, &err) == 0, "its JSON does not load", text, err.message);
	json_loaded = component_to_json(&loaded);
	require(json_equal(json, json_loaded), "JSON -> component -> JSON differs", text, NULL);

	option_string = component_to_option_string(&component);
	if (option_string == NULL) {
		require(has_odd_quotes(json), "no option string for an accepted component", text, NULL);
		json_decref(json);
		json_decref(json_loaded);
		component_free(&component);
		component_free(&loaded);
		return;
	}
	require(component_parse(registry, flag, option_string, &reparsed, &help, &err) == 0 && !help,
		"the printed option string does not parse", text, err.message);
	json_reparsed = component_to_json(&reparsed);
	require(json_equal(json, json_reparsed), "option string -> component -> JSON differs", text, option_string);

	json_decref(json);
	json_decref(json_loaded);
	json_decref(json_reparsed);
	free(option_string);
	component_free(&component);
	component_free(&loaded);
	component_free(&reparsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_one(device_registry, "--device", text);
	check_one(bootloader_registry, "--bootloader", text);
	free(text);
	return 0;
}

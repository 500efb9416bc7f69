/* libFuzzer target for the option-string tokenizer (flags/optstr.c).
 * Properties checked on every input:
 * - a refusal is a usage error that names the flag, and leaves no items;
 * - every item has a non-empty key;
 * - printing the items back with optstr_append and parsing that gives the
 *   same items (for keys a key table could hold: no quote, comma or '='),
 *   except that a value with an odd number of quotes (what TrimQuotes leaves
 *   of ""a"b", as in vfkit) has no option string and optstr_append says so;
 * - optstr_split_list (--cloud-init's lists) refuses exactly the texts with an
 *   odd number of double quotes; its elements are non-empty, no more than the
 *   commas plus one, and none starts and ends with a quote (TrimQuotes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/optstr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition, const char *what, const char *text)
{
	if (!condition) {
		fprintf(stderr, "fuzz_optstr: %s (input '%s')\n", what, text);
		abort();
	}
}

static int same_value(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_split_list(const char *text)
{
	char **items = NULL;
	size_t count = 0, quotes = 0, commas = 0;
	struct vzk_error err = {0};
	int status = optstr_split_list(text, "--fuzz", &items, &count, &err);

	for (const char *p = text; *p != '\0'; p++) {
		quotes += *p == '"';
		commas += *p == ',';
	}
	require((status != 0) == (quotes % 2 == 1), "split_list refuses other than an odd quote count", text);
	if (status != 0) {
		require(err.kind == VZK_ERR_USAGE && strncmp(err.message, "--fuzz: ", 8) == 0,
			"a split_list refusal is not a usage error naming the flag", text);
		require(items == NULL && count == 0, "a split_list refusal left items", text);
		return;
	}
	require(count <= commas + 1, "more elements than commas allow", text);
	for (size_t i = 0; i < count; i++) {
		size_t len = strlen(items[i]);
		require(len > 0, "an empty element", text);
		require(!(items[i][0] == '"' && items[i][len - 1] == '"'), "an element kept its outer quotes", text);
	}
	optstr_list_free(items, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct optstr opts, again;
	struct vzk_error err = {0};
	char *printed = NULL;
	int printable_keys = 1;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_split_list(text);
	if (optstr_parse(text, "--fuzz", &opts, &err) != 0) {
		require(err.kind == VZK_ERR_USAGE, "a refusal is not a usage error", text);
		require(strncmp(err.message, "--fuzz: ", 8) == 0, "a refusal does not name the flag", text);
		require(opts.count == 0 && opts.items == NULL, "a refusal left items", text);
		free(text);
		return 0;
	}
	for (size_t i = 0; i < opts.count; i++) {
		size_t quotes = 0;
		require(opts.items[i].key[0] != '\0', "an empty key was accepted", text);
		if (strpbrk(opts.items[i].key, "\",=") != NULL)
			printable_keys = 0;
		for (const char *p = opts.items[i].value; p != NULL && *p != '\0'; p++)
			quotes += *p == '"';
		if (quotes % 2 == 1) {
			char *alone = NULL;
			require(optstr_append(&alone, "k", opts.items[i].value) == -1,
				"optstr_append wrote a value with an odd number of quotes", text);
			free(alone);
			printable_keys = 0;
		}
	}
	if (printable_keys) {
		for (size_t i = 0; i < opts.count; i++)
			require(optstr_append(&printed, opts.items[i].key, opts.items[i].value) == 0,
				"optstr_append refused a value the tokenizer produced", text);
		if (printed == NULL)
			printed = strdup("");
		require(optstr_parse(printed, "--fuzz", &again, &err) == 0, "the printed items do not parse", text);
		require(again.count == opts.count, "the printed items parse to a different count", text);
		for (size_t i = 0; i < opts.count; i++)
			require(strcmp(again.items[i].key, opts.items[i].key) == 0 &&
					same_value(again.items[i].value, opts.items[i].value),
				"the printed items parse differently", text);
		optstr_free(&again);
		free(printed);
	}
	optstr_free(&opts);
	free(text);
	return 0;
}

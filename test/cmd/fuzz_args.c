/* libFuzzer target for the command-line reader (cmd/args.c: pflag's rules,
 * then every flag's value). The input is argv, words separated by NUL bytes;
 * --config (which reads a file) is left out. Properties checked on every input:
 * - args_parse returns 0 or -1; a refusal is one line (no newline) naming what
 *   was wrong, of the usage kind unless memory ran out;
 * - on success the warnings are NULL or whole "vzkit: warning: " lines;
 * - the same argv parses to the same VM JSON a second time (no state kept
 *   between parses). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/output.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_WORDS 64

static void require(int condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "fuzz_args: %s\n", what);
		abort();
	}
}

static int parse_once(int argc, char **argv, char **json, struct vzk_error *err)
{
	struct vm_description vm;
	struct run_options options;
	int status;

	vm_description_init(&vm);
	status = args_parse(argc, argv, &vm, &options, err);
	*json = NULL;
	if (status == 0) {
		const char *w = options.warnings;
		while (w != NULL && *w != '\0') {
			const char *end = strchr(w, '\n');
			require(strncmp(w, "vzkit: warning: ", 16) == 0, "a warning line without its prefix");
			require(end != NULL, "a warning without its newline");
			w = end + 1;
		}
		*json = output_vm_json(&vm);
	}
	vm_description_free(&vm);
	run_options_free(&options);
	return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	char *argv[FUZZ_MAX_WORDS + 2];
	int argc = 0;
	struct vzk_error err = {0}, again_err = {0};
	char *json = NULL, *again = NULL;
	int status;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = "vzkit";
	for (size_t start = 0; start <= size && argc <= FUZZ_MAX_WORDS; ) {
		char *word = copy + start;
		size_t len = strnlen(word, size - start);
		if (strcmp(word, "--config") == 0 || strncmp(word, "--config=", 9) == 0) {
			free(copy);
			return 0;
		}
		argv[argc++] = word;
		start += len + 1;
	}
	argv[argc] = NULL;
	status = parse_once(argc, argv, &json, &err);
	require(status == 0 || status == -1, "a status other than 0 and -1");
	if (status != 0) {
		require(err.message[0] != '\0', "a refusal without a message");
		require(strchr(err.message, '\n') == NULL, "a refusal over more than one line");
		require(err.kind == VZK_ERR_USAGE || strstr(err.message, "out of memory") != NULL,
			"a refusal of bad input that is not a usage error");
	}
	require(parse_once(argc, argv, &again, &again_err) == status, "a second parse ends differently");
	require((json == NULL) == (again == NULL) && (json == NULL || strcmp(json, again) == 0),
		"a second parse gives another VM");
	free(json);
	free(again);
	free(copy);
	return 0;
}

/* libFuzzer target for --config: vm_description_from_json on arbitrary bytes
 * (json_loadb). Properties checked on every input that loads:
 * - description -> JSON -> description -> JSON is stable;
 * - validation (vm_description_to_vz) never fails with a runtime error;
 * - when the equivalent command line can be written, parsing it gives the
 *   same JSON (with --gui applied on both sides, as cmd/main.c does). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/output.h"
#include "vz/vz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition, const char *what, const char *detail)
{
	if (!condition) {
		fprintf(stderr, "fuzz_config_json: %s: %s\n", what, detail ? detail : "");
		abort();
	}
}

/* Whether the command line can carry this VM at all: --ignition takes one
 * path without commas and --cloud-init a comma-separated list of files with
 * fixed names, so such JSON values have no command-line form. */
static int argv_can_carry(const struct vm_description *vm)
{
	return vm->cloud_init_count == 0 && (vm->ignition_path == NULL || strchr(vm->ignition_path, ',') == NULL);
}

static void check_argv_round_trip(struct vm_description *vm, const char *json_text)
{
	char **argv = NULL, **full;
	size_t argc = 0;
	struct vzk_error err = {0};
	struct vm_description again;
	struct run_options options;
	char *again_text;

	if (vm_description_to_argv(vm, &argv, &argc, &err) != 0) {
		require(err.kind == VZK_ERR_USAGE, "to_argv failed with a runtime error", err.message);
		return;
	}
	full = calloc(argc + 2, sizeof(char *));
	require(full != NULL, "out of memory", NULL);
	full[0] = "vzkit";
	for (size_t i = 0; i < argc; i++)
		full[i + 1] = argv[i];
	vm_description_init(&again);
	if (args_parse((int)argc + 1, full, &again, &options, &err) != 0) {
		fprintf(stderr, "JSON: %s\n", json_text);
		for (size_t i = 0; i < argc; i++)
			fprintf(stderr, "  argv[%zu] = %s\n", i, argv[i]);
		require(0, "the written command line does not parse", err.message);
	}
	require(vm_description_apply_gui(&again, NULL, &err) == 0, "--gui failed on the command line", err.message);
	again_text = output_vm_json(&again);
	if (strcmp(again_text, json_text) != 0) {
		fprintf(stderr, "JSON:        %s\nvia argv:    %s\n", json_text, again_text);
		require(0, "JSON -> command line -> JSON differs", NULL);
	}
	free(again_text);
	free(full);
	vm_argv_free(argv);
	vm_description_free(&again);
	run_options_free(&options);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t json_err;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &json_err);
	struct vm_description vm, reloaded;
	struct vz_vm_configuration vz;
	struct vzk_error err = {0};
	char *text, *text_again;
	json_t *written;

	if (root == NULL)
		return 0;
	vm_description_init(&vm);
	if (vm_description_from_json(root, &vm, &err) != 0) {
		require(err.kind == VZK_ERR_USAGE, "a refusal is not a usage error", err.message);
		require(strncmp(err.message, "--config: ", 10) == 0, "a refusal does not say --config", err.message);
		goto out;
	}
	if (vm_description_apply_gui(&vm, NULL, &err) != 0)
		require(0, "--gui failed", err.message);
	text = output_vm_json(&vm);
	require(text != NULL, "no JSON for a loaded VM", NULL);

	written = json_loads(text, JSON_REJECT_DUPLICATES, &json_err);
	require(written != NULL, "the written JSON does not parse", json_err.text);
	vm_description_init(&reloaded);
	require(vm_description_from_json(written, &reloaded, &err) == 0, "the written JSON does not load", err.message);
	text_again = output_vm_json(&reloaded);
	if (strcmp(text, text_again) != 0) {
		fprintf(stderr, "first:  %s\nsecond: %s\n", text, text_again);
		require(0, "JSON -> description -> JSON is not stable", NULL);
	}
	free(text_again);
	vm_description_free(&reloaded);
	json_decref(written);

	if (vm_description_to_vz(&vm, &vz, &err) == 0)
		vz_vm_configuration_free(&vz);
	else
		require(err.kind == VZK_ERR_USAGE, "validation failed with a runtime error", err.message);

	if (argv_can_carry(&vm))
		check_argv_round_trip(&vm, text);
	free(text);
out:
	vm_description_free(&vm);
	json_decref(root);
	return 0;
}

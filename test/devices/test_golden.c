/* Golden files: each test/devices/golden/NAME.args (one argument per line) goes
 * through what cmd/main.c does before --dry-run — args_parse, --gui,
 * vm_description_to_vz (validation) — and the --dry-run=json and
 * --dry-run=cmdline outputs must equal NAME.json and NAME.cmdline byte for
 * byte. UPDATE_GOLDEN=1 rewrites the expected files instead. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/output.h"
#include "test/golden.h"
#include "test/testlib.h"
#include "vz/vz.h"

#define MAX_ARGS 128

/* Runs one case: fills *json and *cmdline (malloc'd) or *error. */
static int run_case(const char *args_text, char **json, char **cmdline, char *error, size_t error_size)
{
	char *copy = strdup(args_text);
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	struct vm_description vm;
	struct run_options options;
	struct vz_vm_configuration vz;
	struct vzk_error err = {0};
	size_t size;
	FILE *out;
	int status = -1;

	argv[argc++] = "vzkit";
	for (char *line = copy, *next; line != NULL && *line != '\0' && argc <= MAX_ARGS; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		argv[argc++] = line;
	}
	argv[argc] = NULL;
	vm_description_init(&vm);
	*json = *cmdline = NULL;
	if (args_parse(argc, argv, &vm, &options, &err) != 0 || vm_description_apply_gui(&vm, NULL, &err) != 0 ||
	    vm_description_to_vz(&vm, &vz, &err) != 0) {
		snprintf(error, error_size, "%s", err.message);
		goto out;
	}
	vz_vm_configuration_free(&vz);
	out = open_memstream(json, &size);
	status = output_dry_run(&vm, DRY_RUN_JSON, out, &err);
	fclose(out);
	if (status == 0) {
		out = open_memstream(cmdline, &size);
		status = output_dry_run(&vm, DRY_RUN_CMDLINE, out, &err);
		fclose(out);
	}
	if (status != 0)
		snprintf(error, error_size, "%s", err.message);
out:
	vm_description_free(&vm);
	run_options_free(&options);
	free(copy);
	return status;
}

static void compare_golden(const char *name, const char *path, const char *got)
{
	char why[2048];

	CHECK_NAMED(name, golden_matches(path, got, true, why, sizeof(why)), "%s", why);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	const char *dir = getenv("GOLDEN_DIR") != NULL ? getenv("GOLDEN_DIR") : "test/devices/golden";
	DIR *listing = opendir(dir);
	struct dirent *entry;
	char *names[256];
	size_t count = 0;

	TEST_CASE("golden files");
	if (listing == NULL) {
		CHECK_NAMED("golden files", false, "cannot open %s (run from the repository root)", dir);
		TEST_EXIT();
	}
	while ((entry = readdir(listing)) != NULL && count < 256) {
		size_t len = strlen(entry->d_name);
		if (len > 5 && strcmp(entry->d_name + len - 5, ".args") == 0)
			names[count++] = strndup(entry->d_name, len - 5);
	}
	closedir(listing);
	qsort(names, count, sizeof(names[0]), compare_names);
	CHECK_NAMED("golden: at least one case", count > 0, "no .args files in %s", dir);

	for (size_t i = 0; i < count; i++) {
		char path[512], name[256], error[1024] = "";
		char *args_text, *json = NULL, *cmdline = NULL;

		snprintf(path, sizeof(path), "%s/%s.args", dir, names[i]);
		args_text = golden_read_file(path);
		snprintf(name, sizeof(name), "golden %s: valid", names[i]);
		if (args_text == NULL || run_case(args_text, &json, &cmdline, error, sizeof(error)) != 0) {
			CHECK_NAMED(name, false, "%s", args_text == NULL ? "cannot read the .args file" : error);
		} else {
			json_error_t json_err;
			json_t *parsed = json_loads(json, 0, &json_err);
			CHECK_NAMED(name, parsed != NULL, "the output is not JSON: %s", json_err.text);
			json_decref(parsed);
			snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
			snprintf(name, sizeof(name), "golden %s: --dry-run=json", names[i]);
			compare_golden(name, path, json);
			snprintf(path, sizeof(path), "%s/%s.cmdline", dir, names[i]);
			snprintf(name, sizeof(name), "golden %s: --dry-run=cmdline", names[i]);
			compare_golden(name, path, cmdline);
		}
		free(json);
		free(cmdline);
		free(args_text);
		free(names[i]);
	}
	TEST_EXIT();
}

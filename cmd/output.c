#include "cmd/output.h"

#include "cmd/log/log.h"
#include "flags/shell.h"

#include <stdlib.h>
#include <string.h>

char *output_vm_json(const struct vm_description *vm)
{
	json_t *root = vm_description_to_json(vm);
	char *text;

	if (root == NULL)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

void output_shell_quote(const char *arg, FILE *out)
{
	shell_quote(arg, out);
}

int output_dry_run(const struct vm_description *vm, enum dry_run_mode mode, FILE *out,
		   struct vzk_error *err)
{
	if (mode == DRY_RUN_JSON) {
		char *text = output_vm_json(vm);
		if (text == NULL)
			return vzk_runtime_error(err, "cannot format the VM as JSON");
		fprintf(out, "%s\n", text);
		free(text);
		return 0;
	}
	char **argv;
	size_t argc;
	if (vm_description_to_argv(vm, &argv, &argc, err) != 0)
		return -1;
	fputs("vzkit", out);
	for (size_t i = 0; i < argc; i++) {
		fputc(' ', out);
		output_shell_quote(argv[i], out);
	}
	fputc('\n', out);
	vm_argv_free(argv);
	return 0;
}

int output_engine_plan(const struct vz_engine_ops *engine, const struct vz_vm_configuration *vz,
		       const struct run_options *options, FILE *out, struct vzk_error *err)
{
	struct engine_options engine_options = {
		.accel = options->accel,
		.log_level = options->log_level,
		.warn = log_engine_warning,
		.log = log_engine_line,
	};
	struct engine_vm *vm;
	int status;

	if (engine->create(vz, &engine_options, &vm, err) != 0)
		return -1;
	status = engine->print_plan(vm, out, err);
	engine->destroy(vm);
	return status;
}

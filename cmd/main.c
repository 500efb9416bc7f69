/* vzkit: parse the flags, build and validate the VM, hand it to an engine. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/registry.h"
#include "cmd/args.h"
#include "cmd/engine_select.h"
#include "cmd/lifecycle.h"
#include "cmd/log/log.h"
#include "cmd/output.h"
#include "cmd/services/fetch.h"
#include "devices/registry.h"
#include "cmd/config/vm.h"

#ifndef VZKIT_VERSION
#define VZKIT_VERSION "0.1.0"
#endif
/* The vfkit release whose command line, JSON and REST API vzkit implements
 * (doc/vfkit-differences.md): what `vfkit --version` says when vzkit runs
 * under the name vfkit. */
#define VFKIT_CONTRACT_VERSION "0.6.4"
/* Overrides that number for clients pinned to another vfkit release (crc
 * compares the version it reads with the one it ships). */
#define VFKIT_VERSION_ENV "VZKIT_VFKIT_VERSION"

static void flush_warnings(FILE *warnings, char **text)
{
	if (warnings == NULL)
		return;
	fclose(warnings);
	log_write_lines(*text);
	free(*text);
	*text = NULL;
}

/* Whether argv[0]'s base name is "vfkit": vzkit standing in for vfkit. */
static bool invoked_as_vfkit(const char *argv0)
{
	const char *slash = argv0 != NULL ? strrchr(argv0, '/') : NULL;

	return argv0 != NULL && strcmp(slash != NULL ? slash + 1 : argv0, "vfkit") == 0;
}

/* vfkit's (cobra's) "vfkit version: vX.Y.Z"; crc splits it on ':'. A
 * VZKIT_VFKIT_VERSION that could not be read back that way is ignored. */
static void print_vfkit_version(void)
{
	const char *pinned = getenv(VFKIT_VERSION_ENV);
	bool usable = pinned != NULL && pinned[0] != '\0' && strcmp(pinned, "v") != 0;

	for (const char *p = pinned; usable && *p != '\0'; p++)
		usable = *p > ' ' && *p < 127 && *p != ':';
	if (pinned != NULL && !usable)
		log_warning("ignoring %s='%s': want a version like 0.6.1", VFKIT_VERSION_ENV, pinned);
	if (usable && pinned[0] == 'v')
		pinned++;
	printf("vfkit version: v%s\n", usable ? pinned : VFKIT_CONTRACT_VERSION);
}

static int print_requested_help(const struct run_options *options, const char *argv0)
{
	if (options->show_help) {
		args_print_help(stdout);
	} else if (options->show_version) {
		if (invoked_as_vfkit(argv0))
			print_vfkit_version();
		else
			printf("vzkit version %s (vfkit-compatible command line, vfkit v%s)\n", VZKIT_VERSION,
			       VFKIT_CONTRACT_VERSION);
	} else if (options->list_devices) {
		printf("Device types (--device TYPE,help lists a type's keys):\n");
		component_print_list(device_registry, stdout);
	} else if (options->list_bootloaders) {
		printf("Bootloaders (--bootloader TYPE,help lists a type's keys):\n");
		component_print_list(bootloader_registry, stdout);
	} else if (options->help_component != NULL) {
		component_print_keys(options->help_component, stdout);
	} else {
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct vm_description vm;
	struct run_options options;
	struct vz_vm_configuration vz;
	struct vzk_error err = {0};
	const struct vz_engine_ops *engine;
	FILE *warnings = NULL;
	char *warning_text = NULL;
	size_t warning_size = 0;
	int status;
	sigset_t stop_signals, previous_mask;

	/* A stop signal from the first moment on waits for the lifecycle's
	 * signal thread (it then abandons the start: exit status 0) instead of
	 * killing vzkit halfway through making things. Blocked until exit, so
	 * that one arriving during the final cleanup is not fatal either. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, &previous_mask);
	vm_description_init(&vm);
	if (args_parse(argc, argv, &vm, &options, &err) != 0) {
		status = log_failure(&err);
		goto out;
	}
	log_set_level(options.log_level);
	if (print_requested_help(&options, argv[0])) {
		status = 0;
		goto out;
	}
	if (options.fetch.url != NULL) {
		/* a download has nothing to stop gracefully: signals act at once */
		sigprocmask(SIG_SETMASK, &previous_mask, NULL);
		status = fetch_command(&options.fetch, options.log_level == LOG_LEVEL_ERROR ? NULL : stderr, stdout,
				       &err) == 0 ? 0 : log_failure(&err);
		goto out;
	}
	/* The warnings (ignored words, --gui's devices) wait until the input is
	 * known to be good: bad input gets one line. */
	warnings = open_memstream(&warning_text, &warning_size);
	if (warnings != NULL && options.warnings != NULL)
		fputs(options.warnings, warnings);
	if (vm_description_apply_gui(&vm, warnings, &err) != 0 || vm_description_to_vz(&vm, &vz, &err) != 0) {
		status = log_failure(&err);
		goto out;
	}
	if (options.dry_run == DRY_RUN_JSON || options.dry_run == DRY_RUN_CMDLINE) {
		flush_warnings(warnings, &warning_text);
		warnings = NULL;
		status = output_dry_run(&vm, options.dry_run, stdout, &err) == 0 ? 0 : log_failure(&err);
		vz_vm_configuration_free(&vz);
		goto out;
	}
	engine = engine_select(&vz, &err);
	if (engine == NULL || vz_check_host_paths(&vz, &err) != 0) {
		status = log_failure(&err);
		vz_vm_configuration_free(&vz);
		goto out;
	}
	if (options.dry_run == DRY_RUN_PLAN) {
		flush_warnings(warnings, &warning_text);
		warnings = NULL;
		status = output_engine_plan(engine, &vz, &options, stdout, &err) == 0 ? 0 : log_failure(&err);
		vz_vm_configuration_free(&vz);
		goto out;
	}
	fclose(warnings);
	warnings = NULL;
	status = lifecycle_run(engine, &vm, &vz, &options, warning_text, &err) == 0 ? 0 : log_failure(&err);
	vz_vm_configuration_free(&vz);
out:
	if (warnings != NULL)
		fclose(warnings);
	free(warning_text);
	vm_description_free(&vm);
	run_options_free(&options);
	return status;
}

/* vzkit's top-level flags: one declarative table (flag, value, help) that drives
 * the parser (pflag's rules, as vfkit reads its flags), --help and a test
 * against the man page. */
#ifndef VZKIT_CMD_ARGS_H
#define VZKIT_CMD_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include "cmd/config/vm.h"
#include "cmd/services/fetch_parse.h"
#include "flags/error.h"
#include "flags/uri.h"
#include "vz/engine.h"

/* DRY_RUN_PLAN prints the engine's plan: QEMU's command lines on Linux
 * (--dry-run=qemu), the framework message sequence on macOS (--dry-run=plan). */
enum dry_run_mode { DRY_RUN_NONE = 0, DRY_RUN_JSON, DRY_RUN_CMDLINE, DRY_RUN_PLAN };

struct run_options {
	struct rest_uri rest_uri;
	enum log_level log_level;
	char *pidfile;
	enum engine_accel accel;
	enum dry_run_mode dry_run;
	bool show_help;
	bool show_version;
	/* `--device help`, `--device TYPE,help`, `--bootloader help`... */
	bool list_devices;
	bool list_bootloaders;
	const struct component_ops *help_component;
	/* --fetch URL[,sha256=HEX]: download and exit (fetch.url NULL: not given). */
	struct fetch_spec fetch;
	/* "vzkit: warning: ..." lines about input that was ignored; printed
	 * only when the whole command line is good. NULL: none. */
	char *warnings;
};

/* How a flag takes its value. */
enum flag_value_kind {
	FLAG_VALUE,          /* --name VALUE, --name=VALUE, -n VALUE, -nVALUE */
	FLAG_BOOL,           /* --name (true) or --name=BOOL in Go's ParseBool forms */
	FLAG_OPTIONAL_VALUE, /* --name (its default) or --name=VALUE */
};

struct flag_spec {
	const char *long_name;
	char short_name; /* 0: none */
	enum flag_value_kind value;
	const char *value_name;
	const char *help;
};

/* The table, for --help and the man-page test. Terminated by a NULL long_name. */
extern const struct flag_spec flag_table[];

void run_options_free(struct run_options *options);

/* Parses argv into a VM description and run options. `--config FILE` is
 * loaded first; the other flags then add to it. Usage errors name the flag.
 * Words that are not flags are ignored with a warning in options->warnings. */
int args_parse(int argc, char **argv, struct vm_description *vm, struct run_options *options,
	       struct vzk_error *err);

void args_print_help(FILE *out);

#endif

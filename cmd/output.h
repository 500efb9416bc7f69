/* --dry-run: the VM as vfkit JSON, as an equivalent command line, or as the
 * engine's plan. */
#ifndef VZKIT_CMD_OUTPUT_H
#define VZKIT_CMD_OUTPUT_H

#include <stdio.h>

#include "cmd/args.h"
#include "cmd/config/vm.h"
#include "vz/engine.h"

int output_dry_run(const struct vm_description *vm, enum dry_run_mode mode, FILE *out,
		   struct vzk_error *err);
int output_engine_plan(const struct vz_engine_ops *engine, const struct vz_vm_configuration *vz,
		       const struct run_options *options, FILE *out, struct vzk_error *err);
/* The VM JSON as text (inspect and --dry-run); malloc'd. */
char *output_vm_json(const struct vm_description *vm);
/* Appends `arg` to out, single-quoted when the shell would otherwise split or expand it. */
void output_shell_quote(const char *arg, FILE *out);

#endif

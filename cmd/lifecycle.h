/* Runs a validated VM on an engine: pidfile, signals (stop, wait 5 s, stop
 * hard), the REST API, cloud-init disk, and cleanup on every path. */
#ifndef VZKIT_CMD_LIFECYCLE_H
#define VZKIT_CMD_LIFECYCLE_H

#include "cmd/args.h"
#include "cmd/config/vm.h"
#include "vz/engine.h"
#include "vz/vz.h"

/* Seconds between a stop request on SIGINT/SIGTERM and the hard stop. */
#define LIFECYCLE_STOP_GRACE_SECONDS 5

/* deferred_warnings (may be NULL) go to stderr once the engine accepted the
 * VM, so that bad input still gets exactly one line.
 * Returns 0 when the guest stopped normally; -1 with err filled otherwise
 * (the caller turns err into the exit status: log_failure). */
int lifecycle_run(const struct vz_engine_ops *engine, const struct vm_description *vm,
		  struct vz_vm_configuration *vz, const struct run_options *options,
		  const char *deferred_warnings, struct vzk_error *err);

#endif

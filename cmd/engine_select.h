/* Which engine runs the VM: Apple's Virtualization framework on macOS, QEMU elsewhere. */
#ifndef VZKIT_CMD_ENGINE_SELECT_H
#define VZKIT_CMD_ENGINE_SELECT_H

#include "vz/engine.h"

/* NULL with err when no engine of this host can run the configuration. */
const struct vz_engine_ops *engine_select(const struct vz_vm_configuration *config,
					  struct vzk_error *err);

#endif

/* The QEMU engine: runs a VZ configuration on QEMU (Linux hosts). */
#ifndef VZKIT_VZ_QEMU_QEMU_ENGINE_H
#define VZKIT_VZ_QEMU_QEMU_ENGINE_H

#include "vz/engine.h"

extern const struct vz_engine_ops qemu_engine;

#endif

/* --ignition: the config file served over HTTP on vsock port 1024. */
#ifndef VZKIT_CMD_SERVICES_IGNITION_H
#define VZKIT_CMD_SERVICES_IGNITION_H

#include "flags/error.h"
#include "vz/engine.h"
#include "vz/vz.h"

struct ignition_server;

/* Reads `path` (at most 16 MiB) and serves it to guest connections on vsock
 * port 1024; *out stays NULL when path is NULL. */
int ignition_server_start(const struct vz_engine_ops *engine, struct engine_vm *vm, const char *path,
			  struct ignition_server **out, struct vzk_error *err);
void ignition_server_stop(struct ignition_server *server); /* NULL ok */

#endif

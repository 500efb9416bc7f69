#include "cmd/services/vsock_services.h"

#include <stdlib.h>

struct vsock_services {
	struct vsock_proxy *proxy;
	struct ignition_server *ignition;
	struct timesync *timesync;
};

int vsock_services_start(const struct vz_engine_ops *engine, struct engine_vm *vm,
			 const struct vz_vm_configuration *config, struct vsock_services **out,
			 struct vzk_error *err)
{
	struct vsock_services *services;

	*out = NULL;
	if (config->vsock_port_count == 0 && config->ignition_path == NULL && config->timesync_vsock_port == 0)
		return 0;
	if (engine->vsock_listen == NULL || engine->vsock_connect == NULL)
		return vzk_runtime_error(err, "the %s engine cannot carry vsock connections", engine->name);
	services = calloc(1, sizeof(*services));
	if (services == NULL)
		return vzk_runtime_error(err, "out of memory");
	*out = services;
	if (vsock_proxy_start(engine, vm, config, &services->proxy, err) != 0 ||
	    ignition_server_start(engine, vm, config->ignition_path, &services->ignition, err) != 0 ||
	    timesync_start(engine, vm, config->timesync_vsock_port, &services->timesync, err) != 0)
		return -1;
	return 0;
}

bool vsock_services_sync_guest_clock(struct vsock_services *services)
{
	return services != NULL && timesync_sync_now(services->timesync);
}

void vsock_services_quiesce(struct vsock_services *services)
{
	if (services == NULL)
		return;
	/* timesync only calls the engine: it can go now. */
	timesync_stop(services->timesync);
	services->timesync = NULL;
	vsock_proxy_quiesce(services->proxy);
}

void vsock_services_stop(struct vsock_services *services)
{
	if (services == NULL)
		return;
	vsock_services_quiesce(services);
	vsock_proxy_stop(services->proxy);
	ignition_server_stop(services->ignition);
	free(services);
}

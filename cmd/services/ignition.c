/* --ignition: the Ignition config served over HTTP to the guest on vsock port
 * 1024 (what Fedora CoreOS's first boot fetches). libmicrohttpd runs without a
 * listening socket: the engine's vsock_listen hands it each guest connection. */
#include "cmd/services/ignition.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd/log/log.h"

#define IGNITION_MAX_BYTES (16u << 20)

struct ignition_server {
	struct MHD_Daemon *daemon;
	char *data;
	size_t size;
	atomic_bool stopping;
};

static enum MHD_Result ignition_request(void *context, struct MHD_Connection *connection,
					const char *url, const char *method, const char *version,
					const char *upload_data, size_t *upload_data_size, void **request_state)
{
	struct ignition_server *server = context;
	struct MHD_Response *response;
	enum MHD_Result result;

	(void)url;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)request_state;
	if (strcmp(method, "GET") != 0) {
		response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		result = MHD_queue_response(connection, MHD_HTTP_METHOD_NOT_ALLOWED, response);
	} else {
		response = MHD_create_response_from_buffer(server->size, server->data,
							   MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(response, "Content-Type", "application/json");
		result = MHD_queue_response(connection, MHD_HTTP_OK, response);
		log_message(LOG_LEVEL_INFO, "ignition: config served to the guest (%zu bytes)",
			    server->size);
	}
	MHD_destroy_response(response);
	return result;
}

static void on_ignition_connection(void *context, int fd)
{
	struct ignition_server *server = context;
	struct sockaddr_un peer = {.sun_family = AF_UNIX};

	if (atomic_load(&server->stopping) ||
	    MHD_add_connection(server->daemon, fd, (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES)
		close(fd);
}

static int load_ignition(struct ignition_server *server, const char *path, struct vzk_error *err)
{
	FILE *file = fopen(path, "rb");
	size_t capacity = 65536, used = 0;
	char *data = malloc(capacity);

	if (file == NULL || data == NULL) {
		if (file != NULL)
			fclose(file);
		free(data);
		return vzk_usage_error(err, "--ignition: %s: %s", path, strerror(errno));
	}
	for (;;) {
		size_t got = fread(data + used, 1, capacity - used, file);
		used += got;
		if (got == 0)
			break;
		if (used == capacity) {
			char *grown;
			if (capacity >= IGNITION_MAX_BYTES) {
				if (fgetc(file) == EOF)
					break; /* exactly the limit */
				fclose(file);
				free(data);
				return vzk_usage_error(err, "--ignition: %s is larger than %u MiB", path,
						       IGNITION_MAX_BYTES >> 20);
			}
			grown = realloc(data, capacity * 2);
			if (grown == NULL) {
				fclose(file);
				free(data);
				return vzk_runtime_error(err, "out of memory");
			}
			data = grown;
			capacity *= 2;
		}
	}
	fclose(file);
	server->data = data;
	server->size = used;
	return 0;
}

int ignition_server_start(const struct vz_engine_ops *engine, struct engine_vm *vm, const char *path,
			  struct ignition_server **out, struct vzk_error *err)
{
	struct ignition_server *server;

	*out = NULL;
	if (path == NULL)
		return 0;
	server = calloc(1, sizeof(*server));
	if (server == NULL)
		return vzk_runtime_error(err, "out of memory");
	*out = server;
	if (load_ignition(server, path, err) != 0)
		return -1;
	server->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC, 0,
					  NULL, NULL, ignition_request, server, MHD_OPTION_CONNECTION_TIMEOUT,
					  (unsigned)30, MHD_OPTION_END);
	if (server->daemon == NULL)
		return vzk_runtime_error(err, "--ignition: cannot start the HTTP server");
	return engine->vsock_listen(vm, VZ_IGNITION_VSOCK_PORT, on_ignition_connection, server, err);
}

void ignition_server_stop(struct ignition_server *server)
{
	if (server == NULL)
		return;
	atomic_store(&server->stopping, true);
	if (server->daemon != NULL)
		MHD_stop_daemon(server->daemon);
	free(server->data);
	free(server);
}

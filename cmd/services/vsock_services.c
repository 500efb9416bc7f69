#include "cmd/services/vsock_services.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd/log.h"
#include "cmd/services/unix_socket.h"

#define IGNITION_MAX_BYTES (16u << 20)
#define PUMP_BUFFER_BYTES 65536

struct pump {
	struct vsock_services *owner;
	int fds[2];
	struct pump *next;
};

/* listen mode: guest connections on `port` are carried to the unix socket `path` */
struct guest_port {
	struct vsock_services *owner;
	uint32_t port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* connect mode: connections to our unix socket `path` are carried to the guest's `port` */
struct host_listener {
	struct vsock_services *owner;
	uint32_t port;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t thread;
	bool thread_started;
};

struct vsock_services {
	const struct vz_engine_ops *engine;
	struct engine_vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t pumps_done;
	struct pump *pumps;
	atomic_bool stopping;
	int wake_pipe[2]; /* written once at stop: wakes the accept and timesync loops */

	struct guest_port *guest_ports;
	size_t guest_port_count;
	struct host_listener *host_listeners;
	size_t host_listener_count;

	struct MHD_Daemon *ignition_daemon;
	char *ignition_data;
	size_t ignition_size;

	uint32_t timesync_port;
	pthread_t timesync_thread;
	bool timesync_started;
};

/* ---- byte pumps between two connected stream sockets ---- */

static void pump_unlink(struct pump *pump)
{
	struct vsock_services *owner = pump->owner;

	pthread_mutex_lock(&owner->lock);
	for (struct pump **p = &owner->pumps; *p != NULL; p = &(*p)->next) {
		if (*p == pump) {
			*p = pump->next;
			break;
		}
	}
	close(pump->fds[0]);
	close(pump->fds[1]);
	if (owner->pumps == NULL)
		pthread_cond_broadcast(&owner->pumps_done);
	pthread_mutex_unlock(&owner->lock);
	free(pump);
}

static void *pump_main(void *context)
{
	struct pump *pump = context;
	char *buffer = malloc(PUMP_BUFFER_BYTES);
	bool open_for_read[2] = {true, true};

	while (buffer != NULL && (open_for_read[0] || open_for_read[1])) {
		struct pollfd polls[2] = {
			{.fd = open_for_read[0] ? pump->fds[0] : -1, .events = POLLIN},
			{.fd = open_for_read[1] ? pump->fds[1] : -1, .events = POLLIN},
		};
		if (poll(polls, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int side = 0; side < 2; side++) {
			ssize_t got;
			if (polls[side].fd < 0 || polls[side].revents == 0)
				continue;
			got = read(pump->fds[side], buffer, PUMP_BUFFER_BYTES);
			if (got <= 0) {
				/* EOF: pass the half-close on, keep the other direction */
				open_for_read[side] = false;
				shutdown(pump->fds[!side], SHUT_WR);
				continue;
			}
			for (ssize_t sent = 0; sent < got;) {
				ssize_t n = write(pump->fds[!side], buffer + sent, (size_t)(got - sent));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					open_for_read[0] = open_for_read[1] = false;
					break;
				}
				sent += n;
			}
		}
	}
	free(buffer);
	pump_unlink(pump);
	return NULL;
}

/* Takes ownership of both fds. */
static void pump_start(struct vsock_services *owner, int fd_a, int fd_b)
{
	struct pump *pump = calloc(1, sizeof(*pump));
	pthread_t thread;
	pthread_attr_t attr;

	if (pump == NULL) {
		close(fd_a);
		close(fd_b);
		return;
	}
	pump->owner = owner;
	pump->fds[0] = fd_a;
	pump->fds[1] = fd_b;
	pthread_mutex_lock(&owner->lock);
	pump->next = owner->pumps;
	owner->pumps = pump;
	pthread_mutex_unlock(&owner->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, pump_main, pump) != 0)
		pump_unlink(pump);
	pthread_attr_destroy(&attr);
}

/* ---- listen mode ---- */

static void on_guest_connection(void *context, int guest_fd)
{
	struct guest_port *port = context;
	int host_fd;

	if (atomic_load(&port->owner->stopping)) {
		close(guest_fd);
		return;
	}
	host_fd = unix_socket_connect(port->path);
	if (host_fd < 0) {
		log_message(LOG_LEVEL_ERROR, "vsock port %u: cannot connect to %s: %s", port->port, port->path,
			    strerror(errno));
		close(guest_fd);
		return;
	}
	log_message(LOG_LEVEL_DEBUG, "vsock port %u: guest connected, carried to %s", port->port, port->path);
	pump_start(port->owner, guest_fd, host_fd);
}

/* ---- connect mode ---- */

static void *host_listener_main(void *context)
{
	struct host_listener *listener = context;
	struct vsock_services *owner = listener->owner;

	for (;;) {
		struct pollfd polls[2] = {{.fd = listener->fd, .events = POLLIN},
					  {.fd = owner->wake_pipe[0], .events = POLLIN}};
		int host_fd, guest_fd;
		struct vzk_error err = {0};

		if (poll(polls, 2, -1) < 0 && errno != EINTR)
			break;
		if (atomic_load(&owner->stopping) || polls[1].revents != 0)
			break;
		if (polls[0].revents == 0)
			continue;
		host_fd = fd_set_cloexec(accept(listener->fd, NULL, NULL));
		if (host_fd < 0)
			continue;
		if (owner->engine->vsock_connect(owner->vm, listener->port, &guest_fd, &err) != 0) {
			log_message(LOG_LEVEL_ERROR, "vsock port %u: %s", listener->port, err.message);
			close(host_fd);
			continue;
		}
		pump_start(owner, host_fd, guest_fd);
	}
	return NULL;
}

/* ---- ignition over HTTP (libmicrohttpd on connections we hand it) ---- */

static enum MHD_Result ignition_request(void *context, struct MHD_Connection *connection,
					const char *url, const char *method, const char *version,
					const char *upload_data, size_t *upload_data_size, void **request_state)
{
	struct vsock_services *services = context;
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
		response = MHD_create_response_from_buffer(services->ignition_size, services->ignition_data,
							   MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(response, "Content-Type", "application/json");
		result = MHD_queue_response(connection, MHD_HTTP_OK, response);
		log_message(LOG_LEVEL_INFO, "ignition: config served to the guest (%zu bytes)",
			    services->ignition_size);
	}
	MHD_destroy_response(response);
	return result;
}

static void on_ignition_connection(void *context, int fd)
{
	struct vsock_services *services = context;
	struct sockaddr_un peer = {.sun_family = AF_UNIX};

	if (atomic_load(&services->stopping) ||
	    MHD_add_connection(services->ignition_daemon, fd, (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES)
		close(fd);
}

static int load_ignition(struct vsock_services *services, const char *path, struct vzk_error *err)
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
	services->ignition_data = data;
	services->ignition_size = used;
	return 0;
}

/* ---- timesync through qemu-guest-agent ---- */

bool timesync_host_resumed(int64_t boottime_minus_monotonic_ns_before,
			   int64_t boottime_minus_monotonic_ns_now)
{
	return boottime_minus_monotonic_ns_now - boottime_minus_monotonic_ns_before >= 1000000000LL;
}

static int64_t boottime_minus_monotonic(void)
{
	struct timespec boottime, monotonic;
	clock_gettime(CLOCK_BOOTTIME, &boottime);
	clock_gettime(CLOCK_MONOTONIC, &monotonic);
	return (int64_t)(boottime.tv_sec - monotonic.tv_sec) * 1000000000LL +
	       (boottime.tv_nsec - monotonic.tv_nsec);
}

int timesync_set_guest_time(int agent_fd, struct vzk_error *err)
{
	struct timespec now;
	json_t *command;
	char *text;
	char reply[4096];
	size_t used = 0;
	json_t *parsed;
	json_error_t json_err;
	int status;

	clock_gettime(CLOCK_REALTIME, &now);
	command = json_pack("{s:s, s:{s:I}}", "execute", "guest-set-time", "arguments", "time",
			    (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec);
	text = command != NULL ? json_dumps(command, JSON_COMPACT) : NULL;
	json_decref(command);
	if (text == NULL)
		return vzk_runtime_error(err, "timesync: out of memory");
	size_t len = strlen(text);
	status = write(agent_fd, text, len) == (ssize_t)len && write(agent_fd, "\n", 1) == 1 ? 0 : -1;
	free(text);
	if (status != 0)
		return vzk_runtime_error(err, "timesync: cannot write to the guest agent: %s", strerror(errno));
	/* The agent answers one JSON object per line. */
	while (used < sizeof(reply) - 1) {
		struct pollfd wait = {.fd = agent_fd, .events = POLLIN};
		ssize_t got;
		if (poll(&wait, 1, 5000) <= 0)
			return vzk_runtime_error(err, "timesync: the guest agent did not answer");
		got = read(agent_fd, reply + used, sizeof(reply) - 1 - used);
		if (got <= 0)
			return vzk_runtime_error(err, "timesync: the guest agent closed the connection");
		used += (size_t)got;
		if (memchr(reply, '\n', used) != NULL)
			break;
	}
	reply[used] = '\0';
	parsed = json_loads(reply, JSON_DISABLE_EOF_CHECK, &json_err);
	if (parsed == NULL)
		return vzk_runtime_error(err, "timesync: the guest agent's answer is not JSON");
	status = json_object_get(parsed, "return") != NULL ? 0 : -1;
	if (status != 0) {
		json_t *desc = json_object_get(json_object_get(parsed, "error"), "desc");
		vzk_runtime_error(err, "timesync: guest-set-time failed: %s",
				  json_is_string(desc) ? json_string_value(desc) : "unknown error");
	}
	json_decref(parsed);
	return status;
}

static void *timesync_main(void *context)
{
	struct vsock_services *services = context;
	int64_t last = boottime_minus_monotonic();

	for (;;) {
		struct pollfd wake = {.fd = services->wake_pipe[0], .events = POLLIN};
		int64_t now;
		if (poll(&wake, 1, 1000) != 0 || atomic_load(&services->stopping))
			break;
		now = boottime_minus_monotonic();
		if (timesync_host_resumed(last, now)) {
			struct vzk_error err = {0};
			int fd;
			log_message(LOG_LEVEL_INFO, "timesync: the host resumed; setting the guest clock");
			if (services->engine->vsock_connect(services->vm, services->timesync_port, &fd, &err) == 0) {
				if (timesync_set_guest_time(fd, &err) != 0)
					log_message(LOG_LEVEL_ERROR, "%s", err.message);
				close(fd);
			} else {
				log_message(LOG_LEVEL_ERROR, "timesync: %s", err.message);
			}
		}
		last = now;
	}
	return NULL;
}

/* ---- start / stop ---- */

static int start_ports(struct vsock_services *services, const struct vz_vm_configuration *config,
		       struct vzk_error *err)
{
	services->guest_ports = calloc(config->vsock_port_count + 1, sizeof(*services->guest_ports));
	services->host_listeners = calloc(config->vsock_port_count + 1, sizeof(*services->host_listeners));
	if (services->guest_ports == NULL || services->host_listeners == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; i < config->vsock_port_count; i++) {
		const struct vz_vsock_port *port = &config->vsock_ports[i];
		if (port->listen) {
			struct guest_port *guest = &services->guest_ports[services->guest_port_count++];
			guest->owner = services;
			guest->port = port->port;
			snprintf(guest->path, sizeof(guest->path), "%s", port->socket_path);
			if (services->engine->vsock_listen(services->vm, port->port, on_guest_connection, guest, err) != 0)
				return -1;
		} else {
			struct host_listener *listener = &services->host_listeners[services->host_listener_count];
			listener->owner = services;
			listener->port = port->port;
			snprintf(listener->path, sizeof(listener->path), "%s", port->socket_path);
			listener->fd = unix_socket_listen(port->socket_path, "--device virtio-vsock", err);
			if (listener->fd < 0)
				return -1;
			services->host_listener_count++;
			if (pthread_create(&listener->thread, NULL, host_listener_main, listener) != 0)
				return vzk_runtime_error(err, "cannot start a vsock listener thread");
			listener->thread_started = true;
		}
	}
	return 0;
}

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
	services->engine = engine;
	services->vm = vm;
	services->wake_pipe[0] = services->wake_pipe[1] = -1;
	pthread_mutex_init(&services->lock, NULL);
	pthread_cond_init(&services->pumps_done, NULL);
	*out = services;
	if (pipe(services->wake_pipe) != 0)
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	fd_set_cloexec(services->wake_pipe[0]);
	fd_set_cloexec(services->wake_pipe[1]);
	if (start_ports(services, config, err) != 0)
		return -1;
	if (config->ignition_path != NULL) {
		if (load_ignition(services, config->ignition_path, err) != 0)
			return -1;
		services->ignition_daemon = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC, 0, NULL, NULL,
			ignition_request, services, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
		if (services->ignition_daemon == NULL)
			return vzk_runtime_error(err, "--ignition: cannot start the HTTP server");
		if (engine->vsock_listen(vm, VZ_IGNITION_VSOCK_PORT, on_ignition_connection, services, err) != 0)
			return -1;
	}
	if (config->timesync_vsock_port != 0) {
		services->timesync_port = config->timesync_vsock_port;
		if (pthread_create(&services->timesync_thread, NULL, timesync_main, services) != 0)
			return vzk_runtime_error(err, "cannot start the timesync thread");
		services->timesync_started = true;
	}
	return 0;
}

void vsock_services_stop(struct vsock_services *services)
{
	if (services == NULL)
		return;
	atomic_store(&services->stopping, true);
	if (services->wake_pipe[1] >= 0 && write(services->wake_pipe[1], "x", 1) != 1)
		log_message(LOG_LEVEL_DEBUG, "vsock services: wake pipe write failed");
	for (size_t i = 0; i < services->host_listener_count; i++) {
		struct host_listener *listener = &services->host_listeners[i];
		if (listener->thread_started)
			pthread_join(listener->thread, NULL);
		close(listener->fd);
		unlink(listener->path);
	}
	if (services->timesync_started)
		pthread_join(services->timesync_thread, NULL);
	/* Wake every pump; each closes its fds and leaves the list. */
	pthread_mutex_lock(&services->lock);
	for (struct pump *pump = services->pumps; pump != NULL; pump = pump->next) {
		shutdown(pump->fds[0], SHUT_RDWR);
		shutdown(pump->fds[1], SHUT_RDWR);
	}
	while (services->pumps != NULL)
		pthread_cond_wait(&services->pumps_done, &services->lock);
	pthread_mutex_unlock(&services->lock);
	if (services->ignition_daemon != NULL)
		MHD_stop_daemon(services->ignition_daemon);
	free(services->ignition_data);
	if (services->wake_pipe[0] >= 0) {
		close(services->wake_pipe[0]);
		close(services->wake_pipe[1]);
	}
	free(services->guest_ports);
	free(services->host_listeners);
	pthread_cond_destroy(&services->pumps_done);
	pthread_mutex_destroy(&services->lock);
	free(services);
}

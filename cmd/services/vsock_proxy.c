/* The --device virtio-vsock port proxies: listen mode carries each guest
 * connection to a host port on to the unix socket socketURL; connect mode
 * listens on socketURL and carries each connection to the guest's port.
 * One detached thread per connection pumps bytes both ways and passes a
 * half-close on (doc/design.md, "Host services"). */
#include "cmd/services/vsock_proxy.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd/log/log.h"
#include "cmd/services/unix_socket.h"

#define PUMP_BUFFER_BYTES 65536

struct pump {
	struct vsock_proxy *owner;
	int fds[2];
	struct pump *next;
};

/* listen mode: guest connections on `port` are carried to the unix socket `path` */
struct guest_port {
	struct vsock_proxy *owner;
	uint32_t port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* connect mode: connections to our unix socket `path` are carried to the guest's `port` */
struct host_listener {
	struct vsock_proxy *owner;
	uint32_t port;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct unix_socket_identity identity;
	pthread_t thread;
	bool thread_started;
};

struct vsock_proxy {
	const struct vz_engine_ops *engine;
	struct engine_vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t pumps_done;
	struct pump *pumps;
	atomic_bool stopping;
	int wake_pipe[2]; /* written once at stop: wakes the accept loops */

	struct guest_port *guest_ports;
	size_t guest_port_count;
	struct host_listener *host_listeners;
	size_t host_listener_count;
};

/* ---- byte pumps between two connected stream sockets ---- */

static void pump_unlink(struct pump *pump)
{
	struct vsock_proxy *owner = pump->owner;

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
static void pump_start(struct vsock_proxy *owner, int fd_a, int fd_b)
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

static void *host_listener_main(void *context)
{
	struct host_listener *listener = context;
	struct vsock_proxy *owner = listener->owner;

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

static int start_ports(struct vsock_proxy *proxy, const struct vz_vm_configuration *config,
		       struct vzk_error *err)
{
	proxy->guest_ports = calloc(config->vsock_port_count + 1, sizeof(*proxy->guest_ports));
	proxy->host_listeners = calloc(config->vsock_port_count + 1, sizeof(*proxy->host_listeners));
	if (proxy->guest_ports == NULL || proxy->host_listeners == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; i < config->vsock_port_count; i++) {
		const struct vz_vsock_port *port = &config->vsock_ports[i];
		if (port->listen) {
			struct guest_port *guest = &proxy->guest_ports[proxy->guest_port_count++];
			guest->owner = proxy;
			guest->port = port->port;
			snprintf(guest->path, sizeof(guest->path), "%s", port->socket_path);
			if (proxy->engine->vsock_listen(proxy->vm, port->port, on_guest_connection, guest, err) != 0)
				return -1;
		} else {
			struct host_listener *listener = &proxy->host_listeners[proxy->host_listener_count];
			listener->owner = proxy;
			listener->port = port->port;
			snprintf(listener->path, sizeof(listener->path), "%s", port->socket_path);
			listener->fd = unix_socket_listen(port->socket_path, "--device virtio-vsock", false, &listener->identity, err);
			if (listener->fd < 0)
				return -1;
			proxy->host_listener_count++;
			if (pthread_create(&listener->thread, NULL, host_listener_main, listener) != 0)
				return vzk_runtime_error(err, "cannot start a vsock listener thread");
			listener->thread_started = true;
		}
	}
	return 0;
}

int vsock_proxy_start(const struct vz_engine_ops *engine, struct engine_vm *vm,
		      const struct vz_vm_configuration *config, struct vsock_proxy **out, struct vzk_error *err)
{
	struct vsock_proxy *proxy;

	*out = NULL;
	if (config->vsock_port_count == 0)
		return 0;
	proxy = calloc(1, sizeof(*proxy));
	if (proxy == NULL)
		return vzk_runtime_error(err, "out of memory");
	proxy->engine = engine;
	proxy->vm = vm;
	proxy->wake_pipe[0] = proxy->wake_pipe[1] = -1;
	pthread_mutex_init(&proxy->lock, NULL);
	pthread_cond_init(&proxy->pumps_done, NULL);
	*out = proxy;
	if (pipe(proxy->wake_pipe) != 0)
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	fd_set_cloexec(proxy->wake_pipe[0]);
	fd_set_cloexec(proxy->wake_pipe[1]);
	return start_ports(proxy, config, err);
}

void vsock_proxy_quiesce(struct vsock_proxy *proxy)
{
	if (proxy == NULL || atomic_exchange(&proxy->stopping, true))
		return;
	if (proxy->wake_pipe[1] >= 0 && write(proxy->wake_pipe[1], "x", 1) != 1)
		log_message(LOG_LEVEL_DEBUG, "vsock proxy: wake pipe write failed");
	for (size_t i = 0; i < proxy->host_listener_count; i++) {
		struct host_listener *listener = &proxy->host_listeners[i];
		if (listener->thread_started)
			pthread_join(listener->thread, NULL);
		listener->thread_started = false;
	}
}

void vsock_proxy_stop(struct vsock_proxy *proxy)
{
	if (proxy == NULL)
		return;
	vsock_proxy_quiesce(proxy);
	for (size_t i = 0; i < proxy->host_listener_count; i++) {
		struct host_listener *listener = &proxy->host_listeners[i];
		close(listener->fd);
		unix_socket_remove_if_ours(listener->path, &listener->identity);
	}
	/* Wake every pump; each closes its fds and leaves the list. */
	pthread_mutex_lock(&proxy->lock);
	for (struct pump *pump = proxy->pumps; pump != NULL; pump = pump->next) {
		shutdown(pump->fds[0], SHUT_RDWR);
		shutdown(pump->fds[1], SHUT_RDWR);
	}
	while (proxy->pumps != NULL)
		pthread_cond_wait(&proxy->pumps_done, &proxy->lock);
	pthread_mutex_unlock(&proxy->lock);
	if (proxy->wake_pipe[0] >= 0) {
		close(proxy->wake_pipe[0]);
		close(proxy->wake_pipe[1]);
	}
	free(proxy->guest_ports);
	free(proxy->host_listeners);
	pthread_cond_destroy(&proxy->pumps_done);
	pthread_mutex_destroy(&proxy->lock);
	free(proxy);
}

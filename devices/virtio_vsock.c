/* --device virtio-vsock: one vsock port carried to a host unix socket. However
 * many are given, the VM gets one VZVirtioSocketDeviceConfiguration. A bare
 * virtio-vsock (no socketURL) only gives the VM that device, as in vfkit. */
#include <string.h>
#include <strings.h>

#include "devices/registry.h"
#include "vz/vz.h"

struct virtio_vsock_config {
	uint64_t port;
	char *socket_url;
	bool listen;
	bool connect;
};

static const struct key_spec virtio_vsock_keys[] = {
	/* port 0 is what vfkit's JSON says for none */
	{.name = "port", .kind = KEY_UINT, .offset = offsetof(struct virtio_vsock_config, port),
	 .help = "vsock port (with socketURL)", .min = 0, .max = UINT32_MAX, .json_name = "port"},
	{.name = "socketURL", .kind = KEY_PATH, .offset = offsetof(struct virtio_vsock_config, socket_url),
	 .help = "host unix socket path (with port; neither: the device alone)", .json_name = "socketURL"},
	{.name = "listen", .kind = KEY_BOOL, .offset = offsetof(struct virtio_vsock_config, listen),
	 .help = "the guest connects to the port; vzkit connects to socketURL (default)"},
	{.name = "connect", .kind = KEY_BOOL, .offset = offsetof(struct virtio_vsock_config, connect),
	 .help = "vzkit listens on socketURL and connects to the guest's port"},
};

static int virtio_vsock_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	struct virtio_vsock_config *vsock = config;

	if (vsock->listen && vsock->connect)
		return vzk_usage_error(err, "%s: listen and connect are mutually exclusive", what);
	/* vfkit would try to expose port 0 and only log that it failed */
	if (vsock->socket_url != NULL && vsock->port == 0)
		return vzk_usage_error(err, "%s: socketURL needs a port from 1 to %u", what, UINT32_MAX);
	if (vsock->socket_url != NULL && strlen(vsock->socket_url) > 107)
		return vzk_usage_error(err, "%s: socketURL is longer than a unix socket path can be (107 bytes)",
				       what);
	if (!vsock->connect && !vsock->listen) {
		vsock->listen = true;
		component_mark_given(&virtio_vsock_device, given, "listen");
	}
	return 0;
}

/* vfkit's JSON has one boolean, "listen"; false means connect. */
static int virtio_vsock_json_in(void *config, key_set_mask *given, const char *field, json_t *value,
				const char *what, struct vzk_error *err)
{
	struct virtio_vsock_config *vsock = config;

	if (strcasecmp(field, "listen") != 0)
		return 0;
	if (!json_is_boolean(value))
		return vzk_usage_error(err, "%s: field 'listen' must be true or false", what);
	vsock->listen = json_is_true(value);
	vsock->connect = !vsock->listen;
	component_mark_given(&virtio_vsock_device, given, vsock->listen ? "listen" : "connect");
	return 1;
}

/* vfkit leaves "listen" out when it is false (omitempty): that is connect,
 * whereas an option string without listen or connect means listen. */
static void virtio_vsock_json_absent(void *config, key_set_mask *given)
{
	struct virtio_vsock_config *vsock = config;

	if (!vsock->listen && !vsock->connect) {
		vsock->connect = true;
		component_mark_given(&virtio_vsock_device, given, "connect");
	}
}

static int virtio_vsock_json_out(const void *config, key_set_mask given, json_t *object)
{
	const struct virtio_vsock_config *vsock = config;
	(void)given;
	return json_object_set_new(object, "listen", json_boolean(vsock->listen));
}

static int virtio_vsock_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			     struct vzk_error *err)
{
	const struct virtio_vsock_config *vsock = config;
	struct vz_vsock_port *port;

	(void)given;
	vz->socket_device = true;
	if (vsock->socket_url == NULL) /* no proxy: vfkit skips a vsock without a URL */
		return 0;
	port = vz_add_vsock_port(vz);
	if (port == NULL || (port->socket_path = strdup(vsock->socket_url)) == NULL)
		return vzk_runtime_error(err, "out of memory");
	port->port = (uint32_t)vsock->port;
	port->listen = vsock->listen;
	vz->socket_device = true;
	return 0;
}

const struct component_ops virtio_vsock_device = {
	.name = "virtio-vsock",
	.json_kind = "virtiosock",
	.summary = "vsock port carried to a host unix socket",
	.keys = {virtio_vsock_keys, sizeof(virtio_vsock_keys) / sizeof(virtio_vsock_keys[0])},
	.config_size = sizeof(struct virtio_vsock_config),
	.check = virtio_vsock_check,
	.json_in = virtio_vsock_json_in,
	.json_absent = virtio_vsock_json_absent,
	.json_out = virtio_vsock_json_out,
	.emit = virtio_vsock_emit,
};

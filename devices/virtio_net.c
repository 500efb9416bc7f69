/* --device virtio-net: a network interface (VZVirtioNetworkDeviceConfiguration)
 * on NAT, an inherited datagram socket, or a unixgram socket (gvproxy, vmnet-helper). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "devices/registry.h"
#include "flags/hex.h"
#include "vz/vz.h"

struct virtio_net_config {
	bool nat;
	uint64_t fd;
	char *unix_socket_path;
	char *mac;
	int type; /* only "unixgram" */
	char *path;
	bool offloading;
	bool vfkit_magic;
};

static const char *const net_type_choices[] = {"unixgram", NULL};

static const struct key_spec virtio_net_keys[] = {
	{.name = "nat", .kind = KEY_BOOL, .offset = offsetof(struct virtio_net_config, nat),
	 .help = "NAT through the host", .json_name = "nat"},
	{.name = "fd", .kind = KEY_UINT, .offset = offsetof(struct virtio_net_config, fd),
	 .help = "inherited file descriptor of a connected datagram socket", .min = 0, .max = 1048576,
	 .json_name = "fd"},
	{.name = "unixSocketPath", .kind = KEY_PATH,
	 .offset = offsetof(struct virtio_net_config, unix_socket_path),
	 .help = "unixgram socket of a user-mode network stack (gvproxy)", .json_name = "unixSocketPath"},
	/* JSON "macAddress": virtio_net_json_in/out (older vfkit wrote base64) */
	{.name = "mac", .kind = KEY_STRING, .offset = offsetof(struct virtio_net_config, mac),
	 .help = "MAC address xx:xx:xx:xx:xx:xx, xx-xx-... or xxxx.xxxx.xxxx (random when absent)"},
	/* type=unixgram,path=P is unixSocketPath=P in vfkit (its JSON has no
	 * type, path or offloading): virtio_net_check folds it in. */
	{.name = "type", .kind = KEY_ENUM, .offset = offsetof(struct virtio_net_config, type),
	 .help = "unixgram: attach to the unixgram socket at path", .choices = net_type_choices},
	{.name = "path", .kind = KEY_PATH, .offset = offsetof(struct virtio_net_config, path),
	 .help = "socket path for type=unixgram"},
	{.name = "offloading", .kind = KEY_ONOFF, .offset = offsetof(struct virtio_net_config, offloading),
	 .help = "off only, as in vfkit (needs type)"},
	{.name = "vfkitMagic", .kind = KEY_ONOFF, .offset = offsetof(struct virtio_net_config, vfkit_magic),
	 .help = "send the VFKT datagram first on unix sockets (default on)", .json_name = "vfkitMagic"},
};

/* Go's net.ParseMAC forms for 6 bytes: xx:xx:xx:xx:xx:xx, xx-xx-xx-xx-xx-xx
 * and xxxx.xxxx.xxxx. (Its 8- and 20-byte forms are no Ethernet address.) */
static int parse_mac(const char *text, uint8_t mac[6])
{
	size_t len = strlen(text);
	bool dotted = len == 14;
	size_t digits_per_group = dotted ? 4 : 2;
	char separator;
	const char *p = text;

	if (!dotted && len != 17)
		return -1;
	separator = dotted ? '.' : text[2];
	if (!dotted && separator != ':' && separator != '-')
		return -1;
	for (size_t digit = 0; digit < 12; digit++) {
		int value = hex_digit_value(*p++);
		if (value < 0)
			return -1;
		mac[digit / 2] = (uint8_t)(digit % 2 == 0 ? value << 4 : mac[digit / 2] | value);
		if (digit < 11 && (digit + 1) % digits_per_group == 0 && *p++ != separator)
			return -1;
	}
	return *p == '\0' ? 0 : -1;
}

static int virtio_net_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	struct virtio_net_config *net = config;
	bool has_fd = component_given(&virtio_net_device, *given, "fd");
	bool has_type = component_given(&virtio_net_device, *given, "type");
	int attachments = net->nat + has_fd + (net->unix_socket_path != NULL) + has_type;
	uint8_t mac[6];

	if (attachments != 1)
		return vzk_usage_error(err, "%s: needs exactly one of nat, fd=N, unixSocketPath=PATH, type=unixgram (got %d)",
				       what, attachments);
	if (has_type != (net->path != NULL))
		return vzk_usage_error(err, "%s: type=unixgram and path=PATH go together", what);
	if (component_given(&virtio_net_device, *given, "offloading") && !has_type)
		return vzk_usage_error(err, "%s: offloading needs type=unixgram", what);
	if (net->offloading)
		return vzk_usage_error(err, "%s: invalid value for offloading: on (only 'off' is supported)", what);
	if (component_given(&virtio_net_device, *given, "vfkitMagic") && net->unix_socket_path == NULL && !has_type)
		return vzk_usage_error(err, "%s: vfkitMagic applies to unix sockets only", what);
	if (net->mac != NULL) {
		char canonical[18];
		if (parse_mac(net->mac, mac) != 0)
			return vzk_usage_error(err, "%s: mac '%s' is not a MAC address (want xx:xx:xx:xx:xx:xx, xx-xx-xx-xx-xx-xx or xxxx.xxxx.xxxx)",
					       what, net->mac);
		if (mac[0] & 1)
			return vzk_usage_error(err, "%s: mac '%s' is a multicast address; a network interface needs a unicast one",
					       what, net->mac);
		vz_format_mac(mac, canonical);
		free(net->mac);
		net->mac = strdup(canonical);
		if (net->mac == NULL)
			return vzk_runtime_error(err, "out of memory");
	}
	if ((net->unix_socket_path != NULL || has_type) &&
	    !component_given(&virtio_net_device, *given, "vfkitMagic")) {
		net->vfkit_magic = true;
		component_mark_given(&virtio_net_device, given, "vfkitMagic");
	}
	/* vfkit keeps type=unixgram,path=P as UnixSocketPath=P and drops
	 * offloading=off: so do the JSON and the printed command line. */
	if (has_type) {
		net->unix_socket_path = net->path;
		net->path = NULL;
		net->offloading = false;
		*given &= ~((1u << keytab_find(&virtio_net_device.keys, "type")) |
			    (1u << keytab_find(&virtio_net_device.keys, "path")) |
			    (1u << keytab_find(&virtio_net_device.keys, "offloading")));
		component_mark_given(&virtio_net_device, given, "unixSocketPath");
	}
	return 0;
}

/* Older vfkit wrote the MAC as Go writes a []byte: 8 characters of base64. */
static int decode_base64_mac(const char *text, uint8_t mac[6])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint64_t bits = 0;

	if (strlen(text) != 8)
		return -1;
	for (int i = 0; i < 8; i++) {
		const char *at = text[i] != '\0' ? strchr(alphabet, text[i]) : NULL;
		if (at == NULL)
			return -1;
		bits = bits << 6 | (uint64_t)(at - alphabet);
	}
	for (int i = 5; i >= 0; i--, bits >>= 8)
		mac[i] = (uint8_t)(bits & 0xff);
	return 0;
}

/* "macAddress" (text, or older vfkit's base64) and older vfkit's "Socket":
 * null (an fd cannot travel in JSON; only its absence is accepted). */
static int virtio_net_json_in(void *config, key_set_mask *given, const char *field, json_t *value,
			      const char *what, struct vzk_error *err)
{
	struct virtio_net_config *net = config;
	uint8_t bytes[6];
	char text[18];

	if (strcasecmp(field, "socket") == 0) {
		if (!json_is_null(value))
			return vzk_usage_error(err, "%s: field 'Socket' (an inherited fd) cannot be loaded from JSON", what);
		return 1;
	}
	if (strcasecmp(field, "macAddress") != 0)
		return 0;
	if (json_is_null(value) || (json_is_string(value) && json_string_length(value) == 0))
		return 1;
	if (!json_is_string(value))
		return vzk_usage_error(err, "%s: field 'macAddress' must be a string", what);
	if (decode_base64_mac(json_string_value(value), bytes) == 0) {
		vz_format_mac(bytes, text);
		free(net->mac);
		net->mac = strdup(text);
	} else {
		free(net->mac);
		net->mac = strdup(json_string_value(value));
	}
	if (net->mac == NULL)
		return vzk_runtime_error(err, "out of memory");
	component_mark_given(&virtio_net_device, given, "mac");
	return 1;
}

static int virtio_net_json_out(const void *config, key_set_mask given, json_t *object)
{
	const struct virtio_net_config *net = config;

	(void)given;
	if (net->mac == NULL)
		return 0;
	return json_object_set_new(object, "macAddress", json_string(net->mac));
}

static int virtio_net_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			   struct vzk_error *err)
{
	const struct virtio_net_config *net = config;
	struct vz_network_device *device = vz_add_network_device(vz);

	if (device == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (net->nat) {
		device->attachment = VZ_NETWORK_ATTACHMENT_NAT;
	} else {
		device->attachment = VZ_NETWORK_ATTACHMENT_FILE_HANDLE;
		if (component_given(&virtio_net_device, given, "fd"))
			device->fd = (int)net->fd;
		if (net->unix_socket_path != NULL && (device->unix_socket_path = strdup(net->unix_socket_path)) == NULL)
			return vzk_runtime_error(err, "out of memory");
		device->vfkit_magic = net->vfkit_magic;
	}
	if (net->mac != NULL) {
		parse_mac(net->mac, device->mac_address);
	} else {
		/* Random, locally administered, unicast — what VZMACAddress
		 * randomLocallyAdministeredAddress gives. getentropy: in
		 * <sys/random.h> on Linux (glibc 2.25+) and macOS alike. */
		if (getentropy(device->mac_address, sizeof(device->mac_address)) != 0)
			return vzk_runtime_error(err, "cannot read random bytes for a MAC address");
		device->mac_address[0] = (uint8_t)((device->mac_address[0] & 0xfc) | 0x02);
	}
	return 0;
}

const struct component_ops virtio_net_device = {
	.name = "virtio-net",
	.json_kind = "virtionet",
	.summary = "network interface (NAT, datagram socket fd, or unixgram socket)",
	.keys = {virtio_net_keys, sizeof(virtio_net_keys) / sizeof(virtio_net_keys[0])},
	.config_size = sizeof(struct virtio_net_config),
	.check = virtio_net_check,
	.json_in = virtio_net_json_in,
	.json_out = virtio_net_json_out,
	.emit = virtio_net_emit,
};

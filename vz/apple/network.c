/* virtio-net: NAT, or a file-handle attachment on a datagram socket — one
 * the user passed (fd=N) or one we connect to a unix socket
 * (unixSocketPath=, type=unixgram,path=). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vz/apple/translate.h"

/* What a gvproxy-style peer expects first on a unixgram socket: this
 * datagram tells it our address (vfkit's "magic"). */
static const char vfkit_magic[4] = {'V', 'F', 'K', 'T'};

/* Socket buffers large enough for bursts of full-size frames. */
#define NET_SEND_BUFFER (1 << 20)
#define NET_RECEIVE_BUFFER (4 << 20)

static int set_unix_path(struct sockaddr_un *address, const char *path)
{
	memset(address, 0, sizeof(*address));
	address->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(address->sun_path))
		return -1;
	memcpy(address->sun_path, path, strlen(path) + 1);
	return 0;
}

/* A datagram socket bound in the runtime directory (so the peer can answer)
 * and connected to `peer`; the builder keeps and later closes it. */
static int connect_unixgram(struct apple_builder *b, const struct vz_network_device *device, size_t index)
{
	struct vzk_error *err = apple_builder_error(b);
	const char *dir = apple_builder_runtime_dir(b);
	struct sockaddr_un local, peer;
	char local_path[sizeof(local.sun_path)];
	int send_size = NET_SEND_BUFFER, receive_size = NET_RECEIVE_BUFFER;
	int fd;

	if (dir == NULL)
		return vzk_runtime_error(err, "internal error: no runtime directory for the network socket");
	if (snprintf(local_path, sizeof(local_path), "%s/net%zu.sock", dir, index) >= (int)sizeof(local_path) ||
	    set_unix_path(&local, local_path) != 0)
		return vzk_runtime_error(err, "runtime directory %s is too long for a unix socket path", dir);
	if (set_unix_path(&peer, device->unix_socket_path) != 0)
		return vzk_usage_error(err, "unix socket path %s is too long", device->unix_socket_path);

	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0)
		return vzk_runtime_error(err, "cannot make a datagram socket: %s", strerror(errno));
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		int saved = errno;
		close(fd);
		return vzk_runtime_error(err, "cannot set up the datagram socket: %s", strerror(saved));
	}
	if (apple_keep_fd(b, fd) != 0)
		return -1;
	unlink(local_path);
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0)
		return vzk_runtime_error(err, "cannot bind %s: %s", local_path, strerror(errno));
	if (apple_keep_path(b, local_path) != 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) != 0)
		return vzk_runtime_error(err, "cannot connect to %s: %s", device->unix_socket_path, strerror(errno));
	/* Best effort: smaller buffers only cost throughput. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_size, sizeof(send_size));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_size, sizeof(receive_size));
	if (device->vfkit_magic && send(fd, vfkit_magic, sizeof(vfkit_magic), 0) != (ssize_t)sizeof(vfkit_magic))
		return vzk_runtime_error(err, "cannot send the VFKT datagram to %s: %s", device->unix_socket_path,
					 strerror(errno));
	return fd;
}

static id file_handle_attachment(struct apple_builder *b, const struct vz_network_device *device, size_t index)
{
	int fd = device->fd;
	id handle;

	if (device->unix_socket_path != NULL) {
		if (apple_planning(b)) {
			apple_note(b, "binds RUNTIME_DIR/net%zu.sock, connects it to %s%s", index, device->unix_socket_path,
				   device->vfkit_magic ? ", sends the datagram VFKT" : "");
			fd = -1;
		} else if ((fd = connect_unixgram(b, device, index)) < 0) {
			return nil;
		}
	} else if (device->fd < 0) {
		vzk_usage_error(apple_builder_error(b), "needs nat, fd=N or unixSocketPath=PATH");
		return nil;
	} else {
		apple_note(b, "the next file handle is the inherited fd %d", device->fd);
	}
	if (device->offloading)
		apple_warn(b, "--device virtio-net: offloading=on has no counterpart in the Virtualization framework; "
			      "ignored");
	handle = apple_file_handle(b, fd);
	if (handle == nil)
		return nil;
	return apple_new(b, C_VZFileHandleNetworkDeviceAttachment, M_FILE_HANDLE_NET_INIT, apple_arg_object(handle));
}

static id network_device(struct apple_builder *b, const struct vz_network_device *device, size_t index)
{
	char mac_text[18];
	id configuration, mac_string, mac, attachment;

	configuration = apple_new(b, C_VZVirtioNetworkDeviceConfiguration, M_VIRTIO_NET_INIT);
	if (configuration == nil)
		return nil;
	vz_format_mac(device->mac_address, mac_text);
	mac_string = apple_nsstring(b, mac_text);
	if (mac_string == nil)
		return nil;
	mac = apple_new(b, C_VZMACAddress, M_MAC_ADDRESS_INIT_STRING, apple_arg_object(mac_string));
	if (mac == nil || apple_call(b, M_NET_SET_MAC, configuration, apple_arg_object(mac)) != 0)
		return nil;
	if (device->attachment == VZ_NETWORK_ATTACHMENT_NAT)
		attachment = apple_new(b, C_VZNATNetworkDeviceAttachment, M_NAT_INIT);
	else
		attachment = file_handle_attachment(b, device, index);
	if (attachment == nil || apple_call(b, M_NET_SET_ATTACHMENT, configuration, apple_arg_object(attachment)) != 0)
		return nil;
	return configuration;
}

id apple_network_device(struct apple_builder *b, const struct vz_network_device *device, size_t index)
{
	id configuration = network_device(b, device, index);
	char mac_text[18];

	if (configuration == nil) {
		vz_format_mac(device->mac_address, mac_text);
		vzk_error_prefix(apple_builder_error(b), "--device virtio-net %s", mac_text);
	}
	return configuration;
}

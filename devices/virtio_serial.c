/* --device virtio-serial: a virtio console port (VZVirtioConsoleDeviceSerialPortConfiguration)
 * written to a log file, wired to the terminal, or on a new pseudo-terminal. */
#include <string.h>
#include <strings.h>

#include "devices/registry.h"
#include "vz/vz.h"

struct virtio_serial_config {
	char *log_file_path;
	bool stdio;
	bool pty;
};

static const struct key_spec virtio_serial_keys[] = {
	{.name = "logFilePath", .kind = KEY_PATH, .offset = offsetof(struct virtio_serial_config, log_file_path),
	 .help = "append the guest's output to this file", .json_name = "logFile"},
	{.name = "stdio", .kind = KEY_BOOL, .offset = offsetof(struct virtio_serial_config, stdio),
	 .help = "interactive console on vzkit's stdin/stdout", .json_name = "usesStdio"},
	{.name = "pty", .kind = KEY_BOOL, .offset = offsetof(struct virtio_serial_config, pty),
	 .help = "console on a new pseudo-terminal (its path is printed and in inspect)",
	 .json_name = "usesPty"},
};

static int virtio_serial_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	const struct virtio_serial_config *serial = config;
	(void)given;
	if ((serial->log_file_path != NULL) + serial->stdio + serial->pty != 1)
		return vzk_usage_error(err, "%s: needs exactly one of logFilePath=PATH, stdio, pty", what);
	return 0;
}

/* ptyName is reported by inspect for a running VM; it is not configuration. */
static int virtio_serial_json_in(void *config, key_set_mask *given, const char *field, json_t *value,
				 const char *what, struct vzk_error *err)
{
	(void)config;
	(void)given;
	(void)value;
	(void)what;
	(void)err;
	return strcasecmp(field, "ptyName") == 0 ? 1 : 0;
}

static int virtio_serial_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			      struct vzk_error *err)
{
	const struct virtio_serial_config *serial = config;
	struct vz_serial_port *port = vz_add_serial_port(vz);

	(void)given;
	if (port == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (serial->log_file_path != NULL) {
		port->attachment = VZ_SERIAL_ATTACHMENT_FILE;
		if ((port->log_path = strdup(serial->log_file_path)) == NULL)
			return vzk_runtime_error(err, "out of memory");
	} else {
		port->attachment = serial->stdio ? VZ_SERIAL_ATTACHMENT_STDIO : VZ_SERIAL_ATTACHMENT_PTY;
	}
	return 0;
}

const struct component_ops virtio_serial_device = {
	.name = "virtio-serial",
	.json_kind = "virtioserial",
	.summary = "serial console: log file, terminal (stdio) or pseudo-terminal",
	.keys = {virtio_serial_keys, sizeof(virtio_serial_keys) / sizeof(virtio_serial_keys[0])},
	.config_size = sizeof(struct virtio_serial_config),
	.check = virtio_serial_check,
	.json_in = virtio_serial_json_in,
	.emit = virtio_serial_emit,
};

/* virtio console serial ports on a log file, on stdin/stdout, or on a new pty. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <util.h>
#else
#include <pty.h>
#endif

#include "vz/apple/translate.h"

static id stdio_attachment(struct apple_builder *b)
{
	id input, output;

	/* A terminal passes keys to the guest as typed; Ctrl-C stops the VM
	 * gracefully, as with vfkit. */
	if (apple_planning(b))
		apple_note(b, "stdin goes into console mode (no echo, no line editing, Ctrl-C stops the VM) while the VM "
			      "runs when it is a terminal");
	else if (isatty(STDIN_FILENO) && apple_keep_console_terminal(b, STDIN_FILENO) != 0)
		return nil;
	input = apple_file_handle(b, STDIN_FILENO);
	output = apple_file_handle(b, STDOUT_FILENO);
	if (input == nil || output == nil)
		return nil;
	return apple_new(b, C_VZFileHandleSerialPortAttachment, M_FILE_HANDLE_SERIAL_INIT, apple_arg_object(input),
			 apple_arg_object(output));
}

/* The guest's console on a new pty; its name is what inspect reports. The
 * other end stays open so the guest's output never meets a hung-up pty. */
static id pty_attachment(struct apple_builder *b, size_t index)
{
	struct vzk_error *err = apple_builder_error(b);
	int master = -1, peer = -1;
	char name[256];
	struct termios raw;
	id handle;

	if (apple_planning(b)) {
		apple_note(b, "opens a new pty; the next file handle is its master side");
	} else {
		if (openpty(&master, &peer, name, NULL, NULL) != 0) {
			vzk_runtime_error(err, "cannot open a pty: %s", strerror(errno));
			return nil;
		}
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(peer, F_SETFD, FD_CLOEXEC);
		if (tcgetattr(peer, &raw) == 0) {
			cfmakeraw(&raw);
			tcsetattr(peer, TCSANOW, &raw);
		}
		if (apple_keep_fd(b, master) != 0) {
			close(peer);
			return nil;
		}
		if (apple_keep_fd(b, peer) != 0 || apple_keep_pty_name(b, index, name) != 0)
			return nil;
	}
	handle = apple_file_handle(b, master);
	if (handle == nil)
		return nil;
	return apple_new(b, C_VZFileHandleSerialPortAttachment, M_FILE_HANDLE_SERIAL_INIT, apple_arg_object(handle),
			 apple_arg_object(handle));
}

static id serial_attachment(struct apple_builder *b, const struct vz_serial_port *port, size_t index)
{
	id url;

	(void)index;
	switch (port->attachment) {
	case VZ_SERIAL_ATTACHMENT_FILE:
		url = apple_file_url(b, port->log_path);
		if (url == nil)
			return nil;
		/* append:NO replaces the file's contents, as vfkit does: a tool
		 * waiting for a boot marker must not match the previous run. */
		return apple_new(b, C_VZFileSerialPortAttachment, M_FILE_SERIAL_INIT, apple_arg_object(url),
				 apple_arg_bool(false), apple_arg_error_out());
	case VZ_SERIAL_ATTACHMENT_STDIO:
		return stdio_attachment(b);
	case VZ_SERIAL_ATTACHMENT_PTY:
		break; /* a console port, apple_console_device */
	}
	vzk_runtime_error(apple_builder_error(b), "internal error: unknown serial attachment %d", (int)port->attachment);
	return nil;
}

id apple_serial_port(struct apple_builder *b, const struct vz_serial_port *port, size_t index)
{
	static const char *const names[] = {
		[VZ_SERIAL_ATTACHMENT_FILE] = "logFilePath",
		[VZ_SERIAL_ATTACHMENT_STDIO] = "stdio",
		[VZ_SERIAL_ATTACHMENT_PTY] = "pty",
	};
	id configuration = apple_new(b, C_VZVirtioConsoleDeviceSerialPortConfiguration, M_CONSOLE_SERIAL_INIT);
	id attachment = configuration != nil ? serial_attachment(b, port, index) : nil;

	if (attachment == nil || apple_call(b, M_SERIAL_SET_ATTACHMENT, configuration, apple_arg_object(attachment)) != 0) {
		const char *name = (size_t)port->attachment < 3 ? names[port->attachment] : "?";
		vzk_error_prefix(apple_builder_error(b), "--device virtio-serial %s%s%s", name,
				 port->log_path != NULL ? "=" : "", port->log_path != NULL ? port->log_path : "");
		return nil;
	}
	return configuration;
}

/* The pty ports, in the user's order, as ports 0.. of one console device:
 * the guest sees them as hvc consoles of their own, whatever the log-file
 * ports around them (the numbering vfkit gives). */
int apple_console_device(struct apple_builder *b, const struct vz_vm_configuration *config, id *out)
{
	struct vzk_error *err = apple_builder_error(b);
	NSUInteger next = 0;
	id device, ports;

	*out = nil;
	for (size_t i = 0; i < config->serial_port_count; i++)
		if (config->serial_ports[i].attachment == VZ_SERIAL_ATTACHMENT_PTY)
			next++;
	if (next == 0)
		return 0;
	next = 0;
	device = apple_new(b, C_VZVirtioConsoleDeviceConfiguration, M_CONSOLE_DEVICE_INIT);
	ports = device != nil ? apple_get_object(b, M_CONSOLE_DEVICE_PORTS, device, C_VZVirtioConsolePortConfigurationArray)
			      : nil;
	if (ports == nil)
		return vzk_error_prefix(err, "--device virtio-serial pty");
	for (size_t i = 0; i < config->serial_port_count; i++) {
		id port, attachment;
		if (config->serial_ports[i].attachment != VZ_SERIAL_ATTACHMENT_PTY)
			continue;
		port = apple_new(b, C_VZVirtioConsolePortConfiguration, M_CONSOLE_PORT_INIT);
		attachment = port != nil ? pty_attachment(b, i) : nil;
		if (attachment == nil || apple_call(b, M_CONSOLE_PORT_SET_ATTACHMENT, port, apple_arg_object(attachment)) != 0 ||
		    apple_call(b, M_CONSOLE_PORT_SET_IS_CONSOLE, port, apple_arg_bool(true)) != 0 ||
		    apple_call(b, M_CONSOLE_PORTS_SET, ports, apple_arg_object(port), apple_arg_uinteger(next++)) != 0)
			return vzk_error_prefix(err, "--device virtio-serial pty");
	}
	*out = device;
	return 0;
}

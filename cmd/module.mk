# cmd/: the command (main, flags, lifecycle glue, output), the whole-VM
# description above devices/ and bootloader/ (config/), and the host services
# it runs (services/). Everything but main.c is in the library so tests can call it.
LIB_SRCS += \
	cmd/args.c \
	cmd/config/vm.c \
	cmd/config/vm_json.c \
	cmd/engine_select.c \
	cmd/lifecycle.c \
	cmd/log.c \
	cmd/output.c \
	cmd/services/cloudinit.c \
	cmd/services/ignition.c \
	cmd/services/rest.c \
	cmd/services/timesync.c \
	cmd/services/unix_socket.c \
	cmd/services/vsock_proxy.c \
	cmd/services/vsock_services.c
MAIN_SRCS += \
	cmd/main.c

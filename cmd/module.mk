# cmd/: everything but main.c is in the library so tests can call it.
LIB_SRCS += \
	cmd/args.c \
	cmd/cloudinit.c \
	cmd/engine_select.c \
	cmd/lifecycle.c \
	cmd/log.c \
	cmd/output.c \
	cmd/rest.c \
	cmd/unix_socket.c \
	cmd/vsock_services.c
MAIN_SRCS += \
	cmd/main.c

# cmd/: the command (main, flags, lifecycle glue, output), the whole-VM
# description above devices/ and bootloader/ (config/), and the host services
# it runs (services/). Everything but main.c is in the library so tests can call it.
LIB_SRCS += \
	cmd/args.c \
	cmd/config/vm.c \
	cmd/config/vm_json.c \
	cmd/engine_select.c \
	cmd/lifecycle.c \
	cmd/log/log.c \
	cmd/output.c \
	cmd/services/cloudinit.c \
	cmd/services/fetch.c \
	cmd/services/fetch_parse.c \
	cmd/services/ignition.c \
	cmd/services/rest.c \
	cmd/services/timesync.c \
	cmd/services/unix_socket.c \
	cmd/services/vsock_proxy.c \
	cmd/services/vsock_services.c
MAIN_SRCS += \
	cmd/main.c

# The downloader (cmd/services/fetch.c): libcurl; sha256 from libcrypto on
# Linux, from CommonCrypto (part of the OS) on macOS. The cloud-init ISO:
# libisofs. On Linux all three are opened on first use
# (cmd/services/ondemand_libs.c): a VM that needs neither never loads them.
ifeq ($(HOST_OS),Darwin)
LIBS += -lcurl -lisofs
else
DLOPEN_PKGS += libcurl libcrypto
LIB_SRCS += cmd/services/ondemand_libs.c
endif

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
HEADER_PKGS += libcurl libcrypto
LIB_SRCS += cmd/services/ondemand_libs.c
endif

# The REST server's libmicrohttpd, linked statically on Linux with GnuTLS
# left out (cmd/services/rest_no_tls.c answers MHD's references to it):
# Debian's shared MHD loads and initialises GnuTLS and eight more libraries
# at every start for TLS the server never uses. The stubs go on the link
# line after the archive (and are not taken from libvzkit.a, which the linker
# has passed by then).
ifneq ($(HOST_OS),Darwin)
ifneq ($(shell $(CC) -print-file-name=libmicrohttpd.a),libmicrohttpd.a)
PKGS := $(filter-out libmicrohttpd,$(PKGS))
HEADER_PKGS += libmicrohttpd
LIB_SRCS += cmd/services/rest_no_tls.c
LIBS += -l:libmicrohttpd.a $(BUILD)/cmd/services/rest_no_tls.o
endif
# Every symbol bound at start: the cleanup watcher (vz/cleanup_watcher.c), a
# fork that lives as long as the VM, then never runs the dynamic linker's
# lazy binding, which touched ld.so and libc's symbol tables in the child
# (measured: its resident set 1108 -> 692 KiB).
ALL_LDFLAGS += -Wl,-z,now
endif

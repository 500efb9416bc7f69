# vz/apple/: the Apple Virtualization framework engine — plain C over the
# Objective-C runtime, with blocks for completion handlers (clang -fblocks).
# It goes into vzkit on macOS only. On Linux it adds nothing to LIB_SRCS (gcc
# has no blocks, and Linux runs the QEMU engine); test/apple/tests.mk builds
# it there with clang against stand-ins of Apple's frameworks.

# Sources that build on both runtimes (Apple's and GNU's), one per line.
APPLE_ENGINE_SRCS := \
	vz/apple/boot.c \
	vz/apple/builder.c \
	vz/apple/completion.c \
	vz/apple/config.c \
	vz/apple/delegate.c \
	vz/apple/display.c \
	vz/apple/gui.c \
	vz/apple/host.c \
	vz/apple/install.c \
	vz/apple/network.c \
	vz/apple/runtime.c \
	vz/apple/serial.c \
	vz/apple/shares.c \
	vz/apple/storage.c \
	vz/apple/vm.c

# macOS only: the VM's queue on libdispatch.
APPLE_DARWIN_SRCS := \
	vz/apple/queue_dispatch.c

# The entitlement the framework demands of any binary that uses it; re-sign
# after every link (doc/host-facts.md, "Building the Apple engine on Linux"). NBD servers also need network.client.
APPLE_ENTITLEMENTS := vzkit.entitlements

ifeq ($(HOST_OS),Darwin)
LIB_SRCS += $(APPLE_ENGINE_SRCS) $(APPLE_DARWIN_SRCS)
BASE_CFLAGS += -fblocks
LIBS += -framework Virtualization -framework AppKit -framework Foundation -framework CoreFoundation -lobjc
# For the Makefile: run "$(VZKIT_SIGN) FILE" after linking vzkit (see doc/apple-engine.md).
VZKIT_SIGN = codesign --entitlements $(APPLE_ENTITLEMENTS) --force -s -
endif

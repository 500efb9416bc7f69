# vzkit — one Makefile. Each directory lists its own sources, one per line, in
# its module.mk (so parallel work on two modules never edits the same list).
#
#   make            build ./vzkit
#   make check      install missing Debian packages, build (ASan+UBSan), run every test
#   make demo       install missing packages, build, boot the demo guest
#   make bench      benchmarks (not tests)
#   make fuzz       run each fuzz target for a bounded time (clang, libFuzzer)
#   make cross-macos compile (and link) the macOS build here, for arm64 and x86_64
#   make coverage   make check's tests on a coverage build: per-folder summary, HTML under build/coverage/html
#   make install PREFIX=/usr/local DESTDIR=

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build/release
# The OS the build is for (make cross-macos sets Darwin on Linux).
ifndef HOST_OS
HOST_OS := $(shell uname -s)
endif

PKGS := jansson libmicrohttpd
# Packages whose headers vzkit compiles against but whose libraries are not
# linked the ordinary way: opened only when a run needs them
# (cmd/services/ondemand_libs.c) or linked statically (cmd/module.mk).
HEADER_PKGS :=
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
BASE_CFLAGS := -std=gnu11 -O2 -g $(WARNINGS) -D_GNU_SOURCE -I.
ifeq ($(WERROR),1)
BASE_CFLAGS += -Werror
endif
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) $(HEADER_PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(EXTRA_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(EXTRA_LDFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread -lutil

# Each module.mk appends to LIB_SRCS (linked into vzkit and the tests),
# MAIN_SRCS (vzkit's main only), TEST_PROGRAMS, TEST_SCRIPTS, BENCH_PROGRAMS.
LIB_SRCS :=
MAIN_SRCS :=
TEST_PROGRAMS :=
TEST_SCRIPTS :=
BENCH_PROGRAMS :=
FUZZ_TARGETS :=
include flags/module.mk
include devices/module.mk
include bootloader/module.mk
include vz/module.mk
include vz/qemu/module.mk
include vz/apple/module.mk
include cmd/module.mk
include test/module.mk

LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJS = $(MAIN_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all check check-build check-long coverage demo bench fuzz fuzz-build install clean deps sign cross-macos print-srcs
all: vzkit

vzkit: $(BUILD)/vzkit
	cp $< $@

$(BUILD)/vzkit: $(MAIN_OBJS) $(BUILD)/libvzkit.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(MAIN_OBJS) $(BUILD)/libvzkit.a $(LIBS)
	$(if $(VZKIT_SIGN),$(VZKIT_SIGN) $@)

# macOS: the Virtualization framework needs the entitlement after every link.
sign: vzkit
	$(if $(VZKIT_SIGN),$(VZKIT_SIGN) vzkit,@echo "make sign: only needed on macOS")

$(BUILD)/libvzkit.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJS:.o=.d) $(wildcard $(BUILD)/test/*/*.d)

# Test programs: test/<dir>/<name>.c → $(BUILD)/test/<dir>/<name>, linked with the library.
$(BUILD)/test/%: test/%.c $(BUILD)/libvzkit.a test/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(ALL_LDFLAGS) $(FUZZ_LDFLAGS) -o $@ $< $(BUILD)/libvzkit.a $(LIBS) $(TEST_LIBS_$(notdir $*))

# The demo: the test guest (host's Debian kernel + busybox initramfs) with its
# console on this terminal; it greets, lists its devices and powers off.
DEMO_DIR := build/demo
demo: deps vzkit
	bash test/guest/build.sh $(DEMO_DIR)
	@[ -f $(DEMO_DIR)/disk.img ] || truncate -s 64M $(DEMO_DIR)/disk.img
	@mkdir -p $(DEMO_DIR)/share && echo "Hello from the host, through virtio-fs" > $(DEMO_DIR)/share/hello.txt
	./vzkit --cpus 2 --memory 512 \
		--bootloader linux,kernel=$(DEMO_DIR)/vmlinuz,initrd=$(DEMO_DIR)/initrd.img,cmdline='"console=hvc0 quiet vzkit.mode=demo vzkit.shares=share"' \
		--device virtio-serial,stdio \
		--device virtio-blk,path=$(DEMO_DIR)/disk.img,deviceId=demo-disk \
		--device virtio-net,nat \
		--device virtio-rng \
		--device virtio-balloon \
		--device virtio-fs,sharedDir=$(CURDIR)/$(DEMO_DIR)/share,mountTag=share

# Debian packages: one list, installed when missing (root on Debian only).
deps:
	@sh test/install-deps.sh debian-packages.txt

# The checked build: ASan + UBSan, warnings are errors.
CHECK_BUILD := build/check
CHECK_FLAGS := WERROR=1 BUILD=$(CHECK_BUILD) \
	EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	EXTRA_LDFLAGS="-fsanitize=address,undefined"

check: deps
	$(MAKE) --no-print-directory $(CHECK_FLAGS) check-build
	VZKIT=$(CURDIR)/$(CHECK_BUILD)/vzkit BUILD_DIR=$(CURDIR)/$(CHECK_BUILD) \
		sh test/run-tests.sh $(addprefix $(CHECK_BUILD)/,$(TEST_PROGRAMS)) $(TEST_SCRIPTS)

check-build: $(BUILD)/vzkit $(addprefix $(BUILD)/,$(TEST_PROGRAMS)) $(CHECK_EXTRA_TARGETS)

check-long: deps
	$(MAKE) --no-print-directory $(CHECK_FLAGS) check-build
	VZKIT=$(CURDIR)/$(CHECK_BUILD)/vzkit BUILD_DIR=$(CURDIR)/$(CHECK_BUILD) VZKIT_LONG=1 \
		sh test/run-tests.sh $(addprefix $(CHECK_BUILD)/,$(TEST_PROGRAMS)) $(TEST_SCRIPTS) $(LONG_TEST_SCRIPTS)

# Coverage: make check's tests on a gcc --coverage build (no sanitizers), then
# lines and branches per folder and an HTML report (test/coverage.sh).
COVERAGE_BUILD := build/coverage
coverage: deps
	$(MAKE) --no-print-directory BUILD=$(COVERAGE_BUILD) EXTRA_CFLAGS="-O0 --coverage" EXTRA_LDFLAGS="--coverage" \
		APPLE_TEST_LIBS="-lobjc -lBlocksRuntime -lutil -lpthread -lgcov" check-build
	find $(COVERAGE_BUILD) -name '*.gcda' -delete
	-VZKIT=$(CURDIR)/$(COVERAGE_BUILD)/vzkit BUILD_DIR=$(CURDIR)/$(COVERAGE_BUILD) \
		sh test/run-tests.sh $(addprefix $(COVERAGE_BUILD)/,$(TEST_PROGRAMS)) $(TEST_SCRIPTS)
	bash test/coverage.sh $(COVERAGE_BUILD)

bench: deps vzkit $(addprefix $(BUILD)/,$(BENCH_PROGRAMS))
	@for b in $(addprefix $(BUILD)/,$(BENCH_PROGRAMS)) $(BENCH_SCRIPTS); do \
		echo "== $$b"; VZKIT=$(CURDIR)/vzkit BUILD_DIR=$(CURDIR)/$(BUILD) $$b || exit 1; done

# Fuzz targets (FUZZ_TARGETS: test/.../fuzz_*.c defining LLVMFuzzerTestOneInput),
# built with clang's libFuzzer + ASan/UBSan, each run for FUZZ_SECONDS.
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 30
fuzz: deps
	$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) FUZZ_LDFLAGS=-fsanitize=fuzzer \
		EXTRA_CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh test/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_TARGETS:.c=)

fuzz-build: $(addprefix $(BUILD)/,$(FUZZ_TARGETS:.c=))

# The macOS build compiled on Linux with zig cc and Apple's libc headers, warnings
# as errors, and linked as far as the headers' SDK piece allows
# (test/cross-macos/README.md). Also part of make check.
cross-macos: deps
	bash test/cross-macos/test_cross_macos.sh

# The sources of this build (HOST_OS=Darwin: the macOS build's), for cross-macos.
print-srcs:
	@echo $(LIB_SRCS) $(MAIN_SRCS)

install: vzkit
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 vzkit $(DESTDIR)$(PREFIX)/bin/vzkit
	install -m 0644 doc/vzkit.1 $(DESTDIR)$(PREFIX)/share/man/man1/vzkit.1

clean:
	rm -rf build vzkit

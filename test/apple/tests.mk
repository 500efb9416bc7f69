# test/apple: the Apple engine (vz/apple/) on Linux, against stand-ins of
# Apple's frameworks registered in the GNU Objective-C runtime. Needs clang
# -fblocks (gcc has no blocks), libobjc (libobjc-12-dev: its headers live in
# gcc's private include directory) and libBlocksRuntime. The engine sources
# are compiled here (libvzkit.a has no Apple engine on Linux); libvzkit.a
# supplies vz/ and flags/.
#
# Only pattern rules here: an explicit target in an included file (a .d
# dependency file included too) would become make's default goal. So header
# dependencies are coarse: every object depends on every header it may use.

APPLE_TEST_CC ?= clang
# The gcc include directory that holds objc/runtime.h (libobjc-N-dev).
APPLE_OBJC_INCLUDE := $(patsubst %/objc/runtime.h,%,$(firstword $(wildcard /usr/lib/gcc/*/*/include/objc/runtime.h)))

APPLE_TEST_SRCS := \
	test/apple/main.c \
	test/apple/rig.c \
	test/apple/standin.c \
	test/apple/sync_queue.c \
	test/apple/test_config.c \
	test/apple/test_install.c \
	test/apple/test_lifecycle.c \
	test/apple/test_tables.c \
	test/apple/tsv.c

APPLE_TEST_OBJS = $(patsubst %.c,$(BUILD)/test/apple/obj/%.o,$(APPLE_ENGINE_SRCS) $(APPLE_TEST_SRCS))
APPLE_TEST_CFLAGS = -std=gnu11 -O2 -g $(WARNINGS) -D_GNU_SOURCE -I. -fblocks -idirafter $(APPLE_OBJC_INCLUDE) \
	$(if $(filter 1,$(WERROR)),-Werror) $(EXTRA_CFLAGS) $(CFLAGS)
APPLE_TEST_LIBS = -lobjc -lBlocksRuntime -lutil -lpthread

APPLE_TEST_HEADERS := $(wildcard flags/*.h vz/*.h vz/apple/*.h vz/apple/*.def test/apple/*.h)

# The shortest stem wins over the generic $(BUILD)/%.o rule.
$(BUILD)/test/apple/obj/%.o: %.c $(APPLE_TEST_HEADERS)
	@mkdir -p $(dir $@)
	$(APPLE_TEST_CC) $(APPLE_TEST_CFLAGS) -c -o $@ $<

# test_apple has no test_apple.c, so the generic $(BUILD)/test/% rule does not apply.
$(BUILD)/test/apple/test_%: $(APPLE_TEST_OBJS) $(BUILD)/libvzkit.a
	@mkdir -p $(dir $@)
	$(APPLE_TEST_CC) $(APPLE_TEST_CFLAGS) $(ALL_LDFLAGS) -o $@ $(APPLE_TEST_OBJS) $(BUILD)/libvzkit.a $(LIBS) \
		$(APPLE_TEST_LIBS)

TEST_PROGRAMS += \
	test/apple/test_apple

# Keep the objects between builds (they are intermediate files of the pattern chain).
.SECONDARY: $(APPLE_TEST_OBJS)

/* The Apple engine's one message-send layer: plain C over the Objective-C
 * runtime, the same source on Apple's runtime (objc_msgSend, cast to the
 * exact C function type of each type encoding) and on the GNU runtime
 * (objc_msg_lookup, then the same cast) that the Linux test rig uses.
 *
 * Every send names an entry of messages.def. The layer checks the tagged
 * arguments against the entry's type encoding, the host against its macOS
 * version and architecture, the receiver against its declaring class, and
 * that the receiver responds at all (an unknown selector kills the process on
 * both runtimes) — so a mistake in the engine becomes an error line, not a
 * crash. Failures reported through NSError (a nil initializer or a NO, with
 * the error out-parameter) come back as one line: "description (domain
 * error code)". */
#ifndef VZKIT_VZ_APPLE_RUNTIME_H
#define VZKIT_VZ_APPLE_RUNTIME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <objc/message.h>
#include <objc/runtime.h>
#if defined(__APPLE__)
#include <objc/NSObjCRuntime.h>
#else
typedef long NSInteger;
typedef unsigned long NSUInteger;
#endif

#include "flags/error.h"
#include "vz/apple/host.h"

typedef double NSTimeInterval;

/* CGRect, by value (NSWindow's content rectangle). */
struct apple_point {
	double x, y;
};
struct apple_size {
	double width, height;
};
struct apple_rect {
	struct apple_point origin;
	struct apple_size size;
};

enum apple_origin {
	APPLE_ORIGIN_VZ = 0,     /* Virtualization.framework: checked against vz-selectors.tsv */
	APPLE_ORIGIN_NSOBJECT,   /* inherited from NSObject */
	APPLE_ORIGIN_FOUNDATION, /* NSString, NSURL, ... */
	APPLE_ORIGIN_APPKIT,     /* --gui */
};

enum apple_arch {
	APPLE_ARCH_ANY = 0,
	APPLE_ARCH_ARM64, /* Apple silicon only */
};

#define APPLE_QUERY 1u /* see messages.def */

enum apple_class_id {
#define APPLE_CLASS(id, name, origin, major, minor, arch) id,
#define APPLE_MESSAGE(id, cls, kind, selector, types, major, minor, arch, flags)
#define APPLE_CALLBACK(id, protocol, selector, types)
#include "vz/apple/messages.def"
#undef APPLE_CLASS
#undef APPLE_MESSAGE
#undef APPLE_CALLBACK
	APPLE_CLASS_COUNT
};

enum apple_message_id {
#define APPLE_CLASS(id, name, origin, major, minor, arch)
#define APPLE_MESSAGE(id, cls, kind, selector, types, major, minor, arch, flags) id,
#define APPLE_CALLBACK(id, protocol, selector, types)
#include "vz/apple/messages.def"
#undef APPLE_CLASS
#undef APPLE_MESSAGE
#undef APPLE_CALLBACK
	APPLE_MESSAGE_COUNT
};

enum apple_callback_id {
#define APPLE_CLASS(id, name, origin, major, minor, arch)
#define APPLE_MESSAGE(id, cls, kind, selector, types, major, minor, arch, flags)
#define APPLE_CALLBACK(id, protocol, selector, types) id,
#include "vz/apple/messages.def"
#undef APPLE_CLASS
#undef APPLE_MESSAGE
#undef APPLE_CALLBACK
	APPLE_CALLBACK_COUNT
};

struct apple_class_info {
	const char *name;
	enum apple_origin origin;
	struct apple_version since;
	enum apple_arch arch;
};

struct apple_message_info {
	enum apple_class_id declared_in;
	char kind; /* '+' class method, '-' instance method */
	const char *selector;
	const char *types;
	struct apple_version since;
	enum apple_arch arch;
	unsigned flags;
};

struct apple_callback_info {
	const char *protocol;
	const char *selector;
	const char *types;
};

extern const struct apple_class_info apple_classes[APPLE_CLASS_COUNT];
extern const struct apple_message_info apple_messages[APPLE_MESSAGE_COUNT];
extern const struct apple_callback_info apple_callbacks[APPLE_CALLBACK_COUNT];

/* ---- arguments: one per type element after "@:" ---- */
enum apple_arg_kind {
	APPLE_ARG_END = 0,   /* sentinel, added by the apple_send macro */
	APPLE_ARG_OBJECT,    /* @ */
	APPLE_ARG_BOOL,      /* Z */
	APPLE_ARG_INTEGER,   /* q  NSInteger */
	APPLE_ARG_UINTEGER,  /* Q  NSUInteger */
	APPLE_ARG_UINT32,    /* I */
	APPLE_ARG_INT,       /* i */
	APPLE_ARG_DOUBLE,    /* d */
	APPLE_ARG_CSTRING,   /* r* */
	APPLE_ARG_BLOCK,     /* @? */
	APPLE_ARG_ERROR_OUT, /* ^@ as NSError **: the layer supplies the storage */
	APPLE_ARG_OBJECTS,   /* ^@ as id * (a C array of objects) */
	APPLE_ARG_RECT,      /* {CGRect=...} */
};

union apple_value {
	id object;
	BOOL boolean;
	NSInteger integer;
	NSUInteger uinteger;
	uint32_t uint32;
	int int32;
	double real;
	const char *cstring;
	void *block;
	id *objects;
	struct apple_rect rect;
};

struct apple_arg {
	enum apple_arg_kind kind;
	union apple_value value;
};

static inline struct apple_arg apple_arg_object(id v)
{
	return (struct apple_arg){.kind = APPLE_ARG_OBJECT, .value.object = v};
}
static inline struct apple_arg apple_arg_bool(bool v)
{
	return (struct apple_arg){.kind = APPLE_ARG_BOOL, .value.boolean = v ? YES : NO};
}
static inline struct apple_arg apple_arg_integer(NSInteger v)
{
	return (struct apple_arg){.kind = APPLE_ARG_INTEGER, .value.integer = v};
}
static inline struct apple_arg apple_arg_uinteger(NSUInteger v)
{
	return (struct apple_arg){.kind = APPLE_ARG_UINTEGER, .value.uinteger = v};
}
static inline struct apple_arg apple_arg_uint32(uint32_t v)
{
	return (struct apple_arg){.kind = APPLE_ARG_UINT32, .value.uint32 = v};
}
static inline struct apple_arg apple_arg_int(int v)
{
	return (struct apple_arg){.kind = APPLE_ARG_INT, .value.int32 = v};
}
static inline struct apple_arg apple_arg_double(double v)
{
	return (struct apple_arg){.kind = APPLE_ARG_DOUBLE, .value.real = v};
}
static inline struct apple_arg apple_arg_cstring(const char *v)
{
	return (struct apple_arg){.kind = APPLE_ARG_CSTRING, .value.cstring = v};
}
/* A block literal (clang -fblocks), e.g. apple_arg_block((void *)^(id error) {...}). */
static inline struct apple_arg apple_arg_block(void *v)
{
	return (struct apple_arg){.kind = APPLE_ARG_BLOCK, .value.block = v};
}
static inline struct apple_arg apple_arg_error_out(void)
{
	return (struct apple_arg){.kind = APPLE_ARG_ERROR_OUT};
}
static inline struct apple_arg apple_arg_objects(id *v)
{
	return (struct apple_arg){.kind = APPLE_ARG_OBJECTS, .value.objects = v};
}
static inline struct apple_arg apple_arg_rect(struct apple_rect v)
{
	return (struct apple_arg){.kind = APPLE_ARG_RECT, .value.rect = v};
}

#define APPLE_MAX_ARGS 8

/* Sends `message` to `receiver` (an instance, or a class object from
 * apple_class_object for '+' messages). host: refuse what it lacks (NULL:
 * no check). result: the return value (may be NULL). 0, or -1 with err. */
int apple_send_array(const struct apple_host *host, enum apple_message_id message, id receiver,
		     const struct apple_arg *args, size_t arg_count, union apple_value *result,
		     struct vzk_error *err);
int apple_send_list(const struct apple_host *host, enum apple_message_id message, id receiver,
		    union apple_value *result, struct vzk_error *err, ...);
#define apple_send(host, message, receiver, result, err, ...) \
	apple_send_list((host), (message), (receiver), (result), (err), ##__VA_ARGS__, \
			((struct apple_arg){.kind = APPLE_ARG_END}))

/* The arguments gathered from a va_list up to the END sentinel; -1 with err
 * when there are more than APPLE_MAX_ARGS. */
int apple_collect_args(va_list *ap, struct apple_arg *args, size_t *count, struct vzk_error *err);

/* Whether the arguments fit the message's type encoding (kinds and count). */
int apple_check_args(enum apple_message_id message, const struct apple_arg *args, size_t arg_count,
		     struct vzk_error *err);
/* Whether the host has the class / the message (usage error naming what is missing). */
int apple_check_class(const struct apple_host *host, enum apple_class_id cls, struct vzk_error *err);
int apple_check_message(const struct apple_host *host, enum apple_message_id message, struct vzk_error *err);

/* The runtime's class object, or NULL with err when the runtime lacks it. */
id apple_class_object(enum apple_class_id cls, struct vzk_error *err);

/* True for init... selectors: their result is owned (+1) and nil means failure. */
bool apple_message_is_init(enum apple_message_id message);

/* Number of arguments after "@:" in a type encoding, and the element at
 * index (its length; 0 past the end). */
size_t apple_types_arg_count(const char *types);
size_t apple_types_element(const char *types, size_t index, const char **start);

/* "The operation couldn't be completed. (VZErrorDomain error 2)" for an
 * NSError; "unknown error" for nil. */
void apple_describe_error(id error, char *out, size_t size);
/* The UTF-8 text of an NSString (NULL for nil), valid while the string lives. */
const char *apple_string_text(id string);

/* The runtime's type code for BOOL: 'c' (signed char) on Apple's x86_64,
 * 'B' (bool) on Apple's arm64, 'C' (unsigned char) on the GNU runtime.
 * messages.def writes BOOL as 'Z', which no runtime knows. */
enum apple_runtime_kind { APPLE_RUNTIME_APPLE = 0, APPLE_RUNTIME_GNU };
char apple_bool_type_code(enum apple_runtime_kind runtime, enum apple_host_arch arch);
/* A messages.def encoding with 'Z' replaced by this build's BOOL code, for
 * class_addMethod; -1 when it does not fit in `size`. */
int apple_runtime_types(const char *types, char *out, size_t size);

/* Autorelease pools around each call path and each callback the framework
 * makes into us (a dispatch worker or the framework's own thread drains its
 * pool rarely, if ever): objc_autoreleasePoolPush/Pop on Apple's runtime; on
 * the GNU runtime, which has none, only a per-thread count. */
void *apple_pool_push(void);
void apple_pool_pop(void *pool);
#if !defined(__APPLE__)
/* The test rig: this thread's pool count, set to `depth` (the previous one
 * returned), e.g. 0 while calling back as a framework thread would. */
int apple_pool_depth_swap(int depth);
#endif

/* The C function type a type encoding is sent with, e.g. "id (*)(id, SEL, id)",
 * or NULL when the layer has no cast for it (tests compare these with the
 * c_cast column of vz-selectors.tsv). */
const char *apple_signature_cast(const char *types);

#endif

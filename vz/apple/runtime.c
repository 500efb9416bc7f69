#include "vz/apple/runtime.h"

#include <stdio.h>
#include <string.h>

const struct apple_class_info apple_classes[APPLE_CLASS_COUNT] = {
#define APPLE_CLASS(id, name, origin, major, minor, arch) [id] = {name, origin, {major, minor}, arch},
#define APPLE_MESSAGE(id, cls, kind, selector, types, major, minor, arch, flags)
#define APPLE_CALLBACK(id, protocol, selector, types)
#include "vz/apple/messages.def"
#undef APPLE_CLASS
#undef APPLE_MESSAGE
#undef APPLE_CALLBACK
};

const struct apple_message_info apple_messages[APPLE_MESSAGE_COUNT] = {
#define APPLE_CLASS(id, name, origin, major, minor, arch)
#define APPLE_MESSAGE(id, cls, kind, selector, types, major, minor, arch, flags) \
	[id] = {cls, kind, selector, types, {major, minor}, arch, flags},
#define APPLE_CALLBACK(id, protocol, selector, types)
#include "vz/apple/messages.def"
#undef APPLE_CLASS
#undef APPLE_MESSAGE
#undef APPLE_CALLBACK
};

const struct apple_callback_info apple_callbacks[APPLE_CALLBACK_COUNT] = {
#define APPLE_CLASS(id, name, origin, major, minor, arch)
#define APPLE_MESSAGE(id, cls, kind, selector, types, major, minor, arch, flags)
#define APPLE_CALLBACK(id, protocol, selector, types) [id] = {protocol, selector, types},
#include "vz/apple/messages.def"
#undef APPLE_CLASS
#undef APPLE_MESSAGE
#undef APPLE_CALLBACK
};

/* ---- one C function type per type encoding ----
 * objc_msgSend (Apple) or the method found by objc_msg_lookup (GNU) is called
 * through exactly the prototype of the method; each SIG_* line below makes
 * the caller and records the prototype's text for the tests. */

typedef void (*apple_fn)(void);
typedef void (*apple_caller)(apple_fn fn, id receiver, SEL selector, const struct apple_arg *a,
			     union apple_value *out);

struct apple_signature {
	const char *types;
	apple_caller call;
	const char *cast;
};

#define A(i, field) a[i].value.field

#define SIG_VALUE(name, types, field, cast, ...)                                                      \
	static void call_##name(apple_fn fn, id r, SEL s, const struct apple_arg *a, union apple_value *out) \
	{                                                                                             \
		(void)a;                                                                              \
		out->field = ((cast)fn)(r, s, ##__VA_ARGS__);                                         \
	}                                                                                             \
	static const struct apple_signature sig_##name = {types, call_##name, #cast};

#define SIG_VOID(name, types, cast, ...)                                                              \
	static void call_##name(apple_fn fn, id r, SEL s, const struct apple_arg *a, union apple_value *out) \
	{                                                                                             \
		(void)a;                                                                              \
		(void)out;                                                                            \
		((cast)fn)(r, s, ##__VA_ARGS__);                                                      \
	}                                                                                             \
	static const struct apple_signature sig_##name = {types, call_##name, #cast};

SIG_VALUE(o, "@@:", object, id (*)(id, SEL))
SIG_VALUE(o_o, "@@:@", object, id (*)(id, SEL, id), A(0, object))
SIG_VALUE(o_oo, "@@:@@", object, id (*)(id, SEL, id, id), A(0, object), A(1, object))
SIG_VALUE(o_oUe, "@@:@Q^@", object, id (*)(id, SEL, id, NSUInteger, id *), A(0, object), A(1, uinteger),
	  A(2, objects))
SIG_VALUE(o_oZe, "@@:@Z^@", object, id (*)(id, SEL, id, BOOL, id *), A(0, object), A(1, boolean), A(2, objects))
SIG_VALUE(o_oZqqe, "@@:@Zqq^@", object, id (*)(id, SEL, id, BOOL, NSInteger, NSInteger, id *), A(0, object),
	  A(1, boolean), A(2, integer), A(3, integer), A(4, objects))
SIG_VALUE(o_oZqe, "@@:@Zq^@", object, id (*)(id, SEL, id, BOOL, NSInteger, id *), A(0, object), A(1, boolean),
	  A(2, integer), A(3, objects))
SIG_VALUE(o_odZqe, "@@:@dZq^@", object, id (*)(id, SEL, id, NSTimeInterval, BOOL, NSInteger, id *),
	  A(0, object), A(1, real), A(2, boolean), A(3, integer), A(4, objects))
SIG_VALUE(o_oZ, "@@:@Z", object, id (*)(id, SEL, id, BOOL), A(0, object), A(1, boolean))
SIG_VALUE(o_e, "@@:^@", object, id (*)(id, SEL, id *), A(0, objects))
SIG_VALUE(o_qq, "@@:qq", object, id (*)(id, SEL, NSInteger, NSInteger), A(0, integer), A(1, integer))
SIG_VALUE(o_qqq, "@@:qqq", object, id (*)(id, SEL, NSInteger, NSInteger, NSInteger), A(0, integer),
	  A(1, integer), A(2, integer))
SIG_VALUE(o_s, "@@:r*", object, id (*)(id, SEL, const char *), A(0, cstring))
SIG_VALUE(o_pU, "@@:^@Q", object, id (*)(id, SEL, id *, NSUInteger), A(0, objects), A(1, uinteger))
SIG_VALUE(o_U, "@@:Q", object, id (*)(id, SEL, NSUInteger), A(0, uinteger))
SIG_VALUE(o_iZ, "@@:iZ", object, id (*)(id, SEL, int, BOOL), A(0, int32), A(1, boolean))
SIG_VALUE(o_d, "@@:d", object, id (*)(id, SEL, NSTimeInterval), A(0, real))
SIG_VALUE(o_UooZ, "@@:Q@@Z", object, id (*)(id, SEL, NSUInteger, id, id, BOOL), A(0, uinteger), A(1, object),
	  A(2, object), A(3, boolean))
SIG_VALUE(o_rUUZ, "@@:{CGRect={CGPoint=dd}{CGSize=dd}}QQZ", object,
	  id (*)(id, SEL, struct apple_rect, NSUInteger, NSUInteger, BOOL), A(0, rect), A(1, uinteger),
	  A(2, uinteger), A(3, boolean))
SIG_VALUE(Z, "Z@:", boolean, BOOL (*)(id, SEL))
SIG_VALUE(Z_e, "Z@:^@", boolean, BOOL (*)(id, SEL, id *), A(0, objects))
SIG_VALUE(Z_oe, "Z@:@^@", boolean, BOOL (*)(id, SEL, id, id *), A(0, object), A(1, objects))
SIG_VALUE(Z_q, "Z@:q", boolean, BOOL (*)(id, SEL, NSInteger), A(0, integer))
SIG_VALUE(Z_oUe, "Z@:@Q^@", boolean, BOOL (*)(id, SEL, id, NSUInteger, id *), A(0, object), A(1, uinteger),
	  A(2, objects))
SIG_VALUE(o_ooUe, "@@:@@Q^@", object, id (*)(id, SEL, id, id, NSUInteger, id *), A(0, object), A(1, object),
	  A(2, uinteger), A(3, objects))
SIG_VALUE(d, "d@:", real, NSTimeInterval (*)(id, SEL))
SIG_VALUE(q, "q@:", integer, NSInteger (*)(id, SEL))
SIG_VALUE(U, "Q@:", uinteger, NSUInteger (*)(id, SEL))
SIG_VALUE(i, "i@:", int32, int (*)(id, SEL))
SIG_VALUE(s, "r*@:", cstring, const char *(*)(id, SEL))
SIG_VOID(v, "v@:", void (*)(id, SEL))
SIG_VOID(v_o, "v@:@", void (*)(id, SEL, id), A(0, object))
SIG_VOID(v_U, "v@:Q", void (*)(id, SEL, NSUInteger), A(0, uinteger))
SIG_VOID(v_Z, "v@:Z", void (*)(id, SEL, BOOL), A(0, boolean))
SIG_VOID(v_b, "v@:@?", void (*)(id, SEL, void *), A(0, block))
SIG_VOID(v_oI, "v@:@I", void (*)(id, SEL, id, uint32_t), A(0, object), A(1, uint32))
SIG_VOID(v_oU, "v@:@Q", void (*)(id, SEL, id, NSUInteger), A(0, object), A(1, uinteger))
SIG_VOID(v_I, "v@:I", void (*)(id, SEL, uint32_t), A(0, uint32))
SIG_VOID(v_Ib, "v@:I@?", void (*)(id, SEL, uint32_t, void *), A(0, uint32), A(1, block))
SIG_VOID(v_ob, "v@:@@?", void (*)(id, SEL, id, void *), A(0, object), A(1, block))

static const struct apple_signature *const signatures[] = {
	&sig_o, &sig_o_o, &sig_o_oo, &sig_o_oUe, &sig_o_oZe, &sig_o_oZqqe, &sig_o_oZqe, &sig_o_odZqe,
	&sig_o_oZ, &sig_o_e, &sig_o_qq, &sig_o_qqq, &sig_o_s, &sig_o_pU, &sig_o_U, &sig_o_iZ, &sig_o_d,
	&sig_o_UooZ, &sig_o_rUUZ, &sig_Z, &sig_Z_e, &sig_Z_oe, &sig_Z_q, &sig_Z_oUe, &sig_o_ooUe, &sig_d, &sig_q, &sig_U, &sig_i, &sig_s,
	&sig_v, &sig_v_o, &sig_v_U, &sig_v_Z, &sig_v_b, &sig_v_oI, &sig_v_oU, &sig_v_I, &sig_v_Ib, &sig_v_ob,
};

static const struct apple_signature *find_signature(const char *types)
{
	for (size_t i = 0; i < sizeof(signatures) / sizeof(signatures[0]); i++)
		if (strcmp(signatures[i]->types, types) == 0)
			return signatures[i];
	return NULL;
}

const char *apple_signature_cast(const char *types)
{
	const struct apple_signature *sig = find_signature(types);
	return sig != NULL ? sig->cast : NULL;
}

static apple_fn message_function(id receiver, SEL selector)
{
#if defined(__APPLE__)
	(void)receiver;
	(void)selector;
	return (apple_fn)objc_msgSend;
#else
	return (apple_fn)objc_msg_lookup(receiver, selector);
#endif
}

/* ---- type encodings ---- */

static size_t element_length(const char *p)
{
	if (p[0] == '\0')
		return 0;
	if (p[0] == '@' && p[1] == '?')
		return 2;
	if (p[0] == 'r' || p[0] == '^') {
		size_t inner = element_length(p + 1);
		return inner == 0 ? 0 : 1 + inner;
	}
	if (p[0] == '{') {
		size_t depth = 0;
		for (size_t i = 0; p[i] != '\0'; i++) {
			if (p[i] == '{')
				depth++;
			else if (p[i] == '}' && --depth == 0)
				return i + 1;
		}
		return 0;
	}
	return 1;
}

/* Element `index` counted from the start (0: the return type). */
static size_t raw_element(const char *types, size_t index, const char **start)
{
	const char *p = types;

	for (size_t i = 0;; i++) {
		size_t length = element_length(p);
		if (length == 0)
			return 0;
		if (i == index) {
			*start = p;
			return length;
		}
		p += length;
	}
}

size_t apple_types_element(const char *types, size_t index, const char **start)
{
	return raw_element(types, index + 3, start); /* after return type, '@' and ':' */
}

size_t apple_types_arg_count(const char *types)
{
	const char *start;
	size_t count = 0;

	while (apple_types_element(types, count, &start) != 0)
		count++;
	return count;
}

static bool element_is(const char *start, size_t length, const char *text)
{
	return strlen(text) == length && memcmp(start, text, length) == 0;
}

static bool kind_fits(enum apple_arg_kind kind, const char *start, size_t length, bool last)
{
	switch (kind) {
	case APPLE_ARG_OBJECT:
		return element_is(start, length, "@");
	case APPLE_ARG_BOOL:
		return element_is(start, length, "Z");
	case APPLE_ARG_INTEGER:
		return element_is(start, length, "q");
	case APPLE_ARG_UINTEGER:
		return element_is(start, length, "Q");
	case APPLE_ARG_UINT32:
		return element_is(start, length, "I");
	case APPLE_ARG_INT:
		return element_is(start, length, "i");
	case APPLE_ARG_DOUBLE:
		return element_is(start, length, "d");
	case APPLE_ARG_CSTRING:
		return element_is(start, length, "r*");
	case APPLE_ARG_BLOCK:
		return element_is(start, length, "@?");
	case APPLE_ARG_ERROR_OUT:
		return last && element_is(start, length, "^@");
	case APPLE_ARG_OBJECTS:
		return element_is(start, length, "^@");
	case APPLE_ARG_RECT:
		return length > 8 && memcmp(start, "{CGRect=", 8) == 0;
	case APPLE_ARG_END:
		return false;
	}
	return false;
}

static const char *message_class_name(enum apple_message_id message)
{
	return apple_classes[apple_messages[message].declared_in].name;
}

int apple_check_args(enum apple_message_id message, const struct apple_arg *args, size_t arg_count,
		     struct vzk_error *err)
{
	const struct apple_message_info *info = &apple_messages[message];
	size_t want = apple_types_arg_count(info->types);

	if (arg_count != want)
		return vzk_runtime_error(err, "internal error: %c[%s %s] takes %zu arguments, not %zu", info->kind,
					 message_class_name(message), info->selector, want, arg_count);
	for (size_t i = 0; i < arg_count; i++) {
		const char *start;
		size_t length = apple_types_element(info->types, i, &start);
		if (!kind_fits(args[i].kind, start, length, i + 1 == arg_count))
			return vzk_runtime_error(err, "internal error: argument %zu of %c[%s %s] does not fit type '%.*s'",
						 i + 1, info->kind, message_class_name(message), info->selector,
						 (int)length, start);
	}
	return 0;
}

int apple_collect_args(va_list *ap, struct apple_arg *args, size_t *count, struct vzk_error *err)
{
	*count = 0;
	for (;;) {
		struct apple_arg arg = va_arg(*ap, struct apple_arg);
		if (arg.kind == APPLE_ARG_END)
			return 0;
		if (*count == APPLE_MAX_ARGS)
			return vzk_runtime_error(err, "internal error: more than %d message arguments", APPLE_MAX_ARGS);
		args[(*count)++] = arg;
	}
}

/* ---- host gating ---- */

static int check_availability(const struct apple_host *host, const char *what, struct apple_version since,
			      enum apple_arch arch, struct vzk_error *err)
{
	if (host == NULL)
		return 0;
	if (arch == APPLE_ARCH_ARM64 && host->arch != APPLE_HOST_ARM64)
		return vzk_usage_error(err, "%s needs a Mac with Apple silicon (arm64); this host is %s", what,
				       apple_host_arch_name(host->arch));
	if (!apple_version_at_least(host->macos, since))
		return vzk_usage_error(err, "%s needs macOS %u.%u or newer; this host runs macOS %u.%u", what,
				       since.major, since.minor, host->macos.major, host->macos.minor);
	return 0;
}

int apple_check_class(const struct apple_host *host, enum apple_class_id cls, struct vzk_error *err)
{
	const struct apple_class_info *info = &apple_classes[cls];
	return check_availability(host, info->name, info->since, info->arch, err);
}

int apple_check_message(const struct apple_host *host, enum apple_message_id message, struct vzk_error *err)
{
	const struct apple_message_info *info = &apple_messages[message];
	char what[200];

	snprintf(what, sizeof(what), "%c[%s %s]", info->kind, message_class_name(message), info->selector);
	return check_availability(host, what, info->since, info->arch, err);
}

id apple_class_object(enum apple_class_id cls, struct vzk_error *err)
{
	Class found = objc_lookUpClass(apple_classes[cls].name);

	if (found == Nil) {
		vzk_runtime_error(err, "the Objective-C runtime has no class %s (is the framework linked?)",
				  apple_classes[cls].name);
		return nil;
	}
	return (id)found;
}

bool apple_message_is_init(enum apple_message_id message)
{
	const struct apple_message_info *info = &apple_messages[message];
	return info->types[0] == '@' && strncmp(info->selector, "init", 4) == 0;
}

/* Whether the receiver is what the message is declared for: a class object
 * (or subclass) for '+', an instance of the class (or a subclass) for '-'. */
static bool receiver_fits(id receiver, const struct apple_message_info *info)
{
	Class cls = object_getClass(receiver);
	bool is_class = class_isMetaClass(cls);
	const char *want = apple_classes[info->declared_in].name;

	if ((info->kind == '+') != is_class)
		return false;
	for (Class walk = is_class ? (Class)receiver : cls; walk != Nil; walk = class_getSuperclass(walk))
		if (strcmp(class_getName(walk), want) == 0)
			return true;
	return false;
}

static const char *receiver_name(id receiver)
{
	Class cls = object_getClass(receiver);
	return class_isMetaClass(cls) ? class_getName((Class)receiver) : class_getName(cls);
}

int apple_send_array(const struct apple_host *host, enum apple_message_id message, id receiver,
		     const struct apple_arg *args, size_t arg_count, union apple_value *result,
		     struct vzk_error *err)
{
	const struct apple_message_info *info = &apple_messages[message];
	const char *cls = message_class_name(message);
	struct apple_arg call_args[APPLE_MAX_ARGS];
	union apple_value out;
	const struct apple_signature *sig;
	bool has_error_out = false, failed = false;
	id error = nil;
	SEL selector;

	if (apple_check_message(host, message, err) != 0 || apple_check_args(message, args, arg_count, err) != 0)
		return -1;
	if (receiver == nil)
		return vzk_runtime_error(err, "internal error: %c[%s %s] sent to nil", info->kind, cls, info->selector);
	sig = find_signature(info->types);
	if (sig == NULL)
		return vzk_runtime_error(err, "internal error: no C function type for encoding %s", info->types);
	if (!receiver_fits(receiver, info))
		return vzk_runtime_error(err, "internal error: %c[%s %s] sent to %s %s", info->kind, cls,
					 info->selector, class_isMetaClass(object_getClass(receiver)) ? "class" : "an instance of",
					 receiver_name(receiver));
	selector = sel_registerName(info->selector);
	if (!class_respondsToSelector(object_getClass(receiver), selector))
		return vzk_runtime_error(err, "%s does not respond to %c%s on this host", receiver_name(receiver),
					 info->kind, info->selector);

	for (size_t i = 0; i < arg_count; i++) {
		call_args[i] = args[i];
		if (args[i].kind == APPLE_ARG_ERROR_OUT) {
			call_args[i].value.objects = &error;
			has_error_out = true;
		}
	}
	memset(&out, 0, sizeof(out));
	sig->call(message_function(receiver, selector), receiver, selector, call_args, &out);

	if (info->types[0] == '@' && out.object == nil && (has_error_out || apple_message_is_init(message)))
		failed = true;
	if (info->types[0] == 'Z' && has_error_out && !out.boolean)
		failed = true;
	if (failed) {
		if (error != nil) {
			char text[600];
			apple_describe_error(error, text, sizeof(text));
			return vzk_runtime_error(err, "%s", text);
		}
		return vzk_runtime_error(err, "%c[%s %s] failed", info->kind, receiver_name(receiver), info->selector);
	}
	if (result != NULL)
		*result = out;
	return 0;
}

int apple_send_list(const struct apple_host *host, enum apple_message_id message, id receiver,
		    union apple_value *result, struct vzk_error *err, ...)
{
	struct apple_arg args[APPLE_MAX_ARGS];
	size_t count;
	va_list ap;
	int status;

	va_start(ap, err);
	status = apple_collect_args(&ap, args, &count, err);
	va_end(ap);
	if (status != 0)
		return -1;
	return apple_send_array(host, message, receiver, args, count, result, err);
}

/* ---- NSError and NSString ---- */

const char *apple_string_text(id string)
{
	union apple_value text;

	if (string == nil || apple_send(NULL, M_STRING_UTF8, string, &text, NULL) != 0)
		return NULL;
	return text.cstring;
}

void apple_describe_error(id error, char *out, size_t size)
{
	const char *description = NULL, *domain = NULL;
	NSInteger code = 0;
	union apple_value value;

	if (error == nil) {
		snprintf(out, size, "unknown error");
		return;
	}
	if (apple_send(NULL, M_ERROR_DESCRIPTION, error, &value, NULL) == 0)
		description = apple_string_text(value.object);
	if (apple_send(NULL, M_ERROR_DOMAIN, error, &value, NULL) == 0)
		domain = apple_string_text(value.object);
	if (apple_send(NULL, M_ERROR_CODE, error, &value, NULL) == 0)
		code = value.integer;
	snprintf(out, size, "%s (%s error %ld)", description != NULL ? description : "unknown error",
		 domain != NULL ? domain : "unknown domain", (long)code);
	/* One line, whatever the framework wrote. */
	for (char *p = out; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* ---- autorelease pools ---- */

#if defined(__APPLE__)
/* Exported by libobjc (what @autoreleasepool compiles to); not in a public header. */
extern void *objc_autoreleasePoolPush(void);
extern void objc_autoreleasePoolPop(void *pool);
#endif

#if !defined(__APPLE__)
/* The GNU runtime has no pools: count them, so the test rig can tell an
 * object autoreleased where no pool would catch it. */
static _Thread_local int pool_depth;

int apple_pool_depth_swap(int depth)
{
	int previous = pool_depth;
	pool_depth = depth;
	return previous;
}
#endif

void *apple_pool_push(void)
{
#if defined(__APPLE__)
	return objc_autoreleasePoolPush();
#else
	pool_depth++;
	return NULL;
#endif
}

void apple_pool_pop(void *pool)
{
#if defined(__APPLE__)
	objc_autoreleasePoolPop(pool);
#else
	(void)pool;
	pool_depth--;
#endif
}

char apple_bool_type_code(enum apple_runtime_kind runtime, enum apple_host_arch arch)
{
	if (runtime == APPLE_RUNTIME_GNU)
		return 'C';
	return arch == APPLE_HOST_ARM64 ? 'B' : 'c';
}

int apple_runtime_types(const char *types, char *out, size_t size)
{
#if defined(__APPLE__)
	const enum apple_runtime_kind runtime = APPLE_RUNTIME_APPLE;
#else
	const enum apple_runtime_kind runtime = APPLE_RUNTIME_GNU;
#endif
#if defined(__arm64__) || defined(__aarch64__)
	const enum apple_host_arch arch = APPLE_HOST_ARM64;
#else
	const enum apple_host_arch arch = APPLE_HOST_X86_64;
#endif
	size_t length = strlen(types);

	if (length >= size)
		return -1;
	for (size_t i = 0; i <= length; i++)
		out[i] = types[i] == 'Z' ? apple_bool_type_code(runtime, arch) : types[i];
	return 0;
}

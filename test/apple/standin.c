#include "test/apple/standin.h"

#include <Block.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- growing text ---- */

struct text {
	char *data;
	size_t length, capacity;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->length + n + 1 > t->capacity) {
		size_t capacity = t->capacity == 0 ? 4096 : t->capacity;
		while (t->length + n + 1 > capacity)
			capacity *= 2;
		char *bigger = realloc(t->data, capacity);
		if (bigger == NULL)
			abort(); /* a test rig out of memory cannot report anything useful */
		t->data = bigger;
		t->capacity = capacity;
	}
	memcpy(t->data + t->length, s, n);
	t->length += n;
	t->data[t->length] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
	char buffer[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buffer, sizeof(buffer), fmt, ap);
	va_end(ap);
	if (n > 0)
		text_add(t, buffer, (size_t)n < sizeof(buffer) ? (size_t)n : sizeof(buffer) - 1);
}

static void text_clear(struct text *t)
{
	t->length = 0;
	if (t->data != NULL)
		t->data[0] = '\0';
}

static const char *text_get(struct text *t)
{
	return t->data != NULL ? t->data : "";
}

/* Written independently of the engine's printer on purpose: the goldens
 * compare the two. */
static void text_quoted(struct text *t, const char *s)
{
	text_puts(t, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			text_puts(t, "\\\"");
			break;
		case '\\':
			text_puts(t, "\\\\");
			break;
		case '\n':
			text_puts(t, "\\n");
			break;
		case '\t':
			text_puts(t, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				text_printf(t, "\\x%02x", *p);
			else
				text_add(t, (const char *)p, 1);
		}
	}
	text_puts(t, "\"");
}

/* ---- objects ---- */

struct port_listener {
	uint32_t port;
	id listener;
};

struct sobject {
	id self;
	const char *class_name;
	unsigned ordinal;
	int refcount;
	bool singleton; /* never counted as a leak */
	char *text;     /* NSString, NSURL, NSData (its path), NSError description */
	char *domain;   /* NSError */
	long code;      /* NSError */
	id *elements;   /* NSArray */
	size_t element_count;
	id *held; /* what this object retains */
	size_t held_count;
	int fd;       /* NSFileHandle, VZVirtioSocketConnection */
	long state;   /* VZVirtualMachine */
	id delegate;  /* weak */
	id socket_devices;
	id ports; /* VZVirtioConsoleDeviceConfiguration: its port array */
	id owned; /* what a getter of this object answers, made once (+1 here) */
	struct port_listener listeners[16];
	size_t listener_count;
};

static struct sobject **objects;
static size_t object_count;

struct ordinal {
	const char *class_name;
	unsigned count;
};
static struct ordinal ordinals[256];
static size_t ordinal_count;

static id *pool;
static size_t pool_count;

static struct text log_text, problem_text, leak_text;

struct failure {
	char *cls, *selector, *domain, *description;
	long code;
};
static struct failure failures[32];
static size_t failure_count;

struct answer {
	char *cls, *selector;
	long value;
};
static struct answer answers[64];
static size_t answer_count;

static bool guest_obeys = true;
static struct failure start_failure;
static bool start_fails;
static int last_guest_end = -1;
static void (^pending_install)(id);       /* VZMacOSInstaller's handler, kept until the progress ends */
static double install_fraction;            /* NSProgress.fractionCompleted */
static bool install_fails;
static bool install_cancelled;             /* -[NSProgress cancel] after the install began */
static void (*start_action)(void);         /* runs while -start... is under way (state Starting) */
static void (*install_action)(void);       /* runs at the first progress read of an install */
static bool connect_silent;                /* connectToPort: keeps its handler, answers later or never */
static void (^pending_connect)(id, id);    /* the kept handler (a copy) */
static int events_seen, events_before_action;
static void (*event_action)(void);
static bool window_closed, window_miniaturized;
static id window_delegate; /* weak, like NSWindow's */
static int state_reads, state_reads_before_action;
static void (*state_action)(void);
static id shared_application;
static bool app_launched, app_active; /* NSApplication: finishLaunching seen; activated after it */
static size_t method_count;
static const struct tsv_table *table;
static size_t blocks_checked;

static void *must(void *p)
{
	if (p == NULL)
		abort();
	return p;
}

static char *dup_text(const char *s)
{
	return must(strdup(s != NULL ? s : ""));
}

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
	char buffer[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buffer, sizeof(buffer), fmt, ap);
	va_end(ap);
	text_puts(&problem_text, buffer);
	text_puts(&problem_text, "\n");
}

static struct sobject *find_object(id self)
{
	for (size_t i = object_count; i-- > 0;)
		if (objects[i]->self == self)
			return objects[i];
	return NULL;
}

static unsigned next_ordinal(const char *class_name)
{
	for (size_t i = 0; i < ordinal_count; i++)
		if (strcmp(ordinals[i].class_name, class_name) == 0)
			return ++ordinals[i].count;
	if (ordinal_count == sizeof(ordinals) / sizeof(ordinals[0]))
		abort();
	ordinals[ordinal_count].class_name = class_name;
	ordinals[ordinal_count].count = 1;
	ordinal_count++;
	return 1;
}

static struct sobject *new_object(Class cls)
{
	struct sobject *object = must(calloc(1, sizeof(*object)));

	object->self = class_createInstance(cls, 0);
	object->class_name = class_getName(cls);
	object->ordinal = next_ordinal(object->class_name);
	object->refcount = 1;
	object->fd = -1;
	objects = must(realloc(objects, (object_count + 1) * sizeof(*objects)));
	objects[object_count++] = object;
	return object;
}

static struct sobject *new_object_named(const char *class_name)
{
	Class cls = objc_lookUpClass(class_name);
	if (cls == Nil)
		abort();
	return new_object(cls);
}

/* >0 while the stand-ins act as the framework on their own (a test drives a
 * guest event): the framework has its own pools there. */
static int framework_side;

/* A call from "the framework's thread" into the engine (a delegate, a
 * completion handler): no pool of ours is in place there. */
#define AS_FRAMEWORK_THREAD(call)                                              \
	do {                                                                   \
		int saved_depth_ = apple_pool_depth_swap(0);                   \
		int saved_side_ = framework_side;                              \
		framework_side = 0;                                            \
		call;                                                          \
		framework_side = saved_side_;                                  \
		apple_pool_depth_swap(saved_depth_);                           \
	} while (0)

static int current_pool_depth(void)
{
	int depth = apple_pool_depth_swap(0);
	apple_pool_depth_swap(depth);
	return depth;
}

static void autorelease(id object)
{
	/* Apple's runtime: "autoreleased with no pool in place - just leaking";
	 * a dispatch worker's own pool may never drain. */
	if (framework_side == 0 && current_pool_depth() <= 0)
		problem("%s autoreleased with no pool of the engine's in place", object_getClassName(object));
	pool = must(realloc(pool, (pool_count + 1) * sizeof(*pool)));
	pool[pool_count++] = object;
}

static void retain(id object)
{
	struct sobject *o = object != nil ? find_object(object) : NULL;
	if (o != NULL)
		o->refcount++;
}

static void release(id object);

static void dealloc(struct sobject *o)
{
	for (size_t i = 0; i < o->held_count; i++)
		release(o->held[i]);
	o->held_count = 0;
	for (size_t i = 0; i < o->element_count; i++)
		release(o->elements[i]);
	o->element_count = 0;
	if (o->socket_devices != nil)
		release(o->socket_devices);
	o->socket_devices = nil;
	if (o->ports != nil)
		release(o->ports);
	o->ports = nil;
	if (o->owned != nil)
		release(o->owned);
	o->owned = nil;
	if (o->fd >= 0 && strcmp(o->class_name, "VZVirtioSocketConnection") == 0)
		close(o->fd); /* like the real connection object */
	o->fd = -1;
}

static void release(id object)
{
	struct sobject *o = object != nil ? find_object(object) : NULL;

	if (o == NULL)
		return;
	if (o->refcount <= 0) {
		problem("over-release of %s#%u", o->class_name, o->ordinal);
		return;
	}
	if (--o->refcount == 0)
		dealloc(o);
}

static void hold(struct sobject *o, id object)
{
	if (object == nil || find_object(object) == NULL)
		return;
	retain(object);
	o->held = must(realloc(o->held, (o->held_count + 1) * sizeof(*o->held)));
	o->held[o->held_count++] = object;
}

static id make_string(const char *text)
{
	struct sobject *string = new_object_named("NSString");
	string->text = dup_text(text);
	autorelease(string->self);
	return string->self;
}

static id make_error(const char *domain, long code, const char *description)
{
	struct sobject *error = new_object_named("NSError");
	error->domain = dup_text(domain);
	error->code = code;
	error->text = dup_text(description);
	autorelease(error->self);
	return error->self;
}

/* ---- rendering, in the engine's plan notation ---- */

static const char *const value_classes[] = {"NSString", "NSURL",  "NSArray",          "NSData",
					    "NSFileHandle", "NSError", "NSDate", "OS_dispatch_queue"};

static bool is_value_class(const char *name)
{
	for (size_t i = 0; i < sizeof(value_classes) / sizeof(value_classes[0]); i++)
		if (strcmp(value_classes[i], name) == 0)
			return true;
	return false;
}

static bool is_class_object(id object)
{
	return class_isMetaClass(object_getClass(object));
}

static void render_object(struct text *t, id object)
{
	struct sobject *o;

	if (object == nil) {
		text_puts(t, "nil");
		return;
	}
	if (is_class_object(object)) {
		text_puts(t, class_getName((Class)object));
		return;
	}
	o = find_object(object);
	if (o == NULL) {
		text_puts(t, "<unknown object>");
	} else if (strcmp(o->class_name, "NSString") == 0) {
		text_puts(t, "@");
		text_quoted(t, o->text != NULL ? o->text : "");
	} else if (strcmp(o->class_name, "NSURL") == 0) {
		text_printf(t, "<%s>", o->text != NULL ? o->text : "");
	} else if (strcmp(o->class_name, "NSArray") == 0) {
		text_puts(t, "[");
		for (size_t i = 0; i < o->element_count; i++) {
			if (i > 0)
				text_puts(t, ", ");
			render_object(t, o->elements[i]);
		}
		text_puts(t, "]");
	} else if (strcmp(o->class_name, "NSData") == 0) {
		text_puts(t, "NSData(");
		text_quoted(t, o->text != NULL ? o->text : "");
		text_puts(t, ")");
	} else {
		text_printf(t, "%s#%u", o->class_name, o->ordinal);
	}
}

union rec_value {
	id o;
	BOOL z;
	long q;
	unsigned long Q;
	uint32_t I;
	int i;
	double d;
	const char *s;
	void *p;
	id *pp;
	struct apple_rect rect;
};

static size_t element_length(const char *p)
{
	if (*p == '\0')
		return 0;
	if (p[0] == '@' && p[1] == '?')
		return 2;
	if (p[0] == 'r' || p[0] == '^')
		return 1 + element_length(p + 1);
	if (p[0] == '{') {
		int depth = 0;
		for (size_t i = 0; p[i] != '\0'; i++) {
			if (p[i] == '{')
				depth++;
			else if (p[i] == '}' && --depth == 0)
				return i + 1;
		}
	}
	return 1;
}

/* The argument elements of a type encoding (after return type, '@', ':'). */
static size_t arg_elements(const char *types, const char *starts[], size_t lengths[], size_t max)
{
	const char *p = types;
	size_t n = 0;

	for (int skip = 0; skip < 3; skip++)
		p += element_length(p);
	while (*p != '\0' && n < max) {
		starts[n] = p;
		lengths[n] = element_length(p);
		p += lengths[n];
		n++;
	}
	return n;
}

static bool element_equals(const char *start, size_t length, const char *text)
{
	return strlen(text) == length && strncmp(start, text, length) == 0;
}

static void render_arg(struct text *t, const char *start, size_t length, union rec_value v)
{
	if (element_equals(start, length, "@"))
		render_object(t, v.o);
	else if (element_equals(start, length, "Z"))
		text_puts(t, v.z ? "YES" : "NO");
	else if (element_equals(start, length, "q"))
		text_printf(t, "%ld", v.q);
	else if (element_equals(start, length, "Q"))
		text_printf(t, "%lu", v.Q);
	else if (element_equals(start, length, "I"))
		text_printf(t, "%u", v.I);
	else if (element_equals(start, length, "i"))
		text_printf(t, "%d", v.i);
	else if (element_equals(start, length, "d"))
		text_printf(t, "%g", v.d);
	else if (element_equals(start, length, "r*"))
		text_quoted(t, v.s != NULL ? v.s : "");
	else if (element_equals(start, length, "@?"))
		text_puts(t, "^{}");
	else if (element_equals(start, length, "^@"))
		text_puts(t, v.pp != NULL ? "&error" : "NULL");
	else if (length > 8 && strncmp(start, "{CGRect=", 8) == 0)
		text_printf(t, "{{%g, %g}, {%g, %g}}", v.rect.origin.x, v.rect.origin.y, v.rect.size.width,
			    v.rect.size.height);
	else
		text_printf(t, "<%.*s>", (int)length, start);
}

/* The block ABI (clang's Block-ABI-Apple): a literal's descriptor carries
 * its type encoding when flags has BLOCK_HAS_SIGNATURE, after the copy and
 * dispose helpers when those are there. (Debian's Block_private.h predates
 * signatures.) */
struct block_literal {
	void *isa;
	int flags;
	int reserved;
	void (*invoke)(void);
	const struct {
		unsigned long reserved, size;
		const void *rest[];
	} *descriptor;
};
#define BLOCK_HAS_COPY_DISPOSE (1 << 25)
#define BLOCK_HAS_SIGNATURE (1 << 30)

/* "v16@?0@8" -> "v^v@": the form of vz-selectors.tsv's block_sig column,
 * where the block itself is "^v". */
static void block_signature(const void *block, char *out, size_t size)
{
	const struct block_literal *literal = block;
	const char *signature, *p;
	size_t o = 0;
	bool self_seen = false;

	out[0] = '\0';
	if (literal == NULL || !(literal->flags & BLOCK_HAS_SIGNATURE))
		return;
	signature = literal->descriptor->rest[(literal->flags & BLOCK_HAS_COPY_DISPOSE) ? 2 : 0];
	for (p = signature; *p != '\0' && o + 3 < size; p++) {
		if (*p >= '0' && *p <= '9')
			continue;
		if (!self_seen && o > 0 && p[0] == '@' && p[1] == '?') {
			out[o++] = '^';
			out[o++] = 'v';
			self_seen = true;
			p++;
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* A block argument must have the signature the table gives the method. */
static void check_blocks(id self, const char *selector, const char *types, const union rec_value *args, size_t n)
{
	const char *starts[8];
	size_t lengths[8];
	size_t count = arg_elements(types, starts, lengths, 8);
	bool is_class = is_class_object(self);

	for (size_t i = 0; i < count && i < n; i++) {
		const struct tsv_row *row = NULL;
		char got[64];
		if (!element_equals(starts[i], lengths[i], "@?"))
			continue;
		for (Class cls = is_class ? (Class)self : object_getClass(self); cls != Nil && row == NULL;
		     cls = class_getSuperclass(cls))
			row = tsv_find(table, class_getName(cls), is_class ? '+' : '-', selector);
		block_signature(args[i].p, got, sizeof(got));
		if (row == NULL || strcmp(row->block_sig, got) != 0)
			problem("the block given to %s has signature '%s'; vz-selectors.tsv says '%s'", selector, got,
				row != NULL ? row->block_sig : "(no row)");
		else
			blocks_checked++;
	}
}

static void log_message(id self, const char *selector, const char *types, const union rec_value *args, size_t n)
{
	const char *starts[8];
	size_t lengths[8];
	size_t count = arg_elements(types, starts, lengths, 8);
	const char *part = selector;

	text_puts(&log_text, "[");
	render_object(&log_text, self);
	text_puts(&log_text, " ");
	if (n == 0 || count == 0) {
		text_puts(&log_text, selector);
	} else {
		for (size_t i = 0; i < n && i < count; i++) {
			const char *colon = strchr(part, ':');
			if (colon == NULL)
				break;
			if (i > 0)
				text_puts(&log_text, " ");
			text_add(&log_text, part, (size_t)(colon - part) + 1);
			render_arg(&log_text, starts[i], lengths[i], args[i]);
			part = colon + 1;
		}
	}
	text_puts(&log_text, "]\n");
}

/* ---- behaviours ---- */

static bool class_is(Class cls, const char *name)
{
	for (; cls != Nil; cls = class_getSuperclass(cls))
		if (strcmp(class_getName(cls), name) == 0)
			return true;
	return false;
}

static Class receiver_class(id self)
{
	return is_class_object(self) ? (Class)self : object_getClass(self);
}

static const struct failure *find_failure(id self, const char *selector)
{
	for (size_t i = 0; i < failure_count; i++)
		if (strcmp(failures[i].selector, selector) == 0 && class_is(receiver_class(self), failures[i].cls))
			return &failures[i];
	return NULL;
}

static bool find_answer(id self, const char *selector, long *value)
{
	for (size_t i = answer_count; i-- > 0;)
		if (strcmp(answers[i].selector, selector) == 0 && class_is(receiver_class(self), answers[i].cls)) {
			*value = answers[i].value;
			return true;
		}
	return false;
}

typedef union rec_value (*behaviour_fn)(id self, struct sobject *me, const char *types, union rec_value *args,
					 size_t n);

static void call_block_error(void *block, id error)
{
	AS_FRAMEWORK_THREAD(((void (^)(id))block)(error));
}

static void send_to_delegate(id delegate, const char *selector, const char *types, id a, id b)
{
	SEL sel = sel_registerName(selector);

	if (delegate == nil)
		return;
	if (!class_respondsToSelector(object_getClass(delegate), sel)) {
		problem("the delegate %s does not respond to %s", object_getClassName(delegate), selector);
		return;
	}
	if (strcmp(types, "v@:@") == 0)
		AS_FRAMEWORK_THREAD(((void (*)(id, SEL, id))objc_msg_lookup(delegate, sel))(delegate, sel, a));
	else
		AS_FRAMEWORK_THREAD(((void (*)(id, SEL, id, id))objc_msg_lookup(delegate, sel))(delegate, sel, a, b));
}

enum { VM_STOPPED = 0, VM_RUNNING = 1, VM_PAUSED = 2, VM_ERROR = 3, VM_STARTING = 4 };

static union rec_value vm_start(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)n;
	if (start_action != NULL) {
		/* The framework is starting the VM: canStop says NO now. */
		void (*action)(void) = start_action;
		start_action = NULL;
		me->state = VM_STARTING;
		action();
	}
	if (start_fails) {
		me->state = VM_ERROR;
		call_block_error(args[0].p, make_error(start_failure.domain, start_failure.code, start_failure.description));
	} else {
		me->state = VM_RUNNING;
		call_block_error(args[0].p, nil);
	}
	return (union rec_value){0};
}

static union rec_value vm_stop(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)n;
	me->state = VM_STOPPED;
	call_block_error(args[0].p, nil);
	return (union rec_value){0};
}

static union rec_value vm_pause(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)n;
	me->state = VM_PAUSED;
	call_block_error(args[0].p, nil);
	return (union rec_value){0};
}

static union rec_value vm_resume(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)n;
	me->state = VM_RUNNING;
	call_block_error(args[0].p, nil);
	return (union rec_value){0};
}

static union rec_value vm_request_stop(id self, struct sobject *me, const char *types, union rec_value *args,
				       size_t n)
{
	(void)types, (void)args, (void)n;
	if (guest_obeys) {
		me->state = VM_STOPPED;
		send_to_delegate(me->delegate, "guestDidStopVirtualMachine:", "v@:@", self, nil);
	}
	return (union rec_value){.z = YES};
}

static union rec_value vm_state(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	state_reads++;
	if (state_action != NULL && state_reads == state_reads_before_action) {
		void (*action)(void) = state_action;
		state_action = NULL;
		action();
	}
	return (union rec_value){.q = me->state};
}

static union rec_value vm_can(id self, struct sobject *me, const char *types, union rec_value *args, size_t n,
			      const char *selector)
{
	long state = me->state, forced;
	bool can = false;

	(void)types, (void)args, (void)n;
	if (find_answer(self, selector, &forced))
		return (union rec_value){.z = forced ? YES : NO};
	if (strcmp(selector, "canStop") == 0)
		can = state == VM_RUNNING || state == VM_PAUSED || state == VM_ERROR;
	else if (strcmp(selector, "canPause") == 0 || strcmp(selector, "canRequestStop") == 0)
		can = state == VM_RUNNING;
	else if (strcmp(selector, "canResume") == 0)
		can = state == VM_PAUSED;
	return (union rec_value){.z = can ? YES : NO};
}

static union rec_value vm_can_stop(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	return vm_can(self, me, types, args, n, "canStop");
}
static union rec_value vm_can_pause(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	return vm_can(self, me, types, args, n, "canPause");
}
static union rec_value vm_can_resume(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	return vm_can(self, me, types, args, n, "canResume");
}
static union rec_value vm_can_request_stop(id self, struct sobject *me, const char *types, union rec_value *args,
					   size_t n)
{
	return vm_can(self, me, types, args, n, "canRequestStop");
}

static union rec_value vm_socket_devices(id self, struct sobject *me, const char *types, union rec_value *args,
					 size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	if (me->socket_devices == nil) {
		struct sobject *device = new_object_named("VZVirtioSocketDevice");
		struct sobject *array = new_object_named("NSArray");
		array->elements = must(calloc(1, sizeof(id)));
		array->elements[0] = device->self; /* the array takes the device's one reference */
		array->element_count = 1;
		me->socket_devices = array->self;
	}
	return (union rec_value){.o = me->socket_devices};
}

/* ---- macOS install ---- */

static id framework_autoreleased(struct sobject *o)
{
	framework_side++;
	autorelease(o->self);
	framework_side--;
	return o->self;
}

/* A getter answering an object its receiver makes once and keeps (+0). */
static id owned_object(struct sobject *me, const char *cls, const char *text)
{
	if (me->owned == nil) {
		struct sobject *made = new_object_named(cls);
		made->text = text != NULL ? dup_text(text) : NULL;
		me->owned = made->self;
	}
	return me->owned;
}

static const char *url_path(id url)
{
	struct sobject *o = url != nil ? find_object(url) : NULL;
	return o != NULL && o->text != NULL && strncmp(o->text, "file://", 7) == 0 ? o->text + 7 : NULL;
}

static union rec_value restore_load(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	const struct failure *failure = find_failure(self, "loadFileURL:completionHandler:");
	void (^handler)(id, id) = (void (^)(id, id))args[1].p;
	const char *path = url_path(args[0].o);
	id image, error;

	(void)me, (void)types, (void)n;
	framework_side++;
	if (failure != NULL)
		error = make_error(failure->domain, failure->code, failure->description);
	else if (path == NULL || access(path, R_OK) != 0)
		error = make_error("NSCocoaErrorDomain", 260, "The file couldn't be opened because there is no such file.");
	else
		error = nil;
	framework_side--;
	if (error != nil) {
		AS_FRAMEWORK_THREAD(handler(nil, error));
		return (union rec_value){0};
	}
	struct sobject *loaded = new_object_named("VZMacOSRestoreImage");
	loaded->text = dup_text(find_object(args[0].o)->text);
	image = framework_autoreleased(loaded);
	AS_FRAMEWORK_THREAD(handler(image, nil));
	return (union rec_value){0};
}

static union rec_value restore_fetch_latest(id self, struct sobject *me, const char *types, union rec_value *args,
					    size_t n)
{
	void (^handler)(id, id) = (void (^)(id, id))args[0].p;
	struct sobject *latest = new_object_named("VZMacOSRestoreImage");

	(void)self, (void)me, (void)types, (void)n;
	latest->text = dup_text("https://updates.example/UniversalMac_15.1_24B83_Restore.ipsw");
	id image = framework_autoreleased(latest);
	AS_FRAMEWORK_THREAD(handler(image, nil));
	return (union rec_value){0};
}

static union rec_value restore_url(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	struct sobject *url = new_object_named("NSURL");

	(void)self, (void)types, (void)args, (void)n;
	url->text = dup_text(me->text);
	autorelease(url->self);
	return (union rec_value){.o = url->self};
}

static union rec_value url_absolute_string(id self, struct sobject *me, const char *types, union rec_value *args,
					   size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.o = make_string(me->text)};
}

static union rec_value restore_requirements(id self, struct sobject *me, const char *types, union rec_value *args,
					    size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.o = owned_object(me, "VZMacOSConfigurationRequirements", NULL)};
}

static union rec_value requirements_model(id self, struct sobject *me, const char *types, union rec_value *args,
					  size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.o = owned_object(me, "VZMacHardwareModel", NULL)};
}

static union rec_value data_representation(id self, struct sobject *me, const char *types, union rec_value *args,
					   size_t n)
{
	struct sobject *data = new_object_named("NSData");

	(void)types, (void)args, (void)n;
	data->text = dup_text(strcmp(object_getClassName(self), "VZMacHardwareModel") == 0 ? "<hardware model>"
											 : "<machine identifier>");
	(void)me;
	autorelease(data->self);
	return (union rec_value){.o = data->self};
}

/* Writes `text` to path: O_EXCL unless overwriting is allowed. */
static int write_file(const char *path, const char *text, bool overwrite)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL), 0644);
	size_t length = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, length) != (ssize_t)length) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static union rec_value data_write(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	const char *path = url_path(args[0].o);

	(void)self, (void)types, (void)n;
	if (path == NULL || write_file(path, me->text != NULL ? me->text : "", (args[1].Q & 2u) == 0) != 0) {
		if (args[2].pp != NULL)
			*args[2].pp = make_error("NSCocoaErrorDomain", 516,
						 "The file couldn't be saved because a file with the same name already exists.");
		return (union rec_value){.z = NO};
	}
	return (union rec_value){.z = YES};
}

static union rec_value aux_create(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	const char *path = url_path(args[0].o);

	(void)me, (void)types, (void)n;
	if (path == NULL || write_file(path, "<auxiliary storage>", (args[2].Q & 1u) != 0) != 0) {
		if (args[3].pp != NULL)
			*args[3].pp = make_error("VZErrorDomain", 3, "Failed to create the auxiliary storage: the file exists.");
		release(self);
		return (union rec_value){.o = nil};
	}
	return (union rec_value){.o = self};
}

static union rec_value installer_progress(id self, struct sobject *me, const char *types, union rec_value *args,
					  size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.o = owned_object(me, "NSProgress", NULL)};
}

static union rec_value installer_install(id self, struct sobject *me, const char *types, union rec_value *args,
					 size_t n)
{
	(void)me, (void)types, (void)n;
	if (pending_install != NULL)
		Block_release(pending_install);
	pending_install = Block_copy((void (^)(id))args[0].p);
	install_fraction = 0;
	install_fails = find_failure(self, "installWithCompletionHandler:") != NULL;
	install_cancelled = false;
	return (union rec_value){0};
}

/* Apple: cancelling the installer's progress before the install began raises. */
static union rec_value progress_cancel(id self, struct sobject *me, const char *types, union rec_value *args,
				       size_t n)
{
	(void)self, (void)me, (void)types, (void)args, (void)n;
	if (pending_install == NULL)
		problem("-[NSProgress cancel] with no install under way (the framework raises)");
	install_cancelled = true;
	return (union rec_value){0};
}

/* Each read moves the install on by a quarter; at the end (or halfway, when
 * it fails) the installer's handler runs. */
static union rec_value progress_fraction(id self, struct sobject *me, const char *types, union rec_value *args,
					 size_t n)
{
	double now = install_fraction;

	(void)self, (void)me, (void)types, (void)args, (void)n;
	if (install_action != NULL && pending_install != NULL) {
		void (*action)(void) = install_action;
		install_action = NULL;
		action();
	}
	if (pending_install != NULL && (now >= 1.0 || install_cancelled || (install_fails && now >= 0.5))) {
		void (^handler)(id) = pending_install;
		id error = nil;
		pending_install = NULL;
		if (install_cancelled) {
			framework_side++;
			error = make_error("VZErrorDomain", 9, "The operation was cancelled.");
			framework_side--;
		} else if (install_fails) {
			framework_side++;
			error = make_error("VZErrorDomain", 10006, "The installation failed.");
			framework_side--;
		}
		AS_FRAMEWORK_THREAD(handler(error));
		Block_release(handler);
	} else if (pending_install != NULL) {
		install_fraction += 0.25;
	}
	return (union rec_value){.d = now};
}

static union rec_value vm_start_with_options(id self, struct sobject *me, const char *types, union rec_value *args,
					     size_t n)
{
	union rec_value block_only[1] = {args[1]};
	(void)n;
	return vm_start(self, me, types, block_only, 1);
}

/* The device makes its port array once and owns it (the getter is +0). */
static union rec_value console_ports(id self, struct sobject *me, const char *types, union rec_value *args,
				     size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	if (me->ports == nil)
		me->ports = new_object_named("VZVirtioConsolePortConfigurationArray")->self;
	return (union rec_value){.o = me->ports};
}

static union rec_value set_delegate(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)n;
	me->delegate = args[0].o; /* weak, like the framework's */
	return (union rec_value){0};
}

static union rec_value socket_set_listener(id self, struct sobject *me, const char *types, union rec_value *args,
					   size_t n)
{
	(void)self, (void)types, (void)n;
	if (me->listener_count < sizeof(me->listeners) / sizeof(me->listeners[0])) {
		me->listeners[me->listener_count].listener = args[0].o;
		me->listeners[me->listener_count].port = args[1].I;
		me->listener_count++;
	}
	return (union rec_value){0};
}

static id new_connection(int fd)
{
	struct sobject *connection = new_object_named("VZVirtioSocketConnection");
	connection->fd = fd;
	autorelease(connection->self);
	return connection->self;
}

static union rec_value socket_connect(id self, struct sobject *me, const char *types, union rec_value *args,
				      size_t n)
{
	const struct failure *failure = find_failure(self, "connectToPort:completionHandler:");
	void (^handler)(id, id) = (void (^)(id, id))args[1].p;
	int pair[2];

	(void)me, (void)types, (void)n;
	if (connect_silent) {
		/* Apple: while the guest does not listen, "this method does nothing". */
		if (pending_connect != NULL)
			Block_release(pending_connect);
		pending_connect = Block_copy(handler);
		return (union rec_value){0};
	}
	if (failure != NULL) {
		id error = make_error(failure->domain, failure->code, failure->description);
		AS_FRAMEWORK_THREAD(handler(nil, error));
		return (union rec_value){0};
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
		problem("socketpair failed");
		id error = make_error("NSPOSIXErrorDomain", 24, "Too many open files");
		AS_FRAMEWORK_THREAD(handler(nil, error));
		return (union rec_value){0};
	}
	if (last_guest_end >= 0)
		close(last_guest_end);
	last_guest_end = pair[1];
	id connection = new_connection(pair[0]);
	AS_FRAMEWORK_THREAD(handler(connection, nil));
	return (union rec_value){0};
}

static union rec_value connection_fd(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.i = me->fd};
}

static union rec_value rosetta_install(id self, struct sobject *me, const char *types, union rec_value *args,
				       size_t n)
{
	const struct failure *failure = find_failure(self, "installRosettaWithCompletionHandler:");

	(void)me, (void)types, (void)n;
	if (failure != NULL) {
		call_block_error(args[0].p, make_error(failure->domain, failure->code, failure->description));
	} else {
		standin_answer("VZLinuxRosettaDirectoryShare", "availability", 2);
		call_block_error(args[0].p, nil);
	}
	return (union rec_value){0};
}

static union rec_value shared_app(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)me, (void)types, (void)args, (void)n;
	if (shared_application == nil) {
		struct sobject *app = new_object_named("NSApplication");
		app->singleton = true;
		shared_application = app->self;
	}
	return (union rec_value){.o = shared_application};
}

static union rec_value app_finish_launching(id self, struct sobject *me, const char *types, union rec_value *args,
					    size_t n)
{
	(void)self, (void)me, (void)types, (void)args, (void)n;
	app_launched = true;
	return (union rec_value){0};
}

/* An activation before finishLaunching does not stick (the window can stay
 * behind the terminal): only one after it makes the app active. */
static union rec_value app_activate(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)me, (void)types, (void)n;
	if (app_launched && args[0].z)
		app_active = true;
	return (union rec_value){0};
}

static union rec_value next_event(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)me, (void)types, (void)args, (void)n;
	events_seen++;
	if (event_action != NULL && events_seen == events_before_action)
		event_action();
	return (union rec_value){.o = nil};
}

static union rec_value window_is_visible(id self, struct sobject *me, const char *types, union rec_value *args,
					 size_t n)
{
	(void)self, (void)me, (void)types, (void)args, (void)n;
	return (union rec_value){.z = standin_window_visible() ? YES : NO};
}

static union rec_value window_set_delegate(id self, struct sobject *me, const char *types, union rec_value *args,
					   size_t n)
{
	(void)self, (void)me, (void)types, (void)n;
	window_delegate = args[0].o; /* weak */
	return (union rec_value){0};
}

/* AppKit's -close: windowWillClose: to the delegate, then the window goes. */
static void close_window(id window)
{
	struct sobject *notification;

	if (window_closed)
		return;
	notification = new_object_named("NSObject"); /* an NSNotification to the delegate */
	framework_side++;
	autorelease(notification->self);
	framework_side--;
	send_to_delegate(window_delegate, "windowWillClose:", "v@:@", notification->self, nil);
	(void)window;
	window_closed = true;
}

static union rec_value window_close(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)me, (void)types, (void)args, (void)n;
	close_window(self);
	return (union rec_value){0};
}

static union rec_value date_since_now(id self, struct sobject *me, const char *types, union rec_value *args,
				      size_t n)
{
	struct sobject *date = new_object_named("NSDate");

	(void)self, (void)me, (void)types, (void)args, (void)n;
	autorelease(date->self);
	return (union rec_value){.o = date->self};
}

static union rec_value array_count(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.Q = me->element_count};
}

static union rec_value array_object_at(id self, struct sobject *me, const char *types, union rec_value *args,
				       size_t n)
{
	(void)self, (void)types, (void)n;
	if (args[0].Q >= me->element_count) {
		problem("objectAtIndex:%lu beyond %zu elements", args[0].Q, me->element_count);
		return (union rec_value){.o = nil};
	}
	return (union rec_value){.o = me->elements[args[0].Q]};
}

static union rec_value string_utf8(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.s = me->text != NULL ? me->text : ""};
}

static union rec_value error_description(id self, struct sobject *me, const char *types, union rec_value *args,
					 size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.o = make_string(me->text)};
}

static union rec_value error_domain(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.o = make_string(me->domain)};
}

static union rec_value error_code(id self, struct sobject *me, const char *types, union rec_value *args, size_t n)
{
	(void)self, (void)types, (void)args, (void)n;
	return (union rec_value){.q = me->code};
}

static const struct {
	const char *cls;
	const char *selector;
	behaviour_fn fn;
} behaviours[] = {
	{"VZVirtualMachine", "startWithCompletionHandler:", vm_start},
	{"VZVirtualMachine", "stopWithCompletionHandler:", vm_stop},
	{"VZVirtualMachine", "pauseWithCompletionHandler:", vm_pause},
	{"VZVirtualMachine", "resumeWithCompletionHandler:", vm_resume},
	{"VZVirtualMachine", "requestStopWithError:", vm_request_stop},
	{"VZVirtualMachine", "state", vm_state},
	{"VZVirtualMachine", "canStop", vm_can_stop},
	{"VZVirtualMachine", "canPause", vm_can_pause},
	{"VZVirtualMachine", "canResume", vm_can_resume},
	{"VZVirtualMachine", "canRequestStop", vm_can_request_stop},
	{"VZVirtualMachine", "socketDevices", vm_socket_devices},
	{"VZVirtualMachine", "setDelegate:", set_delegate},
	{"VZVirtioConsoleDeviceConfiguration", "ports", console_ports},
	{"VZMacOSRestoreImage", "loadFileURL:completionHandler:", restore_load},
	{"VZMacOSRestoreImage", "fetchLatestSupportedWithCompletionHandler:", restore_fetch_latest},
	{"VZMacOSRestoreImage", "URL", restore_url},
	{"VZMacOSRestoreImage", "mostFeaturefulSupportedConfiguration", restore_requirements},
	{"NSURL", "absoluteString", url_absolute_string},
	{"VZMacOSConfigurationRequirements", "hardwareModel", requirements_model},
	{"VZMacHardwareModel", "dataRepresentation", data_representation},
	{"VZMacMachineIdentifier", "dataRepresentation", data_representation},
	{"NSData", "writeToURL:options:error:", data_write},
	{"VZMacAuxiliaryStorage", "initCreatingStorageAtURL:hardwareModel:options:error:", aux_create},
	{"VZMacOSInstaller", "progress", installer_progress},
	{"VZMacOSInstaller", "installWithCompletionHandler:", installer_install},
	{"NSProgress", "fractionCompleted", progress_fraction},
	{"NSProgress", "cancel", progress_cancel},
	{"VZVirtualMachine", "startWithOptions:completionHandler:", vm_start_with_options},
	{"VZVirtioSocketListener", "setDelegate:", set_delegate},
	{"VZVirtioSocketDevice", "setSocketListener:forPort:", socket_set_listener},
	{"VZVirtioSocketDevice", "connectToPort:completionHandler:", socket_connect},
	{"VZVirtioSocketConnection", "fileDescriptor", connection_fd},
	{"VZLinuxRosettaDirectoryShare", "installRosettaWithCompletionHandler:", rosetta_install},
	{"NSApplication", "sharedApplication", shared_app},
	{"NSApplication", "nextEventMatchingMask:untilDate:inMode:dequeue:", next_event},
	{"NSApplication", "finishLaunching", app_finish_launching},
	{"NSApplication", "activateIgnoringOtherApps:", app_activate},
	{"NSWindow", "isVisible", window_is_visible},
	{"NSWindow", "close", window_close},
	{"NSWindow", "setDelegate:", window_set_delegate},
	{"NSDate", "dateWithTimeIntervalSinceNow:", date_since_now},
	{"NSArray", "count", array_count},
	{"NSArray", "objectAtIndex:", array_object_at},
	{"NSString", "UTF8String", string_utf8},
	{"NSError", "localizedDescription", error_description},
	{"NSError", "domain", error_domain},
	{"NSError", "code", error_code},
};

static behaviour_fn find_behaviour(id self, const char *selector)
{
	for (size_t i = 0; i < sizeof(behaviours) / sizeof(behaviours[0]); i++)
		if (strcmp(behaviours[i].selector, selector) == 0 && class_is(receiver_class(self), behaviours[i].cls))
			return behaviours[i].fn;
	return NULL;
}

/* What an initializer keeps of its arguments. */
static int initialize(struct sobject *me, const char *selector, union rec_value *args, size_t n)
{
	struct sobject *arg = n > 0 && args[0].o != nil && strcmp(selector, "initWithUTF8String:") != 0 &&
					      strcmp(selector, "initWithObjects:count:") != 0 &&
					      strcmp(selector, "initWithFileDescriptor:closeOnDealloc:") != 0
				      ? find_object(args[0].o)
				      : NULL;

	if (strcmp(selector, "initWithUTF8String:") == 0) {
		me->text = dup_text(args[0].s);
	} else if (strcmp(selector, "initFileURLWithPath:") == 0 && arg != NULL) {
		size_t size = strlen(arg->text) + 8;
		me->text = must(malloc(size));
		snprintf(me->text, size, "file://%s", arg->text);
	} else if (strcmp(me->class_name, "NSURL") == 0 && strcmp(selector, "initWithString:") == 0 && arg != NULL) {
		me->text = dup_text(arg->text);
	} else if (strcmp(selector, "initWithObjects:count:") == 0) {
		me->elements = must(calloc(args[1].Q > 0 ? args[1].Q : 1, sizeof(id)));
		for (size_t i = 0; i < args[1].Q; i++) {
			me->elements[i] = args[0].pp[i];
			retain(me->elements[i]);
		}
		me->element_count = args[1].Q;
	} else if (strcmp(selector, "initWithContentsOfFile:options:error:") == 0 && arg != NULL) {
		if (access(arg->text, R_OK) != 0) {
			if (args[2].pp != NULL)
				*args[2].pp = make_error("NSCocoaErrorDomain", 260, "The file couldn't be opened because there is no such file.");
			return -1;
		}
		me->text = dup_text(arg->text);
	} else if (strcmp(selector, "initWithFileDescriptor:closeOnDealloc:") == 0) {
		me->fd = args[0].i;
	}
	return 0;
}

static union rec_value dispatch(id self, SEL cmd, const char *types, union rec_value *args, size_t n)
{
	const char *selector = sel_getName(cmd);
	bool is_class = is_class_object(self);
	const char *class_name = is_class ? class_getName((Class)self) : object_getClassName(self);
	struct sobject *me = is_class ? NULL : find_object(self);
	const struct failure *failure;
	behaviour_fn behaviour;
	long answer;
	union rec_value result = {0};

	if (!is_class && me == NULL) {
		problem("%s sent to an object the stand-ins did not make (%s)", selector, class_name);
		return result;
	}
	if (me != NULL && me->refcount <= 0) {
		problem("%s sent to released %s#%u", selector, me->class_name, me->ordinal);
		return result;
	}
	bool memory = strcmp(selector, "retain") == 0 || strcmp(selector, "release") == 0 ||
		      strcmp(selector, "autorelease") == 0;
	/* Values are not logged, except a write that makes a file. */
	if (!memory && (!is_value_class(class_name) || strcmp(selector, "writeToURL:options:error:") == 0)) {
		log_message(self, selector, types, args, n);
		check_blocks(self, selector, types, args, n);
	}

	if (is_class && strcmp(selector, "alloc") == 0)
		return (union rec_value){.o = new_object((Class)self)->self};
	if (strcmp(selector, "release") == 0) {
		release(self);
		return result;
	}
	if (strcmp(selector, "retain") == 0) {
		retain(self);
		return (union rec_value){.o = self};
	}

	bool is_init = types[0] == '@' && strncmp(selector, "init", 4) == 0;
	failure = find_failure(self, selector);
	if (failure != NULL && (types[0] == '@' || types[0] == 'Z')) {
		const char *starts[8];
		size_t lengths[8];
		size_t count = arg_elements(types, starts, lengths, 8);
		if (count > 0 && element_equals(starts[count - 1], lengths[count - 1], "^@") && args[count - 1].pp != NULL)
			*args[count - 1].pp = make_error(failure->domain, failure->code, failure->description);
		if (is_init)
			release(self); /* a failing initializer releases its allocation */
		return result;
	}

	/* Initializers and setters keep (retain) the objects they are given;
	 * delegates are weak; other messages only use their arguments. */
	if (me != NULL && (is_init || strncmp(selector, "set", 3) == 0) && strcmp(selector, "setDelegate:") != 0) {
		const char *starts[8];
		size_t lengths[8];
		size_t count = arg_elements(types, starts, lengths, 8);
		for (size_t i = 0; i < count && i < n; i++)
			if (element_equals(starts[i], lengths[i], "@"))
				hold(me, args[i].o);
	}

	behaviour = find_behaviour(self, selector);
	if (behaviour != NULL)
		return behaviour(self, me, types, args, n);
	if (is_init) {
		if (initialize(me, selector, args, n) != 0) {
			release(self);
			return result;
		}
		return (union rec_value){.o = self};
	}
	switch (types[0]) {
	case 'Z':
		result.z = find_answer(self, selector, &answer) ? (answer ? YES : NO) : YES;
		break;
	case 'q':
		result.q = find_answer(self, selector, &answer) ? answer : 0;
		break;
	case 'Q':
		result.Q = find_answer(self, selector, &answer) ? (unsigned long)answer : 0;
		break;
	case 'I':
		result.I = find_answer(self, selector, &answer) ? (uint32_t)answer : 0;
		break;
	case 'i':
		result.i = find_answer(self, selector, &answer) ? (int)answer : 0;
		break;
	default:
		break;
	}
	return result;
}

/* ---- one IMP per type encoding ---- */

#define D(types, ...)                                                        \
	union rec_value args[] = {{0}, ##__VA_ARGS__};                       \
	union rec_value result = dispatch(self, cmd, types, args + 1, sizeof(args) / sizeof(args[0]) - 1)

static id i_o(id self, SEL cmd) { D("@@:"); return result.o; }
static id i_o_o(id self, SEL cmd, id a) { D("@@:@", {.o = a}); return result.o; }
static id i_o_oo(id self, SEL cmd, id a, id b) { D("@@:@@", {.o = a}, {.o = b}); return result.o; }
static id i_o_oQe(id self, SEL cmd, id a, unsigned long b, id *c)
{ D("@@:@Q^@", {.o = a}, {.Q = b}, {.pp = c}); return result.o; }
static id i_o_ooQe(id self, SEL cmd, id a, id b, unsigned long c, id *d)
{ D("@@:@@Q^@", {.o = a}, {.o = b}, {.Q = c}, {.pp = d}); return result.o; }
static id i_o_oZe(id self, SEL cmd, id a, BOOL b, id *c) { D("@@:@Z^@", {.o = a}, {.z = b}, {.pp = c}); return result.o; }
static id i_o_oZqqe(id self, SEL cmd, id a, BOOL b, long c, long d, id *e)
{ D("@@:@Zqq^@", {.o = a}, {.z = b}, {.q = c}, {.q = d}, {.pp = e}); return result.o; }
static id i_o_oZqe(id self, SEL cmd, id a, BOOL b, long c, id *d)
{ D("@@:@Zq^@", {.o = a}, {.z = b}, {.q = c}, {.pp = d}); return result.o; }
static id i_o_odZqe(id self, SEL cmd, id a, double b, BOOL c, long d, id *e)
{ D("@@:@dZq^@", {.o = a}, {.d = b}, {.z = c}, {.q = d}, {.pp = e}); return result.o; }
static id i_o_oZ(id self, SEL cmd, id a, BOOL b) { D("@@:@Z", {.o = a}, {.z = b}); return result.o; }
static id i_o_e(id self, SEL cmd, id *a) { D("@@:^@", {.pp = a}); return result.o; }
static id i_o_oe(id self, SEL cmd, id a, id *b) { D("@@:@^@", {.o = a}, {.pp = b}); return result.o; }
static id i_o_qq(id self, SEL cmd, long a, long b) { D("@@:qq", {.q = a}, {.q = b}); return result.o; }
static id i_o_qqq(id self, SEL cmd, long a, long b, long c) { D("@@:qqq", {.q = a}, {.q = b}, {.q = c}); return result.o; }
static id i_o_s(id self, SEL cmd, const char *a) { D("@@:r*", {.s = a}); return result.o; }
static id i_o_pQ(id self, SEL cmd, id *a, unsigned long b) { D("@@:^@Q", {.pp = a}, {.Q = b}); return result.o; }
static id i_o_Q(id self, SEL cmd, unsigned long a) { D("@@:Q", {.Q = a}); return result.o; }
static id i_o_iZ(id self, SEL cmd, int a, BOOL b) { D("@@:iZ", {.i = a}, {.z = b}); return result.o; }
static id i_o_d(id self, SEL cmd, double a) { D("@@:d", {.d = a}); return result.o; }
static id i_o_QooZ(id self, SEL cmd, unsigned long a, id b, id c, BOOL d)
{ D("@@:Q@@Z", {.Q = a}, {.o = b}, {.o = c}, {.z = d}); return result.o; }
static id i_o_rQQZ(id self, SEL cmd, struct apple_rect a, unsigned long b, unsigned long c, BOOL d)
{ D("@@:{CGRect={CGPoint=dd}{CGSize=dd}}QQZ", {.rect = a}, {.Q = b}, {.Q = c}, {.z = d}); return result.o; }
static BOOL i_Z(id self, SEL cmd) { D("Z@:"); return result.z; }
static BOOL i_Z_e(id self, SEL cmd, id *a) { D("Z@:^@", {.pp = a}); return result.z; }
static BOOL i_Z_oe(id self, SEL cmd, id a, id *b) { D("Z@:@^@", {.o = a}, {.pp = b}); return result.z; }
static BOOL i_Z_q(id self, SEL cmd, long a) { D("Z@:q", {.q = a}); return result.z; }
static BOOL i_Z_oQe(id self, SEL cmd, id a, unsigned long b, id *c)
{ D("Z@:@Q^@", {.o = a}, {.Q = b}, {.pp = c}); return result.z; }
static long i_q(id self, SEL cmd) { D("q@:"); return result.q; }
static unsigned long i_Q(id self, SEL cmd) { D("Q@:"); return result.Q; }
static uint32_t i_I(id self, SEL cmd) { D("I@:"); return result.I; }
static int i_i(id self, SEL cmd) { D("i@:"); return result.i; }
static double i_d(id self, SEL cmd) { D("d@:"); return result.d; }
static const char *i_s(id self, SEL cmd) { D("r*@:"); return result.s; }
static void i_v(id self, SEL cmd) { D("v@:"); (void)result; }
static void i_v_o(id self, SEL cmd, id a) { D("v@:@", {.o = a}); (void)result; }
static void i_v_Q(id self, SEL cmd, unsigned long a) { D("v@:Q", {.Q = a}); (void)result; }
static void i_v_q(id self, SEL cmd, long a) { D("v@:q", {.q = a}); (void)result; }
static void i_v_Z(id self, SEL cmd, BOOL a) { D("v@:Z", {.z = a}); (void)result; }
static void i_v_I(id self, SEL cmd, uint32_t a) { D("v@:I", {.I = a}); (void)result; }
static void i_v_b(id self, SEL cmd, void *a) { D("v@:@?", {.p = a}); (void)result; }
static void i_v_ob(id self, SEL cmd, id a, void *b) { D("v@:@@?", {.o = a}, {.p = b}); (void)result; }
static void i_v_oI(id self, SEL cmd, id a, uint32_t b) { D("v@:@I", {.o = a}, {.I = b}); (void)result; }
static void i_v_Ib(id self, SEL cmd, uint32_t a, void *b) { D("v@:I@?", {.I = a}, {.p = b}); (void)result; }
static void i_v_oQ(id self, SEL cmd, id a, unsigned long b) { D("v@:@Q", {.o = a}, {.Q = b}); (void)result; }

#define IMP_OF(f) ((IMP)(void (*)(void))(f))

static const struct {
	const char *types;
	IMP imp;
} imps[] = {
	{"@@:", IMP_OF(i_o)},
	{"@@:@", IMP_OF(i_o_o)},
	{"@@:@@", IMP_OF(i_o_oo)},
	{"@@:@Q^@", IMP_OF(i_o_oQe)},
	{"@@:@@Q^@", IMP_OF(i_o_ooQe)},
	{"@@:@Z^@", IMP_OF(i_o_oZe)},
	{"@@:@Zqq^@", IMP_OF(i_o_oZqqe)},
	{"@@:@Zq^@", IMP_OF(i_o_oZqe)},
	{"@@:@dZq^@", IMP_OF(i_o_odZqe)},
	{"@@:@Z", IMP_OF(i_o_oZ)},
	{"@@:^@", IMP_OF(i_o_e)},
	{"@@:@^@", IMP_OF(i_o_oe)},
	{"@@:qq", IMP_OF(i_o_qq)},
	{"@@:qqq", IMP_OF(i_o_qqq)},
	{"@@:r*", IMP_OF(i_o_s)},
	{"@@:^@Q", IMP_OF(i_o_pQ)},
	{"@@:Q", IMP_OF(i_o_Q)},
	{"@@:iZ", IMP_OF(i_o_iZ)},
	{"@@:d", IMP_OF(i_o_d)},
	{"@@:Q@@Z", IMP_OF(i_o_QooZ)},
	{"@@:{CGRect={CGPoint=dd}{CGSize=dd}}QQZ", IMP_OF(i_o_rQQZ)},
	{"Z@:", IMP_OF(i_Z)},
	{"Z@:^@", IMP_OF(i_Z_e)},
	{"Z@:@^@", IMP_OF(i_Z_oe)},
	{"Z@:q", IMP_OF(i_Z_q)},
	{"Z@:@Q^@", IMP_OF(i_Z_oQe)},
	{"q@:", IMP_OF(i_q)},
	{"Q@:", IMP_OF(i_Q)},
	{"I@:", IMP_OF(i_I)},
	{"i@:", IMP_OF(i_i)},
	{"d@:", IMP_OF(i_d)},
	{"r*@:", IMP_OF(i_s)},
	{"v@:", IMP_OF(i_v)},
	{"v@:@", IMP_OF(i_v_o)},
	{"v@:Q", IMP_OF(i_v_Q)},
	{"v@:q", IMP_OF(i_v_q)},
	{"v@:Z", IMP_OF(i_v_Z)},
	{"v@:I", IMP_OF(i_v_I)},
	{"v@:@?", IMP_OF(i_v_b)},
	{"v@:@@?", IMP_OF(i_v_ob)},
	{"v@:@I", IMP_OF(i_v_oI)},
	{"v@:I@?", IMP_OF(i_v_Ib)},
	{"v@:@Q", IMP_OF(i_v_oQ)},
};

static IMP imp_for(const char *types)
{
	for (size_t i = 0; i < sizeof(imps) / sizeof(imps[0]); i++)
		if (strcmp(imps[i].types, types) == 0)
			return imps[i].imp;
	return NULL;
}

/* ---- classes ---- */

struct pending_class {
	const char *name;
	Class cls;
};

static Class make_class(const char *name, Class super, char *error, size_t size)
{
	Class cls = objc_lookUpClass(name);

	if (cls != Nil)
		return cls;
	cls = objc_allocateClassPair(super, name, 0);
	if (cls == Nil)
		snprintf(error, size, "cannot create the stand-in class %s", name);
	return cls;
}

static int add_method(Class cls, char kind, const char *selector, const char *types, char *error, size_t size)
{
	IMP imp = imp_for(types);
	Class target = kind == '+' ? object_getClass((id)cls) : cls;

	if (imp == NULL)
		return 1; /* no stand-in for this encoding */
	if (!class_addMethod(target, sel_registerName(selector), imp, types)) {
		/* Already there (a class declaring it twice): fine. */
		(void)error, (void)size;
		return 0;
	}
	return 0;
}

/* Registers cls (under super) with every method of the engine's table that
 * the given class declares. */
static int engine_declared_class(enum apple_class_id id, Class super, Class *out, char *error, size_t size)
{
	const char *name = apple_classes[id].name;
	Class cls = objc_allocateClassPair(super, name, 0);

	if (cls == Nil) {
		snprintf(error, size, "cannot create the stand-in class %s", name);
		return -1;
	}
	if (super == Nil)
		class_addIvar(cls, "isa", sizeof(Class), 3, "#"); /* a run-time root class needs it */
	for (size_t m = 0; m < APPLE_MESSAGE_COUNT; m++) {
		const struct apple_message_info *info = &apple_messages[m];
		if (info->declared_in != id)
			continue;
		if (imp_for(info->types) == NULL) {
			snprintf(error, size, "no stand-in method for encoding %s (%s)", info->types, info->selector);
			return -1;
		}
		add_method(cls, info->kind, info->selector, info->types, error, size);
	}
	objc_registerClassPair(cls);
	*out = cls;
	return 0;
}

int standin_init(const struct tsv_table *tsv, char *error, size_t size)
{
	Class root, cls;
	size_t created = 0, progress;
	bool *done;

	table = tsv;
	if (objc_lookUpClass("NSObject") != Nil)
		return 0;
	if (engine_declared_class(C_NSObject, Nil, &root, error, size) != 0)
		return -1;
	for (size_t id = 0; id < APPLE_CLASS_COUNT; id++)
		if (apple_classes[id].origin != APPLE_ORIGIN_VZ && id != C_NSObject &&
		    engine_declared_class((enum apple_class_id)id, root, &cls, error, size) != 0)
			return -1;
	/* Supers that only the table names. */
	if ((cls = make_class("NSView", root, error, size)) == Nil)
		return -1;
	objc_registerClassPair(cls);
	if ((cls = make_class("OS_dispatch_queue", root, error, size)) == Nil)
		return -1;
	objc_registerClassPair(cls);

	/* Virtualization classes, each after its superclass. */
	done = must(calloc(tsv->count, sizeof(*done)));
	do {
		progress = 0;
		for (size_t i = 0; i < tsv->count; i++) {
			const struct tsv_row *row = &tsv->rows[i];
			Class super;
			if (done[i] || objc_lookUpClass(row->cls) != Nil)
				continue;
			super = objc_lookUpClass(row->super);
			if (super == Nil) {
				if (tsv_super(tsv, row->super) != NULL)
					continue; /* its superclass comes later */
				super = root;  /* a superclass without rows of its own */
			}
			cls = objc_allocateClassPair(super, row->cls, 0);
			if (cls == Nil) {
				snprintf(error, size, "cannot create the stand-in class %s", row->cls);
				free(done);
				return -1;
			}
			for (size_t j = 0; j < tsv->count; j++) {
				const struct tsv_row *method = &tsv->rows[j];
				if (strcmp(method->cls, row->cls) != 0)
					continue;
				done[j] = true;
				if (add_method(cls, method->kind, method->selector, method->types, error, size) == 0)
					method_count++;
			}
			objc_registerClassPair(cls);
			created++;
			progress++;
		}
	} while (progress > 0);
	for (size_t i = 0; i < tsv->count; i++)
		if (!done[i] && objc_lookUpClass(tsv->rows[i].cls) == Nil) {
			snprintf(error, size, "the superclass chain of %s never resolves", tsv->rows[i].cls);
			free(done);
			return -1;
		}
	free(done);
	if (created == 0) {
		snprintf(error, size, "no Virtualization classes in the table");
		return -1;
	}
	standin_reset();
	return 0;
}

size_t standin_method_count(void)
{
	return method_count;
}

size_t standin_blocks_checked(void)
{
	return blocks_checked;
}

/* ---- state between tests ---- */

static void free_failure(struct failure *f)
{
	free(f->cls);
	free(f->selector);
	free(f->domain);
	free(f->description);
	memset(f, 0, sizeof(*f));
}

void standin_reset(void)
{
	for (size_t i = 0; i < object_count; i++) {
		struct sobject *o = objects[i];
		if (o->fd >= 0 && strcmp(o->class_name, "VZVirtioSocketConnection") == 0)
			close(o->fd);
		free(o->text);
		free(o->domain);
		free(o->elements);
		free(o->held);
		object_dispose(o->self);
		free(o);
	}
	free(objects);
	objects = NULL;
	object_count = 0;
	ordinal_count = 0;
	free(pool);
	pool = NULL;
	pool_count = 0;
	text_clear(&log_text);
	text_clear(&problem_text);
	for (size_t i = 0; i < failure_count; i++)
		free_failure(&failures[i]);
	failure_count = 0;
	for (size_t i = 0; i < answer_count; i++) {
		free(answers[i].cls);
		free(answers[i].selector);
	}
	answer_count = 0;
	free_failure(&start_failure);
	start_fails = false;
	guest_obeys = true;
	if (last_guest_end >= 0)
		close(last_guest_end);
	last_guest_end = -1;
	if (pending_install != NULL)
		Block_release(pending_install);
	pending_install = NULL;
	install_fraction = 0;
	install_fails = false;
	install_cancelled = false;
	start_action = NULL;
	install_action = NULL;
	connect_silent = false;
	if (pending_connect != NULL)
		Block_release(pending_connect);
	pending_connect = NULL;
	events_seen = 0;
	events_before_action = 0;
	event_action = NULL;
	window_closed = false;
	window_miniaturized = false;
	window_delegate = nil;
	state_reads = 0;
	state_reads_before_action = 0;
	state_action = NULL;
	shared_application = nil;
	app_launched = false;
	app_active = false;
	/* Rosetta is installed unless a test says otherwise. */
	standin_answer("VZLinuxRosettaDirectoryShare", "availability", 2);
}

const char *standin_log(void)
{
	return text_get(&log_text);
}

void standin_clear_log(void)
{
	text_clear(&log_text);
}

const char *standin_problems(void)
{
	return text_get(&problem_text);
}

void standin_drain_pool(void)
{
	for (size_t i = 0; i < pool_count; i++)
		release(pool[i]);
	pool_count = 0;
}

const char *standin_leaks(void)
{
	standin_drain_pool();
	text_clear(&leak_text);
	for (size_t i = 0; i < object_count; i++) {
		struct sobject *o = objects[i];
		if (o->refcount > 0 && !o->singleton)
			text_printf(&leak_text, "%s%s#%u (%d)", leak_text.length > 0 ? ", " : "", o->class_name, o->ordinal,
				    o->refcount);
	}
	return text_get(&leak_text);
}

void standin_fail(const char *cls, const char *selector, const char *domain, long code, const char *description)
{
	if (failure_count == sizeof(failures) / sizeof(failures[0]))
		abort();
	failures[failure_count++] = (struct failure){dup_text(cls), dup_text(selector), dup_text(domain),
						     dup_text(description), code};
}

void standin_answer(const char *cls, const char *selector, long value)
{
	if (answer_count == sizeof(answers) / sizeof(answers[0]))
		abort();
	answers[answer_count++] = (struct answer){dup_text(cls), dup_text(selector), value};
}

id standin_newest(const char *cls)
{
	for (size_t i = object_count; i-- > 0;)
		if (strcmp(objects[i]->class_name, cls) == 0)
			return objects[i]->self;
	return nil;
}

static struct sobject *newest_vm(void)
{
	id vm = standin_newest("VZVirtualMachine");
	return vm != nil ? find_object(vm) : NULL;
}

long standin_vm_state(void)
{
	struct sobject *vm = newest_vm();
	return vm != NULL ? vm->state : -1;
}

void standin_vm_set_state(long state)
{
	struct sobject *vm = newest_vm();
	if (vm != NULL)
		vm->state = state;
}

void standin_vm_guest_obeys(bool obeys)
{
	guest_obeys = obeys;
}

void standin_vm_start_fails(const char *domain, long code, const char *description)
{
	free_failure(&start_failure);
	start_failure = (struct failure){dup_text("VZVirtualMachine"), dup_text("startWithCompletionHandler:"),
					 dup_text(domain), dup_text(description), code};
	start_fails = true;
}

void standin_vm_guest_stops(void)
{
	struct sobject *vm = newest_vm();

	if (vm == NULL) {
		problem("no VM for the guest to stop");
		return;
	}
	vm->state = VM_STOPPED;
	send_to_delegate(vm->delegate, "guestDidStopVirtualMachine:", "v@:@", vm->self, nil);
}

void standin_vm_stops_with_error(const char *domain, long code, const char *description)
{
	struct sobject *vm = newest_vm();

	if (vm == NULL) {
		problem("no VM to fail");
		return;
	}
	vm->state = VM_ERROR;
	framework_side++;
	id error = make_error(domain, code, description);
	framework_side--;
	send_to_delegate(vm->delegate, "virtualMachine:didStopWithError:", "v@:@@", vm->self, error);
}

int standin_vsock_guest_connects(uint32_t port, int *guest_fd)
{
	id device = standin_newest("VZVirtioSocketDevice");
	struct sobject *me = device != nil ? find_object(device) : NULL;
	int pair[2];

	*guest_fd = -1;
	if (me == NULL)
		return -1;
	for (size_t i = 0; i < me->listener_count; i++) {
		struct sobject *listener = find_object(me->listeners[i].listener);
		SEL sel = sel_registerName("listener:shouldAcceptNewConnection:fromSocketDevice:");
		BOOL accepted;
		if (me->listeners[i].port != port || listener == NULL || listener->delegate == nil)
			continue;
		if (!class_respondsToSelector(object_getClass(listener->delegate), sel)) {
			problem("the socket listener's delegate does not respond to %s", sel_getName(sel));
			return -1;
		}
		/* The runtime's own BOOL code: the GNU runtime's BOOL is unsigned char. */
		Method method = class_getInstanceMethod(object_getClass(listener->delegate), sel);
		const char *types = method != NULL ? method_getTypeEncoding(method) : NULL;
		if (types == NULL || types[0] != 'C')
			problem("the socket delegate's %s is registered as '%s'; this runtime's BOOL is 'C'", sel_getName(sel),
				types != NULL ? types : "(none)");
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
			return -1;
		framework_side++;
		id connection = new_connection(pair[0]);
		framework_side--;
		AS_FRAMEWORK_THREAD(accepted = ((BOOL(*)(id, SEL, id, id, id))objc_msg_lookup(listener->delegate, sel))(
					    listener->delegate, sel, listener->self, connection, device));
		*guest_fd = pair[1];
		return accepted ? 1 : 0;
	}
	return -1;
}

void standin_vsock_connect_silent(bool silent)
{
	connect_silent = silent;
}

bool standin_vsock_answer_pending(void)
{
	void (^handler)(id, id) = pending_connect;
	int pair[2];

	if (handler == NULL)
		return false;
	pending_connect = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
		problem("socketpair failed");
		Block_release(handler);
		return false;
	}
	if (last_guest_end >= 0)
		close(last_guest_end);
	last_guest_end = pair[1];
	framework_side++;
	id connection = new_connection(pair[0]);
	framework_side--;
	AS_FRAMEWORK_THREAD(handler(connection, nil));
	Block_release(handler);
	return true;
}

int standin_vsock_take_guest_end(void)
{
	int fd = last_guest_end;
	last_guest_end = -1;
	return fd;
}

void standin_after_events(int pumps, void (*action)(void))
{
	events_before_action = events_seen + pumps;
	event_action = action;
}

void standin_during_start(void (*action)(void))
{
	start_action = action;
}

void standin_during_install(void (*action)(void))
{
	install_action = action;
}

void standin_after_state_reads(int reads, void (*action)(void))
{
	state_reads_before_action = state_reads + reads;
	state_action = action;
}

void standin_window_user_closes(void)
{
	close_window(standin_newest("NSWindow"));
}

void standin_window_miniaturize(void)
{
	window_miniaturized = true;
}

bool standin_window_visible(void)
{
	return !window_closed && !window_miniaturized;
}

bool standin_app_active(void)
{
	return app_active;
}

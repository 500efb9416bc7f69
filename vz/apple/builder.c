#include "vz/apple/builder.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* While planning, an id is one of these. */
struct plan_object {
	char *text; /* how it prints: VZFoo#1, @"text", <file:///x>, [a, b] */
};

struct text_buffer {
	char *data;
	size_t length, capacity;
	bool out_of_memory;
};

struct pty_name {
	size_t serial_index;
	char *name;
};

struct apple_builder {
	enum apple_mode mode;
	struct apple_host host;
	char *runtime_dir;
	struct vzk_error *err;
	void (*warn)(void *context, const char *message);
	void *warn_context;
	void (*log)(void *context, enum log_level level, const char *message);
	int (*fetch)(void *context, const char *url, char **path, struct vzk_error *err);
	id restore_image_url; /* +0: owned through owned[] */
	char **created;
	size_t created_count;

	/* plan */
	struct text_buffer plan;
	struct plan_object **plan_objects;
	size_t plan_object_count;
	struct plan_object *plan_classes[APPLE_CLASS_COUNT];
	unsigned ordinals[APPLE_CLASS_COUNT];

	/* live */
	id *owned;
	size_t owned_count;
	int *fds;
	size_t fd_count;
	char **paths;
	size_t path_count;
	struct pty_name *ptys;
	size_t pty_count;
	bool terminal_saved;
	int terminal_fd;
	struct termios terminal;
};

/* ---- small helpers ---- */

static bool grow(void **array, size_t count, size_t element_size)
{
	void *bigger = realloc(*array, (count + 1) * element_size);
	if (bigger == NULL)
		return false;
	*array = bigger;
	return true;
}

static void text_append_n(struct text_buffer *t, const char *s, size_t n)
{
	if (t->out_of_memory)
		return;
	if (t->length + n + 1 > t->capacity) {
		size_t capacity = t->capacity == 0 ? 1024 : t->capacity;
		while (t->length + n + 1 > capacity)
			capacity *= 2;
		char *bigger = realloc(t->data, capacity);
		if (bigger == NULL) {
			t->out_of_memory = true;
			return;
		}
		t->data = bigger;
		t->capacity = capacity;
	}
	memcpy(t->data + t->length, s, n);
	t->length += n;
	t->data[t->length] = '\0';
}

static void text_append(struct text_buffer *t, const char *s)
{
	text_append_n(t, s, strlen(s));
}

static void text_appendf(struct text_buffer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_appendf(struct text_buffer *t, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		text_append_n(t, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		t->out_of_memory = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	text_append_n(t, big, (size_t)n);
	free(big);
}

/* "text" with \" \\ \n \t and \xNN escapes (test/apple's recorder prints the same). */
static void text_append_quoted(struct text_buffer *t, const char *s)
{
	text_append(t, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"')
			text_append(t, "\\\"");
		else if (*p == '\\')
			text_append(t, "\\\\");
		else if (*p == '\n')
			text_append(t, "\\n");
		else if (*p == '\t')
			text_append(t, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			text_appendf(t, "\\x%02x", *p);
		else
			text_append_n(t, (const char *)p, 1);
	}
	text_append(t, "\"");
}

static int out_of_memory(struct apple_builder *b)
{
	return vzk_runtime_error(b->err, "out of memory");
}

/* ---- plan objects ---- */

static id plan_object_take(struct apple_builder *b, struct text_buffer *text)
{
	struct plan_object *object;

	if (text->out_of_memory || text->data == NULL) {
		free(text->data);
		out_of_memory(b);
		return nil;
	}
	object = malloc(sizeof(*object));
	if (object == NULL || !grow((void **)&b->plan_objects, b->plan_object_count, sizeof(*b->plan_objects))) {
		free(object);
		free(text->data);
		out_of_memory(b);
		return nil;
	}
	object->text = text->data;
	b->plan_objects[b->plan_object_count++] = object;
	return (id)(void *)object;
}

static id plan_object_new(struct apple_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static id plan_object_new(struct apple_builder *b, const char *fmt, ...)
{
	struct text_buffer text = {0};
	char *formatted = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&formatted, fmt, ap);
	va_end(ap);
	if (n < 0)
		formatted = NULL;
	if (formatted == NULL) {
		out_of_memory(b);
		return nil;
	}
	text.data = formatted;
	return plan_object_take(b, &text);
}

static const char *plan_text(id object)
{
	return object == nil ? "nil" : ((struct plan_object *)(void *)object)->text;
}

static id plan_instance(struct apple_builder *b, enum apple_class_id cls)
{
	return plan_object_new(b, "%s#%u", apple_classes[cls].name, ++b->ordinals[cls]);
}

static void plan_append_arg(struct text_buffer *t, const struct apple_arg *arg)
{
	switch (arg->kind) {
	case APPLE_ARG_OBJECT:
		text_append(t, plan_text(arg->value.object));
		break;
	case APPLE_ARG_BOOL:
		text_append(t, arg->value.boolean ? "YES" : "NO");
		break;
	case APPLE_ARG_INTEGER:
		text_appendf(t, "%ld", (long)arg->value.integer);
		break;
	case APPLE_ARG_UINTEGER:
		text_appendf(t, "%lu", (unsigned long)arg->value.uinteger);
		break;
	case APPLE_ARG_UINT32:
		text_appendf(t, "%u", arg->value.uint32);
		break;
	case APPLE_ARG_INT:
		text_appendf(t, "%d", arg->value.int32);
		break;
	case APPLE_ARG_DOUBLE:
		text_appendf(t, "%g", arg->value.real);
		break;
	case APPLE_ARG_CSTRING:
		text_append_quoted(t, arg->value.cstring);
		break;
	case APPLE_ARG_BLOCK:
		text_append(t, "^{}");
		break;
	case APPLE_ARG_ERROR_OUT:
		text_append(t, "&error");
		break;
	case APPLE_ARG_OBJECTS:
		text_append(t, "{...}");
		break;
	case APPLE_ARG_RECT:
		text_appendf(t, "{{%g, %g}, {%g, %g}}", arg->value.rect.origin.x, arg->value.rect.origin.y,
			     arg->value.rect.size.width, arg->value.rect.size.height);
		break;
	case APPLE_ARG_END:
		break;
	}
}

/* [receiver part:arg part:arg] */
static void plan_append_message(struct apple_builder *b, enum apple_message_id message, id receiver,
				const struct apple_arg *args, size_t arg_count)
{
	const char *selector = apple_messages[message].selector;
	struct text_buffer *t = &b->plan;

	text_append(t, "[");
	text_append(t, plan_text(receiver));
	text_append(t, " ");
	if (arg_count == 0) {
		text_append(t, selector);
	} else {
		const char *part = selector;
		for (size_t i = 0; i < arg_count; i++) {
			const char *colon = strchr(part, ':');
			if (colon == NULL)
				break;
			if (i > 0)
				text_append(t, " ");
			text_append_n(t, part, (size_t)(colon - part) + 1);
			plan_append_arg(t, &args[i]);
			part = colon + 1;
		}
	}
	text_append(t, "]\n");
}

/* ---- lifetime ---- */

struct apple_builder *apple_builder_new(const struct apple_builder_options *options)
{
	struct apple_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->mode = options->mode;
	b->host = *options->host;
	b->warn = options->warn;
	b->warn_context = options->warn_context;
	b->log = options->log;
	b->fetch = options->fetch;
	b->terminal_fd = -1;
	if (options->runtime_dir != NULL && (b->runtime_dir = strdup(options->runtime_dir)) == NULL) {
		free(b);
		return NULL;
	}
	text_append(&b->plan, "");
	if (b->plan.out_of_memory) {
		free(b->runtime_dir);
		free(b);
		return NULL;
	}
	return b;
}

void apple_builder_free(struct apple_builder *b)
{
	if (b == NULL)
		return;
	/* Newest first: containers go before what they hold. */
	for (size_t i = b->owned_count; i-- > 0;)
		apple_send(NULL, M_RELEASE, b->owned[i], NULL, NULL);
	free(b->owned);
	for (size_t i = 0; i < b->fd_count; i++)
		close(b->fds[i]);
	free(b->fds);
	for (size_t i = 0; i < b->path_count; i++) {
		unlink(b->paths[i]);
		free(b->paths[i]);
	}
	free(b->paths);
	for (size_t i = 0; i < b->pty_count; i++)
		free(b->ptys[i].name);
	free(b->ptys);
	if (b->terminal_saved)
		tcsetattr(b->terminal_fd, TCSANOW, &b->terminal);
	for (size_t i = 0; i < b->plan_object_count; i++) {
		free(b->plan_objects[i]->text);
		free(b->plan_objects[i]);
	}
	free(b->plan_objects);
	for (size_t i = 0; i < b->created_count; i++)
		free(b->created[i]);
	free(b->created);
	free(b->plan.data);
	free(b->runtime_dir);
	free(b);
}

void apple_builder_set_error(struct apple_builder *b, struct vzk_error *err)
{
	b->err = err;
}

struct vzk_error *apple_builder_error(struct apple_builder *b)
{
	return b->err;
}

bool apple_planning(const struct apple_builder *b)
{
	return b->mode == APPLE_MODE_PLAN;
}

const struct apple_host *apple_builder_host(const struct apple_builder *b)
{
	return &b->host;
}

const char *apple_builder_runtime_dir(const struct apple_builder *b)
{
	return b->runtime_dir;
}

const char *apple_builder_plan(const struct apple_builder *b)
{
	return b->plan.out_of_memory ? NULL : b->plan.data;
}

/* ---- sending ---- */

static int own(struct apple_builder *b, id object)
{
	if (!grow((void **)&b->owned, b->owned_count, sizeof(*b->owned))) {
		apple_send(NULL, M_RELEASE, object, NULL, NULL);
		return out_of_memory(b);
	}
	b->owned[b->owned_count++] = object;
	return 0;
}

/* The class a plan handle for a class stands for (QUERY messages). */
static enum apple_class_id plan_class_of(struct apple_builder *b, id receiver)
{
	for (size_t cls = 0; cls < APPLE_CLASS_COUNT; cls++)
		if (b->plan_classes[cls] != NULL && (id)(void *)b->plan_classes[cls] == receiver)
			return (enum apple_class_id)cls;
	return APPLE_CLASS_COUNT;
}

static int send_args(struct apple_builder *b, enum apple_message_id message, id receiver,
		     const struct apple_arg *args, size_t arg_count, union apple_value *result)
{
	const struct apple_message_info *info = &apple_messages[message];
	union apple_value answer;

	memset(&answer, 0, sizeof(answer));
	if (b->mode == APPLE_MODE_LIVE) {
		if (apple_send_array(&b->host, message, receiver, args, arg_count, &answer, b->err) != 0)
			return -1;
		if (apple_message_is_init(message) && own(b, answer.object) != 0)
			return -1;
		if (result != NULL)
			*result = answer;
		return 0;
	}

	if (apple_check_message(&b->host, message, b->err) != 0 ||
	    apple_check_args(message, args, arg_count, b->err) != 0)
		return -1;
	if (receiver == nil)
		return vzk_runtime_error(b->err, "internal error: %c[%s %s] sent to nil", info->kind,
					 apple_classes[info->declared_in].name, info->selector);
	plan_append_message(b, message, receiver, args, arg_count);
	if (info->flags & APPLE_QUERY) {
		enum apple_class_id cls = plan_class_of(b, receiver);
		id live_class;
		if (info->kind != '+' || cls == APPLE_CLASS_COUNT || arg_count != 0)
			return vzk_runtime_error(b->err, "internal error: query %s is not an argument-less class message",
						 info->selector);
		live_class = apple_class_object(cls, b->err);
		if (live_class == nil || apple_send_array(&b->host, message, live_class, args, 0, &answer, b->err) != 0)
			return -1;
	} else if (apple_message_is_init(message)) {
		answer.object = receiver; /* the handle stands for the initialized object */
	}
	if (result != NULL)
		*result = answer;
	return 0;
}

static int collect(struct apple_builder *b, va_list *ap, struct apple_arg *args, size_t *count)
{
	return apple_collect_args(ap, args, count, b->err);
}

id apple_class(struct apple_builder *b, enum apple_class_id cls)
{
	if (apple_check_class(&b->host, cls, b->err) != 0)
		return nil;
	if (b->mode == APPLE_MODE_LIVE)
		return apple_class_object(cls, b->err);
	if (b->plan_classes[cls] == NULL) {
		id handle = plan_object_new(b, "%s", apple_classes[cls].name);
		if (handle == nil)
			return nil;
		b->plan_classes[cls] = (struct plan_object *)(void *)handle;
	}
	return (id)(void *)b->plan_classes[cls];
}

static id new_with_args(struct apple_builder *b, enum apple_class_id cls, enum apple_message_id init,
			const struct apple_arg *args, size_t arg_count)
{
	union apple_value allocated, initialized;
	id class_object = apple_class(b, cls);

	if (class_object == nil)
		return nil;
	if (b->mode == APPLE_MODE_LIVE) {
		if (apple_send(&b->host, M_ALLOC, class_object, &allocated, b->err) != 0)
			return nil;
	} else {
		plan_append_message(b, M_ALLOC, class_object, NULL, 0);
		allocated.object = plan_instance(b, cls);
		if (allocated.object == nil)
			return nil;
	}
	/* A failed initializer releases the allocation itself (Cocoa's rule). */
	if (send_args(b, init, allocated.object, args, arg_count, &initialized) != 0)
		return nil;
	return initialized.object;
}

id apple_new_list(struct apple_builder *b, enum apple_class_id cls, enum apple_message_id init, ...)
{
	struct apple_arg args[APPLE_MAX_ARGS];
	size_t count;
	va_list ap;
	int status;

	va_start(ap, init);
	status = collect(b, &ap, args, &count);
	va_end(ap);
	if (status != 0)
		return nil;
	return new_with_args(b, cls, init, args, count);
}

int apple_call_list(struct apple_builder *b, enum apple_message_id message, id receiver, ...)
{
	struct apple_arg args[APPLE_MAX_ARGS];
	size_t count;
	va_list ap;
	int status;

	va_start(ap, receiver);
	status = collect(b, &ap, args, &count);
	va_end(ap);
	if (status != 0)
		return -1;
	return send_args(b, message, receiver, args, count, NULL);
}

int apple_ask_list(struct apple_builder *b, enum apple_message_id message, id receiver,
		   union apple_value *result, ...)
{
	struct apple_arg args[APPLE_MAX_ARGS];
	size_t count;
	va_list ap;
	int status;

	va_start(ap, result);
	status = collect(b, &ap, args, &count);
	va_end(ap);
	if (status != 0)
		return -1;
	return send_args(b, message, receiver, args, count, result);
}

id apple_get_object(struct apple_builder *b, enum apple_message_id message, id receiver,
		    enum apple_class_id result_class)
{
	union apple_value answer;

	if (apple_ask(b, message, receiver, &answer) != 0)
		return nil;
	if (b->mode == APPLE_MODE_PLAN)
		return plan_instance(b, result_class);
	if (answer.object == nil)
		vzk_runtime_error(b->err, "%c[%s %s] answered nil", apple_messages[message].kind,
				  apple_classes[apple_messages[message].declared_in].name, apple_messages[message].selector);
	return answer.object;
}

/* ---- Foundation values ---- */

/* Sends alloc + init to a Foundation class; the plan gets only the handle. */
static id live_value(struct apple_builder *b, enum apple_class_id cls, enum apple_message_id init,
		     const struct apple_arg *args, size_t arg_count)
{
	return new_with_args(b, cls, init, args, arg_count);
}

id apple_nsstring(struct apple_builder *b, const char *text)
{
	if (b->mode == APPLE_MODE_LIVE) {
		struct apple_arg arg = apple_arg_cstring(text);
		return live_value(b, C_NSString, M_STRING_INIT_UTF8, &arg, 1);
	}
	struct text_buffer t = {0};
	text_append(&t, "@");
	text_append_quoted(&t, text);
	return plan_object_take(b, &t);
}

static char *absolute_path(const char *path)
{
	char cwd[4096];
	char *joined = NULL;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (asprintf(&joined, "%s/%s", cwd, path) < 0)
		return NULL;
	return joined;
}

id apple_file_url(struct apple_builder *b, const char *path)
{
	char *absolute = absolute_path(path);
	id url = nil;

	if (absolute == NULL) {
		vzk_runtime_error(b->err, "cannot make %s absolute: %s", path, strerror(errno));
		return nil;
	}
	if (b->mode == APPLE_MODE_LIVE) {
		id string = apple_nsstring(b, absolute);
		if (string != nil) {
			struct apple_arg arg = apple_arg_object(string);
			url = live_value(b, C_NSURL, M_URL_INIT_FILE_PATH, &arg, 1);
		}
	} else {
		url = plan_object_new(b, "<file://%s>", absolute);
	}
	free(absolute);
	return url;
}

id apple_url(struct apple_builder *b, const char *text)
{
	if (b->mode == APPLE_MODE_LIVE) {
		id string = apple_nsstring(b, text);
		if (string == nil)
			return nil;
		struct apple_arg arg = apple_arg_object(string);
		id url = live_value(b, C_NSURL, M_URL_INIT_STRING, &arg, 1);
		if (url == nil)
			vzk_runtime_error(b->err, "'%s' is not a valid URL", text);
		return url;
	}
	return plan_object_new(b, "<%s>", text);
}

id apple_nsarray(struct apple_builder *b, const id *objects, size_t count)
{
	if (b->mode == APPLE_MODE_LIVE) {
		/* initWithObjects:count: copies the pointers; a zero-length
		 * array still needs a valid pointer. */
		id none = nil;
		struct apple_arg args[2] = {apple_arg_objects(count > 0 ? (id *)objects : &none),
					    apple_arg_uinteger(count)};
		return live_value(b, C_NSArray, M_ARRAY_INIT_OBJECTS, args, 2);
	}
	struct text_buffer t = {0};
	text_append(&t, "[");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			text_append(&t, ", ");
		text_append(&t, plan_text(objects[i]));
	}
	text_append(&t, "]");
	return plan_object_take(b, &t);
}

id apple_nsdata_from_file(struct apple_builder *b, const char *path)
{
	char *absolute = absolute_path(path);
	id data = nil;

	if (absolute == NULL) {
		vzk_runtime_error(b->err, "cannot make %s absolute: %s", path, strerror(errno));
		return nil;
	}
	if (b->mode == APPLE_MODE_LIVE) {
		id string = apple_nsstring(b, absolute);
		if (string != nil) {
			struct apple_arg args[3] = {apple_arg_object(string), apple_arg_uinteger(0),
						    apple_arg_error_out()};
			data = live_value(b, C_NSData, M_DATA_INIT_FILE, args, 3);
		}
	} else {
		struct text_buffer t = {0};
		text_append(&t, "NSData(");
		text_append_quoted(&t, absolute);
		text_append(&t, ")");
		data = plan_object_take(b, &t);
	}
	free(absolute);
	return data;
}

id apple_file_handle(struct apple_builder *b, int fd)
{
	if (b->mode == APPLE_MODE_LIVE) {
		struct apple_arg args[2] = {apple_arg_int(fd), apple_arg_bool(false)};
		return live_value(b, C_NSFileHandle, M_FILE_HANDLE_INIT_FD, args, 2);
	}
	return plan_instance(b, C_NSFileHandle);
}

void apple_note(struct apple_builder *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (b->mode != APPLE_MODE_PLAN)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	text_append(&b->plan, "# ");
	text_append(&b->plan, line);
	text_append(&b->plan, "\n");
}

void apple_warn(struct apple_builder *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->mode == APPLE_MODE_PLAN)
		apple_note(b, "warning: %s", line);
	else if (b->warn != NULL)
		b->warn(b->warn_context, line);
}

id apple_plan_object(struct apple_builder *b, enum apple_class_id cls)
{
	return plan_instance(b, cls);
}

int apple_adopt(struct apple_builder *b, id object)
{
	return own(b, object);
}

void apple_log(struct apple_builder *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (b->mode != APPLE_MODE_LIVE || b->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->log(b->warn_context, LOG_LEVEL_INFO, line);
}

char *apple_fetch(struct apple_builder *b, const char *url)
{
	char *path = NULL;

	if (b->fetch == NULL) {
		vzk_usage_error(b->err, "%s: this launcher cannot download", url);
		return NULL;
	}
	if (b->fetch(b->warn_context, url, &path, b->err) != 0)
		return NULL;
	return path;
}

void apple_builder_set_restore_image_url(struct apple_builder *b, id url)
{
	b->restore_image_url = url;
}

id apple_builder_restore_image_url(const struct apple_builder *b)
{
	return b->restore_image_url;
}

int apple_builder_note_created(struct apple_builder *b, const char *path)
{
	char *copy = strdup(path);

	if (copy == NULL || !grow((void **)&b->created, b->created_count, sizeof(*b->created))) {
		free(copy);
		return out_of_memory(b);
	}
	b->created[b->created_count++] = copy;
	return 0;
}

void apple_builder_remove_created(struct apple_builder *b)
{
	for (size_t i = 0; i < b->created_count; i++) {
		unlink(b->created[i]);
		free(b->created[i]);
	}
	b->created_count = 0;
}

/* ---- host resources ---- */

int apple_keep_fd(struct apple_builder *b, int fd)
{
	if (!grow((void **)&b->fds, b->fd_count, sizeof(*b->fds))) {
		close(fd);
		return out_of_memory(b);
	}
	b->fds[b->fd_count++] = fd;
	return 0;
}

int apple_keep_path(struct apple_builder *b, const char *path)
{
	char *copy = strdup(path);

	if (copy == NULL || !grow((void **)&b->paths, b->path_count, sizeof(*b->paths))) {
		free(copy);
		unlink(path);
		return out_of_memory(b);
	}
	b->paths[b->path_count++] = copy;
	return 0;
}

int apple_keep_pty_name(struct apple_builder *b, size_t serial_index, const char *name)
{
	char *copy = strdup(name);

	if (copy == NULL || !grow((void **)&b->ptys, b->pty_count, sizeof(*b->ptys))) {
		free(copy);
		return out_of_memory(b);
	}
	b->ptys[b->pty_count].serial_index = serial_index;
	b->ptys[b->pty_count].name = copy;
	b->pty_count++;
	return 0;
}

const char *apple_builder_pty_name(const struct apple_builder *b, size_t serial_index)
{
	for (size_t i = 0; i < b->pty_count; i++)
		if (b->ptys[i].serial_index == serial_index)
			return b->ptys[i].name;
	return NULL;
}

int apple_keep_console_terminal(struct apple_builder *b, int fd)
{
	struct termios console;

	if (b->terminal_saved)
		return 0;
	if (tcgetattr(fd, &b->terminal) != 0)
		return vzk_runtime_error(b->err, "cannot read the terminal settings: %s", strerror(errno));
	/* vfkit's console mode (Apple's "Running Linux in a virtual machine"):
	 * keys go to the guest one by one, unechoed, CR not turned into NL.
	 * Not cfmakeraw: ISIG stays, so Ctrl-C is vzkit's graceful stop, and
	 * OPOST stays, so vzkit's own lines keep their carriage returns. */
	console = b->terminal;
	console.c_iflag &= ~(tcflag_t)ICRNL;
	console.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	console.c_cc[VMIN] = 1;
	console.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &console) != 0)
		return vzk_runtime_error(b->err, "cannot set up the terminal for the console: %s", strerror(errno));
	b->terminal_saved = true;
	b->terminal_fd = fd;
	return 0;
}

/* The translation context of the Apple engine. The same translation code
 * (config.c, boot.c, storage.c, ...) runs in two modes:
 *
 * - plan: nothing is created. Each message is checked (types, host) and
 *   written as one line of the plan, e.g.
 *     [VZVirtioBlockDeviceConfiguration#1 initWithAttachment:VZDiskImageStorageDeviceAttachment#1]
 *   Objects are stand-in handles named Class#n (n counts per class), Foundation
 *   values print as their value: @"text", <file:///path>, [a, b],
 *   NSData("/path"). Only APPLE_QUERY messages (no side effect, e.g. Rosetta's
 *   availability) reach the runtime, because their answer shapes the plan.
 * - live: the messages are sent. Every object an initializer returns is owned
 *   by the builder and released by apple_builder_free, which also closes the
 *   host file descriptors, removes the sockets and restores the terminal the
 *   configuration used.
 *
 * The test rig records what the runtime receives in live mode in the same
 * notation, so one golden file checks both modes. */
#ifndef VZKIT_VZ_APPLE_BUILDER_H
#define VZKIT_VZ_APPLE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>

#include "flags/error.h"
#include "vz/apple/host.h"
#include "vz/apple/runtime.h"
#include "vz/engine.h"

enum apple_mode {
	APPLE_MODE_PLAN = 0,
	APPLE_MODE_LIVE,
};

struct apple_builder_options {
	enum apple_mode mode;
	const struct apple_host *host;
	const char *runtime_dir; /* live: private directory for the sockets it binds */
	/* live: apple_warn's lines go here (engine_options.warn); may be NULL */
	void (*warn)(void *context, const char *message);
	void *warn_context;
	/* live: lines for the user (engine_options.log, context warn_context); may be NULL */
	void (*log)(void *context, enum log_level level, const char *message);
	/* live: a local copy of an http(s) URL (engine_options.fetch); may be NULL */
	int (*fetch)(void *context, const char *url, char **path, struct vzk_error *err);
};

struct apple_builder;

/* NULL when out of memory. */
struct apple_builder *apple_builder_new(const struct apple_builder_options *options);
/* Releases every owned object, closes kept fds, removes kept paths, restores
 * the terminal. NULL ok. */
void apple_builder_free(struct apple_builder *b);

/* Where the following calls report errors. */
void apple_builder_set_error(struct apple_builder *b, struct vzk_error *err);
struct vzk_error *apple_builder_error(struct apple_builder *b);
bool apple_planning(const struct apple_builder *b);
const struct apple_host *apple_builder_host(const struct apple_builder *b);
const char *apple_builder_runtime_dir(const struct apple_builder *b);
/* The plan so far ("" in live mode); NULL when memory ran out. */
const char *apple_builder_plan(const struct apple_builder *b);

/* A class as a receiver for '+' messages; nil with error when the host lacks it. */
id apple_class(struct apple_builder *b, enum apple_class_id cls);

/* [[cls alloc] init...]: the new object (owned), or nil with error. */
id apple_new_list(struct apple_builder *b, enum apple_class_id cls, enum apple_message_id init, ...);
#define apple_new(b, cls, init, ...) \
	apple_new_list((b), (cls), (init), ##__VA_ARGS__, ((struct apple_arg){.kind = APPLE_ARG_END}))

/* A message whose result only says success (void, or BOOL with NSError). */
int apple_call_list(struct apple_builder *b, enum apple_message_id message, id receiver, ...);
#define apple_call(b, message, receiver, ...) \
	apple_call_list((b), (message), (receiver), ##__VA_ARGS__, ((struct apple_arg){.kind = APPLE_ARG_END}))

/* A message whose answer is wanted. While planning, only APPLE_QUERY
 * messages are really sent; the others answer zero/NO/nil. */
int apple_ask_list(struct apple_builder *b, enum apple_message_id message, id receiver,
		   union apple_value *result, ...);
#define apple_ask(b, message, receiver, result, ...) \
	apple_ask_list((b), (message), (receiver), (result), ##__VA_ARGS__, \
		       ((struct apple_arg){.kind = APPLE_ARG_END}))

/* A getter whose answer is an object the receiver owns (+0), of class
 * result_class; while planning, a new handle of that class. nil with error. */
id apple_get_object(struct apple_builder *b, enum apple_message_id message, id receiver,
		    enum apple_class_id result_class);

/* Foundation values (owned); nil with error. */
id apple_nsstring(struct apple_builder *b, const char *text);
id apple_file_url(struct apple_builder *b, const char *path); /* relative paths are made absolute */
id apple_url(struct apple_builder *b, const char *text);
id apple_nsarray(struct apple_builder *b, const id *objects, size_t count);
id apple_nsdata_from_file(struct apple_builder *b, const char *path);
/* An NSFileHandle on fd (closeOnDealloc NO: the builder closes kept fds). */
id apple_file_handle(struct apple_builder *b, int fd);

/* A "# ..." comment line in the plan; nothing in live mode. */
void apple_note(struct apple_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Something the user should know (a device left out, an option the
 * framework cannot apply): "# warning: ..." in the plan, the warn callback
 * when live (once per run: the live build is the one that counts). */
void apple_warn(struct apple_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* While planning: a new handle of class cls for an object only the
 * framework makes (e.g. what a completion handler hands over). */
id apple_plan_object(struct apple_builder *b, enum apple_class_id cls);
/* live: the builder owns `object` (+1, already retained); -1 when out of memory. */
int apple_adopt(struct apple_builder *b, id object);
/* live: an info line for the user (engine_options.log). */
void apple_log(struct apple_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* live: a local path for an http(s) URL through engine_options.fetch
 * (malloc'd), or NULL with error. */
char *apple_fetch(struct apple_builder *b, const char *url);

/* The macOS install (install.c): the restore image's file URL (owned), and
 * the identity files made for it, removed again when the install fails. */
void apple_builder_set_restore_image_url(struct apple_builder *b, id url);
id apple_builder_restore_image_url(const struct apple_builder *b);
int apple_builder_note_created(struct apple_builder *b, const char *path);
void apple_builder_remove_created(struct apple_builder *b);

/* Host resources of the live configuration. -1 with error when out of memory
 * (the fd is closed then). */
int apple_keep_fd(struct apple_builder *b, int fd);
int apple_keep_path(struct apple_builder *b, const char *path);
int apple_keep_pty_name(struct apple_builder *b, size_t serial_index, const char *name);
/* Puts a terminal in console mode (no echo, no line editing; Ctrl-C still
 * signals vzkit) until the builder is freed. */
int apple_keep_console_terminal(struct apple_builder *b, int fd);
/* The pty of serial port serial_index, or NULL. */
const char *apple_builder_pty_name(const struct apple_builder *b, size_t serial_index);

#endif

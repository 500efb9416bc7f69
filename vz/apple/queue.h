/* The VM's serial dispatch queue. Every VZVirtualMachine message, and the
 * framework's callbacks, run on it; configuration objects may be built on any
 * thread. Never queue_sync onto it from one of its own callbacks (deadlock).
 *
 * macOS: libdispatch (queue_dispatch.c). Debian has no libdispatch: the Linux
 * test rig links a stand-in that runs the work at once on the calling thread
 * (test/apple/sync_queue.c). */
#ifndef VZKIT_VZ_APPLE_QUEUE_H
#define VZKIT_VZ_APPLE_QUEUE_H

#include <stdbool.h>

#include "flags/error.h"
#include "vz/apple/runtime.h"

struct apple_queue;

struct apple_queue *apple_queue_new(const char *label, struct vzk_error *err);
void apple_queue_free(struct apple_queue *queue); /* NULL ok */
/* The queue as -[VZVirtualMachine initWithConfiguration:queue:] takes it. */
id apple_queue_object(struct apple_queue *queue);
void apple_queue_sync(struct apple_queue *queue, void (*work)(void *context), void *context);
void apple_queue_async(struct apple_queue *queue, void (*work)(void *context), void *context);

/* AppKit and main-queue deliveries need the main thread's run loop. */
bool apple_on_main_thread(void);
/* Runs the main run loop for up to `seconds` (returns early after a source
 * fired); only meaningful on the main thread. */
void apple_main_run_loop_turn(double seconds);

#endif

/* apple_queue on libdispatch (macOS). The _f variants take a function and a
 * context, so no block is needed here. */
#include "vz/apple/queue.h"

#include <CoreFoundation/CoreFoundation.h>
#include <dispatch/dispatch.h>
#include <pthread.h>
#include <stdlib.h>

struct apple_queue {
	dispatch_queue_t queue;
};

struct apple_queue *apple_queue_new(const char *label, struct vzk_error *err)
{
	struct apple_queue *queue = calloc(1, sizeof(*queue));

	if (queue == NULL) {
		vzk_runtime_error(err, "out of memory");
		return NULL;
	}
	/* A pool drained after each work item, ours and the framework's
	 * callbacks alike (a worker thread's own pool drains rarely). */
	queue->queue = dispatch_queue_create(
		label, dispatch_queue_attr_make_with_autorelease_frequency(DISPATCH_QUEUE_SERIAL,
									   DISPATCH_AUTORELEASE_FREQUENCY_WORK_ITEM));
	if (queue->queue == NULL) {
		free(queue);
		vzk_runtime_error(err, "cannot create the dispatch queue %s", label);
		return NULL;
	}
	return queue;
}

void apple_queue_free(struct apple_queue *queue)
{
	if (queue == NULL)
		return;
	dispatch_release(queue->queue);
	free(queue);
}

id apple_queue_object(struct apple_queue *queue)
{
	/* A dispatch queue is an Objective-C object (OS_dispatch_queue). */
	return (id)(void *)queue->queue;
}

void apple_queue_sync(struct apple_queue *queue, void (*work)(void *context), void *context)
{
	dispatch_sync_f(queue->queue, context, work);
}

void apple_queue_async(struct apple_queue *queue, void (*work)(void *context), void *context)
{
	dispatch_async_f(queue->queue, context, work);
}

bool apple_on_main_thread(void)
{
	return pthread_main_np() != 0;
}

void apple_main_run_loop_turn(double seconds)
{
	CFRunLoopRunInMode(kCFRunLoopDefaultMode, seconds, true);
}

/* apple_queue for the Linux test rig: Debian has no libdispatch, so the VM's
 * "queue" runs each piece of work at once on the calling thread. The queue
 * object handed to -initWithConfiguration:queue: is a stand-in
 * OS_dispatch_queue (what a dispatch queue is to the Objective-C runtime). */
#include <stdlib.h>

#include "vz/apple/queue.h"

struct apple_queue {
	id object;
};

struct apple_queue *apple_queue_new(const char *label, struct vzk_error *err)
{
	struct apple_queue *queue = calloc(1, sizeof(*queue));
	Class cls = objc_lookUpClass("OS_dispatch_queue");
	union apple_value value;

	(void)label;
	if (queue == NULL || cls == Nil) {
		free(queue);
		vzk_runtime_error(err, "cannot make the stand-in queue");
		return NULL;
	}
	if (apple_send(NULL, M_ALLOC, (id)cls, &value, err) != 0 ||
	    apple_send(NULL, M_INIT, value.object, &value, err) != 0) {
		free(queue);
		return NULL;
	}
	queue->object = value.object;
	return queue;
}

void apple_queue_free(struct apple_queue *queue)
{
	if (queue == NULL)
		return;
	apple_send(NULL, M_RELEASE, queue->object, NULL, NULL);
	free(queue);
}

id apple_queue_object(struct apple_queue *queue)
{
	return queue->object;
}

/* A work item runs as on a dispatch worker of a queue made with
 * DISPATCH_AUTORELEASE_FREQUENCY_WORK_ITEM (queue_dispatch.c): none of the
 * caller's pools, one of the queue's own around the item. */
static void run_item(void (*work)(void *context), void *context)
{
	int depth = apple_pool_depth_swap(1);
	work(context);
	apple_pool_depth_swap(depth);
}

void apple_queue_sync(struct apple_queue *queue, void (*work)(void *context), void *context)
{
	(void)queue;
	run_item(work, context);
}

void apple_queue_async(struct apple_queue *queue, void (*work)(void *context), void *context)
{
	(void)queue;
	run_item(work, context);
}

bool apple_on_main_thread(void)
{
	return false;
}

void apple_main_run_loop_turn(double seconds)
{
	(void)seconds;
}

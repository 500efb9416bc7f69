/* Waiting for a completion handler (a block the framework calls later, on
 * some queue). The waiting thread blocks on a condition variable; on the main
 * thread it keeps the main run loop turning meanwhile, in case the framework
 * delivers there. */
#ifndef VZKIT_VZ_APPLE_COMPLETION_H
#define VZKIT_VZ_APPLE_COMPLETION_H

#include <pthread.h>
#include <stdbool.h>

#include "vz/apple/runtime.h"

struct apple_completion {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	bool failed;
	char message[600]; /* failed: the error, one line */
	int fd;            /* a socket connection's fd (dup'ed), or -1 */
	id object;         /* what the handler handed over, retained (+1, now the waiter's), or nil */
};

void apple_completion_init(struct apple_completion *completion);
void apple_completion_destroy(struct apple_completion *completion);
/* From the handler: error nil means success. */
void apple_completion_finish(struct apple_completion *completion, id error);
/* Success carrying a file descriptor (now owned by the waiter). */
void apple_completion_finish_fd(struct apple_completion *completion, int fd);
/* From a handler that hands over an object (nil: error says why); the
 * object is retained here, inside the handler, before it can go away. */
void apple_completion_finish_object(struct apple_completion *completion, id object, id error);
/* The message could not even be sent: the handler will never run. */
void apple_completion_fail(struct apple_completion *completion, const char *message);
/* Blocks until finished. Never call it on the queue that delivers the handler. */
void apple_completion_wait(struct apple_completion *completion);
/* The same for at most `seconds`: whether it is finished. */
bool apple_completion_wait_for(struct apple_completion *completion, double seconds);

#endif

#include "vz/apple/completion.h"

#include <stdio.h>

#include "vz/apple/queue.h"

void apple_completion_init(struct apple_completion *completion)
{
	pthread_mutex_init(&completion->lock, NULL);
	pthread_cond_init(&completion->cond, NULL);
	completion->done = false;
	completion->failed = false;
	completion->message[0] = '\0';
	completion->fd = -1;
}

void apple_completion_destroy(struct apple_completion *completion)
{
	pthread_cond_destroy(&completion->cond);
	pthread_mutex_destroy(&completion->lock);
}

static void finish(struct apple_completion *completion, bool failed, const char *message, int fd)
{
	pthread_mutex_lock(&completion->lock);
	completion->failed = failed;
	if (message != NULL)
		snprintf(completion->message, sizeof(completion->message), "%s", message);
	completion->fd = fd;
	completion->done = true;
	pthread_cond_broadcast(&completion->cond);
	/* Nothing may touch *completion after this unlock: the waiter frees it. */
	pthread_mutex_unlock(&completion->lock);
}

void apple_completion_finish(struct apple_completion *completion, id error)
{
	char message[sizeof(completion->message)];

	void *pool;

	if (error == nil) {
		finish(completion, false, NULL, -1);
		return;
	}
	/* A completion handler runs on the framework's thread: a pool of ours
	 * for what describing the error autoreleases. */
	pool = apple_pool_push();
	apple_describe_error(error, message, sizeof(message));
	apple_pool_pop(pool);
	finish(completion, true, message, -1);
}

void apple_completion_finish_fd(struct apple_completion *completion, int fd)
{
	finish(completion, false, NULL, fd);
}

void apple_completion_fail(struct apple_completion *completion, const char *message)
{
	finish(completion, true, message, -1);
}

void apple_completion_wait(struct apple_completion *completion)
{
	bool main_thread = apple_on_main_thread();

	pthread_mutex_lock(&completion->lock);
	while (!completion->done) {
		if (main_thread) {
			pthread_mutex_unlock(&completion->lock);
			apple_main_run_loop_turn(0.05);
			pthread_mutex_lock(&completion->lock);
		} else {
			pthread_cond_wait(&completion->cond, &completion->lock);
		}
	}
	pthread_mutex_unlock(&completion->lock);
}

#include "vz/apple/completion.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "vz/apple/queue.h"

void apple_completion_init(struct apple_completion *completion)
{
	pthread_mutex_init(&completion->lock, NULL);
	pthread_cond_init(&completion->cond, NULL);
	completion->done = false;
	completion->failed = false;
	completion->message[0] = '\0';
	completion->fd = -1;
	completion->object = nil;
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

void apple_completion_finish_object(struct apple_completion *completion, id object, id error)
{
	union apple_value retained;

	if (object == nil) {
		if (error != nil)
			apple_completion_finish(completion, error);
		else
			apple_completion_fail(completion, "the framework answered nothing");
		return;
	}
	if (apple_send(NULL, M_RETAIN, object, &retained, NULL) != 0) {
		apple_completion_fail(completion, "cannot keep what the framework answered");
		return;
	}
	pthread_mutex_lock(&completion->lock);
	completion->object = object;
	pthread_mutex_unlock(&completion->lock);
	apple_completion_finish(completion, nil);
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

bool apple_completion_wait_for(struct apple_completion *completion, double seconds)
{
	bool main_thread = apple_on_main_thread();
	struct timeval now;
	struct timespec deadline;
	bool done;

	if (main_thread) {
		pthread_mutex_lock(&completion->lock);
		done = completion->done;
		pthread_mutex_unlock(&completion->lock);
		if (!done)
			apple_main_run_loop_turn(seconds);
	} else {
		gettimeofday(&now, NULL);
		deadline.tv_sec = now.tv_sec + (time_t)seconds;
		deadline.tv_nsec = (long)now.tv_usec * 1000 + (long)((seconds - (double)(time_t)seconds) * 1e9);
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&completion->lock);
		while (!completion->done)
			if (pthread_cond_timedwait(&completion->cond, &completion->lock, &deadline) != 0)
				break;
		pthread_mutex_unlock(&completion->lock);
	}
	pthread_mutex_lock(&completion->lock);
	done = completion->done;
	pthread_mutex_unlock(&completion->lock);
	return done;
}

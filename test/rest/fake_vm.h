/* A fake VM behind the REST handlers, for the REST tests and benchmark: a
 * small state machine (Running, Paused, Stopped) that records every request
 * and log line, and can be told to refuse, to be slow, or to fail inspect.
 * Thread-safe, as the real handlers must be. Header-only: each test program
 * is one .c file. */
#ifndef VZKIT_TEST_REST_FAKE_VM_H
#define VZKIT_TEST_REST_FAKE_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/services/rest.h"

#define FAKE_VM_MAX_RECORDS 64
#define FAKE_VM_INSPECT_JSON "{\"vcpus\":2,\"memoryBytes\":536870912,\"bootloader\":{\"kind\":\"linuxBootloader\"," \
			     "\"vmlinuzPath\":\"/vm/vmlinuz\",\"kernelCmdLine\":\"console=hvc0\"}}"

struct fake_vm {
	pthread_mutex_t lock;
	enum vm_state state;
	bool refuse;        /* request_state fails whatever the state */
	bool inspect_fails; /* inspect_json returns NULL */
	int request_delay_ms; /* request_state sleeps this long first (a slow engine) */
	size_t requests_started; /* counted on entry, before the delay */
	enum vm_state_request requests[FAKE_VM_MAX_RECORDS];
	size_t request_count;
	char logs[FAKE_VM_MAX_RECORDS][256];
	size_t log_count;
};

static inline void fake_vm_init(struct fake_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	pthread_mutex_init(&vm->lock, NULL);
	vm->state = VM_STATE_RUNNING;
}

static inline void fake_vm_destroy(struct fake_vm *vm)
{
	pthread_mutex_destroy(&vm->lock);
}

static inline void fake_vm_set_state(struct fake_vm *vm, enum vm_state state)
{
	pthread_mutex_lock(&vm->lock);
	vm->state = state;
	pthread_mutex_unlock(&vm->lock);
}

static inline enum vm_state fake_vm_get_state(void *context)
{
	struct fake_vm *vm = context;
	enum vm_state state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return state;
}

static inline int fake_vm_request_state(void *context, enum vm_state_request request, struct vzk_error *err)
{
	struct fake_vm *vm = context;
	int delay_ms, status = 0;

	pthread_mutex_lock(&vm->lock);
	delay_ms = vm->request_delay_ms;
	vm->requests_started++;
	pthread_mutex_unlock(&vm->lock);
	if (delay_ms > 0)
		nanosleep(&(struct timespec){delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L}, NULL);

	pthread_mutex_lock(&vm->lock);
	if (vm->request_count < FAKE_VM_MAX_RECORDS)
		vm->requests[vm->request_count++] = request;
	if (vm->refuse) {
		status = vzk_runtime_error(err, "refused by the fake engine");
	} else if (!vm_state_allows(vm->state, request)) {
		status = vzk_usage_error(err, "cannot %s a VM in state %s", vm_state_request_name(request),
					 vm_state_name(vm->state));
	} else {
		switch (request) {
		case VM_REQUEST_STOP:
		case VM_REQUEST_HARD_STOP:
			vm->state = VM_STATE_STOPPED;
			break;
		case VM_REQUEST_PAUSE:
			vm->state = VM_STATE_PAUSED;
			break;
		case VM_REQUEST_RESUME:
			vm->state = VM_STATE_RUNNING;
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return status;
}

static inline char *fake_vm_inspect_json(void *context)
{
	struct fake_vm *vm = context;
	bool fails;

	pthread_mutex_lock(&vm->lock);
	fails = vm->inspect_fails;
	pthread_mutex_unlock(&vm->lock);
	return fails ? NULL : strdup(FAKE_VM_INSPECT_JSON);
}

static inline void fake_vm_log(void *context, const char *message)
{
	struct fake_vm *vm = context;

	pthread_mutex_lock(&vm->lock);
	if (vm->log_count < FAKE_VM_MAX_RECORDS)
		snprintf(vm->logs[vm->log_count++], sizeof(vm->logs[0]), "%s", message);
	pthread_mutex_unlock(&vm->lock);
}

static inline struct rest_handlers fake_vm_handlers(struct fake_vm *vm)
{
	return (struct rest_handlers){
		.context = vm,
		.get_state = fake_vm_get_state,
		.request_state = fake_vm_request_state,
		.inspect_json = fake_vm_inspect_json,
		.log = fake_vm_log,
	};
}

static inline size_t fake_vm_requests_started(struct fake_vm *vm)
{
	size_t n;

	pthread_mutex_lock(&vm->lock);
	n = vm->requests_started;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

/* Forgets the recorded requests and log lines. */
static inline void fake_vm_clear_records(struct fake_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->request_count = 0;
	vm->requests_started = 0;
	vm->log_count = 0;
	pthread_mutex_unlock(&vm->lock);
}

#endif

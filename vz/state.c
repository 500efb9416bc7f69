#include "vz/engine.h"

#include <string.h>

static const char *const state_names[] = {
	[VM_STATE_STOPPED] = "VirtualMachineStateStopped",
	[VM_STATE_RUNNING] = "VirtualMachineStateRunning",
	[VM_STATE_PAUSED] = "VirtualMachineStatePaused",
	[VM_STATE_ERROR] = "VirtualMachineStateError",
	[VM_STATE_STARTING] = "VirtualMachineStateStarting",
	[VM_STATE_PAUSING] = "VirtualMachineStatePausing",
	[VM_STATE_RESUMING] = "VirtualMachineStateResuming",
	[VM_STATE_STOPPING] = "VirtualMachineStateStopping",
	[VM_STATE_SAVING] = "VirtualMachineStateSaving",
	[VM_STATE_RESTORING] = "VirtualMachineStateRestoring",
};

static const char *const request_names[] = {
	[VM_REQUEST_STOP] = "Stop",
	[VM_REQUEST_HARD_STOP] = "HardStop",
	[VM_REQUEST_PAUSE] = "Pause",
	[VM_REQUEST_RESUME] = "Resume",
};

const char *vm_state_name(enum vm_state state)
{
	if ((size_t)state < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[state];
	return "VirtualMachineStateError";
}

/* The framework's canStop/canRequestStop/canPause/canResume rules, plus one
 * of vzkit's: a hard stop while Starting abandons the start (both engines
 * take it; doc/vfkit-differences.md). */
bool vm_state_allows(enum vm_state state, enum vm_state_request request)
{
	switch (request) {
	case VM_REQUEST_STOP:
		return state == VM_STATE_RUNNING;
	case VM_REQUEST_HARD_STOP:
		return state == VM_STATE_STARTING || state == VM_STATE_RUNNING || state == VM_STATE_PAUSED || state == VM_STATE_ERROR ||
		       state == VM_STATE_STOPPING || state == VM_STATE_PAUSING || state == VM_STATE_RESUMING;
	case VM_REQUEST_PAUSE:
		return state == VM_STATE_RUNNING;
	case VM_REQUEST_RESUME:
		return state == VM_STATE_PAUSED;
	}
	return false;
}

int vm_state_request_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(request_names) / sizeof(request_names[0]); i++)
		if (strcmp(request_names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *vm_state_request_name(enum vm_state_request request)
{
	if ((size_t)request < sizeof(request_names) / sizeof(request_names[0]))
		return request_names[request];
	return "?";
}

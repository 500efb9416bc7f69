#include "vz/apple/delegate.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define EVENTS_IVAR "vzkitEvents"

/* Every callback runs in a pool of its own: the framework calls from its
 * queue's worker or its own thread, whose pool drains rarely, if ever. */

struct delegate_class {
	const char *name;
	const char *protocol;
	Class cls;
	ptrdiff_t events_offset;
};

static struct delegate_class vm_delegate = {"VZKitVirtualMachineDelegate", "VZVirtualMachineDelegate", Nil, 0};
static struct delegate_class socket_delegate = {"VZKitSocketListenerDelegate", "VZVirtioSocketListenerDelegate",
						 Nil, 0};
static struct delegate_class window_delegate = {"VZKitWindowDelegate", "NSWindowDelegate", Nil, 0};
static pthread_once_t classes_once = PTHREAD_ONCE_INIT;
static char classes_error[256];

static const void *events_of(id self, const struct delegate_class *dc)
{
	return *(const void **)(void *)((char *)(void *)self + dc->events_offset);
}

/* -guestDidStopVirtualMachine: */
static void guest_did_stop(id self, SEL cmd, id machine)
{
	const struct apple_vm_events *events = events_of(self, &vm_delegate);

	void *pool = apple_pool_push();

	(void)cmd;
	(void)machine;
	events->guest_did_stop(events->context);
	apple_pool_pop(pool);
}

/* -virtualMachine:didStopWithError: */
static void did_stop_with_error(id self, SEL cmd, id machine, id error)
{
	const struct apple_vm_events *events = events_of(self, &vm_delegate);

	void *pool = apple_pool_push();

	(void)cmd;
	(void)machine;
	events->did_stop_with_error(events->context, error);
	apple_pool_pop(pool);
}

/* -listener:shouldAcceptNewConnection:fromSocketDevice: */
static BOOL should_accept(id self, SEL cmd, id listener, id connection, id device)
{
	const struct apple_socket_events *events = events_of(self, &socket_delegate);

	void *pool = apple_pool_push();
	BOOL accepted;

	(void)cmd;
	(void)listener;
	(void)device;
	accepted = events->accept(events->context, connection) ? YES : NO;
	apple_pool_pop(pool);
	return accepted;
}

/* -windowWillClose: (an NSNotification we do not need) */
static void window_will_close(id self, SEL cmd, id notification)
{
	const struct apple_window_events *events = events_of(self, &window_delegate);

	void *pool = apple_pool_push();

	(void)cmd;
	(void)notification;
	events->will_close(events->context);
	apple_pool_pop(pool);
}

/* Registered with the runtime's real type codes: the framework may build
 * an NSMethodSignature from them (BOOL is 'c' or 'B', never messages.def's 'Z'). */
static int add_method(Class cls, enum apple_callback_id callback, void (*function)(void))
{
	char types[64];

	if (apple_runtime_types(apple_callbacks[callback].types, types, sizeof(types)) != 0)
		return -1;
	return class_addMethod(cls, sel_registerName(apple_callbacks[callback].selector), (IMP)function, types) ? 0
														 : -1;
}

static unsigned char log2_of(size_t size)
{
	unsigned char n = 0;
	while (((size_t)1 << n) < size)
		n++;
	return n;
}

static int make_class(struct delegate_class *dc, const enum apple_callback_id *callbacks,
		      void (*const *functions)(void), size_t count)
{
	Class root = objc_lookUpClass("NSObject");
	Protocol *protocol;
	Ivar ivar;

	if (root == Nil) {
		snprintf(classes_error, sizeof(classes_error), "the Objective-C runtime has no NSObject");
		return -1;
	}
	dc->cls = objc_allocateClassPair(root, dc->name, 0);
	if (dc->cls == Nil) {
		snprintf(classes_error, sizeof(classes_error), "cannot create the class %s", dc->name);
		return -1;
	}
	if (!class_addIvar(dc->cls, EVENTS_IVAR, sizeof(void *), log2_of(sizeof(void *)), "^v")) {
		snprintf(classes_error, sizeof(classes_error), "cannot add an instance variable to %s", dc->name);
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		if (add_method(dc->cls, callbacks[i], functions[i]) != 0) {
			snprintf(classes_error, sizeof(classes_error), "cannot add %s to %s",
				 apple_callbacks[callbacks[i]].selector, dc->name);
			return -1;
		}
	/* The framework asks respondsToSelector:, but says it conforms too. */
	protocol = objc_getProtocol(dc->protocol);
	if (protocol != NULL)
		class_addProtocol(dc->cls, protocol);
	objc_registerClassPair(dc->cls);
	ivar = class_getInstanceVariable(dc->cls, EVENTS_IVAR);
	if (ivar == NULL) {
		snprintf(classes_error, sizeof(classes_error), "%s lost its instance variable", dc->name);
		return -1;
	}
	dc->events_offset = ivar_getOffset(ivar);
	return 0;
}

static void make_classes(void)
{
	static const enum apple_callback_id vm_callbacks[] = {CB_GUEST_DID_STOP, CB_DID_STOP_WITH_ERROR};
	static void (*const vm_functions[])(void) = {(void (*)(void))guest_did_stop,
						     (void (*)(void))did_stop_with_error};
	static const enum apple_callback_id socket_callbacks[] = {CB_SHOULD_ACCEPT};
	static void (*const socket_functions[])(void) = {(void (*)(void))should_accept};
	static const enum apple_callback_id window_callbacks[] = {CB_WINDOW_WILL_CLOSE};
	static void (*const window_functions[])(void) = {(void (*)(void))window_will_close};

	if (make_class(&vm_delegate, vm_callbacks, vm_functions, 2) != 0 ||
	    make_class(&socket_delegate, socket_callbacks, socket_functions, 1) != 0 ||
	    make_class(&window_delegate, window_callbacks, window_functions, 1) != 0) {
		vm_delegate.cls = Nil;
		socket_delegate.cls = Nil;
		window_delegate.cls = Nil;
	}
}

static id delegate_new(struct delegate_class *dc, const void *events, struct vzk_error *err)
{
	union apple_value allocated, initialized;

	pthread_once(&classes_once, make_classes);
	if (dc->cls == Nil) {
		vzk_runtime_error(err, "%s", classes_error);
		return nil;
	}
	if (apple_send(NULL, M_ALLOC, (id)dc->cls, &allocated, err) != 0 ||
	    apple_send(NULL, M_INIT, allocated.object, &initialized, err) != 0)
		return nil;
	*(const void **)(void *)((char *)(void *)initialized.object + dc->events_offset) = events;
	return initialized.object;
}

id apple_vm_delegate_new(const struct apple_vm_events *events, struct vzk_error *err)
{
	return delegate_new(&vm_delegate, events, err);
}

id apple_socket_delegate_new(const struct apple_socket_events *events, struct vzk_error *err)
{
	return delegate_new(&socket_delegate, events, err);
}

id apple_window_delegate_new(const struct apple_window_events *events, struct vzk_error *err)
{
	return delegate_new(&window_delegate, events, err);
}

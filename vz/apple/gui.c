#include "vz/apple/gui.h"

#include <stdint.h>
#include <stdlib.h>

#include "vz/apple/delegate.h"

/* AppKit constants (not in vz-selectors.tsv; see doc/apple-engine.md). */
#define NS_ACTIVATION_POLICY_REGULAR 0
#define NS_WINDOW_STYLE_TITLED_CLOSABLE_MINIATURIZABLE_RESIZABLE (1u | 2u | 4u | 8u)
#define NS_BACKING_STORE_BUFFERED 2u
#define NS_EVENT_MASK_ANY UINTPTR_MAX
#define RUN_LOOP_DEFAULT_MODE "kCFRunLoopDefaultMode" /* NSDefaultRunLoopMode's value */

struct apple_gui {
	const struct apple_host *host;
	id app;    /* +0 singleton */
	id window; /* +1 */
	id view;   /* +1 */
	id title;  /* +1 */
	id mode;   /* +1 */
	id delegate; /* +1: NSWindow's delegate property is weak */
	struct apple_window_events events;
	bool closed; /* set by the delegate's windowWillClose: */
};

/* The window is closing (the user's red button, or our -close). A
 * miniaturised window or a hidden app is not closed: -isVisible is NO for
 * those too, so only the delegate can tell. */
static void window_will_close(void *context)
{
	struct apple_gui *gui = context;
	gui->closed = true;
}

static id new_string(const char *text, struct vzk_error *err)
{
	union apple_value allocated, string;
	id cls = apple_class_object(C_NSString, err);

	if (cls == nil || apple_send(NULL, M_ALLOC, cls, &allocated, err) != 0 ||
	    apple_send(NULL, M_STRING_INIT_UTF8, allocated.object, &string, err, apple_arg_cstring(text)) != 0)
		return nil;
	return string.object;
}

static int open_window(struct apple_gui *gui, id machine, uint32_t width, uint32_t height, struct vzk_error *err)
{
	const struct apple_host *host = gui->host;
	struct apple_rect frame = {{0, 0}, {(double)width, (double)height}};
	union apple_value value;
	id cls;

	if ((cls = apple_class_object(C_NSApplication, err)) == nil ||
	    apple_send(host, M_APP_SHARED, cls, &value, err) != 0)
		return -1;
	gui->app = value.object;
	/* Launched first, activated last, as Code-Hex/vz does: an activation
	 * before finishLaunching can leave the window behind the terminal,
	 * without focus. */
	if (apple_send(host, M_APP_FINISH_LAUNCHING, gui->app, NULL, err) != 0)
		return -1;

	if ((cls = apple_class_object(C_NSWindow, err)) == nil || apple_send(host, M_ALLOC, cls, &value, err) != 0 ||
	    apple_send(host, M_WINDOW_INIT, value.object, &value, err, apple_arg_rect(frame),
		       apple_arg_uinteger(NS_WINDOW_STYLE_TITLED_CLOSABLE_MINIATURIZABLE_RESIZABLE),
		       apple_arg_uinteger(NS_BACKING_STORE_BUFFERED), apple_arg_bool(false)) != 0)
		return -1;
	gui->window = value.object;
	/* We release it ourselves, once. */
	if (apple_send(host, M_WINDOW_SET_RELEASED_WHEN_CLOSED, gui->window, NULL, err, apple_arg_bool(false)) != 0)
		return -1;
	gui->events = (struct apple_window_events){window_will_close, gui};
	if ((gui->delegate = apple_window_delegate_new(&gui->events, err)) == nil ||
	    apple_send(host, M_WINDOW_SET_DELEGATE, gui->window, NULL, err, apple_arg_object(gui->delegate)) != 0)
		return -1;
	if ((gui->title = new_string("vzkit", err)) == nil ||
	    apple_send(host, M_WINDOW_SET_TITLE, gui->window, NULL, err, apple_arg_object(gui->title)) != 0)
		return -1;

	if (apple_check_class(host, C_VZVirtualMachineView, err) != 0 ||
	    (cls = apple_class_object(C_VZVirtualMachineView, err)) == nil ||
	    apple_send(host, M_ALLOC, cls, &value, err) != 0 || apple_send(host, M_INIT, value.object, &value, err) != 0)
		return -1;
	gui->view = value.object;
	if (apple_send(host, M_VIEW_SET_VM, gui->view, NULL, err, apple_arg_object(machine)) != 0 ||
	    apple_send(host, M_VIEW_SET_CAPTURES_SYSTEM_KEYS, gui->view, NULL, err, apple_arg_bool(true)) != 0)
		return -1;
	if (apple_version_at_least(host->macos, apple_messages[M_VIEW_SET_AUTO_RECONFIGURE].since) &&
	    apple_send(host, M_VIEW_SET_AUTO_RECONFIGURE, gui->view, NULL, err, apple_arg_bool(true)) != 0)
		return -1;

	if (apple_send(host, M_WINDOW_SET_CONTENT_VIEW, gui->window, NULL, err, apple_arg_object(gui->view)) != 0 ||
	    apple_send(host, M_WINDOW_CENTER, gui->window, NULL, err) != 0 ||
	    apple_send(host, M_WINDOW_ORDER_FRONT, gui->window, NULL, err, apple_arg_object(nil)) != 0 ||
	    apple_send(host, M_APP_SET_ACTIVATION_POLICY, gui->app, NULL, err,
		       apple_arg_integer(NS_ACTIVATION_POLICY_REGULAR)) != 0 ||
	    apple_send(host, M_APP_ACTIVATE, gui->app, NULL, err, apple_arg_bool(true)) != 0)
		return -1;
	gui->mode = new_string(RUN_LOOP_DEFAULT_MODE, err);
	return gui->mode == nil ? -1 : 0;
}

int apple_gui_open(const struct apple_host *host, id machine, uint32_t width, uint32_t height,
		   struct apple_gui **out, struct vzk_error *err)
{
	struct apple_gui *gui = calloc(1, sizeof(*gui));
	void *pool = apple_pool_push();
	int status;

	*out = NULL;
	if (gui == NULL) {
		apple_pool_pop(pool);
		return vzk_runtime_error(err, "out of memory");
	}
	gui->host = host;
	status = open_window(gui, machine, width, height, err);
	apple_pool_pop(pool);
	if (status != 0) {
		vzk_error_prefix(err, "--gui");
		apple_gui_close(gui);
		return -1;
	}
	*out = gui;
	return 0;
}

bool apple_gui_pump(struct apple_gui *gui, double seconds)
{
	void *pool = apple_pool_push();
	union apple_value value;
	id cls, until;

	if (gui->closed)
		goto out;
	/* Waits for one event at most `seconds`, hands it to AppKit. */
	if ((cls = apple_class_object(C_NSDate, NULL)) == nil ||
	    apple_send(gui->host, M_DATE_SINCE_NOW, cls, &value, NULL, apple_arg_double(seconds)) != 0)
		goto out;
	until = value.object;
	if (apple_send(gui->host, M_APP_NEXT_EVENT, gui->app, &value, NULL, apple_arg_uinteger(NS_EVENT_MASK_ANY),
		       apple_arg_object(until), apple_arg_object(gui->mode), apple_arg_bool(true)) != 0)
		goto out;
	if (value.object != nil)
		apple_send(gui->host, M_APP_SEND_EVENT, gui->app, NULL, NULL, apple_arg_object(value.object));
	apple_send(gui->host, M_APP_UPDATE_WINDOWS, gui->app, NULL, NULL);
out:
	apple_pool_pop(pool);
	return !gui->closed;
}

void apple_gui_close(struct apple_gui *gui)
{
	void *pool;

	if (gui == NULL)
		return;
	pool = apple_pool_push();
	if (gui->window != nil && !gui->closed)
		apple_send(gui->host, M_WINDOW_CLOSE, gui->window, NULL, NULL);
	if (gui->window != nil && gui->delegate != nil)
		apple_send(gui->host, M_WINDOW_SET_DELEGATE, gui->window, NULL, NULL, apple_arg_object(nil));
	if (gui->delegate != nil)
		apple_send(NULL, M_RELEASE, gui->delegate, NULL, NULL);
	if (gui->view != nil)
		apple_send(NULL, M_RELEASE, gui->view, NULL, NULL);
	if (gui->window != nil)
		apple_send(NULL, M_RELEASE, gui->window, NULL, NULL);
	if (gui->title != nil)
		apple_send(NULL, M_RELEASE, gui->title, NULL, NULL);
	if (gui->mode != nil)
		apple_send(NULL, M_RELEASE, gui->mode, NULL, NULL);
	apple_pool_pop(pool);
	free(gui);
}

/* A QMP client: line-delimited JSON over QEMU's monitor socket (jansson). */
#ifndef VZKIT_VZ_QEMU_QMP_H
#define VZKIT_VZ_QEMU_QMP_H

#include <jansson.h>
#include <stddef.h>

#include "flags/error.h"

struct qmp {
	int fd;
	char buffer[1 << 16];
	size_t used;
	/* Asked every 100 ms while qmp_execute waits for an answer; 0 gives up
	 * at once (QEMU died or hangs and a stop was requested: a SIGSTOPped
	 * QEMU never answers). NULL: wait the whole 30 s. Set after connect. */
	int (*keep_waiting)(void *context);
	void *keep_waiting_context;
};

/* Takes `fd`, vzkit's end of the monitor's socket pair (closed on
 * failure too), and waits for QEMU's greeting while `still_starting` says
 * the QEMU process lives, `timeout_ms` in all; then enters command mode. */
int qmp_attach(struct qmp *qmp, int fd, int timeout_ms, int (*still_starting)(void *), void *context,
	       struct vzk_error *err);
void qmp_close(struct qmp *qmp);

/* Reads one message: 1 and *out (caller decrefs), 0 on timeout, -1 on EOF or
 * a malformed message. timeout_ms < 0 waits. */
int qmp_read(struct qmp *qmp, int timeout_ms, json_t **out, struct vzk_error *err);
/* Sends {"execute": command, "arguments": arguments} (arguments may be NULL,
 * and is consumed). */
int qmp_send(struct qmp *qmp, const char *command, json_t *arguments, struct vzk_error *err);
/* Sends and waits for the answer; events that arrive meanwhile go to
 * on_event (may be NULL). *result gets "return" (caller decrefs; may be NULL). */
int qmp_execute(struct qmp *qmp, const char *command, json_t *arguments, json_t **result,
		void (*on_event)(void *context, json_t *event), void *context, struct vzk_error *err);

#endif

#include "vz/qemu/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int qmp_read(struct qmp *qmp, int timeout_ms, json_t **out, struct vzk_error *err)
{
	long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;

	*out = NULL;
	for (;;) {
		char *newline = memchr(qmp->buffer, '\n', qmp->used);
		if (newline != NULL) {
			size_t line_len = (size_t)(newline - qmp->buffer) + 1;
			json_error_t json_err;
			*out = json_loadb(qmp->buffer, line_len, JSON_DISABLE_EOF_CHECK, &json_err);
			memmove(qmp->buffer, qmp->buffer + line_len, qmp->used - line_len);
			qmp->used -= line_len;
			if (*out == NULL)
				return vzk_runtime_error(err, "QMP: malformed message: %s", json_err.text);
			return 1;
		}
		if (qmp->used == sizeof(qmp->buffer))
			return vzk_runtime_error(err, "QMP: message too long");
		struct pollfd wait = {.fd = qmp->fd, .events = POLLIN};
		int left = timeout_ms >= 0 ? (int)(deadline - now_ms()) : -1;
		if (timeout_ms >= 0 && left < 0)
			left = 0; /* past the deadline: take only what is already there */
		int ready = poll(&wait, 1, left);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return vzk_runtime_error(err, "QMP: poll: %s", strerror(errno));
		if (ready == 0)
			return 0;
		ssize_t got = read(qmp->fd, qmp->buffer + qmp->used, sizeof(qmp->buffer) - qmp->used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return vzk_runtime_error(err, "QMP: QEMU closed the monitor");
		qmp->used += (size_t)got;
	}
}

int qmp_send(struct qmp *qmp, const char *command, json_t *arguments, struct vzk_error *err)
{
	json_t *message = json_pack("{ss}", "execute", command);
	char *text;
	size_t len, sent = 0;

	if (message != NULL && arguments != NULL)
		json_object_set_new(message, "arguments", arguments);
	else
		json_decref(arguments);
	text = message != NULL ? json_dumps(message, JSON_COMPACT) : NULL;
	json_decref(message);
	if (text == NULL)
		return vzk_runtime_error(err, "QMP: out of memory");
	len = strlen(text);
	text[len++] = '\n'; /* into the NUL's slot: the line ends there */
	while (sent < len) {
		ssize_t n = send(qmp->fd, text + sent, len - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(text);
			return vzk_runtime_error(err, "QMP: cannot send %s: %s", command, strerror(errno));
		}
		sent += (size_t)n;
	}
	free(text);
	return 0;
}

int qmp_execute(struct qmp *qmp, const char *command, json_t *arguments, json_t **result,
		void (*on_event)(void *context, json_t *event), void *context, struct vzk_error *err)
{
	if (result != NULL)
		*result = NULL;
	if (qmp_send(qmp, command, arguments, err) != 0)
		return -1;
	long deadline = now_ms() + 30000;
	for (;;) {
		json_t *message;
		int status = qmp_read(qmp, 100, &message, err);
		if (status == 0 && qmp->keep_waiting != NULL && !qmp->keep_waiting(qmp->keep_waiting_context))
			return vzk_runtime_error(err, "QMP: %s: gave up waiting for QEMU's answer", command);
		if (status == 0 && now_ms() < deadline)
			continue;
		if (status <= 0)
			return status == 0 ? vzk_runtime_error(err, "QMP: no answer to %s", command) : -1;
		if (json_object_get(message, "event") != NULL) {
			if (on_event != NULL)
				on_event(context, message);
			json_decref(message);
			continue;
		}
		if (json_object_get(message, "error") != NULL) {
			const char *desc = json_string_value(json_object_get(json_object_get(message, "error"), "desc"));
			vzk_runtime_error(err, "QEMU refused %s: %s", command, desc != NULL ? desc : "unknown error");
			json_decref(message);
			return -1;
		}
		if (result != NULL) {
			*result = json_object_get(message, "return");
			json_incref(*result);
		}
		json_decref(message);
		return 0;
	}
}

int qmp_attach(struct qmp *qmp, int fd, int timeout_ms, int (*still_starting)(void *), void *context,
	       struct vzk_error *err)
{
	long deadline = now_ms() + timeout_ms;
	json_t *greeting;

	memset(qmp, 0, sizeof(*qmp));
	qmp->fd = fd;
	/* QEMU greets once its initialisation is over, which includes opening
	 * every disk (an NBD server may take its whole timeout to answer). */
	for (;;) {
		int status = qmp_read(qmp, 100, &greeting, err);
		if (status == 1)
			break;
		if (status < 0) {
			qmp_close(qmp);
			return -1;
		}
		if (!still_starting(context)) {
			qmp_close(qmp);
			return vzk_runtime_error(err, "QEMU exited before its monitor came up");
		}
		if (now_ms() > deadline) {
			qmp_close(qmp);
			return vzk_runtime_error(err, "QEMU did not finish starting within %d ms", timeout_ms);
		}
	}
	if (json_object_get(greeting, "QMP") == NULL) {
		json_decref(greeting);
		qmp_close(qmp);
		return vzk_runtime_error(err, "QMP: the monitor did not greet as QEMU does");
	}
	json_decref(greeting);
	if (qmp_execute(qmp, "qmp_capabilities", NULL, NULL, NULL, NULL, err) != 0) {
		qmp_close(qmp);
		return -1;
	}
	return 0;
}

void qmp_close(struct qmp *qmp)
{
	if (qmp->fd >= 0)
		close(qmp->fd);
	qmp->fd = -1;
	qmp->used = 0;
}

/* libFuzzer target for the POST /vm/state body parser (rest_parse_state_body,
 * cmd/services/rest.c). HTTP itself is libmicrohttpd's; this JSON step is ours.
 * Properties checked on every input:
 * - the result is one of the three rest_body_result values; the error is set
 *   (usage kind, non-empty, printable ASCII: it goes into a JSON response
 *   and a log line) exactly when the result is not REST_BODY_OK;
 * - REST_BODY_OK: the input starts with a JSON object whose last member
 *   named "state" (any case) is the string naming the request found;
 * - REST_BODY_UNKNOWN_STATE: the input starts with an object or null whose
 *   state member is a string naming no request, null, or absent (vfkit's "");
 * - REST_BODY_MALFORMED: anything else (empty, not JSON, another kind of
 *   value, a state member of another kind);
 * - the canonical body {"state":NAME} of a parsed request parses back to it. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/services/rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "fuzz_state_body: %s\n", what);
		abort();
	}
}

static int printable_ascii(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text < 0x20 || (unsigned char)*text >= 0x7f)
			return 0;
	return 1;
}

/* The oracle, written independently: the last member of `root` whose name
 * is "state" in any case, or NULL. */
static json_t *state_member(json_t *root)
{
	json_t *found = NULL;
	const char *key;
	json_t *value;
	void *iter;

	if (!json_is_object(root))
		return NULL;
	for (iter = json_object_iter(root); iter != NULL; iter = json_object_iter_next(root, iter)) {
		key = json_object_iter_key(iter);
		value = json_object_iter_value(iter);
		if (strlen(key) == 5 && strncasecmp(key, "state", 5) == 0)
			found = value;
	}
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vzk_error err = {0};
	enum vm_state_request request = (enum vm_state_request)-1;
	int result = rest_parse_state_body((const char *)data, size, &request, &err);
	json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, NULL);
	json_t *state = state_member(root);

	require(result == REST_BODY_OK || result == REST_BODY_MALFORMED || result == REST_BODY_UNKNOWN_STATE,
		"result outside enum rest_body_result");
	if (result == REST_BODY_OK) {
		require(err.kind == VZK_ERR_NONE && err.message[0] == '\0', "error set on success");
		require((int)request >= VM_REQUEST_STOP && (int)request <= VM_REQUEST_RESUME, "request out of range");
		require(json_is_string(state) &&
				strcmp(json_string_value(state), vm_state_request_name(request)) == 0,
			"accepted a body whose state member does not name the request");
	} else {
		require(err.kind == VZK_ERR_USAGE && err.message[0] != '\0', "failure without a usage error");
		require(printable_ascii(err.message), "error message not printable ASCII");
		require((int)request == -1, "request written on failure");
	}
	if (result == REST_BODY_UNKNOWN_STATE)
		require((json_is_object(root) || json_is_null(root)) &&
				(state == NULL || json_is_null(state) ||
				 (json_is_string(state) && vm_state_request_parse(json_string_value(state)) < 0)),
			"unknown state reported for a known name or a value of another kind");
	if (result == REST_BODY_MALFORMED)
		require(root == NULL || !(json_is_object(root) || json_is_null(root)) ||
				(state != NULL && !json_is_string(state) && !json_is_null(state)),
			"malformed reported for an object whose state is a string, null or absent");
	json_decref(root);

	if (result == REST_BODY_OK) {
		char canonical[64];
		enum vm_state_request again;
		struct vzk_error again_err = {0};
		int len = snprintf(canonical, sizeof(canonical), "{\"state\":\"%s\"}", vm_state_request_name(request));
		require(rest_parse_state_body(canonical, (size_t)len, &again, &again_err) == REST_BODY_OK &&
				again == request,
			"canonical body does not parse back");
	}
	return 0;
}

/* The engine's message table against vz-selectors.tsv: every Virtualization
 * class and selector it sends exists there with the same type encoding,
 * first macOS version and architecture, and is sent through the C function
 * type of the c_cast column. What the table cannot confirm is listed in
 * doc/apple-engine.md. Also the send layer's own checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/apple/rig.h"
#include "test/apple/tests.h"
#include "vz/vz.h"

static char *read_all(const char *path)
{
	FILE *file = fopen(path, "r");
	char *data = NULL;
	size_t size = 0;
	char chunk[4096];
	size_t n;

	if (file == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) {
		char *grown = realloc(data, size + n + 1);
		if (grown == NULL)
			abort();
		data = grown;
		memcpy(data + size, chunk, n);
		size += n;
		data[size] = '\0';
	}
	fclose(file);
	return data;
}

static int parse_since(const char *text, struct apple_version *out)
{
	return apple_version_parse(text, out);
}

/* "id (*)(id self, SEL _cmd, id, BOOL, id * /\*NSError** out*\/)" ->
 * "id(*)(id,SEL,id,BOOL,id*)": comments, parameter names and spaces go;
 * "Class cls" is the receiver, which the engine passes as id; uint64_t is
 * NSUInteger on LP64 (both encode as Q). */
static void normalize_cast(const char *in, char *out, size_t size)
{
	char work[512];
	size_t w = 0;

	for (size_t i = 0; in[i] != '\0' && w + 1 < sizeof(work); i++) {
		if (in[i] == '/' && in[i + 1] == '*') {
			const char *end = strstr(in + i + 2, "*/");
			if (end == NULL)
				break;
			i = (size_t)(end - in) + 1;
			continue;
		}
		work[w++] = in[i];
	}
	work[w] = '\0';
	static const struct {
		const char *from, *to;
	} replacements[] = {
		{"Class cls", "id"}, {"id self", "id"}, {"SEL _cmd", "SEL"}, {"uint64_t", "NSUInteger"},
	};
	for (size_t r = 0; r < sizeof(replacements) / sizeof(replacements[0]); r++) {
		char *hit;
		while ((hit = strstr(work, replacements[r].from)) != NULL) {
			size_t from = strlen(replacements[r].from), to = strlen(replacements[r].to);
			memmove(hit + to, hit + from, strlen(hit + from) + 1);
			memcpy(hit, replacements[r].to, to);
		}
	}
	size_t o = 0;
	for (size_t i = 0; work[i] != '\0' && o + 1 < size; i++)
		if (work[i] != ' ')
			out[o++] = work[i];
	out[o] = '\0';
}

static void check_messages_against_tsv(const struct tsv_table *tsv)
{
	size_t vz_messages = 0;

	for (size_t m = 0; m < APPLE_MESSAGE_COUNT; m++) {
		const struct apple_message_info *info = &apple_messages[m];
		const struct apple_class_info *cls = &apple_classes[info->declared_in];
		const struct tsv_row *row;
		struct apple_version since;
		char name[256], want[512], got[512];
		const char *cast;

		if (cls->origin != APPLE_ORIGIN_VZ)
			continue;
		vz_messages++;
		snprintf(name, sizeof(name), "apple tsv %c[%s %s]", info->kind, cls->name, info->selector);
		row = tsv_find(tsv, cls->name, info->kind, info->selector);
		if (row == NULL) {
			rig_check(name, false, "not in vz-selectors.tsv");
			continue;
		}
		rig_check(name, strcmp(row->types, info->types) == 0 && parse_since(row->since, &since) == 0 &&
					since.major == info->since.major && since.minor == info->since.minor &&
					strcmp(row->arch, info->arch == APPLE_ARCH_ARM64 ? "arm64" : "any") == 0,
			  "engine %s %u.%u %s; table %s %s %s", info->types, info->since.major, info->since.minor,
			  info->arch == APPLE_ARCH_ARM64 ? "arm64" : "any", row->types, row->since, row->arch);
		cast = apple_signature_cast(info->types);
		normalize_cast(row->c_cast, want, sizeof(want));
		normalize_cast(cast != NULL ? cast : "(none)", got, sizeof(got));
		snprintf(name, sizeof(name), "apple c_cast %c[%s %s]", info->kind, cls->name, info->selector);
		rig_check(name, strcmp(want, got) == 0, "sent as %s, table says %s", got, want);
	}
	rig_check("apple tsv: the engine sends Virtualization messages", vz_messages > 80, "only %zu", vz_messages);
}

/* A class is as old as its oldest method; arm64-only when all are. */
static void check_classes_against_tsv(const struct tsv_table *tsv)
{
	for (size_t c = 0; c < APPLE_CLASS_COUNT; c++) {
		const struct apple_class_info *cls = &apple_classes[c];
		struct apple_version oldest = {1000, 0};
		bool any_arch = false, found = false;
		char name[200];

		if (cls->origin != APPLE_ORIGIN_VZ)
			continue;
		for (size_t i = 0; i < tsv->count; i++) {
			struct apple_version since;
			if (strcmp(tsv->rows[i].cls, cls->name) != 0 || parse_since(tsv->rows[i].since, &since) != 0)
				continue;
			found = true;
			if (!apple_version_at_least(since, oldest))
				oldest = since;
			if (strcmp(tsv->rows[i].arch, "any") == 0)
				any_arch = true;
		}
		snprintf(name, sizeof(name), "apple tsv class %s", cls->name);
		rig_check(name, found && oldest.major == cls->since.major && oldest.minor == cls->since.minor &&
					(cls->arch == APPLE_ARCH_ANY) == any_arch,
			  "engine %u.%u %s; table %u.%u %s", cls->since.major, cls->since.minor,
			  cls->arch == APPLE_ARCH_ARM64 ? "arm64" : "any", oldest.major, oldest.minor,
			  any_arch ? "any" : "arm64");
	}
}

static bool has_row(const struct tsv_table *tsv, const char *cls, char kind, const char *selector)
{
	return tsv_find(tsv, cls, kind, selector) != NULL;
}

/* The table lists "+new" and "-init" together where Apple's header marks
 * them NS_UNAVAILABLE (abstract classes, objects only the framework makes);
 * a class whose own "-init" stands alone declares a usable one. */
static bool init_usable(const struct tsv_table *tsv, const char *cls)
{
	for (const char *walk = cls; walk != NULL && tsv_super(tsv, walk) != NULL; walk = tsv_super(tsv, walk)) {
		bool init = has_row(tsv, walk, '-', "init"), new_ = has_row(tsv, walk, '+', "new");
		if (init)
			return !new_;
	}
	return true; /* NSObject's own -init */
}

static void check_inits_sent(const struct tsv_table *tsv)
{
	const char *log = rig_all_messages();
	char bad[1024] = "";
	size_t checked = 0;

	for (const char *line = log; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
		const char *hash = memchr(line, '#', n);
		if (line[0] == '[' && hash != NULL && n > 6 && strncmp(line + n - 6, " init]", 6) == 0 &&
		    strncmp(line + 1, "VZ", 2) == 0 && strncmp(line + 1, "VZKit", 5) != 0) {
			char cls[128];
			snprintf(cls, sizeof(cls), "%.*s", (int)(hash - line - 1), line + 1);
			checked++;
			if (!init_usable(tsv, cls) && strstr(bad, cls) == NULL)
				snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), " %s", cls);
		}
		line += n + (end != NULL);
	}
	rig_check("apple tsv: -init is sent only where it is available", checked > 10 && bad[0] == '\0',
		  "%zu inits seen; unavailable on:%s", checked, bad);
}

static void check_unconfirmed_listed(void)
{
	char *doc = read_all("doc/apple-engine.md");
	char missing[2048] = "";
	char entry[256];

	if (!rig_check("apple doc/apple-engine.md exists", doc != NULL, "cannot read doc/apple-engine.md"))
		return;
	for (size_t m = 0; m < APPLE_MESSAGE_COUNT; m++) {
		const struct apple_message_info *info = &apple_messages[m];
		const struct apple_class_info *cls = &apple_classes[info->declared_in];
		if (cls->origin == APPLE_ORIGIN_VZ)
			continue;
		snprintf(entry, sizeof(entry), "`%c[%s %s]` `%s`", info->kind, cls->name, info->selector, info->types);
		if (strstr(doc, entry) == NULL)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s", entry);
	}
	for (size_t c = 0; c < APPLE_CALLBACK_COUNT; c++) {
		snprintf(entry, sizeof(entry), "`%s -%s` `%s`", apple_callbacks[c].protocol, apple_callbacks[c].selector,
			 apple_callbacks[c].types);
		if (strstr(doc, entry) == NULL)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s", entry);
	}
	rig_check("apple doc lists every message and callback vz-selectors.tsv cannot confirm", missing[0] == '\0',
		  "missing:%s", missing);
	free(doc);
}

static void check_casts_exist(void)
{
	char missing[512] = "";

	for (size_t m = 0; m < APPLE_MESSAGE_COUNT; m++)
		if (apple_signature_cast(apple_messages[m].types) == NULL)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s", apple_messages[m].types);
	rig_check("apple send layer: a C function type for every encoding used", missing[0] == '\0', "none for:%s", missing);
}

/* ---- the send layer refuses mistakes ---- */

static void check_send_layer(void)
{
	struct vzk_error err = {0};
	struct apple_host old = rig_host(10, 15, APPLE_HOST_X86_64);
	struct apple_arg integer = apple_arg_integer(2);
	union apple_value value;
	const char *start;

	standin_reset();
	rig_check("apple send: wrong argument kind refused",
		  apple_check_args(M_CONFIG_SET_CPU_COUNT, &integer, 1, &err) != 0 &&
			  strcmp(err.message, "internal error: argument 1 of -[VZVirtualMachineConfiguration setCPUCount:] "
					      "does not fit type 'Q'") == 0,
		  "'%s'", err.message);
	rig_check("apple send: wrong argument count refused",
		  apple_check_args(M_CONFIG_SET_CPU_COUNT, NULL, 0, &err) != 0 &&
			  strcmp(err.message, "internal error: -[VZVirtualMachineConfiguration setCPUCount:] takes 1 "
					      "arguments, not 0") == 0,
		  "'%s'", err.message);
	struct apple_arg error_first[2] = {apple_arg_error_out(), apple_arg_uinteger(0)};
	rig_check("apple send: an error out-parameter only last",
		  apple_check_args(M_ARRAY_INIT_OBJECTS, error_first, 2, &err) != 0, "accepted");
	rig_check("apple send: message to nil refused",
		  apple_send(NULL, M_VM_STATE, nil, &value, &err) != 0 &&
			  strcmp(err.message, "internal error: -[VZVirtualMachine state] sent to nil") == 0,
		  "'%s'", err.message);
	id vm_class = apple_class_object(C_VZVirtualMachine, &err);
	rig_check("apple send: instance message to a class refused",
		  vm_class != nil && apple_send(NULL, M_VM_STATE, vm_class, &value, &err) != 0 &&
			  strcmp(err.message, "internal error: -[VZVirtualMachine state] sent to class VZVirtualMachine") == 0,
		  "'%s'", err.message);
	id date_class = apple_class_object(C_NSDate, &err);
	union apple_value date;
	rig_check("apple send: message to the wrong class refused",
		  date_class != nil && apple_send(NULL, M_DATE_SINCE_NOW, date_class, &date, &err, apple_arg_double(1)) == 0 &&
			  apple_send(NULL, M_VM_STATE, date.object, &value, &err) != 0 &&
			  strcmp(err.message, "internal error: -[VZVirtualMachine state] sent to an instance of NSDate") == 0,
		  "'%s'", err.message);
	rig_check("apple send: gated by macOS version",
		  apple_send(&old, M_VM_STATE, vm_class, &value, &err) != 0 && err.kind == VZK_ERR_USAGE &&
			  strcmp(err.message, "-[VZVirtualMachine state] needs macOS 11.0 or newer; this host runs macOS 10.15") == 0,
		  "'%s'", err.message);
	rig_check("apple send: a missing class is an error, not a crash",
		  apple_check_class(&old, C_VZMacOSBootLoader, &err) != 0 &&
			  strcmp(err.message, "VZMacOSBootLoader needs a Mac with Apple silicon (arm64); this host is x86_64") == 0,
		  "'%s'", err.message);

	char types[32];
	rig_check("apple runtime: BOOL is 'c' on Apple x86_64, 'B' on Apple arm64, 'C' on GNU",
		  apple_bool_type_code(APPLE_RUNTIME_APPLE, APPLE_HOST_X86_64) == 'c' &&
			  apple_bool_type_code(APPLE_RUNTIME_APPLE, APPLE_HOST_ARM64) == 'B' &&
			  apple_bool_type_code(APPLE_RUNTIME_GNU, APPLE_HOST_X86_64) == 'C' &&
			  apple_runtime_types("Z@:@@@", types, sizeof(types)) == 0 && strcmp(types, "C@:@@@") == 0 &&
			  apple_runtime_types("Z@:@@@", types, 6) != 0,
		  "got '%s'", types);

	struct apple_version version = {0, 0};
	rig_check("apple host: versions parse", apple_version_parse("14.5.1", &version) == 0 && version.major == 14 &&
							version.minor == 5 && apple_version_parse("15", &version) == 0 &&
							version.major == 15 && version.minor == 0 &&
							apple_version_parse("fifteen", &version) != 0,
		  "%u.%u", version.major, version.minor);
	rig_check("apple types: elements of @@:@dZq^@",
		  apple_types_arg_count("@@:@dZq^@") == 5 && apple_types_element("@@:@dZq^@", 1, &start) == 1 &&
			  start[0] == 'd' && apple_types_element("@@:@dZq^@", 4, &start) == 2,
		  "count %zu", apple_types_arg_count("@@:@dZq^@"));
	rig_check("apple types: a struct is one element",
		  apple_types_arg_count("@@:{CGRect={CGPoint=dd}{CGSize=dd}}QQZ") == 4 &&
			  apple_types_element("@@:{CGRect={CGPoint=dd}{CGSize=dd}}QQZ", 0, &start) == strlen("{CGRect={CGPoint=dd}{CGSize=dd}}"),
		  "count %zu", apple_types_arg_count("@@:{CGRect={CGPoint=dd}{CGSize=dd}}QQZ"));
	struct apple_host host;
	rig_check("apple host: detection refuses Linux",
		  apple_host_detect(&host, &err) != 0 &&
			  strcmp(err.message, "the Apple Virtualization framework engine needs a macOS host") == 0,
		  "'%s'", err.message);
	standin_leaks();
}

void test_tables(void)
{
	const struct tsv_table *tsv = rig_tsv();

	rig_check("apple stand-ins: every TSV method with a plain encoding exists", standin_method_count() >= 380,
		  "%zu of %zu methods", standin_method_count(), tsv->count);
	rig_check("apple blocks: completion handlers carry the table's block signatures", standin_blocks_checked() >= 8,
		  "only %zu block arguments were checked", standin_blocks_checked());
	check_messages_against_tsv(tsv);
	check_classes_against_tsv(tsv);
	check_casts_exist();
	check_inits_sent(tsv);
	check_unconfirmed_listed();
	check_send_layer();
}

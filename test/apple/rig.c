#include "test/apple/rig.h"
#include "test/golden.h"
#include "vz/vz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static char tmpdir[64];
static struct tsv_table tsv;
static char *all_messages;
static size_t all_messages_length;

bool rig_check(const char *name, bool cond, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		printf("PASS %s\n", name);
	} else {
		failures++;
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	return cond;
}

void rig_skip(const char *name, const char *why)
{
	printf("SKIP %s: %s\n", name, why);
	fflush(stdout);
}

int rig_failures(void)
{
	return failures;
}

int rig_setup(void)
{
	char error[512];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vzkit-apple-test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		rig_check("apple rig setup", false, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	if (tsv_load(tsv_default_path(), &tsv, error, sizeof(error)) != 0) {
		rig_check("apple rig setup", false, "%s", error);
		return -1;
	}
	if (standin_init(&tsv, error, sizeof(error)) != 0) {
		rig_check("apple rig setup", false, "%s", error);
		return -1;
	}
	return 0;
}

void rig_teardown(void)
{
	char command[128];

	standin_reset();
	tsv_free(&tsv);
	free(all_messages);
	/* Only our own mkdtemp directory. */
	snprintf(command, sizeof(command), "rm -rf '%s'", tmpdir);
	if (strncmp(tmpdir, "/tmp/vzkit-apple-test.", 22) == 0 && system(command) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

const struct tsv_table *rig_tsv(void)
{
	return &tsv;
}

const char *rig_tmpdir(void)
{
	return tmpdir;
}

char *rig_path(const char *name)
{
	char *path = NULL;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		abort();
	return path;
}

void rig_touch(const char *name)
{
	char *path = rig_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0)
		close(fd);
	free(path);
}

struct apple_host rig_host(unsigned major, unsigned minor, enum apple_host_arch arch)
{
	return (struct apple_host){.macos = {major, minor}, .arch = arch};
}

void rig_config_init(struct vz_vm_configuration *config)
{
	memset(config, 0, sizeof(*config));
	config->cpu_count = 2;
	config->memory_size = 512ull << 20;
	config->boot_loader.kind = VZ_BOOT_LOADER_LINUX;
	config->boot_loader.kernel_path = rig_path("vmlinuz");
}

static char *replace_all(const char *text, const char *what, const char *with)
{
	size_t what_length = strlen(what), with_length = strlen(with), count = 0;
	const char *p;
	char *out, *q;

	for (p = text; (p = strstr(p, what)) != NULL; p += what_length)
		count++;
	out = malloc(strlen(text) + count * with_length + 1);
	if (out == NULL)
		abort();
	for (p = text, q = out;;) {
		const char *hit = strstr(p, what);
		size_t n = hit != NULL ? (size_t)(hit - p) : strlen(p);
		memcpy(q, p, n);
		q += n;
		if (hit == NULL)
			break;
		memcpy(q, with, with_length);
		q += with_length;
		p = hit + what_length;
	}
	*q = '\0';
	return out;
}

char *rig_redact(const char *text)
{
	return replace_all(text, tmpdir, "$TMP");
}

char *rig_plan_messages(struct engine_vm *vm)
{
	struct vzk_error err = {0};
	char *plan = NULL, *messages;
	size_t size = 0;
	FILE *out = open_memstream(&plan, &size);
	const char *line;
	size_t length = 0;

	if (out == NULL)
		abort();
	if (apple_engine.print_plan(vm, out, &err) != 0)
		fprintf(out, "print_plan failed: %s\n", err.message);
	fclose(out);
	messages = calloc(1, size + 1);
	if (messages == NULL)
		abort();
	for (line = plan; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t n = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
		if (strncmp(line, "# ", 2) != 0) {
			memcpy(messages + length, line, n);
			length += n;
		}
		line += n;
	}
	free(plan);
	return messages;
}

static bool golden_check(const char *name, const char *golden, const char *text, bool may_write);

bool rig_check_golden(const char *name, const char *golden_name, const char *text)
{
	return golden_check(name, golden_name, text, true);
}

bool rig_compare_golden(const char *name, const char *golden_name, const char *text)
{
	return golden_check(name, golden_name, text, false);
}

static bool golden_check(const char *name, const char *golden, const char *text, bool may_write)
{
	const char *dir = getenv("VZKIT_APPLE_GOLDEN_DIR");
	char path[512], why[1024];
	char *redacted = rig_redact(text);
	bool same;

	snprintf(path, sizeof(path), "%s/%s", dir != NULL && dir[0] != '\0' ? dir : "test/apple/golden", golden);
	same = golden_matches(path, redacted, may_write, why, sizeof(why));
	rig_check(name, same, "%s: %s", golden, same ? "" : why);
	free(redacted);
	return same;
}

void rig_collect_log(const char *log)
{
	size_t n = strlen(log);
	char *grown = realloc(all_messages, all_messages_length + n + 1);

	if (grown == NULL)
		abort();
	all_messages = grown;
	memcpy(all_messages + all_messages_length, log, n + 1);
	all_messages_length += n;
}

const char *rig_all_messages(void)
{
	return all_messages != NULL ? all_messages : "";
}

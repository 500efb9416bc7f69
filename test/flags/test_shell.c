/* flags/shell.c: arguments printed for a POSIX shell (--dry-run=qemu's
 * plan, --dry-run=cmdline) read back as the same words. Checked two ways:
 * the exact quoting of a few cases, and a round trip of awkward strings
 * through /bin/sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/shell.h"
#include "test/testlib.h"

static char *quoted(const char *arg)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	shell_quote(arg, out);
	fclose(out);
	return text;
}

/* What sh makes of the quoted text: printf '%s' <quoted>. */
static char *through_sh(const char *arg)
{
	char *q = quoted(arg), *command = NULL, *result = malloc(4096);
	size_t used = 0, got;
	FILE *sh;

	if (asprintf(&command, "printf '%%s' %s", q) < 0 || result == NULL) {
		free(q);
		free(result);
		return NULL;
	}
	sh = popen(command, "r");
	while (sh != NULL && (got = fread(result + used, 1, 4095 - used, sh)) > 0)
		used += got;
	result[used] = '\0';
	if (sh != NULL)
		pclose(sh);
	free(q);
	free(command);
	return result;
}

int main(void)
{
	static const struct {
		const char *arg, *want;
	} cases[] = {
		{"console=hvc0", "console=hvc0"},
		{"/a/b-c_d.img", "/a/b-c_d.img"},
		{"id=net0,fd=3", "id=net0,fd=3"},
		{"", "''"},
		{"console=hvc0 quiet", "'console=hvc0 quiet'"},
		{"a\tb", "'a\tb'"},
		{"it's", "'it'\\''s'"},
		{"$HOME", "'$HOME'"},
		{"a;b", "'a;b'"},
		{"*", "'*'"},
		{"x\"y", "'x\"y'"},
	};
	static const char *const awkward[] = {
		"console=hvc0 root=/dev/vda", "two  spaces", "tab\there", "new\nline", "it's", "'", "''", "\"", "\\",
		"$(echo no)", "`echo no`", "a;b", "a|b", "a&b", "~", "*", "?", "[x]", "{a,b}", "!x", "#x", "a=b c", "-",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = quoted(cases[i].arg);
		char name[96];
		snprintf(name, sizeof(name), "shell_quote [%s]", cases[i].arg);
		CHECK_NAMED(name, strcmp(got, cases[i].want) == 0, "got [%s], want [%s]", got, cases[i].want);
		free(got);
	}
	for (size_t i = 0; i < sizeof(awkward) / sizeof(awkward[0]); i++) {
		char *back = through_sh(awkward[i]);
		char name[96];
		snprintf(name, sizeof(name), "sh reads back [%s]", awkward[i]);
		CHECK_NAMED(name, back != NULL && strcmp(back, awkward[i]) == 0, "got [%s]", back ? back : "(null)");
		free(back);
	}
	TEST_EXIT();
}

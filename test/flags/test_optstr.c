/* The option-string tokenizer (flags/optstr.c): table-driven cases for the
 * splitting rules of doc/vzkit.1 OPTION STRINGS, its errors, and the
 * optstr_append printer's round trip back through the tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/optstr.h"
#include "test/testlib.h"

/* The items as one string: "key" for a bare key, "key=[value]" otherwise,
 * joined by '|'. Brackets show empty values and surrounding blanks. */
static void describe(const struct optstr *opts, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < opts->count && used < size; i++) {
		const struct optstr_item *item = &opts->items[i];
		int n;
		if (item->value != NULL)
			n = snprintf(buf + used, size - used, "%s%s=[%s]", i > 0 ? "|" : "", item->key,
				     item->value);
		else
			n = snprintf(buf + used, size - used, "%s%s", i > 0 ? "|" : "", item->key);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

struct split_case {
	const char *name;
	const char *input;
	const char *want; /* describe() of the items */
};

static const struct split_case split_cases[] = {
	{"type and keys", "virtio-blk,path=/a.img,readonly", "virtio-blk|path=[/a.img]|readonly"},
	{"wholly quoted value is unquoted", "linux,cmdline=\"console=hvc0 root=/dev/vda rw\",kernel=/k",
	 "linux|cmdline=[console=hvc0 root=/dev/vda rw]|kernel=[/k]"},
	{"quotes protect commas", "a,b=\"x,y\",c", "a|b=[x,y]|c"},
	{"quotes protect '=' too", "k=\"a=b,c=d\"", "k=[a=b,c=d]"},
	{"only the first '=' splits", "k=a=b", "k=[a=b]"},
	{"only the first '=' splits (three)", "cmdline=root=/dev/vda=x", "cmdline=[root=/dev/vda=x]"},
	{"partly quoted value keeps its quotes", "k=a\"b,c\"d", "k=[a\"b,c\"d]"},
	{"wholly quoted value keeps inner quotes", "k=\"a\"b\"c\"", "k=[a\"b\"c]"},
	{"quoted empty value", "k=\"\"", "k=[]"},
	{"every outer quote goes (vfkit's TrimQuotes)", "k=\"\"a\"\"", "k=[a]"},
	{"outer quotes go even when unequal in number", "k=\"\"a\"b\"", "k=[a\"b]"},
	{"a value quoted on one side only keeps its quotes", "k=\"a\"b", "k=[\"a\"b]"},
	{"empty value", "k=", "k=[]"},
	{"empty items are skipped", ",,a,,b=1,,", "a|b=[1]"},
	{"empty string has no items", "", ""},
	{"only commas", ",,,", ""},
	{"bare keys", "virtio-input,keyboard", "virtio-input|keyboard"},
	{"quoted bare key keeps its quotes", "\"a,b\"", "\"a,b\""},
	{"keys are case-sensitive and kept", "Path=/x,path=/y", "Path=[/x]|path=[/y]"},
	{"blanks are kept", " a = b ", " a =[ b ]"},
	{"value with a quoted comma then more keys", "cmdline=\"a,b\",initrd=/i", "cmdline=[a,b]|initrd=[/i]"},
	{"adjacent quoted sections", "k=\"a\"\"b\"", "k=[a\"\"b]"},
};

struct error_case {
	const char *name;
	const char *input;
	const char *want_substring;
};

static const struct error_case error_cases[] = {
	{"unbalanced quote", "k=\"abc", "unbalanced double quote"},
	{"unbalanced quote after comma", "a,b=\"x,y", "unbalanced double quote"},
	{"single quote character", "\"", "unbalanced double quote"},
	{"empty key", "=value", "empty key"},
	{"empty key after a type", "virtio-blk,=x", "empty key"},
	{"empty key, empty value", "a,=", "empty key"},
};

static void test_split(void)
{
	char got[1024];

	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		struct optstr opts;
		struct vzk_error err = {0};
		char name[160];
		int status = optstr_parse(c->input, "--device", &opts, &err);

		snprintf(name, sizeof(name), "optstr split: %s", c->name);
		TEST_CASE(name);
		if (status != 0) {
			CHECK_NAMED(name, false, "'%s' failed: %s", c->input, err.message);
			continue;
		}
		describe(&opts, got, sizeof(got));
		CHECK_STR(got, c->want);
		optstr_free(&opts);
	}
}

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct optstr opts = {0};
		struct vzk_error err = {0};
		char name[160];
		int status = optstr_parse(c->input, "--bootloader", &opts, &err);

		snprintf(name, sizeof(name), "optstr error: %s", c->name);
		CHECK_NAMED(name,
			    status == -1 && err.kind == VZK_ERR_USAGE && strstr(err.message, c->want_substring) != NULL &&
				    strncmp(err.message, "--bootloader: ", 14) == 0 && opts.count == 0 &&
				    opts.items == NULL,
			    "'%s': status %d kind %d message '%s'", c->input, status, err.kind, err.message);
	}
	{
		struct optstr opts;
		struct vzk_error err = {0};
		optstr_parse("a,\"b", "--device", &opts, &err);
		CHECK_NAMED("optstr error: message quotes the whole text", strstr(err.message, "'a,\"b'") != NULL,
			    "%s", err.message);
	}
	/* optstr_free on an emptied or zeroed struct is harmless */
	{
		struct optstr opts = {0};
		optstr_free(&opts);
		optstr_free(NULL);
		CHECK_NAMED("optstr_free accepts empty and NULL", opts.count == 0 && opts.items == NULL, "not reset");
	}
}

/* ---- optstr_append ---- */

struct append_item {
	const char *key;
	const char *value;
};

static void test_append_text(void)
{
	char *text = NULL;

	TEST_CASE("optstr_append: exact text");
	CHECK(optstr_append(&text, "virtio-blk", NULL) == 0);
	CHECK_STR(text, "virtio-blk");
	CHECK(optstr_append(&text, "path", "/a.img") == 0);
	CHECK(optstr_append(&text, "readonly", NULL) == 0);
	CHECK_STR(text, "virtio-blk,path=/a.img,readonly");
	CHECK(optstr_append(&text, "cmdline", "console=hvc0 root=/dev/vda") == 0);
	CHECK_STR(text, "virtio-blk,path=/a.img,readonly,cmdline=\"console=hvc0 root=/dev/vda\"");
	free(text);
	text = NULL;
	CHECK(optstr_append(&text, "k", "") == 0);
	CHECK_NAMED("optstr_append: an empty value is quoted", text != NULL && strcmp(text, "k=\"\"") == 0,
		    "got %s", text ? text : "(null)");
	free(text);
	text = NULL;
	CHECK(optstr_append(&text, "k", "a,b") == 0);
	CHECK_NAMED("optstr_append: a comma is quoted", text != NULL && strcmp(text, "k=\"a,b\"") == 0, "got %s",
		    text ? text : "(null)");
	free(text);
}

/* Every list of items goes through append then parse unchanged. */
static void test_append_round_trip(void)
{
	static const struct append_item lists[][6] = {
		{{"virtio-blk", NULL}, {"path", "/a b/c,d.img"}, {"readonly", NULL}, {NULL, NULL}},
		{{"linux", NULL}, {"cmdline", "console=hvc0 root=/dev/vda rw quiet"}, {"kernel", "/k"}, {NULL, NULL}},
		{{"x", NULL}, {"k", ""}, {"j", "="}, {"m", "a=b=c"}, {NULL, NULL}},
		{{"x", NULL}, {"k", "a\"b\"c"}, {"l", "say \"quoted\""}, {"t", "tab\there"}, {NULL, NULL}},
		{{"x", NULL}, {"k", ",,,"}, {"l", "a\"\"b"}, {"m", "x\"\"a,b\"\"y"}, {NULL, NULL}},
		/* quoting would invert which parts are inside quotes: written bare */
		{{"x", NULL}, {"k", "a\"b,c\"d"}, {"l", "a\"b c\"d"}, {"m", "\"a,b\"c"}, {NULL, NULL}},
		{{"x", NULL}, {"k", "plain"}, {"l", "/path/with-dash_and.dot"}, {NULL, NULL}},
	};

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		char *text = NULL;
		struct optstr opts;
		struct vzk_error err = {0};
		size_t count = 0;
		bool same = true;
		char name[64];

		snprintf(name, sizeof(name), "optstr_append round trip %zu", l);
		for (; lists[l][count].key != NULL; count++)
			if (optstr_append(&text, lists[l][count].key, lists[l][count].value) != 0)
				same = false;
		if (optstr_parse(text, "--device", &opts, &err) != 0) {
			CHECK_NAMED(name, false, "'%s' does not parse: %s", text, err.message);
			free(text);
			continue;
		}
		same = same && opts.count == count;
		for (size_t i = 0; same && i < count; i++) {
			const char *want_value = lists[l][i].value;
			same = strcmp(opts.items[i].key, lists[l][i].key) == 0 &&
			       (want_value == NULL ? opts.items[i].value == NULL
						   : opts.items[i].value != NULL && strcmp(opts.items[i].value, want_value) == 0);
		}
		CHECK_NAMED(name, same, "'%s' parsed differently (%zu items)", text, opts.count);
		optstr_free(&opts);
		free(text);
	}
}

/* Values no option string can hold are refused, not written wrongly. */
static void test_append_refuses(void)
{
	/* An odd number of quotes; or a quote first and last, which vfkit's
	 * TrimQuotes takes off however it is written ("\"quoted\"", "\"\""). */
	static const char *const unwritable[] = {"a\"b", "\"", "\"a,b\"", "x\"y\"z\"", "a\"",
						 "\"quoted\"", "\"\"", "\"\"a,b\"\"", "\"a\",\"b\"", "\"a\"b,c"};

	for (size_t i = 0; i < sizeof(unwritable) / sizeof(unwritable[0]); i++) {
		char *text = strdup("type");
		char name[96];
		int status = optstr_append(&text, "k", unwritable[i]);
		snprintf(name, sizeof(name), "optstr_append refuses '%s'", unwritable[i]);
		CHECK_NAMED(name, status == -1 && strcmp(text, "type") == 0, "status %d text '%s'", status, text);
		free(text);
	}
}

int main(void)
{
	test_split();
	test_errors();
	test_append_text();
	test_append_round_trip();
	test_append_refuses();
	TEST_EXIT();
}

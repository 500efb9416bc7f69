/* Key tables (flags/keytab.c): every key kind, its bounds and errors, repeated,
 * unknown and missing required keys, help output and number parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/keytab.h"
#include "test/testlib.h"

struct sample_config {
	bool flag;
	char *text;
	char *path;
	uint64_t count;
	int choice;
	bool power;
	char *name;
};

static const char *const sample_choices[] = {"alpha", "beta", "gamma", NULL};

static const struct key_spec sample_keys[] = {
	{.name = "flag", .kind = KEY_BOOL, .offset = offsetof(struct sample_config, flag), .help = "a flag"},
	{.name = "text", .kind = KEY_STRING, .offset = offsetof(struct sample_config, text), .help = "some text"},
	{.name = "path", .kind = KEY_PATH, .offset = offsetof(struct sample_config, path), .help = "a path"},
	{.name = "count", .kind = KEY_UINT, .offset = offsetof(struct sample_config, count), .help = "a number",
	 .min = 1, .max = 100},
	{.name = "choice", .kind = KEY_ENUM, .offset = offsetof(struct sample_config, choice), .help = "pick one",
	 .choices = sample_choices},
	{.name = "power", .kind = KEY_ONOFF, .offset = offsetof(struct sample_config, power), .help = "on or off"},
	{.name = "name", .kind = KEY_STRING, .offset = offsetof(struct sample_config, name), .help = "needed",
	 .required = true},
};

static const struct key_table sample_table = {sample_keys, sizeof(sample_keys) / sizeof(sample_keys[0])};
static const struct key_table empty_table = {NULL, 0};

/* Parses "sample,<text>" (the first item is the type, skipped). */
static int parse_sample(const struct key_table *table, const char *text, struct sample_config *config,
			key_set_mask *given, struct vzk_error *err)
{
	struct optstr opts;
	char full[512];
	int status;

	memset(config, 0, sizeof(*config));
	vzk_error_clear(err);
	snprintf(full, sizeof(full), "sample,%s", text);
	if (optstr_parse(full, "--device", &opts, err) != 0)
		return -1;
	status = keytab_parse(table, &opts, 1, "--device sample", config, given, err);
	optstr_free(&opts);
	return status;
}

static void test_every_kind(void)
{
	struct sample_config config;
	key_set_mask given;
	struct vzk_error err;
	int status;

	TEST_CASE("keytab: every kind parses");
	status = parse_sample(&sample_table, "flag,text=hello world,path=/p/q,count=42,choice=gamma,power=on,name=n",
			      &config, &given, &err);
	CHECK_NAMED("keytab: every kind parses", status == 0, "%s", err.message);
	CHECK(config.flag == true);
	CHECK_STR(config.text, "hello world");
	CHECK_STR(config.path, "/p/q");
	CHECK(config.count == 42);
	CHECK(config.choice == 2);
	CHECK(config.power == true);
	CHECK_STR(config.name, "n");
	CHECK_NAMED("keytab: every given key has its bit", given == 0x7f, "given %#x", given);
	CHECK(keytab_given(given, &sample_table, "count"));
	keytab_free_strings(&sample_table, &config);
	CHECK_NAMED("keytab_free_strings resets the fields", config.text == NULL && config.path == NULL &&
								    config.name == NULL, "not reset");

	TEST_CASE("keytab: only the given keys have bits");
	status = parse_sample(&sample_table, "name=x,power=off", &config, &given, &err);
	CHECK(status == 0);
	CHECK(config.power == false);
	CHECK(keytab_given(given, &sample_table, "power"));
	CHECK(!keytab_given(given, &sample_table, "flag"));
	CHECK(!keytab_given(given, &sample_table, "count"));
	CHECK(!keytab_given(given, &sample_table, "no-such-key"));
	CHECK(config.text == NULL && config.count == 0);
	keytab_free_strings(&sample_table, &config);

	TEST_CASE("keytab: bounds are inclusive");
	CHECK(parse_sample(&sample_table, "name=x,count=1", &config, &given, &err) == 0 && config.count == 1);
	keytab_free_strings(&sample_table, &config);
	CHECK(parse_sample(&sample_table, "name=x,count=100", &config, &given, &err) == 0 && config.count == 100);
	keytab_free_strings(&sample_table, &config);
	CHECK(parse_sample(&sample_table, "name=x,count=007", &config, &given, &err) == 0 && config.count == 7);
	keytab_free_strings(&sample_table, &config);
	TEST_CASE("keytab: an empty STRING value is accepted");
	CHECK(parse_sample(&sample_table, "name=x,text=", &config, &given, &err) == 0 && config.text != NULL &&
	      config.text[0] == '\0');
	keytab_free_strings(&sample_table, &config);
	TEST_CASE("keytab: enum index 0");
	CHECK(parse_sample(&sample_table, "name=x,choice=alpha", &config, &given, &err) == 0 && config.choice == 0 &&
	      keytab_given(given, &sample_table, "choice"));
	keytab_free_strings(&sample_table, &config);
}

struct error_case {
	const char *input;
	const char *want[3]; /* substrings of the message */
};

static const struct error_case error_cases[] = {
	{"name=x,flag=1", {"key 'flag' is a flag and takes no value", "flag=1"}},
	{"name=x,flag=", {"key 'flag' is a flag and takes no value"}},
	{"name=x,text", {"key 'text' needs a value", "text=..."}},
	{"name=x,path", {"key 'path' needs a value"}},
	{"name=x,path=", {"key 'path' needs a non-empty path"}},
	{"name=x,count=0", {"key 'count' needs a decimal number from 1 to 100", "got '0'"}},
	{"name=x,count=101", {"from 1 to 100", "got '101'"}},
	{"name=x,count=-1", {"key 'count'", "got '-1'"}},
	{"name=x,count=+5", {"key 'count'", "got '+5'"}},
	{"name=x,count=5x", {"key 'count'", "got '5x'"}},
	{"name=x,count=0x10", {"key 'count'", "got '0x10'"}},
	{"name=x,count= 5", {"key 'count'", "got ' 5'"}},
	{"name=x,count=", {"key 'count'", "got ''"}},
	{"name=x,count", {"key 'count'", "got ''"}},
	{"name=x,count=18446744073709551616", {"key 'count'"}},
	{"name=x,choice=delta", {"key 'choice' must be one of alpha, beta, gamma", "got 'delta'"}},
	{"name=x,choice=Alpha", {"must be one of alpha, beta, gamma", "got 'Alpha'"}},
	{"name=x,choice", {"key 'choice' must be one of", "got 'nothing'"}},
	{"name=x,power=yes", {"key 'power' must be on or off", "got 'yes'"}},
	{"name=x,power=ON", {"key 'power' must be on or off"}},
	{"name=x,power", {"key 'power' must be on or off", "got 'nothing'"}},
	{"name=x,flag,flag", {"key 'flag' given twice"}},
	{"name=x,count=1,count=2", {"key 'count' given twice"}},
	{"name=x,name=y", {"key 'name' given twice"}},
	{"name=x,bogus=1", {"unknown key 'bogus'", "valid keys: flag, text, path, count, choice, power, name"}},
	{"name=x,Flag", {"unknown key 'Flag'"}},
	{"flag", {"missing required key 'name'"}},
	{"", {"missing required key 'name'"}},
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct sample_config config;
		key_set_mask given;
		struct vzk_error err;
		char name[160];
		bool ok;
		int status = parse_sample(&sample_table, c->input, &config, &given, &err);

		snprintf(name, sizeof(name), "keytab error: '%s'", c->input);
		ok = status == -1 && err.kind == VZK_ERR_USAGE && strncmp(err.message, "--device sample: ", 17) == 0;
		for (size_t s = 0; ok && s < 3 && c->want[s] != NULL; s++)
			ok = strstr(err.message, c->want[s]) != NULL;
		CHECK_NAMED(name, ok, "status %d, message '%s'", status, err.message);
		keytab_free_strings(&sample_table, &config);
	}
	{
		struct sample_config config;
		key_set_mask given;
		struct vzk_error err;
		int status = parse_sample(&empty_table, "anything", &config, &given, &err);
		CHECK_NAMED("keytab error: a table without keys says so",
			    status == -1 && strstr(err.message, "--device sample: takes no keys (got 'anything')") != NULL,
			    "%s", err.message);
		status = parse_sample(&empty_table, "", &config, &given, &err);
		CHECK_NAMED("keytab: a table without keys accepts no items", status == 0 && given == 0, "%s",
			    err.message);
	}
}

static void test_help_and_names(void)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	char names[16];

	keytab_print_help(&sample_table, out);
	fclose(out);
	TEST_CASE("keytab help lists every key with its value form and help");
	CHECK(strstr(text, "  flag ") != NULL);
	CHECK(strstr(text, "text=<text>") != NULL);
	CHECK(strstr(text, "path=<path>") != NULL);
	CHECK(strstr(text, "count=<number>") != NULL);
	CHECK(strstr(text, "choice=alpha|beta|gamma") != NULL);
	CHECK(strstr(text, "power=on|off") != NULL);
	CHECK(strstr(text, "needed (required)") != NULL);
	CHECK(strstr(text, "pick one") != NULL);
	{
		size_t lines = 0;
		for (const char *p = text; *p != '\0'; p++)
			lines += *p == '\n';
		CHECK_NAMED("keytab help: one line per key", lines == sample_table.count, "%zu lines", lines);
	}
	free(text);

	TEST_CASE("keytab_names truncates safely");
	keytab_names(&sample_table, names, sizeof(names));
	CHECK(strlen(names) < sizeof(names));
	CHECK(strncmp(names, "flag, text, pat", 15) == 0);
	TEST_CASE("keytab_find");
	CHECK(keytab_find(&sample_table, "flag") == 0);
	CHECK(keytab_find(&sample_table, "name") == 6);
	CHECK(keytab_find(&sample_table, "nam") == -1);
	CHECK(keytab_find(&empty_table, "x") == -1);
}

static void test_parse_uint64(void)
{
	uint64_t value = 99;

	TEST_CASE("parse_uint64");
	CHECK(parse_uint64("0", 0, 10, &value) == 0 && value == 0);
	CHECK(parse_uint64("18446744073709551615", 0, UINT64_MAX, &value) == 0 && value == UINT64_MAX);
	CHECK(parse_uint64("18446744073709551616", 0, UINT64_MAX, &value) == -1);
	CHECK(parse_uint64("99999999999999999999999", 0, UINT64_MAX, &value) == -1);
	CHECK(parse_uint64("", 0, 10, &value) == -1);
	CHECK(parse_uint64(NULL, 0, 10, &value) == -1);
	CHECK(parse_uint64("-0", 0, 10, &value) == -1);
	CHECK(parse_uint64("1.5", 0, 10, &value) == -1);
	CHECK(parse_uint64("1e3", 0, 10000, &value) == -1);
	CHECK(parse_uint64("11", 0, 10, &value) == -1);
	CHECK(parse_uint64("4", 5, 10, &value) == -1);
	value = 7;
	CHECK_NAMED("parse_uint64 leaves the output alone on error", parse_uint64("x", 0, 10, &value) == -1 && value == 7,
		    "value %llu", (unsigned long long)value);
}

static void test_utf8(void)
{
	static const struct {
		const char *text;
		bool valid;
	} cases[] = {
		{"", true},
		{"plain ascii /path", true},
		{"caf\xc3\xa9", true},                 /* é */
		{"\xe2\x82\xac", true},                 /* € */
		{"\xf0\x9f\x98\x80", true},             /* U+1F600 */
		{"\xf4\x8f\xbf\xbf", true},             /* U+10FFFF */
		{"\xff", false},
		{"\x80", false},                        /* a continuation byte first */
		{"\xc3", false},                        /* cut short */
		{"\xc3(", false},
		{"\xc0\xaf", false},                    /* overlong '/' */
		{"\xe0\x80\xaf", false},                /* overlong '/' */
		{"\xed\xa0\x80", false},                /* UTF-16 surrogate */
		{"\xf4\x90\x80\x80", false},            /* beyond U+10FFFF */
		{"\xf5\x80\x80\x80", false},
		{"ok\xe2\x82", false},                  /* cut short at the end */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "text_is_utf8 case %zu", i);
		CHECK_NAMED(name, text_is_utf8(cases[i].text) == cases[i].valid, "want %d", cases[i].valid);
	}
	{
		struct sample_config config;
		key_set_mask given;
		struct vzk_error err;
		int status = parse_sample(&sample_table, "name=x,path=/a\xff", &config, &given, &err);
		CHECK_NAMED("keytab error: a path that is not UTF-8",
			    status == -1 && strstr(err.message, "--device sample: key 'path' is not valid UTF-8") != NULL, "%s",
			    err.message);
		keytab_free_strings(&sample_table, &config);
		status = parse_sample(&sample_table, "name=\xc3\xa9t\xc3\xa9", &config, &given, &err);
		CHECK_NAMED("keytab: UTF-8 text is accepted", status == 0 && strcmp(config.name, "\xc3\xa9t\xc3\xa9") == 0, "%s",
			    err.message);
		keytab_free_strings(&sample_table, &config);
	}
}

static void test_error_values(void)
{
	struct vzk_error err = {0};
	char long_text[2000];

	TEST_CASE("errors: kinds and exit statuses");
	CHECK(vzk_usage_error(&err, "bad %d", 1) == -1 && err.kind == VZK_ERR_USAGE);
	CHECK_STR(err.message, "bad 1");
	CHECK(vzk_error_exit_status(&err) == 2);
	CHECK(vzk_error_prefix(&err, "--device %s", "x") == -1);
	CHECK_STR(err.message, "--device x: bad 1");
	CHECK(err.kind == VZK_ERR_USAGE);
	CHECK(vzk_runtime_error(&err, "broken") == -1 && vzk_error_exit_status(&err) == 1);
	vzk_error_clear(&err);
	CHECK(err.kind == VZK_ERR_NONE && err.message[0] == '\0');
	CHECK(vzk_error_prefix(&err, "ctx") == -1 && err.kind == VZK_ERR_RUNTIME);
	CHECK(vzk_usage_error(NULL, "x") == -1);
	TEST_CASE("errors: long messages are cut, not overflowed");
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	vzk_usage_error(&err, "%s", long_text);
	CHECK(strlen(err.message) == sizeof(err.message) - 1);
	vzk_error_prefix(&err, "%s", long_text);
	CHECK(strlen(err.message) == sizeof(err.message) - 1);
}

int main(void)
{
	test_every_kind();
	test_errors();
	test_help_and_names();
	test_parse_uint64();
	test_utf8();
	test_error_values();
	TEST_EXIT();
}

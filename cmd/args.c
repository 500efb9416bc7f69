#include "cmd/args.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/registry.h"
#include "devices/registry.h"
#include "flags/keytab.h"
#include "flags/optstr.h"

/* Order here is the order of --help. The shorthands are vfkit's (cobra adds
 * -h and -v). */
const struct flag_spec flag_table[] = {
	{"cpus", 'c', FLAG_VALUE, "N", "number of virtual CPUs (default 1)"},
	{"memory", 'm', FLAG_VALUE, "MiB", "memory in MiB (default 512)"},
	{"bootloader", 'b', FLAG_VALUE, "TYPE,k=v,...", "linux, efi or macos bootloader (--bootloader help)"},
	{"device", 'd', FLAG_VALUE, "TYPE,k=v,...", "add a device; repeatable (--device help)"},
	{"kernel", 'k', FLAG_VALUE, "PATH", "deprecated: kernel (with --initrd and --kernel-cmdline)"},
	{"initrd", 'i', FLAG_VALUE, "PATH", "deprecated: initrd"},
	{"kernel-cmdline", 'C', FLAG_VALUE, "TEXT", "deprecated: kernel command line"},
	{"restful-uri", 0, FLAG_VALUE, "URI", "REST API on tcp://host:port or unix:///path (default none://)"},
	{"log-level", 0, FLAG_VALUE, "LEVEL", "debug, info (default) or error"},
	{"gui", 0, FLAG_BOOL, NULL, "open a window on the VM's display"},
	{"timesync", 't', FLAG_VALUE, "vsockPort=N", "sync the guest clock through qemu-guest-agent on vsock port N"},
	{"ignition", 0, FLAG_VALUE, "PATH", "serve this Ignition config to the guest over vsock port 1024"},
	{"cloud-init", 0, FLAG_VALUE, "PATH,PATH", "user-data and meta-data files, as a NoCloud disk; repeatable"},
	{"nested", 'n', FLAG_BOOL, NULL, "enable nested virtualisation"},
	{"pidfile", 0, FLAG_VALUE, "PATH", "write vzkit's pid to PATH while it runs"},
	{"dry-run", 0, FLAG_OPTIONAL_VALUE, "json|cmdline|qemu|plan", "validate and print the VM (default json), or the engine's plan (qemu|plan), instead of running it"},
	{"config", 0, FLAG_VALUE, "FILE", "load a VM in vfkit's JSON format; further flags add to it"},
	{"accel", 0, FLAG_VALUE, "auto|kvm|tcg", "QEMU engine accelerator (default auto)"},
	{"fetch", 0, FLAG_VALUE, "URL[,sha256=HEX]", "download URL into the cache (resumable, checked) and print the file's path; runs alone"},
	{"version", 'v', FLAG_BOOL, NULL, "print the version"},
	{"help", 'h', FLAG_BOOL, NULL, "print this help"},
	{NULL, 0, 0, NULL, NULL},
};

/* What a bool flag given without "=VALUE" means, and an optional value's default. */
#define BOOL_IMPLIED_VALUE "true"
#define DRY_RUN_IMPLIED_VALUE "json"

void args_print_help(FILE *out)
{
	fprintf(out, "Usage: vzkit [flags]\n\nRuns a virtual machine described by its flags; it lives as long as vzkit.\n\nFlags:\n");
	for (const struct flag_spec *flag = flag_table; flag->long_name != NULL; flag++) {
		char left[96];
		const char *value = flag->value_name;
		bool optional = flag->value == FLAG_OPTIONAL_VALUE;
		if (flag->short_name != 0)
			snprintf(left, sizeof(left), "-%c, --%s%s%s%s", flag->short_name, flag->long_name,
				 value ? (optional ? "[=" : " ") : "", value ? value : "", value && optional ? "]" : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s%s", flag->long_name,
				 value ? (optional ? "[=" : " ") : "", value ? value : "", value && optional ? "]" : "");
		fprintf(out, "  %-34s %s\n", left, flag->help);
	}
	fprintf(out, "\nDevices (--device TYPE,help lists a type's keys):\n");
	component_print_list(device_registry, out);
	fprintf(out, "\nSee vzkit(1) for every key and examples.\n");
}

void run_options_free(struct run_options *options)
{
	if (options == NULL)
		return;
	free(options->pidfile);
	options->pidfile = NULL;
	fetch_spec_free(&options->fetch);
	free(options->warnings);
	options->warnings = NULL;
}

/* Appends one "vzkit: warning: ..." line to options->warnings. */
static int add_warning(struct run_options *options, struct vzk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int add_warning(struct run_options *options, struct vzk_error *err, const char *fmt, ...)
{
	size_t old_len = options->warnings != NULL ? strlen(options->warnings) : 0;
	char line[512];
	char *grown;
	va_list args;
	int len;

	va_start(args, fmt);
	len = vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	if (len < 0)
		return vzk_runtime_error(err, "cannot format a warning");
	len = (size_t)len < sizeof(line) ? len : (int)sizeof(line) - 1;
	for (int i = 0; i < len; i++) /* one line, whatever the echoed word holds */
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	size_t added = sizeof("vzkit: warning: \n") + (size_t)len;
	grown = realloc(options->warnings, old_len + added);
	if (grown == NULL)
		return vzk_runtime_error(err, "out of memory");
	snprintf(grown + old_len, added, "vzkit: warning: %s\n", line);
	options->warnings = grown;
	return 0;
}

static int parse_uint_flag(const char *flag, const char *text, uint64_t min, uint64_t max,
			   uint64_t *out, struct vzk_error *err)
{
	if (parse_uint64(text, min, max, out) != 0)
		return vzk_usage_error(err, "--%s: '%s' is not a number from %llu to %llu", flag, text,
				       (unsigned long long)min, (unsigned long long)max);
	return 0;
}

/* Go's strconv.ParseBool, which pflag uses for vfkit's bool flags. */
static int parse_go_bool(const char *flag, const char *text, bool *out, struct vzk_error *err)
{
	static const char *const true_forms[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
	static const char *const false_forms[] = {"0", "f", "F", "FALSE", "false", "False", NULL};

	for (size_t i = 0; true_forms[i] != NULL; i++) {
		if (strcmp(text, true_forms[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(text, false_forms[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return vzk_usage_error(err, "--%s: '%s' is not a boolean (true, false, 1, 0, t, f, TRUE, FALSE, ...)",
			       flag, text);
}

/* An empty --timesync means none, as in vfkit. */
static int parse_timesync(const char *text, struct vm_description *vm, struct vzk_error *err)
{
	struct optstr opts;
	int status = 0;

	vm->timesync_vsock_port = 0;
	if (text[0] == '\0')
		return 0;
	if (optstr_parse(text, "--timesync", &opts, err) != 0)
		return -1;
	if (opts.count == 0)
		status = vzk_usage_error(err, "--timesync: needs vsockPort=N");
	for (size_t i = 0; status == 0 && i < opts.count; i++) {
		if (strcmp(opts.items[i].key, "vsockPort") != 0)
			status = vzk_usage_error(err, "--timesync: unknown key '%s' (valid keys: vsockPort)",
						 opts.items[i].key);
		else if (opts.items[i].value == NULL ||
			 parse_uint64(opts.items[i].value, 1, UINT32_MAX, &vm->timesync_vsock_port) != 0)
			status = vzk_usage_error(err, "--timesync: vsockPort needs a number from 1 to %u",
						 UINT32_MAX);
	}
	optstr_free(&opts);
	return status;
}

static const char *const cloud_init_names[] = {"user-data", "meta-data", "network-config",
					       "vendor-data", NULL};

/* One --cloud-init: its paths are added to the list (vfkit's repeated
 * --cloud-init adds up), except that the first --cloud-init on the command
 * line replaces the list a --config file gave. Empty elements (and so an
 * empty value) add nothing. */
static int parse_cloud_init(const char *text, bool first, struct vm_description *vm, struct vzk_error *err)
{
	char **paths = NULL;
	size_t count = 0;
	char **grown;

	if (!text_is_utf8(text))
		return vzk_usage_error(err, "--cloud-init: the paths are not valid UTF-8");
	if (optstr_split_list(text, "--cloud-init", &paths, &count, err) != 0)
		return -1;
	if (first) {
		for (size_t i = 0; i < vm->cloud_init_count; i++)
			free(vm->cloud_init_paths[i]);
		free(vm->cloud_init_paths);
		vm->cloud_init_paths = NULL;
		vm->cloud_init_count = 0;
	}
	grown = realloc(vm->cloud_init_paths, (vm->cloud_init_count + count + 1) * sizeof(char *));
	if (grown == NULL) {
		optstr_list_free(paths, count);
		return vzk_runtime_error(err, "out of memory");
	}
	vm->cloud_init_paths = grown;
	if (count > 0)
		memcpy(grown + vm->cloud_init_count, paths, count * sizeof(char *));
	vm->cloud_init_count += count;
	free(paths);
	return 0;
}

/* The --cloud-init files once every flag is in, read as vfkit reads them:
 * NoCloud reads files by name, so another name is left out and of a name
 * given twice the last one counts (both with a warning: likely mistakes);
 * user-data or meta-data must be there (the disk gets an empty file for the
 * other). vendor-data is vzkit's addition (vfkit leaves it out). */
static int check_cloud_init(struct vm_description *vm, struct run_options *options, struct vzk_error *err)
{
	size_t kept = 0, given = vm->cloud_init_count;
	bool has_config = false;

	for (size_t i = 0; i < vm->cloud_init_count; i++) {
		const char *path = vm->cloud_init_paths[i];
		const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
		bool known = false, later = false;
		for (size_t n = 0; cloud_init_names[n] != NULL; n++)
			known |= strcmp(base, cloud_init_names[n]) == 0;
		for (size_t j = i + 1; j < vm->cloud_init_count; j++) {
			const char *other = strrchr(vm->cloud_init_paths[j], '/');
			later |= strcmp(other != NULL ? other + 1 : vm->cloud_init_paths[j], base) == 0;
		}
		if (!known || later) {
			int status = !known ? add_warning(options, err, "--cloud-init: ignoring '%s': NoCloud reads only user-data, meta-data, network-config and vendor-data", path)
					    : add_warning(options, err, "--cloud-init: %s is given more than once; '%s' is not used, the last one is", base, path);
			free(vm->cloud_init_paths[i]);
			vm->cloud_init_paths[i] = NULL;
			if (status != 0)
				return -1;
			continue;
		}
		has_config |= strcmp(base, "user-data") == 0 || strcmp(base, "meta-data") == 0;
		vm->cloud_init_paths[kept++] = vm->cloud_init_paths[i];
	}
	vm->cloud_init_count = kept;
	if (given > 0 && !has_config)
		return vzk_usage_error(err, "--cloud-init: needs a user-data or a meta-data file");
	return 0;
}

static int load_config_file(const char *path, struct vm_description *vm, struct vzk_error *err)
{
	json_error_t json_err;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &json_err);
	int status;

	if (root == NULL)
		return vzk_usage_error(err, "--config: %s: line %d: %s", path, json_err.line, json_err.text);
	status = vm_description_from_json(root, vm, err);
	json_decref(root);
	return status;
}

/* ---- the command line, read the way pflag reads it ---- */

/* One flag occurrence: its spec and its value (a bool flag's value is text
 * for parse_go_bool). The value points into argv or at a literal. */
struct flag_use {
	const struct flag_spec *flag;
	const char *value;
};

struct flag_uses {
	struct flag_use *items;
	size_t count;
};

static const struct flag_spec *flag_by_long_name(const char *name, size_t len)
{
	for (const struct flag_spec *flag = flag_table; flag->long_name != NULL; flag++)
		if (strlen(flag->long_name) == len && strncmp(flag->long_name, name, len) == 0)
			return flag;
	return NULL;
}

static const struct flag_spec *flag_by_short_name(char name)
{
	for (const struct flag_spec *flag = flag_table; flag->long_name != NULL; flag++)
		if (flag->short_name != 0 && flag->short_name == name)
			return flag;
	return NULL;
}

static int push_use(struct flag_uses *uses, const struct flag_spec *flag, const char *value,
		    struct vzk_error *err)
{
	struct flag_use *grown = realloc(uses->items, (uses->count + 1) * sizeof(*grown));

	if (grown == NULL)
		return vzk_runtime_error(err, "out of memory");
	uses->items = grown;
	uses->items[uses->count++] = (struct flag_use){flag, value};
	return 0;
}

/* The value a flag given without "=VALUE" takes by itself, or NULL when it
 * needs the next argument. */
static const char *implied_value(const struct flag_spec *flag)
{
	if (flag->value == FLAG_BOOL)
		return BOOL_IMPLIED_VALUE;
	if (flag->value == FLAG_OPTIONAL_VALUE)
		return DRY_RUN_IMPLIED_VALUE;
	return NULL;
}

/* "--name", "--name=value" or "--name value": names match exactly (pflag
 * does not abbreviate). *next is the index of the next unread argument. */
static int read_long_flag(int argc, char **argv, int *next, struct flag_uses *uses, struct vzk_error *err)
{
	const char *arg = argv[*next - 1];
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	const struct flag_spec *flag;
	const char *value;

	if (name[0] == '-' || name[0] == '=')
		return vzk_usage_error(err, "bad flag syntax: %s (see --help)", arg);
	flag = flag_by_long_name(name, len);
	if (flag == NULL)
		return vzk_usage_error(err, "unknown flag --%.*s (see --help)", (int)len, name);
	if (eq != NULL)
		value = eq + 1;
	else if ((value = implied_value(flag)) == NULL) {
		if (*next >= argc)
			return vzk_usage_error(err, "--%s needs a value", flag->long_name);
		value = argv[(*next)++];
	}
	return push_use(uses, flag, value, err);
}

/* "-c 4", "-c4", "-c=4", and clusters of shorthands ("-nc4": -n, then -c 4),
 * as pflag reads them. */
static int read_short_flags(int argc, char **argv, int *next, struct flag_uses *uses, struct vzk_error *err)
{
	const char *arg = argv[*next - 1];
	const char *shorthands = arg + 1;

	while (*shorthands != '\0') {
		const struct flag_spec *flag = flag_by_short_name(*shorthands);
		const char *value;

		if (flag == NULL)
			return vzk_usage_error(err, "unknown flag -%c (see --help)", *shorthands);
		if (strlen(shorthands) > 2 && shorthands[1] == '=') {
			value = shorthands + 2;
			shorthands += strlen(shorthands);
		} else if ((value = implied_value(flag)) != NULL) {
			shorthands++;
		} else if (shorthands[1] != '\0') {
			value = shorthands + 1;
			shorthands += strlen(shorthands);
		} else if (*next < argc) {
			value = argv[(*next)++];
			shorthands++;
		} else {
			return vzk_usage_error(err, "-%c needs a value", flag->short_name);
		}
		if (push_use(uses, flag, value, err) != 0)
			return -1;
	}
	return 0;
}

/* Every flag in argv, in order. Words that are not flags, and everything
 * after "--", are ignored with a warning: vfkit (cobra, no subcommands)
 * ignores them silently. */
static int read_flags(int argc, char **argv, struct flag_uses *uses, struct run_options *options,
		      struct vzk_error *err)
{
	int next = 1;

	while (next < argc) {
		const char *arg = argv[next++];

		if (strcmp(arg, "--") == 0) {
			for (; next < argc; next++)
				if (add_warning(options, err, "ignoring '%s' after --: vfkit takes flags only", argv[next]) != 0)
					return -1;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (add_warning(options, err, "ignoring '%s': not a flag (vfkit takes flags only)", arg) != 0)
				return -1;
			continue;
		}
		if ((arg[1] == '-' ? read_long_flag(argc, argv, &next, uses, err)
				   : read_short_flags(argc, argv, &next, uses, err)) != 0)
			return -1;
	}
	return 0;
}

struct legacy_boot {
	const char *kernel, *initrd, *cmdline;
};

/* Per-parse state the flags share. */
struct parse_state {
	struct legacy_boot legacy;
	bool bootloader_flag_seen;
	bool cloud_init_flag_seen;
};

static int apply_flag(const struct flag_spec *spec, const char *value, struct vm_description *vm,
		      struct run_options *options, struct parse_state *state, struct vzk_error *err)
{
	const char *name = spec->long_name;
	uint64_t number;
	bool on = false;

	if (spec->value == FLAG_BOOL && parse_go_bool(name, value, &on, err) != 0)
		return -1;
	if (strcmp(name, "cpus") == 0) {
		return parse_uint_flag(name, value, 0, UINT32_MAX, &vm->vcpus, err);
	} else if (strcmp(name, "memory") == 0) {
		if (parse_uint_flag(name, value, 0, (uint64_t)1 << 43, &number, err) != 0)
			return -1;
		vm->memory_bytes = number << 20;
	} else if (strcmp(name, "bootloader") == 0) {
		struct component bootloader;
		bool help;
		if (state->bootloader_flag_seen)
			return vzk_usage_error(err, "--bootloader: given twice; a VM has one bootloader");
		if (component_parse(bootloader_registry, "--bootloader", value, &bootloader, &help, err) != 0)
			return -1;
		if (help) {
			if (bootloader.ops != NULL)
				options->help_component = bootloader.ops;
			else
				options->list_bootloaders = true;
			return 0;
		}
		if (vm->has_bootloader)
			component_free(&vm->bootloader);
		vm->bootloader = bootloader;
		vm->has_bootloader = true;
		state->bootloader_flag_seen = true;
	} else if (strcmp(name, "device") == 0) {
		struct component device;
		bool help;
		if (component_parse(device_registry, "--device", value, &device, &help, err) != 0)
			return -1;
		if (help) {
			if (device.ops != NULL)
				options->help_component = device.ops;
			else
				options->list_devices = true;
			return 0;
		}
		return vm_description_add_device(vm, &device, err);
	} else if (strcmp(name, "kernel") == 0) {
		state->legacy.kernel = value;
	} else if (strcmp(name, "initrd") == 0) {
		state->legacy.initrd = value;
	} else if (strcmp(name, "kernel-cmdline") == 0) {
		state->legacy.cmdline = value;
	} else if (strcmp(name, "restful-uri") == 0) {
		return rest_uri_parse(value, &options->rest_uri, err);
	} else if (strcmp(name, "log-level") == 0) {
		if (strcmp(value, "debug") == 0)
			options->log_level = LOG_LEVEL_DEBUG;
		else if (strcmp(value, "info") == 0)
			options->log_level = LOG_LEVEL_INFO;
		else if (strcmp(value, "error") == 0)
			options->log_level = LOG_LEVEL_ERROR;
		else
			return vzk_usage_error(err, "--log-level: '%s' is not one of debug, info, error", value);
	} else if (strcmp(name, "gui") == 0) {
		vm->gui = on;
	} else if (strcmp(name, "timesync") == 0) {
		return parse_timesync(value, vm, err);
	} else if (strcmp(name, "ignition") == 0) {
		free(vm->ignition_path);
		vm->ignition_path = NULL;
		if (value[0] == '\0') /* vfkit: an empty --ignition is none */
			return 0;
		if (strchr(value, ',') != NULL)
			return vzk_usage_error(err, "--ignition: needs exactly one path");
		if (!text_is_utf8(value))
			return vzk_usage_error(err, "--ignition: the path is not valid UTF-8");
		if ((vm->ignition_path = strdup(value)) == NULL)
			return vzk_runtime_error(err, "out of memory");
	} else if (strcmp(name, "cloud-init") == 0) {
		bool first = !state->cloud_init_flag_seen;
		state->cloud_init_flag_seen = true;
		return parse_cloud_init(value, first, vm, err);
	} else if (strcmp(name, "nested") == 0) {
		vm->nested = on;
	} else if (strcmp(name, "pidfile") == 0) {
		if (value[0] == '\0')
			return vzk_usage_error(err, "--pidfile: needs a path");
		free(options->pidfile);
		if ((options->pidfile = strdup(value)) == NULL)
			return vzk_runtime_error(err, "out of memory");
	} else if (strcmp(name, "dry-run") == 0) {
		if (strcmp(value, "json") == 0)
			options->dry_run = DRY_RUN_JSON;
		else if (strcmp(value, "cmdline") == 0)
			options->dry_run = DRY_RUN_CMDLINE;
		else if (strcmp(value, "qemu") == 0 || strcmp(value, "plan") == 0)
			options->dry_run = DRY_RUN_PLAN;
		else
			return vzk_usage_error(err, "--dry-run: '%s' is not one of json, cmdline, qemu, plan", value);
	} else if (strcmp(name, "config") == 0) {
		/* loaded before the other flags */
	} else if (strcmp(name, "accel") == 0) {
		if (strcmp(value, "auto") == 0)
			options->accel = ENGINE_ACCEL_AUTO;
		else if (strcmp(value, "kvm") == 0)
			options->accel = ENGINE_ACCEL_KVM;
		else if (strcmp(value, "tcg") == 0)
			options->accel = ENGINE_ACCEL_TCG;
		else
			return vzk_usage_error(err, "--accel: '%s' is not one of auto, kvm, tcg", value);
	} else if (strcmp(name, "fetch") == 0) {
		if (options->fetch.url != NULL)
			return vzk_usage_error(err, "--fetch: given twice; vzkit fetches one URL per run");
		return fetch_spec_parse(value, &options->fetch, err);
	} else if (strcmp(name, "version") == 0) {
		options->show_version = on;
	} else if (strcmp(name, "help") == 0) {
		options->show_help = on;
	}
	return 0;
}

int args_parse(int argc, char **argv, struct vm_description *vm, struct run_options *options,
	       struct vzk_error *err)
{
	struct flag_uses uses = {0};
	struct parse_state state = {0};
	const char *config_path = NULL;
	int status = -1;

	memset(options, 0, sizeof(*options));
	options->log_level = LOG_LEVEL_INFO;
	if (read_flags(argc, argv, &uses, options, err) != 0)
		goto out;
	/* --config is the base the other flags add to, wherever it stands. */
	for (size_t i = 0; i < uses.count; i++)
		if (strcmp(uses.items[i].flag->long_name, "config") == 0)
			config_path = uses.items[i].value;
	if (config_path != NULL && load_config_file(config_path, vm, err) != 0)
		goto out;
	for (size_t i = 0; i < uses.count; i++)
		if (apply_flag(uses.items[i].flag, uses.items[i].value, vm, options, &state, err) != 0)
			goto out;
	for (size_t i = 0; options->fetch.url != NULL && i < uses.count; i++) {
		const char *name = uses.items[i].flag->long_name;
		if (strcmp(name, "fetch") != 0 && strcmp(name, "log-level") != 0) {
			vzk_usage_error(err, "--fetch runs alone; it cannot be combined with --%s", name);
			goto out;
		}
	}
	if (state.legacy.kernel != NULL || state.legacy.initrd != NULL || state.legacy.cmdline != NULL) {
		if (state.bootloader_flag_seen) {
			vzk_usage_error(err, "--kernel/--initrd/--kernel-cmdline cannot be used with --bootloader");
			goto out;
		}
		if (vm->has_bootloader)
			component_free(&vm->bootloader);
		vm->has_bootloader = false;
		if (linux_bootloader_from_legacy(state.legacy.kernel, state.legacy.initrd, state.legacy.cmdline,
						 &vm->bootloader, err) != 0)
			goto out;
		vm->has_bootloader = true;
	}
	if (check_cloud_init(vm, options, err) != 0)
		goto out;
	status = 0;
out:
	free(uses.items);
	return status;
}

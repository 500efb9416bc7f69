#include "cmd/args.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/registry.h"
#include "devices/registry.h"
#include "flags/keytab.h"
#include "flags/optstr.h"

/* Order here is the order of --help. */
const struct flag_spec flag_table[] = {
	{"cpus", 'c', required_argument, "N", "number of virtual CPUs (default 1)"},
	{"memory", 'm', required_argument, "MiB", "memory in MiB (default 512)"},
	{"bootloader", 'b', required_argument, "TYPE,k=v,...", "linux, efi or macos bootloader (--bootloader help)"},
	{"device", 'd', required_argument, "TYPE,k=v,...", "add a device; repeatable (--device help)"},
	{"kernel", 'k', required_argument, "PATH", "deprecated: kernel (with --initrd and --kernel-cmdline)"},
	{"initrd", 'i', required_argument, "PATH", "deprecated: initrd"},
	{"kernel-cmdline", 'C', required_argument, "TEXT", "deprecated: kernel command line"},
	{"restful-uri", 0, required_argument, "URI", "REST API on tcp://host:port or unix:///path (default none://)"},
	{"log-level", 0, required_argument, "LEVEL", "debug, info (default) or error"},
	{"gui", 0, no_argument, NULL, "open a window on the VM's display"},
	{"timesync", 0, required_argument, "vsockPort=N", "sync the guest clock through qemu-guest-agent on vsock port N"},
	{"ignition", 0, required_argument, "PATH", "serve this Ignition config to the guest over vsock port 1024"},
	{"cloud-init", 0, required_argument, "PATH,PATH", "user-data and meta-data files, as a NoCloud disk"},
	{"nested", 0, no_argument, NULL, "enable nested virtualisation"},
	{"pidfile", 0, required_argument, "PATH", "write vzkit's pid to PATH while it runs"},
	{"dry-run", 0, optional_argument, "json|cmdline|qemu|plan", "validate and print the VM (default json), or the engine's plan (qemu|plan), instead of running it"},
	{"config", 0, required_argument, "FILE", "load a VM in vfkit's JSON format; further flags add to it"},
	{"accel", 0, required_argument, "auto|kvm|tcg", "QEMU engine accelerator (default auto)"},
	{"fetch", 0, required_argument, "URL[,sha256=HEX]", "download URL into the cache (resumable, checked) and print the file's path; runs alone"},
	{"version", 'v', no_argument, NULL, "print the version"},
	{"help", 'h', no_argument, NULL, "print this help"},
	{NULL, 0, 0, NULL, NULL},
};

#define FLAG_COUNT (sizeof(flag_table) / sizeof(flag_table[0]) - 1)
/* getopt_long returns 256 + index for flags without a short form. */
#define LONG_ONLY_BASE 256

void args_print_help(FILE *out)
{
	fprintf(out, "Usage: vzkit [flags]\n\nRuns a virtual machine described by its flags; it lives as long as vzkit.\n\nFlags:\n");
	for (const struct flag_spec *flag = flag_table; flag->long_name != NULL; flag++) {
		char left[96];
		const char *value = flag->value_name;
		if (flag->short_name != 0)
			snprintf(left, sizeof(left), "-%c, --%s%s%s%s", flag->short_name, flag->long_name,
				 value ? (flag->has_arg == optional_argument ? "[=" : " ") : "", value ? value : "",
				 value && flag->has_arg == optional_argument ? "]" : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s%s", flag->long_name,
				 value ? (flag->has_arg == optional_argument ? "[=" : " ") : "", value ? value : "",
				 value && flag->has_arg == optional_argument ? "]" : "");
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
}

static int parse_uint_flag(const char *flag, const char *text, uint64_t min, uint64_t max,
			   uint64_t *out, struct vzk_error *err)
{
	if (parse_uint64(text, min, max, out) != 0)
		return vzk_usage_error(err, "--%s: '%s' is not a number from %llu to %llu", flag, text,
				       (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int parse_timesync(const char *text, struct vm_description *vm, struct vzk_error *err)
{
	struct optstr opts;
	int status = 0;

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

static int parse_cloud_init(const char *text, struct vm_description *vm, struct vzk_error *err)
{
	struct optstr opts;
	int status = 0;

	if (!text_is_utf8(text))
		return vzk_usage_error(err, "--cloud-init: the paths are not valid UTF-8");
	if (optstr_parse(text, "--cloud-init", &opts, err) != 0)
		return -1;
	for (size_t i = 0; i < vm->cloud_init_count; i++)
		free(vm->cloud_init_paths[i]);
	free(vm->cloud_init_paths);
	vm->cloud_init_paths = calloc(opts.count + 1, sizeof(char *));
	vm->cloud_init_count = 0;
	if (vm->cloud_init_paths == NULL)
		status = vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; status == 0 && i < opts.count; i++) {
		const struct optstr_item *item = &opts.items[i];
		size_t len = strlen(item->key) + (item->value ? strlen(item->value) + 1 : 0) + 1;
		char *path = malloc(len);
		const char *base;
		bool known = false;
		if (path == NULL) {
			status = vzk_runtime_error(err, "out of memory");
			break;
		}
		snprintf(path, len, "%s%s%s", item->key, item->value ? "=" : "", item->value ? item->value : "");
		vm->cloud_init_paths[vm->cloud_init_count++] = path;
		base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
		for (size_t n = 0; cloud_init_names[n] != NULL; n++)
			known |= strcmp(base, cloud_init_names[n]) == 0;
		if (!known)
			status = vzk_usage_error(err, "--cloud-init: file '%s' must be named user-data, meta-data, network-config or vendor-data",
						 path);
	}
	/* NoCloud reads files by name: each name once, user-data and meta-data required. */
	for (size_t n = 0; status == 0 && cloud_init_names[n] != NULL; n++) {
		size_t seen = 0;
		for (size_t i = 0; i < vm->cloud_init_count; i++) {
			const char *slash = strrchr(vm->cloud_init_paths[i], '/');
			seen += strcmp(slash != NULL ? slash + 1 : vm->cloud_init_paths[i], cloud_init_names[n]) == 0;
		}
		if (seen > 1)
			status = vzk_usage_error(err, "--cloud-init: %s is given %zu times", cloud_init_names[n], seen);
		else if (seen == 0 && n < 2)
			status = vzk_usage_error(err, "--cloud-init: needs a %s file (user-data and meta-data are required)",
						 cloud_init_names[n]);
	}
	optstr_free(&opts);
	return status;
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

static void build_getopt_tables(struct option *long_options, char *short_options)
{
	char *s = short_options;

	for (size_t i = 0; i < FLAG_COUNT; i++) {
		const struct flag_spec *flag = &flag_table[i];
		long_options[i] = (struct option){flag->long_name, flag->has_arg, NULL,
						  flag->short_name ? flag->short_name : (int)(LONG_ONLY_BASE + i)};
		if (flag->short_name) {
			*s++ = flag->short_name;
			if (flag->has_arg == required_argument)
				*s++ = ':';
		}
	}
	long_options[FLAG_COUNT] = (struct option){NULL, 0, NULL, 0};
	*s = '\0';
}

static const struct flag_spec *flag_for(int code)
{
	if (code >= LONG_ONLY_BASE && code < LONG_ONLY_BASE + (int)FLAG_COUNT)
		return &flag_table[code - LONG_ONLY_BASE];
	for (size_t i = 0; i < FLAG_COUNT; i++)
		if (flag_table[i].short_name == code)
			return &flag_table[i];
	return NULL;
}

struct legacy_boot {
	const char *kernel, *initrd, *cmdline;
};

static int apply_flag(const char *name, const char *value, struct vm_description *vm,
		      struct run_options *options, struct legacy_boot *legacy, bool *bootloader_flag_seen,
		      struct vzk_error *err)
{
	uint64_t number;

	if (strcmp(name, "cpus") == 0) {
		return parse_uint_flag(name, value, 0, UINT32_MAX, &vm->vcpus, err);
	} else if (strcmp(name, "memory") == 0) {
		if (parse_uint_flag(name, value, 0, (uint64_t)1 << 43, &number, err) != 0)
			return -1;
		vm->memory_bytes = number << 20;
	} else if (strcmp(name, "bootloader") == 0) {
		struct component bootloader;
		bool help;
		if (*bootloader_flag_seen)
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
		*bootloader_flag_seen = true;
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
		legacy->kernel = value;
	} else if (strcmp(name, "initrd") == 0) {
		legacy->initrd = value;
	} else if (strcmp(name, "kernel-cmdline") == 0) {
		legacy->cmdline = value;
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
		vm->gui = true;
	} else if (strcmp(name, "timesync") == 0) {
		return parse_timesync(value, vm, err);
	} else if (strcmp(name, "ignition") == 0) {
		if (value[0] == '\0' || strchr(value, ',') != NULL)
			return vzk_usage_error(err, "--ignition: needs exactly one path");
		if (!text_is_utf8(value))
			return vzk_usage_error(err, "--ignition: the path is not valid UTF-8");
		free(vm->ignition_path);
		if ((vm->ignition_path = strdup(value)) == NULL)
			return vzk_runtime_error(err, "out of memory");
	} else if (strcmp(name, "cloud-init") == 0) {
		return parse_cloud_init(value, vm, err);
	} else if (strcmp(name, "nested") == 0) {
		vm->nested = true;
	} else if (strcmp(name, "pidfile") == 0) {
		if (value[0] == '\0')
			return vzk_usage_error(err, "--pidfile: needs a path");
		free(options->pidfile);
		if ((options->pidfile = strdup(value)) == NULL)
			return vzk_runtime_error(err, "out of memory");
	} else if (strcmp(name, "dry-run") == 0) {
		if (value == NULL || strcmp(value, "json") == 0)
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
		options->show_version = true;
	} else if (strcmp(name, "help") == 0) {
		options->show_help = true;
	}
	return 0;
}

int args_parse(int argc, char **argv, struct vm_description *vm, struct run_options *options,
	       struct vzk_error *err)
{
	struct option long_options[FLAG_COUNT + 1];
	char short_options[2 * FLAG_COUNT + 2];
	struct legacy_boot legacy = {0};
	bool bootloader_flag_seen = false;
	const char *config_path = NULL, *vm_flag = NULL;
	int code;

	memset(options, 0, sizeof(*options));
	options->log_level = LOG_LEVEL_INFO;
	build_getopt_tables(long_options, short_options + 1);
	short_options[0] = ':'; /* report a missing value as ':' */
	opterr = 0;

	/* First pass: find --config, so the file is the base the flags add to. */
	optind = 0;
	while ((code = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		const struct flag_spec *flag = flag_for(code);
		if (flag != NULL && strcmp(flag->long_name, "config") == 0)
			config_path = optarg;
	}
	if (config_path != NULL && load_config_file(config_path, vm, err) != 0)
		return -1;

	optind = 0;
	while ((code = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		const struct flag_spec *flag;
		if (code == '?') {
			/* getopt_long sets optopt to the flag's code when a flag that
			 * takes no value was given one (--nested=yes), to the letter
			 * for an unknown short flag, and to 0 for an unknown long one. */
			const struct flag_spec *known = optopt != 0 ? flag_for(optopt) : NULL;
			if (known != NULL && strncmp(argv[optind - 1], "--", 2) == 0)
				return vzk_usage_error(err, "--%s takes no value (got '%s')", known->long_name,
						       argv[optind - 1]);
			if (known == NULL && optopt > ' ' && optopt < 127)
				return vzk_usage_error(err, "unknown flag -%c (see --help)", optopt);
			return vzk_usage_error(err, "unknown flag %s (see --help)", argv[optind - 1]);
		}
		if (code == ':')
			return vzk_usage_error(err, "%s needs a value", argv[optind - 1]);
		flag = flag_for(code);
		if (flag == NULL)
			return vzk_usage_error(err, "unknown flag (see --help)");
		if (apply_flag(flag->long_name, optarg, vm, options, &legacy, &bootloader_flag_seen, err) != 0)
			return -1;
		if (vm_flag == NULL && strcmp(flag->long_name, "fetch") != 0 && strcmp(flag->long_name, "log-level") != 0)
			vm_flag = flag->long_name;
	}
	if (options->fetch.url != NULL && vm_flag != NULL)
		return vzk_usage_error(err, "--fetch runs alone; it cannot be combined with --%s", vm_flag);
	if (optind < argc)
		return vzk_usage_error(err, "unexpected argument '%s' (flags only; see --help)", argv[optind]);
	if (legacy.kernel != NULL || legacy.initrd != NULL || legacy.cmdline != NULL) {
		if (bootloader_flag_seen)
			return vzk_usage_error(err, "--kernel/--initrd/--kernel-cmdline cannot be used with --bootloader");
		if (vm->has_bootloader)
			component_free(&vm->bootloader);
		vm->has_bootloader = false;
		if (linux_bootloader_from_legacy(legacy.kernel, legacy.initrd, legacy.cmdline, &vm->bootloader, err) != 0)
			return -1;
		vm->has_bootloader = true;
	}
	return 0;
}

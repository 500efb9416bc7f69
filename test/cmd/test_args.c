/* cmd/args.c: the top-level flags, --config FILE (loaded first, the other
 * flags add to it), every --config error, --gui's implied devices and the
 * help text against the flag table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/output.h"
#include "devices/registry.h"
#include "test/testlib.h"
#include "vz/vz.h"

#define MAX_ARGS 64

struct parsed {
	int status;
	struct vm_description vm;
	struct run_options options;
	struct vzk_error err;
};

static void parse_list(struct parsed *out, const char *const *args)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = strdup("vzkit");
	for (size_t i = 0; args[i] != NULL && argc <= MAX_ARGS; i++)
		argv[argc++] = strdup(args[i]);
	argv[argc] = NULL;
	memset(out, 0, sizeof(*out));
	vm_description_init(&out->vm);
	out->status = args_parse(argc, argv, &out->vm, &out->options, &out->err);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void parsed_free(struct parsed *p)
{
	vm_description_free(&p->vm);
	run_options_free(&p->options);
}

static char *vm_json(const struct vm_description *vm)
{
	return output_vm_json(vm);
}

static char config_dir[64];

/* Writes `text` to a file in the scratch folder; returns its path. */
static const char *config_file(const char *name, const char *text)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];
	FILE *out;

	snprintf(path, 256, "%s/%s", config_dir, name);
	out = fopen(path, "w");
	if (out != NULL) {
		fputs(text, out);
		fclose(out);
	}
	return path;
}

static void expect_error(const char *name, const char *want, const char *const *args)
{
	struct parsed p;

	parse_list(&p, args);
	CHECK_NAMED(name, p.status == -1 && p.err.kind == VZK_ERR_USAGE && strstr(p.err.message, want) != NULL,
		    "status %d kind %d message '%s' (want '%s')", p.status, p.err.kind, p.err.message, want);
	parsed_free(&p);
}

static void expect_config_error(const char *name, const char *want, const char *json)
{
	const char *path = config_file("bad.json", json);
	expect_error(name, want, ARGS("--config", path));
}

static const char base_config[] =
	"{\"vcpus\":2,\"memoryBytes\":1073741824,"
	"\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\",\"kernelCmdLine\":\"quiet\"},"
	"\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":\"/d\"},{\"kind\":\"virtiorng\"}],"
	"\"timesync\":{\"vsockPort\":1234}}";

static void test_config(void)
{
	struct parsed p;
	char *json;
	const char *path = config_file("base.json", base_config);

	TEST_CASE("--config loads the file");
	parse_list(&p, ARGS("--config", path));
	CHECK(p.status == 0);
	json = vm_json(&p.vm);
	CHECK_STR(json, "{\"vcpus\":2,\"memoryBytes\":1073741824,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\","
			"\"kernelCmdLine\":\"quiet\"},\"devices\":[{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\",\"imagePath\":\"/d\","
			"\"readOnly\":false},{\"kind\":\"virtiorng\"}],\"timesync\":{\"vsockPort\":1234}}");
	free(json);
	parsed_free(&p);

	TEST_CASE("--config then flags: cpus overridden, devices appended, the rest kept");
	parse_list(&p, ARGS("--config", path, "--cpus", "4", "--device", "virtio-balloon", "--device", "virtio-net,nat"));
	CHECK(p.status == 0);
	CHECK(p.vm.vcpus == 4);
	CHECK(p.vm.memory_bytes == 1073741824);
	CHECK(p.vm.device_count == 4);
	CHECK(p.vm.device_count == 4 && p.vm.devices[0].ops == &virtio_blk_device && p.vm.devices[1].ops == &virtio_rng_device &&
	      p.vm.devices[2].ops == &virtio_balloon_device && p.vm.devices[3].ops == &virtio_net_device);
	CHECK(p.vm.timesync_vsock_port == 1234);
	parsed_free(&p);

	TEST_CASE("--config is the base wherever it stands");
	parse_list(&p, ARGS("--memory", "4096", "--device", "virtio-balloon", "--config", path));
	CHECK(p.status == 0);
	CHECK(p.vm.memory_bytes == 4096ull << 20);
	CHECK(p.vm.vcpus == 2);
	CHECK(p.vm.device_count == 3 && p.vm.devices[2].ops == &virtio_balloon_device);
	parsed_free(&p);

	TEST_CASE("--config: --bootloader replaces the file's");
	parse_list(&p, ARGS("--config", path, "--bootloader", "efi,variable-store=/v"));
	CHECK(p.status == 0 && p.vm.has_bootloader && strcmp(p.vm.bootloader.ops->name, "efi") == 0);
	parsed_free(&p);
	TEST_CASE("--config: the deprecated kernel flags replace the file's bootloader");
	parse_list(&p, ARGS("--config", path, "--kernel", "/k2", "--initrd", "/i2", "--kernel-cmdline", "x"));
	CHECK(p.status == 0 && p.vm.has_bootloader);
	json = vm_json(&p.vm);
	CHECK(json != NULL && strstr(json, "\"vmlinuzPath\":\"/k2\"") != NULL && strstr(json, "\"initrdPath\":\"/i2\"") != NULL);
	free(json);
	parsed_free(&p);
	TEST_CASE("--config: --timesync replaces the file's port");
	parse_list(&p, ARGS("--config", path, "--timesync", "vsockPort=77"));
	CHECK(p.status == 0 && p.vm.timesync_vsock_port == 77);
	parsed_free(&p);

	TEST_CASE("--config: the loaded VM validates like flags");
	parse_list(&p, ARGS("--config", config_file("cpu0.json", "{\"vcpus\":0,\"bootloader\":{\"kind\":\"efiBootloader\","
								  "\"efiVariableStorePath\":\"/v\"}}")));
	CHECK(p.status == 0);
	{
		struct vz_vm_configuration vz;
		struct vzk_error err = {0};
		CHECK(vm_description_to_vz(&p.vm, &vz, &err) == -1 && strstr(err.message, "--cpus: 0 is out of range") != NULL);
	}
	parsed_free(&p);
	TEST_CASE("--config: usesGUI in the file means --gui");
	parse_list(&p, ARGS("--config", config_file("gui.json", "{\"devices\":[{\"kind\":\"virtiogpu\",\"width\":10,\"height\":20,"
								  "\"usesGUI\":true}]}")));
	CHECK(p.status == 0 && p.vm.gui);
	parsed_free(&p);
	TEST_CASE("--config: field names match whatever their case, as Go's encoding/json does (vfkit)");
	parse_list(&p, ARGS("--config", config_file("case.json", "{\"VCPUS\":3,\"MemoryBytes\":1073741824,"
								 "\"Timesync\":{\"VSOCKPORT\":4321}}")));
	CHECK_NAMED(testlib_case, p.status == 0 && p.vm.vcpus == 3 && p.vm.memory_bytes == 1073741824 &&
				     p.vm.timesync_vsock_port == 4321,
		    "status %d vcpus %llu timesync port %u", p.status, (unsigned long long)p.vm.vcpus,
		    (unsigned)p.vm.timesync_vsock_port);
	parsed_free(&p);

	TEST_CASE("--config: null timesync and ignition are absent");
	parse_list(&p, ARGS("--config", config_file("null.json", "{\"timesync\":null,\"ignition\":null}")));
	CHECK(p.status == 0 && p.vm.timesync_vsock_port == 0 && p.vm.ignition_path == NULL);
	parsed_free(&p);
	TEST_CASE("--config: an empty object is the default VM");
	parse_list(&p, ARGS("--config", config_file("empty.json", "{}")));
	CHECK(p.status == 0 && p.vm.vcpus == 1 && p.vm.memory_bytes == 512ull << 20 && !p.vm.has_bootloader);
	parsed_free(&p);

	expect_error("--config: missing file", "--config: ", ARGS("--config", "/nonexistent/vm.json"));
	expect_error("--config: missing file names it", "/nonexistent/vm.json", ARGS("--config", "/nonexistent/vm.json"));
	expect_config_error("--config: not JSON", "line 1", "{\"vcpus\":");
	expect_config_error("--config: trailing garbage", "--config: ", "{} x");
	expect_config_error("--config: duplicate field", "duplicate", "{\"vcpus\":1,\"vcpus\":2}");
	expect_config_error("--config: not an object", "--config: the file must hold one JSON object", "[1,2]");
	expect_config_error("--config: unknown field", "--config: unknown field 'bogus'", "{\"bogus\":1}");
	expect_config_error("--config: vcpus a string", "--config: \"vcpus\" must be an integer from 0 to 4294967295",
			    "{\"vcpus\":\"2\"}");
	expect_config_error("--config: vcpus negative", "\"vcpus\" must be an integer", "{\"vcpus\":-1}");
	expect_config_error("--config: vcpus too big", "\"vcpus\" must be an integer", "{\"vcpus\":4294967296}");
	expect_config_error("--config: memoryBytes a float", "\"memoryBytes\" must be an integer", "{\"memoryBytes\":1.5}");
	expect_config_error("--config: nested not a boolean", "--config: \"nested\" must be true or false", "{\"nested\":1}");
	expect_config_error("--config: devices not an array", "--config: \"devices\" must be an array", "{\"devices\":{}}");
	expect_config_error("--config: device not an object", "--config: devices[0]: must be a JSON object", "{\"devices\":[1]}");
	expect_config_error("--config: device without kind", "--config: devices[0]: missing \"kind\"",
			    "{\"devices\":[{\"imagePath\":\"/d\"}]}");
	expect_config_error("--config: unknown device kind", "--config: devices[1]: unknown kind 'floppy'",
			    "{\"devices\":[{\"kind\":\"virtiorng\"},{\"kind\":\"floppy\"}]}");
	expect_config_error("--config: device kinds are exact", "unknown kind 'VirtioBlk'",
			    "{\"devices\":[{\"kind\":\"VirtioBlk\",\"imagePath\":\"/d\"}]}");
	expect_config_error("--config: unknown device field", "--config: devices[0] (virtioblk): unknown field 'capacity'",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":\"/d\",\"capacity\":1}]}");
	expect_config_error("--config: size (a vzkit field) is a string", "--config: devices[0] (virtioblk): field 'size' must be a string",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":\"/d\",\"size\":1}]}");
	expect_config_error("--config: missing required device field", "--config: devices[0] (virtioblk): missing field 'imagePath'",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"readOnly\":true}]}");
	expect_config_error("--config: empty required string is missing", "missing field 'imagePath'",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":\"\"}]}");
	expect_config_error("--config: string field of the wrong type", "(virtioblk): field 'imagePath' must be a string",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":7}]}");
	expect_config_error("--config: boolean field of the wrong type", "(virtioblk): field 'readOnly' must be true or false",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":\"/d\",\"readOnly\":\"yes\"}]}");
	expect_config_error("--config: unknown enum value", "(virtioblk): field 'type' has an unknown value",
			    "{\"devices\":[{\"kind\":\"virtioblk\",\"imagePath\":\"/d\",\"type\":\"qcow2\"}]}");
	expect_config_error("--config: number out of range", "(virtiogpu): field 'width' must be an integer from 1 to 16384",
			    "{\"devices\":[{\"kind\":\"virtiogpu\",\"width\":0}]}");
	expect_config_error("--config: number of the wrong type", "(virtiosock): field 'port' must be an integer",
			    "{\"devices\":[{\"kind\":\"virtiosock\",\"port\":\"1025\",\"socketURL\":\"/s\"}]}");
	expect_config_error("--config: vsock listen not a boolean", "(virtiosock): field 'listen' must be true or false",
			    "{\"devices\":[{\"kind\":\"virtiosock\",\"port\":1,\"socketURL\":\"/s\",\"listen\":1}]}");
	expect_config_error("--config: usesGUI not a boolean", "(virtiogpu): field 'usesGUI' must be true or false",
			    "{\"devices\":[{\"kind\":\"virtiogpu\",\"usesGUI\":\"yes\"}]}");
	expect_config_error("--config: bad inputType", "(virtioinput): field 'inputType' must be \"keyboard\" or \"pointing\"",
			    "{\"devices\":[{\"kind\":\"virtioinput\",\"inputType\":\"mouse\"}]}");
	expect_config_error("--config: device rules apply", "(virtionet): needs exactly one of nat",
			    "{\"devices\":[{\"kind\":\"virtionet\",\"nat\":true,\"unixSocketPath\":\"/s\"}]}");
	expect_config_error("--config: a bad MAC", "(virtionet): mac 'xx' is not a MAC address",
			    "{\"devices\":[{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":\"xx\"}]}");
	expect_config_error("--config: nbd timeout not whole milliseconds", "(nbd): field 'timeout' must be nanoseconds, a whole number of milliseconds",
			    "{\"devices\":[{\"kind\":\"nbd\",\"uri\":\"nbd://h/e\",\"timeout\":1500}]}");
	expect_config_error("--config: nbd timeout zero", "(nbd): field 'timeout' must be nanoseconds",
			    "{\"devices\":[{\"kind\":\"nbd\",\"uri\":\"nbd://h/e\",\"timeout\":0}]}");
	expect_config_error("--config: nbd timeout over a day", "(nbd): field 'timeout' must be nanoseconds",
			    "{\"devices\":[{\"kind\":\"nbd\",\"uri\":\"nbd://h/e\",\"timeout\":86401000000000}]}");
	expect_config_error("--config: an inherited socket cannot be loaded", "(virtionet): field 'Socket' (an inherited fd) cannot be loaded",
			    "{\"devices\":[{\"kind\":\"virtionet\",\"Socket\":{}}]}");
	expect_config_error("--config: macAddress not a string", "(virtionet): field 'macAddress' must be a string",
			    "{\"devices\":[{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":525400123456}]}");
	expect_config_error("--config: base64 MAC of a multicast address", "is a multicast address",
			    "{\"devices\":[{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":\"AQBeAAAB\"}]}");
	expect_config_error("--config: unknown bootloader kind", "--config: bootloader: unknown kind 'biosBootloader'",
			    "{\"bootloader\":{\"kind\":\"biosBootloader\"}}");
	expect_config_error("--config: bootloader missing field", "--config: bootloader (linuxBootloader): missing field 'vmlinuzPath'",
			    "{\"bootloader\":{\"kind\":\"linuxBootloader\",\"initrdPath\":\"/i\"}}");
	expect_config_error("--config: bootloader unknown field", "--config: bootloader (efiBootloader): unknown field 'secureBoot'",
			    "{\"bootloader\":{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/v\",\"secureBoot\":true}}");
	expect_config_error("--config: a device kind as bootloader", "--config: bootloader: unknown kind 'virtioblk'",
			    "{\"bootloader\":{\"kind\":\"virtioblk\",\"imagePath\":\"/d\"}}");
	expect_config_error("--config: timesync not an object", "--config: \"timesync\" must be an object", "{\"timesync\":1234}");
	expect_config_error("--config: timesync unknown field", "--config: timesync: unknown field 'port'",
			    "{\"timesync\":{\"port\":1}}");
	expect_config_error("--config: timesync port 0", "timesync.vsockPort\" must be an integer from 1", "{\"timesync\":{\"vsockPort\":0}}");
	expect_config_error("--config: timesync empty", "--config: timesync needs \"vsockPort\"", "{\"timesync\":{}}");
	expect_config_error("--config: ignition without configPath", "--config: \"ignition\" needs a \"configPath\" string",
			    "{\"ignition\":{\"kind\":\"ignition\"}}");
	expect_config_error("--config: ignition not an object", "needs a \"configPath\" string", "{\"ignition\":\"/i\"}");
	expect_config_error("--config: cloudInit not an array", "--config: \"cloudInit\" must be an array of paths", "{\"cloudInit\":\"/u\"}");
	expect_config_error("--config: cloudInit item empty", "--config: cloudInit[1] must be a path", "{\"cloudInit\":[\"/u\",\"\"]}");
}

static void test_flags(void)
{
	struct parsed p;

	TEST_CASE("defaults");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k"));
	CHECK(p.status == 0);
	CHECK(p.vm.vcpus == 1 && p.vm.memory_bytes == 512ull << 20);
	CHECK(p.options.rest_uri.kind == REST_URI_NONE);
	CHECK(p.options.log_level == LOG_LEVEL_INFO);
	CHECK(p.options.dry_run == DRY_RUN_NONE);
	CHECK(p.options.accel == ENGINE_ACCEL_AUTO);
	CHECK(p.options.pidfile == NULL);
	CHECK(!p.vm.gui && !p.vm.nested && p.vm.device_count == 0);
	parsed_free(&p);

	TEST_CASE("every run option");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--restful-uri", "tcp://localhost:8081", "--log-level", "debug",
			    "--pidfile", "/run/vzkit.pid", "--dry-run=cmdline", "--accel", "tcg", "--nested", "--gui"));
	CHECK(p.status == 0);
	CHECK(p.options.rest_uri.kind == REST_URI_TCP && p.options.rest_uri.port == 8081);
	CHECK(p.options.log_level == LOG_LEVEL_DEBUG);
	CHECK_STR(p.options.pidfile, "/run/vzkit.pid");
	CHECK(p.options.dry_run == DRY_RUN_CMDLINE);
	CHECK(p.options.accel == ENGINE_ACCEL_TCG);
	CHECK(p.vm.nested && p.vm.gui);
	parsed_free(&p);
	TEST_CASE("--dry-run forms");
	parse_list(&p, ARGS("--dry-run"));
	CHECK(p.status == 0 && p.options.dry_run == DRY_RUN_JSON);
	parsed_free(&p);
	parse_list(&p, ARGS("--dry-run=json"));
	CHECK(p.status == 0 && p.options.dry_run == DRY_RUN_JSON);
	parsed_free(&p);
	parse_list(&p, ARGS("--dry-run=qemu"));
	CHECK(p.status == 0 && p.options.dry_run == DRY_RUN_PLAN);
	parsed_free(&p);
	parse_list(&p, ARGS("--dry-run=plan"));
	CHECK(p.status == 0 && p.options.dry_run == DRY_RUN_PLAN);
	parsed_free(&p);
	TEST_CASE("--log-level and --accel values");
	parse_list(&p, ARGS("--log-level", "error", "--accel", "kvm"));
	CHECK(p.status == 0 && p.options.log_level == LOG_LEVEL_ERROR && p.options.accel == ENGINE_ACCEL_KVM);
	parsed_free(&p);
	parse_list(&p, ARGS("--log-level=info", "--accel=auto", "--restful-uri=unix:///run/v.sock"));
	CHECK(p.status == 0 && p.options.log_level == LOG_LEVEL_INFO && p.options.accel == ENGINE_ACCEL_AUTO &&
	      p.options.rest_uri.kind == REST_URI_UNIX && strcmp(p.options.rest_uri.path, "/run/v.sock") == 0);
	parsed_free(&p);
	TEST_CASE("help, version, device and bootloader lists");
	parse_list(&p, ARGS("--help"));
	CHECK(p.status == 0 && p.options.show_help);
	parsed_free(&p);
	parse_list(&p, ARGS("-h"));
	CHECK(p.status == 0 && p.options.show_help);
	parsed_free(&p);
	parse_list(&p, ARGS("--version"));
	CHECK(p.status == 0 && p.options.show_version);
	parsed_free(&p);
	parse_list(&p, ARGS("-v"));
	CHECK(p.status == 0 && p.options.show_version);
	parsed_free(&p);
	parse_list(&p, ARGS("--device", "help"));
	CHECK(p.status == 0 && p.options.list_devices && p.vm.device_count == 0);
	parsed_free(&p);
	parse_list(&p, ARGS("-d", "virtio-fs,help"));
	CHECK(p.status == 0 && p.options.help_component == &virtio_fs_device);
	parsed_free(&p);
	TEST_CASE("--cloud-init keeps the paths in order");
	parse_list(&p, ARGS("--cloud-init", "/c/user-data,/c/meta-data,/c/network-config,/c/vendor-data"));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 4);
	CHECK(p.vm.cloud_init_count == 4 && strcmp(p.vm.cloud_init_paths[0], "/c/user-data") == 0 &&
	      strcmp(p.vm.cloud_init_paths[3], "/c/vendor-data") == 0);
	parsed_free(&p);
	parse_list(&p, ARGS("--cloud-init", "meta-data,user-data"));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 2);
	parsed_free(&p);
	TEST_CASE("--ignition");
	parse_list(&p, ARGS("--ignition", "/vm/config.ign"));
	CHECK(p.status == 0);
	CHECK_STR(p.vm.ignition_path, "/vm/config.ign");
	parsed_free(&p);
	TEST_CASE("--memory is MiB");
	parse_list(&p, ARGS("--memory", "8192"));
	CHECK(p.status == 0 && p.vm.memory_bytes == 8192ull << 20);
	parsed_free(&p);

	expect_error("flag error: unknown long flag", "unknown flag --bogus (see --help)", ARGS("--bogus"));
	expect_error("flag error: unknown short flag", "unknown flag -x (see --help)", ARGS("-x"));
	expect_error("flag error: missing value", "--cpus needs a value", ARGS("--cpus"));
	expect_error("flag error: missing value (short)", "needs a value", ARGS("-d"));
	expect_error("flag error: a bool flag's value is Go's ParseBool", "--nested: 'yes' is not a boolean", ARGS("--nested=yes"));
	expect_error("flag error: ParseBool is case-exact", "--gui: 'tRue' is not a boolean", ARGS("--gui=tRue"));
	expect_error("flag error: an empty bool value", "--gui: '' is not a boolean", ARGS("--gui="));
	expect_error("flag error: a bool shorthand's value", "--nested: 'no' is not a boolean", ARGS("-n=no"));
	expect_error("flag error: long names are exact, not prefixes", "unknown flag --cpu (see --help)", ARGS("--cpu", "2"));
	expect_error("flag error: a long name with its value is matched exactly", "unknown flag --mem (see --help)",
		     ARGS("--mem=1024"));
	expect_error("flag error: three dashes", "bad flag syntax: ---cpus", ARGS("---cpus", "2"));
	expect_error("flag error: --=value", "bad flag syntax: --=x", ARGS("--=x"));
	expect_error("flag error: a shorthand's missing value", "-c needs a value", ARGS("-c"));
	expect_error("flag error: a cluster's last shorthand without its value", "-c needs a value", ARGS("-nc"));
	expect_error("flag error: unknown shorthand after a known one", "unknown flag -z", ARGS("-nz"));
	expect_error("flag error: unknown short flag in a cluster", "unknown flag -q (see --help)", ARGS("-vq"));
	expect_error("flag error: ambiguous abbreviation", "unknown flag --c", ARGS("--c", "1"));
	expect_error("flag error: --cpus not a number", "--cpus: 'two' is not a number from 0 to 4294967295", ARGS("--cpus", "two"));
	expect_error("flag error: --cpus negative", "--cpus: '-1' is not a number", ARGS("--cpus=-1"));
	expect_error("flag error: --cpus too big", "--cpus: '4294967296' is not a number", ARGS("--cpus", "4294967296"));
	expect_error("flag error: --memory with a unit", "--memory: '2G' is not a number", ARGS("--memory", "2G"));
	expect_error("flag error: --memory too big", "--memory: '8796093022209' is not a number", ARGS("--memory", "8796093022209"));
	expect_error("flag error: --log-level", "--log-level: 'trace' is not one of debug, info, error", ARGS("--log-level", "trace"));
	expect_error("flag error: --accel", "--accel: 'hvf' is not one of auto, kvm, tcg", ARGS("--accel", "hvf"));
	expect_error("flag error: --dry-run", "--dry-run: 'yaml' is not one of json, cmdline, qemu, plan", ARGS("--dry-run=yaml"));
	expect_error("flag error: --restful-uri", "--restful-uri: unknown scheme", ARGS("--restful-uri", "ftp://x"));
	expect_error("flag error: --pidfile empty", "--pidfile: needs a path", ARGS("--pidfile", ""));
	expect_error("flag error: --timesync without a port", "--timesync: needs vsockPort=N", ARGS("--timesync", ","));
	expect_error("flag error: --timesync unknown key", "--timesync: unknown key 'port' (valid keys: vsockPort)",
		     ARGS("--timesync", "port=1"));
	expect_error("flag error: --timesync port 0", "--timesync: vsockPort needs a number from 1 to 4294967295",
		     ARGS("--timesync", "vsockPort=0"));
	expect_error("flag error: --timesync bare key", "--timesync: vsockPort needs a number", ARGS("--timesync", "vsockPort"));
	expect_error("flag error: --ignition two paths", "--ignition: needs exactly one path", ARGS("--ignition", "/a,/b"));
	expect_error("flag error: --ignition not UTF-8", "--ignition: the path is not valid UTF-8", ARGS("--ignition", "/a\xff.ign"));
	expect_error("flag error: --cloud-init not UTF-8", "--cloud-init: the paths are not valid UTF-8",
		     ARGS("--cloud-init", "/\xff/user-data,/c/meta-data"));
	expect_error("flag error: --device path not UTF-8", "--device virtio-blk: key 'path' is not valid UTF-8",
		     ARGS("--device", "virtio-blk,path=/d\xfe.img"));
	expect_error("flag error: --cloud-init without user-data or meta-data (vfkit's words: needs user-data and meta-data)",
		     "--cloud-init: needs a user-data or a meta-data file", ARGS("--cloud-init", "/c/network-config,/c/vendor-data"));
	expect_error("flag error: --cloud-init of other names only", "--cloud-init: needs a user-data or a meta-data file",
		     ARGS("--cloud-init", "/c/userdata"));
	expect_error("flag error: --cloud-init only commas and a network-config", "--cloud-init: needs a user-data or a meta-data file",
		     ARGS("--cloud-init", ",,/c/network-config"));
	expect_error("flag error: --cloud-init unbalanced quote", "--cloud-init: unbalanced double quote",
		     ARGS("--cloud-init", "\"/a/user-data,/a/meta-data"));
	expect_error("flag error: --device bad", "--device virtio-blk: missing required key 'path'", ARGS("--device", "virtio-blk"));
	expect_error("flag error: --device unknown type", "--device: unknown type 'floppy' (known: nbd,", ARGS("--device", "floppy"));
}


/* pflag's reading of the command line, as vfkit's cobra does it. */
static void test_pflag_syntax(void)
{
	struct parsed p;

	TEST_CASE("-t is --timesync, -n is --nested");
	parse_list(&p, ARGS("-t", "vsockPort=1234", "-n"));
	CHECK(p.status == 0 && p.vm.timesync_vsock_port == 1234 && p.vm.nested);
	parsed_free(&p);
	TEST_CASE("a cluster: -nc4 is -n -c 4");
	parse_list(&p, ARGS("-nc4"));
	CHECK(p.status == 0 && p.vm.nested && p.vm.vcpus == 4);
	parsed_free(&p);
	TEST_CASE("a cluster whose last shorthand takes the next argument: -nc 3");
	parse_list(&p, ARGS("-nc", "3"));
	CHECK(p.status == 0 && p.vm.nested && p.vm.vcpus == 3);
	parsed_free(&p);
	TEST_CASE("shorthand values: -c=2, -m2048, -d VALUE");
	parse_list(&p, ARGS("-c=2", "-m2048", "-d", "virtio-rng"));
	CHECK(p.status == 0 && p.vm.vcpus == 2 && p.vm.memory_bytes == 2048ull << 20 && p.vm.device_count == 1);
	parsed_free(&p);
	TEST_CASE("-tvsockPort=9: the rest of the word is the value");
	parse_list(&p, ARGS("-tvsockPort=9"));
	CHECK(p.status == 0 && p.vm.timesync_vsock_port == 9);
	parsed_free(&p);
	TEST_CASE("a value may start with a dash");
	parse_list(&p, ARGS("--kernel", "/k", "--initrd", "/i", "--kernel-cmdline", "-quiet"));
	CHECK(p.status == 0 && p.vm.has_bootloader);
	{
		char *json = vm_json(&p.vm);
		CHECK(json != NULL && strstr(json, "\"kernelCmdLine\":\"-quiet\"") != NULL);
		free(json);
	}
	parsed_free(&p);

	TEST_CASE("bool flags take Go's ParseBool forms");
	{
		static const char *const true_forms[] = {"1", "t", "T", "TRUE", "true", "True"};
		static const char *const false_forms[] = {"0", "f", "F", "FALSE", "false", "False"};
		for (size_t i = 0; i < 6; i++) {
			char on[32], off[32], name[64];
			snprintf(on, sizeof(on), "--nested=%s", true_forms[i]);
			snprintf(off, sizeof(off), "--gui=%s", false_forms[i]);
			parse_list(&p, ARGS("--gui", on, off));
			snprintf(name, sizeof(name), "--nested=%s --gui=%s", true_forms[i], false_forms[i]);
			CHECK_NAMED(name, p.status == 0 && p.vm.nested && !p.vm.gui, "status %d: %s", p.status, p.err.message);
			parsed_free(&p);
		}
	}
	TEST_CASE("--version=false and --help=0 ask for nothing");
	parse_list(&p, ARGS("--version=false", "--help=0", "-v=f"));
	CHECK(p.status == 0 && !p.options.show_version && !p.options.show_help);
	parsed_free(&p);
	TEST_CASE("--version=1 and -h=T ask");
	parse_list(&p, ARGS("--version=1", "-h=T"));
	CHECK(p.status == 0 && p.options.show_version && p.options.show_help);
	parsed_free(&p);

	TEST_CASE("a word that is not a flag is ignored with a warning");
	parse_list(&p, ARGS("--cpus", "2", "extra", "--gui", "false"));
	CHECK(p.status == 0 && p.vm.vcpus == 2 && p.vm.gui);
	CHECK_STR(p.options.warnings, "vzkit: warning: ignoring 'extra': not a flag (vfkit takes flags only)\n"
				      "vzkit: warning: ignoring 'false': not a flag (vfkit takes flags only)\n");
	parsed_free(&p);
	TEST_CASE("a lone dash is a word, not a flag");
	parse_list(&p, ARGS("-", "-c", "3"));
	CHECK(p.status == 0 && p.vm.vcpus == 3 && p.options.warnings != NULL && strstr(p.options.warnings, "ignoring '-'") != NULL);
	parsed_free(&p);
	TEST_CASE("-- ends the flags; what follows is ignored");
	parse_list(&p, ARGS("--cpus", "2", "--", "--cpus", "9", "--bogus"));
	CHECK(p.status == 0 && p.vm.vcpus == 2);
	CHECK_STR(p.options.warnings, "vzkit: warning: ignoring '--cpus' after --: vfkit takes flags only\n"
				      "vzkit: warning: ignoring '9' after --: vfkit takes flags only\n"
				      "vzkit: warning: ignoring '--bogus' after --: vfkit takes flags only\n");
	parsed_free(&p);
	TEST_CASE("no warnings: warnings stay NULL");
	parse_list(&p, ARGS("--cpus", "2"));
	CHECK(p.status == 0 && p.options.warnings == NULL);
	parsed_free(&p);

	TEST_CASE("empty values mean off: --timesync \"\", --ignition \"\", --cloud-init \"\"");
	parse_list(&p, ARGS("--timesync", "vsockPort=5", "--timesync", "", "--ignition", "/i.ign", "--ignition", "",
			    "--cloud-init", ""));
	CHECK(p.status == 0 && p.vm.timesync_vsock_port == 0 && p.vm.ignition_path == NULL && p.vm.cloud_init_count == 0);
	parsed_free(&p);
	TEST_CASE("an empty --timesync turns off the --config file's");
	parse_list(&p, ARGS("--config", config_file("ts.json", "{\"timesync\":{\"vsockPort\":77}}"), "--timesync", ""));
	CHECK(p.status == 0 && p.vm.timesync_vsock_port == 0);
	parsed_free(&p);
	TEST_CASE("repeated --cloud-init lists add up");
	parse_list(&p, ARGS("--cloud-init", "/c/user-data", "--cloud-init", "/c/meta-data,/c/network-config", "--cloud-init", ""));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 3);
	CHECK(p.vm.cloud_init_count == 3 && strcmp(p.vm.cloud_init_paths[0], "/c/user-data") == 0 &&
	      strcmp(p.vm.cloud_init_paths[1], "/c/meta-data") == 0 && strcmp(p.vm.cloud_init_paths[2], "/c/network-config") == 0);
	parsed_free(&p);
	TEST_CASE("--cloud-init: a wholly quoted element loses its quotes; a quoted comma stays");
	parse_list(&p, ARGS("--cloud-init", "\"/p/user-data\",\"/a,b/meta-data\""));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 2);
	CHECK(p.vm.cloud_init_count == 2 && strcmp(p.vm.cloud_init_paths[0], "/p/user-data") == 0 &&
	      strcmp(p.vm.cloud_init_paths[1], "/a,b/meta-data") == 0);
	parsed_free(&p);
	TEST_CASE("--cloud-init: user-data alone is enough (the disk gets an empty meta-data, as vfkit's)");
	parse_list(&p, ARGS("--cloud-init", "/c/user-data"));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 1 && p.options.warnings == NULL);
	parsed_free(&p);
	TEST_CASE("--cloud-init: another name is left out with a warning, as vfkit leaves it out");
	parse_list(&p, ARGS("--cloud-init", "/c/userdata,/c/meta-data"));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 1 && strcmp(p.vm.cloud_init_paths[0], "/c/meta-data") == 0);
	CHECK_STR(p.options.warnings, "vzkit: warning: --cloud-init: ignoring '/c/userdata': NoCloud reads only user-data, "
				      "meta-data, network-config and vendor-data\n");
	parsed_free(&p);
	TEST_CASE("--cloud-init: of a name given twice the last counts, with a warning (repeated lists add up)");
	parse_list(&p, ARGS("--cloud-init", "/a/user-data,/a/meta-data", "--cloud-init", "/b/user-data"));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 2 && strcmp(p.vm.cloud_init_paths[0], "/a/meta-data") == 0 &&
	      strcmp(p.vm.cloud_init_paths[1], "/b/user-data") == 0);
	CHECK_STR(p.options.warnings, "vzkit: warning: --cloud-init: user-data is given more than once; '/a/user-data' is not "
				      "used, the last one is\n");
	parsed_free(&p);
	TEST_CASE("--cloud-init: the first flag replaces the --config file's list, later ones add");
	parse_list(&p, ARGS("--config", config_file("ci.json", "{\"cloudInit\":[\"/old/user-data\",\"/old/meta-data\"]}"),
			    "--cloud-init", "/new/user-data", "--cloud-init", "/new/meta-data"));
	CHECK(p.status == 0 && p.vm.cloud_init_count == 2 && strcmp(p.vm.cloud_init_paths[0], "/new/user-data") == 0);
	parsed_free(&p);
	TEST_CASE("cmdline=\"\"a\"\": every outer quote goes (vfkit's TrimQuotes)");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k,cmdline=\"\"console=hvc0 quiet\"\""));
	CHECK(p.status == 0);
	{
		char *json = vm_json(&p.vm);
		CHECK(json != NULL && strstr(json, "\"kernelCmdLine\":\"console=hvc0 quiet\"") != NULL);
		free(json);
	}
	parsed_free(&p);
}

static void test_gui(void)
{
	struct parsed p;
	char *warnings = NULL;
	size_t size = 0;
	FILE *out;
	struct vzk_error err = {0};

	TEST_CASE("--gui alone adds a display and a keyboard, with warnings");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--gui"));
	out = open_memstream(&warnings, &size);
	CHECK(p.status == 0 && vm_description_apply_gui(&p.vm, out, &err) == 0);
	fclose(out);
	CHECK(p.vm.device_count == 2 && p.vm.devices[0].ops == &virtio_gpu_device && p.vm.devices[1].ops == &virtio_input_device);
	CHECK(strstr(warnings, "vzkit: warning: --gui without a display: adding --device virtio-gpu,width=800,height=600\n") != NULL);
	CHECK(strstr(warnings, "vzkit: warning: --gui without an input device: adding --device virtio-input,keyboard\n") != NULL);
	free(warnings);
	parsed_free(&p);

	TEST_CASE("--gui with a display and a keyboard adds nothing and warns nothing");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--device", "virtio-input,keyboard", "--gui", "--device",
			    "virtio-gpu,width=640,height=480"));
	warnings = NULL;
	out = open_memstream(&warnings, &size);
	CHECK(p.status == 0 && vm_description_apply_gui(&p.vm, out, &err) == 0);
	fclose(out);
	CHECK(p.vm.device_count == 2);
	CHECK(warnings != NULL && warnings[0] == '\0');
	{
		char *json = output_vm_json(&p.vm);
		CHECK(strstr(json, "\"width\":640,\"height\":480,\"usesGUI\":true") != NULL);
		free(json);
	}
	free(warnings);
	parsed_free(&p);

	TEST_CASE("--gui with a pointing device only adds no keyboard (vfkit: any virtio-input counts)");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--device", "virtio-input,pointing", "--device", "virtio-gpu", "--gui"));
	CHECK(p.status == 0 && vm_description_apply_gui(&p.vm, NULL, &err) == 0);
	CHECK(p.vm.device_count == 2);
	parsed_free(&p);

	TEST_CASE("--gui with a keyboard but no display adds the 800x600 display only");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--device", "virtio-input,keyboard", "--gui"));
	CHECK(p.status == 0 && vm_description_apply_gui(&p.vm, NULL, &err) == 0);
	CHECK(p.vm.device_count == 2 && p.vm.devices[1].ops == &virtio_gpu_device);
	{
		char *json = output_vm_json(&p.vm);
		CHECK(json != NULL && strstr(json, "{\"kind\":\"virtiogpu\",\"width\":800,\"height\":600,\"usesGUI\":true}") != NULL);
		free(json);
	}
	parsed_free(&p);

	TEST_CASE("--gui=false adds nothing");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--gui", "--gui=false"));
	CHECK(p.status == 0 && !p.vm.gui && vm_description_apply_gui(&p.vm, NULL, &err) == 0 && p.vm.device_count == 0);
	parsed_free(&p);

	TEST_CASE("no --gui: nothing added, usesGUI false");
	parse_list(&p, ARGS("--bootloader", "linux,kernel=/k", "--device", "virtio-gpu"));
	CHECK(p.status == 0 && vm_description_apply_gui(&p.vm, NULL, &err) == 0 && p.vm.device_count == 1);
	parsed_free(&p);
}

static void test_help_text(void)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	size_t flags = 0;

	args_print_help(out);
	fclose(out);
	for (const struct flag_spec *flag = flag_table; flag->long_name != NULL; flag++, flags++) {
		char needle[64], name[96];
		bool ok;
		snprintf(needle, sizeof(needle), "--%s", flag->long_name);
		ok = strstr(text, needle) != NULL && strstr(text, flag->help) != NULL;
		if (flag->short_name != 0) {
			snprintf(needle, sizeof(needle), "-%c, --%s", flag->short_name, flag->long_name);
			ok = ok && strstr(text, needle) != NULL;
		}
		snprintf(name, sizeof(name), "--help shows --%s", flag->long_name);
		CHECK_NAMED(name, ok, "not in:\n%s", text);
	}
	TEST_CASE("--help lists every device type");
	for (size_t i = 0; device_registry[i] != NULL; i++)
		CHECK_NAMED(device_registry[i]->name, strstr(text, device_registry[i]->name) != NULL, "missing from --help");
	TEST_CASE("the flag table has the SPEC's flags");
	CHECK(flags >= 20);
	free(text);
}

/* output_shell_quote: what bash reads back is the argument, byte for byte. */
static void test_shell_quote(void)
{
	static const char *const args[] = {
		"plain", "", "two words", "it's", "'", "''", "a\"b", "$HOME", "`id`", "a\\b", "*", "~user", "x;y",
		"line\nbreak", "tab\there", "caf\xc3\xa9", "--device", "virtio-blk,path=\"/a b\"", "!event", "a=b,c:d/e@f%g+h",
	};

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		char *quoted = NULL, *command = NULL, *got = NULL;
		size_t size = 0;
		FILE *out = open_memstream(&quoted, &size);
		FILE *pipe;
		char name[96];

		output_shell_quote(args[i], out);
		fclose(out);
		size = 0;
		out = open_memstream(&command, &size);
		fprintf(out, "bash -c 'printf %%s \"$1\"' _ %s", quoted);
		fclose(out);
		pipe = popen(command, "r");
		size = 0;
		out = open_memstream(&got, &size);
		if (pipe != NULL) {
			int c;
			while ((c = getc(pipe)) != EOF)
				putc(c, out);
			pclose(pipe);
		}
		fclose(out);
		snprintf(name, sizeof(name), "output_shell_quote case %zu reads back", i);
		CHECK_NAMED(name, strcmp(got, args[i]) == 0, "quoted as %s, bash read '%s'", quoted, got);
		free(quoted);
		free(command);
		free(got);
	}
	{
		char *quoted = NULL;
		size_t size = 0;
		FILE *out = open_memstream(&quoted, &size);
		output_shell_quote("virtio-blk,path=/vm/disk.img", out);
		fclose(out);
		CHECK_NAMED("output_shell_quote leaves safe words bare", strcmp(quoted, "virtio-blk,path=/vm/disk.img") == 0, "%s", quoted);
		free(quoted);
	}
}

int main(void)
{
	snprintf(config_dir, sizeof(config_dir), "/tmp/vzkit-args.XXXXXX");
	if (mkdtemp(config_dir) == NULL) {
		CHECK_NAMED("scratch folder", false, "mkdtemp failed");
		TEST_EXIT();
	}
	test_config();
	test_flags();
	test_pflag_syntax();
	test_gui();
	test_help_text();
	test_shell_quote();
	{
		char command[128];
		snprintf(command, sizeof(command), "rm -rf '%s'", config_dir);
		if (system(command) != 0)
			printf("# could not remove %s\n", config_dir);
	}
	TEST_EXIT();
}

/* Every bootloader and every key: the VZ boot loader and platform they emit,
 * their errors, JSON, and the deprecated --kernel/--initrd/--kernel-cmdline
 * flags with their exclusivity with --bootloader (cmd/args.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/registry.h"
#include "cmd/args.h"
#include "test/testlib.h"
#include "vz/vz.h"

static bool emit_bootloader(const char *text, struct vz_vm_configuration *vz)
{
	struct component boot;
	struct vzk_error err = {0};
	bool help = false;
	int status;

	memset(vz, 0, sizeof(*vz));
	if (component_parse(bootloader_registry, "--bootloader", text, &boot, &help, &err) != 0 || help) {
		printf("# '%s': %s\n", text, err.message);
		return false;
	}
	status = component_emit(&boot, vz, &err);
	component_free(&boot);
	return status == 0;
}

static const char *bootloader_json(const char *text)
{
	static char buf[2048];
	struct component boot;
	struct vzk_error err = {0};
	bool help;
	json_t *object;
	char *dumped;

	if (component_parse(bootloader_registry, "--bootloader", text, &boot, &help, &err) != 0) {
		snprintf(buf, sizeof(buf), "error: %s", err.message);
		return buf;
	}
	object = component_to_json(&boot);
	dumped = json_dumps(object, JSON_COMPACT);
	snprintf(buf, sizeof(buf), "%s", dumped);
	free(dumped);
	json_decref(object);
	component_free(&boot);
	return buf;
}

static void test_linux(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("linux: kernel, initrd, cmdline");
	CHECK(emit_bootloader("linux,kernel=/boot/vmlinuz,initrd=/boot/initrd.img,cmdline=\"console=hvc0 root=/dev/vda rw\"",
			      &vz));
	CHECK(vz.boot_loader.kind == VZ_BOOT_LOADER_LINUX);
	CHECK(vz.platform.kind == VZ_PLATFORM_GENERIC);
	CHECK_STR(vz.boot_loader.kernel_path, "/boot/vmlinuz");
	CHECK_STR(vz.boot_loader.initrd_path, "/boot/initrd.img");
	CHECK_STR(vz.boot_loader.command_line, "console=hvc0 root=/dev/vda rw");
	CHECK(vz.boot_loader.variable_store_path == NULL);
	vz_vm_configuration_free(&vz);
	TEST_CASE("linux: kernel only");
	CHECK(emit_bootloader("linux,kernel=/k", &vz));
	CHECK(vz.boot_loader.initrd_path == NULL && vz.boot_loader.command_line == NULL);
	vz_vm_configuration_free(&vz);
	TEST_CASE("linux: a cmdline with commas and '=' in quotes");
	CHECK(emit_bootloader("linux,cmdline=\"a=b,c=d e\",kernel=/k", &vz));
	CHECK_STR(vz.boot_loader.command_line, "a=b,c=d e");
	vz_vm_configuration_free(&vz);
	TEST_CASE("linux JSON");
	CHECK_STR(bootloader_json("linux,kernel=/k,initrd=/i,cmdline=\"console=hvc0\""),
		  "{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\",\"initrdPath\":\"/i\",\"kernelCmdLine\":\"console=hvc0\"}");
}

static void test_efi(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("efi: variable-store");
	CHECK(emit_bootloader("efi,variable-store=/vm/efi-vars", &vz));
	CHECK(vz.boot_loader.kind == VZ_BOOT_LOADER_EFI);
	CHECK(vz.platform.kind == VZ_PLATFORM_GENERIC);
	CHECK_STR(vz.boot_loader.variable_store_path, "/vm/efi-vars");
	CHECK(!vz.boot_loader.create_variable_store);
	CHECK(vz.boot_loader.kernel_path == NULL);
	vz_vm_configuration_free(&vz);
	TEST_CASE("efi: create");
	CHECK(emit_bootloader("efi,variable-store=/vm/efi-vars,create", &vz));
	CHECK(vz.boot_loader.create_variable_store);
	vz_vm_configuration_free(&vz);
	TEST_CASE("efi JSON");
	CHECK_STR(bootloader_json("efi,variable-store=/v,create"),
		  "{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/v\",\"createVariableStore\":true}");
	CHECK_STR(bootloader_json("efi,variable-store=/v"),
		  "{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/v\",\"createVariableStore\":false}");
}

static void test_macos(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("macos: the three files, Mac platform");
	CHECK(emit_bootloader("macos,machineIdentifierPath=/vm/id,hardwareModelPath=/vm/hw,auxImagePath=/vm/aux", &vz));
	CHECK(vz.boot_loader.kind == VZ_BOOT_LOADER_MACOS);
	CHECK(vz.platform.kind == VZ_PLATFORM_MAC);
	CHECK_STR(vz.platform.machine_identifier_path, "/vm/id");
	CHECK_STR(vz.platform.hardware_model_path, "/vm/hw");
	CHECK_STR(vz.platform.auxiliary_storage_path, "/vm/aux");
	vz_vm_configuration_free(&vz);
	TEST_CASE("macos JSON");
	CHECK_STR(bootloader_json("macos,auxImagePath=/a,hardwareModelPath=/h,machineIdentifierPath=/m"),
		  "{\"kind\":\"macosBootloader\",\"machineIdentifierPath\":\"/m\",\"hardwareModelPath\":\"/h\","
		  "\"auxImagePath\":\"/a\"}");

	TEST_CASE("macos restoreImage and recovery (vzkit keys) reach the model");
	CHECK(emit_bootloader("macos,machineIdentifierPath=/vm/id,hardwareModelPath=/vm/hw,auxImagePath=/vm/aux,"
			      "restoreImage=latest,recovery",
			      &vz));
	CHECK_STR(vz.boot_loader.restore_image, "latest");
	CHECK(vz.boot_loader.start_up_from_recovery);
	vz_vm_configuration_free(&vz);
	CHECK(emit_bootloader("macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=/a,"
			      "restoreImage=https://updates.example/UniversalMac_15.0_Restore.ipsw",
			      &vz));
	CHECK_STR(vz.boot_loader.restore_image, "https://updates.example/UniversalMac_15.0_Restore.ipsw");
	CHECK(!vz.boot_loader.start_up_from_recovery);
	vz_vm_configuration_free(&vz);
	TEST_CASE("macos restoreImage in the JSON (a vzkit field), recovery is not");
	CHECK_STR(bootloader_json("macos,auxImagePath=/a,hardwareModelPath=/h,machineIdentifierPath=/m,"
				  "restoreImage=/r.ipsw,recovery"),
		  "{\"kind\":\"macosBootloader\",\"machineIdentifierPath\":\"/m\",\"hardwareModelPath\":\"/h\","
		  "\"auxImagePath\":\"/a\",\"restoreImage\":\"/r.ipsw\"}");
}

struct error_case {
	const char *input;
	const char *want[3];
};

static const struct error_case error_cases[] = {
	{"", {"--bootloader: needs a type (one of efi, linux, macos)"}},
	{"bios", {"--bootloader: unknown type 'bios' (known: efi, linux, macos)"}},
	{"Linux,kernel=/k", {"--bootloader: unknown type 'Linux'"}},
	{"linux", {"--bootloader linux: missing required key 'kernel'"}},
	{"linux,initrd=/i,cmdline=x", {"--bootloader linux: missing required key 'kernel'"}},
	{"linux,kernel=", {"--bootloader linux: key 'kernel' needs a non-empty path"}},
	{"linux,kernel=/k,initrd=", {"--bootloader linux: key 'initrd' needs a non-empty path"}},
	{"linux,kernel=/k,cmdline", {"--bootloader linux: key 'cmdline' needs a value"}},
	{"linux,kernel=/k,cmdline=\"console=hvc0", {"--bootloader: unbalanced double quote"}},
	{"linux,kernel=/k,kernel=/j", {"--bootloader linux: key 'kernel' given twice"}},
	{"linux,kernel=/k,append=x", {"--bootloader linux: unknown key 'append'", "(valid keys: kernel, initrd, cmdline)"}},
	{"linux,vmlinuzPath=/k", {"--bootloader linux: unknown key 'vmlinuzPath'"}},
	{"efi", {"--bootloader efi: missing required key 'variable-store'"}},
	{"efi,create", {"--bootloader efi: missing required key 'variable-store'"}},
	{"efi,variable-store=", {"--bootloader efi: key 'variable-store' needs a non-empty path"}},
	{"efi,variable-store=/v,create=true", {"--bootloader efi: key 'create' is a flag and takes no value"}},
	{"efi,variable-store=/v,secure-boot", {"--bootloader efi: unknown key 'secure-boot'", "(valid keys: variable-store, create)"}},
	{"macos", {"--bootloader macos: missing required key 'machineIdentifierPath'"}},
	{"macos,machineIdentifierPath=/m,hardwareModelPath=/h", {"--bootloader macos: missing required key 'auxImagePath'"}},
	{"macos,machineIdentifierPath=/m,auxImagePath=/a", {"--bootloader macos: missing required key 'hardwareModelPath'"}},
	{"macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=", {"--bootloader macos: key 'auxImagePath' needs a non-empty path"}},
	{"macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=/a,ipsw=/x",
	 {"--bootloader macos: unknown key 'ipsw'",
	  "(valid keys: machineIdentifierPath, hardwareModelPath, auxImagePath, restoreImage, recovery)"}},
	{"macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=/a,restoreImage=",
	 {"--bootloader macos: restoreImage needs a .ipsw file, an http(s) URL or 'latest'"}},
	{"macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=/a,restoreImage=ftp://h/x.ipsw",
	 {"--bootloader macos: restoreImage 'ftp://h/x.ipsw': only http:// and https:// URLs can be fetched"}},
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct component boot;
		struct vzk_error err = {0};
		bool help = false;
		char name[256];
		bool ok;
		int status = component_parse(bootloader_registry, "--bootloader", c->input, &boot, &help, &err);

		snprintf(name, sizeof(name), "bootloader error: '%s'", c->input);
		ok = status == -1 && err.kind == VZK_ERR_USAGE && boot.config == NULL;
		for (size_t s = 0; ok && s < 3 && c->want[s] != NULL; s++)
			ok = strstr(err.message, c->want[s]) != NULL;
		CHECK_NAMED(name, ok, "status %d message '%s'", status, err.message);
		if (status == 0)
			component_free(&boot);
	}
}

/* ---- the deprecated flags, through args_parse ---- */

struct parsed {
	int status;
	struct vm_description vm;
	struct run_options options;
	struct vzk_error err;
};

/* args_parse on a NULL-terminated list of arguments (argv[0] added). */
static void parse_args(struct parsed *out, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	const char *arg;

	argv[argc++] = strdup("vzkit");
	va_start(ap, out);
	while ((arg = va_arg(ap, const char *)) != NULL && argc < 63)
		argv[argc++] = strdup(arg);
	va_end(ap);
	argv[argc] = NULL;
	memset(out, 0, sizeof(*out));
	vm_description_init(&out->vm);
	out->status = args_parse(argc, argv, &out->vm, &out->options, &out->err);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

static void parsed_free(struct parsed *p)
{
	vm_description_free(&p->vm);
	run_options_free(&p->options);
}

static char *bootloader_json_of(const struct vm_description *vm)
{
	json_t *object;
	char *text;

	if (!vm->has_bootloader)
		return strdup("(none)");
	object = component_to_json(&vm->bootloader);
	text = json_dumps(object, JSON_COMPACT);
	json_decref(object);
	return text;
}

static void test_legacy(void)
{
	struct parsed legacy, modern;
	char *legacy_json, *modern_json;

	TEST_CASE("--kernel/--initrd/--kernel-cmdline equal --bootloader linux");
	parse_args(&legacy, "--kernel", "/boot/vmlinuz", "--initrd", "/boot/initrd", "--kernel-cmdline",
		   "console=hvc0 root=/dev/vda", NULL);
	parse_args(&modern, "--bootloader", "linux,kernel=/boot/vmlinuz,initrd=/boot/initrd,cmdline=\"console=hvc0 root=/dev/vda\"",
		   NULL);
	CHECK(legacy.status == 0 && modern.status == 0);
	legacy_json = bootloader_json_of(&legacy.vm);
	modern_json = bootloader_json_of(&modern.vm);
	CHECK_STR(legacy_json, modern_json);
	{
		char *a = component_to_option_string(&legacy.vm.bootloader);
		char *b = component_to_option_string(&modern.vm.bootloader);
		CHECK_STR(a, b);
		free(a);
		free(b);
	}
	free(legacy_json);
	free(modern_json);
	parsed_free(&legacy);
	parsed_free(&modern);

	TEST_CASE("-k/-i/-C short forms");
	parse_args(&legacy, "-k", "/k", "-i", "/i", "-C", "console=ttyS0", NULL);
	CHECK(legacy.status == 0 && legacy.vm.has_bootloader && legacy.vm.bootloader.ops == &linux_bootloader);
	legacy_json = bootloader_json_of(&legacy.vm);
	CHECK_STR(legacy_json, "{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\",\"initrdPath\":\"/i\",\"kernelCmdLine\":\"console=ttyS0\"}");
	free(legacy_json);
	parsed_free(&legacy);

	TEST_CASE("the legacy flags emit a Linux boot loader");
	parse_args(&legacy, "--kernel=/k", "--initrd=/i", "--kernel-cmdline=quiet", NULL);
	{
		struct vz_vm_configuration vz;
		struct vzk_error err = {0};
		CHECK(legacy.status == 0 && vm_description_to_vz(&legacy.vm, &vz, &err) == 0);
		CHECK(vz.boot_loader.kind == VZ_BOOT_LOADER_LINUX);
		CHECK_STR(vz.boot_loader.kernel_path, "/k");
		CHECK_STR(vz.boot_loader.initrd_path, "/i");
		CHECK_STR(vz.boot_loader.command_line, "quiet");
		vz_vm_configuration_free(&vz);
	}
	parsed_free(&legacy);

	static const struct {
		const char *name;
		const char *args[10];
		const char *want;
	} bad[] = {
		{"only --kernel", {"--kernel", "/k", NULL}, "--kernel, --initrd and --kernel-cmdline must be given together"},
		{"no --kernel-cmdline", {"--kernel", "/k", "--initrd", "/i", NULL}, "must be given together"},
		{"no --kernel", {"--initrd", "/i", "--kernel-cmdline", "x", NULL}, "must be given together"},
		{"only --kernel-cmdline", {"--kernel-cmdline", "x", NULL}, "must be given together"},
		{"empty --kernel", {"--kernel", "", "--initrd", "/i", "--kernel-cmdline", "x", NULL}, "need non-empty paths"},
		{"empty --initrd", {"--kernel", "/k", "--initrd", "", "--kernel-cmdline", "x", NULL}, "need non-empty paths"},
		{"with --bootloader (after)",
		 {"--kernel", "/k", "--initrd", "/i", "--kernel-cmdline", "x", "--bootloader", "linux,kernel=/k", NULL},
		 "--kernel/--initrd/--kernel-cmdline cannot be used with --bootloader"},
		{"with --bootloader (before)", {"--bootloader", "efi,variable-store=/v", "--kernel", "/k", NULL},
		 "cannot be used with --bootloader"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *a = bad[i].args;
		char name[128];
		parse_args(&legacy, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], NULL);
		snprintf(name, sizeof(name), "legacy boot flags error: %s", bad[i].name);
		CHECK_NAMED(name, legacy.status == -1 && legacy.err.kind == VZK_ERR_USAGE && strstr(legacy.err.message, bad[i].want) != NULL,
			    "status %d message '%s'", legacy.status, legacy.err.message);
		parsed_free(&legacy);
	}

	TEST_CASE("--bootloader twice is an error");
	parse_args(&modern, "--bootloader", "linux,kernel=/k", "--bootloader", "efi,variable-store=/v", NULL);
	CHECK(modern.status == -1 && strstr(modern.err.message, "--bootloader: given twice") != NULL);
	parsed_free(&modern);
	TEST_CASE("--bootloader help and TYPE,help");
	parse_args(&modern, "--bootloader", "help", NULL);
	CHECK(modern.status == 0 && modern.options.list_bootloaders && !modern.vm.has_bootloader);
	parsed_free(&modern);
	parse_args(&modern, "-b", "macos,help", NULL);
	CHECK(modern.status == 0 && modern.options.help_component == &macos_bootloader && !modern.vm.has_bootloader);
	parsed_free(&modern);
	TEST_CASE("no bootloader: refused at validation");
	parse_args(&modern, "--cpus", "2", NULL);
	{
		struct vz_vm_configuration vz;
		struct vzk_error err = {0};
		CHECK(modern.status == 0);
		CHECK(vm_description_to_vz(&modern.vm, &vz, &err) == -1 && err.kind == VZK_ERR_USAGE &&
		      strstr(err.message, "a bootloader is required") != NULL);
	}
	parsed_free(&modern);
}

int main(void)
{
	test_linux();
	test_efi();
	test_macos();
	test_errors();
	test_legacy();
	TEST_EXIT();
}

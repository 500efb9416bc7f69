/* Golden QEMU command lines: vzkit flags → front end → VZ configuration →
 * qemu_plan_build with fixed host facts, printed as --dry-run=qemu prints
 * them, compared with test/qemu/argv-golden/NAME.txt (UPDATE_GOLDEN=1 rewrites).
 * Structural checks run on every plan too, so a blind regeneration cannot
 * hide the rules that matter. */
#include <stdarg.h>
#include <sys/stat.h>

#include "cmd/args.h"
#include "devices/vm.h"
#include "test/testlib.h"
#include "vz/qemu/plan.h"

#define MAX_ARGS 40

struct plan_case {
	const char *name;
	enum qemu_arch arch;
	enum qemu_accel accel;
	bool as_root;
	uint32_t vsock_cid;
	bool qcow2[4];
	const char *args[MAX_ARGS];
};

static const struct plan_case cases[] = {
	{"linux-minimal", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz,initrd=/g/initrd.img,cmdline=\"console=hvc0 quiet\"", NULL}},
	{"linux-kvm-nested", QEMU_ARCH_X86_64, QEMU_ACCEL_KVM, true, 0, {0},
	 {"--cpus", "4", "--memory", "2048", "--nested", "--bootloader", "linux,kernel=/g/vmlinuz", NULL}},
	{"aarch64-virt", QEMU_ARCH_AARCH64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/Image,initrd=/g/initrd.img", "--device", "virtio-blk,path=/d/a.img", NULL}},
	{"storage-virtio-blk", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {false, true, false, false},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-blk,path=/d/raw.img,deviceId=id\"a,b\"",
	  "--device", "virtio-blk,path=/d/thin.qcow2", "--device", "virtio-blk,path=/d/ro.img,readonly",
	  "--device", "virtio-blk,path=/dev/sdz,type=dev", NULL}},
	{"storage-nvme-usb", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "nvme,path=/d/n0.img", "--device", "nvme,path=/d/n1.img",
	  "--device", "usb-mass-storage,path=/d/u0.iso,readonly", "--device", "usb-mass-storage,path=/d/u1.img", NULL}},
	{"storage-nbd", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "nbd,uri=nbd://10.0.0.5:10810/exp,deviceId=n1",
	  "--device", "nbd,uri=nbd://nbd.example/,readonly,timeout=2500",
	  "--device", "nbd,uri=nbd+unix:///disk?socket=/run/nbd.sock,sync=none", NULL}},
	{"network", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-net,nat,mac=52:54:00:00:00:01",
	  "--device", "virtio-net,fd=7,mac=52:54:00:00:00:02",
	  "--device", "virtio-net,unixSocketPath=/run/gvproxy.sock,mac=52:54:00:00:00:03", NULL}},
	{"serial-ports", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-serial,logFilePath=\"/var/log/a,b.log\"",
	  "--device", "virtio-serial,stdio", "--device", "virtio-serial,pty", NULL}},
	{"shares-root", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--memory", "1024", "--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-fs,sharedDir=/srv/one",
	  "--device", "virtio-fs,sharedDir=/srv/two,mountTag=second", NULL}},
	{"shares-user", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, false, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-fs,sharedDir=/srv/one", NULL}},
	{"misc-devices", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-rng", "--device", "virtio-balloon",
	  "--device", "virtio-gpu,width=1280,height=720", "--device", "virtio-input,keyboard",
	  "--device", "virtio-input,pointing", NULL}},
	{"vsock", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 4242, {0},
	 {"--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-vsock,port=1025,socketURL=/run/ready.sock", NULL}},
	{"efi", QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, true, 0, {0},
	 {"--bootloader", "efi,variable-store=\"/var/lib/vm/efi,vars\",create", "--device", "virtio-blk,path=/d/efi.img", NULL}},
};

static char *plan_text(const struct qemu_plan *plan)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	for (size_t i = 0; i < plan->helper_count; i++)
		strv_print_shell(&plan->helpers[i].argv, out);
	strv_print_shell(&plan->argv, out);
	fclose(out);
	return text;
}

static char *read_file(const char *path)
{
	FILE *in = fopen(path, "r");
	char *text;
	long size;

	if (in == NULL)
		return NULL;
	fseek(in, 0, SEEK_END);
	size = ftell(in);
	rewind(in);
	text = calloc(1, (size_t)size + 1);
	if (text != NULL && fread(text, 1, (size_t)size, in) != (size_t)size) {
		free(text);
		text = NULL;
	}
	fclose(in);
	return text;
}

static bool has_arg(const struct qemu_plan *plan, const char *arg)
{
	for (size_t i = 0; i < plan->argv.count; i++)
		if (strcmp(plan->argv.items[i], arg) == 0)
			return true;
	return false;
}

/* Rules that must hold for every plan, golden or not. */
static void check_structure(const char *name, const struct qemu_plan *plan, const struct vz_vm_configuration *vz)
{
	char label[400];
	bool formats_explicit = true, readonly_both = true;

	snprintf(label, sizeof(label), "%s: -nodefaults, -no-user-config, -no-reboot, -S", name);
	CHECK_NAMED(label, has_arg(plan, "-nodefaults") && has_arg(plan, "-no-user-config") &&
			   has_arg(plan, "-no-reboot") && has_arg(plan, "-S"), "missing");
	for (size_t i = 0; i + 1 < plan->argv.count; i++) {
		const char *value = plan->argv.items[i + 1];
		if (strcmp(plan->argv.items[i], "-blockdev") != 0)
			continue;
		if (strncmp(value, "driver=", 7) != 0)
			formats_explicit = false;
		for (size_t d = 0; d < vz->storage_device_count; d++) {
			char node[48];
			snprintf(node, sizeof(node), "node-name=disk%zu", d);
			if (strstr(value, node) != NULL && vz->storage_devices[d].attachment.read_only &&
			    strstr(value, "read-only=on") == NULL)
				readonly_both = false;
		}
	}
	snprintf(label, sizeof(label), "%s: every -blockdev names its driver (no format probing)", name);
	CHECK_NAMED(label, formats_explicit, "a -blockdev without driver=");
	snprintf(label, sizeof(label), "%s: read-only disks are read-only on every node", name);
	CHECK_NAMED(label, readonly_both, "read-only=on missing");
	snprintf(label, sizeof(label), "%s: no -drive except pflash", name);
	bool drives_ok = true;
	for (size_t i = 0; i + 1 < plan->argv.count; i++)
		if (strcmp(plan->argv.items[i], "-drive") == 0 && strncmp(plan->argv.items[i + 1], "if=pflash", 9) != 0)
			drives_ok = false;
	CHECK_NAMED(label, drives_ok, "a -drive");
}

static void run_case(const struct plan_case *test_case)
{
	char *argv[MAX_ARGS + 1] = {"vzkit"};
	int argc = 1;
	struct vm_description vm;
	struct run_options options;
	struct vz_vm_configuration vz;
	struct vzk_error err = {0};
	struct qemu_plan plan;
	char golden_path[256], label[400];

	for (; test_case->args[argc - 1] != NULL; argc++)
		argv[argc] = (char *)test_case->args[argc - 1];
	vm_description_init(&vm);
	snprintf(label, sizeof(label), "%s: flags accepted", test_case->name);
	if (args_parse(argc, argv, &vm, &options, &err) != 0 || vm_description_to_vz(&vm, &vz, &err) != 0) {
		CHECK_NAMED(label, false, "%s", err.message);
		vm_description_free(&vm);
		run_options_free(&options);
		return;
	}
	struct qemu_plan_params params = {
		.arch = test_case->arch,
		.accel = test_case->accel,
		.qemu_binary = test_case->arch == QEMU_ARCH_AARCH64 ? "qemu-system-aarch64" : "qemu-system-x86_64",
		.virtiofsd = "/usr/lib/qemu/virtiofsd",
		.runtime_dir = "/run/vzkit-test",
		.efi_code = "/usr/share/OVMF/OVMF_CODE_4M.fd",
		.efi_vars_format = "raw",
		.helpers_as_root = test_case->as_root,
		.vsock_guest_cid = test_case->vsock_cid,
		.disk_is_qcow2 = (bool *)test_case->qcow2,
	};
	snprintf(label, sizeof(label), "%s: plan built", test_case->name);
	if (qemu_plan_build(&vz, &params, &plan, &err) != 0) {
		CHECK_NAMED(label, false, "%s", err.message);
	} else {
		char *text = plan_text(&plan);
		char *golden;
		snprintf(golden_path, sizeof(golden_path), "test/qemu/argv-golden/%s.txt", test_case->name);
		if (getenv("UPDATE_GOLDEN") != NULL) {
			FILE *out = fopen(golden_path, "w");
			if (out != NULL) {
				fputs(text, out);
				fclose(out);
			}
		}
		golden = read_file(golden_path);
		snprintf(label, sizeof(label), "%s: argv equals %s", test_case->name, golden_path);
		CHECK_NAMED(label, golden != NULL && strcmp(golden, text) == 0, "got:\n%s", text);
		check_structure(test_case->name, &plan, &vz);
		free(golden);
		free(text);
		qemu_plan_free(&plan);
	}
	vz_vm_configuration_free(&vz);
	vm_description_free(&vm);
	run_options_free(&options);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	TEST_EXIT();
}

/* vz/qemu/device_error.c: a QEMU error line about any object the plan made
 * for a device is told in the user's terms (--device TYPE (what)). The lines
 * are made from a real plan's arguments, so the test follows the plan's ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/args.h"
#include "cmd/config/vm.h"
#include "test/testlib.h"
#include "vz/qemu/device_error.h"
#include "vz/qemu/plan.h"

#define ARGS(...) ((char *[]){"vzkit", __VA_ARGS__, NULL})

static int argc_of(char **argv)
{
	int n = 0;
	while (argv[n] != NULL)
		n++;
	return n;
}

int main(void)
{
	char **argv = ARGS("--bootloader", "linux,kernel=/g/vmlinuz", "--device", "virtio-blk,path=/d/a.img",
			   "--device", "nvme,path=/d/b.qcow2", "--device", "nbd,uri=nbd://h:10809/e",
			   "--device", "virtio-net,nat", "--device", "virtio-net,unixSocketPath=/run/gv.sock",
			   "--device", "virtio-fs,sharedDir=/srv/share,mountTag=s", "--device",
			   "virtio-serial,logFilePath=/l/console.log");
	struct vm_description vm;
	struct run_options options;
	struct vz_vm_configuration vz;
	struct qemu_plan plan = {0};
	struct qemu_plan_params params = {.arch = QEMU_ARCH_X86_64, .runtime_dir = "/run/vzkit-test",
					  .virtiofsd = "/usr/lib/qemu/virtiofsd", .qemu_binary = "qemu-system-x86_64"};
	struct vzk_error err = {0};
	static const struct {
		const char *option, *id, *want;
	} cases[] = {
		{"-blockdev", "node-name=disk0", "--device virtio-blk (/d/a.img): QEMU refused it: boom"},
		{"-blockdev", "node-name=disk1", "--device nvme (/d/b.qcow2): QEMU refused it: boom"},
		{"-device", "drive=disk1", "--device nvme (/d/b.qcow2): QEMU refused it: boom"},
		{"-blockdev", "node-name=disk2", "--device nbd (nbd://h:10809/e): QEMU refused it: boom"},
		{"-netdev", "id=net0", "--device virtio-net (nat): QEMU refused it: boom"},
		{"-device", "netdev=net1", "--device virtio-net (/run/gv.sock): QEMU refused it: boom"},
		{"-chardev", "id=fs0", "--device virtio-fs (/srv/share): QEMU refused it: boom"},
		{"-device", "chardev=fs0", "--device virtio-fs (/srv/share): QEMU refused it: boom"},
		{"-chardev", "id=console0", "--device virtio-serial (/l/console.log): QEMU refused it: boom"},
	};

	vm_description_init(&vm);
	if (args_parse(argc_of(argv), argv, &vm, &options, &err) != 0 || vm_description_to_vz(&vm, &vz, &err) != 0 ||
	    qemu_plan_build(&vz, &params, &plan, &err) != 0) {
		CHECK_NAMED("device errors: the plan builds", false, "%s", err.message);
		TEST_EXIT();
	}
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *arg = NULL;
		char line[2048], got[1024] = "", name[160];
		/* the plan's own argument for that object */
		for (size_t i = 0; i + 1 < plan.argv.count; i++)
			if (strcmp(plan.argv.items[i], cases[c].option) == 0 && strstr(plan.argv.items[i + 1], cases[c].id) != NULL)
				arg = plan.argv.items[i + 1];
		snprintf(name, sizeof(name), "device errors: QEMU's %s %s names the --device", cases[c].option, cases[c].id);
		if (arg == NULL) {
			CHECK_NAMED(name, false, "the plan has no %s with %s", cases[c].option, cases[c].id);
			continue;
		}
		snprintf(line, sizeof(line), "qemu-system-x86_64: %s %s: boom", cases[c].option, arg);
		CHECK_NAMED(name, qemu_device_error_line(&vz, line, got, sizeof(got)) == 1 && strcmp(got, cases[c].want) == 0,
			    "line '%s' gave '%s'", line, got);
	}

	TEST_CASE("device errors: lines about no device are left as they are");
	{
		char got[256] = "";
		CHECK(qemu_device_error_line(&vz, "qemu-system-x86_64: -machine q35,accel=kvm: no KVM", got, sizeof(got)) == 0);
		CHECK(qemu_device_error_line(&vz, "virtio_loop: Entry", got, sizeof(got)) == 0);
		CHECK(qemu_device_error_line(&vz, "qemu-system-x86_64: -blockdev node-name=disk9: boom", got, sizeof(got)) == 0);
		CHECK(qemu_device_error_line(&vz, "qemu-system-x86_64: -blockdev node-name=disk12x,a=b: boom", got, sizeof(got)) == 0);
	}
	TEST_CASE("device errors: from the log, the last QEMU line about a device, after a helper's line");
	{
		char path[] = "/tmp/vzkit-device-error.XXXXXX";
		int fd = mkstemp(path);
		char got[1024] = "";
		FILE *log = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (log != NULL) {
			fprintf(log, "qemu-system-x86_64: warning: something else\n"
				     "qemu-system-x86_64: -blockdev driver=qcow2,node-name=disk1,file=disk1-file: Could not open backing file\n"
				     "virtio_loop: Entry\n");
			fclose(log);
		}
		CHECK(qemu_device_error(&vz, path, got, sizeof(got)) == 1 &&
		      strcmp(got, "--device nvme (/d/b.qcow2): QEMU refused it: Could not open backing file") == 0);
		unlink(path);
		CHECK(qemu_device_error(&vz, "/nonexistent/qemu.log", got, sizeof(got)) == 0);
	}
	qemu_plan_free(&plan);
	vz_vm_configuration_free(&vz);
	vm_description_free(&vm);
	run_options_free(&options);
	TEST_EXIT();
}

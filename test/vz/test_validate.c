/* vz/validate.c: every framework rule of vz_validate (each through the flags
 * a user would type, or built directly when no flag reaches it), and every
 * host check of vz_check_host_paths against real files in a scratch folder. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootloader/registry.h"
#include "cmd/args.h"
#include "test/testlib.h"
#include "vz/vz.h"

#define MAX_ARGS 1024

/* args_parse + --gui + vm_description_to_vz, as cmd/main.c does. Returns the
 * status; *vz is filled on success (caller frees). */
static int build_vm(struct vz_vm_configuration *vz, struct vzk_error *err, const char *const *args)
{
	static char *argv[MAX_ARGS + 2];
	int argc = 0;
	struct vm_description vm;
	struct run_options options;
	int status;

	argv[argc++] = strdup("vzkit");
	for (size_t i = 0; args[i] != NULL && argc <= MAX_ARGS; i++)
		argv[argc++] = strdup(args[i]);
	argv[argc] = NULL;
	vm_description_init(&vm);
	vzk_error_clear(err);
	memset(vz, 0, sizeof(*vz));
	status = args_parse(argc, argv, &vm, &options, err);
	if (status == 0)
		status = vm_description_apply_gui(&vm, NULL, err);
	if (status == 0)
		status = vm_description_to_vz(&vm, vz, err);
	vm_description_free(&vm);
	run_options_free(&options);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return status;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_valid(const char *name, const char *const *args)
{
	struct vz_vm_configuration vz;
	struct vzk_error err;
	int status = build_vm(&vz, &err, args);

	CHECK_NAMED(name, status == 0, "refused: %s", err.message);
	if (status == 0)
		vz_vm_configuration_free(&vz);
}

static void expect_invalid(const char *name, const char *want, const char *const *args)
{
	struct vz_vm_configuration vz;
	struct vzk_error err;
	int status = build_vm(&vz, &err, args);

	CHECK_NAMED(name, status == -1 && err.kind == VZK_ERR_USAGE && strstr(err.message, want) != NULL,
		    "status %d message '%s' (want '%s')", status, err.message, want);
	if (status == 0)
		vz_vm_configuration_free(&vz);
}

#define LINUX "--bootloader", "linux,kernel=/k"
#define MACOS "--bootloader", "macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=/a"

static void test_top_level_rules(void)
{
	expect_valid("validate: the smallest VM", ARGS(LINUX));
	expect_invalid("validate: bootloader required", "a bootloader is required", ARGS("--cpus", "2"));
	expect_invalid("validate: --cpus 0", "--cpus: 0 is out of range (1 to 64)", ARGS(LINUX, "--cpus", "0"));
	expect_invalid("validate: --cpus 65", "--cpus: 65 is out of range (1 to 64)", ARGS(LINUX, "--cpus", "65"));
	expect_invalid("validate: --cpus 2^32-1", "--cpus: 4294967295 is out of range", ARGS(LINUX, "--cpus", "4294967295"));
	expect_valid("validate: --cpus 1", ARGS(LINUX, "--cpus", "1"));
	expect_valid("validate: --cpus 64", ARGS(LINUX, "-c", "64"));
	expect_invalid("validate: --memory 0", "--memory: 0 MiB is out of range (128 to 1048576 MiB)", ARGS(LINUX, "--memory", "0"));
	expect_invalid("validate: --memory 127", "--memory: 127 MiB is out of range", ARGS(LINUX, "--memory", "127"));
	expect_valid("validate: --memory 128", ARGS(LINUX, "--memory", "128"));
	expect_valid("validate: --memory 1 TiB", ARGS(LINUX, "-m", "1048576"));
	expect_invalid("validate: --memory 1 TiB + 1 MiB", "--memory: 1048577 MiB is out of range", ARGS(LINUX, "--memory", "1048577"));
	expect_invalid("validate: --nested with macOS", "--nested: nested virtualisation is not available with --bootloader macos",
		       ARGS(MACOS, "--nested"));
	expect_valid("validate: --nested with Linux", ARGS(LINUX, "--nested"));
	expect_invalid("validate: two displays", "--device virtio-gpu: at most one graphics device (got 2)",
		       ARGS(LINUX, "--device", "virtio-gpu", "--device", "virtio-gpu,width=1024,height=768"));
	expect_invalid("validate: two balloons", "--device virtio-balloon: at most one memory balloon (got 2)",
		       ARGS(LINUX, "--device", "virtio-balloon", "--device", "virtio-balloon"));
	expect_valid("validate: one display, one balloon, several rngs",
		     ARGS(LINUX, "--device", "virtio-gpu", "--device", "virtio-balloon", "--device", "virtio-rng", "--device",
			  "virtio-rng"));
	expect_valid("validate: --gui adds what it needs", ARGS(LINUX, "--gui"));

	/* Rules no flag reaches on its own: built directly. */
	{
		struct vm_description vm;
		struct vz_vm_configuration vz;
		struct vzk_error err = {0};
		bool help;

		vm_description_init(&vm);
		component_parse(bootloader_registry, "--bootloader", "linux,kernel=/k", &vm.bootloader, &help, &err);
		vm.has_bootloader = true;
		vm.memory_bytes = (512ull << 20) + 1;
		CHECK_NAMED("validate: memory not a whole number of MiB (JSON memoryBytes)",
			    vm_description_to_vz(&vm, &vz, &err) == -1 &&
				    strstr(err.message, "--memory: 536870913 bytes is not a whole number of MiB") != NULL,
			    "%s", err.message);
		vm.memory_bytes = (512ull << 20) + (512ull << 10); /* whole KiB, not whole MiB */
		CHECK_NAMED("validate: memory in whole KiB but not whole MiB",
			    vm_description_to_vz(&vm, &vz, &err) == -1 &&
				    strstr(err.message, "--memory: 537395200 bytes is not a whole number of MiB") != NULL,
			    "%s", err.message);
		vm.memory_bytes = 512ull << 20;
		vm.vcpus = 1ull << 33;
		CHECK_NAMED("validate: more vCPUs than 32 bits hold",
			    vm_description_to_vz(&vm, &vz, &err) == -1 && strstr(err.message, "--cpus: 8589934592 is more than") != NULL,
			    "%s", err.message);
		vm.vcpus = 1;
		vm.gui = true; /* --gui without vm_description_apply_gui */
		CHECK_NAMED("validate: --gui needs a display",
			    vm_description_to_vz(&vm, &vz, &err) == -1 && strstr(err.message, "--gui needs a display") != NULL,
			    "%s", err.message);
		vm_description_free(&vm);
	}
	{
		struct vz_vm_configuration vz = {0};
		struct vzk_error err = {0};
		vz.cpu_count = 1;
		vz.memory_size = 512ull << 20;
		CHECK_NAMED("vz_validate: boot loader NONE", vz_validate(&vz, &err) == -1 && strstr(err.message, "a bootloader is required") != NULL,
			    "%s", err.message);
		vz.boot_loader.kind = VZ_BOOT_LOADER_EFI;
		CHECK_NAMED("vz_validate: a zeroed config with a boot loader passes", vz_validate(&vz, &err) == 0, "%s", err.message);
	}
}

static void test_vsock_rules(void)
{
	expect_invalid("validate: vsock port twice (listen)", "--device virtio-vsock: port 1025 is given twice",
		       ARGS(LINUX, "--device", "virtio-vsock,port=1025,socketURL=/a", "--device",
			    "virtio-vsock,port=1025,socketURL=/b"));
	expect_invalid("validate: vsock port twice (connect)", "port 6 is given twice",
		       ARGS(LINUX, "--device", "virtio-vsock,port=6,socketURL=/a,connect", "--device",
			    "virtio-vsock,port=6,socketURL=/b,connect"));
	expect_valid("validate: same vsock port listen and connect",
		     ARGS(LINUX, "--device", "virtio-vsock,port=6,socketURL=/a,listen", "--device",
			  "virtio-vsock,port=6,socketURL=/b,connect"));
	expect_invalid("validate: vsock port and socket both twice: the port is named",
		       "--device virtio-vsock: port 7 is given twice",
		       ARGS(LINUX, "--device", "virtio-vsock,port=7,socketURL=/a", "--device", "virtio-vsock,port=7,socketURL=/a"));
	expect_invalid("validate: vsock socket twice", "--device virtio-vsock: socketURL /a is given twice",
		       ARGS(LINUX, "--device", "virtio-vsock,port=1,socketURL=/a", "--device", "virtio-vsock,port=2,socketURL=/a,connect"));
	expect_invalid("validate: vsock port of --timesync", "--device virtio-vsock: port 1025 is already used by --timesync",
		       ARGS(LINUX, "--timesync", "vsockPort=1025", "--device", "virtio-vsock,port=1025,socketURL=/a"));
	expect_valid("validate: connect-mode port equal to --timesync's",
		     ARGS(LINUX, "--timesync", "vsockPort=1025", "--device", "virtio-vsock,port=1025,socketURL=/a,connect"));
	expect_invalid("validate: vsock port 1024 with --ignition", "--device virtio-vsock: port 1024 is already used by --ignition",
		       ARGS(LINUX, "--ignition", "/ign.json", "--device", "virtio-vsock,port=1024,socketURL=/a"));
	expect_valid("validate: vsock port 1024 without --ignition", ARGS(LINUX, "--device", "virtio-vsock,port=1024,socketURL=/a"));
	expect_invalid("validate: --timesync on --ignition's port", "--timesync: vsock port 1024 is used by --ignition",
		       ARGS(LINUX, "--ignition", "/ign.json", "--timesync", "vsockPort=1024"));
	expect_valid("validate: --timesync and --ignition on their own ports", ARGS(LINUX, "--ignition", "/i", "--timesync", "vsockPort=1023"));

	/* One vsock device however many ports. */
	{
		struct vz_vm_configuration vz;
		struct vzk_error err;
		TEST_CASE("one vsock device for three ports");
		CHECK(build_vm(&vz, &err, ARGS(LINUX, "--device", "virtio-vsock,port=1,socketURL=/a", "--device",
					       "virtio-vsock,port=2,socketURL=/b", "--device", "virtio-vsock,port=3,socketURL=/c,connect")) == 0);
		CHECK(vz.socket_device);
		CHECK(vz.vsock_port_count == 3);
		CHECK(vz.vsock_ports[0].port == 1 && vz.vsock_ports[1].port == 2 && vz.vsock_ports[2].port == 3);
		CHECK(!vz.vsock_ports[2].listen);
		vz_vm_configuration_free(&vz);
		TEST_CASE("--timesync alone brings the vsock device");
		CHECK(build_vm(&vz, &err, ARGS(LINUX, "--timesync", "vsockPort=1234")) == 0);
		CHECK(vz.socket_device && vz.vsock_port_count == 0 && vz.timesync_vsock_port == 1234);
		vz_vm_configuration_free(&vz);
		TEST_CASE("--ignition alone brings the vsock device");
		CHECK(build_vm(&vz, &err, ARGS(LINUX, "--ignition", "/ign.json")) == 0);
		CHECK(vz.socket_device && vz.vsock_port_count == 0);
		CHECK_STR(vz.ignition_path, "/ign.json");
		vz_vm_configuration_free(&vz);
		TEST_CASE("no vsock device unless asked for");
		CHECK(build_vm(&vz, &err, ARGS(LINUX, "--device", "virtio-rng")) == 0);
		CHECK(!vz.socket_device);
		vz_vm_configuration_free(&vz);
	}
}

static void test_device_rules(void)
{
	expect_invalid("validate: duplicate virtio-fs tag", "--device virtio-fs: mountTag 'share' is used twice",
		       ARGS(LINUX, "--device", "virtio-fs,sharedDir=/a/share", "--device", "virtio-fs,sharedDir=/b,mountTag=share"));
	expect_invalid("validate: rosetta tag equal to a virtio-fs tag", "--device rosetta: mountTag 'x' is used twice",
		       ARGS(LINUX, "--device", "virtio-fs,sharedDir=/a,mountTag=x", "--device", "rosetta,mountTag=x"));
	expect_valid("validate: distinct tags", ARGS(LINUX, "--device", "virtio-fs,sharedDir=/a/x", "--device", "virtio-fs,sharedDir=/a/y",
						      "--device", "rosetta,mountTag=rosetta"));
	expect_invalid("validate: rosetta with macOS", "--device rosetta: Rosetta is for Linux guests, not with --bootloader macos",
		       ARGS(MACOS, "--device", "rosetta,mountTag=r"));
	expect_invalid("validate: two stdio serial ports", "--device virtio-serial: only one serial port can use stdio",
		       ARGS(LINUX, "--device", "virtio-serial,stdio", "--device", "virtio-serial,stdio"));
	expect_valid("validate: stdio and pty and two log files",
		     ARGS(LINUX, "--device", "virtio-serial,stdio", "--device", "virtio-serial,pty", "--device", "virtio-serial,pty",
			  "--device", "virtio-serial,logFilePath=/l1", "--device", "virtio-serial,logFilePath=/l2"));
	expect_invalid("validate: one log file twice", "--device virtio-serial: logFilePath /l is used twice",
		       ARGS(LINUX, "--device", "virtio-serial,logFilePath=/l", "--device", "virtio-serial,pty", "--device",
			    "virtio-serial,logFilePath=/l"));
	expect_invalid("validate: one MAC twice", "--device virtio-net: MAC address 52:54:00:00:00:01 is used twice",
		       ARGS(LINUX, "--device", "virtio-net,nat,mac=52:54:00:00:00:01", "--device",
			    "virtio-net,unixSocketPath=/s,mac=52-54-00-00-00-01"));
	expect_valid("validate: two NICs with random MACs", ARGS(LINUX, "--device", "virtio-net,nat", "--device", "virtio-net,nat"));
	expect_invalid("validate: fd=0", "--device virtio-net: fd=0 is a standard stream, not a socket",
		       ARGS(LINUX, "--device", "virtio-net,fd=0"));
	expect_invalid("validate: fd=1", "fd=1 is a standard stream", ARGS(LINUX, "--device", "virtio-net,fd=1"));
	expect_invalid("validate: fd=2", "fd=2 is a standard stream", ARGS(LINUX, "--device", "virtio-net,fd=2"));
	expect_valid("validate: fd=3", ARGS(LINUX, "--device", "virtio-net,fd=3"));
	expect_invalid("validate: one fd twice", "--device virtio-net: fd=3 is used twice",
		       ARGS(LINUX, "--device", "virtio-net,fd=3", "--device", "virtio-net,fd=3"));
}

/* Duplicates far apart among many devices, and which one is reported when
 * several repeat: the first item (in order) whose key an earlier one has. */
static void test_many_devices(void)
{
	enum { SHARES = 300 };
	const char *args[2 + 2 * SHARES + 1];
	char texts[SHARES][64];
	size_t n = 0;
	struct vz_vm_configuration vz;
	struct vzk_error err;

	args[n++] = "--bootloader";
	args[n++] = "linux,kernel=/k";
	for (int i = 0; i < SHARES; i++) {
		snprintf(texts[i], sizeof(texts[i]), "virtio-fs,sharedDir=/s/%d,mountTag=tag%d", i, i == 298 ? 7 : i);
		args[n++] = "--device";
		args[n++] = texts[i];
	}
	args[n] = NULL;
	TEST_CASE("validate: a repeated tag 291 devices apart");
	if (build_vm(&vz, &err, args) == 0) {
		CHECK_NAMED("validate: a repeated tag 291 devices apart", false, "accepted");
		vz_vm_configuration_free(&vz);
	} else {
		CHECK(strstr(err.message, "mountTag 'tag7' is used twice") != NULL);
	}
	snprintf(texts[298], sizeof(texts[298]), "virtio-fs,sharedDir=/s/298,mountTag=tag298");
	TEST_CASE("validate: 300 distinct tags pass");
	CHECK(build_vm(&vz, &err, args) == 0);
	vz_vm_configuration_free(&vz);

	expect_invalid("validate: the first repeat in order is reported", "mountTag 'y' is used twice",
		       ARGS(LINUX, "--device", "virtio-fs,sharedDir=/1,mountTag=x", "--device", "virtio-fs,sharedDir=/2,mountTag=y",
			    "--device", "virtio-fs,sharedDir=/3,mountTag=y", "--device", "virtio-fs,sharedDir=/4,mountTag=x"));
	expect_invalid("validate: the first repeated socket in order is reported", "socketURL /b is given twice",
		       ARGS(LINUX, "--device", "virtio-vsock,port=1,socketURL=/a", "--device", "virtio-vsock,port=2,socketURL=/b",
			    "--device", "virtio-vsock,port=3,socketURL=/b", "--device", "virtio-vsock,port=4,socketURL=/a"));
	expect_invalid("validate: a repeated MAC before a repeated fd", "MAC address 52:54:00:00:00:02 is used twice",
		       ARGS(LINUX, "--device", "virtio-net,fd=3,mac=52:54:00:00:00:01", "--device", "virtio-net,fd=4,mac=52:54:00:00:00:02",
			    "--device", "virtio-net,fd=5,mac=52:54:00:00:00:02", "--device", "virtio-net,fd=3,mac=52:54:00:00:00:03"));
	expect_invalid("validate: a repeated fd before a repeated MAC", "fd=3 is used twice",
		       ARGS(LINUX, "--device", "virtio-net,fd=3,mac=52:54:00:00:00:01", "--device", "virtio-net,fd=3,mac=52:54:00:00:00:02",
			    "--device", "virtio-net,fd=5,mac=52:54:00:00:00:01"));
	expect_invalid("validate: log files repeat among other consoles", "logFilePath /b is used twice",
		       ARGS(LINUX, "--device", "virtio-serial,logFilePath=/a", "--device", "virtio-serial,pty", "--device",
			    "virtio-serial,logFilePath=/b", "--device", "virtio-serial,stdio", "--device", "virtio-serial,logFilePath=/b"));
}

/* ---- host paths ---- */

static char scratch[64];

static char *scratch_path(const char *name)
{
	static char buf[8][256];
	static int next;
	char *out = buf[next++ % 8];
	snprintf(out, 256, "%s/%s", scratch, name);
	return out;
}

static void make_file(const char *name, mode_t mode)
{
	int fd = open(scratch_path(name), O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, "data", 4) != 4)
			printf("# short write to %s\n", name);
		close(fd);
	}
	chmod(scratch_path(name), mode);
}

/* vz_check_host_paths on the VM the args describe. */
static void expect_host(const char *name, const char *want, const char *const *args)
{
	struct vz_vm_configuration vz;
	struct vzk_error err;
	int status = build_vm(&vz, &err, args);

	if (status != 0) {
		CHECK_NAMED(name, false, "the VM does not validate: %s", err.message);
		return;
	}
	status = vz_check_host_paths(&vz, &err);
	if (want == NULL)
		CHECK_NAMED(name, status == 0, "refused: %s", err.message);
	else
		CHECK_NAMED(name, status == -1 && err.kind == VZK_ERR_USAGE && strstr(err.message, want) != NULL,
			    "status %d message '%s' (want '%s')", status, err.message, want);
	vz_vm_configuration_free(&vz);
}

/* Root may write any file: run the check as nobody in a child. */
static void expect_host_unprivileged(const char *name, const char *want, const char *const *args)
{
	pid_t pid;
	int wstatus = 0;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct vz_vm_configuration vz;
		struct vzk_error err;
		int status;
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		if (build_vm(&vz, &err, args) != 0)
			_exit(4);
		status = vz_check_host_paths(&vz, &err);
		vz_vm_configuration_free(&vz);
		if (want == NULL)
			_exit(status == 0 ? 0 : 1);
		_exit(status == -1 && strstr(err.message, want) != NULL ? 0 : 1);
	}
	waitpid(pid, &wstatus, 0);
	CHECK_NAMED(name, WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "child status %#x", wstatus);
}

static const char *find_block_device(void)
{
	static const char *const candidates[] = {"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/xvda", "/dev/ram0"};
	struct stat st;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (stat(candidates[i], &st) == 0 && S_ISBLK(st.st_mode))
			return candidates[i];
	return NULL;
}

static void test_host_paths(void)
{
	char arg[8][512];

	snprintf(scratch, sizeof(scratch), "/tmp/vzkit-validate.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		SKIP("host paths", "cannot make a scratch folder");
		return;
	}
	chmod(scratch, 0755); /* the unprivileged child must reach it */
	make_file("vmlinuz", 0644);
	make_file("initrd", 0644);
	make_file("disk.img", 0644);
	make_file("ro.img", 0444);
	make_file("ign.json", 0644);
	make_file("vars", 0644);
	make_file("id", 0644);
	make_file("hw", 0644);
	make_file("aux", 0644);
	mkdir(scratch_path("share"), 0755);

	snprintf(arg[0], sizeof(arg[0]), "linux,kernel=%s,initrd=%s", scratch_path("vmlinuz"), scratch_path("initrd"));
	expect_host("host: kernel and initrd present", NULL, ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "linux,kernel=%s", scratch_path("missing-kernel"));
	snprintf(arg[1], sizeof(arg[1]), "--bootloader linux: kernel: %s: No such file or directory", scratch_path("missing-kernel"));
	expect_host("host: missing kernel", arg[1], ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "linux,kernel=%s", scratch_path("share"));
	expect_host("host: kernel is a folder", "is not a regular file", ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "linux,kernel=%s,initrd=%s", scratch_path("vmlinuz"), scratch_path("no-initrd"));
	expect_host("host: missing initrd", "--bootloader linux: initrd:", ARGS("--bootloader", arg[0]));

	snprintf(arg[0], sizeof(arg[0]), "linux,kernel=%s", scratch_path("vmlinuz"));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s", scratch_path("disk.img"));
	expect_host("host: writable disk image", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s", scratch_path("no.img"));
	expect_host("host: missing disk image", "--device virtio-blk:", ARGS("--bootloader", arg[0], "--device", arg[1]));
	{
		int fd = open(scratch_path("empty.img"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s", scratch_path("empty.img"));
	snprintf(arg[2], sizeof(arg[2]), "--device virtio-blk: failed to read the header of file %s: EOF", scratch_path("empty.img"));
	expect_host("host: a zero-byte virtio-blk image is refused (vfkit reads its header first)", arg[2],
		    ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "usb-mass-storage,path=%s", scratch_path("empty.img"));
	expect_host("host: a zero-byte usb-mass-storage image is accepted (vfkit does not read it)", NULL,
		    ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "nvme,path=%s", scratch_path("no.img"));
	expect_host("host: missing nvme image", "--device nvme:", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "usb-mass-storage,path=%s", scratch_path("share"));
	expect_host("host: usb image is a folder", "--device usb-mass-storage:", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s", scratch_path("ro.img"));
	expect_host_unprivileged("host: image not writable without readonly", "is not writable (add readonly?)",
				 ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s,readonly", scratch_path("ro.img"));
	expect_host_unprivileged("host: read-only image with readonly", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s,type=dev", scratch_path("disk.img"));
	expect_host("host: type=dev on a regular file", "type=dev needs a block device", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s,type=dev", scratch_path("no-dev"));
	expect_host("host: type=dev on a missing node", "No such file or directory", ARGS("--bootloader", arg[0], "--device", arg[1]));
	if (find_block_device() != NULL) {
		snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s,type=dev,readonly", find_block_device());
		expect_host("host: type=dev on a block device", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));
	} else {
		SKIP("host: type=dev on a block device", "no block device node in /dev here");
	}
	expect_host("host: nbd is not checked at start", NULL, ARGS("--bootloader", arg[0], "--device", "nbd,uri=nbd://nowhere.invalid/x"));

	snprintf(arg[1], sizeof(arg[1]), "virtio-fs,sharedDir=%s", scratch_path("share"));
	expect_host("host: sharedDir is a folder", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-fs,sharedDir=%s", scratch_path("disk.img"));
	expect_host("host: sharedDir is a file", "--device virtio-fs: sharedDir", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-fs,sharedDir=%s", scratch_path("nothing"));
	expect_host("host: sharedDir missing", "is not a directory", ARGS("--bootloader", arg[0], "--device", arg[1]));
	expect_host("host: rosetta has no host folder to check", NULL, ARGS("--bootloader", arg[0], "--device", "rosetta,mountTag=r"));

	snprintf(arg[1], sizeof(arg[1]), "virtio-serial,logFilePath=%s", scratch_path("new.log"));
	expect_host("host: log file in an existing folder", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-serial,logFilePath=%s", scratch_path("nodir/new.log"));
	snprintf(arg[2], sizeof(arg[2]), "--device virtio-serial: logFilePath: directory %s of ", scratch_path("nodir"));
	expect_host("host: log folder missing", arg[2], ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-vsock,port=5,socketURL=%s", scratch_path("nodir/v.sock"));
	expect_host("host: vsock socket folder missing", "--device virtio-vsock: socketURL: directory", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-net,unixSocketPath=%s", scratch_path("nodir/n.sock"));
	expect_host("host: net socket folder missing", "--device virtio-net: unix socket: directory", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-net,type=unixgram,path=%s", scratch_path("nodir/n.sock"));
	expect_host("host: unixgram socket folder missing", "--device virtio-net: unix socket: directory", ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[1], sizeof(arg[1]), "virtio-net,unixSocketPath=%s", scratch_path("n.sock"));
	expect_host("host: net socket folder present", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));

	expect_host("host: ignition file missing", "--ignition:", ARGS("--bootloader", arg[0], "--ignition", scratch_path("no.ign")));
	expect_host("host: ignition file present", NULL, ARGS("--bootloader", arg[0], "--ignition", scratch_path("ign.json")));

	snprintf(arg[0], sizeof(arg[0]), "efi,variable-store=%s", scratch_path("vars"));
	expect_host("host: efi store present", NULL, ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "efi,variable-store=%s", scratch_path("new-vars"));
	expect_host("host: efi store missing without create", "variable-store", ARGS("--bootloader", arg[0]));
	expect_host("host: efi store missing without create says 'add create'", "does not exist (add create to make it)",
		    ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "efi,variable-store=%s,create", scratch_path("new-vars"));
	expect_host("host: efi store missing with create, folder present", NULL, ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "efi,variable-store=%s,create", scratch_path("nodir/vars"));
	expect_host("host: efi store with create, folder missing", "--bootloader efi: variable-store: directory", ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "efi,variable-store=%s,create", scratch_path("share"));
	expect_host("host: efi store is a folder", "is not a regular file", ARGS("--bootloader", arg[0]));

	snprintf(arg[0], sizeof(arg[0]), "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s", scratch_path("id"),
		 scratch_path("hw"), scratch_path("aux"));
	{
		/* the host check on its own: an Apple silicon host would run this VM */
		expect_host("host: macOS files present", NULL, ARGS("--bootloader", arg[0]));
	}
	snprintf(arg[0], sizeof(arg[0]), "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s", scratch_path("id"),
		 scratch_path("no-hw"), scratch_path("aux"));
	expect_host("host: macOS hardware model missing", "--bootloader macos: hardwareModelPath:", ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s", scratch_path("no-id"),
		 scratch_path("hw"), scratch_path("aux"));
	expect_host("host: macOS machine identifier missing", "--bootloader macos: machineIdentifierPath:", ARGS("--bootloader", arg[0]));
	snprintf(arg[0], sizeof(arg[0]), "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s", scratch_path("id"),
		 scratch_path("hw"), scratch_path("no-aux"));
	expect_host("host: macOS aux image missing", "--bootloader macos: auxImagePath:", ARGS("--bootloader", arg[0]));

	/* restoreImage (vzkit): install when none of the three exists, boot when all do, never a mix */
	make_file("15.ipsw", 0644);
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s,size=64G", scratch_path("mac.img"));
	snprintf(arg[0], sizeof(arg[0]),
		 "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s,restoreImage=%s",
		 scratch_path("new-id"), scratch_path("new-hw"), scratch_path("new-aux"), scratch_path("15.ipsw"));
	expect_host("host: macOS install: no identity file yet, a local image, a disk to create", NULL,
		    ARGS("--bootloader", arg[0], "--device", arg[1]));
	{
		struct vz_vm_configuration vz;
		struct vzk_error err;
		TEST_CASE("host: macOS install needed when none of the three exists");
		CHECK(build_vm(&vz, &err, ARGS("--bootloader", arg[0], "--device", arg[1])) == 0 &&
		      vz_macos_needs_install(&vz));
		vz_vm_configuration_free(&vz);
	}
	expect_host("host: macOS install needs a disk", "restoreImage installs macOS on the first disk",
		    ARGS("--bootloader", arg[0]));
	snprintf(arg[2], sizeof(arg[2]), "virtio-blk,path=%s,readonly", scratch_path("disk.img"));
	expect_host("host: macOS install refuses a read-only first disk", "cannot install on the read-only disk",
		    ARGS("--bootloader", arg[0], "--device", arg[2]));
	snprintf(arg[0], sizeof(arg[0]),
		 "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s,restoreImage=%s",
		 scratch_path("new-id"), scratch_path("new-hw"), scratch_path("new-aux"), scratch_path("no.ipsw"));
	expect_host("host: macOS install from a missing local image", "--bootloader macos: restoreImage:",
		    ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[0], sizeof(arg[0]),
		 "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s,restoreImage=latest",
		 scratch_path("new-id"), scratch_path("new-hw"), scratch_path("nodir/aux"));
	expect_host("host: macOS install into a missing folder", "--bootloader macos: directory",
		    ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[0], sizeof(arg[0]),
		 "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s,restoreImage=latest",
		 scratch_path("id"), scratch_path("new-hw"), scratch_path("aux"));
	snprintf(arg[2], sizeof(arg[2]), "--bootloader macos: hardwareModelPath %s does not exist while the other files do",
		 scratch_path("new-hw"));
	expect_host("host: macOS install refuses a mix of present and missing files (nothing overwritten)", arg[2],
		    ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[0], sizeof(arg[0]),
		 "macos,machineIdentifierPath=%s,hardwareModelPath=%s,auxImagePath=%s,restoreImage=https://example.invalid/x.ipsw",
		 scratch_path("id"), scratch_path("hw"), scratch_path("aux"));
	{
		struct vz_vm_configuration vz;
		struct vzk_error err;
		expect_host("host: macOS files present: restoreImage ignored, nothing fetched", NULL,
			    ARGS("--bootloader", arg[0], "--device", arg[1]));
		TEST_CASE("host: macOS files present: no install");
		CHECK(build_vm(&vz, &err, ARGS("--bootloader", arg[0], "--device", arg[1])) == 0 &&
		      !vz_macos_needs_install(&vz));
		vz_vm_configuration_free(&vz);
	}

	/* size= (vzkit): a missing image is made sparse at start, an existing one is never touched */
	snprintf(arg[0], sizeof(arg[0]), "linux,kernel=%s", scratch_path("vmlinuz"));
	snprintf(arg[1], sizeof(arg[1]), "virtio-blk,path=%s,size=64G", scratch_path("sparse.img"));
	expect_host("host: missing image with size= is accepted", NULL, ARGS("--bootloader", arg[0], "--device", arg[1]));
	snprintf(arg[2], sizeof(arg[2]), "virtio-blk,path=%s,size=64G", scratch_path("nodir/sparse.img"));
	expect_host("host: missing image with size= in a missing folder", "--device virtio-blk: directory",
		    ARGS("--bootloader", arg[0], "--device", arg[2]));
	{
		struct vz_vm_configuration vz;
		struct vzk_error err;
		struct stat st;
		char keep[512];
		snprintf(keep, sizeof(keep), "virtio-blk,path=%s,size=1G", scratch_path("disk.img"));
		TEST_CASE("host: size= makes the missing image sparse, at the size asked");
		CHECK(build_vm(&vz, &err, ARGS("--bootloader", arg[0], "--device", arg[1], "--device", keep)) == 0 &&
		      vz_create_missing_disk_images(&vz, &err) == 0);
		CHECK(stat(scratch_path("sparse.img"), &st) == 0 && st.st_size == 64LL << 30 &&
		      (long long)st.st_blocks * 512 < (1LL << 20));
		TEST_CASE("host: size= never touches an existing image");
		CHECK(stat(scratch_path("disk.img"), &st) == 0 && st.st_size == 4);
		vz_vm_configuration_free(&vz);
	}

	{
		char command[128];
		snprintf(command, sizeof(command), "rm -rf '%s'", scratch);
		if (system(command) != 0)
			printf("# could not remove %s\n", scratch);
	}
}

int main(void)
{
	test_top_level_rules();
	test_vsock_rules();
	test_device_rules();
	test_many_devices();
	test_host_paths();
	TEST_EXIT();
}

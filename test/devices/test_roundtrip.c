/* Round trips between the three forms of a VM: flags → JSON → description →
 * flags → JSON gives the same JSON, for every device type and key, for every
 * golden command line, and from hand-written vfkit JSON (JSON → flags → JSON). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/output.h"
#include "test/testlib.h"
#include "vz/vz.h"

#define MAX_ARGS 128

/* Parses argv (argv[0] included) like cmd/main.c and returns the VM JSON text. */
static char *json_of_argv(int argc, char **argv, char *error, size_t error_size)
{
	struct vm_description vm;
	struct run_options options;
	struct vz_vm_configuration vz;
	struct vzk_error err = {0};
	char *json = NULL;

	vm_description_init(&vm);
	if (args_parse(argc, argv, &vm, &options, &err) != 0 || vm_description_apply_gui(&vm, NULL, &err) != 0 ||
	    vm_description_to_vz(&vm, &vz, &err) != 0) {
		snprintf(error, error_size, "%s", err.message);
	} else {
		vz_vm_configuration_free(&vz);
		json = output_vm_json(&vm);
	}
	vm_description_free(&vm);
	run_options_free(&options);
	return json;
}

static char *json_of_args(const char *const *args, char *error, size_t error_size)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	char *json;

	argv[argc++] = strdup("vzkit");
	for (size_t i = 0; args[i] != NULL && argc <= MAX_ARGS; i++)
		argv[argc++] = strdup(args[i]);
	argv[argc] = NULL;
	json = json_of_argv(argc, argv, error, error_size);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return json;
}

/* JSON text → description → JSON text, and → argv → parse → JSON text. */
static void via_json(const char *json, char **json_again, char **json_via_argv, char *error, size_t error_size)
{
	json_error_t json_err;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &json_err);
	struct vm_description vm;
	struct vzk_error err = {0};
	char **argv = NULL;
	size_t argc = 0;

	*json_again = *json_via_argv = NULL;
	vm_description_init(&vm);
	if (root == NULL) {
		snprintf(error, error_size, "not JSON: %s", json_err.text);
		return;
	}
	if (vm_description_from_json(root, &vm, &err) != 0) {
		snprintf(error, error_size, "from_json: %s", err.message);
		goto out;
	}
	*json_again = output_vm_json(&vm);
	if (vm_description_to_argv(&vm, &argv, &argc, &err) != 0) {
		snprintf(error, error_size, "to_argv: %s", err.message);
		goto out;
	}
	{
		char **full = calloc(argc + 2, sizeof(char *));
		full[0] = strdup("vzkit");
		for (size_t i = 0; i < argc; i++)
			full[i + 1] = strdup(argv[i]);
		*json_via_argv = json_of_argv((int)argc + 1, full, error, error_size);
		for (size_t i = 0; i < argc + 1; i++)
			free(full[i]);
		free(full);
	}
out:
	vm_argv_free(argv);
	vm_description_free(&vm);
	json_decref(root);
}

/* The whole round trip for one command line. */
static void round_trip(const char *name, const char *const *args)
{
	char error[1024] = "";
	char *json = json_of_args(args, error, sizeof(error));
	char *json_again, *json_via_argv;
	char check_name[512];

	if (json == NULL) {
		CHECK_NAMED(name, false, "does not parse: %s", error);
		return;
	}
	via_json(json, &json_again, &json_via_argv, error, sizeof(error));
	snprintf(check_name, sizeof(check_name), "%s: flags → JSON → description → JSON", name);
	CHECK_NAMED(check_name, json_again != NULL && strcmp(json, json_again) == 0, "\n  first:  %s\n  second: %s\n  %s", json,
		    json_again ? json_again : "(none)", error);
	snprintf(check_name, sizeof(check_name), "%s: flags → JSON → flags → JSON", name);
	CHECK_NAMED(check_name, json_via_argv != NULL && strcmp(json, json_via_argv) == 0, "\n  first:  %s\n  second: %s\n  %s",
		    json, json_via_argv ? json_via_argv : "(none)", error);
	free(json);
	free(json_again);
	free(json_via_argv);
}

/* Every key of every device type at least once. */
static const char *const device_cases[] = {
	"virtio-blk,path=/d.img",
	"virtio-blk,path=/d.img,readonly,type=image,deviceId=disk0",
	"virtio-blk,path=/dev/sdb,type=dev",
	"virtio-blk,path=\"/a b,c.img\"",
	"nvme,path=/n.img",
	"nvme,path=/dev/nvme0,readonly,type=dev",
	"usb-mass-storage,path=/i.iso,readonly",
	"usb-mass-storage,path=/u.img,type=image",
	"nbd,uri=nbd://host:10809/export",
	"nbd,uri=nbds://host/x,deviceId=n1,timeout=1,sync=none,readonly",
	"nbd,uri=nbd+unix:///e?socket=/s,sync=full,timeout=86400000",
	"virtio-net,nat",
	"virtio-net,nat,mac=52:54:00:12:34:56",
	"virtio-net,fd=7,mac=5A-54-00-12-34-56",
	"virtio-net,unixSocketPath=/g.sock",
	"virtio-net,unixSocketPath=/g.sock,vfkitMagic=off",
	"virtio-net,type=unixgram,path=/v.sock",
	"virtio-net,type=unixgram,path=/v.sock,offloading=off,vfkitMagic=off",
	"virtio-net,type=unixgram,path=/v.sock,offloading=off",
	"virtio-vsock,port=1025,socketURL=/r.sock",
	"virtio-vsock,port=1025,socketURL=/r.sock,listen",
	"virtio-vsock,port=4294967295,socketURL=/c.sock,connect",
	"virtio-fs,sharedDir=/srv/share",
	"virtio-fs,sharedDir=/srv/share/,mountTag=tag0",
	"rosetta,mountTag=rosetta",
	"rosetta,mountTag=r,install,ignore-if-missing",
	"virtio-gpu",
	"virtio-gpu,width=1920,height=1080",
	"virtio-input,keyboard",
	"virtio-input,pointing",
	"virtio-serial,logFilePath=/l.log",
	"virtio-serial,stdio",
	"virtio-serial,pty",
	"virtio-rng",
	"virtio-balloon",
};

static const char *const bootloader_cases[] = {
	"linux,kernel=/k",
	"linux,kernel=/k,initrd=/i,cmdline=\"console=hvc0 root=/dev/vda rw\"",
	"linux,kernel=/k,cmdline=\"a,b=c \"\"d\"\"\"",
	"linux,kernel=/k,cmdline=",
	"efi,variable-store=/v",
	"efi,variable-store=/v,create",
	"macos,machineIdentifierPath=/m,hardwareModelPath=/h,auxImagePath=/a",
};

static void test_every_device(void)
{
	for (size_t i = 0; i < sizeof(device_cases) / sizeof(device_cases[0]); i++) {
		char name[256];
		snprintf(name, sizeof(name), "round trip --device %s", device_cases[i]);
		round_trip(name, (const char *const[]){"--bootloader", "linux,kernel=/k", "--device", device_cases[i], NULL});
	}
	for (size_t i = 0; i < sizeof(bootloader_cases) / sizeof(bootloader_cases[0]); i++) {
		char name[256];
		snprintf(name, sizeof(name), "round trip --bootloader %s", bootloader_cases[i]);
		round_trip(name, (const char *const[]){"--bootloader", bootloader_cases[i], NULL});
	}
	round_trip("round trip top-level flags",
		   (const char *const[]){"--bootloader", "linux,kernel=/k", "--cpus", "8", "--memory", "3072", "--nested",
					 "--timesync", "vsockPort=99", "--ignition", "/i.ign", "--cloud-init",
					 "/c/user-data,/c/meta-data", "--gui", NULL});
	/* every device type in one VM, in the order given */
	{
		const char *args[2 + 2 * 16 + 1] = {"--bootloader", "linux,kernel=/k"};
		size_t n = 2;
		static const char *const one_of_each[] = {
			"virtio-blk,path=/a", "nvme,path=/b", "usb-mass-storage,path=/c", "nbd,uri=nbd://h/e",
			"virtio-net,nat", "virtio-vsock,port=5,socketURL=/s", "virtio-fs,sharedDir=/d", "rosetta,mountTag=r",
			"virtio-gpu", "virtio-input,keyboard", "virtio-serial,pty", "virtio-rng", "virtio-balloon",
		};
		for (size_t i = 0; i < sizeof(one_of_each) / sizeof(one_of_each[0]); i++) {
			args[n++] = "--device";
			args[n++] = one_of_each[i];
		}
		args[n] = NULL;
		round_trip("round trip every device type in one VM", args);
	}
}

/* Every golden command line round-trips too. */
static void test_golden_cases(void)
{
	const char *dir = "test/devices/golden";
	DIR *listing = opendir(dir);
	struct dirent *entry;
	size_t cases = 0;

	if (listing == NULL) {
		CHECK_NAMED("round trip golden cases", false, "cannot open %s", dir);
		return;
	}
	while ((entry = readdir(listing)) != NULL) {
		size_t len = strlen(entry->d_name);
		char path[512], name[256];
		const char *args[MAX_ARGS + 1];
		size_t n = 0;
		char *text = NULL;
		size_t size = 0;
		FILE *in;

		if (len <= 5 || strcmp(entry->d_name + len - 5, ".args") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		in = fopen(path, "r");
		if (in == NULL)
			continue;
		if (getdelim(&text, &size, '\0', in) < 0) {
			fclose(in);
			free(text);
			continue;
		}
		fclose(in);
		for (char *line = text, *next; line != NULL && *line != '\0' && n < MAX_ARGS; line = next) {
			next = strchr(line, '\n');
			if (next != NULL)
				*next++ = '\0';
			args[n++] = line;
		}
		args[n] = NULL;
		snprintf(name, sizeof(name), "round trip golden %.*s", (int)(len - 5), entry->d_name);
		round_trip(name, args);
		free(text);
		cases++;
	}
	closedir(listing);
	CHECK_NAMED("round trip golden cases found", cases > 0, "none in %s", dir);
}

/* vfkit JSON written by hand (and by older vfkit versions, with Go's
 * capitalised field names) → description → flags → JSON. */
static const struct {
	const char *name;
	const char *json;
	const char *want; /* the JSON vzkit writes back */
} json_cases[] = {
	{"vfkit JSON, current field names",
	 "{\"vcpus\":2,\"memoryBytes\":2147483648,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\","
	 "\"initrdPath\":\"/i\",\"kernelCmdLine\":\"console=hvc0\"},\"devices\":[{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\","
	 "\"imagePath\":\"/d\",\"readOnly\":false},{\"kind\":\"virtiosock\",\"port\":1025,\"socketURL\":\"/s\",\"listen\":true},"
	 "{\"kind\":\"virtioinput\",\"inputType\":\"pointing\"},{\"kind\":\"virtioserial\",\"logFile\":\"/l\",\"usesStdio\":false,"
	 "\"usesPty\":false,\"ptyName\":\"\"}],\"timesync\":{\"vsockPort\":1234}}",
	 "{\"vcpus\":2,\"memoryBytes\":2147483648,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\","
	 "\"initrdPath\":\"/i\",\"kernelCmdLine\":\"console=hvc0\"},\"devices\":[{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\","
	 "\"imagePath\":\"/d\",\"readOnly\":false},{\"kind\":\"virtiosock\",\"port\":1025,\"socketURL\":\"/s\",\"listen\":true},"
	 "{\"kind\":\"virtioinput\",\"inputType\":\"pointing\"},{\"kind\":\"virtioserial\",\"logFile\":\"/l\",\"usesStdio\":false,"
	 "\"usesPty\":false}],\"timesync\":{\"vsockPort\":1234}}"},
	{"vfkit JSON, Go-style capitalised field names",
	 "{\"Vcpus\":1,\"MemoryBytes\":1073741824,\"Bootloader\":{\"kind\":\"linuxBootloader\",\"VmlinuzPath\":\"/k\","
	 "\"InitrdPath\":\"/i\",\"KernelCmdLine\":\"quiet\"},\"Devices\":[{\"kind\":\"virtioblk\",\"DevName\":\"virtio-blk\","
	 "\"ImagePath\":\"/d\",\"ReadOnly\":true,\"DeviceIdentifier\":\"\"},{\"kind\":\"virtionet\",\"Nat\":true,"
	 "\"MacAddress\":\"52:54:00:00:00:09\",\"UnixSocketPath\":\"\"},{\"kind\":\"virtiofs\",\"SharedDir\":\"/s\",\"MountTag\":\"t\"},"
	 "{\"kind\":\"virtiosock\",\"Port\":7,\"SocketURL\":\"/v\",\"Listen\":false},{\"kind\":\"virtiogpu\",\"Width\":640,"
	 "\"Height\":480,\"UsesGUI\":false}],\"Timesync\":null,\"Ignition\":null}",
	 "{\"vcpus\":1,\"memoryBytes\":1073741824,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\","
	 "\"initrdPath\":\"/i\",\"kernelCmdLine\":\"quiet\"},\"devices\":[{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\","
	 "\"imagePath\":\"/d\",\"readOnly\":true},{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":\"52:54:00:00:00:09\"},"
	 "{\"kind\":\"virtiofs\",\"sharedDir\":\"/s\",\"mountTag\":\"t\"},{\"kind\":\"virtiosock\",\"port\":7,\"socketURL\":\"/v\","
	 "\"listen\":false},{\"kind\":\"virtiogpu\",\"width\":640,\"height\":480,\"usesGUI\":false}]}"},
	{"vfkit JSON, efi with every storage kind",
	 "{\"vcpus\":4,\"memoryBytes\":4294967296,\"bootloader\":{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/v\","
	 "\"createVariableStore\":true},\"devices\":[{\"kind\":\"nvme\",\"imagePath\":\"/n\"},{\"kind\":\"usbmassstorage\","
	 "\"imagePath\":\"/u\",\"readOnly\":true},{\"kind\":\"nbd\",\"uri\":\"nbd://h/x\",\"timeout\":100000000,"
	 "\"synchronizationMode\":\"none\"},{\"kind\":\"virtiorng\"},{\"kind\":\"virtioballoon\"},{\"kind\":\"rosetta\","
	 "\"mountTag\":\"r\",\"installRosetta\":true}],\"ignition\":{\"kind\":\"ignition\",\"configPath\":\"/c.ign\"},\"nested\":true}",
	 "{\"vcpus\":4,\"memoryBytes\":4294967296,\"bootloader\":{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/v\","
	 "\"createVariableStore\":true},\"devices\":[{\"kind\":\"nvme\",\"devName\":\"nvme\",\"imagePath\":\"/n\",\"readOnly\":false},"
	 "{\"kind\":\"usbmassstorage\",\"devName\":\"usb-mass-storage\",\"imagePath\":\"/u\",\"readOnly\":true},{\"kind\":\"nbd\","
	 "\"devName\":\"nbd\",\"uri\":\"nbd://h/x\",\"readOnly\":false,\"DeviceIdentifier\":\"\",\"Timeout\":100000000,"
	 "\"SynchronizationMode\":\"none\"},"
	 "{\"kind\":\"virtiorng\"},{\"kind\":\"virtioballoon\"},{\"kind\":\"rosetta\",\"mountTag\":\"r\",\"installRosetta\":true,"
	 "\"ignoreIfMissing\":false}],\"ignition\":{\"kind\":\"ignition\",\"configPath\":\"/c.ign\"},\"nested\":true}"},
	{"vfkit JSON, macOS with a GUI display",
	 "{\"vcpus\":4,\"memoryBytes\":8589934592,\"bootloader\":{\"kind\":\"macosBootloader\",\"machineIdentifierPath\":\"/m\","
	 "\"hardwareModelPath\":\"/h\",\"auxImagePath\":\"/a\"},\"devices\":[{\"kind\":\"virtiogpu\",\"width\":1920,\"height\":1200,"
	 "\"usesGUI\":true},{\"kind\":\"virtioinput\",\"inputType\":\"keyboard\"}]}",
	 "{\"vcpus\":4,\"memoryBytes\":8589934592,\"bootloader\":{\"kind\":\"macosBootloader\",\"machineIdentifierPath\":\"/m\","
	 "\"hardwareModelPath\":\"/h\",\"auxImagePath\":\"/a\"},\"devices\":[{\"kind\":\"virtiogpu\",\"width\":1920,\"height\":1200,"
	 "\"usesGUI\":true},{\"kind\":\"virtioinput\",\"inputType\":\"keyboard\"}]}"},
};

/* The JSON three generations of vfkit write (field names, MAC encoding,
 * omitted zero values), each loaded and written back the way vzkit writes. */
static const struct {
	const char *name;
	const char *json;
	const char *want;
} vfkit_generations[] = {
	{"vfkit JSON, first generation (Go field names, base64 MAC, Socket null)",
	 "{\"vcpus\":2,\"memoryBytes\":2147483648,\"bootloader\":{\"kind\":\"linuxBootloader\",\"VmlinuzPath\":\"/b/vmlinuz\","
	 "\"KernelCmdLine\":\"console=hvc0\",\"InitrdPath\":\"/b/initrd\"},\"timesync\":{\"VsockPort\":1234},\"devices\":["
	 "{\"kind\":\"virtioserial\",\"LogFile\":\"/l/console.log\",\"UsesStdio\":false},"
	 "{\"kind\":\"virtionet\",\"Nat\":true,\"MacAddress\":\"UlQAEjRW\",\"Socket\":null,\"UnixSocketPath\":\"\"},"
	 "{\"kind\":\"virtioblk\",\"DevName\":\"virtio-blk\",\"ImagePath\":\"/d/root.img\",\"ReadOnly\":false,\"DeviceIdentifier\":\"\"},"
	 "{\"kind\":\"virtiosock\",\"Port\":1024,\"SocketURL\":\"/s/tap.sock\",\"Listen\":false},"
	 "{\"kind\":\"virtiofs\",\"SharedDir\":\"/home/u\",\"MountTag\":\"home\"}]}",
	 "{\"vcpus\":2,\"memoryBytes\":2147483648,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/b/vmlinuz\","
	 "\"initrdPath\":\"/b/initrd\",\"kernelCmdLine\":\"console=hvc0\"},\"devices\":["
	 "{\"kind\":\"virtioserial\",\"logFile\":\"/l/console.log\",\"usesStdio\":false,\"usesPty\":false},"
	 "{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":\"52:54:00:12:34:56\"},"
	 "{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\",\"imagePath\":\"/d/root.img\",\"readOnly\":false},"
	 "{\"kind\":\"virtiosock\",\"port\":1024,\"socketURL\":\"/s/tap.sock\",\"listen\":false},"
	 "{\"kind\":\"virtiofs\",\"sharedDir\":\"/home/u\",\"mountTag\":\"home\"}],\"timesync\":{\"vsockPort\":1234}}"},
	{"vfkit JSON, second generation (json tags, base64 MAC, listen omitted)",
	 "{\"vcpus\":1,\"memoryBytes\":1073741824,\"bootloader\":{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/e/vars\","
	 "\"createVariableStore\":true},\"devices\":[{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":\"WpTv5AzO\"},"
	 "{\"kind\":\"virtiosock\",\"port\":1025,\"socketURL\":\"/s/ready.sock\"},"
	 "{\"kind\":\"virtiosock\",\"port\":1026,\"socketURL\":\"/s/other.sock\",\"listen\":true},"
	 "{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\",\"imagePath\":\"/d/disk.raw\"},"
	 "{\"kind\":\"rosetta\",\"mountTag\":\"rosetta\",\"installRosetta\":false}]}",
	 "{\"vcpus\":1,\"memoryBytes\":1073741824,\"bootloader\":{\"kind\":\"efiBootloader\",\"efiVariableStorePath\":\"/e/vars\","
	 "\"createVariableStore\":true},\"devices\":[{\"kind\":\"virtionet\",\"nat\":true,\"macAddress\":\"5a:94:ef:e4:0c:ce\"},"
	 "{\"kind\":\"virtiosock\",\"port\":1025,\"socketURL\":\"/s/ready.sock\",\"listen\":false},"
	 "{\"kind\":\"virtiosock\",\"port\":1026,\"socketURL\":\"/s/other.sock\",\"listen\":true},"
	 "{\"kind\":\"virtioblk\",\"devName\":\"virtio-blk\",\"imagePath\":\"/d/disk.raw\",\"readOnly\":false},"
	 "{\"kind\":\"rosetta\",\"mountTag\":\"rosetta\",\"installRosetta\":false,\"ignoreIfMissing\":false}]}"},
	{"vfkit JSON, current generation (text MAC, NBD timeout as a Go duration)",
	 "{\"vcpus\":4,\"memoryBytes\":4294967296,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/b/k\","
	 "\"initrdPath\":\"/b/i\",\"kernelCmdLine\":\"quiet\"},\"devices\":["
	 "{\"kind\":\"virtionet\",\"nat\":false,\"unixSocketPath\":\"/s/gv.sock\",\"macAddress\":\"5a:94:ef:e4:0c:ee\"},"
	 "{\"kind\":\"virtionet\",\"nat\":false,\"unixSocketPath\":\"/s/gv2.sock\",\"macAddress\":\"5a:94:ef:e4:0c:ef\",\"vfkitMagic\":false},"
	 "{\"kind\":\"virtiosock\",\"port\":2222,\"socketURL\":\"/s/ssh.sock\"},"
	 "{\"kind\":\"nbd\",\"devName\":\"nbd\",\"uri\":\"nbd://h:10809/e\",\"DeviceIdentifier\":\"\",\"SynchronizationMode\":\"full\","
	 "\"Timeout\":2000000},"
	 "{\"kind\":\"virtioserial\",\"logFile\":\"/l/c.log\"},{\"kind\":\"usbmassstorage\",\"devName\":\"usb-mass-storage\","
	 "\"imagePath\":\"/d/i.iso\",\"readOnly\":true}],\"timesync\":{\"vsockPort\":1234}}",
	 "{\"vcpus\":4,\"memoryBytes\":4294967296,\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/b/k\","
	 "\"initrdPath\":\"/b/i\",\"kernelCmdLine\":\"quiet\"},\"devices\":["
	 "{\"kind\":\"virtionet\",\"nat\":false,\"unixSocketPath\":\"/s/gv.sock\",\"vfkitMagic\":true,\"macAddress\":\"5a:94:ef:e4:0c:ee\"},"
	 "{\"kind\":\"virtionet\",\"nat\":false,\"unixSocketPath\":\"/s/gv2.sock\",\"vfkitMagic\":false,\"macAddress\":\"5a:94:ef:e4:0c:ef\"},"
	 "{\"kind\":\"virtiosock\",\"port\":2222,\"socketURL\":\"/s/ssh.sock\",\"listen\":false},"
	 "{\"kind\":\"nbd\",\"devName\":\"nbd\",\"uri\":\"nbd://h:10809/e\",\"readOnly\":false,\"DeviceIdentifier\":\"\","
	 "\"Timeout\":2000000,\"SynchronizationMode\":\"full\"},"
	 "{\"kind\":\"virtioserial\",\"logFile\":\"/l/c.log\",\"usesStdio\":false,\"usesPty\":false},"
	 "{\"kind\":\"usbmassstorage\",\"devName\":\"usb-mass-storage\",\"imagePath\":\"/d/i.iso\",\"readOnly\":true}],"
	 "\"timesync\":{\"vsockPort\":1234}}"},
};

static void test_vfkit_generations(void)
{
	for (size_t i = 0; i < sizeof(vfkit_generations) / sizeof(vfkit_generations[0]); i++) {
		char error[1024] = "";
		char *json_again, *json_via_argv;
		char name[256];

		via_json(vfkit_generations[i].json, &json_again, &json_via_argv, error, sizeof(error));
		snprintf(name, sizeof(name), "%s: loads with vfkit's meaning", vfkit_generations[i].name);
		CHECK_NAMED(name, json_again != NULL && strcmp(json_again, vfkit_generations[i].want) == 0,
			    "\n  want: %s\n  got:  %s\n  %s", vfkit_generations[i].want, json_again ? json_again : "(none)", error);
		snprintf(name, sizeof(name), "%s: JSON → flags → JSON", vfkit_generations[i].name);
		CHECK_NAMED(name, json_via_argv != NULL && strcmp(json_via_argv, vfkit_generations[i].want) == 0,
			    "\n  want: %s\n  got:  %s\n  %s", vfkit_generations[i].want, json_via_argv ? json_via_argv : "(none)", error);
		free(json_again);
		free(json_via_argv);
	}
}

static void test_from_json(void)
{
	for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		char error[1024] = "";
		char *json_again, *json_via_argv;
		char name[256];

		via_json(json_cases[i].json, &json_again, &json_via_argv, error, sizeof(error));
		snprintf(name, sizeof(name), "%s: loads and writes back", json_cases[i].name);
		CHECK_NAMED(name, json_again != NULL && strcmp(json_again, json_cases[i].want) == 0, "\n  want: %s\n  got:  %s\n  %s",
			    json_cases[i].want, json_again ? json_again : "(none)", error);
		snprintf(name, sizeof(name), "%s: JSON → flags → JSON", json_cases[i].name);
		CHECK_NAMED(name, json_via_argv != NULL && strcmp(json_via_argv, json_cases[i].want) == 0, "\n  want: %s\n  got:  %s\n  %s",
			    json_cases[i].want, json_via_argv ? json_via_argv : "(none)", error);
		free(json_again);
		free(json_via_argv);
	}
}

/* A value no option string can hold makes --dry-run=cmdline fail with a
 * message, not print a command line that means something else. */
static void test_unwritable_value(void)
{
	json_t *root = json_loads("{\"bootloader\":{\"kind\":\"linuxBootloader\",\"vmlinuzPath\":\"/k\","
				  "\"kernelCmdLine\":\"say \\\"hi\"}}",
				  0, NULL);
	struct vm_description vm;
	struct vzk_error err = {0};
	char **argv = NULL;
	size_t argc = 0;

	vm_description_init(&vm);
	TEST_CASE("to_argv refuses a value with an odd number of quotes");
	CHECK(root != NULL && vm_description_from_json(root, &vm, &err) == 0);
	CHECK(vm_description_to_argv(&vm, &argv, &argc, &err) == -1 && argv == NULL);
	CHECK(err.kind == VZK_ERR_USAGE && strstr(err.message, "--bootloader linux: a value cannot be written as an option string") != NULL);
	vm_description_free(&vm);
	json_decref(root);
}

int main(void)
{
	test_every_device();
	test_golden_cases();
	test_from_json();
	test_vfkit_generations();
	test_unwritable_value();
	TEST_EXIT();
}

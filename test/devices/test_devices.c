/* Every device type and every key: a valid option string emits the expected
 * VZ objects (vz/vz.h); every error is a usage error naming the flag, the
 * device and the key; mutual exclusions, defaults, `TYPE,help`, and the
 * registry's own rules (sorted, summaries, help for every key). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bootloader/registry.h"
#include "devices/registry.h"
#include "test/testlib.h"
#include "vz/vz.h"

static int parse_device(const char *text, struct component *out, struct vzk_error *err)
{
	bool help = false;
	int status;

	vzk_error_clear(err);
	status = component_parse(device_registry, "--device", text, out, &help, err);
	if (status == 0 && help) {
		vzk_usage_error(err, "unexpected help request");
		return -1;
	}
	return status;
}

/* Parses one device and emits it into a fresh configuration on `platform`. */
static bool emit_device(const char *text, enum vz_platform_kind platform, struct vz_vm_configuration *vz)
{
	struct component device;
	struct vzk_error err = {0};
	int status;

	memset(vz, 0, sizeof(*vz));
	vz->platform.kind = platform;
	if (parse_device(text, &device, &err) != 0) {
		printf("# '%s' does not parse: %s\n", text, err.message);
		return false;
	}
	status = component_emit(&device, vz, &err);
	component_free(&device);
	if (status != 0)
		printf("# '%s' does not emit: %s\n", text, err.message);
	return status == 0;
}

static const char *json_text(const struct component *component)
{
	static char buf[2048];
	json_t *object = component_to_json(component);
	char *text = json_dumps(object, JSON_COMPACT | JSON_SORT_KEYS);

	snprintf(buf, sizeof(buf), "%s", text != NULL ? text : "(null)");
	free(text);
	json_decref(object);
	return buf;
}

/* The option string as vzkit prints it back (defaults filled in). */
static const char *printed(const char *text)
{
	static char buf[2048];
	struct component device;
	struct vzk_error err = {0};
	char *option_string;

	if (parse_device(text, &device, &err) != 0) {
		snprintf(buf, sizeof(buf), "error: %s", err.message);
		return buf;
	}
	option_string = component_to_option_string(&device);
	snprintf(buf, sizeof(buf), "%s", option_string != NULL ? option_string : "(null)");
	free(option_string);
	component_free(&device);
	return buf;
}

static const char *printed_json(const char *text)
{
	static char buf[2048];
	struct component device;
	struct vzk_error err = {0};

	if (parse_device(text, &device, &err) != 0) {
		snprintf(buf, sizeof(buf), "error: %s", err.message);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", json_text(&device));
	component_free(&device);
	return buf;
}

/* ---- errors ---- */

struct error_case {
	const char *input;
	const char *want[4]; /* substrings the message must hold */
};

static const struct error_case error_cases[] = {
	/* the registry */
	{"", {"--device: needs a type (one of nbd, nvme, rosetta, usb-mass-storage, virtio-balloon, virtio-blk, "
	      "virtio-fs, virtio-gpu, virtio-input, virtio-net, virtio-rng, virtio-serial, virtio-vsock)"}},
	{"virtio-floppy,path=/x", {"--device: unknown type 'virtio-floppy'", "known: nbd, nvme,", "virtio-vsock"}},
	{"Virtio-Blk,path=/x", {"unknown type 'Virtio-Blk'"}},
	{"virtio-blk=1,path=/x", {"unknown type 'virtio-blk=1,path=/x'"}},
	{"help=1", {"unknown type 'help=1'"}},
	{"virtio-blk,path=\"/x", {"--device: unbalanced double quote"}},
	{"virtio-blk,=x", {"--device: empty key"}},
	/* virtio-blk */
	{"virtio-blk", {"--device virtio-blk: missing required key 'path'"}},
	{"virtio-blk,readonly", {"--device virtio-blk: missing required key 'path'"}},
	{"virtio-blk,path=", {"--device virtio-blk: key 'path' needs a non-empty path"}},
	{"virtio-blk,path", {"--device virtio-blk: key 'path' needs a value"}},
	{"virtio-blk,path=/d,readonly=true", {"--device virtio-blk: key 'readonly' is a flag and takes no value"}},
	{"virtio-blk,path=/d,type=qcow2", {"--device virtio-blk: key 'type' must be one of image, dev", "'qcow2'"}},
	{"virtio-blk,path=/d,deviceId=", {"--device virtio-blk: deviceId must be 1 to 20 characters"}},
	{"virtio-blk,path=/d,deviceId=abcdefghijklmnopqrstu", {"--device virtio-blk: deviceId must be 1 to 20"}},
	{"virtio-blk,path=/d,deviceId=\"a b\"", {"--device virtio-blk: deviceId must be printable ASCII"}},
	{"virtio-blk,path=/d,deviceId=caf\xc3\xa9", {"--device virtio-blk: deviceId must be printable ASCII"}},
	{"virtio-blk,path=/d,colour=1G",
	 {"--device virtio-blk: unknown key 'colour'", "(valid keys: path, readonly, type, size, cache, sync, deviceId)"}},
	/* size= (vzkit): a size the guest can use, on an image */
	{"virtio-blk,path=/d,size=", {"--device virtio-blk: size '' is not a size"}},
	{"virtio-blk,path=/d,size=big", {"--device virtio-blk: size 'big' is not a size"}},
	{"virtio-blk,path=/d,size=64GB", {"--device virtio-blk: size '64GB' is not a size"}},
	{"virtio-blk,path=/d,size=-1G", {"--device virtio-blk: size '-1G' is not a size"}},
	{"virtio-blk,path=/d,size=0", {"--device virtio-blk: size '0' is too small for a disk (at least 512K)"}},
	{"virtio-blk,path=/d,size=100K", {"--device virtio-blk: size '100K' is too small for a disk"}},
	{"virtio-blk,path=/d,size=1000001", {"--device virtio-blk: size '1000001' is not a whole number of 512-byte sectors"}},
	{"virtio-blk,path=/d,size=2P", {"--device virtio-blk: size '2P' is too large (at most 1P)"}},
	{"virtio-blk,path=/d,size=99999999999999999999", {"--device virtio-blk: size '99999999999999999999' is too large"}},
	{"virtio-blk,path=/dev/sdb,type=dev,size=1G", {"--device virtio-blk: size= creates disk images; type=dev"}},
	{"nvme,path=/d,size=1T1", {"--device nvme: size '1T1' is not a size"}},
	/* cache= and sync= (vzkit) */
	{"virtio-blk,path=/d,cache=writeback", {"--device virtio-blk: key 'cache' must be one of cached, uncached, automatic"}},
	{"virtio-blk,path=/d,sync=sometimes", {"--device virtio-blk: key 'sync' must be one of fsync, full, none"}},
	{"virtio-blk,path=/dev/sdb,type=dev,sync=fsync",
	 {"--device virtio-blk: sync=fsync is for disk images; a block device takes full or none"}},
	{"nvme,path=/dev/sdb,type=dev,cache=uncached", {"--device nvme: cache= is for disk images, not type=dev"}},
	{"virtio-blk,path=/d,path=/e", {"--device virtio-blk: key 'path' given twice"}},
	{"virtio-blk,path=/d,Path=/e", {"--device virtio-blk: unknown key 'Path'"}},
	/* nvme */
	{"nvme", {"--device nvme: missing required key 'path'"}},
	{"nvme,path=/d,deviceId=x", {"--device nvme: unknown key 'deviceId'", "(valid keys: path, readonly, type, size, cache, sync)"}},
	{"nvme,path=/d,type=disk", {"--device nvme: key 'type' must be one of image, dev"}},
	{"nvme,path=/d,readonly=1", {"--device nvme: key 'readonly' is a flag"}},
	/* usb-mass-storage */
	{"usb-mass-storage", {"--device usb-mass-storage: missing required key 'path'"}},
	{"usb-mass-storage,path=/d,removable", {"--device usb-mass-storage: unknown key 'removable'",
						"(valid keys: path, readonly, type, size, cache, sync)"}},
	{"usb-mass-storage,path=/d,type=", {"--device usb-mass-storage: key 'type' must be one of image, dev"}},
	/* nbd */
	{"nbd", {"--device nbd: missing required key 'uri'"}},
	{"nbd,uri=http://host/x", {"--device nbd: uri 'http://host/x' must start with nbd://, nbds://"}},
	{"nbd,uri=nbd://", {"--device nbd: uri 'nbd://' needs a host"}},
	{"nbd,uri=nbd:///export", {"--device nbd: uri 'nbd:///export' needs a host"}},
	{"nbd,uri=nbd://:10809/x", {"--device nbd:", "needs a host"}},
	{"nbd,uri=nbd://host:0/x", {"--device nbd:", "port must be a number from 1 to 65535"}},
	{"nbd,uri=nbd://host:65536/x", {"--device nbd:", "port must be a number from 1 to 65535"}},
	{"nbd,uri=nbd://host:abc/x", {"--device nbd:", "port must be a number"}},
	{"nbd,uri=nbd://host:/x", {"--device nbd:", "malformed port"}},
	{"nbd,uri=nbd://host:123456789/x", {"--device nbd:", "malformed port"}},
	{"nbd,uri=nbd+unix://host/x?socket=/s", {"--device nbd:", "a unix NBD URI takes no host"}},
	{"nbd,uri=nbd+unix:///x", {"--device nbd:", "needs ?socket=/absolute/path"}},
	{"nbd,uri=nbd+unix:///x?socket=relative", {"--device nbd:", "needs ?socket=/absolute/path"}},
	/* the parser the QEMU plan uses too: what it refuses, validation refuses */
	{"nbd,uri=nbd://[::1/x", {"--device nbd: uri 'nbd://[::1/x': unclosed [ in the host"}},
	{"nbd,uri=nbd://[::1]x/e", {"--device nbd:", "malformed host"}},
	{"nbd,uri=nbd://h/bad%zzname", {"--device nbd:", "malformed export name"}},
	{"nbd,uri=nbd://h/nul%00", {"--device nbd:", "malformed export name"}},
	{"nbd,uri=nbd+unix:///x?socket=/s%", {"--device nbd:", "malformed export name or socket path"}},
	{"nbd,uri=nbds://h/x?tls-hostname=%g1", {"--device nbd:", "malformed tls-hostname"}},
	{"nbd,uri=nbd://h/x,timeout=0", {"--device nbd: key 'timeout' needs a decimal number from 1 to 86400000"}},
	{"nbd,uri=nbd://h/x,timeout=86400001", {"--device nbd: key 'timeout'", "from 1 to 86400000"}},
	{"nbd,uri=nbd://h/x,timeout=15s", {"--device nbd: key 'timeout'", "got '15s'"}},
	{"nbd,uri=nbd://h/x,sync=fsync", {"--device nbd: key 'sync' must be one of full, none", "'fsync'"}},
	{"nbd,uri=nbd://h/x,deviceId=abcdefghijklmnopqrstuvwxyz", {"--device nbd: deviceId must be 1 to 20"}},
	{"nbd,uri=nbd://h/x,readonly=yes", {"--device nbd: key 'readonly' is a flag"}},
	{"nbd,uri=nbd://h/x,export=x",
	 {"--device nbd: unknown key 'export'", "(valid keys: uri, deviceId, timeout, sync, readonly)"}},
	/* virtio-net */
	{"virtio-net", {"--device virtio-net: needs exactly one of nat, fd=N, unixSocketPath=PATH", "(got 0)"}},
	{"virtio-net,mac=52:54:00:12:34:56", {"--device virtio-net: needs exactly one of", "(got 0)"}},
	{"virtio-net,nat,fd=3", {"--device virtio-net: needs exactly one of", "(got 2)"}},
	{"virtio-net,nat,unixSocketPath=/s", {"--device virtio-net: needs exactly one of", "(got 2)"}},
	{"virtio-net,fd=3,unixSocketPath=/s", {"--device virtio-net: needs exactly one of", "(got 2)"}},
	{"virtio-net,nat,type=unixgram,path=/s", {"--device virtio-net: needs exactly one of", "(got 2)"}},
	{"virtio-net,unixSocketPath=/s,type=unixgram,path=/t", {"--device virtio-net: needs exactly one of", "(got 2)"}},
	{"virtio-net,type=unixgram", {"--device virtio-net: type=unixgram and path=PATH go together"}},
	{"virtio-net,nat,path=/s", {"--device virtio-net: type=unixgram and path=PATH go together"}},
	{"virtio-net,type=tap,path=/s", {"--device virtio-net: key 'type' must be one of unixgram", "'tap'"}},
	{"virtio-net,nat,offloading=on", {"--device virtio-net: offloading needs type=unixgram"}},
	{"virtio-net,unixSocketPath=/s,offloading=on", {"--device virtio-net: offloading needs type=unixgram"}},
	{"virtio-net,type=unixgram,path=/s,offloading=yes", {"--device virtio-net: key 'offloading' must be on or off"}},
	{"virtio-net,type=unixgram,path=/s,offloading=on",
	 {"--device virtio-net: invalid value for offloading: on (only 'off' is supported)"}},
	{"virtio-net,nat,vfkitMagic=on", {"--device virtio-net: vfkitMagic applies to unix sockets only"}},
	{"virtio-net,fd=4,vfkitMagic=off", {"--device virtio-net: vfkitMagic applies to unix sockets only"}},
	{"virtio-net,unixSocketPath=/s,vfkitMagic", {"--device virtio-net: key 'vfkitMagic' must be on or off"}},
	{"virtio-net,nat=true", {"--device virtio-net: key 'nat' is a flag and takes no value"}},
	{"virtio-net,fd=abc", {"--device virtio-net: key 'fd' needs a decimal number from 0 to 1048576"}},
	{"virtio-net,fd=1048577", {"--device virtio-net: key 'fd'"}},
	{"virtio-net,unixSocketPath=", {"--device virtio-net: key 'unixSocketPath' needs a non-empty path"}},
	{"virtio-net,nat,mac=52:54:00:12:34", {"--device virtio-net: mac '52:54:00:12:34' is not a MAC address"}},
	{"virtio-net,nat,mac=52:54:00:12:34:5g", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=52:54-00:12:34:56", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=525400123456", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=52.54.00.12.34.56", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=5254.0012.345", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=5254:0012:3456", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=5254.0012.345g", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=0000.0000.fe80.0000.0000.0000.0200.5e10.0000.0001", {"--device virtio-net: mac", "is not a MAC address"}},
	{"virtio-net,nat,mac=0100.5e00.0001", {"--device virtio-net: mac '0100.5e00.0001' is a multicast address"}},
	{"virtio-net,nat,mac=01:00:5e:00:00:01", {"--device virtio-net: mac '01:00:5e:00:00:01' is a multicast address"}},
	{"virtio-net,nat,mac=ff:ff:ff:ff:ff:ff", {"--device virtio-net:", "multicast"}},
	{"virtio-net,nat,mac=", {"--device virtio-net: mac '' is not a MAC address"}},
	{"virtio-net,nat,bridge=en0",
	 {"--device virtio-net: unknown key 'bridge'",
	  "(valid keys: nat, fd, unixSocketPath, mac, type, path, offloading, vfkitMagic)"}},
	/* virtio-vsock */
	{"virtio-vsock,socketURL=/s", {"--device virtio-vsock: socketURL needs a port from 1 to 4294967295"}},
	{"virtio-vsock,port=0,socketURL=/s", {"--device virtio-vsock: socketURL needs a port from 1 to 4294967295"}},
	{"virtio-vsock,port=4294967296,socketURL=/s", {"--device virtio-vsock: key 'port'", "4294967296"}},
	{"virtio-vsock,port=1025,socketURL=", {"--device virtio-vsock: key 'socketURL' needs a non-empty path"}},
	{"virtio-vsock,port=1025,socketURL=/s,listen,connect", {"--device virtio-vsock: listen and connect are mutually exclusive"}},
	{"virtio-vsock,port=1025,socketURL=/s,listen=1", {"--device virtio-vsock: key 'listen' is a flag"}},
	{"virtio-vsock,port=1025,socketURL=/s,connect=yes", {"--device virtio-vsock: key 'connect' is a flag"}},
	{"virtio-vsock,port=1025,socketURL=/s,cid=3",
	 {"--device virtio-vsock: unknown key 'cid'", "(valid keys: port, socketURL, listen, connect)"}},
	/* virtio-fs */
	{"virtio-fs", {"--device virtio-fs: missing required key 'sharedDir'"}},
	{"virtio-fs,mountTag=t", {"--device virtio-fs: missing required key 'sharedDir'"}},
	{"virtio-fs,sharedDir=", {"--device virtio-fs: key 'sharedDir' needs a non-empty path"}},
	{"virtio-fs,sharedDir=/d,mountTag=", {"--device virtio-fs: mountTag must be 1 to 36 bytes"}},
	{"virtio-fs,sharedDir=/d,mountTag=abcdefghijklmnopqrstuvwxyz0123456789x", {"--device virtio-fs: mountTag must be 1 to 36 bytes"}},
	{"virtio-fs,sharedDir=/d/abcdefghijklmnopqrstuvwxyz0123456789x", {"--device virtio-fs: mountTag must be 1 to 36 bytes"}},
	{"virtio-fs,sharedDir=/d,mountTag=\"a,b\"", {"--device virtio-fs: mountTag must not contain commas or quotes"}},
	{"virtio-fs,sharedDir=/d,mountTag=it's", {"--device virtio-fs: mountTag must not contain commas or quotes"}},
	{"virtio-fs,sharedDir=/d,readonly", {"--device virtio-fs: unknown key 'readonly'", "(valid keys: sharedDir, mountTag)"}},
	/* rosetta */
	{"rosetta", {"--device rosetta: missing required key 'mountTag'"}},
	{"rosetta,install", {"--device rosetta: missing required key 'mountTag'"}},
	{"rosetta,mountTag=", {"--device rosetta: mountTag must be 1 to 36 bytes"}},
	{"rosetta,mountTag=abcdefghijklmnopqrstuvwxyz0123456789x", {"--device rosetta: mountTag must be 1 to 36 bytes"}},
	{"rosetta,mountTag=r,install=yes", {"--device rosetta: key 'install' is a flag"}},
	{"rosetta,mountTag=r,ignore-if-missing=1", {"--device rosetta: key 'ignore-if-missing' is a flag"}},
	{"rosetta,mountTag=r,ignoreIfMissing",
	 {"--device rosetta: unknown key 'ignoreIfMissing'", "(valid keys: mountTag, install, ignore-if-missing)"}},
	/* virtio-gpu */
	{"virtio-gpu,width=0", {"--device virtio-gpu: key 'width' needs a decimal number from 1 to 16384", "got '0'"}},
	{"virtio-gpu,height=0", {"--device virtio-gpu: key 'height' needs a decimal number from 1 to 16384"}},
	{"virtio-gpu,width=16385", {"--device virtio-gpu: key 'width'", "got '16385'"}},
	{"virtio-gpu,height=abc", {"--device virtio-gpu: key 'height'", "got 'abc'"}},
	{"virtio-gpu,width=-800", {"--device virtio-gpu: key 'width'", "got '-800'"}},
	{"virtio-gpu,width", {"--device virtio-gpu: key 'width'", "got ''"}},
	{"virtio-gpu,usesGUI", {"--device virtio-gpu: unknown key 'usesGUI'", "(valid keys: width, height)"}},
	/* vfkit fills in 800x600 only when both are missing */
	{"virtio-gpu,width=1024", {"--device virtio-gpu: invalid dimensions for virtio-gpu device resolution: 1024x0"}},
	{"virtio-gpu,height=768", {"--device virtio-gpu: invalid dimensions for virtio-gpu device resolution: 0x768"}},
	/* virtio-input */
	{"virtio-input", {"--device virtio-input: needs keyboard or pointing"}},
	{"virtio-input,keyboard=1", {"--device virtio-input: key 'keyboard' is a flag"}},
	{"virtio-input,mouse", {"--device virtio-input: unknown key 'mouse'", "(valid keys: keyboard, pointing)"}},
	{"virtio-input,keyboard,keyboard", {"--device virtio-input: key 'keyboard' given twice"}},
	/* virtio-serial */
	{"virtio-serial", {"--device virtio-serial: needs exactly one of logFilePath=PATH, stdio, pty"}},
	{"virtio-serial,stdio,pty", {"--device virtio-serial: needs exactly one of logFilePath=PATH, stdio, pty"}},
	{"virtio-serial,logFilePath=/l,stdio", {"--device virtio-serial: needs exactly one of"}},
	{"virtio-serial,logFilePath=/l,pty", {"--device virtio-serial: needs exactly one of"}},
	{"virtio-serial,logFilePath=", {"--device virtio-serial: key 'logFilePath' needs a non-empty path"}},
	{"virtio-serial,stdio=1", {"--device virtio-serial: key 'stdio' is a flag"}},
	{"virtio-serial,logFile=/l", {"--device virtio-serial: unknown key 'logFile'", "(valid keys: logFilePath, stdio, pty)"}},
	/* virtio-rng, virtio-balloon */
	{"virtio-rng,seed=1", {"--device virtio-rng: takes no keys (got 'seed')"}},
	{"virtio-rng,x", {"--device virtio-rng: takes no keys (got 'x')"}},
	{"virtio-balloon,size=1", {"--device virtio-balloon: takes no keys (got 'size')"}},
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct component device;
		struct vzk_error err;
		char name[256];
		bool ok;
		int status = parse_device(c->input, &device, &err);

		snprintf(name, sizeof(name), "device error: '%s'", c->input);
		ok = status == -1 && err.kind == VZK_ERR_USAGE && device.config == NULL;
		for (size_t s = 0; ok && s < 4 && c->want[s] != NULL; s++)
			ok = strstr(err.message, c->want[s]) != NULL;
		CHECK_NAMED(name, ok, "status %d kind %d message '%s'", status, err.kind, err.message);
		if (status == 0)
			component_free(&device);
	}
}

/* ---- each device's VZ objects ---- */

static void test_disks(void)
{
	static const struct {
		const char *type;
		enum vz_storage_device_kind kind;
	} disks[] = {
		{"virtio-blk", VZ_STORAGE_VIRTIO_BLOCK},
		{"nvme", VZ_STORAGE_NVME},
		{"usb-mass-storage", VZ_STORAGE_USB_MASS_STORAGE},
	};
	struct vz_vm_configuration vz;
	char text[256];

	for (size_t i = 0; i < 3; i++) {
		const struct vz_storage_attachment *a;
		char name[96];

		snprintf(name, sizeof(name), "%s: path only", disks[i].type);
		TEST_CASE(name);
		snprintf(text, sizeof(text), "%s,path=/vm/disk.img", disks[i].type);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz));
		CHECK(vz.storage_device_count == 1);
		a = &vz.storage_devices[0].attachment;
		CHECK(vz.storage_devices[0].kind == disks[i].kind);
		CHECK(a->kind == VZ_STORAGE_ATTACHMENT_DISK_IMAGE);
		CHECK_STR(a->path, "/vm/disk.img");
		CHECK(!a->read_only);
		/* vfkit's modes for images (doc/vzkit.1, virtio-blk) */
		CHECK(a->caching_mode == VZ_DISK_CACHING_CACHED);
		CHECK(a->sync_mode == VZ_DISK_SYNC_FSYNC);
		CHECK(a->url == NULL);
		CHECK(vz.storage_devices[0].block_device_identifier == NULL);
		vz_vm_configuration_free(&vz);

		snprintf(name, sizeof(name), "%s: readonly, type=dev", disks[i].type);
		TEST_CASE(name);
		snprintf(text, sizeof(text), "%s,path=/dev/sdb,readonly,type=dev", disks[i].type);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz));
		a = &vz.storage_devices[0].attachment;
		CHECK(a->kind == VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE);
		CHECK(a->read_only);
		CHECK(a->sync_mode == VZ_DISK_SYNC_FULL); /* block devices know full and none */
		CHECK_STR(a->path, "/dev/sdb");
		vz_vm_configuration_free(&vz);

		snprintf(name, sizeof(name), "%s: cache= and sync= (vzkit) reach the model", disks[i].type);
		TEST_CASE(name);
		snprintf(text, sizeof(text), "%s,path=/vm/d.img,cache=uncached,sync=full", disks[i].type);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz));
		a = &vz.storage_devices[0].attachment;
		CHECK(a->caching_mode == VZ_DISK_CACHING_UNCACHED && a->sync_mode == VZ_DISK_SYNC_FULL);
		vz_vm_configuration_free(&vz);
		snprintf(text, sizeof(text), "%s,path=/vm/d.img,cache=automatic,sync=none", disks[i].type);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz));
		a = &vz.storage_devices[0].attachment;
		CHECK(a->caching_mode == VZ_DISK_CACHING_AUTOMATIC && a->sync_mode == VZ_DISK_SYNC_NONE);
		vz_vm_configuration_free(&vz);
		snprintf(text, sizeof(text), "%s,path=/dev/sdb,type=dev,sync=none", disks[i].type);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz));
		CHECK(vz.storage_devices[0].attachment.sync_mode == VZ_DISK_SYNC_NONE);
		vz_vm_configuration_free(&vz);

		snprintf(name, sizeof(name), "%s: type=image", disks[i].type);
		TEST_CASE(name);
		snprintf(text, sizeof(text), "%s,type=image,path=\"/vm/my disk,1.img\"", disks[i].type);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz));
		CHECK(vz.storage_devices[0].attachment.kind == VZ_STORAGE_ATTACHMENT_DISK_IMAGE);
		CHECK_STR(vz.storage_devices[0].attachment.path, "/vm/my disk,1.img");
		vz_vm_configuration_free(&vz);
	}

	TEST_CASE("virtio-blk: deviceId");
	CHECK(emit_device("virtio-blk,path=/d,deviceId=boot-disk", VZ_PLATFORM_GENERIC, &vz));
	CHECK_STR(vz.storage_devices[0].block_device_identifier, "boot-disk");
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-blk: a 20-character deviceId is the longest");
	CHECK(emit_device("virtio-blk,path=/d,deviceId=abcdefghijklmnopqrst", VZ_PLATFORM_GENERIC, &vz));
	CHECK_STR(vz.storage_devices[0].block_device_identifier, "abcdefghijklmnopqrst");
	vz_vm_configuration_free(&vz);

	TEST_CASE("disk JSON: vfkit's field names and devName");
	CHECK_STR(printed_json("virtio-blk,path=/d,readonly,type=dev,deviceId=x"),
		  "{\"devName\":\"virtio-blk\",\"deviceIdentifier\":\"x\",\"imagePath\":\"/d\",\"kind\":\"virtioblk\","
		  "\"readOnly\":true,\"type\":\"dev\"}");
	CHECK_STR(printed_json("nvme,path=/d"), "{\"devName\":\"nvme\",\"imagePath\":\"/d\",\"kind\":\"nvme\",\"readOnly\":false}");
	CHECK_STR(printed_json("usb-mass-storage,path=/i.iso,readonly"),
		  "{\"devName\":\"usb-mass-storage\",\"imagePath\":\"/i.iso\",\"kind\":\"usbmassstorage\",\"readOnly\":true}");
	TEST_CASE("disk option string printed back");
	CHECK_STR(printed("virtio-blk,deviceId=x,readonly,path=/d,type=dev"), "virtio-blk,path=/d,readonly,type=dev,deviceId=x");
}

static void test_nbd(void)
{
	static const char *const good_uris[] = {
		"nbd://host/export",
		"nbd://host",
		"nbd://host:10809",
		"nbd://192.168.1.2:10809/disk",
		"nbds://host:1/x",
		"nbd://[::1]:10809/x",
		"nbd+unix:///export?socket=/run/nbd.sock",
		"nbd+unix:///?socket=/s",
		"nbds+unix:///e?socket=/s",
	};
	struct vz_vm_configuration vz;
	const struct vz_storage_attachment *a;

	TEST_CASE("nbd: defaults (timeout 15000, sync full)");
	CHECK(emit_device("nbd,uri=nbd://host:10809/export", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.storage_device_count == 1);
	CHECK(vz.storage_devices[0].kind == VZ_STORAGE_VIRTIO_BLOCK);
	a = &vz.storage_devices[0].attachment;
	CHECK(a->kind == VZ_STORAGE_ATTACHMENT_NBD);
	CHECK_STR(a->url, "nbd://host:10809/export");
	CHECK(a->path == NULL);
	CHECK(a->timeout_ms == 15000);
	CHECK(a->sync_mode == VZ_DISK_SYNC_FULL);
	CHECK(!a->read_only);
	CHECK(vz.storage_devices[0].block_device_identifier == NULL);
	vz_vm_configuration_free(&vz);

	TEST_CASE("nbd: every key");
	CHECK(emit_device("nbd,uri=nbds://h/e,deviceId=nbd0,timeout=5000,sync=none,readonly", VZ_PLATFORM_GENERIC, &vz));
	a = &vz.storage_devices[0].attachment;
	CHECK(a->timeout_ms == 5000);
	CHECK(a->sync_mode == VZ_DISK_SYNC_NONE);
	CHECK(a->read_only);
	CHECK_STR(vz.storage_devices[0].block_device_identifier, "nbd0");
	vz_vm_configuration_free(&vz);
	TEST_CASE("nbd: sync=full");
	CHECK(emit_device("nbd,uri=nbd://h/e,sync=full,timeout=1", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.storage_devices[0].attachment.sync_mode == VZ_DISK_SYNC_FULL);
	CHECK(vz.storage_devices[0].attachment.timeout_ms == 1);
	vz_vm_configuration_free(&vz);

	for (size_t i = 0; i < sizeof(good_uris) / sizeof(good_uris[0]); i++) {
		char text[256], name[256];
		snprintf(text, sizeof(text), "nbd,uri=%s", good_uris[i]);
		snprintf(name, sizeof(name), "nbd: uri %s accepted", good_uris[i]);
		TEST_CASE(name);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz) && strcmp(vz.storage_devices[0].attachment.url, good_uris[i]) == 0);
		vz_vm_configuration_free(&vz);
	}
	TEST_CASE("nbd: defaults are printed with vfkit's JSON names (Go's field names: DeviceIdentifier always, Timeout a Go duration)");
	CHECK_STR(printed_json("nbd,uri=nbd://h/e"),
		  "{\"DeviceIdentifier\":\"\",\"SynchronizationMode\":\"full\",\"Timeout\":15000000000,\"devName\":\"nbd\","
		  "\"kind\":\"nbd\",\"readOnly\":false,\"uri\":\"nbd://h/e\"}");
	CHECK_STR(printed_json("nbd,uri=nbd://h/e,deviceId=d0,sync=none,timeout=2"),
		  "{\"DeviceIdentifier\":\"d0\",\"SynchronizationMode\":\"none\",\"Timeout\":2000000,\"devName\":\"nbd\","
		  "\"kind\":\"nbd\",\"readOnly\":false,\"uri\":\"nbd://h/e\"}");
	CHECK_STR(printed("nbd,uri=nbd://h/e"), "nbd,uri=nbd://h/e,timeout=15000,sync=full");
}

static void test_net(void)
{
	struct vz_vm_configuration vz;
	const struct vz_network_device *n;
	uint8_t first_mac[6];

	TEST_CASE("virtio-net: nat with a random locally administered unicast MAC");
	CHECK(emit_device("virtio-net,nat", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.network_device_count == 1);
	n = &vz.network_devices[0];
	CHECK(n->attachment == VZ_NETWORK_ATTACHMENT_NAT);
	CHECK(n->fd == -1);
	CHECK(n->unix_socket_path == NULL);
	CHECK((n->mac_address[0] & 0x01) == 0); /* unicast */
	CHECK((n->mac_address[0] & 0x02) == 0x02); /* locally administered */
	memcpy(first_mac, n->mac_address, 6);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-net: the random MAC differs between VMs");
	CHECK(emit_device("virtio-net,nat", VZ_PLATFORM_GENERIC, &vz));
	CHECK(memcmp(first_mac, vz.network_devices[0].mac_address, 6) != 0);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-net: random MACs over many VMs are all locally administered unicast");
	{
		bool all_ok = true;
		for (int i = 0; i < 200 && all_ok; i++) {
			all_ok = emit_device("virtio-net,nat", VZ_PLATFORM_GENERIC, &vz) &&
				 (vz.network_devices[0].mac_address[0] & 0x03) == 0x02;
			vz_vm_configuration_free(&vz);
		}
		CHECK(all_ok);
	}

	TEST_CASE("virtio-net: mac given");
	CHECK(emit_device("virtio-net,nat,mac=52:54:00:ab:cd:ef", VZ_PLATFORM_GENERIC, &vz));
	CHECK(memcmp(vz.network_devices[0].mac_address, "\x52\x54\x00\xab\xcd\xef", 6) == 0);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-net: upper-case, dash-separated mac is normalised");
	CHECK(emit_device("virtio-net,nat,mac=5A-54-00-AB-CD-EF", VZ_PLATFORM_GENERIC, &vz));
	CHECK(memcmp(vz.network_devices[0].mac_address, "\x5a\x54\x00\xab\xcd\xef", 6) == 0);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-net,nat,mac=5A-54-00-AB-CD-EF"),
		  "{\"kind\":\"virtionet\",\"macAddress\":\"5a:54:00:ab:cd:ef\",\"nat\":true}");
	TEST_CASE("virtio-net: a dotted mac (Go's ParseMAC form xxxx.xxxx.xxxx)");
	CHECK(emit_device("virtio-net,nat,mac=5254.0070.2b71", VZ_PLATFORM_GENERIC, &vz));
	CHECK(memcmp(vz.network_devices[0].mac_address, "\x52\x54\x00\x70\x2b\x71", 6) == 0);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-net,nat,mac=5254.0070.2B71"), "virtio-net,nat,mac=52:54:00:70:2b:71");

	TEST_CASE("virtio-net: fd");
	CHECK(emit_device("virtio-net,fd=3", VZ_PLATFORM_GENERIC, &vz));
	n = &vz.network_devices[0];
	CHECK(n->attachment == VZ_NETWORK_ATTACHMENT_FILE_HANDLE);
	CHECK(n->fd == 3);
	CHECK(n->unix_socket_path == NULL);
	CHECK(!n->vfkit_magic);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-net,fd=3"), "{\"fd\":3,\"kind\":\"virtionet\",\"nat\":false}");

	TEST_CASE("virtio-net: unixSocketPath, vfkitMagic on by default");
	CHECK(emit_device("virtio-net,unixSocketPath=/run/gvproxy.sock", VZ_PLATFORM_GENERIC, &vz));
	n = &vz.network_devices[0];
	CHECK(n->attachment == VZ_NETWORK_ATTACHMENT_FILE_HANDLE);
	CHECK(n->fd == -1);
	CHECK_STR(n->unix_socket_path, "/run/gvproxy.sock");
	CHECK(n->vfkit_magic);
	CHECK(!n->offloading);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-net,unixSocketPath=/s"), "virtio-net,unixSocketPath=/s,vfkitMagic=on");
	CHECK_STR(printed_json("virtio-net,unixSocketPath=/s"),
		  "{\"kind\":\"virtionet\",\"nat\":false,\"unixSocketPath\":\"/s\",\"vfkitMagic\":true}");

	TEST_CASE("virtio-net: vfkitMagic=off");
	CHECK(emit_device("virtio-net,unixSocketPath=/s,vfkitMagic=off", VZ_PLATFORM_GENERIC, &vz));
	CHECK(!vz.network_devices[0].vfkit_magic);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-net,unixSocketPath=/s,vfkitMagic=off"), "virtio-net,unixSocketPath=/s,vfkitMagic=off");

	TEST_CASE("virtio-net: type=unixgram,path");
	CHECK(emit_device("virtio-net,type=unixgram,path=/run/vmnet.sock,mac=52:54:00:00:00:01", VZ_PLATFORM_GENERIC, &vz));
	n = &vz.network_devices[0];
	CHECK(n->attachment == VZ_NETWORK_ATTACHMENT_FILE_HANDLE);
	CHECK_STR(n->unix_socket_path, "/run/vmnet.sock");
	CHECK(n->vfkit_magic);
	CHECK(!n->offloading);
	CHECK(n->mac_address[5] == 1);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-net: type=unixgram,path=P is vfkit's unixSocketPath=P (no type, path or offloading in its JSON)");
	CHECK(emit_device("virtio-net,type=unixgram,path=/s,offloading=off,vfkitMagic=off", VZ_PLATFORM_GENERIC, &vz));
	CHECK(!vz.network_devices[0].offloading);
	CHECK(!vz.network_devices[0].vfkit_magic);
	CHECK_STR(vz.network_devices[0].unix_socket_path, "/s");
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-net,type=unixgram,path=/s,offloading=off"),
		  "{\"kind\":\"virtionet\",\"nat\":false,\"unixSocketPath\":\"/s\",\"vfkitMagic\":true}");
	CHECK_STR(printed("virtio-net,type=unixgram,path=/s,offloading=off,vfkitMagic=off"),
		  "virtio-net,unixSocketPath=/s,vfkitMagic=off");
}

static void test_vsock(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("virtio-vsock: listen by default");
	CHECK(emit_device("virtio-vsock,port=1025,socketURL=/tmp/ready.sock", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.socket_device);
	CHECK(vz.vsock_port_count == 1);
	CHECK(vz.vsock_ports[0].port == 1025);
	CHECK_STR(vz.vsock_ports[0].socket_path, "/tmp/ready.sock");
	CHECK(vz.vsock_ports[0].listen);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-vsock,port=1025,socketURL=/s"), "virtio-vsock,port=1025,socketURL=/s,listen");
	CHECK_STR(printed_json("virtio-vsock,port=1025,socketURL=/s"),
		  "{\"kind\":\"virtiosock\",\"listen\":true,\"port\":1025,\"socketURL\":\"/s\"}");
	TEST_CASE("virtio-vsock: bare, the VM gets a vsock device and no proxy (as vfkit)");
	CHECK(emit_device("virtio-vsock", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.socket_device && vz.vsock_port_count == 0);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-vsock"), "{\"kind\":\"virtiosock\",\"listen\":true}");
	TEST_CASE("virtio-vsock: a port without socketURL, no proxy either");
	CHECK(emit_device("virtio-vsock,port=1025", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.socket_device && vz.vsock_port_count == 0);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-vsock: listen given");
	CHECK(emit_device("virtio-vsock,port=7,socketURL=/s,listen", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.vsock_ports[0].listen);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-vsock: connect");
	CHECK(emit_device("virtio-vsock,port=4294967295,socketURL=/s,connect", VZ_PLATFORM_GENERIC, &vz));
	CHECK(!vz.vsock_ports[0].listen);
	CHECK(vz.vsock_ports[0].port == 4294967295u);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-vsock,port=2,socketURL=/s,connect"), "virtio-vsock,port=2,socketURL=/s,connect");
	CHECK_STR(printed_json("virtio-vsock,port=2,socketURL=/s,connect"),
		  "{\"kind\":\"virtiosock\",\"listen\":false,\"port\":2,\"socketURL\":\"/s\"}");
	TEST_CASE("virtio-vsock: a 107-byte socket path fits, 108 does not");
	{
		char text[256] = "virtio-vsock,port=5,socketURL=/";
		size_t len = strlen(text);
		struct component device;
		struct vzk_error err;
		memset(text + len, 's', 106);
		text[len + 106] = '\0';
		CHECK(parse_device(text, &device, &err) == 0);
		component_free(&device);
		strcat(text, "s");
		CHECK(parse_device(text, &device, &err) == -1 && strstr(err.message, "--device virtio-vsock: socketURL is longer") != NULL);
	}
}

static void test_fs(void)
{
	static const struct {
		const char *dir, *tag;
	} defaults[] = {
		{"/home/user/share", "share"},
		{"/home/user/share/", "share"},
		{"/home/user/share///", "share"},
		{"relative/dir", "dir"},
		{"dir", "dir"},
		{"/", "/"},
	};
	struct vz_vm_configuration vz;

	TEST_CASE("virtio-fs: sharedDir and mountTag");
	CHECK(emit_device("virtio-fs,sharedDir=/srv/data,mountTag=data0", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.directory_share_count == 1);
	CHECK(vz.directory_shares[0].kind == VZ_SHARE_SINGLE_DIRECTORY);
	CHECK_STR(vz.directory_shares[0].directory, "/srv/data");
	CHECK_STR(vz.directory_shares[0].tag, "data0");
	CHECK(!vz.directory_shares[0].read_only);
	vz_vm_configuration_free(&vz);
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		char text[256], name[256];
		snprintf(text, sizeof(text), "virtio-fs,sharedDir=%s", defaults[i].dir);
		snprintf(name, sizeof(name), "virtio-fs: mountTag defaults to the base name of %s", defaults[i].dir);
		TEST_CASE(name);
		CHECK(emit_device(text, VZ_PLATFORM_GENERIC, &vz) && strcmp(vz.directory_shares[0].tag, defaults[i].tag) == 0);
		vz_vm_configuration_free(&vz);
	}
	TEST_CASE("virtio-fs: a 36-byte tag is the longest");
	CHECK(emit_device("virtio-fs,sharedDir=/d,mountTag=abcdefghijklmnopqrstuvwxyz0123456789", VZ_PLATFORM_GENERIC, &vz));
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-fs: the default tag is printed");
	CHECK_STR(printed("virtio-fs,sharedDir=/srv/data/"), "virtio-fs,sharedDir=/srv/data/,mountTag=data");
	CHECK_STR(printed_json("virtio-fs,sharedDir=/srv/data"), "{\"kind\":\"virtiofs\",\"mountTag\":\"data\",\"sharedDir\":\"/srv/data\"}");
}

static void test_rosetta(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("rosetta: mountTag only");
	CHECK(emit_device("rosetta,mountTag=rosetta", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.directory_share_count == 1);
	CHECK(vz.directory_shares[0].kind == VZ_SHARE_ROSETTA);
	CHECK_STR(vz.directory_shares[0].tag, "rosetta");
	CHECK(vz.directory_shares[0].directory == NULL);
	CHECK(!vz.directory_shares[0].rosetta_install);
	CHECK(!vz.directory_shares[0].rosetta_ignore_if_missing);
	vz_vm_configuration_free(&vz);
	TEST_CASE("rosetta: install, ignore-if-missing");
	CHECK(emit_device("rosetta,mountTag=r,install,ignore-if-missing", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.directory_shares[0].rosetta_install);
	CHECK(vz.directory_shares[0].rosetta_ignore_if_missing);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("rosetta,mountTag=r,install"),
		  "{\"ignoreIfMissing\":false,\"installRosetta\":true,\"kind\":\"rosetta\",\"mountTag\":\"r\"}");
}

static void test_gpu(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("virtio-gpu: 800x600 by default, virtio on Linux");
	CHECK(emit_device("virtio-gpu", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.graphics_device_count == 1);
	CHECK(vz.graphics_devices[0].kind == VZ_GRAPHICS_VIRTIO);
	CHECK(vz.graphics_devices[0].width == 800);
	CHECK(vz.graphics_devices[0].height == 600);
	CHECK(vz.graphics_devices[0].pixels_per_inch == 0);
	CHECK(!vz.graphics_devices[0].uses_gui);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-gpu"), "virtio-gpu,width=800,height=600");
	CHECK_STR(printed_json("virtio-gpu"), "{\"height\":600,\"kind\":\"virtiogpu\",\"usesGUI\":false,\"width\":800}");
	TEST_CASE("virtio-gpu: width and height");
	CHECK(emit_device("virtio-gpu,width=1920,height=1080", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.graphics_devices[0].width == 1920 && vz.graphics_devices[0].height == 1080);
	vz_vm_configuration_free(&vz);
	CHECK(emit_device("virtio-gpu,height=16384,width=1", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.graphics_devices[0].width == 1 && vz.graphics_devices[0].height == 16384);
	vz_vm_configuration_free(&vz);
	/* vfkit's JSON (--config, /vm/inspect) keeps the key table's bounds. */
	static const struct {
		const char *json, *message;
	} bad_json[] = {
		{"{\"kind\":\"virtiogpu\",\"width\":16385,\"height\":600}", "field 'width' must be an integer from 1 to 16384"},
		{"{\"kind\":\"virtiogpu\",\"width\":800,\"height\":0}", "field 'height' must be an integer from 1 to 16384"},
		{"{\"kind\":\"virtiogpu\",\"width\":-1,\"height\":600}", "field 'width' must be an integer from 1 to 16384"},
		{"{\"kind\":\"virtiogpu\",\"width\":8.5,\"height\":600}", "field 'width' must be an integer from 1 to 16384"},
		{"{\"kind\":\"virtiogpu\",\"width\":\"800\",\"height\":600}", "field 'width' must be an integer from 1 to 16384"},
	};
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		struct component device = {0};
		struct vzk_error err = {0};
		json_t *object = json_loads(bad_json[i].json, 0, NULL);
		char name[160];
		snprintf(name, sizeof(name), "virtio-gpu JSON out of bounds refused: %s", bad_json[i].json);
		CHECK_NAMED(name,
			    component_from_json(device_registry, "devices[0]", object, &device, &err) != 0 &&
				    err.kind == VZK_ERR_USAGE && strstr(err.message, bad_json[i].message) != NULL,
			    "error '%s'", err.message);
		json_decref(object);
	}
	{
		struct component device = {0};
		struct vzk_error err = {0};
		json_t *object = json_loads("{\"kind\":\"virtiogpu\",\"width\":16384,\"height\":1}", 0, NULL);
		CHECK_NAMED("virtio-gpu JSON at both bounds accepted",
			    component_from_json(device_registry, "devices[0]", object, &device, &err) == 0, "error '%s'",
			    err.message);
		component_free(&device);
		json_decref(object);
	}
	TEST_CASE("virtio-gpu: a Mac display at 80 ppi on macOS");
	CHECK(emit_device("virtio-gpu,width=1440,height=900", VZ_PLATFORM_MAC, &vz));
	CHECK(vz.graphics_devices[0].kind == VZ_GRAPHICS_MAC);
	CHECK(vz.graphics_devices[0].pixels_per_inch == 80);
	CHECK(vz.graphics_devices[0].width == 1440 && vz.graphics_devices[0].height == 900);
	vz_vm_configuration_free(&vz);
}

static void test_input(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("virtio-input: keyboard");
	CHECK(emit_device("virtio-input,keyboard", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.keyboard_count == 1 && vz.keyboards[0] == VZ_KEYBOARD_USB);
	CHECK(vz.pointing_device_count == 0);
	vz_vm_configuration_free(&vz);
	CHECK(emit_device("virtio-input,keyboard", VZ_PLATFORM_MAC, &vz));
	CHECK(vz.keyboard_count == 1 && vz.keyboards[0] == VZ_KEYBOARD_MAC);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-input: pointing");
	CHECK(emit_device("virtio-input,pointing", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.pointing_device_count == 1 && vz.pointing_devices[0] == VZ_POINTING_USB_SCREEN_COORDINATE);
	CHECK(vz.keyboard_count == 0);
	vz_vm_configuration_free(&vz);
	CHECK(emit_device("virtio-input,pointing", VZ_PLATFORM_MAC, &vz));
	CHECK(vz.pointing_device_count == 1 && vz.pointing_devices[0] == VZ_POINTING_MAC_TRACKPAD);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-input,pointing"), "{\"inputType\":\"pointing\",\"kind\":\"virtioinput\"}");
	CHECK_STR(printed("virtio-input,keyboard"), "virtio-input,keyboard");
	TEST_CASE("virtio-input: the last of keyboard and pointing wins (as vfkit)");
	CHECK(emit_device("virtio-input,pointing,keyboard", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.keyboard_count == 1 && vz.pointing_device_count == 0);
	vz_vm_configuration_free(&vz);
	CHECK(emit_device("virtio-input,keyboard,pointing", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.keyboard_count == 0 && vz.pointing_device_count == 1);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed("virtio-input,keyboard,pointing"), "virtio-input,pointing");
	CHECK_STR(printed_json("virtio-input,pointing,keyboard"), "{\"inputType\":\"keyboard\",\"kind\":\"virtioinput\"}");
}

static void test_serial(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("virtio-serial: logFilePath");
	CHECK(emit_device("virtio-serial,logFilePath=/var/log/vm.log", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.serial_port_count == 1);
	CHECK(vz.serial_ports[0].attachment == VZ_SERIAL_ATTACHMENT_FILE);
	CHECK_STR(vz.serial_ports[0].log_path, "/var/log/vm.log");
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-serial: stdio");
	CHECK(emit_device("virtio-serial,stdio", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.serial_ports[0].attachment == VZ_SERIAL_ATTACHMENT_STDIO && vz.serial_ports[0].log_path == NULL);
	vz_vm_configuration_free(&vz);
	TEST_CASE("virtio-serial: pty");
	CHECK(emit_device("virtio-serial,pty", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.serial_ports[0].attachment == VZ_SERIAL_ATTACHMENT_PTY);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-serial,logFilePath=/l"),
		  "{\"kind\":\"virtioserial\",\"logFile\":\"/l\",\"usesPty\":false,\"usesStdio\":false}");
	CHECK_STR(printed_json("virtio-serial,pty"), "{\"kind\":\"virtioserial\",\"usesPty\":true,\"usesStdio\":false}");
}

static void test_keyless(void)
{
	struct vz_vm_configuration vz;

	TEST_CASE("virtio-rng");
	CHECK(emit_device("virtio-rng", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.entropy_device_count == 1);
	CHECK(vz.storage_device_count == 0 && vz.memory_balloon_device_count == 0);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-rng"), "{\"kind\":\"virtiorng\"}");
	CHECK_STR(printed("virtio-rng,,"), "virtio-rng");
	TEST_CASE("virtio-balloon");
	CHECK(emit_device("virtio-balloon", VZ_PLATFORM_GENERIC, &vz));
	CHECK(vz.memory_balloon_device_count == 1);
	CHECK(vz.entropy_device_count == 0);
	vz_vm_configuration_free(&vz);
	CHECK_STR(printed_json("virtio-balloon"), "{\"kind\":\"virtioballoon\"}");
}

/* ---- help ---- */

static void test_help(void)
{
	struct component device;
	struct vzk_error err = {0};
	bool help = false;

	TEST_CASE("--device help");
	CHECK(component_parse(device_registry, "--device", "help", &device, &help, &err) == 0);
	CHECK(help && device.ops == NULL && device.config == NULL);
	TEST_CASE("--device TYPE,help");
	CHECK(component_parse(device_registry, "--device", "virtio-blk,help", &device, &help, &err) == 0);
	CHECK(help && device.ops == &virtio_blk_device && device.config == NULL);
	TEST_CASE("--device TYPE,k=v,help: help wins over other keys");
	CHECK(component_parse(device_registry, "--device", "virtio-net,nat,fd=3,help", &device, &help, &err) == 0);
	CHECK(help && device.ops == &virtio_net_device);
	TEST_CASE("--device TYPE,help=x is an unknown key");
	CHECK(component_parse(device_registry, "--device", "virtio-rng,help=1", &device, &help, &err) == -1);
	CHECK(!help && strstr(err.message, "takes no keys (got 'help')") != NULL);
	TEST_CASE("--bootloader help, --bootloader TYPE,help");
	CHECK(component_parse(bootloader_registry, "--bootloader", "help", &device, &help, &err) == 0 && help &&
	      device.ops == NULL);
	CHECK(component_parse(bootloader_registry, "--bootloader", "efi,help", &device, &help, &err) == 0 && help &&
	      device.ops == &efi_bootloader);

	TEST_CASE("component_print_keys: every key, required marks");
	for (size_t i = 0; device_registry[i] != NULL; i++) {
		const struct component_ops *ops = device_registry[i];
		char *text = NULL;
		size_t size = 0;
		FILE *out = open_memstream(&text, &size);
		bool ok = true;
		char name[96];

		component_print_keys(ops, out);
		fclose(out);
		ok = strncmp(text, ops->name, strlen(ops->name)) == 0 && strstr(text, ops->summary) != NULL;
		for (size_t k = 0; ok && k < ops->keys.count; k++) {
			char needle[64];
			snprintf(needle, sizeof(needle), "  %s", ops->keys.keys[k].name);
			ok = strstr(text, needle) != NULL && strstr(text, ops->keys.keys[k].help) != NULL;
			if (ok && ops->keys.keys[k].required) {
				const char *line = strstr(text, needle);
				const char *end = strchr(line, '\n');
				const char *mark = strstr(line, "(required)");
				ok = mark != NULL && mark < end;
			}
		}
		if (ops->keys.count == 0)
			ok = ok && strstr(text, "(no keys)") != NULL;
		snprintf(name, sizeof(name), "--device %s,help lists every key", ops->name);
		CHECK_NAMED(name, ok, "output:\n%s", text);
		free(text);
	}
	TEST_CASE("component_print_list: every type with its summary");
	{
		char *text = NULL;
		size_t size = 0;
		FILE *out = open_memstream(&text, &size);
		bool ok = true;
		component_print_list(device_registry, out);
		fclose(out);
		for (size_t i = 0; ok && device_registry[i] != NULL; i++)
			ok = strstr(text, device_registry[i]->name) != NULL && strstr(text, device_registry[i]->summary) != NULL;
		CHECK(ok);
		free(text);
	}
}

/* ---- the registries' own rules ---- */

static void check_registry(const struct component_ops *const *registry, const char *label)
{
	char name[160];
	size_t count = 0;

	for (; registry[count] != NULL; count++) {
		const struct component_ops *ops = registry[count];
		bool keys_ok = true;

		if (count > 0) {
			snprintf(name, sizeof(name), "%s registry sorted: %s < %s", label, registry[count - 1]->name, ops->name);
			CHECK_NAMED(name, strcmp(registry[count - 1]->name, ops->name) < 0, "out of order");
		}
		snprintf(name, sizeof(name), "%s %s: summary, JSON kind, emit", label, ops->name);
		CHECK_NAMED(name,
			    ops->summary != NULL && ops->summary[0] != '\0' && ops->json_kind != NULL &&
				    ops->json_kind[0] != '\0' && ops->emit != NULL && strchr(ops->summary, '\n') == NULL,
			    "missing piece");
		snprintf(name, sizeof(name), "%s %s: found by name and by JSON kind", label, ops->name);
		CHECK_NAMED(name, component_find(registry, ops->name) == ops && component_find_kind(registry, ops->json_kind) == ops,
			    "lookup failed");
		snprintf(name, sizeof(name), "%s %s: every key has help, a unique name and a valid kind", label, ops->name);
		if (ops->keys.count > 32)
			keys_ok = false; /* the given-mask has 32 bits */
		for (size_t k = 0; keys_ok && k < ops->keys.count; k++) {
			const struct key_spec *key = &ops->keys.keys[k];
			keys_ok = key->name != NULL && key->name[0] != '\0' && key->help != NULL && key->help[0] != '\0' &&
				  strpbrk(key->name, ",=\" ") == NULL && strcmp(key->name, "help") != 0;
			if (key->kind == KEY_ENUM)
				keys_ok = keys_ok && key->choices != NULL && key->choices[0] != NULL;
			if (key->kind == KEY_UINT)
				keys_ok = keys_ok && (key->max == 0 || key->min <= key->max);
			for (size_t j = 0; keys_ok && j < k; j++) {
				keys_ok = strcmp(ops->keys.keys[j].name, key->name) != 0;
				if (keys_ok && key->json_name != NULL && ops->keys.keys[j].json_name != NULL)
					keys_ok = strcasecmp(ops->keys.keys[j].json_name, key->json_name) != 0;
			}
			if (!keys_ok)
				printf("# %s: key %s\n", ops->name, key->name);
		}
		CHECK_NAMED(name, keys_ok, "a key breaks a rule");
		for (size_t j = 0; j < count; j++) {
			if (strcmp(registry[j]->json_kind, ops->json_kind) == 0) {
				snprintf(name, sizeof(name), "%s %s: JSON kind is unique", label, ops->name);
				CHECK_NAMED(name, false, "same as %s", registry[j]->name);
			}
		}
	}
	snprintf(name, sizeof(name), "%s registry is not empty", label);
	CHECK_NAMED(name, count > 0, "empty");
}

static void test_registry(void)
{
	static const char *const spec_types[] = {"virtio-blk", "nvme", "usb-mass-storage", "nbd", "virtio-net",
						 "virtio-vsock", "virtio-fs", "rosetta", "virtio-gpu", "virtio-input",
						 "virtio-serial", "virtio-rng", "virtio-balloon"};
	size_t count = 0;

	check_registry(device_registry, "device");
	check_registry(bootloader_registry, "bootloader");
	while (device_registry[count] != NULL)
		count++;
	TEST_CASE("device registry holds exactly the documented types (doc/vzkit.1, DEVICES)");
	CHECK(count == sizeof(spec_types) / sizeof(spec_types[0]));
	for (size_t i = 0; i < sizeof(spec_types) / sizeof(spec_types[0]); i++)
		CHECK_NAMED(spec_types[i], component_find(device_registry, spec_types[i]) != NULL, "missing from the registry");
	TEST_CASE("lookups of unknown names fail");
	CHECK(component_find(device_registry, "virtio") == NULL);
	CHECK(component_find_kind(device_registry, "virtio-blk") == NULL);
	CHECK(component_find(bootloader_registry, "bios") == NULL);
}

int main(void)
{
	test_errors();
	test_disks();
	test_nbd();
	test_net();
	test_vsock();
	test_fs();
	test_rosetta();
	test_gpu();
	test_input();
	test_serial();
	test_keyless();
	test_help();
	test_registry();
	TEST_EXIT();
}

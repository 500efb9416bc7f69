/* Golden tests of the QEMU engine's plan, driven by real vzkit flags:
 *   flags → args_parse → vm_description_to_vz → qemu_plan_build (fixed host facts)
 * printed as --dry-run=qemu prints it (helpers, then QEMU, shell-quoted) and
 * compared with test/qemu/golden/flags-<case>.txt. UPDATE_GOLDEN=1 rewrites the
 * files from the current plans (review the diff before committing).
 *
 * A golden only says "nothing changed". So every plan also goes through
 * structural rules that hold whatever the goldens say: the fixed flags
 * (-nodefaults, -no-user-config, -no-reboot, -S), no unknown options, formats
 * always stated, read-only on every node of a read-only disk, every path read
 * back through QEMU's own comma escaping (and virtiofsd's) equal to what the
 * user gave, every reference (drive=, netdev=, chardev=, rng=, bus=, memdev=)
 * pointing at something defined, passed descriptors numbered 3, 4, ...
 * A blindly regenerated golden cannot hide a broken rule. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/config/vm.h"
#include "test/golden.h"
#include "test/testlib.h"
#include "flags/nbd_uri.h"
#include "vz/qemu/plan.h"
#include "vz/vz.h"

#define GOLDEN_DIR "test/qemu/golden"
#define RUNTIME_DIR "/run/vzkit-test"
#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"
#define TLS_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_ARGS 48
#define MAX_DISKS 8

struct plan_case {
	const char *name;
	enum qemu_arch arch;
	enum qemu_accel accel;
	bool as_root;          /* helpers_as_root */
	uint32_t vsock_cid;    /* 0: no vsock device */
	bool qcow2[MAX_DISKS]; /* per storage device: the image has the qcow2 magic */
	const char *runtime_dir; /* NULL: RUNTIME_DIR */
	const char *efi_code;    /* NULL: the arch's usual firmware */
	/* What the flags cannot say (VZ properties only the Apple side sets). */
	void (*adjust)(struct vz_vm_configuration *vz);
	const char *args[MAX_ARGS]; /* vzkit's flags, NULL-terminated */
};

static void uncached_no_sync(struct vz_vm_configuration *vz)
{
	vz->storage_devices[0].attachment.caching_mode = VZ_DISK_CACHING_UNCACHED;
	vz->storage_devices[1].attachment.caching_mode = VZ_DISK_CACHING_UNCACHED;
	vz->storage_devices[1].attachment.sync_mode = VZ_DISK_SYNC_NONE;
}

#define X86 QEMU_ARCH_X86_64
#define ARM QEMU_ARCH_AARCH64
#define TCG QEMU_ACCEL_TCG
#define KVM QEMU_ACCEL_KVM
#define KERNEL "linux,kernel=/g/vmlinuz,initrd=/g/initrd.img"

static const struct plan_case cases[] = {
	{"linux-minimal", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL ",cmdline=\"console=hvc0 vzkit.mode=report\"",
	  "--device", "virtio-serial,logFilePath=/var/log/vm.log", NULL}},
	{"linux-kvm", X86, KVM, true, 0, {0}, NULL, NULL, NULL,
	 {"--cpus", "2", "--memory", "1024", "--bootloader", "linux,kernel=/g/vmlinuz", NULL}},
	{"nested-kvm", X86, KVM, true, 0, {0}, NULL, NULL, NULL,
	 {"--cpus", "4", "--memory", "4096", "--nested", "--bootloader", "linux,kernel=/g/vmlinuz,cmdline=quiet", NULL}},
	{"aarch64-tcg", ARM, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", "linux,kernel=/g/Image,initrd=/g/initrd.img,cmdline=console=hvc0",
	  "--device", "virtio-blk,path=/d/root.img", "--device", "virtio-serial,logFilePath=/var/log/vm.log",
	  "--device", "virtio-net,nat,mac=52:54:00:aa:00:01", NULL}},
	{"aarch64-kvm-nested", ARM, KVM, true, 0, {0}, NULL, NULL, NULL,
	 {"--cpus", "2", "--nested", "--bootloader", "linux,kernel=/g/Image", NULL}},
	{"virtio-blk", X86, TCG, true, 0, {false, true, false, true, false, false}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-blk,path=/d/raw.img",
	  "--device", "virtio-blk,path=/d/thin.qcow2",
	  "--device", "virtio-blk,path=/d/ro.img,readonly",
	  "--device", "virtio-blk,path=/d/ro.qcow2,readonly",
	  "--device", "virtio-blk,path=/d/id.img,deviceId=\"disk,one\"",
	  "--device", "virtio-blk,path=/dev/sdz,type=dev", NULL}},
	{"nvme-usb", X86, TCG, true, 0, {false, false, false, true}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "nvme,path=/d/n0.img", "--device", "nvme,path=/d/n1.img,readonly",
	  "--device", "usb-mass-storage,path=/d/install.iso,readonly",
	  "--device", "usb-mass-storage,path=/d/stick.qcow2", NULL}},
	{"nbd", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL,
	  "--device", "nbd,uri=nbd://10.0.0.5:10810/exp,deviceId=remote",
	  "--device", "nbd,uri=nbd://nbd.example,readonly,timeout=2500",
	  "--device", "nbd,uri=\"nbd+unix:///disk?socket=/run/nbd.sock\",sync=none",
	  "--device", "nbd,uri=nbd://[fd00::5]:10900/v6,timeout=1",
	  "--device", "nbd,uri=nbd://nbd.example/exp,timeout=1001",
	  "--device", "nbd,uri=nbds://secure.example/tls", NULL}},
	{"net", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-net,nat,mac=52:54:00:00:00:01",
	  "--device", "virtio-net,fd=7,mac=52:54:00:00:00:02",
	  "--device", "virtio-net,unixSocketPath=/run/gvproxy.sock,mac=52:54:00:00:00:03",
	  "--device", "virtio-net,nat,mac=52:54:00:00:00:04",
	  "--device", "virtio-net,type=unixgram,path=/run/vmnet.sock,offloading=off,mac=52:54:00:00:00:05",
	  "--device", "virtio-net,fd=9,mac=52:54:00:00:00:06", NULL}},
	{"serial", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-serial,logFilePath=/var/log/vm.log",
	  "--device", "virtio-serial,stdio", "--device", "virtio-serial,pty", "--device", "virtio-serial,pty",
	  "--device", "virtio-serial,logFilePath=/var/log/second.log", NULL}},
	{"shares-root", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--memory", "1024", "--bootloader", KERNEL, "--device", "virtio-fs,sharedDir=/srv/one",
	  "--device", "virtio-fs,sharedDir=/srv/two,mountTag=second", NULL}},
	{"shares-user", X86, TCG, false, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-fs,sharedDir=/srv/one,mountTag=one", NULL}},
	{"misc-devices", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-rng", "--device", "virtio-balloon",
	  "--device", "virtio-gpu,width=1280,height=720", "--device", "virtio-input,keyboard",
	  "--device", "virtio-input,pointing", NULL}},
	{"gui", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--gui", "--bootloader", KERNEL, "--device", "virtio-input,pointing", NULL}},
	{"vsock", X86, TCG, true, 4242, {0}, NULL, NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-vsock,port=1025,socketURL=/run/ready.sock",
	  "--device", "virtio-vsock,port=2000,socketURL=/run/svc.sock,connect", NULL}},
	{"efi-x86", X86, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", "efi,variable-store=/var/lib/vm/efi.vars,create", "--device", "virtio-blk,path=/d/efi.img",
	  "--device", "usb-mass-storage,path=/d/install.iso,readonly", NULL}},
	{"efi-aarch64", ARM, TCG, true, 0, {0}, NULL, NULL, NULL,
	 {"--bootloader", "efi,variable-store=/var/lib/vm/efi.vars", "--device", "virtio-blk,path=/d/efi.img", NULL}},
	{"commas-linux", X86, TCG, true, 0, {false, true}, "/run/vzkit,test", NULL, NULL,
	 {"--bootloader", "linux,kernel=\"/g/a,b/vmlinuz\",initrd=\"/g/a,b/initrd.img\",cmdline=\"console=hvc0 x=1,2\"",
	  "--device", "virtio-blk,path=\"/d/a,b.img\",readonly", "--device", "nvme,path=\"/d/c,,d.qcow2\"",
	  "--device", "virtio-serial,logFilePath=\"/var/log/a,b.log\"",
	  "--device", "nbd,uri=\"nbd+unix:///e,x?socket=/run/n,b.sock\"", NULL}},
	{"commas-share", X86, TCG, true, 0, {0}, "/run/vzkit,test", NULL, NULL,
	 {"--bootloader", KERNEL, "--device", "virtio-fs,sharedDir=\"/srv/a,b\",mountTag=ab",
	  "--device", "virtio-fs,sharedDir=\"/srv/back\\slash\",mountTag=bs", NULL}},
	{"commas-efi", X86, TCG, true, 0, {0}, NULL, "/fw/OVMF,CODE.fd", NULL,
	 {"--bootloader", "efi,variable-store=\"/var/lib/vm/efi,vars\",create", NULL}},
	{"uncached", X86, TCG, true, 0, {false, true}, NULL, NULL, uncached_no_sync,
	 {"--bootloader", KERNEL, "--device", "virtio-blk,path=/d/direct.img",
	  "--device", "virtio-blk,path=/d/direct.qcow2", NULL}},
	{"everything", X86, TCG, true, 77, {false, true}, NULL, NULL, NULL,
	 {"--cpus", "2", "--memory", "2048", "--bootloader", KERNEL ",cmdline=\"console=hvc0 root=/dev/vda\"",
	  "--device", "virtio-blk,path=/d/root.img,deviceId=root", "--device", "virtio-blk,path=/d/data.qcow2",
	  "--device", "nvme,path=/d/nvme.img", "--device", "usb-mass-storage,path=/d/usb.img",
	  "--device", "nbd,uri=nbd://localhost/export,readonly",
	  "--device", "virtio-net,nat,mac=52:54:00:12:34:10", "--device", "virtio-net,fd=5,mac=52:54:00:12:34:11",
	  "--device", "virtio-serial,logFilePath=/tmp/console.log", "--device", "virtio-serial,pty",
	  "--device", "virtio-fs,sharedDir=/srv/share,mountTag=share", "--device", "virtio-rng",
	  "--device", "virtio-balloon", "--device", "virtio-gpu", "--device", "virtio-input,keyboard",
	  "--device", "virtio-input,pointing", "--device", "virtio-vsock,port=1025,socketURL=/run/v.sock", NULL}},
};

/* ---- reading the plan back the way QEMU reads it ---- */

/* One QEMU option string ("virtio-blk-pci,drive=disk0,serial=a,,b"): split
 * on single commas, ",," is a literal comma; a first element without '='
 * is the implied value (device type, netdev type, machine...). */
#define MAX_OPTS 24
struct qemu_opts {
	char buffer[8192];
	const char *implied;
	const char *keys[MAX_OPTS];
	const char *values[MAX_OPTS];
	size_t count;
	bool well_formed; /* no empty element, no overflow, no repeated key */
};

static void qemu_opts_parse(const char *text, struct qemu_opts *out)
{
	size_t used = 0;
	const char *p = text;

	memset(out, 0, sizeof(*out));
	out->well_formed = true;
	while (out->well_formed) {
		char *element = out->buffer + used;
		while (*p != '\0' && used + 2 < sizeof(out->buffer)) {
			if (p[0] == ',' && p[1] == ',') {
				out->buffer[used++] = ',';
				p += 2;
			} else if (p[0] == ',') {
				break;
			} else {
				out->buffer[used++] = *p++;
			}
		}
		out->buffer[used++] = '\0';
		char *equals = strchr(element, '=');
		if (element[0] == '\0' || used + 2 >= sizeof(out->buffer) || out->count == MAX_OPTS) {
			out->well_formed = false;
		} else if (equals == NULL && out->count == 0 && out->implied == NULL && element == out->buffer) {
			out->implied = element;
		} else {
			if (equals != NULL)
				*equals = '\0';
			for (size_t i = 0; i < out->count; i++)
				if (strcmp(out->keys[i], element) == 0)
					out->well_formed = false;
			out->keys[out->count] = element;
			out->values[out->count++] = equals != NULL ? equals + 1 : "on";
		}
		if (*p == '\0')
			break;
		p++; /* the separating comma */
	}
}

static const char *opt(const struct qemu_opts *opts, const char *key)
{
	for (size_t i = 0; i < opts->count; i++)
		if (strcmp(opts->keys[i], key) == 0)
			return opts->values[i];
	return NULL;
}

static bool opt_is(const struct qemu_opts *opts, const char *key, const char *want)
{
	const char *value = opt(opts, key);
	return value != NULL && want != NULL && strcmp(value, want) == 0;
}

/* virtiofsd parses "-o" with libfuse's fuse_opt: options split on commas, a
 * backslash takes the next character literally (doubling does not escape).
 * Returns the number of options; the first one decoded into out. */
static size_t fuse_opts_first(const char *text, char *out, size_t size)
{
	size_t options = 1, used = 0;

	for (const char *p = text; *p != '\0'; p++) {
		char c = *p;
		if (*p == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else if (*p == '\\' && p[1] != '\0') {
			c = *++p;
		} else if (*p == ',') {
			options++;
			continue;
		}
		if (options == 1 && used + 1 < size)
			out[used++] = c;
	}
	out[used] = '\0';
	return options;
}

/* The plan's QEMU argv as (flag, value) pairs. */
struct qemu_arg {
	const char *flag;
	const char *value; /* NULL for the flags without one */
};

#define MAX_QEMU_ARGS 256
struct parsed_plan {
	struct qemu_arg args[MAX_QEMU_ARGS];
	size_t count;
	char unknown[128]; /* the first item that is not a known QEMU flag, or "" */
};

static const char *const flags_without_value[] = {"-nodefaults", "-no-user-config", "-no-reboot", "-S", NULL};
static const char *const flags_with_value[] = {"-machine", "-cpu", "-smp", "-m", "-object", "-numa", "-mon",
					       "-display", "-kernel", "-initrd", "-append", "-drive", "-blockdev",
					       "-device", "-netdev", "-chardev", NULL};

static bool in_list(const char *const *list, const char *item)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, item) == 0)
			return true;
	return false;
}

static void parse_plan(const struct strv *argv, struct parsed_plan *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 1; i < argv->count && out->count < MAX_QEMU_ARGS; i++) {
		const char *item = argv->items[i];
		if (in_list(flags_without_value, item)) {
			out->args[out->count++] = (struct qemu_arg){item, NULL};
		} else if (in_list(flags_with_value, item) && i + 1 < argv->count) {
			out->args[out->count++] = (struct qemu_arg){item, argv->items[++i]};
		} else if (out->unknown[0] == '\0') {
			snprintf(out->unknown, sizeof(out->unknown), "%s", item);
		}
	}
}

static size_t count_flag(const struct parsed_plan *plan, const char *flag)
{
	size_t count = 0;
	for (size_t i = 0; i < plan->count; i++)
		count += strcmp(plan->args[i].flag, flag) == 0;
	return count;
}

/* The value of the only occurrence of `flag`, or NULL. */
static const char *single_value(const struct parsed_plan *plan, const char *flag)
{
	if (count_flag(plan, flag) != 1)
		return NULL;
	for (size_t i = 0; i < plan->count; i++)
		if (strcmp(plan->args[i].flag, flag) == 0)
			return plan->args[i].value;
	return NULL;
}

/* The options of the first `flag` whose `key` is `value` (e.g. the -blockdev
 * with node-name=disk0); false when none. */
static bool find_opts(const struct parsed_plan *plan, const char *flag, const char *key, const char *value,
		      struct qemu_opts *out)
{
	for (size_t i = 0; i < plan->count; i++) {
		if (strcmp(plan->args[i].flag, flag) != 0)
			continue;
		qemu_opts_parse(plan->args[i].value, out);
		if (opt_is(out, key, value))
			return true;
	}
	return false;
}

/* Same, for the first `flag` whose implied value is `implied` (the nth one). */
static bool find_implied(const struct parsed_plan *plan, const char *flag, const char *implied, size_t nth,
			 struct qemu_opts *out)
{
	for (size_t i = 0; i < plan->count; i++) {
		if (strcmp(plan->args[i].flag, flag) != 0)
			continue;
		qemu_opts_parse(plan->args[i].value, out);
		if (out->implied != NULL && strcmp(out->implied, implied) == 0 && nth-- == 0)
			return true;
	}
	return false;
}

static size_t count_implied(const struct parsed_plan *plan, const char *flag, const char *implied)
{
	struct qemu_opts opts;
	size_t count = 0;
	while (find_implied(plan, flag, implied, count, &opts))
		count++;
	return count;
}

/* ---- the structural rules ---- */

struct checker {
	const struct plan_case *test_case;
	const struct vz_vm_configuration *vz;
	const struct qemu_plan_params *params;
	const struct qemu_plan *plan;
	struct parsed_plan parsed;
	char why[512]; /* the first fault a rule found */
};

static bool fault(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fault(struct checker *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	return false;
}

static void rule(struct checker *c, const char *what, bool (*check)(struct checker *))
{
	char label[300];
	bool ok;

	c->why[0] = '\0';
	ok = check(c);
	snprintf(label, sizeof(label), "%s: %s", c->test_case->name, what);
	CHECK_NAMED(label, ok && c->why[0] == '\0', "%s", c->why[0] ? c->why : "rule broken");
}

static bool rule_fixed_flags(struct checker *c)
{
	const char *binary = c->params->arch == QEMU_ARCH_AARCH64 ? "qemu-system-aarch64" : "qemu-system-x86_64";

	if (c->plan->argv.count == 0 || strcmp(c->plan->argv.items[0], binary) != 0)
		return fault(c, "argv[0] is not %s", binary);
	for (const char *const *flag = flags_without_value; *flag != NULL; flag++)
		if (count_flag(&c->parsed, *flag) != 1)
			return fault(c, "%s appears %zu times", *flag, count_flag(&c->parsed, *flag));
	if (c->parsed.unknown[0] != '\0')
		return fault(c, "unexpected argument '%s'", c->parsed.unknown);
	for (size_t i = 0; i < c->parsed.count; i++) {
		struct qemu_opts opts;
		const char *flag = c->parsed.args[i].flag;
		if (strcmp(flag, "-kernel") == 0 || strcmp(flag, "-initrd") == 0 || strcmp(flag, "-append") == 0 ||
		    c->parsed.args[i].value == NULL)
			continue;
		qemu_opts_parse(c->parsed.args[i].value, &opts);
		if (!opts.well_formed)
			return fault(c, "%s '%s' does not read back as options", flag, c->parsed.args[i].value);
	}
	return true;
}

static bool rule_machine(struct checker *c)
{
	const struct vz_vm_configuration *vz = c->vz;
	bool kvm = c->params->accel == QEMU_ACCEL_KVM, arm = c->params->arch == QEMU_ARCH_AARCH64;
	const char *machine = single_value(&c->parsed, "-machine");
	struct qemu_opts opts;
	char want[32];

	if (machine == NULL)
		return fault(c, "not exactly one -machine");
	qemu_opts_parse(machine, &opts);
	if (opts.implied == NULL || strcmp(opts.implied, arm ? "virt" : "q35") != 0)
		return fault(c, "machine '%s'", machine);
	if (!opt_is(&opts, "accel", kvm ? "kvm" : "tcg"))
		return fault(c, "accel in '%s'", machine);
	if (arm && vz->platform.nested_virtualization != opt_is(&opts, "virtualization", "on"))
		return fault(c, "nested virtualisation not as configured: '%s'", machine);
	if (single_value(&c->parsed, "-cpu") == NULL)
		return fault(c, "not exactly one -cpu");
	if (strcmp(single_value(&c->parsed, "-cpu"), kvm ? "host" : "max") != 0)
		return fault(c, "-cpu %s under %s", single_value(&c->parsed, "-cpu"), kvm ? "kvm" : "tcg");
	snprintf(want, sizeof(want), "%u", vz->cpu_count);
	if (single_value(&c->parsed, "-smp") == NULL || strcmp(single_value(&c->parsed, "-smp"), want) != 0)
		return fault(c, "-smp is not %s", want);
	snprintf(want, sizeof(want), "%lluM", (unsigned long long)(vz->memory_size >> 20));
	if (single_value(&c->parsed, "-m") == NULL || strcmp(single_value(&c->parsed, "-m"), want) != 0)
		return fault(c, "-m is not %s", want);
	const char *display = single_value(&c->parsed, "-display");
	if (display == NULL || strcmp(display, vz->gui ? c->params->gui_backend : "none") != 0)
		return fault(c, "-display %s", display ? display : "(none or several)");
	return true;
}

/* The monitor: the last passed descriptor, a connected socket (no server,
 * no path), in control mode; and no other monitor. */
static bool rule_qmp(struct checker *c)
{
	const char *mon = single_value(&c->parsed, "-mon");
	struct qemu_opts opts;
	char number[16];

	if (c->plan->fd_count == 0 || c->plan->fds[c->plan->fd_count - 1].kind != QEMU_FD_QMP)
		return fault(c, "the last passed descriptor is not the monitor's");
	for (size_t i = 0; i + 1 < c->plan->fd_count; i++)
		if (c->plan->fds[i].kind == QEMU_FD_QMP)
			return fault(c, "two monitor descriptors");
	snprintf(number, sizeof(number), "%d", c->plan->fds[c->plan->fd_count - 1].target_fd);
	if (count_flag(&c->parsed, "-qmp") != 0 || mon == NULL)
		return fault(c, "not exactly one -mon (and no -qmp)");
	qemu_opts_parse(mon, &opts);
	if (!opt_is(&opts, "chardev", "qmp") || !opt_is(&opts, "mode", "control"))
		return fault(c, "-mon '%s' is not chardev=qmp,mode=control", mon);
	if (!find_opts(&c->parsed, "-chardev", "id", "qmp", &opts) || opts.implied == NULL ||
	    strcmp(opts.implied, "socket") != 0 || !opt_is(&opts, "fd", number) || opt(&opts, "path") != NULL ||
	    opt(&opts, "server") != NULL)
		return fault(c, "-chardev qmp is not a connected socket on fd %s", number);
	return true;
}

static bool same_or_both_null(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool rule_boot(struct checker *c)
{
	const struct vz_boot_loader *boot = &c->vz->boot_loader;
	struct qemu_opts code, vars;

	if (boot->kind == VZ_BOOT_LOADER_LINUX) {
		/* -kernel, -initrd and -append are taken verbatim (no option syntax) */
		if (!same_or_both_null(single_value(&c->parsed, "-kernel"), boot->kernel_path) ||
		    !same_or_both_null(single_value(&c->parsed, "-initrd"), boot->initrd_path) ||
		    !same_or_both_null(single_value(&c->parsed, "-append"), boot->command_line))
			return fault(c, "-kernel/-initrd/-append differ from the boot loader");
		if (count_flag(&c->parsed, "-drive") != 0)
			return fault(c, "a -drive in a Linux boot");
		return true;
	}
	if (count_flag(&c->parsed, "-kernel") != 0 || count_flag(&c->parsed, "-drive") != 2)
		return fault(c, "EFI boot needs exactly two -drive (pflash) and no -kernel");
	if (!find_opts(&c->parsed, "-drive", "unit", "0", &code) || !find_opts(&c->parsed, "-drive", "unit", "1", &vars))
		return fault(c, "pflash units 0 and 1 missing");
	if (!opt_is(&code, "if", "pflash") || !opt_is(&code, "readonly", "on") || !opt_is(&code, "format", "raw") ||
	    !opt_is(&code, "file", c->params->efi_code))
		return fault(c, "firmware code drive: if=pflash,format=raw,readonly=on,file=%s wanted", c->params->efi_code);
	if (!opt_is(&vars, "if", "pflash") || opt_is(&vars, "readonly", "on") ||
	    !opt_is(&vars, "format", c->params->efi_vars_format) || !opt_is(&vars, "file", boot->variable_store_path))
		return fault(c, "variable store drive: writable pflash file=%s wanted", boot->variable_store_path);
	return true;
}

/* Every -blockdev states its driver; image disks are a file (or host_device)
 * node under a raw or qcow2 node, decided by the magic and never probed;
 * read-only is explicit on every node and "on" exactly for read-only disks. */
static bool rule_blockdevs(struct checker *c)
{
	size_t expected = 0;

	for (size_t i = 0; i < c->parsed.count; i++) {
		struct qemu_opts opts;
		if (strcmp(c->parsed.args[i].flag, "-blockdev") != 0)
			continue;
		qemu_opts_parse(c->parsed.args[i].value, &opts);
		if (opts.implied != NULL || opts.count == 0 || strcmp(opts.keys[0], "driver") != 0)
			return fault(c, "-blockdev '%s' does not start with driver=", c->parsed.args[i].value);
	}
	for (size_t d = 0; d < c->vz->storage_device_count; d++) {
		const struct vz_storage_attachment *attachment = &c->vz->storage_devices[d].attachment;
		const char *ro = attachment->read_only ? "on" : "off";
		bool qcow2 = c->params->disk_is_qcow2 != NULL && c->params->disk_is_qcow2[d];
		struct qemu_opts file, format;
		char file_node[32], format_node[32];

		snprintf(file_node, sizeof(file_node), "disk%zu-file", d);
		snprintf(format_node, sizeof(format_node), "disk%zu", d);
		if (!find_opts(&c->parsed, "-blockdev", "node-name", format_node, &format))
			return fault(c, "no -blockdev node %s", format_node);
		if (!opt_is(&format, "read-only", ro))
			return fault(c, "%s: read-only is not %s", format_node, ro);
		if (attachment->kind == VZ_STORAGE_ATTACHMENT_NBD) {
			expected++;
			char want[24];
			snprintf(want, sizeof(want), "%llu", (unsigned long long)((attachment->timeout_ms + 999) / 1000));
			if (!opt_is(&format, "driver", "nbd") || !opt_is(&format, "open-timeout", want))
				return fault(c, "%s: driver=nbd with open-timeout=%s wanted", format_node, want);
			if (opt_is(&format, "cache.no-flush", "on") != (attachment->sync_mode == VZ_DISK_SYNC_NONE))
				return fault(c, "%s: cache.no-flush does not follow sync=", format_node);
			continue;
		}
		expected += 2;
		if (!find_opts(&c->parsed, "-blockdev", "node-name", file_node, &file))
			return fault(c, "no -blockdev node %s", file_node);
		if (!opt_is(&format, "driver", qcow2 ? "qcow2" : "raw") || !opt_is(&format, "file", file_node))
			return fault(c, "%s: driver=%s on file=%s wanted", format_node, qcow2 ? "qcow2" : "raw", file_node);
		if (!opt_is(&file, "driver", attachment->kind == VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE ? "host_device" : "file"))
			return fault(c, "%s: wrong protocol driver", file_node);
		if (!opt_is(&file, "read-only", ro))
			return fault(c, "%s: read-only is not %s", file_node, ro);
		if (!opt_is(&file, "filename", attachment->path))
			return fault(c, "%s: filename does not read back as %s", file_node, attachment->path);
		if (opt_is(&file, "cache.direct", "on") != (attachment->caching_mode == VZ_DISK_CACHING_UNCACHED))
			return fault(c, "%s: cache.direct does not follow the caching mode", file_node);
		if (opt_is(&format, "cache.no-flush", "on") != (attachment->sync_mode == VZ_DISK_SYNC_NONE))
			return fault(c, "%s: cache.no-flush does not follow the sync mode", format_node);
	}
	if (count_flag(&c->parsed, "-blockdev") != expected)
		return fault(c, "%zu -blockdev for %zu nodes", count_flag(&c->parsed, "-blockdev"), expected);
	return true;
}

/* NBD servers read back as the URI says (through the engine's URI parser,
 * but with QEMU's comma rules on the way out). */
static bool rule_nbd(struct checker *c)
{
	for (size_t d = 0; d < c->vz->storage_device_count; d++) {
		const struct vz_storage_attachment *attachment = &c->vz->storage_devices[d].attachment;
		struct nbd_uri address;
		struct vzk_error err = {0};
		struct qemu_opts node;
		char name[32];

		if (attachment->kind != VZ_STORAGE_ATTACHMENT_NBD)
			continue;
		snprintf(name, sizeof(name), "disk%zu", d);
		if (nbd_uri_parse(attachment->url, "--device nbd", &address, &err) != 0)
			return fault(c, "%s: %s", attachment->url, err.message);
		if (!find_opts(&c->parsed, "-blockdev", "node-name", name, &node))
			return fault(c, "no node %s", name);
		if (address.is_unix ? !opt_is(&node, "server.type", "unix") || !opt_is(&node, "server.path", address.socket)
				    : !opt_is(&node, "server.type", "inet") || !opt_is(&node, "server.host", address.host) ||
					      !opt_is(&node, "server.port", address.port))
			return fault(c, "%s: server does not read back as %s", name, attachment->url);
		if (!same_or_both_null(opt(&node, "export"), address.export_name[0] ? address.export_name : NULL))
			return fault(c, "%s: export does not read back as '%s'", name, address.export_name);
		if (address.tls != opt_is(&node, "tls-creds", "nbd-tls"))
			return fault(c, "%s: tls-creds does not follow the scheme", name);
		if (address.tls && !opt_is(&node, "tls-hostname", address.tls_hostname))
			return fault(c, "%s: tls-hostname is not %s", name, address.tls_hostname);
		if (address.tls) {
			struct qemu_opts creds;
			if (!find_opts(&c->parsed, "-object", "id", "nbd-tls", &creds) || c->plan->tls_dir == NULL ||
			    !opt_is(&creds, "dir", c->plan->tls_dir) || !opt_is(&creds, "verify-peer", "on") ||
			    !opt_is(&creds, "endpoint", "client"))
				return fault(c, "no client tls-creds object verifying the peer from tls_dir");
		}
	}
	return true;
}

/* Names defined once; every reference points at something defined. */
struct name_set {
	char names[128][64];
	size_t count;
};

static bool name_add(struct name_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->names[i], name) == 0)
			return false;
	if (set->count < 128)
		snprintf(set->names[set->count++], sizeof(set->names[0]), "%s", name);
	return true;
}

static bool name_has(const struct name_set *set, const char *name)
{
	for (size_t i = 0; name != NULL && i < set->count; i++)
		if (strcmp(set->names[i], name) == 0)
			return true;
	return false;
}

static bool rule_references(struct checker *c)
{
	static const struct {
		const char *flag, *key;
	} definitions[] = {
		{"-blockdev", "node-name"}, {"-netdev", "id"}, {"-chardev", "id"}, {"-object", "id"}, {"-device", "id"},
	};
	static const char *const references[] = {"drive", "netdev", "chardev", "rng", "memdev", "file", NULL};
	static struct name_set defined, used_backends;
	struct qemu_opts opts;

	memset(&defined, 0, sizeof(defined));
	memset(&used_backends, 0, sizeof(used_backends));
	for (size_t i = 0; i < c->parsed.count; i++) {
		const char *flag = c->parsed.args[i].flag, *value = c->parsed.args[i].value;
		if (value == NULL || strcmp(flag, "-kernel") == 0 || strcmp(flag, "-initrd") == 0 ||
		    strcmp(flag, "-append") == 0)
			continue;
		qemu_opts_parse(value, &opts);
		/* references look backwards: QEMU wants backends before their users */
		for (const char *const *key = references; *key != NULL; key++) {
			const char *target = opt(&opts, *key);
			if (target == NULL || strcmp(flag, "-drive") == 0)
				continue;
			if (!name_has(&defined, target))
				return fault(c, "%s '%s': %s=%s is not defined before", flag, value, *key, target);
			if (strcmp(*key, "file") != 0 && !name_add(&used_backends, target))
				return fault(c, "%s=%s used twice", *key, target);
			if (strcmp(*key, "drive") == 0 && strstr(target, "-file") != NULL)
				return fault(c, "%s '%s' sits on the protocol node, skipping the format", flag, value);
		}
		const char *bus = opt(&opts, "bus");
		if (bus != NULL) {
			char controller[64];
			snprintf(controller, sizeof(controller), "%.*s", (int)strcspn(bus, "."), bus);
			if (!name_has(&defined, controller))
				return fault(c, "bus=%s before its controller", bus);
		}
		for (size_t d = 0; d < sizeof(definitions) / sizeof(definitions[0]); d++) {
			const char *name = opt(&opts, definitions[d].key);
			if (strcmp(flag, definitions[d].flag) == 0 && name != NULL && !name_add(&defined, name))
				return fault(c, "%s defined twice", name);
		}
	}
	/* every backend has its user (a node under a format node counts as used) */
	for (size_t i = 0; i < c->parsed.count; i++) {
		const char *flag = c->parsed.args[i].flag;
		if (strcmp(flag, "-netdev") != 0 && strcmp(flag, "-chardev") != 0)
			continue;
		qemu_opts_parse(c->parsed.args[i].value, &opts);
		if (!name_has(&used_backends, opt(&opts, "id")))
			return fault(c, "%s %s has no device", flag, opt(&opts, "id"));
	}
	return true;
}

static bool rule_storage_devices(struct checker *c)
{
	size_t usb = 0, nvme = 0;
	struct qemu_opts opts;

	for (size_t d = 0; d < c->vz->storage_device_count; d++) {
		const struct vz_storage_device *device = &c->vz->storage_devices[d];
		char node[32];
		snprintf(node, sizeof(node), "disk%zu", d);
		if (!find_opts(&c->parsed, "-device", "drive", node, &opts))
			return fault(c, "no device on %s", node);
		switch (device->kind) {
		case VZ_STORAGE_VIRTIO_BLOCK:
			if (opts.implied == NULL || strcmp(opts.implied, "virtio-blk-pci") != 0)
				return fault(c, "%s is not on virtio-blk-pci", node);
			if (!same_or_both_null(opt(&opts, "serial"), device->block_device_identifier))
				return fault(c, "%s: serial does not read back as the deviceId", node);
			break;
		case VZ_STORAGE_NVME: {
			char serial[32];
			snprintf(serial, sizeof(serial), "vzkit-nvme%zu", nvme++);
			if (opts.implied == NULL || strcmp(opts.implied, "nvme") != 0 || !opt_is(&opts, "serial", serial))
				return fault(c, "%s: nvme with serial=%s wanted (QEMU needs one, unique)", node, serial);
			break;
		}
		case VZ_STORAGE_USB_MASS_STORAGE:
			usb++;
			if (opts.implied == NULL || strcmp(opts.implied, "usb-storage") != 0 || !opt_is(&opts, "bus", "xhci.0"))
				return fault(c, "%s: usb-storage on xhci.0 wanted", node);
			break;
		}
	}
	if (count_implied(&c->parsed, "-device", "qemu-xhci") != (usb > 0 ? 1u : 0u))
		return fault(c, "%zu xhci controllers for %zu USB disks", count_implied(&c->parsed, "-device", "qemu-xhci"),
			     usb);
	return true;
}

static bool rule_network(struct checker *c)
{
	size_t passed = 0;

	for (size_t n = 0; n < c->vz->network_device_count; n++) {
		const struct vz_network_device *device = &c->vz->network_devices[n];
		struct qemu_opts netdev, nic;
		char id[32], mac[18];

		snprintf(id, sizeof(id), "net%zu", n);
		vz_format_mac(device->mac_address, mac);
		if (!find_opts(&c->parsed, "-netdev", "id", id, &netdev) || !find_opts(&c->parsed, "-device", "netdev", id, &nic))
			return fault(c, "%s: netdev or NIC missing", id);
		if (nic.implied == NULL || strcmp(nic.implied, "virtio-net-pci") != 0 || !opt_is(&nic, "mac", mac))
			return fault(c, "%s: virtio-net-pci with mac=%s wanted", id, mac);
		if (device->attachment == VZ_NETWORK_ATTACHMENT_NAT) {
			if (netdev.implied == NULL || strcmp(netdev.implied, "user") != 0)
				return fault(c, "%s: NAT is not -netdev user", id);
			continue;
		}
		/* descriptors reach QEMU as 3, 4, ... in the order of the NICs */
		const struct qemu_passed_fd *fd = &c->plan->fds[passed];
		char number[16];
		snprintf(number, sizeof(number), "%d", QEMU_FIRST_PASSED_FD + (int)passed);
		if (passed >= c->plan->fd_count || fd->network_index != n || fd->target_fd != QEMU_FIRST_PASSED_FD + (int)passed)
			return fault(c, "%s: passed descriptor %zu is not fd %s for this NIC", id, passed, number);
		if (fd->kind != (device->unix_socket_path != NULL ? QEMU_FD_NET_UNIXGRAM : QEMU_FD_NET_INHERITED))
			return fault(c, "%s: descriptor kind does not follow fd=/unixSocketPath", id);
		if (netdev.implied == NULL || strcmp(netdev.implied, "dgram") != 0 || !opt_is(&netdev, "local.type", "fd") ||
		    !opt_is(&netdev, "local.str", number))
			return fault(c, "%s: -netdev dgram on fd %s wanted", id, number);
		passed++;
	}
	/* then the monitor's (rule_qmp) */
	if (passed + 1 != c->plan->fd_count || count_flag(&c->parsed, "-netdev") != c->vz->network_device_count)
		return fault(c, "%zu descriptors planned for %zu file-handle NICs and a monitor", c->plan->fd_count, passed);
	return true;
}

static bool rule_serial(struct checker *c)
{
	bool stdio = false;
	size_t ports = c->vz->serial_port_count;

	if (count_implied(&c->parsed, "-device", "virtio-serial-pci") != (ports > 0 ? 1u : 0u) ||
	    count_implied(&c->parsed, "-device", "virtconsole") != ports)
		return fault(c, "one virtio-serial-pci and one virtconsole per port wanted");
	for (size_t p = 0; p < ports; p++) {
		const struct vz_serial_port *port = &c->vz->serial_ports[p];
		static const char *const kinds[] = {[VZ_SERIAL_ATTACHMENT_FILE] = "file", [VZ_SERIAL_ATTACHMENT_STDIO] = "stdio",
						    [VZ_SERIAL_ATTACHMENT_PTY] = "pty"};
		struct qemu_opts chardev;
		char id[32];
		snprintf(id, sizeof(id), "console%zu", p);
		if (!find_opts(&c->parsed, "-chardev", "id", id, &chardev) || chardev.implied == NULL ||
		    strcmp(chardev.implied, kinds[port->attachment]) != 0)
			return fault(c, "%s: not a %s chardev", id, kinds[port->attachment]);
		if (port->attachment == VZ_SERIAL_ATTACHMENT_FILE &&
		    (!opt_is(&chardev, "path", port->log_path) || opt_is(&chardev, "append", "on")))
			return fault(c, "%s: path does not read back as %s (truncated at each run, like vfkit)", id,
				     port->log_path);
		stdio = stdio || port->attachment == VZ_SERIAL_ATTACHMENT_STDIO;
	}
	if (c->plan->uses_stdio != stdio)
		return fault(c, "uses_stdio is %d", c->plan->uses_stdio);
	return true;
}

static bool rule_shares(struct checker *c)
{
	size_t helpers = 0;
	struct qemu_opts opts;
	char want[64];

	for (size_t s = 0; s < c->vz->directory_share_count; s++) {
		const struct vz_directory_share *share = &c->vz->directory_shares[s];
		char id[32], source[4096], socket_arg[600];
		if (share->kind != VZ_SHARE_SINGLE_DIRECTORY)
			continue;
		if (helpers >= c->plan->helper_count)
			return fault(c, "no helper for share %zu", s);
		const struct qemu_helper *helper = &c->plan->helpers[helpers++];
		char *const *argv = helper->argv.items;
		snprintf(socket_arg, sizeof(socket_arg), "--socket-path=%s", helper->socket_path);
		if (helper->argv.count != 8 || strcmp(argv[0], VIRTIOFSD) != 0 || strcmp(argv[1], socket_arg) != 0 ||
		    strcmp(argv[2], "-o") != 0 || strncmp(argv[3], "source=", 7) != 0)
			return fault(c, "helper %zu: virtiofsd --socket-path=... -o source=... wanted", s);
		if (strncmp(helper->socket_path, c->params->runtime_dir, strlen(c->params->runtime_dir)) != 0)
			return fault(c, "helper %zu: socket %s outside the runtime directory", s, helper->socket_path);
		if (fuse_opts_first(argv[3], source, sizeof(source)) != 1 || strcmp(source + 7, share->directory) != 0)
			return fault(c, "helper %zu: virtiofsd reads '-o %s' as source '%s' (%zu options), not '%s'", s,
				     argv[3], source + 7, fuse_opts_first(argv[3], source, sizeof(source)), share->directory);
		if (strcmp(argv[7], c->params->helpers_as_root ? "sandbox=chroot" : "sandbox=namespace") != 0)
			return fault(c, "helper %zu: %s as %s", s, argv[7], c->params->helpers_as_root ? "root" : "a user");
		snprintf(id, sizeof(id), "fs%zu", s);
		if (!find_opts(&c->parsed, "-chardev", "id", id, &opts) || opts.implied == NULL ||
		    strcmp(opts.implied, "socket") != 0 || !opt_is(&opts, "path", helper->socket_path))
			return fault(c, "%s: chardev path does not read back as the helper's socket", id);
		if (!find_opts(&c->parsed, "-device", "chardev", id, &opts) || opts.implied == NULL ||
		    strcmp(opts.implied, "vhost-user-fs-pci") != 0 || !opt_is(&opts, "tag", share->tag))
			return fault(c, "%s: vhost-user-fs-pci with tag=%s wanted", id, share->tag);
	}
	if (helpers != c->plan->helper_count)
		return fault(c, "%zu helpers for %zu shares", c->plan->helper_count, helpers);
	/* vhost-user back ends (virtiofsd, vzkit's own vsock) map the guest's memory: it must be shared */
	bool vhost_user = helpers > 0 || c->params->vsock_guest_cid != 0;
	snprintf(want, sizeof(want), "%lluM", (unsigned long long)(c->vz->memory_size >> 20));
	bool memfd = find_implied(&c->parsed, "-object", "memory-backend-memfd", 0, &opts) && opt_is(&opts, "share", "on") &&
		     opt_is(&opts, "size", want) && opt_is(&opts, "id", "mem");
	bool numa = single_value(&c->parsed, "-numa") != NULL &&
		    strcmp(single_value(&c->parsed, "-numa"), "node,memdev=mem") == 0;
	if (vhost_user != memfd || vhost_user != numa)
		return fault(c, "shared memfd backend (size %s) and -numa node,memdev=mem %s", want,
			     vhost_user ? "missing" : "without a vhost-user device");
	return true;
}

static bool rule_other_devices(struct checker *c)
{
	const struct vz_vm_configuration *vz = c->vz;
	struct qemu_opts opts;

	if (count_implied(&c->parsed, "-device", "virtio-rng-pci") != vz->entropy_device_count ||
	    count_implied(&c->parsed, "-object", "rng-random") != vz->entropy_device_count)
		return fault(c, "rng devices or backends do not match");
	if (count_implied(&c->parsed, "-device", "virtio-balloon-pci") != vz->memory_balloon_device_count)
		return fault(c, "balloon count");
	if (count_implied(&c->parsed, "-device", "virtio-keyboard-pci") != vz->keyboard_count ||
	    count_implied(&c->parsed, "-device", "virtio-tablet-pci") != vz->pointing_device_count)
		return fault(c, "input device count");
	if (count_implied(&c->parsed, "-device", "virtio-gpu-pci") != vz->graphics_device_count)
		return fault(c, "gpu count");
	for (size_t g = 0; g < vz->graphics_device_count; g++) {
		char xres[16], yres[16];
		snprintf(xres, sizeof(xres), "%u", vz->graphics_devices[g].width);
		snprintf(yres, sizeof(yres), "%u", vz->graphics_devices[g].height);
		if (!find_implied(&c->parsed, "-device", "virtio-gpu-pci", g, &opts) || !opt_is(&opts, "xres", xres) ||
		    !opt_is(&opts, "yres", yres))
			return fault(c, "gpu %zu is not %sx%s", g, xres, yres);
	}
	/* vsock: vzkit's own back end on a socket in the runtime directory (no kernel vhost-vsock) */
	size_t vsock = count_implied(&c->parsed, "-device", "vhost-user-vsock-pci");
	if (count_implied(&c->parsed, "-device", "vhost-vsock-pci") != 0)
		return fault(c, "the kernel's vhost-vsock-pci is never used");
	if (vsock != (c->params->vsock_guest_cid != 0 ? 1u : 0u))
		return fault(c, "%zu vsock devices for cid %u", vsock, c->params->vsock_guest_cid);
	if ((c->plan->vsock_socket_path != NULL) != (vsock == 1))
		return fault(c, "vsock socket path set without a vsock device, or missing");
	if (vsock == 1) {
		if (strncmp(c->plan->vsock_socket_path, c->params->runtime_dir, strlen(c->params->runtime_dir)) != 0)
			return fault(c, "vsock socket %s outside the runtime directory", c->plan->vsock_socket_path);
		if (!find_implied(&c->parsed, "-device", "vhost-user-vsock-pci", 0, &opts) || !opt_is(&opts, "chardev", "vsock0"))
			return fault(c, "vhost-user-vsock-pci without chardev=vsock0");
		if (!find_opts(&c->parsed, "-chardev", "id", "vsock0", &opts) || opts.implied == NULL ||
		    strcmp(opts.implied, "socket") != 0 || !opt_is(&opts, "path", c->plan->vsock_socket_path))
			return fault(c, "vsock0: chardev path does not read back as the vsock socket");
	}
	return true;
}

/* Every -device and -object property is one this QEMU lists for the type
 * ("qemu-system-x86_64 -device TYPE,help"): a misspelt property would only
 * show when a VM starts. The -pci device types and objects are the same on
 * aarch64, so the x86 binary answers for both. */
#define MAX_TYPES 48
static struct {
	char flag[16];
	char type[64];
	char *help;
} help_cache[MAX_TYPES];
static size_t help_cache_count;
static bool qemu_available;

static const char *qemu_type_help(const char *flag, const char *type)
{
	char command[256];
	FILE *pipe;
	char *help = NULL;
	size_t size = 0;
	FILE *out;

	for (size_t i = 0; i < help_cache_count; i++)
		if (strcmp(help_cache[i].flag, flag) == 0 && strcmp(help_cache[i].type, type) == 0)
			return help_cache[i].help;
	if (help_cache_count == MAX_TYPES || strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(type))
		return NULL;
	snprintf(command, sizeof(command), "qemu-system-x86_64 %s %s,help 2>&1", flag, type);
	pipe = popen(command, "r");
	out = open_memstream(&help, &size);
	if (pipe != NULL && out != NULL) {
		int ch;
		fputc('\n', out); /* so every property line starts with "\n  " */
		while ((ch = fgetc(pipe)) != EOF)
			fputc(ch, out);
	}
	if (out != NULL)
		fclose(out);
	if (pipe != NULL)
		pclose(pipe);
	snprintf(help_cache[help_cache_count].flag, sizeof(help_cache[0].flag), "%s", flag);
	snprintf(help_cache[help_cache_count].type, sizeof(help_cache[0].type), "%s", type);
	help_cache[help_cache_count].help = help;
	return help_cache[help_cache_count++].help;
}

static bool rule_qemu_knows_properties(struct checker *c)
{
	for (size_t i = 0; i < c->parsed.count; i++) {
		const char *flag = c->parsed.args[i].flag;
		struct qemu_opts opts;
		if (strcmp(flag, "-device") != 0 && strcmp(flag, "-object") != 0)
			continue;
		qemu_opts_parse(c->parsed.args[i].value, &opts);
		const char *help = opts.implied != NULL ? qemu_type_help(flag, opts.implied) : NULL;
		char wanted[96];
		snprintf(wanted, sizeof(wanted), "\n%s options:", opts.implied != NULL ? opts.implied : "?");
		if (help == NULL || strstr(help, wanted) == NULL)
			return fault(c, "QEMU does not know %s %s", flag, opts.implied ? opts.implied : "(no type)");
		for (size_t k = 0; k < opts.count; k++) {
			char line[96];
			/* id and bus belong to every device, not to its type */
			if (strcmp(opts.keys[k], "id") == 0 || strcmp(opts.keys[k], "bus") == 0)
				continue;
			snprintf(line, sizeof(line), "\n  %s=", opts.keys[k]);
			if (strstr(help, line) == NULL)
				return fault(c, "QEMU's %s %s has no property %s", flag, opts.implied, opts.keys[k]);
		}
	}
	return true;
}

/* ---- the golden ---- */

static char *plan_text(const struct qemu_plan_params *params, const struct qemu_plan *plan, int argc, char **argv)
{
	struct strv flags = {0};
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	/* what the plan was made from, so a reviewer sees the input beside the output */
	for (int i = 1; i < argc; i++)
		strv_push(&flags, argv[i]);
	fputs("# vzkit ", out);
	strv_print_shell(&flags, out);
	strv_free(&flags);
	fprintf(out, "# host: %s, %s, helpers as %s, vsock cid %u, runtime dir %s\n",
		params->arch == QEMU_ARCH_AARCH64 ? "aarch64" : "x86_64", params->accel == QEMU_ACCEL_KVM ? "kvm" : "tcg",
		params->helpers_as_root ? "root" : "a user", params->vsock_guest_cid, params->runtime_dir);
	for (size_t i = 0; i < plan->fd_count; i++)
		if (plan->fds[i].kind == QEMU_FD_QMP)
			fprintf(out, "# fd %d: monitor, vzkit holds the other end\n", plan->fds[i].target_fd);
		else
			fprintf(out, "# fd %d: net%zu, %s\n", plan->fds[i].target_fd, plan->fds[i].network_index,
				plan->fds[i].kind == QEMU_FD_NET_UNIXGRAM ? "unixgram socket made by vzkit" : "inherited");
	if (plan->tls_dir != NULL)
		fprintf(out, "# tls: %s/ca-cert.pem -> %s\n", plan->tls_dir, plan->tls_ca_file);
	for (size_t i = 0; i < plan->helper_count; i++)
		strv_print_shell(&plan->helpers[i].argv, out);
	strv_print_shell(&plan->argv, out);
	fclose(out);
	return text;
}

static void compare_golden(const struct plan_case *test_case, const char *text)
{
	char path[256], label[300], why[2048];

	snprintf(path, sizeof(path), GOLDEN_DIR "/flags-%s.txt", test_case->name);
	snprintf(label, sizeof(label), "%s: plan equals %s", test_case->name, path);
	CHECK_NAMED(label, golden_matches(path, text, true, why, sizeof(why)), "%s; plan:\n%s", why, text);
}

static void check_plan(const struct plan_case *test_case, const struct vz_vm_configuration *vz,
		       const struct qemu_plan_params *params, const struct qemu_plan *plan)
{
	static struct checker checker;

	memset(&checker, 0, sizeof(checker));
	checker.test_case = test_case;
	checker.vz = vz;
	checker.params = params;
	checker.plan = plan;
	parse_plan(&plan->argv, &checker.parsed);
	rule(&checker, "-nodefaults -no-user-config -no-reboot -S once each, no unknown option", rule_fixed_flags);
	rule(&checker, "machine, accelerator, cpu, smp, memory, display", rule_machine);
	rule(&checker, "QMP on a unix socket in the runtime directory", rule_qmp);
	rule(&checker, "boot loader (kernel verbatim, or pflash code read-only + vars)", rule_boot);
	rule(&checker, "every -blockdev names its driver; read-only on every node; paths read back", rule_blockdevs);
	rule(&checker, "NBD servers, exports and TLS read back from the URI", rule_nbd);
	rule(&checker, "ids unique, every reference defined before use, every backend used", rule_references);
	rule(&checker, "storage controllers (virtio-blk serial, nvme serials, one xhci)", rule_storage_devices);
	rule(&checker, "NICs: macs, NAT, passed descriptors 3, 4, ...", rule_network);
	rule(&checker, "serial ports: one controller, file paths read back, stdio flag", rule_serial);
	rule(&checker, "virtio-fs: virtiofsd argv, sockets, tags; shared memfd memory for vhost-user", rule_shares);
	rule(&checker, "rng, balloon, gpu sizes, input, vsock", rule_other_devices);
	if (qemu_available)
		rule(&checker, "QEMU lists every -device/-object property used", rule_qemu_knows_properties);
}

static void run_case(const struct plan_case *test_case)
{
	char *argv[MAX_ARGS + 1] = {"vzkit"};
	int argc = 1;
	struct vm_description vm;
	struct run_options options = {0};
	struct vz_vm_configuration vz = {0};
	struct vzk_error err = {0};
	struct qemu_plan_params params = {0};
	struct qemu_plan plan;
	FILE *warnings = fopen("/dev/null", "w");
	char label[300];
	char *text;

	for (; test_case->args[argc - 1] != NULL; argc++)
		argv[argc] = (char *)test_case->args[argc - 1];
	vm_description_init(&vm);
	snprintf(label, sizeof(label), "%s: flags accepted", test_case->name);
	if (args_parse(argc, argv, &vm, &options, &err) != 0 || vm_description_apply_gui(&vm, warnings, &err) != 0 ||
	    vm_description_to_vz(&vm, &vz, &err) != 0) {
		CHECK_NAMED(label, false, "%s", err.message);
		goto out;
	}
	if (test_case->adjust != NULL)
		test_case->adjust(&vz);
	params.arch = test_case->arch;
	params.accel = test_case->accel;
	params.qemu_binary = test_case->arch == QEMU_ARCH_AARCH64 ? "qemu-system-aarch64" : "qemu-system-x86_64";
	params.virtiofsd = VIRTIOFSD;
	params.runtime_dir = test_case->runtime_dir != NULL ? test_case->runtime_dir : RUNTIME_DIR;
	params.efi_code = test_case->efi_code != NULL ? test_case->efi_code
			  : test_case->arch == QEMU_ARCH_AARCH64 ? "/usr/share/AAVMF/AAVMF_CODE.fd"
								 : "/usr/share/OVMF/OVMF_CODE_4M.fd";
	params.efi_vars_format = "raw";
	params.tls_ca_file = TLS_CA_FILE;
	params.helpers_as_root = test_case->as_root;
	params.gui_display = vz.gui;
	params.gui_backend = "gtk";
	params.vsock_guest_cid = test_case->vsock_cid;
	params.disk_is_qcow2 = (bool *)test_case->qcow2;
	snprintf(label, sizeof(label), "%s: plan built", test_case->name);
	if (vz.storage_device_count > MAX_DISKS || qemu_plan_build(&vz, &params, &plan, &err) != 0) {
		CHECK_NAMED(label, false, "%s", err.message);
		goto out;
	}
	text = plan_text(&params, &plan, argc, argv);
	compare_golden(test_case, text != NULL ? text : "");
	free(text);
	check_plan(test_case, &vz, &params, &plan);
	qemu_plan_free(&plan);
out:
	if (warnings != NULL)
		fclose(warnings);
	vz_vm_configuration_free(&vz);
	vm_description_free(&vm);
	run_options_free(&options);
}

/* The rules themselves must catch what they are for: feed them broken plans. */
static void check_rules_catch_faults(void)
{
	static struct checker checker;
	static const struct plan_case broken = {"rules-self-test", X86, TCG, true, 0, {0}, NULL, NULL, NULL, {NULL}};
	struct vz_vm_configuration vz = {0};
	struct qemu_plan plan = {0};
	struct qemu_plan_params params = {.arch = X86, .runtime_dir = RUNTIME_DIR, .virtiofsd = VIRTIOFSD};
	struct vz_storage_device *disk = vz_add_storage_device(&vz);
	struct qemu_opts opts;
	char decoded[64];

	TEST_CASE("rules: QEMU option syntax reads ',,' as a comma and a lone first word as implied");
	qemu_opts_parse("file,id=c0,path=/a,,b,append=on", &opts);
	CHECK(opts.well_formed && strcmp(opts.implied, "file") == 0 && opt_is(&opts, "path", "/a,b") &&
	      opt_is(&opts, "append", "on"));
	TEST_CASE("rules: a repeated key is malformed");
	qemu_opts_parse("driver=raw,driver=qcow2", &opts);
	CHECK(!opts.well_formed);
	TEST_CASE("rules: a trailing ',,' is a comma in the value");
	qemu_opts_parse("driver=raw,,", &opts);
	CHECK(opts.well_formed && opt_is(&opts, "driver", "raw,"));
	TEST_CASE("rules: an empty element is malformed");
	qemu_opts_parse("driver=raw,,,", &opts);
	CHECK(!opts.well_formed);
	TEST_CASE("rules: virtiofsd's -o reads a doubled comma as two separators");
	CHECK(fuse_opts_first("source=/a,,b", decoded, sizeof(decoded)) == 3 && strcmp(decoded, "source=/a") == 0);
	TEST_CASE("rules: virtiofsd's -o takes a backslash as escape (and \\NNN as octal)");
	CHECK(fuse_opts_first("source=/a\\,b\\\\c\\054d", decoded, sizeof(decoded)) == 1 &&
	      strcmp(decoded, "source=/a,b\\c,d") == 0);

	/* a read-only disk whose format node forgot read-only, and a format-less node */
	disk->attachment.path = strdup("/d/ro.img");
	disk->attachment.read_only = true;
	vz.cpu_count = 1;
	vz.memory_size = 512ull << 20;
	strv_push(&plan.argv, "qemu-system-x86_64");
	strv_push(&plan.argv, "-nodefaults");
	strv_push(&plan.argv, "-blockdev");
	strv_push(&plan.argv, "driver=file,node-name=disk0-file,read-only=on,filename=/d/ro.img");
	strv_push(&plan.argv, "-blockdev");
	strv_push(&plan.argv, "driver=raw,node-name=disk0,file=disk0-file");
	strv_push(&plan.argv, "-device");
	strv_push(&plan.argv, "virtio-blk-pci,drive=disk9");
	strv_push(&plan.argv, "-nodefault");
	memset(&checker, 0, sizeof(checker));
	checker.test_case = &broken;
	checker.vz = &vz;
	checker.params = &params;
	checker.plan = &plan;
	parse_plan(&plan.argv, &checker.parsed);
	TEST_CASE("rules: a missing -S and a misspelt flag are caught");
	CHECK(!rule_fixed_flags(&checker));
	TEST_CASE("rules: a read-only disk writable on its format node is caught");
	checker.why[0] = '\0';
	CHECK(!rule_blockdevs(&checker) && strstr(checker.why, "read-only") != NULL);
	TEST_CASE("rules: a drive= pointing at no node is caught");
	checker.why[0] = '\0';
	CHECK(!rule_references(&checker) && strstr(checker.why, "disk9") != NULL);
	if (qemu_available) {
		TEST_CASE("rules: a property QEMU does not have is caught (and one it has passes)");
		strv_free(&plan.argv);
		strv_push(&plan.argv, "qemu-system-x86_64");
		strv_push(&plan.argv, "-device");
		strv_push(&plan.argv, "virtio-gpu-pci,xres=800,yres=600");
		parse_plan(&plan.argv, &checker.parsed);
		checker.why[0] = '\0';
		bool good_passes = rule_qemu_knows_properties(&checker);
		strv_free(&plan.argv);
		strv_push(&plan.argv, "qemu-system-x86_64");
		strv_push(&plan.argv, "-device");
		strv_push(&plan.argv, "virtio-gpu-pci,xresolution=800");
		parse_plan(&plan.argv, &checker.parsed);
		CHECK(good_passes && !rule_qemu_knows_properties(&checker) && strstr(checker.why, "xresolution") != NULL);
	}
	strv_free(&plan.argv);
	vz_vm_configuration_free(&vz);
}

int main(void)
{
	qemu_available = system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0;
	if (!qemu_available)
		SKIP("plans: QEMU lists every -device/-object property used", "qemu-system-x86_64 not installed");
	check_rules_catch_faults();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	for (size_t i = 0; i < help_cache_count; i++)
		free(help_cache[i].help);
	TEST_EXIT();
}

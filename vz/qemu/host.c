#include "vz/qemu/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum qemu_arch qemu_host_arch(void)
{
#if defined(__aarch64__)
	return QEMU_ARCH_AARCH64;
#else
	return QEMU_ARCH_X86_64;
#endif
}

const char *qemu_binary_for(enum qemu_arch arch)
{
	return arch == QEMU_ARCH_AARCH64 ? "qemu-system-aarch64" : "qemu-system-x86_64";
}

int qemu_image_is_qcow2(const char *path)
{
	unsigned char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return 0;
	got = read(fd, magic, sizeof(magic));
	close(fd);
	return got == 4 && memcmp(magic, "QFI\xfb", 4) == 0;
}

/* ---- accelerator probe ---- */

/* A firmware image whose reset vector writes 'K' to the debug port and halts:
 * if it appears, KVM runs guests here. x86: the last 16 bytes of the image sit
 * at the reset vector 0xfffffff0 in real mode. */
static const unsigned char x86_probe_code[] = {
	0xb0, 'K',  /* mov al, 'K' */
	0xe6, 0xe9, /* out 0xe9, al (isa-debugcon) */
	0xfa,       /* cli */
	0xf4,       /* hlt */
	0xeb, 0xfd, /* jmp hlt */
};

/* aarch64 virt: flash at 0; PL011 data register at 0x09000000. */
static const unsigned char arm_probe_code[] = {
	0x00, 0x20, 0xa1, 0xd2, /* movz x0, #0x0900, lsl #16 */
	0x61, 0x09, 0x80, 0x52, /* movz w1, #'K' */
	0x01, 0x00, 0x00, 0x39, /* strb w1, [x0] */
	0x00, 0x00, 0x00, 0x14, /* b . */
};

static int make_probe_firmware(enum qemu_arch arch)
{
	size_t size = 65536;
	unsigned char *image = calloc(1, size);
	int fd = memfd_create("vzkit-kvm-probe", 0);

	if (image == NULL || fd < 0) {
		free(image);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (arch == QEMU_ARCH_AARCH64)
		memcpy(image, arm_probe_code, sizeof(arm_probe_code));
	else
		memcpy(image + size - 16, x86_probe_code, sizeof(x86_probe_code));
	if (write(fd, image, size) != (ssize_t)size) {
		free(image);
		close(fd);
		return -1;
	}
	free(image);
	return fd;
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Boots the probe firmware under KVM; true when its byte arrives in time. */
static bool kvm_runs_guests(enum qemu_arch arch, int deadline_ms, char *reason, size_t reason_size)
{
	int output[2], firmware = make_probe_firmware(arch);
	struct timespec started;
	bool ran = false;
	pid_t pid;

	if (firmware < 0 || pipe(output) != 0) {
		snprintf(reason, reason_size, "kvm probe could not be prepared");
		if (firmware >= 0)
			close(firmware);
		return false;
	}
	clock_gettime(CLOCK_MONOTONIC, &started);
	pid = fork();
	if (pid == 0) {
		char bios[64], chardev[64];
		sigset_t none;
		int devnull = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(firmware, 3);
		dup2(output[1], 4);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		snprintf(bios, sizeof(bios), "/proc/self/fd/3");
		snprintf(chardev, sizeof(chardev), "file,id=probe,path=/proc/self/fd/4");
		if (arch == QEMU_ARCH_AARCH64)
			execlp(qemu_binary_for(arch), qemu_binary_for(arch), "-nodefaults", "-no-user-config",
			       "-machine", "virt,accel=kvm", "-cpu", "host", "-m", "32", "-display", "none",
			       "-bios", bios, "-chardev", chardev, "-serial", "chardev:probe", (char *)NULL);
		else
			execlp(qemu_binary_for(arch), qemu_binary_for(arch), "-nodefaults", "-no-user-config",
			       "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "32", "-display", "none",
			       "-bios", bios, "-chardev", chardev, "-device", "isa-debugcon,iobase=0xe9,chardev=probe",
			       (char *)NULL);
		_exit(127);
	}
	close(firmware);
	close(output[1]);
	if (pid < 0) {
		close(output[0]);
		snprintf(reason, reason_size, "kvm probe could not start QEMU");
		return false;
	}
	for (;;) {
		long left = deadline_ms - elapsed_ms(&started);
		struct pollfd wait = {.fd = output[0], .events = POLLIN};
		char byte;
		if (left <= 0) {
			snprintf(reason, reason_size, "kvm probe: a guest did not run within %d ms", deadline_ms);
			break;
		}
		if (poll(&wait, 1, (int)left) <= 0)
			continue;
		if (read(output[0], &byte, 1) == 1) {
			ran = byte == 'K';
			if (ran)
				snprintf(reason, reason_size, "kvm probe: a guest ran in %ld ms", elapsed_ms(&started));
			else
				snprintf(reason, reason_size, "kvm probe: unexpected output");
		} else {
			snprintf(reason, reason_size, "kvm probe: QEMU could not start a KVM guest");
		}
		break;
	}
	close(output[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return ran;
}

int qemu_choose_accel(enum qemu_arch arch, enum engine_accel wanted, int deadline_ms,
		      enum qemu_accel *out, char *reason, size_t reason_size, struct vzk_error *err)
{
	if (wanted == ENGINE_ACCEL_TCG) {
		*out = QEMU_ACCEL_TCG;
		snprintf(reason, reason_size, "--accel tcg");
		return 0;
	}
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		snprintf(reason, reason_size, "/dev/kvm: %s", strerror(errno));
	} else if (kvm_runs_guests(arch, deadline_ms, reason, reason_size)) {
		*out = QEMU_ACCEL_KVM;
		return 0;
	}
	if (wanted == ENGINE_ACCEL_KVM)
		return vzk_runtime_error(err, "--accel kvm: KVM cannot run guests here (%s)", reason);
	*out = QEMU_ACCEL_TCG;
	return 0;
}

/* ---- firmware descriptors (docs/interop/firmware.json) ---- */

static bool json_array_has_string(json_t *array, const char *wanted)
{
	size_t index;
	json_t *item;

	json_array_foreach(array, index, item)
		if (json_is_string(item) && strcmp(json_string_value(item), wanted) == 0)
			return true;
	return false;
}

static bool targets_match(json_t *targets, const char *arch, const char *machine)
{
	size_t index;
	json_t *target;

	json_array_foreach(targets, index, target) {
		json_t *machines = json_object_get(target, "machines");
		size_t m;
		json_t *pattern;
		if (!json_is_string(json_object_get(target, "architecture")) ||
		    strcmp(json_string_value(json_object_get(target, "architecture")), arch) != 0)
			continue;
		json_array_foreach(machines, m, pattern)
			if (json_is_string(pattern) && fnmatch(json_string_value(pattern), machine, 0) == 0)
				return true;
	}
	return false;
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int qemu_find_firmware(const char *descriptor_dir, enum qemu_arch arch, struct qemu_firmware *out,
		       struct vzk_error *err)
{
	struct dirent **entries = NULL;
	const char *arch_name = arch == QEMU_ARCH_AARCH64 ? "aarch64" : "x86_64";
	const char *machine = arch == QEMU_ARCH_AARCH64 ? "virt-7.2" : "pc-q35-7.2";
	int count = scandir(descriptor_dir, &entries, NULL, name_order);
	bool found = false;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < count; i++) {
		char path[1024];
		json_t *root, *features, *mapping;
		const char *code, *vars, *format;
		if (!found && strstr(entries[i]->d_name, ".json") != NULL) {
			snprintf(path, sizeof(path), "%s/%s", descriptor_dir, entries[i]->d_name);
			root = json_load_file(path, 0, NULL);
			features = json_object_get(root, "features");
			mapping = json_object_get(root, "mapping");
			code = json_string_value(json_object_get(json_object_get(mapping, "executable"), "filename"));
			vars = json_string_value(json_object_get(json_object_get(mapping, "nvram-template"), "filename"));
			format = json_string_value(json_object_get(json_object_get(mapping, "executable"), "format"));
			/* Plain UEFI: secure boot needs SMM and enrolled keys, and a
			 * Linux test disk does not want either. */
			if (root != NULL && json_array_has_string(json_object_get(root, "interface-types"), "uefi") &&
			    json_is_string(json_object_get(mapping, "device")) &&
			    strcmp(json_string_value(json_object_get(mapping, "device")), "flash") == 0 &&
			    targets_match(json_object_get(root, "targets"), arch_name, machine) &&
			    !json_array_has_string(features, "secure-boot") &&
			    !json_array_has_string(features, "requires-smm") && code != NULL && vars != NULL) {
				snprintf(out->code, sizeof(out->code), "%s", code);
				snprintf(out->vars_template, sizeof(out->vars_template), "%s", vars);
				snprintf(out->format, sizeof(out->format), "%s", format != NULL ? format : "raw");
				found = true;
			}
			json_decref(root);
		}
		free(entries[i]);
	}
	free(entries);
	if (!found)
		return vzk_runtime_error(err, "--bootloader efi: no UEFI firmware for %s found in %s (install %s)",
					 arch_name, descriptor_dir, arch == QEMU_ARCH_AARCH64 ? "qemu-efi-aarch64" : "ovmf");
	return 0;
}

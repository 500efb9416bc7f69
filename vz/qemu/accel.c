#include "vz/qemu/accel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vz/qemu/accel_cache.h"
#include "vz/qemu/host.h"
#include "vz/qemu/process.h"

#define PROBE_IMAGE_SIZE 65536

/* x86 probe firmware. QEMU maps a 64 KiB -bios image at the top of the 4 GiB
 * space (reset vector 0xfffffff0 = image offset 0xfff0) and again at 0xf0000,
 * so image offset X is linear address 0xf0000 + X once out of real mode.
 * Each stage writes one letter to the debug port 0xe9 (isa-debugcon):
 * 'R' real mode, 'P' 32-bit protected mode, 'L' 64-bit long mode with paging.
 * On the hosts in doc/host-facts.md (KVM) the letter 'R' comes out and the far jump into
 * protected mode never completes: that is where real kernels hang too.
 * Assembled from GNU as (.code16/.code32/.code64), linked at 0. */
#define X86_CODE_OFFSET 0xf000
static const unsigned char x86_probe_code[] = {
	/* .code16, at 0xf000 */
	0xfa,                                     /* cli */
	0xb0, 'R',                                /* mov $'R', %al */
	0xe6, 0xe9,                               /* out %al, $0xe9 */
	0x2e, 0x66, 0x0f, 0x01, 0x16, 0xb8, 0xf0, /* lgdtl %cs:0xf0b8 (gdt_desc) */
	0x0f, 0x20, 0xc0,                         /* mov %cr0, %eax */
	0x66, 0x83, 0xc8, 0x01,                   /* or $1, %eax (PE) */
	0x0f, 0x22, 0xc0,                         /* mov %eax, %cr0 */
	0x66, 0xea, 0x1e, 0xf0, 0x0f, 0x00, 0x08, 0x00, /* ljmpl $0x08, $0xff01e */
	/* .code32, at 0xf01e */
	0xb8, 0x10, 0x00, 0x00, 0x00,             /* mov $0x10, %eax (flat data) */
	0x8e, 0xd8,                               /* mov %eax, %ds */
	0x8e, 0xc0,                               /* mov %eax, %es */
	0x8e, 0xd0,                               /* mov %eax, %ss */
	0xb0, 'P',                                /* mov $'P', %al */
	0xe6, 0xe9,                               /* out %al, $0xe9 */
	0xbf, 0x00, 0x10, 0x00, 0x00,             /* mov $0x1000, %edi */
	0x31, 0xc0,                               /* xor %eax, %eax */
	0xb9, 0x00, 0x0c, 0x00, 0x00,             /* mov $0xc00, %ecx */
	0xf3, 0xab,                               /* rep stosl: zero 0x1000-0x3fff */
	0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, /* movl $0x2003, 0x1000 (PML4[0]) */
	0xc7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, 0x30, 0x00, 0x00, /* movl $0x3003, 0x2000 (PDPT[0]) */
	0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, /* movl $0x83, 0x3000 (2 MiB page at 0) */
	0xb8, 0x00, 0x10, 0x00, 0x00,             /* mov $0x1000, %eax */
	0x0f, 0x22, 0xd8,                         /* mov %eax, %cr3 */
	0x0f, 0x20, 0xe0,                         /* mov %cr4, %eax */
	0x83, 0xc8, 0x20,                         /* or $0x20, %eax (PAE) */
	0x0f, 0x22, 0xe0,                         /* mov %eax, %cr4 */
	0xb9, 0x80, 0x00, 0x00, 0xc0,             /* mov $0xc0000080, %ecx (EFER) */
	0x0f, 0x32,                               /* rdmsr */
	0x0d, 0x00, 0x01, 0x00, 0x00,             /* or $0x100, %eax (LME) */
	0x0f, 0x30,                               /* wrmsr */
	0x0f, 0x20, 0xc0,                         /* mov %cr0, %eax */
	0x0d, 0x00, 0x00, 0x00, 0x80,             /* or $0x80000000, %eax (PG) */
	0x0f, 0x22, 0xc0,                         /* mov %eax, %cr0 */
	0xea, 0x8a, 0xf0, 0x0f, 0x00, 0x18, 0x00, /* ljmp $0x18, $0xff08a */
	/* .code64, at 0xf08a */
	0xb0, 'L',                                /* mov $'L', %al */
	0xe6, 0xe9,                               /* out %al, $0xe9 */
	0xf4,                                     /* 1: hlt */
	0xeb, 0xfd,                               /* jmp 1b */
};
#define X86_GDT_OFFSET 0xf098
static const unsigned char x86_probe_gdt[] = {
	0, 0, 0, 0, 0, 0, 0, 0,                         /* null */
	0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, /* 0x08: flat 32-bit code */
	0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, /* 0x10: flat data */
	0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xaf, 0x00, /* 0x18: 64-bit code */
	0x1f, 0x00, 0x98, 0xf0, 0x0f, 0x00,             /* at 0xf0b8, gdt_desc: limit 31, base 0xff098 */
};
_Static_assert(X86_CODE_OFFSET + sizeof(x86_probe_code) <= X86_GDT_OFFSET, "probe code overlaps its GDT");
#define X86_RESET_OFFSET 0xfff0
static const unsigned char x86_probe_reset[] = {
	0xe9, 0x0d, 0xf0, /* jmp 0xf000 (real mode, CS base 0xffff0000) */
};

/* aarch64 virt: flash at 0; the PL011 data register at 0x09000000. */
static const unsigned char arm_probe_code[] = {
	0x00, 0x20, 0xa1, 0xd2, /* movz x0, #0x0900, lsl #16 */
	0x61, 0x09, 0x80, 0x52, /* movz w1, #'K' */
	0x01, 0x00, 0x00, 0x39, /* strb w1, [x0] */
	0x00, 0x00, 0x00, 0x14, /* b . */
};

static int make_probe_firmware(enum qemu_arch arch)
{
	unsigned char *image = calloc(1, PROBE_IMAGE_SIZE);
	int fd = memfd_create("vzkit-accel-probe", MFD_CLOEXEC);
	bool written;

	if (image == NULL || fd < 0) {
		free(image);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (arch == QEMU_ARCH_AARCH64) {
		memcpy(image, arm_probe_code, sizeof(arm_probe_code));
	} else {
		memcpy(image + X86_CODE_OFFSET, x86_probe_code, sizeof(x86_probe_code));
		memcpy(image + X86_GDT_OFFSET, x86_probe_gdt, sizeof(x86_probe_gdt));
		memcpy(image + X86_RESET_OFFSET, x86_probe_reset, sizeof(x86_probe_reset));
	}
	written = write(fd, image, PROBE_IMAGE_SIZE) == PROBE_IMAGE_SIZE;
	free(image);
	if (!written) {
		close(fd);
		return -1;
	}
	return fd;
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* QEMU's first stderr line, without "qemu-system-x86_64: ". */
static void first_error_line(int fd, char *out, size_t size)
{
	char text[512];
	ssize_t got = read(fd, text, sizeof(text) - 1);
	char *line = text;

	out[0] = '\0';
	if (got <= 0)
		return;
	text[got] = '\0';
	text[strcspn(text, "\n")] = '\0';
	if (strncmp(line, "qemu-system-", 12) == 0 && strstr(line, ": ") != NULL)
		line = strstr(line, ": ") + 2;
	snprintf(out, size, "%.*s", (int)size - 1, line);
}

static const char *x86_stage_text(const char *seen)
{
	if (strchr(seen, 'P') != NULL)
		return "it stopped entering 64-bit mode";
	if (strchr(seen, 'R') != NULL)
		return "it stopped entering protected mode";
	return "not one instruction ran";
}

static bool probe_with(const char *binary, enum qemu_arch arch, enum qemu_accel accel, const char *cpu_model,
		       int deadline_ms, char *report, size_t report_size)
{
	const char *accel_name = accel == QEMU_ACCEL_KVM ? "kvm" : "tcg";
	char machine[32], cpu_arg[64];
	int firmware = make_probe_firmware(arch), output[2] = {-1, -1}, errors[2] = {-1, -1};
	char final_stage = arch == QEMU_ARCH_AARCH64 ? 'K' : 'L';
	char seen[16] = "";
	size_t seen_count = 0;
	struct timespec started;
	struct vzk_error err = {0};
	bool reached = false, exited = false;
	pid_t pid = 0;

	snprintf(machine, sizeof(machine), "%s,accel=%s", arch == QEMU_ARCH_AARCH64 ? "virt" : "q35", accel_name);
	snprintf(cpu_arg, sizeof(cpu_arg), "%s", cpu_model);
	if (firmware < 0 || pipe2(output, O_CLOEXEC) != 0 || pipe2(errors, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(report, report_size, "the probe could not be prepared: %s", strerror(errno));
		goto out;
	}
	/* The firmware and the debug port's pipe reach QEMU as fds 3 and 4. */
	char *const x86_argv[] = {(char *)binary, "-nodefaults", "-no-user-config", "-machine", machine, "-cpu",
				  cpu_arg, "-m", "32", "-display", "none", "-bios", "/proc/self/fd/3", "-chardev",
				  "file,id=probe,path=/proc/self/fd/4", "-device",
				  "isa-debugcon,iobase=0xe9,chardev=probe", NULL};
	char *const arm_argv[] = {(char *)binary, "-nodefaults", "-no-user-config", "-machine", machine, "-cpu",
				  cpu_arg, "-m", "32", "-display", "none", "-bios", "/proc/self/fd/3", "-chardev",
				  "file,id=probe,path=/proc/self/fd/4", "-serial", "chardev:probe", NULL};
	const int passed[] = {firmware, output[1]};
	struct child_spec spec = {
		.argv = arch == QEMU_ARCH_AARCH64 ? arm_argv : x86_argv,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = errors[1],
		.passed_fds = passed,
		.passed_fd_count = 2,
		.new_session = true,
	};
	clock_gettime(CLOCK_MONOTONIC, &started);
	if (child_spawn(&spec, &pid, NULL, &err) != 0) {
		snprintf(report, report_size, "%s", err.message);
		pid = 0;
		goto out;
	}
	close(output[1]);
	output[1] = -1;
	while (!reached && !exited) {
		long left = deadline_ms - elapsed_ms(&started);
		struct pollfd wait = {.fd = output[0], .events = POLLIN};
		char byte;
		ssize_t got;
		if (left <= 0)
			break;
		if (poll(&wait, 1, (int)left) <= 0)
			continue;
		got = read(output[0], &byte, 1);
		if (got == 1 && seen_count + 1 < sizeof(seen)) {
			seen[seen_count++] = byte;
			reached = byte == final_stage;
		} else if (got == 0) {
			exited = true; /* QEMU closed the chardev: it is gone */
		}
	}
	if (reached) {
		snprintf(report, report_size, "a %s guest reached %s in %ld ms", accel_name,
			 arch == QEMU_ARCH_AARCH64 ? "its first store" : "64-bit mode", elapsed_ms(&started));
	} else if (exited) {
		char line[256];
		child_kill_and_reap(pid);
		pid = 0;
		first_error_line(errors[0], line, sizeof(line));
		snprintf(report, report_size, "QEMU could not run a %s guest: %s", accel_name,
			 line[0] ? line : "it exited");
	} else {
		snprintf(report, report_size, "a %s guest did not run within %d ms (%s)", accel_name, deadline_ms,
			 arch == QEMU_ARCH_AARCH64 ? "no output" : x86_stage_text(seen));
	}
out:
	if (pid > 0)
		child_kill_and_reap(pid);
	for (int i = 0; i < 2; i++) {
		if (output[i] >= 0)
			close(output[i]);
		if (errors[i] >= 0)
			close(errors[i]);
	}
	if (firmware >= 0)
		close(firmware);
	return reached;
}

bool qemu_accel_probe(enum qemu_arch arch, enum qemu_accel accel, const char *cpu_model, int deadline_ms,
		      char *report, size_t report_size)
{
	return probe_with(qemu_binary_for(arch), arch, accel, cpu_model, deadline_ms, report, report_size);
}

int qemu_choose_accel(enum qemu_arch arch, enum engine_accel wanted, int deadline_ms, enum qemu_accel *out,
		      char *reason, size_t reason_size, struct vzk_error *err)
{
	char report[320];

	if (wanted == ENGINE_ACCEL_TCG) {
		*out = QEMU_ACCEL_TCG;
		snprintf(reason, reason_size, "--accel tcg");
		return 0;
	}
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		snprintf(report, sizeof(report), "/dev/kvm: %s", strerror(errno));
	} else if (qemu_accel_probe(arch, QEMU_ACCEL_KVM, "host", deadline_ms, report, sizeof(report))) {
		*out = QEMU_ACCEL_KVM;
		snprintf(reason, reason_size, "kvm probe: %s", report);
		return 0;
	}
	if (wanted == ENGINE_ACCEL_KVM)
		return vzk_runtime_error(err, "--accel kvm: KVM cannot run guests on this host (%s)", report);
	*out = QEMU_ACCEL_TCG;
	snprintf(reason, reason_size, "kvm probe: %s", report);
	return 0;
}

/* What the probe does, for the cache key: a changed probe firmware, CPU
 * model or deadline never reads a verdict the old probe wrote (FNV-1a). */
static void probe_identity(enum qemu_arch arch, int deadline_ms, char *out, size_t size)
{
	const struct {
		const unsigned char *bytes;
		size_t len;
	} parts[] = {
		{x86_probe_code, sizeof(x86_probe_code)},
		{x86_probe_gdt, sizeof(x86_probe_gdt)},
		{x86_probe_reset, sizeof(x86_probe_reset)},
		{arm_probe_code, sizeof(arm_probe_code)},
	};
	unsigned long long hash = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (size_t j = 0; j < parts[i].len; j++)
			hash = (hash ^ parts[i].bytes[j]) * 0x100000001b3ULL;
	snprintf(out, size, "firmware %016llx cpu host deadline %d ms %s", hash, deadline_ms,
		 arch == QEMU_ARCH_AARCH64 ? "virt" : "q35");
}

int qemu_choose_accel_cached(enum qemu_arch arch, enum engine_accel wanted, int deadline_ms,
			     const struct qemu_accel_cache_sources *sources, enum qemu_accel *out, char *reason,
			     size_t reason_size, struct vzk_error *err)
{
	struct qemu_accel_cache_entry entry;
	char probe[128];

	/* A forced choice is the user's: no cache read, none written. */
	if (wanted != ENGINE_ACCEL_AUTO)
		return qemu_choose_accel(arch, wanted, deadline_ms, out, reason, reason_size, err);
	*out = QEMU_ACCEL_TCG;
	/* Who may open /dev/kvm can change at any time: asked every start. */
	if (access(sources != NULL && sources->kvm_path != NULL ? sources->kvm_path : "/dev/kvm", R_OK | W_OK) != 0) {
		snprintf(reason, reason_size, "kvm probe: /dev/kvm: %s", strerror(errno));
		return 0;
	}
	probe_identity(arch, deadline_ms, probe, sizeof(probe));
	if (qemu_accel_cache_key(arch, probe, sources, &entry) == 0 && qemu_accel_cache_load(&entry) == 1) {
		*out = entry.kvm_runs ? QEMU_ACCEL_KVM : QEMU_ACCEL_TCG;
		snprintf(reason, reason_size, "kvm probe, cached for this boot in %s: %s", entry.path, entry.report);
		return 0;
	}
	/* A miss: probe the binary the key names (the one execvp will run). */
	const char *binary = sources != NULL && sources->qemu_path != NULL ? sources->qemu_path : qemu_binary_for(arch);
	char found[512];
	if (sources == NULL || sources->qemu_path == NULL)
		binary = qemu_find_on_path(binary, found, sizeof(found)) == 0 ? found : binary;
	entry.kvm_runs = probe_with(binary, arch, QEMU_ACCEL_KVM, "host", deadline_ms, entry.report,
				    sizeof(entry.report));
	*out = entry.kvm_runs ? QEMU_ACCEL_KVM : QEMU_ACCEL_TCG;
	snprintf(reason, reason_size, "kvm probe: %s", entry.report);
	qemu_accel_cache_store(&entry);
	return 0;
}

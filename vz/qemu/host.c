#include "vz/qemu/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vz/qemu/process.h"

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

static uint32_t be32_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64_at(const unsigned char *p)
{
	return (uint64_t)be32_at(p) << 32 | be32_at(p + 4);
}

/* The header fields (QEMU's docs/interop/qcow2.txt) a broken or truncated
 * image gets wrong first; what QEMU refuses beyond these, it reports at start. */
const char *qemu_qcow2_header_problem(const char *path)
{
	unsigned char header[112];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return "cannot be read";
	got = read(fd, header, sizeof(header));
	if (fstat(fd, &st) != 0)
		got = -1;
	close(fd);
	if (got < 72)
		return "shorter than a qcow2 header";
	uint32_t version = be32_at(header + 4);
	uint64_t backing_offset = be64_at(header + 8);
	uint32_t backing_size = be32_at(header + 16);
	uint32_t cluster_bits = be32_at(header + 20);
	uint32_t crypt_method = be32_at(header + 32);
	uint32_t l1_size = be32_at(header + 36);
	uint64_t l1_offset = be64_at(header + 40);
	uint64_t refcount_offset = be64_at(header + 48);
	uint32_t refcount_clusters = be32_at(header + 56);
	uint64_t file_size = (uint64_t)st.st_size;

	if (version != 2 && version != 3)
		return "version is not 2 or 3";
	if (cluster_bits < 9 || cluster_bits > 21)
		return "cluster size out of range";
	uint64_t cluster_size = (uint64_t)1 << cluster_bits;
	if (version == 3) {
		if (got < 104)
			return "shorter than a version 3 header";
		uint64_t incompatible = be64_at(header + 72);
		uint32_t header_length = be32_at(header + 100);
		if (header_length < 104 || header_length > cluster_size)
			return "header length out of range";
		if (incompatible & ~(uint64_t)0x1f)
			return "unknown incompatible features";
	}
	if (crypt_method > 2)
		return "unknown encryption method";
	if (l1_offset % cluster_size != 0 || refcount_offset == 0 || refcount_offset % cluster_size != 0)
		return "table offsets not cluster-aligned";
	if (refcount_clusters == 0 || refcount_offset > file_size ||
	    (uint64_t)refcount_clusters > (file_size - refcount_offset) / cluster_size)
		return "refcount table beyond the end of the file";
	if (l1_size > 0 && (l1_offset > file_size || (uint64_t)l1_size > (file_size - l1_offset) / 8))
		return "L1 table beyond the end of the file";
	if (backing_offset != 0 && (backing_size > 1023 || backing_offset > cluster_size ||
				    backing_size > cluster_size - backing_offset))
		return "backing file name outside the header cluster";
	return NULL;
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

/* ---- display backends ---- */

int qemu_find_gui_backend(enum qemu_arch arch, char *out, size_t size, struct vzk_error *err)
{
	static const char *const preferred[] = {"gtk", "sdl"};
	char *const argv[] = {(char *)qemu_binary_for(arch), "-display", "help", NULL};
	char listing[2048];
	size_t used = 0;
	ssize_t got;
	int output[2];
	pid_t pid;

	if (pipe2(output, O_CLOEXEC) != 0)
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	struct child_spec spec = {.argv = argv, .stdin_fd = -1, .stdout_fd = output[1], .stderr_fd = -1};
	if (child_spawn(&spec, &pid, NULL, err) != 0) {
		close(output[0]);
		close(output[1]);
		return -1;
	}
	close(output[1]);
	while (used + 1 < sizeof(listing) && (got = read(output[0], listing + used, sizeof(listing) - 1 - used)) > 0)
		used += (size_t)got;
	listing[used] = '\0';
	close(output[0]);
	child_kill_and_reap(pid);
	/* "Available display backend types:" then one name per line */
	for (size_t i = 0; i < sizeof(preferred) / sizeof(preferred[0]); i++) {
		for (char *line = strchr(listing, '\n'); line != NULL; line = strchr(line + 1, '\n')) {
			size_t len = strcspn(line + 1, "\n");
			if (len == strlen(preferred[i]) && strncmp(line + 1, preferred[i], len) == 0) {
				snprintf(out, size, "%s", preferred[i]);
				return 0;
			}
		}
	}
	return vzk_usage_error(err, "--gui: %s has no gtk or sdl display (install qemu-system-gui)", qemu_binary_for(arch));
}

#include "vz/qemu/accel_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vz/qemu/host.h"

#ifndef VZKIT_VERSION
#define VZKIT_VERSION "0.1.0"
#endif

#define CACHE_FORMAT "vzkit-accel-cache 1\n"
#define CACHE_FILE_LIMIT 4096

int qemu_find_on_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	struct stat st;

	if (strchr(name, '/') != NULL) {
		if (stat(name, &st) != 0 || !S_ISREG(st.st_mode) || snprintf(out, size, "%s", name) >= (int)size)
			return -1;
		return 0;
	}
	/* execvp's search: each PATH entry in order (empty means the current
	 * directory), the first executable regular file wins. */
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (const char *entry = path;; entry += strcspn(entry, ":") + 1) {
		int len = (int)strcspn(entry, ":");
		int written = len > 0 ? snprintf(out, size, "%.*s/%s", len, entry, name) : snprintf(out, size, "./%s", name);
		if (written < (int)size && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		if (entry[len] == '\0')
			break;
	}
	out[0] = '\0';
	return -1;
}

/* The per-user directory: $XDG_RUNTIME_DIR/vzkit (made by the login manager
 * for us alone, emptied at logout and boot), else /tmp/vzkit-UID. */
static int default_cache_dir(char *out, size_t size)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");

	if (runtime != NULL && runtime[0] == '/')
		return snprintf(out, size, "%s/vzkit", runtime) < (int)size ? 0 : -1;
	return snprintf(out, size, "/tmp/vzkit-%ld", (long)geteuid()) < (int)size ? 0 : -1;
}

static int read_boot_id(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, out, size - 1);
	close(fd);
	if (got <= 0)
		return -1;
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return out[0] != '\0' ? 0 : -1;
}

int qemu_accel_cache_key(enum qemu_arch arch, const char *probe, const struct qemu_accel_cache_sources *sources,
			 struct qemu_accel_cache_entry *entry)
{
	static const struct qemu_accel_cache_sources defaults = {0};
	char dir[128], boot_id[80], qemu[512], kvm[96];
	struct stat st;

	if (sources == NULL)
		sources = &defaults;
	memset(entry, 0, sizeof(*entry));
	if (sources->cache_dir != NULL) {
		if (snprintf(dir, sizeof(dir), "%s", sources->cache_dir) >= (int)sizeof(dir))
			return -1;
	} else if (default_cache_dir(dir, sizeof(dir)) != 0) {
		return -1;
	}
	if (read_boot_id(sources->boot_id_path != NULL ? sources->boot_id_path : "/proc/sys/kernel/random/boot_id",
			 boot_id, sizeof(boot_id)) != 0)
		return -1;
	if (sources->qemu_path != NULL) {
		if (snprintf(qemu, sizeof(qemu), "%s", sources->qemu_path) >= (int)sizeof(qemu))
			return -1;
	} else if (qemu_find_on_path(qemu_binary_for(arch), qemu, sizeof(qemu)) != 0) {
		return -1;
	}
	/* The binary's identity: a reinstalled or upgraded QEMU has a new inode
	 * or size or time, whatever its path. */
	if (stat(qemu, &st) != 0)
		return -1;
	struct stat kvm_st;
	if (stat(sources->kvm_path != NULL ? sources->kvm_path : "/dev/kvm", &kvm_st) == 0)
		snprintf(kvm, sizeof(kvm), "%llu:%llu rdev %llu", (unsigned long long)kvm_st.st_dev,
			 (unsigned long long)kvm_st.st_ino, (unsigned long long)kvm_st.st_rdev);
	else
		snprintf(kvm, sizeof(kvm), "absent");
	if (snprintf(entry->path, sizeof(entry->path), "%s/accel-%s", dir,
		     arch == QEMU_ARCH_AARCH64 ? "aarch64" : "x86_64") >= (int)sizeof(entry->path) ||
	    snprintf(entry->key, sizeof(entry->key),
		     CACHE_FORMAT "boot=%s\nqemu=%s %llu:%llu size %lld mtime %lld.%09ld\nkvm=%s\nvzkit=%s\nprobe=%s\n",
		     boot_id, qemu, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)st.st_size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, kvm, VZKIT_VERSION,
		     probe) >= (int)sizeof(entry->key)) {
		entry->path[0] = '\0';
		return -1;
	}
	return 0;
}

int qemu_accel_cache_load(struct qemu_accel_cache_entry *entry)
{
	char text[CACHE_FILE_LIMIT + 1];
	size_t key_len = strlen(entry->key), used = 0;
	struct stat st;
	ssize_t got;
	int fd;

	if (entry->path[0] == '\0')
		return 0;
	fd = open(entry->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	/* Only a file of ours: another user may own /tmp/vzkit-UID's name. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size > CACHE_FILE_LIMIT) {
		close(fd);
		return 0;
	}
	while (used < CACHE_FILE_LIMIT && (got = read(fd, text + used, CACHE_FILE_LIMIT - used)) > 0)
		used += (size_t)got;
	close(fd);
	text[used] = '\0';
	if (used <= key_len || strlen(text) != used || memcmp(text, entry->key, key_len) != 0)
		return 0;
	/* After the key: exactly "verdict=kvm|tcg\nreport=TEXT\nend\n". */
	const char *rest = text + key_len;
	bool kvm_runs;
	if (strncmp(rest, "verdict=kvm\n", 12) == 0)
		kvm_runs = true;
	else if (strncmp(rest, "verdict=tcg\n", 12) == 0)
		kvm_runs = false;
	else
		return 0;
	rest += 12;
	if (strncmp(rest, "report=", 7) != 0)
		return 0;
	rest += 7;
	size_t report_len = strcspn(rest, "\n");
	if (rest[report_len] != '\n' || strcmp(rest + report_len, "\nend\n") != 0 || report_len == 0 ||
	    report_len >= sizeof(entry->report))
		return 0;
	memcpy(entry->report, rest, report_len);
	entry->report[report_len] = '\0';
	entry->kvm_runs = kvm_runs;
	return 1;
}

/* The entry's directory, made when missing; only one that is ours and shut
 * to everyone else is used. */
static int cache_dir_usable(const char *file_path)
{
	char dir[sizeof(((struct qemu_accel_cache_entry *)0)->path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", file_path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return -1;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return -1;
	return 0;
}

int qemu_accel_cache_store(const struct qemu_accel_cache_entry *entry)
{
	char temp[sizeof(entry->path) + 32], report[sizeof(entry->report)];
	char *text = NULL;
	int fd, len;

	if (entry->path[0] == '\0' || cache_dir_usable(entry->path) != 0)
		return -1;
	snprintf(report, sizeof(report), "%s", entry->report[0] != '\0' ? entry->report : "-");
	for (char *c = report; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	len = asprintf(&text, "%sverdict=%s\nreport=%s\nend\n", entry->key, entry->kvm_runs ? "kvm" : "tcg", report);
	if (len < 0)
		return -1;
	if (len > CACHE_FILE_LIMIT || snprintf(temp, sizeof(temp), "%s.%ld.tmp", entry->path, (long)getpid()) >= (int)sizeof(temp)) {
		free(text);
		return -1;
	}
	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(text);
		return -1;
	}
	/* No fsync: a torn file after a crash is corrupt (a miss), and after a
	 * crash the boot id differs anyway. */
	bool written = write(fd, text, (size_t)len) == len;
	free(text);
	if (close(fd) != 0 || !written || rename(temp, entry->path) != 0) {
		unlink(temp);
		return -1;
	}
	return 0;
}

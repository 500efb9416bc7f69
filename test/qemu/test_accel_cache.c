/* The accelerator choice kept once per boot (vz/qemu/accel_cache.h), with
 * the real probe: QEMU is reached through a wrapper script that counts its
 * runs, so a hit is "no QEMU started" and a miss is "QEMU started once".
 * Boot id, QEMU binary, /dev/kvm and the directory are the test's own
 * (struct qemu_accel_cache_sources). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/testlib.h"
#include "vz/qemu/accel.h"
#include "vz/qemu/accel_cache.h"
#include "vz/qemu/host.h"

static char temp_dir[] = "/tmp/vzkit-test-accel-cache-XXXXXX";
static char cache_dir[128], boot_id[128], kvm[128], wrapper[128], other_wrapper[128], runs_log[128], entry_path[160];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
}

static char *read_text(const char *path)
{
	static char text[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (fd >= 0)
		close(fd);
	text[got > 0 ? got : 0] = '\0';
	return got >= 0 ? text : NULL;
}

/* How many times the wrapped QEMU ran. */
static int qemu_runs(void)
{
	const char *text = read_text(runs_log);
	int count = 0;

	for (; text != NULL && *text != '\0'; text++)
		count += *text == '\n';
	return count;
}

static struct qemu_accel_cache_sources sources(const char *qemu)
{
	return (struct qemu_accel_cache_sources){
		.cache_dir = cache_dir, .boot_id_path = boot_id, .qemu_path = qemu, .kvm_path = kvm};
}

/* One automatic choice; the reason is kept in `reason`. */
static int choose(const char *qemu, enum engine_accel wanted, enum qemu_accel *accel, char *reason, size_t size)
{
	struct qemu_accel_cache_sources src = sources(qemu);
	struct vzk_error err = {0};

	return qemu_choose_accel_cached(QEMU_ARCH_X86_64, wanted, QEMU_KVM_PROBE_DEADLINE_MS, &src, accel, reason, size,
					&err);
}

static bool is_hit(const char *reason)
{
	return strstr(reason, "cached for this boot in ") != NULL && strstr(reason, entry_path) != NULL;
}

int main(void)
{
	char reason[512], first_reason[512], saved[8192];
	enum qemu_accel accel, first_accel;
	struct stat st;

	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0 || qemu_host_arch() != QEMU_ARCH_X86_64) {
		SKIP("accel cache", "needs qemu-system-x86_64 on an x86_64 host");
		return 0;
	}
	if (mkdtemp(temp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cache_dir, sizeof(cache_dir), "%s/cache", temp_dir);
	snprintf(entry_path, sizeof(entry_path), "%s/accel-x86_64", cache_dir);
	snprintf(boot_id, sizeof(boot_id), "%s/boot_id", temp_dir);
	snprintf(runs_log, sizeof(runs_log), "%s/runs", temp_dir);
	snprintf(wrapper, sizeof(wrapper), "%s/qemu-a", temp_dir);
	snprintf(other_wrapper, sizeof(other_wrapper), "%s/qemu-b", temp_dir);
	/* /dev/kvm when we may open it; else a file that passes the access
	 * check (QEMU then fails to use it: a "tcg" verdict, cached the same). */
	snprintf(kvm, sizeof(kvm), "%s", "/dev/kvm");
	if (access(kvm, R_OK | W_OK) != 0) {
		snprintf(kvm, sizeof(kvm), "%s/kvm", temp_dir);
		write_file(kvm, "", 0600);
	}
	write_file(boot_id, "11111111-2222-3333-4444-555555555555\n", 0644);
	char script[512];
	snprintf(script, sizeof(script), "#!/bin/sh\necho run >>%s\nexec qemu-system-x86_64 \"$@\"\n", runs_log);
	write_file(wrapper, script, 0755);
	write_file(other_wrapper, script, 0755);

	TEST_CASE("a cold cache probes once and keeps the verdict");
	CHECK(choose(wrapper, ENGINE_ACCEL_AUTO, &first_accel, first_reason, sizeof(first_reason)) == 0);
	CHECK_NAMED("cold: the probe ran (QEMU started once)", qemu_runs() == 1, "%d runs", qemu_runs());
	CHECK_NAMED("cold: the reason is the fresh probe's", strncmp(first_reason, "kvm probe: ", 11) == 0, "%s",
		    first_reason);
	CHECK_NAMED("cold: the entry is written 0600 in a 0700 directory",
		    stat(entry_path, &st) == 0 && (st.st_mode & 0777) == 0600 && stat(cache_dir, &st) == 0 &&
			    (st.st_mode & 0777) == 0700,
		    "%s", strerror(errno));
	printf("# %s\n", first_reason);

	TEST_CASE("a warm cache answers without QEMU, with the same verdict");
	CHECK(choose(wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
	CHECK_NAMED("warm: no QEMU started", qemu_runs() == 1, "%d runs", qemu_runs());
	CHECK_NAMED("warm: the reason says it came from the cache, and where", is_hit(reason), "%s", reason);
	CHECK_NAMED("warm: same accelerator and report as the probe",
		    accel == first_accel && strstr(reason, first_reason + 11) != NULL, "%s vs %s", reason, first_reason);

	TEST_CASE("another boot id misses the cache and rewrites the entry");
	write_file(boot_id, "99999999-2222-3333-4444-555555555555\n", 0644);
	CHECK(choose(wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0 && !is_hit(reason));
	CHECK_NAMED("new boot: the probe ran again", qemu_runs() == 2, "%d runs", qemu_runs());
	CHECK_NAMED("new boot: the entry now names the new boot id",
		    strstr(read_text(entry_path), "boot=99999999-2222") != NULL, "%s", read_text(entry_path));
	CHECK(choose(wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
	CHECK_NAMED("new boot: the rewritten entry is a hit", is_hit(reason) && qemu_runs() == 2, "%s, %d runs",
		    reason, qemu_runs());

	TEST_CASE("another QEMU binary misses the cache");
	CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
	CHECK_NAMED("other QEMU: the probe ran with it", !is_hit(reason) && qemu_runs() == 3, "%s, %d runs", reason,
		    qemu_runs());
	CHECK_NAMED("other QEMU: the entry names it", strstr(read_text(entry_path), other_wrapper) != NULL, "%s",
		    read_text(entry_path));
	/* The same path with new contents (an upgrade in place): size or time differ. */
	struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
	utimensat(AT_FDCWD, other_wrapper, times, 0);
	CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
	CHECK_NAMED("QEMU replaced in place (new mtime): a miss", !is_hit(reason) && qemu_runs() == 4, "%s, %d runs",
		    reason, qemu_runs());

	TEST_CASE("corrupt or stale entries are ignored and rewritten");
	CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0 && is_hit(reason));
	snprintf(saved, sizeof(saved), "%s", read_text(entry_path));
	const struct {
		const char *name;
		size_t keep; /* bytes of the good entry kept (0: none) */
		const char *tail;
	} bad[] = {
		{"garbage", 0, "\x01\x02not a cache entry\n"},
		{"empty file", 0, ""},
		{"cut short before its end line", (size_t)-4, ""},
		{"an unknown verdict", (size_t)-1, "verdict=maybe\nreport=x\nend\n"},
		{"text after the end line", 0, "extra\n"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[8300], name[160];
		int runs = qemu_runs();
		size_t len = strlen(saved);
		if (bad[i].keep == (size_t)-4)
			snprintf(text, sizeof(text), "%.*s", (int)(len - 4), saved);
		else if (bad[i].keep == (size_t)-1)
			snprintf(text, sizeof(text), "%.*s%s", (int)(strstr(saved, "verdict=") - saved), saved, bad[i].tail);
		else if (strcmp(bad[i].name, "text after the end line") == 0)
			snprintf(text, sizeof(text), "%s%s", saved, bad[i].tail);
		else
			snprintf(text, sizeof(text), "%s", bad[i].tail);
		write_file(entry_path, text, 0600);
		CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
		snprintf(name, sizeof(name), "%s: ignored (the probe ran)", bad[i].name);
		CHECK_NAMED(name, !is_hit(reason) && qemu_runs() == runs + 1, "%s, %d runs", reason, qemu_runs());
		CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
		snprintf(name, sizeof(name), "%s: rewritten (the next choice is a hit)", bad[i].name);
		CHECK_NAMED(name, is_hit(reason) && qemu_runs() == runs + 1, "%s, %d runs", reason, qemu_runs());
	}
	unlink(entry_path);

	TEST_CASE("--accel tcg and --accel kvm bypass the cache");
	CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0);
	snprintf(saved, sizeof(saved), "%s", read_text(entry_path));
	int runs = qemu_runs();
	CHECK(choose(other_wrapper, ENGINE_ACCEL_TCG, &accel, reason, sizeof(reason)) == 0);
	CHECK_NAMED("--accel tcg: tcg, no probe, the cache not named",
		    accel == QEMU_ACCEL_TCG && strcmp(reason, "--accel tcg") == 0 && qemu_runs() == runs, "%s", reason);
	/* --accel kvm probes for real (through PATH's QEMU, not the wrapper):
	 * the cached verdict must not decide it, and nothing is written. */
	struct vzk_error err = {0};
	struct qemu_accel_cache_sources src = sources(other_wrapper);
	write_file(entry_path, "", 0600); /* an entry that would say nothing */
	int forced = qemu_choose_accel_cached(QEMU_ARCH_X86_64, ENGINE_ACCEL_KVM, QEMU_KVM_PROBE_DEADLINE_MS, &src,
					      &accel, reason, sizeof(reason), &err);
	CHECK_NAMED("--accel kvm: decided by a fresh probe, never the cache",
		    forced == 0 ? strncmp(reason, "kvm probe: ", 11) == 0 : strstr(err.message, "--accel kvm") != NULL,
		    "%d %s %s", forced, reason, err.message);
	CHECK_NAMED("--accel kvm: the entry is left as it was", strcmp(read_text(entry_path), "") == 0, "%s",
		    read_text(entry_path));
	write_file(entry_path, saved, 0600);
	CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0 && is_hit(reason));

	TEST_CASE("a directory others can enter is not used");
	char open_dir[160], open_entry[200];
	snprintf(open_dir, sizeof(open_dir), "%s/shared", temp_dir);
	snprintf(open_entry, sizeof(open_entry), "%s/accel-x86_64", open_dir);
	mkdir(open_dir, 0755);
	chmod(open_dir, 0755);
	struct qemu_accel_cache_sources shared = sources(other_wrapper);
	shared.cache_dir = open_dir;
	err = (struct vzk_error){0};
	CHECK(qemu_choose_accel_cached(QEMU_ARCH_X86_64, ENGINE_ACCEL_AUTO, QEMU_KVM_PROBE_DEADLINE_MS, &shared, &accel,
				       reason, sizeof(reason), &err) == 0 &&
	      strncmp(reason, "kvm probe: ", 11) == 0 && access(open_entry, F_OK) != 0);

	TEST_CASE("two choices at once on a cold cache both succeed, one valid entry stays");
	unlink(entry_path);
	pid_t children[2];
	for (int i = 0; i < 2; i++) {
		children[i] = fork();
		if (children[i] == 0) {
			char child_reason[512];
			enum qemu_accel child_accel;
			_exit(choose(other_wrapper, ENGINE_ACCEL_AUTO, &child_accel, child_reason, sizeof(child_reason)) == 0 &&
					      child_accel == first_accel
				      ? 0
				      : 1);
		}
	}
	int ok = 0;
	for (int i = 0; i < 2; i++) {
		int status;
		ok += waitpid(children[i], &status, 0) == children[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK_NAMED("concurrent: both chose the probe's accelerator", ok == 2, "%d of 2", ok);
	CHECK(choose(other_wrapper, ENGINE_ACCEL_AUTO, &accel, reason, sizeof(reason)) == 0 && is_hit(reason));
	char listing[300];
	snprintf(listing, sizeof(listing), "ls -A %s | grep -q tmp", cache_dir);
	CHECK_NAMED("concurrent: no temporary file left", system(listing) != 0, "a .tmp file is left");

	char command[300];
	snprintf(command, sizeof(command), "rm -rf %s", temp_dir);
	if (system(command) != 0)
		printf("# could not remove %s\n", temp_dir);
	TEST_EXIT();
}

/* The accelerator probe against real QEMU: its firmware really reaches
 * 64-bit mode (under TCG, which always works), the deadline holds and leaves
 * no process behind, forcing works both ways — and, where /dev/kvm exists,
 * the probe's verdict on KVM agrees with what a real Linux kernel does under
 * KVM on this host (the ground truth the probe stands in for). */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/testlib.h"
#include "vz/qemu/accel.h"
#include "vz/qemu/host.h"
#include "vz/qemu/process.h"

static bool no_children_left(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static bool have_qemu(void)
{
	return system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0;
}

/* A Linux kernel to boot: the test guest's, else the host's newest. */
static bool find_kernel(char *out, size_t size)
{
	const char *guest = getenv("VZKIT_TEST_GUEST");
	glob_t found;
	bool ok = false;

	snprintf(out, size, "%s/vmlinuz", guest != NULL ? guest : "build/test-guest");
	if (access(out, R_OK) == 0)
		return true;
	if (glob("/boot/vmlinuz-*", 0, NULL, &found) == 0 && found.gl_pathc > 0) {
		snprintf(out, size, "%s", found.gl_pathv[found.gl_pathc - 1]);
		ok = access(out, R_OK) == 0;
	}
	globfree(&found);
	return ok;
}

/* Ground truth: does a real kernel print its banner under KVM with this CPU
 * model within `seconds`? */
static bool kernel_runs_under_kvm(const char *kernel, const char *cpu, int seconds)
{
	char log_path[] = "/tmp/vzkit-test-accel-XXXXXX";
	int log_fd = mkstemp(log_path);
	char serial[64], machine[] = "q35,accel=kvm";
	bool banner = false;
	pid_t pid;
	struct vzk_error err = {0};

	if (log_fd < 0)
		return false;
	snprintf(serial, sizeof(serial), "file:%s", log_path);
	char *const argv[] = {"qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", machine, "-cpu",
			      (char *)cpu, "-m", "256", "-display", "none", "-kernel", (char *)kernel, "-append",
			      "console=ttyS0 earlyprintk=ttyS0 panic=-1", "-serial", serial, "-no-reboot", NULL};
	struct child_spec spec = {.argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	if (child_spawn(&spec, &pid, NULL, &err) == 0) {
		for (int i = 0; i < seconds * 10 && !banner; i++) {
			char text[4096] = "";
			ssize_t got = pread(log_fd, text, sizeof(text) - 1, 0);
			banner = got > 0 && strstr(text, "Linux version") != NULL;
			if (!banner)
				nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				pid = 0;
				break;
			}
		}
		if (pid > 0)
			child_kill_and_reap(pid);
	}
	close(log_fd);
	unlink(log_path);
	return banner;
}

int main(void)
{
	char report[320], reason[320], kernel[512];
	enum qemu_accel accel = QEMU_ACCEL_KVM;
	struct vzk_error err = {0};

	if (!have_qemu()) {
		SKIP("accel probe", "qemu-system-x86_64 is not installed");
		return 0;
	}
	/* The aarch64 probe firmware, under TCG, wherever that QEMU is installed. */
	if (system("command -v qemu-system-aarch64 >/dev/null 2>&1") == 0) {
		TEST_CASE("aarch64 probe firmware runs under TCG");
		bool arm = qemu_accel_probe(QEMU_ARCH_AARCH64, QEMU_ACCEL_TCG, "max", 5000, report, sizeof(report));
		CHECK_NAMED(testlib_case, arm && strstr(report, "reached its first store") != NULL, "%s", report);
	} else {
		SKIP("aarch64 probe firmware runs under TCG", "qemu-system-aarch64 is not installed");
	}
	if (qemu_host_arch() != QEMU_ARCH_X86_64) {
		SKIP("accel probe", "the staged probe checks are for x86_64 hosts");
		return 0;
	}

	TEST_CASE("probe firmware reaches 64-bit mode under TCG");
	bool ran = qemu_accel_probe(QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, "max", 5000, report, sizeof(report));
	CHECK_NAMED(testlib_case, ran && strstr(report, "reached 64-bit mode") != NULL, "%s", report);
	CHECK_NAMED("the probe leaves no QEMU behind", no_children_left(), "a child is still there");
	printf("# tcg probe: %s\n", report);

	TEST_CASE("probe deadline: nothing runs in 1 ms, and the probe says so");
	ran = qemu_accel_probe(QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, "max", 1, report, sizeof(report));
	CHECK_NAMED(testlib_case, !ran && strstr(report, "did not run within 1 ms") != NULL, "%s", report);
	CHECK_NAMED("a timed-out probe's QEMU is killed and reaped", no_children_left(), "a child is still there");

	TEST_CASE("a QEMU that cannot start: its error is the report");
	ran = qemu_accel_probe(QEMU_ARCH_X86_64, QEMU_ACCEL_TCG, "no-such-cpu-model", 5000, report, sizeof(report));
	CHECK_NAMED(testlib_case, !ran && strstr(report, "no-such-cpu-model") != NULL, "%s", report);

	TEST_CASE("--accel tcg: no probe, tcg");
	CHECK(qemu_choose_accel(QEMU_ARCH_X86_64, ENGINE_ACCEL_TCG, 600, &accel, reason, sizeof(reason), &err) == 0 &&
	      accel == QEMU_ACCEL_TCG && strcmp(reason, "--accel tcg") == 0);

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		SKIP("kvm probe verdict", "no usable /dev/kvm here");
		TEST_CASE("--accel kvm without /dev/kvm is an error naming it");
		memset(&err, 0, sizeof(err));
		CHECK(qemu_choose_accel(QEMU_ARCH_X86_64, ENGINE_ACCEL_KVM, 600, &accel, reason, sizeof(reason), &err) != 0 &&
		      strstr(err.message, "/dev/kvm") != NULL);
		TEST_EXIT();
	}
	if (!find_kernel(kernel, sizeof(kernel))) {
		SKIP("kvm probe verdict", "no Linux kernel to compare with");
		TEST_EXIT();
	}
	/* The CPU model vzkit uses under KVM ("host"), and a plain one that
	 * starts even where "host" cannot (doc/host-facts.md: every model hangs here). */
	const char *models[] = {"host", "kvm64"};
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		char name[128];
		bool probe = qemu_accel_probe(QEMU_ARCH_X86_64, QEMU_ACCEL_KVM, models[i], QEMU_KVM_PROBE_DEADLINE_MS,
					      report, sizeof(report));
		bool truth = kernel_runs_under_kvm(kernel, models[i], 8);
		printf("# kvm -cpu %s: probe %s (%s); a real kernel %s\n", models[i], probe ? "runs" : "fails", report,
		       truth ? "printed its banner" : "printed nothing in 8 s");
		snprintf(name, sizeof(name), "kvm -cpu %s: the probe's verdict matches a real kernel boot", models[i]);
		CHECK_NAMED(name, probe == truth, "probe %d, kernel %d (%s)", probe, truth, report);
	}
	CHECK_NAMED("kvm probes leave no QEMU behind", no_children_left(), "a child is still there");

	TEST_CASE("automatic choice agrees with the probe of -cpu host");
	memset(&err, 0, sizeof(err));
	bool host_runs = qemu_accel_probe(QEMU_ARCH_X86_64, QEMU_ACCEL_KVM, "host", QEMU_KVM_PROBE_DEADLINE_MS, report,
					  sizeof(report));
	CHECK(qemu_choose_accel(QEMU_ARCH_X86_64, ENGINE_ACCEL_AUTO, QEMU_KVM_PROBE_DEADLINE_MS, &accel, reason,
				sizeof(reason), &err) == 0 &&
	      accel == (host_runs ? QEMU_ACCEL_KVM : QEMU_ACCEL_TCG) && strncmp(reason, "kvm probe: ", 11) == 0);
	printf("# auto: %s\n", reason);
	TEST_CASE("--accel kvm where KVM does not run guests is an error with the reason");
	memset(&err, 0, sizeof(err));
	int forced = qemu_choose_accel(QEMU_ARCH_X86_64, ENGINE_ACCEL_KVM, QEMU_KVM_PROBE_DEADLINE_MS, &accel, reason,
				       sizeof(reason), &err);
	if (host_runs)
		CHECK(forced == 0 && accel == QEMU_ACCEL_KVM);
	else
		CHECK(forced != 0 && strstr(err.message, "--accel kvm") != NULL && strstr(err.message, "kvm guest") != NULL);
	TEST_EXIT();
}

/* The cleanup watcher against real processes: a stand-in for vzkit (a forked
 * child) starts a watcher, registers a directory tree, files, a child
 * process and its terminal (a pty) the way the launcher and engine do, then
 * is killed with SIGKILL. The watcher must kill the process, restore the
 * terminal, remove what is still the registered file and leave alone what
 * was replaced or forgotten; after an orderly stop it must touch nothing. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "test/testlib.h"
#include "vz/cleanup_watcher.h"

static char scratch[64];

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", scratch, name);
}

static void write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	if (file != NULL) {
		fputs(text, file);
		fclose(file);
	}
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static bool wait_gone(pid_t pid, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return true;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	return false;
}

/* Reports to the test through `report`: the watcher's pid and the victim's. */
struct report {
	pid_t watcher;
	pid_t victim;
};

/* The stand-in for vzkit. orderly: clean up and stop the watcher, then
 * exit; otherwise die by SIGKILL with everything still there. */
static void fake_vzkit(int report_fd, bool orderly, int pty_slave) __attribute__((noreturn));
static void fake_vzkit(int report_fd, bool orderly, int pty_slave)
{
	struct cleanup_watcher *watcher = NULL;
	struct vzk_error err = {0};
	struct report report = {0};
	char tree[128], nested[160], deep[200], file[128], replaced[128], forgotten[128], link[128];
	struct termios settings, raw;

	if (pty_slave >= 0)
		dup2(pty_slave, STDIN_FILENO);
	if (cleanup_watcher_start(&watcher, &err) != 0)
		_exit(3);
	path_in(tree, sizeof(tree), "runtime");
	path_in(nested, sizeof(nested), "runtime/tls");
	snprintf(deep, sizeof(deep), "%s/ca-cert.pem", nested);
	path_in(file, sizeof(file), "vzkit.pid");
	path_in(replaced, sizeof(replaced), "rest.sock");
	path_in(forgotten, sizeof(forgotten), "forgotten");
	path_in(link, sizeof(link), "runtime/outside");
	mkdir(tree, 0700);
	mkdir(nested, 0700);
	write_file(deep, "x");
	/* A symlink in the tree to a file outside: the link goes, the file stays. */
	symlink(forgotten, link);
	write_file(file, "1234");
	write_file(replaced, "old");
	write_file(forgotten, "keep");
	pid_t victim = fork();
	if (victim == 0) {
		/* exec, as QEMU is: the lifeline is close-on-exec, and a fork that
		 * kept it open would keep the watcher waiting */
		execlp("sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	if (cleanup_watcher_add_tree(watcher, tree, &err) != 0 || cleanup_watcher_add_file(watcher, file, &err) != 0 ||
	    cleanup_watcher_add_file(watcher, replaced, &err) != 0 ||
	    cleanup_watcher_add_file(watcher, forgotten, &err) != 0 ||
	    cleanup_watcher_add_process(watcher, victim, &err) != 0)
		_exit(4);
	cleanup_watcher_forget(watcher, forgotten);
	/* Another launcher's file now at the registered path (a new inode). */
	char moved[140];
	snprintf(moved, sizeof(moved), "%s.new", replaced);
	write_file(moved, "new");
	rename(moved, replaced);
	if (pty_slave >= 0 && tcgetattr(STDIN_FILENO, &settings) == 0) {
		cleanup_watcher_set_terminal(watcher, &settings, fcntl(STDIN_FILENO, F_GETFL), &err);
		raw = settings;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	report.watcher = cleanup_watcher_pid(watcher);
	report.victim = victim;
	if (write(report_fd, &report, sizeof(report)) != sizeof(report))
		_exit(5);
	if (orderly) {
		cleanup_watcher_stop(watcher);
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
		_exit(0);
	}
	/* Give the watcher time to read every registration. */
	nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	raise(SIGKILL);
	_exit(6);
}

static void run_fake(bool orderly, int pty_slave, struct report *report, int *status)
{
	int pipe_fds[2];
	pid_t pid;

	memset(report, 0, sizeof(*report));
	if (pipe(pipe_fds) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(pipe_fds[0]);
		fake_vzkit(pipe_fds[1], orderly, pty_slave);
	}
	close(pipe_fds[1]);
	if (read(pipe_fds[0], report, sizeof(*report)) != sizeof(*report))
		memset(report, 0, sizeof(*report));
	close(pipe_fds[0]);
	waitpid(pid, status, 0);
}

static void test_killed(void)
{
	struct report report;
	int status = 0, master = -1, slave = -1;
	char path[160], text[16] = "";
	struct termios before, after;
	bool have_pty = openpty(&master, &slave, NULL, NULL, NULL) == 0 && tcgetattr(slave, &before) == 0;

	TEST_CASE("watcher: vzkit killed");
	run_fake(false, have_pty ? slave : -1, &report, &status);
	CHECK_NAMED("watcher: the stand-in died by SIGKILL", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "status %d", status);
	CHECK_NAMED("watcher: exits after cleaning up", report.watcher > 0 && wait_gone(report.watcher, 7000),
		    "watcher %d still there", (int)report.watcher);
	CHECK_NAMED("watcher: registered process killed", report.victim > 0 && wait_gone(report.victim, 1000),
		    "victim %d alive", (int)report.victim);
	path_in(path, sizeof(path), "runtime");
	CHECK_NAMED("watcher: directory tree removed", !exists(path), "%s left", path);
	path_in(path, sizeof(path), "vzkit.pid");
	CHECK_NAMED("watcher: registered file removed", !exists(path), "%s left", path);
	path_in(path, sizeof(path), "rest.sock");
	FILE *file = fopen(path, "r");
	if (file != NULL) {
		if (fgets(text, sizeof(text), file) == NULL)
			text[0] = '\0';
		fclose(file);
	}
	CHECK_NAMED("watcher: a file replaced since registration is kept", strcmp(text, "new") == 0,
		    "content '%s'", text);
	path_in(path, sizeof(path), "forgotten");
	CHECK_NAMED("watcher: a forgotten file is kept (and a symlink to it not followed)", exists(path),
		    "%s removed", path);
	if (have_pty) {
		CHECK_NAMED("watcher: terminal settings restored",
			    tcgetattr(slave, &after) == 0 && after.c_lflag == before.c_lflag &&
				    after.c_iflag == before.c_iflag && after.c_oflag == before.c_oflag,
			    "lflag %#x, want %#x", (unsigned)after.c_lflag, (unsigned)before.c_lflag);
		close(master);
		close(slave);
	} else {
		SKIP("watcher: terminal settings restored", "no pty");
	}
}

static void test_orderly(void)
{
	struct report report;
	int status = 0;
	char path[160];

	TEST_CASE("watcher: orderly stop");
	run_fake(true, -1, &report, &status);
	CHECK_NAMED("watcher: orderly stand-in exits 0", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
		    status);
	CHECK_NAMED("watcher: reaped by cleanup_watcher_stop", report.watcher > 0 && wait_gone(report.watcher, 100),
		    "watcher %d", (int)report.watcher);
	path_in(path, sizeof(path), "runtime/tls/ca-cert.pem");
	CHECK_NAMED("watcher: orderly stop removes nothing", exists(path), "%s removed", path);
	path_in(path, sizeof(path), "vzkit.pid");
	CHECK_NAMED("watcher: orderly stop keeps files", exists(path), "%s removed", path);
}

static void test_limits(void)
{
	struct cleanup_watcher *watcher = NULL;
	struct vzk_error err = {0};
	char long_path[5000];

	TEST_CASE("watcher: refusals");
	CHECK_NAMED("watcher: NULL watcher is a no-op", cleanup_watcher_add_file(NULL, "/nonexistent", &err) == 0, "%s",
		    err.message);
	if (cleanup_watcher_start(&watcher, &err) != 0) {
		CHECK_NAMED("watcher: starts", false, "%s", err.message);
		return;
	}
	CHECK_NAMED("watcher: a path that does not exist is refused",
		    cleanup_watcher_add_file(watcher, "/nonexistent/x", &err) != 0 && strstr(err.message, "/nonexistent/x"),
		    "%s", err.message);
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	CHECK_NAMED("watcher: a path too long is refused", cleanup_watcher_add_file(watcher, long_path, &err) != 0,
		    "accepted");
	pid_t pid = cleanup_watcher_pid(watcher);
	cleanup_watcher_stop(watcher);
	CHECK_NAMED("watcher: stopped and reaped", kill(pid, 0) != 0 && errno == ESRCH, "pid %d", (int)pid);
}

int main(void)
{
	char command[256];

	snprintf(scratch, sizeof(scratch), "/tmp/vzkit-watcher-test.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		printf("FAIL watcher: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_killed();
	snprintf(command, sizeof(command), "rm -rf %s && mkdir %s", scratch, scratch);
	if (system(command) != 0)
		printf("FAIL watcher: cannot reset %s\n", scratch);
	test_orderly();
	test_limits();
	snprintf(command, sizeof(command), "rm -rf %s", scratch);
	if (system(command) != 0)
		printf("FAIL watcher: cannot remove %s\n", scratch);
	TEST_EXIT();
}

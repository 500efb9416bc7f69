#include "vz/qemu/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

int child_spawn(const struct child_spec *spec, pid_t *pid_out, int *pidfd_out, struct vzk_error *err)
{
	pid_t parent = getpid();
	int ready[2];
	pid_t pid;
	int exec_errno = 0;

	if (pipe2(ready, O_CLOEXEC) != 0)
		return vzk_runtime_error(err, "pipe: %s", strerror(errno));
	/* vfork: the child borrows vzkit's memory until it execs, so starting
	 * QEMU copies no page tables and takes no copy-on-write faults
	 * (doc/performance.md). Safe because the child below only makes system
	 * calls and writes its own locals before exec or _exit; vzkit's other
	 * threads go on meanwhile, only this one waits. */
	pid = vfork();
	if (pid < 0) {
		close(ready[0]);
		close(ready[1]);
		return vzk_runtime_error(err, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		int high[64];
		size_t count = spec->passed_fd_count < 64 ? spec->passed_fd_count : 64;

		/* Die with vzkit, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		reset_signals();
		if (spec->new_session)
			setsid();
		/* Move the passed fds out of the way first, then to 3, 4, ... */
		for (size_t i = 0; i < count; i++)
			high[i] = fcntl(spec->passed_fds[i], F_DUPFD_CLOEXEC, 100);
		dup2(spec->stdin_fd >= 0 ? spec->stdin_fd : devnull, 0);
		dup2(spec->stdout_fd >= 0 ? spec->stdout_fd : devnull, 1);
		dup2(spec->stderr_fd >= 0 ? spec->stderr_fd : devnull, 2);
		for (size_t i = 0; i < count; i++)
			dup2(high[i], 3 + (int)i); /* dup2 clears close-on-exec */
		execvp(spec->argv[0], spec->argv);
		exec_errno = errno;
		if (write(ready[1], &exec_errno, sizeof(exec_errno)) < 0)
			_exit(126);
		_exit(127);
	}
	close(ready[1]);
	/* The pipe closes on a successful exec; an errno arrives if it failed. */
	if (read(ready[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
		close(ready[0]);
		waitpid(pid, NULL, 0);
		return vzk_runtime_error(err, "cannot run %s: %s", spec->argv[0], strerror(exec_errno));
	}
	close(ready[0]);
	*pid_out = pid;
	if (pidfd_out != NULL) {
		*pidfd_out = (int)syscall(SYS_pidfd_open, pid, 0);
		if (*pidfd_out >= 0)
			fcntl(*pidfd_out, F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

int child_kill_and_reap(pid_t pid)
{
	int status = 0;

	if (pid <= 0)
		return 0;
	if (waitpid(pid, &status, WNOHANG) == pid)
		return status;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

void remove_tree(const char *dir)
{
	DIR *listing = opendir(dir);
	struct dirent *entry;

	if (listing != NULL) {
		while ((entry = readdir(listing)) != NULL) {
			char path[4096];
			struct stat st;
			if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				remove_tree(path);
			else
				unlink(path);
		}
		closedir(listing);
	}
	rmdir(dir);
}

int terminal_state_save(struct terminal_state *state)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &state->settings) != 0)
		return -1;
	state->file_flags = fcntl(STDIN_FILENO, F_GETFL);
	return 0;
}

void terminal_state_restore(const struct terminal_state *state)
{
	tcsetattr(STDIN_FILENO, TCSANOW, &state->settings);
	if (state->file_flags >= 0)
		fcntl(STDIN_FILENO, F_SETFL, state->file_flags);
}

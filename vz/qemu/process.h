/* Child processes that never outlive vzkit: QEMU and its helpers die with it
 * (PR_SET_PDEATHSIG); the launcher's cleanup watcher (vz/cleanup_watcher.h)
 * removes the runtime directory when vzkit is killed outright. */
#ifndef VZKIT_VZ_QEMU_PROCESS_H
#define VZKIT_VZ_QEMU_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <termios.h>

#include "flags/error.h"

struct child_spec {
	char *const *argv;
	int stdin_fd;  /* -1: /dev/null */
	int stdout_fd; /* -1: /dev/null */
	int stderr_fd; /* -1: /dev/null */
	const int *passed_fds; /* dup'ed to 3, 4, ... in the child */
	size_t passed_fd_count;
	bool new_session; /* its own session: terminal signals stay with vzkit */
};

/* Starts the child; *pidfd is a pidfd to poll for its exit (or -1). */
int child_spawn(const struct child_spec *spec, pid_t *pid, int *pidfd, struct vzk_error *err);
/* Sends SIGKILL if still running and reaps it; returns its wait status. */
int child_kill_and_reap(pid_t pid);

/* vzkit's terminal (stdin) before QEMU's stdio console made it raw and
 * non-blocking; QEMU puts it back only when it exits normally. */
struct terminal_state {
	struct termios settings;
	int file_flags; /* fcntl(F_GETFL): O_NONBLOCK is shared with the shell */
};
/* 0 when stdin is a terminal and its state was saved. */
int terminal_state_save(struct terminal_state *state);
/* Async-signal-safe (tcsetattr, fcntl): usable between fork and exec. */
void terminal_state_restore(const struct terminal_state *state);

/* rm -r of a directory vzkit made (no symlinks followed). */
void remove_tree(const char *dir);

#endif

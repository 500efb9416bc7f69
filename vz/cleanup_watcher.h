/* The cleanup watcher: a process forked from vzkit that outlives it on
 * purpose and, when vzkit dies without cleaning up (kill -9, the OOM killer),
 * removes what vzkit made and puts its terminal back.
 *
 * Whoever creates something registers it: the launcher its pidfile, REST
 * socket and cloud-init ISO; the QEMU engine its runtime directory, the
 * processes it started and the terminal settings QEMU's stdio console
 * changes. Registrations travel over a pipe to the watcher, which was forked
 * before any of them existed, so the watcher's list grows with vzkit's.
 *
 * After a fork in a threaded process only async-signal-safe calls are
 * allowed: the watcher uses raw system calls only (no malloc, no stdio, no
 * exec of a shell), on a list held in fixed-size storage.
 *
 * When vzkit's end of the pipe closes without "orderly", the watcher, in this
 * order: kills every registered process still alive and waits (up to 5 s) for
 * it to be gone (they die with vzkit anyway, by PR_SET_PDEATHSIG; waiting
 * keeps them from writing into a directory being removed), restores the
 * terminal, removes each registered file or directory tree that is still the
 * one registered (same device and inode: another vzkit may have made a new
 * one at that path since), and exits. */
#ifndef VZKIT_VZ_CLEANUP_WATCHER_H
#define VZKIT_VZ_CLEANUP_WATCHER_H

#include <sys/types.h>
#include <termios.h>

#include "flags/error.h"

/* What one watcher can hold: enough for a VM with every kind of helper. */
#define CLEANUP_WATCHER_MAX_PATHS 16
#define CLEANUP_WATCHER_MAX_PROCESSES 32
#define CLEANUP_WATCHER_PATH_MAX 4096

struct cleanup_watcher;

/* Forks the watcher. Call before making anything it must clean. */
int cleanup_watcher_start(struct cleanup_watcher **out, struct vzk_error *err);
/* `path` (a file, socket or symlink, not followed) as it is now: removed
 * after a crash if it is still that file. -1 with err when it cannot be
 * registered (gone, path too long, list full). NULL watcher: no-op. */
int cleanup_watcher_add_file(struct cleanup_watcher *watcher, const char *path, struct vzk_error *err);
/* The directory `path` and everything in it (no symlink followed). */
int cleanup_watcher_add_tree(struct cleanup_watcher *watcher, const char *path, struct vzk_error *err);
/* A child process (not yet reaped) to kill and wait for after a crash. */
int cleanup_watcher_add_process(struct cleanup_watcher *watcher, pid_t pid, struct vzk_error *err);
/* The settings (and fcntl file flags) to put back on the terminal at fd 0
 * after a crash; the watcher keeps fd 0 when it is a terminal. */
int cleanup_watcher_set_terminal(struct cleanup_watcher *watcher, const struct termios *settings, int file_flags,
				 struct vzk_error *err);
/* vzkit removed `path` itself: the watcher forgets it. */
void cleanup_watcher_forget(struct cleanup_watcher *watcher, const char *path);
/* vzkit cleaned up everything itself: the watcher exits touching nothing
 * (reaped here). NULL ok. */
void cleanup_watcher_stop(struct cleanup_watcher *watcher);
/* The watcher's pid (for tests). */
pid_t cleanup_watcher_pid(const struct cleanup_watcher *watcher);

#endif

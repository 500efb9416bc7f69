/* The cleanup watcher (see cleanup_watcher.h). The parent side sends
 * fixed-size records over a pipe; the child side (watcher_main and below)
 * runs in a fork of a threaded process and so makes system calls only. */
#include "vz/cleanup_watcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

enum record_kind {
	RECORD_FILE = 1,
	RECORD_TREE,
	RECORD_PROCESS,
	RECORD_TERMINAL,
	RECORD_FORGET,
	RECORD_ORDERLY,
};

/* One registration; a path of path_len bytes (no NUL) follows it. */
struct record {
	uint32_t kind;
	uint32_t path_len;
	uint64_t dev;
	uint64_t ino;
	int32_t pid;
	int32_t file_flags;
	struct termios settings;
};

struct cleanup_watcher {
	pthread_mutex_t lock; /* one record at a time on the pipe */
	int lifeline;         /* write end; its closing tells the watcher vzkit is gone */
	pid_t pid;
};

/* ---- the watcher process: system calls only ---- */

struct watched_path {
	uint32_t kind; /* RECORD_FILE, RECORD_TREE; 0: free slot */
	dev_t dev;
	ino_t ino;
	char path[CLEANUP_WATCHER_PATH_MAX];
};

/* In the parent these pages are never touched (no memory used); the
 * watcher writes them after the fork. */
static struct watched_path watched_paths[CLEANUP_WATCHER_MAX_PATHS];
static int watched_pidfds[CLEANUP_WATCHER_MAX_PROCESSES];
static size_t watched_process_count;
static struct termios watched_terminal;
static int watched_terminal_flags;
static int terminal_registered;

static int read_full(int fd, void *buffer, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t got = read(fd, (char *)buffer + done, size - done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		done += (size_t)got;
	}
	return 0;
}

static int same_text(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

#ifdef __linux__
struct dirent64_record {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* rm -r of parent_fd/name without following symlinks (openat O_NOFOLLOW). */
static void remove_tree_at(int parent_fd, const char *name, int depth)
{
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char entries[4096] __attribute__((aligned(8)));
	long got;

	if (fd < 0)
		return;
	/* Removing while listing: list again until a pass finds nothing. */
	for (int pass = 0; pass < 4 && depth < 16; pass++) {
		int found = 0;
		lseek(fd, 0, SEEK_SET);
		while ((got = syscall(SYS_getdents64, fd, entries, sizeof(entries))) > 0) {
			for (long offset = 0; offset < got;) {
				struct dirent64_record *entry = (struct dirent64_record *)(entries + offset);
				offset += entry->d_reclen;
				if (entry->d_name[0] == '.' &&
				    (entry->d_name[1] == '\0' || (entry->d_name[1] == '.' && entry->d_name[2] == '\0')))
					continue;
				found = 1;
				if (entry->d_type == DT_DIR ||
				    (unlinkat(fd, entry->d_name, 0) != 0 && (errno == EISDIR || errno == EPERM)))
					remove_tree_at(fd, entry->d_name, depth + 1);
			}
		}
		if (!found)
			break;
	}
	close(fd);
	unlinkat(parent_fd, name, AT_REMOVEDIR);
}

static void kill_and_wait_processes(void)
{
	struct pollfd polls[CLEANUP_WATCHER_MAX_PROCESSES];
	struct timespec start, now;
	size_t alive = 0;

	for (size_t i = 0; i < watched_process_count; i++) {
		/* ESRCH: already gone. */
		if (syscall(SYS_pidfd_send_signal, watched_pidfds[i], SIGKILL, NULL, 0) == 0 || errno != ESRCH)
			polls[alive++] = (struct pollfd){.fd = watched_pidfds[i], .events = POLLIN};
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (alive > 0) {
		long waited_ms;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited_ms >= 5000 || poll(polls, alive, (int)(5000 - waited_ms)) < 0)
			break;
		for (size_t i = 0; i < alive;) {
			if (polls[i].revents != 0)
				polls[i] = polls[--alive]; /* readable pidfd: the process exited */
			else
				i++;
		}
	}
}

static int open_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}
#else
static void remove_tree_at(int parent_fd, const char *name, int depth)
{
	(void)depth;
	unlinkat(parent_fd, name, AT_REMOVEDIR); /* only an empty one */
}

static void kill_and_wait_processes(void)
{
}

static int open_pidfd(pid_t pid)
{
	(void)pid;
	return -1;
}
#endif

static void take_record(const struct record *record, const char *path)
{
	switch (record->kind) {
	case RECORD_FILE:
	case RECORD_TREE:
		for (size_t i = 0; i < CLEANUP_WATCHER_MAX_PATHS; i++) {
			struct watched_path *slot = &watched_paths[i];
			if (slot->kind != 0)
				continue;
			slot->kind = record->kind;
			slot->dev = (dev_t)record->dev;
			slot->ino = (ino_t)record->ino;
			memcpy(slot->path, path, record->path_len + 1);
			break;
		}
		break;
	case RECORD_FORGET:
		for (size_t i = 0; i < CLEANUP_WATCHER_MAX_PATHS; i++)
			if (watched_paths[i].kind != 0 && same_text(watched_paths[i].path, path))
				watched_paths[i].kind = 0;
		break;
	case RECORD_PROCESS:
		if (watched_process_count < CLEANUP_WATCHER_MAX_PROCESSES) {
			int fd = open_pidfd((pid_t)record->pid);
			if (fd >= 0)
				watched_pidfds[watched_process_count++] = fd;
		}
		break;
	case RECORD_TERMINAL:
		watched_terminal = record->settings;
		watched_terminal_flags = record->file_flags;
		terminal_registered = 1;
		break;
	default:
		break;
	}
}

static void clean_up_after_vzkit(void)
{
	kill_and_wait_processes();
	/* vzkit died without putting the terminal back (QEMU had it raw). */
	if (terminal_registered) {
		tcsetattr(STDIN_FILENO, TCSANOW, &watched_terminal);
		if (watched_terminal_flags >= 0)
			fcntl(STDIN_FILENO, F_SETFL, watched_terminal_flags);
	}
	for (size_t i = 0; i < CLEANUP_WATCHER_MAX_PATHS; i++) {
		const struct watched_path *slot = &watched_paths[i];
		struct stat st;
		if (slot->kind == 0 || lstat(slot->path, &st) != 0 || st.st_dev != slot->dev || st.st_ino != slot->ino)
			continue;
		if (slot->kind == RECORD_TREE && S_ISDIR(st.st_mode))
			remove_tree_at(AT_FDCWD, slot->path, 0);
		else if (slot->kind == RECORD_FILE && !S_ISDIR(st.st_mode))
			unlink(slot->path);
	}
}

static void watcher_main(int lifeline) __attribute__((noreturn));
static void watcher_main(int lifeline)
{
	static char path[CLEANUP_WATCHER_PATH_MAX];
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	sigset_t none;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* Its own session: terminal signals (Ctrl-C) and a kill of vzkit's
	 * process group miss it, and setting the terminal below cannot stop it
	 * with SIGTTOU (it is no longer its controlling terminal). */
	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGINT, &ignore, NULL);
	sigaction(SIGTERM, &ignore, NULL);
	sigaction(SIGHUP, &ignore, NULL);
	sigaction(SIGPIPE, &ignore, NULL);
#ifdef __linux__
	prctl(PR_SET_NAME, "vzkit-cleanup", 0, 0, 0);
#endif
	/* No copies of vzkit's files: a socket or pipe held open here would
	 * keep its peer waiting after vzkit is gone. Keep the terminal on fd 0
	 * (to restore it) and the lifeline. */
	if (devnull >= 0) {
		if (!isatty(STDIN_FILENO))
			dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
	}
	if (lifeline != 3) {
		dup2(lifeline, 3);
		lifeline = 3;
	}
#if defined(__linux__) && defined(SYS_close_range)
	if (syscall(SYS_close_range, 4, ~0U, 0) != 0)
#endif
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
	for (;;) {
		struct record record;
		if (read_full(lifeline, &record, sizeof(record)) != 0)
			break; /* end of input: vzkit is gone */
		if (record.path_len >= sizeof(path) || read_full(lifeline, path, record.path_len) != 0)
			break;
		path[record.path_len] = '\0';
		if (record.kind == RECORD_ORDERLY)
			_exit(0);
		take_record(&record, path);
	}
	clean_up_after_vzkit();
	_exit(0);
}

/* ---- vzkit's side ---- */

int cleanup_watcher_start(struct cleanup_watcher **out, struct vzk_error *err)
{
	struct cleanup_watcher *watcher = calloc(1, sizeof(*watcher));
	int lifeline[2];

	*out = NULL;
	if (watcher == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (pipe(lifeline) != 0) {
		free(watcher);
		return vzk_runtime_error(err, "cleanup watcher: pipe: %s", strerror(errno));
	}
	fcntl(lifeline[1], F_SETFD, FD_CLOEXEC);
	watcher->pid = fork();
	if (watcher->pid < 0) {
		int saved = errno;
		close(lifeline[0]);
		close(lifeline[1]);
		free(watcher);
		return vzk_runtime_error(err, "cleanup watcher: fork: %s", strerror(saved));
	}
	if (watcher->pid == 0) {
		close(lifeline[1]); /* our copy of vzkit's end would keep the pipe open */
		watcher_main(lifeline[0]);
	}
	close(lifeline[0]);
	watcher->lifeline = lifeline[1];
	pthread_mutex_init(&watcher->lock, NULL);
	*out = watcher;
	return 0;
}

static int send_record(struct cleanup_watcher *watcher, struct record *record, const char *path,
		       struct vzk_error *err)
{
	size_t path_len = path != NULL ? strlen(path) : 0;
	char buffer[sizeof(struct record) + CLEANUP_WATCHER_PATH_MAX];
	size_t sent = 0, total;

	if (path_len >= CLEANUP_WATCHER_PATH_MAX)
		return vzk_runtime_error(err, "cleanup watcher: path too long: %.100s...", path);
	record->path_len = (uint32_t)path_len;
	memcpy(buffer, record, sizeof(*record));
	if (path_len > 0)
		memcpy(buffer + sizeof(*record), path, path_len);
	total = sizeof(*record) + path_len;
	pthread_mutex_lock(&watcher->lock);
	while (sent < total) {
		ssize_t n = write(watcher->lifeline, buffer + sent, total - sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = errno;
			pthread_mutex_unlock(&watcher->lock);
			return vzk_runtime_error(err, "cleanup watcher: %s", strerror(saved));
		}
		sent += (size_t)n;
	}
	pthread_mutex_unlock(&watcher->lock);
	return 0;
}

static int add_path(struct cleanup_watcher *watcher, enum record_kind kind, const char *path, struct vzk_error *err)
{
	struct record record = {.kind = kind};
	struct stat st;

	if (watcher == NULL)
		return 0;
	if (lstat(path, &st) != 0)
		return vzk_runtime_error(err, "cleanup watcher: %s: %s", path, strerror(errno));
	record.dev = (uint64_t)st.st_dev;
	record.ino = (uint64_t)st.st_ino;
	return send_record(watcher, &record, path, err);
}

int cleanup_watcher_add_file(struct cleanup_watcher *watcher, const char *path, struct vzk_error *err)
{
	return add_path(watcher, RECORD_FILE, path, err);
}

int cleanup_watcher_add_tree(struct cleanup_watcher *watcher, const char *path, struct vzk_error *err)
{
	return add_path(watcher, RECORD_TREE, path, err);
}

int cleanup_watcher_add_process(struct cleanup_watcher *watcher, pid_t pid, struct vzk_error *err)
{
	struct record record = {.kind = RECORD_PROCESS, .pid = (int32_t)pid};

	if (watcher == NULL)
		return 0;
	return send_record(watcher, &record, NULL, err);
}

int cleanup_watcher_set_terminal(struct cleanup_watcher *watcher, const struct termios *settings, int file_flags,
				 struct vzk_error *err)
{
	struct record record = {.kind = RECORD_TERMINAL, .file_flags = file_flags, .settings = *settings};

	if (watcher == NULL)
		return 0;
	return send_record(watcher, &record, NULL, err);
}

void cleanup_watcher_forget(struct cleanup_watcher *watcher, const char *path)
{
	struct record record = {.kind = RECORD_FORGET};
	struct vzk_error err = {0};

	if (watcher != NULL)
		send_record(watcher, &record, path, &err);
}

void cleanup_watcher_stop(struct cleanup_watcher *watcher)
{
	struct record record = {.kind = RECORD_ORDERLY};
	struct vzk_error err = {0};

	if (watcher == NULL)
		return;
	send_record(watcher, &record, NULL, &err);
	close(watcher->lifeline);
	while (waitpid(watcher->pid, NULL, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_destroy(&watcher->lock);
	free(watcher);
}

pid_t cleanup_watcher_pid(const struct cleanup_watcher *watcher)
{
	return watcher != NULL ? watcher->pid : 0;
}

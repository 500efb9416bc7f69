/* The KVM probe's verdict, kept once per host boot (doc/performance.md).
 * The probe boots a tiny guest (vz/qemu/accel.h) and costs about 100 ms on
 * every start; its answer changes only when the kernel (boot), the QEMU
 * binary, the /dev/kvm device or vzkit itself changes, so those make the key.
 * The entry is one small text file in a per-user directory only we can
 * write; anything unreadable, corrupt or keyed differently is a miss (the
 * probe runs and the entry is rewritten atomically). */
#ifndef VZKIT_VZ_QEMU_ACCEL_CACHE_H
#define VZKIT_VZ_QEMU_ACCEL_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "vz/qemu/plan.h"

/* Where the entry lives and what its key is read from. NULL fields take the
 * defaults; tests point them at files of their own. */
struct qemu_accel_cache_sources {
	const char *cache_dir;    /* $XDG_RUNTIME_DIR/vzkit, else /tmp/vzkit-UID */
	const char *boot_id_path; /* /proc/sys/kernel/random/boot_id */
	const char *qemu_path;    /* the arch's QEMU binary as found on PATH */
	const char *kvm_path;     /* /dev/kvm */
};

/* What an entry says, and the key it was found under. */
struct qemu_accel_cache_entry {
	char path[160];   /* the entry's file ("" when there is no usable directory) */
	char key[1024];   /* the key text (boot id, QEMU, /dev/kvm, vzkit, probe) */
	bool kvm_runs;    /* the probe's verdict */
	char report[320]; /* the probe's report */
};

/* Fills entry->path and entry->key for `arch`; `probe` names what the probe
 * does (its firmware and options), so a changed probe never reads an old
 * verdict. -1 when no key can be made (no boot id, no QEMU binary): then
 * nothing is cached. */
int qemu_accel_cache_key(enum qemu_arch arch, const char *probe, const struct qemu_accel_cache_sources *sources,
			 struct qemu_accel_cache_entry *entry);
/* 1 and the verdict when the entry's file holds this key; 0 on any miss. */
int qemu_accel_cache_load(struct qemu_accel_cache_entry *entry);
/* Writes the entry (temporary file, then rename: readers never see half of
 * it). The directory is made 0700 when missing and refused unless it is ours
 * and closed to others. 0, or -1 when it could not be kept (not an error:
 * the next start probes again). */
int qemu_accel_cache_store(const struct qemu_accel_cache_entry *entry);

/* The QEMU binary execvp would run for `name` under $PATH, into `out`. */
int qemu_find_on_path(const char *name, char *out, size_t size);

#endif

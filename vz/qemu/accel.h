/* Which accelerator really runs guests on this host. /dev/kvm can exist and
 * accept a few real-mode instructions while every real guest spins forever in
 * KVM_RUN (doc/host-facts.md, "KVM that exists but does not run guests"), so the only trustworthy test is to boot something tiny
 * through QEMU itself — far enough that it does what a kernel does first
 * (protected mode, paging, 64-bit mode) — under a short deadline. */
#ifndef VZKIT_VZ_QEMU_ACCEL_H
#define VZKIT_VZ_QEMU_ACCEL_H

#include <stdbool.h>
#include <stddef.h>

#include "flags/error.h"
#include "vz/engine.h"
#include "vz/qemu/accel_cache.h"
#include "vz/qemu/plan.h"

/* How long the automatic choice waits for the probe guest under KVM. */
#define QEMU_KVM_PROBE_DEADLINE_MS 600

/* Boots the probe firmware under `accel` with `cpu_model`; true when it
 * reached its last stage (x86: 64-bit mode) within `deadline_ms`. `report`
 * says what happened, in a few words, either way. */
bool qemu_accel_probe(enum qemu_arch arch, enum qemu_accel accel, const char *cpu_model, int deadline_ms,
		      char *report, size_t report_size);

/* KVM when the probe runs under it, else TCG; `reason` is the explanation for
 * the one "accelerator:" line. Forcing KVM where it does not work is an error;
 * forcing TCG skips the probe. */
int qemu_choose_accel(enum qemu_arch arch, enum engine_accel wanted, int deadline_ms, enum qemu_accel *out,
		      char *reason, size_t reason_size, struct vzk_error *err);

/* qemu_choose_accel with the automatic choice's verdict kept for the host's
 * boot (vz/qemu/accel_cache.h): a hit says so in `reason` ("kvm probe,
 * cached for this boot in PATH: ..."), a miss probes and keeps the verdict.
 * A forced --accel neither reads nor writes the cache. `sources` NULL: the
 * real boot id, QEMU on PATH, /dev/kvm and the per-user directory. */
int qemu_choose_accel_cached(enum qemu_arch arch, enum engine_accel wanted, int deadline_ms,
			     const struct qemu_accel_cache_sources *sources, enum qemu_accel *out, char *reason,
			     size_t reason_size, struct vzk_error *err);

#endif

/* Shared pieces of the Apple engine's Linux tests: checks in the runner's
 * PASS/FAIL format, a private temp directory, simulated hosts, golden files. */
#ifndef VZKIT_TEST_APPLE_RIG_H
#define VZKIT_TEST_APPLE_RIG_H

#include <stdbool.h>

#include "test/apple/standin.h"
#include "test/apple/tsv.h"
#include "vz/apple/apple_engine.h"
#include "vz/apple/host.h"
#include "vz/vz.h"

/* One check: prints "PASS name" or "FAIL name: why". Returns cond. */
bool rig_check(const char *name, bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rig_skip(const char *name, const char *why);
int rig_failures(void);

/* Sets up the temp directory and the stand-ins; -1 after a FAIL line. */
int rig_setup(void);
void rig_teardown(void);
const struct tsv_table *rig_tsv(void);
const char *rig_tmpdir(void);
/* A malloc'ed path in the temp directory. */
char *rig_path(const char *name);
/* Creates (or empties) a file in the temp directory. */
void rig_touch(const char *name);

struct apple_host rig_host(unsigned major, unsigned minor, enum apple_host_arch arch);
#define RIG_HOST_DEFAULT rig_host(15, 0, APPLE_HOST_ARM64)

/* 2 CPUs, 512 MiB, a Linux boot loader with $TMP/vmlinuz. */
void rig_config_init(struct vz_vm_configuration *config);

/* Text with the temp directory replaced by $TMP (malloc'ed). */
char *rig_redact(const char *text);
/* The plan without "# " comment lines (malloc'ed). */
char *rig_plan_messages(struct engine_vm *vm);
/* Compares text (redacted) with test/apple/golden/<golden>; with
 * UPDATE_GOLDEN=1 it writes the file instead. */
bool rig_check_golden(const char *name, const char *golden, const char *text);
/* The same, but never writes: for a second text that must equal the first. */
bool rig_compare_golden(const char *name, const char *golden, const char *text);

/* Every message the stand-ins logged during the run (for table checks). */
void rig_collect_log(const char *log);
const char *rig_all_messages(void);

#endif

/* What the Apple engine needs to know about its host: the macOS version and
 * the architecture the process runs as. Classes and messages of the
 * Virtualization framework are refused when the host lacks them (see
 * messages.def); tests simulate any host. */
#ifndef VZKIT_VZ_APPLE_HOST_H
#define VZKIT_VZ_APPLE_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "flags/error.h"

struct apple_version {
	unsigned major, minor;
};

enum apple_host_arch {
	APPLE_HOST_ARM64 = 0,
	APPLE_HOST_X86_64,
};

struct apple_host {
	struct apple_version macos;
	enum apple_host_arch arch;
};

/* The running host: macOS version from sysctl kern.osproductversion and the
 * architecture this binary was built for (an x86_64 binary under Rosetta
 * sees the framework's x86_64 side). Fails on anything but macOS. */
int apple_host_detect(struct apple_host *host, struct vzk_error *err);

bool apple_version_at_least(struct apple_version have, struct apple_version need);
const char *apple_host_arch_name(enum apple_host_arch arch);
/* "14.0" -> {14, 0}; -1 when malformed. */
int apple_version_parse(const char *text, struct apple_version *out);

#endif

#include "vz/apple/host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

bool apple_version_at_least(struct apple_version have, struct apple_version need)
{
	return have.major > need.major || (have.major == need.major && have.minor >= need.minor);
}

const char *apple_host_arch_name(enum apple_host_arch arch)
{
	return arch == APPLE_HOST_ARM64 ? "arm64" : "x86_64";
}

int apple_version_parse(const char *text, struct apple_version *out)
{
	char *end;
	unsigned long major, minor = 0;

	errno = 0;
	major = strtoul(text, &end, 10);
	if (end == text || errno != 0 || major > 1000)
		return -1;
	if (*end == '.') {
		const char *minor_text = end + 1;
		minor = strtoul(minor_text, &end, 10);
		if (end == minor_text || errno != 0 || minor > 1000)
			return -1;
	}
	/* "14.5.1": the patch level does not gate anything. */
	if (*end != '\0' && *end != '.')
		return -1;
	out->major = (unsigned)major;
	out->minor = (unsigned)minor;
	return 0;
}

int apple_host_detect(struct apple_host *host, struct vzk_error *err)
{
#if defined(__APPLE__)
	char text[32] = {0};
	size_t size = sizeof(text) - 1;

	if (sysctlbyname("kern.osproductversion", text, &size, NULL, 0) != 0)
		return vzk_runtime_error(err, "cannot read the macOS version (sysctl kern.osproductversion): %s",
					 strerror(errno));
	if (apple_version_parse(text, &host->macos) != 0)
		return vzk_runtime_error(err, "cannot read the macOS version: unexpected '%s'", text);
#if defined(__aarch64__) || defined(__arm64__)
	host->arch = APPLE_HOST_ARM64;
#else
	host->arch = APPLE_HOST_X86_64;
#endif
	return 0;
#else
	(void)host;
	return vzk_usage_error(err, "the Apple Virtualization framework engine needs a macOS host");
#endif
}

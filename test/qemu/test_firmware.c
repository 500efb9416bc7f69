/* UEFI firmware through QEMU's JSON descriptors: crafted descriptor
 * directories pin the choice (the arch and machine must match, flash only,
 * secure boot and SMM-only builds passed over, the first in name order wins,
 * unreadable JSON ignored, nothing suitable is an error naming the package),
 * then the host's real /usr/share/qemu/firmware must give a non-secure build
 * whose files exist. Also the qcow2 magic check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/testlib.h"
#include "vz/qemu/host.h"
#include "vz/qemu/process.h"

static char dir[] = "/tmp/vzkit-test-firmware-XXXXXX";

static void write_text(const char *name, const char *text)
{
	char path[512];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	file = fopen(path, "w");
	if (file == NULL || fputs(text, file) < 0 || fclose(file) != 0) {
		perror(path);
		exit(2);
	}
}

/* A descriptor in QEMU's docs/interop/firmware.json format. */
static void descriptor(const char *name, const char *arch, const char *machine, const char *device,
		       const char *features, const char *code)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{\"description\": \"%s\", \"interface-types\": [\"uefi\"],\n"
		 " \"mapping\": {\"device\": \"%s\", \"executable\": {\"filename\": \"%s\", \"format\": \"raw\"},\n"
		 "   \"nvram-template\": {\"filename\": \"%s.vars\", \"format\": \"raw\"}},\n"
		 " \"targets\": [{\"architecture\": \"%s\", \"machines\": [\"%s\"]}],\n"
		 " \"features\": [%s], \"tags\": []}\n",
		 name, device, code, code, arch, machine, features);
	write_text(name, text);
}

static void check_choice(const char *name, enum qemu_arch arch, const char *want_code)
{
	struct qemu_firmware firmware;
	struct vzk_error err = {0};
	char want_vars[512];

	snprintf(want_vars, sizeof(want_vars), "%s.vars", want_code);
	int status = qemu_find_firmware(dir, arch, &firmware, &err);
	CHECK_NAMED(name, status == 0 && strcmp(firmware.code, want_code) == 0 &&
				  strcmp(firmware.vars_template, want_vars) == 0 && strcmp(firmware.format, "raw") == 0,
		    "status %d, code '%s', vars '%s' (%s)", status, firmware.code, firmware.vars_template, err.message);
}

int main(void)
{
	struct qemu_firmware firmware;
	struct vzk_error err = {0};

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	TEST_CASE("no descriptors: an error naming the package to install");
	CHECK(qemu_find_firmware(dir, QEMU_ARCH_X86_64, &firmware, &err) != 0 && strstr(err.message, "ovmf") != NULL);
	memset(&err, 0, sizeof(err));
	CHECK(qemu_find_firmware(dir, QEMU_ARCH_AARCH64, &firmware, &err) != 0 &&
	      strstr(err.message, "qemu-efi-aarch64") != NULL);

	descriptor("10-secure.json", "x86_64", "pc-q35-*", "flash", "\"secure-boot\", \"requires-smm\"", "/fw/secure");
	descriptor("20-smm-only.json", "x86_64", "pc-q35-*", "flash", "\"requires-smm\"", "/fw/smm");
	descriptor("30-memory.json", "x86_64", "pc-q35-*", "memory", "", "/fw/memory");
	descriptor("40-i440fx.json", "x86_64", "pc-i440fx-*", "flash", "", "/fw/i440fx");
	descriptor("50-arm.json", "aarch64", "virt-*", "flash", "\"verbose-static\"", "/fw/aavmf");
	write_text("55-broken.json", "{ this is not json");
	write_text("57-notes.txt", "not a descriptor");
	descriptor("60-plain.json", "x86_64", "pc-q35-*", "flash", "\"acpi-s3\", \"verbose-dynamic\"", "/fw/ovmf");
	descriptor("70-later.json", "x86_64", "pc-q35-*", "flash", "", "/fw/later");

	check_choice("x86_64: the first plain q35 flash build (no secure boot, no SMM, not i440fx or memory)",
		     QEMU_ARCH_X86_64, "/fw/ovmf");
	check_choice("aarch64: the virt build", QEMU_ARCH_AARCH64, "/fw/aavmf");

	/* The host's own descriptors, as the engine reads them. */
	memset(&err, 0, sizeof(err));
	enum qemu_arch host = qemu_host_arch();
	if (qemu_find_firmware("/usr/share/qemu/firmware", host, &firmware, &err) != 0) {
		SKIP("host firmware", "%s", err.message);
	} else {
		CHECK_NAMED("host firmware: the code file exists", access(firmware.code, R_OK) == 0, "%s", firmware.code);
		CHECK_NAMED("host firmware: the variable store template exists", access(firmware.vars_template, R_OK) == 0,
			    "%s", firmware.vars_template);
		CHECK_NAMED("host firmware: not a secure-boot build", strstr(firmware.code, "secboot") == NULL &&
								     strstr(firmware.code, ".ms.") == NULL,
			    "%s", firmware.code);
		printf("# host firmware: %s + %s (%s)\n", firmware.code, firmware.vars_template, firmware.format);
	}

	TEST_CASE("qcow2 magic: QFI\\xfb at offset 0 only");
	write_text("image.qcow2", "QFI\xfb rest of a header");
	write_text("image.raw", "RAW disk that mentions QFI\xfb later");
	write_text("short.img", "QF");
	char path[512];
	snprintf(path, sizeof(path), "%s/image.qcow2", dir);
	CHECK(qemu_image_is_qcow2(path) == 1);
	snprintf(path, sizeof(path), "%s/image.raw", dir);
	CHECK(qemu_image_is_qcow2(path) == 0);
	snprintf(path, sizeof(path), "%s/short.img", dir);
	CHECK(qemu_image_is_qcow2(path) == 0);
	snprintf(path, sizeof(path), "%s/missing.img", dir);
	CHECK(qemu_image_is_qcow2(path) == 0);

	remove_tree(dir);
	TEST_EXIT();
}

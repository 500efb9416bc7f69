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

	/* Images qemu-img makes pass the header check; broken ones say why. */
	if (system("command -v qemu-img >/dev/null") == 0) {
		static const struct {
			const char *name, *options;
		} made[] = {
			{"v3.qcow2", "-o compat=1.1"}, {"v2.qcow2", "-o compat=0.10"}, {"big-cluster.qcow2", "-o cluster_size=2M"},
			{"prealloc.qcow2", "-o preallocation=metadata"}, {"small-cluster.qcow2", "-o cluster_size=512"},
		};
		for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
			char command[1200], name[160];
			snprintf(path, sizeof(path), "%s/%s", dir, made[i].name);
			snprintf(command, sizeof(command), "qemu-img create -q -f qcow2 %s '%s' 64M", made[i].options, path);
			snprintf(name, sizeof(name), "qcow2 header: qemu-img's %s passes", made[i].name);
			CHECK_NAMED(name, system(command) == 0 && qemu_qcow2_header_problem(path) == NULL, "%s: %s", path,
				    qemu_qcow2_header_problem(path) ? qemu_qcow2_header_problem(path) : "qemu-img failed");
		}
		snprintf(path, sizeof(path), "%s/backed.qcow2", dir);
		char command[1200];
		snprintf(command, sizeof(command), "qemu-img create -q -f qcow2 -b '%s/v3.qcow2' -F qcow2 '%s'", dir, path);
		CHECK_NAMED("qcow2 header: an image with a backing file passes", system(command) == 0 && qemu_qcow2_header_problem(path) == NULL,
			    "%s", qemu_qcow2_header_problem(path) ? qemu_qcow2_header_problem(path) : "qemu-img failed");
		/* cut short after the header: the tables are gone */
		snprintf(command, sizeof(command), "head -c 200 '%s/v3.qcow2' > '%s/cut.qcow2'", dir, dir);
		snprintf(path, sizeof(path), "%s/cut.qcow2", dir);
		CHECK_NAMED("qcow2 header: an image cut after its header is refused",
			    system(command) == 0 && qemu_qcow2_header_problem(path) != NULL &&
				    strcmp(qemu_qcow2_header_problem(path), "refcount table beyond the end of the file") == 0,
			    "%s", qemu_qcow2_header_problem(path) ? qemu_qcow2_header_problem(path) : "accepted");
	} else {
		SKIP("qcow2 header: images made by qemu-img", "qemu-img is not installed");
	}
	snprintf(path, sizeof(path), "%s/image.qcow2", dir);
	CHECK_NAMED("qcow2 header: the magic and a few bytes are refused",
		    qemu_qcow2_header_problem(path) != NULL && strcmp(qemu_qcow2_header_problem(path), "shorter than a qcow2 header") == 0,
		    "%s", qemu_qcow2_header_problem(path) ? qemu_qcow2_header_problem(path) : "accepted");
	{
		unsigned char header[104] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 4};
		FILE *out;
		snprintf(path, sizeof(path), "%s/v4.qcow2", dir);
		out = fopen(path, "wb");
		if (out != NULL) {
			fwrite(header, 1, sizeof(header), out);
			fclose(out);
		}
		CHECK_NAMED("qcow2 header: version 4 is refused",
			    qemu_qcow2_header_problem(path) != NULL && strcmp(qemu_qcow2_header_problem(path), "version is not 2 or 3") == 0,
			    "%s", qemu_qcow2_header_problem(path) ? qemu_qcow2_header_problem(path) : "accepted");
		header[7] = 3;
		header[23] = 30; /* cluster_bits */
		out = fopen(path, "wb");
		if (out != NULL) {
			fwrite(header, 1, sizeof(header), out);
			fclose(out);
		}
		CHECK_NAMED("qcow2 header: a cluster size of 1 GiB is refused",
			    qemu_qcow2_header_problem(path) != NULL && strcmp(qemu_qcow2_header_problem(path), "cluster size out of range") == 0,
			    "%s", qemu_qcow2_header_problem(path) ? qemu_qcow2_header_problem(path) : "accepted");
	}

	remove_tree(dir);
	TEST_EXIT();
}

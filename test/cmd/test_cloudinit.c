/* --cloud-init (cmd/services/cloudinit.c): the NoCloud ISO read back with xorriso
 * (volume id "cidata", the files under their own names with their contents),
 * its errors, and cloud_init_disk_create's disk and stale-ISO cleanup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/services/cloudinit.h"
#include "test/testlib.h"
#include "vz/vz.h"

static char scratch[64];

/* A path in the scratch folder; each call's string lives until the end. */
static const char *path_in(const char *name)
{
	static char buf[64][512];
	static int next;
	char *out = buf[next++ % 64];
	snprintf(out, 512, "%s/%s", scratch, name);
	return out;
}

static bool write_text(const char *path, const char *text)
{
	FILE *out = fopen(path, "w");
	if (out == NULL)
		return false;
	fputs(text, out);
	return fclose(out) == 0;
}

static char *read_text(const char *path)
{
	FILE *in = fopen(path, "r");
	char *text = NULL;
	size_t size = 0;

	if (in == NULL)
		return NULL;
	if (getdelim(&text, &size, '\0', in) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(in);
	return text;
}

/* The output of a shell command (stderr included). */
static char *run(const char *command)
{
	FILE *pipe = popen(command, "r");
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	int c;

	if (pipe == NULL) {
		fclose(out);
		free(text);
		return NULL;
	}
	while ((c = getc(pipe)) != EOF)
		putc(c, out);
	pclose(pipe);
	fclose(out);
	return text;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static const char user_data[] = "#cloud-config\nhostname: vzkit-test\nusers:\n  - name: core\n";
static const char meta_data[] = "instance-id: iid-vzkit-1\nlocal-hostname: vzkit-test\n";
static const char network_config[] = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";

static char input_paths[3][512];

static void test_write_iso(void)
{
	char *paths[3] = {input_paths[0], input_paths[1], input_paths[2]};
	const char *iso = path_in("seed.iso");
	struct vzk_error err = {0};
	char command[1024];
	char *output;
	struct stat st;


	TEST_CASE("cloud_init_write_iso writes an ISO");
	CHECK(cloud_init_write_iso(paths, 3, iso, &err) == 0);
	CHECK(stat(iso, &st) == 0 && st.st_size > 0 && st.st_size % 2048 == 0);

	snprintf(command, sizeof(command), "xorriso -indev '%s' -pvd_info 2>&1", iso);
	output = run(command);
	CHECK_NAMED("cloud-init ISO volume id is cidata", output != NULL && strstr(output, "Volume Id    : cidata\n") != NULL,
		    "xorriso says:\n%s", output ? output : "(nothing)");
	free(output);

	snprintf(command, sizeof(command), "xorriso -indev '%s' -find / -type f 2>/dev/null | sort", iso);
	output = run(command);
	CHECK_NAMED("cloud-init ISO holds exactly the three files under their names",
		    output != NULL && strcmp(output, "'/meta-data'\n'/network-config'\n'/user-data'\n") == 0, "files:\n%s",
		    output ? output : "(nothing)");
	free(output);

	snprintf(command, sizeof(command), "osirrox -indev '%s' -extract / '%s' >/dev/null 2>&1 && echo extracted", iso,
		 path_in("out"));
	output = run(command);
	CHECK_NAMED("osirrox extracts the ISO", output != NULL && strcmp(output, "extracted\n") == 0, "%s", output ? output : "");
	free(output);
	{
		char *got_user = read_text(path_in("out/user-data"));
		char *got_meta = read_text(path_in("out/meta-data"));
		char *got_net = read_text(path_in("out/network-config"));
		TEST_CASE("cloud-init ISO file contents");
		CHECK_STR(got_user, user_data);
		CHECK_STR(got_meta, meta_data);
		CHECK_STR(got_net, network_config);
		free(got_user);
		free(got_meta);
		free(got_net);
	}

	{
		/* user-data alone: vfkit's disk has an empty meta-data beside it */
		char *only_user[1] = {input_paths[0]};
		const char *lone = path_in("lone.iso");
		char *files, *meta;
		TEST_CASE("cloud_init_write_iso: user-data alone gets an empty meta-data");
		CHECK(cloud_init_write_iso(only_user, 1, lone, &err) == 0);
		snprintf(command, sizeof(command), "xorriso -indev '%s' -find / -type f 2>/dev/null | sort", lone);
		files = run(command);
		CHECK_NAMED("cloud-init ISO of user-data alone holds user-data and meta-data",
			    files != NULL && strcmp(files, "'/meta-data'\n'/user-data'\n") == 0, "files:\n%s", files ? files : "");
		free(files);
		snprintf(command, sizeof(command), "osirrox -indev '%s' -extract / '%s' >/dev/null 2>&1 && echo extracted", lone,
			 path_in("lone"));
		free(run(command));
		meta = read_text(path_in("lone/meta-data"));
		CHECK_NAMED("cloud-init ISO of user-data alone: meta-data is empty", meta != NULL && meta[0] == '\0', "%s",
			    meta ? meta : "(unreadable)");
		free(meta);
	}

	TEST_CASE("cloud_init_write_iso: a missing input file is a usage error and writes nothing");
	{
		char *bad[2] = {paths[0], (char *)path_in("nothing/meta-data")};
		CHECK(cloud_init_write_iso(bad, 2, path_in("bad.iso"), &err) == -1);
		CHECK(err.kind == VZK_ERR_USAGE && strstr(err.message, "--cloud-init: ") != NULL &&
		      strstr(err.message, "nothing/meta-data is not a readable file") != NULL);
		CHECK(!exists(path_in("bad.iso")));
	}
	TEST_CASE("cloud_init_write_iso: a folder as input is a usage error");
	{
		char *bad[2] = {paths[0], scratch};
		CHECK(cloud_init_write_iso(bad, 2, path_in("bad.iso"), &err) == -1 && err.kind == VZK_ERR_USAGE);
		CHECK(!exists(path_in("bad.iso")));
	}
	TEST_CASE("cloud_init_write_iso: never overwrites or removes an existing file");
	write_text(path_in("taken.iso"), "not ours");
	CHECK(cloud_init_write_iso(paths, 2, path_in("taken.iso"), &err) == -1);
	CHECK(err.kind == VZK_ERR_RUNTIME && strstr(err.message, "File exists") != NULL);
	{
		char *kept = read_text(path_in("taken.iso"));
		CHECK_STR(kept, "not ours");
		free(kept);
	}
	TEST_CASE("cloud_init_write_iso: an output folder that does not exist");
	CHECK(cloud_init_write_iso(paths, 2, path_in("nodir/x.iso"), &err) == -1 && err.kind == VZK_ERR_RUNTIME);
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void test_disk_create(void)
{
	char *paths[2] = {input_paths[0], input_paths[1]};
	struct vz_vm_configuration vz = {0};
	struct cloud_init_disk *disk = NULL;
	struct vzk_error err = {0};
	char stale[128], live[128], mine[600];
	const char *kept_names[] = {"vzkit-cloudinit-abc.iso", "vzkit-cloudinit-12.iso.keep", "other-1.iso"};

	mkdir(path_in("tmp"), 0700);
	setenv("TMPDIR", path_in("tmp"), 1);
	snprintf(stale, sizeof(stale), "tmp/vzkit-cloudinit-%ld.iso", (long)dead_pid());
	snprintf(live, sizeof(live), "tmp/vzkit-cloudinit-%ld.iso", (long)getppid());
	write_text(path_in(stale), "stale");
	write_text(path_in(live), "live");
	for (size_t i = 0; i < 3; i++) {
		char name[128];
		snprintf(name, sizeof(name), "tmp/%s", kept_names[i]);
		write_text(path_in(name), "keep");
	}
	snprintf(mine, sizeof(mine), "%s/tmp/vzkit-cloudinit-%ld.iso", scratch, (long)getpid());

	TEST_CASE("cloud_init_disk_add plans the disk and writes nothing");
	CHECK(cloud_init_disk_add(paths, 2, &vz, &err) == 0);
	CHECK(vz.cloud_init_file_count == 2 && vz.cloud_init_disk_index == 0 && !exists(mine));
	CHECK_NAMED("nothing removed at plan time", exists(path_in(stale)), "%s removed by a plan", stale);
	TEST_CASE("cloud_init_disk_create");
	CHECK(cloud_init_disk_create(&vz, &disk, &err) == 0);
	CHECK(disk != NULL);
	CHECK_NAMED("stale ISO of a dead vzkit removed", !exists(path_in(stale)), "%s still there", stale);
	CHECK_NAMED("ISO of a live process kept", exists(path_in(live)), "%s removed", live);
	for (size_t i = 0; i < 3; i++) {
		char name[128];
		snprintf(name, sizeof(name), "tmp/%s", kept_names[i]);
		CHECK_NAMED(kept_names[i], exists(path_in(name)), "an unrelated file was removed");
	}
	TEST_CASE("cloud_init_disk_create: the disk is a read-only virtio-blk image in TMPDIR");
	CHECK(disk != NULL && strcmp(cloud_init_disk_path(disk), mine) == 0);
	CHECK(exists(mine));
	CHECK(vz.storage_device_count == 1);
	CHECK(vz.storage_device_count == 1 && vz.storage_devices[0].kind == VZ_STORAGE_VIRTIO_BLOCK &&
	      vz.storage_devices[0].attachment.kind == VZ_STORAGE_ATTACHMENT_DISK_IMAGE &&
	      vz.storage_devices[0].attachment.read_only && strcmp(vz.storage_devices[0].attachment.path, mine) == 0);
	TEST_CASE("cloud_init_disk_free removes the ISO");
	cloud_init_disk_free(disk);
	CHECK(!exists(mine));
	cloud_init_disk_free(NULL);
	vz_vm_configuration_free(&vz);

	TEST_CASE("cloud_init_disk_create replaces its own leftover ISO");
	write_text(mine, "left over from an earlier run with this pid");
	disk = NULL;
	CHECK(cloud_init_disk_add(paths, 2, &vz, &err) == 0 && cloud_init_disk_create(&vz, &disk, &err) == 0);
	{
		struct stat st;
		CHECK(stat(mine, &st) == 0 && st.st_size % 2048 == 0 && st.st_size > 2048);
	}
	cloud_init_disk_free(disk);
	vz_vm_configuration_free(&vz);

	TEST_CASE("cloud_init_disk_create: a missing file fails and leaves no ISO");
	{
		char *bad[2] = {paths[0], (char *)path_in("gone/meta-data")};
		disk = NULL;
		CHECK(cloud_init_disk_add(bad, 2, &vz, &err) == 0);
		CHECK(cloud_init_disk_create(&vz, &disk, &err) == -1 && err.kind == VZK_ERR_USAGE);
		CHECK(disk == NULL);
		CHECK(!exists(mine));
		vz_vm_configuration_free(&vz);
	}
	TEST_CASE("no cloud-init: no disk, nothing created");
	{
		struct vz_vm_configuration empty = {0};
		CHECK(cloud_init_disk_add(paths, 0, &empty, &err) == 0 && empty.storage_device_count == 0);
		CHECK(cloud_init_disk_create(&empty, &disk, &err) == 0 && disk == NULL);
	}
	unsetenv("TMPDIR");
}

int main(void)
{
	char command[128];

	snprintf(scratch, sizeof(scratch), "/tmp/vzkit-citest.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		CHECK_NAMED("scratch folder", false, "mkdtemp: %s", strerror(errno));
		TEST_EXIT();
	}
	snprintf(input_paths[0], sizeof(input_paths[0]), "%s/user-data", scratch);
	snprintf(input_paths[1], sizeof(input_paths[1]), "%s/meta-data", scratch);
	snprintf(input_paths[2], sizeof(input_paths[2]), "%s/network-config", scratch);
	write_text(input_paths[0], user_data);
	write_text(input_paths[1], meta_data);
	write_text(input_paths[2], network_config);
	if (system("command -v xorriso >/dev/null && command -v osirrox >/dev/null") != 0) {
		SKIP("cloud-init ISO", "xorriso/osirrox not installed (Debian package xorriso)");
	} else {
		test_write_iso();
	}
	test_disk_create();
	snprintf(command, sizeof(command), "rm -rf '%s'", scratch);
	if (system(command) != 0)
		printf("# could not remove %s\n", scratch);
	TEST_EXIT();
}

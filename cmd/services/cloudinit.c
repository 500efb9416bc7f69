#include "cmd/services/cloudinit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* We use libisofs without libburn: this exposes its copy of struct burn_source. */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

struct cloud_init_disk {
	char path[4096];
};

static const char *temp_dir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir != NULL && dir[0] == '/' ? dir : "/tmp";
}

/* ISOs named vzkit-cloudinit-PID.iso whose PID no longer runs are leftovers of
 * a killed vzkit. */
static void remove_stale_isos(const char *dir)
{
	DIR *listing = opendir(dir);
	struct dirent *entry;

	if (listing == NULL)
		return;
	while ((entry = readdir(listing)) != NULL) {
		long pid;
		char tail[8];
		char path[4096];
		if (sscanf(entry->d_name, "vzkit-cloudinit-%ld%7s", &pid, tail) != 2 || strcmp(tail, ".iso") != 0)
			continue;
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		unlink(path);
	}
	closedir(listing);
}

static int iso_failure(struct vzk_error *err, const char *what, int code)
{
	return vzk_runtime_error(err, "--cloud-init: %s failed (libisofs error 0x%x)", what, (unsigned)code);
}

int cloud_init_write_iso(char *const *paths, size_t count, const char *iso_path,
			 struct vzk_error *err)
{
	IsoImage *image = NULL;
	IsoWriteOpts *opts = NULL;
	struct burn_source *burn = NULL;
	unsigned char block[2048];
	FILE *out = NULL;
	bool created = false; /* iso_path is ours to remove on failure */
	int status = -1;
	int code;

	for (size_t i = 0; i < count; i++) {
		struct stat st;
		if (stat(paths[i], &st) != 0 || !S_ISREG(st.st_mode))
			return vzk_usage_error(err, "--cloud-init: %s is not a readable file", paths[i]);
	}
	if ((code = iso_init()) < 0)
		return iso_failure(err, "iso_init", code);
	iso_set_msgs_severities("NEVER", "FATAL", "vzkit");
	if ((code = iso_image_new("cidata", &image)) < 0) {
		iso_failure(err, "creating the image", code);
		goto out;
	}
	iso_image_set_volume_id(image, "cidata");
	for (size_t i = 0; i < count; i++) {
		const char *base = strrchr(paths[i], '/') != NULL ? strrchr(paths[i], '/') + 1 : paths[i];
		if ((code = iso_tree_add_new_node(image, iso_image_get_root(image), base, paths[i], NULL)) < 0) {
			vzk_runtime_error(err, "--cloud-init: cannot add %s (libisofs error 0x%x)", paths[i], (unsigned)code);
			goto out;
		}
	}
	/* NoCloud needs both user-data and meta-data: the one not given is an
	 * empty file, as vfkit makes it. */
	for (int n = 0; n < 2; n++) {
		const char *name = n == 0 ? "user-data" : "meta-data";
		bool given = false;
		IsoStream *stream = NULL;
		unsigned char *empty;
		for (size_t i = 0; i < count; i++) {
			const char *base = strrchr(paths[i], '/') != NULL ? strrchr(paths[i], '/') + 1 : paths[i];
			given |= strcmp(base, name) == 0;
		}
		if (given)
			continue;
		if ((empty = malloc(1)) == NULL) {
			vzk_runtime_error(err, "out of memory");
			goto out;
		}
		if ((code = iso_memory_stream_new(empty, 0, &stream)) < 0) {
			free(empty);
			iso_failure(err, "an empty file", code);
			goto out;
		}
		if ((code = iso_image_add_new_file(image, iso_image_get_root(image), name, stream, NULL)) < 0) {
			iso_stream_unref(stream);
			iso_failure(err, "adding an empty file", code);
			goto out;
		}
	}
	/* Rock Ridge and Joliet keep the names "user-data"/"meta-data" as they are. */
	if ((code = iso_write_opts_new(&opts, 0)) < 0) {
		iso_failure(err, "write options", code);
		goto out;
	}
	iso_write_opts_set_rockridge(opts, 1);
	iso_write_opts_set_joliet(opts, 1);
	/* Keep the volume id "cidata" as written (ISO 9660 alone would make it
	 * "CIDATA"), as genisoimage -V cidata does. */
	iso_write_opts_set_relaxed_vol_atts(opts, 1);
	if ((code = iso_image_create_burn_source(image, opts, &burn)) < 0) {
		iso_failure(err, "starting the image", code);
		goto out;
	}
	out = fopen(iso_path, "wbx");
	if (out == NULL) {
		vzk_runtime_error(err, "--cloud-init: %s: %s", iso_path, strerror(errno));
		goto out;
	}
	created = true;
	while ((code = burn->read_xt(burn, block, sizeof(block))) == (int)sizeof(block)) {
		if (fwrite(block, 1, sizeof(block), out) != sizeof(block)) {
			vzk_runtime_error(err, "--cloud-init: writing %s: %s", iso_path, strerror(errno));
			goto out;
		}
	}
	if (code < 0) {
		iso_failure(err, "writing the image", code);
		goto out;
	}
	if (fclose(out) != 0) {
		out = NULL;
		vzk_runtime_error(err, "--cloud-init: writing %s: %s", iso_path, strerror(errno));
		goto out;
	}
	out = NULL;
	status = 0;
out:
	if (out != NULL)
		fclose(out);
	if (status != 0 && created)
		unlink(iso_path);
	if (burn != NULL) {
		burn->free_data(burn);
		free(burn);
	}
	iso_write_opts_free(opts);
	if (image != NULL)
		iso_image_unref(image);
	iso_finish();
	return status;
}

int cloud_init_disk_add(char *const *paths, size_t count, struct vz_vm_configuration *vz, struct vzk_error *err)
{
	struct vz_storage_device *device;
	char path[4096];

	if (count == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/vzkit-cloudinit-%ld.iso", temp_dir(), (long)getpid());
	vz->cloud_init_files = calloc(count, sizeof(char *));
	if (vz->cloud_init_files == NULL)
		return vzk_runtime_error(err, "out of memory");
	for (size_t i = 0; i < count; i++) {
		if ((vz->cloud_init_files[i] = strdup(paths[i])) == NULL)
			return vzk_runtime_error(err, "out of memory");
		vz->cloud_init_file_count++;
	}
	device = vz_add_storage_device(vz);
	if (device == NULL || (device->attachment.path = strdup(path)) == NULL)
		return vzk_runtime_error(err, "out of memory");
	device->kind = VZ_STORAGE_VIRTIO_BLOCK;
	device->attachment.kind = VZ_STORAGE_ATTACHMENT_DISK_IMAGE;
	device->attachment.read_only = true;
	device->attachment.sync_mode = VZ_DISK_SYNC_FULL;
	vz->cloud_init_disk_index = vz->storage_device_count - 1;
	return 0;
}

int cloud_init_disk_create(const struct vz_vm_configuration *vz, struct cloud_init_disk **out, struct vzk_error *err)
{
	struct cloud_init_disk *disk;

	*out = NULL;
	if (vz->cloud_init_file_count == 0)
		return 0;
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL)
		return vzk_runtime_error(err, "out of memory");
	remove_stale_isos(temp_dir());
	snprintf(disk->path, sizeof(disk->path), "%s", vz->storage_devices[vz->cloud_init_disk_index].attachment.path);
	unlink(disk->path); /* ours from an earlier run in this pid: it cannot be in use */
	if (cloud_init_write_iso(vz->cloud_init_files, vz->cloud_init_file_count, disk->path, err) != 0) {
		free(disk);
		return -1;
	}
	*out = disk;
	return 0;
}

const char *cloud_init_disk_path(const struct cloud_init_disk *disk)
{
	return disk->path;
}

void cloud_init_disk_free(struct cloud_init_disk *disk)
{
	if (disk == NULL)
		return;
	unlink(disk->path);
	free(disk);
}

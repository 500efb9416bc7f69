/* virtio-fs devices: one host directory (VZSharedDirectory in a
 * VZSingleDirectoryShare), or Rosetta's directory (VZLinuxRosettaDirectoryShare,
 * checked for availability and optionally installed first). */
#include "vz/apple/completion.h"
#include "vz/apple/translate.h"

/* VZLinuxRosettaAvailability (Apple's headers; see doc/apple-engine.md). */
enum {
	VZ_ROSETTA_NOT_SUPPORTED = 0,
	VZ_ROSETTA_NOT_INSTALLED = 1,
	VZ_ROSETTA_INSTALLED = 2,
};

static id file_system_device(struct apple_builder *b, const char *tag, id share)
{
	id device, tag_string = apple_nsstring(b, tag);

	if (tag_string == nil)
		return nil;
	device = apple_new(b, C_VZVirtioFileSystemDeviceConfiguration, M_FS_INIT_TAG, apple_arg_object(tag_string));
	if (device == nil || apple_call(b, M_FS_SET_SHARE, device, apple_arg_object(share)) != 0)
		return nil;
	return device;
}

static int validate_tag(struct apple_builder *b, const char *tag)
{
	id cls = apple_class(b, C_VZVirtioFileSystemDeviceConfiguration);
	id tag_string = apple_nsstring(b, tag);

	if (cls == nil || tag_string == nil)
		return -1;
	if (apple_call(b, M_FS_VALIDATE_TAG, cls, apple_arg_object(tag_string), apple_arg_error_out()) != 0)
		return vzk_error_prefix(apple_builder_error(b), "mountTag '%s'", tag);
	return 0;
}

static id single_directory(struct apple_builder *b, const struct vz_directory_share *share)
{
	id url, directory, single;

	if (validate_tag(b, share->tag) != 0)
		return nil;
	url = apple_file_url(b, share->directory);
	if (url == nil)
		return nil;
	directory = apple_new(b, C_VZSharedDirectory, M_SHARED_DIRECTORY_INIT, apple_arg_object(url),
			      apple_arg_bool(share->read_only));
	if (directory == nil)
		return nil;
	single = apple_new(b, C_VZSingleDirectoryShare, M_SINGLE_SHARE_INIT, apple_arg_object(directory));
	if (single == nil)
		return nil;
	return file_system_device(b, share->tag, single);
}

/* Runs the installer and waits for it (the user may be asked to agree). */
static int install_rosetta(struct apple_builder *b, id cls)
{
	struct apple_completion installed;
	struct apple_completion *done = &installed;
	int status;

	apple_completion_init(&installed);
	status = apple_call(b, M_ROSETTA_INSTALL, cls,
			    apple_arg_block((void *)^(id error) { apple_completion_finish(done, error); }));
	if (status == 0 && !apple_planning(b)) {
		apple_completion_wait(&installed);
		if (installed.failed)
			status = vzk_runtime_error(apple_builder_error(b), "installing Rosetta failed: %s", installed.message);
	}
	apple_completion_destroy(&installed);
	return status;
}

/* 0 with *usable: Rosetta is there (installing it when asked); 0 with
 * !*usable: it is not, and ignore-if-missing says to go on without it. */
static int rosetta_ready(struct apple_builder *b, const struct vz_directory_share *share, id cls, bool *usable)
{
	struct vzk_error *err = apple_builder_error(b);
	union apple_value availability;

	*usable = false;
	if (apple_ask(b, M_ROSETTA_AVAILABILITY, cls, &availability) != 0)
		return -1;
	if (availability.integer == VZ_ROSETTA_NOT_INSTALLED && share->rosetta_install) {
		if (install_rosetta(b, cls) != 0) {
			if (!share->rosetta_ignore_if_missing)
				return -1;
			apple_warn(b, "--device rosetta %s: Rosetta could not be installed (%s); going on without the share "
				      "(ignore-if-missing)", share->tag, apple_builder_error(b)->message);
			return 0;
		}
		/* While planning, assume the installer succeeds. */
		if (apple_planning(b))
			availability.integer = VZ_ROSETTA_INSTALLED;
		else if (apple_ask(b, M_ROSETTA_AVAILABILITY, cls, &availability) != 0)
			return -1;
	}
	if (availability.integer == VZ_ROSETTA_INSTALLED) {
		*usable = true;
		return 0;
	}
	if (share->rosetta_ignore_if_missing) {
		apple_warn(b, "--device rosetta %s: Rosetta is %s; going on without the share (ignore-if-missing)",
			   share->tag,
			   availability.integer == VZ_ROSETTA_NOT_SUPPORTED ? "not supported on this host" : "not installed");
		return 0;
	}
	if (availability.integer == VZ_ROSETTA_NOT_SUPPORTED)
		return vzk_usage_error(err, "Rosetta is not supported on this host");
	return vzk_usage_error(err, "Rosetta is not installed (add install to install it, or ignore-if-missing)");
}

static int rosetta(struct apple_builder *b, const struct vz_directory_share *share, id *out)
{
	id cls = apple_class(b, C_VZLinuxRosettaDirectoryShare);
	bool usable;
	id directory;

	if (cls == nil || rosetta_ready(b, share, cls, &usable) != 0)
		return -1;
	if (!usable)
		return 0;
	if (validate_tag(b, share->tag) != 0)
		return -1;
	directory = apple_new(b, C_VZLinuxRosettaDirectoryShare, M_ROSETTA_INIT, apple_arg_error_out());
	if (directory == nil)
		return -1;
	*out = file_system_device(b, share->tag, directory);
	return *out == nil ? -1 : 0;
}

int apple_directory_share(struct apple_builder *b, const struct vz_directory_share *share, id *out)
{
	struct vzk_error *err = apple_builder_error(b);

	*out = nil;
	if (share->kind == VZ_SHARE_ROSETTA) {
		if (rosetta(b, share, out) != 0)
			return vzk_error_prefix(err, "--device rosetta %s", share->tag);
		return 0;
	}
	if ((*out = single_directory(b, share)) == nil)
		return vzk_error_prefix(err, "--device virtio-fs %s", share->directory);
	return 0;
}

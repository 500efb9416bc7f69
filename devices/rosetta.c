/* --device rosetta: Apple's Rosetta translator shared into an arm64 Linux guest
 * (VZLinuxRosettaDirectoryShare on a virtio-fs device). Apple silicon only. */
#include <string.h>

#include "devices/registry.h"
#include "vz/vz.h"

struct rosetta_config {
	char *mount_tag;
	bool install;
	bool ignore_if_missing;
};

static const struct key_spec rosetta_keys[] = {
	{.name = "mountTag", .kind = KEY_STRING, .offset = offsetof(struct rosetta_config, mount_tag),
	 .help = "tag the guest mounts", .required = true, .json_name = "mountTag"},
	{.name = "install", .kind = KEY_BOOL, .offset = offsetof(struct rosetta_config, install),
	 .help = "install Rosetta when it is missing", .json_name = "installRosetta"},
	{.name = "ignore-if-missing", .kind = KEY_BOOL,
	 .offset = offsetof(struct rosetta_config, ignore_if_missing),
	 .help = "warn and go on without it when Rosetta is unavailable", .json_name = "ignoreIfMissing"},
};

static int rosetta_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	const struct rosetta_config *rosetta = config;
	(void)given;
	return check_mount_tag(rosetta->mount_tag, what, err);
}

static int rosetta_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
			struct vzk_error *err)
{
	const struct rosetta_config *rosetta = config;
	struct vz_directory_share *share = vz_add_directory_share(vz);

	(void)given;
	if (share == NULL || (share->tag = strdup(rosetta->mount_tag)) == NULL)
		return vzk_runtime_error(err, "out of memory");
	share->kind = VZ_SHARE_ROSETTA;
	share->rosetta_install = rosetta->install;
	share->rosetta_ignore_if_missing = rosetta->ignore_if_missing;
	return 0;
}

const struct component_ops rosetta_device = {
	.name = "rosetta",
	.json_kind = "rosetta",
	.summary = "Rosetta x86_64 translation for arm64 Linux guests (Apple silicon)",
	.keys = {rosetta_keys, sizeof(rosetta_keys) / sizeof(rosetta_keys[0])},
	.config_size = sizeof(struct rosetta_config),
	.check = rosetta_check,
	.emit = rosetta_emit,
};

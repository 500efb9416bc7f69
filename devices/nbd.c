/* --device nbd: a disk served by an NBD server
 * (VZNetworkBlockDeviceStorageDeviceAttachment on a virtio block device). */
#include <string.h>
#include <strings.h>

#include "devices/registry.h"
#include "devices/storage.h"
#include "flags/nbd_uri.h"
#include "vz/vz.h"

struct nbd_config {
	char *uri;
	char *device_id;
	uint64_t timeout_ms;
	int sync; /* index in sync_choices */
	bool read_only;
};

static const char *const sync_choices[] = {"full", "none", NULL};

#define NBD_MAX_TIMEOUT_MS 86400000u
#define NANOSECONDS_PER_MS 1000000u

static const struct key_spec nbd_keys[] = {
	{.name = "uri", .kind = KEY_STRING, .offset = offsetof(struct nbd_config, uri),
	 .help = "nbd://host[:port]/export, nbds://..., or nbd+unix:///export?socket=PATH",
	 .required = true, .json_name = "uri"},
	/* vfkit's NetworkBlockDevice has no JSON tags on these three: Go writes
	 * the field names, DeviceIdentifier even when empty (nbd_json_out). */
	{.name = "deviceId", .kind = KEY_STRING, .offset = offsetof(struct nbd_config, device_id),
	 .help = "identifier the guest sees, up to 20 characters", .json_name = "DeviceIdentifier"},
	/* JSON "Timeout" is a Go time.Duration (nanoseconds): nbd_json_in/out. */
	{.name = "timeout", .kind = KEY_UINT, .offset = offsetof(struct nbd_config, timeout_ms),
	 .help = "connection timeout in milliseconds (default 15000)", .min = 1, .max = NBD_MAX_TIMEOUT_MS},
	{.name = "sync", .kind = KEY_ENUM, .offset = offsetof(struct nbd_config, sync),
	 .help = "how writes reach the server: full (default) or none", .choices = sync_choices,
	 .json_name = "SynchronizationMode"},
	{.name = "readonly", .kind = KEY_BOOL, .offset = offsetof(struct nbd_config, read_only),
	 .help = "the guest cannot write to the disk", .json_name = "readOnly"},
};

static int nbd_check(void *config, key_set_mask *given, const char *what, struct vzk_error *err)
{
	struct nbd_config *nbd = config;
	struct nbd_uri parsed;

	if (nbd_uri_parse(nbd->uri, what, &parsed, err) != 0)
		return -1;
	if (check_block_device_identifier(nbd->device_id, what, err) != 0)
		return -1;
	if (!component_given(&nbd_device, *given, "timeout")) {
		nbd->timeout_ms = 15000;
		component_mark_given(&nbd_device, given, "timeout");
	}
	if (!component_given(&nbd_device, *given, "sync")) {
		nbd->sync = 0;
		component_mark_given(&nbd_device, given, "sync");
	}
	return 0;
}

/* vfkit writes the timeout as a Go time.Duration: an integer of nanoseconds. */
static int nbd_json_in(void *config, key_set_mask *given, const char *field, json_t *value, const char *what,
		       struct vzk_error *err)
{
	struct nbd_config *nbd = config;
	json_int_t nanoseconds;

	if (strcasecmp(field, "timeout") != 0)
		return 0;
	if (!json_is_integer(value) || (nanoseconds = json_integer_value(value)) <= 0 ||
	    nanoseconds % NANOSECONDS_PER_MS != 0 || nanoseconds / NANOSECONDS_PER_MS > NBD_MAX_TIMEOUT_MS)
		return vzk_usage_error(err, "%s: field 'timeout' must be nanoseconds, a whole number of milliseconds from 1 to %u",
				       what, NBD_MAX_TIMEOUT_MS);
	nbd->timeout_ms = (uint64_t)nanoseconds / NANOSECONDS_PER_MS;
	component_mark_given(&nbd_device, given, "timeout");
	return 1;
}

/* DeviceIdentifier ("" when unset), Timeout and SynchronizationMode after
 * uri, in the order of vfkit's struct. */
static int nbd_json_out(const void *config, key_set_mask given, json_t *object)
{
	const struct nbd_config *nbd = config;
	json_t *sync = json_incref(json_object_get(object, "SynchronizationMode"));
	int status = 0;

	json_object_del(object, "DeviceIdentifier");
	json_object_del(object, "SynchronizationMode");
	status |= json_object_set_new(object, "DeviceIdentifier", json_string(nbd->device_id != NULL ? nbd->device_id : ""));
	if (component_given(&nbd_device, given, "timeout"))
		status |= json_object_set_new(object, "Timeout",
					      json_integer((json_int_t)(nbd->timeout_ms * NANOSECONDS_PER_MS)));
	if (sync != NULL)
		status |= json_object_set_new(object, "SynchronizationMode", sync);
	return status;
}

static int nbd_emit(const void *config, key_set_mask given, struct vz_vm_configuration *vz,
		    struct vzk_error *err)
{
	const struct nbd_config *nbd = config;
	struct vz_storage_device *device = vz_add_storage_device(vz);

	(void)given;
	if (device == NULL)
		return vzk_runtime_error(err, "out of memory");
	device->kind = VZ_STORAGE_VIRTIO_BLOCK;
	device->attachment.kind = VZ_STORAGE_ATTACHMENT_NBD;
	device->attachment.url = component_strdup(nbd->uri);
	device->attachment.read_only = nbd->read_only;
	device->attachment.timeout_ms = nbd->timeout_ms;
	device->attachment.sync_mode = nbd->sync == 0 ? VZ_DISK_SYNC_FULL : VZ_DISK_SYNC_NONE;
	device->block_device_identifier = component_strdup(nbd->device_id);
	if (device->attachment.url == NULL)
		return vzk_runtime_error(err, "out of memory");
	return 0;
}

const struct component_ops nbd_device = {
	.name = "nbd",
	.json_kind = "nbd",
	.dev_name = "nbd",
	.summary = "disk served by a network block device (NBD) server",
	.keys = {nbd_keys, sizeof(nbd_keys) / sizeof(nbd_keys[0])},
	.config_size = sizeof(struct nbd_config),
	.check = nbd_check,
	.json_in = nbd_json_in,
	.json_out = nbd_json_out,
	.emit = nbd_emit,
};

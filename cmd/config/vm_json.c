/* The VM description in vfkit's JSON format (GET /vm/inspect, --dry-run,
 * --config) and as an equivalent command line (--dry-run=cmdline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bootloader/registry.h"
#include "devices/registry.h"
#include "devices/virtio_gpu.h"
#include "cmd/config/vm.h"

json_t *vm_description_to_json(const struct vm_description *vm)
{
	json_t *root = json_object();
	json_t *devices;

	if (root == NULL)
		return NULL;
	json_object_set_new(root, "vcpus", json_integer((json_int_t)vm->vcpus));
	json_object_set_new(root, "memoryBytes", json_integer((json_int_t)vm->memory_bytes));
	if (vm->has_bootloader) {
		json_t *bootloader = component_to_json(&vm->bootloader);
		if (bootloader == NULL)
			goto fail;
		json_object_set_new(root, "bootloader", bootloader);
	}
	if (vm->device_count > 0) {
		devices = json_array();
		if (devices == NULL)
			goto fail;
		json_object_set_new(root, "devices", devices);
		for (size_t i = 0; i < vm->device_count; i++) {
			json_t *device = component_to_json(&vm->devices[i]);
			if (device == NULL)
				goto fail;
			json_array_append_new(devices, device);
		}
	}
	if (vm->timesync_vsock_port != 0)
		json_object_set_new(root, "timesync",
				    json_pack("{sI}", "vsockPort", (json_int_t)vm->timesync_vsock_port));
	if (vm->ignition_path != NULL)
		json_object_set_new(root, "ignition",
				    json_pack("{ssss}", "kind", "ignition", "configPath", vm->ignition_path));
	if (vm->nested)
		json_object_set_new(root, "nested", json_true());
	if (vm->cloud_init_count > 0) {
		json_t *paths = json_array();
		if (paths == NULL)
			goto fail;
		for (size_t i = 0; i < vm->cloud_init_count; i++)
			json_array_append_new(paths, json_string(vm->cloud_init_paths[i]));
		json_object_set_new(root, "cloudInit", paths); /* vzkit extension */
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

static int uint_field(json_t *value, const char *name, uint64_t min, uint64_t max, uint64_t *out,
		      struct vzk_error *err)
{
	json_int_t number;

	if (!json_is_integer(value) || (number = json_integer_value(value)) < 0 ||
	    (uint64_t)number < min || (uint64_t)number > max)
		return vzk_usage_error(err, "--config: \"%s\" must be an integer from %llu to %llu", name,
				       (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)number;
	return 0;
}

static int devices_from_json(json_t *array, struct vm_description *vm, struct vzk_error *err)
{
	size_t index;
	json_t *item;

	if (!json_is_array(array))
		return vzk_usage_error(err, "--config: \"devices\" must be an array");
	json_array_foreach(array, index, item) {
		struct component device;
		char what[64];
		snprintf(what, sizeof(what), "--config: devices[%zu]", index);
		if (component_from_json(device_registry, what, item, &device, err) != 0)
			return -1;
		if (device.ops == &virtio_gpu_device && ((struct virtio_gpu_config *)device.config)->uses_gui)
			vm->gui = true;
		if (vm_description_add_device(vm, &device, err) != 0)
			return -1;
	}
	return 0;
}

static int timesync_from_json(json_t *object, struct vm_description *vm, struct vzk_error *err)
{
	const char *field;
	json_t *value;

	if (!json_is_object(object))
		return vzk_usage_error(err, "--config: \"timesync\" must be an object");
	json_object_foreach(object, field, value) {
		if (strcasecmp(field, "vsockPort") != 0)
			return vzk_usage_error(err, "--config: timesync: unknown field '%s'", field);
		if (uint_field(value, "timesync.vsockPort", 1, UINT32_MAX, &vm->timesync_vsock_port, err) != 0)
			return -1;
	}
	if (vm->timesync_vsock_port == 0)
		return vzk_usage_error(err, "--config: timesync needs \"vsockPort\"");
	return 0;
}

static int ignition_from_json(json_t *object, struct vm_description *vm, struct vzk_error *err)
{
	json_t *path = json_object_get(object, "configPath");

	if (!json_is_object(object) || !json_is_string(path) || json_string_length(path) == 0)
		return vzk_usage_error(err, "--config: \"ignition\" needs a \"configPath\" string");
	free(vm->ignition_path);
	vm->ignition_path = strdup(json_string_value(path));
	return vm->ignition_path != NULL ? 0 : vzk_runtime_error(err, "out of memory");
}

static int cloud_init_from_json(json_t *array, struct vm_description *vm, struct vzk_error *err)
{
	size_t index;
	json_t *item;

	if (!json_is_array(array))
		return vzk_usage_error(err, "--config: \"cloudInit\" must be an array of paths");
	json_array_foreach(array, index, item) {
		char **grown;
		if (!json_is_string(item) || json_string_length(item) == 0)
			return vzk_usage_error(err, "--config: cloudInit[%zu] must be a path", index);
		grown = realloc(vm->cloud_init_paths, (vm->cloud_init_count + 1) * sizeof(*grown));
		if (grown == NULL)
			return vzk_runtime_error(err, "out of memory");
		vm->cloud_init_paths = grown;
		if ((grown[vm->cloud_init_count] = strdup(json_string_value(item))) == NULL)
			return vzk_runtime_error(err, "out of memory");
		vm->cloud_init_count++;
	}
	return 0;
}

int vm_description_from_json(json_t *root, struct vm_description *vm, struct vzk_error *err)
{
	const char *field;
	json_t *value;

	if (!json_is_object(root))
		return vzk_usage_error(err, "--config: the file must hold one JSON object");
	json_object_foreach(root, field, value) {
		int status;
		if (strcasecmp(field, "vcpus") == 0) {
			status = uint_field(value, "vcpus", 0, UINT32_MAX, &vm->vcpus, err);
		} else if (strcasecmp(field, "memoryBytes") == 0) {
			status = uint_field(value, "memoryBytes", 0, UINT64_MAX >> 1, &vm->memory_bytes, err);
		} else if (strcasecmp(field, "bootloader") == 0) {
			if (vm->has_bootloader)
				component_free(&vm->bootloader);
			vm->has_bootloader = false;
			status = component_from_json(bootloader_registry, "--config: bootloader", value,
						     &vm->bootloader, err);
			vm->has_bootloader = status == 0;
		} else if (strcasecmp(field, "devices") == 0) {
			status = devices_from_json(value, vm, err);
		} else if (strcasecmp(field, "timesync") == 0) {
			status = json_is_null(value) ? 0 : timesync_from_json(value, vm, err);
		} else if (strcasecmp(field, "ignition") == 0) {
			status = json_is_null(value) ? 0 : ignition_from_json(value, vm, err);
		} else if (strcasecmp(field, "nested") == 0) {
			if (!json_is_boolean(value))
				return vzk_usage_error(err, "--config: \"nested\" must be true or false");
			vm->nested = json_is_true(value);
			status = 0;
		} else if (strcasecmp(field, "cloudInit") == 0) {
			status = cloud_init_from_json(value, vm, err);
		} else {
			return vzk_usage_error(err, "--config: unknown field '%s'", field);
		}
		if (status != 0)
			return -1;
	}
	return 0;
}

static int push_arg(char ***argv, size_t *argc, char *arg)
{
	char **grown;

	if (arg == NULL)
		return -1;
	grown = realloc(*argv, (*argc + 2) * sizeof(*grown));
	if (grown == NULL) {
		free(arg);
		return -1;
	}
	grown[(*argc)++] = arg;
	grown[*argc] = NULL;
	*argv = grown;
	return 0;
}

/* A value from JSON may be one no option string can hold (an odd number of
 * double quotes): say so rather than print a command line that means
 * something else. Frees argv on failure. */
static int push_option_string(char ***argv, size_t *argc, const struct component *component,
			      const char *flag, struct vzk_error *err)
{
	char *text = component_to_option_string(component);

	if (text == NULL || push_arg(argv, argc, text) != 0) {
		vm_argv_free(*argv);
		*argv = NULL;
		return vzk_usage_error(err, "%s %s: a value cannot be written as an option string (unbalanced double quotes?)",
				       flag, component->ops->name);
	}
	return 0;
}

static char *format_uint(uint64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
	return strdup(buf);
}

static char *join_paths(char *const *paths, size_t count)
{
	size_t len = 1;
	char *joined, *end;

	for (size_t i = 0; i < count; i++)
		len += strlen(paths[i]) + 1;
	joined = malloc(len);
	if (joined == NULL)
		return NULL;
	end = joined;
	for (size_t i = 0; i < count; i++) {
		size_t n = strlen(paths[i]);
		if (i > 0)
			*end++ = ',';
		memcpy(end, paths[i], n);
		end += n;
	}
	*end = '\0';
	return joined;
}

int vm_description_to_argv(const struct vm_description *vm, char ***argv_out, size_t *argc_out,
			   struct vzk_error *err)
{
	char **argv = NULL;
	size_t argc = 0;
	int status = 0;

	if (vm->memory_bytes % (1u << 20) != 0)
		return vzk_usage_error(err, "memoryBytes %llu is not a whole number of MiB",
				       (unsigned long long)vm->memory_bytes);
	status |= push_arg(&argv, &argc, strdup("--cpus"));
	status |= push_arg(&argv, &argc, format_uint(vm->vcpus));
	status |= push_arg(&argv, &argc, strdup("--memory"));
	status |= push_arg(&argv, &argc, format_uint(vm->memory_bytes >> 20));
	if (vm->has_bootloader) {
		status |= push_arg(&argv, &argc, strdup("--bootloader"));
		if (push_option_string(&argv, &argc, &vm->bootloader, "--bootloader", err) != 0)
			return -1;
	}
	for (size_t i = 0; i < vm->device_count; i++) {
		status |= push_arg(&argv, &argc, strdup("--device"));
		if (push_option_string(&argv, &argc, &vm->devices[i], "--device", err) != 0)
			return -1;
	}
	if (vm->timesync_vsock_port != 0) {
		char buf[48];
		snprintf(buf, sizeof(buf), "vsockPort=%llu", (unsigned long long)vm->timesync_vsock_port);
		status |= push_arg(&argv, &argc, strdup("--timesync"));
		status |= push_arg(&argv, &argc, strdup(buf));
	}
	if (vm->ignition_path != NULL) {
		status |= push_arg(&argv, &argc, strdup("--ignition"));
		status |= push_arg(&argv, &argc, strdup(vm->ignition_path));
	}
	if (vm->cloud_init_count > 0) {
		status |= push_arg(&argv, &argc, strdup("--cloud-init"));
		status |= push_arg(&argv, &argc, join_paths(vm->cloud_init_paths, vm->cloud_init_count));
	}
	if (vm->nested)
		status |= push_arg(&argv, &argc, strdup("--nested"));
	if (vm->gui)
		status |= push_arg(&argv, &argc, strdup("--gui"));
	if (status != 0) {
		vm_argv_free(argv);
		return vzk_runtime_error(err, "out of memory");
	}
	*argv_out = argv;
	*argc_out = argc;
	return 0;
}

void vm_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p != NULL; p++)
		free(*p);
	free(argv);
}

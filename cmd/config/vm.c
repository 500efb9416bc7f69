#include "cmd/config/vm.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/services/cloudinit.h"
#include "devices/registry.h"
#include "devices/virtio_gpu.h"

void vm_description_init(struct vm_description *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->vcpus = VM_DEFAULT_CPUS;
	vm->memory_bytes = (uint64_t)VM_DEFAULT_MEMORY_MIB << 20;
}

void vm_description_free(struct vm_description *vm)
{
	if (vm == NULL)
		return;
	if (vm->has_bootloader)
		component_free(&vm->bootloader);
	for (size_t i = 0; i < vm->device_count; i++)
		component_free(&vm->devices[i]);
	free(vm->devices);
	free(vm->ignition_path);
	for (size_t i = 0; i < vm->cloud_init_count; i++)
		free(vm->cloud_init_paths[i]);
	free(vm->cloud_init_paths);
	memset(vm, 0, sizeof(*vm));
}

int vm_description_add_device(struct vm_description *vm, struct component *device,
			      struct vzk_error *err)
{
	struct component *grown = realloc(vm->devices, (vm->device_count + 1) * sizeof(*grown));

	if (grown == NULL) {
		component_free(device);
		return vzk_runtime_error(err, "out of memory");
	}
	vm->devices = grown;
	vm->devices[vm->device_count++] = *device;
	memset(device, 0, sizeof(*device));
	return 0;
}

/* vfkit adds a keyboard only when there is no virtio-input device at all: a
 * pointing device alone gets none. */
static bool has_input_device(const struct vm_description *vm)
{
	for (size_t i = 0; i < vm->device_count; i++)
		if (vm->devices[i].ops == &virtio_input_device)
			return true;
	return false;
}

static int add_implied_device(struct vm_description *vm, const char *option_string,
			      struct vzk_error *err)
{
	struct component device;
	bool help;

	if (component_parse(device_registry, "--gui", option_string, &device, &help, err) != 0)
		return -1;
	return vm_description_add_device(vm, &device, err);
}

int vm_description_apply_gui(struct vm_description *vm, FILE *warnings, struct vzk_error *err)
{
	bool has_gpu = false;

	if (!vm->gui)
		return 0;
	for (size_t i = 0; i < vm->device_count; i++)
		if (vm->devices[i].ops == &virtio_gpu_device)
			has_gpu = true;
	if (!has_gpu) {
		if (warnings != NULL)
			fprintf(warnings, "vzkit: warning: --gui without a display: adding --device virtio-gpu,width=%d,height=%d\n",
				VIRTIO_GPU_DEFAULT_WIDTH, VIRTIO_GPU_DEFAULT_HEIGHT);
		if (add_implied_device(vm, "virtio-gpu", err) != 0)
			return -1;
	}
	if (!has_input_device(vm)) {
		if (warnings != NULL)
			fprintf(warnings, "vzkit: warning: --gui without an input device: adding --device virtio-input,keyboard\n");
		if (add_implied_device(vm, "virtio-input,keyboard", err) != 0)
			return -1;
	}
	for (size_t i = 0; i < vm->device_count; i++)
		if (vm->devices[i].ops == &virtio_gpu_device)
			((struct virtio_gpu_config *)vm->devices[i].config)->uses_gui = true;
	return 0;
}

int vm_description_to_vz(const struct vm_description *vm, struct vz_vm_configuration *vz,
			 struct vzk_error *err)
{
	memset(vz, 0, sizeof(*vz));
	if (!vm->has_bootloader)
		return vzk_usage_error(err, "a bootloader is required: --bootloader linux|efi|macos,... (or --kernel, --initrd and --kernel-cmdline)");
	if (vm->vcpus > UINT32_MAX)
		return vzk_usage_error(err, "--cpus: %llu is more than the framework allows (%u)",
				       (unsigned long long)vm->vcpus, VZ_MAX_CPU_COUNT);
	vz->cpu_count = (uint32_t)vm->vcpus;
	vz->memory_size = vm->memory_bytes;
	vz->platform.nested_virtualization = vm->nested;
	vz->gui = vm->gui;
	vz->timesync_vsock_port = (uint32_t)vm->timesync_vsock_port;
	if (vm->ignition_path != NULL && (vz->ignition_path = strdup(vm->ignition_path)) == NULL)
		goto oom;
	/* The bootloader goes first: it picks the platform the devices adapt to. */
	if (component_emit(&vm->bootloader, vz, err) != 0)
		goto fail;
	for (size_t i = 0; i < vm->device_count; i++)
		if (component_emit(&vm->devices[i], vz, err) != 0)
			goto fail;
	if (cloud_init_disk_add(vm->cloud_init_paths, vm->cloud_init_count, vz, err) != 0)
		goto fail;
	/* timesync and ignition talk to the guest over vsock */
	if (vm->timesync_vsock_port != 0 || vm->ignition_path != NULL)
		vz->socket_device = true;
	if (vz_validate(vz, err) != 0)
		goto fail;
	return 0;
oom:
	vzk_runtime_error(err, "out of memory");
fail:
	vz_vm_configuration_free(vz);
	return -1;
}

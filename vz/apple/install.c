/* --bootloader macos,restoreImage=SRC: before the first boot, when none of
 * the identity files exists, the restore image is found (a local .ipsw, a
 * URL or the framework's latest, fetched by the launcher), loaded, and its
 * most featureful configuration this Mac supports is checked against the VM
 * (hardware model supported, CPUs and memory at least its minimums); then
 * the auxiliary storage, hardware model and machine identifier files are
 * created (never over an existing file) and the restore image's URL is kept
 * for VZMacOSInstaller, which vm.c runs once the VM exists. Plan and live
 * send the same messages; files are made only live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vz/apple/completion.h"
#include "vz/apple/translate.h"

/* NSDataWritingWithoutOverwriting; VZMacAuxiliaryStorageInitializationOptions
 * 0 (no AllowOverwrite): the framework itself refuses an existing file. */
#define NS_DATA_WRITING_WITHOUT_OVERWRITING 2u
#define AUX_STORAGE_NO_OVERWRITE 0u

static bool is_url(const char *text)
{
	return strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0;
}

/* A class message whose completion handler hands over an object: live, the
 * object (owned by the builder); while planning, a handle of class cls. */
static id answered_object(struct apple_builder *b, enum apple_message_id message, id receiver, id argument,
			  enum apple_class_id cls, const char *what)
{
	struct apple_completion done;
	struct apple_completion *completion = &done;
	int status;
	id object = nil;

	apple_completion_init(&done);
	if (argument != nil)
		status = apple_call(b, message, receiver, apple_arg_object(argument),
				    apple_arg_block((void *)^(id answer, id error) {
					    apple_completion_finish_object(completion, answer, error);
				    }));
	else
		status = apple_call(b, message, receiver, apple_arg_block((void *)^(id answer, id error) {
					    apple_completion_finish_object(completion, answer, error);
				    }));
	if (status == 0 && apple_planning(b)) {
		object = apple_plan_object(b, cls);
	} else if (status == 0) {
		apple_completion_wait(&done);
		if (done.failed)
			vzk_runtime_error(apple_builder_error(b), "%s: %s", what, done.message);
		else if (apple_adopt(b, done.object) == 0)
			object = done.object;
	}
	apple_completion_destroy(&done);
	return object;
}

/* The image as a local file: SRC itself, or fetched by the launcher. */
static char *local_image(struct apple_builder *b, const char *source)
{
	union apple_value text;
	id cls, latest, url, string;

	if (!is_url(source) && strcmp(source, "latest") != 0)
		return strdup(source);
	if (is_url(source)) {
		if (apple_planning(b)) {
			const char *name = strrchr(source, '/');
			char *placeholder = NULL;
			apple_note(b, "the launcher fetches %s into its download cache", source);
			if (asprintf(&placeholder, "/(download cache)/%s", name != NULL && name[1] != '\0' ? name + 1 : "restore.ipsw") < 0)
				placeholder = NULL;
			return placeholder;
		}
		apple_log(b, "fetching the macOS restore image %s", source);
		return apple_fetch(b, source);
	}
	cls = apple_class(b, C_VZMacOSRestoreImage);
	latest = cls != nil ? answered_object(b, M_RESTORE_FETCH_LATEST, cls, nil, C_VZMacOSRestoreImage,
					     "cannot learn the latest macOS restore image")
			    : nil;
	url = latest != nil ? apple_get_object(b, M_RESTORE_URL, latest, C_NSURL) : nil;
	if (url == nil)
		return NULL;
	if (apple_planning(b)) {
		apple_note(b, "the launcher fetches that URL into its download cache");
		return strdup("/(download cache)/latest.ipsw");
	}
	if (apple_ask(b, M_URL_ABSOLUTE_STRING, url, &text) != 0 || (string = text.object) == nil ||
	    apple_ask(b, M_STRING_UTF8, string, &text) != 0 || text.cstring == NULL) {
		vzk_runtime_error(apple_builder_error(b), "the latest restore image has no URL");
		return NULL;
	}
	apple_log(b, "fetching the latest macOS restore image this Mac supports: %s", text.cstring);
	return apple_fetch(b, text.cstring);
}

/* The VM meets the configuration's minimums. */
static int check_minimums(struct apple_builder *b, const struct vz_vm_configuration *config, id requirements)
{
	struct vzk_error *err = apple_builder_error(b);
	union apple_value cpus, memory;

	if (apple_ask(b, M_REQUIREMENTS_MIN_CPU, requirements, &cpus) != 0 ||
	    apple_ask(b, M_REQUIREMENTS_MIN_MEMORY, requirements, &memory) != 0)
		return -1;
	if (apple_planning(b))
		return 0;
	if (config->cpu_count < cpus.uinteger)
		return vzk_usage_error(err, "--cpus %u is below the %lu CPUs this macOS needs", (unsigned)config->cpu_count,
				       (unsigned long)cpus.uinteger);
	if (config->memory_size < memory.uinteger)
		return vzk_usage_error(err, "--memory %llu MiB is below the %llu MiB this macOS needs",
				       (unsigned long long)(config->memory_size >> 20),
				       (unsigned long long)(memory.uinteger >> 20));
	return 0;
}

/* data -> path, never over an existing file. */
static int write_new_file(struct apple_builder *b, id data, const char *path)
{
	id url = apple_file_url(b, path);

	if (url == nil ||
	    apple_call(b, M_DATA_WRITE, data, apple_arg_object(url), apple_arg_uinteger(NS_DATA_WRITING_WITHOUT_OVERWRITING),
		       apple_arg_error_out()) != 0)
		return -1;
	return apple_planning(b) ? 0 : apple_builder_note_created(b, path);
}

static int make_identity(struct apple_builder *b, const struct vz_platform *platform, id model)
{
	struct vzk_error *err = apple_builder_error(b);
	id aux_url, storage, data, identifier;

	aux_url = apple_file_url(b, platform->auxiliary_storage_path);
	if (aux_url == nil)
		return -1;
	storage = apple_new(b, C_VZMacAuxiliaryStorage, M_AUX_STORAGE_INIT_CREATING, apple_arg_object(aux_url),
			    apple_arg_object(model), apple_arg_uinteger(AUX_STORAGE_NO_OVERWRITE), apple_arg_error_out());
	if (storage == nil)
		return vzk_error_prefix(err, "auxImagePath %s", platform->auxiliary_storage_path);
	if (!apple_planning(b) && apple_builder_note_created(b, platform->auxiliary_storage_path) != 0)
		return -1;
	data = apple_get_object(b, M_HARDWARE_MODEL_DATA, model, C_NSData);
	if (data == nil || write_new_file(b, data, platform->hardware_model_path) != 0)
		return vzk_error_prefix(err, "hardwareModelPath %s", platform->hardware_model_path);
	identifier = apple_new(b, C_VZMacMachineIdentifier, M_MACHINE_IDENTIFIER_INIT);
	data = identifier != nil ? apple_get_object(b, M_MACHINE_IDENTIFIER_DATA, identifier, C_NSData) : nil;
	if (data == nil || write_new_file(b, data, platform->machine_identifier_path) != 0)
		return vzk_error_prefix(err, "machineIdentifierPath %s", platform->machine_identifier_path);
	return 0;
}

static int prepare(struct apple_builder *b, const struct vz_vm_configuration *config)
{
	struct vzk_error *err = apple_builder_error(b);
	const char *source = config->boot_loader.restore_image;
	union apple_value supported;
	char *path;
	id cls, file_url, image, requirements, model;

	cls = apple_class(b, C_VZMacOSRestoreImage);
	if (cls == nil || (path = local_image(b, source)) == NULL)
		return vzk_error_prefix(err, "restoreImage %s", source);
	file_url = apple_file_url(b, path);
	image = file_url != nil ? answered_object(b, M_RESTORE_LOAD, cls, file_url, C_VZMacOSRestoreImage,
						  "cannot load the restore image")
				: nil;
	if (image == nil) {
		vzk_error_prefix(err, "restoreImage %s", path);
		free(path);
		return -1;
	}
	requirements = apple_get_object(b, M_RESTORE_MOST_FEATUREFUL, image, C_VZMacOSConfigurationRequirements);
	if (requirements == nil) {
		vzk_usage_error(err, "restoreImage %s: this Mac supports no configuration of the macOS it holds", path);
		free(path);
		return -1;
	}
	model = apple_get_object(b, M_REQUIREMENTS_HARDWARE_MODEL, requirements, C_VZMacHardwareModel);
	if (model == nil || apple_ask(b, M_HARDWARE_MODEL_IS_SUPPORTED, model, &supported) != 0) {
		free(path);
		return -1;
	}
	if (!apple_planning(b) && !supported.boolean) {
		vzk_usage_error(err, "restoreImage %s: its hardware model is not supported by this Mac", path);
		free(path);
		return -1;
	}
	free(path);
	if (check_minimums(b, config, requirements) != 0 || make_identity(b, &config->platform, model) != 0)
		return -1;
	apple_builder_set_restore_image_url(b, file_url);
	apple_log(b, "macOS install: %s, %s and %s created; the installer runs once the VM exists",
		  config->platform.auxiliary_storage_path, config->platform.hardware_model_path,
		  config->platform.machine_identifier_path);
	return 0;
}

int apple_macos_install_prepare(struct apple_builder *b, const struct vz_vm_configuration *config)
{
	if (!vz_macos_needs_install(config))
		return 0;
	apple_note(b, "none of the three macOS files exists: macOS is installed from %s first",
		   config->boot_loader.restore_image);
	if (prepare(b, config) != 0) {
		apple_builder_remove_created(b);
		return vzk_error_prefix(apple_builder_error(b), "--bootloader macos");
	}
	return 0;
}

int apple_macos_start_options(struct apple_builder *b, const struct vz_vm_configuration *config, id *out)
{
	id options;

	*out = nil;
	if (config->boot_loader.kind != VZ_BOOT_LOADER_MACOS || !config->boot_loader.start_up_from_recovery)
		return 0;
	options = apple_new(b, C_VZMacOSVirtualMachineStartOptions, M_INIT);
	if (options == nil || apple_call(b, M_START_OPTIONS_SET_RECOVERY, options, apple_arg_bool(true)) != 0)
		return vzk_error_prefix(apple_builder_error(b), "--bootloader macos,recovery");
	*out = options;
	return 0;
}

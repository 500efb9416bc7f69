/* --bootloader macos,restoreImage=SRC and recovery against the stand-ins:
 * the install's message sequence (restore image load, configuration
 * requirements, auxiliary storage, hardware model, machine identifier,
 * installer with its progress, start), the files it makes and never
 * overwrites, the launcher's downloader for URLs and "latest", every
 * refusal, and the recovery start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/apple/rig.h"
#include "test/apple/tests.h"

struct install_run {
	struct vz_vm_configuration config;
	struct engine_vm *vm;
	struct vzk_error err;
	char log[4096];     /* engine_options.log lines */
	char fetched[512];  /* the URLs the launcher was asked for */
	char *fetch_answer; /* the local path the launcher answers */
};

static void on_log(void *context, enum log_level level, const char *message)
{
	struct install_run *run = context;
	size_t used = strlen(run->log);

	(void)level;
	snprintf(run->log + used, sizeof(run->log) - used, "%s\n", message);
}

static void on_warn(void *context, const char *message)
{
	on_log(context, LOG_LEVEL_ERROR, message);
}

/* The launcher's downloader, as cmd/ provides it. */
static int on_fetch(void *context, const char *url, char **path, struct vzk_error *err)
{
	struct install_run *run = context;
	size_t used = strlen(run->fetched);

	snprintf(run->fetched + used, sizeof(run->fetched) - used, "%s\n", url);
	if (run->fetch_answer == NULL)
		return vzk_runtime_error(err, "%s: HTTP 404", url);
	*path = strdup(run->fetch_answer);
	return *path == NULL ? vzk_runtime_error(err, "out of memory") : 0;
}

static void remove_file(const char *name)
{
	char *path = rig_path(name);
	unlink(path);
	free(path);
}

static bool file_exists(const char *name)
{
	char *path = rig_path(name);
	struct stat st;
	bool there = stat(path, &st) == 0;

	free(path);
	return there;
}

static char *read_text(const char *name)
{
	char *path = rig_path(name);
	FILE *file = fopen(path, "r");
	static char text[256];
	size_t n = 0;

	free(path);
	text[0] = '\0';
	if (file != NULL) {
		n = fread(text, 1, sizeof(text) - 1, file);
		fclose(file);
	}
	text[n] = '\0';
	return text;
}

/* A macOS guest as the guide has it: 4 CPUs, 8 GiB, a disk, a display. */
static void macos_config(struct vz_vm_configuration *config, const char *restore_image, bool recovery)
{
	struct vz_storage_device *disk;
	struct vz_graphics_device *display;

	rig_config_init(config);
	free(config->boot_loader.kernel_path);
	config->cpu_count = 4;
	config->memory_size = 8ull << 30;
	config->boot_loader = (struct vz_boot_loader){.kind = VZ_BOOT_LOADER_MACOS, .start_up_from_recovery = recovery};
	if (restore_image != NULL && (config->boot_loader.restore_image = strdup(restore_image)) == NULL)
		abort();
	config->platform.kind = VZ_PLATFORM_MAC;
	config->platform.hardware_model_path = rig_path("mac/HardwareModel");
	config->platform.machine_identifier_path = rig_path("mac/MachineIdentifier");
	config->platform.auxiliary_storage_path = rig_path("mac/AuxiliaryStorage");
	disk = vz_add_storage_device(config);
	disk->kind = VZ_STORAGE_VIRTIO_BLOCK;
	disk->attachment.kind = VZ_STORAGE_ATTACHMENT_DISK_IMAGE;
	disk->attachment.path = rig_path("mac/disk.img");
	disk->attachment.caching_mode = VZ_DISK_CACHING_CACHED;
	disk->attachment.sync_mode = VZ_DISK_SYNC_FSYNC;
	display = vz_add_graphics_device(config);
	*display = (struct vz_graphics_device){.kind = VZ_GRAPHICS_MAC, .width = 1920, .height = 1200, .pixels_per_inch = 80};
	vz_add_keyboard(config, VZ_KEYBOARD_MAC);
	vz_add_pointing_device(config, VZ_POINTING_MAC_TRACKPAD);
}

/* A fresh folder: a restore image and an empty disk, no identity file. */
static void fresh_folder(void)
{
	char *dir = rig_path("mac");

	mkdir(dir, 0755);
	free(dir);
	remove_file("mac/HardwareModel");
	remove_file("mac/MachineIdentifier");
	remove_file("mac/AuxiliaryStorage");
	rig_touch("mac/disk.img");
	rig_touch("mac/UniversalMac_15.1_Restore.ipsw");
}

static int run_create(struct install_run *run, const struct apple_host *host)
{
	struct engine_options options = {.log = on_log, .warn = on_warn, .fetch = on_fetch, .context = run,
					  .runtime_dir = rig_tmpdir()};

	return apple_engine_create_on_host(&run->config, &options, host, &run->vm, &run->err);
}

/* create + start on an Apple silicon host with macOS 15; 0 when started. */
static int run_start(struct install_run *run)
{
	struct apple_host host = RIG_HOST_DEFAULT;
	int status = run_create(run, &host);

	if (status != 0)
		return status;
	apple_engine_set_install_poll_interval(run->vm, 1);
	standin_clear_log();
	return apple_engine.start(run->vm, &run->err);
}

static void run_end(struct install_run *run, const char *name)
{
	char check[200];

	rig_collect_log(standin_log());
	apple_engine.destroy(run->vm);
	snprintf(check, sizeof(check), "apple memory %s: every object released once", name);
	const char *leaks = standin_leaks();
	rig_check(check, leaks[0] == '\0' && standin_problems()[0] == '\0', "alive: %s; problems: %s", leaks,
		  standin_problems());
	vz_vm_configuration_free(&run->config);
	free(run->fetch_answer);
}

static const char *const identity[] = {"mac/AuxiliaryStorage", "mac/HardwareModel", "mac/MachineIdentifier"};

static bool no_identity_file(void)
{
	for (size_t i = 0; i < 3; i++)
		if (file_exists(identity[i]))
			return false;
	return true;
}

static void install_then_boot(void)
{
	struct install_run run = {0};
	char *image = rig_path("mac/UniversalMac_15.1_Restore.ipsw");

	standin_reset();
	fresh_folder();
	macos_config(&run.config, image, false);
	int status = run_start(&run);
	rig_check("apple install: from a local .ipsw, then the VM runs", status == 0 && apple_engine.state(run.vm) == VM_STATE_RUNNING,
		  "status %d: %s", status, run.err.message);
	rig_check_golden("apple install: restore image load, requirements, aux storage, hardware model, machine "
			 "identifier, installer with progress, start",
			 "macos_install.txt", standin_log());
	rig_check("apple install: the three identity files are made",
		  strcmp(read_text("mac/AuxiliaryStorage"), "<auxiliary storage>") == 0 &&
			  strcmp(read_text("mac/HardwareModel"), "<hardware model>") == 0 &&
			  strcmp(read_text("mac/MachineIdentifier"), "<machine identifier>") == 0,
		  "aux '%s'", read_text("mac/AuxiliaryStorage"));
	rig_check("apple install: the progress reaches the log in whole percents",
		  strstr(run.log, "installing macOS on the first disk (this takes a while)\ninstalling macOS: 0%\n"
				  "installing macOS: 25%\ninstalling macOS: 50%\ninstalling macOS: 75%\n"
				  "installing macOS: 100%\nmacOS is installed; starting it\n") != NULL,
		  "log:\n%s", run.log);
	rig_check("apple install: nothing fetched for a local image", run.fetched[0] == '\0', "fetched %s", run.fetched);
	standin_clear_log();
	run_end(&run, "install");

	/* The next run boots what is there: the image is not even looked at. */
	struct install_run again = {0};
	standin_reset();
	macos_config(&again.config, "https://updates.example/never-fetched.ipsw", false);
	status = run_start(&again);
	const char *log = standin_log();
	rig_check("apple install: files present, restoreImage ignored (no load, no fetch, no installer)",
		  status == 0 && strstr(log, "VZMacOSRestoreImage") == NULL && strstr(log, "VZMacOSInstaller") == NULL &&
			  again.fetched[0] == '\0',
		  "status %d: %s / fetched %s", status, again.err.message, again.fetched);
	rig_check("apple install: the auxiliary storage is opened, not recreated, at every boot",
		  strstr(log, "[VZMacAuxiliaryStorage#1 initWithURL:") != NULL &&
			  strstr(log, "initCreatingStorageAtURL") == NULL &&
			  strcmp(read_text("mac/AuxiliaryStorage"), "<auxiliary storage>") == 0,
		  "log:\n%s", log);
	standin_clear_log();
	run_end(&again, "install boot");
	free(image);
}

/* The plan says the same (create makes nothing). */
static void install_plan(void)
{
	struct install_run run = {0};
	struct apple_host host = RIG_HOST_DEFAULT;
	char *image = rig_path("mac/UniversalMac_15.1_Restore.ipsw");

	standin_reset();
	fresh_folder();
	macos_config(&run.config, image, false);
	if (run_create(&run, &host) != 0) {
		rig_check("apple install plan", false, "create: %s", run.err.message);
	} else {
		char *plan = rig_plan_messages(run.vm);
		rig_check_golden("apple install plan: the same messages, nothing made", "macos_install.plan.txt", plan);
		rig_check("apple install plan: create makes no file", no_identity_file(), "a file was made");
		free(plan);
	}
	standin_clear_log();
	run_end(&run, "install plan");
	free(image);
}

/* http(s) and latest: the launcher's downloader makes the local copy. */
static void install_fetched(void)
{
	struct install_run run = {0};

	standin_reset();
	fresh_folder();
	macos_config(&run.config, "https://updates.example/UniversalMac_15.1_Restore.ipsw", false);
	run.fetch_answer = rig_path("mac/UniversalMac_15.1_Restore.ipsw");
	int status = run_start(&run);
	rig_check("apple install from a URL: the launcher fetches it, the framework loads the local copy",
		  status == 0 && strcmp(run.fetched, "https://updates.example/UniversalMac_15.1_Restore.ipsw\n") == 0 &&
			  strstr(standin_log(), "loadFileURL:<file://") != NULL,
		  "status %d: %s / fetched %s", status, run.err.message, run.fetched);
	standin_clear_log();
	run_end(&run, "install url");

	struct install_run latest = {0};
	standin_reset();
	fresh_folder();
	macos_config(&latest.config, "latest", false);
	latest.fetch_answer = rig_path("mac/UniversalMac_15.1_Restore.ipsw");
	status = run_start(&latest);
	const char *log = standin_log();
	rig_check("apple install latest: the framework names the image, the launcher fetches that URL",
		  status == 0 &&
			  strcmp(latest.fetched, "https://updates.example/UniversalMac_15.1_24B83_Restore.ipsw\n") == 0 &&
			  strstr(log, "[VZMacOSRestoreImage fetchLatestSupportedWithCompletionHandler:^{}]\n"
				      "[VZMacOSRestoreImage#1 URL]\n") != NULL,
		  "status %d: %s / fetched %s\n%s", status, latest.err.message, latest.fetched, log);
	standin_clear_log();
	run_end(&latest, "install latest");

	struct install_run missing = {0};
	standin_reset();
	fresh_folder();
	macos_config(&missing.config, "https://updates.example/gone.ipsw", false);
	status = run_start(&missing);
	char *got = rig_redact(missing.err.message);
	rig_check("apple install: a failed download is one line and makes no file",
		  status != 0 &&
			  strcmp(got, "--bootloader macos: restoreImage https://updates.example/gone.ipsw: "
				      "https://updates.example/gone.ipsw: HTTP 404") == 0 &&
			  no_identity_file(),
		  "'%s'", got);
	free(got);
	standin_clear_log();
	run_end(&missing, "install fetch fails");
}

struct refusal {
	const char *name;
	void (*setup)(struct vz_vm_configuration *config);
	enum vzk_error_kind kind;
	const char *message; /* with $TMP */
};

static void unsupported_model(struct vz_vm_configuration *config)
{
	(void)config;
	standin_answer("VZMacHardwareModel", "isSupported", 0);
}

static void too_few_cpus(struct vz_vm_configuration *config)
{
	(void)config;
	standin_answer("VZMacOSConfigurationRequirements", "minimumSupportedCPUCount", 8);
}

static void too_little_memory(struct vz_vm_configuration *config)
{
	(void)config;
	standin_answer("VZMacOSConfigurationRequirements", "minimumSupportedCPUCount", 2);
	standin_answer("VZMacOSConfigurationRequirements", "minimumSupportedMemorySize", 16ll << 30);
}

static void no_configuration(struct vz_vm_configuration *config)
{
	(void)config;
	standin_fail("VZMacOSRestoreImage", "mostFeaturefulSupportedConfiguration", "", 0, "");
}

static void unreadable_image(struct vz_vm_configuration *config)
{
	(void)config;
	standin_fail("VZMacOSRestoreImage", "loadFileURL:completionHandler:", "VZErrorDomain", 10007,
		     "The restore image is not valid.");
}

static void installer_fails(struct vz_vm_configuration *config)
{
	(void)config;
	standin_fail("VZMacOSInstaller", "installWithCompletionHandler:", "VZErrorDomain", 10006,
		     "The installation failed.");
}

static const struct refusal refusals[] = {
	{"unsupported hardware model", unsupported_model, VZK_ERR_USAGE,
	 "--bootloader macos: restoreImage $TMP/mac/UniversalMac_15.1_Restore.ipsw: its hardware model is not "
	 "supported by this Mac"},
	{"CPUs below the minimum", too_few_cpus, VZK_ERR_USAGE,
	 "--bootloader macos: --cpus 4 is below the 8 CPUs this macOS needs"},
	{"memory below the minimum", too_little_memory, VZK_ERR_USAGE,
	 "--bootloader macos: --memory 8192 MiB is below the 16384 MiB this macOS needs"},
	{"no supported configuration", no_configuration, VZK_ERR_USAGE,
	 "--bootloader macos: restoreImage $TMP/mac/UniversalMac_15.1_Restore.ipsw: this Mac supports no configuration "
	 "of the macOS it holds"},
	{"restore image refused", unreadable_image, VZK_ERR_RUNTIME,
	 "--bootloader macos: restoreImage $TMP/mac/UniversalMac_15.1_Restore.ipsw: cannot load the restore image: "
	 "The restore image is not valid. (VZErrorDomain error 10007)"},
	{"installer fails", installer_fails, VZK_ERR_RUNTIME,
	 "--bootloader macos: installing macOS failed: The installation failed. (VZErrorDomain error 10006)"},
};

static struct install_run *stopping_run;
static int stop_during_install_status;

static void stop_now(void)
{
	stop_during_install_status = apple_engine.request(stopping_run->vm, VM_REQUEST_HARD_STOP, &stopping_run->err);
}

/* SIGTERM during a 10-minute install: the installer's progress is cancelled,
 * the files this run made go, and the VM is never started. */
static void stop_during_install(void)
{
	struct install_run run = {0};
	char *image = rig_path("mac/UniversalMac_15.1_Restore.ipsw");

	standin_reset();
	fresh_folder();
	macos_config(&run.config, image, false);
	stopping_run = &run;
	stop_during_install_status = -2;
	standin_during_install(stop_now);
	int status = run_start(&run);
	const char *log = standin_log();
	rig_check("apple install: a stop during the install is accepted", stop_during_install_status == 0,
		  "status %d '%s'", stop_during_install_status, run.err.message);
	rig_check("apple install: a stop cancels the install, removes its files, never starts the VM",
		  status != 0 && strcmp(run.err.message, "start abandoned: a stop was requested") == 0 &&
			  strstr(log, "[NSProgress#1 cancel]") != NULL && strstr(log, "startWith") == NULL &&
			  no_identity_file() && strstr(run.log, "installing macOS: 100%") == NULL,
		  "status %d '%s', files left %d, log:\n%s\nengine log:\n%s", status, run.err.message, !no_identity_file(),
		  log, run.log);
	standin_clear_log();
	stopping_run = NULL;
	run_end(&run, "stop during install");
	free(image);
}

static void install_refusals(void)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *r = &refusals[i];
		struct install_run run = {0};
		char *image = rig_path("mac/UniversalMac_15.1_Restore.ipsw");
		char name[200];

		standin_reset();
		fresh_folder();
		macos_config(&run.config, image, false);
		r->setup(&run.config);
		int status = run_start(&run);
		char *got = rig_redact(run.err.message);
		snprintf(name, sizeof(name), "apple install refused: %s, one line, no identity file left", r->name);
		rig_check(name, status != 0 && run.err.kind == r->kind && strcmp(got, r->message) == 0 && no_identity_file(),
			  "status %d kind %d '%s' (want '%s'), files left: %d", status, (int)run.err.kind, got, r->message,
			  !no_identity_file());
		free(got);
		free(image);
		standin_clear_log();
		snprintf(name, sizeof(name), "install refused %s", r->name);
		run_end(&run, name);
	}
}

/* Existing files are never overwritten, even when the framework is asked. */
static void never_overwrite(void)
{
	struct install_run run = {0};
	char *image = rig_path("mac/UniversalMac_15.1_Restore.ipsw");
	char *path = rig_path("mac/HardwareModel");

	standin_reset();
	fresh_folder();
	macos_config(&run.config, image, false);
	/* made by someone else between the host check and the install */
	standin_fail("VZMacHardwareModel", "dataRepresentation", "", 0, "");
	int status = run_start(&run);
	rig_check("apple install: a step that fails removes what this run made, and only that",
		  status != 0 && no_identity_file(), "status %d: %s", status, run.err.message);
	standin_clear_log();
	run_end(&run, "install step fails");

	struct install_run race = {0};
	standin_reset();
	fresh_folder();
	macos_config(&race.config, image, false);
	FILE *theirs = fopen(path, "w");
	if (theirs != NULL) {
		fputs("theirs", theirs);
		fclose(theirs);
	}
	/* the host check would refuse this mix; the engine itself must too */
	struct apple_host host = RIG_HOST_DEFAULT;
	status = run_create(&race, &host);
	if (status == 0) {
		remove_file("mac/HardwareModel");
		standin_clear_log();
		/* appears after create decided to install */
		theirs = fopen(path, "w");
		if (theirs != NULL) {
			fputs("theirs", theirs);
			fclose(theirs);
		}
		apple_engine_set_install_poll_interval(race.vm, 1);
		status = apple_engine.start(race.vm, &race.err);
	}
	rig_check("apple install: an identity file that exists is never overwritten",
		  status != 0 && strcmp(read_text("mac/HardwareModel"), "theirs") == 0, "status %d: %s, file '%s'", status,
		  race.err.message, read_text("mac/HardwareModel"));
	standin_clear_log();
	run_end(&race, "install never overwrites");
	remove_file("mac/HardwareModel");
	free(path);
	free(image);
}

static void recovery(void)
{
	struct install_run run = {0};

	standin_reset();
	fresh_folder();
	for (size_t i = 0; i < 3; i++)
		rig_touch(identity[i]);
	macos_config(&run.config, NULL, true);
	int status = run_start(&run);
	rig_check("apple recovery: starts with VZMacOSVirtualMachineStartOptions", status == 0, "%s", run.err.message);
	rig_check_golden("apple recovery: start options", "macos_recovery.txt", standin_log());
	standin_clear_log();
	run_end(&run, "recovery");

	struct install_run old = {0};
	struct apple_host host = rig_host(12, 6, APPLE_HOST_ARM64);
	standin_reset();
	macos_config(&old.config, NULL, true);
	status = run_create(&old, &host);
	rig_check("apple recovery on macOS 12: one clear line at create",
		  status != 0 && old.err.kind == VZK_ERR_USAGE &&
			  strcmp(old.err.message, "--bootloader macos,recovery: VZMacOSVirtualMachineStartOptions needs macOS "
						  "13.0 or newer; this host runs macOS 12.6") == 0,
		  "'%s'", old.err.message);
	run_end(&old, "recovery old host");

	struct install_run eleven = {0};
	struct apple_host big_sur = rig_host(11, 7, APPLE_HOST_ARM64);
	char *image = rig_path("mac/UniversalMac_15.1_Restore.ipsw");
	standin_reset();
	fresh_folder();
	macos_config(&eleven.config, image, false);
	status = run_create(&eleven, &big_sur);
	rig_check("apple install on macOS 11: one clear line at create, nothing made",
		  status != 0 && eleven.err.kind == VZK_ERR_USAGE && no_identity_file() &&
			  strstr(eleven.err.message, "VZMacOSRestoreImage needs macOS 12.0 or newer; this host runs macOS 11.7") !=
				  NULL,
		  "'%s'", eleven.err.message);
	run_end(&eleven, "install old host");
	free(image);
	for (size_t i = 0; i < 3; i++)
		remove_file(identity[i]);
}

void test_install(void)
{
	install_then_boot();
	install_plan();
	install_fetched();
	install_refusals();
	stop_during_install();
	never_overwrite();
	recovery();
}

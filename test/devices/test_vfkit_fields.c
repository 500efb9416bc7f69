/* The JSON vzkit writes, read the way vfkit v0.6.4's reader reads it: every
 * field of every golden description (and of a few built here) must be a
 * field of vfkit's Go structs for that kind, spelt as vfkit writes it and of
 * the JSON type its Go field decodes (or a vzkit extension that
 * doc/vfkit-differences.md lists). A field vfkit's reader does not know
 * would be dropped silently: the VM would load with another meaning. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/args.h"
#include "cmd/output.h"
#include "test/golden.h"
#include "test/testlib.h"

enum json_kind { J_STRING, J_BOOL, J_INT, J_OBJECT, J_ARRAY };

/* vzkit's own fields (doc/vfkit-differences.md lists them) are in the
 * tables too: size, fd, restoreImage, cloudInit and the macOS bootloader. */
struct field {
	const char *name;
	enum json_kind kind;
};

struct kind_fields {
	const char *kind;
	struct field fields[10];
};

/* vfkit v0.6.4, pkg/config: the json tags (or Go's field names where there
 * are none: NetworkBlockDevice), embedded structs flattened. */
static const struct kind_fields vfkit_kinds[] = {
	{"linuxBootloader", {{"vmlinuzPath", J_STRING}, {"kernelCmdLine", J_STRING}, {"initrdPath", J_STRING}}},
	{"efiBootloader", {{"efiVariableStorePath", J_STRING}, {"createVariableStore", J_BOOL}}},
	/* vfkit's reader has no macOS bootloader kind: the whole object is vzkit's */
	{"macosBootloader",
	 {{"machineIdentifierPath", J_STRING}, {"hardwareModelPath", J_STRING}, {"auxImagePath", J_STRING},
	  {"restoreImage", J_STRING}}},
	{"virtioblk",
	 {{"devName", J_STRING}, {"readOnly", J_BOOL}, {"imagePath", J_STRING}, {"type", J_STRING},
	  {"deviceIdentifier", J_STRING}, {"size", J_STRING}}},
	{"nvme", {{"devName", J_STRING}, {"readOnly", J_BOOL}, {"imagePath", J_STRING}, {"type", J_STRING}, {"size", J_STRING}}},
	{"usbmassstorage",
	 {{"devName", J_STRING}, {"readOnly", J_BOOL}, {"imagePath", J_STRING}, {"type", J_STRING}, {"size", J_STRING}}},
	{"nbd",
	 {{"devName", J_STRING}, {"readOnly", J_BOOL}, {"uri", J_STRING}, {"DeviceIdentifier", J_STRING},
	  {"Timeout", J_INT}, {"SynchronizationMode", J_STRING}}},
	{"virtionet",
	 {{"nat", J_BOOL}, {"socket", J_OBJECT}, {"unixSocketPath", J_STRING}, {"vfkitMagic", J_BOOL},
	  {"macAddress", J_STRING}, {"fd", J_INT}}},
	{"virtiosock", {{"port", J_INT}, {"socketURL", J_STRING}, {"listen", J_BOOL}}},
	{"virtiofs", {{"mountTag", J_STRING}, {"sharedDir", J_STRING}}},
	{"rosetta", {{"mountTag", J_STRING}, {"installRosetta", J_BOOL}, {"ignoreIfMissing", J_BOOL}}},
	{"virtiorng", {{NULL, J_STRING}}},
	{"virtioballoon", {{NULL, J_STRING}}},
	{"virtioserial", {{"logFile", J_STRING}, {"usesStdio", J_BOOL}, {"usesPty", J_BOOL}, {"ptyName", J_STRING}}},
	{"virtiogpu", {{"usesGUI", J_BOOL}, {"width", J_INT}, {"height", J_INT}}},
	{"virtioinput", {{"inputType", J_STRING}}},
	{"ignition", {{"configPath", J_STRING}, {"socketPath", J_STRING}}},
};

static const struct field top_fields[] = {
	{"vcpus", J_INT}, {"memoryBytes", J_INT}, {"bootloader", J_OBJECT}, {"devices", J_ARRAY},
	{"timesync", J_OBJECT}, {"ignition", J_OBJECT}, {"nested", J_BOOL}, {"cloudInit", J_ARRAY},
	{NULL, J_STRING},
};

static bool is_kind(const json_t *value, enum json_kind kind)
{
	switch (kind) {
	case J_STRING:
		return json_is_string(value);
	case J_BOOL:
		return json_is_boolean(value);
	case J_INT:
		return json_is_integer(value);
	case J_OBJECT:
		return json_is_object(value);
	case J_ARRAY:
		return json_is_array(value);
	}
	return false;
}

/* Checks one object's fields against `fields`; appends problems to why. */
static void check_fields(json_t *object, const struct field *fields, const char *where, char *why, size_t size)
{
	const char *key;
	json_t *value;

	json_object_foreach(object, key, value) {
		const struct field *found = NULL;
		if (strcmp(key, "kind") == 0)
			continue;
		for (size_t i = 0; fields[i].name != NULL; i++)
			if (strcmp(fields[i].name, key) == 0)
				found = &fields[i];
		if (found == NULL)
			snprintf(why + strlen(why), size - strlen(why), " %s: '%s' is not a vfkit field;", where, key);
		else if (!is_kind(value, found->kind))
			snprintf(why + strlen(why), size - strlen(why), " %s: '%s' has the wrong JSON type;", where, key);
	}
}

static const struct kind_fields *kind_of(json_t *object)
{
	const char *kind = json_string_value(json_object_get(object, "kind"));
	for (size_t i = 0; kind != NULL && i < sizeof(vfkit_kinds) / sizeof(vfkit_kinds[0]); i++)
		if (strcmp(vfkit_kinds[i].kind, kind) == 0)
			return &vfkit_kinds[i];
	return NULL;
}

static void check_description(const char *name, const char *text)
{
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);
	char why[2048] = "";
	size_t index;
	json_t *device;

	if (root == NULL) {
		CHECK_NAMED(name, false, "not JSON: %s", error.text);
		return;
	}
	check_fields(root, top_fields, "top level", why, sizeof(why));
	if (json_object_get(root, "bootloader") != NULL) {
		const struct kind_fields *kind = kind_of(json_object_get(root, "bootloader"));
		if (kind == NULL)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " bootloader: unknown kind;");
		else
			check_fields(json_object_get(root, "bootloader"), kind->fields, kind->kind, why, sizeof(why));
	}
	if (json_object_get(root, "ignition") != NULL)
		check_fields(json_object_get(root, "ignition"), kind_of(json_object_get(root, "ignition"))->fields,
			     "ignition", why, sizeof(why));
	json_array_foreach(json_object_get(root, "devices"), index, device) {
		const struct kind_fields *kind = kind_of(device);
		if (kind == NULL)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " devices[%zu]: unknown kind;", index);
		else
			check_fields(device, kind->fields, kind->kind, why, sizeof(why));
	}
	CHECK_NAMED(name, why[0] == '\0', "%s", why);
	json_decref(root);
}

static char *dry_run(const char *const *args)
{
	char *argv[32];
	int argc = 0;
	struct vm_description vm;
	struct run_options options;
	struct vzk_error err = {0};
	char *json = NULL;

	argv[argc++] = "vzkit";
	for (size_t i = 0; args[i] != NULL; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	vm_description_init(&vm);
	if (args_parse(argc, argv, &vm, &options, &err) == 0)
		json = output_vm_json(&vm);
	vm_description_free(&vm);
	run_options_free(&options);
	return json;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

int main(void)
{
	const char *dir = getenv("GOLDEN_DIR") != NULL ? getenv("GOLDEN_DIR") : "test/devices/golden";
	DIR *listing = opendir(dir);
	struct dirent *entry;
	size_t seen = 0;

	if (listing == NULL) {
		CHECK_NAMED("vfkit fields: golden folder", false, "cannot open %s", dir);
		TEST_EXIT();
	}
	while ((entry = readdir(listing)) != NULL) {
		size_t len = strlen(entry->d_name);
		char path[768], name[400];
		char *text;
		if (len < 6 || strcmp(entry->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		snprintf(name, sizeof(name), "vfkit fields: golden %s has only fields vfkit reads", entry->d_name);
		text = golden_read_file(path);
		check_description(name, text != NULL ? text : "");
		free(text);
		seen++;
	}
	closedir(listing);
	CHECK_NAMED("vfkit fields: golden descriptions found", seen >= 10, "%zu", seen);

	{
		char *json = dry_run(ARGS("--bootloader", "linux,kernel=/k", "--device", "nbd,uri=nbd://h/e", "--device",
					  "virtio-net,type=unixgram,path=/s,offloading=off", "--device", "virtio-vsock"));
		TEST_CASE("vfkit fields: nbd, unixgram and a bare vsock are written as vfkit writes them");
		CHECK(json != NULL && strstr(json, "\"DeviceIdentifier\":\"\",\"Timeout\":15000000000,\"SynchronizationMode\":\"full\"") != NULL &&
		      strstr(json, "\"unixSocketPath\":\"/s\"") != NULL && strstr(json, "\"type\"") == NULL &&
		      strstr(json, "offloading") == NULL);
		check_description("vfkit fields: nbd, unixgram and a bare vsock have only fields vfkit reads", json != NULL ? json : "");
		free(json);
	}
	{
		/* size is vzkit's and a string as typed ("64G"), on every disk kind */
		char *json = dry_run(ARGS("--bootloader", "linux,kernel=/k", "--device", "virtio-blk,path=/a.img,size=64G",
					  "--device", "nvme,path=/b.img,size=1G", "--device",
					  "usb-mass-storage,path=/c.img,size=512M"));
		TEST_CASE("vfkit fields: a disk's size is written as the string it was given");
		CHECK(json != NULL && strstr(json, "\"size\":\"64G\"") != NULL && strstr(json, "\"size\":\"512M\"") != NULL);
		check_description("vfkit fields: disks with size have only fields vfkit reads, of their types",
				  json != NULL ? json : "");
		free(json);
	}
	{
		/* a reader that drops what it does not know must not change the VM: the
		 * checker itself must catch a field vfkit does not have */
		char why[256] = "";
		json_t *object = json_pack("{s:s,s:s}", "kind", "virtionet", "path", "/s");
		check_fields(object, kind_of(object)->fields, "virtionet", why, sizeof(why));
		CHECK_NAMED("vfkit fields: the check catches a field vfkit's reader would drop", strstr(why, "'path'") != NULL,
			    "%s", why);
		json_decref(object);
	}
	TEST_EXIT();
}

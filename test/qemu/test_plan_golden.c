/* Golden tests of the QEMU engine's plan from the VZ side: a struct vz_vm_configuration
 * filled in C, plus fixed host facts, gives exactly the command lines in
 * test/qemu/golden/<case>.txt. UPDATE_GOLDEN=1 rewrites the files from the
 * current plans (review the diff); by default any difference fails.
 * Also: NBD URI parsing, good and bad. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/golden.h"
#include "test/testlib.h"
#include "flags/nbd_uri.h"
#include "vz/qemu/plan.h"
#include "vz/vz.h"

#define RUNTIME "/run/vzkit-test"

struct golden_case {
	const char *name;
	void (*fill)(struct vz_vm_configuration *config, struct qemu_plan_params *params);
};

static char *dup_or_die(const char *text)
{
	char *copy = strdup(text);
	if (copy == NULL) {
		perror("strdup");
		exit(2);
	}
	return copy;
}

static void linux_boot(struct vz_vm_configuration *config, const char *cmdline)
{
	config->boot_loader.kind = VZ_BOOT_LOADER_LINUX;
	config->boot_loader.kernel_path = dup_or_die("/guest/vmlinuz");
	config->boot_loader.initrd_path = dup_or_die("/guest/initrd.img");
	config->boot_loader.command_line = dup_or_die(cmdline);
}

static void log_console(struct vz_vm_configuration *config, const char *path)
{
	struct vz_serial_port *port = vz_add_serial_port(config);
	port->attachment = VZ_SERIAL_ATTACHMENT_FILE;
	port->log_path = dup_or_die(path);
}

static struct vz_storage_device *disk(struct vz_vm_configuration *config, enum vz_storage_device_kind kind,
				      const char *path)
{
	struct vz_storage_device *device = vz_add_storage_device(config);
	device->kind = kind;
	device->attachment.kind = VZ_STORAGE_ATTACHMENT_DISK_IMAGE;
	device->attachment.path = dup_or_die(path);
	device->attachment.sync_mode = VZ_DISK_SYNC_FULL;
	return device;
}

static struct vz_storage_device *nbd_disk(struct vz_vm_configuration *config, const char *url)
{
	struct vz_storage_device *device = vz_add_storage_device(config);
	device->kind = VZ_STORAGE_VIRTIO_BLOCK;
	device->attachment.kind = VZ_STORAGE_ATTACHMENT_NBD;
	device->attachment.url = dup_or_die(url);
	device->attachment.sync_mode = VZ_DISK_SYNC_FULL;
	device->attachment.timeout_ms = 15000;
	return device;
}

static struct vz_network_device *nic(struct vz_vm_configuration *config, enum vz_network_attachment_kind kind,
				     uint8_t last)
{
	struct vz_network_device *device = vz_add_network_device(config);
	const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, last};
	device->attachment = kind;
	memcpy(device->mac_address, mac, sizeof(mac));
	return device;
}

static struct vz_directory_share *share(struct vz_vm_configuration *config, const char *dir, const char *tag)
{
	struct vz_directory_share *fs = vz_add_directory_share(config);
	fs->kind = VZ_SHARE_SINGLE_DIRECTORY;
	fs->directory = dup_or_die(dir);
	fs->tag = dup_or_die(tag);
	return fs;
}

/* ---- the cases ---- */

static void case_linux_minimal_tcg(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	config->boot_loader.kind = VZ_BOOT_LOADER_LINUX;
	config->boot_loader.kernel_path = dup_or_die("/guest/vmlinuz");
}

static void case_linux_console_tcg(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	config->cpu_count = 2;
	config->memory_size = 2048ull << 20;
	linux_boot(config, "console=hvc0 root=/dev/vda rw quiet, with=commas 'and quotes'");
	log_console(config, "/var/log/guest console,1.log");
}

static void case_linux_kvm(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->accel = QEMU_ACCEL_KVM;
	config->cpu_count = 4;
	linux_boot(config, "console=hvc0");
	log_console(config, "/tmp/console.log");
}

static void case_nested_kvm(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->accel = QEMU_ACCEL_KVM;
	config->platform.nested_virtualization = true;
	linux_boot(config, "console=hvc0");
}

static void case_aarch64_virt_tcg(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->arch = QEMU_ARCH_AARCH64;
	params->qemu_binary = "qemu-system-aarch64";
	linux_boot(config, "console=hvc0");
	log_console(config, "/tmp/console.log");
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/root.img");
	nic(config, VZ_NETWORK_ATTACHMENT_NAT, 0x01);
}

static void case_aarch64_nested_kvm(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->arch = QEMU_ARCH_AARCH64;
	params->qemu_binary = "qemu-system-aarch64";
	params->accel = QEMU_ACCEL_KVM;
	config->platform.nested_virtualization = true;
	linux_boot(config, "console=hvc0");
}

static void case_efi_x86(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	config->boot_loader.kind = VZ_BOOT_LOADER_EFI;
	config->boot_loader.variable_store_path = dup_or_die("/vms/one,two/efi-vars.fd");
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/vms/disk.img");
	log_console(config, "/vms/console.log");
}

static void case_efi_aarch64(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->arch = QEMU_ARCH_AARCH64;
	params->qemu_binary = "qemu-system-aarch64";
	params->efi_code = "/usr/share/AAVMF/AAVMF_CODE.fd";
	config->boot_loader.kind = VZ_BOOT_LOADER_EFI;
	config->boot_loader.variable_store_path = dup_or_die("/vms/efi-vars.fd");
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/vms/disk.img");
}

static bool virtio_blk_qcow2[] = {false, false, false, true, false, false};

static void case_virtio_blk(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_storage_device *device;

	params->disk_is_qcow2 = virtio_blk_qcow2;
	linux_boot(config, "console=hvc0");
	device = disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/raw.img");
	device->block_device_identifier = dup_or_die("serial,with,commas");
	device = disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/read only.img");
	device->attachment.read_only = true;
	device = disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/dev/sdb");
	device->attachment.kind = VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE;
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/thin.qcow2");
	device = disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/scratch,1.img");
	device->attachment.sync_mode = VZ_DISK_SYNC_NONE;
	device = disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/direct.img");
	device->attachment.caching_mode = VZ_DISK_CACHING_UNCACHED;
}

static void case_nvme(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	linux_boot(config, "console=hvc0");
	disk(config, VZ_STORAGE_NVME, "/images/nvme0.img");
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/between.img");
	disk(config, VZ_STORAGE_NVME, "/images/nvme1.img")->attachment.read_only = true;
}

static void case_usb_mass_storage(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	linux_boot(config, "console=hvc0");
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/root.img");
	disk(config, VZ_STORAGE_USB_MASS_STORAGE, "/images/installer.iso")->attachment.read_only = true;
	disk(config, VZ_STORAGE_USB_MASS_STORAGE, "/images/stick.img");
}

static void case_nbd(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_storage_device *device;

	(void)params;
	linux_boot(config, "console=hvc0");
	device = nbd_disk(config, "nbd://nbd.example.com:10810/my%20export");
	device->block_device_identifier = dup_or_die("nbd-disk");
	device = nbd_disk(config, "nbd://192.0.2.7");
	device->attachment.read_only = true;
	device->attachment.timeout_ms = 1500; /* QEMU counts whole seconds: 2 */
	device = nbd_disk(config, "nbd://[2001:db8::1]:5000/");
	device->attachment.sync_mode = VZ_DISK_SYNC_NONE;
	nbd_disk(config, "nbd+unix:///export,name?socket=/run/nbd%2Cserver.sock");
	nbd_disk(config, "nbds://secure.example.com/vol");
	nbd_disk(config, "nbds+unix:///?socket=/run/tls.sock&other=1");
}

static void case_net_nat(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	linux_boot(config, "console=hvc0");
	nic(config, VZ_NETWORK_ATTACHMENT_NAT, 0x56);
	nic(config, VZ_NETWORK_ATTACHMENT_NAT, 0x57);
}

static void case_net_file_handles(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_network_device *device;

	(void)params;
	linux_boot(config, "console=hvc0");
	device = nic(config, VZ_NETWORK_ATTACHMENT_FILE_HANDLE, 0x01);
	device->unix_socket_path = dup_or_die("/run/gvproxy.sock");
	device->vfkit_magic = true;
	nic(config, VZ_NETWORK_ATTACHMENT_NAT, 0x02);
	device = nic(config, VZ_NETWORK_ATTACHMENT_FILE_HANDLE, 0x03);
	device->fd = 7;
}

static void case_serial_ports(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_serial_port *port;

	(void)params;
	linux_boot(config, "console=hvc0");
	log_console(config, "/tmp/first.log");
	port = vz_add_serial_port(config);
	port->attachment = VZ_SERIAL_ATTACHMENT_STDIO;
	port = vz_add_serial_port(config);
	port->attachment = VZ_SERIAL_ATTACHMENT_PTY;
}

static void case_shares_root(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	(void)params;
	config->memory_size = 1024ull << 20;
	linux_boot(config, "console=hvc0");
	share(config, "/home/user/project", "project");
	share(config, "/srv/data,set", "data,set");
}

static void case_shares_unprivileged(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->helpers_as_root = false;
	linux_boot(config, "console=hvc0");
	share(config, "/home/user/project", "project");
}

static void case_rosetta_skipped(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_directory_share *rosetta;

	(void)params;
	linux_boot(config, "console=hvc0");
	rosetta = vz_add_directory_share(config);
	rosetta->kind = VZ_SHARE_ROSETTA;
	rosetta->tag = dup_or_die("rosetta");
	rosetta->rosetta_ignore_if_missing = true;
	share(config, "/srv/share", "share");
}

static void case_misc_devices(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_graphics_device *gpu;

	(void)params;
	linux_boot(config, "console=hvc0");
	config->entropy_device_count = 1;
	config->memory_balloon_device_count = 1;
	gpu = vz_add_graphics_device(config);
	gpu->width = 1024;
	gpu->height = 768;
	vz_add_keyboard(config, VZ_KEYBOARD_USB);
	vz_add_pointing_device(config, VZ_POINTING_USB_SCREEN_COORDINATE);
}

static void gui_config(struct vz_vm_configuration *config)
{
	struct vz_graphics_device *gpu;

	linux_boot(config, "console=tty0");
	config->gui = true;
	gpu = vz_add_graphics_device(config);
	gpu->width = 800;
	gpu->height = 600;
	gpu->uses_gui = true;
	vz_add_keyboard(config, VZ_KEYBOARD_USB);
}

static void case_gui_gtk(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->gui_display = true;
	gui_config(config);
}

static void case_gui_sdl(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	params->gui_display = true;
	params->gui_backend = "sdl";
	gui_config(config);
}

static void case_vsock(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_vsock_port *port;

	params->vsock_guest_cid = 4242;
	linux_boot(config, "console=hvc0");
	config->socket_device = true;
	port = vz_add_vsock_port(config);
	port->port = 1025;
	port->socket_path = dup_or_die("/run/ready.sock");
	port->listen = true;
}

static bool everything_qcow2[] = {false, true, false, false, false};

static void case_everything(struct vz_vm_configuration *config, struct qemu_plan_params *params)
{
	struct vz_serial_port *port;

	params->disk_is_qcow2 = everything_qcow2;
	params->vsock_guest_cid = 99;
	config->cpu_count = 2;
	config->memory_size = 1024ull << 20;
	linux_boot(config, "console=hvc0");
	log_console(config, "/tmp/console.log");
	port = vz_add_serial_port(config);
	port->attachment = VZ_SERIAL_ATTACHMENT_PTY;
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/root.img")->block_device_identifier = dup_or_die("root");
	disk(config, VZ_STORAGE_VIRTIO_BLOCK, "/images/data.qcow2");
	disk(config, VZ_STORAGE_NVME, "/images/nvme.img");
	disk(config, VZ_STORAGE_USB_MASS_STORAGE, "/images/usb.img");
	nbd_disk(config, "nbd://localhost/export");
	nic(config, VZ_NETWORK_ATTACHMENT_NAT, 0x10);
	share(config, "/srv/share", "share");
	config->entropy_device_count = 1;
	config->memory_balloon_device_count = 1;
	config->socket_device = true;
}

static const struct golden_case cases[] = {
	{"linux-minimal-tcg", case_linux_minimal_tcg},
	{"linux-console-tcg", case_linux_console_tcg},
	{"linux-kvm", case_linux_kvm},
	{"nested-kvm", case_nested_kvm},
	{"aarch64-virt-tcg", case_aarch64_virt_tcg},
	{"aarch64-nested-kvm", case_aarch64_nested_kvm},
	{"efi-x86", case_efi_x86},
	{"efi-aarch64", case_efi_aarch64},
	{"virtio-blk", case_virtio_blk},
	{"nvme", case_nvme},
	{"usb-mass-storage", case_usb_mass_storage},
	{"nbd", case_nbd},
	{"net-nat", case_net_nat},
	{"net-file-handles", case_net_file_handles},
	{"serial-ports", case_serial_ports},
	{"shares-root", case_shares_root},
	{"shares-unprivileged", case_shares_unprivileged},
	{"rosetta-skipped", case_rosetta_skipped},
	{"misc-devices", case_misc_devices},
	{"gui-gtk", case_gui_gtk},
	{"gui-sdl", case_gui_sdl},
	{"vsock", case_vsock},
	{"everything", case_everything},
};

/* ---- rendering a plan for comparison ---- */

/* One option per line ("-blockdev driver=..."), so diffs point at a device. */
static void render_argv(const struct strv *argv, FILE *out)
{
	for (size_t i = 0; i < argv->count; i++) {
		const char *item = argv->items[i];
		bool takes_value = i > 0 && item[0] == '-' && i + 1 < argv->count && argv->items[i + 1][0] != '-';
		if (takes_value) {
			fprintf(out, "%s %s\n", item, argv->items[i + 1]);
			i++;
		} else {
			fprintf(out, "%s\n", item);
		}
	}
}

static void render_plan(const struct qemu_plan *plan, FILE *out)
{
	static const char *const fd_kinds[] = {
		[QEMU_FD_NET_INHERITED] = "the user's datagram socket",
		[QEMU_FD_NET_UNIXGRAM] = "a unixgram socket vzkit connects",
		[QEMU_FD_QMP] = "QEMU's end of the monitor's socket pair",
	};

	fprintf(out, "# machine %s%s\n", plan->machine, plan->uses_stdio ? ", console on stdio" : "");
	for (size_t i = 0; i < plan->helper_count; i++) {
		fprintf(out, "# helper %zu, listening on %s\n", i, plan->helpers[i].socket_path);
		render_argv(&plan->helpers[i].argv, out);
	}
	fprintf(out, "# qemu\n");
	render_argv(&plan->argv, out);
	for (size_t i = 0; i < plan->fd_count; i++)
		if (plan->fds[i].kind == QEMU_FD_QMP)
			fprintf(out, "# fd %d: %s\n", plan->fds[i].target_fd, fd_kinds[plan->fds[i].kind]);
		else
			fprintf(out, "# fd %d: %s, for network device %zu\n", plan->fds[i].target_fd,
				fd_kinds[plan->fds[i].kind], plan->fds[i].network_index);
	if (plan->tls_dir != NULL)
		fprintf(out, "# tls: %s/ca-cert.pem -> %s\n", plan->tls_dir, plan->tls_ca_file);
}

static void run_case(const struct golden_case *test, const char *golden_dir)
{
	struct vz_vm_configuration config = {.cpu_count = 1, .memory_size = 512ull << 20};
	struct qemu_plan_params params = {
		.arch = QEMU_ARCH_X86_64,
		.accel = QEMU_ACCEL_TCG,
		.qemu_binary = "qemu-system-x86_64",
		.virtiofsd = "/usr/lib/qemu/virtiofsd",
		.runtime_dir = RUNTIME,
		.efi_code = "/usr/share/OVMF/OVMF_CODE_4M.fd",
		.efi_vars_format = "raw",
		.tls_ca_file = "/etc/ssl/certs/ca-certificates.crt",
		.helpers_as_root = true,
		.gui_backend = "gtk",
	};
	struct qemu_plan plan;
	struct vzk_error err = {0};
	char path[1024], name[128], *rendered = NULL;
	size_t rendered_size = 0;

	snprintf(path, sizeof(path), "%s/%s.txt", golden_dir, test->name);
	snprintf(name, sizeof(name), "golden %s", test->name);
	test->fill(&config, &params);
	if (qemu_plan_build(&config, &params, &plan, &err) != 0) {
		CHECK_NAMED(name, false, "plan failed: %s", err.message);
		vz_vm_configuration_free(&config);
		return;
	}
	FILE *out = open_memstream(&rendered, &rendered_size);
	render_plan(&plan, out);
	fclose(out);
	char why[1024];
	CHECK_NAMED(name, golden_matches(path, rendered, true, why, sizeof(why)), "%s", why);
	free(rendered);
	qemu_plan_free(&plan);
	vz_vm_configuration_free(&config);
}

/* ---- NBD URIs ---- */

static void check_nbd_uri(const char *uri, bool tls, bool is_unix, const char *host, const char *port,
			  const char *socket, const char *export_name)
{
	struct nbd_uri address;
	struct vzk_error err = {0};
	char name[256];

	snprintf(name, sizeof(name), "nbd uri %s", uri);
	int status = nbd_uri_parse(uri, "--device nbd", &address, &err);
	CHECK_NAMED(name,
		    status == 0 && address.tls == tls && address.is_unix == is_unix && strcmp(address.host, host) == 0 &&
			    strcmp(address.port, port) == 0 && strcmp(address.socket, socket) == 0 &&
			    strcmp(address.export_name, export_name) == 0,
		    "status %d (%s): tls %d unix %d host '%s' port '%s' socket '%s' export '%s'", status, err.message,
		    address.tls, address.is_unix, address.host, address.port, address.socket, address.export_name);
}

static void check_tls_hostname(const char *uri, const char *want)
{
	struct nbd_uri address;
	struct vzk_error err = {0};
	char name[256];

	snprintf(name, sizeof(name), "nbd uri %s: tls hostname %s", uri, want);
	CHECK_NAMED(name, nbd_uri_parse(uri, "--device nbd", &address, &err) == 0 && strcmp(address.tls_hostname, want) == 0,
		    "got '%s' (%s)", address.tls_hostname, err.message);
}

static void check_bad_nbd_uri(const char *uri)
{
	struct nbd_uri address;
	struct vzk_error err = {0};
	char name[256];

	snprintf(name, sizeof(name), "bad nbd uri %s", uri);
	CHECK_NAMED(name, nbd_uri_parse(uri, "--device nbd", &address, &err) != 0 && err.message[0] != '\0',
		    "accepted: host '%s' export '%s'", address.host, address.export_name);
}

int main(void)
{
	char golden_dir[512];
	const char *source = __FILE__;
	const char *slash = strrchr(source, '/');

	snprintf(golden_dir, sizeof(golden_dir), "%.*sgolden", slash != NULL ? (int)(slash - source + 1) : 0, source);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], golden_dir);

	check_nbd_uri("nbd://host", false, false, "host", "10809", "", "");
	check_nbd_uri("nbd://host:1234/exp", false, false, "host", "1234", "", "exp");
	check_nbd_uri("nbd://[::1]:7000/a%2Fb", false, false, "::1", "7000", "", "a/b");
	check_nbd_uri("nbd://h/a%2fb%7e", false, false, "h", "10809", "", "a/b~"); /* lower-case escapes */
	check_nbd_uri("nbd://[fe80::1]", false, false, "fe80::1", "10809", "", "");
	check_nbd_uri("nbds://h.example/e", true, false, "h.example", "10809", "", "e");
	check_nbd_uri("nbd+unix:///?socket=/run/s.sock", false, true, "", "", "/run/s.sock", "");
	check_nbd_uri("nbd+unix:///disk?socket=/run/s%20x.sock", false, true, "", "", "/run/s x.sock", "disk");
	check_nbd_uri("nbds+unix:///e?tls=1&socket=/s", true, true, "", "", "/s", "e");
	check_tls_hostname("nbds://h.example:99/e", "h.example");
	check_tls_hostname("nbds://[::1]/e", "::1");
	check_tls_hostname("nbds://10.1.2.3/e?tls-hostname=server.example", "server.example");
	check_tls_hostname("nbds+unix:///e?socket=/s", "localhost");
	check_tls_hostname("nbds+unix:///e?socket=/s&tls-hostname=nbd%2Dbox", "nbd-box");
	check_bad_nbd_uri("http://host/x");
	check_bad_nbd_uri("nbd://");
	check_bad_nbd_uri("nbd://:10809/x");
	check_bad_nbd_uri("nbd://host:/x");
	check_bad_nbd_uri("nbd://host:12a/x");
	check_bad_nbd_uri("nbd://[::1/x");
	check_bad_nbd_uri("nbd://[::1]x/x");
	check_bad_nbd_uri("nbd://host/a%0");
	check_bad_nbd_uri("nbd://host/a%00b");
	check_bad_nbd_uri("nbd://host/a%zzb");
	check_bad_nbd_uri("nbd+unix:///x");
	check_bad_nbd_uri("nbd+unix:///x?nosocket=/s");
	check_bad_nbd_uri("nbd+unix:///x?socket=");
	check_bad_nbd_uri("nbd+unix://host/x?socket=/s");
	check_bad_nbd_uri("nbds://host/x?tls-hostname=a%zz");
	TEST_EXIT();
}

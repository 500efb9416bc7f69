/* The VZ object model: plain C structs that mirror the configuration classes of
 * Apple's Virtualization framework (VZVirtualMachineConfiguration and friends).
 * Devices and bootloaders emit these; vz/validate.c checks them with the
 * framework's rules; the engines (vz/qemu/, vz/apple/) consume them and
 * nothing else. Strings are owned by the structs; vz_vm_configuration_free()
 * releases everything. Lists keep the order the user gave. */
#ifndef VZKIT_VZ_VZ_H
#define VZKIT_VZ_VZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags/error.h"

/* ---- boot loaders (VZLinuxBootLoader, VZEFIBootLoader, VZMacOSBootLoader) ---- */
enum vz_boot_loader_kind {
	VZ_BOOT_LOADER_NONE = 0,
	VZ_BOOT_LOADER_LINUX,
	VZ_BOOT_LOADER_EFI,
	VZ_BOOT_LOADER_MACOS,
};

struct vz_boot_loader {
	enum vz_boot_loader_kind kind;
	/* linux */
	char *kernel_path;  /* kernelURL */
	char *initrd_path;  /* initialRamdiskURL, may be NULL */
	char *command_line; /* commandLine, may be NULL */
	/* efi: VZEFIVariableStore */
	char *variable_store_path;
	bool create_variable_store; /* create the store when it does not exist yet */
	/* macos: where to install from when the identity files (platform) do
	 * not exist yet: a local .ipsw, an http(s) URL, or "latest" (the
	 * framework's latest supported image); NULL: they must exist. */
	char *restore_image;
	bool start_up_from_recovery; /* macos: VZMacOSVirtualMachineStartOptions (macOS 13) */
};

/* ---- platform (VZGenericPlatformConfiguration, VZMacPlatformConfiguration) ---- */
enum vz_platform_kind {
	VZ_PLATFORM_GENERIC = 0,
	VZ_PLATFORM_MAC,
};

struct vz_platform {
	enum vz_platform_kind kind;
	bool nested_virtualization; /* generic: nestedVirtualizationEnabled (macOS 15) */
	/* mac: VZMacHardwareModel / VZMacMachineIdentifier dataRepresentation files,
	 * VZMacAuxiliaryStorage file */
	char *hardware_model_path;
	char *machine_identifier_path;
	char *auxiliary_storage_path;
};

/* ---- storage ---- */
enum vz_storage_attachment_kind {
	VZ_STORAGE_ATTACHMENT_DISK_IMAGE = 0, /* VZDiskImageStorageDeviceAttachment */
	VZ_STORAGE_ATTACHMENT_BLOCK_DEVICE,   /* VZDiskBlockDeviceStorageDeviceAttachment */
	VZ_STORAGE_ATTACHMENT_NBD,            /* VZNetworkBlockDeviceStorageDeviceAttachment */
};

/* VZDiskImageCachingMode */
enum vz_disk_caching_mode {
	VZ_DISK_CACHING_AUTOMATIC = 0,
	VZ_DISK_CACHING_UNCACHED = 1,
	VZ_DISK_CACHING_CACHED = 2,
};

/* VZDiskImageSynchronizationMode / VZDiskSynchronizationMode */
enum vz_disk_sync_mode {
	VZ_DISK_SYNC_FULL = 1,
	VZ_DISK_SYNC_FSYNC = 2,
	VZ_DISK_SYNC_NONE = 3,
};

struct vz_storage_attachment {
	enum vz_storage_attachment_kind kind;
	char *path;  /* disk image or block device node */
	char *url;   /* NBD: nbd://, nbds://, nbd+unix:// */
	bool read_only;
	enum vz_disk_caching_mode caching_mode;
	enum vz_disk_sync_mode sync_mode;
	uint64_t timeout_ms; /* NBD: timeout (default 15000) */
	/* disk image: create it, sparse and this many bytes, when it does not
	 * exist (vz_create_missing_disk_images); 0: it must exist */
	uint64_t create_size;
};

enum vz_storage_device_kind {
	VZ_STORAGE_VIRTIO_BLOCK = 0, /* VZVirtioBlockDeviceConfiguration */
	VZ_STORAGE_NVME,             /* VZNVMExpressControllerDeviceConfiguration */
	VZ_STORAGE_USB_MASS_STORAGE, /* VZUSBMassStorageDeviceConfiguration */
};

struct vz_storage_device {
	enum vz_storage_device_kind kind;
	struct vz_storage_attachment attachment;
	char *block_device_identifier; /* virtio-blk: blockDeviceIdentifier (<= 20 bytes) */
};

/* ---- network (VZVirtioNetworkDeviceConfiguration) ---- */
enum vz_network_attachment_kind {
	VZ_NETWORK_ATTACHMENT_NAT = 0,     /* VZNATNetworkDeviceAttachment */
	VZ_NETWORK_ATTACHMENT_FILE_HANDLE, /* VZFileHandleNetworkDeviceAttachment */
};

struct vz_network_device {
	enum vz_network_attachment_kind attachment;
	int fd;                 /* file handle: an inherited connected datagram socket, or -1 */
	char *unix_socket_path; /* file handle: unixgram socket to connect to (vfkit makes the fd) */
	bool vfkit_magic;       /* send the "VFKT" datagram first on unix sockets */
	bool offloading;        /* type=unixgram,offloading=on */
	uint8_t mac_address[6]; /* VZMACAddress; always set (random when the user gave none) */
};

/* ---- serial ports (VZVirtioConsoleDeviceSerialPortConfiguration) ---- */
enum vz_serial_attachment_kind {
	VZ_SERIAL_ATTACHMENT_FILE = 0, /* VZFileSerialPortAttachment (truncated at each run) */
	VZ_SERIAL_ATTACHMENT_STDIO,    /* VZFileHandleSerialPortAttachment on stdin/stdout */
	VZ_SERIAL_ATTACHMENT_PTY,      /* VZFileHandleSerialPortAttachment on a new pty */
};

struct vz_serial_port {
	enum vz_serial_attachment_kind attachment;
	char *log_path; /* file */
};

/* ---- vsock (one VZVirtioSocketDeviceConfiguration, plus the port proxies) ---- */
struct vz_vsock_port {
	uint32_t port;
	char *socket_path; /* host unix socket */
	bool listen;       /* true: the guest connects to `port`, we connect to socket_path;
			      false (connect): we listen on socket_path and connect to the guest */
};

/* ---- directory sharing (VZVirtioFileSystemDeviceConfiguration) ---- */
enum vz_directory_share_kind {
	VZ_SHARE_SINGLE_DIRECTORY = 0, /* VZSingleDirectoryShare(VZSharedDirectory) */
	VZ_SHARE_ROSETTA,              /* VZLinuxRosettaDirectoryShare */
};

struct vz_directory_share {
	enum vz_directory_share_kind kind;
	char *tag;        /* VZVirtioFileSystemDeviceConfiguration.tag */
	char *directory;  /* single directory: host path */
	bool read_only;
	bool rosetta_install;           /* rosetta: install when missing */
	bool rosetta_ignore_if_missing; /* rosetta: warn and skip when unavailable */
};

/* ---- graphics and input ---- */
enum vz_graphics_kind {
	VZ_GRAPHICS_VIRTIO = 0, /* VZVirtioGraphicsDeviceConfiguration + one scanout */
	VZ_GRAPHICS_MAC,        /* VZMacGraphicsDeviceConfiguration + one display */
};

struct vz_graphics_device {
	enum vz_graphics_kind kind;
	uint32_t width, height;
	uint32_t pixels_per_inch; /* mac: 80 */
	bool uses_gui;
};

enum vz_keyboard_kind { VZ_KEYBOARD_USB = 0, VZ_KEYBOARD_MAC };
enum vz_pointing_kind { VZ_POINTING_USB_SCREEN_COORDINATE = 0, VZ_POINTING_MAC_TRACKPAD };

/* ---- the whole VM (VZVirtualMachineConfiguration) ---- */
struct vz_vm_configuration {
	uint32_t cpu_count;
	uint64_t memory_size; /* bytes */
	struct vz_boot_loader boot_loader;
	struct vz_platform platform;

	struct vz_storage_device *storage_devices;
	size_t storage_device_count;
	struct vz_network_device *network_devices;
	size_t network_device_count;
	struct vz_serial_port *serial_ports;
	size_t serial_port_count;
	bool socket_device; /* one virtio-vsock device, however many ports */
	struct vz_vsock_port *vsock_ports;
	size_t vsock_port_count;
	struct vz_directory_share *directory_shares;
	size_t directory_share_count;
	struct vz_graphics_device *graphics_devices;
	size_t graphics_device_count;
	enum vz_keyboard_kind *keyboards;
	size_t keyboard_count;
	enum vz_pointing_kind *pointing_devices;
	size_t pointing_device_count;
	size_t entropy_device_count;        /* VZVirtioEntropyDeviceConfiguration */
	size_t memory_balloon_device_count; /* VZVirtioTraditionalMemoryBalloonDeviceConfiguration */

	/* --cloud-init: storage_devices[cloud_init_disk_index] is a read-only
	 * ISO the launcher writes from these files just before the engine starts
	 * (so every plan shows the disk a real run attaches). */
	char **cloud_init_files;
	size_t cloud_init_file_count; /* 0: no cloud-init disk */
	size_t cloud_init_disk_index;

	/* Launcher services that ride on the configuration. */
	uint32_t timesync_vsock_port; /* 0: none */
	char *ignition_path;          /* served over vsock port 1024; NULL: none */
	bool gui;                     /* open a window (--gui) */
};

/* Framework limits (VZVirtualMachineConfiguration minimum/maximum...). */
#define VZ_MIN_CPU_COUNT 1u
#define VZ_MAX_CPU_COUNT 64u
#define VZ_MIN_MEMORY_SIZE (128ull << 20)
#define VZ_MAX_MEMORY_SIZE (1ull << 40)
#define VZ_IGNITION_VSOCK_PORT 1024u

/* Appending to the lists: each returns a zeroed new element, or NULL on
 * out-of-memory. */
struct vz_storage_device *vz_add_storage_device(struct vz_vm_configuration *config);
struct vz_network_device *vz_add_network_device(struct vz_vm_configuration *config);
struct vz_serial_port *vz_add_serial_port(struct vz_vm_configuration *config);
struct vz_vsock_port *vz_add_vsock_port(struct vz_vm_configuration *config);
struct vz_directory_share *vz_add_directory_share(struct vz_vm_configuration *config);
struct vz_graphics_device *vz_add_graphics_device(struct vz_vm_configuration *config);
int vz_add_keyboard(struct vz_vm_configuration *config, enum vz_keyboard_kind kind);
int vz_add_pointing_device(struct vz_vm_configuration *config, enum vz_pointing_kind kind);

void vz_vm_configuration_free(struct vz_vm_configuration *config);

/* Checks the whole configuration with the framework's rules (vz/validate.c).
 * Usage error on the first fault, naming what is wrong. */
int vz_validate(const struct vz_vm_configuration *config, struct vzk_error *err);

/* Checks what the host must hold before a start: kernel, initrd, disk images,
 * shared directories, the directories of log files and sockets, the EFI
 * variable store (unless it will be created). Usage error naming the path. */
int vz_check_host_paths(const struct vz_vm_configuration *config, struct vzk_error *err);

/* --bootloader macos with restoreImage and none of the three identity files:
 * the engine installs macOS before it boots. */
bool vz_macos_needs_install(const struct vz_vm_configuration *config);

/* Creates each disk image that does not exist and has a create_size: a
 * sparse file of that size, never overwriting (O_EXCL). Usage error naming
 * the device when it cannot. */
int vz_create_missing_disk_images(const struct vz_vm_configuration *config, struct vzk_error *err);

/* "52:54:00:12:34:56" */
void vz_format_mac(const uint8_t mac[6], char out[18]);

#endif

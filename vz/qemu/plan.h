/* The QEMU engine's plan: a pure function from a validated VZ configuration
 * (plus the facts found on the host) to the QEMU command line, the helper
 * command lines (one virtiofsd per share) and the descriptors to hand over.
 * Nothing here touches the host, so golden tests can pin every argv. */
#ifndef VZKIT_VZ_QEMU_PLAN_H
#define VZKIT_VZ_QEMU_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "flags/error.h"
#include "vz/qemu/strv.h"
#include "vz/vz.h"

enum qemu_arch { QEMU_ARCH_X86_64 = 0, QEMU_ARCH_AARCH64 };
enum qemu_accel { QEMU_ACCEL_TCG = 0, QEMU_ACCEL_KVM };

/* Host facts the plan depends on; found by vz/qemu/host.c, fixed in tests. */
struct qemu_plan_params {
	enum qemu_arch arch;
	enum qemu_accel accel;
	const char *qemu_binary;     /* qemu-system-x86_64 */
	const char *virtiofsd;       /* /usr/lib/qemu/virtiofsd */
	const char *runtime_dir;     /* private directory for sockets and logs */
	const char *efi_code;        /* firmware code (EFI boot only) */
	const char *efi_vars_format; /* "raw" or "qcow2" */
	const char *tls_ca_file;     /* CA bundle that nbds:// servers are checked against */
	bool helpers_as_root;        /* virtiofsd can chroot */
	bool gui_display;            /* a display is available for --gui */
	const char *gui_backend;     /* "gtk" or "sdl" */
	uint32_t vsock_guest_cid;    /* 0: no vsock device; else the CID vzkit's vsock backend gives the guest */
	bool *disk_is_qcow2;         /* per storage device: image has the qcow2 magic */
};

/* A descriptor the QEMU process gets at a fixed number (3, 4, ...). */
enum qemu_fd_kind {
	QEMU_FD_NET_INHERITED, /* the user's fd=N */
	QEMU_FD_NET_UNIXGRAM,  /* a unixgram socket vzkit connects to unix_socket_path */
	QEMU_FD_QMP,           /* QEMU's end of a socket pair: its monitor, vzkit holds the other end */
};

struct qemu_passed_fd {
	enum qemu_fd_kind kind;
	int target_fd;       /* the number QEMU sees */
	size_t network_index; /* the network kinds' device */
};

struct qemu_helper {
	struct strv argv;
	char *socket_path; /* where the helper listens before QEMU starts */
	char *device;      /* what it serves, for messages: "virtio-fs share 'TAG'" */
};

struct qemu_plan {
	struct strv argv;
	struct qemu_helper *helpers;
	size_t helper_count;
	struct qemu_passed_fd *fds;
	size_t fd_count;
	const char *machine; /* "q35", "virt" */
	bool uses_stdio;     /* a serial port is on vzkit's terminal */
	/* nbds://: QEMU reads the CA from <tls_dir>/ca-cert.pem, a symlink to
	 * params->tls_ca_file made at start; NULL when no disk uses TLS. */
	char *tls_dir;
	const char *tls_ca_file;
	/* vsock: the vhost-user socket vzkit listens on before QEMU starts
	 * (vz/qemu/vsock.c); NULL when the VM has no vsock device. */
	char *vsock_socket_path;
};

#define QEMU_FIRST_PASSED_FD 3

int qemu_plan_build(const struct vz_vm_configuration *config, const struct qemu_plan_params *params,
		    struct qemu_plan *plan, struct vzk_error *err);
void qemu_plan_free(struct qemu_plan *plan);

#endif

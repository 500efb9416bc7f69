/* The back-end half of vhost-user (doc/vsock.md): the messages a front end
 * (QEMU) sends to set a device up, the guest memory table it hands over as
 * file descriptors, and the rings it describes. Device-neutral: a device
 * supplies its feature bits, config space and callbacks; vz/qemu/vsock_backend.c
 * is the one device here. Single-threaded: one thread owns a struct vhost_user. */
#ifndef VZKIT_VZ_QEMU_VHOST_USER_H
#define VZKIT_VZ_QEMU_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vz/qemu/virtqueue.h"

#define VHOST_USER_MAX_QUEUES 2
#define VHOST_USER_MAX_CONFIG 256

/* Message types (front end -> back end) this back end knows by name. */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_RESET_DEVICE = 34,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VHOST_USER_VRING_NOFD (1ull << 8)

#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9

#define VHOST_USER_HEADER_SIZE 12
#define VHOST_USER_MAX_PAYLOAD 4096
#define VHOST_USER_MAX_FDS 8

/* One region of guest RAM, mapped from the fd SET_MEM_TABLE passed. */
struct guest_memory_region {
	uint64_t guest_phys_addr;
	uint64_t size;
	uint64_t user_addr; /* where the front end has it mapped (ring addresses use these) */
	uint8_t *host;      /* where we have it mapped */
	void *mapping;
	size_t mapping_size;
};

struct guest_memory {
	struct guest_memory_region regions[VHOST_USER_MAX_FDS];
	size_t count;
};

/* A pointer to guest-physical [gpa, gpa + len) when it lies in one region, else NULL. */
void *guest_memory_at(const struct guest_memory *memory, uint64_t gpa, uint64_t len);
/* The host address of gpa and, in *span, how many of the next len bytes
 * follow it contiguously in the same region (1..len); NULL when gpa is not in
 * guest memory or len is 0. */
void *guest_memory_span(const struct guest_memory *memory, uint64_t gpa, uint64_t len, uint64_t *span);
/* Like guest_memory_at for the front end's virtual addresses. */
void *guest_memory_at_user(const struct guest_memory *memory, uint64_t user_addr, uint64_t len);
void guest_memory_unmap(struct guest_memory *memory);

/* What a device tells the vhost-user layer. Callbacks run on the owning thread. */
struct vhost_user_device {
	uint64_t features;         /* virtio feature bits offered (VERSION_1 and the protocol bit are added) */
	const uint8_t *config;     /* the device's config space (GET_CONFIG) */
	size_t config_size;
	size_t queue_count;        /* <= VHOST_USER_MAX_QUEUES */
	void *context;
	/* A queue's kick fd changes; called before the old one is closed, so it
	 * can be taken out of an epoll set. Either may be -1. */
	void (*kick_changed)(void *context, size_t index, int old_fd, int new_fd);
	/* Rings were started, stopped, enabled or moved, or memory changed: a
	 * device drops whatever it cached from guest memory. */
	void (*queues_changed)(void *context);
	/* RESET_OWNER / RESET_DEVICE: the driver is gone, and with it whatever
	 * the device held for it. */
	void (*reset)(void *context);
	/* A problem with the front end's messages, worth one log line. */
	void (*complain)(void *context, const char *message);
};

struct vhost_user {
	int fd; /* the front end's connection; -1: none */
	const struct vhost_user_device *device;
	uint64_t acked_features;
	uint64_t acked_protocol_features;
	bool owned;
	struct guest_memory memory;
	struct virtqueue queues[VHOST_USER_MAX_QUEUES];
};

/* Takes a connected front end (owns fd). */
void vhost_user_init(struct vhost_user *vu, const struct vhost_user_device *device, int fd);
/* Reads and handles one message. 0: done; -1: the front end hung up or broke
 * the protocol (the caller calls vhost_user_reset). */
int vhost_user_handle_message(struct vhost_user *vu);
/* Drops the front end: closes its socket and every ring fd, unmaps memory. */
void vhost_user_reset(struct vhost_user *vu);
/* A queue the device may use now: started, enabled, its rings in memory. */
bool vhost_user_queue_ready(const struct vhost_user *vu, size_t index);

/* Message framing, shared with the tests that play the front end: one
 * message with up to VHOST_USER_MAX_FDS fds. -1 on error. */
int vhost_user_send(int fd, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
		    size_t fd_count);
/* Reads one message: header fields, payload (at most VHOST_USER_MAX_PAYLOAD,
 * into payload), received fds (the caller closes them). 0, or -1 on EOF,
 * a short message or an oversized payload. */
int vhost_user_receive(int fd, uint32_t *request, uint32_t *flags, uint8_t *payload, uint32_t *size, int *fds,
		       size_t *fd_count);

#endif

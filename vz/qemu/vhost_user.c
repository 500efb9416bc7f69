/* vhost-user, back-end side (doc/vsock.md, "vhost-user"). The front end is
 * QEMU, trusted as far as it goes, but its messages are still checked for
 * size and range: a bad one is refused, never acted on half-way. */
#include "vz/qemu/vhost_user.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROTOCOL_FEATURES_OFFERED                                                                           \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |                  \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG))
#define VRING_STATE_SIZE 8
#define VRING_ADDR_SIZE 40
#define MEMORY_HEADER_SIZE 8
#define MEMORY_REGION_SIZE 32
#define CONFIG_HEADER_SIZE 12

/* ---- guest memory ---- */

void *guest_memory_span(const struct guest_memory *memory, uint64_t gpa, uint64_t len, uint64_t *span)
{
	if (len == 0)
		return NULL;
	for (size_t i = 0; i < memory->count; i++) {
		const struct guest_memory_region *region = &memory->regions[i];
		if (gpa < region->guest_phys_addr || gpa - region->guest_phys_addr >= region->size)
			continue;
		uint64_t offset = gpa - region->guest_phys_addr;
		uint64_t left = region->size - offset;
		*span = len < left ? len : left;
		return region->host + offset;
	}
	return NULL;
}

void *guest_memory_at(const struct guest_memory *memory, uint64_t gpa, uint64_t len)
{
	uint64_t span = 0;
	void *host = guest_memory_span(memory, gpa, len, &span);

	return host != NULL && span == len ? host : NULL;
}

void *guest_memory_at_user(const struct guest_memory *memory, uint64_t user_addr, uint64_t len)
{
	for (size_t i = 0; i < memory->count; i++) {
		const struct guest_memory_region *region = &memory->regions[i];
		if (user_addr < region->user_addr || user_addr - region->user_addr >= region->size)
			continue;
		uint64_t offset = user_addr - region->user_addr;
		if (len > region->size - offset)
			return NULL;
		return region->host + offset;
	}
	return NULL;
}

void guest_memory_unmap(struct guest_memory *memory)
{
	for (size_t i = 0; i < memory->count; i++)
		munmap(memory->regions[i].mapping, memory->regions[i].mapping_size);
	memset(memory, 0, sizeof(*memory));
}

/* ---- framing ---- */

int vhost_user_send(int fd, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
		    size_t fd_count)
{
	uint32_t header[3] = {request, flags, size};
	struct iovec iov[2] = {{header, sizeof(header)}, {(void *)(uintptr_t)payload, size}};
	union {
		char buffer[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr message = {.msg_iov = iov, .msg_iovlen = size > 0 ? 2 : 1};
	size_t total = sizeof(header) + size;
	ssize_t sent;

	if (fd_count > VHOST_USER_MAX_FDS || size > VHOST_USER_MAX_PAYLOAD)
		return -1;
	if (fd_count > 0) {
		memset(&control, 0, sizeof(control));
		message.msg_control = control.buffer;
		message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
	}
	do
		sent = sendmsg(fd, &message, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -1;
	/* A unix stream socket takes a short message whole or not at all;
	 * the rest of a partial send goes without the fds. */
	for (size_t done = (size_t)sent; done < total;) {
		const uint8_t *from = done < sizeof(header) ? (const uint8_t *)header + done
							     : (const uint8_t *)payload + (done - sizeof(header));
		size_t piece = done < sizeof(header) ? sizeof(header) - done : total - done;
		ssize_t n = send(fd, from, piece, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int read_exact(int fd, void *buffer, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = read(fd, (uint8_t *)buffer + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

int vhost_user_receive(int fd, uint32_t *request, uint32_t *flags, uint8_t *payload, uint32_t *size, int *fds,
		       size_t *fd_count)
{
	uint32_t header[3];
	struct iovec iov = {header, sizeof(header)};
	union {
		char buffer[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
				 .msg_controllen = sizeof(control.buffer)};
	ssize_t got;

	*fd_count = 0;
	do
		got = recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message); got > 0 && cmsg != NULL;
	     cmsg = CMSG_NXTHDR(&message, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int received;
			memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (*fd_count < VHOST_USER_MAX_FDS)
				fds[(*fd_count)++] = received;
			else
				close(received);
		}
	}
	if (got <= 0 || (message.msg_flags & MSG_CTRUNC) ||
	    ((size_t)got < sizeof(header) && read_exact(fd, (uint8_t *)header + got, sizeof(header) - (size_t)got) != 0))
		goto fail;
	*request = header[0];
	*flags = header[1];
	*size = header[2];
	if (*size > VHOST_USER_MAX_PAYLOAD || read_exact(fd, payload, *size) != 0)
		goto fail;
	return 0;
fail:
	for (size_t i = 0; i < *fd_count; i++)
		close(fds[i]);
	*fd_count = 0;
	return -1;
}

/* ---- the device ---- */

static void complain(struct vhost_user *vu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void complain(struct vhost_user *vu, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (vu->device->complain == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vu->device->complain(vu->device->context, line);
}

void vhost_user_init(struct vhost_user *vu, const struct vhost_user_device *device, int fd)
{
	memset(vu, 0, sizeof(*vu));
	vu->fd = fd;
	vu->device = device;
	for (size_t i = 0; i < VHOST_USER_MAX_QUEUES; i++)
		virtqueue_init(&vu->queues[i]);
}

static void set_kick_fd(struct vhost_user *vu, size_t index, int fd)
{
	struct virtqueue *vq = &vu->queues[index];

	if (vq->kick_fd == fd)
		return;
	if (vu->device->kick_changed != NULL)
		vu->device->kick_changed(vu->device->context, index, vq->kick_fd, fd);
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	vq->kick_fd = fd;
}

static void set_call_fd(struct vhost_user *vu, size_t index, int fd)
{
	struct virtqueue *vq = &vu->queues[index];

	if (vq->call_fd >= 0)
		close(vq->call_fd);
	vq->call_fd = fd;
}

static void map_queue(struct vhost_user *vu, size_t index)
{
	struct virtqueue *vq = &vu->queues[index];
	const char *why = NULL;

	if (vq->started && !virtqueue_map(vq, &vu->memory, &why))
		complain(vu, "queue %zu: %s", index, why);
}

static void stop_queue(struct vhost_user *vu, size_t index)
{
	struct virtqueue *vq = &vu->queues[index];

	vq->started = false;
	vq->desc = vq->avail = vq->used = NULL;
	set_kick_fd(vu, index, -1);
}

void vhost_user_reset(struct vhost_user *vu)
{
	for (size_t i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		stop_queue(vu, i);
		set_call_fd(vu, i, -1);
		virtqueue_init(&vu->queues[i]);
	}
	guest_memory_unmap(&vu->memory);
	if (vu->fd >= 0)
		close(vu->fd);
	vu->fd = -1;
	vu->acked_features = vu->acked_protocol_features = 0;
	vu->owned = false;
	if (vu->device->queues_changed != NULL)
		vu->device->queues_changed(vu->device->context);
}

bool vhost_user_queue_ready(const struct vhost_user *vu, size_t index)
{
	const struct virtqueue *vq = &vu->queues[index];

	return index < vu->device->queue_count && vq->started && vq->enabled && vq->desc != NULL && !vq->broken;
}

static uint64_t offered_features(const struct vhost_user *vu)
{
	return vu->device->features | (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

static int reply(struct vhost_user *vu, uint32_t request, const void *payload, uint32_t size)
{
	return vhost_user_send(vu->fd, request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, payload, size, NULL, 0);
}

static int reply_u64(struct vhost_user *vu, uint32_t request, uint64_t value)
{
	return reply(vu, request, &value, sizeof(value));
}

/* Maps the regions of a SET_MEM_TABLE into `out`; false (nothing mapped) when one is bad. */
static bool map_memory(struct vhost_user *vu, const uint8_t *payload, uint32_t size, const int *fds, size_t fd_count,
		       struct guest_memory *out)
{
	uint32_t count;
	long page = sysconf(_SC_PAGESIZE);

	memset(out, 0, sizeof(*out));
	if (size < MEMORY_HEADER_SIZE)
		return false;
	memcpy(&count, payload, 4);
	if (count == 0 || count > VHOST_USER_MAX_FDS || count != fd_count ||
	    size < MEMORY_HEADER_SIZE + MEMORY_REGION_SIZE * count) {
		complain(vu, "SET_MEM_TABLE: %u regions with %zu fds in %u bytes", count, fd_count, size);
		return false;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t fields[4];
		struct stat st;
		memcpy(fields, payload + MEMORY_HEADER_SIZE + MEMORY_REGION_SIZE * i, sizeof(fields));
		uint64_t gpa = fields[0], len = fields[1], user = fields[2], offset = fields[3];
		uint64_t map_offset = offset & ~(uint64_t)(page - 1), lead = offset - map_offset;
		/* A region past the end of its file would fault (SIGBUS) on access. */
		if (len == 0 || gpa + len < gpa || user + len < user || offset + len < offset || len + lead < len ||
		    fstat(fds[i], &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size < offset + len ||
		    len + lead > SIZE_MAX) {
			complain(vu, "SET_MEM_TABLE: region %u does not fit its file", i);
			guest_memory_unmap(out);
			return false;
		}
		void *mapping = mmap(NULL, len + lead, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i],
				     (off_t)map_offset);
		if (mapping == MAP_FAILED) {
			complain(vu, "SET_MEM_TABLE: cannot map region %u: %s", i, strerror(errno));
			guest_memory_unmap(out);
			return false;
		}
		struct guest_memory_region *region = &out->regions[out->count++];
		region->guest_phys_addr = gpa;
		region->size = len;
		region->user_addr = user;
		region->mapping = mapping;
		region->mapping_size = len + lead;
		region->host = (uint8_t *)mapping + lead;
	}
	return true;
}

/* The queue index of a vring message, or -1 (complained) when out of range. */
static int vring_index(struct vhost_user *vu, uint32_t request, uint32_t size, size_t need, uint64_t index)
{
	if (size < need || index >= vu->device->queue_count) {
		complain(vu, "vhost-user message %u: bad size %u or queue %llu", request, size, (unsigned long long)index);
		return -1;
	}
	return (int)index;
}

/* Handles one message; 1: a reply was sent, 0: handled (acknowledge if asked),
 * 2: refused (acknowledge as failure), -1: cannot go on. Takes the fds it keeps
 * (sets them to -1). */
static int dispatch(struct vhost_user *vu, uint32_t request, uint8_t *payload, uint32_t size, int *fds,
		    size_t fd_count)
{
	uint64_t u64 = 0;
	uint32_t state[2] = {0, 0};

	if (size >= 8)
		memcpy(&u64, payload, 8);
	if (size >= VRING_STATE_SIZE)
		memcpy(state, payload, VRING_STATE_SIZE);
	switch (request) {
	case VHOST_USER_GET_FEATURES:
		return reply_u64(vu, request, offered_features(vu)) == 0 ? 1 : -1;
	case VHOST_USER_SET_FEATURES:
		if (size < 8)
			return 2;
		vu->acked_features = u64 & offered_features(vu);
		for (size_t i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
			vu->queues[i].event_idx = (vu->acked_features >> VIRTIO_RING_F_EVENT_IDX) & 1;
			vu->queues[i].signalled_used_valid = false;
		}
		return 0;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return reply_u64(vu, request, PROTOCOL_FEATURES_OFFERED) == 0 ? 1 : -1;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (size < 8)
			return 2;
		vu->acked_protocol_features = u64 & PROTOCOL_FEATURES_OFFERED;
		return 0;
	case VHOST_USER_GET_QUEUE_NUM:
		return reply_u64(vu, request, vu->device->queue_count) == 0 ? 1 : -1;
	case VHOST_USER_SET_OWNER:
		vu->owned = true;
		return 0;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		for (size_t i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
			stop_queue(vu, i);
			set_call_fd(vu, i, -1);
			virtqueue_init(&vu->queues[i]);
		}
		vu->acked_features = 0;
		if (vu->device->reset != NULL)
			vu->device->reset(vu->device->context);
		return 0;
	case VHOST_USER_SET_MEM_TABLE: {
		struct guest_memory memory;
		if (!map_memory(vu, payload, size, fds, fd_count, &memory))
			return 2;
		guest_memory_unmap(&vu->memory);
		vu->memory = memory;
		for (size_t i = 0; i < vu->device->queue_count; i++)
			map_queue(vu, i);
		return 0;
	}
	case VHOST_USER_SET_VRING_NUM: {
		int index = vring_index(vu, request, size, VRING_STATE_SIZE, state[0]);
		if (index < 0)
			return 2;
		if (state[1] == 0 || state[1] > VIRTQUEUE_MAX_SIZE || (state[1] & (state[1] - 1)) != 0) {
			complain(vu, "queue %d: ring size %u is not a power of two up to 32768", index, state[1]);
			return 2;
		}
		vu->queues[index].size = (uint16_t)state[1];
		map_queue(vu, (size_t)index);
		return 0;
	}
	case VHOST_USER_SET_VRING_ADDR: {
		uint32_t index_field;
		uint64_t addresses[4];
		memcpy(&index_field, payload, 4);
		int index = vring_index(vu, request, size, VRING_ADDR_SIZE, index_field);
		if (index < 0)
			return 2;
		memcpy(addresses, payload + 8, sizeof(addresses));
		struct virtqueue *vq = &vu->queues[index];
		vq->desc_user_addr = addresses[0];
		vq->used_user_addr = addresses[1];
		vq->avail_user_addr = addresses[2];
		vq->addresses_set = true;
		map_queue(vu, (size_t)index);
		return 0;
	}
	case VHOST_USER_SET_VRING_BASE: {
		int index = vring_index(vu, request, size, VRING_STATE_SIZE, state[0]);
		if (index < 0)
			return 2;
		vu->queues[index].last_avail_idx = (uint16_t)state[1];
		return 0;
	}
	case VHOST_USER_GET_VRING_BASE: {
		int index = vring_index(vu, request, size, VRING_STATE_SIZE, state[0]);
		uint32_t answer[2] = {state[0], 0};
		/* the front end waits for an answer either way */
		if (index >= 0) {
			stop_queue(vu, (size_t)index);
			answer[1] = vu->queues[index].last_avail_idx;
		}
		return reply(vu, request, answer, sizeof(answer)) == 0 ? 1 : -1;
	}
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR: {
		int index = vring_index(vu, request, size, 8, u64 & 0xff);
		bool no_fd = (u64 & VHOST_USER_VRING_NOFD) != 0;
		if (index < 0)
			return 2;
		if (!no_fd && fd_count != 1) {
			complain(vu, "vhost-user message %u: expected one fd, got %zu", request, fd_count);
			return 2;
		}
		int fd = no_fd ? -1 : fds[0];
		if (!no_fd)
			fds[0] = -1;
		if (request == VHOST_USER_SET_VRING_ERR) {
			if (fd >= 0)
				close(fd); /* errors are logged, never signalled */
		} else if (request == VHOST_USER_SET_VRING_CALL) {
			set_call_fd(vu, (size_t)index, fd);
		} else {
			struct virtqueue *vq = &vu->queues[index];
			if (fd < 0)
				complain(vu, "queue %d: polling without a kick fd is not supported", index);
			set_kick_fd(vu, (size_t)index, fd);
			/* Without the protocol-features bit a ring starts enabled. */
			vq->started = fd >= 0;
			if (!(vu->acked_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
				vq->enabled = true;
			map_queue(vu, (size_t)index);
		}
		return 0;
	}
	case VHOST_USER_SET_VRING_ENABLE: {
		int index = vring_index(vu, request, size, VRING_STATE_SIZE, state[0]);
		if (index < 0)
			return 2;
		vu->queues[index].enabled = state[1] != 0;
		return 0;
	}
	case VHOST_USER_GET_CONFIG: {
		uint32_t config_header[3];
		if (size < CONFIG_HEADER_SIZE)
			return reply(vu, request, NULL, 0) == 0 ? 1 : -1;
		memcpy(config_header, payload, sizeof(config_header));
		uint32_t offset = config_header[0], len = config_header[1];
		if (len > VHOST_USER_MAX_CONFIG || offset > vu->device->config_size ||
		    len > vu->device->config_size - offset) {
			complain(vu, "GET_CONFIG: %u bytes at %u of a %zu-byte config", len, offset, vu->device->config_size);
			return reply(vu, request, NULL, 0) == 0 ? 1 : -1;
		}
		memcpy(payload + CONFIG_HEADER_SIZE, vu->device->config + offset, len);
		return reply(vu, request, payload, CONFIG_HEADER_SIZE + len) == 0 ? 1 : -1;
	}
	default:
		complain(vu, "vhost-user message %u not supported", request);
		return 2;
	}
}

int vhost_user_handle_message(struct vhost_user *vu)
{
	uint32_t request, flags, size;
	uint8_t payload[VHOST_USER_MAX_PAYLOAD + VHOST_USER_MAX_CONFIG];
	int fds[VHOST_USER_MAX_FDS];
	size_t fd_count = 0;
	int status;

	if (vu->fd < 0 || vhost_user_receive(vu->fd, &request, &flags, payload, &size, fds, &fd_count) != 0)
		return -1;
	if ((flags & 3u) != VHOST_USER_VERSION) {
		complain(vu, "vhost-user message %u: version %u", request, flags & 3u);
		status = -1;
	} else {
		status = dispatch(vu, request, payload, size, fds, fd_count);
	}
	for (size_t i = 0; i < fd_count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (status < 0)
		return -1;
	if (vu->device->queues_changed != NULL)
		vu->device->queues_changed(vu->device->context);
	/* REPLY_ACK: a message that has no answer of its own is acknowledged when asked. */
	if (status != 1 && (flags & VHOST_USER_FLAG_NEED_REPLY) &&
	    (vu->acked_protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
	    reply_u64(vu, request, status == 0 ? 0 : 1) != 0)
		return -1;
	return 0;
}

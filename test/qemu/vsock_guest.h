/* A fake QEMU and a fake guest vsock driver, for test_vsock_backend.c and
 * fuzz_vsock_backend.c: guest RAM is a memfd of our own in three regions
 * (one of them above 4 GiB, two of them contiguous in guest-physical space
 * but not in the file), the rings live in it, and the vhost-user conversation
 * runs over a socketpair exactly as QEMU 7.2 holds it (doc/vsock.md).
 *
 * Threaded: the backend runs its own thread and we wait on the call eventfds.
 * Manual (fuzzer): every wait runs the backend's loop in this thread. */
#ifndef VZKIT_TEST_QEMU_VSOCK_GUEST_H
#define VZKIT_TEST_QEMU_VSOCK_GUEST_H

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vz/qemu/vhost_user.h"
#include "vz/qemu/vsock_backend.h"

#define G_CID 3
#define G_MB (1u << 20)
#define G_RAM_SIZE (3 * G_MB)
/* guest-physical layout: region A [0, 1M) = file [0, 1M); region C [1M, 2M) =
 * file [2M, 3M); region B [4G, 4G+1M) = file [1M, 2M). */
#define G_REGION_B_GPA 0x100000000ull
#define G_USER_A 0x7f0000000000ull
#define G_USER_B 0x7e0000000000ull
#define G_USER_C 0x7d0000000000ull
#define G_RING_SIZE 128
#define G_RX 0
#define G_TX 1
#define G_RX_SLOTS 64       /* rx buffers: two descriptors each (header, data) */
#define G_RX_DATA 4096      /* Linux 6.1's rx buffer size */
#define G_TX_SLOTS 8
#define G_TX_SLOT_BYTES 0x12000
#define G_TX_AREA 0x10000   /* region A */
#define G_RX_AREA G_REGION_B_GPA
#define G_HEADER 44

enum { G_OP_REQUEST = 1, G_OP_RESPONSE, G_OP_RST, G_OP_SHUTDOWN, G_OP_RW, G_OP_CREDIT_UPDATE, G_OP_CREDIT_REQUEST };

struct g_packet {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

struct g_ring {
	uint64_t desc, avail, used; /* guest-physical */
	uint16_t avail_idx, used_seen;
	uint16_t base; /* where the device resumes (GET_VRING_BASE's answer) */
	uint16_t kicked; /* avail_idx at the last notification decision */
	int kick, call;
};

struct fake_guest {
	struct vsock_backend *backend;
	bool threaded;
	int vu_fd;
	int memfd;
	uint8_t *ram;
	struct g_ring ring[2];
	uint16_t rx_posted; /* rx buffers handed out so far (slot = count % G_RX_SLOTS) */
	uint16_t tx_sent;
	uint64_t features;  /* virtio features acked besides VERSION_1 and PROTOCOL_FEATURES */
	bool strict_kicks;  /* kick only when the device asked (used.flags, or avail_event with the event index) */
};

/* ---- guest memory, the test's own view ---- */

static inline uint8_t *g_mem(struct fake_guest *g, uint64_t gpa)
{
	if (gpa < G_MB)
		return g->ram + gpa;
	if (gpa < 2 * G_MB)
		return g->ram + 2 * G_MB + (gpa - G_MB);
	if (gpa >= G_REGION_B_GPA && gpa < G_REGION_B_GPA + G_MB)
		return g->ram + G_MB + (gpa - G_REGION_B_GPA);
	abort();
}

static inline uint64_t g_user(uint64_t gpa)
{
	if (gpa < G_MB)
		return G_USER_A + gpa;
	if (gpa < 2 * G_MB)
		return G_USER_C + (gpa - G_MB);
	return G_USER_B + (gpa - G_REGION_B_GPA);
}

static inline void g_put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static inline uint16_t g_get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

static inline void g_put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline uint32_t g_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline void g_put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t g_get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void g_encode(const struct g_packet *p, uint8_t *raw)
{
	g_put64(raw, p->src_cid);
	g_put64(raw + 8, p->dst_cid);
	g_put32(raw + 16, p->src_port);
	g_put32(raw + 20, p->dst_port);
	g_put32(raw + 24, p->len);
	g_put16(raw + 28, p->type);
	g_put16(raw + 30, p->op);
	g_put32(raw + 32, p->flags);
	g_put32(raw + 36, p->buf_alloc);
	g_put32(raw + 40, p->fwd_cnt);
}

static inline void g_decode(const uint8_t *raw, struct g_packet *p)
{
	p->src_cid = g_get64(raw);
	p->dst_cid = g_get64(raw + 8);
	p->src_port = g_get32(raw + 16);
	p->dst_port = g_get32(raw + 20);
	p->len = g_get32(raw + 24);
	p->type = g_get16(raw + 28);
	p->op = g_get16(raw + 30);
	p->flags = g_get32(raw + 32);
	p->buf_alloc = g_get32(raw + 36);
	p->fwd_cnt = g_get32(raw + 40);
}

/* A stream packet from guest port `guest_port` to host port `host_port`. */
static inline struct g_packet g_pkt(uint16_t op, uint32_t guest_port, uint32_t host_port)
{
	struct g_packet p = {.src_cid = G_CID, .dst_cid = 2, .src_port = guest_port, .dst_port = host_port,
			     .type = 1, .op = op, .buf_alloc = 256 * 1024};
	return p;
}

/* ---- running the backend ---- */

/* Manual mode: runs the backend until it has nothing left to do. */
static inline void g_service(struct fake_guest *g)
{
	if (!g->threaded)
		for (int i = 0; i < 16 && vsock_backend_poll(g->backend, 0) > 0; i++)
			;
}

static inline bool g_readable(struct fake_guest *g, int fd, int timeout_ms)
{
	struct pollfd wait = {.fd = fd, .events = POLLIN};

	if (!g->threaded) {
		for (int i = 0; i < 50; i++) {
			if (poll(&wait, 1, 0) == 1)
				return true;
			vsock_backend_poll(g->backend, 0);
		}
		return poll(&wait, 1, 0) == 1;
	}
	return poll(&wait, 1, timeout_ms) == 1;
}

/* One vhost-user message; with `reply`, waits for the answer. 0 or -1. */
static inline int g_vu(struct fake_guest *g, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		       const int *fds, size_t fd_count, void *reply, uint32_t *reply_size)
{
	uint8_t answer[VHOST_USER_MAX_PAYLOAD];
	uint32_t got_request, got_flags, got_size;
	int got_fds[VHOST_USER_MAX_FDS];
	size_t got_fd_count;

	if (vhost_user_send(g->vu_fd, request, VHOST_USER_VERSION | flags, payload, size, fds, fd_count) != 0)
		return -1;
	if (reply == NULL)
		return 0; /* acted on in order: the next message with an answer waits for it */
	if (!g_readable(g, g->vu_fd, 2000))
		return -1;
	if (vhost_user_receive(g->vu_fd, &got_request, &got_flags, answer, &got_size, got_fds, &got_fd_count) != 0)
		return -1;
	for (size_t i = 0; i < got_fd_count; i++)
		close(got_fds[i]);
	if (got_request != request || !(got_flags & VHOST_USER_FLAG_REPLY) || got_size > *reply_size)
		return -1;
	memcpy(reply, answer, got_size);
	*reply_size = got_size;
	return 0;
}

static inline int g_vu_u64(struct fake_guest *g, uint32_t request, uint64_t value)
{
	return g_vu(g, request, 0, &value, sizeof(value), NULL, 0, NULL, NULL);
}

static inline int g_vu_get_u64(struct fake_guest *g, uint32_t request, uint64_t *value)
{
	uint32_t size = sizeof(*value);
	return g_vu(g, request, 0, NULL, 0, NULL, 0, value, &size) == 0 && size == 8 ? 0 : -1;
}

static inline int g_vu_state(struct fake_guest *g, uint32_t request, uint32_t index, uint32_t num)
{
	uint32_t state[2] = {index, num};
	return g_vu(g, request, 0, state, sizeof(state), NULL, 0, NULL, NULL);
}

static inline int g_send_mem_table(struct fake_guest *g)
{
	uint8_t payload[8 + 32 * 3] = {0};
	int fds[3] = {g->memfd, g->memfd, g->memfd};
	const uint64_t regions[3][4] = {
		{0, G_MB, G_USER_A, 0},
		{G_REGION_B_GPA, G_MB, G_USER_B, G_MB},
		{G_MB, G_MB, G_USER_C, 2 * G_MB},
	};

	g_put32(payload, 3);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			g_put64(payload + 8 + 32 * i + 8 * j, regions[i][j]);
	return g_vu(g, VHOST_USER_SET_MEM_TABLE, 0, payload, sizeof(payload), fds, 3, NULL, NULL);
}

/* A round trip: the backend handles messages in order, so every one sent
 * before has been acted on when the answer comes. */
static inline int g_sync(struct fake_guest *g)
{
	uint64_t features;
	return g_vu_get_u64(g, VHOST_USER_GET_FEATURES, &features);
}

/* The rings, as QEMU's vhost_virtqueue_start sets them up: NUM, BASE, ADDR,
 * KICK, CALL, ENABLE, with no round trip (the backend acts on them in order). */
static inline int g_send_ring_setup(struct fake_guest *g, uint32_t index, uint16_t base)
{
	struct g_ring *ring = &g->ring[index];
	uint8_t addr[40] = {0};
	uint64_t kick_arg = index, call_arg = index;

	g_put32(addr, index);
	g_put64(addr + 8, g_user(ring->desc));
	g_put64(addr + 16, g_user(ring->used));
	g_put64(addr + 24, g_user(ring->avail));
	if (g_vu_state(g, VHOST_USER_SET_VRING_NUM, index, G_RING_SIZE) != 0 ||
	    g_vu_state(g, VHOST_USER_SET_VRING_BASE, index, base) != 0 ||
	    g_vu(g, VHOST_USER_SET_VRING_ADDR, 0, addr, sizeof(addr), NULL, 0, NULL, NULL) != 0 ||
	    g_vu(g, VHOST_USER_SET_VRING_KICK, 0, &kick_arg, 8, &ring->kick, 1, NULL, NULL) != 0 ||
	    g_vu(g, VHOST_USER_SET_VRING_CALL, 0, &call_arg, 8, &ring->call, 1, NULL, NULL) != 0 ||
	    g_vu_state(g, VHOST_USER_SET_VRING_ENABLE, index, 1) != 0)
		return -1;
	return 0;
}

/* One ring set up, and done by the time this returns. */
static inline int g_start_ring(struct fake_guest *g, uint32_t index, uint16_t base)
{
	return g_send_ring_setup(g, index, base) == 0 ? g_sync(g) : -1;
}

/* QEMU's vhost_dev_start: features, memory, rings. */
static inline int g_start_device(struct fake_guest *g)
{
	if (g_vu_u64(g, VHOST_USER_SET_FEATURES,
		     (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | g->features) != 0 ||
	    g_send_mem_table(g) != 0)
		return -1;
	for (uint32_t i = 0; i < 2; i++)
		if (g_send_ring_setup(g, i, g->ring[i].base) != 0)
			return -1;
	return g_sync(g);
}

/* QEMU's vhost_dev_stop: GET_VRING_BASE per ring; the answer is the ring's next avail index. */
static inline int g_stop_ring(struct fake_guest *g, uint32_t index, uint32_t *base)
{
	uint32_t state[2] = {index, 0}, answer[2];
	uint32_t size = sizeof(answer);

	if (g_vu(g, VHOST_USER_GET_VRING_BASE, 0, state, sizeof(state), NULL, 0, answer, &size) != 0 || size != 8)
		return -1;
	*base = answer[1];
	g->ring[index].base = (uint16_t)answer[1];
	return 0;
}

/* The event index fields: used_event after the avail ring (the guest's), avail_event after the used ring (the device's). */
static inline uint8_t *g_used_event(struct fake_guest *g, int index)
{
	return g_mem(g, g->ring[index].avail) + 4 + 2 * G_RING_SIZE;
}

static inline uint8_t *g_avail_event(struct fake_guest *g, int index)
{
	return g_mem(g, g->ring[index].used) + 4 + 8 * G_RING_SIZE;
}

/* Notifies the device (the backend runs when the caller next services it);
 * with strict_kicks only when it asked, as Linux's virtqueue_kick_prepare decides. */
static inline void g_notify(struct fake_guest *g, int index)
{
	struct g_ring *r = &g->ring[index];
	uint16_t old = r->kicked, now = r->avail_idx;
	uint64_t one = 1;

	r->kicked = now;
	if (g->strict_kicks) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* avail.idx out before the device's request is read */
		if (g->features & (1ull << VIRTIO_RING_F_EVENT_IDX)) {
			uint16_t event = le16toh(__atomic_load_n((uint16_t *)(void *)g_avail_event(g, index), __ATOMIC_RELAXED));
			if ((uint16_t)(now - event - 1) >= (uint16_t)(now - old))
				return;
		} else if (le16toh(__atomic_load_n((uint16_t *)(void *)g_mem(g, r->used), __ATOMIC_RELAXED)) &
			   VIRTQ_USED_F_NO_NOTIFY) {
			return;
		}
	}
	if (write(r->kick, &one, sizeof(one)) != sizeof(one))
		abort();
}

static inline void g_kick(struct fake_guest *g, int index)
{
	g_notify(g, index);
	g_service(g);
}

static inline uint16_t g_used_idx(struct fake_guest *g, int index)
{
	return le16toh(__atomic_load_n((uint16_t *)(void *)(g_mem(g, g->ring[index].used) + 2), __ATOMIC_ACQUIRE));
}

static inline void g_write_desc(struct fake_guest *g, int ring, uint16_t index, uint64_t addr, uint32_t len,
				uint16_t flags, uint16_t next)
{
	uint8_t *d = g_mem(g, g->ring[ring].desc) + 16 * index;
	g_put64(d, addr);
	g_put32(d + 8, len);
	g_put16(d + 12, flags);
	g_put16(d + 14, next);
}

/* Makes `head` available; advance: how far the avail index moves (1 normally). */
static inline void g_make_available(struct fake_guest *g, int ring, uint16_t head, uint16_t advance)
{
	struct g_ring *r = &g->ring[ring];
	uint8_t *avail = g_mem(g, r->avail);

	g_put16(avail + 4 + 2 * (r->avail_idx % G_RING_SIZE), head);
	r->avail_idx = (uint16_t)(r->avail_idx + advance);
	__atomic_store_n((uint16_t *)(void *)(avail + 2), htole16(r->avail_idx), __ATOMIC_RELEASE);
}

/* Waits until the used index of `ring` is `want` (any: anything but
 * `want`, i.e. the device used something past it; it may use several buffers
 * at once) or the timeout passed; true when it is. */
static inline bool g_wait_used_idx(struct fake_guest *g, int ring, uint16_t want, bool any, int timeout_ms)
{
	for (int waited = 0; (g_used_idx(g, ring) == want) == any; waited += 5) {
		if (waited > timeout_ms)
			return false;
		if (g->threaded) {
			struct pollfd wait = {.fd = g->ring[ring].call, .events = POLLIN};
			uint64_t count;
			if (poll(&wait, 1, 5) == 1 && read(g->ring[ring].call, &count, sizeof(count)) < 0)
				return false;
		} else {
			vsock_backend_poll(g->backend, 0);
			if (waited > 200)
				return (g_used_idx(g, ring) == want) != any;
		}
	}
	return true;
}

/* Waits until the device used everything made available on `ring` (or a timeout); true when it did. */
static inline bool g_wait_used(struct fake_guest *g, int ring, uint16_t want, int timeout_ms)
{
	return g_wait_used_idx(g, ring, want, false, timeout_ms);
}

/* Waits until the device used anything past `seen` on `ring`; true when it did. */
static inline bool g_wait_any_used(struct fake_guest *g, int ring, uint16_t seen, int timeout_ms)
{
	return g_wait_used_idx(g, ring, seen, true, timeout_ms);
}

/* ---- tx: packets from the guest ---- */

/* Sends one packet as Linux does (a header descriptor and a payload descriptor)
 * and waits until the device took it. */
static inline bool g_send(struct fake_guest *g, const struct g_packet *p, const void *payload, size_t len)
{
	uint16_t slot = g->tx_sent % G_TX_SLOTS;
	uint64_t area = G_TX_AREA + (uint64_t)slot * G_TX_SLOT_BYTES;
	uint16_t head = (uint16_t)(2 * slot);

	if (len > G_TX_SLOT_BYTES - 64)
		abort();
	g_encode(p, g_mem(g, area));
	if (len > 0) {
		memcpy(g_mem(g, area + 64), payload, len);
		g_write_desc(g, G_TX, head, area, G_HEADER, 1, (uint16_t)(head + 1));
		g_write_desc(g, G_TX, (uint16_t)(head + 1), area + 64, (uint32_t)len, 0, 0);
	} else {
		g_write_desc(g, G_TX, head, area, G_HEADER, 0, 0);
	}
	g->tx_sent++;
	g_make_available(g, G_TX, head, 1);
	g_kick(g, G_TX);
	return g_wait_used(g, G_TX, g->ring[G_TX].avail_idx, 2000);
}

/* ---- rx: packets to the guest ---- */

static inline void g_post_rx_quietly(struct fake_guest *g, int count)
{
	for (int i = 0; i < count; i++) {
		uint16_t slot = g->rx_posted % G_RX_SLOTS;
		uint64_t area = G_RX_AREA + (uint64_t)slot * 0x2000;
		uint16_t head = (uint16_t)(2 * slot);
		g_write_desc(g, G_RX, head, area, G_HEADER, 3, (uint16_t)(head + 1));
		g_write_desc(g, G_RX, (uint16_t)(head + 1), area + 0x100, G_RX_DATA, 2, 0);
		g_make_available(g, G_RX, head, 1);
		g->rx_posted++;
	}
	g_notify(g, G_RX);
}

static inline void g_post_rx(struct fake_guest *g, int count)
{
	g_post_rx_quietly(g, count);
	g_service(g);
}

/* The next packet the device put in an rx buffer (its payload into data, up to
 * G_RX_DATA); the buffer goes back to the ring. false on timeout. */
static inline bool g_receive(struct fake_guest *g, struct g_packet *p, void *data, int timeout_ms)
{
	struct g_ring *r = &g->ring[G_RX];

	if (!g_wait_any_used(g, G_RX, r->used_seen, timeout_ms))
		return false;
	uint8_t *entry = g_mem(g, r->used) + 4 + 8 * (r->used_seen % G_RING_SIZE);
	uint32_t id = g_get32(entry), len = g_get32(entry + 4);
	r->used_seen++;
	uint64_t area = G_RX_AREA + (uint64_t)(id / 2) * 0x2000;
	memset(p, 0, sizeof(*p));
	if (len >= G_HEADER) {
		g_decode(g_mem(g, area), p);
		if (data != NULL)
			memcpy(data, g_mem(g, area + 0x100), len - G_HEADER <= G_RX_DATA ? len - G_HEADER : G_RX_DATA);
		if (p->len != len - G_HEADER)
			p->len = 0xffffffffu; /* the device's used length and header disagree */
	} else {
		p->op = 0xffff; /* a buffer handed back unused */
	}
	g_post_rx(g, 1);
	return true;
}

/* ---- set up and tear down ---- */

static inline void g_log(void *context, enum log_level level, const char *message)
{
	(void)context;
	(void)level;
	(void)message;
	if (getenv("VSOCK_TEST_LOG") != NULL)
		fprintf(stderr, "backend: %s\n", message);
}

/* g_setup acking `features` too (e.g. the event index), against a backend
 * with notification suppression on (`suppress`) or off (vzkit's default). */
static inline int g_setup_options(struct fake_guest *g, bool threaded, int connect_timeout_ms, uint64_t acked,
				  bool suppress)
{
	struct vsock_backend_options options = {.guest_cid = G_CID, .connect_timeout_ms = connect_timeout_ms,
						.close_timeout_ms = 500, .credit_stall_ms = 150, .log = g_log,
						.suppress_notifications = suppress};
	struct vzk_error err = {0};
	int pair[2];
	uint64_t features = 0, protocol = 0;

	memset(g, 0, sizeof(*g));
	g->threaded = threaded;
	g->features = acked;
	g->memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (g->memfd < 0 || ftruncate(g->memfd, G_RAM_SIZE) != 0)
		return -1;
	g->ram = mmap(NULL, G_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
	if (g->ram == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
		return -1;
	g->vu_fd = pair[0];
	for (int i = 0; i < 2; i++) {
		g->ring[i].desc = 0x1000 + 0x3000 * (uint64_t)i;
		g->ring[i].avail = g->ring[i].desc + 0x1000;
		g->ring[i].used = g->ring[i].desc + 0x2000;
		g->ring[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g->ring[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	if (vsock_backend_new(&options, &g->backend, &err) != 0 || vsock_backend_attach(g->backend, pair[1], &err) != 0 ||
	    (threaded && vsock_backend_start(g->backend, &err) != 0)) {
		fprintf(stderr, "g_setup: %s\n", err.message);
		return -1;
	}
	/* QEMU's vhost_user_backend_init and vuv_device_realize */
	if (g_vu_get_u64(g, VHOST_USER_GET_FEATURES, &features) != 0 ||
	    g_vu_get_u64(g, VHOST_USER_GET_PROTOCOL_FEATURES, &protocol) != 0 ||
	    g_vu_u64(g, VHOST_USER_SET_PROTOCOL_FEATURES, protocol) != 0 ||
	    g_vu(g, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0, NULL, NULL) != 0)
		return -1;
	return g_start_device(g);
}

static inline int g_setup_features(struct fake_guest *g, bool threaded, int connect_timeout_ms, uint64_t acked)
{
	return g_setup_options(g, threaded, connect_timeout_ms, acked, true);
}

static inline int g_setup(struct fake_guest *g, bool threaded, int connect_timeout_ms)
{
	return g_setup_features(g, threaded, connect_timeout_ms, 0);
}

static inline void g_teardown(struct fake_guest *g)
{
	vsock_backend_free(g->backend);
	g->backend = NULL;
	if (g->vu_fd >= 0)
		close(g->vu_fd);
	for (int i = 0; i < 2; i++) {
		close(g->ring[i].kick);
		close(g->ring[i].call);
	}
	munmap(g->ram, G_RAM_SIZE);
	close(g->memfd);
}

#endif

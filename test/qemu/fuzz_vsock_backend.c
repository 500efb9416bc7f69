/* libFuzzer target for the vsock backend (vz/qemu/vsock_backend.c,
 * virtqueue.c, vhost_user.c): the input is a script of guest and host
 * actions run against the real backend in this thread, with the fake guest
 * of vsock_guest.h (memfd RAM in three regions, own rings, vhost-user over a
 * socketpair). Actions: well-formed or raw tx packets laid out in descriptor
 * chains of every shape, raw descriptors at region edges and outside guest
 * memory, rx buffers of odd shapes, avail-index jumps, host writes and
 * closes, host connects, stray vhost-user messages.
 *
 * Checked on every input besides memory safety (ASan, UBSan):
 * - every packet the device gives the guest is from CID 2 to CID 3, a
 *   stream, and its used length is the header plus exactly its len;
 * - the device never sends a connection more RW bytes than the credit the
 *   guest gave it (buf_alloc - (bytes sent - fwd_cnt)), per connection.
 * Each input starts without connections or host sockets and with rings
 * that work (see clean_up). */
#include "test/qemu/vsock_guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HOST_FDS 16
#define TRACKED 64

static struct fake_guest g;
static bool ready;
static int host_fds[MAX_HOST_FDS];
static size_t host_fd_count;

/* The credit the guest gave each connection, as the device must see it. */
struct credit {
	bool used;
	uint32_t guest_port, host_port;
	uint32_t buf_alloc, fwd_cnt, sent;
	bool live; /* the device answered or made a REQUEST: reset it at the end */
};
static struct credit credits[TRACKED];
static bool credit_exact; /* false once a raw chain may have carried credit we cannot see */
static bool rx_exact;     /* false once the input wrote rx descriptors of its own */
static bool dirty;        /* the input may have left state a cheap clean-up cannot undo */
static uint32_t last_request_port = 0x40000000; /* the host port of the device's last REQUEST */

struct input {
	const uint8_t *data;
	size_t size, at;
};

static void require(bool condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "fuzz_vsock_backend: %s\n", what);
		abort();
	}
}

static uint8_t take8(struct input *in)
{
	return in->at < in->size ? in->data[in->at++] : 0;
}

static uint16_t take16(struct input *in)
{
	return (uint16_t)(take8(in) | take8(in) << 8);
}

static uint32_t take32(struct input *in)
{
	return (uint32_t)take16(in) | (uint32_t)take16(in) << 16;
}

static void on_connection(void *context, int fd)
{
	(void)context;
	if (host_fd_count < MAX_HOST_FDS)
		host_fds[host_fd_count++] = fd;
	else
		close(fd);
}

static struct credit *credit_for(uint32_t guest_port, uint32_t host_port, bool create)
{
	struct credit *free_slot = NULL;
	for (size_t i = 0; i < TRACKED; i++) {
		if (credits[i].used && credits[i].guest_port == guest_port && credits[i].host_port == host_port)
			return &credits[i];
		if (!credits[i].used && free_slot == NULL)
			free_slot = &credits[i];
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->guest_port = guest_port;
	free_slot->host_port = host_port;
	return free_slot;
}

/* Takes every packet the device used from the rx ring, checks it, then gives
 * the buffers back in one batch (one kick). */
static void drain_rx(void)
{
	struct g_ring *r = &g.ring[G_RX];
	int taken = 0;

	while (taken < G_RING_SIZE && g_used_idx(&g, G_RX) != r->used_seen) {
		const uint8_t *entry = g_mem(&g, r->used) + 4 + 8 * (r->used_seen % G_RING_SIZE);
		uint32_t id = g_get32(entry), len = g_get32(entry + 4);
		struct g_packet p;
		r->used_seen++;
		taken++;
		require(id < G_RING_SIZE, "used id out of range");
		if (len < G_HEADER || !rx_exact)
			continue; /* a bad buffer handed back, or buffers we cannot tell apart */
		g_decode(g_mem(&g, G_RX_AREA + (uint64_t)(id / 2) * 0x2000), &p);
		require(p.src_cid == 2 && p.dst_cid == G_CID && p.type == 1, "a packet not from CID 2 to the guest");
		require(p.len == len - G_HEADER, "used length is not header + len");
		if (p.op == G_OP_RESPONSE || p.op == G_OP_REQUEST) {
			/* a new connection: its credit so far is what the guest's REQUEST said (or nothing yet) */
			struct credit *c = credit_for(p.dst_port, p.src_port, true);
			if (c != NULL) {
				c->sent = 0;
				c->live = true;
				if (p.op == G_OP_REQUEST)
					c->buf_alloc = c->fwd_cnt = 0;
			}
			if (p.op == G_OP_REQUEST)
				last_request_port = p.src_port;
		} else if (p.op == G_OP_RW) {
			struct credit *c = credit_for(p.dst_port, p.src_port, false);
			require(p.len <= G_RX_DATA, "more data than the rx buffer holds");
			if (c != NULL && credit_exact) {
				c->sent += p.len;
				require(c->sent - c->fwd_cnt <= c->buf_alloc, "data sent past the guest's credit");
			}
		}
	}
	if (taken > 0)
		g_post_rx_quietly(&g, taken); /* the next step's service takes them */
}

/* Copies into guest memory region by region (regions A and C are contiguous). */
static void guest_write(uint64_t gpa, const uint8_t *bytes, size_t len)
{
	while (len > 0) {
		uint64_t end = gpa < G_MB ? G_MB : gpa < 2 * G_MB ? 2 * G_MB : G_REGION_B_GPA + G_MB;
		size_t piece = end - gpa < len ? (size_t)(end - gpa) : len;
		memcpy(g_mem(&g, gpa), bytes, piece);
		gpa += piece;
		bytes += piece;
		len -= piece;
	}
}

/* A well-formed packet laid out in a descriptor chain of the input's choosing. */
static void send_packet(struct input *in)
{
	static uint8_t packet[G_HEADER + 70 * 1024];
	uint8_t *payload = packet + G_HEADER;
	const size_t payload_room = sizeof(packet) - G_HEADER;
	uint8_t shape = take8(in);
	struct g_packet p = g_pkt(take8(in) % 9, 1000 + take8(in) % 4, 0);
	const uint32_t host_ports[] = {1025, 1026, 9, last_request_port};
	p.dst_port = host_ports[take8(in) % 4];
	uint32_t len = take16(in);
	if (shape & 0x80)
		len |= (uint32_t)take8(in) << 16; /* oversized lengths too */
	p.len = len;
	p.flags = take8(in) % 4;
	p.buf_alloc = take32(in);
	p.fwd_cnt = take32(in);
	if (shape & 0x40)
		p.type = take8(in) % 3;
	if (shape & 0x20)
		p.src_cid = take8(in);
	size_t carried = len < payload_room ? len : payload_room;
	if (shape & 0x10)
		carried = take16(in) % payload_room; /* truncated or padded */
	size_t from_input = in->size - in->at < carried ? in->size - in->at : carried;
	memcpy(payload, in->data + in->at, from_input);
	memset(payload + from_input, 0x5a, carried - from_input);
	in->at += from_input;

	/* header + payload written contiguously at a place of the input's choosing, then cut into pieces */
	/* (rx buffers live at G_RX_AREA + [0, 0x82000); odd ones at +0xC0000) */
	static const uint64_t places[] = {G_TX_AREA, G_MB - 64, G_REGION_B_GPA + 0x90000, G_MB - 4000};
	uint64_t base = places[shape & 3];
	size_t total = G_HEADER + carried;
	g_encode(&p, packet);
	guest_write(base, packet, total);
	size_t pieces = 1 + (shape >> 2) % 4 * 3; /* 1, 4, 7 or 10 */
	uint16_t head = (uint16_t)(16 + take8(in) % 64);
	size_t done = 0;
	for (size_t i = 0; i < pieces; i++) {
		size_t piece = i + 1 == pieces ? total - done : (total / pieces);
		uint16_t index = (uint16_t)((head + i) % G_RING_SIZE);
		g_write_desc(&g, G_TX, index, base + done, (uint32_t)piece, i + 1 == pieces ? 0 : 1,
			     (uint16_t)((index + 1) % G_RING_SIZE));
		done += piece;
	}
	/* what the device will take as credit: the packet passes its checks */
	bool valid = p.src_cid == G_CID && p.type == 1 && p.op >= 1 && p.op <= 7 && len <= 65536 && len <= carried;
	if (valid) {
		struct credit *c = credit_for(p.src_port, p.dst_port, p.op == G_OP_REQUEST);
		if (c != NULL) {
			c->buf_alloc = p.buf_alloc;
			c->fwd_cnt = p.fwd_cnt;
		}
	}
	g_make_available(&g, G_TX, head, 1);
	g_notify(&g, G_TX);
}

/* Raw descriptors, near the edges of guest memory or anywhere. */
static void send_raw_chain(struct input *in)
{
	static const uint64_t edges[] = {0, G_MB - 32, G_REGION_B_GPA, G_REGION_B_GPA + G_MB - 16, 2 * G_MB - 8, 0};
	uint8_t count = (uint8_t)(1 + take8(in) % 8);
	int ring = take8(in) & 1;
	uint16_t head = take16(in);

	credit_exact = false;
	dirty = true;
	if (ring == G_RX)
		rx_exact = false;
	for (uint8_t i = 0; i < count; i++) {
		uint8_t where = take8(in) % 6;
		uint64_t addr = where == 5 ? ((uint64_t)take32(in) << 32 | take32(in)) : edges[where] + take8(in);
		uint32_t len = take16(in);
		uint16_t flags = take8(in) & 7, next = take16(in);
		g_write_desc(&g, ring, (uint16_t)(take8(in) % G_RING_SIZE), addr, len, flags, next);
	}
	/* usually one more chain; sometimes a jump past the ring */
	uint8_t advance = take8(in);
	g_make_available(&g, ring, head, advance < 250 ? 1 : advance);
	g_notify(&g, ring);
}

static void post_odd_rx(struct input *in)
{
	uint8_t kind = take8(in);
	uint16_t head = (uint16_t)(G_RING_SIZE - 1 - kind % 8);

	/* one buffer of an odd shape (readable, short, long) in descriptors g_post_rx also uses */
	rx_exact = false;
	dirty = true;
	g_write_desc(&g, G_RX, head, G_RX_AREA + 0xC0000 + (kind % 8) * 0x2000, take16(in) % 8000, (kind >> 3) & 3, 0);
	g_make_available(&g, G_RX, head, 1);
	g_notify(&g, G_RX);
}

static void host_action(struct input *in, uint8_t what)
{
	if (host_fd_count == 0)
		return;
	size_t i = take8(in) % host_fd_count;
	if (host_fds[i] < 0)
		return;
	if (what == 0) {
		uint8_t bytes[4096];
		size_t n = take16(in) % sizeof(bytes);
		memset(bytes, 0x33, n);
		if (send(host_fds[i], bytes, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* full or gone: both are fine */
		}
	} else if (what == 1) {
		shutdown(host_fds[i], SHUT_WR);
	} else {
		close(host_fds[i]);
		host_fds[i] = -1;
	}
}

static void stray_message(struct input *in)
{
	static const uint32_t requests[] = {VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
					    VHOST_USER_SET_VRING_ENABLE, VHOST_USER_GET_CONFIG, VHOST_USER_GET_QUEUE_NUM,
					    VHOST_USER_SET_CONFIG, 99, VHOST_USER_SET_FEATURES};
	uint8_t payload[64];
	uint32_t request = requests[take8(in) % 8];
	uint32_t size = take8(in) % sizeof(payload);

	/* a ring's size or base may change under our own bookkeeping of it */
	credit_exact = rx_exact = false;
	dirty = true;
	for (uint32_t i = 0; i < size; i++)
		payload[i] = take8(in);
	vhost_user_send(g.vu_fd, request, VHOST_USER_VERSION | (take8(in) & VHOST_USER_FLAG_NEED_REPLY), payload, size,
			NULL, 0);
	g_service(&g);
	/* read and drop whatever was answered */
	uint8_t answer[VHOST_USER_MAX_PAYLOAD];
	uint32_t r, f, s;
	int fds[VHOST_USER_MAX_FDS];
	size_t fd_count;
	char byte;
	while (recv(g.vu_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
	       vhost_user_receive(g.vu_fd, &r, &f, answer, &s, fds, &fd_count) == 0)
		for (size_t k = 0; k < fd_count; k++)
			close(fds[k]);
}

/* Back to the same state: no connection, no host socket, healthy rings.
 * Cheap when the input left only connections it knows of (the guest resets
 * them); otherwise the device is reset (RESET_DEVICE closes every
 * connection) and its rings are started again from zero. */
static void clean_up(void)
{
	struct vsock_backend_stats stats;

	for (size_t i = 0; i < host_fd_count; i++)
		if (host_fds[i] >= 0)
			close(host_fds[i]);
	host_fd_count = 0;
	if (!dirty) {
		for (size_t i = 0; i < TRACKED; i++) {
			if (!credits[i].live)
				continue;
			struct g_packet rst = g_pkt(G_OP_RST, credits[i].guest_port, credits[i].host_port);
			uint8_t raw[G_HEADER];
			g_encode(&rst, raw);
			memcpy(g_mem(&g, G_TX_AREA), raw, G_HEADER);
			g_write_desc(&g, G_TX, 0, G_TX_AREA, G_HEADER, 0, 0);
			g_make_available(&g, G_TX, 0, 1);
			g_notify(&g, G_TX);
			g_service(&g);
		}
		g_service(&g);
		drain_rx();
		g_service(&g);
		vsock_backend_stats(g.backend, &stats);
		dirty = stats.connections != 0;
	}
	if (dirty) {
		require(g_vu(&g, VHOST_USER_RESET_DEVICE, 0, NULL, 0, NULL, 0, NULL, NULL) == 0, "reset");
		for (int i = 0; i < 2; i++) {
			memset(g_mem(&g, g.ring[i].desc), 0, 0x3000);
			g.ring[i].avail_idx = g.ring[i].used_seen = g.ring[i].base = 0;
		}
		g.rx_posted = 0;
		require(g_start_device(&g) == 0, "device start");
		g_post_rx(&g, 32);
	}
	memset(credits, 0, sizeof(credits));
	credit_exact = rx_exact = true;
	dirty = false;
	last_request_port = 0x40000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size, 0};
	struct vzk_error err = {0};
	int fd;

	if (!ready) {
		require(g_setup(&g, false, 50) == 0, "setup");
		require(vsock_backend_listen(g.backend, 1025, on_connection, NULL, &err) == 0 &&
				vsock_backend_listen(g.backend, 1026, on_connection, NULL, &err) == 0,
			"listen");
		ready = true;
		dirty = true;
	}
	clean_up();
	for (int steps = 0; in.at < in.size && steps < 64; steps++) {
		switch (take8(&in) % 10) {
		case 0:
		case 1:
		case 2:
			send_packet(&in);
			break;
		case 3:
			send_raw_chain(&in);
			break;
		case 4:
			post_odd_rx(&in);
			break;
		case 5:
		case 6:
			host_action(&in, take8(&in) % 3);
			break;
		case 7:
			if (vsock_backend_connect_async(g.backend, 1000 + take8(&in) % 4, &fd, &err) == 0)
				on_connection(NULL, fd);
			break;
		case 8: /* more rx buffers, never more than the 64 slots hold */
			if ((uint16_t)(g.rx_posted - g.ring[G_RX].used_seen) < 60)
				g_post_rx_quietly(&g, 1 + take8(&in) % 4);
			break;
		case 9:
			stray_message(&in);
			break;
		}
		g_service(&g);
		drain_rx();
	}
	return 0;
}

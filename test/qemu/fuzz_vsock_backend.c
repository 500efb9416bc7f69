/* libFuzzer target for the vsock backend (vz/qemu/vsock_backend.c,
 * virtqueue.c, vhost_user.c): the input is a script of guest and host
 * actions run against the real backend in this thread, with the fake guest
 * of vsock_guest.h (memfd RAM in three regions, own rings, vhost-user over a
 * socketpair). Actions: well-formed or raw tx packets laid out in descriptor
 * chains of every shape, raw descriptors at region edges and outside guest
 * memory, rx buffers of odd shapes, avail-index jumps, host writes and
 * closes, host connects, stray vhost-user messages, used_event moved
 * anywhere. The input's first byte picks the back end's notification
 * suppression with the event index, and the guest's kicking (start_device).
 *
 * Every input starts from the same state: a new backend, zeroed guest memory,
 * new eventfds and a new vhost-user connection, set up as QEMU does (see
 * start_device). Nothing carries over from one input to the next, so a
 * failure reproduces from its artifact alone. The backend's timeouts are
 * longer than any input runs: no deadline depends on how fast the machine is.
 *
 * Checked on every input besides memory safety (ASan, UBSan):
 * - every used rx entry names a descriptor of the ring (id below the ring
 *   size the backend was last told), as long as nothing but the device's
 *   used-ring writes can have reached the used ring (see used_ring_trusted);
 * - every packet the device gives the guest is from CID 2 to CID 3, a
 *   stream, and its used length is the header plus exactly its len;
 * - the device never sends a connection more RW bytes than the credit the
 *   guest gave it (buf_alloc - (bytes sent - fwd_cnt)), per connection.
 * The last two hold only while the harness knows which buffer each used entry
 * is (rx_exact) and which credit the device saw (credit_exact). */
#include "test/qemu/vsock_guest.h"

#include <fcntl.h> /* fallocate */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HOST_FDS 16
#define TRACKED 64

static struct fake_guest g;
static bool ram_ready;
static uint64_t protocol_features; /* the backend's offer, the same every time: asked once */
static int host_fds[MAX_HOST_FDS];
static size_t host_fd_count;

/* The credit the guest gave each connection, as the device must see it. */
struct credit {
	bool used;
	uint32_t guest_port, host_port;
	uint32_t buf_alloc, fwd_cnt, sent;
};
static struct credit credits[TRACKED];
static bool credit_exact; /* false once a raw chain may have carried credit we cannot see */
static bool rx_exact;     /* false once the input wrote rx descriptors of its own */
/* The rx ring's size as the backend was last told it (SET_VRING_NUM). */
static uint32_t rx_size_told;
/* false once a device-writable descriptor of the input's own may cover the rx
 * used ring: then the device may legitimately write anything there. */
static bool used_ring_trusted;
static uint32_t last_request_port; /* the host port of the device's last REQUEST */

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
 * the buffers back in one batch (one kick). The used ring is read where the
 * device writes it: at its index modulo the ring size it was told. */
static void drain_rx(void)
{
	struct g_ring *r = &g.ring[G_RX];
	int taken = 0;

	while (g_used_idx(&g, G_RX) != r->used_seen) {
		const uint8_t *entry = g_mem(&g, r->used) + 4 + 8 * (r->used_seen & (rx_size_told - 1));
		uint32_t id = g_get32(entry), len = g_get32(entry + 4);
		struct g_packet p;
		r->used_seen++;
		taken++;
		if (used_ring_trusted)
			require(id < rx_size_told, "used id out of range");
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
		g_post_rx_quietly(&g, taken > G_RX_SLOTS ? G_RX_SLOTS : taken); /* the next step's service takes them */
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

/* Whether [addr, addr + len) meets the rx used ring at any size up to the
 * largest one the harness keeps checking (256; see stray_message). */
static bool covers_rx_used_ring(uint64_t addr, uint32_t len)
{
	uint64_t start = g.ring[G_RX].used, end = start + 6 + 8 * 256;
	return len > 0 && addr < end && (addr + len < addr || addr + len > start);
}

/* Raw descriptors, near the edges of guest memory or anywhere. */
static void send_raw_chain(struct input *in)
{
	static const uint64_t edges[] = {0, G_MB - 32, G_REGION_B_GPA, G_REGION_B_GPA + G_MB - 16, 2 * G_MB - 8, 0};
	uint8_t count = (uint8_t)(1 + take8(in) % 8);
	int ring = take8(in) & 1;
	uint16_t head = take16(in);

	credit_exact = false;
	if (ring == G_RX)
		rx_exact = false;
	for (uint8_t i = 0; i < count; i++) {
		uint8_t where = take8(in) % 6;
		uint64_t addr = where == 5 ? ((uint64_t)take32(in) << 32 | take32(in)) : edges[where] + take8(in);
		uint32_t len = take16(in);
		uint16_t flags = take8(in) & 7, next = take16(in);
		if (ring == G_RX && (flags & 2) && covers_rx_used_ring(addr, len))
			used_ring_trusted = false; /* the device may write a packet over it, as told */
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

/* A message QEMU would not send at this point (a buggy or hostile front end):
 * ring sizes, bases, addresses and states changed under a live ring, the
 * device stopped or reset, unknown requests. The harness follows what it can
 * (the rx ring's size) and stops checking what it can no longer know. */
static void stray_message(struct input *in)
{
	static const uint32_t requests[] = {
		VHOST_USER_SET_VRING_NUM,    VHOST_USER_SET_VRING_BASE,  VHOST_USER_SET_VRING_ENABLE,
		VHOST_USER_GET_CONFIG,       VHOST_USER_GET_QUEUE_NUM,   VHOST_USER_SET_CONFIG,
		99,                          VHOST_USER_SET_FEATURES,    VHOST_USER_SET_VRING_ADDR,
		VHOST_USER_GET_VRING_BASE,   VHOST_USER_RESET_DEVICE,    VHOST_USER_SET_VRING_KICK,
		VHOST_USER_SET_VRING_CALL,   VHOST_USER_SET_OWNER,       VHOST_USER_SET_PROTOCOL_FEATURES,
		VHOST_USER_SET_VRING_NUM};
	uint8_t payload[64];
	uint32_t request = requests[take8(in) % 16];
	uint32_t size = take8(in) % sizeof(payload);

	for (uint32_t i = 0; i < size; i++)
		payload[i] = take8(in);
	uint32_t index = size >= 4 ? g_get32(payload) : 0, num = size >= 8 ? g_get32(payload + 4) : 0;
	bool vring_message = request == VHOST_USER_SET_VRING_NUM || request == VHOST_USER_SET_VRING_BASE ||
			     request == VHOST_USER_SET_VRING_ENABLE || request == VHOST_USER_SET_VRING_ADDR ||
			     request == VHOST_USER_GET_VRING_BASE || request == VHOST_USER_SET_VRING_KICK ||
			     request == VHOST_USER_SET_VRING_CALL || request == VHOST_USER_RESET_DEVICE;
	if (vring_message) {
		/* the device may take old avail entries again, or none: packets and credit cannot be followed */
		credit_exact = rx_exact = false;
	}
	/* as vhost_user.c accepts it: queue 0 or 1, a power of two up to 32768 */
	if (request == VHOST_USER_SET_VRING_NUM && size >= 8 && index == G_RX && num != 0 && num <= 32768 &&
	    (num & (num - 1)) == 0) {
		rx_size_told = num;
		if (num > 256)
			used_ring_trusted = false; /* the used ring now reaches the tx ring the harness writes */
	}
	if (request == VHOST_USER_SET_VRING_ADDR && size >= 40 && index == G_RX)
		used_ring_trusted = false; /* the used ring may be anywhere now, even over other rings */
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

/* The state every input starts from: a new backend listening on host ports
 * 1025 and 1026, guest memory all zero (the same memfd, its pages dropped),
 * new kick and call eventfds, the device started as QEMU starts it, 32 rx
 * buffers posted. The input's first byte picks: the back end with
 * notification suppression and a guest that takes the event index, or
 * vzkit's default back end and a guest without it (bit 0); a guest that
 * kicks only when asked (bit 1; Linux does). */
static void start_device(uint8_t choices)
{
	struct vsock_backend_options options = {.guest_cid = G_CID, .connect_timeout_ms = 3600 * 1000,
						.close_timeout_ms = 3600 * 1000, .credit_stall_ms = 3600 * 1000,
						.log = g_log, .suppress_notifications = (choices & 1) != 0};
	struct vzk_error err = {0};
	int pair[2];

	if (!ram_ready) {
		g.memfd = memfd_create("guest-ram", MFD_CLOEXEC);
		require(g.memfd >= 0 && ftruncate(g.memfd, G_RAM_SIZE) == 0, "guest memory");
		g.ram = mmap(NULL, G_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g.memfd, 0);
		require(g.ram != MAP_FAILED, "guest memory mapping");
		ram_ready = true;
	} else {
		require(fallocate(g.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, G_RAM_SIZE) == 0,
			"zeroing guest memory");
	}
	g.threaded = false;
	g.features = (choices & 1) ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0;
	g.strict_kicks = (choices & 2) != 0;
	g.rx_posted = g.tx_sent = 0;
	for (int i = 0; i < 2; i++) {
		memset(&g.ring[i], 0, sizeof(g.ring[i]));
		g.ring[i].desc = 0x1000 + 0x3000 * (uint64_t)i;
		g.ring[i].avail = g.ring[i].desc + 0x1000;
		g.ring[i].used = g.ring[i].desc + 0x2000;
		g.ring[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g.ring[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		require(g.ring[i].kick >= 0 && g.ring[i].call >= 0, "eventfds");
	}
	require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0, "socketpair");
	g.vu_fd = pair[0];
	require(vsock_backend_new(&options, &g.backend, &err) == 0 && vsock_backend_attach(g.backend, pair[1], &err) == 0,
		"backend");
	require(vsock_backend_listen(g.backend, 1025, on_connection, NULL, &err) == 0 &&
			vsock_backend_listen(g.backend, 1026, on_connection, NULL, &err) == 0,
		"listen");
	/* QEMU's vhost_user_backend_init, vuv_device_realize and vhost_dev_start */
	if (protocol_features == 0)
		require(g_vu_get_u64(&g, VHOST_USER_GET_PROTOCOL_FEATURES, &protocol_features) == 0, "protocol features");
	require(g_vu_u64(&g, VHOST_USER_SET_PROTOCOL_FEATURES, protocol_features) == 0 &&
			g_vu(&g, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0, NULL, NULL) == 0,
		"device setup");
	require(g_start_device(&g) == 0, "device start");
	g_post_rx(&g, 32);

	host_fd_count = 0;
	memset(credits, 0, sizeof(credits));
	credit_exact = rx_exact = used_ring_trusted = true;
	rx_size_told = G_RING_SIZE;
	last_request_port = 0x40000000;
}

/* Everything start_device made, gone: the backend closes its host sockets,
 * the front end and its mappings of guest memory. */
static void stop_device(void)
{
	for (size_t i = 0; i < host_fd_count; i++)
		if (host_fds[i] >= 0)
			close(host_fds[i]);
	host_fd_count = 0;
	vsock_backend_free(g.backend);
	g.backend = NULL;
	close(g.vu_fd);
	for (int i = 0; i < 2; i++) {
		close(g.ring[i].kick);
		close(g.ring[i].call);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size, 0};
	struct vzk_error err = {0};
	int fd;

	start_device(take8(&in));
	for (int steps = 0; in.at < in.size && steps < 64; steps++) {
		switch (take8(&in) % 11) {
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
		case 10: { /* the guest moves its used_event anywhere (it only matters with the event index) */
			uint16_t event = take16(&in);
			memcpy(g_used_event(&g, take8(&in) & 1), &event, sizeof(event));
			break;
		}
		}
		g_service(&g);
		drain_rx();
	}
	stop_device();
	return 0;
}

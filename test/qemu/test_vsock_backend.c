/* The vsock backend (vz/qemu/vsock_backend.c) against a fake QEMU and a fake
 * guest driver (vsock_guest.h): the vhost-user conversation QEMU 7.2 holds,
 * the connection state machine both ways, credit accounting, half-close,
 * many connections, pause/resume, teardown — and every kind of bad input a
 * guest can put in its rings, each of which must be dropped or answered with
 * RST while the device goes on working (doc/vsock.md). */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "test/qemu/vsock_guest.h"
#include "test/testlib.h"

#define HOST_PORT 1025
#define WAIT_MS 2000

/* ---- host side helpers ---- */

static int accepted_pipe[2];

static void on_connection(void *context, int fd)
{
	(void)context;
	if (write(accepted_pipe[1], &fd, sizeof(fd)) != sizeof(fd))
		close(fd);
}

static int next_accepted(struct fake_guest *g)
{
	int fd = -1;
	if (g_readable(g, accepted_pipe[0], WAIT_MS) && read(accepted_pipe[0], &fd, sizeof(fd)) != sizeof(fd))
		fd = -1;
	return fd;
}

/* Reads exactly len bytes (0), or -1 on EOF / error / timeout. */
static int read_exact_ms(struct fake_guest *g, int fd, void *buffer, size_t len, int timeout_ms)
{
	for (size_t done = 0; done < len;) {
		if (!g_readable(g, fd, timeout_ms))
			return -1;
		ssize_t n = read(fd, (uint8_t *)buffer + done, len - done);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* true when fd reads EOF (not data, not a timeout). */
static bool reads_eof(struct fake_guest *g, int fd)
{
	char byte;
	return g_readable(g, fd, WAIT_MS) && read(fd, &byte, 1) == 0;
}

static bool setup(struct fake_guest *g, int connect_timeout_ms)
{
	struct vzk_error err = {0};

	if (g_setup(g, true, connect_timeout_ms) != 0)
		return false;
	g_post_rx(g, 32);
	return vsock_backend_listen(g->backend, HOST_PORT, on_connection, NULL, &err) == 0;
}

/* A guest connection from guest_port to HOST_PORT: REQUEST, RESPONSE, the host's fd. */
static int guest_connects(struct fake_guest *g, uint32_t guest_port, struct g_packet *response)
{
	struct g_packet p = g_pkt(G_OP_REQUEST, guest_port, HOST_PORT);

	if (!g_send(g, &p, NULL, 0) || !g_receive(g, response, NULL, WAIT_MS))
		return -1;
	return next_accepted(g);
}

/* The next packet that is not a credit update (which may come at any time). */
static bool receive_skipping_credit(struct fake_guest *g, struct g_packet *p, void *data)
{
	for (int i = 0; i < 64; i++) {
		if (!g_receive(g, p, data, WAIT_MS))
			return false;
		if (p->op != G_OP_CREDIT_UPDATE)
			return true;
	}
	return false;
}

static size_t open_fds(void)
{
	size_t count = 0;
	for (int fd = 0; fd < 4096; fd++)
		count += fcntl(fd, F_GETFD) >= 0;
	return count;
}

static struct vsock_backend_stats stats_of(struct fake_guest *g)
{
	struct vsock_backend_stats stats;
	vsock_backend_stats(g->backend, &stats);
	return stats;
}

/* ---- the vhost-user conversation ---- */

static void test_handshake(void)
{
	struct fake_guest g;
	uint64_t features = 0, protocol = 0, queues = 0;
	uint8_t config[12 + 8] = {0}, answer[64];
	uint32_t size = sizeof(answer);

	TEST_CASE("vhost-user: features, protocol features, queue count, config (guest CID)");
	CHECK(g_setup(&g, true, 0) == 0);
	CHECK(g_vu_get_u64(&g, VHOST_USER_GET_FEATURES, &features) == 0);
	CHECK_NAMED("GET_FEATURES offers VERSION_1 and PROTOCOL_FEATURES",
		    (features & (1ull << 32)) && (features & (1ull << 30)), "features %llx", (unsigned long long)features);
	CHECK(g_vu_get_u64(&g, VHOST_USER_GET_PROTOCOL_FEATURES, &protocol) == 0);
	CHECK_NAMED("GET_PROTOCOL_FEATURES offers CONFIG (QEMU needs it to read the CID)", (protocol >> 9) & 1,
		    "protocol features %llx", (unsigned long long)protocol);
	CHECK(g_vu_get_u64(&g, VHOST_USER_GET_QUEUE_NUM, &queues) == 0 && queues == 2);
	g_put32(config, 0);
	g_put32(config + 4, 8);
	CHECK(g_vu(&g, VHOST_USER_GET_CONFIG, 0, config, sizeof(config), NULL, 0, answer, &size) == 0);
	CHECK_NAMED("GET_CONFIG answers the guest CID, little-endian u64", size == 20 && g_get64(answer + 12) == G_CID,
		    "size %u cid %llu", size, size == 20 ? (unsigned long long)g_get64(answer + 12) : 0ull);
	/* out of range: an empty answer, no crash */
	g_put32(config, 4);
	g_put32(config + 4, 8);
	size = sizeof(answer);
	CHECK_NAMED("GET_CONFIG beyond the config space: empty answer",
		    g_vu(&g, VHOST_USER_GET_CONFIG, 0, config, sizeof(config), NULL, 0, answer, &size) == 0 && size == 0,
		    "size %u", size);
	/* REPLY_ACK: a refused message is acknowledged as a failure, a good one as success */
	uint32_t bad_num[2] = {0, 3}, good_num[2] = {0, G_RING_SIZE};
	uint64_t ack = 0;
	size = sizeof(ack);
	CHECK_NAMED("SET_VRING_NUM 3 (not a power of two) is refused (REPLY_ACK non-zero)",
		    g_vu(&g, VHOST_USER_SET_VRING_NUM, VHOST_USER_FLAG_NEED_REPLY, bad_num, 8, NULL, 0, &ack, &size) == 0 &&
			    ack != 0,
		    "ack %llu", (unsigned long long)ack);
	size = sizeof(ack);
	CHECK_NAMED("SET_VRING_NUM 128 is acknowledged with 0",
		    g_vu(&g, VHOST_USER_SET_VRING_NUM, VHOST_USER_FLAG_NEED_REPLY, good_num, 8, NULL, 0, &ack, &size) == 0 &&
			    ack == 0,
		    "ack %llu", (unsigned long long)ack);
	size = sizeof(ack);
	CHECK_NAMED("an unknown message asking for a reply gets a failure ack",
		    g_vu(&g, 77, VHOST_USER_FLAG_NEED_REPLY, NULL, 0, NULL, 0, &ack, &size) == 0 && ack != 0,
		    "ack %llu", (unsigned long long)ack);
	/* a memory region larger than its file must not be mapped (access would SIGBUS) */
	uint8_t table[8 + 32] = {0};
	g_put32(table, 1);
	g_put64(table + 8, 0);
	g_put64(table + 16, 64 * G_MB);
	g_put64(table + 24, G_USER_A);
	size = sizeof(ack);
	CHECK_NAMED("SET_MEM_TABLE with a region past its file's end is refused",
		    g_vu(&g, VHOST_USER_SET_MEM_TABLE, VHOST_USER_FLAG_NEED_REPLY, table, sizeof(table), &g.memfd, 1, &ack,
			 &size) == 0 &&
			    ack != 0,
		    "ack %llu", (unsigned long long)ack);
	g_teardown(&g);
}

/* ---- connections ---- */

static void test_refused_port(void)
{
	struct fake_guest g;
	struct g_packet p = g_pkt(G_OP_REQUEST, 5000, 4444), answer;

	TEST_CASE("a guest connection to a port nobody listens on gets RST");
	CHECK(setup(&g, 0));
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK(g_receive(&g, &answer, NULL, WAIT_MS));
	CHECK_NAMED("answer is RST from host port 4444 to guest port 5000",
		    answer.op == G_OP_RST && answer.src_port == 4444 && answer.dst_port == 5000 && answer.src_cid == 2 &&
			    answer.dst_cid == G_CID,
		    "op %u %u->%u", answer.op, answer.src_port, answer.dst_port);
	CHECK(stats_of(&g).connections == 0);
	g_teardown(&g);
}

static void test_guest_connection(void)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	char data[G_RX_DATA];

	TEST_CASE("guest -> host port 1025: RESPONSE, Ready arrives on the host fd, data back, guest close");
	CHECK(setup(&g, 0));
	int fd = guest_connects(&g, 40000, &response);
	CHECK_NAMED("RESPONSE with the host's buffer", response.op == G_OP_RESPONSE && response.buf_alloc == VSOCK_BUFFER_BYTES &&
							       response.src_port == HOST_PORT && response.dst_port == 40000 && response.type == 1,
		    "op %u buf_alloc %u", response.op, response.buf_alloc);
	CHECK_NAMED("the listener's callback got a socket", fd >= 0, "fd %d", fd);
	p = g_pkt(G_OP_RW, 40000, HOST_PORT);
	p.len = 6;
	CHECK(g_send(&g, &p, "Ready\n", 6));
	char ready[6];
	CHECK_NAMED("Ready\\n arrives on the host socket", read_exact_ms(&g, fd, ready, 6, WAIT_MS) == 0 && memcmp(ready, "Ready\n", 6) == 0,
		    "bytes differ");
	CHECK(write(fd, "hello guest", 11) == 11);
	CHECK(receive_skipping_credit(&g, &got, data));
	CHECK_NAMED("host bytes arrive as RW with the right addresses",
		    got.op == G_OP_RW && got.len == 11 && memcmp(data, "hello guest", 11) == 0 && got.src_port == HOST_PORT &&
			    got.dst_port == 40000 && got.fwd_cnt == 6,
		    "op %u len %u fwd_cnt %u", got.op, got.len, got.fwd_cnt);
	/* the guest closes: SHUTDOWN(RCV|SEND); the host reads EOF; the device answers RST and forgets it */
	p = g_pkt(G_OP_SHUTDOWN, 40000, HOST_PORT);
	p.flags = 3;
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK_NAMED("guest close -> host EOF", reads_eof(&g, fd), "no EOF");
	CHECK(receive_skipping_credit(&g, &got, NULL));
	CHECK_NAMED("guest close is answered with RST", got.op == G_OP_RST, "op %u", got.op);
	CHECK_NAMED("connection gone, its host fd closed", stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0,
		    "connections %zu fds %zu", stats_of(&g).connections, stats_of(&g).host_fds);
	close(fd);
	g_teardown(&g);
}

static void test_half_close(void)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	char data[G_RX_DATA];

	TEST_CASE("half-close both ways");
	CHECK(setup(&g, 0));
	int fd = guest_connects(&g, 40001, &response);
	CHECK(fd >= 0);
	/* guest: no more sending; the host still can */
	p = g_pkt(G_OP_SHUTDOWN, 40001, HOST_PORT);
	p.flags = 2;
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK_NAMED("guest SHUTDOWN(SEND) -> host reads EOF", reads_eof(&g, fd), "no EOF");
	CHECK(write(fd, "after", 5) == 5);
	CHECK(receive_skipping_credit(&g, &got, data));
	CHECK_NAMED("the host still sends after the guest's half-close", got.op == G_OP_RW && got.len == 5, "op %u", got.op);
	/* host: no more sending -> SHUTDOWN(SEND); both directions over -> full shutdown, then the guest's RST ends it */
	shutdown(fd, SHUT_WR);
	CHECK(receive_skipping_credit(&g, &got, NULL));
	CHECK_NAMED("host shutdown(SHUT_WR) -> SHUTDOWN with SEND", got.op == G_OP_SHUTDOWN && (got.flags & 2),
		    "op %u flags %u", got.op, got.flags);
	if (!(got.flags & 1))
		CHECK(receive_skipping_credit(&g, &got, NULL));
	CHECK_NAMED("then SHUTDOWN with both flags", got.op == G_OP_SHUTDOWN && got.flags == 3, "op %u flags %u", got.op, got.flags);
	p = g_pkt(G_OP_RST, 40001, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK_NAMED("the guest's RST ends the connection", stats_of(&g).connections == 0, "connections %zu",
		    stats_of(&g).connections);
	close(fd);

	/* the other way round: the host closes first -> the guest hears SEND|RCV; no RST from the guest -> timeout */
	fd = guest_connects(&g, 40002, &response);
	CHECK(fd >= 0 && write(fd, "last words", 10) == 10);
	close(fd);
	CHECK(receive_skipping_credit(&g, &got, data));
	CHECK_NAMED("data written before the host's close still arrives", got.op == G_OP_RW && got.len == 10 && memcmp(data, "last words", 10) == 0,
		    "op %u len %u", got.op, got.len);
	CHECK(receive_skipping_credit(&g, &got, NULL));
	CHECK_NAMED("host close -> SHUTDOWN(SEND|RCV) (the guest reads EOF)", got.op == G_OP_SHUTDOWN && got.flags == 3,
		    "op %u flags %u", got.op, got.flags);
	CHECK(receive_skipping_credit(&g, &got, NULL));
	CHECK_NAMED("no RST from the guest: the device sends one after the close timeout", got.op == G_OP_RST,
		    "op %u", got.op);
	CHECK(stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0);
	g_teardown(&g);
}

struct connector {
	struct fake_guest *g;
	uint32_t port;
	int fd, status;
	long elapsed_ms;
	char message[1024];
};

static long ms_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void *connect_thread(void *context)
{
	struct connector *c = context;
	struct vzk_error err = {0};
	long start = ms_now();

	c->status = vsock_backend_connect(c->g->backend, c->port, &c->fd, &err);
	c->elapsed_ms = ms_now() - start;
	snprintf(c->message, sizeof(c->message), "%s", err.message);
	return NULL;
}

static void test_host_connection(void)
{
	struct fake_guest g;
	struct g_packet request, p, got;
	char data[G_RX_DATA];
	pthread_t thread;
	struct connector c = {.g = &g, .port = 2222, .fd = -1};

	TEST_CASE("host -> guest port: REQUEST, RESPONSE, data both ways; RST refuses at once; silence times out");
	CHECK(setup(&g, 400));
	pthread_create(&thread, NULL, connect_thread, &c);
	CHECK(g_receive(&g, &request, NULL, WAIT_MS));
	CHECK_NAMED("REQUEST to the guest's port from an ephemeral host port",
		    request.op == G_OP_REQUEST && request.dst_port == 2222 && request.dst_cid == G_CID &&
			    request.buf_alloc == VSOCK_BUFFER_BYTES,
		    "op %u port %u", request.op, request.dst_port);
	p = g_pkt(G_OP_RESPONSE, 2222, request.src_port);
	CHECK(g_send(&g, &p, NULL, 0));
	pthread_join(thread, NULL);
	CHECK_NAMED("connect returns a socket once the guest answers", c.status == 0 && c.fd >= 0, "%s", c.message);
	CHECK(write(c.fd, "ping", 4) == 4);
	CHECK(receive_skipping_credit(&g, &got, data));
	CHECK(got.op == G_OP_RW && got.len == 4 && memcmp(data, "ping", 4) == 0);
	p = g_pkt(G_OP_RW, 2222, request.src_port);
	p.len = 4;
	CHECK(g_send(&g, &p, "pong", 4));
	char pong[4];
	CHECK(read_exact_ms(&g, c.fd, pong, 4, WAIT_MS) == 0 && memcmp(pong, "pong", 4) == 0);
	/* the guest resets: the host's socket reads EOF at once */
	p = g_pkt(G_OP_RST, 2222, request.src_port);
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK_NAMED("the guest's RST closes the host's connection at once", reads_eof(&g, c.fd), "no EOF");
	close(c.fd);

	/* nobody listens: the guest answers RST, connect fails promptly */
	c.port = 2223;
	c.fd = -1;
	pthread_create(&thread, NULL, connect_thread, &c);
	CHECK(g_receive(&g, &request, NULL, WAIT_MS) && request.op == G_OP_REQUEST);
	p = g_pkt(G_OP_RST, 2223, request.src_port);
	CHECK(g_send(&g, &p, NULL, 0));
	pthread_join(thread, NULL);
	CHECK_NAMED("connect to a port nobody listens on fails promptly", c.status != 0 && c.elapsed_ms < 300,
		    "status %d after %ld ms: %s", c.status, c.elapsed_ms, c.message);
	CHECK_NAMED("its error says the guest refused", strstr(c.message, "refused") != NULL, "%s", c.message);

	/* no answer at all: the connect timeout */
	c.port = 2224;
	pthread_create(&thread, NULL, connect_thread, &c);
	CHECK(g_receive(&g, &request, NULL, WAIT_MS) && request.op == G_OP_REQUEST);
	pthread_join(thread, NULL);
	CHECK_NAMED("connect to a silent guest fails after the connect timeout", c.status != 0 && c.elapsed_ms >= 350,
		    "status %d after %ld ms", c.status, c.elapsed_ms);
	CHECK(g_receive(&g, &got, NULL, WAIT_MS));
	CHECK_NAMED("and the half-open connection is reset in the guest", got.op == G_OP_RST && got.src_port == request.src_port,
		    "op %u", got.op);
	CHECK(stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0);
	g_teardown(&g);
}

/* ---- credit ---- */

static void test_credit_to_guest(void)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	char data[G_RX_DATA];
	static char big[256 * 1024];

	TEST_CASE("host -> guest: never past the guest's credit; resumes on CREDIT_UPDATE");
	CHECK(setup(&g, 0));
	p = g_pkt(G_OP_REQUEST, 41000, HOST_PORT);
	p.buf_alloc = 10000; /* a small guest buffer */
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK(g_receive(&g, &response, NULL, WAIT_MS) && response.op == G_OP_RESPONSE);
	int fd = next_accepted(&g);
	CHECK(fd >= 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	CHECK(write(fd, big, 30000) == 30000);
	uint32_t received = 0;
	bool asked = false;
	while (g_receive(&g, &got, data, 300)) {
		if (got.op == G_OP_RW) {
			CHECK_NAMED("bytes in order", memcmp(data, big + received, got.len) == 0, "at %u", received);
			received += got.len;
		} else if (got.op == G_OP_CREDIT_REQUEST) {
			asked = true;
		}
	}
	CHECK_NAMED("exactly the guest's 10000-byte credit was sent, then nothing", received == 10000, "received %u", received);
	CHECK_NAMED("stalled on credit, the device asks for an update (CREDIT_REQUEST)", asked, "no CREDIT_REQUEST");
	p = g_pkt(G_OP_CREDIT_UPDATE, 41000, HOST_PORT);
	p.buf_alloc = 10000;
	p.fwd_cnt = 10000; /* the guest read it all */
	CHECK(g_send(&g, &p, NULL, 0));
	while (g_receive(&g, &got, data, 300))
		if (got.op == G_OP_RW) {
			CHECK_NAMED("bytes in order after the update", memcmp(data, big + received, got.len) == 0, "at %u", received);
			received += got.len;
		}
	CHECK_NAMED("another 10000 after the update, not more", received == 20000, "received %u", received);
	/* a guest claiming it forwarded more than it got gains nothing */
	p.fwd_cnt = 0x80000000u;
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK_NAMED("nonsense credit (fwd_cnt ahead of what was sent) sends nothing", !g_receive(&g, &got, data, 300) || got.op != G_OP_RW,
		    "op %u len %u", got.op, got.len);
	close(fd);
	g_teardown(&g);
}

static void *drain_thread(void *context)
{
	int fd = *(int *)context;
	static char buffer[65536];
	ssize_t n;
	size_t total = 0;
	while ((n = read(fd, buffer, sizeof(buffer))) > 0)
		total += (size_t)n;
	*(int *)context = (int)(total / 1024);
	return NULL;
}

static void test_credit_from_guest(void)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	static char chunk[32768];
	pthread_t thread;

	TEST_CASE("guest -> host: credit updates come before the guest stalls; a guest past its credit is reset");
	CHECK(setup(&g, 0));
	int fd = guest_connects(&g, 42000, &response);
	CHECK(fd >= 0);
	int drained = fd;
	pthread_create(&thread, NULL, drain_thread, &drained);
	/* a well-behaved guest: sends only what its latest view of the host's credit allows */
	uint32_t sent = 0, peer_fwd = response.fwd_cnt, peer_buf = response.buf_alloc, target = 4u << 20;
	bool stalled = false;
	memset(chunk, 'x', sizeof(chunk));
	while (sent < target && !stalled) {
		uint32_t credit = peer_buf - (sent - peer_fwd);
		if (credit == 0) {
			/* wait for an update without asking: the device must send one by itself */
			stalled = true;
			while (g_receive(&g, &got, NULL, 1000)) {
				if (got.fwd_cnt != peer_fwd || got.op == G_OP_CREDIT_UPDATE) {
					peer_fwd = got.fwd_cnt;
					stalled = false;
					break;
				}
			}
			continue;
		}
		p = g_pkt(G_OP_RW, 42000, HOST_PORT);
		p.len = credit < sizeof(chunk) ? credit : sizeof(chunk);
		CHECK_NAMED("RW taken", g_send(&g, &p, chunk, p.len), "tx not used");
		sent += p.len;
		struct g_packet update;
		/* updates that arrived meanwhile */
		while (g_used_idx(&g, G_RX) != g.ring[G_RX].used_seen && g_receive(&g, &update, NULL, 0))
			if (update.op == G_OP_CREDIT_UPDATE)
				peer_fwd = update.fwd_cnt;
	}
	CHECK_NAMED("4 MiB through a 256 KiB credit window without a stall", !stalled && sent >= target,
		    "stalled after %u bytes", sent);
	/* the guest is done: the host reads everything, then EOF */
	p = g_pkt(G_OP_SHUTDOWN, 42000, HOST_PORT);
	p.flags = 2;
	CHECK(g_send(&g, &p, NULL, 0));
	pthread_join(thread, NULL);
	g_teardown(&g);
	CHECK_NAMED("every byte reached the host socket", drained == (int)(sent / 1024), "host read %d KiB of %u", drained,
		    sent / 1024);
	close(fd);

	CHECK(setup(&g, 0));
	fd = guest_connects(&g, 42001, &response); /* nobody reads fd: everything is buffered */
	CHECK(fd >= 0);
	uint32_t cheated = 0;
	p = g_pkt(G_OP_RW, 42001, HOST_PORT);
	p.len = sizeof(chunk);
	while (cheated <= VSOCK_BUFFER_BYTES + 4 * G_MB) {
		CHECK_NAMED("RW taken", g_send(&g, &p, chunk, p.len), "tx not used");
		cheated += p.len;
		if (stats_of(&g).connections == 0)
			break;
	}
	CHECK_NAMED("a guest sending past its credit is reset (RST, host side closed)",
		    stats_of(&g).connections == 0 && cheated > VSOCK_BUFFER_BYTES,
		    "after %u bytes: %zu connections", cheated, stats_of(&g).connections);
	bool rst = false;
	while (g_receive(&g, &got, NULL, 200))
		rst = rst || (got.op == G_OP_RST && got.dst_port == 42001);
	CHECK(rst);
	/* what the device passed on before the reset reached the host (as much as
	 * the host socket took: the device's own buffer is dropped), never the
	 * packet past the credit; then EOF */
	size_t host_bytes = 0;
	char buffer[65536];
	ssize_t n;
	while (g_readable(&g, fd, 200) && (n = read(fd, buffer, sizeof(buffer))) > 0)
		host_bytes += (size_t)n;
	CHECK_NAMED("the host got what came within the credit, not the packet past it, then EOF",
		    host_bytes > 0 && host_bytes + p.len <= cheated, "host got %zu of %u sent", host_bytes, cheated);
	close(fd);
	g_teardown(&g);
}

/* ---- notifications (doc/vsock.md, "Notifications") ---- */

#define EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)

/* Whether the device signalled the ring's call eventfd since the last look (the look clears it). */
static bool signalled(struct fake_guest *g, int ring)
{
	uint64_t count;
	return read(g->ring[ring].call, &count, sizeof(count)) == (ssize_t)sizeof(count);
}

/* Single-threaded: a guest connection from guest_port, 16 rx buffers posted; the host's fd. */
static int manual_connection(struct fake_guest *g, uint32_t guest_port)
{
	struct g_packet p = g_pkt(G_OP_REQUEST, guest_port, HOST_PORT), got;
	struct vzk_error err = {0};

	if (vsock_backend_listen(g->backend, HOST_PORT, on_connection, NULL, &err) != 0)
		return -1;
	g_post_rx(g, 16);
	if (!g_send(g, &p, NULL, 0) || !g_receive(g, &got, NULL, 0) || got.op != G_OP_RESPONSE)
		return -1;
	return next_accepted(g);
}

/* One byte from the host, one round of the device: one RW packet, the used index one further. */
static bool one_packet(struct fake_guest *g, int fd)
{
	uint16_t before = g_used_idx(g, G_RX);

	if (write(fd, "x", 1) != 1)
		return false;
	g_service(g);
	return g_used_idx(g, G_RX) == (uint16_t)(before + 1);
}

static void test_event_index_interrupts(void)
{
	struct fake_guest g;
	uint64_t features = 0;

	TEST_CASE("event index: offered; the guest is interrupted when used.idx passes used_event, not before");
	CHECK(g_setup_features(&g, false, 0, EVENT_IDX) == 0);
	CHECK(g_vu_get_u64(&g, VHOST_USER_GET_FEATURES, &features) == 0);
	CHECK_NAMED("GET_FEATURES offers VIRTIO_RING_F_EVENT_IDX (bit 29)", (features >> VIRTIO_RING_F_EVENT_IDX) & 1,
		    "features %llx", (unsigned long long)features);
	int fd = manual_connection(&g, 43000);
	CHECK(fd >= 0);
	CHECK_NAMED("the tx ring's avail_event asks for a kick on the guest's next packet",
		    g_get16(g_avail_event(&g, G_TX)) == g.ring[G_TX].avail_idx, "avail_event %u, avail idx %u",
		    g_get16(g_avail_event(&g, G_TX)), g.ring[G_TX].avail_idx);
	/* "interrupt me once the entry two further on is used" */
	uint16_t used = g_used_idx(&g, G_RX);
	g_put16(g_used_event(&g, G_RX), (uint16_t)(used + 2));
	signalled(&g, G_RX);
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("no interrupt while used.idx is short of used_event", !signalled(&g, G_RX), "signalled");
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("no interrupt when used.idx reaches used_event without passing it", !signalled(&g, G_RX), "signalled");
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("the packet that takes used.idx past used_event interrupts", signalled(&g, G_RX), "not signalled");
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("one interrupt per request: the next packet does not", !signalled(&g, G_RX), "signalled");
	/* used_event wraps like every index */
	g_put16(g_used_event(&g, G_RX), g_used_idx(&g, G_RX));
	g_put16(g_mem(&g, g.ring[G_RX].avail), VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("with the event index avail.flags NO_INTERRUPT is ignored", signalled(&g, G_RX), "not signalled");
	close(fd);
	g_teardown(&g);
}

static void test_flags_without_event_index(void)
{
	struct fake_guest g;

	TEST_CASE("without the event index: avail.flags NO_INTERRUPT decides, used_event means nothing, avail_event untouched");
	CHECK(g_setup(&g, false, 0) == 0);
	int fd = manual_connection(&g, 43001);
	CHECK(fd >= 0);
	g_put16(g_used_event(&g, G_RX), (uint16_t)(g_used_idx(&g, G_RX) + 100));
	signalled(&g, G_RX);
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("a used buffer interrupts though used_event is far ahead", signalled(&g, G_RX), "not signalled");
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("and so does the next", signalled(&g, G_RX), "not signalled");
	g_put16(g_mem(&g, g.ring[G_RX].avail), VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("avail.flags NO_INTERRUPT: no interrupt", !signalled(&g, G_RX), "signalled");
	g_put16(g_mem(&g, g.ring[G_RX].avail), 0);
	CHECK(one_packet(&g, fd));
	CHECK_NAMED("the flag cleared: interrupts again", signalled(&g, G_RX), "not signalled");
	CHECK_NAMED("the tx ring's avail_event is not written", g_get16(g_avail_event(&g, G_TX)) == 0, "avail_event %u",
		    g_get16(g_avail_event(&g, G_TX)));
	CHECK_NAMED("the tx ring never says NO_NOTIFY (every guest packet is wanted at once)",
		    !(g_get16(g_mem(&g, g.ring[G_TX].used)) & VIRTQ_USED_F_NO_NOTIFY), "used.flags %u",
		    g_get16(g_mem(&g, g.ring[G_TX].used)));
	close(fd);
	g_teardown(&g);
}

/* Whether the device asks the guest to kick when it adds rx buffers. */
static bool rx_kick_asked(struct fake_guest *g)
{
	if (g->features & EVENT_IDX)
		return g_get16(g_avail_event(g, G_RX)) == g->ring[G_RX].avail_idx;
	return !(g_get16(g_mem(g, g->ring[G_RX].used)) & VIRTQ_USED_F_NO_NOTIFY);
}

static void test_rx_kicks_when_starved(uint64_t features)
{
	struct fake_guest g;
	struct g_packet got;
	static char data[24 * 4096], in[G_RX_DATA];

	TEST_CASE(features ? "rx kicks (event index): asked for by avail_event only while the device waits for buffers"
			   : "rx kicks (flags): NO_NOTIFY cleared only while the device waits for buffers");
	CHECK(g_setup_features(&g, false, 0, features) == 0);
	int fd = manual_connection(&g, 43002); /* 16 buffers available */
	CHECK(fd >= 0);
	CHECK(one_packet(&g, fd));
	CHECK_NAMED(features ? "buffers in hand: avail_event is not the guest's avail index"
			     : "buffers in hand: used.flags says NO_NOTIFY",
		    !rx_kick_asked(&g), "a kick is asked for");
	/* more data than buffers: the device runs dry and asks */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 13 + 1);
	CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	g_service(&g);
	CHECK_NAMED("every buffer was filled", g_used_idx(&g, G_RX) == g.ring[G_RX].avail_idx, "used %u of %u",
		    g_used_idx(&g, G_RX), g.ring[G_RX].avail_idx);
	CHECK_NAMED(features ? "starved: avail_event = the guest's avail index (kick me on the next buffer)"
			     : "starved: NO_NOTIFY cleared (kick me)",
		    rx_kick_asked(&g), "no kick asked for");
	uint16_t asked_at = g_get16(g_avail_event(&g, G_RX));
	/* the guest adds more than is needed: the device takes what it needs and stops asking */
	g_post_rx(&g, 16);
	CHECK_NAMED(features ? "fed: avail_event stays where it was (the guest adds buffers without kicking)"
			     : "fed: NO_NOTIFY set again",
		    !rx_kick_asked(&g) && (!features || g_get16(g_avail_event(&g, G_RX)) == asked_at), "a kick is asked for");
	/* and every byte arrived, in order */
	uint32_t received = 0;
	CHECK(g_receive(&g, &got, NULL, 0) && got.op == G_OP_RW && got.len == 1); /* the first byte */
	while (received < sizeof(data) && g_receive(&g, &got, in, 0) && got.op == G_OP_RW && got.len <= G_RX_DATA) {
		if (memcmp(in, data + received, got.len) != 0)
			break;
		received += got.len;
	}
	CHECK_NAMED("all 96 KiB arrived in order across the starvation", received == sizeof(data), "%u bytes", received);
	close(fd);
	g_teardown(&g);
}

/* vzkit's own setting: suppression off, the device behaves as before it existed. */
static void test_suppression_off(void)
{
	struct fake_guest g;
	uint64_t features = 0;
	static char data[24 * 4096];

	TEST_CASE("notification suppression off (vzkit's default): no event index offered, rx kicks never turned off");
	CHECK(g_setup_options(&g, false, 0, EVENT_IDX, false) == 0);
	CHECK(g_vu_get_u64(&g, VHOST_USER_GET_FEATURES, &features) == 0);
	CHECK_NAMED("GET_FEATURES does not offer VIRTIO_RING_F_EVENT_IDX", !((features >> VIRTIO_RING_F_EVENT_IDX) & 1),
		    "features %llx", (unsigned long long)features);
	int fd = manual_connection(&g, 43005);
	CHECK(fd >= 0);
	CHECK(one_packet(&g, fd));
	CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	g_service(&g);
	g_post_rx(&g, 16);
	CHECK_NAMED("used.flags never says NO_NOTIFY on rx", !(g_get16(g_mem(&g, g.ring[G_RX].used)) & VIRTQ_USED_F_NO_NOTIFY),
		    "used.flags %u", g_get16(g_mem(&g, g.ring[G_RX].used)));
	CHECK_NAMED("nor is avail_event written on rx", g_get16(g_avail_event(&g, G_RX)) == 0, "avail_event %u",
		    g_get16(g_avail_event(&g, G_RX)));
	close(fd);
	g_teardown(&g);
}

struct writer {
	int fd;
	size_t bytes;
};

static void *writer_thread(void *context)
{
	struct writer *w = context;
	static char block[65536];
	for (size_t done = 0; done < w->bytes;) {
		size_t piece = w->bytes - done < sizeof(block) ? w->bytes - done : sizeof(block);
		for (size_t i = 0; i < piece; i++)
			block[i] = (char)((done + i) * 31 + 7);
		ssize_t n = write(w->fd, block, piece);
		if (n <= 0)
			break;
		done += (size_t)n; /* a short write: the rest of the block is made again */
	}
	return NULL;
}

/* A threaded guest that kicks only when asked (as Linux does): 1 MiB each way must get through. */
static void test_strict_guest(uint64_t features)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	static char chunk[32768];
	char in[G_RX_DATA];
	pthread_t thread;
	const uint32_t total = 1u << 20;

	TEST_CASE(features ? "a guest that kicks only when asked (event index): 1 MiB each way"
			   : "a guest that kicks only when asked (flags): 1 MiB each way");
	CHECK(g_setup_features(&g, true, 0, features) == 0);
	g.strict_kicks = true;
	struct vzk_error err = {0};
	CHECK(vsock_backend_listen(g.backend, HOST_PORT, on_connection, NULL, &err) == 0);
	g_post_rx(&g, 16);
	int fd = guest_connects(&g, 43003, &response);
	CHECK(fd >= 0);
	/* host -> guest, the guest telling its credit every 128 KiB it read */
	struct writer w = {.fd = fd, .bytes = total};
	pthread_create(&thread, NULL, writer_thread, &w);
	uint32_t received = 0, told = 0;
	bool in_order = true;
	while (received < total && g_receive(&g, &got, in, WAIT_MS)) {
		if (got.op != G_OP_RW || got.len > G_RX_DATA)
			continue;
		for (uint32_t i = 0; i < got.len; i++)
			in_order = in_order && in[i] == (char)((received + i) * 31 + 7);
		received += got.len;
		if (received - told >= 128 * 1024) {
			p = g_pkt(G_OP_CREDIT_UPDATE, 43003, HOST_PORT);
			p.fwd_cnt = told = received;
			CHECK(g_send(&g, &p, NULL, 0));
		}
	}
	pthread_join(thread, NULL);
	CHECK_NAMED("host -> guest: 1 MiB arrived whole, in order", received == total && in_order, "%u bytes, in order %d",
		    received, in_order);
	/* guest -> host within the host's credit */
	int drained = fd;
	pthread_create(&thread, NULL, drain_thread, &drained);
	uint32_t sent = 0, peer_fwd = response.fwd_cnt, peer_buf = response.buf_alloc;
	bool stalled = false;
	memset(chunk, 'y', sizeof(chunk));
	while (sent < total && !stalled) {
		uint32_t credit = peer_buf - (sent - peer_fwd);
		if (credit == 0) {
			stalled = true;
			while (g_receive(&g, &got, NULL, WAIT_MS))
				if (got.op == G_OP_CREDIT_UPDATE || got.fwd_cnt != peer_fwd) {
					peer_fwd = got.fwd_cnt;
					stalled = false;
					break;
				}
			continue;
		}
		p = g_pkt(G_OP_RW, 43003, HOST_PORT);
		p.len = credit < sizeof(chunk) ? credit : sizeof(chunk);
		if (!g_send(&g, &p, chunk, p.len)) {
			stalled = true;
			break;
		}
		sent += p.len;
		while (g_used_idx(&g, G_RX) != g.ring[G_RX].used_seen && g_receive(&g, &got, NULL, 0))
			if (got.op == G_OP_CREDIT_UPDATE)
				peer_fwd = got.fwd_cnt;
	}
	p = g_pkt(G_OP_SHUTDOWN, 43003, HOST_PORT);
	p.flags = 3;
	CHECK(g_send(&g, &p, NULL, 0));
	pthread_join(thread, NULL);
	CHECK_NAMED("guest -> host: 1 MiB reached the host socket", !stalled && drained == (int)(total / 1024),
		    "stalled %d, host read %d KiB", stalled, drained);
	close(fd);
	g_teardown(&g);
}

/* ---- many ---- */

static void test_many_connections(void)
{
	struct fake_guest g;
	struct g_packet response, p;
	int fds[100];
	size_t fds_before = open_fds();

	TEST_CASE("100 connections at once, each its own bytes; all closed after");
	CHECK(setup(&g, 0));
	bool all = true;
	for (int i = 0; i < 100; i++) {
		fds[i] = guest_connects(&g, 50000 + (uint32_t)i, &response);
		all = all && fds[i] >= 0 && response.op == G_OP_RESPONSE;
	}
	CHECK_NAMED("100 connections accepted", all, "one failed");
	CHECK(stats_of(&g).connections == 100);
	for (int i = 0; i < 100; i++) {
		char message[32];
		int len = snprintf(message, sizeof(message), "connection %d", i);
		p = g_pkt(G_OP_RW, 50000 + (uint32_t)i, HOST_PORT);
		p.len = (uint32_t)len;
		g_send(&g, &p, message, (size_t)len);
	}
	all = true;
	for (int i = 0; i < 100; i++) {
		char want[32], got[32] = {0};
		int len = snprintf(want, sizeof(want), "connection %d", i);
		all = all && read_exact_ms(&g, fds[i], got, (size_t)len, WAIT_MS) == 0 && memcmp(got, want, (size_t)len) == 0;
	}
	CHECK_NAMED("each host socket got its own connection's bytes", all, "mixed up");
	for (int i = 0; i < 100; i++)
		close(fds[i]);
	struct g_packet got;
	int shutdowns = 0;
	while (g_receive(&g, &got, NULL, 300))
		if (got.op == G_OP_SHUTDOWN && got.flags == 3) {
			shutdowns++;
			p = g_pkt(G_OP_RST, got.dst_port, got.src_port);
			g_send(&g, &p, NULL, 0);
		}
	CHECK_NAMED("each host close told to the guest", shutdowns == 100, "%d", shutdowns);
	CHECK_NAMED("no connection and no fd left", stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0,
		    "%zu connections, %zu fds", stats_of(&g).connections, stats_of(&g).host_fds);
	g_teardown(&g);
	CHECK_NAMED("the process has as many fds as before", open_fds() == fds_before, "%zu before, %zu after", fds_before,
		    open_fds());
}

/* ---- pause, front end gone, teardown ---- */

static void test_pause_resume(void)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	char data[G_RX_DATA];
	uint32_t base[2];

	TEST_CASE("pause (rings stopped) and resume (device started again): connections survive");
	CHECK(setup(&g, 0));
	int fd = guest_connects(&g, 43000, &response);
	CHECK(fd >= 0);
	CHECK(g_stop_ring(&g, G_RX, &base[0]) == 0 && g_stop_ring(&g, G_TX, &base[1]) == 0);
	CHECK_NAMED("GET_VRING_BASE answers the next avail index", base[1] == g.ring[G_TX].avail_idx, "%u vs %u", base[1],
		    g.ring[G_TX].avail_idx);
	CHECK(write(fd, "while paused", 12) == 12);
	CHECK_NAMED("nothing reaches a stopped ring", !g_receive(&g, &got, data, 200), "op %u", got.op);
	CHECK(g_start_device(&g) == 0);
	g_kick(&g, G_RX);
	CHECK(receive_skipping_credit(&g, &got, data));
	CHECK_NAMED("after resume the bytes written while paused arrive", got.op == G_OP_RW && got.len == 12 && memcmp(data, "while paused", 12) == 0,
		    "op %u len %u", got.op, got.len);
	p = g_pkt(G_OP_RW, 43000, HOST_PORT);
	p.len = 5;
	CHECK(g_send(&g, &p, "again", 5));
	char again[5];
	CHECK(read_exact_ms(&g, fd, again, 5, WAIT_MS) == 0 && memcmp(again, "again", 5) == 0);

	/* a device reset: the guest driver has no sockets left, so no connection survives */
	int second = guest_connects(&g, 43002, &response);
	CHECK(second >= 0);
	CHECK(g_vu(&g, VHOST_USER_RESET_DEVICE, 0, NULL, 0, NULL, 0, NULL, NULL) == 0 && g_sync(&g) == 0);
	CHECK_NAMED("RESET_DEVICE closes every connection (host sockets read EOF)", reads_eof(&g, second) && reads_eof(&g, fd),
		    "no EOF");
	CHECK(stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0);
	close(second);
	close(fd);
	for (int i = 0; i < 2; i++) {
		memset(g_mem(&g, g.ring[i].desc), 0, 0x3000);
		g.ring[i].avail_idx = g.ring[i].used_seen = g.ring[i].base = 0;
	}
	g.rx_posted = 0;
	CHECK(g_start_device(&g) == 0);
	g_post_rx(&g, 16);
	fd = guest_connects(&g, 43003, &response);
	CHECK_NAMED("after a reset and a new start the device serves again", fd >= 0 && response.op == G_OP_RESPONSE, "fd %d", fd);

	/* QEMU goes away: every connection goes with it */
	close(g.vu_fd);
	g.vu_fd = -1;
	CHECK_NAMED("front end gone -> host sockets read EOF", reads_eof(&g, fd), "no EOF");
	for (int i = 0; i < 100 && stats_of(&g).connections != 0; i++)
		usleep(10000);
	CHECK(stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0);
	close(fd);
	g_teardown(&g);

	TEST_CASE("free with connections open: the host sockets read EOF");
	CHECK(setup(&g, 0));
	fd = guest_connects(&g, 43001, &response);
	CHECK(fd >= 0);
	vsock_backend_free(g.backend);
	g.backend = NULL;
	char byte;
	CHECK_NAMED("free closes the connections", read(fd, &byte, 1) == 0, "no EOF");
	close(fd);
	g_teardown(&g);
}

/* ---- bad input ---- */

/* After a bad input the device must still serve a fresh connection. */
static bool still_works(struct fake_guest *g, uint32_t guest_port)
{
	struct g_packet response, p;
	int fd = guest_connects(g, guest_port, &response);
	char got[2];
	bool ok;

	if (fd < 0 || response.op != G_OP_RESPONSE) {
		fprintf(stderr, "still_works %u: fd %d op %u\n", guest_port, fd, response.op);
		return false;
	}
	p = g_pkt(G_OP_RW, guest_port, HOST_PORT);
	p.len = 2;
	ok = g_send(g, &p, "ok", 2) && read_exact_ms(g, fd, got, 2, WAIT_MS) == 0 && memcmp(got, "ok", 2) == 0;
	/* host close: SHUTDOWN(SEND|RCV), the guest's RST ends it, nothing left behind */
	close(fd);
	ok = ok && receive_skipping_credit(g, &p, NULL) && p.op == G_OP_SHUTDOWN && p.flags == 3;
	if (!ok)
		fprintf(stderr, "still_works %u: op %u flags %u\n", guest_port, p.op, p.flags);
	p = g_pkt(G_OP_RST, guest_port, HOST_PORT);
	return ok && g_send(g, &p, NULL, 0);
}

/* Sends a raw tx chain already written at descriptor `head`; true when the device handed it back. */
static bool send_raw(struct fake_guest *g, uint16_t head)
{
	g_make_available(g, G_TX, head, 1);
	g_kick(g, G_TX);
	return g_wait_used(g, G_TX, g->ring[G_TX].avail_idx, WAIT_MS);
}

static bool nothing_received(struct fake_guest *g)
{
	struct g_packet got;
	return !g_receive(g, &got, NULL, 150);
}

static bool rst_received(struct fake_guest *g, uint32_t guest_port)
{
	struct g_packet got;
	return g_receive(g, &got, NULL, WAIT_MS) && got.op == G_OP_RST && got.dst_port == guest_port;
}

static void test_bad_descriptors(void)
{
	struct fake_guest g;
	struct g_packet p = g_pkt(G_OP_REQUEST, 60000, HOST_PORT);
	uint64_t area = G_TX_AREA + 7 * G_TX_SLOT_BYTES;
	uint64_t dropped;

	CHECK(setup(&g, 0));
	g_encode(&p, g_mem(&g, area));

	TEST_CASE("descriptor address outside guest memory: chain returned, dropped");
	dropped = stats_of(&g).packets_dropped;
	g_write_desc(&g, G_TX, 20, 0x50000000ull, G_HEADER, 0, 0);
	CHECK(send_raw(&g, 20));
	CHECK(nothing_received(&g) && stats_of(&g).packets_dropped > dropped);
	CHECK_NAMED("device still works", still_works(&g, 60100), "no");

	TEST_CASE("descriptor running past the end of a region into a hole");
	g_write_desc(&g, G_TX, 20, G_REGION_B_GPA + G_MB - 10, G_HEADER, 0, 0);
	CHECK(send_raw(&g, 20));
	CHECK(nothing_received(&g));
	g_write_desc(&g, G_TX, 20, 0xffffffffffffffe0ull, 0x40, 0, 0);
	CHECK_NAMED("address + length wrapping around 2^64 is dropped", send_raw(&g, 20) && nothing_received(&g), "no");
	CHECK_NAMED("device still works", still_works(&g, 60101), "no");

	TEST_CASE("descriptor loop (next points back) and next out of range");
	g_write_desc(&g, G_TX, 20, area, 4, 1, 21);
	g_write_desc(&g, G_TX, 21, area + 4, 4, 1, 20);
	CHECK(send_raw(&g, 20));
	CHECK(nothing_received(&g));
	g_write_desc(&g, G_TX, 20, area, 4, 1, 20); /* a self-loop */
	CHECK(send_raw(&g, 20));
	g_write_desc(&g, G_TX, 20, area, G_HEADER, 1, 500);
	CHECK(send_raw(&g, 20));
	CHECK(nothing_received(&g));
	CHECK_NAMED("device still works", still_works(&g, 60102), "no");

	TEST_CASE("a chain longer than the ring: every descriptor chained, 128 + more");
	for (uint16_t i = 0; i < G_RING_SIZE; i++)
		g_write_desc(&g, G_TX, i, area, 1, 1, (uint16_t)((i + 1) % G_RING_SIZE));
	CHECK(send_raw(&g, 0));
	CHECK(nothing_received(&g));
	CHECK_NAMED("device still works", still_works(&g, 60103), "no");

	TEST_CASE("chain in more than 64 pieces; indirect descriptors; writable descriptors in tx");
	for (uint16_t i = 0; i < 70; i++)
		g_write_desc(&g, G_TX, i, area + i, 1, i == 69 ? 0 : 1, (uint16_t)(i + 1));
	CHECK(send_raw(&g, 0) && nothing_received(&g));
	g_write_desc(&g, G_TX, 20, area, G_HEADER, 4, 0);
	CHECK(send_raw(&g, 20) && nothing_received(&g));
	g_write_desc(&g, G_TX, 20, area, G_HEADER, 2, 0);
	CHECK(send_raw(&g, 20) && nothing_received(&g));
	CHECK_NAMED("device still works", still_works(&g, 60104), "no");

	TEST_CASE("a packet split anywhere, even across two regions, is put together");
	/* the header straddles region A's end and region C's start (contiguous guest-physical addresses) */
	uint64_t straddle = G_MB - 20;
	struct g_packet straddling = g_pkt(G_OP_REQUEST, 60105, HOST_PORT);
	uint8_t raw[G_HEADER];
	g_encode(&straddling, raw);
	memcpy(g_mem(&g, straddle), raw, 20);
	memcpy(g_mem(&g, G_MB), raw + 20, G_HEADER - 20);
	g_write_desc(&g, G_TX, 30, straddle, 7, 1, 31);
	g_write_desc(&g, G_TX, 31, straddle + 7, G_HEADER - 7, 0, 0);
	CHECK(send_raw(&g, 30));
	struct g_packet got;
	CHECK_NAMED("REQUEST from a straddling header accepted", g_receive(&g, &got, NULL, WAIT_MS) && got.op == G_OP_RESPONSE &&
									      got.dst_port == 60105,
		    "op %u", got.op);
	int fd = next_accepted(&g);
	CHECK(fd >= 0);
	close(fd);
	CHECK(receive_skipping_credit(&g, &got, NULL) && got.op == G_OP_SHUTDOWN);
	p = g_pkt(G_OP_RST, 60105, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0));

	TEST_CASE("rx buffers: read-only or shorter than a header are handed back unused");
	/* replace the whole rx supply by one bad buffer of each kind, then a good one */
	g_write_desc(&g, G_RX, 126, G_RX_AREA + 0x80000, 100, 0, 0); /* not writable */
	g_write_desc(&g, G_RX, 127, G_RX_AREA + 0x81000, 20, 2, 0);  /* too short */
	uint32_t rx_base;
	CHECK(g_stop_ring(&g, G_RX, &rx_base) == 0);
	/* the driver forgets the buffers it had posted and starts over */
	g.ring[G_RX].used_seen = g_used_idx(&g, G_RX);
	g.ring[G_RX].avail_idx = (uint16_t)rx_base;
	g.rx_posted = 0; /* slots 0.. : descriptors 0.., not 126 and 127 */
	CHECK(g_start_ring(&g, G_RX, (uint16_t)rx_base) == 0);
	g_make_available(&g, G_RX, 126, 1);
	g_make_available(&g, G_RX, 127, 1);
	p = g_pkt(G_OP_REQUEST, 60106, 9); /* refused: one RST waits for a buffer */
	CHECK(g_send(&g, &p, NULL, 0));
	g_post_rx(&g, 4);
	CHECK(g_receive(&g, &got, NULL, WAIT_MS));
	CHECK_NAMED("bad rx buffer 1 handed back empty", got.op == 0xffff, "op %u", got.op);
	CHECK(g_receive(&g, &got, NULL, WAIT_MS));
	CHECK_NAMED("bad rx buffer 2 handed back empty", got.op == 0xffff, "op %u", got.op);
	CHECK_NAMED("the RST goes into the next good buffer", g_receive(&g, &got, NULL, WAIT_MS) && got.op == G_OP_RST, "op %u", got.op);
	CHECK_NAMED("device still works", still_works(&g, 60107), "no");
	g_teardown(&g);

	TEST_CASE("a broken ring (avail index jumps past the ring; head out of range) stops, a restart revives it");
	CHECK(setup(&g, 0));
	g_write_desc(&g, G_TX, 20, area, G_HEADER, 0, 0);
	g_make_available(&g, G_TX, 20, 300);
	g_kick(&g, G_TX);
	p = g_pkt(G_OP_REQUEST, 60200, HOST_PORT);
	g_encode(&p, g_mem(&g, area));
	g_make_available(&g, G_TX, 20, 1);
	g_kick(&g, G_TX);
	CHECK_NAMED("nothing more is taken from the broken ring", nothing_received(&g), "something came");
	uint32_t base;
	CHECK(g_stop_ring(&g, G_TX, &base) == 0);
	g.ring[G_TX].avail_idx = (uint16_t)base; /* the driver resets its ring */
	g_put16(g_mem(&g, g.ring[G_TX].avail) + 2, (uint16_t)base);
	CHECK(g_start_ring(&g, G_TX, (uint16_t)base) == 0);
	CHECK_NAMED("a restarted ring works again", still_works(&g, 60201), "no");
	g_make_available(&g, G_TX, 4000, 1);
	p = g_pkt(G_OP_REQUEST, 60202, HOST_PORT);
	g_encode(&p, g_mem(&g, area));
	g_make_available(&g, G_TX, 20, 1);
	g_kick(&g, G_TX);
	CHECK_NAMED("head out of range: the ring stops", nothing_received(&g), "still served");
	g_teardown(&g);
}

static void test_bad_packets(void)
{
	struct fake_guest g;
	struct g_packet response, p, got;
	static uint8_t payload[70 * 1024]; /* more than the 64 KiB a packet may carry */

	CHECK(setup(&g, 0));
	int fd = guest_connects(&g, 61000, &response);
	CHECK(fd >= 0);

	TEST_CASE("a packet shorter than its header is dropped without an answer");
	uint64_t area = G_TX_AREA + 7 * G_TX_SLOT_BYTES;
	g_write_desc(&g, G_TX, 20, area, 30, 0, 0);
	CHECK(send_raw(&g, 20) && nothing_received(&g));

	TEST_CASE("oversized (len > 64 KiB): RST, the connection closes");
	p = g_pkt(G_OP_RW, 61000, HOST_PORT);
	p.len = sizeof(payload);
	CHECK(g_send(&g, &p, payload, sizeof(payload)));
	CHECK(rst_received(&g, 61000));
	CHECK_NAMED("host side of the reset connection reads EOF", reads_eof(&g, fd), "no");
	close(fd);

	TEST_CASE("truncated (len larger than the bytes carried): RST");
	fd = guest_connects(&g, 61001, &response);
	p = g_pkt(G_OP_RW, 61001, HOST_PORT);
	p.len = 1000;
	CHECK(g_send(&g, &p, payload, 10) && rst_received(&g, 61001) && reads_eof(&g, fd));
	close(fd);

	TEST_CASE("unknown op, unknown socket type, op 0: RST");
	fd = guest_connects(&g, 61002, &response);
	p = g_pkt(99, 61002, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0) && rst_received(&g, 61002) && reads_eof(&g, fd));
	close(fd);
	p = g_pkt(G_OP_REQUEST, 61003, HOST_PORT);
	p.type = 2; /* seqpacket, not offered */
	CHECK(g_send(&g, &p, NULL, 0) && rst_received(&g, 61003));
	p = g_pkt(0, 61003, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0) && rst_received(&g, 61003));

	TEST_CASE("a packet from another CID or to another CID is dropped silently");
	p = g_pkt(G_OP_REQUEST, 61004, HOST_PORT);
	p.src_cid = 7;
	CHECK(g_send(&g, &p, NULL, 0) && nothing_received(&g));
	p = g_pkt(G_OP_REQUEST, 61004, HOST_PORT);
	p.dst_cid = 1;
	CHECK(g_send(&g, &p, NULL, 0) && nothing_received(&g));

	TEST_CASE("packets for a connection that does not exist: RST (but an RST is not answered)");
	p = g_pkt(G_OP_RW, 61005, HOST_PORT);
	p.len = 3;
	CHECK(g_send(&g, &p, "abc", 3) && rst_received(&g, 61005));
	p = g_pkt(G_OP_RST, 61005, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0) && nothing_received(&g));
	p = g_pkt(G_OP_RESPONSE, 61005, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0) && rst_received(&g, 61005));

	TEST_CASE("data after the guest's own SHUTDOWN(SEND), RESPONSE on an open connection: RST");
	fd = guest_connects(&g, 61006, &response);
	p = g_pkt(G_OP_SHUTDOWN, 61006, HOST_PORT);
	p.flags = 2;
	CHECK(g_send(&g, &p, NULL, 0));
	p = g_pkt(G_OP_RW, 61006, HOST_PORT);
	p.len = 3;
	CHECK(g_send(&g, &p, "abc", 3) && rst_received(&g, 61006));
	close(fd);
	fd = guest_connects(&g, 61007, &response);
	p = g_pkt(G_OP_RESPONSE, 61007, HOST_PORT);
	CHECK(g_send(&g, &p, NULL, 0) && rst_received(&g, 61007) && reads_eof(&g, fd));
	close(fd);

	TEST_CASE("a REQUEST reusing an open connection's ports replaces the stale one");
	fd = guest_connects(&g, 61008, &response);
	int second = guest_connects(&g, 61008, &response);
	CHECK_NAMED("the old host socket reads EOF, the new one works", reads_eof(&g, fd) && second >= 0 &&
									    response.op == G_OP_RESPONSE,
		    "no");
	close(fd);
	close(second);
	while (g_receive(&g, &got, NULL, 100))
		;

	TEST_CASE("a flood of bad packets with no rx buffers: answers are bounded, nothing breaks");
	uint32_t base;
	CHECK(g_stop_ring(&g, G_RX, &base) == 0); /* the guest takes no answers */
	for (int i = 0; i < 600; i++) {
		p = g_pkt(G_OP_RW, 62000 + (uint32_t)i, HOST_PORT);
		g_send(&g, &p, NULL, 0);
	}
	CHECK(g_start_ring(&g, G_RX, (uint16_t)base) == 0); /* the buffers posted before are still there */
	g_kick(&g, G_RX);
	int answers = 0;
	while (g_receive(&g, &got, NULL, 200))
		answers += got.op == G_OP_RST && got.dst_port >= 62000 && got.dst_port < 62600;
	CHECK_NAMED("at most 256 RSTs were kept for the guest", answers > 0 && answers <= 256, "%d answers", answers);
	CHECK_NAMED("device still works", still_works(&g, 61009), "no");
	/* 61008's second connection, closed by the host and never reset by this
	 * guest, goes when the close timeout (500 ms here) runs out */
	for (int waited = 0; waited < 1500 && stats_of(&g).connections != 0; waited += 10)
		usleep(10 * 1000);
	CHECK(stats_of(&g).connections == 0 && stats_of(&g).host_fds == 0);
	g_teardown(&g);
}

/* The same conversation with the loop run in this thread, as the fuzzer drives it. */
static void test_single_threaded(void)
{
	struct fake_guest g;
	struct g_packet p, got;
	struct vzk_error err = {0};
	int fd = -1;

	TEST_CASE("single-threaded (the fuzzer's way): connect_async, REQUEST answered, data flows");
	CHECK(g_setup(&g, false, 0) == 0);
	g_post_rx(&g, 8);
	CHECK(vsock_backend_connect_async(g.backend, 3333, &fd, &err) == 0);
	g_service(&g);
	CHECK(g_receive(&g, &got, NULL, 0) && got.op == G_OP_REQUEST && got.dst_port == 3333);
	p = g_pkt(G_OP_RESPONSE, 3333, got.src_port);
	CHECK(g_send(&g, &p, NULL, 0));
	CHECK(write(fd, "x", 1) == 1);
	g_service(&g);
	CHECK(g_receive(&g, &got, NULL, 0) && got.op == G_OP_RW && got.len == 1);
	CHECK_NAMED("connect without a thread is refused", vsock_backend_connect(g.backend, 1, &fd, &err) != 0, "no");
	close(fd);
	g_teardown(&g);
}

int main(void)
{
	if (pipe2(accepted_pipe, O_CLOEXEC) != 0)
		return 1;
	test_handshake();
	test_refused_port();
	test_guest_connection();
	test_half_close();
	test_host_connection();
	test_credit_to_guest();
	test_credit_from_guest();
	test_many_connections();
	test_pause_resume();
	test_bad_descriptors();
	test_bad_packets();
	test_single_threaded();
	test_event_index_interrupts();
	test_flags_without_event_index();
	test_rx_kicks_when_starved(0);
	test_rx_kicks_when_starved(EVENT_IDX);
	test_strict_guest(0);
	test_strict_guest(EVENT_IDX);
	test_suppression_off();
	TEST_EXIT();
}

/* The virtio-vsock device behind QEMU's vhost-user-vsock-pci (doc/vsock.md).
 *
 * Threads: everything below runs on the loop's thread, except the public
 * listen/connect/stats/free calls, which only touch the fields under `lock`
 * and wake the loop through an eventfd.
 *
 * A connection is keyed by (guest port, host port); the guest's CID is fixed
 * and the host is CID 2. Its host side is our end of a socketpair (`fd`).
 *   guest -> host: RW payloads are written to fd; what the socket does not
 *     take at once waits in a buffer of VSOCK_BUFFER_BYTES, which is exactly
 *     the credit (buf_alloc) the guest was given, so it cannot overflow
 *     unless the guest cheats (then: RST).
 *   host -> guest: fd is read straight into the guest's rx buffers, never
 *     more than the guest's credit (buf_alloc - (tx_cnt - fwd_cnt)).
 * Control packets (RESPONSE, RST, SHUTDOWN, CREDIT_*) wait in one FIFO and go
 * before any data, so a RESPONSE precedes the first RW and a SHUTDOWN follows
 * the last. */
#include "vz/qemu/vsock_backend.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vz/qemu/vhost_user.h"
#include "vz/qemu/virtqueue.h"

#define HEADER_SIZE 44
#define MAX_PACKET_PAYLOAD (64u * 1024) /* VIRTIO_VSOCK_MAX_PKT_BUF_SIZE */
#define QUEUE_RX 0
#define QUEUE_TX 1
#define HASH_BUCKETS 256
#define MAX_UNATTACHED_RESETS 256
#define ROUND_BUDGET 512 /* packets per ring per round, so one busy ring cannot starve the rest */
#define FIRST_EPHEMERAL_PORT 0x40000000u
#define WAITER_SLACK_MS 5000

enum vsock_op {
	OP_INVALID = 0,
	OP_REQUEST = 1,
	OP_RESPONSE = 2,
	OP_RST = 3,
	OP_SHUTDOWN = 4,
	OP_RW = 5,
	OP_CREDIT_UPDATE = 6,
	OP_CREDIT_REQUEST = 7,
};
#define TYPE_STREAM 1
#define SHUTDOWN_RCV 1u
#define SHUTDOWN_SEND 2u

struct vsock_header {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/* What the guest did wrong (or the host could not do), each logged once. */
enum problem {
	PROBLEM_RING,
	PROBLEM_CHAIN,
	PROBLEM_SHORT,
	PROBLEM_OVERSIZED,
	PROBLEM_TRUNCATED,
	PROBLEM_ADDRESS,
	PROBLEM_TYPE,
	PROBLEM_OP,
	PROBLEM_UNKNOWN_CONNECTION,
	PROBLEM_STATE,
	PROBLEM_CREDIT,
	PROBLEM_TOO_MANY,
	PROBLEM_RESET_FLOOD,
	PROBLEM_FRONT_END,
	PROBLEM_HOST,
	PROBLEM_COUNT,
};

enum watch_kind { WATCH_WAKE, WATCH_LISTEN, WATCH_FRONT_END, WATCH_KICK, WATCH_CONNECTION };

struct watch {
	enum watch_kind kind;
	size_t index;
};

enum connection_state { CONNECTING, ESTABLISHED, CLOSING };

struct connect_request {
	struct connect_request *next;
	uint32_t port;
	int local_fd;   /* ours, taken over by the loop */
	bool detached;  /* nobody waits: the loop frees it */
	bool abandoned; /* the waiter gave up: the loop frees it */
	int result;     /* -1 pending, 0 connected, else an errno */
	const char *why;
};

struct vsock_connection {
	struct watch watch; /* first: events carry a pointer to it */
	struct vsock_connection *hash_next;
	struct vsock_connection *all_prev, *all_next;
	struct vsock_connection *send_prev, *send_next;
	bool in_send_list;
	bool freed;
	uint64_t serial;
	uint32_t guest_port, host_port;
	enum connection_state state;
	int fd;
	bool want_out; /* EPOLLOUT in the interest set */
	struct connect_request *request;
	long deadline_ms; /* 0: none; CONNECTING: connect timeout, ESTABLISHED: credit stall, CLOSING: close timeout */

	/* guest -> host */
	uint32_t rx_cnt;       /* payload bytes received from the guest */
	uint32_t fwd_cnt;      /* of which passed to the host socket */
	uint32_t fwd_cnt_told; /* the fwd_cnt last sent to the guest */
	uint8_t *buffer;
	uint32_t buffer_head, buffer_len;
	bool credit_update_queued;

	/* host -> guest */
	uint32_t tx_cnt;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	bool credit_requested;
	bool host_readable, host_hup;

	/* closing */
	bool guest_shut_send, guest_shut_rcv; /* the guest said so */
	uint32_t told;                        /* SHUTDOWN flags sent to the guest */
	bool write_shut;                      /* shutdown(fd, SHUT_WR) done */
	bool g2h_done, h2g_done;
};

struct control_packet {
	struct control_packet *next;
	uint64_t serial; /* the connection's, 0: none (an RST to an unknown one) */
	uint32_t guest_port, host_port;
	uint16_t op;
	uint32_t flags;
};

struct listener {
	struct listener *next;
	uint32_t port;
	void (*on_connection)(void *, int);
	void *context;
};

struct handoff {
	struct handoff *next;
	struct listener *listener;
	int fd;
};

struct vsock_backend {
	struct vsock_backend_options options;
	int epoll_fd, wake_fd, listen_fd;
	struct watch wake_watch, listen_watch, front_end_watch, kick_watch[VHOST_USER_MAX_QUEUES];
	struct vhost_user_device device;
	struct vhost_user vu;
	uint8_t config[8];

	struct vsock_connection *buckets[HASH_BUCKETS];
	struct vsock_connection *all;
	struct vsock_connection *send_head, *send_tail;
	struct vsock_connection *graveyard;
	size_t connection_count, deadline_count;
	uint64_t next_serial;
	uint32_t next_host_port;
	struct control_packet *control_head, *control_tail;
	size_t unattached_resets;
	struct handoff *handoffs;
	bool rx_peeked;
	struct virtqueue_chain rx_chain, tx_chain;
	bool more_work;
	uint32_t logged;

	/* shared with other threads */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct listener *listeners;
	struct connect_request *requests;
	size_t waiters;
	atomic_bool stopping;
	pthread_t thread;
	bool thread_started;
	atomic_size_t stat_connections, stat_host_fds;
	atomic_uint_fast64_t stat_dropped, stat_resets;
};

/* ---- small things ---- */

static void say(struct vsock_backend *b, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct vsock_backend *b, enum log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (b->options.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->options.log(b->options.log_context, level, line);
}

/* A bad input: counted, and logged the first time its kind is seen. */
static void problem(struct vsock_backend *b, enum problem kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct vsock_backend *b, enum problem kind, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	atomic_fetch_add(&b->stat_dropped, 1);
	if (b->logged & (1u << kind))
		return;
	b->logged |= 1u << kind;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	say(b, LOG_LEVEL_ERROR, "vsock: %s (logged once)", line);
}

static long now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void header_decode(const uint8_t *raw, struct vsock_header *h)
{
	memcpy(&h->src_cid, raw, 8);
	memcpy(&h->dst_cid, raw + 8, 8);
	memcpy(&h->src_port, raw + 16, 4);
	memcpy(&h->dst_port, raw + 20, 4);
	memcpy(&h->len, raw + 24, 4);
	memcpy(&h->type, raw + 28, 2);
	memcpy(&h->op, raw + 30, 2);
	memcpy(&h->flags, raw + 32, 4);
	memcpy(&h->buf_alloc, raw + 36, 4);
	memcpy(&h->fwd_cnt, raw + 40, 4);
	h->src_cid = le64toh(h->src_cid);
	h->dst_cid = le64toh(h->dst_cid);
	h->src_port = le32toh(h->src_port);
	h->dst_port = le32toh(h->dst_port);
	h->len = le32toh(h->len);
	h->type = le16toh(h->type);
	h->op = le16toh(h->op);
	h->flags = le32toh(h->flags);
	h->buf_alloc = le32toh(h->buf_alloc);
	h->fwd_cnt = le32toh(h->fwd_cnt);
}

static void header_encode(const struct vsock_header *h, uint8_t *raw)
{
	uint64_t u64;
	uint32_t u32;
	uint16_t u16;

	u64 = htole64(h->src_cid), memcpy(raw, &u64, 8);
	u64 = htole64(h->dst_cid), memcpy(raw + 8, &u64, 8);
	u32 = htole32(h->src_port), memcpy(raw + 16, &u32, 4);
	u32 = htole32(h->dst_port), memcpy(raw + 20, &u32, 4);
	u32 = htole32(h->len), memcpy(raw + 24, &u32, 4);
	u16 = htole16(h->type), memcpy(raw + 28, &u16, 2);
	u16 = htole16(h->op), memcpy(raw + 30, &u16, 2);
	u32 = htole32(h->flags), memcpy(raw + 32, &u32, 4);
	u32 = htole32(h->buf_alloc), memcpy(raw + 36, &u32, 4);
	u32 = htole32(h->fwd_cnt), memcpy(raw + 40, &u32, 4);
}

static const char *op_name(uint16_t op)
{
	static const char *const names[] = {"INVALID", "REQUEST", "RESPONSE", "RST",
					    "SHUTDOWN", "RW", "CREDIT_UPDATE", "CREDIT_REQUEST"};
	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "unknown";
}

/* ---- connections: lookup and lists ---- */

static size_t bucket_of(uint32_t guest_port, uint32_t host_port)
{
	return ((guest_port * 2654435761u) ^ (host_port * 40503u)) % HASH_BUCKETS;
}

static struct vsock_connection *lookup(struct vsock_backend *b, uint32_t guest_port, uint32_t host_port)
{
	for (struct vsock_connection *c = b->buckets[bucket_of(guest_port, host_port)]; c != NULL; c = c->hash_next)
		if (c->guest_port == guest_port && c->host_port == host_port)
			return c;
	return NULL;
}

static struct vsock_connection *lookup_serial(struct vsock_backend *b, const struct control_packet *packet)
{
	struct vsock_connection *c = lookup(b, packet->guest_port, packet->host_port);
	return c != NULL && c->serial == packet->serial ? c : NULL;
}

static void send_list_remove(struct vsock_backend *b, struct vsock_connection *c)
{
	if (!c->in_send_list)
		return;
	if (c->send_prev != NULL)
		c->send_prev->send_next = c->send_next;
	else
		b->send_head = c->send_next;
	if (c->send_next != NULL)
		c->send_next->send_prev = c->send_prev;
	else
		b->send_tail = c->send_prev;
	c->send_prev = c->send_next = NULL;
	c->in_send_list = false;
}

static void send_list_append(struct vsock_backend *b, struct vsock_connection *c)
{
	if (c->in_send_list)
		return;
	c->send_prev = b->send_tail;
	c->send_next = NULL;
	if (b->send_tail != NULL)
		b->send_tail->send_next = c;
	else
		b->send_head = c;
	b->send_tail = c;
	c->in_send_list = true;
}

static uint32_t peer_credit(const struct vsock_connection *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* In the send list exactly when there is host data to carry and room for it. */
static void update_sendable(struct vsock_backend *b, struct vsock_connection *c)
{
	if (c->state == ESTABLISHED && c->fd >= 0 && c->host_readable && !c->h2g_done && peer_credit(c) > 0)
		send_list_append(b, c);
	else
		send_list_remove(b, c);
}

static void set_deadline(struct vsock_backend *b, struct vsock_connection *c, long deadline)
{
	if (c->deadline_ms == 0 && deadline != 0)
		b->deadline_count++;
	else if (c->deadline_ms != 0 && deadline == 0)
		b->deadline_count--;
	c->deadline_ms = deadline;
}

static void set_interest(struct vsock_backend *b, struct vsock_connection *c, bool want_out)
{
	struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (want_out ? EPOLLOUT : 0u),
				    .data.ptr = &c->watch};

	if (c->fd < 0 || c->want_out == want_out)
		return;
	c->want_out = want_out;
	epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
}

static void close_host_side(struct vsock_backend *b, struct vsock_connection *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	atomic_fetch_sub(&b->stat_host_fds, 1);
	free(c->buffer);
	c->buffer = NULL;
	c->buffer_len = c->buffer_head = 0;
	send_list_remove(b, c);
}

/* ---- host connect requests ---- */

static void complete_request(struct vsock_backend *b, struct connect_request *request, int result, const char *why)
{
	bool free_it;

	pthread_mutex_lock(&b->lock);
	request->result = result;
	request->why = why;
	free_it = request->detached || request->abandoned;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	if (free_it)
		free(request);
}

/* ---- the control FIFO ---- */

static void queue_control(struct vsock_backend *b, uint64_t serial, uint32_t guest_port, uint32_t host_port,
			  uint16_t op, uint32_t flags)
{
	struct control_packet *packet;

	if (serial == 0) {
		if (b->unattached_resets >= MAX_UNATTACHED_RESETS) {
			problem(b, PROBLEM_RESET_FLOOD, "the guest sends bad packets faster than it takes the answers; RSTs dropped");
			return;
		}
		b->unattached_resets++;
	}
	packet = calloc(1, sizeof(*packet));
	if (packet == NULL)
		return;
	packet->serial = serial;
	packet->guest_port = guest_port;
	packet->host_port = host_port;
	packet->op = op;
	packet->flags = flags;
	if (b->control_tail != NULL)
		b->control_tail->next = packet;
	else
		b->control_head = packet;
	b->control_tail = packet;
	if (op == OP_RST)
		atomic_fetch_add(&b->stat_resets, 1);
}

static void queue_for(struct vsock_backend *b, struct vsock_connection *c, uint16_t op, uint32_t flags)
{
	queue_control(b, c->serial, c->guest_port, c->host_port, op, flags);
}

/* An RST answering a packet that belongs to no connection. */
static void reset_reply(struct vsock_backend *b, const struct vsock_header *h)
{
	if (h->op != OP_RST)
		queue_control(b, 0, h->src_port, h->dst_port, OP_RST, 0);
}

/* ---- connection life ---- */

static void free_connection(struct vsock_backend *b, struct vsock_connection *c)
{
	struct vsock_connection **slot = &b->buckets[bucket_of(c->guest_port, c->host_port)];

	if (c->freed)
		return;
	c->freed = true;
	while (*slot != NULL && *slot != c)
		slot = &(*slot)->hash_next;
	if (*slot == c)
		*slot = c->hash_next;
	if (c->all_prev != NULL)
		c->all_prev->all_next = c->all_next;
	else
		b->all = c->all_next;
	if (c->all_next != NULL)
		c->all_next->all_prev = c->all_prev;
	close_host_side(b, c);
	set_deadline(b, c, 0);
	if (c->request != NULL) {
		complete_request(b, c->request, ECONNRESET, "the connection was reset");
		c->request = NULL;
	}
	b->connection_count--;
	atomic_fetch_sub(&b->stat_connections, 1);
	/* Freed at the end of the round: this round's events may still point at it. */
	c->hash_next = b->graveyard;
	b->graveyard = c;
}

/* Aborts a connection: RST to the guest, the host side closed at once. */
static void reset_connection(struct vsock_backend *b, struct vsock_connection *c)
{
	queue_for(b, c, OP_RST, 0);
	free_connection(b, c);
}

static struct vsock_connection *new_connection(struct vsock_backend *b, uint32_t guest_port, uint32_t host_port,
					       int fd)
{
	struct vsock_connection *c = calloc(1, sizeof(*c));
	struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};

	if (c == NULL)
		return NULL;
	c->watch.kind = WATCH_CONNECTION;
	c->serial = ++b->next_serial;
	c->guest_port = guest_port;
	c->host_port = host_port;
	c->fd = fd;
	event.data.ptr = &c->watch;
	if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
		free(c);
		return NULL;
	}
	atomic_fetch_add(&b->stat_host_fds, 1);
	size_t bucket = bucket_of(guest_port, host_port);
	c->hash_next = b->buckets[bucket];
	b->buckets[bucket] = c;
	c->all_next = b->all;
	if (b->all != NULL)
		b->all->all_prev = c;
	b->all = c;
	b->connection_count++;
	atomic_fetch_add(&b->stat_connections, 1);
	return c;
}

/* Tells the guest the host will not send (SEND) and/or receive (RCV) any more. */
static void tell_shutdown(struct vsock_backend *b, struct vsock_connection *c, uint32_t flags)
{
	if ((c->told | flags) == c->told)
		return;
	c->told |= flags;
	queue_for(b, c, OP_SHUTDOWN, c->told);
}

/* Both directions over: the guest closed (answer RST, forget it) or we did
 * (close the host side, wait for the guest's RST a while). */
static void check_finished(struct vsock_backend *b, struct vsock_connection *c)
{
	if (c->state != ESTABLISHED || !c->g2h_done || !c->h2g_done)
		return;
	if (c->guest_shut_send && c->guest_shut_rcv) {
		reset_connection(b, c);
		return;
	}
	tell_shutdown(b, c, SHUTDOWN_SEND | SHUTDOWN_RCV);
	close_host_side(b, c);
	c->state = CLOSING;
	set_deadline(b, c, now_ms() + b->options.close_timeout_ms);
}

/* Guest -> host finished: all the guest said is in the host socket, or the host reads no more. */
static void finish_g2h(struct vsock_connection *c)
{
	if (c->g2h_done)
		return;
	c->g2h_done = true;
	if (c->fd >= 0 && !c->write_shut) {
		shutdown(c->fd, SHUT_WR);
		c->write_shut = true;
	}
}

/* The host side stopped reading: what the guest sends from now on is dropped. */
static void host_stopped_reading(struct vsock_backend *b, struct vsock_connection *c)
{
	free(c->buffer);
	c->buffer = NULL;
	c->fwd_cnt += c->buffer_len; /* dropped counts as passed on, the guest's credit stays sane */
	c->buffer_len = c->buffer_head = 0;
	set_interest(b, c, false);
	if (!c->guest_shut_send)
		tell_shutdown(b, c, SHUTDOWN_RCV);
	finish_g2h(c);
	check_finished(b, c);
}

static void maybe_credit_update(struct vsock_backend *b, struct vsock_connection *c)
{
	uint32_t unadvertised = c->fwd_cnt - c->fwd_cnt_told;
	uint32_t believed_used = c->rx_cnt - c->fwd_cnt_told; /* what the guest thinks we still hold */

	if (c->state != ESTABLISHED || c->guest_shut_send || c->credit_update_queued || unadvertised == 0)
		return;
	/* Before the guest runs out: once its view of our free space drops
	 * under one maximal packet, or half the buffer went by unannounced. */
	if (believed_used + MAX_PACKET_PAYLOAD >= VSOCK_BUFFER_BYTES || unadvertised >= VSOCK_BUFFER_BYTES / 2) {
		c->credit_update_queued = true;
		queue_for(b, c, OP_CREDIT_UPDATE, 0);
	}
}

/* Writes buffered guest data to the host socket. */
static void flush_to_host(struct vsock_backend *b, struct vsock_connection *c)
{
	while (c->buffer_len > 0 && c->fd >= 0) {
		uint32_t first = VSOCK_BUFFER_BYTES - c->buffer_head;
		struct iovec iov[2] = {{c->buffer + c->buffer_head, first < c->buffer_len ? first : c->buffer_len},
				       {c->buffer, first < c->buffer_len ? c->buffer_len - first : 0}};
		struct msghdr message = {.msg_iov = iov, .msg_iovlen = iov[1].iov_len > 0 ? 2 : 1};
		ssize_t n = sendmsg(c->fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_interest(b, c, true);
			return;
		}
		if (n <= 0) {
			host_stopped_reading(b, c);
			return;
		}
		c->buffer_head = (c->buffer_head + (uint32_t)n) % VSOCK_BUFFER_BYTES;
		c->buffer_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (c->buffer_len == 0 && c->buffer != NULL) {
		free(c->buffer);
		c->buffer = NULL;
		c->buffer_head = 0;
		set_interest(b, c, false);
	}
	if (c->buffer_len == 0 && c->guest_shut_send) {
		finish_g2h(c);
		check_finished(b, c);
		return;
	}
	maybe_credit_update(b, c);
}

/* ---- packets from the guest (tx ring) ---- */

static void deliver(struct vsock_backend *b, struct vsock_connection *c, const struct virtqueue_chain *chain,
		    uint32_t len)
{
	struct iovec iov[VIRTQUEUE_CHAIN_MAX_IOV];
	size_t count = virtqueue_chain_slice(chain, false, HEADER_SIZE, len, iov, VIRTQUEUE_CHAIN_MAX_IOV);
	size_t written = 0;

	if (c->rx_cnt - c->fwd_cnt + (uint64_t)len > VSOCK_BUFFER_BYTES) {
		problem(b, PROBLEM_CREDIT, "the guest sent %u bytes past the credit it was given; connection reset", len);
		reset_connection(b, c);
		return;
	}
	c->rx_cnt += len;
	if (c->g2h_done || c->fd < 0) {
		c->fwd_cnt += len; /* nobody reads: dropped */
		return;
	}
	if (c->buffer_len == 0) {
		struct msghdr message = {.msg_iov = iov, .msg_iovlen = count};
		ssize_t n;
		do
			n = sendmsg(c->fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			c->fwd_cnt += len;
			host_stopped_reading(b, c);
			return;
		}
		written = n > 0 ? (size_t)n : 0;
		c->fwd_cnt += (uint32_t)written;
	}
	if (written < len) {
		if (c->buffer == NULL && (c->buffer = malloc(VSOCK_BUFFER_BYTES)) == NULL) {
			problem(b, PROBLEM_HOST, "out of memory for a connection buffer; connection reset");
			reset_connection(b, c);
			return;
		}
		/* copy what the socket did not take, from the chain, into the ring buffer */
		size_t left = len - written;
		size_t skip = HEADER_SIZE + written;
		while (left > 0) {
			uint32_t tail = (c->buffer_head + c->buffer_len) % VSOCK_BUFFER_BYTES;
			uint32_t room = VSOCK_BUFFER_BYTES - tail;
			size_t piece = left < room ? left : room;
			size_t got = virtqueue_chain_read(chain, skip, c->buffer + tail, piece);
			c->buffer_len += (uint32_t)got;
			skip += got;
			left -= got;
			if (got < piece)
				break; /* cannot happen: the length was checked against the chain */
		}
		set_interest(b, c, true);
	}
	maybe_credit_update(b, c);
}

static void on_request(struct vsock_backend *b, const struct vsock_header *h, struct vsock_connection *existing)
{
	struct listener *listener;
	int fds[2];

	if (existing != NULL) {
		/* The guest cannot hold two connections with one address pair: the old one is stale. */
		say(b, LOG_LEVEL_DEBUG, "vsock: guest port %u reconnects to host port %u; the old connection is dropped",
		    h->src_port, h->dst_port);
		free_connection(b, existing);
	}
	pthread_mutex_lock(&b->lock);
	for (listener = b->listeners; listener != NULL && listener->port != h->dst_port; listener = listener->next)
		;
	pthread_mutex_unlock(&b->lock);
	if (listener == NULL) {
		say(b, LOG_LEVEL_DEBUG, "vsock: guest connection to host port %u refused: nobody listens there",
		    h->dst_port);
		reset_reply(b, h);
		return;
	}
	if (b->connection_count >= VSOCK_MAX_CONNECTIONS) {
		problem(b, PROBLEM_TOO_MANY, "the guest opened more than %d connections; new ones are refused",
			VSOCK_MAX_CONNECTIONS);
		reset_reply(b, h);
		return;
	}
	struct handoff *handoff = calloc(1, sizeof(*handoff));
	if (handoff == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
		free(handoff);
		problem(b, PROBLEM_HOST, "cannot make a socket pair: %s", strerror(errno));
		reset_reply(b, h);
		return;
	}
	struct vsock_connection *c = new_connection(b, h->src_port, h->dst_port, fds[0]);
	if (c == NULL) {
		close(fds[0]);
		close(fds[1]);
		free(handoff);
		reset_reply(b, h);
		return;
	}
	/* the callback's end blocks, like any socket it would accept */
	fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) & ~O_NONBLOCK);
	c->state = ESTABLISHED;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	queue_for(b, c, OP_RESPONSE, 0);
	handoff->listener = listener;
	handoff->fd = fds[1];
	handoff->next = b->handoffs;
	b->handoffs = handoff;
	say(b, LOG_LEVEL_DEBUG, "vsock: guest port %u connected to host port %u", h->src_port, h->dst_port);
}

static void on_shutdown(struct vsock_backend *b, struct vsock_connection *c, uint32_t flags)
{
	if (flags & SHUTDOWN_SEND)
		c->guest_shut_send = true;
	if (flags & SHUTDOWN_RCV) {
		c->guest_shut_rcv = true;
		if (!c->h2g_done && c->fd >= 0)
			shutdown(c->fd, SHUT_RD); /* host writes fail from now on */
		c->h2g_done = true;
	}
	update_sendable(b, c);
	if (c->guest_shut_send && c->buffer_len == 0)
		finish_g2h(c);
	check_finished(b, c);
}

static void on_packet(struct vsock_backend *b, const struct vsock_header *h, const struct virtqueue_chain *chain)
{
	struct vsock_connection *c = lookup(b, h->src_port, h->dst_port);

	if (h->op == OP_REQUEST) {
		on_request(b, h, c);
		return;
	}
	if (c == NULL) {
		if (h->op != OP_RST)
			problem(b, PROBLEM_UNKNOWN_CONNECTION,
				"the guest sent %s for a connection that does not exist (guest port %u, host port %u); answered RST",
				op_name(h->op), h->src_port, h->dst_port);
		reset_reply(b, h);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->credit_requested = false;
	if (c->state == ESTABLISHED && c->deadline_ms != 0)
		set_deadline(b, c, 0); /* the credit stall timer: the guest spoke */
	if (h->op == OP_RST) {
		if (c->state == CONNECTING && c->request != NULL) {
			complete_request(b, c->request, ECONNREFUSED, "the guest refused the connection (nobody listens there)");
			c->request = NULL;
		}
		say(b, LOG_LEVEL_DEBUG, "vsock: guest reset the connection guest port %u / host port %u", c->guest_port,
		    c->host_port);
		free_connection(b, c);
		return;
	}
	if (c->state == CONNECTING) {
		if (h->op != OP_RESPONSE) {
			problem(b, PROBLEM_STATE, "the guest answered a connection request with %s; connection reset",
				op_name(h->op));
			reset_connection(b, c);
			return;
		}
		c->state = ESTABLISHED;
		set_deadline(b, c, 0);
		complete_request(b, c->request, 0, NULL);
		c->request = NULL;
		update_sendable(b, c);
		return;
	}
	if (c->state == CLOSING) {
		/* data and credit after our full shutdown are moot; a SHUTDOWN answering ours ends it */
		if (h->op == OP_SHUTDOWN && (h->flags & (SHUTDOWN_SEND | SHUTDOWN_RCV)) == (SHUTDOWN_SEND | SHUTDOWN_RCV))
			reset_connection(b, c);
		else if (h->op != OP_RW && h->op != OP_CREDIT_UPDATE && h->op != OP_CREDIT_REQUEST &&
			 h->op != OP_SHUTDOWN) {
			problem(b, PROBLEM_OP, "the guest sent operation %u (%s) on a closing connection; connection reset",
				h->op, op_name(h->op));
			reset_connection(b, c);
		}
		return;
	}
	switch (h->op) {
	case OP_RW:
		if (c->guest_shut_send) {
			problem(b, PROBLEM_STATE, "the guest sent data after saying it would not; connection reset");
			reset_connection(b, c);
			return;
		}
		if (h->len > 0)
			deliver(b, c, chain, h->len);
		break;
	case OP_CREDIT_UPDATE:
		break;
	case OP_CREDIT_REQUEST:
		if (!c->credit_update_queued) {
			c->credit_update_queued = true;
			queue_for(b, c, OP_CREDIT_UPDATE, 0);
		}
		break;
	case OP_SHUTDOWN:
		on_shutdown(b, c, h->flags);
		return;
	case OP_RESPONSE:
		problem(b, PROBLEM_STATE, "the guest sent RESPONSE on an established connection; connection reset");
		reset_connection(b, c);
		return;
	default:
		problem(b, PROBLEM_OP, "the guest sent unknown operation %u; connection reset", h->op);
		reset_connection(b, c);
		return;
	}
	/* only a connection still alive gets here */
	update_sendable(b, c);
}

static void on_tx_chain(struct vsock_backend *b, const struct virtqueue_chain *chain)
{
	uint8_t raw[HEADER_SIZE];
	struct vsock_header h;

	if (chain->writable_count > 0) {
		problem(b, PROBLEM_CHAIN, "tx chain with device-writable descriptors; dropped");
		return;
	}
	if (chain->readable_bytes < HEADER_SIZE) {
		problem(b, PROBLEM_SHORT, "packet of %zu bytes, shorter than a header; dropped", chain->readable_bytes);
		return;
	}
	virtqueue_chain_read(chain, 0, raw, HEADER_SIZE);
	header_decode(raw, &h);
	if (h.src_cid != b->options.guest_cid || h.dst_cid != VSOCK_HOST_CID) {
		problem(b, PROBLEM_ADDRESS, "packet from CID %llu to CID %llu (the guest is %llu, the host %d); dropped",
			(unsigned long long)h.src_cid, (unsigned long long)h.dst_cid,
			(unsigned long long)b->options.guest_cid, VSOCK_HOST_CID);
		return;
	}
	struct vsock_connection *c = lookup(b, h.src_port, h.dst_port);
	if (h.len > MAX_PACKET_PAYLOAD || h.len > chain->readable_bytes - HEADER_SIZE) {
		if (h.len > MAX_PACKET_PAYLOAD)
			problem(b, PROBLEM_OVERSIZED, "packet with a %u-byte payload (at most %u); reset", h.len,
				MAX_PACKET_PAYLOAD);
		else
			problem(b, PROBLEM_TRUNCATED, "packet says %u payload bytes, carries %zu; reset", h.len,
				chain->readable_bytes - HEADER_SIZE);
		if (c != NULL)
			reset_connection(b, c);
		else
			reset_reply(b, &h);
		return;
	}
	if (h.type != TYPE_STREAM) {
		problem(b, PROBLEM_TYPE, "packet of socket type %u (only streams, 1); reset", h.type);
		if (c != NULL)
			reset_connection(b, c);
		else
			reset_reply(b, &h);
		return;
	}
	if (h.op == OP_INVALID || h.op > OP_CREDIT_REQUEST) {
		problem(b, PROBLEM_OP, "unknown operation %u; reset", h.op);
		if (c != NULL)
			reset_connection(b, c);
		else
			reset_reply(b, &h);
		return;
	}
	on_packet(b, &h, chain);
}

static void process_tx(struct vsock_backend *b)
{
	struct virtqueue *vq = &b->vu.queues[QUEUE_TX];

	for (int budget = ROUND_BUDGET; vhost_user_queue_ready(&b->vu, QUEUE_TX); budget--) {
		const char *why = "";
		if (budget == 0) {
			b->more_work = true;
			break;
		}
		enum virtqueue_peek_result got = virtqueue_peek(vq, &b->vu.memory, &b->tx_chain, &why);
		if (got == VIRTQUEUE_EMPTY) {
			/* Every guest packet matters at once (credit, data): ask for a
			 * kick on the next one; chains that raced the request are taken
			 * in the next round. */
			if (virtqueue_want_kicks(vq, true))
				b->more_work = true;
			break;
		}
		if (got == VIRTQUEUE_BROKEN) {
			problem(b, PROBLEM_RING, "tx ring: %s; the ring is no longer served", why);
			break;
		}
		if (got == VIRTQUEUE_BAD_CHAIN)
			problem(b, PROBLEM_CHAIN, "tx ring: %s; chain dropped", why);
		else
			on_tx_chain(b, &b->tx_chain);
		virtqueue_take(vq);
		virtqueue_push(vq, b->tx_chain.head, 0);
	}
}

/* ---- packets to the guest (rx ring) ---- */

/* The next rx buffer, peeked (kept until used); false when there is none. */
static bool rx_buffer(struct vsock_backend *b)
{
	struct virtqueue *vq = &b->vu.queues[QUEUE_RX];
	bool asked = false;

	while (!b->rx_peeked) {
		const char *why = "";
		if (!vhost_user_queue_ready(&b->vu, QUEUE_RX))
			return false;
		enum virtqueue_peek_result got = virtqueue_peek(vq, &b->vu.memory, &b->rx_chain, &why);
		if (got == VIRTQUEUE_EMPTY) {
			/* Starved: now a kick is wanted when the guest adds buffers
			 * (unless some arrived while we asked: then look once more). */
			if (!asked && virtqueue_want_kicks(vq, true)) {
				asked = true;
				continue;
			}
			return false;
		}
		if (got == VIRTQUEUE_BROKEN) {
			problem(b, PROBLEM_RING, "rx ring: %s; the ring is no longer served", why);
			return false;
		}
		if (got == VIRTQUEUE_BAD_CHAIN || b->rx_chain.readable_count > 0 ||
		    b->rx_chain.writable_bytes < HEADER_SIZE) {
			problem(b, PROBLEM_CHAIN, "rx ring: %s; buffer returned unused",
				got == VIRTQUEUE_BAD_CHAIN ? why : "buffer not writable or shorter than a header");
			virtqueue_take(vq);
			virtqueue_push(vq, b->rx_chain.head, 0);
			continue;
		}
		b->rx_peeked = true;
		/* Buffers are looked for when there is something to put in them, so
		 * the guest need not kick when it adds some (doc/vsock.md, "Notifications"). */
		if (b->options.suppress_notifications)
			virtqueue_want_kicks(vq, false);
	}
	return true;
}

static void rx_buffer_used(struct vsock_backend *b, uint32_t len)
{
	struct virtqueue *vq = &b->vu.queues[QUEUE_RX];

	virtqueue_take(vq);
	virtqueue_push(vq, b->rx_chain.head, len);
	b->rx_peeked = false;
}

static void fill_header(struct vsock_backend *b, struct vsock_header *h, uint32_t guest_port, uint32_t host_port,
			uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = b->options.guest_cid;
	h->src_port = host_port;
	h->dst_port = guest_port;
	h->type = TYPE_STREAM;
	h->op = op;
}

static void fill_credit(struct vsock_header *h, struct vsock_connection *c)
{
	h->buf_alloc = VSOCK_BUFFER_BYTES;
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_told = c->fwd_cnt;
}

static void send_control(struct vsock_backend *b)
{
	struct control_packet *packet = b->control_head;
	struct vsock_connection *c = packet->serial != 0 ? lookup_serial(b, packet) : NULL;
	struct vsock_header h;
	uint8_t raw[HEADER_SIZE];

	b->control_head = packet->next;
	if (b->control_head == NULL)
		b->control_tail = NULL;
	if (packet->serial == 0)
		b->unattached_resets--;
	/* A packet for a connection gone since is moot, except its RST. */
	if (packet->serial != 0 && c == NULL && packet->op != OP_RST) {
		free(packet);
		return;
	}
	fill_header(b, &h, packet->guest_port, packet->host_port, packet->op);
	h.flags = packet->flags;
	if (c != NULL) {
		fill_credit(&h, c);
		if (packet->op == OP_CREDIT_UPDATE)
			c->credit_update_queued = false;
	}
	header_encode(&h, raw);
	virtqueue_chain_write(&b->rx_chain, 0, raw, HEADER_SIZE);
	rx_buffer_used(b, HEADER_SIZE);
	free(packet);
}

/* Host EOF: after the last byte, the guest hears SEND — and RCV too when the
 * host closed its socket entirely (then nobody reads what the guest sends). */
static void host_eof(struct vsock_backend *b, struct vsock_connection *c)
{
	struct pollfd probe = {.fd = c->fd, .events = POLLOUT};

	c->h2g_done = true;
	c->host_readable = false;
	send_list_remove(b, c);
	/* the EPOLLHUP of a close may not have been reported yet */
	if (!c->host_hup && poll(&probe, 1, 0) == 1 && (probe.revents & POLLHUP))
		c->host_hup = true;
	if (c->host_hup && !c->g2h_done) {
		tell_shutdown(b, c, SHUTDOWN_SEND | SHUTDOWN_RCV);
		host_stopped_reading(b, c);
		return;
	}
	tell_shutdown(b, c, c->g2h_done ? SHUTDOWN_SEND | SHUTDOWN_RCV : SHUTDOWN_SEND);
	check_finished(b, c);
}

/* One RW packet from the host socket of the connection at the head of the send list. */
static void send_data(struct vsock_backend *b, struct vsock_connection *c)
{
	uint32_t credit = peer_credit(c);
	size_t room = b->rx_chain.writable_bytes - HEADER_SIZE;
	size_t want = credit < room ? credit : room;
	struct iovec iov[VIRTQUEUE_CHAIN_MAX_IOV];
	struct vsock_header h;
	uint8_t raw[HEADER_SIZE];
	ssize_t n;

	if (want > MAX_PACKET_PAYLOAD)
		want = MAX_PACKET_PAYLOAD;
	if (want == 0) {
		/* an rx buffer of exactly a header carries no data: give it back */
		rx_buffer_used(b, 0);
		return;
	}
	size_t count = virtqueue_chain_slice(&b->rx_chain, true, HEADER_SIZE, want, iov, VIRTQUEUE_CHAIN_MAX_IOV);
	do
		n = readv(c->fd, iov, (int)count);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->host_readable = false;
		send_list_remove(b, c);
		return;
	}
	if (n < 0) {
		problem(b, PROBLEM_HOST, "reading a host socket failed: %s; connection reset", strerror(errno));
		reset_connection(b, c);
		return;
	}
	if (n == 0) {
		host_eof(b, c);
		return;
	}
	fill_header(b, &h, c->guest_port, c->host_port, OP_RW);
	h.len = (uint32_t)n;
	fill_credit(&h, c);
	header_encode(&h, raw);
	virtqueue_chain_write(&b->rx_chain, 0, raw, HEADER_SIZE);
	rx_buffer_used(b, HEADER_SIZE + (uint32_t)n);
	c->tx_cnt += (uint32_t)n;
	/* round robin: to the back of the list */
	send_list_remove(b, c);
	update_sendable(b, c);
	/* Out of credit. Linux guests announce credit by themselves once they
	 * have consumed most of their buffer; asking at once would make them
	 * answer with whatever little they consumed so far, over and over (ten
	 * times slower under TCG). Ask only when the stall lasts (doc/vsock.md). */
	if (!c->in_send_list && peer_credit(c) == 0 && !c->credit_requested && c->deadline_ms == 0)
		set_deadline(b, c, now_ms() + b->options.credit_stall_ms);
}

static void process_rx(struct vsock_backend *b)
{
	for (int budget = ROUND_BUDGET;; budget--) {
		if (budget == 0) {
			b->more_work = true;
			return;
		}
		if (b->control_head == NULL && b->send_head == NULL)
			return;
		if (!rx_buffer(b))
			return;
		if (b->control_head != NULL)
			send_control(b);
		else
			send_data(b, b->send_head);
	}
}

/* ---- host side events ---- */

static void on_host_event(struct vsock_backend *b, struct vsock_connection *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (events & EPOLLHUP)
		c->host_hup = true;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->host_readable = true;
	if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->buffer_len > 0)
		flush_to_host(b, c);
	if (c->fd >= 0)
		update_sendable(b, c);
}

/* ---- connect requests from other threads ---- */

static uint32_t ephemeral_port(struct vsock_backend *b, uint32_t guest_port)
{
	for (;;) {
		uint32_t port = b->next_host_port++;
		if (b->next_host_port == 0xffffffffu)
			b->next_host_port = FIRST_EPHEMERAL_PORT;
		if (lookup(b, guest_port, port) != NULL)
			continue;
		bool listened = false;
		pthread_mutex_lock(&b->lock);
		for (struct listener *l = b->listeners; l != NULL; l = l->next)
			listened = listened || l->port == port;
		pthread_mutex_unlock(&b->lock);
		if (!listened)
			return port;
	}
}

static void start_request(struct vsock_backend *b, struct connect_request *request)
{
	struct vsock_connection *c;

	if (!vhost_user_queue_ready(&b->vu, QUEUE_RX) || !vhost_user_queue_ready(&b->vu, QUEUE_TX)) {
		close(request->local_fd);
		complete_request(b, request, ECONNREFUSED, "the guest's vsock driver is not running (yet)");
		return;
	}
	if (b->connection_count >= VSOCK_MAX_CONNECTIONS) {
		close(request->local_fd);
		complete_request(b, request, EAGAIN, "too many vsock connections");
		return;
	}
	c = new_connection(b, request->port, ephemeral_port(b, request->port), request->local_fd);
	if (c == NULL) {
		close(request->local_fd);
		complete_request(b, request, ENOMEM, "out of memory");
		return;
	}
	c->state = CONNECTING;
	c->request = request;
	set_deadline(b, c, now_ms() + b->options.connect_timeout_ms);
	queue_for(b, c, OP_REQUEST, 0);
}

static void take_requests(struct vsock_backend *b)
{
	struct connect_request *requests;
	uint64_t count;

	if (read(b->wake_fd, &count, sizeof(count)) < 0) {
		/* nothing to clear */
	}
	pthread_mutex_lock(&b->lock);
	requests = b->requests;
	b->requests = NULL;
	pthread_mutex_unlock(&b->lock);
	/* oldest first */
	struct connect_request *reversed = NULL;
	while (requests != NULL) {
		struct connect_request *next = requests->next;
		requests->next = reversed;
		reversed = requests;
		requests = next;
	}
	while (reversed != NULL) {
		struct connect_request *next = reversed->next;
		start_request(b, reversed);
		reversed = next;
	}
}

/* ---- the front end ---- */

static void drop_all_connections(struct vsock_backend *b)
{
	while (b->all != NULL)
		free_connection(b, b->all);
	while (b->control_head != NULL) {
		struct control_packet *next = b->control_head->next;
		free(b->control_head);
		b->control_head = next;
	}
	b->control_tail = NULL;
	b->unattached_resets = 0;
}

static void register_fd(struct vsock_backend *b, int fd, struct watch *watch)
{
	struct epoll_event event = {.events = EPOLLIN, .data.ptr = watch};
	epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

static void on_kick_changed(void *context, size_t index, int old_fd, int new_fd)
{
	struct vsock_backend *b = context;

	if (old_fd >= 0)
		epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, old_fd, NULL);
	if (new_fd >= 0)
		register_fd(b, new_fd, &b->kick_watch[index]);
}

static void on_queues_changed(void *context)
{
	struct vsock_backend *b = context;
	b->rx_peeked = false;
}

/* A reset device has a guest driver with no sockets left. */
static void on_device_reset(void *context)
{
	struct vsock_backend *b = context;

	drop_all_connections(b);
	b->rx_peeked = false;
	say(b, LOG_LEVEL_DEBUG, "vsock: device reset; every connection closed");
}

static void on_front_end_complaint(void *context, const char *message)
{
	struct vsock_backend *b = context;
	say(b, LOG_LEVEL_ERROR, "vsock: vhost-user front end: %s", message);
}

static void drop_front_end(struct vsock_backend *b)
{
	if (b->vu.fd < 0)
		return;
	epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, b->vu.fd, NULL);
	vhost_user_reset(&b->vu);
	/* the guest went with its front end: so do its connections */
	drop_all_connections(b);
	say(b, LOG_LEVEL_DEBUG, "vsock: vhost-user front end disconnected");
}

int vsock_backend_attach(struct vsock_backend *b, int fd, struct vzk_error *err)
{
	if (b->vu.fd >= 0) {
		close(fd);
		return vzk_runtime_error(err, "vsock: a vhost-user front end is already attached");
	}
	vhost_user_init(&b->vu, &b->device, fd);
	register_fd(b, fd, &b->front_end_watch);
	return 0;
}

static void accept_front_end(struct vsock_backend *b)
{
	struct vzk_error err = {0};
	int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (b->vu.fd >= 0) {
		problem(b, PROBLEM_FRONT_END, "a second vhost-user front end tried to connect; refused");
		close(fd);
		return;
	}
	if (vsock_backend_attach(b, fd, &err) == 0)
		say(b, LOG_LEVEL_DEBUG, "vsock: vhost-user front end connected");
}

/* ---- the loop ---- */

/* Every message the front end has sent so far (QEMU sends a dozen in a row). */
static void handle_front_end(struct vsock_backend *b)
{
	char byte;

	do {
		if (vhost_user_handle_message(&b->vu) != 0) {
			drop_front_end(b);
			return;
		}
	} while (recv(b->vu.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1);
}

static void check_deadlines(struct vsock_backend *b, long now)
{
	struct vsock_connection *c = b->all;

	while (c != NULL && b->deadline_count > 0) {
		struct vsock_connection *next = c->all_next;
		if (c->deadline_ms != 0 && c->deadline_ms <= now && c->state == ESTABLISHED) {
			/* stalled on credit for a while: ask */
			set_deadline(b, c, 0);
			c->credit_requested = true;
			queue_for(b, c, OP_CREDIT_REQUEST, 0);
		} else if (c->deadline_ms != 0 && c->deadline_ms <= now) {
			if (c->state == CONNECTING && c->request != NULL) {
				complete_request(b, c->request, ETIMEDOUT, "the guest did not answer in time");
				c->request = NULL;
			}
			reset_connection(b, c);
		}
		c = next;
	}
}

static int next_timeout(struct vsock_backend *b, int timeout_ms, long now)
{
	if (b->more_work)
		return 0;
	for (struct vsock_connection *c = b->all; c != NULL && b->deadline_count > 0; c = c->all_next) {
		if (c->deadline_ms == 0)
			continue;
		long left = c->deadline_ms > now ? c->deadline_ms - now : 0;
		if (timeout_ms < 0 || left < timeout_ms)
			timeout_ms = (int)left;
	}
	return timeout_ms;
}

static void hand_off(struct vsock_backend *b)
{
	while (b->handoffs != NULL) {
		struct handoff *handoff = b->handoffs;
		b->handoffs = handoff->next;
		handoff->listener->on_connection(handoff->listener->context, handoff->fd);
		free(handoff);
	}
}

int vsock_backend_poll(struct vsock_backend *b, int timeout_ms)
{
	struct epoll_event events[64];
	int count;
	bool had_more_work = b->more_work;

	count = epoll_wait(b->epoll_fd, events, 64, next_timeout(b, timeout_ms, now_ms()));
	b->more_work = false;
	for (int i = 0; i < count; i++) {
		struct watch *watch = events[i].data.ptr;
		uint64_t kicks;
		switch (watch->kind) {
		case WATCH_WAKE:
			take_requests(b);
			break;
		case WATCH_LISTEN:
			accept_front_end(b);
			break;
		case WATCH_FRONT_END:
			handle_front_end(b);
			break;
		case WATCH_KICK:
			if (b->vu.queues[watch->index].kick_fd >= 0 &&
			    read(b->vu.queues[watch->index].kick_fd, &kicks, sizeof(kicks)) < 0) {
				/* already cleared */
			}
			break;
		case WATCH_CONNECTION:
			on_host_event(b, (struct vsock_connection *)(void *)watch, events[i].events);
			break;
		}
	}
	process_tx(b);
	if (b->deadline_count > 0)
		check_deadlines(b, now_ms());
	process_rx(b);
	virtqueue_notify(&b->vu.queues[QUEUE_TX]);
	virtqueue_notify(&b->vu.queues[QUEUE_RX]);
	hand_off(b);
	while (b->graveyard != NULL) {
		struct vsock_connection *c = b->graveyard;
		b->graveyard = c->hash_next;
		free(c);
	}
	return count > 0 ? count : had_more_work || b->more_work ? 1 : 0;
}

static void *loop_main(void *context)
{
	struct vsock_backend *b = context;

	while (!atomic_load(&b->stopping))
		vsock_backend_poll(b, -1);
	return NULL;
}

/* ---- public ---- */

int vsock_backend_new(const struct vsock_backend_options *options, struct vsock_backend **out, struct vzk_error *err)
{
	struct vsock_backend *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (b == NULL)
		return vzk_runtime_error(err, "out of memory");
	b->options = *options;
	if (b->options.guest_cid == 0)
		b->options.guest_cid = 3;
	if (b->options.connect_timeout_ms <= 0)
		b->options.connect_timeout_ms = 5000;
	if (b->options.close_timeout_ms <= 0)
		b->options.close_timeout_ms = 8000;
	if (b->options.credit_stall_ms <= 0)
		b->options.credit_stall_ms = 1000;
	b->listen_fd = -1;
	b->next_host_port = FIRST_EPHEMERAL_PORT;
	uint64_t cid_le = htole64(b->options.guest_cid);
	memcpy(b->config, &cid_le, sizeof(cid_le));
	b->device.features = b->options.suppress_notifications ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0;
	b->device.config = b->config;
	b->device.config_size = sizeof(b->config);
	b->device.queue_count = 2; /* rx and tx; QEMU keeps the event queue */
	b->device.context = b;
	b->device.kick_changed = on_kick_changed;
	b->device.queues_changed = on_queues_changed;
	b->device.complain = on_front_end_complaint;
	b->device.reset = on_device_reset;
	vhost_user_init(&b->vu, &b->device, -1);
	b->wake_watch.kind = WATCH_WAKE;
	b->listen_watch.kind = WATCH_LISTEN;
	b->front_end_watch.kind = WATCH_FRONT_END;
	for (size_t i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		b->kick_watch[i].kind = WATCH_KICK;
		b->kick_watch[i].index = i;
	}
	pthread_mutex_init(&b->lock, NULL);
	/* Connect deadlines on the monotonic clock: a host whose wall clock is
	 * stepped (NTP, a restored VM snapshot) must not end a wait early. */
	pthread_condattr_t changed_attr;
	pthread_condattr_init(&changed_attr);
	pthread_condattr_setclock(&changed_attr, CLOCK_MONOTONIC);
	pthread_cond_init(&b->changed, &changed_attr);
	pthread_condattr_destroy(&changed_attr);
	b->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->epoll_fd < 0 || b->wake_fd < 0) {
		int saved = errno;
		vsock_backend_free(b);
		return vzk_runtime_error(err, "vsock: cannot make an event loop: %s", strerror(saved));
	}
	register_fd(b, b->wake_fd, &b->wake_watch);
	*out = b;
	return 0;
}

int vsock_backend_serve(struct vsock_backend *b, int listen_fd, struct vzk_error *err)
{
	if (b->listen_fd >= 0) {
		close(listen_fd);
		return vzk_runtime_error(err, "vsock: already serving a socket");
	}
	b->listen_fd = listen_fd;
	register_fd(b, listen_fd, &b->listen_watch);
	return 0;
}

int vsock_backend_start(struct vsock_backend *b, struct vzk_error *err)
{
	if (pthread_create(&b->thread, NULL, loop_main, b) != 0)
		return vzk_runtime_error(err, "vsock: cannot start the backend thread");
	b->thread_started = true;
	return 0;
}

int vsock_backend_listen(struct vsock_backend *b, uint32_t port, void (*on_connection)(void *, int), void *context,
			 struct vzk_error *err)
{
	struct listener *listener = calloc(1, sizeof(*listener));

	if (listener == NULL)
		return vzk_runtime_error(err, "out of memory");
	listener->port = port;
	listener->on_connection = on_connection;
	listener->context = context;
	pthread_mutex_lock(&b->lock);
	for (struct listener *l = b->listeners; l != NULL; l = l->next) {
		if (l->port == port) {
			pthread_mutex_unlock(&b->lock);
			free(listener);
			return vzk_runtime_error(err, "vsock port %u: already listened on", port);
		}
	}
	listener->next = b->listeners;
	b->listeners = listener;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int submit_request(struct vsock_backend *b, uint32_t port, bool detached, struct connect_request **out,
			  int *fd, struct vzk_error *err)
{
	struct connect_request *request = calloc(1, sizeof(*request));
	int fds[2];
	uint64_t one = 1;

	if (request == NULL)
		return vzk_runtime_error(err, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		free(request);
		return vzk_runtime_error(err, "vsock: socketpair: %s", strerror(errno));
	}
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	request->port = port;
	request->local_fd = fds[0];
	request->detached = detached;
	request->result = -1;
	pthread_mutex_lock(&b->lock);
	request->next = b->requests;
	b->requests = request;
	if (!detached)
		b->waiters++;
	pthread_mutex_unlock(&b->lock);
	if (write(b->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		/* the counter is already non-zero: the loop wakes anyway */
	}
	*out = request;
	*fd = fds[1];
	return 0;
}

int vsock_backend_connect_async(struct vsock_backend *b, uint32_t port, int *fd, struct vzk_error *err)
{
	struct connect_request *request;

	return submit_request(b, port, true, &request, fd, err);
}

int vsock_backend_connect(struct vsock_backend *b, uint32_t port, int *fd_out, struct vzk_error *err)
{
	struct connect_request *request;
	int fd, result;
	const char *why;
	struct timespec deadline;

	if (!b->thread_started)
		return vzk_runtime_error(err, "vsock: the backend is not running");
	if (submit_request(b, port, false, &request, &fd, err) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (b->options.connect_timeout_ms + WAITER_SLACK_MS) / 1000;
	pthread_mutex_lock(&b->lock);
	while (request->result < 0 && !atomic_load(&b->stopping))
		if (pthread_cond_timedwait(&b->changed, &b->lock, &deadline) == ETIMEDOUT)
			break;
	result = request->result;
	why = request->why;
	if (result < 0)
		request->abandoned = true; /* the loop frees it when it is done */
	else
		free(request);
	b->waiters--;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	if (result == 0) {
		*fd_out = fd;
		return 0;
	}
	close(fd);
	return vzk_runtime_error(err, "cannot connect to the guest's vsock port %u: %s", port,
				 result < 0 ? "the vsock backend is stopping or stuck" : why);
}

void vsock_backend_stats(struct vsock_backend *b, struct vsock_backend_stats *stats)
{
	stats->connections = atomic_load(&b->stat_connections);
	stats->host_fds = atomic_load(&b->stat_host_fds);
	stats->packets_dropped = atomic_load(&b->stat_dropped);
	stats->resets_sent = atomic_load(&b->stat_resets);
}

void vsock_backend_free(struct vsock_backend *b)
{
	uint64_t one = 1;

	if (b == NULL)
		return;
	atomic_store(&b->stopping, true);
	if (b->thread_started) {
		if (write(b->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
			/* already woken */
		}
		pthread_join(b->thread, NULL);
	}
	/* requests never taken by the loop */
	pthread_mutex_lock(&b->lock);
	struct connect_request *requests = b->requests;
	b->requests = NULL;
	pthread_mutex_unlock(&b->lock);
	while (requests != NULL) {
		struct connect_request *next = requests->next;
		close(requests->local_fd);
		complete_request(b, requests, ECONNABORTED, "the VM is stopping");
		requests = next;
	}
	drop_front_end(b);
	drop_all_connections(b);
	while (b->handoffs != NULL) {
		struct handoff *handoff = b->handoffs;
		b->handoffs = handoff->next;
		close(handoff->fd);
		free(handoff);
	}
	while (b->graveyard != NULL) {
		struct vsock_connection *c = b->graveyard;
		b->graveyard = c->hash_next;
		free(c);
	}
	/* connect() callers still between their wake-up and their return */
	pthread_mutex_lock(&b->lock);
	pthread_cond_broadcast(&b->changed);
	while (b->waiters > 0)
		pthread_cond_wait(&b->changed, &b->lock);
	pthread_mutex_unlock(&b->lock);
	while (b->listeners != NULL) {
		struct listener *next = b->listeners->next;
		free(b->listeners);
		b->listeners = next;
	}
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->wake_fd >= 0)
		close(b->wake_fd);
	if (b->epoll_fd >= 0)
		close(b->epoll_fd);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

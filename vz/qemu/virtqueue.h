/* Split virtqueues (virtio 1.x, doc/vsock.md) as a device sees them in
 * guest memory that the guest may change at any moment: every index and
 * descriptor is read once, checked, and only then used. A bad ring never
 * makes the device touch memory outside the guest's; it is reported instead. */
#ifndef VZKIT_VZ_QEMU_VIRTQUEUE_H
#define VZKIT_VZ_QEMU_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct guest_memory;

#define VIRTQUEUE_MAX_SIZE 32768
/* More pieces than this in one chain is refused (Linux's vsock driver uses two). */
#define VIRTQUEUE_CHAIN_MAX_IOV 64

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1
/* The feature bit: used_event (after the avail ring) and avail_event (after
 * the used ring) replace the two flags above. */
#define VIRTIO_RING_F_EVENT_IDX 29

struct virtqueue {
	/* set by the front end */
	uint16_t size; /* 0: not set */
	uint64_t desc_user_addr, avail_user_addr, used_user_addr;
	bool addresses_set;
	uint16_t last_avail_idx; /* next avail ring entry to take */
	int kick_fd, call_fd;
	bool started; /* a kick fd arrived; GET_VRING_BASE stops it */
	bool enabled;
	/* derived when started, from the memory table */
	uint8_t *desc, *avail, *used; /* NULL: not in guest memory */
	uint16_t used_idx;
	bool broken; /* the guest broke the ring; nothing more is taken from it */
	bool used_since_notify;
	/* notification suppression (doc/vsock.md, "Notifications") */
	bool event_idx;            /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool kicks_wanted;         /* what we last told the guest (true until we said otherwise) */
	uint16_t signalled_used;   /* event index: used_idx when we last decided whether to signal */
	bool signalled_used_valid; /* false: signal at the next chance whatever used_event says */
};

/* One descriptor chain, translated: readable pieces first, then writable. */
struct virtqueue_chain {
	uint16_t head;
	struct iovec iov[VIRTQUEUE_CHAIN_MAX_IOV];
	size_t readable_count, writable_count; /* pieces */
	size_t readable_bytes, writable_bytes;
};

enum virtqueue_peek_result {
	VIRTQUEUE_EMPTY = 0,
	VIRTQUEUE_CHAIN,     /* chain filled in */
	VIRTQUEUE_BAD_CHAIN, /* chain->head is valid, the chain is not: give it back unused */
	VIRTQUEUE_BROKEN,    /* the ring itself is bad: vq->broken is set */
};

void virtqueue_init(struct virtqueue *vq);
/* Finds the rings in guest memory (at start, and after a new memory table);
 * false with *why when they are not there or misaligned. */
bool virtqueue_map(struct virtqueue *vq, const struct guest_memory *memory, const char **why);
/* The next available chain, not taken yet (peek twice: the same chain, unless the
 * guest rewrote it). *why says what is wrong for BAD_CHAIN and BROKEN. */
enum virtqueue_peek_result virtqueue_peek(struct virtqueue *vq, const struct guest_memory *memory,
					  struct virtqueue_chain *chain, const char **why);
/* Takes the chain last peeked. */
void virtqueue_take(struct virtqueue *vq);
/* Hands a taken chain back to the guest with `len` bytes written. */
void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t len);
/* Signals the call fd when chains were pushed since the last call and the
 * guest asked for it: without the event index, unless avail.flags says
 * NO_INTERRUPT; with it, only when used.idx went past the guest's used_event
 * since the last decision. */
void virtqueue_notify(struct virtqueue *vq);
/* Tells the guest whether to kick when it makes chains available: with the
 * event index, by avail_event = the next chain we will take (on) or by
 * leaving it behind (off); without, by used.flags NO_NOTIFY. Turning kicks
 * on returns true when chains arrived meanwhile: the guest may have looked
 * before it saw the request, so the caller takes them instead of waiting. */
bool virtqueue_want_kicks(struct virtqueue *vq, bool want);

/* Copies up to len bytes at offset `skip` of the chain's readable pieces into out; the count copied. */
size_t virtqueue_chain_read(const struct virtqueue_chain *chain, size_t skip, void *out, size_t len);
/* Copies len bytes into the writable pieces from offset `skip`; the count copied. */
size_t virtqueue_chain_write(const struct virtqueue_chain *chain, size_t skip, const void *data, size_t len);
/* The pieces covering readable bytes [skip, skip + len) (or writable ones), into iov
 * (at most max entries); the number of entries. */
size_t virtqueue_chain_slice(const struct virtqueue_chain *chain, bool writable, size_t skip, size_t len,
			     struct iovec *iov, size_t max);

#endif

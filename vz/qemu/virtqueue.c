/* Split virtqueues in guest memory (doc/vsock.md, "Rings"). The guest
 * writes the descriptor table and the available ring, the device the used
 * ring; both run concurrently, so indices are loaded with acquire and stored
 * with release semantics, and every descriptor is copied out before it is
 * checked. */
#include "vz/qemu/virtqueue.h"

#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "vz/qemu/vhost_user.h"

#define DESC_SIZE 16
#define USED_ELEM_SIZE 8

void virtqueue_init(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->kick_fd = vq->call_fd = -1;
}

static uint16_t load_u16_acquire(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE));
}

static uint16_t load_u16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

bool virtqueue_map(struct virtqueue *vq, const struct guest_memory *memory, const char **why)
{
	uint64_t size = vq->size;

	vq->desc = vq->avail = vq->used = NULL;
	if (size == 0 || size > VIRTQUEUE_MAX_SIZE || (size & (size - 1)) != 0) {
		*why = "ring size is not a power of two up to 32768";
		return false;
	}
	if (!vq->addresses_set) {
		*why = "ring started before its addresses were set";
		return false;
	}
	/* desc: 16-byte entries; avail: flags, idx, ring, used_event;
	 * used: flags, idx, 8-byte entries, avail_event. */
	uint8_t *desc = guest_memory_at_user(memory, vq->desc_user_addr, DESC_SIZE * size);
	uint8_t *avail = guest_memory_at_user(memory, vq->avail_user_addr, 6 + 2 * size);
	uint8_t *used = guest_memory_at_user(memory, vq->used_user_addr, 6 + USED_ELEM_SIZE * size);
	if (desc == NULL || avail == NULL || used == NULL) {
		*why = "ring outside guest memory";
		return false;
	}
	if (((uintptr_t)desc & 15) != 0 || ((uintptr_t)avail & 1) != 0 || ((uintptr_t)used & 3) != 0) {
		*why = "ring misaligned";
		return false;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->used_idx = load_u16(used + 2);
	vq->broken = false;
	/* a restarted ring: what the guest was told before is unknown here */
	vq->kicks_wanted = true;
	vq->signalled_used_valid = false;
	return true;
}

static enum virtqueue_peek_result bad(const char **why, const char *text)
{
	*why = text;
	return VIRTQUEUE_BAD_CHAIN;
}

static enum virtqueue_peek_result add_piece(const struct guest_memory *memory, struct virtqueue_chain *chain,
					    uint64_t addr, uint32_t len, bool writable, const char **why)
{
	uint64_t remaining = len;

	while (remaining > 0) {
		uint64_t span = 0;
		void *host = guest_memory_span(memory, addr, remaining, &span);
		size_t count = chain->readable_count + chain->writable_count;
		if (host == NULL)
			return bad(why, "descriptor outside guest memory");
		if (count == VIRTQUEUE_CHAIN_MAX_IOV)
			return bad(why, "descriptor chain in too many pieces");
		chain->iov[count].iov_base = host;
		chain->iov[count].iov_len = span;
		if (writable) {
			chain->writable_count++;
			chain->writable_bytes += span;
		} else {
			chain->readable_count++;
			chain->readable_bytes += span;
		}
		addr += span;
		remaining -= span;
	}
	return VIRTQUEUE_CHAIN;
}

enum virtqueue_peek_result virtqueue_peek(struct virtqueue *vq, const struct guest_memory *memory,
					  struct virtqueue_chain *chain, const char **why)
{
	uint16_t avail_idx, pending, index;

	if (vq->broken || vq->avail == NULL)
		return VIRTQUEUE_EMPTY;
	avail_idx = load_u16_acquire(vq->avail + 2);
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return VIRTQUEUE_EMPTY;
	if (pending > vq->size) {
		vq->broken = true;
		*why = "available index moved by more than the ring size";
		return VIRTQUEUE_BROKEN;
	}
	index = load_u16(vq->avail + 4 + 2 * (size_t)(vq->last_avail_idx & (vq->size - 1)));
	if (index >= vq->size) {
		vq->broken = true;
		*why = "available chain head out of range";
		return VIRTQUEUE_BROKEN;
	}
	chain->head = index;
	chain->readable_count = chain->writable_count = 0;
	chain->readable_bytes = chain->writable_bytes = 0;
	for (size_t count = 0;; count++) {
		uint8_t raw[DESC_SIZE];
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;

		if (count == vq->size)
			return bad(why, "descriptor chain longer than the ring (a loop)");
		memcpy(raw, vq->desc + DESC_SIZE * (size_t)index, DESC_SIZE);
		memcpy(&addr, raw, 8);
		memcpy(&len, raw + 8, 4);
		memcpy(&flags, raw + 12, 2);
		memcpy(&next, raw + 14, 2);
		addr = le64toh(addr);
		len = le32toh(len);
		flags = le16toh(flags);
		next = le16toh(next);
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return bad(why, "indirect descriptor (the feature was not offered)");
		bool writable = (flags & VIRTQ_DESC_F_WRITE) != 0;
		if (!writable && chain->writable_count > 0)
			return bad(why, "readable descriptor after a writable one");
		enum virtqueue_peek_result added = add_piece(memory, chain, addr, len, writable, why);
		if (added != VIRTQUEUE_CHAIN)
			return added;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return VIRTQUEUE_CHAIN;
		if (next >= vq->size)
			return bad(why, "next descriptor out of range");
		index = next;
	}
}

void virtqueue_take(struct virtqueue *vq)
{
	vq->last_avail_idx++;
}

void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	uint8_t *slot;
	uint32_t id_le = htole32(head), len_le = htole32(len);

	if (vq->used == NULL)
		return;
	slot = vq->used + 4 + USED_ELEM_SIZE * (size_t)(vq->used_idx & (vq->size - 1));
	memcpy(slot, &id_le, 4);
	memcpy(slot + 4, &len_le, 4);
	vq->used_idx++;
	__atomic_store_n((uint16_t *)(void *)(vq->used + 2), htole16(vq->used_idx), __ATOMIC_RELEASE);
	vq->used_since_notify = true;
}

static void store_u16(uint8_t *p, uint16_t value)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(value), __ATOMIC_RELAXED);
}

/* virtio 1.x, "Used Buffer Notification Suppression": true when event_idx lies in [old, new). */
static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

void virtqueue_notify(struct virtqueue *vq)
{
	uint64_t one = 1;

	if (!vq->used_since_notify || vq->avail == NULL)
		return;
	vq->used_since_notify = false;
	/* The used index must be visible before the guest's flags or used_event
	 * are read: otherwise a guest that just re-enabled interrupts could be missed. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t used_event = load_u16(vq->avail + 4 + 2 * (size_t)vq->size);
		uint16_t old = vq->signalled_used;
		bool valid = vq->signalled_used_valid;
		vq->signalled_used = vq->used_idx;
		vq->signalled_used_valid = true;
		if (valid && !need_event(used_event, vq->used_idx, old))
			return;
	} else if (load_u16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) {
		return;
	}
	if (vq->call_fd >= 0 && write(vq->call_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		/* a full eventfd counter still wakes the guest */
	}
}

bool virtqueue_want_kicks(struct virtqueue *vq, bool want)
{
	if (vq->used == NULL || vq->avail == NULL)
		return false;
	if (!want) {
		/* With the event index there is nothing to write: the guest kicks once
		 * more when it passes the avail_event it has, then no more. */
		if (vq->kicks_wanted && !vq->event_idx) {
			uint16_t flags = load_u16(vq->used);
			store_u16(vq->used, (uint16_t)(flags | VIRTQ_USED_F_NO_NOTIFY));
		}
		vq->kicks_wanted = false;
		return false;
	}
	/* Written every time, not only on a change: after a restart the ring's
	 * memory may still say what an earlier run said. */
	if (vq->event_idx) {
		store_u16(vq->used + 4 + USED_ELEM_SIZE * (size_t)vq->size, vq->last_avail_idx);
	} else {
		uint16_t flags = load_u16(vq->used);
		store_u16(vq->used, (uint16_t)(flags & ~VIRTQ_USED_F_NO_NOTIFY));
	}
	vq->kicks_wanted = true;
	/* The request must be visible before avail.idx is read again (the
	 * guest does the mirror image: avail.idx, fence, our request). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load_u16_acquire(vq->avail + 2) != vq->last_avail_idx;
}

static size_t chain_copy(const struct virtqueue_chain *chain, bool writable, size_t skip, uint8_t *buffer, size_t len)
{
	size_t first = writable ? chain->readable_count : 0;
	size_t count = writable ? chain->writable_count : chain->readable_count;
	size_t done = 0;

	for (size_t i = first; i < first + count && done < len; i++) {
		size_t piece = chain->iov[i].iov_len;
		if (skip >= piece) {
			skip -= piece;
			continue;
		}
		size_t take = piece - skip;
		if (take > len - done)
			take = len - done;
		if (writable)
			memcpy((uint8_t *)chain->iov[i].iov_base + skip, buffer + done, take);
		else
			memcpy(buffer + done, (uint8_t *)chain->iov[i].iov_base + skip, take);
		done += take;
		skip = 0;
	}
	return done;
}

size_t virtqueue_chain_read(const struct virtqueue_chain *chain, size_t skip, void *out, size_t len)
{
	return chain_copy(chain, false, skip, out, len);
}

size_t virtqueue_chain_write(const struct virtqueue_chain *chain, size_t skip, const void *data, size_t len)
{
	return chain_copy(chain, true, skip, (uint8_t *)(uintptr_t)data, len);
}

size_t virtqueue_chain_slice(const struct virtqueue_chain *chain, bool writable, size_t skip, size_t len,
			     struct iovec *iov, size_t max)
{
	size_t first = writable ? chain->readable_count : 0;
	size_t count = writable ? chain->writable_count : chain->readable_count;
	size_t used = 0;

	for (size_t i = first; i < first + count && len > 0 && used < max; i++) {
		size_t piece = chain->iov[i].iov_len;
		if (skip >= piece) {
			skip -= piece;
			continue;
		}
		size_t take = piece - skip;
		if (take > len)
			take = len;
		iov[used].iov_base = (uint8_t *)chain->iov[i].iov_base + skip;
		iov[used].iov_len = take;
		used++;
		len -= take;
		skip = 0;
	}
	return used;
}

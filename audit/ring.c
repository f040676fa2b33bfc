/* SPDX-License-Identifier: Apache-2.0 */
/* audit/ring.c - bounded lock-free MPSC ring of fixed-size slots. */
#include "audit/ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RING_CACHELINE 64

/* Each slot carries a sequence number: seq == pos means free for the
 * producer whose ticket is pos; seq == pos + 1 means published for the
 * consumer at pos; the consumer sets seq = pos + capacity when it releases,
 * which makes the slot free for the producer one lap later. */
struct ring_hdr {
	_Atomic uint64_t seq;
};

struct ring {
	_Alignas(RING_CACHELINE) _Atomic uint64_t head; /* next ticket to claim */
	_Alignas(RING_CACHELINE) _Atomic uint64_t tail; /* written by the consumer only */
	_Alignas(RING_CACHELINE) size_t mask;
	size_t stride;
	unsigned char *mem;
};

static inline struct ring_hdr *slot_hdr(const struct ring *r, uint64_t pos)
{
	return (struct ring_hdr *)(r->mem + (size_t)(pos & r->mask) * r->stride);
}

static inline void *slot_data(struct ring_hdr *h)
{
	return (unsigned char *)h + 16;
}

struct ring *ring_new(size_t slots, size_t slot_size)
{
	struct ring *r;
	size_t cap = 2;

	if (slots == 0 || slot_size == 0 || slots > ((size_t)1 << 24) ||
	    slot_size > ((size_t)1 << 20)) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < slots)
		cap <<= 1;
	if (posix_memalign((void **)&r, RING_CACHELINE, sizeof(*r)) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->mask = cap - 1;
	r->stride = 16 + ((slot_size + 15) & ~(size_t)15);
	if (posix_memalign((void **)&r->mem, RING_CACHELINE, cap * r->stride) != 0) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < cap; i++)
		atomic_init(&slot_hdr(r, i)->seq, i);
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r;
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	free(r->mem);
	free(r);
}

size_t ring_capacity(const struct ring *r)
{
	return r->mask + 1;
}

void *ring_claim(struct ring *r, uint64_t *ticket)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	for (;;) {
		struct ring_hdr *h = slot_hdr(r, pos);
		uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - pos);

		if (diff == 0) {
			/* Free for this lap: take it if nobody else did. On
			 * failure pos is reloaded with the current head. */
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				*ticket = pos;
				return slot_data(h);
			}
		} else if (diff < 0) {
			/* Still holding last lap's record: the ring is full.
			 * Fail rather than wait for the consumer. */
			return NULL;
		} else {
			/* Another producer claimed it already; catch up. */
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

void ring_publish(struct ring *r, uint64_t ticket)
{
	atomic_store_explicit(&slot_hdr(r, ticket)->seq, ticket + 1, memory_order_release);
}

void *ring_peek(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct ring_hdr *h = slot_hdr(r, tail);
	uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);

	if (seq != tail + 1)
		return NULL;
	return slot_data(h);
}

void ring_release(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct ring_hdr *h = slot_hdr(r, tail);

	atomic_store_explicit(&h->seq, tail + r->mask + 1, memory_order_release);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_relaxed);
}

size_t ring_used(const struct ring *r)
{
	struct ring *rw = (struct ring *)r; /* atomic loads need a non-const object */
	uint64_t head = atomic_load_explicit(&rw->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&rw->tail, memory_order_relaxed);

	return head >= tail ? (size_t)(head - tail) : 0;
}

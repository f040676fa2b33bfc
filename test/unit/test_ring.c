/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_ring.c - the lock-free MPSC ring: no loss, no duplicate, drops counted. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audit/ring.h"
#include "test.h"

#define PRODUCERS 4

struct item {
	uint32_t producer;
	uint32_t seq;
	uint64_t check; /* a function of the two, to catch torn slots */
};

struct shared {
	struct ring *r;
	uint32_t per_producer;
	atomic_uint_fast64_t dropped;
	atomic_int running;
};

struct producer_arg {
	struct shared *sh;
	uint32_t id;
	bool retry; /* spin until the record fits (lossless test) */
};

static uint64_t check_of(uint32_t p, uint32_t s)
{
	return ((uint64_t)p << 32 | s) * 0x9e3779b97f4a7c15ULL;
}

static void *producer(void *arg)
{
	struct producer_arg *a = arg;

	for (uint32_t s = 0; s < a->sh->per_producer; s++) {
		for (;;) {
			uint64_t ticket;
			struct item *it = ring_claim(a->sh->r, &ticket);

			if (it) {
				it->producer = a->id;
				it->seq = s;
				it->check = check_of(a->id, s);
				ring_publish(a->sh->r, ticket);
				break;
			}
			if (!a->retry) {
				atomic_fetch_add(&a->sh->dropped, 1);
				break;
			}
			sched_yield();
		}
	}
	atomic_fetch_sub(&a->sh->running, 1);
	return NULL;
}

/* Consume until every producer is done and the ring is empty. Checks that
 * each producer's records arrive in order, intact, at most once. */
static uint64_t consume(struct shared *sh, uint32_t *next_seq, bool lossless, unsigned *bad)
{
	uint64_t got = 0;

	for (;;) {
		struct item *it = ring_peek(sh->r);

		if (!it) {
			if (atomic_load(&sh->running) == 0 && !ring_peek(sh->r))
				break;
			sched_yield();
			continue;
		}
		if (it->producer >= PRODUCERS || it->check != check_of(it->producer, it->seq))
			(*bad)++;
		else if (lossless ? it->seq != next_seq[it->producer] : it->seq < next_seq[it->producer])
			(*bad)++;
		else
			next_seq[it->producer] = it->seq + 1;
		ring_release(sh->r);
		got++;
	}
	return got;
}

static void run(uint32_t slots, uint32_t per, bool retry, uint64_t *got, uint64_t *dropped,
		unsigned *bad, uint32_t *next_seq)
{
	struct shared sh = { .per_producer = per };
	struct producer_arg args[PRODUCERS];
	pthread_t th[PRODUCERS];

	sh.r = ring_new(slots, sizeof(struct item));
	atomic_init(&sh.dropped, 0);
	atomic_init(&sh.running, PRODUCERS);
	memset(next_seq, 0, PRODUCERS * sizeof(*next_seq));
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		args[i] = (struct producer_arg){ &sh, i, retry };
		pthread_create(&th[i], NULL, producer, &args[i]);
	}
	*bad = 0;
	*got = consume(&sh, next_seq, retry, bad);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	*dropped = atomic_load(&sh.dropped);
	T_ASSERT(ring_used(sh.r) == 0, "ring empty at the end (%zu)", ring_used(sh.r));
	ring_free(sh.r);
}

int main(void)
{
	uint32_t next_seq[PRODUCERS];
	uint64_t got, dropped;
	unsigned bad;
	struct ring *r;

	/* Construction. */
	T_ASSERT(ring_new(0, 8) == NULL, "zero slots refused");
	T_ASSERT(ring_new(8, 0) == NULL, "zero-size slots refused");
	r = ring_new(5, 24);
	T_ASSERT(r && ring_capacity(r) == 8, "capacity rounded up to a power of two");

	/* Single thread: fill, full, drain in order, wrap around. */
	for (int lap = 0; lap < 3; lap++) {
		int filled = 0;

		for (int i = 0; i < 10; i++) {
			uint64_t tk;
			int *slot = ring_claim(r, &tk);

			if (!slot)
				break;
			*slot = lap * 100 + i;
			ring_publish(r, tk);
			filled++;
		}
		T_ASSERT(filled == 8, "lap %d: 8 slots then full (%d)", lap, filled);
		T_ASSERT(ring_used(r) == 8, "lap %d: used 8", lap);
		for (int i = 0; i < 8; i++) {
			int *slot = ring_peek(r);

			T_ASSERT(slot && *slot == lap * 100 + i, "lap %d: FIFO order at %d", lap, i);
			ring_release(r);
		}
		T_ASSERT(ring_peek(r) == NULL, "lap %d: empty after draining", lap);
	}
	/* A claimed but unpublished slot holds back the consumer, not the
	 * other producers. */
	{
		uint64_t ta, tb;
		int *a = ring_claim(r, &ta), *b = ring_claim(r, &tb);

		*b = 2;
		ring_publish(r, tb);
		T_ASSERT(ring_peek(r) == NULL, "consumer waits for the unpublished head");
		*a = 1;
		ring_publish(r, ta);
		T_ASSERT(ring_peek(r) && *(int *)ring_peek(r) == 1, "then sees it");
		ring_release(r);
		T_ASSERT(ring_peek(r) && *(int *)ring_peek(r) == 2, "and the next");
		ring_release(r);
	}
	ring_free(r);
	ring_free(NULL);

	/* Lossless: producers retry, so every record must arrive, once, in
	 * per-producer order. */
	run(64, 200000, true, &got, &dropped, &bad, next_seq);
	T_ASSERT(got == (uint64_t)PRODUCERS * 200000, "all records consumed (%llu)",
		 (unsigned long long)got);
	T_ASSERT(dropped == 0, "no drop when retrying");
	T_ASSERT(bad == 0, "no torn, duplicated or reordered record (%u)", bad);
	for (int i = 0; i < PRODUCERS; i++)
		T_ASSERT(next_seq[i] == 200000, "producer %d complete", i);

	/* Lossy: a tiny ring, producers never wait; what is not consumed was
	 * counted as dropped, exactly. */
	run(8, 300000, false, &got, &dropped, &bad, next_seq);
	T_ASSERT(got + dropped == (uint64_t)PRODUCERS * 300000,
		 "consumed + dropped == produced (%llu + %llu)", (unsigned long long)got,
		 (unsigned long long)dropped);
	T_ASSERT(got > 0, "some records got through");
	T_ASSERT(bad == 0, "accepted records intact and in order (%u)", bad);
	return T_REPORT();
}

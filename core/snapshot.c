/* SPDX-License-Identifier: Apache-2.0 */
/* core/snapshot.c - epoch-protected atomic publication of immutable objects. */
#include "core/snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One cache line per reader so that readers on different CPUs never write
 * to the same line. */
struct snap_slot {
	_Atomic uint64_t active; /* epoch at read_lock, 0 outside */
	atomic_bool used;
	char pad[64 - sizeof(uint64_t) - sizeof(atomic_bool)];
} __attribute__((aligned(64)));

struct snap {
	_Atomic(void *) cur;
	_Atomic uint64_t epoch;
	_Atomic uint64_t generation;
	void (*destroy)(void *obj);
	pthread_mutex_t publish_lock;
	unsigned n_slots;
	struct snap_slot *slots;
};

struct snap *snap_new(void (*destroy)(void *obj), unsigned max_readers)
{
	struct snap *s;

	if (max_readers == 0) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (posix_memalign((void **)&s->slots, 64, max_readers * sizeof(*s->slots))) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	memset(s->slots, 0, max_readers * sizeof(*s->slots));
	s->n_slots = max_readers;
	s->destroy = destroy;
	atomic_init(&s->cur, NULL);
	atomic_init(&s->epoch, 1);
	atomic_init(&s->generation, 0);
	pthread_mutex_init(&s->publish_lock, NULL);
	return s;
}

void snap_free(struct snap *s)
{
	void *obj;

	if (!s)
		return;
	obj = atomic_load(&s->cur);
	if (obj && s->destroy)
		s->destroy(obj);
	pthread_mutex_destroy(&s->publish_lock);
	free(s->slots);
	free(s);
}

int snap_reader_add(struct snap *s)
{
	for (unsigned i = 0; i < s->n_slots; i++) {
		bool expect = false;

		if (atomic_compare_exchange_strong(&s->slots[i].used, &expect, true)) {
			atomic_store(&s->slots[i].active, 0);
			return (int)i;
		}
	}
	return -ENOSPC;
}

void snap_reader_del(struct snap *s, int slot)
{
	if (slot < 0 || (unsigned)slot >= s->n_slots)
		return;
	atomic_store(&s->slots[slot].active, 0);
	atomic_store(&s->slots[slot].used, false);
}

const void *snap_read_lock(struct snap *s, int slot)
{
	struct snap_slot *sl = &s->slots[slot];

	/* Announce the epoch, then read the pointer. Both are sequentially
	 * consistent, as are the writer's swap and its scan: either this load
	 * sees the new object, or the writer's scan sees this announcement and
	 * waits for the unlock. */
	atomic_store(&sl->active, atomic_load_explicit(&s->epoch, memory_order_acquire));
	return atomic_load(&s->cur);
}

void snap_read_unlock(struct snap *s, int slot)
{
	atomic_store_explicit(&s->slots[slot].active, 0, memory_order_release);
}

uint64_t snap_publish(struct snap *s, void *obj)
{
	struct timespec pause = { 0, 20000 };
	uint64_t gen, new_epoch;
	void *old;

	pthread_mutex_lock(&s->publish_lock);
	old = atomic_exchange(&s->cur, obj);
	gen = atomic_fetch_add(&s->generation, 1) + 1;
	new_epoch = atomic_fetch_add(&s->epoch, 1) + 1;
	/* A reader announced with an epoch below new_epoch may hold old; one
	 * that read the new epoch read it after the swap and holds obj. */
	for (unsigned i = 0; i < s->n_slots; i++) {
		for (;;) {
			uint64_t a = atomic_load(&s->slots[i].active);

			if (a == 0 || a >= new_epoch)
				break;
			nanosleep(&pause, NULL);
		}
	}
	if (old && s->destroy)
		s->destroy(old);
	pthread_mutex_unlock(&s->publish_lock);
	return gen;
}

uint64_t snap_generation(const struct snap *s)
{
	return atomic_load(&((struct snap *)s)->generation);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_snap.c - readers racing publishes see whole, live objects,
 * each one either the old or the new, and generations never go back. Under
 * ASan a reader touching a destroyed object is a use-after-free report. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/snapshot.h"
#include "test/unit/test.h"

#define MAGIC 0x5eed5eedu

struct obj {
	unsigned magic;
	uint64_t gen;
	uint64_t payload[8]; /* all equal to gen */
};

static atomic_uint destroyed;

static void obj_destroy(void *p)
{
	struct obj *o = p;

	o->magic = 0;
	atomic_fetch_add(&destroyed, 1);
	free(o);
}

static struct obj *obj_make(uint64_t gen)
{
	struct obj *o = malloc(sizeof(*o));

	o->magic = MAGIC;
	o->gen = gen;
	for (int i = 0; i < 8; i++)
		o->payload[i] = gen;
	return o;
}

struct reader {
	struct snap *s;
	atomic_bool *stop;
	atomic_uint *running; /* readers that have read at least once */
	unsigned long reads, torn, backwards, nulls;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	int slot = snap_reader_add(r->s);
	uint64_t last = 0;

	while (!atomic_load(r->stop)) {
		const struct obj *o = snap_read_lock(r->s, slot);

		if (!o) {
			r->nulls++;
		} else {
			if (o->magic != MAGIC)
				r->torn++;
			for (int i = 0; i < 8; i++)
				if (o->payload[i] != o->gen)
					r->torn++;
			if (o->gen < last)
				r->backwards++;
			last = o->gen;
		}
		snap_read_unlock(r->s, slot);
		if (r->reads++ == 0)
			atomic_fetch_add(r->running, 1);
	}
	snap_reader_del(r->s, slot);
	return NULL;
}

int main(void)
{
	struct snap *s = snap_new(obj_destroy, 4);
	struct reader rd[3];
	pthread_t th[3];
	atomic_bool stop = false;
	atomic_uint running = 0;
	unsigned n_pub = 2000;

	T_ASSERT(s != NULL, "snap_new");
	T_ASSERT(snap_read_lock(s, 0) == NULL, "empty before publish");
	snap_read_unlock(s, 0);
	T_ASSERT(snap_publish(s, obj_make(1)) == 1, "first generation is 1");
	for (int i = 0; i < 3; i++) {
		rd[i] = (struct reader){ .s = s, .stop = &stop, .running = &running };
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	/* On a loaded machine the publisher could finish before a reader ever
	 * ran, and the race under test would not happen: start together. */
	while (atomic_load(&running) < 3)
		sched_yield();
	for (unsigned g = 2; g <= n_pub; g++) {
		uint64_t got = snap_publish(s, obj_make(g));

		if (got != g) {
			T_ASSERT(got == g, "generation %u returned %llu", g, (unsigned long long)got);
			break;
		}
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		T_ASSERT(rd[i].torn == 0, "reader %d saw %lu torn/destroyed objects", i, rd[i].torn);
		T_ASSERT(rd[i].backwards == 0, "reader %d went back %lu times", i, rd[i].backwards);
		T_ASSERT(rd[i].nulls == 0, "reader %d saw NULL", i);
		T_ASSERT(rd[i].reads > 0, "reader %d read", i);
	}
	T_ASSERT(atomic_load(&destroyed) == n_pub - 1, "every replaced object destroyed: %u",
		 atomic_load(&destroyed));
	T_ASSERT(snap_generation(s) == n_pub, "generation count");
	/* Slots are reusable; the fourth is free again. */
	{
		int a = snap_reader_add(s), b = snap_reader_add(s), c = snap_reader_add(s),
		    d = snap_reader_add(s), e = snap_reader_add(s);

		T_ASSERT(a >= 0 && b >= 0 && c >= 0 && d >= 0 && e == -ENOSPC, "slots: %d %d %d %d %d", a, b, c, d, e);
	}
	snap_free(s);
	T_ASSERT(atomic_load(&destroyed) == n_pub, "snap_free destroys the current object");
	return T_REPORT();
}

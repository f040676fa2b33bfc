/* SPDX-License-Identifier: Apache-2.0 */
/* test/bench/snap.c - cost of a snapshot read section (lock + load +
 * unlock) against a bare atomic load and a pthread rwlock read, single
 * threaded and with a publisher swapping objects in a tight loop. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/snapshot.h"

#define N 20000000UL

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void destroy(void *p)
{
	free(p);
}

static atomic_bool stop;
static unsigned long publishes;

static void *publisher(void *arg)
{
	struct snap *s = arg;

	while (!atomic_load(&stop)) {
		int *v = malloc(sizeof(*v));

		*v = 1;
		snap_publish(s, v);
		publishes++;
	}
	return NULL;
}

static double bench_snap(struct snap *s)
{
	int slot = snap_reader_add(s);
	volatile long sum = 0;
	double t = now_s();

	for (unsigned long i = 0; i < N; i++) {
		const int *v = snap_read_lock(s, slot);

		sum += *v;
		snap_read_unlock(s, slot);
	}
	t = now_s() - t;
	snap_reader_del(s, slot);
	return t * 1e9 / N;
}

int main(void)
{
	struct snap *s = snap_new(destroy, 8);
	static _Atomic(int *) plain;
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	int *v = malloc(sizeof(*v)), x = 1;
	volatile long sum = 0;
	double t, ns_atomic, ns_rw, ns_snap, ns_snap_busy;
	pthread_t th;

	*v = 1;
	snap_publish(s, v);
	atomic_store(&plain, &x);
	t = now_s();
	for (unsigned long i = 0; i < N; i++)
		sum += *atomic_load_explicit(&plain, memory_order_acquire);
	ns_atomic = (now_s() - t) * 1e9 / N;
	t = now_s();
	for (unsigned long i = 0; i < N; i++) {
		pthread_rwlock_rdlock(&rw);
		sum += x;
		pthread_rwlock_unlock(&rw);
	}
	ns_rw = (now_s() - t) * 1e9 / N;
	ns_snap = bench_snap(s);
	pthread_create(&th, NULL, publisher, s);
	ns_snap_busy = bench_snap(s);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	printf("snapshot read section: %.1f ns (bare acquire load %.1f ns, rwlock read %.1f ns)\n",
	       ns_snap, ns_atomic, ns_rw);
	printf("snapshot read section while publishing: %.1f ns (%lu publishes meanwhile)\n",
	       ns_snap_busy, publishes);
	printf("ratio snapshot/rwlock: %.2f\n", ns_snap / ns_rw);
	snap_free(s);
	return 0;
}

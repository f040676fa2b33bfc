/* SPDX-License-Identifier: Apache-2.0 */
/* core/metrics.h - Prometheus metrics, /healthz and /readyz over HTTP (libmicrohttpd).
 *
 * Two kinds of figures:
 *  - counted here, by the packet threads: verdicts by kind and mode, and
 *    the verdict latency histogram. Each thread owns one struct metrics_q
 *    (its own cache lines); it writes with plain relaxed stores, no lock,
 *    no atomic read-modify-write; the scraper sums relaxed loads, so a
 *    scrape may lag a packet, never tear a value.
 *  - everything else (per-queue packets, kernel drops, parse errors, store
 *    records, model generation and age, reloads, watch state) is taken at
 *    scrape time from the daemon's status object (the same JSON that
 *    `npshim status --output json` shows), so the two never disagree.
 *
 * The server runs libmicrohttpd's own thread and answers GET (and HEAD):
 *   /metrics  text exposition format 0.0.4
 *   /healthz  200 "ok" while the process and every packet thread are alive
 *   /readyz   200 "ready" once the model is loaded, rules installed and
 *             queues bound; 503 with the reason otherwise
 *
 * Ownership: struct metrics owns its per-thread blocks and the server;
 * metrics_free() stops the server first. Owner: systemd/config helper (issue 7).
 */
#ifndef NPSHIM_CORE_METRICS_H
#define NPSHIM_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define METRICS_DEFAULT_ADDR "127.0.0.1:9632"
#define METRICS_MAX_KINDS 4
#define METRICS_MAX_MODES 4
#define METRICS_LAT_BUCKETS 13 /* finite upper bounds; +Inf is implied */

struct cJSON;
struct metrics;

/* One packet thread's counters. Written by that thread only. */
struct metrics_q {
	uint64_t verdicts[METRICS_MAX_KINDS][METRICS_MAX_MODES];
	uint64_t lat_bucket[METRICS_LAT_BUCKETS + 1]; /* per bucket, not cumulative */
	uint64_t lat_sum_ns;
	uint64_t lat_count;
	uint64_t batch_start_ns; /* 0 outside a batch: the liveness check reads it */
	uint64_t batches;
	uint32_t in_batch;       /* verdicts in the current batch */
} __attribute__((aligned(64)));

struct metrics_ops {
	/* The daemon's status object (new, freed by the caller), or NULL. */
	struct cJSON *(*status)(void *ctx);
	/* Liveness and readiness; false with a reason. */
	bool (*alive)(void *ctx, char *why, size_t whylen);
	bool (*ready)(void *ctx, char *why, size_t whylen);
};

/* kind_names/mode_names label verdicts ("allow", "deny", "would_deny";
 * "enforce", "audit"); the arrays must outlive the metrics. NULL + errno. */
struct metrics *metrics_new(size_t n_queues, const char *const *kind_names, size_t n_kinds,
			    const char *const *mode_names, size_t n_modes);
/* Stops the server if running. NULL is fine. */
void metrics_free(struct metrics *m);

/* The block of packet thread i (< n_queues); NULL when m is NULL. */
struct metrics_q *metrics_queue(struct metrics *m, size_t i);

static inline uint64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void metrics_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* A batch of packets arrived (right after the receive). */
static inline void metrics_q_begin(struct metrics_q *q)
{
	if (!q)
		return;
	q->in_batch = 0;
	metrics_store(&q->batch_start_ns, metrics_now_ns());
}

/* One verdict decided in this batch. */
static inline void metrics_q_verdict(struct metrics_q *q, unsigned kind, unsigned mode)
{
	if (!q || kind >= METRICS_MAX_KINDS || mode >= METRICS_MAX_MODES)
		return;
	metrics_store(&q->verdicts[kind][mode], q->verdicts[kind][mode] + 1);
	q->in_batch++;
}

/* The batch's verdicts were sent: every packet of it waited this long. */
void metrics_q_end(struct metrics_q *q);

/* Index of the histogram bucket for a latency (METRICS_LAT_BUCKETS = +Inf). */
unsigned metrics_lat_bucket(uint64_t ns);

/* A model rebuild finished (ok or not) after seconds. */
void metrics_model_rebuilt(struct metrics *m, double seconds, bool ok);

/* The longest time any packet thread has been inside one batch right now
 * (0 when none is); *which gets its index. For the liveness check. */
uint64_t metrics_longest_batch_ns(struct metrics *m, size_t *which);

/* The exposition text for status (may be NULL: only the figures counted
 * here); ready is exported as npshim_ready. malloc'd, NULL + errno. */
char *metrics_render(struct metrics *m, const struct cJSON *status, bool alive, bool ready);

/* Parse "ADDR:PORT" ("127.0.0.1:9632", "[::1]:9632", "0.0.0.0:9632");
 * false with a reason. Numeric addresses only. */
bool metrics_addr_parse(const char *text, void *sockaddr_storage_out, unsigned *len_out,
			char *why, size_t whylen);

/* Start serving at addr. 0, or -errno with a message in err (address in
 * use, bad address). ops and ctx must outlive the server. */
int metrics_serve(struct metrics *m, const char *addr, const struct metrics_ops *ops, void *ctx,
		  char *err, size_t errlen);
/* Stop the server (the counters stay). NULL is fine. */
void metrics_stop(struct metrics *m);

#endif

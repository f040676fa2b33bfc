/* SPDX-License-Identifier: Apache-2.0 */
/* audit/pipeline.h - flow records from packet threads to SQLite, never blocking.
 *
 * Packet threads call audit_pipeline_submit(): it copies the record into a
 * lock-free multi-producer ring and returns at once (a full ring drops the
 * record and counts it; the packet is never held). One store thread drains
 * the ring, aggregates records into one row per
 *   (minute bucket, src workload, dst workload, protocol, port, verdict,
 *    deny direction, mode, deciding policies)
 * with first/last seen, count and a sample of IPs and pods (memory bounded
 * by max_groups), and writes one transaction per flush interval through
 * store/. Retention (age and size) is pruned in small batches after flushes.
 *
 * Database trouble (disk full, read-only path, corrupted file, locked) never
 * reaches the producers: the store thread keeps draining the ring, counts the
 * records it cannot write, logs the reason once per change of state, and
 * retries with backoff. A corrupted file is renamed to
 * "<path>.corrupt-<UTC timestamp>" and a new database is created.
 *
 * Ownership: the pipeline owns its ring, its thread and its store handle;
 * audit_pipeline_stop() releases all of them. The opts strings are copied.
 */
#ifndef NPSHIM_AUDIT_PIPELINE_H
#define NPSHIM_AUDIT_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/record.h"

struct audit_pipeline;

enum audit_record_scope {
	AUDIT_RECORD_DENIED, /* deny and would-deny only (--record denied) */
	AUDIT_RECORD_ALL,    /* every new connection (--record all) */
};

struct audit_pipeline_opts {
	const char *db_path;        /* required */
	const char *node_name;      /* stored in every row; NULL = hostname */
	enum audit_record_scope record;
	uint64_t retention_s;       /* 0 = keep forever (--retention 7d) */
	uint64_t max_db_bytes;      /* 0 = no limit (--max-db-size 1G) */
	uint32_t flush_interval_ms; /* 0 = 1000 */
	uint32_t ring_slots;        /* 0 = 16384; rounded up to a power of 2 */
	uint32_t max_groups;        /* 0 = 65536 distinct rows held in memory */
};

struct audit_pipeline_stats {
	uint64_t submitted;      /* records accepted into the ring */
	uint64_t filtered;       /* allow records ignored under --record denied */
	uint64_t dropped_full;   /* ring full: producer dropped the record */
	uint64_t dropped_groups; /* aggregation table full */
	uint64_t dropped_store;  /* aggregated records lost to DB errors */
	uint64_t truncated;      /* records with a string cut to fit a slot */
	uint64_t records_written;/* records committed (sum of row counts) */
	uint64_t rows_written;   /* row inserts + updates committed */
	uint64_t flushes;        /* committed transactions */
	uint64_t flush_errors;   /* failed flush attempts */
	uint64_t busy;           /* SQLITE_BUSY seen (another connection) */
	uint64_t pruned;         /* rows removed by retention */
	uint64_t corrupt_moved;  /* corrupted files moved aside */
	bool db_ok;              /* the last attempt succeeded */
	char db_state[160];      /* "ok" or why the DB cannot be written */
};

/**
 * audit_pipeline_start - open (or create) the database and start the store
 * thread.
 *
 * Returns the pipeline, or NULL with a message in @err when the options are
 * invalid or the thread cannot start (errno set). A database that cannot be
 * opened now is NOT fatal: the pipeline starts, reports the reason in its
 * stats and log, and retries, so the daemon keeps deciding packets.
 */
struct audit_pipeline *audit_pipeline_start(const struct audit_pipeline_opts *opts,
					    char *err, size_t errlen);

/**
 * audit_pipeline_submit - hand one record to the store thread.
 *
 * Any thread, any number at once; lock-free, never sleeps, never allocates.
 * Returns true when the record was queued (or deliberately ignored: an allow
 * under AUDIT_RECORD_DENIED); false when it was dropped because the ring was
 * full (counted in dropped_full). @r is only read during the call.
 */
bool audit_pipeline_submit(struct audit_pipeline *p, const struct audit_record *r);

/* True when records with this verdict are kept: lets the caller skip
 * building a record for allowed connections under --record denied. */
bool audit_pipeline_wants(const struct audit_pipeline *p, enum audit_rec_verdict v);

/* A consistent-enough snapshot of the counters (each read atomically). */
void audit_pipeline_stats(const struct audit_pipeline *p, struct audit_pipeline_stats *out);

/**
 * audit_pipeline_flush - ask the store thread to write what it holds now and
 * wait up to @timeout_ms for it. Returns 0, -ETIMEDOUT, or -EIO when the
 * write failed (the reason is in the stats). For tests and shutdown paths;
 * never call it from a packet thread.
 */
int audit_pipeline_flush(struct audit_pipeline *p, unsigned timeout_ms);

/* Stop accepting, drain the ring, write a final transaction, stop the
 * thread, close the database, free everything. NULL is fine. Call only after
 * every producer has stopped submitting. */
void audit_pipeline_stop(struct audit_pipeline *p);

#endif

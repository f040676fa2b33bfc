/* SPDX-License-Identifier: Apache-2.0 */
/* store/store.h - the flow database: schema, migrations, batched writes, retention.
 *
 * One writer per database file (the daemon's store thread); readers use
 * store/query.h and open the file read-only. The schema lives in store.c as
 * embedded SQL and is described in docs/schema.md; user_version says which
 * migration step a file has reached and store_open() applies the missing
 * ones in one transaction. Journal mode is WAL so readers never block the
 * writer; statements are prepared once and re-prepared on SQLITE_SCHEMA.
 *
 * Errors: functions returning int give 0 or -errno, with SQLite's codes
 * mapped so the caller can act on the class of trouble:
 *   -ENOSPC  disk or quota full (SQLITE_FULL)
 *   -EROFS   read-only file, directory or filesystem (SQLITE_READONLY,
 *            SQLITE_CANTOPEN on a path we may not write)
 *   -EUCLEAN the file is not a database or is corrupted (SQLITE_CORRUPT,
 *            SQLITE_NOTADB): move it aside and start over
 *   -EBUSY   locked by another connection beyond the busy timeout
 *   -EIO     any other I/O error; -ENOMEM; -EPROTO for anything else
 * and a message naming the file in store_errmsg().
 *
 * Ownership: struct store owns its sqlite3 handle and statements;
 * store_close() releases them. Strings in a struct store_row are borrowed for
 * the call.
 */
#ifndef NPSHIM_STORE_STORE_H
#define NPSHIM_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 3

/* One aggregated row. On a conflict with an existing row of the same
 * (bucket, key) the counts add up, first/last seen widen, samples are
 * replaced when the new ones are non-empty. The key columns must be a
 * function of @key (they are: it hashes them): they are stored once per
 * key, and a row for an hour already rolled up (store_roll) adds to that
 * hour's and day's rollups at once. */
struct store_row {
	int64_t bucket;      /* Unix seconds, start of the minute */
	uint64_t key;        /* hash of the aggregation key (see pipeline.c) */
	int64_t first_ms;    /* Unix milliseconds */
	int64_t last_ms;
	uint64_t count;      /* records added by this write */
	const char *src_ns;  /* "" for node and external endpoints */
	const char *src_kind;/* Deployment, StatefulSet, CronJob, Pod, Node, External, ... */
	const char *src_name;
	const char *dst_ns;
	const char *dst_kind;
	const char *dst_name;
	uint8_t proto;
	uint16_t port;
	int verdict;         /* enum audit_rec_verdict */
	int mode;            /* enum audit_rec_mode */
	int direction;       /* AUDIT_REC_DIR_* bits */
	const char *policies;/* "ns/name,ns/name" or "" */
	uint64_t generation;
	const char *src_ips; /* samples, comma separated */
	const char *src_pods;
	const char *src_labels;
	const char *dst_ips;
	const char *dst_pods;
	const char *dst_labels;
};

/**
 * store_open - open or create the database at @path for writing, migrate it
 * to STORE_SCHEMA_VERSION, and record @node as the node name of the file.
 * Returns 0 and *out, or -errno (see above) with a message in @err. A file
 * whose user_version is newer than this build is refused (-EPROTO).
 */
int store_open(const char *path, const char *node, struct store **out,
	       char *err, size_t errlen);
void store_close(struct store *s);
/* The last error message, naming the file. Never NULL. */
const char *store_errmsg(const struct store *s);

/* Write transaction: begin, any number of puts, commit. On any failure call
 * store_rollback() (harmless when nothing is open). */
int store_begin(struct store *s);
int store_put(struct store *s, const struct store_row *row);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Recording periods (for the readiness window): store_run_start() adds a
 * run starting at @now_ms with the given --record scope ("denied"/"all");
 * store_run_touch() moves its end to @now_ms (call inside a transaction). */
int store_run_start(struct store *s, int64_t now_ms, const char *record);
int store_run_touch(struct store *s, int64_t now_ms);

/**
 * store_prune - delete at most @batch rows older than @min_bucket (0: no age
 * limit) and, while the database uses more than @max_bytes (0: no limit), at
 * most @batch of the oldest rows; then give free pages back to the file
 * system. One short transaction. *pruned gets the number of minute rows
 * deleted. Rollup rows (flow_hour, flow_day) of hours and days that no
 * longer have any minute row go too, at most @batch of each per call, not
 * counted in *pruned. Returns 0 or -errno. Call again while
 * *pruned == @batch to continue.
 */
int store_prune(struct store *s, int64_t min_bucket, uint64_t max_bytes,
		unsigned batch, uint64_t *pruned);

/**
 * store_roll - roll the next complete hour of minute rows up into the
 * hourly and daily tables, in one transaction with the watermark. An hour
 * is complete two minutes after it ends by @now (Unix s); hours without
 * rows are skipped. Cheap when there is nothing to do (no database
 * access). *more is set when another hour is ready: call again (after the
 * next flush, so a backlog never holds up writing). 0 or -errno.
 */
int store_roll(struct store *s, int64_t now, bool *more);

/* PRAGMA optimize: refresh the query planner's statistics where they are
 * stale (cheap; the writer calls it about once an hour). 0 or -errno. */
int store_optimize(struct store *s);

/* Bytes the database uses (pages in use, not free ones). -errno on error. */
int64_t store_used_bytes(struct store *s);

/* SQLITE_BUSY seen since open (each counted once). */
uint64_t store_busy_count(const struct store *s);

/**
 * store_move_aside - rename a corrupted database (and its -wal, -shm) to
 * "<path>.corrupt-YYYYmmddTHHMMSSZ". @newpath (may be NULL) receives the new
 * name. Returns 0 or -errno.
 */
int store_move_aside(const char *path, char *newpath, size_t len);

/* The embedded schema of version @version's step, for tests and docs; NULL
 * when out of range (1..STORE_SCHEMA_VERSION). */
const char *store_schema_step(int version);

#endif

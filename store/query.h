/* SPDX-License-Identifier: Apache-2.0 */
/* store/query.h - read side of the flow database: filters, grouping, SQL.
 *
 * A reader opens one or more database files READ-ONLY (one per node) and
 * answers every query over all of them at once: the files are attached to
 * one in-memory connection and each query is a UNION ALL of the same
 * filtered select on every file, merged, grouped and sorted by SQLite.
 * Grouped queries and the report read the hourly and daily rollups for the
 * whole hours and days of their window, minute rows for the edges: the
 * answer is the same as from minute rows alone, only faster.
 * Readers never block the writer (WAL). At most STORE_READER_MAX files.
 *
 * Ownership: the reader owns its connection. Values handed to a row
 * callback are valid only during the call.
 */
#ifndef NPSHIM_STORE_QUERY_H
#define NPSHIM_STORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_reader;

#define STORE_READER_MAX 10

enum store_val_type {
	STORE_VAL_NULL,
	STORE_VAL_INT,
	STORE_VAL_REAL,
	STORE_VAL_TEXT,
};

struct store_val {
	enum store_val_type type;
	int64_t i;
	double d;
	const char *s; /* TEXT only */
};

/* Return 0 to continue, anything else stops the query and is returned. */
typedef int (*store_row_fn)(void *ctx, size_t ncols, const char *const *names,
			    const struct store_val *vals);

/* An endpoint filter: "[NAMESPACE/]NAME" or "NAMESPACE/" (the whole
 * namespace). NAME matches the workload name, a sampled pod name or a
 * sampled IP (external and node endpoints are named by IP). A filter on
 * samples (pod, from.name, to.name) can only be answered from minute rows:
 * rollups keep no samples. */
struct store_endpoint_filter {
	const char *ns;   /* NULL = any */
	const char *name; /* NULL = any */
};

struct store_filter {
	const char *ns;       /* src or dst namespace; NULL = all */
	const char *pod;      /* a sampled pod name on either side; NULL = any */
	struct store_endpoint_filter from, to;
	int port;             /* -1 = any */
	int proto;            /* 0 = any */
	int verdict;          /* -1 = any; enum audit_rec_verdict */
	const char *policy;   /* "[NS/]NAME" among the deciding policies */
	int64_t since;        /* Unix s, 0 = none: rows last seen at or after */
	int64_t until;        /* Unix s, 0 = none: rows first seen before */
	/* --follow: only rows whose id is above after_id[i] in file i. */
	const int64_t *after_id;
};

enum store_group {
	STORE_GROUP_NONE,
	STORE_GROUP_SRC,
	STORE_GROUP_DST,
	STORE_GROUP_PAIR,
	STORE_GROUP_PORT,
	STORE_GROUP_POLICY,
};

/**
 * store_reader_open - open @n database files read-only.
 * Returns the reader, or NULL with a message naming the file in @err (a
 * missing file, not a database, a schema this build cannot read, more than
 * STORE_READER_MAX files).
 */
struct store_reader *store_reader_open(const char *const *paths, size_t n,
				       char *err, size_t errlen);
void store_reader_close(struct store_reader *r);
size_t store_reader_count(const struct store_reader *r);

/**
 * store_query_flows - rows (or groups) matching @f, newest last.
 * @limit: 0 = all; otherwise the newest @limit rows (or the @limit biggest
 *         groups).
 * Ungrouped rows carry the columns id and db (index of the file) for
 * --follow; see cmd_flows for the others. Returns 0, the callback's
 * non-zero value, or -1 with @err set.
 */
int store_query_flows(struct store_reader *r, const struct store_filter *f,
		      enum store_group group, uint64_t limit, store_row_fn fn, void *ctx,
		      char *err, size_t errlen);

/**
 * store_query_sql - run one user statement over the views `flows`,
 * `runs`, `flows_hourly` and `flows_daily` (UNION ALL of every file). Only reading is allowed: the files are
 * opened read-only and an authorizer refuses anything but SELECT, reads and
 * functions. Returns 0, the callback's value, or -1 with @err set.
 */
int store_query_sql(struct store_reader *r, const char *sql, store_row_fn fn, void *ctx,
		    char *err, size_t errlen);

/**
 * store_query_report - would-deny flows per namespace and workload for the
 * readiness report, within [since, until). Each row: namespace, kind, name,
 * direction (egress/ingress), peer_namespace, peer_kind, peer_name,
 * protocol, port, policies, count, first_seen_ms, last_seen_ms. A flow
 * denied both ways appears once for each side. Rows are grouped by flow
 * key (an integer, fast) and come in no particular order; a flow whose
 * mode or denying directions changed within the window comes as more than
 * one row with the same visible columns: the caller sorts and merges.
 */
int store_query_report(struct store_reader *r, const char *ns, int64_t since, int64_t until,
		       store_row_fn fn, void *ctx, char *err, size_t errlen);

/* Milliseconds of [since, until) covered by recording periods (runs),
 * merged over all files (overlapping periods of different nodes are
 * counted once), and the first recorded moment in the window (0 if none).
 * Returns 0 or -1 with @err set. */
int store_query_coverage(struct store_reader *r, int64_t since, int64_t until,
			 int64_t *covered_ms, int64_t *first_ms, char *err, size_t errlen);

/* Every namespace that appears on either side of a recorded flow, in any
 * file, sorted, each once: one row with the column namespace. Uses the
 * namespace indexes (a skip scan), not a table scan. */
int store_query_namespaces(struct store_reader *r, store_row_fn fn, void *ctx,
			   char *err, size_t errlen);

/* Highest flow id of each file into ids[0..count-1]. 0 or -1. */
int store_query_max_ids(struct store_reader *r, int64_t *ids, char *err, size_t errlen);

#endif

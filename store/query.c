/* SPDX-License-Identifier: Apache-2.0 */
/* store/query.c - read-only queries over one or more flow databases.
 *
 * Query text is assembled from fixed fragments, the schema names d0..d9
 * and bucket bounds computed here (integers); every value a user gives is
 * bound as a parameter, never pasted into SQL.
 *
 * Grouped queries and the report read the rollups (flow_hour, flow_day,
 * kept by the writer in the same transaction as the minute rows) for the
 * whole hours and days of the window, and minute rows only for its ragged
 * edges: see plan_window(). Each such query runs in one read transaction,
 * so the plan and the rows come from the same snapshot of every file.
 */
#include "store/query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "core/strbuf.h"
#include "store/store.h"

struct store_reader {
	sqlite3 *db;
	size_t n;
	bool sql_views;
	char **paths;
};

/* ---- open ---- */

/* "file:" URI for a path: '%', '?', '#' escaped so any file name works. */
static char *path_uri(const char *path)
{
	size_t n = strlen(path);
	char *u = malloc(n * 3 + 32), *o;

	if (!u)
		return NULL;
	o = u + sprintf(u, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			o += sprintf(o, "%%%02X", (unsigned char)*p);
		else
			*o++ = *p;
	}
	strcpy(o, "?mode=ro");
	return u;
}

void store_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	sqlite3_close_v2(r->db);
	for (size_t i = 0; i < r->n; i++)
		free(r->paths[i]);
	free(r->paths);
	free(r);
}

size_t store_reader_count(const struct store_reader *r)
{
	return r->n;
}

static int check_file(struct store_reader *r, size_t i, const char *path, char *err, size_t errlen)
{
	char sql[64];
	sqlite3_stmt *st;
	int rc, version = -1, tables = 0;

	snprintf(sql, sizeof(sql), "PRAGMA d%zu.user_version", i);
	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			version = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (version < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, sqlite3_errmsg(r->db));
		return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM d%zu.sqlite_schema", i);
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			tables = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (version == 0) {
		snprintf(err, errlen, "%s: %s", path,
			 tables ? "not an npshim flow database (no schema version)"
				: "empty database: nothing recorded yet (is it the path given to 'npshim run --db'?)");
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is newer than this npshim reads (%d)",
			 path, version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version < STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: schema version %d is older than this npshim reads (%d); "
			 "the daemon upgrades it when it next opens the file",
			 path, version, STORE_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

struct store_reader *store_reader_open(const char *const *paths, size_t n,
				       char *err, size_t errlen)
{
	struct store_reader *r;
	int rc;

	if (n == 0 || n > STORE_READER_MAX) {
		snprintf(err, errlen, "between 1 and %d database files can be read at once (got %zu)",
			 STORE_READER_MAX, n);
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat stt;

		if (stat(paths[i], &stt) != 0) {
			snprintf(err, errlen, "%s: %s", paths[i], strerror(errno));
			return NULL;
		}
		if (!S_ISREG(stt.st_mode)) {
			snprintf(err, errlen, "%s: not a regular file", paths[i]);
			errno = EINVAL;
			return NULL;
		}
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->paths = calloc(n, sizeof(char *)))) {
		free(r);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	/* The main database is private and in memory: it only holds the
	 * temporary views that merge the files; the files themselves are
	 * attached read-only. */
	rc = sqlite3_open_v2(":memory:", &r->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open SQLite: %s", sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(r->db, 5000);
	for (size_t i = 0; i < n; i++) {
		char sql[32];
		char *uri = path_uri(paths[i]);
		sqlite3_stmt *st;

		r->paths[i] = strdup(paths[i]);
		if (!uri || !r->paths[i]) {
			free(uri);
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		r->n = i + 1;
		snprintf(sql, sizeof(sql), "ATTACH ?1 AS d%zu", i);
		rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
		}
		free(uri);
		if (rc != SQLITE_DONE) {
			snprintf(err, errlen, "%s: cannot open: %s", paths[i], sqlite3_errmsg(r->db));
			goto fail;
		}
		if (check_file(r, i, paths[i], err, errlen))
			goto fail;
	}
	return r;
fail:
	store_reader_close(r);
	errno = EINVAL;
	return NULL;
}

/* ---- running ---- */

static int run(struct store_reader *r, sqlite3_stmt *st, store_row_fn fn, void *ctx,
	       char *err, size_t errlen)
{
	size_t ncols = (size_t)sqlite3_column_count(st);
	const char **names = calloc(ncols ? ncols : 1, sizeof(*names));
	struct store_val *vals = calloc(ncols ? ncols : 1, sizeof(*vals));
	int rc, ret = 0;

	if (!names || !vals) {
		free(names);
		free(vals);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t c = 0; c < ncols; c++)
		names[c] = sqlite3_column_name(st, (int)c);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (size_t c = 0; c < ncols; c++) {
			struct store_val *v = &vals[c];

			memset(v, 0, sizeof(*v));
			switch (sqlite3_column_type(st, (int)c)) {
			case SQLITE_INTEGER:
				v->type = STORE_VAL_INT;
				v->i = sqlite3_column_int64(st, (int)c);
				break;
			case SQLITE_FLOAT:
				v->type = STORE_VAL_REAL;
				v->d = sqlite3_column_double(st, (int)c);
				break;
			case SQLITE_NULL:
				v->type = STORE_VAL_NULL;
				break;
			default:
				v->type = STORE_VAL_TEXT;
				v->s = (const char *)sqlite3_column_text(st, (int)c);
				if (!v->s)
					v->s = "";
				break;
			}
		}
		ret = fn(ctx, ncols, names, vals);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE) {
		snprintf(err, errlen, "query failed: %s", sqlite3_errmsg(r->db));
		ret = -1;
	}
	free(names);
	free(vals);
	return ret;
}

enum {
	P_NS = 1,
	P_POD,
	P_FROM_NS,
	P_FROM_NAME,
	P_TO_NS,
	P_TO_NAME,
	P_PORT,
	P_PROTO,
	P_VERDICT,
	P_POLICY,
	P_SINCE_MS,
	P_SINCE_BUCKET,
	P_UNTIL_MS,
	P_UNTIL_BUCKET,
	P_LIMIT,
	P_AFTER = 100,
};

/* ---- window plans: which table answers which part of a window ---- */

enum arm_table { ARM_MINUTE, ARM_HOUR, ARM_DAY };

/* Rows of one table with bucket in [lo, hi); INT64_MIN / INT64_MAX: no
 * bound. */
struct arm {
	enum arm_table table;
	int64_t lo, hi;
};

struct plan {
	struct arm arm[5];
	int n;
};

static const char *const arm_table_name[] = { "flow", "flow_hour", "flow_day" };

static int64_t floor_to(int64_t t, int64_t unit)
{
	return t >= 0 ? t / unit * unit : -((-t + unit - 1) / unit) * unit;
}

static int64_t ceil_to(int64_t t, int64_t unit)
{
	return floor_to(t, unit) == t ? t : floor_to(t, unit) + unit;
}

static void plan_add(struct plan *p, enum arm_table t, int64_t lo, int64_t hi)
{
	if (lo < hi)
		p->arm[p->n++] = (struct arm){ t, lo, hi };
}

/**
 * plan_window - split [since, until) (Unix s, 0 = open) for file @i into
 * arms: minute rows for the edges and for the hours not rolled up yet
 * (meta.rolled_until, see store_roll()), flow_hour for whole hours,
 * flow_day for whole days (and the rolled hours of the day being
 * written, when the window reaches past them).
 *
 * A rollup row sums every minute row of its period only while none of them has been pruned; pruning goes oldest first (store.c), so
 * the periods after the one holding the oldest minute row are whole, and
 * rollups are used from there on only. With @rollups false (a filter on
 * sampled pods or IPs, which rollups do not keep) one minute arm.
 * Call inside the read transaction of the query that uses the plan.
 */
static int plan_window(struct store_reader *r, size_t i, int64_t since, int64_t until,
		       bool rollups, struct plan *p, char *err, size_t errlen)
{
	int64_t sb = since ? since / 60 * 60 : INT64_MIN, ub = until ? until : INT64_MAX;
	int64_t minb = 0, maxb = 0, w = 0, ha, e, da, db;
	bool have_min = false;

	p->n = 0;
	if (rollups) {
		char sql[224];
		sqlite3_stmt *st;
		int rc;

		/* Separate subqueries: each of min() and max() alone is one
		 * index probe; together they would scan the table. */
		snprintf(sql, sizeof(sql),
			 "SELECT (SELECT min(bucket) FROM d%zu.flow), (SELECT max(bucket) FROM d%zu.flow),"
			 " (SELECT CAST(value AS INTEGER) FROM d%zu.meta WHERE key = 'rolled_until')", i, i, i);
		rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
				minb = sqlite3_column_int64(st, 0);
				maxb = sqlite3_column_int64(st, 1);
				w = sqlite3_column_int64(st, 2);
				have_min = true;
			}
			sqlite3_finalize(st);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			snprintf(err, errlen, "%s: %s", r->paths[i], sqlite3_errmsg(r->db));
			return -1;
		}
	}
	/* Rollups hold the hours before the watermark w, and (pruning goes
	 * oldest first) are whole from the hour after the oldest minute
	 * row on. */
	ha = floor_to(minb, 3600) + 3600;
	if (since && ceil_to(since, 3600) > ha)
		ha = ceil_to(since, 3600);
	/* An end after every row (the usual "until now") is no end. */
	if (until && maxb + 60 <= until)
		until = 0;
	e = until && floor_to(until, 3600) < w ? floor_to(until, 3600) : w;
	if (!have_min || ha >= e) {
		plan_add(p, ARM_MINUTE, sb, ub);
		return 0;
	}
	plan_add(p, ARM_MINUTE, sb, ha);
	da = floor_to(minb, 86400) + 86400;
	if (ceil_to(ha, 86400) > da)
		da = ceil_to(ha, 86400);
	/* A day row holds the day's rolled hours: all of them, or those
	 * before w for the day w falls in. */
	db = e == w ? e : floor_to(e, 86400);
	if (da < db) {
		plan_add(p, ARM_HOUR, ha, da);
		plan_add(p, ARM_DAY, da, db);
		plan_add(p, ARM_HOUR, db, e);
	} else {
		plan_add(p, ARM_HOUR, ha, e);
	}
	plan_add(p, ARM_MINUTE, e, ub);
	return 0;
}

/* The filters on key columns, on the row with alias t: a minute row
 * (f) or, for rollup arms, which cannot apply them, the flow_keys row (k)
 * of an aggregated flow. */
static void add_key_where(struct strbuf *b, const struct store_filter *f, const char *t)
{
	if (f->port >= 0)
		strbuf_printf(b, " AND %s.port = ?%d", t, P_PORT);
	if (f->proto > 0)
		strbuf_printf(b, " AND %s.proto = ?%d", t, P_PROTO);
	if (f->verdict >= 0)
		strbuf_printf(b, " AND %s.verdict = ?%d", t, P_VERDICT);
	if (f->policy) {
		/* Elements are "ns/name": a bare name matches "/name," and a
		 * qualified one ",ns/name,". */
		if (strchr(f->policy, '/'))
			strbuf_printf(b, " AND instr(',' || %s.policies || ',', ',' || ?%d || ',') > 0",
				      t, P_POLICY);
		else
			strbuf_printf(b, " AND instr(%s.policies || ',', '/' || ?%d || ',') > 0", t,
				      P_POLICY);
	}
}

/* The bucket bounds of an arm; minute arms also get the exact millisecond
 * bounds of the window (rollup arms lie wholly inside it). */
static void add_arm_bounds(struct strbuf *b, const struct arm *a, const struct store_filter *f)
{
	if (a->lo != INT64_MIN)
		strbuf_printf(b, " AND f.bucket >= %lld", (long long)a->lo);
	if (a->hi != INT64_MAX)
		strbuf_printf(b, " AND f.bucket < %lld", (long long)a->hi);
	if (a->table == ARM_MINUTE && f->since)
		strbuf_printf(b, " AND f.last_seen >= ?%d", P_SINCE_MS);
	if (a->table == ARM_MINUTE && f->until)
		strbuf_printf(b, " AND f.first_seen < ?%d", P_UNTIL_MS);
}

/* Reads in one transaction (one snapshot of every file) or not at all. */
static int read_begin(struct store_reader *r, char *err, size_t errlen)
{
	if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot start reading: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

static void read_end(struct store_reader *r)
{
	sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
}

/* side: which arm of a namespace filter this is. "src or dst in NS" is
 * split into two arms (src in NS; dst in NS and src not) so that each can
 * walk its own (ns, bucket) index, newest first, instead of an OR that
 * collects and sorts every row of the namespace. */
static void add_where(struct strbuf *b, const struct store_filter *f, size_t i, int side,
		      const struct arm *arm)
{
	strbuf_printf(b, " WHERE 1");
	if (f->ns && side == 0)
		strbuf_printf(b, " AND f.src_ns = ?%d", P_NS);
	else if (f->ns)
		strbuf_printf(b, " AND f.dst_ns = ?%d AND f.src_ns <> ?%d", P_NS, P_NS);
	if (arm && arm->table != ARM_MINUTE) {
		/* Rollup rows have the namespaces; the other key filters
		 * are applied to flow_keys after aggregation (add_key_where),
		 * and sample filters never reach rollups (plan_window). */
		if (f->from.ns)
			strbuf_printf(b, " AND f.src_ns = ?%d", P_FROM_NS);
		if (f->to.ns)
			strbuf_printf(b, " AND f.dst_ns = ?%d", P_TO_NS);
		add_arm_bounds(b, arm, f);
		return;
	}
	if (f->pod)
		strbuf_printf(b, " AND (instr(',' || f.src_pods || ',', ',' || ?%d || ',') > 0"
			  " OR instr(',' || f.dst_pods || ',', ',' || ?%d || ',') > 0)", P_POD, P_POD);
	if (f->from.ns)
		strbuf_printf(b, " AND f.src_ns = ?%d", P_FROM_NS);
	if (f->from.name)
		strbuf_printf(b, " AND (f.src_name = ?%d OR instr(',' || f.src_pods || ',', ',' || ?%d || ',') > 0"
			  " OR instr(',' || f.src_ips || ',', ',' || ?%d || ',') > 0)",
		       P_FROM_NAME, P_FROM_NAME, P_FROM_NAME);
	if (f->to.ns)
		strbuf_printf(b, " AND f.dst_ns = ?%d", P_TO_NS);
	if (f->to.name)
		strbuf_printf(b, " AND (f.dst_name = ?%d OR instr(',' || f.dst_pods || ',', ',' || ?%d || ',') > 0"
			  " OR instr(',' || f.dst_ips || ',', ',' || ?%d || ',') > 0)",
		       P_TO_NAME, P_TO_NAME, P_TO_NAME);
	add_key_where(b, f, "f");
	if (arm && arm->table == ARM_MINUTE && arm->lo != INT64_MIN && !f->ns && !f->from.ns &&
	    !f->to.ns && f->verdict < 0) {
		/* Nothing narrows the minute rows but time: read them in
		 * table order from the first row of the window on (rows are
		 * appended, so they sit at the end) instead of one lookup
		 * per row from the bucket index. '+' keeps the planner off
		 * that index; a straggler written late into an older minute
		 * is skipped by the bucket test. */
		strbuf_printf(b, " AND f.id >= (SELECT min(id) FROM d%zu.flow INDEXED BY flow_key WHERE bucket >= %lld)"
			  " AND +f.bucket >= %lld", i, (long long)arm->lo, (long long)arm->lo);
		if (arm->hi != INT64_MAX)
			strbuf_printf(b, " AND +f.bucket < %lld", (long long)arm->hi);
		if (f->since)
			strbuf_printf(b, " AND f.last_seen >= ?%d", P_SINCE_MS);
		if (f->until)
			strbuf_printf(b, " AND f.first_seen < ?%d", P_UNTIL_MS);
		return;
	}
	if (arm) {
		add_arm_bounds(b, arm, f);
		return;
	}
	/* The bucket bounds let the (…, bucket) indexes do the work; the
	 * millisecond bounds make the edges exact. */
	if (f->since)
		strbuf_printf(b, " AND f.bucket >= ?%d AND f.last_seen >= ?%d", P_SINCE_BUCKET, P_SINCE_MS);
	if (f->until)
		strbuf_printf(b, " AND f.bucket < ?%d AND f.first_seen < ?%d", P_UNTIL_BUCKET, P_UNTIL_MS);
	if (f->after_id)
		strbuf_printf(b, " AND f.id > ?%zu", (size_t)P_AFTER + i);
}


static void bind_filter(sqlite3_stmt *st, const struct store_filter *f, size_t n)
{
	if (f->ns)
		sqlite3_bind_text(st, P_NS, f->ns, -1, SQLITE_STATIC);
	if (f->pod)
		sqlite3_bind_text(st, P_POD, f->pod, -1, SQLITE_STATIC);
	if (f->from.ns)
		sqlite3_bind_text(st, P_FROM_NS, f->from.ns, -1, SQLITE_STATIC);
	if (f->from.name)
		sqlite3_bind_text(st, P_FROM_NAME, f->from.name, -1, SQLITE_STATIC);
	if (f->to.ns)
		sqlite3_bind_text(st, P_TO_NS, f->to.ns, -1, SQLITE_STATIC);
	if (f->to.name)
		sqlite3_bind_text(st, P_TO_NAME, f->to.name, -1, SQLITE_STATIC);
	if (f->port >= 0)
		sqlite3_bind_int(st, P_PORT, f->port);
	if (f->proto > 0)
		sqlite3_bind_int(st, P_PROTO, f->proto);
	if (f->verdict >= 0)
		sqlite3_bind_int(st, P_VERDICT, f->verdict);
	if (f->policy)
		sqlite3_bind_text(st, P_POLICY, f->policy, -1, SQLITE_STATIC);
	if (f->since) {
		sqlite3_bind_int64(st, P_SINCE_MS, f->since * 1000);
		sqlite3_bind_int64(st, P_SINCE_BUCKET, f->since / 60 * 60);
	}
	if (f->until) {
		sqlite3_bind_int64(st, P_UNTIL_MS, f->until * 1000);
		sqlite3_bind_int64(st, P_UNTIL_BUCKET, f->until);
	}
	for (size_t i = 0; f->after_id && i < n; i++)
		sqlite3_bind_int64(st, P_AFTER + (int)i, f->after_id[i]);
}

#define COLS_RAW                                                                    \
	"f.id AS id, %zu AS db, f.bucket AS bucket, "                               \
	"(SELECT value FROM d%zu.meta WHERE key = 'node') AS node, "                \
	"f.src_ns AS src_ns, f.src_kind AS src_kind, f.src_name AS src_name, "      \
	"f.dst_ns AS dst_ns, f.dst_kind AS dst_kind, f.dst_name AS dst_name, "      \
	"f.proto AS proto, f.port AS port, f.verdict AS verdict, f.mode AS mode, "  \
	"f.direction AS direction, f.policies AS policies, f.count AS count, "      \
	"f.first_seen AS first_seen, f.last_seen AS last_seen, "                    \
	"f.src_ips AS src_ips, f.src_pods AS src_pods, f.dst_ips AS dst_ips, "      \
	"f.dst_pods AS dst_pods, f.fkey AS fkey"

/* A flow's key columns, from flow_keys. */
#define COLS_KEY                                                                    \
	"k.src_ns AS src_ns, k.src_kind AS src_kind, k.src_name AS src_name, "      \
	"k.dst_ns AS dst_ns, k.dst_kind AS dst_kind, k.dst_name AS dst_name, "      \
	"k.proto AS proto, k.port AS port, k.verdict AS verdict, k.policies AS policies"

#define PROTO_TEXT(col)                                                                      \
	"CASE " col " WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 132 THEN 'SCTP' WHEN 1 THEN " \
	"'ICMP' WHEN 58 THEN 'ICMPv6' ELSE CAST(" col " AS TEXT) END"
#define VERDICT_TEXT(col) \
	"CASE " col " WHEN 0 THEN 'allow' WHEN 1 THEN 'deny' WHEN 2 THEN 'would-deny' ELSE CAST(" col " AS TEXT) END"
#define DIR_TEXT(col) \
	"CASE " col " WHEN 1 THEN 'egress' WHEN 2 THEN 'ingress' WHEN 3 THEN 'both' ELSE '' END"
#define MODE_TEXT(col) "CASE " col " WHEN 0 THEN 'enforce' WHEN 1 THEN 'audit' ELSE '' END"

/* ---- per-flow sums ----
 *
 * Grouped queries and the report first sum the rows of their window per
 * flow (fkey; for the report per side and fkey): minute and rollup rows
 * alike, over every file. SQLite would sort every row for that GROUP BY;
 * a hash table here does it in one pass. The few sums are then put in a
 * private temporary table, joined with each file's flow_keys for the key
 * columns, and grouped and sorted by SQLite. */

struct fsum {
	int64_t fkey, count, first, last;
	int db, side;
	bool used;
};

struct fsums {
	struct fsum *v;
	size_t n, cap;
};

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static struct fsum *fsums_slot(struct fsum *v, size_t cap, int64_t fkey, int side)
{
	size_t m = cap - 1, i = (size_t)mix64((uint64_t)fkey + (uint64_t)side) & m;

	while (v[i].used && (v[i].fkey != fkey || v[i].side != side))
		i = (i + 1) & m;
	return &v[i];
}

static int fsums_add(struct fsums *s, int64_t fkey, int side, int db, int64_t count, int64_t first,
		     int64_t last)
{
	struct fsum *e;

	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		struct fsum *v = calloc(cap, sizeof(*v));

		if (!v)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i].used)
				*fsums_slot(v, cap, s->v[i].fkey, s->v[i].side) = s->v[i];
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	e = fsums_slot(s->v, s->cap, fkey, side);
	if (!e->used) {
		*e = (struct fsum){ .fkey = fkey, .count = count, .first = first, .last = last,
				    .db = db, .side = side, .used = true };
		s->n++;
		return 0;
	}
	e->count += count;
	if (first < e->first)
		e->first = first;
	if (last > e->last)
		e->last = last;
	return 0;
}

/* Rows (fkey, side, count, first_seen, last_seen) of @st into @s. */
static int fsums_collect(struct store_reader *r, sqlite3_stmt *st, int db, struct fsums *s,
			 char *err, size_t errlen)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fsums_add(s, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), db,
			      sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
			      sqlite3_column_int64(st, 4))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "query failed: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

/* The sums into temp.agg (private to this reader's in-memory database). */
static int fsums_load(struct store_reader *r, const struct fsums *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_exec(r->db,
			 "CREATE TEMP TABLE IF NOT EXISTS agg(db INTEGER NOT NULL, side INTEGER NOT NULL,"
			 " fkey INTEGER NOT NULL, count INTEGER NOT NULL, first_seen INTEGER NOT NULL,"
			 " last_seen INTEGER NOT NULL); DELETE FROM temp.agg;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "INSERT INTO temp.agg VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &st,
			       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up the query: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	rc = SQLITE_DONE;
	for (size_t i = 0; i < s->cap && rc == SQLITE_DONE; i++) {
		const struct fsum *e = &s->v[i];

		if (!e->used)
			continue;
		sqlite3_bind_int(st, 1, e->db);
		sqlite3_bind_int(st, 2, e->side);
		sqlite3_bind_int64(st, 3, e->fkey);
		sqlite3_bind_int64(st, 4, e->count);
		sqlite3_bind_int64(st, 5, e->first);
		sqlite3_bind_int64(st, 6, e->last);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot set up the query: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

/* Prepare @b (freed) and report a failure as @what. */
static sqlite3_stmt *prepare_sb(struct store_reader *r, struct strbuf *b, const char *what, char *err,
				size_t errlen)
{
	sqlite3_stmt *st = NULL;

	if (b->oom)
		snprintf(err, errlen, "out of memory");
	else if (sqlite3_prepare_v2(r->db, b->s, -1, &st, NULL) != SQLITE_OK)
		snprintf(err, errlen, "cannot prepare the %s: %s", what, sqlite3_errmsg(r->db));
	strbuf_free(b);
	return st;
}

static int query_groups(struct store_reader *r, const struct store_filter *f, enum store_group group,
			uint64_t limit, store_row_fn fn, void *ctx, char *err, size_t errlen)
{
	struct fsums sums = { 0 };
	struct strbuf b = { 0 };
	sqlite3_stmt *st;
	int ret = -1;

	if (read_begin(r, err, errlen))
		return -1;
	/* Per file: every arm of the window (and of both namespace sides),
	 * fkey and the sums only. */
	for (size_t i = 0; i < r->n; i++) {
		struct plan plan;

		if (plan_window(r, i, f->since, f->until, !f->pod && !f->from.name && !f->to.name, &plan,
				err, errlen))
			goto out;
		for (int side = 0; side < (f->ns ? 2 : 1); side++) {
			for (int a = 0; a < plan.n; a++) {
				strbuf_printf(&b, "%sSELECT f.fkey, 0, f.count, f.first_seen, f.last_seen FROM d%zu.%s AS f",
				       side || a ? " UNION ALL " : "", i, arm_table_name[plan.arm[a].table]);
				add_where(&b, f, i, side, &plan.arm[a]);
			}
		}
		st = prepare_sb(r, &b, "query", err, errlen);
		if (!st)
			goto out;
		bind_filter(st, f, r->n);
		ret = fsums_collect(r, st, (int)i, &sums, err, errlen);
		sqlite3_finalize(st);
		if (ret)
			goto out;
		ret = -1;
	}
	if (fsums_load(r, &sums, err, errlen))
		goto out;
	strbuf_printf(&b, "SELECT ");
	switch (group) {
	case STORE_GROUP_SRC:
		strbuf_printf(&b, "src_ns AS src_namespace, src_kind, src_name, ");
		break;
	case STORE_GROUP_DST:
		strbuf_printf(&b, "dst_ns AS dst_namespace, dst_kind, dst_name, ");
		break;
	case STORE_GROUP_PAIR:
		strbuf_printf(&b, "src_ns AS src_namespace, src_kind, src_name, dst_ns AS dst_namespace, dst_kind, "
			   "dst_name, ");
		break;
	case STORE_GROUP_PORT:
		strbuf_printf(&b, "dst_ns AS dst_namespace, dst_kind, dst_name, " PROTO_TEXT("proto") " AS protocol, port, ");
		break;
	case STORE_GROUP_POLICY:
	default:
		strbuf_printf(&b, "policies, ");
		break;
	}
	/* One row per flow here, so COUNT(*) counts distinct flows. CROSS
	 * JOIN keeps the sums outside: each looks its key up by rowid,
	 * instead of a scan of every key with an automatic index on agg. */
	strbuf_printf(&b, VERDICT_TEXT("verdict") " AS verdict, SUM(count) AS count, COUNT(*) AS flows, "
		   "MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen FROM (");
	for (size_t i = 0; i < r->n; i++) {
		strbuf_printf(&b, "%sSELECT " COLS_KEY ", a.count AS count, a.first_seen AS first_seen, "
			   "a.last_seen AS last_seen FROM temp.agg AS a CROSS JOIN d%zu.flow_keys AS k "
			   "ON k.fkey = a.fkey WHERE a.db = %zu",
		       i ? " UNION ALL " : "", i, i);
		add_key_where(&b, f, "k");
	}
	switch (group) {
	case STORE_GROUP_SRC:
		strbuf_printf(&b, ") GROUP BY src_ns, src_kind, src_name, verdict");
		break;
	case STORE_GROUP_DST:
		strbuf_printf(&b, ") GROUP BY dst_ns, dst_kind, dst_name, verdict");
		break;
	case STORE_GROUP_PAIR:
		strbuf_printf(&b, ") GROUP BY src_ns, src_kind, src_name, dst_ns, dst_kind, dst_name, verdict");
		break;
	case STORE_GROUP_PORT:
		strbuf_printf(&b, ") GROUP BY dst_ns, dst_kind, dst_name, proto, port, verdict");
		break;
	default:
		strbuf_printf(&b, ") GROUP BY policies, verdict");
		break;
	}
	strbuf_printf(&b, " ORDER BY count DESC");
	if (limit)
		strbuf_printf(&b, " LIMIT ?%d", P_LIMIT);
	st = prepare_sb(r, &b, "query", err, errlen);
	if (!st)
		goto out;
	bind_filter(st, f, r->n);
	if (limit)
		sqlite3_bind_int64(st, P_LIMIT, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
	ret = run(r, st, fn, ctx, err, errlen);
	sqlite3_finalize(st);
out:
	strbuf_free(&b);
	free(sums.v);
	read_end(r);
	return ret;
}

int store_query_flows(struct store_reader *r, const struct store_filter *f,
		      enum store_group group, uint64_t limit, store_row_fn fn, void *ctx,
		      char *err, size_t errlen)
{
	struct strbuf b = { 0 };
	sqlite3_stmt *st = NULL;
	int ret;

	if (group != STORE_GROUP_NONE)
		return query_groups(r, f, group, limit, fn, ctx, err, errlen);
	strbuf_printf(&b, "SELECT id, db, bucket AS minute, node, src_ns AS src_namespace, src_kind, "
		   "src_name, dst_ns AS dst_namespace, dst_kind, dst_name, "
		   PROTO_TEXT("proto") " AS protocol, port, " VERDICT_TEXT("verdict")
		   " AS verdict, " MODE_TEXT("mode") " AS mode, " DIR_TEXT("direction")
		   " AS direction, policies, count, first_seen, last_seen, src_ips, src_pods, "
		   "dst_ips, dst_pods FROM (SELECT * FROM (");
	for (size_t i = 0; i < r->n; i++) {
		for (int side = 0; side < (f->ns ? 2 : 1); side++) {
			/* With a limit, each arm only needs its own newest
			 * rows: the index gives them without a sort. */
			bool top = limit && !f->after_id;

			if (i || side)
				strbuf_printf(&b, " UNION ALL ");
			if (top)
				strbuf_printf(&b, "SELECT * FROM (");
			strbuf_printf(&b, "SELECT " COLS_RAW " FROM d%zu.flow AS f", i, i, i);
			add_where(&b, f, i, side, NULL);
			if (top)
				strbuf_printf(&b, " ORDER BY f.bucket DESC LIMIT ?%d)", P_LIMIT);
		}
	}
	/* The newest rows, then back to time order for reading. */
	if (f->after_id)
		strbuf_printf(&b, ")) ORDER BY bucket, last_seen, db, id");
	else if (limit)
		strbuf_printf(&b, " ORDER BY bucket DESC, last_seen DESC LIMIT ?%d)) ORDER BY bucket, last_seen, db, id",
		       P_LIMIT);
	else
		strbuf_printf(&b, ")) ORDER BY bucket, last_seen, db, id");
	st = prepare_sb(r, &b, "query", err, errlen);
	if (!st)
		return -1;
	bind_filter(st, f, r->n);
	if (limit && !f->after_id)
		sqlite3_bind_int64(st, P_LIMIT, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
	ret = run(r, st, fn, ctx, err, errlen);
	sqlite3_finalize(st);
	return ret;
}

int store_query_report(struct store_reader *r, const char *ns, int64_t since, int64_t until,
		       store_row_fn fn, void *ctx, char *err, size_t errlen)
{
	struct fsums sums = { 0 };
	struct strbuf b = { 0 };
	sqlite3_stmt *st;
	int ret = -1;

	if (read_begin(r, err, errlen))
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		struct plan plan;

		if (plan_window(r, i, since, until, true, &plan, err, errlen))
			goto out;
		for (int side = 0; side < 2; side++) {
			const char *me = side ? "dst" : "src";

			/* Minute arms can use the (verdict, namespace)
			 * indexes; rollup rows only know namespaces, so
			 * verdict and direction are checked on the key. */
			for (int a = 0; a < plan.n; a++) {
				const struct arm *arm = &plan.arm[a];

				strbuf_printf(&b, "%sSELECT f.fkey, %d, f.count, f.first_seen, f.last_seen FROM d%zu.%s AS f"
					   " WHERE f.%s_ns <> ''",
				       side || a ? " UNION ALL " : "", side, i, arm_table_name[arm->table], me);
				if (arm->lo != INT64_MIN)
					strbuf_printf(&b, " AND f.bucket >= %lld", (long long)arm->lo);
				if (arm->hi != INT64_MAX)
					strbuf_printf(&b, " AND f.bucket < %lld", (long long)arm->hi);
				if (arm->table == ARM_MINUTE)
					strbuf_printf(&b, " AND f.verdict = 2 AND (f.direction & %d) <> 0"
						   " AND f.last_seen >= ?3 AND f.first_seen < ?5", side ? 2 : 1);
				if (ns)
					strbuf_printf(&b, " AND f.%s_ns = ?1", me);
			}
		}
		st = prepare_sb(r, &b, "report", err, errlen);
		if (!st)
			goto out;
		if (ns)
			sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, since * 1000);
		sqlite3_bind_int64(st, 5, until * 1000);
		ret = fsums_collect(r, st, (int)i, &sums, err, errlen);
		sqlite3_finalize(st);
		if (ret)
			goto out;
		ret = -1;
	}
	if (fsums_load(r, &sums, err, errlen))
		goto out;
	strbuf_printf(&b, "SELECT namespace, kind, name, direction, peer_namespace, peer_kind, peer_name, "
		   PROTO_TEXT("proto") " AS protocol, port, policies, count, "
		   "first_seen AS first_seen_ms, last_seen AS last_seen_ms FROM (");
	for (size_t i = 0; i < r->n; i++) {
		for (int side = 0; side < 2; side++) {
			const char *me = side ? "dst" : "src", *peer = side ? "src" : "dst";

			strbuf_printf(&b, "%sSELECT k.%s_ns AS namespace, k.%s_kind AS kind, k.%s_name AS name, "
				   "'%s' AS direction, k.%s_ns AS peer_namespace, k.%s_kind AS peer_kind, "
				   "k.%s_name AS peer_name, k.proto AS proto, k.port AS port, "
				   "k.policies AS policies, a.count AS count, a.first_seen AS first_seen, "
				   "a.last_seen AS last_seen FROM temp.agg AS a CROSS JOIN d%zu.flow_keys AS k "
				   "ON k.fkey = a.fkey WHERE a.db = %zu AND a.side = %d"
				   " AND k.verdict = 2 AND (k.direction & %d) <> 0",
			       i || side ? " UNION ALL " : "", me, me, me, side ? "ingress" : "egress",
			       peer, peer, peer, i, i, side, side ? 2 : 1);
		}
	}
	strbuf_printf(&b, ")");
	st = prepare_sb(r, &b, "report", err, errlen);
	if (!st)
		goto out;
	ret = run(r, st, fn, ctx, err, errlen);
	sqlite3_finalize(st);
out:
	strbuf_free(&b);
	free(sums.v);
	read_end(r);
	return ret;
}

int store_query_coverage(struct store_reader *r, int64_t since, int64_t until,
			 int64_t *covered_ms, int64_t *first_ms, char *err, size_t errlen)
{
	struct strbuf b = { 0 };
	sqlite3_stmt *st;
	int64_t lo = since * 1000, hi = until * 1000;
	int64_t cur_start = -1, cur_end = -1, total = 0;
	int rc;

	*covered_ms = 0;
	*first_ms = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			strbuf_printf(&b, " UNION ALL ");
		strbuf_printf(&b, "SELECT started, last_seen FROM d%zu.runs WHERE last_seen >= ?1 AND started < ?2", i);
	}
	strbuf_printf(&b, " ORDER BY started");
	if (b.oom || sqlite3_prepare_v2(r->db, b.s, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read recording periods: %s",
			 b.oom ? "out of memory" : sqlite3_errmsg(r->db));
		strbuf_free(&b);
		return -1;
	}
	strbuf_free(&b);
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	/* Union of intervals, sorted by start, clipped to the window. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t s = sqlite3_column_int64(st, 0), e = sqlite3_column_int64(st, 1);

		if (s < lo)
			s = lo;
		if (e > hi)
			e = hi;
		if (e < s)
			continue;
		if (!*first_ms || s < *first_ms)
			*first_ms = s;
		if (cur_end < 0 || s > cur_end) {
			if (cur_end >= 0)
				total += cur_end - cur_start;
			cur_start = s;
			cur_end = e;
		} else if (e > cur_end) {
			cur_end = e;
		}
	}
	if (cur_end >= 0)
		total += cur_end - cur_start;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot read recording periods: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	*covered_ms = total;
	return 0;
}

int store_query_namespaces(struct store_reader *r, store_row_fn fn, void *ctx,
			   char *err, size_t errlen)
{
	struct strbuf b = { 0 };
	sqlite3_stmt *st;
	int ret;

	/* A loose index scan per column and file: jump from one namespace to
	 * the next through the (ns, bucket) index, so the cost grows with the
	 * number of namespaces, not of rows. */
	strbuf_printf(&b, "SELECT DISTINCT namespace FROM (");
	for (size_t i = 0; i < r->n; i++) {
		for (int side = 0; side < 2; side++) {
			const char *c = side ? "dst_ns" : "src_ns";

			strbuf_printf(&b, "%sSELECT * FROM (WITH RECURSIVE n(v) AS ("
				   "SELECT (SELECT min(%s) FROM d%zu.flow WHERE %s > '') "
				   "UNION ALL SELECT (SELECT min(%s) FROM d%zu.flow WHERE %s > n.v) "
				   "FROM n WHERE n.v IS NOT NULL) SELECT v AS namespace FROM n WHERE v IS NOT NULL)",
			       i || side ? " UNION ALL " : "", c, i, c, c, i, c);
		}
	}
	strbuf_printf(&b, ") ORDER BY namespace");
	if (b.oom || sqlite3_prepare_v2(r->db, b.s, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot list namespaces: %s",
			 b.oom ? "out of memory" : sqlite3_errmsg(r->db));
		strbuf_free(&b);
		return -1;
	}
	strbuf_free(&b);
	ret = run(r, st, fn, ctx, err, errlen);
	sqlite3_finalize(st);
	return ret;
}

int store_query_max_ids(struct store_reader *r, int64_t *ids, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->n; i++) {
		char sql[64];
		sqlite3_stmt *st;
		int rc;

		snprintf(sql, sizeof(sql), "SELECT coalesce(max(id), 0) FROM d%zu.flow", i);
		rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				ids[i] = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		if (rc != SQLITE_ROW) {
			snprintf(err, errlen, "%s: %s", r->paths[i], sqlite3_errmsg(r->db));
			return -1;
		}
	}
	return 0;
}

/* Reads only: a statement may select, read columns, call functions and
 * recurse, nothing else (no PRAGMA, ATTACH, temp tables, writes). */
static int authorize_read(void *ctx, int action, const char *a, const char *b,
			  const char *db, const char *trigger)
{
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	default:
		return SQLITE_DENY;
	}
}

static int make_sql_views(struct store_reader *r, char *err, size_t errlen)
{
	static const char *const views[] = { "flows", "runs", "flows_hourly", "flows_daily" };
	struct strbuf b = { 0 };
	char *msg = NULL;

	if (r->sql_views)
		return 0;
	for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
		strbuf_printf(&b, "CREATE TEMP VIEW %s AS ", views[v]);
		for (size_t i = 0; i < r->n; i++)
			strbuf_printf(&b, "%sSELECT * FROM d%zu.%s", i ? " UNION ALL " : "", i, views[v]);
		strbuf_printf(&b, ";");
	}
	if (b.oom || sqlite3_exec(r->db, b.s, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up the views: %s", msg ? msg : "out of memory");
		sqlite3_free(msg);
		strbuf_free(&b);
		return -1;
	}
	strbuf_free(&b);
	r->sql_views = true;
	return 0;
}

int store_query_sql(struct store_reader *r, const char *sql, store_row_fn fn, void *ctx,
		    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc, ret;

	if (make_sql_views(r, err, errlen))
		return -1;
	sqlite3_set_authorizer(r->db, authorize_read, NULL);
	/* Left installed: a statement re-prepared during the steps (the
	 * writer changed a schema) is checked again. */
	rc = sqlite3_prepare_v2(r->db, sql, -1, &st, &tail);
	if (rc != SQLITE_OK) {
		const char *m = sqlite3_errmsg(r->db);

		if (rc == SQLITE_AUTH)
			snprintf(err, errlen, "--sql: only reading is allowed (SELECT over the views "
					      "flows and runs): %s", m);
		else
			snprintf(err, errlen, "--sql: %s", m);
		return -1;
	}
	if (!st) {
		snprintf(err, errlen, "--sql: no statement given");
		return -1;
	}
	while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';'))
		tail++;
	if (tail && *tail) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "--sql: one statement only; remove what follows \"%.40s\"", tail);
		return -1;
	}
	if (!sqlite3_stmt_readonly(st)) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "--sql: only reading is allowed");
		return -1;
	}
	ret = run(r, st, fn, ctx, err, errlen);
	sqlite3_finalize(st);
	return ret;
}

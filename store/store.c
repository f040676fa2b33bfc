/* SPDX-License-Identifier: Apache-2.0 */
/* store/store.c - SQLite flow database: schema, migrations, writes, retention.
 *
 * Schema (documented for users in docs/schema.md; the `flows` view is the
 * stable interface, the `flow` table may gain columns):
 *
 *   meta(key, value)       node = node name of this file, created = Unix s
 *   flow                   one row per (bucket, fkey): a minute of one
 *                          aggregated flow; times are Unix seconds (bucket)
 *                          and milliseconds (first_seen, last_seen);
 *                          proto is the IP protocol number; verdict 0 allow,
 *                          1 deny, 2 would-deny; mode 0 enforce, 1 audit;
 *                          direction bits 1 egress, 2 ingress; policies
 *                          "ns/name,..."; src_ips, dst_pods etc. comma separated
 *                          samples; fkey a 64-bit hash of the aggregation key
 *   runs                   periods during which a daemon was recording
 *                          (started, last_seen in ms; record denied|all)
 *   flows (view)           readable columns: RFC 3339 times, protocol,
 *                          verdict, mode and direction as words
 *   flow_keys              the key columns of each fkey, once
 *   flow_hour, flow_day    rollups: per hour (day) and fkey, the sums of
 *                          the minute rows; hours before meta.rolled_until
 *                          only (see schema_v3)
 *   flows_hourly, flows_daily (views)  readable rollups
 *
 * Migration steps are applied in order from the file's user_version; each
 * step is one embedded SQL script and the whole upgrade is one transaction.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* Version 1: the flow table and its indexes. Kept verbatim: files created
 * by it exist. */
static const char schema_v1[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;\n"
	"CREATE TABLE flow(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  bucket INTEGER NOT NULL,\n"
	"  fkey INTEGER NOT NULL,\n"
	"  first_seen INTEGER NOT NULL,\n"
	"  last_seen INTEGER NOT NULL,\n"
	"  count INTEGER NOT NULL,\n"
	"  src_ns TEXT NOT NULL, src_kind TEXT NOT NULL, src_name TEXT NOT NULL,\n"
	"  dst_ns TEXT NOT NULL, dst_kind TEXT NOT NULL, dst_name TEXT NOT NULL,\n"
	"  proto INTEGER NOT NULL, port INTEGER NOT NULL,\n"
	"  verdict INTEGER NOT NULL, mode INTEGER NOT NULL, direction INTEGER NOT NULL,\n"
	"  policies TEXT NOT NULL,\n"
	"  generation INTEGER NOT NULL,\n"
	"  src_ips TEXT NOT NULL DEFAULT '', src_pods TEXT NOT NULL DEFAULT '',\n"
	"  dst_ips TEXT NOT NULL DEFAULT '', dst_pods TEXT NOT NULL DEFAULT ''\n"
	");\n"
	"CREATE UNIQUE INDEX flow_key ON flow(bucket, fkey);\n"
	"CREATE INDEX flow_src ON flow(src_ns, bucket);\n"
	"CREATE INDEX flow_dst ON flow(dst_ns, bucket);\n";

/* Version 2: label samples, recording periods, the (verdict, namespace)
 * indexes that the readiness report and `flows -n NS --verdict V` use,
 * and the readable view. */
static const char schema_v2[] =
	"ALTER TABLE flow ADD COLUMN src_labels TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE flow ADD COLUMN dst_labels TEXT NOT NULL DEFAULT '';\n"
	"CREATE TABLE runs(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  node TEXT NOT NULL,\n"
	"  started INTEGER NOT NULL,\n"
	"  last_seen INTEGER NOT NULL,\n"
	"  record TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX flow_verdict_src ON flow(verdict, src_ns, bucket);\n"
	"CREATE INDEX flow_verdict_dst ON flow(verdict, dst_ns, bucket);\n"
	"DROP VIEW IF EXISTS flows;\n"
	"CREATE VIEW flows AS SELECT\n"
	"  id,\n"
	"  strftime('%Y-%m-%dT%H:%M:%SZ', bucket, 'unixepoch') AS minute,\n"
	"  (SELECT value FROM meta WHERE key = 'node') AS node,\n"
	"  src_ns AS src_namespace, src_kind, src_name,\n"
	"  dst_ns AS dst_namespace, dst_kind, dst_name,\n"
	"  CASE proto WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 132 THEN 'SCTP'\n"
	"    WHEN 1 THEN 'ICMP' WHEN 58 THEN 'ICMPv6' ELSE CAST(proto AS TEXT) END AS protocol,\n"
	"  port,\n"
	"  CASE verdict WHEN 0 THEN 'allow' WHEN 1 THEN 'deny' WHEN 2 THEN 'would-deny'\n"
	"    ELSE CAST(verdict AS TEXT) END AS verdict,\n"
	"  CASE mode WHEN 0 THEN 'enforce' WHEN 1 THEN 'audit' ELSE CAST(mode AS TEXT) END AS mode,\n"
	"  CASE direction WHEN 1 THEN 'egress' WHEN 2 THEN 'ingress' WHEN 3 THEN 'both'\n"
	"    ELSE '' END AS direction,\n"
	"  policies, count,\n"
	"  strftime('%Y-%m-%dT%H:%M:%fZ', first_seen / 1000.0, 'unixepoch') AS first_seen,\n"
	"  strftime('%Y-%m-%dT%H:%M:%fZ', last_seen / 1000.0, 'unixepoch') AS last_seen,\n"
	"  src_ips, src_pods, src_labels, dst_ips, dst_pods, dst_labels,\n"
	"  generation,\n"
	"  bucket AS minute_unix, first_seen AS first_seen_ms, last_seen AS last_seen_ms\n"
	"FROM flow;\n";

/* Version 3: hourly and daily rollups of `flow`, so that grouped queries
 * and the readiness report over hours or days read one row per flow and
 * hour (or day) instead of one per minute. The writer rolls an hour up in
 * one transaction once it is over (store_roll), advancing the watermark
 * meta.rolled_until in the same transaction; a minute row written later
 * into a rolled hour adds to its rollups in the transaction that writes
 * it. Readers use rollups below the watermark only, so what they read is
 * always exactly the sum of the minute rows. (Rolling per minute row
 * instead costs the writer about 2.5 times its ingest rate.)
 *
 * The key columns of a flow are a function of fkey (it hashes them), so
 * they are stored once, in flow_keys, and a rollup row is narrow: bucket,
 * fkey, the two namespaces (what readers select on before aggregating)
 * and the sums. Readers aggregate rollup rows per fkey from the covering
 * namespace indexes, then look up the few distinct keys. WITHOUT ROWID:
 * the primary key (bucket, fkey) is the row order, so a window without a
 * namespace is one contiguous range. Existing minute rows are rolled up
 * here, in the migration. */
#define ROLLUP_TABLE(name)                                                              \
	"CREATE TABLE " name "(\n"                                                      \
	"  bucket INTEGER NOT NULL,\n"                                                  \
	"  fkey INTEGER NOT NULL,\n"                                                    \
	"  src_ns TEXT NOT NULL,\n"                                                     \
	"  dst_ns TEXT NOT NULL,\n"                                                     \
	"  count INTEGER NOT NULL,\n"                                                   \
	"  first_seen INTEGER NOT NULL,\n"                                              \
	"  last_seen INTEGER NOT NULL,\n"                                               \
	"  PRIMARY KEY(bucket, fkey)\n"                                                 \
	") WITHOUT ROWID;\n"
#define ROLLUP_COLS "fkey, src_ns, dst_ns, sum(count), min(first_seen), max(last_seen)"
/* Covering: with the primary key columns every index entry carries, a
 * namespace and a window are answered from the index alone. */
#define ROLLUP_INDEXES(name)                                                            \
	"CREATE INDEX " name "_src ON " name "(src_ns, bucket, count, first_seen, last_seen);\n" \
	"CREATE INDEX " name "_dst ON " name "(dst_ns, bucket, src_ns, count, first_seen, last_seen);\n"
#define ROLLUP_VIEW(view, table, unit, fmt)                                             \
	"CREATE VIEW " view " AS SELECT\n"                                              \
	"  strftime('" fmt "', r.bucket, 'unixepoch') AS " unit ",\n"                   \
	"  (SELECT value FROM meta WHERE key = 'node') AS node,\n"                      \
	"  k.src_ns AS src_namespace, k.src_kind AS src_kind, k.src_name AS src_name,\n" \
	"  k.dst_ns AS dst_namespace, k.dst_kind AS dst_kind, k.dst_name AS dst_name,\n" \
	"  CASE k.proto WHEN 6 THEN 'TCP' WHEN 17 THEN 'UDP' WHEN 132 THEN 'SCTP'\n"     \
	"    WHEN 1 THEN 'ICMP' WHEN 58 THEN 'ICMPv6' ELSE CAST(k.proto AS TEXT) END AS protocol,\n" \
	"  k.port AS port,\n"                                                           \
	"  CASE k.verdict WHEN 0 THEN 'allow' WHEN 1 THEN 'deny' WHEN 2 THEN 'would-deny'\n" \
	"    ELSE CAST(k.verdict AS TEXT) END AS verdict,\n"                            \
	"  CASE k.mode WHEN 0 THEN 'enforce' WHEN 1 THEN 'audit' ELSE CAST(k.mode AS TEXT) END AS mode,\n" \
	"  CASE k.direction WHEN 1 THEN 'egress' WHEN 2 THEN 'ingress' WHEN 3 THEN 'both'\n" \
	"    ELSE '' END AS direction,\n"                                               \
	"  k.policies AS policies, r.count AS count,\n"                                 \
	"  strftime('%Y-%m-%dT%H:%M:%fZ', r.first_seen / 1000.0, 'unixepoch') AS first_seen,\n" \
	"  strftime('%Y-%m-%dT%H:%M:%fZ', r.last_seen / 1000.0, 'unixepoch') AS last_seen,\n" \
	"  r.bucket AS " unit "_unix, r.first_seen AS first_seen_ms, r.last_seen AS last_seen_ms\n" \
	"FROM " table " AS r JOIN flow_keys AS k ON k.fkey = r.fkey;\n"

static const char schema_v3[] =
	"CREATE TABLE flow_keys(\n"
	"  fkey INTEGER PRIMARY KEY,\n"
	"  src_ns TEXT NOT NULL, src_kind TEXT NOT NULL, src_name TEXT NOT NULL,\n"
	"  dst_ns TEXT NOT NULL, dst_kind TEXT NOT NULL, dst_name TEXT NOT NULL,\n"
	"  proto INTEGER NOT NULL, port INTEGER NOT NULL,\n"
	"  verdict INTEGER NOT NULL, mode INTEGER NOT NULL, direction INTEGER NOT NULL,\n"
	"  policies TEXT NOT NULL\n"
	");\n"
	"INSERT INTO flow_keys SELECT fkey, src_ns, src_kind, src_name, dst_ns, dst_kind, dst_name,"
	" proto, port, verdict, mode, direction, policies FROM flow GROUP BY fkey;\n"
	ROLLUP_TABLE("flow_hour")
	"INSERT INTO flow_hour SELECT bucket / 3600 * 3600, " ROLLUP_COLS
	" FROM flow GROUP BY bucket / 3600 * 3600, fkey ORDER BY 1, 2;\n"
	ROLLUP_TABLE("flow_day")
	"INSERT INTO flow_day SELECT bucket / 86400 * 86400, " ROLLUP_COLS
	" FROM flow_hour GROUP BY bucket / 86400 * 86400, fkey ORDER BY 1, 2;\n"
	ROLLUP_INDEXES("flow_hour")
	ROLLUP_INDEXES("flow_day")
	/* Keys no day row refers to any more are pruned through it. */
	"CREATE INDEX flow_day_fkey ON flow_day(fkey);\n"
	/* Every hour up to the newest is rolled up now; later minutes
	 * are rolled when their hour is over (store_roll). */
	"INSERT OR REPLACE INTO meta(key, value) SELECT 'rolled_until',"
	" coalesce(max(bucket) / 3600 * 3600 + 3600, 0) FROM flow;\n"
	ROLLUP_VIEW("flows_hourly", "flow_hour", "hour", "%Y-%m-%dT%H:00:00Z")
	ROLLUP_VIEW("flows_daily", "flow_day", "day", "%Y-%m-%dT00:00:00Z");

static const char *const schema_steps[] = { NULL, schema_v1, schema_v2, schema_v3 };

_Static_assert(sizeof(schema_steps) / sizeof(schema_steps[0]) == STORE_SCHEMA_VERSION + 1,
	       "one schema step per version");

enum {
	ST_UPSERT,
	ST_KEY,
	ST_UPSERT_HOUR,
	ST_UPSERT_DAY,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_RUN_INSERT,
	ST_RUN_TOUCH,
	ST_PRUNE_AGE,
	ST_PRUNE_RUNS,
	ST_PRUNE_OLDEST,
	ST_PRUNE_HOUR,
	ST_PRUNE_DAY,
	ST_PRUNE_KEYS,
	ST_ROLL_NEXT,
	ST_ROLL_HOUR,
	ST_ROLL_DAY,
	ST_ROLL_MARK,
	ST_PAGE_COUNT,
	ST_FREELIST,
	ST_PAGE_SIZE,
	ST_VACUUM,
	ST_OPTIMIZE,
	ST__COUNT,
};

#define ROLLUP_UPSERT(table, unit)                                                      \
	"INSERT INTO " table "(bucket, fkey, src_ns, dst_ns, count, first_seen, last_seen)" \
	" VALUES(?1 / " unit " * " unit ", ?2, ?6, ?9, ?5, ?3, ?4)"                   \
	" ON CONFLICT(bucket, fkey) DO UPDATE SET"                                    \
	" count = count + excluded.count,"                                            \
	" first_seen = min(first_seen, excluded.first_seen),"                         \
	" last_seen = max(last_seen, excluded.last_seen)"

/* Rollup rows of periods (hours, days) that have no minute row left:
 * everything before the period holding the oldest minute row. A period
 * whose minutes are only partly pruned keeps its rollup row; readers use
 * rollups only from the period after the oldest minute row on (see
 * store/query.c), so they never count a pruned minute. */
#define ROLLUP_PRUNE(table, unit)                                                       \
	"DELETE FROM " table " WHERE (bucket, fkey) IN (SELECT bucket, fkey FROM " table \
	" WHERE bucket < coalesce((SELECT min(bucket) FROM flow), 9223372036854775807)" \
	" / " unit " * " unit " LIMIT ?1)"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_KEY] = "INSERT OR IGNORE INTO flow_keys(fkey, src_ns, src_kind, src_name, dst_ns, dst_kind,"
		   " dst_name, proto, port, verdict, mode, direction, policies)"
		   " VALUES(?2, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
	/* Every key of a rolled hour has a day row while the day has minute
	 * rows; the keys of the hours not rolled yet are in those minutes. */
	[ST_PRUNE_KEYS] = "DELETE FROM flow_keys WHERE fkey IN (SELECT fkey FROM flow_keys AS k"
			  " WHERE NOT EXISTS (SELECT 1 FROM flow_day AS d WHERE d.fkey = k.fkey)"
			  " AND k.fkey NOT IN (SELECT fkey FROM flow WHERE bucket >= ?2) LIMIT ?1)",
	[ST_ROLL_NEXT] = "SELECT min(bucket) FROM flow WHERE bucket >= ?1",
	[ST_ROLL_HOUR] = "INSERT INTO flow_hour(bucket, fkey, src_ns, dst_ns, count, first_seen, last_seen)"
			 " SELECT ?1, " ROLLUP_COLS " FROM flow WHERE bucket >= ?1 AND bucket < ?1 + 3600"
			 " GROUP BY fkey ORDER BY fkey",
	[ST_ROLL_DAY] = "INSERT INTO flow_day(bucket, fkey, src_ns, dst_ns, count, first_seen, last_seen)"
			" SELECT ?1 / 86400 * 86400, fkey, src_ns, dst_ns, count, first_seen, last_seen"
			" FROM flow_hour WHERE bucket = ?1 ORDER BY fkey"
			" ON CONFLICT(bucket, fkey) DO UPDATE SET"
			" count = count + excluded.count,"
			" first_seen = min(first_seen, excluded.first_seen),"
			" last_seen = max(last_seen, excluded.last_seen)",
	[ST_ROLL_MARK] = "INSERT OR REPLACE INTO meta(key, value) VALUES('rolled_until', ?1)",
	[ST_UPSERT_HOUR] = ROLLUP_UPSERT("flow_hour", "3600"),
	[ST_UPSERT_DAY] = ROLLUP_UPSERT("flow_day", "86400"),
	[ST_PRUNE_HOUR] = ROLLUP_PRUNE("flow_hour", "3600"),
	[ST_PRUNE_DAY] = ROLLUP_PRUNE("flow_day", "86400"),
	[ST_UPSERT] =
		"INSERT INTO flow(bucket, fkey, first_seen, last_seen, count,"
		" src_ns, src_kind, src_name, dst_ns, dst_kind, dst_name,"
		" proto, port, verdict, mode, direction, policies, generation,"
		" src_ips, src_pods, src_labels, dst_ips, dst_pods, dst_labels)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
		" ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
		" ON CONFLICT(bucket, fkey) DO UPDATE SET"
		" count = count + excluded.count,"
		" first_seen = min(first_seen, excluded.first_seen),"
		" last_seen = max(last_seen, excluded.last_seen),"
		" generation = max(generation, excluded.generation),"
		" src_ips = CASE WHEN excluded.src_ips <> '' THEN excluded.src_ips ELSE src_ips END,"
		" src_pods = CASE WHEN excluded.src_pods <> '' THEN excluded.src_pods ELSE src_pods END,"
		" src_labels = CASE WHEN excluded.src_labels <> '' THEN excluded.src_labels ELSE src_labels END,"
		" dst_ips = CASE WHEN excluded.dst_ips <> '' THEN excluded.dst_ips ELSE dst_ips END,"
		" dst_pods = CASE WHEN excluded.dst_pods <> '' THEN excluded.dst_pods ELSE dst_pods END,"
		" dst_labels = CASE WHEN excluded.dst_labels <> '' THEN excluded.dst_labels ELSE dst_labels END",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_RUN_INSERT] = "INSERT INTO runs(node, started, last_seen, record) VALUES(?1, ?2, ?2, ?3)",
	[ST_RUN_TOUCH] = "UPDATE runs SET last_seen = max(last_seen, ?2) WHERE id = ?1",
	/* Oldest first, as the size limit does: rollups are read only from
	 * the hour after the oldest minute row on (store/query.c). */
	[ST_PRUNE_AGE] = "DELETE FROM flow WHERE id IN"
			 " (SELECT id FROM flow WHERE bucket < ?1 ORDER BY bucket LIMIT ?2)",
	[ST_PRUNE_RUNS] = "DELETE FROM runs WHERE last_seen < ?1 * 1000",
	[ST_PRUNE_OLDEST] = "DELETE FROM flow WHERE id IN"
			    " (SELECT id FROM flow ORDER BY bucket LIMIT ?1)",
	[ST_PAGE_COUNT] = "PRAGMA page_count",
	[ST_FREELIST] = "PRAGMA freelist_count",
	[ST_PAGE_SIZE] = "PRAGMA page_size",
	[ST_VACUUM] = "PRAGMA incremental_vacuum(4096)",
	[ST_OPTIMIZE] = "PRAGMA optimize",
};

struct store {
	sqlite3 *db;
	char *path;
	char *node;
	sqlite3_stmt *st[ST__COUNT];
	int64_t run_id;
	bool in_tx;
	bool keys_pending; /* day rows were pruned: flow_keys may hold orphans */
	int64_t rolled;    /* meta.rolled_until: hours before it are rolled up; 0 unset */
	uint64_t busy;
	char msg[512];
};

const char *store_schema_step(int version)
{
	if (version < 1 || version > STORE_SCHEMA_VERSION)
		return NULL;
	return schema_steps[version];
}

/* Map an SQLite result to -errno (see store.h) and remember the message. */
static int fail(struct store *s, int rc, const char *what)
{
	int sys = s->db ? sqlite3_system_errno(s->db) : 0;
	int prim = rc & 0xff;
	int ret;

	switch (prim) {
	case SQLITE_FULL:
		ret = -ENOSPC;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		ret = -EROFS;
		break;
	case SQLITE_CANTOPEN:
		/* SQLite retries a failed create read-only, so the errno it
		 * keeps is often ENOENT from the retry; ask the system what
		 * is really wrong with creating the file. */
		if (s->path) {
			int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

			if (fd >= 0)
				close(fd);
			else
				sys = errno;
		}
		if (sys == EACCES || sys == EROFS || sys == EPERM)
			ret = -EROFS;
		else if (sys == ENOENT || sys == ENOTDIR)
			ret = -ENOENT;
		else if (sys == ENOSPC || sys == EDQUOT)
			ret = -ENOSPC;
		else
			ret = -EIO;
		break;
	case SQLITE_IOERR:
		if (sys == ENOSPC || sys == EDQUOT)
			ret = -ENOSPC;
		else if (sys == EROFS || sys == EACCES || sys == EPERM)
			ret = -EROFS;
		else
			ret = -EIO;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		ret = -EUCLEAN;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		s->busy++;
		ret = -EBUSY;
		break;
	case SQLITE_NOMEM:
		ret = -ENOMEM;
		break;
	default:
		ret = -EPROTO;
		break;
	}
	snprintf(s->msg, sizeof(s->msg), "%s: %s: %s%s%s", s->path, what,
		 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
		 sys ? ": " : "", sys ? strerror(sys) : "");
	return ret;
}

static int prepare_all(struct store *s)
{
	for (int i = 0; i < ST__COUNT; i++) {
		int rc;

		sqlite3_finalize(s->st[i]);
		s->st[i] = NULL;
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&s->st[i], NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc, "preparing statements");
	}
	return 0;
}

/* Run a statement that returns no rows (or whose rows we ignore). On
 * SQLITE_SCHEMA (another connection changed the schema under a statement
 * prepare_v3 could not refresh) re-prepare everything and retry once. */
static int step_done(struct store *s, int idx, const char *what)
{
	for (int attempt = 0;; attempt++) {
		sqlite3_stmt *st = s->st[idx];
		int rc;

		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return 0;
		if ((rc & 0xff) == SQLITE_SCHEMA && attempt == 0) {
			/* Bindings are lost with the old statement; only
			 * statements without parameters are retried here. */
			if (sqlite3_bind_parameter_count(st) == 0 && prepare_all(s) == 0)
				continue;
		}
		return fail(s, rc, what);
	}
}

static int64_t query_int(struct store *s, int idx, int *err)
{
	sqlite3_stmt *st = s->st[idx];
	int rc = sqlite3_step(st);
	int64_t v = 0;

	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	*err = rc == SQLITE_DONE ? 0 : fail(s, rc, "reading database size");
	return v;
}

static int exec(struct store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

static int get_user_version(struct store *s, int *version)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the schema version");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : fail(s, rc, "reading the schema version");
}

static int migrate(struct store *s)
{
	char sql[64];
	int version, ret;

	ret = get_user_version(s, &version);
	if (ret)
		return ret;
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(s->msg, sizeof(s->msg),
			 "%s: schema version %d is newer than this npshim understands (%d)",
			 s->path, version, STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	ret = exec(s, "BEGIN IMMEDIATE", "starting the schema migration");
	if (ret)
		return ret;
	/* Re-read inside the write lock: another writer may have migrated
	 * the file since. */
	ret = get_user_version(s, &version);
	for (int v = version + 1; !ret && v <= STORE_SCHEMA_VERSION; v++) {
		char what[64];

		snprintf(what, sizeof(what), "migrating the schema to version %d", v);
		ret = exec(s, schema_steps[v], what);
	}
	if (!ret && version == 0) {
		char created[32];
		sqlite3_stmt *st;
		int rc;

		snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
		rc = sqlite3_prepare_v2(s->db,
					"INSERT OR REPLACE INTO meta(key, value) VALUES('created', ?1)",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, created, -1, SQLITE_TRANSIENT);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
		}
		if (rc != SQLITE_OK)
			ret = fail(s, rc, "writing meta");
	}
	if (!ret) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
		ret = exec(s, sql, "setting the schema version");
	}
	if (!ret)
		ret = exec(s, "COMMIT", "committing the schema migration");
	if (ret)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

static int set_node(struct store *s)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
				    "INSERT INTO meta(key, value) VALUES('node', ?1)"
				    " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
				    " WHERE value <> excluded.value",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(s, rc, "writing the node name");
	sqlite3_bind_text(st, 1, s->node, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "writing the node name");
}

static int load_rolled(struct store *s)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'rolled_until'",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(s, rc, "reading the rollup watermark");
	rc = sqlite3_step(st);
	s->rolled = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, rc, "reading the rollup watermark");
}

int store_open(const char *path, const char *node, struct store **out,
	       char *err, size_t errlen)
{
	struct store *s;
	char *mode = NULL;
	int rc, ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path)) || !(s->node = strdup(node ? node : ""))) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail_free;
	}
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		ret = fail(s, rc, "opening");
		goto fail_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* The writer may wait this long for a reader's checkpoint lock or a
	 * stray second writer; the store thread can afford it, packet
	 * threads never see it. */
	sqlite3_busy_timeout(s->db, 1000);
	/* Lets retention give pages back to the file system (PRAGMA
	 * incremental_vacuum). Only takes effect on a new, empty file, so it
	 * must come before WAL mode writes the first page; a no-op later. */
	ret = exec(s, "PRAGMA auto_vacuum = INCREMENTAL", "setting auto_vacuum");
	if (ret)
		goto fail_close;
	{
		sqlite3_stmt *st;

		rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW) {
				mode = strdup((const char *)sqlite3_column_text(st, 0));
				rc = SQLITE_OK;
			}
			sqlite3_finalize(st);
		}
		if (rc != SQLITE_OK) {
			ret = fail(s, rc, "switching to WAL");
			goto fail_close;
		}
		if (!mode || strcmp(mode, "wal") != 0) {
			snprintf(s->msg, sizeof(s->msg),
				 "%s: cannot use WAL journal mode (got %s)", path,
				 mode ? mode : "nothing");
			ret = -EROFS;
			free(mode);
			goto fail_close;
		}
		free(mode);
	}
	/* NORMAL in WAL mode: a killed process loses nothing committed; only
	 * a power cut may lose the last transactions. The WAL is truncated
	 * back to 64 MiB after checkpoints so it cannot eat the disk. */
	ret = exec(s, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;",
		   "setting pragmas");
	if (ret)
		goto fail_close;
	ret = migrate(s);
	if (ret)
		goto fail_close;
	ret = set_node(s);
	if (ret)
		goto fail_close;
	ret = prepare_all(s);
	if (ret)
		goto fail_close;
	/* A previous process may have stopped half way through. */
	s->keys_pending = true;
	ret = load_rolled(s);
	if (ret)
		goto fail_close;
	*out = s;
	return 0;

fail_close:
	snprintf(err, errlen, "%s", s->msg);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close_v2(s->db);
fail_free:
	if (s) {
		free(s->path);
		free(s->node);
		free(s);
	}
	return ret;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->in_tx)
		store_rollback(s);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s->node);
	free(s);
}

const char *store_errmsg(const struct store *s)
{
	return s->msg[0] ? s->msg : "no error";
}

uint64_t store_busy_count(const struct store *s)
{
	return s->busy;
}

int store_begin(struct store *s)
{
	int ret = step_done(s, ST_BEGIN, "starting a transaction");

	if (!ret)
		s->in_tx = true;
	return ret;
}

int store_commit(struct store *s)
{
	int ret = step_done(s, ST_COMMIT, "committing");

	if (!ret)
		s->in_tx = false;
	return ret;
}

void store_rollback(struct store *s)
{
	/* After SQLITE_FULL and some I/O errors SQLite has already rolled
	 * back; ROLLBACK then fails with "no transaction is active", which
	 * is fine. */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_step(s->st[ST_ROLLBACK]);
	sqlite3_reset(s->st[ST_ROLLBACK]);
	s->in_tx = false;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

/* One upsert of @r: the minute row (ST_UPSERT, parameters 1..24) or a
 * rollup (parameters 1..17, the same numbering). On SQLITE_SCHEMA only this
 * statement is re-prepared and retried: the ones before it in the same
 * store_put() have already been applied. */
static int put_one(struct store *s, int idx, const struct store_row *r, bool retried)
{
	sqlite3_stmt *st = s->st[idx];
	int rc;

	sqlite3_bind_int64(st, 1, r->bucket);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->key);
	sqlite3_bind_int64(st, 3, r->first_ms);
	sqlite3_bind_int64(st, 4, r->last_ms);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)r->count);
	bind_text(st, 6, r->src_ns);
	bind_text(st, 7, r->src_kind);
	bind_text(st, 8, r->src_name);
	bind_text(st, 9, r->dst_ns);
	bind_text(st, 10, r->dst_kind);
	bind_text(st, 11, r->dst_name);
	sqlite3_bind_int(st, 12, r->proto);
	sqlite3_bind_int(st, 13, r->port);
	sqlite3_bind_int(st, 14, r->verdict);
	sqlite3_bind_int(st, 15, r->mode);
	sqlite3_bind_int(st, 16, r->direction);
	bind_text(st, 17, r->policies);
	if (idx == ST_UPSERT) {
		sqlite3_bind_int64(st, 18, (sqlite3_int64)r->generation);
		bind_text(st, 19, r->src_ips);
		bind_text(st, 20, r->src_pods);
		bind_text(st, 21, r->src_labels);
		bind_text(st, 22, r->dst_ips);
		bind_text(st, 23, r->dst_pods);
		bind_text(st, 24, r->dst_labels);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_SCHEMA && !retried) {
		int ret = prepare_all(s);

		if (ret)
			return ret;
		return put_one(s, idx, r, true);
	}
	return fail(s, rc, "writing a flow row");
}

int store_put(struct store *s, const struct store_row *r)
{
	/* The minute row, its key and (for a rolled hour) its hour and day
	 * rollups move together: all are in the caller's transaction, which is rolled back as a
	 * whole on any failure. */
	int ret = put_one(s, ST_UPSERT, r, false);

	if (!ret)
		ret = put_one(s, ST_KEY, r, false);
	/* A straggler into an hour already rolled up. */
	if (!ret && r->bucket < s->rolled)
		ret = put_one(s, ST_UPSERT_HOUR, r, false);
	if (!ret && r->bucket < s->rolled)
		ret = put_one(s, ST_UPSERT_DAY, r, false);
	return ret;
}

int store_run_start(struct store *s, int64_t now_ms, const char *record)
{
	sqlite3_stmt *st = s->st[ST_RUN_INSERT];
	int ret;

	sqlite3_bind_text(st, 1, s->node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_text(st, 3, record, -1, SQLITE_STATIC);
	ret = step_done(s, ST_RUN_INSERT, "recording the run");
	sqlite3_clear_bindings(st);
	if (!ret)
		s->run_id = sqlite3_last_insert_rowid(s->db);
	return ret;
}

int store_run_touch(struct store *s, int64_t now_ms)
{
	sqlite3_stmt *st = s->st[ST_RUN_TOUCH];

	if (!s->run_id)
		return 0;
	sqlite3_bind_int64(st, 1, s->run_id);
	sqlite3_bind_int64(st, 2, now_ms);
	return step_done(s, ST_RUN_TOUCH, "recording the run");
}

int64_t store_used_bytes(struct store *s)
{
	int err;
	int64_t pages = query_int(s, ST_PAGE_COUNT, &err);
	int64_t freel, psize;

	if (err)
		return err;
	freel = query_int(s, ST_FREELIST, &err);
	if (err)
		return err;
	psize = query_int(s, ST_PAGE_SIZE, &err);
	if (err)
		return err;
	return (pages - freel) * psize;
}

int store_prune(struct store *s, int64_t min_bucket, uint64_t max_bytes,
		unsigned batch, uint64_t *pruned)
{
	uint64_t rolled = 0;
	int ret;

	*pruned = 0;
	ret = store_begin(s);
	if (ret)
		return ret;
	if (min_bucket > 0) {
		sqlite3_bind_int64(s->st[ST_PRUNE_AGE], 1, min_bucket);
		sqlite3_bind_int64(s->st[ST_PRUNE_AGE], 2, batch);
		ret = step_done(s, ST_PRUNE_AGE, "pruning old rows");
		if (ret)
			goto fail;
		*pruned += (uint64_t)sqlite3_changes(s->db);
		sqlite3_bind_int64(s->st[ST_PRUNE_RUNS], 1, min_bucket);
		ret = step_done(s, ST_PRUNE_RUNS, "pruning old runs");
		if (ret)
			goto fail;
	}
	if (max_bytes > 0 && *pruned < batch) {
		int64_t used = store_used_bytes(s);

		if (used < 0) {
			ret = (int)used;
			goto fail;
		}
		if ((uint64_t)used > max_bytes) {
			sqlite3_bind_int64(s->st[ST_PRUNE_OLDEST], 1, batch - *pruned);
			ret = step_done(s, ST_PRUNE_OLDEST, "pruning for size");
			if (ret)
				goto fail;
			*pruned += (uint64_t)sqlite3_changes(s->db);
		}
	}
	/* Rollups of periods left without minute rows, with a budget of
	 * their own (they are not counted in *pruned, which is about minute
	 * rows): an hour's or a day's rollup rows may take a few calls. */
	for (int idx = ST_PRUNE_HOUR; idx <= ST_PRUNE_DAY; idx++) {
		sqlite3_bind_int64(s->st[idx], 1, batch);
		ret = step_done(s, idx, "pruning rollups");
		if (ret)
			goto fail;
		rolled += (uint64_t)sqlite3_changes(s->db);
		if (idx == ST_PRUNE_DAY && sqlite3_changes(s->db) > 0)
			s->keys_pending = true;
	}
	/* Keys of flows no day row refers to: only after day rows went
	 * (the search reads every key), until a call finds fewer than a
	 * batch. */
	if (s->keys_pending) {
		sqlite3_bind_int64(s->st[ST_PRUNE_KEYS], 1, batch);
		sqlite3_bind_int64(s->st[ST_PRUNE_KEYS], 2, s->rolled);
		ret = step_done(s, ST_PRUNE_KEYS, "pruning flow keys");
		if (ret)
			goto fail;
		rolled += (uint64_t)sqlite3_changes(s->db);
		if ((unsigned)sqlite3_changes(s->db) < batch)
			s->keys_pending = false;
	}
	ret = store_commit(s);
	if (ret)
		goto fail;
	if (*pruned || rolled) {
		/* Outside the delete transaction: gives up to 16 MiB of free
		 * pages back per call, so the file shrinks in steps. */
		ret = step_done(s, ST_VACUUM, "returning free pages");
	}
	return ret;
fail:
	store_rollback(s);
	return ret;
}

/* Stragglers: a minute is written up to a flush interval after it ends;
 * an hour is rolled up this long after its end. Later ones still count
 * (store_put adds them to the rollups). */
#define ROLL_GRACE_S 120

int store_roll(struct store *s, int64_t now, bool *more)
{
	int64_t limit = (now - ROLL_GRACE_S) / 3600 * 3600, w = s->rolled, next;
	int err = 0, ret;

	*more = false;
	if (w && w + 3600 > limit)
		return 0;
	ret = store_begin(s);
	if (ret)
		return ret;
	sqlite3_bind_int64(s->st[ST_ROLL_NEXT], 1, w);
	{
		sqlite3_stmt *st = s->st[ST_ROLL_NEXT];
		int rc = sqlite3_step(st);

		next = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
			       ? sqlite3_column_int64(st, 0) : INT64_MAX;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			err = fail(s, rc, "rolling up");
	}
	if (err) {
		ret = err;
		goto fail;
	}
	/* Hours without minute rows are skipped in one step. */
	if (next >= limit) {
		w = w > limit ? w : limit;
	} else {
		w = next / 3600 * 3600;
		sqlite3_bind_int64(s->st[ST_ROLL_HOUR], 1, w);
		ret = step_done(s, ST_ROLL_HOUR, "rolling up an hour");
		if (ret)
			goto fail;
		sqlite3_bind_int64(s->st[ST_ROLL_DAY], 1, w);
		ret = step_done(s, ST_ROLL_DAY, "rolling up a day");
		if (ret)
			goto fail;
		w += 3600;
	}
	sqlite3_bind_int64(s->st[ST_ROLL_MARK], 1, w);
	ret = step_done(s, ST_ROLL_MARK, "rolling up");
	if (ret)
		goto fail;
	ret = store_commit(s);
	if (ret)
		goto fail;
	s->rolled = w;
	*more = w + 3600 <= limit;
	return 0;
fail:
	store_rollback(s);
	return ret;
}

int store_optimize(struct store *s)
{
	return step_done(s, ST_OPTIMIZE, "updating planner statistics");
}

int store_move_aside(const char *path, char *newpath, size_t len)
{
	static const char *const sfx[] = { "-wal", "-shm" };
	char stamp[32], to[4096], from[4096];
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if ((size_t)snprintf(to, sizeof(to), "%s.corrupt-%s", path, stamp) >= sizeof(to))
		return -ENAMETOOLONG;
	if (rename(path, to) != 0)
		return -errno;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		char to2[4200];

		snprintf(from, sizeof(from), "%s%s", path, sfx[i]);
		snprintf(to2, sizeof(to2), "%s%s", to, sfx[i]);
		/* Keep the WAL with the file it belongs to; a stale -shm is
		 * rebuilt from it. A new file must not inherit either. */
		if (rename(from, to2) != 0 && errno != ENOENT)
			unlink(from);
	}
	if (newpath)
		snprintf(newpath, len, "%s", to);
	return 0;
}

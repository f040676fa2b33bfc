/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_store.c - schema, migration, aggregation, retention, merge, read-only SQL. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/pipeline.h"
#include "core/log.h"
#include "store/query.h"
#include "store/store.h"
#include "test.h"

static char dir[64];

static const char *tmp(const char *name)
{
	static char buf[4][128];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static char *sql_text(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *v = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			v = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static struct store_row row_for(int64_t bucket, uint64_t key, uint64_t count, const char *src)
{
	struct store_row r = {
		.bucket = bucket, .key = key, .first_ms = bucket * 1000 + 5,
		.last_ms = bucket * 1000 + 10, .count = count,
		.src_ns = "a", .src_kind = "Deployment", .src_name = src,
		.dst_ns = "b", .dst_kind = "StatefulSet", .dst_name = "db",
		.proto = 6, .port = 5432, .verdict = 2, .mode = 1, .direction = 2,
		.policies = "b/default-deny", .generation = 3,
		.src_ips = "10.0.0.1", .src_pods = "web-1", .src_labels = "app=web",
		.dst_ips = "10.0.0.2", .dst_pods = "db-0", .dst_labels = "app=db",
	};
	return r;
}

static void test_schema_and_upsert(void)
{
	struct store *s = NULL;
	char err[512];
	struct store_row r;
	char *mode;
	int ret;

	ret = store_open(tmp("new.db"), "node-1", &s, err, sizeof(err));
	T_ASSERT(ret == 0 && s, "create a new database: %s", err);
	if (!s)
		return;
	T_ASSERT(sql_int(tmp("new.db"), "PRAGMA user_version") == STORE_SCHEMA_VERSION,
		 "user_version is current");
	mode = sql_text(tmp("new.db"), "PRAGMA journal_mode");
	T_ASSERT(mode && strcmp(mode, "wal") == 0, "WAL journal (%s)", mode ? mode : "?");
	free(mode);
	T_ASSERT(sql_int(tmp("new.db"), "PRAGMA auto_vacuum") == 2, "incremental auto_vacuum");
	T_ASSERT(sql_int(tmp("new.db"), "SELECT count(*) FROM sqlite_schema WHERE name IN "
					"('flow','runs','meta','flows','flow_key','flow_src','flow_dst','flow_verdict_src','flow_verdict_dst')") == 9,
		 "tables, view and indexes exist");

	r = row_for(1800000000 / 60 * 60, 42, 3, "web");
	T_ASSERT(store_begin(s) == 0, "begin");
	T_ASSERT(store_put(s, &r) == 0, "put");
	r.count = 4;
	r.first_ms -= 3;
	r.last_ms += 50;
	r.src_pods = "";
	T_ASSERT(store_put(s, &r) == 0, "put the same key again");
	r.key = 43;
	T_ASSERT(store_put(s, &r) == 0, "put another key");
	T_ASSERT(store_commit(s) == 0, "commit");
	T_ASSERT(sql_int(tmp("new.db"), "SELECT count(*) FROM flow") == 2, "two rows");
	T_ASSERT(sql_int(tmp("new.db"), "SELECT count FROM flow WHERE fkey = 42") == 7,
		 "counts add up on conflict");
	T_ASSERT(sql_int(tmp("new.db"), "SELECT last_seen - first_seen FROM flow WHERE fkey = 42") == 58,
		 "first/last seen widen");
	{
		char *pods = sql_text(tmp("new.db"), "SELECT src_pods FROM flow WHERE fkey = 42");

		T_ASSERT(pods && strcmp(pods, "web-1") == 0, "empty samples keep the old ones");
		free(pods);
	}
	{
		char *v = sql_text(tmp("new.db"),
				   "SELECT verdict || ' ' || protocol || ' ' || direction || ' ' || mode || ' ' || node"
				   " || ' ' || first_seen FROM flows WHERE count = 7");

		T_ASSERT(v && strcmp(v, "would-deny TCP ingress audit node-1 2027-01-15T08:00:00.002Z") == 0,
			 "flows view reads well (%s)", v ? v : "NULL");
		free(v);
	}
	/* A second writer holding the lock: busy, counted, not a hang. */
	{
		sqlite3 *other;
		time_t t0 = time(NULL);

		sqlite3_open(tmp("new.db"), &other);
		T_ASSERT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
			 "second connection takes the write lock");
		ret = store_begin(s);
		T_ASSERT(ret == -EBUSY, "store_begin reports -EBUSY (%d)", ret);
		T_ASSERT(store_busy_count(s) == 1, "busy counted");
		T_ASSERT(time(NULL) - t0 <= 3, "within the busy timeout");
		T_ASSERT(strstr(store_errmsg(s), "new.db") != NULL, "message names the file: %s",
			 store_errmsg(s));
		store_rollback(s);
		sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(other);
		T_ASSERT(store_begin(s) == 0 && store_commit(s) == 0, "writes again after the lock is gone");
	}
	store_close(s);
	store_close(NULL);
}

static void test_migration(void)
{
	sqlite3 *db;
	struct store *s = NULL;
	char err[512];
	int ret;

	/* A file made by version 1 of the schema, with a row. */
	sqlite3_open(tmp("v1.db"), &db);
	T_ASSERT(sqlite3_exec(db, store_schema_step(1), NULL, NULL, NULL) == SQLITE_OK, "v1 schema");
	sqlite3_exec(db,
		     "INSERT INTO flow(bucket, fkey, first_seen, last_seen, count, src_ns, src_kind, src_name,"
		     " dst_ns, dst_kind, dst_name, proto, port, verdict, mode, direction, policies, generation)"
		     " VALUES(60, 1, 60000, 60001, 9, 'a', 'Pod', 'x', 'b', 'Pod', 'y', 6, 80, 1, 0, 2, 'b/p', 1);"
		     "PRAGMA user_version = 1;",
		     NULL, NULL, NULL);
	sqlite3_close(db);
	ret = store_open(tmp("v1.db"), "n", &s, err, sizeof(err));
	T_ASSERT(ret == 0, "open migrates v1: %s", err);
	store_close(s);
	T_ASSERT(sql_int(tmp("v1.db"), "PRAGMA user_version") == STORE_SCHEMA_VERSION, "now current");
	T_ASSERT(sql_int(tmp("v1.db"), "SELECT count FROM flows WHERE src_labels = ''") == 9,
		 "old row kept, new columns defaulted");
	T_ASSERT(sql_int(tmp("v1.db"), "SELECT count(*) FROM runs") == 0, "runs table added");

	/* A file from the future is refused, untouched. */
	sqlite3_open(tmp("v99.db"), &db);
	sqlite3_exec(db, "CREATE TABLE x(y); PRAGMA user_version = 99;", NULL, NULL, NULL);
	sqlite3_close(db);
	ret = store_open(tmp("v99.db"), "n", &s, err, sizeof(err));
	T_ASSERT(ret == -EPROTO && strstr(err, "newer"), "newer schema refused: %s", err);
	T_ASSERT(sql_int(tmp("v99.db"), "PRAGMA user_version") == 99, "left as it was");

	/* Garbage: corrupted, and moved aside on request. */
	{
		int fd = open(tmp("junk.db"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		char junk[8192];
		char moved[256];
		struct stat st;

		memset(junk, 'Z', sizeof(junk));
		T_ASSERT(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "write junk");
		close(fd);
		ret = store_open(tmp("junk.db"), "n", &s, err, sizeof(err));
		T_ASSERT(ret == -EUCLEAN, "not a database: -EUCLEAN (%d: %s)", ret, err);
		ret = store_move_aside(tmp("junk.db"), moved, sizeof(moved));
		T_ASSERT(ret == 0 && strstr(moved, "junk.db.corrupt-"), "moved aside to %s", moved);
		T_ASSERT(stat(moved, &st) == 0 && st.st_size == sizeof(junk), "content kept");
		T_ASSERT(stat(tmp("junk.db"), &st) != 0, "path free for a new file");
	}
}

static void test_retention(void)
{
	struct store *s = NULL;
	char err[512];
	uint64_t pruned = 0, total = 0;
	int64_t now = time(NULL) / 60 * 60;
	int ret;

	ret = store_open(tmp("ret.db"), "n", &s, err, sizeof(err));
	T_ASSERT(ret == 0, "open: %s", err);
	if (ret)
		return;
	store_begin(s);
	for (int i = 0; i < 3000; i++) {
		/* 1000 rows 10 days old, 2000 fresh. */
		struct store_row r = row_for(i < 1000 ? now - 10 * 86400 : now - i % 60 * 60,
					     (uint64_t)i, 1, "web");
		store_put(s, &r);
	}
	store_commit(s);
	ret = store_prune(s, now - 7 * 86400, 0, 300, &pruned);
	T_ASSERT(ret == 0 && pruned == 300, "a batch of 300 pruned by age (%llu)", (unsigned long long)pruned);
	total = pruned;
	while (ret == 0 && pruned == 300) {
		ret = store_prune(s, now - 7 * 86400, 0, 300, &pruned);
		total += pruned;
	}
	T_ASSERT(total == 1000, "exactly the old rows pruned (%llu)", (unsigned long long)total);
	T_ASSERT(sql_int(tmp("ret.db"), "SELECT count(*) FROM flow") == 2000, "fresh rows kept");
	/* Size: prune the oldest until under the limit. */
	{
		int64_t before = store_used_bytes(s);
		/* Rollups of the hours still holding minute rows stay, so
		 * not half: three quarters. */
		int64_t limit = before * 3 / 4;
		int64_t oldest_before = sql_int(tmp("ret.db"), "SELECT min(bucket) FROM flow");

		T_ASSERT(before > 0, "used bytes known (%lld)", (long long)before);
		for (int i = 0; i < 50 && store_used_bytes(s) > limit; i++)
			store_prune(s, 0, (uint64_t)limit, 200, &pruned);
		T_ASSERT(store_used_bytes(s) <= limit, "under the size limit (%lld <= %lld)",
			 (long long)store_used_bytes(s), (long long)limit);
		T_ASSERT(sql_int(tmp("ret.db"), "SELECT min(bucket) FROM flow") > oldest_before,
			 "the oldest went first");
		T_ASSERT(sql_int(tmp("ret.db"), "SELECT count(*) FROM flow") > 0, "not everything");
	}
	store_close(s);
}

/* ---- through the pipeline ---- */

static struct pol_pod mkpod(const char *ns, const char *name, const char *okind, const char *oname)
{
	struct pol_pod p;

	memset(&p, 0, sizeof(p));
	p.ns = (char *)ns;
	p.name = (char *)name;
	p.owner_kind = (char *)okind;
	p.owner_name = (char *)oname;
	return p;
}

static void test_workload(void)
{
	struct pol_pod p;
	const char *kind, *name;
	size_t len;

	p = mkpod("a", "web-7d4b9c-x2x", "ReplicaSet", "web-7d4b9c");
	pol_labels_set(&p.labels, "pod-template-hash", "7d4b9c");
	audit_workload_of(&p, &kind, &name, &len);
	T_ASSERT(strcmp(kind, "Deployment") == 0 && len == 3 && strncmp(name, "web", 3) == 0,
		 "ReplicaSet of a Deployment");
	pol_labels_clear(&p.labels);

	p = mkpod("a", "web-abc", "ReplicaSet", "web-abc");
	audit_workload_of(&p, &kind, &name, &len);
	T_ASSERT(strcmp(kind, "ReplicaSet") == 0 && len == 7, "bare ReplicaSet (no hash label)");

	p = mkpod("a", "backup-29012345-abcde", "Job", "backup-29012345");
	audit_workload_of(&p, &kind, &name, &len);
	T_ASSERT(strcmp(kind, "CronJob") == 0 && len == 6, "Job of a CronJob");

	p = mkpod("a", "migrate-2-xyz", "Job", "migrate-2");
	audit_workload_of(&p, &kind, &name, &len);
	T_ASSERT(strcmp(kind, "Job") == 0 && len == 9, "hand-named Job stays a Job");

	p = mkpod("a", "db-0", "StatefulSet", "db");
	audit_workload_of(&p, &kind, &name, &len);
	T_ASSERT(strcmp(kind, "StatefulSet") == 0 && len == 2, "StatefulSet as is");

	p = mkpod("a", "debug", NULL, NULL);
	audit_workload_of(&p, &kind, &name, &len);
	T_ASSERT(strcmp(kind, "Pod") == 0 && strcmp(name, "debug") == 0, "no owner: the pod");
}

static void ip4(struct pol_ip *ip, int a, int b, int c, int d)
{
	memset(ip, 0, sizeof(*ip));
	ip->b[10] = ip->b[11] = 0xff;
	ip->b[12] = (uint8_t)a;
	ip->b[13] = (uint8_t)b;
	ip->b[14] = (uint8_t)c;
	ip->b[15] = (uint8_t)d;
}

struct count_ctx {
	int rows;
	int64_t sum;
	char nodes[256];
};

static int count_rows(void *ctx, size_t ncols, const char *const *names, const struct store_val *v)
{
	struct count_ctx *c = ctx;

	c->rows++;
	for (size_t i = 0; i < ncols; i++) {
		if (strcmp(names[i], "count") == 0 && v[i].type == STORE_VAL_INT)
			c->sum += v[i].i;
		if (strcmp(names[i], "node") == 0 && v[i].type == STORE_VAL_TEXT &&
		    !strstr(c->nodes, v[i].s) && strlen(c->nodes) + strlen(v[i].s) + 2 < sizeof(c->nodes)) {
			strcat(c->nodes, v[i].s);
			strcat(c->nodes, " ");
		}
	}
	return 0;
}

static void feed(const char *db, const char *node, int n_repeat)
{
	struct audit_pipeline_opts o = { .db_path = db, .node_name = node, .record = AUDIT_RECORD_DENIED,
					 .flush_interval_ms = 50 };
	struct pol_pod web = mkpod("shop", "web-5c9-aaa", "ReplicaSet", "web-5c9");
	struct pol_pod db_pod = mkpod("data", "pg-0", "StatefulSet", "pg");
	struct pol_policy pol = { .ns = (char *)"data", .name = (char *)"pg-ingress" };
	const struct pol_policy *pols[] = { &pol };
	struct audit_pipeline_stats st;
	struct audit_pipeline *p;
	struct pol_verdict pv;
	struct pol_flow flow;
	struct audit_record r;
	char err[256];

	pol_labels_set(&web.labels, "pod-template-hash", "5c9");
	pol_labels_set(&web.labels, "app", "web");
	p = audit_pipeline_start(&o, err, sizeof(err));
	T_ASSERT(p != NULL, "pipeline starts: %s", err);
	if (!p)
		return;
	memset(&pv, 0, sizeof(pv));
	pv.src_kind = pv.dst_kind = POL_EP_POD;
	pv.src_pod = &web;
	pv.dst_pod = &db_pod;
	pv.egress.state = POL_DIR_NOT_ISOLATED;
	pv.ingress.state = POL_DIR_DENIED;
	pv.ingress.isolating = pols;
	pv.ingress.n_isolating = 1;
	ip4(&flow.src, 10, 1, 0, 5);
	ip4(&flow.dst, 10, 1, 1, 9);
	flow.proto = POL_PROTO_TCP;
	flow.port = 5432;
	for (int i = 0; i < n_repeat; i++) {
		audit_record_fill(&r, &flow, &pv, AUDIT_REC_WOULD_DENY, AUDIT_REC_AUDIT, 4);
		T_ASSERT(audit_pipeline_submit(p, &r), "submit");
	}
	/* An external source, denied. */
	pv.src_kind = POL_EP_EXTERNAL;
	pv.src_pod = NULL;
	ip4(&flow.src, 198, 51, 100, 7);
	audit_record_fill(&r, &flow, &pv, AUDIT_REC_DENY, AUDIT_REC_ENFORCE, 4);
	audit_pipeline_submit(p, &r);
	/* Allowed: ignored under --record denied. */
	audit_record_fill(&r, &flow, &pv, AUDIT_REC_ALLOW, AUDIT_REC_ENFORCE, 4);
	T_ASSERT(!audit_pipeline_wants(p, AUDIT_REC_ALLOW), "allow not wanted");
	T_ASSERT(audit_pipeline_submit(p, &r), "filtered allow is not a drop");
	T_ASSERT(audit_pipeline_flush(p, 5000) == 0, "flush");
	audit_pipeline_stats(p, &st);
	T_ASSERT(st.records_written == (uint64_t)n_repeat + 1, "records written (%llu)",
		 (unsigned long long)st.records_written);
	T_ASSERT(st.filtered == 1 && st.dropped_full == 0, "one filtered, none dropped");
	T_ASSERT(st.db_ok, "db ok: %s", st.db_state);
	audit_pipeline_stop(p);
	pol_labels_clear(&web.labels);
}

static void test_pipeline_and_merge(void)
{
	const char *paths[2];
	struct store_reader *rd;
	struct count_ctx c = { 0 };
	char err[512];
	char *v;

	log_set_level(LOG_LEVEL_ERROR);
	feed(tmp("n1.db"), "node-1", 100);
	feed(tmp("n2.db"), "node-2", 50);
	T_ASSERT(sql_int(tmp("n1.db"), "SELECT count(*) FROM flow") == 2, "one row per flow and minute");
	T_ASSERT(sql_int(tmp("n1.db"), "SELECT count FROM flows WHERE verdict = 'would-deny'") == 100,
		 "repeated records aggregated");
	v = sql_text(tmp("n1.db"),
		     "SELECT src_namespace || '/' || src_kind || '/' || src_name || ' > ' || dst_namespace || '/'"
		     " || dst_kind || '/' || dst_name || ' ' || protocol || '/' || port || ' ' || direction"
		     " || ' ' || policies || ' ' || src_pods || ' ' || src_ips || ' ' || src_labels"
		     " FROM flows WHERE verdict = 'would-deny'");
	T_ASSERT(v && strcmp(v, "shop/Deployment/web > data/StatefulSet/pg TCP/5432 ingress data/pg-ingress "
				"web-5c9-aaa 10.1.0.5 app=web") == 0,
		 "identities, direction, policies, samples (%s)", v ? v : "NULL");
	free(v);
	v = sql_text(tmp("n1.db"), "SELECT src_kind || ' ' || src_name FROM flows WHERE verdict = 'deny'");
	T_ASSERT(v && strcmp(v, "External 198.51.100.7") == 0, "external source named by IP (%s)", v ? v : "");
	free(v);
	T_ASSERT(sql_int(tmp("n1.db"), "SELECT count(*) FROM runs WHERE record = 'denied'") == 1,
		 "recording period stored");

	paths[0] = tmp("n1.db");
	paths[1] = tmp("n2.db");
	rd = store_reader_open(paths, 2, err, sizeof(err));
	T_ASSERT(rd != NULL, "reader over two files: %s", err);
	if (!rd)
		return;
	{
		struct store_filter f = { .port = -1, .verdict = 2 };

		T_ASSERT(store_query_flows(rd, &f, STORE_GROUP_NONE, 0, count_rows, &c, err, sizeof(err)) == 0,
			 "query: %s", err);
		T_ASSERT(c.rows == 2 && c.sum == 150, "rows of both files (%d rows, %lld)", c.rows,
			 (long long)c.sum);
		T_ASSERT(strstr(c.nodes, "node-1") && strstr(c.nodes, "node-2"), "both nodes named (%s)",
			 c.nodes);
	}
	{
		struct store_filter f = { .port = 5432, .proto = 6, .verdict = -1, .from = { "shop", "web" } };

		memset(&c, 0, sizeof(c));
		store_query_flows(rd, &f, STORE_GROUP_PAIR, 10, count_rows, &c, err, sizeof(err));
		T_ASSERT(c.rows == 1 && c.sum == 150, "pair group merged across nodes (%d, %lld)", c.rows,
			 (long long)c.sum);
	}
	{
		struct store_filter f = { .port = -1, .verdict = -1, .pod = "web-5c9-aaa", .policy = "pg-ingress" };

		memset(&c, 0, sizeof(c));
		store_query_flows(rd, &f, STORE_GROUP_NONE, 0, count_rows, &c, err, sizeof(err));
		T_ASSERT(c.rows == 2, "pod and bare policy name filters (%d)", c.rows);
	}
	{
		struct store_filter f = { .port = -1, .verdict = -1, .from = { NULL, "198.51.100.7" } };

		memset(&c, 0, sizeof(c));
		store_query_flows(rd, &f, STORE_GROUP_NONE, 0, count_rows, &c, err, sizeof(err));
		T_ASSERT(c.rows == 2 && c.sum == 2, "--from IP (%d)", c.rows);
	}
	{
		struct store_filter f = { .port = -1, .verdict = -1, .since = time(NULL) + 120 };

		memset(&c, 0, sizeof(c));
		store_query_flows(rd, &f, STORE_GROUP_NONE, 0, count_rows, &c, err, sizeof(err));
		T_ASSERT(c.rows == 0, "--since in the future: nothing");
	}
	/* Report: the would-deny flow counts against the destination
	 * namespace (ingress denied), not the source's. */
	memset(&c, 0, sizeof(c));
	store_query_report(rd, "data", time(NULL) - 3600, time(NULL) + 1, count_rows, &c, err, sizeof(err));
	T_ASSERT(c.rows == 1 && c.sum == 150, "report for data (%d, %lld)", c.rows, (long long)c.sum);
	memset(&c, 0, sizeof(c));
	store_query_report(rd, "shop", time(NULL) - 3600, time(NULL) + 1, count_rows, &c, err, sizeof(err));
	T_ASSERT(c.rows == 0, "report for shop: its egress was not denied");
	{
		int64_t cov = -1, first = -1;

		T_ASSERT(store_query_coverage(rd, time(NULL) - 3600, time(NULL) + 1, &cov, &first, err,
					      sizeof(err)) == 0, "coverage: %s", err);
		T_ASSERT(cov >= 0 && first > 0, "coverage known (%lld ms)", (long long)cov);
	}
	/* User SQL: reads pass, anything else is refused. */
	memset(&c, 0, sizeof(c));
	T_ASSERT(store_query_sql(rd, "SELECT node, sum(count) AS count FROM flows GROUP BY node", count_rows,
				 &c, err, sizeof(err)) == 0 && c.rows == 2 && c.sum == 152,
		 "SELECT over the merged view (%d, %lld): %s", c.rows, (long long)c.sum, err);
	T_ASSERT(store_query_sql(rd, "DELETE FROM d0.flow", count_rows, &c, err, sizeof(err)) == -1,
		 "DELETE refused");
	T_ASSERT(store_query_sql(rd, "CREATE TABLE t(x)", count_rows, &c, err, sizeof(err)) == -1,
		 "CREATE refused");
	T_ASSERT(store_query_sql(rd, "ATTACH 'x.db' AS x", count_rows, &c, err, sizeof(err)) == -1,
		 "ATTACH refused");
	T_ASSERT(store_query_sql(rd, "PRAGMA d0.user_version = 7", count_rows, &c, err, sizeof(err)) == -1,
		 "PRAGMA refused");
	T_ASSERT(store_query_sql(rd, "SELECT 1; DELETE FROM d0.flow", count_rows, &c, err, sizeof(err)) == -1,
		 "a second statement refused: %s", err);
	T_ASSERT(sql_int(tmp("n1.db"), "SELECT count(*) FROM flow") == 2, "nothing was changed");
	store_reader_close(rd);

	/* Bad inputs to the reader. */
	paths[0] = tmp("missing.db");
	T_ASSERT(!store_reader_open(paths, 1, err, sizeof(err)) && strstr(err, "missing.db"),
		 "missing file named: %s", err);
	paths[0] = tmp("v99.db");
	T_ASSERT(!store_reader_open(paths, 1, err, sizeof(err)) && strstr(err, "newer"),
		 "newer file refused: %s", err);
	paths[0] = tmp("ret.db.corrupt-none");
	{
		int fd = open(paths[0], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		char junk[4096];

		memset(junk, 'Q', sizeof(junk));
		T_ASSERT(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "junk");
		close(fd);
	}
	T_ASSERT(!store_reader_open(paths, 1, err, sizeof(err)) && strstr(err, "not a database"),
		 "junk refused: %s", err);
}

/* A corrupted database under a running pipeline is moved aside and
 * replaced; writing continues. */
static void test_pipeline_corrupt(void)
{
	struct audit_pipeline_opts o = { .db_path = tmp("c.db"), .node_name = "n", .flush_interval_ms = 20 };
	struct audit_pipeline_stats st;
	struct audit_pipeline *p;
	struct pol_verdict pv;
	struct pol_flow flow;
	struct audit_record r;
	char err[256];
	int fd;

	{
		char junk[4096];

		memset(junk, '#', sizeof(junk));
		fd = open(tmp("c.db"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		T_ASSERT(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "junk");
		close(fd);
	}
	p = audit_pipeline_start(&o, err, sizeof(err));
	T_ASSERT(p != NULL, "starts on a corrupted file: %s", err);
	if (!p)
		return;
	memset(&pv, 0, sizeof(pv));
	memset(&flow, 0, sizeof(flow));
	pv.src_kind = pv.dst_kind = POL_EP_EXTERNAL;
	flow.proto = POL_PROTO_UDP;
	flow.port = 53;
	audit_record_fill(&r, &flow, &pv, AUDIT_REC_DENY, AUDIT_REC_ENFORCE, 1);
	audit_pipeline_submit(p, &r);
	T_ASSERT(audit_pipeline_flush(p, 5000) == 0, "flush succeeds on the new file");
	audit_pipeline_stats(p, &st);
	T_ASSERT(st.corrupt_moved == 1 && st.records_written == 1 && st.db_ok,
		 "moved aside once, then written (%llu, %llu)", (unsigned long long)st.corrupt_moved,
		 (unsigned long long)st.records_written);
	audit_pipeline_stop(p);
	T_ASSERT(sql_int(tmp("c.db"), "SELECT sum(count) FROM flow") == 1, "the record is in the new file");
}

/* ---- rollups: the hour and day tables answer exactly what minute rows do ---- */

/* Every row of a query as "a|b|c", sorted, joined with ";". */
struct lines {
	char **v;
	size_t n, cap;
};

static int collect_line(void *ctx, size_t ncols, const char *const *names, const struct store_val *vals)
{
	struct lines *l = ctx;
	char line[1024];
	size_t len = 0;

	line[0] = 0;
	for (size_t c = 0; c < ncols && len < sizeof(line) - 64; c++) {
		if (vals[c].type == STORE_VAL_INT)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%lld", c ? "|" : "",
						(long long)vals[c].i);
		else
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", c ? "|" : "",
						vals[c].type == STORE_VAL_TEXT ? vals[c].s : "");
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(char *));
	}
	l->v[l->n++] = strdup(line);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *lines_join(struct lines *l)
{
	size_t len = 1;
	char *out;

	if (l->n)
		qsort(l->v, l->n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->v[i]) + 1;
	out = calloc(1, len);
	for (size_t i = 0; i < l->n; i++) {
		strcat(out, l->v[i]);
		strcat(out, ";");
		free(l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
	return out;
}

/* The same rows straight from the minute table, with plain SQL. */
static char *reference(const char *path, const char *sql, int64_t since, int64_t until)
{
	struct lines l = { 0 };
	sqlite3 *db;
	sqlite3_stmt *st;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "reference: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return strdup("error");
	}
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	while (sqlite3_step(st) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_count(st);
		struct store_val vals[16];
		const char *names[16];

		for (size_t c = 0; c < n && c < 16; c++) {
			names[c] = "";
			memset(&vals[c], 0, sizeof(vals[c]));
			if (sqlite3_column_type(st, (int)c) == SQLITE_INTEGER) {
				vals[c].type = STORE_VAL_INT;
				vals[c].i = sqlite3_column_int64(st, (int)c);
			} else {
				vals[c].type = STORE_VAL_TEXT;
				vals[c].s = (const char *)sqlite3_column_text(st, (int)c);
				if (!vals[c].s)
					vals[c].s = "";
			}
		}
		collect_line(&l, n < 16 ? n : 16, names, vals);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return lines_join(&l);
}

#define REF_WINDOW \
	" bucket >= ?1 / 60 * 60 AND last_seen >= ?1 * 1000 AND bucket < ?2 AND first_seen < ?2 * 1000"
#define REF_VERDICT "CASE verdict WHEN 0 THEN 'allow' WHEN 1 THEN 'deny' WHEN 2 THEN 'would-deny' END"

static const char ref_src[] =
	"SELECT src_ns, src_kind, src_name, " REF_VERDICT ", sum(count), count(DISTINCT fkey),"
	" min(first_seen), max(last_seen) FROM flow WHERE" REF_WINDOW
	" GROUP BY src_ns, src_kind, src_name, verdict";
static const char ref_pair_ns[] =
	"SELECT src_ns, src_kind, src_name, dst_ns, dst_kind, dst_name, " REF_VERDICT ", sum(count),"
	" count(DISTINCT fkey), min(first_seen), max(last_seen) FROM flow WHERE" REF_WINDOW
	" AND (src_ns = 'ns1' OR dst_ns = 'ns1')"
	" GROUP BY src_ns, src_kind, src_name, dst_ns, dst_kind, dst_name, verdict";
static const char ref_port[] =
	"SELECT dst_ns, dst_kind, dst_name, CASE proto WHEN 6 THEN 'TCP' ELSE 'UDP' END, port, " REF_VERDICT
	", sum(count), count(DISTINCT fkey), min(first_seen), max(last_seen) FROM flow WHERE" REF_WINDOW
	" AND verdict = 2 GROUP BY dst_ns, dst_kind, dst_name, proto, port, verdict";
static const char ref_report[] =
	"SELECT src_ns, src_kind, src_name, 'egress', dst_ns, dst_kind, dst_name,"
	" CASE proto WHEN 6 THEN 'TCP' ELSE 'UDP' END, port, policies, sum(count), min(first_seen), max(last_seen)"
	" FROM flow WHERE" REF_WINDOW " AND verdict = 2 AND direction & 1 AND src_ns <> '' GROUP BY fkey"
	" UNION ALL "
	"SELECT dst_ns, dst_kind, dst_name, 'ingress', src_ns, src_kind, src_name,"
	" CASE proto WHEN 6 THEN 'TCP' ELSE 'UDP' END, port, policies, sum(count), min(first_seen), max(last_seen)"
	" FROM flow WHERE" REF_WINDOW " AND verdict = 2 AND direction & 2 AND dst_ns <> '' GROUP BY fkey";

/* Flow k of the rollup data set: every key column a function of k. */
static struct store_row rollup_row(int64_t bucket, int k, int64_t jitter)
{
	static const char *const ns[] = { "ns0", "ns1", "ns2" };
	static const char *const names[] = { "web", "api", "db", "cache", "queue", "auth", "mail" };
	static const char *const pols[] = { "ns0/deny", "ns1/deny", "ns2/deny" };
	struct store_row r = {
		.bucket = bucket, .key = 1000 + (uint64_t)k,
		.first_ms = bucket * 1000 + jitter, .last_ms = bucket * 1000 + 30000 + jitter,
		.count = 1 + (uint64_t)(jitter % 5),
		.src_ns = k % 11 == 0 ? "" : ns[k % 3], .src_kind = k % 11 == 0 ? "External" : "Deployment",
		.src_name = names[k % 7], .dst_ns = ns[(k / 3) % 3], .dst_kind = "Deployment",
		.dst_name = names[(k / 2) % 7], .proto = k % 4 ? 6 : 17, .port = (uint16_t)(80 + k % 5),
		.verdict = k % 3 == 0 ? 1 : 2, .mode = k % 3 == 0 ? 0 : 1, .direction = 1 + k % 3,
		.policies = pols[k % 3], .generation = 1,
		.src_ips = "10.0.0.1", .src_pods = "p-1", .dst_ips = "10.0.0.2", .dst_pods = "q-1",
	};
	return r;
}

/* @all_full: every window holds rows (before pruning). */
static void check_windows(const char *path, const char *when, int64_t t0, bool all_full)
{
	/* Aligned, ragged, spanning days, inside one hour, open-ended. */
	static const int64_t win[][2] = {
		{ 0, 0 },
		{ 3600, 3 * 86400 },
		{ 17 * 60 + 13, 2 * 86400 + 5 * 3600 + 41 * 60 + 7 },
		{ 86400 - 7, 2 * 86400 + 3 },
		{ 5 * 3600 + 100, 5 * 3600 + 2000 },
		{ 86400 + 1234, 0 },
		{ 0, 86400 + 3600 * 7 + 59 },
	};
	const char *path1[1] = { path };
	char err[512] = "";
	struct store_reader *rd = store_reader_open(path1, 1, err, sizeof(err));
	int bad = 0, checks = 0;

	T_ASSERT(rd != NULL, "%s: reader: %s", when, err);
	if (!rd)
		return;
	for (size_t w = 0; w < sizeof(win) / sizeof(win[0]); w++) {
		int64_t since = win[w][0] ? t0 + win[w][0] : 0, until = win[w][1] ? t0 + win[w][1] : 0;
		int64_t rs = since, ru = until ? until : INT64_MAX / 1000;
		struct {
			enum store_group g;
			const char *ns;
			int verdict;
			const char *ref;
		} q[] = {
			{ STORE_GROUP_SRC, NULL, -1, ref_src },
			{ STORE_GROUP_PAIR, "ns1", -1, ref_pair_ns },
			{ STORE_GROUP_PORT, NULL, 2, ref_port },
		};

		for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
			struct store_filter f = { .port = -1, .verdict = q[k].verdict, .ns = q[k].ns,
						  .since = since, .until = until };
			struct lines l = { 0 };
			char *got, *want;
			int rc = store_query_flows(rd, &f, q[k].g, 0, collect_line, &l, err, sizeof(err));

			got = lines_join(&l);
			want = reference(path, q[k].ref, rs, ru);
			checks++;
			if (rc != 0 || strcmp(got, want) != 0 || (all_full && !strchr(want, ';'))) {
				bad++;
				fprintf(stderr, "%s: window %zu query %zu: rc %d %s\n got  %.300s\n want %.300s\n",
					when, w, k, rc, err, got, want);
			}
			free(got);
			free(want);
		}
		if (since) {
			struct lines l = { 0 };
			char *got, *want;
			int rc = store_query_report(rd, NULL, since, until ? until : since + 10 * 86400,
						    collect_line, &l, err, sizeof(err));

			got = lines_join(&l);
			want = reference(path, ref_report, rs, until ? until : since + 10 * 86400);
			checks++;
			if (rc != 0 || strcmp(got, want) != 0) {
				bad++;
				fprintf(stderr, "%s: window %zu report: rc %d %s\n got  %.300s\n want %.300s\n",
					when, w, rc, err, got, want);
			}
			free(got);
			free(want);
		}
	}
	T_ASSERT(bad == 0, "%s: grouped queries and reports over rollups equal minute rows (%d of %d differ)",
		 when, bad, checks);
	store_reader_close(rd);
}

static void test_rollups(void)
{
	struct store *s = NULL;
	char err[512];
	/* A day boundary, 5 h 17 min before it, 2.5 days of minutes. */
	int64_t day = 1800000000 / 86400 * 86400, t0 = day - 5 * 3600 - 17 * 60;
	int64_t rows = 0;
	uint64_t pruned;
	sqlite3 *db;
	int ret;

	ret = store_open(tmp("roll.db"), "n", &s, err, sizeof(err));
	T_ASSERT(ret == 0, "open: %s", err);
	if (ret)
		return;
	store_begin(s);
	for (int64_t m = 0; m < 60 * 60; m++) {
		int64_t bucket = t0 + m * 60;

		for (int j = 0; j < 3; j++) {
			struct store_row r = rollup_row(bucket, (int)((m * 5 + j * 7) % 40), (m * 31 + j) % 29000);

			store_put(s, &r);
			rows++;
		}
	}
	T_ASSERT(store_commit(s) == 0, "%lld minute rows written", (long long)rows);
	/* Roll up to 30 h: the hours after are read from minute rows. */
	{
		bool more = true;
		int n = 0;

		while (more && n++ < 100)
			T_ASSERT(store_roll(s, t0 + 30 * 3600, &more) == 0, "roll: %s", store_errmsg(s));
		T_ASSERT(sql_int(tmp("roll.db"), "SELECT value FROM meta WHERE key = 'rolled_until'") ==
				 (t0 + 30 * 3600 - 120) / 3600 * 3600 &&
			 sql_int(tmp("roll.db"), "SELECT max(bucket) FROM flow_hour") ==
				 (t0 + 30 * 3600 - 120) / 3600 * 3600 - 3600,
			 "rolled up to the last hour over for two minutes");
		T_ASSERT(store_roll(s, t0 + 30 * 3600 + 60, &more) == 0 && !more &&
				 sql_int(tmp("roll.db"), "SELECT value FROM meta WHERE key = 'rolled_until'") ==
					 (t0 + 30 * 3600 - 120) / 3600 * 3600,
			 "nothing more to roll a minute later");
	}
	/* Late writes into rolled hours add to their rollups at once. */
	store_begin(s);
	{
		struct store_row r = rollup_row(t0 + 600, (10 * 5) % 40, 7);

		store_put(s, &r);
		/* A flow seen once, on the first day only. */
		r = rollup_row(t0 + 120, 99, 11);
		store_put(s, &r);
	}
	T_ASSERT(store_commit(s) == 0, "late rows written");
	check_windows(tmp("roll.db"), "partly rolled up", t0, true);
	{
		bool more = true;
		int n = 0;

		while (more && n++ < 100)
			T_ASSERT(store_roll(s, t0 + 4 * 86400, &more) == 0, "roll: %s", store_errmsg(s));
	}
	T_ASSERT(sql_int(tmp("roll.db"), "SELECT count(*) FROM (SELECT bucket / 3600 * 3600 AS b, fkey,"
					 " sum(count) AS c, min(first_seen) AS fs, max(last_seen) AS ls FROM flow GROUP BY 1, 2) AS x"
					 " LEFT JOIN flow_hour AS h ON h.bucket = x.b AND h.fkey = x.fkey"
					 " WHERE h.count IS NOT x.c OR h.first_seen <> x.fs OR h.last_seen <> x.ls") == 0 &&
		 sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_hour") ==
			 sql_int(tmp("roll.db"), "SELECT count(DISTINCT (bucket / 3600) || '.' || fkey) FROM flow"),
		 "flow_hour: one row per hour and flow, counts and times of its minutes");
	T_ASSERT(sql_int(tmp("roll.db"), "SELECT count(*) FROM (SELECT bucket / 86400 * 86400 AS b, fkey,"
					 " sum(count) AS c FROM flow GROUP BY 1, 2) AS x"
					 " LEFT JOIN flow_day AS d ON d.bucket = x.b AND d.fkey = x.fkey"
					 " WHERE d.count IS NOT x.c") == 0 &&
		 sql_int(tmp("roll.db"), "SELECT sum(count) FROM flow_day") ==
			 sql_int(tmp("roll.db"), "SELECT sum(count) FROM flow"),
		 "flow_day: the same per day");
	T_ASSERT(sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_keys") ==
			 sql_int(tmp("roll.db"), "SELECT count(DISTINCT fkey) FROM flow") &&
		 sql_int(tmp("roll.db"), "SELECT count(*) FROM flow AS f JOIN flow_keys AS k USING (fkey)"
					 " WHERE k.src_name <> f.src_name OR k.dst_ns <> f.dst_ns OR k.port <> f.port"
					 " OR k.policies <> f.policies OR k.direction <> f.direction") == 0,
		 "flow_keys: each flow's key columns once");
	T_ASSERT(sql_int(tmp("roll.db"), "SELECT count(*) FROM flows_hourly WHERE hour_unix % 3600 <> 0") == 0 &&
		 sql_int(tmp("roll.db"), "SELECT sum(count) FROM flows_daily") ==
			 sql_int(tmp("roll.db"), "SELECT sum(count) FROM flows"),
		 "views flows_hourly and flows_daily");
	check_windows(tmp("roll.db"), "rolled up", t0, true);

	/* A version-2 file with the same minute rows is migrated to the same
	 * rollups. */
	sqlite3_open(tmp("roll2.db"), &db);
	T_ASSERT(sqlite3_exec(db, store_schema_step(1), NULL, NULL, NULL) == SQLITE_OK &&
		 sqlite3_exec(db, store_schema_step(2), NULL, NULL, NULL) == SQLITE_OK,
		 "version-2 file");
	{
		char sql[512];

		snprintf(sql, sizeof(sql), "ATTACH '%s' AS src; INSERT INTO flow SELECT * FROM src.flow;"
			 " INSERT INTO meta SELECT * FROM src.meta; DETACH src; PRAGMA user_version = 2;",
			 tmp("roll.db"));
		T_ASSERT(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "copy the minute rows: %s",
			 sqlite3_errmsg(db));
	}
	sqlite3_close(db);
	{
		struct store *s2 = NULL;

		ret = store_open(tmp("roll2.db"), "n", &s2, err, sizeof(err));
		T_ASSERT(ret == 0, "open migrates version 2: %s", err);
		store_close(s2);
	}
	T_ASSERT(sql_int(tmp("roll2.db"), "PRAGMA user_version") == STORE_SCHEMA_VERSION, "now current");
	{
		char sql[512];
		int64_t diff;

		snprintf(sql, sizeof(sql),
			 "SELECT (SELECT count(*) FROM (SELECT * FROM flow_hour EXCEPT SELECT * FROM r.flow_hour))"
			 " + (SELECT count(*) FROM (SELECT * FROM r.flow_hour EXCEPT SELECT * FROM flow_hour))"
			 " + (SELECT count(*) FROM (SELECT * FROM flow_day EXCEPT SELECT * FROM r.flow_day))"
			 " + (SELECT count(*) FROM (SELECT * FROM r.flow_day EXCEPT SELECT * FROM flow_day))");
		sqlite3_open(tmp("roll2.db"), &db);
		{
			char att[256];

			snprintf(att, sizeof(att), "ATTACH '%s' AS r", tmp("roll.db"));
			sqlite3_exec(db, att, NULL, NULL, NULL);
		}
		diff = -1;
		{
			sqlite3_stmt *st;

			if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
				if (sqlite3_step(st) == SQLITE_ROW)
					diff = sqlite3_column_int64(st, 0);
				sqlite3_finalize(st);
			}
		}
		sqlite3_close(db);
		T_ASSERT(diff == 0 && sql_int(tmp("roll2.db"), "SELECT count(*) FROM flow_hour") > 0,
			 "migrated rollups equal the ones the writer kept (%lld rows differ)", (long long)diff);
	}
	check_windows(tmp("roll2.db"), "migrated", t0, true);

	/* Retention in the middle of an hour: minute rows go oldest first,
	 * rollups of periods without minute rows go too, and queries stay
	 * exact (the partly pruned hour and day are read from minute rows). */
	{
		int64_t cutoff = t0 + 26 * 3600 + 23 * 60, minb;

		do {
			ret = store_prune(s, cutoff, 0, 50, &pruned);
		} while (ret == 0 && pruned == 50);
		/* Rollup pruning has its own budget: a few more calls. */
		for (int i = 0; i < 100 && ret == 0; i++)
			ret = store_prune(s, cutoff, 0, 50, &pruned);
		T_ASSERT(ret == 0, "pruned: %s", store_errmsg(s));
		minb = sql_int(tmp("roll.db"), "SELECT min(bucket) FROM flow");
		T_ASSERT(minb == cutoff / 60 * 60, "minute rows before the cutoff gone (%lld)", (long long)minb);
		T_ASSERT(sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_hour WHERE bucket < (SELECT min(bucket)"
						 " FROM flow) / 3600 * 3600") == 0 &&
			 sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_day WHERE bucket < (SELECT min(bucket)"
						 " FROM flow) / 86400 * 86400") == 0 &&
			 sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_hour WHERE bucket = (SELECT min(bucket)"
						 " FROM flow) / 3600 * 3600") > 0,
			 "rollups of hours and days without minute rows pruned, the partial ones kept");
		T_ASSERT(sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_keys WHERE fkey = 1099") == 0 &&
			 sql_int(tmp("roll.db"), "SELECT count(*) FROM flow_keys") ==
				 sql_int(tmp("roll.db"), "SELECT count(DISTINCT fkey) FROM flow_day"),
			 "the key of a flow no day row refers to any more is pruned");
	}
	/* Size pruning stops wherever its batch ends, even inside a minute. */
	{
		sqlite3_stmt *st;

		sqlite3_open(tmp("roll.db"), &db);
		sqlite3_prepare_v2(db, "DELETE FROM flow WHERE id IN (SELECT id FROM flow ORDER BY bucket LIMIT 1)",
				   -1, &st, NULL);
		sqlite3_step(st);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	check_windows(tmp("roll.db"), "after pruning", t0, false);
	store_close(s);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	log_init(LOG_LEVEL_ERROR, "test_store", false);
	test_schema_and_upsert();
	test_migration();
	test_retention();
	test_rollups();
	test_workload();
	test_pipeline_and_merge();
	test_pipeline_corrupt();
	cleanup();
	return T_REPORT();
}

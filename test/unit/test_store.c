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
		int64_t limit = before / 2;
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
	test_workload();
	test_pipeline_and_merge();
	test_pipeline_corrupt();
	cleanup();
	return T_REPORT();
}

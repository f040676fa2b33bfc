/* SPDX-License-Identifier: Apache-2.0 */
/* test/bench/store.c - flow store: ingest rate, submit latency, query time on 10M rows.
 *
 *   store [--seconds S] [--rows N] [--db-dir DIR] [--no-ingest] [--no-query]
 *
 * Ingest: one producer thread pushes synthetic records through the real
 * pipeline (ring -> aggregation -> SQLite, one transaction per 1 s flush)
 * for S seconds (default 5). The mix is realistic for a node: 90% of the
 * records come from 500 hot flows (retries, chatty clients), 10% from a
 * universe of 50000, with external peers and several namespaces. Run 1
 * ("sustained") retries a record when the ring is full, so its rate is
 * what the store thread sustains end to end; run 2 ("lossy") never waits,
 * as a packet thread, and reports accepted and dropped rates. Submit
 * latency (what a packet thread pays) is sampled in both, and in an idle
 * run paced at 10k records/s.
 *
 * Query: builds (once, cached in DIR) a database of N rows (default 10M:
 * a week of one-minute buckets, ~1000 rows a minute) with the real schema,
 * then times typical `npshim flows` / `report` queries through store/query
 * (median of 5).
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/pipeline.h"
#include "core/log.h"
#include "store/query.h"
#include "store/store.h"

#define N_NS 10
#define N_WL 200
#define PODS_PER_WL 3
#define N_PODS (N_WL * PODS_PER_WL)

static struct pol_pod pods[N_PODS];
static struct pol_policy policies[N_NS];
static const struct pol_policy *policy_ptr[N_NS];
static char pod_names[N_PODS][3][48];
static char ns_names[N_NS][16];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void build_cluster(void)
{
	for (int n = 0; n < N_NS; n++) {
		snprintf(ns_names[n], sizeof(ns_names[n]), "team-%d", n);
		policies[n].ns = ns_names[n];
		policies[n].name = (char *)"default-deny";
		policy_ptr[n] = &policies[n];
	}
	for (int i = 0; i < N_PODS; i++) {
		int wl = i / PODS_PER_WL;

		snprintf(pod_names[i][2], 48, "%x", 0x6c4f00 + wl);
		snprintf(pod_names[i][1], 48, "svc%d-%s", wl, pod_names[i][2]);
		snprintf(pod_names[i][0], 48, "%s-%05d", pod_names[i][1], i);
		pods[i].ns = ns_names[wl % N_NS];
		pods[i].name = pod_names[i][0];
		pods[i].owner_kind = (char *)"ReplicaSet";
		pods[i].owner_name = pod_names[i][1];
		pol_labels_set(&pods[i].labels, "app", pod_names[i][1]);
		pol_labels_set(&pods[i].labels, "pod-template-hash", pod_names[i][2]);
		pol_labels_set(&pods[i].labels, "team", ns_names[wl % N_NS]);
	}
}

static void make_ip(struct pol_ip *ip, int a, int b, int c, int d)
{
	memset(ip, 0, sizeof(*ip));
	ip->b[10] = ip->b[11] = 0xff;
	ip->b[12] = (uint8_t)a;
	ip->b[13] = (uint8_t)b;
	ip->b[14] = (uint8_t)c;
	ip->b[15] = (uint8_t)d;
}

/* One record of flow k (0 <= k < 50000). */
static void make_record(uint64_t k, uint64_t *seed, struct pol_verdict *pv, struct pol_flow *flow,
			struct audit_record *r)
{
	int sp = (int)((k % N_WL) * PODS_PER_WL + xorshift(seed) % PODS_PER_WL);
	int dp = (int)(((k / N_WL) % N_WL) * PODS_PER_WL + xorshift(seed) % PODS_PER_WL);
	bool external = k % 25 == 3;

	memset(pv, 0, sizeof(*pv));
	pv->dst_kind = POL_EP_POD;
	pv->dst_pod = &pods[dp];
	if (external) {
		pv->src_kind = POL_EP_EXTERNAL;
		make_ip(&flow->src, 198, 51, 100, (int)(k % 250));
	} else {
		pv->src_kind = POL_EP_POD;
		pv->src_pod = &pods[sp];
		make_ip(&flow->src, 10, 244, sp >> 8, sp & 255);
	}
	make_ip(&flow->dst, 10, 244, dp >> 8, dp & 255);
	flow->proto = k % 7 == 0 ? POL_PROTO_UDP : POL_PROTO_TCP;
	flow->port = (uint16_t)(k % 7 == 0 ? 53 : 8000 + k % 40);
	pv->ingress.state = POL_DIR_DENIED;
	pv->ingress.isolating = &policy_ptr[(dp / PODS_PER_WL) % N_NS];
	pv->ingress.n_isolating = 1;
	pv->egress.state = POL_DIR_NOT_ISOLATED;
	audit_record_fill(r, flow, pv, k % 2 ? AUDIT_REC_WOULD_DENY : AUDIT_REC_DENY,
			  k % 2 ? AUDIT_REC_AUDIT : AUDIT_REC_ENFORCE, 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct lat {
	uint64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n < l->cap)
		l->v[l->n++] = ns;
}

static void lat_print(const char *what, struct lat *l)
{
	if (!l->n) {
		printf("  submit latency %-9s no samples\n", what);
		return;
	}
	qsort(l->v, l->n, sizeof(uint64_t), cmp_u64);
	printf("  submit latency %-9s p50 %4llu ns  p99 %5llu ns  p99.9 %6llu ns  (%zu samples)\n", what,
	       (unsigned long long)l->v[l->n / 2], (unsigned long long)l->v[l->n * 99 / 100],
	       (unsigned long long)l->v[l->n * 999 / 1000], l->n);
}

enum run_mode { RUN_SUSTAINED, RUN_LOSSY, RUN_PACED };

static double loadavg(void)
{
	double l = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = 0;
		fclose(f);
	}
	return l;
}

static void ingest(const char *dir, enum run_mode mode, double seconds)
{
	struct audit_pipeline_opts o = { .node_name = "bench", .flush_interval_ms = 1000 };
	struct audit_pipeline_stats st;
	struct audit_pipeline *p;
	struct lat lat = { 0 };
	char path[512], err[256];
	uint64_t seed = 88172645463325252ULL, produced = 0, accepted = 0;
	uint64_t start, end, flushed;
	struct rusage ru0, ru1;
	double cpu;

	snprintf(path, sizeof(path), "%s/ingest-%d.db", dir, (int)mode);
	unlink(path);
	o.db_path = path;
	p = audit_pipeline_start(&o, err, sizeof(err));
	if (!p) {
		printf("  cannot start the pipeline: %s\n", err);
		return;
	}
	lat.cap = 1 << 20;
	lat.v = malloc(lat.cap * sizeof(uint64_t));
	getrusage(RUSAGE_SELF, &ru0);
	start = now_ns();
	while ((double)(now_ns() - start) / 1e9 < seconds) {
		for (int b = 0; b < 256; b++) {
			struct audit_record r;
			struct pol_verdict pv;
			struct pol_flow flow;
			uint64_t x = xorshift(&seed), k, t0 = 0;
			bool sample = (produced & 63) == 0;
			bool ok;

			k = x % 10 < 9 ? (x >> 8) % 500 : (x >> 8) % 50000;
			make_record(k, &seed, &pv, &flow, &r);
			if (sample)
				t0 = now_ns();
			ok = audit_pipeline_submit(p, &r);
			if (sample)
				lat_add(&lat, now_ns() - t0);
			while (!ok && mode == RUN_SUSTAINED) {
				sched_yield();
				ok = audit_pipeline_submit(p, &r);
			}
			accepted += ok;
			produced++;
		}
		if (mode == RUN_PACED) {
			/* 10k records/s: 256 every 25.6 ms. */
			uint64_t due = start + produced * 100000ULL;
			uint64_t t = now_ns();

			if (due > t) {
				struct timespec ts = { (time_t)((due - t) / 1000000000ULL),
						       (long)((due - t) % 1000000000ULL) };

				nanosleep(&ts, NULL);
			}
		}
	}
	end = now_ns();
	audit_pipeline_flush(p, 60000);
	flushed = now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	audit_pipeline_stats(p, &st);
	switch (mode) {
	case RUN_SUSTAINED:
		printf("  sustained: %llu records in %.2f s + final flush %.0f ms -> %.0f records/s written "
		       "(%llu rows, %llu transactions; target >= 200000/s)\n",
		       (unsigned long long)st.records_written, (double)(end - start) / 1e9,
		       (double)(flushed - end) / 1e6,
		       (double)st.records_written / ((double)(flushed - start) / 1e9),
		       (unsigned long long)st.rows_written, (unsigned long long)st.flushes);
		printf("  sustained, per CPU: %.0f records per CPU-second (producer, store thread and SQLite "
		       "together; %.2f CPU-s used, machine load %.1f)\n",
		       cpu > 0 ? (double)st.records_written / cpu : 0.0, cpu, loadavg());
		lat_print("busy", &lat);
		break;
	case RUN_LOSSY:
		printf("  lossy (never waits): offered %.0f/s, accepted %.0f/s, dropped %.1f%% (ring full)\n",
		       (double)produced / ((double)(end - start) / 1e9),
		       (double)accepted / ((double)(end - start) / 1e9),
		       produced ? 100.0 * (double)st.dropped_full / (double)produced : 0.0);
		lat_print("saturated", &lat);
		break;
	case RUN_PACED:
		lat_print("idle", &lat);
		break;
	}
	audit_pipeline_stop(p);
	free(lat.v);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ingest-%d.db-wal", dir, (int)mode);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ingest-%d.db-shm", dir, (int)mode);
	unlink(path);
}

/* ---- 10M rows ---- */

static int64_t report_until;

static int64_t db_meta(const char *path, const char *key)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1", -1, &st, NULL) ==
		    SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static int64_t db_rows(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'bench_rows'"
				   " AND (SELECT user_version FROM pragma_user_version) = ?1",
				   -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int(st, 1, STORE_SCHEMA_VERSION);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The strings a bench row points to. */
struct bench_strs {
	char sname[32], dname[32], sip[24], dip[24], spod[48], dpod[48], pol[48];
};

/* Flows are drawn from a universe of 50000 (as in the ingest run):
 * each minute holds per_min distinct flows, 60% of them from the 1000
 * hot ones (a hot flow shows up in 6 minutes out of 10) and 40% from
 * the other 49000, in a rotation that repeats none of them within an
 * hour (the worst case for the hourly rollup: ~25k rows an hour, ~50k
 * a day). Every column of the key is a function of the flow number k
 * (through a permutation u of it), and fkey a hash of u, as the
 * daemon's fkey is a hash of the key. */
static void bench_row(int64_t i, int64_t first, int64_t per_min, uint64_t *seed, struct bench_strs *b,
		      struct store_row *r)
{
	int64_t m = i / per_min, j = i % per_min, hot = per_min * 6 / 10;
	int64_t bucket = first + m * 60;
	uint64_t x = xorshift(seed);
	uint64_t k = j < hot ? (uint64_t)((m * hot + j) % 1000)
			     : 1000 + (uint64_t)(((m * (per_min - hot) + (j - hot)) * 7919) % 49000);
	/* Hot or not, flows are spread over the cluster. */
	uint64_t u = (k * 7919 + 12345) % 50000;
	int s_wl = (int)(u % N_WL), d_wl = (int)((u / N_WL) % N_WL), hi = (int)(u / 40000);
	bool ext = u % 25 == 0, udp = u % 7 == 0;
	int verdict = (int)((u / 3) % 5);

	verdict = verdict < 2 ? 2 : verdict < 4 ? 1 : 0;
	if (ext)
		snprintf(b->sname, sizeof(b->sname), "198.51.100.%d", s_wl);
	else
		snprintf(b->sname, sizeof(b->sname), "svc%d", s_wl);
	snprintf(b->dname, sizeof(b->dname), "svc%d", d_wl);
	snprintf(b->sip, sizeof(b->sip), "10.244.%d.%d", s_wl / 50, s_wl % 250);
	snprintf(b->dip, sizeof(b->dip), "10.244.%d.%d", d_wl / 50, d_wl % 250);
	snprintf(b->spod, sizeof(b->spod), "svc%d-6c4f%02x-%05d", s_wl, s_wl & 255, (int)((x >> 44) % 3));
	snprintf(b->dpod, sizeof(b->dpod), "svc%d-6c4f%02x-%05d", d_wl, d_wl & 255, (int)((x >> 46) % 3));
	snprintf(b->pol, sizeof(b->pol), "team-%d/default-deny", d_wl % N_NS);
	*r = (struct store_row){
		.bucket = bucket, .key = splitmix(u),
		.first_ms = bucket * 1000 + (int64_t)(x % 30000),
		.last_ms = bucket * 1000 + 30000 + (int64_t)(x % 29000),
		.count = 1 + (x >> 50) % 40,
		.src_ns = ext ? "" : ns_names[s_wl % N_NS], .src_kind = ext ? "External" : "Deployment",
		.src_name = b->sname, .dst_ns = ns_names[d_wl % N_NS], .dst_kind = "Deployment",
		.dst_name = b->dname, .proto = udp ? 17 : 6,
		.port = (uint16_t)(udp ? 53 : 8000 + hi * 20 + (int)((u / 7) % 20)),
		.verdict = verdict, .mode = verdict == 2 ? 1 : 0,
		.direction = verdict ? ((u / 15) % 3 == 0 ? 3 : 2) : 0,
		.policies = verdict ? b->pol : "", .generation = 1,
		.src_ips = ext ? b->sname : b->sip, .src_pods = ext ? "" : b->spod,
		.dst_ips = b->dip, .dst_pods = b->dpod, .src_labels = "", .dst_labels = "",
	};
}

/* Bulk load in the version-2 layout, then store_open() migrates it: the
 * rollups are built the way an upgraded daemon builds them, and the time
 * that takes is reported. */
static int generate(const char *path, int64_t rows, int64_t now)
{
	struct store *s;
	sqlite3 *db;
	sqlite3_stmt *st;
	char err[512], meta[512];
	int64_t minutes = 7 * 24 * 60, first = (now / 60 - minutes) * 60;
	int64_t per_min = (rows + minutes - 1) / minutes;
	/* The data ends at `end` (a minute after its newest row). */
	int64_t end = first + ((rows - 1) / per_min + 1) * 60, live_from = end - 120 * 60, i;
	uint64_t seed = 0x2545F4914F6CDD1DULL, t0 = now_ns(), t1;
	char *idx_name[16], *idx_sql[16];
	int n_idx = 0;

	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, store_schema_step(1), NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, store_schema_step(2), NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL) != SQLITE_OK) {
		printf("  cannot create %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	/* Bulk load: no journal, no sync, indexes dropped and rebuilt after
	 * the load (a sort is much faster than 10M index inserts). The
	 * schema and indexes are the real ones, read from the file. */
	sqlite3_exec(db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; "
			 "PRAGMA cache_size = -262144",
		     NULL, NULL, NULL);
	{
		sqlite3_stmt *q;

		n_idx = 0;
		sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL",
				   -1, &q, NULL);
		while (sqlite3_step(q) == SQLITE_ROW && n_idx < 16) {
			idx_name[n_idx] = strdup((const char *)sqlite3_column_text(q, 0));
			idx_sql[n_idx] = strdup((const char *)sqlite3_column_text(q, 1));
			n_idx++;
		}
		sqlite3_finalize(q);
		for (int k = 0; k < n_idx; k++) {
			char drop[128];

			snprintf(drop, sizeof(drop), "DROP INDEX \"%s\"", idx_name[k]);
			sqlite3_exec(db, drop, NULL, NULL, NULL);
		}
	}
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db,
			   "INSERT INTO flow(bucket, fkey, first_seen, last_seen, count, src_ns, src_kind, src_name,"
			   " dst_ns, dst_kind, dst_name, proto, port, verdict, mode, direction, policies, generation,"
			   " src_ips, src_pods, dst_ips, dst_pods, src_labels, dst_labels)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'Deployment', ?10, ?11, ?12, ?13, ?14, ?15,"
			   " ?16, 1, ?17, ?18, ?19, ?20, '', '')",
			   -1, &st, NULL);
	/* All but the last two hours in bulk; those go through the writer
	 * (below), as a running daemon leaves them: the current hour and
	 * the one before not rolled up yet. */
	for (i = 0; i < rows && first + i / per_min * 60 < live_from; i++) {
		struct bench_strs bs;
		struct store_row r;

		bench_row(i, first, per_min, &seed, &bs, &r);
		sqlite3_bind_int64(st, 1, r.bucket);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r.key);
		sqlite3_bind_int64(st, 3, r.first_ms);
		sqlite3_bind_int64(st, 4, r.last_ms);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)r.count);
		sqlite3_bind_text(st, 6, r.src_ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, r.src_kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, r.src_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, r.dst_ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, r.dst_name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 11, r.proto);
		sqlite3_bind_int(st, 12, r.port);
		sqlite3_bind_int(st, 13, r.verdict);
		sqlite3_bind_int(st, 14, r.mode);
		sqlite3_bind_int(st, 15, r.direction);
		sqlite3_bind_text(st, 16, r.policies, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 17, r.src_ips, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 18, r.src_pods, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 19, r.dst_ips, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 20, r.dst_pods, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			printf("  insert failed at row %lld: %s\n", (long long)i, sqlite3_errmsg(db));
			sqlite3_finalize(st);
			sqlite3_close(db);
			return -1;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	snprintf(meta, sizeof(meta),
		 "INSERT INTO runs(node, started, last_seen, record) VALUES('bench-node', %lld, %lld, 'denied');"
		 "INSERT OR REPLACE INTO meta(key, value) VALUES('bench_now', '%lld');",
		 (long long)first * 1000, (long long)end * 1000, (long long)end);
	sqlite3_exec(db, meta, NULL, NULL, NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	for (int k = 0; k < n_idx; k++) {
		if (sqlite3_exec(db, idx_sql[k], NULL, NULL, NULL) != SQLITE_OK)
			printf("  %s: %s\n", idx_sql[k], sqlite3_errmsg(db));
		free(idx_name[k]);
		free(idx_sql[k]);
	}
	sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	sqlite3_close(db);
	printf("  generated %lld rows (schema version 2) in %.1f s (%s)\n", (long long)rows,
	       (double)(now_ns() - t0) / 1e9, path);
	t1 = now_ns();
	if (store_open(path, "bench-node", &s, err, sizeof(err)) != 0) {
		printf("  cannot migrate %s: %s\n", path, err);
		return -1;
	}
	printf("  migrated to schema version %d (rollups built) in %.1f s\n", STORE_SCHEMA_VERSION,
	       (double)(now_ns() - t1) / 1e9);
	/* The last two hours through the writer, a minute per transaction,
	 * and rolled up as the daemon would by now. */
	t1 = now_ns();
	{
		int64_t live = i, cur = -1;
		bool more = true;
		int ret = 0;

		for (; i < rows && !ret; i++) {
			struct bench_strs bs;
			struct store_row r;

			bench_row(i, first, per_min, &seed, &bs, &r);
			if (r.bucket != cur) {
				if (cur >= 0)
					ret = store_commit(s);
				if (!ret)
					ret = store_begin(s);
				cur = r.bucket;
			}
			if (!ret)
				ret = store_put(s, &r);
		}
		if (!ret && cur >= 0)
			ret = store_commit(s);
		while (!ret && more)
			ret = store_roll(s, end, &more);
		if (ret) {
			printf("  writing the last rows: %s\n", store_errmsg(s));
			store_close(s);
			return -1;
		}
		printf("  last %lld rows through the writer and rolled up in %.1f s\n", (long long)(rows - live),
		       (double)(now_ns() - t1) / 1e9);
	}
	store_close(s);
	/* What the daemon's hourly PRAGMA optimize would have left; and the
	 * mark that the file is complete, for the cache. */
	snprintf(meta, sizeof(meta),
		 "ANALYZE; INSERT OR REPLACE INTO meta(key, value) VALUES('bench_rows', '%lld');", (long long)rows);
	sqlite3_open(path, &db);
	sqlite3_exec(db, meta, NULL, NULL, NULL);
	sqlite3_close(db);
	return 0;
}

static int count_cb(void *ctx, size_t ncols, const char *const *names, const struct store_val *v)
{
	(*(int64_t *)ctx)++;
	return 0;
}

static void time_query(struct store_reader *rd, const char *what, const struct store_filter *f,
		       enum store_group g, uint64_t limit, const char *report_ns, int64_t report_since)
{
	uint64_t t[5];
	int64_t n = 0;
	char err[512];

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = now_ns();
		int rc;

		n = 0;
		if (report_since)
			rc = store_query_report(rd, report_ns, report_since, report_until, count_cb, &n, err,
						sizeof(err));
		else
			rc = store_query_flows(rd, f, g, limit, count_cb, &n, err, sizeof(err));
		t[i] = now_ns() - t0;
		if (rc) {
			printf("  %-48s failed: %s\n", what, err);
			return;
		}
	}
	qsort(t, 5, sizeof(t[0]), cmp_u64);
	printf("  %-48s %8.1f ms  (%lld rows)%s\n", what, (double)t[2] / 1e6, (long long)n,
	       (double)t[2] / 1e6 > 100 ? "  > 100 ms target" : "");
}

static void queries(const char *dir, int64_t rows)
{
	char path[512], err[512];
	const char *paths[1] = { path };
	struct store_reader *rd;
	int64_t now = time(NULL);

	snprintf(path, sizeof(path), "%s/flows-%lld.db", dir, (long long)rows);
	if (db_rows(path) != rows && generate(path, rows, now) != 0)
		return;
	/* Windows end where the data ends, however old the cached file. */
	now = db_meta(path, "bench_now");
	report_until = now + 1;
	{
		struct stat st;

		if (stat(path, &st) == 0)
			printf("  database: %lld rows, %.0f MiB\n", (long long)rows,
			       (double)st.st_size / 1048576.0);
	}
	rd = store_reader_open(paths, 1, err, sizeof(err));
	if (!rd) {
		printf("  cannot open %s: %s\n", path, err);
		return;
	}
	{
		struct store_filter f = { .port = -1, .verdict = -1 };

		time_query(rd, "flows (newest 100)", &f, STORE_GROUP_NONE, 100, NULL, 0);
		f.ns = "team-3";
		time_query(rd, "flows -n team-3 (newest 100)", &f, STORE_GROUP_NONE, 100, NULL, 0);
		f.since = now - 3600;
		time_query(rd, "flows -n team-3 --since 1h (all)", &f, STORE_GROUP_NONE, 0, NULL, 0);
		f.verdict = 2;
		time_query(rd, "flows -n team-3 --verdict would-deny --since 1h", &f, STORE_GROUP_NONE, 100,
			   NULL, 0);
		f.verdict = -1;
		f.ns = NULL;
		f.from.ns = "team-4";
		f.from.name = "svc4";
		time_query(rd, "flows --from team-4/svc4 --since 1h", &f, STORE_GROUP_NONE, 100, NULL, 0);
		f.from.ns = f.from.name = NULL;
		f.port = 53;
		f.proto = 17;
		time_query(rd, "flows --port 53/UDP --since 1h", &f, STORE_GROUP_NONE, 100, NULL, 0);
		f.port = -1;
		f.proto = 0;
		f.pod = "svc7-6c4f07-00001";
		time_query(rd, "flows --pod svc7-... --since 1h", &f, STORE_GROUP_NONE, 100, NULL, 0);
		f.pod = NULL;
		time_query(rd, "flows --group-by src --since 1h", &f, STORE_GROUP_SRC, 100, NULL, 0);
		f.ns = "team-3";
		time_query(rd, "flows --group-by pair -n team-3 --since 1h", &f, STORE_GROUP_PAIR, 100, NULL, 0);
		f.since = now - 86400;
		time_query(rd, "flows --group-by pair -n team-3 --since 1d", &f, STORE_GROUP_PAIR, 100, NULL, 0);
		f.ns = NULL;
		f.since = now - 86400;
		f.policy = "team-5/default-deny";
		time_query(rd, "flows --policy team-5/default-deny --since 1d", &f, STORE_GROUP_NONE, 100,
			   NULL, 0);
		f.policy = NULL;
		time_query(rd, "report -n team-3 --since 1d", &f, 0, 0, "team-3", now - 86400);
		time_query(rd, "report -n team-3 --since 7d", &f, 0, 0, "team-3", now - 7 * 86400);
	}
	store_reader_close(rd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "rows", required_argument, NULL, 'r' },
		{ "db-dir", required_argument, NULL, 'd' },
		{ "no-ingest", no_argument, NULL, 'I' },
		{ "no-query", no_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 5;
	int64_t rows = 10000000;
	const char *dir = "build/bench";
	bool do_ingest = true, do_query = true;
	int c;

	log_init(LOG_LEVEL_WARN, "bench-store", false);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': seconds = atof(argv[optind - 1]); break;
		case 'r': rows = atoll(argv[optind - 1]); break;
		case 'd': dir = argv[optind - 1]; break;
		case 'I': do_ingest = false; break;
		case 'Q': do_query = false; break;
		default:
			fprintf(stderr, "usage: store [--seconds S] [--rows N] [--db-dir DIR] [--no-ingest] [--no-query]\n");
			return 2;
		}
	}
	if (seconds <= 0 || rows <= 0) {
		fprintf(stderr, "store: --seconds and --rows must be positive\n");
		return 2;
	}
	build_cluster();
	if (do_ingest) {
		printf("ingest (ring -> aggregation -> SQLite in %s):\n", dir);
		ingest(dir, RUN_SUSTAINED, seconds);
		ingest(dir, RUN_LOSSY, seconds / 2);
		ingest(dir, RUN_PACED, seconds / 2);
	}
	if (do_query) {
		printf("queries on %lld rows (median of 5):\n", (long long)rows);
		queries(dir, rows);
	}
	for (int i = 0; i < N_PODS; i++)
		pol_labels_clear(&pods[i].labels);
	return 0;
}

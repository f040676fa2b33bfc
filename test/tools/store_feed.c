/* SPDX-License-Identifier: Apache-2.0 */
/* test/tools/store_feed.c - push synthetic flow records through the real pipeline.
 *
 *   store_feed --db PATH [--threads N] [--rate R] [--duration S | --count N]
 *              [--distinct K] [--verdict deny|would-deny|allow|mix]
 *              [--record denied|all] [--flush-ms MS] [--retention DUR]
 *              [--max-db-size SIZE] [--ring N] [--max-groups N]
 *              [--stats-ms MS] [--age S] [--node NAME]
 *
 * A synthetic cluster (10 namespaces, 200 Deployments of 3 pods, a few
 * CronJob and bare pods, external peers) provides the identities; each
 * record picks one of K distinct flows at random (so the mix has repeated
 * and distinct flows). --stats-ms prints one JSON line of pipeline counters
 * every MS milliseconds; the last line (after a final flush) has "final":
 * true. --age S stamps records S seconds in the past (retention tests).
 * SIGTERM/SIGINT end the run cleanly. Exit 0, 2 on bad usage, 3 when the
 * pipeline cannot start.
 *
 *   store_feed --check PATH
 *
 * opens PATH read-only and prints {"integrity":"ok","rows":N,"records":N,
 * "user_version":N}: PRAGMA integrity_check, flow rows and the sum of their
 * counts (the reliability suite cannot count on a sqlite3 shell).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "audit/pipeline.h"
#include "core/flags.h"
#include "core/log.h"

#define N_NS 10
#define N_WL 200
#define PODS_PER_WL 3
#define N_PODS (N_WL * PODS_PER_WL)

static struct pol_pod pods[N_PODS];
static struct pol_policy policies[N_NS];
static const struct pol_policy *policy_ptr[N_NS];
static char names[N_PODS][3][64];
static char ns_names[N_NS][16];
static char pol_names[N_NS][32];

static volatile sig_atomic_t stop_flag;
static atomic_uint_fast64_t produced;

static struct {
	struct audit_pipeline *p;
	unsigned threads;
	uint64_t rate;     /* total per second; 0 = as fast as possible */
	double duration;   /* seconds; 0 = until count or signal */
	uint64_t count;    /* total; 0 = until duration or signal */
	uint64_t distinct;
	int verdict;       /* -1 = mix */
	uint64_t age_s;
} cfg = { .threads = 2, .distinct = 1000, .verdict = -1 };

static void on_signal(int sig)
{
	stop_flag = 1;
}

static void build_cluster(void)
{
	for (int n = 0; n < N_NS; n++) {
		snprintf(ns_names[n], sizeof(ns_names[n]), "ns%d", n);
		snprintf(pol_names[n], sizeof(pol_names[n]), "default-deny");
		policies[n].ns = ns_names[n];
		policies[n].name = pol_names[n];
		policies[n].type_ingress = true;
		policies[n].type_egress = true;
		policy_ptr[n] = &policies[n];
	}
	for (int i = 0; i < N_PODS; i++) {
		int wl = i / PODS_PER_WL;
		struct pol_pod *pod = &pods[i];

		pod->ns = ns_names[wl % N_NS];
		pod->phase = POL_PHASE_RUNNING;
		if (wl % 20 == 19) {
			/* A bare pod: its own workload. */
			snprintf(names[i][0], 64, "debug-%d-%d", wl, i % PODS_PER_WL);
			pod->name = names[i][0];
		} else if (wl % 20 == 18) {
			snprintf(names[i][1], 64, "report-%d-29000%03d", wl, i % PODS_PER_WL);
			snprintf(names[i][0], 64, "%s-x%d", names[i][1], i);
			pod->name = names[i][0];
			pod->owner_kind = (char *)"Job";
			pod->owner_name = names[i][1];
		} else {
			snprintf(names[i][2], 64, "%08x", 0x5f7d00u + (unsigned)wl);
			snprintf(names[i][1], 64, "app%d-%s", wl, names[i][2]);
			snprintf(names[i][0], 64, "%s-%05d", names[i][1], i);
			pod->name = names[i][0];
			pod->owner_kind = (char *)"ReplicaSet";
			pod->owner_name = names[i][1];
			pol_labels_set(&pod->labels, "pod-template-hash", names[i][2]);
		}
		pol_labels_set(&pod->labels, "app", "synthetic");
		pol_labels_set(&pod->labels, "tier", wl % 2 ? "backend" : "frontend");
	}
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void pod_ip(int i, struct pol_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->b[10] = 0xff;
	ip->b[11] = 0xff;
	ip->b[12] = 10;
	ip->b[13] = 42;
	ip->b[14] = (uint8_t)(i >> 8);
	ip->b[15] = (uint8_t)i;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void *producer(void *arg)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);
	uint64_t start = now_ns(), mine = 0;
	uint64_t per_thread_rate = cfg.rate ? (cfg.rate + cfg.threads - 1) / cfg.threads : 0;

	while (!stop_flag) {
		struct audit_record r;
		struct pol_verdict pv;
		uint64_t k, sp, dp;
		bool external;

		if (cfg.count && atomic_fetch_add(&produced, 1) >= cfg.count)
			break;
		if (cfg.duration > 0 && (double)(now_ns() - start) / 1e9 >= cfg.duration)
			break;
		if (per_thread_rate && (mine % 256) == 0) {
			/* Pace in steps of 256 records. */
			double should = (double)mine / (double)per_thread_rate;
			double is = (double)(now_ns() - start) / 1e9;

			if (should > is) {
				struct timespec ts;
				double d = should - is;

				ts.tv_sec = (time_t)d;
				ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
				nanosleep(&ts, NULL);
			}
		}
		k = xorshift(&seed) % cfg.distinct;
		sp = (k % N_WL) * PODS_PER_WL + xorshift(&seed) % PODS_PER_WL;
		dp = ((k / N_WL) % N_WL) * PODS_PER_WL + xorshift(&seed) % PODS_PER_WL;
		external = k % 20 == 7;
		memset(&pv, 0, sizeof(pv));
		memset(&r, 0, sizeof(r));
		pv.dst_kind = POL_EP_POD;
		pv.dst_pod = &pods[dp];
		if (external) {
			pv.src_kind = POL_EP_EXTERNAL;
		} else {
			pv.src_kind = POL_EP_POD;
			pv.src_pod = &pods[sp];
		}
		pv.ingress.state = POL_DIR_DENIED;
		pv.ingress.isolating = &policy_ptr[(dp / PODS_PER_WL) % N_NS];
		pv.ingress.n_isolating = 1;
		if (!external && k % 3 == 0) {
			pv.egress.state = POL_DIR_DENIED;
			pv.egress.isolating = &policy_ptr[(sp / PODS_PER_WL) % N_NS];
			pv.egress.n_isolating = 1;
		} else {
			pv.egress.state = POL_DIR_NOT_ISOLATED;
		}
		{
			struct pol_flow flow;
			int v = cfg.verdict >= 0 ? cfg.verdict : (int)(k % 3);

			if (external) {
				memset(&flow.src, 0, sizeof(flow.src));
				flow.src.b[10] = flow.src.b[11] = 0xff;
				flow.src.b[12] = 203;
				flow.src.b[14] = 113;
				flow.src.b[15] = (uint8_t)(k / 20);
			} else {
				pod_ip((int)sp, &flow.src);
			}
			pod_ip((int)dp, &flow.dst);
			flow.proto = k % 10 == 9 ? POL_PROTO_UDP : POL_PROTO_TCP;
			flow.port = (uint16_t)(1000 + (k / (N_WL * N_WL)) % 30000);
			if (v == AUDIT_REC_ALLOW) {
				pv.allowed = true;
				pv.ingress.state = POL_DIR_ALLOWED;
				pv.ingress.policy = policy_ptr[(dp / PODS_PER_WL) % N_NS];
				pv.egress.state = POL_DIR_NOT_ISOLATED;
			}
			audit_record_fill(&r, &flow, &pv, (enum audit_rec_verdict)v,
					  v == AUDIT_REC_WOULD_DENY ? AUDIT_REC_AUDIT : AUDIT_REC_ENFORCE,
					  7);
		}
		if (cfg.age_s) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			r.time_ns = ((uint64_t)ts.tv_sec - cfg.age_s) * 1000000000ULL +
				    (uint64_t)ts.tv_nsec;
		}
		audit_pipeline_submit(cfg.p, &r);
		mine++;
	}
	return NULL;
}

static void print_stats(bool final, double elapsed)
{
	struct audit_pipeline_stats s;

	audit_pipeline_stats(cfg.p, &s);
	printf("{\"final\":%s,\"elapsed\":%.3f,\"submitted\":%llu,\"filtered\":%llu,"
	       "\"dropped_full\":%llu,\"dropped_groups\":%llu,\"dropped_store\":%llu,"
	       "\"truncated\":%llu,\"records_written\":%llu,\"rows_written\":%llu,"
	       "\"flushes\":%llu,\"flush_errors\":%llu,\"busy\":%llu,\"pruned\":%llu,"
	       "\"corrupt_moved\":%llu,\"db_ok\":%s,\"db_state\":\"",
	       final ? "true" : "false", elapsed, (unsigned long long)s.submitted,
	       (unsigned long long)s.filtered, (unsigned long long)s.dropped_full,
	       (unsigned long long)s.dropped_groups, (unsigned long long)s.dropped_store,
	       (unsigned long long)s.truncated, (unsigned long long)s.records_written,
	       (unsigned long long)s.rows_written, (unsigned long long)s.flushes,
	       (unsigned long long)s.flush_errors, (unsigned long long)s.busy,
	       (unsigned long long)s.pruned, (unsigned long long)s.corrupt_moved,
	       s.db_ok ? "true" : "false");
	for (const char *c = s.db_state; *c; c++) {
		if (*c == '"' || *c == '\\')
			putchar('\\');
		if ((unsigned char)*c >= 0x20)
			putchar(*c);
	}
	printf("\"}\n");
	fflush(stdout);
}

static int check(const char *path)
{
	static const char *const q[] = {
		"PRAGMA integrity_check",
		"SELECT count(*) FROM flow",
		"SELECT coalesce(sum(count), 0) FROM flow",
		"PRAGMA user_version",
	};
	char vals[4][256];
	sqlite3 *db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "store_feed: %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return 3;
	}
	for (int i = 0; i < 4; i++) {
		sqlite3_stmt *st;

		snprintf(vals[i], sizeof(vals[i]), "error: %s", "?");
		if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) != SQLITE_OK) {
			snprintf(vals[i], sizeof(vals[i]), "error: %s", sqlite3_errmsg(db));
			continue;
		}
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(vals[i], sizeof(vals[i]), "%s", (const char *)sqlite3_column_text(st, 0));
		else
			snprintf(vals[i], sizeof(vals[i]), "error: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	for (char *c = vals[0]; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = ' ';
	printf("{\"integrity\":\"%s\",\"rows\":%s,\"records\":%s,\"user_version\":%s}\n", vals[0],
	       vals[1][0] == 'e' ? "null" : vals[1], vals[2][0] == 'e' ? "null" : vals[2],
	       vals[3][0] == 'e' ? "null" : vals[3]);
	return strcmp(vals[0], "ok") == 0 ? 0 : 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: store_feed --db PATH [--threads N] [--rate R] [--duration S | --count N]\n"
			"                  [--distinct K] [--verdict deny|would-deny|allow|mix]\n"
			"                  [--record denied|all] [--flush-ms MS] [--retention DUR]\n"
			"                  [--max-db-size SIZE] [--ring N] [--max-groups N] [--stats-ms MS]\n"
			"                  [--age S] [--node NAME]\n"
			"       store_feed --check PATH\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'D' },
		{ "count", required_argument, NULL, 'c' },
		{ "distinct", required_argument, NULL, 'k' },
		{ "verdict", required_argument, NULL, 'v' },
		{ "record", required_argument, NULL, 'R' },
		{ "flush-ms", required_argument, NULL, 'f' },
		{ "retention", required_argument, NULL, 'T' },
		{ "max-db-size", required_argument, NULL, 'M' },
		{ "ring", required_argument, NULL, 'g' },
		{ "max-groups", required_argument, NULL, 'G' },
		{ "stats-ms", required_argument, NULL, 's' },
		{ "age", required_argument, NULL, 'a' },
		{ "node", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_pipeline_opts po = { .node_name = "node-a" };
	uint64_t v, stats_ms = 0, start;
	pthread_t th[64];
	char err[512];
	int c;

	log_init(LOG_LEVEL_INFO, "store_feed", true);
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return check(argv[2]);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': po.db_path = optarg; break;
		case 'n': po.node_name = optarg; break;
		case 't':
			if (!flag_parse_u64(optarg, 1, 64, &v))
				return usage();
			cfg.threads = (unsigned)v;
			break;
		case 'r':
			if (!flag_parse_u64(optarg, 0, UINT64_MAX, &cfg.rate))
				return usage();
			break;
		case 'D': cfg.duration = atof(optarg); break;
		case 'c':
			if (!flag_parse_u64(optarg, 1, UINT64_MAX, &cfg.count))
				return usage();
			break;
		case 'k':
			if (!flag_parse_u64(optarg, 1, UINT64_MAX, &cfg.distinct))
				return usage();
			break;
		case 'v':
			if (strcmp(optarg, "mix") == 0) {
				cfg.verdict = -1;
			} else {
				enum audit_rec_verdict vv;

				if (!audit_rec_verdict_parse(optarg, &vv))
					return usage();
				cfg.verdict = (int)vv;
			}
			break;
		case 'R':
			if (strcmp(optarg, "all") == 0)
				po.record = AUDIT_RECORD_ALL;
			else if (strcmp(optarg, "denied") == 0)
				po.record = AUDIT_RECORD_DENIED;
			else
				return usage();
			break;
		case 'f':
			if (!flag_parse_u64(optarg, 1, 600000, &v))
				return usage();
			po.flush_interval_ms = (uint32_t)v;
			break;
		case 'T':
			if (!flag_parse_duration(optarg, &po.retention_s))
				return usage();
			break;
		case 'M':
			if (!flag_parse_size(optarg, &po.max_db_bytes))
				return usage();
			break;
		case 'g':
			if (!flag_parse_u64(optarg, 2, 1 << 24, &v))
				return usage();
			po.ring_slots = (uint32_t)v;
			break;
		case 'G':
			if (!flag_parse_u64(optarg, 1, 1 << 24, &v))
				return usage();
			po.max_groups = (uint32_t)v;
			break;
		case 's':
			if (!flag_parse_u64(optarg, 1, 600000, &stats_ms))
				return usage();
			break;
		case 'a':
			if (!flag_parse_u64(optarg, 0, 1ULL << 32, &cfg.age_s))
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (!po.db_path || optind != argc)
		return usage();
	build_cluster();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	cfg.p = audit_pipeline_start(&po, err, sizeof(err));
	if (!cfg.p) {
		fprintf(stderr, "store_feed: %s\n", err);
		return 3;
	}
	start = now_ns();
	for (unsigned i = 0; i < cfg.threads; i++)
		pthread_create(&th[i], NULL, producer, (void *)(uintptr_t)i);
	if (stats_ms) {
		/* Report while producers run; stop when they are done. */
		for (;;) {
			struct timespec ts = { (time_t)(stats_ms / 1000), (long)(stats_ms % 1000) * 1000000L };
			bool done = stop_flag;

			if (!done && cfg.duration > 0)
				done = (double)(now_ns() - start) / 1e9 >= cfg.duration;
			if (!done && cfg.count)
				done = atomic_load(&produced) >= cfg.count;
			if (done)
				break;
			nanosleep(&ts, NULL);
			print_stats(false, (double)(now_ns() - start) / 1e9);
		}
	}
	for (unsigned i = 0; i < cfg.threads; i++)
		pthread_join(th[i], NULL);
	audit_pipeline_flush(cfg.p, 10000);
	print_stats(true, (double)(now_ns() - start) / 1e9);
	audit_pipeline_stop(cfg.p);
	for (int i = 0; i < N_PODS; i++)
		pol_labels_clear(&pods[i].labels);
	return 0;
}

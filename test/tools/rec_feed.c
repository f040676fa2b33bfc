/* SPDX-License-Identifier: Apache-2.0 */
/* test/tools/rec_feed.c - record given flows into a flow database as the daemon would.
 *
 *   rec_feed --db PATH --cluster PATH [--cluster PATH ...]
 *            [--mode audit|enforce] [--record all|denied] < FLOWS
 *
 * FLOWS: one JSON object per line,
 *   {"src": "10.244.1.14", "dst": "10.244.1.12", "protocol": "TCP",
 *    "port": 5432, "count": 3, "age": 3600}
 * (protocol defaults to TCP, count to 1, age - seconds before now - to 0).
 * Each flow is decided by the engine against the cluster, turned into a
 * record by audit_record_fill() (deny or would-deny by --mode, default
 * audit) and pushed through the real pipeline into PATH, exactly the path
 * `npshim run` takes. Prints {"submitted": N, "written": N}. Exit 0, 2 on
 * bad usage or input, 3 when the pipeline fails.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "audit/pipeline.h"
#include "audit/record.h"
#include "cli/offline.h"
#include "policy/model.h"

static int feed_line(struct audit_pipeline *p, const struct pol_model *m, const char *line,
		     size_t lineno, enum audit_rec_mode mode, uint64_t *submitted)
{
	cJSON *j = cJSON_Parse(line);
	const cJSON *src, *dst, *proto, *port, *count, *age;
	struct pol_flow f = { 0 };
	struct pol_verdict v;
	struct audit_record r;
	uint64_t now_ns;
	struct timespec ts;
	double n = 1, a = 0;

	if (!j) {
		fprintf(stderr, "rec_feed: line %zu: not JSON\n", lineno);
		return 2;
	}
	src = cJSON_GetObjectItemCaseSensitive(j, "src");
	dst = cJSON_GetObjectItemCaseSensitive(j, "dst");
	proto = cJSON_GetObjectItemCaseSensitive(j, "protocol");
	port = cJSON_GetObjectItemCaseSensitive(j, "port");
	count = cJSON_GetObjectItemCaseSensitive(j, "count");
	age = cJSON_GetObjectItemCaseSensitive(j, "age");
	if (!cJSON_IsString(src) || !cJSON_IsString(dst) || !pol_ip_parse(src->valuestring, &f.src) ||
	    !pol_ip_parse(dst->valuestring, &f.dst)) {
		fprintf(stderr, "rec_feed: line %zu: src and dst must be IP addresses\n", lineno);
		cJSON_Delete(j);
		return 2;
	}
	f.proto = POL_PROTO_TCP;
	if (cJSON_IsString(proto) && !(f.proto = pol_proto_parse(proto->valuestring))) {
		fprintf(stderr, "rec_feed: line %zu: unknown protocol\n", lineno);
		cJSON_Delete(j);
		return 2;
	}
	if (cJSON_IsNumber(port))
		f.port = (uint16_t)port->valueint;
	if (cJSON_IsNumber(count))
		n = count->valuedouble;
	if (cJSON_IsNumber(age))
		a = age->valuedouble;
	cJSON_Delete(j);
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	pol_eval(m, &f, 0, &v);
	for (long i = 0; i < (long)n; i++) {
		enum audit_rec_verdict verdict = v.allowed ? AUDIT_REC_ALLOW :
			mode == AUDIT_REC_AUDIT ? AUDIT_REC_WOULD_DENY : AUDIT_REC_DENY;

		audit_record_fill(&r, &f, &v, verdict, mode, 1);
		r.time_ns = now_ns - (uint64_t)(a * 1e9) + (uint64_t)i * 1000;
		while (!audit_pipeline_submit(p, &r))
			audit_pipeline_flush(p, 1000);
		(*submitted)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "record", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_pipeline_opts po = { .record = AUDIT_RECORD_ALL, .flush_interval_ms = 100,
					  .node_name = "test-node" };
	struct offline_paths clusters = { 0 };
	enum audit_rec_mode mode = AUDIT_REC_AUDIT;
	struct audit_pipeline_stats st;
	struct audit_pipeline *p;
	struct pol_model *m = NULL;
	char *line = NULL, err[512];
	size_t cap = 0, lineno = 0;
	uint64_t submitted = 0;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			po.db_path = optarg;
			break;
		case 'c':
			if (offline_paths_add(&clusters, optarg) < 0)
				return 3;
			break;
		case 'm':
			mode = strcmp(optarg, "enforce") == 0 ? AUDIT_REC_ENFORCE : AUDIT_REC_AUDIT;
			break;
		case 'r':
			po.record = strcmp(optarg, "denied") == 0 ? AUDIT_RECORD_DENIED : AUDIT_RECORD_ALL;
			break;
		default:
			fprintf(stderr, "usage: rec_feed --db PATH --cluster PATH [--mode audit|enforce] [--record all|denied]\n");
			return 2;
		}
	}
	if (!po.db_path || !clusters.n) {
		fprintf(stderr, "rec_feed: --db and --cluster are required\n");
		return 2;
	}
	if (offline_load_model("rec_feed", clusters.v, clusters.n, NULL, &m) != 0)
		return 2;
	p = audit_pipeline_start(&po, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "rec_feed: %s\n", err);
		pol_model_free(m);
		return 3;
	}
	while (getline(&line, &cap, stdin) != -1) {
		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		ret = feed_line(p, m, line, lineno, mode, &submitted);
		if (ret)
			break;
	}
	free(line);
	if (audit_pipeline_flush(p, 10000) != 0 && !ret)
		ret = 3;
	audit_pipeline_stats(p, &st);
	audit_pipeline_stop(p);
	pol_model_free(m);
	offline_paths_free(&clusters);
	printf("{\"submitted\": %llu, \"written\": %llu}\n", (unsigned long long)submitted,
	       (unsigned long long)st.records_written);
	return ret;
}

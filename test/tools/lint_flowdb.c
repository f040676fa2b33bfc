/* SPDX-License-Identifier: Apache-2.0 */
/* test/tools/lint_flowdb.c - write a small flow database for the lint suite (NP013).
 *
 *   lint_flowdb PATH [--record all|denied] POLICIES...
 *
 * Each POLICIES argument ("ns/name[,ns/name...]", or "" for none) becomes
 * one recorded flow decided by those policies, stamped now, through the
 * store's own writer, inside one recording period of the given scope
 * (default all). Exit 0, 2 on bad usage, 3 when the store fails.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

int main(int argc, char **argv)
{
	const char *record = "all";
	struct store *s = NULL;
	char err[512];
	struct timespec ts;
	int64_t now_ms;
	int first = 2, rc;

	if (argc < 2) {
		fprintf(stderr, "usage: lint_flowdb PATH [--record all|denied] POLICIES...\n");
		return 2;
	}
	if (argc > 3 && strcmp(argv[2], "--record") == 0) {
		record = argv[3];
		first = 4;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	rc = store_open(argv[1], "node-1", &s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "lint_flowdb: %s\n", err);
		return 3;
	}
	rc = store_begin(s);
	if (!rc)
		rc = store_run_start(s, now_ms - 60000, record);
	for (int i = first; !rc && i < argc; i++) {
		struct store_row row = {
			.bucket = (now_ms / 1000) / 60 * 60,
			.key = (uint64_t)i,
			.first_ms = now_ms - 1000,
			.last_ms = now_ms,
			.count = 3,
			.src_ns = "shop", .src_kind = "Deployment", .src_name = "web",
			.dst_ns = "shop", .dst_kind = "StatefulSet", .dst_name = "db",
			.proto = 6, .port = 5432,
			.verdict = 0, .mode = 0, .direction = 0,
			.policies = argv[i],
			.generation = 1,
			.src_ips = "10.244.1.11", .src_pods = "web-1", .src_labels = "app=web",
			.dst_ips = "10.244.1.20", .dst_pods = "db-0", .dst_labels = "app=db",
		};

		rc = store_put(s, &row);
	}
	if (!rc)
		rc = store_run_touch(s, now_ms);
	if (!rc)
		rc = store_commit(s);
	if (rc) {
		fprintf(stderr, "lint_flowdb: %s\n", store_errmsg(s));
		store_rollback(s);
		store_close(s);
		return 3;
	}
	store_close(s);
	return 0;
}

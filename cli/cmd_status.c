/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_status.c - `npshim status`: ask the running daemon how it is doing. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/ctl.h"
#include "core/log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim status [--socket PATH] [--output text|json]\n"
		"\n"
		"Ask the running 'npshim run' daemon over its control socket (default\n"
		"%s) for its mode, model generation and age, pods and\n"
		"policies loaded, reloads and the last reload error, and per-queue counters\n"
		"(received, accepted, dropped, would-deny, parse errors, enobufs, kernel\n"
		"queue drops from /proc/net/netfilter/nfnetlink_queue).\n"
		"\n"
		"--output json prints the daemon's answer, one object:\n"
		"  version, pid, mode, fail_open, node, node_ips[], uptime_s,\n"
		"  model {generation, age_s, built_at, pods, policies, namespaces, staged_policies,\n"
		"         namespace_modes {NS: \"audit\"|\"enforce\"} (namespaces whose label sets it)},\n"
		"  reload {count, failures, last_error, last_error_at, last_at, pending},\n"
		"  rules {managed, installed, keep, repairs, mark, hooks[]},\n"
		"  queues [{num, received, accepted, dropped, would_deny, parse_errors, enobufs,\n"
		"           verdict_errors, batches, verdict_msgs, copy_range, maxlen, rcvbuf, gso,\n"
		"           fail_open, kernel_known, kernel_queue_total, kernel_queue_dropped,\n"
		"           kernel_user_dropped, kernel_drops, kernel_id_sequence}],\n"
		"  totals {received, accepted, dropped, would_deny, parse_errors, enobufs,\n"
		"          verdict_errors, kernel_drops},\n"
		"  records {sink: \"log\", log_lines, log_suppressed} or\n"
		"          {sink: \"store\", db, submitted, dropped_full, dropped_store,\n"
		"           records_written, db_ok, db_state}\n"
		"\n"
		"Exit status: 0 answered; 2 bad usage; 3 no daemon or no answer.\n",
		CTL_DEFAULT_SOCKET);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static void print_text(const cJSON *st)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(st, "model");
	const cJSON *reload = cJSON_GetObjectItemCaseSensitive(st, "reload");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(st, "rules");
	const cJSON *queues = cJSON_GetObjectItemCaseSensitive(st, "queues");
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "records");
	const cJSON *q;

	printf("npshim %s, pid %.0f, up %.0f s\n", str(st, "version", "?"), num(st, "pid"),
	       num(st, "uptime_s"));
	printf("mode:      %s, %s\n", str(st, "mode", "?"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "fail_open")) ? "fail-open" : "fail-closed");
	printf("node:      %s\n", str(st, "node", "(every pod is local)"));
	printf("model:     generation %.0f, %.0f s old, %.0f namespaces, %.0f pods, %.0f policies%s\n",
	       num(model, "generation"), num(model, "age_s"), num(model, "namespaces"),
	       num(model, "pods"), num(model, "policies"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "staged_policies")) ? " (some staged)" : "");
	printf("reloads:   %.0f (%.0f failed)\n", num(reload, "count"), num(reload, "failures"));
	if (str(reload, "last_error", NULL))
		printf("           last error (%s): %s\n", str(reload, "last_error_at", "?"),
		       str(reload, "last_error", ""));
	printf("rules:     %s, mark %s, %.0f repairs\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rules, "installed")) ? "installed" :
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rules, "managed")) ? "not installed" :
									       "managed elsewhere",
	       str(rules, "mark", "?"), num(rules, "repairs"));
	printf("%-6s %10s %10s %10s %10s %8s %8s %10s\n", "queue", "received", "accepted", "dropped",
	       "would-deny", "parse-err", "enobufs", "kern-drops");
	cJSON_ArrayForEach(q, queues) {
		printf("%-6.0f %10.0f %10.0f %10.0f %10.0f %8.0f %8.0f %10.0f\n", num(q, "num"),
		       num(q, "received"), num(q, "accepted"), num(q, "dropped"), num(q, "would_deny"),
		       num(q, "parse_errors"), num(q, "enobufs"), num(q, "kernel_drops"));
	}
	if (strcmp(str(rec, "sink", ""), "store") == 0)
		printf("records:   store %s: %.0f submitted, %.0f written, %.0f dropped; %s\n",
		       str(rec, "db", "?"), num(rec, "submitted"), num(rec, "records_written"),
		       num(rec, "dropped_full") + num(rec, "dropped_store"), str(rec, "db_state", "?"));
	else
		printf("records:   log, %.0f lines, %.0f suppressed\n", num(rec, "log_lines"),
		       num(rec, "log_suppressed"));
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CTL_DEFAULT_SOCKET;
	bool json = false;
	char err[512], *resp = NULL;
	cJSON *st;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!optarg[0]) {
				log_errx("status: --socket needs a path");
				return CMD_USAGE;
			}
			path = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0) {
				json = true;
			} else if (strcmp(optarg, "text") != 0) {
				log_errx("status: --output '%s': expected text or json", optarg);
				return CMD_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return CMD_OK;
		default:
			return cli_option_error("status", c, argv);
		}
	}
	if (optind < argc) {
		log_errx("status: unexpected argument '%s'", argv[optind]);
		return CMD_USAGE;
	}
	if (ctl_request(path, "{\"cmd\":\"status\"}", &resp, 5000, err, sizeof(err)) < 0) {
		log_errx("status: %s", err);
		return CMD_FAILURE;
	}
	st = cJSON_Parse(resp);
	if (!st || !cJSON_IsObject(st)) {
		log_errx("status: the daemon at %s answered something that is not JSON", path);
		cJSON_Delete(st);
		free(resp);
		return CMD_FAILURE;
	}
	if (cJSON_GetObjectItemCaseSensitive(st, "error")) {
		log_errx("status: the daemon refused: %s", str(st, "error", "?"));
		cJSON_Delete(st);
		free(resp);
		return CMD_FAILURE;
	}
	if (json)
		printf("%s\n", resp);
	else
		print_text(st);
	cJSON_Delete(st);
	free(resp);
	return CMD_OK;
}

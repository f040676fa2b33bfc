/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_replay.c - `npshim replay`: recorded flows under a proposed policy set (CI gate). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "audit/recommend.h"
#include "audit/replay.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/offline.h"
#include "cli/rec_cli.h"
#include "core/flags.h"
#include "core/log.h"
#include "store/query.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim replay --db PATH [--db PATH ...] --cluster PATH [--cluster PATH ...]\n"
		"                     --policies PATH [--policies PATH ...] [--delete NS/NAME ...]\n"
		"                     [--since 7d] [--enforced-only] [--output table|json]\n"
		"\n"
		"Evaluate every recorded flow under the current cluster and again with the\n"
		"proposed policies applied on top of it, and list the flows whose verdict\n"
		"changes, both ways.\n"
		"\n"
		"  --db PATH         flow database, one per node; repeatable (up to %d)\n"
		"  --cluster PATH    the cluster as it is now (namespaces, pods, policies)\n"
		"  --policies PATH   the proposed NetworkPolicies: one with the namespace and\n"
		"                    name of a current policy replaces it, any other is added;\n"
		"                    only NetworkPolicy objects are accepted here\n"
		"  --delete NS/NAME  the proposal deletes this current policy; repeatable.\n"
		"                    In a --policies file, the annotation\n"
		"                    npshim.io/delete: \"true\" on a NetworkPolicy does the same\n"
		"                    (the rest of that object is not used)\n"
		"  --since DUR       flows last seen within DUR (default 7d)\n"
		"  --enforced-only   leave staged policies (npshim.io/mode: audit) out on both\n"
		"                    sides\n"
		"  --output FORMAT   table (default) or json\n"
		"\n"
		"Pods recorded but gone since are rebuilt from their recorded labels, so a\n"
		"week of history stays meaningful across rollouts.\n"
		"\n"
		"Exit status: 0 no observed flow that is allowed now would be denied; 1 at\n"
		"least one would (listed as allow -> deny); 2 bad flags or input; 3 failure.\n",
		STORE_READER_MAX);
}

struct replay_args {
	struct offline_paths dbs, clusters, policies, deletes;
	const char *since_text;
	uint64_t since_s;
	unsigned eval_flags;
	bool json;
};

static int parse_args(int argc, char **argv, struct replay_args *a)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "policies", required_argument, NULL, 'p' },
		{ "delete", required_argument, NULL, 'x' },
		{ "since", required_argument, NULL, 's' },
		{ "enforced-only", no_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->since_text = "7d";
	a->since_s = 7 * 86400;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		struct offline_paths *list = NULL;
		const char *opt = NULL; /* its name, for messages */

		switch (c) {
		case 'd':
			list = &a->dbs;
			opt = "--db";
			break;
		case 'c':
			list = &a->clusters;
			opt = "--cluster";
			break;
		case 'p':
			list = &a->policies;
			opt = "--policies";
			break;
		case 'x':
			list = &a->deletes;
			opt = "--delete";
			break;
		case 's':
			if (!flag_parse_duration(optarg, &a->since_s) || a->since_s == 0) {
				log_errx("replay: --since '%s': expected a duration such as 90m, 12h, 7d", optarg);
				return CMD_USAGE;
			}
			a->since_text = optarg;
			break;
		case 'e':
			a->eval_flags |= POL_EVAL_ENFORCED_ONLY;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0) {
				a->json = true;
			} else if (strcmp(optarg, "table") == 0) {
				a->json = false;
			} else {
				log_errx("replay: --output '%s': expected table or json", optarg);
				return CMD_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_option_error("replay", c, argv);
		}
		if (list) {
			int rc = offline_paths_take(list, "replay", opt, optarg);

			if (rc != CMD_OK)
				return rc;
		}
	}
	if (optind < argc) {
		log_errx("replay: unexpected argument '%s'", argv[optind]);
		return CMD_USAGE;
	}
	if (!a->dbs.n || !a->clusters.n || (!a->policies.n && !a->deletes.n)) {
		log_errx("replay: --db, --cluster and --policies (or --delete) are required; "
			 "see 'npshim replay --help'");
		return CMD_USAGE;
	}
	if (a->dbs.n > STORE_READER_MAX) {
		log_errx("replay: at most %d --db files", STORE_READER_MAX);
		return CMD_USAGE;
	}
	return CMD_OK;
}

static const char *proto_text(uint8_t proto, char *buf, size_t len)
{
	const char *n = pol_proto_name(proto);

	if (n)
		return n;
	snprintf(buf, len, "%u", proto);
	return buf;
}

/* Who decides the verdict: "allowed by ns/name rule N (egress)", or the
 * isolating policies of the denying directions. */
static char *decided_by(const struct pol_verdict *v)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	const struct pol_dir_result *dirs[2] = { &v->egress, &v->ingress };
	const char *names[2] = { "egress", "ingress" };
	bool any = false;

	if (!f)
		return NULL;
	if (v->reason == POL_REASON_SELF)
		fprintf(f, "a pod reaching itself");
	else if (v->reason == POL_REASON_NODE)
		fprintf(f, "traffic with the pod's own node");
	for (int d = 0; d < 2 && v->reason == POL_REASON_POLICY; d++) {
		const struct pol_dir_result *r = dirs[d];

		if (v->allowed && r->state == POL_DIR_ALLOWED && r->policy) {
			fprintf(f, "%s%s allowed by %s/%s rule %d", any ? "; " : "", names[d],
				r->policy->ns, r->policy->name, r->rule);
			any = true;
		} else if (!v->allowed && r->state == POL_DIR_DENIED) {
			fprintf(f, "%s%s denied: isolated by", any ? "; " : "", names[d]);
			for (size_t i = 0; i < r->n_isolating; i++)
				fprintf(f, "%s %s/%s", i ? "," : "", r->isolating[i]->ns,
					r->isolating[i]->name);
			any = true;
		}
	}
	if (!any && v->reason == POL_REASON_POLICY)
		fprintf(f, v->allowed ? "no policy isolates either end" : "denied");
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static cJSON *verdict_json(const struct pol_verdict *v)
{
	cJSON *j = cJSON_CreateObject();
	char *by = decided_by(v);

	if (j) {
		cJSON_AddStringToObject(j, "verdict", v->allowed ? "allow" : "deny");
		cJSON_AddStringToObject(j, "decided_by", by ? by : "");
	}
	free(by);
	return j;
}

static int print_json(const struct replay_args *a, const struct audit_obs_set *obs,
		      const struct audit_replay_change *ch, size_t n, size_t pairs,
		      size_t replaced, size_t added, size_t deleted, size_t broken)
{
	cJSON *root = cJSON_CreateObject(), *arr, *pol;
	char *text;

	if (!root)
		return CMD_FAILURE;
	cJSON_AddStringToObject(root, "since", a->since_text);
	cJSON_AddNumberToObject(root, "flows", (double)obs->n);
	cJSON_AddNumberToObject(root, "pairs_evaluated", (double)pairs);
	pol = cJSON_AddObjectToObject(root, "policies");
	if (pol) {
		cJSON_AddNumberToObject(pol, "replaced", (double)replaced);
		cJSON_AddNumberToObject(pol, "added", (double)added);
		cJSON_AddNumberToObject(pol, "deleted", (double)deleted);
	}
	cJSON_AddNumberToObject(root, "broken", (double)broken);
	cJSON_AddNumberToObject(root, "opened", (double)(n - broken));
	arr = cJSON_AddArrayToObject(root, "changes");
	for (size_t i = 0; arr && i < n; i++) {
		const struct audit_obs *o = ch[i].obs;
		cJSON *j = cJSON_CreateObject();
		char s[600], d[600], p[8], t1[40], t2[40], ip1[POL_IP_STRLEN], ip2[POL_IP_STRLEN];

		if (!j)
			break;
		cJSON_AddItemToArray(arr, j);
		cJSON_AddStringToObject(j, "change", ch[i].before.allowed ? "allow->deny" : "deny->allow");
		cJSON_AddStringToObject(j, "src", audit_obs_ep_name(&o->src, s, sizeof(s)));
		cJSON_AddStringToObject(j, "dst", audit_obs_ep_name(&o->dst, d, sizeof(d)));
		cJSON_AddStringToObject(j, "protocol", proto_text(o->proto, p, sizeof(p)));
		cJSON_AddNumberToObject(j, "port", o->port);
		cJSON_AddNumberToObject(j, "connections", (double)o->count);
		cJSON_AddStringToObject(j, "first_seen", rec_time_format(o->first_ms, t1, sizeof(t1)));
		cJSON_AddStringToObject(j, "last_seen", rec_time_format(o->last_ms, t2, sizeof(t2)));
		cJSON_AddStringToObject(j, "src_ip", pol_ip_format(&ch[i].flow.src, ip1, sizeof(ip1)));
		cJSON_AddStringToObject(j, "dst_ip", pol_ip_format(&ch[i].flow.dst, ip2, sizeof(ip2)));
		cJSON_AddBoolToObject(j, "src_recorded_pod", o->src.ghost);
		cJSON_AddBoolToObject(j, "dst_recorded_pod", o->dst.ghost);
		cJSON_AddItemToObject(j, "before", verdict_json(&ch[i].before));
		cJSON_AddItemToObject(j, "after", verdict_json(&ch[i].after));
	}
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return CMD_FAILURE;
	printf("%s\n", text);
	free(text);
	return CMD_OK;
}

static void print_table(const struct audit_obs_set *obs, const struct audit_replay_change *ch,
			size_t n, size_t pairs, size_t replaced, size_t added, size_t deleted,
			size_t broken)
{
	printf("replay: %zu recorded flow%s (%zu address pairs) with %zu replaced, %zu added, "
	       "%zu deleted polic%s: %zu would be denied, %zu newly allowed\n",
	       obs->n, obs->n == 1 ? "" : "s", pairs, replaced, added, deleted,
	       replaced + added + deleted == 1 ? "y" : "ies", broken, n - broken);
	if (!n)
		return;
	printf("%-13s  %-36s  %-36s  %-10s  %7s  %-20s  %s\n", "CHANGE", "SOURCE", "DESTINATION",
	       "PORT", "CONNS", "LAST SEEN", "NOW");
	/* Breaks first: they are what fails the gate. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			const struct audit_obs *o = ch[i].obs;
			char s[600], d[600], p[8], port[24], t[40];
			char *by;

			if (ch[i].before.allowed != (pass == 0))
				continue;
			by = decided_by(&ch[i].after);
			if (o->proto == POL_PROTO_ICMP || o->proto == POL_PROTO_ICMPV6)
				snprintf(port, sizeof(port), "%s", proto_text(o->proto, p, sizeof(p)));
			else
				snprintf(port, sizeof(port), "%s/%u", proto_text(o->proto, p, sizeof(p)), o->port);
			printf("%-13s  %-36s  %-36s  %-10s  %7" PRIu64 "  %-20s  %s\n",
			       pass == 0 ? "allow -> deny" : "deny -> allow",
			       audit_obs_ep_name(&o->src, s, sizeof(s)),
			       audit_obs_ep_name(&o->dst, d, sizeof(d)), port, o->count,
			       rec_time_format(o->last_ms, t, sizeof(t)), by ? by : "");
			free(by);
		}
}

int cmd_replay(int argc, char **argv)
{
	struct replay_args a = { 0 };
	struct store_reader *reader = NULL;
	struct audit_obs_set obs = { 0 };
	struct pol_cluster *current = NULL, *proposed = NULL, *ghosts = NULL, *after_cl = NULL;
	struct pol_model *model_cur = NULL, *before = NULL, *after = NULL;
	struct audit_replay_change *changes = NULL;
	struct rec_cli_names deletes = { 0 };
	size_t n_changes = 0, pairs = 0, rows = 0, replaced = 0, added = 0, deleted = 0, broken = 0;
	char err[512];
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret != CMD_OK) {
		ret = ret < 0 ? CMD_OK : ret;
		goto out;
	}
	reader = store_reader_open(a.dbs.v, a.dbs.n, err, sizeof(err));
	if (!reader) {
		log_errx("replay: %s", err);
		ret = CMD_USAGE;
		goto out;
	}
	ret = rec_cli_read_flows("replay", reader, (int64_t)time(NULL) - (int64_t)a.since_s, &obs, &rows);
	if (ret != CMD_OK)
		goto out;
	ret = offline_load_cluster("replay", "--cluster", a.clusters.v, a.clusters.n, NULL, &current);
	if (ret == CMD_OK && a.policies.n)
		ret = offline_load_cluster("replay", "--policies", a.policies.v, a.policies.n, NULL, &proposed);
	if (ret != CMD_OK)
		goto out;
	if (!proposed && !(proposed = pol_cluster_new())) {
		log_err("replay");
		ret = CMD_FAILURE;
		goto out;
	}
	/* Deletions: --delete, and proposed objects annotated for deletion
	 * (taken out of the proposal: they are not added). */
	for (size_t i = 0; i < a.deletes.n; i++) {
		char **v = realloc(deletes.v, (deletes.n + 1) * sizeof(*v));

		if (v)
			deletes.v = v;
		if (!v || !(v[deletes.n] = strdup(a.deletes.v[i]))) {
			log_err("replay");
			ret = CMD_FAILURE;
			goto out;
		}
		deletes.n++;
	}
	if (a.policies.n) {
		size_t before_scan = deletes.n;

		ret = rec_cli_scan_deletes("replay", a.policies.v, a.policies.n, &deletes);
		if (ret != CMD_OK)
			goto out;
		for (size_t d = before_scan; d < deletes.n; d++) {
			const char *slash = strchr(deletes.v[d], '/');
			size_t nslen = (size_t)(slash - deletes.v[d]);

			for (size_t i = 0; i < proposed->n_policies; i++) {
				struct pol_policy *pp = proposed->policies[i];

				if (strlen(pp->ns) == nslen && strncmp(pp->ns, deletes.v[d], nslen) == 0 &&
				    strcmp(pp->name, slash + 1) == 0) {
					pol_policy_free(pp);
					memmove(&proposed->policies[i], &proposed->policies[i + 1],
						(proposed->n_policies - i - 1) * sizeof(*proposed->policies));
					proposed->n_policies--;
					break;
				}
			}
		}
	}
	if (proposed->n_pods || proposed->n_namespaces) {
		const char *what = proposed->n_pods ? "Pod" : "Namespace";
		const char *origin = proposed->n_pods ? proposed->pods[0]->origin
						      : proposed->namespaces[0]->origin;

		log_errx("replay: --policies: only NetworkPolicy objects belong here; found a %s at %s "
			 "(put cluster state under --cluster)", what, origin ? origin : "?");
		ret = CMD_USAGE;
		goto out;
	}
	ret = rec_cli_model("replay", current, NULL, &model_cur);
	if (ret != CMD_OK)
		goto out;
	ghosts = pol_cluster_new();
	if (!ghosts || audit_obs_resolve(&obs, model_cur, ghosts) < 0) {
		log_err("replay");
		ret = CMD_FAILURE;
		goto out;
	}
	ret = rec_cli_model("replay", current, ghosts, &before);
	if (ret != CMD_OK)
		goto out;
	after_cl = pol_cluster_clone(current);
	if (!after_cl) {
		log_err("replay");
		ret = CMD_FAILURE;
		goto out;
	}
	if (audit_replay_apply(after_cl, proposed, (const char *const *)deletes.v, deletes.n, &replaced, &added,
			       &deleted, err, sizeof(err)) < 0) {
		if (errno == ENOMEM) {
			log_err("replay");
			ret = CMD_FAILURE;
		} else {
			log_errx("replay: %s", err);
			ret = CMD_USAGE;
		}
		goto out;
	}
	ret = rec_cli_model("replay", after_cl, ghosts, &after);
	if (ret != CMD_OK)
		goto out;
	if (audit_replay_diff(&obs, before, after, a.eval_flags, &changes, &n_changes, &pairs) < 0) {
		log_err("replay");
		ret = CMD_FAILURE;
		goto out;
	}
	for (size_t i = 0; i < n_changes; i++)
		if (changes[i].before.allowed)
			broken++;
	if (obs.n == 0)
		log_warnx("replay: no recorded flow in the last %s: nothing to check against",
			  a.since_text);
	{
		size_t runs_denied = 0, runs_all = 0;

		if (rec_cli_record_scope("replay", reader, (int64_t)time(NULL) - (int64_t)a.since_s,
					 &runs_denied, &runs_all) < 0) {
			ret = CMD_USAGE;
			goto out;
		}
		if (runs_denied)
			log_warnx("replay: %zu recording period%s used --record denied: connections "
				  "allowed at the time are not in the history and cannot be checked",
				  runs_denied, runs_denied == 1 ? "" : "s");
	}
	if (a.json) {
		ret = print_json(&a, &obs, changes, n_changes, pairs, replaced, added, deleted, broken);
		if (ret != CMD_OK) {
			log_err("replay");
			goto out;
		}
	} else {
		print_table(&obs, changes, n_changes, pairs, replaced, added, deleted, broken);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_err("replay: writing the output");
		ret = CMD_FAILURE;
		goto out;
	}
	ret = broken ? CMD_NEGATIVE : CMD_OK;
out:
	free(changes);
	rec_cli_names_free(&deletes);
	pol_model_free(after);
	pol_model_free(before);
	pol_model_free(model_cur);
	pol_cluster_free(after_cl);
	pol_cluster_free(ghosts);
	pol_cluster_free(proposed);
	pol_cluster_free(current);
	audit_obs_set_free(&obs);
	store_reader_close(reader);
	offline_paths_free(&a.dbs);
	offline_paths_free(&a.clusters);
	offline_paths_free(&a.policies);
	offline_paths_free(&a.deletes);
	return ret;
}

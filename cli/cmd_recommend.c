/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_recommend.c - `npshim recommend`: least-privilege policies from recorded flows. */
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
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/kubeconfig.h"
#include "store/query.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim recommend --db PATH [--db PATH ...] --cluster PATH... | --kubeconfig F | --in-cluster\n"
		"                        [-n NAMESPACE ... | -A] [--since 7d] [--cidr-prefix 24]\n"
		"                        [--cidr-prefix6 64] [--include-denied] [--output yaml|json]\n"
		"\n"
		"Write least-privilege NetworkPolicies from recorded flows (npshim run --db ...\n"
		"--record all, or the would-deny records of an audit), and prove that they\n"
		"cover what was recorded.\n"
		"\n"
		"  --db PATH          flow database, one per node; repeatable (up to %d)\n"
		"  --cluster PATH     the cluster as it is now: manifests or kubectl output,\n"
		"                     files or directories; repeatable\n"
		"Or read the cluster as it is now from the API server instead of --cluster:\n"
		K8S_CONN_USAGE
		"  -n, --namespace NS write policies for NS; repeatable\n"
		"  -A, --all-namespaces  for every namespace with recorded pod traffic (the\n"
		"                     default)\n"
		"  --since DUR        flows last seen within DUR (default 7d)\n"
		"  --cidr-prefix N    external IPv4 addresses sharing a /N are merged into one\n"
		"                     ipBlock (default 24); a lone address stays /32\n"
		"  --cidr-prefix6 N   the same for IPv6 (default 64)\n"
		"  --include-denied   also allow flows the daemon dropped under enforce (left\n"
		"                     out by default: they never happened)\n"
		"  --output FORMAT    yaml (default; for kubectl apply -f) or json (a List\n"
		"                     with an extra \"coverage\" member)\n"
		"\n"
		"Per namespace: default-deny (ingress and egress), allow-dns when its pods\n"
		"queried the cluster DNS (k8s-app=kube-dns, TCP and UDP 53), then for every\n"
		"workload that had traffic <app>-ingress and <app>-egress. Workloads are\n"
		"selected by the fewest stable labels that select exactly their pods;\n"
		"other namespaces by kubernetes.io/metadata.name; nodes and external\n"
		"addresses by ipBlock. A name the cluster already uses gets the prefix\n"
		"\"recommended-\". Annotations npshim.io/recommended, npshim.io/covers,\n"
		"npshim.io/first-seen and npshim.io/last-seen say what each policy covers.\n"
		"\n"
		"Coverage proof: the output is loaded back, added to the current cluster,\n"
		"and every recorded flow is evaluated again (each sampled source address\n"
		"with each sampled destination; pods that are gone are rebuilt from their\n"
		"recorded labels). YAML carries the proof as comments at the top and the\n"
		"over-permission of each rule (ports, pod pairs and addresses it allows\n"
		"that were never seen) in a comment above it; JSON carries it in\n"
		"\"coverage\". Flows seen once a day or less are listed, and a window with\n"
		"less than a day of recording is warned about. A one-line summary and\n"
		"the warnings also go to standard error. The output is sorted and the same\n"
		"for the same data.\n"
		"\n"
		"Exit status: 0 every recorded flow is covered; 1 some are not (listed), or\n"
		"there is no recorded flow in the window; 2 bad flags or input; 3 failure.\n",
		STORE_READER_MAX);
}

struct rec_args {
	struct offline_paths dbs;
	struct offline_paths clusters;
	struct k8s_conn_opts live; /* --kubeconfig, --context, --in-cluster, --sa-dir */
	struct offline_paths namespaces;
	bool all_ns;
	const char *since_text;
	uint64_t since_s;
	uint64_t prefix4, prefix6;
	bool include_denied;
	bool json;
};

static int parse_args(int argc, char **argv, struct rec_args *a)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "since", required_argument, NULL, 's' },
		{ "cidr-prefix", required_argument, NULL, '4' },
		{ "cidr-prefix6", required_argument, NULL, '6' },
		{ "include-denied", no_argument, NULL, 'D' },
		{ "output", required_argument, NULL, 'o' },
		K8S_CONN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->since_text = "7d";
	a->since_s = 7 * 86400;
	a->prefix4 = 24;
	a->prefix6 = 64;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hn:Ao:", longopts, NULL)) != -1) {
		struct offline_paths *list = NULL;
		const char *opt = NULL; /* its name, for messages */

		if (k8s_conn_opts_getopt(&a->live, c, optarg))
			continue;
		switch (c) {
		case 'd':
			list = &a->dbs;
			opt = "--db";
			break;
		case 'c':
			list = &a->clusters;
			opt = "--cluster";
			break;
		case 'n':
			list = &a->namespaces;
			opt = "--namespace";
			break;
		case 'A':
			a->all_ns = true;
			break;
		case 's':
			if (!flag_parse_duration(optarg, &a->since_s) || a->since_s == 0) {
				log_errx("recommend: --since '%s': expected a duration such as 90m, 12h, 7d",
					 optarg);
				return CMD_USAGE;
			}
			a->since_text = optarg;
			break;
		case '4':
			if (!flag_parse_u64(optarg, 1, 32, &a->prefix4)) {
				log_errx("recommend: --cidr-prefix '%s': expected a prefix length 1-32", optarg);
				return CMD_USAGE;
			}
			break;
		case '6':
			if (!flag_parse_u64(optarg, 1, 128, &a->prefix6)) {
				log_errx("recommend: --cidr-prefix6 '%s': expected a prefix length 1-128", optarg);
				return CMD_USAGE;
			}
			break;
		case 'D':
			a->include_denied = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0) {
				a->json = true;
			} else if (strcmp(optarg, "yaml") == 0) {
				a->json = false;
			} else {
				log_errx("recommend: --output '%s': expected yaml or json", optarg);
				return CMD_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_option_error("recommend", c, argv);
		}
		if (list) {
			int rc = offline_paths_take(list, "recommend", opt, optarg);

			if (rc != CMD_OK)
				return rc;
		}
	}
	if (optind < argc) {
		log_errx("recommend: unexpected argument '%s'", argv[optind]);
		return CMD_USAGE;
	}
	if (a->dbs.n == 0 || (a->clusters.n == 0 && !a->live.given)) {
		log_errx("recommend: --db PATH and --cluster PATH (or --kubeconfig/--in-cluster) are "
			 "required; see 'npshim recommend --help'");
		return CMD_USAGE;
	}
	if (a->clusters.n && a->live.given) {
		log_errx("recommend: --cluster and --kubeconfig/--in-cluster exclude each other");
		return CMD_USAGE;
	}
	if (a->all_ns && a->namespaces.n) {
		log_errx("recommend: -A and -n exclude each other");
		return CMD_USAGE;
	}
	return CMD_OK;
}

struct rare {
	const struct audit_obs *o;
	double per_day;
};

struct report {
	const struct audit_obs_set *obs;
	const struct rec_result *res;
	const struct rec_cover *cover;
	size_t n_missing, pairs, n_used;
	uint64_t connections;
	int64_t recorded_ms, runs_first_ms; /* recording periods in the window */
	int64_t first_ms, last_ms;           /* of the flows used */
	size_t runs_denied, runs_all;        /* recording periods by --record */
	double days;
	struct rare *rare;
	size_t n_rare;
	char **warnings;
	size_t n_warnings;
	const struct rec_args *args;
	size_t n_dbs;
};

static const char *proto_text(uint8_t proto, char *buf, size_t len)
{
	const char *n = pol_proto_name(proto);

	if (n)
		return n;
	snprintf(buf, len, "%u", proto);
	return buf;
}

static char *obs_line(const struct audit_obs *o)
{
	char s[600], d[600], p[8], t[40];
	char *out;

	const char *pt = proto_text(o->proto, p, sizeof(p));

	audit_obs_ep_name(&o->src, s, sizeof(s));
	audit_obs_ep_name(&o->dst, d, sizeof(d));
	if (o->proto == POL_PROTO_ICMP || o->proto == POL_PROTO_ICMPV6) {
		if (asprintf(&out, "%s -> %s %s: %" PRIu64 " connection%s, last %s", s, d, pt, o->count,
			     o->count == 1 ? "" : "s", rec_time_format(o->last_ms, t, sizeof(t))) < 0)
			return NULL;
	} else if (asprintf(&out, "%s -> %s %s %u: %" PRIu64 " connection%s, last %s", s, d, pt,
			    o->port, o->count, o->count == 1 ? "" : "s",
			    rec_time_format(o->last_ms, t, sizeof(t))) < 0) {
		return NULL;
	}
	return out;
}

static const char *why_denied(const struct pol_verdict *v)
{
	bool eg = v->egress.state == POL_DIR_DENIED, in = v->ingress.state == POL_DIR_DENIED;

	if (eg && in)
		return "denied by the egress of the source and the ingress of the destination";
	if (eg)
		return "denied by the egress of the source";
	if (in)
		return "denied by the ingress of the destination";
	return "denied";
}

static bool add_warning(struct report *rp, char *w)
{
	char **v;

	if (!w)
		return false;
	v = realloc(rp->warnings, (rp->n_warnings + 1) * sizeof(*v));
	if (!v) {
		free(w);
		return false;
	}
	rp->warnings = v;
	v[rp->n_warnings++] = w;
	return true;
}

static int rare_cmp(const void *pa, const void *pb)
{
	const struct rare *a = pa, *b = pb;

	if (a->o->last_ms != b->o->last_ms)
		return a->o->last_ms < b->o->last_ms ? -1 : 1;
	return 0;
}

static bool analyse(struct report *rp)
{
	char d[40];

	rp->first_ms = rp->last_ms = 0;
	for (size_t i = 0; i < rp->obs->n; i++) {
		const struct audit_obs *o = rp->obs->v[i];

		if (!rp->res->used[i])
			continue;
		rp->n_used++;
		rp->connections += o->count;
		if (!rp->first_ms || o->first_ms < rp->first_ms)
			rp->first_ms = o->first_ms;
		if (o->last_ms > rp->last_ms)
			rp->last_ms = o->last_ms;
	}
	{
		/* A daemon still running has touched its period up to 10 s ago:
		 * the flows may reach further. */
		int64_t span = rp->last_ms - rp->first_ms;

		if (rp->runs_first_ms && rp->recorded_ms > span)
			span = rp->recorded_ms;
		rp->recorded_ms = span;

		rp->days = (double)span / 86400000.0;
		if (span < 86400000) {
			char *w;

			if (asprintf(&w, "the window holds only %s of recording (less than a day): "
				     "daily and weekly flows (backups, cron jobs, reports) may be missing",
				     rec_cli_duration(span, d, sizeof(d))) < 0 || !add_warning(rp, w))
				return false;
		}
	}
	if (rp->runs_denied) {
		char *w;

		if (asprintf(&w, "%zu of the %zu recording period%s in the window used --record denied: "
			     "connections allowed at the time were not recorded, and the default-deny "
			     "blocks those no other policy allows; record with --record all",
			     rp->runs_denied, rp->runs_denied + rp->runs_all,
			     rp->runs_denied + rp->runs_all == 1 ? "" : "s") < 0 || !add_warning(rp, w))
			return false;
	}
	rp->rare = calloc(rp->obs->n + 1, sizeof(*rp->rare));
	if (!rp->rare)
		return false;
	for (size_t i = 0; i < rp->obs->n; i++) {
		const struct audit_obs *o = rp->obs->v[i];
		double per_day = (double)o->count / (rp->days > 1.0 ? rp->days : 1.0);

		if (rp->res->used[i] && per_day <= 1.0)
			rp->rare[rp->n_rare++] = (struct rare){ .o = o, .per_day = per_day };
	}
	if (rp->n_rare > 1)
		qsort(rp->rare, rp->n_rare, sizeof(*rp->rare), rare_cmp);
	for (size_t i = 0; i < rp->res->n_notes; i++) {
		char *w = strdup(rp->res->notes[i]);

		if (!add_warning(rp, w))
			return false;
	}
	return true;
}

static void write_yaml_header(FILE *f, const struct report *rp)
{
	char *s = NULL, t1[40], t2[40], d[40];
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);
	const struct rec_result *res = rp->res;

	if (!m)
		return;
	fprintf(m, "NetworkPolicies recommended by npshim from recorded flows (--since %s).\n",
		rp->args->since_text);
	fprintf(m, "Namespaces:");
	for (size_t i = 0; i < res->n_namespaces; i++)
		fprintf(m, "%s %s", i ? "," : "", res->namespaces[i]);
	fprintf(m, "\n");
	if (rp->n_used && rp->runs_first_ms)
		fprintf(m, "Recorded: %s .. %s, %s of recording in %zu database%s.\n",
			rec_time_format(rp->first_ms, t1, sizeof(t1)),
			rec_time_format(rp->last_ms, t2, sizeof(t2)),
			rec_cli_duration(rp->recorded_ms, d, sizeof(d)), rp->n_dbs,
			rp->n_dbs == 1 ? "" : "s");
	else if (rp->n_used)
		fprintf(m, "Recorded: %s .. %s in %zu database%s (no recording periods stored).\n",
			rec_time_format(rp->first_ms, t1, sizeof(t1)),
			rec_time_format(rp->last_ms, t2, sizeof(t2)), rp->n_dbs,
			rp->n_dbs == 1 ? "" : "s");
	fprintf(m, "\n");
	if (rp->n_missing == 0)
		fprintf(m, "Coverage proof: all %zu recorded flows (%" PRIu64 " connections) are allowed\n"
			   "by the current policies plus these: loaded back and evaluated, %zu address\n"
			   "pairs.\n", rp->n_used, rp->connections, rp->pairs);
	else
		fprintf(m, "Coverage proof FAILED: %zu of %zu recorded flows are still denied by the\n"
			   "current policies plus these (%zu address pairs evaluated):\n",
			rp->n_missing, rp->n_used, rp->pairs);
	for (size_t i = 0; i < rp->obs->n; i++) {
		char *l;

		if (rp->cover[i].covered || !(l = obs_line(rp->obs->v[i])))
			continue;
		fprintf(m, "  NOT COVERED %s (%s)\n", l, why_denied(&rp->cover[i].verdict));
		free(l);
	}
	if (res->n_left_denied)
		fprintf(m, "Left out: %zu flow%s only ever dropped under enforce (--include-denied\n"
			   "covers them).\n", res->n_left_denied, res->n_left_denied == 1 ? "" : "s");
	if (res->n_always)
		fprintf(m, "Not needing a rule: %zu flow%s a pod to itself or to its own node.\n",
			res->n_always, res->n_always == 1 ? "" : "s");
	if (res->n_outside)
		fprintf(m, "Outside the chosen namespaces: %zu flow%s.\n", res->n_outside,
			res->n_outside == 1 ? "" : "s");
	fprintf(m, "Over-permission (what a rule allows that was never seen): in the comment\n"
		   "above each rule.\n");
	if (rp->n_rare) {
		fprintf(m, "\nSeen once a day or less (%zu): check that these are wanted.\n", rp->n_rare);
		for (size_t i = 0; i < rp->n_rare; i++) {
			char *l = obs_line(rp->rare[i].o);

			if (l)
				fprintf(m, "  %s\n", l);
			free(l);
		}
	}
	for (size_t i = 0; i < rp->n_warnings; i++)
		fprintf(m, "%sWARNING: %s\n", i ? "" : "\n", rp->warnings[i]);
	if (fclose(m) == 0)
		rec_yaml_comment(f, s);
	free(s);
}

static cJSON *obs_json(const struct audit_obs *o)
{
	cJSON *j = cJSON_CreateObject();
	char s[600], d[600], p[8], t1[40], t2[40];

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "src", audit_obs_ep_name(&o->src, s, sizeof(s)));
	cJSON_AddStringToObject(j, "dst", audit_obs_ep_name(&o->dst, d, sizeof(d)));
	cJSON_AddStringToObject(j, "protocol", proto_text(o->proto, p, sizeof(p)));
	cJSON_AddNumberToObject(j, "port", o->port);
	cJSON_AddNumberToObject(j, "connections", (double)o->count);
	cJSON_AddNumberToObject(j, "days_seen", (double)o->n_days);
	cJSON_AddStringToObject(j, "first_seen", rec_time_format(o->first_ms, t1, sizeof(t1)));
	cJSON_AddStringToObject(j, "last_seen", rec_time_format(o->last_ms, t2, sizeof(t2)));
	return j;
}

static cJSON *coverage_json(const struct report *rp)
{
	const struct rec_result *res = rp->res;
	cJSON *c = cJSON_CreateObject(), *a, *pol;
	char t[40];

	if (!c)
		return NULL;
	cJSON_AddStringToObject(c, "since", rp->args->since_text);
	cJSON_AddNumberToObject(c, "databases", (double)rp->n_dbs);
	cJSON_AddNumberToObject(c, "recorded_ms", (double)rp->recorded_ms);
	if (rp->n_used) {
		cJSON_AddStringToObject(c, "first_seen", rec_time_format(rp->first_ms, t, sizeof(t)));
		cJSON_AddStringToObject(c, "last_seen", rec_time_format(rp->last_ms, t, sizeof(t)));
	}
	a = cJSON_AddArrayToObject(c, "namespaces");
	for (size_t i = 0; a && i < res->n_namespaces; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(res->namespaces[i]));
	cJSON_AddNumberToObject(c, "flows", (double)rp->n_used);
	cJSON_AddNumberToObject(c, "connections", (double)rp->connections);
	cJSON_AddNumberToObject(c, "pairs_evaluated", (double)rp->pairs);
	cJSON_AddNumberToObject(c, "covered", (double)(rp->n_used - rp->n_missing));
	cJSON_AddBoolToObject(c, "complete", rp->n_missing == 0);
	a = cJSON_AddArrayToObject(c, "not_covered");
	for (size_t i = 0; a && i < rp->obs->n; i++) {
		cJSON *j;

		if (rp->cover[i].covered || !(j = obs_json(rp->obs->v[i])))
			continue;
		cJSON_AddStringToObject(j, "reason", why_denied(&rp->cover[i].verdict));
		cJSON_AddItemToArray(a, j);
	}
	a = cJSON_AddObjectToObject(c, "left_out");
	if (a) {
		cJSON_AddNumberToObject(a, "denied_under_enforce", (double)res->n_left_denied);
		cJSON_AddNumberToObject(a, "always_allowed", (double)res->n_always);
		cJSON_AddNumberToObject(a, "outside_namespaces", (double)res->n_outside);
	}
	a = cJSON_AddArrayToObject(c, "rare");
	for (size_t i = 0; a && i < rp->n_rare; i++) {
		cJSON *j = obs_json(rp->rare[i].o);

		if (j) {
			cJSON_AddNumberToObject(j, "per_day", rp->rare[i].per_day);
			cJSON_AddItemToArray(a, j);
		}
	}
	a = cJSON_AddArrayToObject(c, "warnings");
	for (size_t i = 0; a && i < rp->n_warnings; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(rp->warnings[i]));
	pol = cJSON_AddArrayToObject(c, "policies");
	for (size_t i = 0; pol && i < res->n_policies; i++) {
		const struct rec_policy *p = &res->policies[i];
		cJSON *pj = cJSON_CreateObject(), *rules;

		if (!pj)
			break;
		cJSON_AddItemToArray(pol, pj);
		cJSON_AddStringToObject(pj, "namespace", p->ns);
		cJSON_AddStringToObject(pj, "name", p->name);
		cJSON_AddNumberToObject(pj, "flows", (double)p->n_flows);
		cJSON_AddNumberToObject(pj, "connections", (double)p->count);
		cJSON_AddNumberToObject(pj, "pods_selected", (double)p->pods_selected);
		rules = cJSON_AddArrayToObject(pj, "rules");
		for (size_t k = 0; rules && k < p->n_rules; k++) {
			const struct rec_rule *r = &p->rules[k];
			cJSON *rj = cJSON_CreateObject();
			char *cm = rec_rule_comment(p, k);

			if (!rj) {
				free(cm);
				break;
			}
			cJSON_AddItemToArray(rules, rj);
			if (cm)
				cJSON_AddStringToObject(rj, "summary", cm);
			free(cm);
			cJSON_AddNumberToObject(rj, "connections", (double)r->count);
			cJSON_AddBoolToObject(rj, "all_ports", r->all_ports);
			cJSON_AddNumberToObject(rj, "ports_open", (double)r->ports_open);
			cJSON_AddNumberToObject(rj, "ports_unseen", (double)r->ports_unseen);
			cJSON_AddNumberToObject(rj, "pod_pairs", (double)r->pod_pairs);
			cJSON_AddNumberToObject(rj, "pod_pairs_unseen", (double)r->pod_pairs_unseen);
			cJSON_AddNumberToObject(rj, "addresses", (double)r->addrs);
			cJSON_AddNumberToObject(rj, "addresses_unseen", (double)r->addrs_unseen);
		}
	}
	return c;
}

/* The policies as YAML documents, with rule comments. */
static char *render_yaml(const struct rec_result *res, cJSON **objs)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < res->n_policies; i++) {
		const struct rec_policy *p = &res->policies[i];
		char **comments = calloc(p->n_rules + 1, sizeof(*comments));

		for (size_t k = 0; comments && k < p->n_rules; k++)
			comments[k] = rec_rule_comment(p, k);
		fputs("---\n", f);
		rec_yaml_write(f, objs[i], p->kind == REC_INGRESS ? "ingress" : "egress", comments,
			       comments ? p->n_rules : 0);
		for (size_t k = 0; comments && k < p->n_rules; k++)
			free(comments[k]);
		free(comments);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* Load the emitted text back: the proof evaluates what the user applies. */
static int load_back(const char *text, const struct pol_cluster *base, struct pol_model **proof)
{
	struct pol_cluster *loaded = pol_cluster_new();
	struct k8s_diag diag;
	size_t n_errors;
	int ret;

	if (!loaded) {
		log_err("recommend");
		return CMD_FAILURE;
	}
	k8s_diag_init(&diag);
	n_errors = k8s_load_buffer("recommended policies", text, strlen(text), K8S_FORMAT_YAML,
				   loaded, &diag);
	if (n_errors) {
		k8s_diag_print(&diag, stderr);
		k8s_diag_free(&diag);
		pol_cluster_free(loaded);
		log_errx("recommend: internal error: the recommended policies do not load back");
		return CMD_FAILURE;
	}
	k8s_diag_free(&diag);
	ret = rec_cli_model("recommend", base, loaded, proof);
	pol_cluster_free(loaded);
	return ret;
}

int cmd_recommend(int argc, char **argv)
{
	struct rec_args a = { 0 };
	struct store_reader *reader = NULL;
	struct audit_obs_set obs = { 0 };
	struct pol_cluster *current = NULL, *ghosts = NULL, *base = NULL;
	struct pol_model *model_cur = NULL, *model_base = NULL, *proof = NULL;
	struct rec_result res = { 0 };
	struct rec_cover *cover = NULL;
	struct report rp = { 0 };
	cJSON **objs = NULL;
	char *yaml = NULL, err[512];
	size_t rows = 0;
	int64_t now = (int64_t)time(NULL), since;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret != CMD_OK) {
		ret = ret < 0 ? CMD_OK : ret;
		goto out;
	}
	if (a.dbs.n > STORE_READER_MAX) {
		log_errx("recommend: at most %d --db files", STORE_READER_MAX);
		ret = CMD_USAGE;
		goto out;
	}
	since = now - (int64_t)a.since_s;
	reader = store_reader_open(a.dbs.v, a.dbs.n, err, sizeof(err));
	if (!reader) {
		log_errx("recommend: %s", err);
		ret = CMD_USAGE;
		goto out;
	}
	ret = rec_cli_read_flows("recommend", reader, since, &obs, &rows);
	if (ret != CMD_OK)
		goto out;
	if (store_query_coverage(reader, since, now + 1, &rp.recorded_ms, &rp.runs_first_ms, err,
				 sizeof(err)) < 0) {
		log_errx("recommend: %s", err);
		ret = CMD_USAGE;
		goto out;
	}
	if (rec_cli_record_scope("recommend", reader, since, &rp.runs_denied, &rp.runs_all) < 0) {
		ret = CMD_USAGE;
		goto out;
	}
	if (obs.n == 0) {
		log_errx("recommend: no recorded flow in the last %s of %zu database%s; record with "
			 "'npshim run --db PATH --record all'", a.since_text, a.dbs.n,
			 a.dbs.n == 1 ? "" : "s");
		ret = CMD_NEGATIVE;
		goto out;
	}
	/* The cluster as it is now: files, or the API server read once. */
	ret = offline_load_cluster("recommend", a.live.given ? "the cluster" : "--cluster", a.clusters.v,
				   a.clusters.n, &a.live, &current);
	if (ret != CMD_OK)
		goto out;
	for (size_t i = 0; i < a.namespaces.n; i++) {
		bool known = false;

		for (size_t k = 0; k < current->n_namespaces && !known; k++)
			known = strcmp(current->namespaces[k]->name, a.namespaces.v[i]) == 0;
		for (size_t k = 0; k < current->n_pods && !known; k++)
			known = strcmp(current->pods[k]->ns, a.namespaces.v[i]) == 0;
		if (!known) {
			log_errx("recommend: -n %s: the cluster has no such namespace", a.namespaces.v[i]);
			ret = CMD_USAGE;
			goto out;
		}
	}
	ret = rec_cli_model("recommend", current, NULL, &model_cur);
	if (ret != CMD_OK)
		goto out;
	ghosts = pol_cluster_new();
	base = pol_cluster_clone(current);
	if (!ghosts || !base || audit_obs_resolve(&obs, model_cur, ghosts) < 0) {
		log_err("recommend");
		ret = CMD_FAILURE;
		goto out;
	}
	{
		struct pol_cluster *g = pol_cluster_clone(ghosts);

		if (!g || pol_cluster_merge(base, g) < 0) {
			pol_cluster_free(g);
			log_err("recommend");
			ret = CMD_FAILURE;
			goto out;
		}
		pol_cluster_free(g);
	}
	ret = rec_cli_model("recommend", base, NULL, &model_base);
	if (ret != CMD_OK)
		goto out;
	{
		struct rec_opts ro = {
			.namespaces = a.namespaces.n ? a.namespaces.v : NULL,
			.n_namespaces = a.namespaces.n,
			.cidr_prefix = (unsigned)a.prefix4,
			.cidr_prefix6 = (unsigned)a.prefix6,
			.include_denied = a.include_denied,
		};

		if (rec_build(model_base, &obs, current, &ro, &res) < 0) {
			log_err("recommend");
			ret = CMD_FAILURE;
			goto out;
		}
	}
	objs = calloc(res.n_policies + 1, sizeof(*objs));
	if (!objs) {
		log_err("recommend");
		ret = CMD_FAILURE;
		goto out;
	}
	for (size_t i = 0; i < res.n_policies; i++)
		if (!(objs[i] = rec_policy_json(&res.policies[i]))) {
			log_err("recommend");
			ret = CMD_FAILURE;
			goto out;
		}
	yaml = render_yaml(&res, objs);
	if (!yaml) {
		log_err("recommend");
		ret = CMD_FAILURE;
		goto out;
	}
	ret = load_back(yaml, base, &proof);
	if (ret != CMD_OK)
		goto out;
	cover = calloc(obs.n + 1, sizeof(*cover));
	if (!cover) {
		log_err("recommend");
		ret = CMD_FAILURE;
		goto out;
	}
	rp.obs = &obs;
	rp.res = &res;
	rp.cover = cover;
	rp.args = &a;
	rp.n_dbs = a.dbs.n;
	rp.n_missing = rec_prove(proof, &obs, &res, 0, cover, &rp.pairs);
	if (!analyse(&rp)) {
		log_err("recommend");
		ret = CMD_FAILURE;
		goto out;
	}
	if (a.json) {
		cJSON *list = cJSON_CreateObject(), *items;
		char *text;

		if (!list || !cJSON_AddStringToObject(list, "apiVersion", "v1") ||
		    !cJSON_AddStringToObject(list, "kind", "List") ||
		    !(items = cJSON_AddArrayToObject(list, "items"))) {
			cJSON_Delete(list);
			log_err("recommend");
			ret = CMD_FAILURE;
			goto out;
		}
		for (size_t i = 0; i < res.n_policies; i++) {
			cJSON_AddItemToArray(items, objs[i]);
			objs[i] = NULL;
		}
		cJSON_AddItemToObject(list, "coverage", coverage_json(&rp));
		text = cJSON_Print(list);
		cJSON_Delete(list);
		if (!text) {
			log_err("recommend");
			ret = CMD_FAILURE;
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		write_yaml_header(stdout, &rp);
		fputs(yaml, stdout);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_err("recommend: writing the output");
		ret = CMD_FAILURE;
		goto out;
	}
	for (size_t i = 0; i < rp.n_warnings; i++)
		log_warnx("recommend: %s", rp.warnings[i]);
	fprintf(stderr, "recommend: %zu polic%s for %zu namespace%s; %zu of %zu recorded flows "
		"covered (%zu address pairs evaluated); %zu seen once a day or less\n",
		res.n_policies, res.n_policies == 1 ? "y" : "ies", res.n_namespaces,
		res.n_namespaces == 1 ? "" : "s", rp.n_used - rp.n_missing, rp.n_used, rp.pairs,
		rp.n_rare);
	ret = rp.n_missing ? CMD_NEGATIVE : CMD_OK;
out:
	for (size_t i = 0; objs && i < res.n_policies; i++)
		cJSON_Delete(objs[i]);
	free(objs);
	free(yaml);
	free(cover);
	free(rp.rare);
	for (size_t i = 0; i < rp.n_warnings; i++)
		free(rp.warnings[i]);
	free(rp.warnings);
	rec_result_free(&res);
	pol_model_free(proof);
	pol_model_free(model_base);
	pol_model_free(model_cur);
	pol_cluster_free(base);
	pol_cluster_free(ghosts);
	pol_cluster_free(current);
	audit_obs_set_free(&obs);
	store_reader_close(reader);
	offline_paths_free(&a.dbs);
	offline_paths_free(&a.clusters);
	offline_paths_free(&a.namespaces);
	return ret;
}

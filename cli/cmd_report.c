/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_report.c - `npshim report`: may a namespace be enforced? (readiness gate) */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/flags.h"
#include "store/query.h"

#define REPORT_DEFAULT_WINDOW (7 * 86400)
#define REPORT_MIN_WINDOW 86400

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim report --db PATH [--db PATH...] [-n NS | -A] [--since WHEN]\n"
		"                     [--output table|json]\n"
		"\n"
		"Readiness gate for enforcing a namespace: per namespace and workload, the\n"
		"would-deny flows recorded in the window (counts, first and last seen, the\n"
		"distinct flows to fix), and how much of the window was actually recorded.\n"
		"\n"
		"  --db PATH             a flow database of a node (repeatable, at most %d)\n"
		"  -n, --namespace NS    gate this namespace only\n"
		"  -A, --all-namespaces  every recorded namespace (the default)\n"
		"  --since WHEN          window start: a duration back from now or RFC 3339\n"
		"                        (default 7d); the window ends now\n"
		"  --output FORMAT       table (default) or json\n"
		"\n"
		"A flow counts against the namespace whose policy would deny it: the source's\n"
		"for an egress denial, the destination's for an ingress one.\n"
		"\n"
		"Exit status: 0 no would-deny flow in the window (for -n NS: in NS); 1 there\n"
		"is one, or nothing at all was recorded in the window; 2 bad usage or an\n"
		"unreadable database; 3 runtime failure. A window recorded for less than a\n"
		"day gets a warning: daily jobs may not have run in it.\n",
		STORE_READER_MAX);
}

struct rflow {
	char *ns, *kind, *name, *dir, *peer_ns, *peer_kind, *peer_name, *proto, *policies;
	int64_t port, count, first_ms, last_ms;
};

struct racc {
	struct rflow *v;
	size_t n, cap;
	char **nss;
	size_t n_nss, cap_nss;
	bool oom;
};

static char *dupv(const struct store_val *v, bool *oom)
{
	char *s = strdup(v->type == STORE_VAL_TEXT ? v->s : "");

	if (!s)
		*oom = true;
	return s;
}

static int64_t intv(const struct store_val *v)
{
	return v->type == STORE_VAL_INT ? v->i : 0;
}

/* Columns in the order store_query_report() documents. */
static int add_flow(void *ctx, size_t ncols, const char *const *names, const struct store_val *v)
{
	struct racc *a = ctx;
	struct rflow *f;

	if (ncols < 13)
		return -1;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct rflow *nv = realloc(a->v, cap * sizeof(*nv));

		if (!nv) {
			a->oom = true;
			return -1;
		}
		a->v = nv;
		a->cap = cap;
	}
	f = &a->v[a->n++];
	memset(f, 0, sizeof(*f));
	f->ns = dupv(&v[0], &a->oom);
	f->kind = dupv(&v[1], &a->oom);
	f->name = dupv(&v[2], &a->oom);
	f->dir = dupv(&v[3], &a->oom);
	f->peer_ns = dupv(&v[4], &a->oom);
	f->peer_kind = dupv(&v[5], &a->oom);
	f->peer_name = dupv(&v[6], &a->oom);
	f->proto = dupv(&v[7], &a->oom);
	f->port = intv(&v[8]);
	f->policies = dupv(&v[9], &a->oom);
	f->count = intv(&v[10]);
	f->first_ms = intv(&v[11]);
	f->last_ms = intv(&v[12]);
	return a->oom ? -1 : 0;
}

static int add_ns(void *ctx, size_t ncols, const char *const *names, const struct store_val *v)
{
	struct racc *a = ctx;

	if (a->n_nss == a->cap_nss) {
		size_t cap = a->cap_nss ? a->cap_nss * 2 : 32;
		char **nv = realloc(a->nss, cap * sizeof(*nv));

		if (!nv) {
			a->oom = true;
			return -1;
		}
		a->nss = nv;
		a->cap_nss = cap;
	}
	a->nss[a->n_nss] = dupv(&v[0], &a->oom);
	a->n_nss++;
	return a->oom ? -1 : 0;
}

static void rflow_free(struct rflow *f)
{
	free(f->ns);
	free(f->kind);
	free(f->name);
	free(f->dir);
	free(f->peer_ns);
	free(f->peer_kind);
	free(f->peer_name);
	free(f->proto);
	free(f->policies);
}

static void racc_free(struct racc *a)
{
	for (size_t i = 0; i < a->n; i++)
		rflow_free(&a->v[i]);
	free(a->v);
	for (size_t i = 0; i < a->n_nss; i++)
		free(a->nss[i]);
	free(a->nss);
}

static int cmp_visible(const void *pa, const void *pb)
{
	const struct rflow *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->ns, b->ns)) || (c = strcmp(a->kind, b->kind)) || (c = strcmp(a->name, b->name)) ||
	    (c = strcmp(a->dir, b->dir)) || (c = strcmp(a->peer_ns, b->peer_ns)) ||
	    (c = strcmp(a->peer_kind, b->peer_kind)) || (c = strcmp(a->peer_name, b->peer_name)) ||
	    (c = strcmp(a->proto, b->proto)))
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return strcmp(a->policies, b->policies);
}

static int cmp_workload_count(const void *pa, const void *pb)
{
	const struct rflow *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->ns, b->ns)) || (c = strcmp(a->kind, b->kind)) || (c = strcmp(a->name, b->name)))
		return c;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return cmp_visible(a, b);
}

/* The store groups by flow key; rows that read the same (a mode change in
 * the window) become one here. Then: by workload, biggest flow first. */
static void merge_flows(struct racc *a)
{
	size_t out = 0;

	if (a->n == 0)
		return;
	qsort(a->v, a->n, sizeof(*a->v), cmp_visible);
	for (size_t i = 1; i < a->n; i++) {
		struct rflow *d = &a->v[out], *x = &a->v[i];

		if (cmp_visible(d, x) == 0) {
			d->count += x->count;
			if (x->first_ms < d->first_ms)
				d->first_ms = x->first_ms;
			if (x->last_ms > d->last_ms)
				d->last_ms = x->last_ms;
			rflow_free(x);
		} else {
			a->v[++out] = *x;
		}
	}
	a->n = out + 1;
	qsort(a->v, a->n, sizeof(*a->v), cmp_workload_count);
}

static void fmt_ms(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_dur(int64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

static bool same_workload(const struct rflow *a, const struct rflow *b)
{
	return strcmp(a->ns, b->ns) == 0 && strcmp(a->kind, b->kind) == 0 &&
	       strcmp(a->name, b->name) == 0;
}

static void peer_text(const struct rflow *f, char *buf, size_t len)
{
	if (strcmp(f->peer_kind, "External") == 0)
		snprintf(buf, len, "ext:%s", f->peer_name);
	else if (strcmp(f->peer_kind, "Node") == 0)
		snprintf(buf, len, "node:%s", f->peer_name);
	else
		snprintf(buf, len, "%s/%s/%s", f->peer_ns, f->peer_kind, f->peer_name);
}

static cJSON *policies_json(const char *s)
{
	cJSON *arr = cJSON_CreateArray();

	while (arr && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char *item = strndup(s, n);

		if (item)
			cJSON_AddItemToArray(arr, cJSON_CreateString(item));
		free(item);
		if (!e)
			break;
		s = e + 1;
	}
	return arr;
}

/* Rows are sorted by namespace, workload, count: walk them in runs. */
static int print_report(const struct racc *a, const char *only_ns, int64_t since, int64_t until,
			int64_t covered_ms, int64_t first_ms, bool json)
{
	char since_s[32], until_s[32], cov[32], win[32], first_s[32];
	int64_t covered = covered_ms / 1000;
	bool any_denied = a->n > 0, nothing = covered_ms <= 0;
	const char *warn_short = NULL;
	char warn_buf[256];
	cJSON *root = NULL, *jns = NULL, *warnings = NULL;

	fmt_ms(since * 1000, since_s, sizeof(since_s));
	fmt_ms(until * 1000, until_s, sizeof(until_s));
	fmt_dur(covered, cov, sizeof(cov));
	fmt_dur(until - since, win, sizeof(win));
	if (first_ms)
		fmt_ms(first_ms, first_s, sizeof(first_s));
	else
		snprintf(first_s, sizeof(first_s), "-");
	if (nothing) {
		snprintf(warn_buf, sizeof(warn_buf),
			 "nothing was recorded in the window: no npshim run wrote to these databases "
			 "between %s and %s; the gate cannot pass", since_s, until_s);
		warn_short = warn_buf;
	} else if (covered < REPORT_MIN_WINDOW) {
		snprintf(warn_buf, sizeof(warn_buf),
			 "only %s of the window was recorded (less than a day): daily jobs and "
			 "other rare traffic may be missing", cov);
		warn_short = warn_buf;
	}
	if (json) {
		root = cJSON_CreateObject();
		cJSON *w = cJSON_AddObjectToObject(root, "window");

		cJSON_AddStringToObject(w, "since", since_s);
		cJSON_AddStringToObject(w, "until", until_s);
		cJSON_AddNumberToObject(w, "seconds", (double)(until - since));
		cJSON_AddNumberToObject(w, "covered_seconds", (double)covered);
		if (first_ms)
			cJSON_AddStringToObject(w, "first_recorded", first_s);
		else
			cJSON_AddNullToObject(w, "first_recorded");
		warnings = cJSON_AddArrayToObject(root, "warnings");
		if (warn_short)
			cJSON_AddItemToArray(warnings, cJSON_CreateString(warn_short));
		cJSON_AddBoolToObject(root, "ready", !any_denied && !nothing);
		if (only_ns)
			cJSON_AddStringToObject(root, "namespace", only_ns);
		jns = cJSON_AddArrayToObject(root, "namespaces");
	} else {
		printf("Window: %s .. %s (%s); recorded %s%s%s\n", since_s, until_s, win, cov,
		       first_ms ? ", from " : "", first_ms ? first_s : "");
		if (warn_short)
			fprintf(stderr, "npshim report: warning: %s\n", warn_short);
		printf("\n%-30s  %-5s  %10s  %9s\n", "NAMESPACE", "READY", "WOULD-DENY", "WORKLOADS");
	}
	/* Namespace summary: every known namespace, plus -n NS even when it
	 * never appeared. */
	for (size_t k = 0; k <= a->n_nss; k++) {
		const char *ns = k < a->n_nss ? a->nss[k] : NULL;
		int64_t total = 0, workloads = 0;

		if (k == a->n_nss) {
			bool listed = false;

			if (!only_ns)
				break;
			for (size_t j = 0; j < a->n_nss; j++)
				listed |= strcmp(a->nss[j], only_ns) == 0;
			if (listed)
				break;
			ns = only_ns;
		}
		if (only_ns && strcmp(ns, only_ns) != 0)
			continue;
		for (size_t i = 0; i < a->n; i++) {
			if (strcmp(a->v[i].ns, ns) != 0)
				continue;
			total += a->v[i].count;
			if (i == 0 || !same_workload(&a->v[i], &a->v[i - 1]))
				workloads++;
		}
		if (json) {
			cJSON *o = cJSON_CreateObject(), *wls = NULL;

			cJSON_AddStringToObject(o, "namespace", ns);
			cJSON_AddBoolToObject(o, "ready", total == 0 && !nothing);
			cJSON_AddNumberToObject(o, "would_deny", (double)total);
			wls = cJSON_AddArrayToObject(o, "workloads");
			for (size_t i = 0; i < a->n; i++) {
				const struct rflow *f = &a->v[i];
				cJSON *wl, *flows;
				int64_t wl_count = 0, wl_first = 0, wl_last = 0;
				size_t j;

				if (strcmp(f->ns, ns) != 0 || (i && same_workload(f, &a->v[i - 1])))
					continue;
				wl = cJSON_CreateObject();
				cJSON_AddStringToObject(wl, "kind", f->kind);
				cJSON_AddStringToObject(wl, "name", f->name);
				flows = cJSON_CreateArray();
				for (j = i; j < a->n && same_workload(&a->v[j], f); j++) {
					const struct rflow *g = &a->v[j];
					cJSON *fo = cJSON_CreateObject(), *peer;
					char t1[32], t2[32];

					wl_count += g->count;
					if (!wl_first || g->first_ms < wl_first)
						wl_first = g->first_ms;
					if (g->last_ms > wl_last)
						wl_last = g->last_ms;
					cJSON_AddStringToObject(fo, "direction", g->dir);
					peer = cJSON_AddObjectToObject(fo, "peer");
					cJSON_AddStringToObject(peer, "namespace", g->peer_ns);
					cJSON_AddStringToObject(peer, "kind", g->peer_kind);
					cJSON_AddStringToObject(peer, "name", g->peer_name);
					cJSON_AddStringToObject(fo, "protocol", g->proto);
					cJSON_AddNumberToObject(fo, "port", (double)g->port);
					cJSON_AddItemToObject(fo, "policies", policies_json(g->policies));
					cJSON_AddNumberToObject(fo, "count", (double)g->count);
					fmt_ms(g->first_ms, t1, sizeof(t1));
					fmt_ms(g->last_ms, t2, sizeof(t2));
					cJSON_AddStringToObject(fo, "first_seen", t1);
					cJSON_AddStringToObject(fo, "last_seen", t2);
					cJSON_AddItemToArray(flows, fo);
				}
				{
					char t1[32], t2[32];

					fmt_ms(wl_first, t1, sizeof(t1));
					fmt_ms(wl_last, t2, sizeof(t2));
					cJSON_AddNumberToObject(wl, "would_deny", (double)wl_count);
					cJSON_AddStringToObject(wl, "first_seen", t1);
					cJSON_AddStringToObject(wl, "last_seen", t2);
					cJSON_AddNumberToObject(wl, "distinct_flows", (double)(j - i));
				}
				cJSON_AddItemToObject(wl, "flows", flows);
				cJSON_AddItemToArray(wls, wl);
			}
			cJSON_AddItemToArray(jns, o);
		} else {
			printf("%-30s  %-5s  %10lld  %9lld\n", ns, total == 0 && !nothing ? "yes" : "no",
			       (long long)total, (long long)workloads);
		}
	}
	if (!json) {
		/* Details: the flows to fix, per workload. */
		for (size_t i = 0; i < a->n; i++) {
			const struct rflow *f = &a->v[i];
			char t1[32], t2[32];
			int64_t wl_count = 0, wl_first = 0, wl_last = 0;
			size_t j;

			if (i && same_workload(f, &a->v[i - 1]))
				continue;
			for (j = i; j < a->n && same_workload(&a->v[j], f); j++) {
				wl_count += a->v[j].count;
				if (!wl_first || a->v[j].first_ms < wl_first)
					wl_first = a->v[j].first_ms;
				if (a->v[j].last_ms > wl_last)
					wl_last = a->v[j].last_ms;
			}
			fmt_ms(wl_first, t1, sizeof(t1));
			fmt_ms(wl_last, t2, sizeof(t2));
			printf("\n%s/%s/%s: %lld would-deny in %zu distinct flows, first %s, last %s\n",
			       f->ns, f->kind, f->name, (long long)wl_count, j - i, t1, t2);
			for (size_t k = i; k < j; k++) {
				const struct rflow *g = &a->v[k];
				char peer[600], port[32];

				peer_text(g, peer, sizeof(peer));
				if (strncmp(g->proto, "ICMP", 4) == 0)
					snprintf(port, sizeof(port), "%s", g->proto);
				else
					snprintf(port, sizeof(port), "%lld/%s", (long long)g->port, g->proto);
				printf("  %-7s %s %-40s %-10s %8lld  %s\n", g->dir,
				       strcmp(g->dir, "egress") == 0 ? "->" : "<-", peer, port,
				       (long long)g->count, *g->policies ? g->policies : "-");
			}
		}
		if (!any_denied && !nothing)
			printf("\nNo would-deny flow in the window: ready to enforce%s%s.\n",
			       only_ns ? " " : "", only_ns ? only_ns : "");
	} else {
		char *s = cJSON_Print(root);

		if (s)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(root);
	}
	fflush(stdout);
	return any_denied || nothing ? CMD_NEGATIVE : CMD_OK;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "since", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dbs[STORE_READER_MAX];
	const char *ns = NULL;
	size_t n_dbs = 0;
	int64_t now = (int64_t)time(NULL), since = now - REPORT_DEFAULT_WINDOW;
	int64_t covered = 0, first = 0;
	struct store_reader *rd = NULL;
	struct racc acc = { 0 };
	bool all = false, json = false;
	char err[512];
	int c, ret = CMD_USAGE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:Ao:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n_dbs == STORE_READER_MAX) {
				fprintf(stderr, "npshim report: --db: at most %d databases at once\n",
					STORE_READER_MAX);
				goto out;
			}
			dbs[n_dbs++] = optarg;
			break;
		case 'n':
			if (!*optarg) {
				fprintf(stderr, "npshim report: -n: empty namespace\n");
				goto out;
			}
			ns = optarg;
			break;
		case 'A':
			all = true;
			break;
		case 's': {
			uint64_t d;

			if (flag_parse_duration(optarg, &d) && d <= (uint64_t)now) {
				since = now - (int64_t)d;
			} else if (!flag_parse_rfc3339(optarg, &since)) {
				fprintf(stderr,
					"npshim report: --since: '%s' is neither a duration back from now "
					"(1h, 7d, 2w) nor an RFC 3339 time (2026-11-21T00:00:00Z)\n",
					optarg);
				goto out;
			}
			if (since >= now) {
				fprintf(stderr, "npshim report: --since: '%s' is not in the past\n", optarg);
				goto out;
			}
			break;
		}
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "table") == 0)
				json = false;
			else {
				fprintf(stderr, "npshim report: --output: '%s' is not table or json\n", optarg);
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			ret = CMD_OK;
			goto out;
		default:
			cli_option_error("report", c, argv);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "npshim report: unexpected argument '%s'\n", argv[optind]);
		goto out;
	}
	if (n_dbs == 0) {
		fprintf(stderr, "npshim report: --db PATH is required (the file given to 'npshim run --db')\n");
		goto out;
	}
	if (all && ns) {
		fprintf(stderr, "npshim report: -n and -A exclude each other\n");
		goto out;
	}
	rd = store_reader_open(dbs, n_dbs, err, sizeof(err));
	if (!rd) {
		fprintf(stderr, "npshim report: %s\n", err);
		goto out;
	}
	/* until is one second ahead so that what landed this second counts. */
	if (store_query_coverage(rd, since, now + 1, &covered, &first, err, sizeof(err)) != 0 ||
	    store_query_namespaces(rd, add_ns, &acc, err, sizeof(err)) != 0 ||
	    store_query_report(rd, ns, since, now + 1, add_flow, &acc, err, sizeof(err)) != 0) {
		fprintf(stderr, "npshim report: %s\n", acc.oom ? "out of memory" : err);
		ret = CMD_FAILURE;
		goto out;
	}
	merge_flows(&acc);
	ret = print_report(&acc, ns, since, now, covered, first, json);
out:
	racc_free(&acc);
	store_reader_close(rd);
	return ret;
}

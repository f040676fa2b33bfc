/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_lint.c - `npshim lint`: the classic NetworkPolicy mistakes, as a CI gate. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/offline.h"
#include "core/flags.h"
#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/jsonpos.h"
#include "k8s/kubeconfig.h"
#include "k8s/yamlpos.h"
#include "policy/lint.h"
#include "policy/model.h"
#include "store/query.h"

#define LINT_SCHEMA "npshim-lint/v1"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim lint --cluster PATH...|--kubeconfig F|--in-cluster\n"
		"                   [-n NAMESPACE | -A] [--db PATH...]\n"
		"                   [--since WHEN] [--output table|json]\n"
		"                   [--fail-on error|warning|info|never] [--disable RULE,...]\n"
		"\n"
		"Check NetworkPolicies against the cluster state for the classic mistakes:\n"
		"one-sided paths (an ingress rule admits clients whose own egress never\n"
		"reaches it, and the reverse), egress isolation without DNS, selectors and\n"
		"namespace labels that match nothing, ipBlocks over pod IPs, non-canonical\n"
		"CIDRs, useless excepts, undefined named ports, policies selecting no pod,\n"
		"namespaces without default deny, shadowed rules, and with --db policies\n"
		"that decided no recorded flow. Rules NP001-NP013: see docs/lint.md.\n"
		"\n"
		"  --cluster PATH...     JSON/YAML file (object, List, multi-document) or a\n"
		"                        directory of them; repeatable, and further paths\n"
		"                        may follow without the flag (shell globs)\n"
		"Or read the live cluster once from the API server instead of --cluster\n"
		"(NP007 non-canonical CIDR then cannot be checked: the API returns what\n"
		"was stored, and the check needs the manifests as written):\n"
		K8S_CONN_USAGE
		"  -n, --namespace NS    only findings that involve namespace NS\n"
		"  -A, --all-namespaces  every namespace (the default)\n"
		"  --db PATH             flow database(s) of the nodes (repeatable, at most %d):\n"
		"                        enables NP013 policy-unused-in-window\n"
		"  --since WHEN          NP013 window start: a duration back from now (7d) or\n"
		"                        RFC 3339; default: everything recorded\n"
		"  --output FORMAT       table (default) or json (schema " LINT_SCHEMA ",\n"
		"                        docs/lint.md)\n"
		"  --fail-on SEVERITY    exit 1 when a finding of this severity or above\n"
		"                        exists: error (default), warning, info, never\n"
		"  --disable RULE,...    do not run these rules (ids NP011 or names\n"
		"                        namespace-without-default-deny); repeatable\n"
		"\n"
		"Exit status: 0 no finding at or above --fail-on; 1 there is one; 2 bad\n"
		"usage or invalid input; 3 runtime failure.\n",
		STORE_READER_MAX);
}

/* ------------------------------------------------------------------ */
/* CIDR texts (NP007)                                                  */

/* The model keeps CIDRs with host bits cleared, the way the engine needs
 * them; NP007 is about the text as written, so the policies' ipBlocks are
 * read once more from the files (already validated by the loader: anything
 * unreadable here was reported there and is skipped silently). */
struct cidr_scan {
	struct pol_lint_cidr_text *v;
	size_t n, cap;
	char **pool; /* every string the entries point to */
	size_t n_pool, cap_pool;
	bool oom;
};

static const char *pool_dup(struct cidr_scan *cs, const char *s)
{
	char *d;

	if (cs->n_pool == cs->cap_pool) {
		size_t cap = cs->cap_pool ? 2 * cs->cap_pool : 32;
		char **p = realloc(cs->pool, cap * sizeof(*p));

		if (!p) {
			cs->oom = true;
			return NULL;
		}
		cs->pool = p;
		cs->cap_pool = cap;
	}
	d = strdup(s);
	if (!d) {
		cs->oom = true;
		return NULL;
	}
	cs->pool[cs->n_pool++] = d;
	return d;
}

static void cidr_add(struct cidr_scan *cs, const char *ns, const char *name, const char *loc,
		     const char *text)
{
	char canon[POL_CIDR_STRLEN];
	struct pol_lint_cidr_text *t;

	if (!pol_lint_cidr_noncanonical(text, canon, sizeof(canon)))
		return;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? 2 * cs->cap : 8;

		t = realloc(cs->v, cap * sizeof(*t));
		if (!t) {
			cs->oom = true;
			return;
		}
		cs->v = t;
		cs->cap = cap;
	}
	t = &cs->v[cs->n];
	t->ns = pool_dup(cs, ns);
	t->policy = pool_dup(cs, name);
	t->location = pool_dup(cs, loc);
	t->text = pool_dup(cs, text);
	if (!cs->oom)
		cs->n++;
}

static const char *str_member(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void scan_policy(struct cidr_scan *cs, const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const char *ns = str_member(md, "namespace"), *name = str_member(md, "name");

	if (!name || !cJSON_IsObject(spec))
		return;
	if (!ns || !*ns)
		ns = "default"; /* as the decoder and the API server default it */
	for (int d = 0; d < 2; d++) {
		const char *dir = d ? "egress" : "ingress", *pk = d ? "to" : "from";
		const cJSON *rules = cJSON_GetObjectItemCaseSensitive(spec, dir), *r;
		size_t ri = 0;

		cJSON_ArrayForEach(r, rules) {
			const cJSON *peers = cJSON_GetObjectItemCaseSensitive(r, pk), *p;
			size_t k = 0;

			cJSON_ArrayForEach(p, peers) {
				const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, "ipBlock");
				const cJSON *ex = cJSON_GetObjectItemCaseSensitive(b, "except"), *e;
				const char *cidr = str_member(b, "cidr");
				char loc[128];
				size_t ei = 0;

				if (cidr) {
					snprintf(loc, sizeof(loc), "spec.%s[%zu].%s[%zu].ipBlock.cidr",
						 dir, ri, pk, k);
					cidr_add(cs, ns, name, loc, cidr);
				}
				cJSON_ArrayForEach(e, ex) {
					if (cJSON_IsString(e)) {
						snprintf(loc, sizeof(loc),
							 "spec.%s[%zu].%s[%zu].ipBlock.except[%zu]",
							 dir, ri, pk, k, ei);
						cidr_add(cs, ns, name, loc, e->valuestring);
					}
					ei++;
				}
				k++;
			}
			ri++;
		}
	}
}

static void scan_root(struct cidr_scan *cs, const cJSON *root)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items"), *it;
	const char *kind = str_member(root, "kind");

	if (!cJSON_IsObject(root))
		return;
	if (cJSON_IsArray(items)) {
		/* items of a NetworkPolicyList carry no kind of their own */
		enum k8s_kind dflt = kind && strcmp(kind, "NetworkPolicyList") == 0
					     ? K8S_KIND_NETWORKPOLICY : K8S_KIND_OTHER;

		cJSON_ArrayForEach(it, items)
			if (k8s_kind_of(it, dflt) == K8S_KIND_NETWORKPOLICY)
				scan_policy(cs, it);
		return;
	}
	if (k8s_kind_of(root, K8S_KIND_OTHER) == K8S_KIND_NETWORKPOLICY)
		scan_policy(cs, root);
}

static int scan_yaml_doc(struct cJSON *root, unsigned line, void *arg)
{
	scan_root(arg, root);
	return 0;
}

static void scan_file(struct cidr_scan *cs, const char *path)
{
	struct k8s_diag diag;
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0, got;
	const char *p;

	if (!f)
		return;
	do {
		if (len + 65536 > cap) {
			char *q;

			cap = cap ? 2 * cap : 65536 * 2;
			q = realloc(data, cap);
			if (!q) {
				cs->oom = true;
				break;
			}
			data = q;
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
	} while (got > 0 && len <= K8S_FILE_MAX);
	fclose(f);
	if (cs->oom || !data || len > K8S_FILE_MAX) {
		free(data);
		return;
	}
	k8s_diag_init(&diag);
	diag.silent = true;
	for (p = data; p < data + len && strchr(" \t\r\n", *p); p++)
		;
	/* JSON is a subset of YAML, but the strict JSON parser is the one the
	 * loader uses for it; pick the same way. */
	if (p < data + len && (*p == '{' || *p == '[')) {
		cJSON *root = k8s_json_parse(data, len, path, NULL, &diag);

		scan_root(cs, root);
		cJSON_Delete(root);
	} else {
		k8s_yaml_parse(data, len, path, NULL, &diag, scan_yaml_doc, cs);
	}
	k8s_diag_free(&diag);
	free(data);
}

static bool manifest_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_path(struct cidr_scan *cs, const char *path, int depth)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;

	if (stat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		scan_file(cs, path);
		return;
	}
	/* as the loader: a directory's manifests, not its subdirectories */
	if (depth > 0 || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char *full;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&full, "%s/%s", path, de->d_name) < 0) {
			cs->oom = true;
			break;
		}
		if (stat(full, &st) < 0 || S_ISDIR(st.st_mode) || !manifest_name(de->d_name)) {
			free(full);
			continue;
		}
		if (n == cap) {
			char **q;

			cap = cap ? 2 * cap : 16;
			q = realloc(names, cap * sizeof(*q));
			if (!q) {
				free(full);
				cs->oom = true;
				break;
			}
			names = q;
		}
		names[n++] = full;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		scan_path(cs, names[i], depth + 1);
		free(names[i]);
	}
	free(names);
}

static void cidr_scan_free(struct cidr_scan *cs)
{
	for (size_t i = 0; i < cs->n_pool; i++)
		free(cs->pool[i]);
	free(cs->pool);
	free(cs->v);
}

/* ------------------------------------------------------------------ */
/* Recorded flows (NP013)                                              */

struct usage_acc {
	struct pol_lint_usage u;
	struct pol_lint_policy_ref *refs;
	size_t cap;
	char **pool;
	size_t n_pool;
	bool oom;
};

static void usage_add_policy(struct usage_acc *a, const char *ref, size_t len)
{
	const char *slash = memchr(ref, '/', len);
	char *ns, *name;

	if (!slash || slash == ref || slash + 1 == ref + len)
		return;
	for (size_t i = 0; i < a->u.n_decided; i++)
		if (strlen(a->refs[i].ns) == (size_t)(slash - ref) &&
		    strncmp(a->refs[i].ns, ref, (size_t)(slash - ref)) == 0 &&
		    strlen(a->refs[i].name) == (size_t)(ref + len - slash - 1) &&
		    strncmp(a->refs[i].name, slash + 1, (size_t)(ref + len - slash - 1)) == 0)
			return;
	if (a->u.n_decided == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 32;
		struct pol_lint_policy_ref *r = realloc(a->refs, cap * sizeof(*r));
		char **p = realloc(a->pool, 2 * cap * sizeof(*p));

		if (r)
			a->refs = r;
		if (p)
			a->pool = p;
		if (!r || !p) {
			a->oom = true;
			return;
		}
		a->cap = cap;
	}
	ns = strndup(ref, (size_t)(slash - ref));
	name = strndup(slash + 1, (size_t)(ref + len - slash - 1));
	if (!ns || !name) {
		free(ns);
		free(name);
		a->oom = true;
		return;
	}
	a->pool[a->n_pool++] = ns;
	a->pool[a->n_pool++] = name;
	a->refs[a->u.n_decided++] = (struct pol_lint_policy_ref){ ns, name };
	a->u.decided = a->refs;
}

/* One row of `SELECT policies, sum(count)` grouped by the policies list. */
static int usage_row(void *ctx, size_t ncols, const char *const *names,
		     const struct store_val *vals)
{
	struct usage_acc *a = ctx;
	const char *pols = NULL;
	int64_t count = 0;

	for (size_t i = 0; i < ncols; i++) {
		if (strcmp(names[i], "policies") == 0 && vals[i].type == STORE_VAL_TEXT)
			pols = vals[i].s;
		else if (strcmp(names[i], "n") == 0 && vals[i].type == STORE_VAL_INT)
			count = vals[i].i;
	}
	if (count > 0)
		a->u.n_flows += (uint64_t)count;
	while (pols && *pols) {
		size_t n = strcspn(pols, ",");

		usage_add_policy(a, pols, n);
		pols += n;
		if (*pols == ',')
			pols++;
	}
	return a->oom ? -1 : 0;
}

static int count_row(void *ctx, size_t ncols, const char *const *names,
		     const struct store_val *vals)
{
	if (ncols >= 1 && vals[0].type == STORE_VAL_INT)
		*(int64_t *)ctx = vals[0].i;
	return 0;
}

static void usage_free(struct usage_acc *a)
{
	for (size_t i = 0; i < a->n_pool; i++)
		free(a->pool[i]);
	free(a->pool);
	free(a->refs);
}

static int load_usage(const char *const *dbs, size_t n, int64_t since, struct usage_acc *a)
{
	char err[512], sql[256];
	struct store_reader *r;
	int64_t now = (int64_t)time(NULL), covered = 0, first = 0, partial = 0;
	int rc;

	r = store_reader_open(dbs, n, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "npshim lint: --db: %s\n", err);
		return CMD_USAGE;
	}
	/* Numbers only go into the text: since is an integer we computed. The
	 * flows view is the documented read interface (docs/schema.md). */
	snprintf(sql, sizeof(sql),
		 "SELECT policies, sum(count) AS n FROM flows WHERE last_seen_ms >= %lld "
		 "GROUP BY policies",
		 (long long)since * 1000);
	rc = store_query_sql(r, sql, usage_row, a, err, sizeof(err));
	if (rc == 0) {
		/* With --record denied, an allowing policy is never written down:
		 * "decided no flow" would be a guess. */
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) AS n FROM runs WHERE record != 'all' AND last_seen >= %lld",
			 (long long)since * 1000);
		rc = store_query_sql(r, sql, count_row, &partial, err, sizeof(err));
		if (rc == 0 && partial > 0)
			a->u.unusable = "the databases hold denied flows only (npshim run --record "
					"denied): allowing policies never show; record with --record all";
	}
	if (rc == 0)
		rc = store_query_coverage(r, since, now + 1, &covered, &first, err, sizeof(err));
	store_reader_close(r);
	if (a->oom) {
		fprintf(stderr, "npshim lint: out of memory reading --db\n");
		return CMD_FAILURE;
	}
	if (rc != 0) {
		fprintf(stderr, "npshim lint: reading the flow databases: %s\n", err);
		return CMD_FAILURE;
	}
	a->u.since = first > 0 ? first / 1000 : since;
	a->u.until = now;
	return CMD_OK;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static const char *kind_name(enum pol_lint_obj_kind k)
{
	switch (k) {
	case POL_LINT_OBJ_POLICY: return "NetworkPolicy";
	case POL_LINT_OBJ_POD: return "Pod";
	case POL_LINT_OBJ_NAMESPACE: return "Namespace";
	}
	return "object";
}

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *port_json(const struct pol_lint_port *p)
{
	cJSON *o = cJSON_CreateObject();
	const char *proto = p->proto ? pol_proto_name(p->proto) : NULL;

	add_str_or_null(o, "protocol", proto);
	if (p->has_port && p->name)
		cJSON_AddStringToObject(o, "port", p->name);
	else if (p->has_port)
		cJSON_AddNumberToObject(o, "port", p->port);
	else
		cJSON_AddNullToObject(o, "port");
	if (p->end_port)
		cJSON_AddNumberToObject(o, "end_port", p->end_port);
	else
		cJSON_AddNullToObject(o, "end_port");
	if (p->tested)
		cJSON_AddNumberToObject(o, "tested", p->tested);
	else
		cJSON_AddNullToObject(o, "tested");
	return o;
}

static cJSON *finding_json(const struct pol_lint_finding *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *pols = cJSON_CreateArray(), *pods = cJSON_CreateArray(), *nss = cJSON_CreateArray();

	cJSON_AddStringToObject(o, "rule", pol_lint_rule_id(f->rule));
	cJSON_AddStringToObject(o, "name", pol_lint_rule_name(f->rule));
	cJSON_AddStringToObject(o, "severity", pol_lint_severity_name(f->severity));
	add_str_or_null(o, "namespace", f->ns);
	add_str_or_null(o, "location", f->location);
	cJSON_AddStringToObject(o, "message", f->message);
	add_str_or_null(o, "hint", f->hint);
	cJSON_AddStringToObject(o, "fix", f->fix);
	for (size_t i = 0; i < f->n_objects; i++) {
		const struct pol_lint_obj *ob = &f->objects[i];
		cJSON *j = cJSON_CreateObject();

		if (ob->kind == POL_LINT_OBJ_NAMESPACE) {
			cJSON_AddStringToObject(j, "name", ob->name);
			cJSON_AddStringToObject(j, "role", ob->role);
			cJSON_AddItemToArray(nss, j);
			continue;
		}
		cJSON_AddStringToObject(j, "namespace", ob->ns ? ob->ns : "");
		cJSON_AddStringToObject(j, "name", ob->name);
		cJSON_AddStringToObject(j, "role", ob->role);
		cJSON_AddItemToArray(ob->kind == POL_LINT_OBJ_POLICY ? pols : pods, j);
	}
	cJSON_AddItemToObject(o, "policies", pols);
	cJSON_AddItemToObject(o, "pods", pods);
	cJSON_AddNumberToObject(o, "pod_count", (double)f->n_pods);
	cJSON_AddItemToObject(o, "namespaces", nss);
	if (f->has_port)
		cJSON_AddItemToObject(o, "port", port_json(&f->port));
	else
		cJSON_AddNullToObject(o, "port");
	return o;
}

static int print_json(const struct pol_lint_report *rep, const char *fail_on, bool failed)
{
	cJSON *root = cJSON_CreateObject(), *sum = cJSON_CreateObject();
	cJSON *skipped = cJSON_CreateArray(), *items = cJSON_CreateArray();
	char *text;

	cJSON_AddStringToObject(root, "schema", LINT_SCHEMA);
	cJSON_AddNumberToObject(sum, "findings", (double)rep->n);
	cJSON_AddNumberToObject(sum, "error", (double)rep->count[POL_LINT_ERROR]);
	cJSON_AddNumberToObject(sum, "warning", (double)rep->count[POL_LINT_WARNING]);
	cJSON_AddNumberToObject(sum, "info", (double)rep->count[POL_LINT_INFO]);
	cJSON_AddItemToObject(root, "summary", sum);
	cJSON_AddStringToObject(root, "fail_on", fail_on);
	cJSON_AddBoolToObject(root, "failed", failed);
	for (size_t i = 0; i < rep->n_skipped; i++) {
		cJSON *s = cJSON_CreateObject();

		cJSON_AddStringToObject(s, "rule", pol_lint_rule_id(rep->skipped[i].rule));
		cJSON_AddStringToObject(s, "name", pol_lint_rule_name(rep->skipped[i].rule));
		cJSON_AddStringToObject(s, "reason", rep->skipped[i].reason);
		cJSON_AddItemToArray(skipped, s);
	}
	cJSON_AddItemToObject(root, "skipped", skipped);
	for (size_t i = 0; i < rep->n; i++)
		cJSON_AddItemToArray(items, finding_json(&rep->items[i]));
	cJSON_AddItemToObject(root, "findings", items);
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text) {
		fprintf(stderr, "npshim lint: out of memory formatting the report\n");
		return -1;
	}
	fputs(text, stdout);
	fputc('\n', stdout);
	free(text);
	return 0;
}

static void print_indented(const char *text, const char *pad)
{
	while (*text) {
		size_t n = strcspn(text, "\n");

		printf("%s%.*s\n", pad, (int)n, text);
		text += n;
		if (*text == '\n')
			text++;
	}
}

static void print_table(const struct pol_lint_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		const struct pol_lint_finding *f = &rep->items[i];
		const struct pol_lint_obj *o = f->n_objects ? &f->objects[0] : NULL;

		printf("%-7s %s %s", pol_lint_severity_name(f->severity), pol_lint_rule_id(f->rule),
		       pol_lint_rule_name(f->rule));
		if (o && o->kind == POL_LINT_OBJ_NAMESPACE)
			printf("  %s %s", kind_name(o->kind), o->name);
		else if (o)
			printf("  %s %s/%s", kind_name(o->kind), o->ns ? o->ns : "", o->name);
		if (f->location)
			printf(" %s", f->location);
		printf("\n    %s\n", f->message);
		if (f->hint)
			printf("    hint: %s\n", f->hint);
		if (strchr(f->fix, '\n')) {
			printf("    fix:\n");
			print_indented(f->fix, "      ");
		} else {
			printf("    fix: %s\n", f->fix);
		}
		printf("\n");
	}
	for (size_t i = 0; i < rep->n_skipped; i++)
		printf("skipped %s %s: %s\n", pol_lint_rule_id(rep->skipped[i].rule),
		       pol_lint_rule_name(rep->skipped[i].rule), rep->skipped[i].reason);
	printf("%zu finding%s: %zu error%s, %zu warning%s, %zu info\n", rep->n, rep->n == 1 ? "" : "s",
	       rep->count[POL_LINT_ERROR], rep->count[POL_LINT_ERROR] == 1 ? "" : "s",
	       rep->count[POL_LINT_WARNING], rep->count[POL_LINT_WARNING] == 1 ? "" : "s",
	       rep->count[POL_LINT_INFO]);
}

/* ------------------------------------------------------------------ */

/* The namespace exists in the input: an object lives there. */
static bool ns_in_input(const struct pol_model *m, const char *ns)
{
	const struct pol_cluster *c = pol_model_cluster(m);

	if (pol_model_namespace(m, ns))
		return true;
	for (size_t i = 0; i < c->n_pods; i++)
		if (strcmp(c->pods[i]->ns, ns) == 0)
			return true;
	for (size_t i = 0; i < c->n_policies; i++)
		if (strcmp(c->policies[i]->ns, ns) == 0)
			return true;
	return false;
}

enum {
	OPT_CLUSTER = 256,
	OPT_DB,
	OPT_SINCE,
	OPT_OUTPUT,
	OPT_FAIL_ON,
	OPT_DISABLE,
};

/* "NP004,shadowed-rule" into bits of *mask; false (after a message) on an
 * unknown rule. */
static bool parse_disable(const char *text, uint32_t *mask)
{
	char *copy = strdup(text), *save = NULL, *tok;
	bool ok = copy != NULL;
	uint32_t here = 0;

	if (!copy)
		fprintf(stderr, "npshim lint: out of memory\n");
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		enum pol_lint_rule r;

		if (!pol_lint_rule_parse(tok, &r)) {
			fprintf(stderr, "npshim lint: --disable: unknown rule '%s' (NP001-NP%03d or "
				"a rule name; see docs/lint.md)\n", tok, POL_LINT_RULE_MAX);
			ok = false;
			break;
		}
		here |= 1U << r;
	}
	if (ok && !here) {
		fprintf(stderr, "npshim lint: --disable: no rule given\n");
		ok = false;
	}
	free(copy);
	*mask |= here;
	return ok;
}

int cmd_lint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, OPT_CLUSTER },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "db", required_argument, NULL, OPT_DB },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
		{ "disable", required_argument, NULL, OPT_DISABLE },
		K8S_CONN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct k8s_conn_opts live = { 0 };
	struct offline_paths clusters = { 0 }, dbs = { 0 };
	const char *ns = NULL, *fail_on = "error", *since_text = NULL;
	bool all_ns = false, json = false, never = false, failed = false;
	enum pol_lint_severity threshold = POL_LINT_ERROR;
	struct pol_model *model = NULL;
	struct pol_lint_report *rep = NULL;
	struct pol_lint_opts lo = { 0 };
	struct cidr_scan cs = { 0 };
	struct usage_acc ua = { 0 };
	int64_t since = 0;
	int c, rc = CMD_USAGE;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:Ah", opts, NULL)) != -1) {
		if (k8s_conn_opts_getopt(&live, c, optarg))
			continue;
		switch (c) {
		case OPT_CLUSTER:
			if (offline_paths_add(&clusters, optarg) < 0)
				goto oom;
			break;
		case OPT_DB:
			if (offline_paths_add(&dbs, optarg) < 0)
				goto oom;
			break;
		case 'n':
			if (!*optarg) {
				fprintf(stderr, "npshim lint: -n: empty namespace name\n");
				goto out;
			}
			ns = optarg;
			break;
		case 'A':
			all_ns = true;
			break;
		case OPT_SINCE:
			since_text = optarg;
			break;
		case OPT_OUTPUT:
			if (strcmp(optarg, "json") == 0) {
				json = true;
			} else if (strcmp(optarg, "table") != 0) {
				fprintf(stderr, "npshim lint: --output: '%s' is neither table nor json\n",
					optarg);
				goto out;
			}
			break;
		case OPT_FAIL_ON:
			fail_on = optarg;
			never = strcmp(optarg, "never") == 0;
			if (!never && !pol_lint_severity_parse(optarg, &threshold)) {
				fprintf(stderr, "npshim lint: --fail-on: '%s' is not one of error, "
					"warning, info, never\n", optarg);
				goto out;
			}
			break;
		case OPT_DISABLE:
			if (!parse_disable(optarg, &lo.disabled))
				goto out;
			break;
		case 'h':
			usage(stdout);
			rc = CMD_OK;
			goto out;
		default:
			cli_option_error("lint", c, argv);
			goto out;
		}
	}
	/* "--cluster PATH...": paths may follow without repeating the flag,
	 * so a shell glob of manifests works */
	for (int i = optind; i < argc; i++)
		if (offline_paths_add(&clusters, argv[i]) < 0)
			goto oom;
	if (ns && all_ns) {
		fprintf(stderr, "npshim lint: -n and -A exclude each other\n");
		goto out;
	}
	if (!clusters.n && !live.given) {
		fprintf(stderr, "npshim lint: --cluster PATH or --kubeconfig/--in-cluster is required\n");
		goto out;
	}
	if (clusters.n && live.given) {
		fprintf(stderr, "npshim lint: --cluster and --kubeconfig/--in-cluster exclude each other\n");
		goto out;
	}
	if (dbs.n > STORE_READER_MAX) {
		fprintf(stderr, "npshim lint: --db: at most %d databases\n", STORE_READER_MAX);
		goto out;
	}
	if (since_text) {
		uint64_t secs;

		if (!dbs.n) {
			fprintf(stderr, "npshim lint: --since applies to --db only\n");
			goto out;
		}
		if (flag_parse_duration(since_text, &secs)) {
			since = (int64_t)time(NULL) - (int64_t)secs;
		} else if (!flag_parse_rfc3339(since_text, &since)) {
			fprintf(stderr, "npshim lint: --since: '%s' is neither a duration (7d) nor "
				"RFC 3339\n", since_text);
			goto out;
		}
	}
	rc = offline_load_model_from("lint", clusters.v, clusters.n, &live, NULL, &model);
	if (rc != CMD_OK)
		goto out;
	if (live.given)
		fprintf(stderr, "npshim lint: note: NP007 (non-canonical CIDR) is not checked on "
			"objects read from the API server; run lint on the manifests for it\n");
	rc = CMD_USAGE;
	if (ns && !ns_in_input(model, ns)) {
		fprintf(stderr, "npshim lint: -n %s: no Namespace, Pod or NetworkPolicy of that "
			"namespace in the input\n", ns);
		goto out;
	}
	for (size_t i = 0; i < clusters.n; i++)
		scan_path(&cs, clusters.v[i], 0);
	if (cs.oom)
		goto oom;
	if (dbs.n) {
		rc = load_usage(dbs.v, dbs.n, since, &ua);
		if (rc != CMD_OK)
			goto out;
		lo.usage = &ua.u;
	}
	lo.ns = ns;
	lo.cidr_texts = cs.v;
	lo.n_cidr_texts = cs.n;
	rep = pol_lint_run(model, &lo);
	if (!rep)
		goto oom;
	for (int s = threshold; !never && s <= POL_LINT_ERROR; s++)
		failed |= rep->count[s] > 0;
	if (json) {
		if (print_json(rep, fail_on, failed) < 0) {
			rc = CMD_FAILURE;
			goto out;
		}
	} else {
		print_table(rep);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "npshim lint: writing the report: %s\n", strerror(errno));
		rc = CMD_FAILURE;
		goto out;
	}
	rc = failed ? CMD_NEGATIVE : CMD_OK;
	goto out;
oom:
	fprintf(stderr, "npshim lint: out of memory\n");
	rc = CMD_FAILURE;
out:
	pol_lint_report_free(rep);
	pol_model_free(model);
	cidr_scan_free(&cs);
	usage_free(&ua);
	offline_paths_free(&clusters);
	offline_paths_free(&dbs);
	return rc;
}

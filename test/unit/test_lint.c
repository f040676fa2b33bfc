/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_lint.c - the pure parts of policy/lint: typo distance, coverage, rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/decode.h"
#include "k8s/diag.h"
#include "k8s/yamlpos.h"
#include "policy/lint.h"
#include "policy/model.h"
#include "test/unit/test.h"

static int add_doc(struct cJSON *root, unsigned line, void *arg)
{
	struct k8s_diag d;
	int rc;

	k8s_diag_init(&d);
	rc = k8s_decode_object(root, k8s_kind_of(root, K8S_KIND_OTHER), arg, NULL, &d, "test");
	if (rc < 0)
		k8s_diag_print(&d, stdout);
	k8s_diag_free(&d);
	return rc < 0;
}

/* A model from inline multi-document YAML. */
static struct pol_model *model_of(const char *yaml)
{
	struct pol_cluster *c = pol_cluster_new();
	struct k8s_diag d;
	char err[256];
	struct pol_model *m;

	k8s_diag_init(&d);
	if (!c || k8s_yaml_parse(yaml, strlen(yaml), "test", NULL, &d, add_doc, c) != 0) {
		k8s_diag_print(&d, stdout);
		abort();
	}
	k8s_diag_free(&d);
	m = pol_model_build(c, NULL, err, sizeof(err));
	if (!m) {
		printf("build: %s\n", err);
		abort();
	}
	return m;
}

static size_t count_rule(const struct pol_lint_report *r, enum pol_lint_rule rule)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->items[i].rule == rule;
	return n;
}

static const struct pol_lint_finding *find_rule(const struct pol_lint_report *r,
						enum pol_lint_rule rule)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].rule == rule)
			return &r->items[i];
	return NULL;
}

static bool has_obj(const struct pol_lint_finding *f, const char *name, const char *role)
{
	for (size_t i = 0; f && i < f->n_objects; i++)
		if (strcmp(f->objects[i].name, name) == 0 && strcmp(f->objects[i].role, role) == 0)
			return true;
	return false;
}

static bool skipped(const struct pol_lint_report *r, enum pol_lint_rule rule)
{
	for (size_t i = 0; i < r->n_skipped; i++)
		if (r->skipped[i].rule == rule)
			return true;
	return false;
}

static void test_distance(void)
{
	static const char *const keys[] = { "app", "tier", "kubernetes.io/metadata.name" };

	T_ASSERT(pol_lint_edit_distance("tier", "tier", 3) == 0, "equal");
	T_ASSERT(pol_lint_edit_distance("tier", "teir", 3) == 1, "transposition is one edit");
	T_ASSERT(pol_lint_edit_distance("kitten", "sitting", 5) == 3, "classic example");
	T_ASSERT(pol_lint_edit_distance("", "abc", 5) == 3, "empty");
	T_ASSERT(pol_lint_edit_distance("abc", "", 5) == 3, "empty other side");
	T_ASSERT(pol_lint_edit_distance("database", "databse", 5) == 1, "deletion");
	T_ASSERT(pol_lint_edit_distance("abcdefgh", "zzzzzzzz", 2) == 3, "capped at cap+1");
	T_ASSERT(pol_lint_edit_distance("a", "abcdefgh", 2) == 3, "length gap beyond cap");
	T_ASSERT(pol_lint_nearest("teir", keys, 3) == keys[1], "nearest key");
	T_ASSERT(pol_lint_nearest("TIER", keys, 3) == keys[1], "case only");
	T_ASSERT(pol_lint_nearest("name", keys, 3) == NULL, "no near key for name");
	T_ASSERT(pol_lint_nearest("tier", keys, 3) == NULL, "the word itself is no hint");
	T_ASSERT(pol_lint_nearest("zzzzzz", keys, 3) == NULL, "far");
}

static void test_cidr_text(void)
{
	char canon[POL_CIDR_STRLEN];

	T_ASSERT(pol_lint_cidr_noncanonical("10.42.1.1/4", canon, sizeof(canon)) &&
			 strcmp(canon, "0.0.0.0/4") == 0, "host bits: %s", canon);
	T_ASSERT(!pol_lint_cidr_noncanonical("10.0.0.0/8", canon, sizeof(canon)), "canonical");
	T_ASSERT(!pol_lint_cidr_noncanonical("10.1.2.3/32", canon, sizeof(canon)), "a /32");
	T_ASSERT(pol_lint_cidr_noncanonical("2001:db8::1/64", canon, sizeof(canon)) &&
			 strcmp(canon, "2001:db8::/64") == 0, "v6: %s", canon);
	T_ASSERT(!pol_lint_cidr_noncanonical("not-a-cidr", canon, sizeof(canon)), "invalid");
}

/* Selector coverage, through policies decoded from YAML so the selectors
 * have exactly the form the loader gives them. */
static const char shadow_yaml[] =
	"kind: Namespace\napiVersion: v1\nmetadata: {name: x}\n"
	"---\n"
	"kind: Pod\napiVersion: v1\nmetadata: {name: a, namespace: x, labels: {app: a}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 80}]}]}\n"
	"status: {phase: Running, podIP: 10.0.0.1, hostIP: 10.9.0.1}\n"
	"---\n"
	"kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	"metadata: {name: p, namespace: x}\n"
	"spec:\n"
	"  podSelector: {}\n"
	"  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {app: a}}}]\n"          /* 0 */
	"    ports: [{port: 80}]\n"
	"  - from: [{podSelector: {matchLabels: {app: a, tier: t}}}]\n"  /* 1: within 0 */
	"    ports: [{port: 80}]\n"
	"  - from: [{podSelector: {matchLabels: {app: a}}}]\n"          /* 2: wider ports */
	"    ports: [{port: 80, endPort: 90}]\n"
	"  - from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [a, b]}]}}]\n" /* 3 */
	"    ports: [{port: 443}]\n"
	"  - from: [{podSelector: {matchLabels: {app: b}}}]\n"          /* 4: within 3 */
	"    ports: [{port: 443}]\n"
	"  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n" /* 5 */
	"    ports: [{port: 22}]\n"
	"  - from: [{ipBlock: {cidr: 10.2.0.0/16}}]\n"                  /* 6: within 5 */
	"    ports: [{port: 22}]\n"
	"  - from: [{ipBlock: {cidr: 10.1.0.0/24}}]\n"                  /* 7: in the hole */
	"    ports: [{port: 22}]\n"
	"  - from: [{podSelector: {matchLabels: {app: c}}}]\n"          /* 8 */
	"    ports: [{port: 8080}]\n"
	"  - from: [{podSelector: {matchLabels: {app: c}}}]\n"          /* 9: duplicate of 8 */
	"    ports: [{port: 8080}]\n"
	"  - from: [{podSelector: {matchLabels: {app: c}}, namespaceSelector: {}}]\n" /* 10 */
	"    ports: [{port: 8080}]\n";

static void test_shadowing(void)
{
	struct pol_model *m = model_of(shadow_yaml);
	const struct pol_cluster *c = pol_model_cluster(m);
	const struct pol_policy *p = c->policies[0];
	const struct pol_rule *r = p->ingress;
	struct pol_lint_report *rep;
	bool at[11] = { 0 };

	T_ASSERT(p->n_ingress == 11, "rules decoded: %zu", p->n_ingress);
	T_ASSERT(pol_lint_rule_covers(&r[0], &r[1]), "more labels is narrower");
	T_ASSERT(!pol_lint_rule_covers(&r[1], &r[0]), "not the reverse");
	T_ASSERT(pol_lint_rule_covers(&r[2], &r[0]), "range covers the port");
	T_ASSERT(!pol_lint_rule_covers(&r[0], &r[2]), "port does not cover range");
	T_ASSERT(pol_lint_rule_covers(&r[3], &r[4]), "In (a,b) covers b");
	T_ASSERT(pol_lint_rule_covers(&r[5], &r[6]), "ipBlock inside, outside the hole");
	T_ASSERT(!pol_lint_rule_covers(&r[5], &r[7]), "ipBlock in the hole is not covered");
	T_ASSERT(pol_lint_rule_covers(&r[8], &r[9]) && pol_lint_rule_covers(&r[9], &r[8]),
		 "duplicates cover each other");
	T_ASSERT(pol_lint_rule_covers(&r[10], &r[8]), "any namespace covers own namespace");
	T_ASSERT(!pol_lint_rule_covers(&r[8], &r[10]), "own namespace does not cover all");
	T_ASSERT(!pol_lint_rule_covers(&r[0], &r[3]), "different ports");

	rep = pol_lint_run(m, NULL);
	T_ASSERT(rep != NULL, "run");
	for (size_t i = 0; rep && i < rep->n; i++) {
		const struct pol_lint_finding *f = &rep->items[i];
		unsigned k;

		if (f->rule != POL_LINT_SHADOWED_RULE)
			continue;
		T_ASSERT(f->severity == POL_LINT_WARNING, "NP012 is a warning");
		if (f->location && sscanf(f->location, "spec.ingress[%u]", &k) == 1 && k < 11)
			at[k] = true;
	}
	T_ASSERT(at[0] && at[1] && at[4] && at[6] && at[9] && at[8], "shadowed: %d%d%d%d%d%d",
		 at[0], at[1], at[4], at[6], at[9], at[8]);
	T_ASSERT(!at[2] && !at[3] && !at[5] && !at[7] && !at[10], "not shadowed: %d%d%d%d%d",
		 at[2], at[3], at[5], at[7], at[10]);
	pol_lint_report_free(rep);
	pol_model_free(m);
}

/* The guide's mistake in small: default deny everywhere, the database
 * admits the application tier, nothing lets the application tier out. */
static const char guide_yaml[] =
	"kind: Namespace\napiVersion: v1\nmetadata: {name: prod}\n"
	"---\n"
	"kind: Namespace\napiVersion: v1\nmetadata: {name: kube-system}\n"
	"---\n"
	"kind: Pod\napiVersion: v1\nmetadata: {name: dns, namespace: kube-system, labels: {k8s-app: kube-dns}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 53, protocol: UDP}]}]}\n"
	"status: {phase: Running, podIP: 10.0.9.1, hostIP: 10.9.0.1}\n"
	"---\n"
	"kind: Pod\napiVersion: v1\nmetadata: {name: api, namespace: prod, labels: {tier: app}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}\n"
	"status: {phase: Running, podIP: 10.0.0.1, hostIP: 10.9.0.1}\n"
	"---\n"
	"kind: Pod\napiVersion: v1\nmetadata: {name: db, namespace: prod, labels: {tier: db}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 5432}]}]}\n"
	"status: {phase: Running, podIP: 10.0.0.2, hostIP: 10.9.0.1}\n"
	"---\n"
	"kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	"metadata: {name: deny, namespace: prod}\n"
	"spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n"
	"---\n"
	"kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	"metadata: {name: dns, namespace: prod}\n"
	"spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
	"  egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}],"
	" ports: [{port: 53, protocol: UDP}]}]\n"
	"---\n"
	"kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	"metadata: {name: db-in, namespace: prod}\n"
	"spec:\n  podSelector: {matchLabels: {tier: db}}\n"
	"  ingress: [{from: [{podSelector: {matchLabels: {tier: app}}}], ports: [{port: 5432}]}]\n";

static void test_one_sided(void)
{
	struct pol_model *m = model_of(guide_yaml);
	struct pol_lint_report *rep = pol_lint_run(m, NULL);
	const struct pol_lint_finding *f = rep ? find_rule(rep, POL_LINT_ONE_SIDED_INGRESS) : NULL;
	struct pol_lint_opts o = { .ns = "kube-system" };

	T_ASSERT(f != NULL, "NP001 fires");
	T_ASSERT(rep && count_rule(rep, POL_LINT_ONE_SIDED_INGRESS) == 1, "once");
	T_ASSERT(f && f->severity == POL_LINT_ERROR, "an error");
	T_ASSERT(has_obj(f, "db-in", "ingress-policy"), "names the ingress policy");
	T_ASSERT(has_obj(f, "deny", "egress-policy") && has_obj(f, "dns", "egress-policy"),
		 "names the egress policies");
	T_ASSERT(has_obj(f, "api", "source") && has_obj(f, "db", "destination"), "names the pods");
	T_ASSERT(f && f->has_port && f->port.port == 5432 && f->port.proto == POL_PROTO_TCP,
		 "names the port");
	T_ASSERT(f && strstr(f->fix, "egress:") && strstr(f->fix, "tier: db") &&
			 strstr(f->fix, "port: 5432") && strstr(f->fix, "namespace: prod"),
		 "fix is the egress rule: %s", f ? f->fix : "");
	T_ASSERT(rep && !count_rule(rep, POL_LINT_EGRESS_WITHOUT_DNS), "DNS is allowed");
	T_ASSERT(rep && !count_rule(rep, POL_LINT_ONE_SIDED_EGRESS), "no NP002");
	T_ASSERT(rep && skipped(rep, POL_LINT_POLICY_UNUSED_IN_WINDOW), "NP013 skipped without usage");
	pol_lint_report_free(rep);

	/* disabled: not run, listed as skipped */
	{
		struct pol_lint_opts d = { .disabled = 1U << POL_LINT_ONE_SIDED_INGRESS };

		rep = pol_lint_run(m, &d);
		T_ASSERT(rep && !count_rule(rep, POL_LINT_ONE_SIDED_INGRESS) &&
				 skipped(rep, POL_LINT_ONE_SIDED_INGRESS), "disabled rule");
		pol_lint_report_free(rep);
	}

	/* -n kube-system: nothing there */
	rep = pol_lint_run(m, &o);
	T_ASSERT(rep && !count_rule(rep, POL_LINT_ONE_SIDED_INGRESS), "filtered by namespace");
	pol_lint_report_free(rep);
	pol_model_free(m);
}

static void test_usage(void)
{
	struct pol_model *m = model_of(guide_yaml);
	struct pol_lint_policy_ref used[] = { { "prod", "deny" }, { "prod", "dns" } };
	struct pol_lint_usage u = { .since = 1764000000, .until = 1764600000, .n_flows = 10,
				    .decided = used, .n_decided = 2 };
	struct pol_lint_opts o = { .usage = &u };
	struct pol_lint_report *rep = pol_lint_run(m, &o);
	const struct pol_lint_finding *f = rep ? find_rule(rep, POL_LINT_POLICY_UNUSED_IN_WINDOW) : NULL;

	T_ASSERT(rep && count_rule(rep, POL_LINT_POLICY_UNUSED_IN_WINDOW) == 1, "one unused policy");
	T_ASSERT(has_obj(f, "db-in", "policy"), "db-in decided nothing");
	T_ASSERT(f && f->severity == POL_LINT_INFO, "info");
	T_ASSERT(f && strstr(f->message, "2025-11-24T"), "window in the message: %s",
		 f ? f->message : "");
	pol_lint_report_free(rep);

	u.n_flows = 0;
	rep = pol_lint_run(m, &o);
	T_ASSERT(rep && !count_rule(rep, POL_LINT_POLICY_UNUSED_IN_WINDOW) &&
			 skipped(rep, POL_LINT_POLICY_UNUSED_IN_WINDOW), "empty window skips");
	pol_lint_report_free(rep);
	pol_model_free(m);
}

static const char typo_yaml[] =
	"kind: Namespace\napiVersion: v1\nmetadata: {name: prod, labels: {team: a}}\n"
	"---\n"
	"kind: Pod\napiVersion: v1\nmetadata: {name: db, namespace: prod, labels: {tier: database}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 5432, name: pg}]}]}\n"
	"status: {phase: Running, podIP: 10.0.0.2, hostIP: 10.9.0.1}\n"
	"---\n"
	"kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n"
	"metadata: {name: t, namespace: prod}\n"
	"spec:\n  podSelector: {matchLabels: {teir: database}}\n"
	"  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {tier: databse}}}]\n"
	"  - from: [{namespaceSelector: {matchLabels: {name: prod}}}]\n"
	"  - from: [{namespaceSelector: {matchLabels: {team: b}}}]\n"
	"    ports: [{port: pgg}]\n";

static void test_typos(void)
{
	struct pol_model *m = model_of(typo_yaml);
	struct pol_lint_report *rep = pol_lint_run(m, NULL);
	const struct pol_lint_finding *f;

	f = rep ? find_rule(rep, POL_LINT_POLICY_SELECTS_NO_POD) : NULL;
	T_ASSERT(f && f->hint && strstr(f->hint, "\"tier\""), "key hint: %s", f && f->hint ? f->hint : "-");
	f = rep ? find_rule(rep, POL_LINT_SELECTOR_MATCHES_NOTHING) : NULL;
	T_ASSERT(rep && count_rule(rep, POL_LINT_SELECTOR_MATCHES_NOTHING) == 2, "pod and namespace selector");
	T_ASSERT(f && f->hint && strstr(f->hint, "tier=database"), "value hint: %s",
		 f && f->hint ? f->hint : "-");
	f = rep ? find_rule(rep, POL_LINT_NAMESPACE_LABEL_UNKNOWN) : NULL;
	T_ASSERT(f && f->location && strcmp(f->location, "spec.ingress[1].from[0].namespaceSelector") == 0,
		 "NP005 location: %s", f && f->location ? f->location : "-");
	T_ASSERT(f && strstr(f->fix, "kubernetes.io/metadata.name: prod"), "NP005 fix: %s",
		 f ? f->fix : "-");
	/* NP009 stays quiet: the policy selects no pod, so there is nothing
	 * to resolve the name against (NP010 says why). */
	T_ASSERT(rep && !count_rule(rep, POL_LINT_NAMED_PORT_UNDEFINED), "no NP009 without pods");
	pol_lint_report_free(rep);
	pol_model_free(m);
}

static void test_names(void)
{
	enum pol_lint_severity s;

	for (int r = POL_LINT_ONE_SIDED_INGRESS; r <= POL_LINT_RULE_MAX; r++) {
		char want[16];

		snprintf(want, sizeof(want), "NP%03d", r);
		T_ASSERT(pol_lint_rule_id(r) && strcmp(pol_lint_rule_id(r), want) == 0, "id %d", r);
		T_ASSERT(pol_lint_rule_name(r) != NULL, "name %d", r);
	}
	T_ASSERT(pol_lint_rule_id(0) == NULL && pol_lint_rule_id(POL_LINT_RULE_MAX + 1) == NULL,
		 "out of range");
	{
		enum pol_lint_rule r;

		T_ASSERT(pol_lint_rule_parse("np012", &r) && r == POL_LINT_SHADOWED_RULE, "id, any case");
		T_ASSERT(pol_lint_rule_parse("egress-without-dns", &r) &&
				 r == POL_LINT_EGRESS_WITHOUT_DNS, "by name");
		T_ASSERT(!pol_lint_rule_parse("NP000", &r) && !pol_lint_rule_parse("NP014", &r),
			 "out of range");
	}
	T_ASSERT(pol_lint_severity_parse("warning", &s) && s == POL_LINT_WARNING, "parse");
	T_ASSERT(!pol_lint_severity_parse("fatal", &s), "unknown severity");
}

int main(void)
{
	test_distance();
	test_cidr_text();
	test_names();
	test_shadowing();
	test_one_sided();
	test_usage();
	test_typos();
	return T_REPORT();
}

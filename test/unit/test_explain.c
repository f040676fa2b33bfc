/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_explain.c - the rule-by-rule analysis behind `npshim explain`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/explain.h"
#include "policy/model.h"
#include "test.h"

/* x/a (10.1.0.1) and x/b (10.1.0.2) in namespace x (env=prod), y/c
 * (10.2.0.3) in namespace other (env=dev). a has container ports http 80/TCP
 * and dns 53/UDP. */
static const char cluster_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {env: prod}}\n"
	"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other, labels: {env: dev}}\n"
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a, tier: db}}\n"
	"spec:\n  nodeName: n1\n  containers:\n  - name: c\n    ports:\n"
	"    - {name: http, containerPort: 80, protocol: TCP}\n"
	"    - {name: dns, containerPort: 53, protocol: UDP}\n"
	"status: {phase: Running, hostIP: 10.9.0.1, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}]}\n"
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b, track: canary}}\n"
	"spec: {nodeName: n1, containers: [{name: c}]}\n"
	"status: {phase: Running, hostIP: 10.9.0.1, podIP: 10.1.0.2, podIPs: [{ip: 10.1.0.2}]}\n"
	"---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: other, labels: {app: c}}\n"
	"spec: {nodeName: n1, containers: [{name: c}]}\n"
	"status: {phase: Running, hostIP: 10.9.0.1, podIP: 10.2.0.3, podIPs: [{ip: 10.2.0.3}]}\n"
	/* Ingress of x/a: three rules, none of which admits b on 81. */
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: to-a, namespace: x}\n"
	"spec:\n  podSelector: {matchLabels: {app: a}}\n  ingress:\n"
	"  - from: [{podSelector: {matchExpressions: [{key: track, operator: NotIn, values: [canary]}]}}]\n"
	"    ports: [{port: 443}]\n"
	"  - from: [{podSelector: {matchExpressions: [{key: track, operator: Exists}]}}]\n"
	"    ports: [{port: 8000, endPort: 8080}, {protocol: UDP, port: dns}, {port: dns}, {port: http}]\n"
	"  - from: [{namespaceSelector: {matchLabels: {env: dev}}, podSelector: {matchLabels: {app: zzz}}},\n"
	"           {podSelector: {matchLabels: {app: c}}},\n"
	"           {ipBlock: {cidr: 10.1.0.0/16, except: [10.1.0.0/24]}}]\n"
	/* Egress of x/b: named port towards a non-pod, selectors towards an external address. */
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: from-b, namespace: x}\n"
	"spec:\n  podSelector: {matchLabels: {app: b}}\n  policyTypes: [Egress]\n  egress:\n"
	"  - to: [{namespaceSelector: {}}]\n"
	"    ports: [{port: http}]\n"
	"  - to: [{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]\n";

static struct pol_model *build(void)
{
	struct pol_cluster *c = pol_cluster_new();
	struct k8s_diag d;
	char err[512] = "";
	struct pol_model *m;

	k8s_diag_init(&d);
	if (!c || k8s_load_buffer("explain.yaml", cluster_yaml, strlen(cluster_yaml), K8S_FORMAT_AUTO, c, &d)) {
		k8s_diag_print(&d, stdout);
		k8s_diag_free(&d);
		pol_cluster_free(c);
		return NULL;
	}
	k8s_diag_free(&d);
	m = pol_model_build(c, NULL, err, sizeof(err));
	if (!m)
		printf("model: %s\n", err);
	return m;
}

static struct pol_explain *explain(const struct pol_model *m, const char *src, const char *dst,
				   uint8_t proto, uint16_t port, struct pol_verdict *v)
{
	struct pol_flow f = { .proto = proto, .port = port };

	pol_ip_parse(src, &f.src);
	pol_ip_parse(dst, &f.dst);
	pol_eval(m, &f, 0, v);
	return pol_explain_flow(m, &f, v);
}

static void test_ingress_near_misses(const struct pol_model *m)
{
	struct pol_verdict v;
	struct pol_explain *x = explain(m, "10.1.0.2", "10.1.0.1", POL_PROTO_TCP, 81, &v);
	const struct pol_explain_policy *p;
	const struct pol_explain_rule *r;

	T_ASSERT(x != NULL, "explain");
	if (!x)
		return;
	T_ASSERT(!v.allowed && x->consistent, "b -> a:81 denied, consistent");
	T_ASSERT(x->egress.analysed && !x->egress.allowed && x->egress.n_policies == 1,
		 "b's egress denied too: http is 80, and a has a tier label");
	T_ASSERT(x->ingress.analysed && !x->ingress.allowed && x->ingress.n_policies == 1, "a's ingress denied by to-a");
	p = &x->ingress.policies[0];
	T_ASSERT(strcmp(p->policy->name, "to-a") == 0 && !p->allows && p->n_rules == 3, "to-a, 3 rules");
	/* rule 0 fails peer and port; rule 1 only the port; rule 2 only the peer. */
	T_ASSERT(p->closest == 1, "closest rule %d", p->closest);

	r = &p->rules[0];
	T_ASSERT(!r->peers_match && !r->ports_match, "rule 0 fails both");
	T_ASSERT(r->peers[0].fail == POL_XF_SELECTOR && r->peers[0].pod_sel.failed && !r->peers[0].ns_sel.failed,
		 "rule 0: pod selector");
	T_ASSERT(r->peers[0].pod_sel.expr && r->peers[0].pod_sel.expr->op == POL_SEL_NOT_IN &&
		 r->peers[0].pod_sel.have && strcmp(r->peers[0].pod_sel.have, "canary") == 0, "NotIn canary, has canary");
	T_ASSERT(r->ports[0].fail == POL_XF_PORT, "443 vs 81");

	r = &p->rules[1];
	T_ASSERT(r->peers_match && r->matched_peer == 0 && !r->ports_match, "rule 1: Exists track matches, ports not");
	T_ASSERT(r->ports[0].fail == POL_XF_PORT, "81 outside 8000-8080");
	T_ASSERT(r->ports[1].fail == POL_XF_PROTOCOL, "UDP dns vs TCP");
	T_ASSERT(r->ports[2].fail == POL_XF_NAMED_PORT_UNDEFINED, "dns/TCP undefined on a");
	T_ASSERT(r->ports[3].fail == POL_XF_NAMED_PORT_OTHER && r->ports[3].resolved == 80, "http is 80");

	r = &p->rules[2];
	T_ASSERT(r->ports_match && !r->peers_match && r->n_ports == 0, "rule 2: no ports = all");
	T_ASSERT(r->peers[0].fail == POL_XF_SELECTOR && r->peers[0].ns_sel.failed && r->peers[0].pod_sel.failed,
		 "rule 2 peer 0: both selectors fail");
	T_ASSERT(strcmp(r->peers[0].ns_sel.key, "env") == 0 && strcmp(r->peers[0].ns_sel.want, "dev") == 0 &&
		 strcmp(r->peers[0].ns_sel.have, "prod") == 0 && strcmp(r->peers[0].peer_ns, "x") == 0,
		 "namespace x has env=prod, needs env=dev");
	T_ASSERT(r->peers[1].fail == POL_XF_SELECTOR && r->peers[1].pod_sel.have &&
		 strcmp(r->peers[1].pod_sel.have, "b") == 0, "app=c: b has app=b");
	T_ASSERT(r->peers[2].fail == POL_XF_EXCEPT && r->peers[2].except != NULL, "10.1.0.2 excepted by 10.1.0.0/24");
	pol_explain_free(x);

	/* The same rule admits the other namespace's c only through an
	 * other-namespace podSelector: it must say so. */
	x = explain(m, "10.2.0.3", "10.1.0.1", POL_PROTO_TCP, 81, &v);
	T_ASSERT(x && !v.allowed && x->consistent, "c -> a:81 denied");
	if (x) {
		r = &x->ingress.policies[0].rules[2];
		T_ASSERT(r->peers[1].fail == POL_XF_OTHER_NAMESPACE, "podSelector alone: other namespace (%d)", r->peers[1].fail);
		T_ASSERT(r->peers[0].fail == POL_XF_SELECTOR && !r->peers[0].ns_sel.failed && r->peers[0].pod_sel.failed,
			 "env=dev matches other, app=zzz does not");
		T_ASSERT(r->peers[2].fail == POL_XF_CIDR, "10.2.0.3 outside 10.1.0.0/16");
		pol_explain_free(x);
	}

	x = explain(m, "10.1.0.2", "10.1.0.1", POL_PROTO_UDP, 53, &v);
	T_ASSERT(x && !v.allowed && x->consistent, "b -> a:53/UDP: egress denies");
	if (x) {
		T_ASSERT(x->ingress.allowed && !x->egress.allowed, "ingress allowed by the named port");
		p = &x->ingress.policies[0];
		T_ASSERT(p->allows && p->closest == 1 && p->rules[1].matched_port == 1, "rule 1, port 1");
		T_ASSERT(v.ingress.state == POL_DIR_ALLOWED && v.ingress.rule == 1, "engine agrees: rule %d", v.ingress.rule);
		pol_explain_free(x);
	}
}

static void test_egress(const struct pol_model *m)
{
	struct pol_verdict v;
	struct pol_explain *x = explain(m, "10.1.0.2", "203.0.113.1", POL_PROTO_TCP, 80, &v);
	const struct pol_explain_policy *p;

	T_ASSERT(x && !v.allowed && x->consistent, "b -> external denied");
	if (!x)
		return;
	T_ASSERT(x->ingress.pod == NULL && !x->ingress.analysed, "no ingress side for an external address");
	p = &x->egress.policies[0];
	T_ASSERT(p->rules[0].peers[0].fail == POL_XF_NOT_A_POD, "namespaceSelector {} needs a pod");
	T_ASSERT(p->rules[0].ports[0].fail == POL_XF_NAMED_PORT_NOT_POD, "named port needs a pod");
	T_ASSERT(p->rules[1].peers[0].fail == POL_XF_NOT_A_POD, "selector peer vs external");
	pol_explain_free(x);

	x = explain(m, "10.1.0.2", "10.1.0.1", POL_PROTO_TCP, 22, &v);
	T_ASSERT(x && !x->egress.allowed && x->consistent, "b -> a:22: egress denied");
	if (x) {
		p = &x->egress.policies[0];
		T_ASSERT(p->rules[1].peers[0].fail == POL_XF_SELECTOR && p->rules[1].peers[0].pod_sel.expr &&
			 p->rules[1].peers[0].pod_sel.expr->op == POL_SEL_DOES_NOT_EXIST &&
			 strcmp(p->rules[1].peers[0].pod_sel.have, "db") == 0, "DoesNotExist tier: a has tier=db");
		T_ASSERT(!p->allows && p->closest == 0 && p->rules[0].peers_match && !p->rules[0].ports_match &&
			 p->rules[1].ports_match && !p->rules[1].peers_match,
			 "both rules miss one part; the first is the closest (%d)", p->closest);
		pol_explain_free(x);
	}
	x = explain(m, "10.1.0.2", "10.1.0.1", POL_PROTO_TCP, 80, &v);
	T_ASSERT(x && x->egress.allowed && x->consistent, "b -> a:80: egress allowed by the named port http");
	if (x) {
		p = &x->egress.policies[0];
		T_ASSERT(p->allows && p->closest == 0 && p->rules[0].matched_port == 0 && p->rules[0].ports[0].resolved == 80,
			 "resolved on the destination pod");
		T_ASSERT(v.egress.state == POL_DIR_ALLOWED && v.egress.policy == p->policy && v.egress.rule == 0, "engine agrees");
		pol_explain_free(x);
	}
}

static void test_not_analysed(const struct pol_model *m)
{
	struct pol_verdict v;
	struct pol_explain *x = explain(m, "10.2.0.3", "10.1.0.2", POL_PROTO_ICMP, 0, &v);

	T_ASSERT(x && v.allowed && x->consistent, "c -> b ICMP: neither isolated");
	if (x) {
		T_ASSERT(!x->egress.analysed && !x->ingress.analysed && x->egress.n_policies == 0, "nothing analysed");
		pol_explain_free(x);
	}
	x = explain(m, "10.1.0.1", "10.1.0.1", POL_PROTO_TCP, 5, &v);
	T_ASSERT(x && v.allowed && v.reason == POL_REASON_SELF && x->consistent, "self");
	pol_explain_free(x);
}

static void test_selector(void)
{
	struct pol_selector sel = { 0 };
	struct pol_labels l = { 0 };
	struct pol_sel_expr e = { .key = (char *)"k", .op = POL_SEL_IN };
	char *vals[] = { (char *)"1", (char *)"2" };
	struct pol_explain_selfail f;

	pol_labels_set(&sel.match_labels, "a", "x");
	pol_labels_set(&l, "a", "x");
	pol_labels_set(&l, "k", "3");
	e.values = vals;
	e.n_values = 2;
	sel.exprs = &e;
	sel.n_exprs = 1;
	f = pol_explain_selector(&sel, &l);
	T_ASSERT(f.failed && f.expr == &e && strcmp(f.have, "3") == 0, "k In (1,2) fails on 3");
	T_ASSERT(f.failed == !pol_selector_matches(&sel, &l), "agrees with pol_selector_matches");
	pol_labels_set(&l, "k", "2");
	f = pol_explain_selector(&sel, &l);
	T_ASSERT(!f.failed && pol_selector_matches(&sel, &l), "k=2 matches");
	pol_labels_set(&l, "a", "y");
	f = pol_explain_selector(&sel, &l);
	T_ASSERT(f.failed && !f.expr && strcmp(f.key, "a") == 0 && strcmp(f.want, "x") == 0, "matchLabels first");
	pol_labels_clear(&l);
	pol_labels_clear(&sel.match_labels);
	T_ASSERT(strcmp(pol_explain_fail_name(POL_XF_EXCEPT), "except") == 0, "names");
}

int main(void)
{
	struct pol_model *m = build();

	T_ASSERT(m != NULL, "cluster builds");
	if (m) {
		test_ingress_near_misses(m);
		test_egress(m);
		test_not_analysed(m);
		pol_model_free(m);
	}
	test_selector();
	return T_REPORT();
}

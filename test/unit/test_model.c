/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_model.c - NetworkPolicy semantics of the compiled model. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test/unit/model_fixture.h"
#include "test/unit/test.h"

enum { TCP = POL_PROTO_TCP, UDP = POL_PROTO_UDP, SCTP = POL_PROTO_SCTP, ICMP = POL_PROTO_ICMP };

/* The upstream e2e model: namespaces x, y, z; pods a, b, c in each. */
static struct pol_cluster *xyz(void)
{
	static const char *nss[] = { "x", "y", "z" }, *pods[] = { "a", "b", "c" };
	struct pol_cluster *c = pol_cluster_new();
	int i, j;

	if (!c)
		abort();
	for (i = 0; i < 3; i++) {
		char labels[64];

		snprintf(labels, sizeof(labels), "ns=%s", nss[i]);
		fx_ns(c, nss[i], labels);
		for (j = 0; j < 3; j++) {
			char ip[32], pl[32];
			struct pol_pod *p;

			snprintf(ip, sizeof(ip), "10.42.%d.%d", i + 1, j + 1);
			snprintf(pl, sizeof(pl), "pod=%s", pods[j]);
			p = fx_pod(c, nss[i], pods[j], pl, ip, "node-1", "10.40.0.1");
			fx_cport(p, "serve-80-tcp", 80, TCP);
			fx_cport(p, "serve-81-tcp", 81, TCP);
			fx_cport(p, "serve-80-udp", 80, UDP);
			fx_cport(p, "serve-81-udp", 81, UDP);
			fx_cport(p, "serve-80-sctp", 80, SCTP);
			fx_cport(p, "serve-81-sctp", 81, SCTP);
		}
	}
	return c;
}

static bool ip_eq_t(const struct pol_ip *a, const struct pol_ip *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static struct pol_model *build(struct pol_cluster *c, const struct pol_build_opts *o)
{
	char err[256];
	struct pol_model *m = pol_model_build(c, o, err, sizeof(err));

	T_ASSERT(m != NULL, "build failed: %s", err);
	return m;
}

static struct pol_ip ip_of(const struct pol_model *m, const char *ref)
{
	char ns[64], name[64];
	const struct pol_pod *p;

	if (sscanf(ref, "%63[^/]/%63s", ns, name) == 2 && (p = pol_model_pod_by_name(m, ns, name)))
		return p->ips[0];
	return fx_ip(ref);
}

static void eval(const struct pol_model *m, const char *from, const char *to, uint8_t proto,
		 uint16_t port, unsigned flags, struct pol_verdict *v)
{
	struct pol_flow f;

	f.src = ip_of(m, from);
	f.dst = ip_of(m, to);
	f.proto = proto;
	f.port = port;
	pol_eval(m, &f, flags, v);
}

static bool ok(const struct pol_model *m, const char *from, const char *to, uint8_t proto, uint16_t port)
{
	struct pol_verdict v;

	eval(m, from, to, proto, port, 0, &v);
	return v.allowed;
}

/* Count the cells of the 9x9 matrix (self excluded) that differ from
 * expect(from, to). */
static int matrix_mismatch(const struct pol_model *m, uint8_t proto, uint16_t port,
			   bool (*expect)(int from, int to))
{
	static const char *all[] = { "x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c" };
	int i, j, bad = 0;

	for (i = 0; i < 9; i++)
		for (j = 0; j < 9; j++) {
			if (i == j)
				continue;
			if (ok(m, all[i], all[j], proto, port) != expect(i, j)) {
				printf("  cell %s -> %s %s/%u: got %s\n", all[i], all[j],
				       pol_proto_name(proto), port, expect(i, j) ? "deny" : "allow");
				bad++;
			}
		}
	return bad;
}

static void test_no_policies(void)
{
	struct pol_model *m = build(xyz(), NULL);
	struct pol_verdict v;

	if (!m)
		return;
	eval(m, "x/a", "y/b", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.reason == POL_REASON_POLICY, "open cluster allows");
	T_ASSERT(v.egress.state == POL_DIR_NOT_ISOLATED && v.ingress.state == POL_DIR_NOT_ISOLATED,
		 "both directions not isolated");
	T_ASSERT(v.src_kind == POL_EP_POD && v.dst_kind == POL_EP_POD, "kinds");
	T_ASSERT(v.src_pod && strcmp(v.src_pod->name, "a") == 0 && v.dst_pod &&
		 strcmp(v.dst_pod->ns, "y") == 0, "identities");
	T_ASSERT(v.egress.rule == -1 && v.egress.policy == NULL && v.egress.n_isolating == 0,
		 "no policy named");
	T_ASSERT(!pol_model_has_staged(m), "nothing staged");
	pol_model_free(m);
}

static bool exp_deny_into_x(int from, int to)
{
	return to >= 3;
}

static bool exp_allow_to_xa(int from, int to)
{
	return to >= 3 || to == 0;
}

static void test_deny_all_and_union(void)
{
	struct pol_cluster *c = xyz();
	struct pol_policy *deny = fx_policy(c, "x", "deny-all", "", "I"), *allow;
	struct pol_model *m;
	struct pol_verdict v;

	(void)deny;
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(matrix_mismatch(m, TCP, 80, exp_deny_into_x) == 0, "deny-all ingress in x");
	eval(m, "y/a", "x/b", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.ingress.state == POL_DIR_DENIED && v.ingress.n_isolating == 1 &&
		 strcmp(v.ingress.isolating[0]->name, "deny-all") == 0, "deny names the isolating policy");
	T_ASSERT(v.egress.state == POL_DIR_NOT_ISOLATED, "egress of y/a open");
	pol_model_free(m);

	/* allow-all-to-a: union with deny-all */
	c = xyz();
	fx_policy(c, "x", "deny-all", "", "I");
	allow = fx_policy(c, "x", "allow-all-to-a", "pod=a", "I");
	fx_rule(allow, false);
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(matrix_mismatch(m, TCP, 80, exp_allow_to_xa) == 0, "allow-all-to-a");
	eval(m, "y/a", "x/a", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.ingress.state == POL_DIR_ALLOWED && v.ingress.policy &&
		 strcmp(v.ingress.policy->name, "allow-all-to-a") == 0 && v.ingress.rule == 0 &&
		 v.ingress.n_isolating == 2, "allowing policy and rule named, both isolate");
	T_ASSERT(strcmp(v.ingress.isolating[0]->name, "deny-all") == 0, "isolating in cluster order");
	pol_model_free(m);
}

static void test_types_and_both_directions(void)
{
	struct pol_cluster *c = xyz();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_model *m;
	struct pol_verdict v;

	/* Ingress rules present but only Egress in policyTypes: the ingress
	 * rules are ignored and ingress is not isolated. */
	p = fx_policy(c, "x", "egress-only", "pod=a", "E");
	r = fx_rule(p, false);
	fx_peer(r, "pod=b", NULL);
	r = fx_rule(p, true);
	fx_peer(r, NULL, "ns=y");
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(ok(m, "x/c", "x/a", TCP, 80), "ingress not isolated by an Egress-only policy");
	T_ASSERT(ok(m, "x/a", "y/c", TCP, 80), "egress to y allowed");
	eval(m, "x/a", "z/c", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.egress.state == POL_DIR_DENIED &&
		 v.ingress.state == POL_DIR_NOT_ISOLATED, "egress to z denied at the source");
	T_ASSERT(ok(m, "x/b", "z/c", TCP, 80), "other pods unaffected");
	pol_model_free(m);

	/* Source egress allows, destination ingress denies: denied. */
	c = xyz();
	p = fx_policy(c, "x", "all-egress", "", "E");
	fx_rule(p, true);
	fx_policy(c, "y", "deny-in", "pod=b", "I");
	m = build(c, NULL);
	if (!m)
		return;
	eval(m, "x/a", "y/b", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.egress.state == POL_DIR_ALLOWED && v.ingress.state == POL_DIR_DENIED,
		 "egress AND ingress");
	T_ASSERT(ok(m, "x/a", "y/a", TCP, 80), "egress allow-all");
	pol_model_free(m);
}

static bool exp_from_y_only(int from, int to)
{
	if (to >= 3)
		return true;
	return from >= 3 && from < 6;
}

static bool exp_from_yb_or_x(int from, int to)
{
	/* ingress to x/a: from x/b (pod sel own ns) or from y/b only (ns AND pod) */
	if (to != 0)
		return true;
	return from == 1 || from == 4;
}

static void test_selectors(void)
{
	struct pol_cluster *c = xyz();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_peer *peer;
	struct pol_model *m;

	/* namespaceSelector alone */
	p = fx_policy(c, "x", "from-y", "", "I");
	r = fx_rule(p, false);
	fx_peer(r, NULL, "ns=y");
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(matrix_mismatch(m, TCP, 80, exp_from_y_only) == 0, "namespaceSelector ns=y");
	pol_model_free(m);

	/* pod+namespace in one peer = AND; podSelector alone = own namespace */
	c = xyz();
	p = fx_policy(c, "x", "and", "pod=a", "I");
	r = fx_rule(p, false);
	fx_peer(r, "pod=b", "ns=y");
	fx_peer(r, "pod=b", NULL);
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(matrix_mismatch(m, TCP, 80, exp_from_yb_or_x) == 0, "pod AND namespace selector");
	pol_model_free(m);

	/* matchExpressions: In, NotIn, Exists, DoesNotExist */
	c = xyz();
	p = fx_policy(c, "x", "exprs", "pod=a", "I");
	r = fx_rule(p, false);
	peer = fx_peer(r, "", "");
	fx_expr(peer->ns_sel, "ns", POL_SEL_NOT_IN, "x,z");
	fx_expr(peer->pod_sel, "pod", POL_SEL_IN, "b,c");
	r = fx_rule(p, false);
	peer = fx_peer(r, "", NULL);
	fx_expr(peer->pod_sel, "pod", POL_SEL_EXISTS, NULL);
	fx_expr(peer->pod_sel, "missing", POL_SEL_DOES_NOT_EXIST, NULL);
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(ok(m, "y/b", "x/a", TCP, 80) && ok(m, "y/c", "x/a", TCP, 80), "In + NotIn match");
	T_ASSERT(!ok(m, "y/a", "x/a", TCP, 80), "In excludes pod=a");
	T_ASSERT(!ok(m, "z/b", "x/a", TCP, 80), "NotIn excludes z");
	T_ASSERT(ok(m, "x/b", "x/a", TCP, 80), "Exists/DoesNotExist in own namespace");
	pol_model_free(m);

	/* NotIn also matches a namespace without the key; {} matches all */
	c = xyz();
	fx_ns(c, "w", "other=1");
	fx_pod(c, "w", "a", "pod=a", "10.42.4.1", "node-1", "10.40.0.1");
	p = fx_policy(c, "x", "notin", "pod=a", "I");
	r = fx_rule(p, false);
	peer = fx_peer(r, NULL, "");
	fx_expr(peer->ns_sel, "ns", POL_SEL_NOT_IN, "y,z");
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(ok(m, "w/a", "x/a", TCP, 80), "NotIn matches an absent key");
	T_ASSERT(ok(m, "x/b", "x/a", TCP, 80) && !ok(m, "y/b", "x/a", TCP, 80), "NotIn values");
	pol_model_free(m);
}

static void test_ipblock(void)
{
	struct pol_cluster *c = xyz();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_model *m;
	struct pol_verdict v;

	/* egress to y/b's /32 only, ingress from a big non-canonical CIDR except x/b */
	p = fx_policy(c, "x", "egress-ip", "pod=a", "E");
	r = fx_rule(p, true);
	fx_ipblock(r, "10.42.2.2/32", NULL);
	p = fx_policy(c, "z", "ingress-ip", "pod=c", "I");
	r = fx_rule(p, false);
	fx_ipblock(r, "10.42.1.1/4", "10.42.1.2/32");
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(ok(m, "x/a", "y/b", TCP, 80), "ipBlock /32 matches a pod IP");
	T_ASSERT(!ok(m, "x/a", "y/c", TCP, 80), "other pod not in the block");
	T_ASSERT(ok(m, "x/c", "z/c", TCP, 80) && ok(m, "y/a", "z/c", TCP, 80), "10.42.1.1/4 = 0.0.0.0/4");
	eval(m, "x/b", "z/c", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.ingress.state == POL_DIR_DENIED, "except x/b");
	eval(m, "8.8.8.8", "z/c", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.src_kind == POL_EP_EXTERNAL && v.egress.state == POL_DIR_SKIPPED,
		 "external source inside 0.0.0.0/4, egress skipped");
	eval(m, "192.168.1.1", "z/c", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed, "external source outside the block");
	eval(m, "x/a", "1.1.1.1", TCP, 443, 0, &v);
	T_ASSERT(!v.allowed && v.dst_kind == POL_EP_EXTERNAL && v.ingress.state == POL_DIR_SKIPPED,
		 "egress to an external address not in the block");
	pol_model_free(m);
}

static void test_ports(void)
{
	struct pol_cluster *c = xyz();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_model *m;
	struct pol_pod *ext;

	/* x/a ingress: TCP 80 by number; UDP all ports; 8000-8080 range */
	p = fx_policy(c, "x", "ports", "pod=a", "I");
	r = fx_rule(p, false);
	fx_port(r, TCP, 80, NULL, 0);
	fx_port(r, UDP, 0, NULL, 0);
	fx_port(r, TCP, 8000, NULL, 8080);
	/* x/b ingress: named port serve-81-udp; named serve-80-tcp with the
	 * wrong protocol (SCTP) never matches */
	p = fx_policy(c, "x", "named", "pod=b", "I");
	r = fx_rule(p, false);
	fx_port(r, UDP, 0, "serve-81-udp", 0);
	fx_port(r, SCTP, 0, "serve-80-tcp", 0);
	fx_port(r, TCP, 0, "no-such-port", 0);
	/* x/c ingress: a rule without ports matches everything, ICMP too */
	p = fx_policy(c, "x", "no-ports", "pod=c", "I");
	r = fx_rule(p, false);
	fx_peer(r, NULL, "ns=y");
	/* y/a egress: named port resolved against the destination pod */
	p = fx_policy(c, "y", "egress-named", "pod=a", "E");
	r = fx_rule(p, true);
	fx_port(r, TCP, 0, "serve-81-tcp", 0);
	ext = fx_pod(c, "z", "web", "pod=web", "10.42.3.9", "node-1", "10.40.0.1");
	fx_cport(ext, "serve-81-tcp", 8081, TCP);
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(ok(m, "y/b", "x/a", TCP, 80) && !ok(m, "y/b", "x/a", TCP, 81), "port number");
	T_ASSERT(ok(m, "y/b", "x/a", UDP, 53) && ok(m, "y/b", "x/a", UDP, 81), "protocol-only port");
	T_ASSERT(!ok(m, "y/b", "x/a", SCTP, 80), "other protocol");
	T_ASSERT(ok(m, "y/b", "x/a", TCP, 8000) && ok(m, "y/b", "x/a", TCP, 8080) &&
		 ok(m, "y/b", "x/a", TCP, 8042) && !ok(m, "y/b", "x/a", TCP, 8081) &&
		 !ok(m, "y/b", "x/a", TCP, 7999), "endPort range");
	T_ASSERT(!ok(m, "y/b", "x/a", ICMP, 0), "a rule with ports never matches ICMP");
	T_ASSERT(ok(m, "y/b", "x/b", UDP, 81) && !ok(m, "y/b", "x/b", UDP, 80), "named port UDP");
	T_ASSERT(!ok(m, "y/b", "x/b", SCTP, 80) && !ok(m, "y/b", "x/b", TCP, 80),
		 "named port with another protocol does not resolve");
	T_ASSERT(ok(m, "y/b", "x/c", ICMP, 0) && ok(m, "y/b", "x/c", SCTP, 9), "rule without ports");
	T_ASSERT(ok(m, "y/a", "x/a", TCP, 81) == false, "egress named: x/a ingress refuses 81 anyway");
	T_ASSERT(ok(m, "y/a", "z/b", TCP, 81) && !ok(m, "y/a", "z/b", TCP, 80), "egress named port");
	T_ASSERT(ok(m, "y/a", "z/web", TCP, 8081) && !ok(m, "y/a", "z/web", TCP, 81),
		 "egress named port resolved per destination pod");
	T_ASSERT(!ok(m, "y/a", "203.0.113.5", TCP, 81), "named port never matches an external destination");
	pol_model_free(m);
}

static void test_self_node_staged_locality(void)
{
	struct pol_cluster *c = xyz();
	struct pol_policy *p;
	struct pol_ip extra = fx_ip("10.40.0.99");
	struct pol_build_opts o = { .node_name = NULL, .node_ips = &extra, .n_node_ips = 1 };
	struct pol_model *m;
	struct pol_verdict v;

	fx_policy(c, "x", "deny-all", "", "IE");
	p = fx_policy(c, "y", "staged-deny", "", "I");
	p->staged = true;
	fx_pod(c, "z", "far", "pod=far", "10.42.3.50", "node-2", "10.40.0.2");
	m = build(c, &o);
	if (!m)
		return;
	eval(m, "x/a", "x/a", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.reason == POL_REASON_SELF, "self always allowed");
	T_ASSERT(v.ingress.state == POL_DIR_DENIED, "self: policies alone would deny");
	eval(m, "10.40.0.1", "x/a", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.reason == POL_REASON_NODE && v.src_kind == POL_EP_NODE, "own node");
	eval(m, "x/a", "10.40.0.1", TCP, 10250, 0, &v);
	T_ASSERT(v.allowed && v.reason == POL_REASON_NODE, "pod to own node");
	eval(m, "10.40.0.2", "x/a", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.src_kind == POL_EP_NODE && v.reason == POL_REASON_POLICY,
		 "another node is not this pod's node");
	eval(m, "10.40.0.99", "x/a", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.reason == POL_REASON_NODE, "--node-ip address");
	T_ASSERT(pol_model_has_staged(m), "has staged");
	eval(m, "z/a", "y/a", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.ingress.n_isolating == 1, "staged counts when auditing");
	eval(m, "z/a", "y/a", TCP, 80, POL_EVAL_ENFORCED_ONLY, &v);
	T_ASSERT(v.allowed && v.ingress.state == POL_DIR_NOT_ISOLATED, "staged ignored when enforcing");
	pol_model_free(m);

	/* locality: this node is node-2 */
	c = xyz();
	fx_policy(c, "x", "deny-all", "", "IE");
	fx_policy(c, "z", "deny-all", "", "IE");
	fx_pod(c, "z", "far", "pod=far", "10.42.3.50", "node-2", "10.40.0.2");
	o.node_name = "node-2";
	o.n_node_ips = 0;
	m = build(c, &o);
	if (!m)
		return;
	eval(m, "y/a", "x/a", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.ingress.state == POL_DIR_SKIPPED && v.egress.state == POL_DIR_SKIPPED,
		 "remote pods are not decided here");
	eval(m, "x/a", "z/far", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.egress.state == POL_DIR_SKIPPED && v.ingress.state == POL_DIR_DENIED,
		 "local destination's ingress decided");
	eval(m, "z/far", "y/a", TCP, 80, 0, &v);
	T_ASSERT(!v.allowed && v.egress.state == POL_DIR_DENIED, "local source's egress decided");
	T_ASSERT(pol_model_pod_is_local(m, v.src_pod) && !pol_model_pod_is_local(m, v.dst_pod),
		 "pod_is_local");
	pol_model_free(m);
}

static void test_identity(void)
{
	struct pol_cluster *c = pol_cluster_new();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_pod *pod;
	struct pol_model *m;
	struct pol_verdict v;
	struct pol_ip ip;
	char err[256];
	const struct pol_namespace *ns;

	if (!c)
		return;
	/* Namespace object without the metadata label; namespace "imp" has no
	 * object at all. */
	fx_ns(c, "app", "team=a");
	fx_pod(c, "app", "dual", "role=web", "10.1.0.5,fd00::5", "n1", "10.0.0.1");
	pod = fx_pod(c, "app", "hostnet", "role=web", "10.0.0.1", "n1", "10.0.0.1");
	pod->host_network = true;
	pod = fx_pod(c, "app", "done", "role=web", "10.1.0.6", "n1", "10.0.0.1");
	pod->phase = POL_PHASE_SUCCEEDED;
	pod = fx_pod(c, "app", "failed", "role=web", "10.1.0.7", "n1", "10.0.0.1");
	pod->phase = POL_PHASE_FAILED;
	fx_pod(c, "app", "pending", "role=web", NULL, "n1", NULL);
	fx_pod(c, "imp", "client", "role=client", "10.2.0.5,fd00::2:5", "n2", "10.0.0.2");
	p = fx_policy(c, "app", "web", "role=web", "I");
	r = fx_rule(p, false);
	fx_peer(r, "", "kubernetes.io/metadata.name=imp");
	r = fx_rule(p, false);
	fx_ipblock(r, "fd00:1::/32", NULL);
	m = build(c, NULL);
	if (!m)
		return;
	ns = pol_model_namespace(m, "imp");
	T_ASSERT(ns && ns->labels.n == 1 &&
		 strcmp(pol_labels_get(&ns->labels, "kubernetes.io/metadata.name") ?: "", "imp") == 0,
		 "implicit namespace with its metadata label");
	ns = pol_model_namespace(m, "app");
	T_ASSERT(ns && pol_labels_get(&ns->labels, "team") &&
		 strcmp(pol_labels_get(&ns->labels, "kubernetes.io/metadata.name") ?: "", "app") == 0,
		 "metadata label added to a namespace object");
	T_ASSERT(pol_model_namespace(m, "nope") == NULL, "unknown namespace");
	T_ASSERT(ok(m, "10.2.0.5", "10.1.0.5", TCP, 80), "v4: implicit namespace selected by name");
	T_ASSERT(ok(m, "fd00::2:5", "fd00::5", TCP, 80), "v6: same pod by its second IP");
	T_ASSERT(!ok(m, "fd00::99", "fd00::5", TCP, 80), "v6 external outside the block");
	T_ASSERT(ok(m, "fd00:1::7", "fd00::5", TCP, 80), "v6 ipBlock");
	ip = fx_ip("fd00::5");
	T_ASSERT(pol_model_pod_by_ip(m, &ip) == pol_model_pod_by_name(m, "app", "dual"), "by ip v6");
	ip = fx_ip("10.1.0.6");
	T_ASSERT(pol_model_pod_by_ip(m, &ip) == NULL, "Succeeded pod has no identity");
	T_ASSERT(pol_model_pod_by_name(m, "app", "done") != NULL, "but is found by name");
	eval(m, "10.2.0.5", "10.1.0.6", TCP, 80, 0, &v);
	T_ASSERT(v.allowed && v.dst_kind == POL_EP_EXTERNAL, "Succeeded pod's IP is external");
	eval(m, "10.0.0.1", "10.1.0.5", TCP, 80, 0, &v);
	T_ASSERT(v.src_kind == POL_EP_NODE && v.allowed && v.reason == POL_REASON_NODE,
		 "hostNetwork pod speaks as its node");
	eval(m, "10.0.0.2", "10.1.0.5", TCP, 80, 0, &v);
	T_ASSERT(v.src_kind == POL_EP_NODE && !v.allowed, "another node is denied by policy");
	pol_model_free(m);

	/* duplicate IP */
	c = pol_cluster_new();
	if (!c)
		return;
	fx_pod(c, "a", "one", "", "10.9.0.1", NULL, NULL);
	fx_pod(c, "b", "two", "", "10.9.0.2,10.9.0.1", NULL, NULL);
	err[0] = '\0';
	errno = 0;
	m = pol_model_build(c, NULL, err, sizeof(err));
	T_ASSERT(m == NULL && errno == EINVAL, "duplicate IP refused");
	T_ASSERT(strstr(err, "a/one") && strstr(err, "b/two") && strstr(err, "10.9.0.1"),
		 "message names both pods and the IP: %s", err);
	pol_model_free(m);

	/* duplicate IP on a Succeeded pod is fine (no identity); a pod listing
	 * its IP twice is fine */
	c = pol_cluster_new();
	if (!c)
		return;
	pod = fx_pod(c, "a", "old", "", "10.9.0.1", NULL, NULL);
	pod->phase = POL_PHASE_SUCCEEDED;
	fx_pod(c, "a", "new", "", "10.9.0.1,10.9.0.1", NULL, NULL);
	m = build(c, NULL);
	pol_model_free(m);

	/* duplicate pod name */
	c = pol_cluster_new();
	if (!c)
		return;
	fx_pod(c, "a", "one", "", "10.9.0.1", NULL, NULL)->origin = fx_strdup("f.yaml:3");
	fx_pod(c, "a", "one", "", "10.9.0.2", NULL, NULL)->origin = fx_strdup("g.yaml:9");
	m = pol_model_build(c, NULL, err, sizeof(err));
	T_ASSERT(!m && strstr(err, "a/one") && strstr(err, "f.yaml:3") && strstr(err, "g.yaml:9"),
		 "duplicate pod: %s", err);

	/* NULL cluster and empty cluster */
	m = pol_model_build(NULL, NULL, NULL, 0);
	T_ASSERT(m != NULL, "NULL cluster builds an empty model");
	if (m) {
		ip = fx_ip("1.2.3.4");
		T_ASSERT(pol_model_pod_by_ip(m, &ip) == NULL, "empty model lookup");
		eval(m, "1.2.3.4", "5.6.7.8", UDP, 53, 0, &v);
		T_ASSERT(v.allowed && v.src_kind == POL_EP_EXTERNAL, "external to external");
	}
	pol_model_free(m);
}

/* More pods than the per-namespace scan limit, so that selectors go through
 * the label index, memoised sets, sorted lists and bitsets. */
static void test_large_scope(void)
{
	struct pol_cluster *c = pol_cluster_new();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_peer *peer;
	struct pol_model *m;
	int i, bad = 0;

	if (!c)
		return;
	for (i = 0; i < 900; i++) {
		char ns[16], name[16], labels[64], ip[32];

		snprintf(ns, sizeof(ns), "ns%d", i % 3);
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(labels, sizeof(labels), "app=a%d,tier=t%d", i % 7, i % 4);
		snprintf(ip, sizeof(ip), "10.7.%d.%d", i / 250, i % 250 + 1);
		fx_pod(c, ns, name, labels, ip, NULL, NULL);
	}
	p = fx_policy(c, "ns0", "target", "app=a0", "I");
	r = fx_rule(p, false);
	fx_peer(r, "app=a3", "");                 /* label index, any namespace */
	r = fx_rule(p, false);
	peer = fx_peer(r, "", "");
	fx_expr(peer->pod_sel, "tier", POL_SEL_IN, "t1"); /* In anchor */
	fx_expr(peer->pod_sel, "app", POL_SEL_IN, "a5");
	r = fx_rule(p, false);
	peer = fx_peer(r, "", "");
	fx_expr(peer->pod_sel, "app", POL_SEL_NOT_IN, "a0,a1,a2,a3,a4,a5"); /* full scan: a6 */
	fx_expr(peer->ns_sel, "kubernetes.io/metadata.name", POL_SEL_IN, "ns1,ns2");
	r = fx_rule(p, false);
	fx_peer(r, "app=a4,tier=t2", "kubernetes.io/metadata.name=ns1"); /* small: sorted list */
	/* Same rule shape in two namespaces: a podSelector alone means each
	 * policy's own namespace, so the memoised sets must differ. */
	p = fx_policy(c, "ns1", "same-shape-1", "app=a0", "I");
	fx_peer(fx_rule(p, false), "tier=t0", NULL);
	p = fx_policy(c, "ns2", "same-shape-2", "app=a0", "I");
	fx_peer(fx_rule(p, false), "tier=t0", NULL);
	m = build(c, NULL);
	if (!m)
		return;
	for (i = 0; i < 900; i++) {
		char src[32];
		bool want = (i % 7 == 3) || (i % 7 == 5 && i % 4 == 1) || (i % 7 == 6 && i % 3 != 0) ||
			    (i % 7 == 4 && i % 4 == 2 && i % 3 == 1);
		struct pol_verdict v;
		struct pol_flow f;

		snprintf(src, sizeof(src), "10.7.%d.%d", i / 250, i % 250 + 1);
		f.src = fx_ip(src);
		f.dst = fx_ip("10.7.0.1"); /* p0: ns0, app=a0 */
		f.proto = TCP;
		f.port = 80;
		pol_eval(m, &f, 0, &v);
		if (i != 0 && v.allowed != want) {
			bad++;
			if (bad < 5)
				printf("  p%d: got %d want %d\n", i, v.allowed, want);
		}
	}
	T_ASSERT(bad == 0, "%d of 899 large-scope verdicts wrong", bad);
	/* p1 (ns1, app=a1) -> p7 (ns1, app=a0) needs tier=t0: p1 is t1 */
	T_ASSERT(!ok(m, "10.7.0.2", "10.7.0.8", TCP, 80), "same shape: ns1 refuses t1");
	/* p4 (ns1, tier=t0) -> p7: allowed; p8 (ns2, tier=t0) -> p7: other namespace */
	T_ASSERT(ok(m, "10.7.0.5", "10.7.0.8", TCP, 80), "same shape: ns1 allows its own t0");
	T_ASSERT(!ok(m, "10.7.0.9", "10.7.0.8", TCP, 80), "same shape: ns2's t0 is not ns1's");
	/* p14 (ns2, app=a0) accepts p8 (ns2, t0) but not p4 (ns1, t0) */
	T_ASSERT(ok(m, "10.7.0.9", "10.7.0.15", TCP, 80) && !ok(m, "10.7.0.5", "10.7.0.15", TCP, 80),
		 "same shape: ns2 uses its own namespace");
	pol_model_free(m);
}

/* One rule with hundreds of distinct selectors, followed by a rule of the
 * same shape: the build-time memo grows while the first is compiled. */
static void test_many_selectors(void)
{
	struct pol_cluster *c = pol_cluster_new();
	struct pol_policy *p[2];
	struct pol_model *m;
	int i, k;

	if (!c)
		return;
	for (i = 0; i < 300; i++) {
		char name[16], labels[32], ip[32];

		snprintf(name, sizeof(name), "n%d", i);
		snprintf(labels, sizeof(labels), "idx=%d", i);
		fx_ns(c, name, labels);
		snprintf(ip, sizeof(ip), "10.8.%d.%d", i / 200, i % 200 + 1);
		fx_pod(c, name, "p", "app=x", ip, NULL, NULL);
	}
	for (k = 0; k < 2; k++) {
		struct pol_rule *r;

		p[k] = fx_policy(c, k ? "n1" : "n0", k ? "many-1" : "many-0", "", "I");
		r = fx_rule(p[k], false);
		for (i = 0; i < 300; i += 2) {
			char sel[32];

			snprintf(sel, sizeof(sel), "idx=%d", i);
			fx_peer(r, "", sel);
			snprintf(sel, sizeof(sel), "app=x,idx=%d", i);
			fx_peer(r, sel, NULL);
		}
	}
	m = build(c, NULL);
	if (!m)
		return;
	T_ASSERT(ok(m, "10.8.0.3", "10.8.0.1", TCP, 80) && !ok(m, "10.8.0.4", "10.8.0.1", TCP, 80),
		 "n2 allowed into n0, n3 not");
	T_ASSERT(ok(m, "10.8.0.101", "10.8.0.2", TCP, 80) && !ok(m, "10.8.0.102", "10.8.0.2", TCP, 80),
		 "same shape in n1: n100 allowed, n101 not");
	pol_model_free(m);
}


/* ---- randomised differential check against a direct reading of the spec */

static uint64_t rs = 0x853c49e6748fea9bULL;

static uint32_t rr(uint32_t n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return n ? (uint32_t)(rs >> 20) % n : 0;
}

static const char *rkey(void)
{
	static const char *k[] = { "a", "b", "c", "d" };

	return k[rr(4)];
}

static const char *rval(void)
{
	static const char *v[] = { "1", "2", "3" };

	return v[rr(3)];
}

static void rlabels(struct pol_labels *l, int max)
{
	int i, n = (int)rr((uint32_t)max + 1);

	for (i = 0; i < n; i++)
		if (pol_labels_set(l, rkey(), rval()) < 0)
			abort();
}

static struct pol_selector *rsel(void)
{
	struct pol_selector *s = fx_sel("");
	int i, n = (int)rr(3);

	rlabels(&s->match_labels, 1);
	for (i = 0; i < n; i++) {
		char vals[8];

		snprintf(vals, sizeof(vals), "%s,%s", rval(), rval());
		fx_expr(s, rkey(), (enum pol_sel_op)rr(4), vals);
	}
	return s;
}

static void rrules(struct pol_policy *p, bool egress)
{
	static const char *cidrs[] = { "10.9.0.0/16", "10.9.0.0/24", "10.9.1.0/25", "0.0.0.0/0",
				       "10.9.0.8/29", "fd09::/64", "::/0", "10.1.0.0/30" };
	static const char *names[] = { "http", "dns", "m" };
	int i, n = (int)rr(3);

	for (i = 0; i < n; i++) {
		struct pol_rule *r = fx_rule(p, egress);
		int k, np = (int)rr(3), nports = (int)rr(3);

		for (k = 0; k < np; k++) {
			uint32_t kind = rr(4);

			if (kind == 3) {
				char ex[64];

				snprintf(ex, sizeof(ex), "10.9.0.%u/%u,10.9.1.0/26", rr(8) * 4, 30 + rr(3));
				fx_ipblock(r, cidrs[rr(8)], rr(2) ? ex : NULL);
			} else {
				struct pol_peer *peer = FX_GROW(r->peers, r->n_peers);

				if (kind != 1)
					peer->pod_sel = rsel();
				if (kind != 0)
					peer->ns_sel = rsel();
			}
		}
		for (k = 0; k < nports; k++) {
			uint8_t proto = (uint8_t[]){ TCP, UDP, SCTP }[rr(3)];
			uint32_t kind = rr(4);

			if (kind == 0)
				fx_port(r, proto, 0, NULL, 0);
			else if (kind == 1)
				fx_port(r, proto, 0, names[rr(3)], 0);
			else if (kind == 2)
				fx_port(r, proto, (uint16_t)(80 + rr(3)), NULL, 0);
			else
				fx_port(r, proto, 80, NULL, (uint16_t)(80 + rr(3)));
		}
	}
}

/* big: hundreds of pods, so that selectors take the label-index paths */
static struct pol_cluster *random_cluster(bool big)
{
	struct pol_cluster *c = pol_cluster_new();
	int i, n_ns = 1 + (int)rr(big ? 3 : 5), n_obj = (int)rr((uint32_t)n_ns + 1);
	int n_pods = big ? 300 + (int)rr(500) : (int)rr(30), n_pol = (int)rr(big ? 40 : 8);
	static const char *names[] = { "http", "dns", "m" };

	if (!c)
		abort();
	for (i = 0; i < n_obj; i++) {
		char name[16];
		struct pol_namespace *ns;

		snprintf(name, sizeof(name), "n%d", i);
		ns = fx_ns(c, name, NULL);
		rlabels(&ns->labels, 2);
	}
	for (i = 0; i < n_pods; i++) {
		char ns[16], name[16], ip[48], host[24];
		struct pol_pod *p;
		int k, nport = (int)rr(3);

		snprintf(ns, sizeof(ns), "n%u", rr((uint32_t)n_ns));
		snprintf(name, sizeof(name), "p%d", i);
		if (rr(5) == 0)
			snprintf(ip, sizeof(ip), "10.9.%d.%d,fd09::%x", i / 200, i % 200 + 1, i + 1);
		else
			snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 200, i % 200 + 1);
		snprintf(host, sizeof(host), "10.1.0.%u", 1 + rr(2));
		p = fx_pod(c, ns, name, NULL, rr(10) ? ip : NULL, rr(2) ? "n0" : "n1", rr(8) ? host : NULL);
		rlabels(&p->labels, 3);
		p->host_network = rr(12) == 0;
		p->phase = (enum pol_pod_phase)rr(5);
		for (k = 0; k < nport; k++)
			fx_cport(p, rr(4) ? names[rr(3)] : NULL, (uint16_t)(80 + rr(3)),
				 (uint8_t[]){ TCP, UDP, SCTP }[rr(3)]);
	}
	for (i = 0; i < n_pol; i++) {
		char ns[16], name[16];
		struct pol_policy *p;
		struct pol_selector *s;

		snprintf(ns, sizeof(ns), "n%u", rr((uint32_t)n_ns));
		snprintf(name, sizeof(name), "q%d", i);
		p = fx_policy(c, ns, name, NULL, rr(4) == 0 ? "" : rr(3) == 0 ? "IE" : rr(2) ? "I" : "E");
		s = rsel();
		p->pod_sel = *s;
		free(s);
		p->staged = rr(5) == 0;
		rrules(p, false);
		rrules(p, true);
	}
	return c;
}

/* The reference reads the original objects, never the model's copy. */
struct ref {
	const struct pol_cluster *c;
	const char *node;
	const struct pol_ip *node_ips;
	size_t n_node_ips;
};

static bool ref_identity(const struct pol_pod *p)
{
	return p->n_ips && !p->host_network && p->phase != POL_PHASE_SUCCEEDED &&
	       p->phase != POL_PHASE_FAILED;
}

static const struct pol_pod *ref_pod(const struct ref *rf, const struct pol_ip *ip)
{
	size_t i, k;

	for (i = 0; i < rf->c->n_pods; i++)
		for (k = 0; ref_identity(rf->c->pods[i]) && k < rf->c->pods[i]->n_ips; k++)
			if (!memcmp(&rf->c->pods[i]->ips[k], ip, sizeof(*ip)))
				return rf->c->pods[i];
	return NULL;
}

static bool ref_is_node(const struct ref *rf, const struct pol_ip *ip)
{
	size_t i;

	for (i = 0; i < rf->c->n_pods; i++)
		if (rf->c->pods[i]->has_host_ip && !memcmp(&rf->c->pods[i]->host_ip, ip, sizeof(*ip)))
			return true;
	for (i = 0; i < rf->n_node_ips; i++)
		if (!memcmp(&rf->node_ips[i], ip, sizeof(*ip)))
			return true;
	return false;
}

static bool ref_ns_sel(const struct ref *rf, const struct pol_selector *sel, const char *ns)
{
	struct pol_labels l = { NULL, 0 };
	size_t i, k;
	bool r;

	for (i = 0; i < rf->c->n_namespaces; i++)
		if (!strcmp(rf->c->namespaces[i]->name, ns))
			for (k = 0; k < rf->c->namespaces[i]->labels.n; k++)
				pol_labels_set(&l, rf->c->namespaces[i]->labels.items[k].key,
					       rf->c->namespaces[i]->labels.items[k].value);
	pol_labels_set(&l, "kubernetes.io/metadata.name", ns);
	r = pol_selector_matches(sel, &l);
	pol_labels_clear(&l);
	return r;
}

static bool ref_rule(const struct ref *rf, const struct pol_policy *pol, const struct pol_rule *r,
		     const struct pol_flow *f, const struct pol_ip *ip, const struct pol_pod *other,
		     const struct pol_pod *dst)
{
	bool peer = r->n_peers == 0, port = r->n_ports == 0;
	size_t i, k;

	for (i = 0; i < r->n_peers && !peer; i++) {
		const struct pol_peer *p = &r->peers[i];

		if (p->ipblock) {
			peer = pol_cidr_contains(&p->ipblock->cidr, ip);
			for (k = 0; k < p->ipblock->n_except; k++)
				peer = peer && !pol_cidr_contains(&p->ipblock->except[k], ip);
			continue;
		}
		if (!other)
			continue;
		if (p->ns_sel ? !ref_ns_sel(rf, p->ns_sel, other->ns) : strcmp(other->ns, pol->ns) != 0)
			continue;
		peer = !p->pod_sel || pol_selector_matches(p->pod_sel, &other->labels);
	}
	for (i = 0; i < r->n_ports && !port; i++) {
		const struct pol_port *pp = &r->ports[i];

		if (pp->proto != f->proto)
			continue;
		if (!pp->has_port) {
			port = true;
		} else if (pp->name) {
			for (k = 0; dst && k < dst->n_ports; k++)
				if (dst->ports[k].name && !strcmp(dst->ports[k].name, pp->name) &&
				    dst->ports[k].proto == pp->proto) {
					port = dst->ports[k].port == f->port;
					break;
				}
		} else {
			port = f->port >= pp->port && f->port <= (pp->end_port ? pp->end_port : pp->port);
		}
	}
	return peer && port;
}

struct ref_dir {
	enum pol_dir_state state;
	const struct pol_policy *pol;
	int rule;
	size_t n_iso;
};

static void ref_dir(const struct ref *rf, const struct pol_pod *self, bool egress,
		    const struct pol_flow *f, const struct pol_pod *other, const struct pol_pod *dst,
		    unsigned flags, struct ref_dir *out)
{
	size_t i, k;

	memset(out, 0, sizeof(*out));
	out->rule = -1;
	out->state = POL_DIR_SKIPPED;
	if (!self || (rf->node && (!self->node_name || strcmp(self->node_name, rf->node))))
		return;
	out->state = POL_DIR_NOT_ISOLATED;
	for (i = 0; i < rf->c->n_policies; i++) {
		const struct pol_policy *p = rf->c->policies[i];

		if ((flags & POL_EVAL_ENFORCED_ONLY) && p->staged)
			continue;
		if (strcmp(p->ns, self->ns) || !(egress ? p->type_egress : p->type_ingress) ||
		    !pol_selector_matches(&p->pod_sel, &self->labels))
			continue;
		out->n_iso++;
		if (out->state == POL_DIR_NOT_ISOLATED)
			out->state = POL_DIR_DENIED;
		for (k = 0; out->state == POL_DIR_DENIED && k < (egress ? p->n_egress : p->n_ingress); k++)
			if (ref_rule(rf, p, egress ? &p->egress[k] : &p->ingress[k], f,
				     egress ? &f->dst : &f->src, other, dst)) {
				out->state = POL_DIR_ALLOWED;
				out->pol = p;
				out->rule = (int)k;
			}
	}
}

static bool same_policy(const struct pol_policy *a, const struct pol_policy *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a->ns, b->ns) && !strcmp(a->name, b->name);
}

static bool dir_same(const struct pol_dir_result *a, const struct ref_dir *b)
{
	return a->state == b->state && same_policy(a->policy, b->pol) && a->rule == b->rule &&
	       a->n_isolating == (a->state >= POL_DIR_ALLOWED ? b->n_iso : 0);
}

static void test_random_differential(void)
{
	static const char *extra[] = { "10.9.0.250", "8.8.8.8", "fd09::ffff", "2001:db8::1",
				       "10.1.0.1", "10.1.0.2", "10.1.0.9" };
	unsigned round, bad = 0, flows = 0, builds = 0;

	for (round = 0; round < 600; round++) {
		struct pol_cluster *orig = random_cluster(round % 50 == 0), *copy = pol_cluster_clone(orig);
		struct pol_ip nip = fx_ip("10.1.0.9"), cand[80];
		struct pol_build_opts o = { rr(2) ? "n0" : NULL, &nip, rr(2) };
		struct ref rf = { orig, o.node_name, o.node_ips, o.n_node_ips };
		size_t n_cand = 0, i, k;
		struct pol_model *m;
		char err[256];
		int f;

		if (!copy)
			abort();
		m = pol_model_build(copy, &o, err, sizeof(err));
		if (!m) {
			bad++;
			printf("  round %u: build: %s\n", round, err);
			pol_cluster_free(orig);
			continue;
		}
		builds++;
		/* every pod of a small cluster; 70 random ones of a big one */
		for (i = 0; i < orig->n_pods && n_cand < 70; i++) {
			const struct pol_pod *p = orig->pods[orig->n_pods > 70 ? rr((uint32_t)orig->n_pods) : i];

			for (k = 0; k < p->n_ips && n_cand < 70; k++)
				cand[n_cand++] = p->ips[k];
		}
		for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
			cand[n_cand++] = fx_ip(extra[i]);
		for (f = 0; f < (round % 50 == 0 ? 3000 : 200); f++) {
			struct pol_flow fl;
			struct pol_verdict v;
			struct ref_dir eg, in;
			const struct pol_pod *sp, *dp;
			unsigned flags = rr(2) ? POL_EVAL_ENFORCED_ONLY : 0;
			bool allowed;
			enum pol_reason reason = POL_REASON_POLICY;

			fl.src = cand[rr((uint32_t)n_cand)];
			fl.dst = cand[rr((uint32_t)n_cand)];
			fl.proto = (uint8_t[]){ TCP, UDP, SCTP, ICMP }[rr(4)];
			fl.port = fl.proto == ICMP ? 0 : (uint16_t)(79 + rr(4));
			pol_eval(m, &fl, flags, &v);
			sp = ref_pod(&rf, &fl.src);
			dp = ref_pod(&rf, &fl.dst);
			ref_dir(&rf, sp, true, &fl, dp, dp, flags, &eg);
			ref_dir(&rf, dp, false, &fl, sp, dp, flags, &in);
			allowed = eg.state != POL_DIR_DENIED && in.state != POL_DIR_DENIED;
			if (sp && sp == dp) {
				reason = POL_REASON_SELF;
			} else if ((sp && sp->has_host_ip && ip_eq_t(&sp->host_ip, &fl.dst)) ||
				   (dp && dp->has_host_ip && ip_eq_t(&dp->host_ip, &fl.src)) ||
				   (o.n_node_ips && (ip_eq_t(&nip, &fl.src) || ip_eq_t(&nip, &fl.dst)))) {
				reason = POL_REASON_NODE;
			}
			if (reason != POL_REASON_POLICY)
				allowed = true;
			flows++;
			if (v.allowed != allowed || v.reason != reason || !dir_same(&v.egress, &eg) ||
			    !dir_same(&v.ingress, &in) ||
			    v.src_kind != (sp ? POL_EP_POD : ref_is_node(&rf, &fl.src) ? POL_EP_NODE : POL_EP_EXTERNAL) ||
			    v.dst_kind != (dp ? POL_EP_POD : ref_is_node(&rf, &fl.dst) ? POL_EP_NODE : POL_EP_EXTERNAL) ||
			    (sp && (!v.src_pod || strcmp(v.src_pod->name, sp->name))) ||
			    (dp && (!v.dst_pod || strcmp(v.dst_pod->name, dp->name)))) {
				char a[POL_IP_STRLEN], b[POL_IP_STRLEN];

				if (bad++ < 5)
					printf("  round %u: %s -> %s %s/%u: engine %d (%d, %d/%d) ref %d (%d, %d/%d)\n",
					       round, pol_ip_format(&fl.src, a, sizeof(a)),
					       pol_ip_format(&fl.dst, b, sizeof(b)), pol_proto_name(fl.proto),
					       fl.port, v.allowed, v.reason, v.egress.state, v.ingress.state,
					       allowed, reason, eg.state, in.state);
			}
		}
		pol_model_free(m);
		pol_cluster_free(orig);
	}
	T_ASSERT(bad == 0, "%u of %u random flows differ from the reference (%u clusters)", bad, flows, builds);
}

int main(void)
{
	test_no_policies();
	test_deny_all_and_union();
	test_types_and_both_directions();
	test_selectors();
	test_ipblock();
	test_ports();
	test_self_node_staged_locality();
	test_identity();
	test_large_scope();
	test_many_selectors();
	test_random_differential();
	return T_REPORT();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_objects.c - labels, selectors, addresses, ownership. */
#include <stdio.h>
#include <string.h>

#include "test/unit/model_fixture.h"
#include "test/unit/test.h"

static void test_labels(void)
{
	struct pol_labels l = { NULL, 0 };
	size_t i;

	T_ASSERT(pol_labels_set(&l, "zeta", "1") == 0, "set");
	T_ASSERT(pol_labels_set(&l, "alpha", "2") == 0, "set");
	T_ASSERT(pol_labels_set(&l, "mid", "3") == 0, "set");
	T_ASSERT(pol_labels_set(&l, "alpha", "4") == 0, "replace");
	T_ASSERT(l.n == 3, "three keys (%zu)", l.n);
	for (i = 1; i < l.n; i++)
		T_ASSERT(strcmp(l.items[i - 1].key, l.items[i].key) < 0, "sorted at %zu", i);
	T_ASSERT(strcmp(pol_labels_get(&l, "alpha") ?: "", "4") == 0, "replaced value");
	T_ASSERT(strcmp(pol_labels_get(&l, "zeta") ?: "", "1") == 0, "get last");
	T_ASSERT(pol_labels_get(&l, "nope") == NULL, "absent");
	T_ASSERT(pol_labels_set(&l, "empty", "") == 0 && pol_labels_get(&l, "empty") &&
		 !*pol_labels_get(&l, "empty"), "empty value is present");
	pol_labels_clear(&l);
	T_ASSERT(l.n == 0 && l.items == NULL, "cleared");
	pol_labels_clear(NULL);
}

static void test_selectors(void)
{
	struct pol_labels l = { NULL, 0 };
	struct pol_selector *s;

	fx_labels(&l, "app=web,tier=front,env=");
	s = fx_sel("");
	T_ASSERT(pol_selector_matches(s, &l), "{} matches");
	fx_expr(s, "app", POL_SEL_IN, "api,web");
	T_ASSERT(pol_selector_matches(s, &l), "In");
	fx_expr(s, "tier", POL_SEL_NOT_IN, "back");
	T_ASSERT(pol_selector_matches(s, &l), "NotIn");
	fx_expr(s, "env", POL_SEL_EXISTS, NULL);
	T_ASSERT(pol_selector_matches(s, &l), "Exists with an empty value");
	fx_expr(s, "gone", POL_SEL_DOES_NOT_EXIST, NULL);
	T_ASSERT(pol_selector_matches(s, &l), "DoesNotExist");
	fx_expr(s, "gone", POL_SEL_NOT_IN, "x");
	T_ASSERT(pol_selector_matches(s, &l), "NotIn on an absent key matches");
	fx_expr(s, "gone", POL_SEL_IN, "x");
	T_ASSERT(!pol_selector_matches(s, &l), "In on an absent key fails");
	pol_selector_clear(s);
	free(s);

	s = fx_sel("app=web,tier=front");
	T_ASSERT(pol_selector_matches(s, &l), "matchLabels subset");
	pol_selector_clear(s);
	free(s);
	s = fx_sel("app=web,tier=back");
	T_ASSERT(!pol_selector_matches(s, &l), "matchLabels value differs");
	pol_selector_clear(s);
	free(s);
	s = fx_sel("app=web,region=eu");
	T_ASSERT(!pol_selector_matches(s, &l), "matchLabels key absent");
	pol_selector_clear(s);
	free(s);
	s = fx_sel("");
	fx_expr(s, "app", POL_SEL_IN, NULL);
	T_ASSERT(!pol_selector_matches(s, &l), "In with no values matches nothing");
	pol_selector_clear(s);
	fx_expr(s, "app", POL_SEL_NOT_IN, "web");
	T_ASSERT(!pol_selector_matches(s, &l), "NotIn excludes");
	pol_selector_clear(s);
	fx_expr(s, "app", POL_SEL_DOES_NOT_EXIST, NULL);
	T_ASSERT(!pol_selector_matches(s, &l), "DoesNotExist on a present key");
	pol_selector_clear(s);
	free(s);
	pol_labels_clear(&l);
}

struct ip_case {
	const char *text;
	bool ok;
	const char *canon;
};

static void test_ip(void)
{
	static const struct ip_case ips[] = {
		{ "10.0.0.1", true, "10.0.0.1" },
		{ "0.0.0.0", true, "0.0.0.0" },
		{ "255.255.255.255", true, "255.255.255.255" },
		{ "010.001.000.001", true, "10.1.0.1" }, /* decimal, as the API */
		{ "::ffff:1.2.3.4", true, "1.2.3.4" },
		{ "2001:DB8::1", true, "2001:db8::1" },
		{ "::", true, "::" },
		{ "1.2.3", false, NULL },
		{ "1.2.3.4.5", false, NULL },
		{ "256.1.1.1", false, NULL },
		{ "1.2.3.4 ", false, NULL },
		{ " 1.2.3.4", false, NULL },
		{ "1.2.3.4x", false, NULL },
		{ "1..3.4", false, NULL },
		{ "0x1.2.3.4", false, NULL },
		{ "1234.1.1.1", false, NULL },
		{ "", false, NULL },
		{ "fe80::1%eth0", false, NULL },
		{ "1::2::3", false, NULL },
		{ "12345::", false, NULL },
		{ "1.2.3.4/32", false, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct pol_ip ip;
		char buf[POL_IP_STRLEN];
		bool r = pol_ip_parse(ips[i].text, &ip);

		T_ASSERT(r == ips[i].ok, "parse \"%s\"", ips[i].text);
		if (r && ips[i].canon)
			T_ASSERT(strcmp(pol_ip_format(&ip, buf, sizeof(buf)), ips[i].canon) == 0,
				 "format %s -> %s", ips[i].text, buf);
	}
	{
		struct pol_ip ip;

		T_ASSERT(!pol_ip_parse(NULL, &ip), "NULL");
		T_ASSERT(pol_ip_parse("10.1.2.3", &ip) && pol_ip_is_v4(&ip) && ip.b[10] == 0xff &&
			 ip.b[12] == 10 && ip.b[15] == 3, "IPv4 stored mapped");
		T_ASSERT(pol_ip_parse("2001:db8::1", &ip) && !pol_ip_is_v4(&ip), "IPv6 not v4");
	}
}

static void test_cidr(void)
{
	static const struct ip_case cidrs[] = {
		{ "10.0.0.0/8", true, "10.0.0.0/8" },
		{ "10.42.1.1/4", true, "0.0.0.0/4" },   /* host bits set: accepted */
		{ "10.42.1.2/32", true, "10.42.1.2/32" },
		{ "192.168.7.9/20", true, "192.168.0.0/20" },
		{ "0.0.0.0/0", true, "0.0.0.0/0" },
		{ "::/0", true, "::/0" },
		{ "fd00:1:2::5/48", true, "fd00:1:2::/48" },
		{ "2001:db8::1/128", true, "2001:db8::1/128" },
		{ "::ffff:10.1.2.3/104", true, "10.0.0.0/8" },
		{ "10.0.0.1/33", false, NULL },
		{ "::1/129", false, NULL },
		{ "1.2.3/8", false, NULL },
		{ "10.0.0.0", false, NULL },
		{ "10.0.0.0/", false, NULL },
		{ "/8", false, NULL },
		{ "10.0.0.0/8x", false, NULL },
		{ "10.0.0.0/ 8", false, NULL },
		{ " 10.0.0.0/8", false, NULL },
		{ "10.0.0.0/8 ", false, NULL },
		{ "10.0.0.0/-1", false, NULL },
		{ "10.0.0.0/+8", false, NULL },
		{ "10.0.0.0/8/8", false, NULL },
		{ "10.0.0.0/0008", false, NULL },
		{ "fe80::/10%eth0", false, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		struct pol_cidr c;
		char buf[POL_CIDR_STRLEN];
		bool r = pol_cidr_parse(cidrs[i].text, &c);

		T_ASSERT(r == cidrs[i].ok, "parse \"%s\"", cidrs[i].text);
		if (r && cidrs[i].canon)
			T_ASSERT(strcmp(pol_cidr_format(&c, buf, sizeof(buf)), cidrs[i].canon) == 0,
				 "format %s -> %s", cidrs[i].text, buf);
	}
	{
		struct pol_cidr c;
		struct pol_ip ip;

		T_ASSERT(pol_cidr_parse("10.42.1.1/4", &c) && c.v4 && c.len == 100, "v4 /4 is len 100");
		pol_ip_parse("15.255.255.255", &ip);
		T_ASSERT(pol_cidr_contains(&c, &ip), "0.0.0.0/4 contains 15.255.255.255");
		pol_ip_parse("16.0.0.0", &ip);
		T_ASSERT(!pol_cidr_contains(&c, &ip), "not 16.0.0.0");
		T_ASSERT(pol_cidr_parse("::/0", &c) && !c.v4 && c.len == 0, "::/0");
		T_ASSERT(!pol_cidr_contains(&c, &ip), "::/0 does not contain IPv4");
		pol_ip_parse("2001:db8::1", &ip);
		T_ASSERT(pol_cidr_contains(&c, &ip), "::/0 contains IPv6");
		T_ASSERT(pol_cidr_parse("0.0.0.0/0", &c), "0/0");
		T_ASSERT(!pol_cidr_contains(&c, &ip), "0.0.0.0/0 does not contain IPv6");
		T_ASSERT(pol_cidr_parse("10.1.2.0/23", &c), "/23");
		pol_ip_parse("10.1.3.255", &ip);
		T_ASSERT(pol_cidr_contains(&c, &ip), "/23 upper half");
		pol_ip_parse("10.1.4.0", &ip);
		T_ASSERT(!pol_cidr_contains(&c, &ip), "/23 outside");
		T_ASSERT(!pol_cidr_parse(NULL, &c), "NULL");
	}
}

static void test_proto(void)
{
	T_ASSERT(pol_proto_parse("TCP") == POL_PROTO_TCP && pol_proto_parse("UDP") == POL_PROTO_UDP &&
		 pol_proto_parse("SCTP") == POL_PROTO_SCTP && pol_proto_parse("ICMP") == POL_PROTO_ICMP &&
		 pol_proto_parse("ICMPv6") == POL_PROTO_ICMPV6, "parse");
	T_ASSERT(pol_proto_parse("tcp") == 0 && pol_proto_parse("") == 0 && pol_proto_parse(NULL) == 0,
		 "case-sensitive, unknown");
	T_ASSERT(strcmp(pol_proto_name(POL_PROTO_SCTP), "SCTP") == 0 && pol_proto_name(99) == NULL,
		 "names");
}

static struct pol_cluster *sample(void)
{
	struct pol_cluster *c = pol_cluster_new();
	struct pol_policy *p;
	struct pol_rule *r;
	struct pol_peer *peer;
	struct pol_pod *pod;

	if (!c)
		abort();
	fx_ns(c, "x", "ns=x")->origin = fx_strdup("a.yaml:1");
	pod = fx_pod(c, "x", "a", "pod=a", "10.0.0.1,fd00::1", "n1", "10.9.0.1");
	fx_cport(pod, "http", 80, POL_PROTO_TCP);
	pod->owner_kind = fx_strdup("ReplicaSet");
	pod->owner_name = fx_strdup("web-123");
	p = fx_policy(c, "x", "p", "pod=a", "IE");
	r = fx_rule(p, false);
	peer = fx_peer(r, "pod=b", "ns=y");
	fx_expr(peer->pod_sel, "k", POL_SEL_IN, "v1,v2");
	fx_ipblock(r, "10.0.0.0/8", "10.1.0.0/16,10.2.0.0/16");
	fx_port(r, POL_PROTO_TCP, 0, "http", 0);
	fx_port(r, POL_PROTO_TCP, 8000, NULL, 9000);
	r = fx_rule(p, true);
	fx_port(r, POL_PROTO_UDP, 53, NULL, 0);
	p->staged = true;
	return c;
}

static void test_cluster(void)
{
	struct pol_cluster *a = sample(), *b = sample(), *cl;
	const struct pol_policy *p;
	int i;

	cl = pol_cluster_clone(a);
	T_ASSERT(cl && cl->n_namespaces == 1 && cl->n_pods == 1 && cl->n_policies == 1, "clone counts");
	if (cl) {
		p = cl->policies[0];
		T_ASSERT(p != a->policies[0] && p->staged && p->type_egress && p->n_ingress == 1 &&
			 p->ingress[0].n_peers == 2 && p->ingress[0].peers[1].ipblock &&
			 p->ingress[0].peers[1].ipblock->n_except == 2 &&
			 p->ingress[0].peers[0].pod_sel->n_exprs == 1 &&
			 p->ingress[0].peers[0].pod_sel->exprs[0].n_values == 2 &&
			 p->ingress[0].ports[0].name != a->policies[0]->ingress[0].ports[0].name &&
			 strcmp(p->ingress[0].ports[0].name, "http") == 0 &&
			 p->ingress[0].ports[1].end_port == 9000, "deep policy copy");
		T_ASSERT(cl->pods[0]->n_ips == 2 && cl->pods[0]->ports[0].port == 80 &&
			 strcmp(cl->pods[0]->owner_name, "web-123") == 0 &&
			 cl->pods[0]->labels.items != a->pods[0]->labels.items, "deep pod copy");
		T_ASSERT(strcmp(cl->namespaces[0]->origin, "a.yaml:1") == 0, "origin copied");
	}
	T_ASSERT(pol_cluster_merge(a, b) == 0, "merge");
	T_ASSERT(a->n_pods == 2 && a->n_policies == 2 && b->n_pods == 0 && b->pods == NULL, "merged");
	/* grow past the initial capacities */
	for (i = 0; i < 100; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		fx_pod(a, "x", name, "", NULL, NULL, NULL);
	}
	T_ASSERT(a->n_pods == 102 && strcmp(a->pods[101]->name, "p99") == 0, "many adds");
	T_ASSERT(pol_cluster_merge(a, b) == 0 && a->n_pods == 102, "merge an empty cluster");
	pol_cluster_free(a);
	pol_cluster_free(b);
	pol_cluster_free(cl);
	pol_cluster_free(NULL);
	pol_namespace_free(NULL);
	pol_pod_free(NULL);
	pol_policy_free(NULL);
	pol_selector_clear(NULL);
}

int main(void)
{
	test_labels();
	test_selectors();
	test_ip();
	test_cidr();
	test_proto();
	test_cluster();
	return T_REPORT();
}

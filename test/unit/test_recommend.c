/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_recommend.c - grouping, label choice, CIDR merging, port ranges, proof. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit/recommend.h"
#include "audit/record.h"
#include "audit/replay.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "model_fixture.h"
#include "test.h"

static void test_instance_labels(void)
{
	T_ASSERT(rec_label_is_instance("pod-template-hash"), "pod-template-hash");
	T_ASSERT(rec_label_is_instance("controller-revision-hash"), "controller-revision-hash");
	T_ASSERT(rec_label_is_instance("statefulset.kubernetes.io/pod-name"), "sts pod-name");
	T_ASSERT(rec_label_is_instance("apps.kubernetes.io/pod-index"), "pod-index");
	T_ASSERT(rec_label_is_instance("batch.kubernetes.io/job-name"), "job-name");
	T_ASSERT(rec_label_is_instance("job-name"), "job-name");
	T_ASSERT(rec_label_is_instance("controller-uid"), "controller-uid");
	T_ASSERT(!rec_label_is_instance("app"), "app is stable");
	T_ASSERT(!rec_label_is_instance("app.kubernetes.io/name"), "name is stable");
	T_ASSERT(rec_label_rank("app.kubernetes.io/name") < rec_label_rank("app"), "rank");
	T_ASSERT(rec_label_rank("app") < rec_label_rank("tier"), "rank app < tier");
	T_ASSERT(rec_label_rank("tier") < rec_label_rank("team"), "rank tier < others");
	T_ASSERT(rec_label_rank("team") < rec_label_rank("version"), "version last");
}

static void test_stable_labels(void)
{
	struct pol_cluster *c = pol_cluster_new();
	const struct pol_pod *pods[3];
	struct pol_labels st = { 0 };

	pods[0] = fx_pod(c, "shop", "web-7d9-a", "app=web,tier=front,pod-template-hash=7d9,zone=a",
			 "10.0.0.1", NULL, NULL);
	pods[1] = fx_pod(c, "shop", "web-7d9-b", "app=web,tier=front,pod-template-hash=7d9,zone=b",
			 "10.0.0.2", NULL, NULL);
	pods[2] = fx_pod(c, "shop", "web-7d9-c", "app=web,tier=front,pod-template-hash=7d9",
			 "10.0.0.3", NULL, NULL);
	T_ASSERT(rec_stable_labels(pods, 3, &st) == 0, "stable");
	T_ASSERT(st.n == 2, "app and tier only, got %zu", st.n);
	T_ASSERT(pol_labels_get(&st, "app") && strcmp(pol_labels_get(&st, "app"), "web") == 0, "app");
	T_ASSERT(!pol_labels_get(&st, "pod-template-hash"), "instance label dropped");
	T_ASSERT(!pol_labels_get(&st, "zone"), "differing label dropped");
	pol_labels_clear(&st);
	pol_cluster_free(c);
}

/* Choose for the pods whose name starts with prefix; expect the selector text. */
static void check_choice(struct pol_cluster *c, const char *prefix, const char *want, bool want_exact)
{
	const struct pol_pod **mine = calloc(c->n_pods, sizeof(*mine));
	bool *member = calloc(c->n_pods, sizeof(*member));
	struct pol_labels st = { 0 }, sel = { 0 };
	size_t n = 0;
	bool exact;
	char got[256] = "";

	for (size_t i = 0; i < c->n_pods; i++) {
		member[i] = strncmp(c->pods[i]->name, prefix, strlen(prefix)) == 0;
		if (member[i])
			mine[n++] = c->pods[i];
	}
	T_ASSERT(rec_stable_labels(mine, n, &st) == 0, "stable");
	T_ASSERT(rec_choose_selector(&st, (const struct pol_pod *const *)c->pods, member, c->n_pods,
				     &sel, &exact) == 0, "choose");
	for (size_t i = 0; i < sel.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%s", i ? "," : "",
			 sel.items[i].key, sel.items[i].value);
	T_ASSERT(strcmp(got, want) == 0, "%s: selector %s, want %s", prefix, got, want);
	T_ASSERT(exact == want_exact, "%s: exact %d, want %d", prefix, exact, want_exact);
	pol_labels_clear(&st);
	pol_labels_clear(&sel);
	free(mine);
	free(member);
}

static void test_choose_selector(void)
{
	struct pol_cluster *c = pol_cluster_new();

	/* app alone tells api from db-migrate; tier would not. */
	fx_pod(c, "prod", "api-1", "app=api,tier=application,pod-template-hash=aa", "10.0.0.1", NULL, NULL);
	fx_pod(c, "prod", "api-2", "app=api,tier=application,pod-template-hash=bb", "10.0.0.2", NULL, NULL);
	fx_pod(c, "prod", "db-migrate-1", "app=db-migrate,tier=application,job-name=db-migrate-1",
	       "10.0.0.3", NULL, NULL);
	/* The recommended label wins over app when both are present. */
	fx_pod(c, "prod", "cart-1", "app.kubernetes.io/name=cart,app=cart,team=x", "10.0.0.4", NULL, NULL);
	/* One app, two components: the component alone is enough. */
	fx_pod(c, "prod", "shop-web-1", "app=shop,component=web", "10.0.0.5", NULL, NULL);
	fx_pod(c, "prod", "shop-worker-1", "app=shop,component=worker", "10.0.0.6", NULL, NULL);
	/* Two keys needed: team+env, no single one is unique. */
	fx_pod(c, "prod", "x-a", "team=a,env=prod", "10.0.0.7", NULL, NULL);
	fx_pod(c, "prod", "y-a", "team=a,env=dev", "10.0.0.8", NULL, NULL);
	fx_pod(c, "prod", "z-b", "team=b,env=prod", "10.0.0.9", NULL, NULL);
	/* Indistinguishable: same labels as another pod group. */
	fx_pod(c, "prod", "twin1-1", "app=twin", "10.0.0.10", NULL, NULL);
	fx_pod(c, "prod", "twin2-1", "app=twin", "10.0.0.11", NULL, NULL);

	check_choice(c, "api-", "app=api", true);
	check_choice(c, "db-migrate", "app=db-migrate", true);
	check_choice(c, "cart-", "app.kubernetes.io/name=cart", true);
	check_choice(c, "shop-web", "component=web", true);
	check_choice(c, "x-a", "env=prod,team=a", true);
	check_choice(c, "twin1", "app=twin", false);
	pol_cluster_free(c);
}

static void test_merge_addrs(void)
{
	struct pol_ip a[5] = {
		fx_ip("203.0.113.11"), fx_ip("198.51.100.7"), fx_ip("203.0.113.10"),
		fx_ip("2001:db8:1::5"), fx_ip("2001:db8:1::9"),
	};
	struct pol_cidr out[5];
	size_t of[5];
	char buf[POL_CIDR_STRLEN];
	size_t n = rec_merge_addrs(a, 5, 24, 64, out, of);

	T_ASSERT(n == 3, "3 blocks, got %zu", n);
	T_ASSERT(strcmp(pol_cidr_format(&out[0], buf, sizeof(buf)), "2001:db8:1::/64") == 0 ||
		 strcmp(buf, "198.51.100.7/32") == 0, "sorted first block %s", buf);
	for (size_t i = 0; i < n; i++) {
		pol_cidr_format(&out[i], buf, sizeof(buf));
		T_ASSERT(strcmp(buf, "198.51.100.7/32") == 0 || strcmp(buf, "203.0.113.0/24") == 0 ||
			 strcmp(buf, "2001:db8:1::/64") == 0, "block %s", buf);
	}
	T_ASSERT(of[0] == of[2], "both 203.0.113.x in one block");
	T_ASSERT(of[1] != of[0], "lone address apart");
	T_ASSERT(out[of[1]].len == 128, "lone address stays /32");
	T_ASSERT(of[3] == of[4], "IPv6 pair merged");
	/* A prefix of 32: nothing merges. */
	n = rec_merge_addrs(a, 3, 32, 128, out, of);
	T_ASSERT(n == 3, "/32 keeps 3 blocks, got %zu", n);
	/* One address alone. */
	n = rec_merge_addrs(a, 1, 24, 64, out, NULL);
	T_ASSERT(n == 1 && out[0].len == 128, "single address /32");
}

static void test_port_ranges(void)
{
	struct rec_port in[] = {
		{ POL_PROTO_TCP, 8082, 0 }, { POL_PROTO_TCP, 8080, 0 }, { POL_PROTO_UDP, 53, 0 },
		{ POL_PROTO_TCP, 9000, 0 }, { POL_PROTO_TCP, 8081, 0 }, { POL_PROTO_TCP, 8080, 0 },
		{ POL_PROTO_UDP, 54, 0 },   { POL_PROTO_TCP, 65535, 0 },
	};
	struct rec_port out[8];
	size_t n = rec_port_ranges(in, 8, out);

	T_ASSERT(n == 4, "4 entries, got %zu", n);
	T_ASSERT(out[0].proto == POL_PROTO_TCP && out[0].port == 8080 && out[0].end_port == 8082,
		 "TCP 8080-8082, got %u-%u", out[0].port, out[0].end_port);
	T_ASSERT(out[1].port == 9000 && out[1].end_port == 0, "TCP 9000 single");
	T_ASSERT(out[2].port == 65535 && out[2].end_port == 0, "TCP 65535 single");
	T_ASSERT(out[3].proto == POL_PROTO_UDP && out[3].port == 53 && out[3].end_port == 54,
		 "UDP 53-54");
}

static void add_row(struct audit_obs_set *s, const char *sns, const char *skind, const char *sname,
		    const char *sips, const char *slabels, const char *dns, const char *dkind,
		    const char *dname, const char *dips, const char *dlabels, uint8_t proto,
		    uint16_t port, uint64_t count)
{
	struct audit_obs_row r = {
		.src_ns = sns, .src_kind = skind, .src_name = sname,
		.dst_ns = dns, .dst_kind = dkind, .dst_name = dname,
		.proto = proto, .port = port, .verdict = 2, .mode = 1, .count = count,
		.first_ms = 1764345600000LL, .last_ms = 1764349200000LL,
		.src_ips = sips, .src_pods = "", .src_labels = slabels,
		.dst_ips = dips, .dst_pods = "", .dst_labels = dlabels,
	};
	char err[256];

	T_ASSERT(audit_obs_add_row(s, &r, err, sizeof(err)), "row: %s", err);
}

static const struct rec_policy *find(const struct rec_result *r, const char *ns, const char *name)
{
	for (size_t i = 0; i < r->n_policies; i++)
		if (strcmp(r->policies[i].ns, ns) == 0 && strcmp(r->policies[i].name, name) == 0)
			return &r->policies[i];
	return NULL;
}

static struct pol_pod *owned(struct pol_pod *p, const char *kind, const char *name)
{
	p->owner_kind = fx_strdup(kind);
	p->owner_name = fx_strdup(name);
	return p;
}

static void test_build_and_prove(void)
{
	struct pol_cluster *c = pol_cluster_new(), *ghosts = pol_cluster_new(), *proof_cl;
	struct audit_obs_set obs = { 0 };
	struct pol_model *m, *proof;
	struct rec_result res;
	struct rec_opts opts = { .cidr_prefix = 24, .cidr_prefix6 = 64 };
	const struct rec_policy *p;
	struct k8s_diag diag;
	struct rec_cover *cover;
	char err[512];
	size_t pairs, missing;
	cJSON *list, *items;
	char *text;

	fx_ns(c, "shop", "kubernetes.io/metadata.name=shop");
	fx_ns(c, "kube-system", "kubernetes.io/metadata.name=kube-system");
	owned(fx_pod(c, "shop", "web-5f7-aaaaa", "app=web,pod-template-hash=5f7", "10.1.0.1", NULL, NULL),
	      "ReplicaSet", "web-5f7");
	owned(fx_pod(c, "shop", "web-5f7-bbbbb", "app=web,pod-template-hash=5f7", "10.1.0.2", NULL, NULL),
	      "ReplicaSet", "web-5f7");
	owned(fx_pod(c, "shop", "api-0", "app=api,controller-revision-hash=api-6c,"
		     "statefulset.kubernetes.io/pod-name=api-0", "10.1.0.3", NULL, NULL),
	      "StatefulSet", "api");
	owned(fx_pod(c, "shop", "api-1", "app=api,controller-revision-hash=api-6c,"
		     "statefulset.kubernetes.io/pod-name=api-1", "10.1.0.4", NULL, NULL),
	      "StatefulSet", "api");
	fx_pod(c, "shop", "debug", "run=debug", "10.1.0.9", NULL, NULL);
	owned(fx_pod(c, "kube-system", "coredns-1", "k8s-app=kube-dns,pod-template-hash=77", "10.2.0.1",
		     NULL, NULL), "ReplicaSet", "coredns-77");

	add_row(&obs, "shop", "Deployment", "web", "10.1.0.1,10.1.0.2", "app=web", "shop", "StatefulSet",
		"api", "10.1.0.3", "app=api", POL_PROTO_TCP, 8080, 10);
	add_row(&obs, "shop", "Deployment", "web", "10.1.0.2", "app=web", "shop", "StatefulSet", "api",
		"10.1.0.4", "app=api", POL_PROTO_TCP, 8081, 3);
	add_row(&obs, "shop", "StatefulSet", "api", "10.1.0.3", "app=api", "", "External", "203.0.113.10",
		"203.0.113.10", "", POL_PROTO_TCP, 443, 2);
	add_row(&obs, "shop", "StatefulSet", "api", "10.1.0.4", "app=api", "", "External", "203.0.113.77",
		"203.0.113.77", "", POL_PROTO_TCP, 443, 1);
	add_row(&obs, "shop", "Deployment", "web", "10.1.0.1", "app=web", "kube-system", "Deployment",
		"coredns", "10.2.0.1", "k8s-app=kube-dns", POL_PROTO_UDP, 53, 30);
	/* A pod that is gone: rebuilt from its recorded labels. */
	add_row(&obs, "shop", "Deployment", "worker", "10.1.0.50", "app=worker", "shop", "StatefulSet",
		"api", "10.1.0.3", "app=api", POL_PROTO_TCP, 8080, 4);
	/* Merging rows of one flow. */
	add_row(&obs, "shop", "Deployment", "web", "10.1.0.1", "app=web", "shop", "StatefulSet", "api",
		"10.1.0.3", "app=api", POL_PROTO_TCP, 8080, 5);
	audit_obs_set_sort(&obs);
	T_ASSERT(obs.n == 6, "rows merged into 6 observations, got %zu", obs.n);

	m = pol_model_build(pol_cluster_clone(c), NULL, err, sizeof(err));
	T_ASSERT(m != NULL, "model: %s", err);
	T_ASSERT(audit_obs_resolve(&obs, m, ghosts) == 0, "resolve");
	T_ASSERT(ghosts->n_pods == 1, "one recorded pod, got %zu", ghosts->n_pods);
	pol_model_free(m);
	{
		struct pol_cluster *base = pol_cluster_clone(c), *g = pol_cluster_clone(ghosts);

		pol_cluster_merge(base, g);
		pol_cluster_free(g);
		m = pol_model_build(base, NULL, err, sizeof(err));
	}
	T_ASSERT(m != NULL, "base model: %s", err);
	T_ASSERT(rec_build(m, &obs, c, &opts, &res) == 0, "build");

	T_ASSERT(res.n_namespaces == 2, "namespaces shop and kube-system, got %zu", res.n_namespaces);
	T_ASSERT(find(&res, "shop", "default-deny") != NULL, "default-deny");
	T_ASSERT(find(&res, "shop", "allow-dns") != NULL, "allow-dns");
	p = find(&res, "shop", "api-ingress");
	T_ASSERT(p && p->group->selector.n == 1 && strcmp(p->group->selector.items[0].key, "app") == 0,
		 "api selected by app alone");
	T_ASSERT(p && p->group->n_pods == 2, "StatefulSet pods are one workload");
	T_ASSERT(p && p->n_rules == 2, "api-ingress: web and worker have different ports: %zu rules",
		 p ? p->n_rules : 0);
	if (p && p->n_rules == 2) {
		const struct rec_rule *r = &p->rules[0];

		T_ASSERT(r->n_peers == 1 && strcmp(r->peers[0].group->name, "web") == 0, "web first");
		T_ASSERT(r->n_ports == 1 && r->ports[0].port == 8080 && r->ports[0].end_port == 8081,
			 "8080-8081 as one range");
		T_ASSERT(r->count == 18, "connections summed: %llu", (unsigned long long)r->count);
		T_ASSERT(r->ports_unseen == 0 && r->pod_pairs_unseen == 0, "nothing unseen");
		T_ASSERT(r->pod_pairs == 4, "2 web x 2 api pairs: %llu", (unsigned long long)r->pod_pairs);
	}
	p = find(&res, "shop", "api-egress");
	T_ASSERT(p && p->n_rules == 1 && p->rules[0].n_peers == 1 &&
		 p->rules[0].peers[0].type == REC_PEER_CIDR && p->rules[0].peers[0].cidr.len == 120,
		 "external peers merged into a /24");
	T_ASSERT(p && p->rules[0].addrs_unseen == 254, "254 addresses never contacted");
	p = find(&res, "shop", "web-egress");
	T_ASSERT(p && p->n_rules == 1, "DNS is not in web-egress");
	T_ASSERT(find(&res, "shop", "debug-ingress") == NULL, "no policy for a pod without traffic");
	T_ASSERT(find(&res, "kube-system", "kube-dns-ingress") != NULL, "kube-dns ingress");

	/* Load the objects back and prove coverage. */
	list = cJSON_CreateObject();
	cJSON_AddStringToObject(list, "apiVersion", "v1");
	cJSON_AddStringToObject(list, "kind", "List");
	items = cJSON_AddArrayToObject(list, "items");
	for (size_t i = 0; i < res.n_policies; i++)
		cJSON_AddItemToArray(items, rec_policy_json(&res.policies[i]));
	text = cJSON_Print(list);
	cJSON_Delete(list);
	proof_cl = pol_cluster_clone(c);
	{
		struct pol_cluster *g = pol_cluster_clone(ghosts);

		pol_cluster_merge(proof_cl, g);
		pol_cluster_free(g);
	}
	k8s_diag_init(&diag);
	T_ASSERT(k8s_load_buffer("recommended", text, strlen(text), K8S_FORMAT_JSON, proof_cl, &diag) == 0,
		 "recommended objects load");
	k8s_diag_print(&diag, stdout);
	k8s_diag_free(&diag);
	free(text);
	proof = pol_model_build(proof_cl, NULL, err, sizeof(err));
	T_ASSERT(proof != NULL, "proof model: %s", err);
	cover = calloc(obs.n, sizeof(*cover));
	missing = rec_prove(proof, &obs, &res, 0, cover, &pairs);
	T_ASSERT(missing == 0, "every observation covered, %zu not", missing);
	T_ASSERT(pairs >= obs.n, "pairs evaluated %zu", pairs);
	{
		/* Never seen: debug -> api, web -> api on 9090, api -> web. */
		struct pol_flow f[3] = {
			{ fx_ip("10.1.0.9"), fx_ip("10.1.0.3"), POL_PROTO_TCP, 8080 },
			{ fx_ip("10.1.0.1"), fx_ip("10.1.0.3"), POL_PROTO_TCP, 9090 },
			{ fx_ip("10.1.0.3"), fx_ip("10.1.0.1"), POL_PROTO_TCP, 8080 },
		};

		for (int i = 0; i < 3; i++) {
			struct pol_verdict v;

			pol_eval(proof, &f[i], 0, &v);
			T_ASSERT(!v.allowed, "unobserved flow %d denied", i);
		}
	}
	free(cover);
	pol_model_free(proof);
	rec_result_free(&res);
	pol_model_free(m);
	audit_obs_set_free(&obs);
	pol_cluster_free(ghosts);
	pol_cluster_free(c);
}

static void test_bad_rows(void)
{
	struct audit_obs_set s = { 0 };
	struct audit_obs_row r = {
		.src_ns = "a", .src_kind = "Pod", .src_name = "x", .dst_ns = "", .dst_kind = "External",
		.dst_name = "1.2.3.4", .proto = 6, .port = 80, .count = 1,
		.src_ips = "10.0.0.300", .src_pods = "", .src_labels = "",
		.dst_ips = "1.2.3.4", .dst_pods = "", .dst_labels = "",
	};
	char err[256] = "";

	T_ASSERT(!audit_obs_add_row(&s, &r, err, sizeof(err)), "bad IP refused");
	T_ASSERT(strstr(err, "10.0.0.300") != NULL, "message names the sample: %s", err);
	r.src_ips = "10.0.0.1";
	r.src_labels = "novalue";
	T_ASSERT(!audit_obs_add_row(&s, &r, err, sizeof(err)), "bad labels refused");
	r.src_labels = "";
	r.src_ns = "";
	T_ASSERT(!audit_obs_add_row(&s, &r, err, sizeof(err)), "pod without namespace refused");
	audit_obs_set_free(&s);
}

static void test_apply(void)
{
	struct pol_cluster *c = pol_cluster_new(), *p = pol_cluster_new();
	const char *del[] = { "shop/old" }, *bad[] = { "shop/none" };
	size_t rep, add, dl;
	char err[256];

	fx_policy(c, "shop", "keep", "", "I");
	fx_policy(c, "shop", "old", "", "I");
	fx_policy(c, "shop", "change", "", "I");
	fx_policy(p, "shop", "change", "app=x", "E");
	fx_policy(p, "shop", "new", "", "I");
	T_ASSERT(audit_replay_apply(c, p, del, 1, &rep, &add, &dl, err, sizeof(err)) == 0, "apply");
	T_ASSERT(rep == 1 && add == 1 && dl == 1, "1 replaced, 1 added, 1 deleted");
	T_ASSERT(c->n_policies == 3, "3 policies, got %zu", c->n_policies);
	T_ASSERT(strcmp(c->policies[1]->name, "change") == 0 && c->policies[1]->type_egress,
		 "replaced in place");
	T_ASSERT(audit_replay_apply(c, p, bad, 1, &rep, &add, &dl, err, sizeof(err)) < 0 &&
		 strstr(err, "none"), "deleting a missing policy is an error: %s", err);
	pol_cluster_free(p);
	pol_cluster_free(c);
}

/* ---- random clusters: the proof must always hold ---- */

static uint64_t rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void labels_text(const struct pol_labels *l, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].key, "pod-template-hash") != 0)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s=%s", buf[0] ? "," : "",
				 l->items[i].key, l->items[i].value);
}

static size_t group_of(const struct rec_result *res, const struct pol_pod *p)
{
	for (size_t g = 0; p && g < res->n_groups; g++)
		for (size_t i = 0; i < res->groups[g].n_pods; i++)
			if (res->groups[g].pods[i] == p)
				return g;
	return SIZE_MAX;
}

/* Least privilege: when every selector is exact, a pod of a chosen
 * namespace reaches another pod only if their workloads talked. */
static void check_least_privilege(unsigned round, const struct pol_model *m,
				  const struct pol_model *proof, const struct audit_obs_set *obs,
				  const struct rec_result *res)
{
	const struct pol_cluster *c = pol_model_cluster(m);
	size_t ng = res->n_groups;
	bool *seen = calloc(ng * ng + 1, 1);

	for (size_t g = 0; g < ng; g++)
		if (!res->groups[g].exact || res->groups[g].selector.n == 0)
			goto out;
	for (size_t i = 0; i < obs->n; i++) {
		const struct audit_obs *o = obs->v[i];
		size_t gs, gd;

		if (!res->used[i] || o->src.kind != POL_EP_POD || o->dst.kind != POL_EP_POD)
			continue;
		gs = group_of(res, pol_model_pod_by_ip(m, &o->src.eval[0]));
		gd = group_of(res, pol_model_pod_by_ip(m, &o->dst.eval[0]));
		if (gs != SIZE_MAX && gd != SIZE_MAX)
			seen[gs * ng + gd] = true;
	}
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct pol_pod *a = c->pods[i];
		bool chosen = false;
		size_t ga = group_of(res, a);

		for (size_t k = 0; k < res->n_namespaces; k++)
			chosen = chosen || strcmp(res->namespaces[k], a->ns) == 0;
		if (!chosen || ga == SIZE_MAX || audit_obs_is_ghost(a))
			continue;
		for (size_t j = 0; j < c->n_pods; j++) {
			const struct pol_pod *b = c->pods[j];
			size_t gb = group_of(res, b);
			struct pol_flow f = { .proto = POL_PROTO_TCP, .port = 80 };
			struct pol_verdict v;

			if (i == j || gb == SIZE_MAX || audit_obs_is_ghost(b) || seen[ga * ng + gb])
				continue;
			f.src = a->ips[0];
			f.dst = b->ips[0];
			pol_eval(proof, &f, 0, &v);
			T_ASSERT(!v.allowed, "round %u: %s/%s -> %s/%s allowed, their workloads never talked",
				 round, a->ns, a->name, b->ns, b->name);
		}
	}
out:
	free(seen);
}

static void random_round(unsigned round)
{
	static const char *const apps[] = { "a", "b", "c", "d" };
	static const char *const tiers[] = { "x", "y" };
	static const char *const nss[] = { "n1", "n2", "n3" };
	struct pol_cluster *c = pol_cluster_new(), *ghosts = pol_cluster_new(), *proof_cl;
	struct audit_obs_set obs = { 0 };
	struct rec_opts opts = { .cidr_prefix = 24, .cidr_prefix6 = 64, .include_denied = true };
	struct rec_result res;
	struct pol_model *m, *proof;
	struct rec_cover *cover;
	struct k8s_diag diag;
	unsigned n_pods = 4 + rnd(14);
	size_t pairs, missing, errs;
	char err[512];
	cJSON *list, *items;
	char *text;

	for (int i = 0; i < 3; i++) {
		char l[64];

		snprintf(l, sizeof(l), "kubernetes.io/metadata.name=%s", nss[i]);
		fx_ns(c, nss[i], l);
	}
	for (unsigned i = 0; i < n_pods; i++) {
		char name[32], labels[128], ip[32];
		struct pol_pod *p;
		unsigned app = rnd(4);

		snprintf(name, sizeof(name), "p%u", i);
		snprintf(ip, sizeof(ip), "10.0.%u.%u", round % 200, i + 1);
		/* Sometimes no labels at all, sometimes only a hash. */
		switch (rnd(8)) {
		case 0:
			labels[0] = '\0';
			break;
		case 1:
			snprintf(labels, sizeof(labels), "pod-template-hash=h%u", rnd(3));
			break;
		default:
			snprintf(labels, sizeof(labels), "app=%s,tier=%s%s", apps[app], tiers[rnd(2)],
				 rnd(2) ? ",pod-template-hash=h1" : "");
		}
		p = fx_pod(c, nss[rnd(3)], name, labels, ip, NULL, NULL);
		if (rnd(2))
			owned(p, rnd(2) ? "StatefulSet" : "DaemonSet", apps[app]);
	}
	for (unsigned f = 0; f < 25; f++) {
		const struct pol_pod *a = c->pods[rnd(n_pods)], *b = c->pods[rnd(n_pods)];
		char sl[256], dl[256], sip[POL_IP_STRLEN], dip[POL_IP_STRLEN], ext[32];
		const char *skind, *sname, *dkind, *dname;
		size_t slen, dlen;
		char sn[64], dn[64];
		uint8_t proto = rnd(6) == 0 ? POL_PROTO_UDP : rnd(10) == 0 ? POL_PROTO_ICMP : POL_PROTO_TCP;
		uint16_t port = proto == POL_PROTO_ICMP ? 0 : (uint16_t)(80 + rnd(5));

		labels_text(&a->labels, sl, sizeof(sl));
		labels_text(&b->labels, dl, sizeof(dl));
		audit_workload_of(a, &skind, &sname, &slen);
		audit_workload_of(b, &dkind, &dname, &dlen);
		snprintf(sn, sizeof(sn), "%.*s", (int)slen, sname);
		snprintf(dn, sizeof(dn), "%.*s", (int)dlen, dname);
		pol_ip_format(&a->ips[0], sip, sizeof(sip));
		pol_ip_format(&b->ips[0], dip, sizeof(dip));
		switch (rnd(6)) {
		case 0: /* to an external address */
			snprintf(ext, sizeof(ext), "203.0.%u.%u", rnd(2), 1 + rnd(4));
			add_row(&obs, a->ns, skind, sn, sip, sl, "", "External", ext, ext, "", proto, port, 1 + rnd(5));
			break;
		case 1: /* from a pod that is gone */
			add_row(&obs, a->ns, "Deployment", "gone", "10.99.0.1", "app=gone", b->ns, dkind, dn, dip,
				dl, proto, port, 1);
			break;
		default:
			add_row(&obs, a->ns, skind, sn, sip, sl, b->ns, dkind, dn, dip, dl, proto, port, 1 + rnd(5));
		}
	}
	audit_obs_set_sort(&obs);
	m = pol_model_build(pol_cluster_clone(c), NULL, err, sizeof(err));
	T_ASSERT(m && audit_obs_resolve(&obs, m, ghosts) == 0, "round %u: resolve", round);
	pol_model_free(m);
	proof_cl = pol_cluster_clone(c);
	{
		struct pol_cluster *g = pol_cluster_clone(ghosts);

		pol_cluster_merge(proof_cl, g);
		pol_cluster_free(g);
	}
	m = pol_model_build(pol_cluster_clone(proof_cl), NULL, err, sizeof(err));
	T_ASSERT(m != NULL, "round %u: base model: %s", round, err);
	if (!m)
		goto out;
	T_ASSERT(rec_build(m, &obs, c, &opts, &res) == 0, "round %u: build", round);
	list = cJSON_CreateObject();
	cJSON_AddStringToObject(list, "apiVersion", "v1");
	cJSON_AddStringToObject(list, "kind", "List");
	items = cJSON_AddArrayToObject(list, "items");
	for (size_t i = 0; i < res.n_policies; i++)
		cJSON_AddItemToArray(items, rec_policy_json(&res.policies[i]));
	text = cJSON_Print(list);
	cJSON_Delete(list);
	k8s_diag_init(&diag);
	errs = k8s_load_buffer("recommended", text, strlen(text), K8S_FORMAT_JSON, proof_cl, &diag);
	T_ASSERT(errs == 0, "round %u: recommended policies load", round);
	if (errs)
		k8s_diag_print(&diag, stdout);
	k8s_diag_free(&diag);
	free(text);
	proof = pol_model_build(proof_cl, NULL, err, sizeof(err));
	proof_cl = NULL;
	T_ASSERT(proof != NULL, "round %u: proof model: %s", round, err);
	if (proof) {
		cover = calloc(obs.n + 1, sizeof(*cover));
		missing = rec_prove(proof, &obs, &res, 0, cover, &pairs);
		{
			size_t used = 0;

			for (size_t i = 0; i < res.n_used; i++)
				used += res.used[i];
			T_ASSERT(used > 0 && pairs >= used, "round %u: %zu observations used", round, used);
		}
		T_ASSERT(missing == 0, "round %u: %zu of %zu observations not covered", round, missing, obs.n);
		for (size_t i = 0; missing && i < obs.n; i++)
			if (!cover[i].covered) {
				char s1[200], s2[200];

				printf("  not covered: %s -> %s %u/%u\n",
				       audit_obs_ep_name(&obs.v[i]->src, s1, sizeof(s1)),
				       audit_obs_ep_name(&obs.v[i]->dst, s2, sizeof(s2)), obs.v[i]->port,
				       obs.v[i]->proto);
			}
		free(cover);
		{
			/* Replaying the recommendation never breaks history. */
			struct audit_replay_change *ch;
			size_t n_ch, evaluated, broken = 0;

			T_ASSERT(audit_replay_diff(&obs, m, proof, 0, &ch, &n_ch, &evaluated) == 0,
				 "round %u: replay", round);
			for (size_t i = 0; i < n_ch; i++)
				broken += ch[i].before.allowed && !ch[i].after.allowed;
			T_ASSERT(broken == 0, "round %u: replaying the recommendation breaks %zu flows",
				 round, broken);
			free(ch);
		}
		check_least_privilege(round, m, proof, &obs, &res);
		pol_model_free(proof);
	}
	rec_result_free(&res);
	pol_model_free(m);
out:
	pol_cluster_free(proof_cl);
	audit_obs_set_free(&obs);
	pol_cluster_free(ghosts);
	pol_cluster_free(c);
}

static void test_random_coverage(void)
{
	unsigned before = t_failed;

	for (unsigned round = 0; round < 150 && t_failed == before; round++)
		random_round(round);
}

int main(void)
{
	test_instance_labels();
	test_stable_labels();
	test_choose_selector();
	test_merge_addrs();
	test_port_ranges();
	test_build_and_prove();
	test_bad_rows();
	test_apply();
	test_random_coverage();
	return T_REPORT();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test/bench/bench_engine.c - policy engine: compile time, memory, evals/s.
 *
 * Generates a cluster (default 10,000 pods in 500 namespaces, 1,000
 * policies mixing matchLabels, matchExpressions, namespace selectors, pod AND
 * namespace peers, ipBlocks with except, named ports, endPort ranges, staged
 * policies), compiles it, and evaluates a realistic mix of flows through the
 * engine and through a naive evaluator that lives only here: it scans every
 * policy for each flow with pol_selector_matches and pol_cidr_contains. Both
 * must give the same verdict (allowed, reason, per-direction state, allowing
 * policy and rule) on every flow; the count of disagreements is printed and
 * makes the exit status non-zero. Times are CPU time of the benchmark thread
 * (the machine may be shared; wall-clock evals/s is printed beside). Timing
 * never fails the run.
 *
 *   bench_engine [--pods N] [--namespaces N] [--policies N] [--flows N]
 *                [--seed N]
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/model.h"

/* ---- small helpers ----------------------------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static uint32_t pick(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		fprintf(stderr, "bench_engine: out of memory\n");
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		abort();
	return d;
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: on a shared machine, wall time counts the
 * other tenants too; the figures below are per CPU-second of one core. */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* kB of VmRSS / VmHWM from /proc/self/status */
static long proc_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t len = strlen(field);
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* Reset VmHWM to the current RSS (Linux >= 4.0); false when not allowed. */
static bool reset_hwm(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok;
}

#define GROW(arr, n) \
	((arr) = realloc((arr), ((n) + 1) * sizeof(*(arr))), (arr) ? (void)0 : abort(), \
	 memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])

static void set_label(struct pol_labels *l, const char *k, const char *v)
{
	if (pol_labels_set(l, k, v) < 0)
		abort();
}

static struct pol_ip ip4(uint32_t a)
{
	struct pol_ip ip;

	memset(&ip, 0, sizeof(ip));
	ip.b[10] = ip.b[11] = 0xff;
	ip.b[12] = (uint8_t)(a >> 24);
	ip.b[13] = (uint8_t)(a >> 16);
	ip.b[14] = (uint8_t)(a >> 8);
	ip.b[15] = (uint8_t)a;
	return ip;
}

static struct pol_ip ip6(uint32_t a)
{
	struct pol_ip ip;

	memset(&ip, 0, sizeof(ip));
	ip.b[0] = 0xfd;
	ip.b[1] = 0x00;
	ip.b[2] = 0x42;
	ip.b[12] = (uint8_t)(a >> 24);
	ip.b[13] = (uint8_t)(a >> 16);
	ip.b[14] = (uint8_t)(a >> 8);
	ip.b[15] = (uint8_t)a;
	return ip;
}

static struct pol_cidr cidr(const char *text)
{
	struct pol_cidr c;

	if (!pol_cidr_parse(text, &c)) {
		fprintf(stderr, "bench_engine: bad CIDR %s\n", text);
		abort();
	}
	return c;
}

/* ---- cluster generation ------------------------------------------------ */

static const char *apps[] = { "web", "api", "db", "cache", "worker", "auth", "search", "queue" };
static const char *tiers[] = { "front", "back", "data" };
static const char *envs[] = { "prod", "staging", "dev" };
#define N_APPS 8
#define N_TEAMS 25
#define N_NODES 100

static uint32_t pod_ip_base = 0x0a800000; /* 10.128.0.0/9 */

static struct pol_selector *sel_new(void)
{
	return xcalloc(1, sizeof(struct pol_selector));
}

static void expr_add(struct pol_selector *s, const char *key, enum pol_sel_op op, int nv, ...)
{
	struct pol_sel_expr *e = GROW(s->exprs, s->n_exprs);
	va_list ap;
	int i;

	e->key = xstrdup(key);
	e->op = op;
	va_start(ap, nv);
	for (i = 0; i < nv; i++) {
		char **v = GROW(e->values, e->n_values);

		*v = xstrdup(va_arg(ap, const char *));
	}
	va_end(ap);
}

static void port_add(struct pol_rule *r, uint8_t proto, uint16_t port, const char *name, uint16_t end)
{
	struct pol_port *p = GROW(r->ports, r->n_ports);

	p->proto = proto;
	p->has_port = port || name;
	p->port = port;
	p->name = name ? xstrdup(name) : NULL;
	p->end_port = end;
}

static struct pol_rule *rule_add(struct pol_policy *p, bool egress)
{
	return egress ? GROW(p->egress, p->n_egress) : GROW(p->ingress, p->n_ingress);
}

static void ipblock_add(struct pol_rule *r, const char *c, int n_except, ...)
{
	struct pol_peer *peer = GROW(r->peers, r->n_peers);
	struct pol_ipblock *b = xcalloc(1, sizeof(*b));
	va_list ap;
	int i;

	b->cidr = cidr(c);
	va_start(ap, n_except);
	for (i = 0; i < n_except; i++) {
		struct pol_cidr *e = GROW(b->except, b->n_except);

		*e = cidr(va_arg(ap, const char *));
	}
	va_end(ap);
	peer->ipblock = b;
}

struct gen {
	uint32_t pods, namespaces, policies;
};

static struct pol_cluster *generate(const struct gen *g)
{
	struct pol_cluster *c = pol_cluster_new();
	uint32_t i, per_ns = g->pods / g->namespaces;

	if (!c)
		abort();
	for (i = 0; i < g->namespaces; i++) {
		struct pol_namespace *ns = xcalloc(1, sizeof(*ns));
		char v[32];

		ns->name = xfmt("ns-%u", i);
		snprintf(v, sizeof(v), "t%u", i % N_TEAMS);
		set_label(&ns->labels, "team", v);
		set_label(&ns->labels, "env", envs[i % 3]);
		set_label(&ns->labels, "kubernetes.io/metadata.name", ns->name);
		if (i % 10 == 0)
			set_label(&ns->labels, "monitoring", "enabled");
		ns->origin = xfmt("bench:ns:%u", i);
		if (pol_cluster_add_namespace(c, ns) < 0)
			abort();
	}
	for (i = 0; i < g->pods; i++) {
		struct pol_pod *p = xcalloc(1, sizeof(*p));
		uint32_t ns = per_ns ? i / per_ns : 0, j = per_ns ? i % per_ns : i;
		struct pol_container_port *cp;

		if (ns >= g->namespaces)
			ns = pick(g->namespaces);
		p->ns = xfmt("ns-%u", ns);
		p->name = xfmt("%s-%u", apps[j % N_APPS], i);
		set_label(&p->labels, "app", apps[j % N_APPS]);
		set_label(&p->labels, "tier", tiers[j % 3]);
		set_label(&p->labels, "version", j % 4 == 0 ? "v2" : "v1");
		set_label(&p->labels, "pod-template-hash", "5d8f7c9b");
		if (j % 6 == 0)
			set_label(&p->labels, "canary", "true");
		p->node_name = xfmt("node-%u", i % N_NODES);
		p->has_host_ip = true;
		p->host_ip = ip4(0x0a000000 + 1 + i % N_NODES); /* 10.0.0.1.. */
		p->phase = i % 97 == 0 ? POL_PHASE_SUCCEEDED : POL_PHASE_RUNNING;
		p->n_ips = i % 10 == 0 ? 2 : 1;
		p->ips = xcalloc(p->n_ips, sizeof(*p->ips));
		p->ips[0] = ip4(pod_ip_base + i);
		if (p->n_ips == 2)
			p->ips[1] = ip6(i);
		/* container ports: http, metrics, and per app a few more */
		cp = GROW(p->ports, p->n_ports);
		cp->name = xstrdup("http");
		cp->port = (uint16_t)(j % 3 == 0 ? 8080 : 80);
		cp->proto = POL_PROTO_TCP;
		cp = GROW(p->ports, p->n_ports);
		cp->name = xstrdup("metrics");
		cp->port = 9090;
		cp->proto = POL_PROTO_TCP;
		if (j % N_APPS == 2) {
			cp = GROW(p->ports, p->n_ports);
			cp->name = xstrdup("db");
			cp->port = 5432;
			cp->proto = POL_PROTO_TCP;
		}
		if (j % N_APPS == 3) {
			cp = GROW(p->ports, p->n_ports);
			cp->name = xstrdup("dns");
			cp->port = 53;
			cp->proto = POL_PROTO_UDP;
		}
		p->origin = xfmt("bench:pod:%u", i);
		if (pol_cluster_add_pod(c, p) < 0)
			abort();
	}
	for (i = 0; i < g->policies; i++) {
		struct pol_policy *p = xcalloc(1, sizeof(*p));
		uint32_t ns = (i * 7) % g->namespaces, kind = i % 10;
		struct pol_rule *r;
		struct pol_peer *peer;
		char v[32];

		p->ns = xfmt("ns-%u", ns);
		p->name = xfmt("pol-%u", i);
		p->origin = xfmt("bench:policy:%u", i);
		p->staged = i % 20 == 7;
		switch (kind) {
		case 0: /* default deny ingress */
			p->type_ingress = true;
			break;
		case 1: /* app from same-namespace app on a named port */
			set_label(&p->pod_sel.match_labels, "app", apps[i % N_APPS]);
			p->type_ingress = true;
			r = rule_add(p, false);
			peer = GROW(r->peers, r->n_peers);
			peer->pod_sel = sel_new();
			set_label(&peer->pod_sel->match_labels, "app", apps[(i + 1) % N_APPS]);
			port_add(r, POL_PROTO_TCP, 0, "http", 0);
			break;
		case 2: /* from team namespaces' front pods (AND), TCP 80/8080 */
			set_label(&p->pod_sel.match_labels, "tier", "back");
			p->type_ingress = true;
			r = rule_add(p, false);
			peer = GROW(r->peers, r->n_peers);
			peer->ns_sel = sel_new();
			snprintf(v, sizeof(v), "t%u", i % N_TEAMS);
			set_label(&peer->ns_sel->match_labels, "team", v);
			peer->pod_sel = sel_new();
			set_label(&peer->pod_sel->match_labels, "tier", "front");
			port_add(r, POL_PROTO_TCP, 80, NULL, 0);
			port_add(r, POL_PROTO_TCP, 8080, NULL, 0);
			break;
		case 3: /* egress: internet except private ranges, 443; DNS */
			p->type_egress = true;
			r = rule_add(p, true);
			ipblock_add(r, "0.0.0.0/0", 3, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16");
			port_add(r, POL_PROTO_TCP, 443, NULL, 0);
			r = rule_add(p, true);
			peer = GROW(r->peers, r->n_peers);
			peer->ns_sel = sel_new();
			set_label(&peer->ns_sel->match_labels, "kubernetes.io/metadata.name", "ns-0");
			peer->pod_sel = sel_new();
			set_label(&peer->pod_sel->match_labels, "app", "cache");
			port_add(r, POL_PROTO_UDP, 0, "dns", 0);
			port_add(r, POL_PROTO_TCP, 53, NULL, 0);
			break;
		case 4: /* egress to prod namespaces, apps In [...], port range */
			set_label(&p->pod_sel.match_labels, "app", apps[i % N_APPS]);
			p->type_egress = true;
			r = rule_add(p, true);
			peer = GROW(r->peers, r->n_peers);
			peer->ns_sel = sel_new();
			set_label(&peer->ns_sel->match_labels, "env", "prod");
			peer->pod_sel = sel_new();
			expr_add(peer->pod_sel, "app", POL_SEL_IN, 3, apps[i % N_APPS],
				 apps[(i + 2) % N_APPS], apps[(i + 5) % N_APPS]);
			port_add(r, POL_PROTO_TCP, 8000, NULL, 8100);
			port_add(r, POL_PROTO_TCP, 80, NULL, 0);
			break;
		case 5: /* metrics scraping from monitoring namespaces, named port */
			p->type_ingress = true;
			r = rule_add(p, false);
			peer = GROW(r->peers, r->n_peers);
			peer->ns_sel = sel_new();
			expr_add(peer->ns_sel, "monitoring", POL_SEL_EXISTS, 0);
			port_add(r, POL_PROTO_TCP, 0, "metrics", 0);
			break;
		case 6: /* ingress from a pod CIDR except a slice, and an app */
			expr_add(&p->pod_sel, "app", POL_SEL_NOT_IN, 2, "db", "queue");
			p->type_ingress = true;
			r = rule_add(p, false);
			snprintf(v, sizeof(v), "10.128.%u.0/20", (i * 16) % 40);
			ipblock_add(r, v, 1, "10.128.5.0/24");
			ipblock_add(r, "fd00:42::/112", 0);
			peer = GROW(r->peers, r->n_peers);
			peer->pod_sel = sel_new();
			expr_add(peer->pod_sel, "canary", POL_SEL_DOES_NOT_EXIST, 0);
			set_label(&peer->pod_sel->match_labels, "version", "v2");
			break;
		case 7: /* egress + ingress, policyTypes both, protocol-only rule */
			set_label(&p->pod_sel.match_labels, "tier", tiers[i % 3]);
			p->type_ingress = p->type_egress = true;
			r = rule_add(p, false);
			peer = GROW(r->peers, r->n_peers);
			peer->ns_sel = sel_new();
			expr_add(peer->ns_sel, "env", POL_SEL_NOT_IN, 1, "dev");
			port_add(r, POL_PROTO_UDP, 0, NULL, 0);
			port_add(r, POL_PROTO_TCP, 0, "http", 0);
			r = rule_add(p, true);
			peer = GROW(r->peers, r->n_peers);
			peer->pod_sel = sel_new();
			r = rule_add(p, true);
			ipblock_add(r, "10.0.0.0/8", 2, "10.128.0.0/12", "10.0.0.0/24");
			break;
		case 8: /* allow everything from everywhere to canaries */
			set_label(&p->pod_sel.match_labels, "canary", "true");
			p->type_ingress = true;
			rule_add(p, false);
			break;
		default: /* db: from api pods of the same team, by name */
			set_label(&p->pod_sel.match_labels, "app", "db");
			p->type_ingress = true;
			r = rule_add(p, false);
			peer = GROW(r->peers, r->n_peers);
			peer->ns_sel = sel_new();
			snprintf(v, sizeof(v), "t%u", ns % N_TEAMS);
			set_label(&peer->ns_sel->match_labels, "team", v);
			peer->pod_sel = sel_new();
			expr_add(peer->pod_sel, "app", POL_SEL_IN, 2, "api", "worker");
			port_add(r, POL_PROTO_TCP, 0, "db", 0);
			port_add(r, POL_PROTO_TCP, 5432, NULL, 5440);
			break;
		}
		if (pol_cluster_add_policy(c, p) < 0)
			abort();
	}
	return c;
}

/* ---- flows ------------------------------------------------------------- */

static void gen_flows(const struct gen *g, struct pol_flow *f, size_t n)
{
	static const uint16_t ports[] = { 80, 8080, 9090, 5432, 443, 8050, 53, 22, 5436 };
	size_t i;

	uint32_t per_ns = g->pods / g->namespaces ? g->pods / g->namespaces : 1;

	for (i = 0; i < n; i++) {
		uint32_t kind = pick(100), a = pick(g->pods), b = pick(g->pods);

		/* a fifth of pod-to-pod traffic stays inside a namespace */
		if (pick(5) == 0)
			b = a - a % per_ns + pick(per_ns) < g->pods ? a - a % per_ns + pick(per_ns) : b;
		memset(&f[i], 0, sizeof(f[i]));
		f[i].src = ip4(pod_ip_base + a);
		f[i].dst = ip4(pod_ip_base + b);
		f[i].proto = POL_PROTO_TCP;
		f[i].port = ports[pick(sizeof(ports) / sizeof(ports[0]))];
		if (kind < 8 && a % 10 == 0 && b % 10 == 0) {
			f[i].src = ip6(a);
			f[i].dst = ip6(b);
		} else if (kind >= 70 && kind < 85) {
			f[i].dst = ip4(pick(4) == 0 ? 0xc0a80000 + pick(65536) : 0x08080000 + pick(1 << 16));
			if (pick(2))
				f[i].port = 443;
		} else if (kind >= 85 && kind < 95) {
			f[i].src = ip4(0x0a000000 + pick(1 << 20)); /* 10.0/12: nodes and others */
		} else if (kind >= 95) {
			f[i].src = ip4(0x0a000001 + pick(N_NODES));
		}
		if (pick(10) == 0) {
			f[i].proto = POL_PROTO_UDP;
			f[i].port = pick(2) ? 53 : (uint16_t)(1024 + pick(60000));
			if (f[i].port == 53 && pick(2)) /* DNS to a cache pod of ns-0 */
				f[i].dst = ip4(pod_ip_base + 3 + 8 * pick(per_ns / 8 + 1) % per_ns);
		} else if (pick(40) == 0) {
			f[i].proto = POL_PROTO_ICMP;
			f[i].port = 0;
		} else if (pick(8) == 0) {
			f[i].port = (uint16_t)(1 + pick(65535));
		}
	}
}

/* ---- the naive evaluator ----------------------------------------------- */

struct naive {
	const struct pol_cluster *c;
	struct nip {
		struct pol_ip ip;
		const struct pol_pod *pod; /* NULL: a node address */
	} *ips;
	size_t n_ips;
};

static int nip_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct nip *)a)->ip, &((const struct nip *)b)->ip, sizeof(struct pol_ip));
}

static bool identity(const struct pol_pod *p)
{
	return p->n_ips && !p->host_network && p->phase != POL_PHASE_SUCCEEDED &&
	       p->phase != POL_PHASE_FAILED;
}

static void naive_init(struct naive *nv, const struct pol_cluster *c)
{
	size_t i, k, n = 0;

	nv->c = c;
	nv->ips = xcalloc(c->n_pods * 4 + 1, sizeof(*nv->ips));
	for (i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];

		if (identity(p))
			for (k = 0; k < p->n_ips; k++) {
				nv->ips[n].ip = p->ips[k];
				nv->ips[n++].pod = p;
			}
	}
	for (i = 0; i < c->n_pods; i++)
		if (c->pods[i]->has_host_ip) {
			nv->ips[n].ip = c->pods[i]->host_ip;
			nv->ips[n++].pod = NULL;
		}
	/* stable order: pods before nodes for equal addresses */
	qsort(nv->ips, n, sizeof(*nv->ips), nip_cmp);
	nv->n_ips = n;
}

static const struct nip *naive_find(const struct naive *nv, const struct pol_ip *ip)
{
	struct nip key;
	const struct nip *hit;

	key.ip = *ip;
	hit = bsearch(&key, nv->ips, nv->n_ips, sizeof(key), nip_cmp);
	if (!hit)
		return NULL;
	/* equal addresses sit together: prefer a pod */
	while (hit > nv->ips && nip_cmp(hit - 1, &key) == 0)
		hit--;
	for (; hit < nv->ips + nv->n_ips && nip_cmp(hit, &key) == 0; hit++)
		if (hit->pod)
			return hit;
	return hit - 1;
}

static const struct pol_labels *ns_labels(const struct pol_cluster *c, const char *ns)
{
	size_t i;

	for (i = 0; i < c->n_namespaces; i++)
		if (strcmp(c->namespaces[i]->name, ns) == 0)
			return &c->namespaces[i]->labels;
	return NULL;
}

static bool naive_peer(const struct pol_cluster *c, const struct pol_policy *pol,
		       const struct pol_peer *peer, const struct pol_ip *ip, const struct pol_pod *pod)
{
	size_t k;

	if (peer->ipblock) {
		if (!pol_cidr_contains(&peer->ipblock->cidr, ip))
			return false;
		for (k = 0; k < peer->ipblock->n_except; k++)
			if (pol_cidr_contains(&peer->ipblock->except[k], ip))
				return false;
		return true;
	}
	if (!pod)
		return false;
	if (peer->ns_sel) {
		const struct pol_labels *l = ns_labels(c, pod->ns);

		if (!l || !pol_selector_matches(peer->ns_sel, l))
			return false;
	} else if (strcmp(pod->ns, pol->ns) != 0) {
		return false;
	}
	return !peer->pod_sel || pol_selector_matches(peer->pod_sel, &pod->labels);
}

static bool naive_ports(const struct pol_rule *r, const struct pol_flow *f, const struct pol_pod *dst)
{
	size_t i, k;

	if (!r->n_ports)
		return true;
	for (i = 0; i < r->n_ports; i++) {
		const struct pol_port *p = &r->ports[i];

		if (p->proto != f->proto)
			continue;
		if (!p->has_port)
			return true;
		if (p->name) {
			for (k = 0; dst && k < dst->n_ports; k++)
				if (dst->ports[k].name && dst->ports[k].proto == p->proto &&
				    strcmp(dst->ports[k].name, p->name) == 0) {
					if (dst->ports[k].port == f->port)
						return true;
					break;
				}
			continue;
		}
		if (f->port >= p->port && f->port <= (p->end_port ? p->end_port : p->port))
			return true;
	}
	return false;
}

struct naive_dir {
	enum pol_dir_state state;
	const struct pol_policy *policy;
	int rule;
};

static void naive_dir(const struct naive *nv, const struct pol_pod *self, bool egress,
		      const struct pol_flow *f, const struct pol_pod *other,
		      const struct pol_pod *dst, unsigned flags, struct naive_dir *out)
{
	const struct pol_cluster *c = nv->c;
	size_t i, k;

	out->state = POL_DIR_NOT_ISOLATED;
	out->policy = NULL;
	out->rule = -1;
	for (i = 0; i < c->n_policies; i++) {
		const struct pol_policy *p = c->policies[i];
		const struct pol_rule *rules = egress ? p->egress : p->ingress;
		size_t n = egress ? p->n_egress : p->n_ingress;

		if ((flags & POL_EVAL_ENFORCED_ONLY) && p->staged)
			continue;
		if (!(egress ? p->type_egress : p->type_ingress) || strcmp(p->ns, self->ns) != 0 ||
		    !pol_selector_matches(&p->pod_sel, &self->labels))
			continue;
		if (out->state == POL_DIR_NOT_ISOLATED)
			out->state = POL_DIR_DENIED;
		if (out->state == POL_DIR_ALLOWED)
			continue;
		for (k = 0; k < n; k++) {
			const struct pol_rule *r = &rules[k];
			bool peer = r->n_peers == 0;
			size_t j;

			for (j = 0; j < r->n_peers && !peer; j++)
				peer = naive_peer(c, p, &r->peers[j], egress ? &f->dst : &f->src, other);
			if (peer && naive_ports(r, f, dst)) {
				out->state = POL_DIR_ALLOWED;
				out->policy = p;
				out->rule = (int)k;
				break;
			}
		}
	}
}

struct naive_verdict {
	bool allowed;
	enum pol_reason reason;
	struct naive_dir eg, in;
};

static void naive_eval(const struct naive *nv, const struct pol_flow *f, unsigned flags,
		       struct naive_verdict *v)
{
	const struct nip *s = naive_find(nv, &f->src), *d = naive_find(nv, &f->dst);
	const struct pol_pod *sp = s ? s->pod : NULL, *dp = d ? d->pod : NULL;

	v->eg.state = v->in.state = POL_DIR_SKIPPED;
	v->eg.policy = v->in.policy = NULL;
	v->eg.rule = v->in.rule = -1;
	if (sp)
		naive_dir(nv, sp, true, f, dp, dp, flags, &v->eg);
	if (dp)
		naive_dir(nv, dp, false, f, sp, dp, flags, &v->in);
	if (sp && sp == dp) {
		v->reason = POL_REASON_SELF;
		v->allowed = true;
	} else if ((sp && sp->has_host_ip && !memcmp(&sp->host_ip, &f->dst, sizeof(f->dst))) ||
		   (dp && dp->has_host_ip && !memcmp(&dp->host_ip, &f->src, sizeof(f->src)))) {
		v->reason = POL_REASON_NODE;
		v->allowed = true;
	} else {
		v->reason = POL_REASON_POLICY;
		v->allowed = v->eg.state != POL_DIR_DENIED && v->in.state != POL_DIR_DENIED;
	}
}

static bool same(const struct pol_verdict *a, const struct naive_verdict *b)
{
	return a->allowed == b->allowed && a->reason == b->reason &&
	       a->egress.state == b->eg.state && a->ingress.state == b->in.state &&
	       a->egress.policy == b->eg.policy && a->ingress.policy == b->in.policy &&
	       a->egress.rule == b->eg.rule && a->ingress.rule == b->in.rule;
}

/* ---- main -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static uint32_t arg_u32(const char *flag, const char *v)
{
	char *end;
	unsigned long n = strtoul(v ? v : "", &end, 10);

	if (!v || !*v || *end || n == 0 || n > 10000000) {
		fprintf(stderr, "bench_engine: %s needs a positive number\n", flag);
		exit(2);
	}
	return (uint32_t)n;
}

int main(int argc, char **argv)
{
	struct gen g = { 10000, 500, 1000 };
	size_t n_flows = 50000, i, disagree = 0, allowed = 0, shown = 0;
	size_t states[2][4] = { { 0 } };
	struct pol_cluster *cluster, *copy;
	struct pol_model *m = NULL;
	struct pol_flow *flows;
	struct pol_verdict *got;
	struct naive nv;
	double t0, w0, t_load, builds[5], t_eng, w_eng, t_naive;
	long rss0, rss_loaded, rss_model, hwm_build;
	bool hwm_ok;
	size_t evals, naive_n;
	unsigned long sink = 0;
	char err[512];
	int r;

	for (r = 1; r < argc; r++) {
		if (!strcmp(argv[r], "--pods") && r + 1 < argc)
			g.pods = arg_u32(argv[r], argv[r + 1]), r++;
		else if (!strcmp(argv[r], "--namespaces") && r + 1 < argc)
			g.namespaces = arg_u32(argv[r], argv[r + 1]), r++;
		else if (!strcmp(argv[r], "--policies") && r + 1 < argc)
			g.policies = arg_u32(argv[r], argv[r + 1]), r++;
		else if (!strcmp(argv[r], "--flows") && r + 1 < argc)
			n_flows = arg_u32(argv[r], argv[r + 1]), r++;
		else if (!strcmp(argv[r], "--seed") && r + 1 < argc)
			rng = arg_u32(argv[r], argv[r + 1]) * 0x9e3779b97f4a7c15ULL, r++;
		else {
			fprintf(stderr, "usage: bench_engine [--pods N] [--namespaces N] "
					"[--policies N] [--flows N] [--seed N]\n");
			return 2;
		}
	}

	rss0 = proc_kb("VmRSS");
	t0 = cpu();
	cluster = generate(&g);
	t_load = cpu() - t0;
	rss_loaded = proc_kb("VmRSS");

	/* Compile five times from clones (each build consumes its cluster);
	 * the last one is kept. Memory is measured around the first. */
	hwm_ok = reset_hwm();
	for (r = 0; r < 5; r++) {
		long before = proc_kb("VmRSS");

		copy = r < 4 ? pol_cluster_clone(cluster) : cluster;
		if (!copy)
			abort();
		if (r == 0)
			hwm_ok = hwm_ok && reset_hwm();
		before = proc_kb("VmRSS");
		t0 = cpu();
		m = pol_model_build(copy, NULL, err, sizeof(err));
		builds[r] = cpu() - t0;
		if (!m) {
			fprintf(stderr, "bench_engine: build failed: %s\n", err);
			return 1;
		}
		if (r == 0) {
			rss_model = proc_kb("VmRSS") - before;
			hwm_build = proc_kb("VmHWM") - before;
		}
		if (r < 4)
			pol_model_free(m);
	}
	qsort(builds, 5, sizeof(builds[0]), cmp_double);

	flows = xcalloc(n_flows, sizeof(*flows));
	got = xcalloc(n_flows, sizeof(*got));
	gen_flows(&g, flows, n_flows);

	/* engine: repeat the flow set until at least a second has passed */
	evals = 0;
	w0 = now();
	t0 = cpu();
	do {
		for (i = 0; i < n_flows; i++) {
			pol_eval(m, &flows[i], 0, &got[i]);
			sink += got[i].allowed;
		}
		evals += n_flows;
		t_eng = cpu() - t0;
	} while (t_eng < 1.0);
	w_eng = now() - w0;

	naive_init(&nv, pol_model_cluster(m));
	naive_n = 0;
	t0 = cpu();
	for (i = 0; i < n_flows; i++) {
		struct naive_verdict v;

		naive_eval(&nv, &flows[i], 0, &v);
		naive_n++;
		allowed += v.allowed;
		states[0][got[i].egress.state]++;
		states[1][got[i].ingress.state]++;
		if (!same(&got[i], &v)) {
			disagree++;
			if (shown++ < 5) {
				char a[POL_IP_STRLEN], b[POL_IP_STRLEN];

				fprintf(stderr, "disagreement: %s -> %s %s/%u: engine %s (%d/%d), naive %s (%d/%d)\n",
					pol_ip_format(&flows[i].src, a, sizeof(a)),
					pol_ip_format(&flows[i].dst, b, sizeof(b)),
					pol_proto_name(flows[i].proto) ?: "?", flows[i].port,
					got[i].allowed ? "allow" : "deny", got[i].egress.state,
					got[i].ingress.state, v.allowed ? "allow" : "deny", v.eg.state,
					v.in.state);
			}
		}
	}
	t_naive = cpu() - t0;
	/* enforced-only verdicts too (staged policies left out) */
	for (i = 0; i < n_flows / 5; i++) {
		struct naive_verdict v;
		struct pol_verdict e;

		pol_eval(m, &flows[i], POL_EVAL_ENFORCED_ONLY, &e);
		naive_eval(&nv, &flows[i], POL_EVAL_ENFORCED_ONLY, &v);
		if (!same(&e, &v))
			disagree++;
	}

	printf("cluster: %u pods, %u namespaces, %u policies; %zu distinct flows (%.1f%% allowed)\n",
	       g.pods, g.namespaces, g.policies, n_flows, 100.0 * (double)allowed / (double)n_flows);
	for (r = 0; r < 2; r++)
		printf("%s: skipped %zu, not isolated %zu, allowed by a rule %zu, denied %zu\n",
		       r ? "ingress" : "egress ", states[r][POL_DIR_SKIPPED], states[r][POL_DIR_NOT_ISOLATED],
		       states[r][POL_DIR_ALLOWED], states[r][POL_DIR_DENIED]);
	printf("(times are CPU time of the benchmark thread)\n");
	printf("load (generate objects):   %8.1f ms\n", t_load * 1e3);
	printf("compile:                   %8.1f ms  (median of 5; min %.1f, max %.1f; target <= 50)\n",
	       builds[2] * 1e3, builds[0] * 1e3, builds[4] * 1e3);
	printf("memory, cluster objects:   %8.1f MiB (VmRSS delta)\n", (double)(rss_loaded - rss0) / 1024);
	printf("memory, compiled model:    %8.1f MiB (VmRSS delta; peak during build %s%.1f MiB)\n",
	       (double)rss_model / 1024, hwm_ok ? "" : "unknown, VmHWM ", (double)hwm_build / 1024);
	printf("memory, total VmRSS:       %8.1f MiB (whole process incl. bench flows; target <= 64)\n", (double)proc_kb("VmRSS") / 1024);
	printf("engine:                    %8.0f evals/s (per CPU-second of one core, %zu evals; "
	       "by wall clock %.0f; target >= 1000000)\n",
	       (double)evals / t_eng, evals, (double)evals / w_eng);
	printf("naive (scans all policies):%8.0f evals/s\n", (double)naive_n / t_naive);
	printf("ratio engine/naive:        %8.0fx\n",
	       ((double)evals / t_eng) / ((double)naive_n / t_naive));
	printf("disagreements:             %8zu of %zu flows (+%zu enforced-only)\n", disagree, n_flows,
	       n_flows / 5);
	if (sink == 0)
		printf("(no flow allowed)\n");
	free(nv.ips);
	free(flows);
	free(got);
	pol_model_free(m);
	return disagree ? 1 : 0;
}

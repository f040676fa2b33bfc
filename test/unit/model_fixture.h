/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/model_fixture.h - build clusters in C for the engine tests.
 *
 * Small constructors over policy/objects.h. They abort on allocation failure
 * (tests only). Label and selector text: "k=v,k2=v2"; NULL means "absent",
 * "" means the empty selector {}.
 */
#ifndef NPSHIM_TEST_MODEL_FIXTURE_H
#define NPSHIM_TEST_MODEL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/model.h"

static inline void *fx_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p) {
		fprintf(stderr, "fixture: out of memory\n");
		abort();
	}
	return p;
}

static inline char *fx_strdup(const char *s)
{
	char *d = fx_alloc(strlen(s) + 1);

	memcpy(d, s, strlen(s) + 1);
	return d;
}

#define FX_GROW(arr, n) \
	((arr) = realloc((arr), ((n) + 1) * sizeof(*(arr))), (arr) ? (void)0 : abort(), \
	 memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])

static inline void fx_labels(struct pol_labels *l, const char *text)
{
	char *buf, *tok, *save = NULL;

	if (!text || !*text)
		return;
	buf = fx_strdup(text);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq = '\0';
		if (pol_labels_set(l, tok, eq ? eq + 1 : "") < 0)
			abort();
	}
	free(buf);
}

static inline struct pol_selector *fx_sel(const char *text)
{
	struct pol_selector *s;

	if (!text)
		return NULL;
	s = fx_alloc(sizeof(*s));
	fx_labels(&s->match_labels, text);
	return s;
}

static inline void fx_expr(struct pol_selector *s, const char *key, enum pol_sel_op op, const char *values)
{
	struct pol_sel_expr *e = FX_GROW(s->exprs, s->n_exprs);
	char *buf, *tok, *save = NULL;

	e->key = fx_strdup(key);
	e->op = op;
	if (!values)
		return;
	buf = fx_strdup(values);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **v = FX_GROW(e->values, e->n_values);

		*v = fx_strdup(tok);
	}
	free(buf);
}

static inline struct pol_namespace *fx_ns(struct pol_cluster *c, const char *name, const char *labels)
{
	struct pol_namespace *ns = fx_alloc(sizeof(*ns));

	ns->name = fx_strdup(name);
	fx_labels(&ns->labels, labels);
	if (pol_cluster_add_namespace(c, ns) < 0)
		abort();
	return ns;
}

static inline struct pol_ip fx_ip(const char *text)
{
	struct pol_ip ip;

	if (!pol_ip_parse(text, &ip)) {
		fprintf(stderr, "fixture: bad IP %s\n", text);
		abort();
	}
	return ip;
}

/* ips: "10.0.0.1" or "10.0.0.1,fd00::1"; NULL for none. */
static inline struct pol_pod *fx_pod(struct pol_cluster *c, const char *ns, const char *name,
			      const char *labels, const char *ips, const char *node,
			      const char *host_ip)
{
	struct pol_pod *p = fx_alloc(sizeof(*p));

	p->ns = fx_strdup(ns);
	p->name = fx_strdup(name);
	fx_labels(&p->labels, labels);
	p->phase = POL_PHASE_RUNNING;
	if (node)
		p->node_name = fx_strdup(node);
	if (host_ip) {
		p->has_host_ip = true;
		p->host_ip = fx_ip(host_ip);
	}
	if (ips) {
		char *buf = fx_strdup(ips), *tok, *save = NULL;

		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			struct pol_ip *ip = FX_GROW(p->ips, p->n_ips);

			*ip = fx_ip(tok);
		}
		free(buf);
	}
	if (pol_cluster_add_pod(c, p) < 0)
		abort();
	return p;
}

static inline void fx_cport(struct pol_pod *p, const char *name, uint16_t port, uint8_t proto)
{
	struct pol_container_port *cp = FX_GROW(p->ports, p->n_ports);

	cp->name = name ? fx_strdup(name) : NULL;
	cp->port = port;
	cp->proto = proto;
}

/* types: "I", "E" or "IE". */
static inline struct pol_policy *fx_policy(struct pol_cluster *c, const char *ns, const char *name,
				    const char *pod_sel, const char *types)
{
	struct pol_policy *p = fx_alloc(sizeof(*p));

	p->ns = fx_strdup(ns);
	p->name = fx_strdup(name);
	fx_labels(&p->pod_sel.match_labels, pod_sel);
	p->type_ingress = strchr(types, 'I') != NULL;
	p->type_egress = strchr(types, 'E') != NULL;
	if (pol_cluster_add_policy(c, p) < 0)
		abort();
	return p;
}

static inline struct pol_rule *fx_rule(struct pol_policy *p, bool egress)
{
	return egress ? FX_GROW(p->egress, p->n_egress) : FX_GROW(p->ingress, p->n_ingress);
}

static inline struct pol_peer *fx_peer(struct pol_rule *r, const char *pod_sel, const char *ns_sel)
{
	struct pol_peer *peer = FX_GROW(r->peers, r->n_peers);

	peer->pod_sel = fx_sel(pod_sel);
	peer->ns_sel = fx_sel(ns_sel);
	return peer;
}

/* excepts: "a/n,b/m" or NULL. */
static inline void fx_ipblock(struct pol_rule *r, const char *cidr, const char *excepts)
{
	struct pol_peer *peer = FX_GROW(r->peers, r->n_peers);
	struct pol_ipblock *b = fx_alloc(sizeof(*b));

	if (!pol_cidr_parse(cidr, &b->cidr))
		abort();
	if (excepts) {
		char *buf = fx_strdup(excepts), *tok, *save = NULL;

		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			struct pol_cidr *e = FX_GROW(b->except, b->n_except);

			if (!pol_cidr_parse(tok, e))
				abort();
		}
		free(buf);
	}
	peer->ipblock = b;
}

/* port 0 with name NULL: every port of proto. */
static inline void fx_port(struct pol_rule *r, uint8_t proto, uint16_t port, const char *name,
		    uint16_t end_port)
{
	struct pol_port *p = FX_GROW(r->ports, r->n_ports);

	p->proto = proto;
	p->has_port = port || name;
	p->port = port;
	p->name = name ? fx_strdup(name) : NULL;
	p->end_port = end_port;
}

#endif

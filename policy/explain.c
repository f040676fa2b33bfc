/* SPDX-License-Identifier: Apache-2.0 */
/* policy/explain.c - rule-by-rule analysis of one flow for `npshim explain`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/explain.h"

static const struct pol_labels no_labels;

static bool value_listed(const struct pol_sel_expr *e, const char *v)
{
	for (size_t i = 0; i < e->n_values; i++)
		if (strcmp(e->values[i], v) == 0)
			return true;
	return false;
}

struct pol_explain_selfail pol_explain_selector(const struct pol_selector *sel,
						const struct pol_labels *labels)
{
	struct pol_explain_selfail f = { 0 };

	for (size_t i = 0; i < sel->match_labels.n; i++) {
		const struct pol_label *want = &sel->match_labels.items[i];
		const char *have = pol_labels_get(labels, want->key);

		if (!have || strcmp(have, want->value) != 0) {
			f.failed = true;
			f.key = want->key;
			f.want = want->value;
			f.have = have;
			return f;
		}
	}
	for (size_t i = 0; i < sel->n_exprs; i++) {
		const struct pol_sel_expr *e = &sel->exprs[i];
		const char *have = pol_labels_get(labels, e->key);
		bool ok;

		switch (e->op) {
		case POL_SEL_IN:             ok = have && value_listed(e, have); break;
		case POL_SEL_NOT_IN:         ok = !have || !value_listed(e, have); break;
		case POL_SEL_EXISTS:         ok = have != NULL; break;
		case POL_SEL_DOES_NOT_EXIST: ok = have == NULL; break;
		default:                     ok = false; break;
		}
		if (!ok) {
			f.failed = true;
			f.key = e->key;
			f.expr = e;
			f.have = have;
			return f;
		}
	}
	return f;
}

const char *pol_explain_fail_name(enum pol_explain_fail f)
{
	switch (f) {
	case POL_XF_NONE:                 return "";
	case POL_XF_NOT_A_POD:            return "not a pod";
	case POL_XF_OTHER_NAMESPACE:      return "other namespace";
	case POL_XF_SELECTOR:             return "selector";
	case POL_XF_CIDR:                 return "cidr";
	case POL_XF_EXCEPT:               return "except";
	case POL_XF_PROTOCOL:             return "protocol";
	case POL_XF_PORT:                 return "port";
	case POL_XF_NAMED_PORT_UNDEFINED: return "named port undefined";
	case POL_XF_NAMED_PORT_OTHER:     return "named port number";
	case POL_XF_NAMED_PORT_NOT_POD:   return "named port needs a pod destination";
	}
	return "unknown";
}

/* What the rule's peers are checked against: the other end of the flow. */
struct other_end {
	const struct pol_ip *ip;
	const struct pol_pod *pod;       /* NULL unless a pod of the model */
	const struct pol_labels *ns_labels;
};

static void explain_peer(const struct pol_peer *peer, const struct pol_policy *pol,
			 const struct other_end *end, struct pol_explain_peer *out)
{
	memset(out, 0, sizeof(*out));
	if (end->pod)
		out->peer_ns = end->pod->ns;
	if (peer->ipblock) {
		const struct pol_ipblock *blk = peer->ipblock;

		if (!pol_cidr_contains(&blk->cidr, end->ip)) {
			out->fail = POL_XF_CIDR;
			return;
		}
		for (size_t i = 0; i < blk->n_except; i++) {
			if (pol_cidr_contains(&blk->except[i], end->ip)) {
				out->fail = POL_XF_EXCEPT;
				out->except = &blk->except[i];
				return;
			}
		}
		out->fail = POL_XF_NONE;
		return;
	}
	if (!peer->pod_sel && !peer->ns_sel) {
		/* The loader rejects such a peer; never let it match. */
		out->fail = POL_XF_SELECTOR;
		return;
	}
	if (!end->pod) {
		out->fail = POL_XF_NOT_A_POD;
		return;
	}
	if (peer->ns_sel)
		out->ns_sel = pol_explain_selector(peer->ns_sel, end->ns_labels);
	else if (strcmp(end->pod->ns, pol->ns) != 0)
		out->fail = POL_XF_OTHER_NAMESPACE;
	if (peer->pod_sel)
		out->pod_sel = pol_explain_selector(peer->pod_sel, &end->pod->labels);
	if (out->fail == POL_XF_NONE && (out->ns_sel.failed || out->pod_sel.failed))
		out->fail = POL_XF_SELECTOR;
}

static void explain_port(const struct pol_port *port, const struct pol_flow *flow,
			 const struct pol_pod *dst_pod, struct pol_explain_port *out)
{
	memset(out, 0, sizeof(*out));
	if (port->proto != flow->proto) {
		out->fail = POL_XF_PROTOCOL;
		return;
	}
	if (!port->has_port)
		return;
	if (port->name) {
		if (!dst_pod) {
			out->fail = POL_XF_NAMED_PORT_NOT_POD;
			return;
		}
		for (size_t i = 0; i < dst_pod->n_ports; i++) {
			const struct pol_container_port *cp = &dst_pod->ports[i];

			if (cp->name && cp->proto == port->proto && strcmp(cp->name, port->name) == 0) {
				out->resolved = cp->port;
				out->fail = cp->port == flow->port ? POL_XF_NONE : POL_XF_NAMED_PORT_OTHER;
				return;
			}
		}
		out->fail = POL_XF_NAMED_PORT_UNDEFINED;
		return;
	}
	if (port->end_port) {
		if (flow->port < port->port || flow->port > port->end_port)
			out->fail = POL_XF_PORT;
		return;
	}
	if (flow->port != port->port)
		out->fail = POL_XF_PORT;
}

static int explain_rule(const struct pol_rule *rule, const struct pol_policy *pol,
			const struct pol_flow *flow, const struct other_end *end,
			const struct pol_pod *dst_pod, struct pol_explain_rule *out)
{
	memset(out, 0, sizeof(*out));
	out->matched_peer = -1;
	out->matched_port = -1;
	if (rule->n_peers) {
		out->peers = calloc(rule->n_peers, sizeof(*out->peers));
		if (!out->peers)
			return -1;
		out->n_peers = rule->n_peers;
	}
	if (rule->n_ports) {
		out->ports = calloc(rule->n_ports, sizeof(*out->ports));
		if (!out->ports)
			return -1;
		out->n_ports = rule->n_ports;
	}
	out->peers_match = rule->n_peers == 0;
	for (size_t i = 0; i < rule->n_peers; i++) {
		explain_peer(&rule->peers[i], pol, end, &out->peers[i]);
		if (out->peers[i].fail == POL_XF_NONE && !out->peers_match) {
			out->peers_match = true;
			out->matched_peer = (int)i;
		}
	}
	out->ports_match = rule->n_ports == 0;
	for (size_t i = 0; i < rule->n_ports; i++) {
		explain_port(&rule->ports[i], flow, dst_pod, &out->ports[i]);
		if (out->ports[i].fail == POL_XF_NONE && !out->ports_match) {
			out->ports_match = true;
			out->matched_port = (int)i;
		}
	}
	return 0;
}

static int explain_policy(const struct pol_policy *pol, bool egress,
			  const struct pol_flow *flow, const struct other_end *end,
			  const struct pol_pod *dst_pod, struct pol_explain_policy *out)
{
	const struct pol_rule *rules = egress ? pol->egress : pol->ingress;
	size_t n = egress ? pol->n_egress : pol->n_ingress;
	int best = -1, best_score = 3;

	out->policy = pol;
	out->closest = -1;
	if (n) {
		out->rules = calloc(n, sizeof(*out->rules));
		if (!out->rules)
			return -1;
		out->n_rules = n;
	}
	for (size_t i = 0; i < n; i++) {
		struct pol_explain_rule *r = &out->rules[i];
		int score;

		if (explain_rule(&rules[i], pol, flow, end, dst_pod, r) < 0)
			return -1;
		score = !r->peers_match + !r->ports_match;
		if (score < best_score) {
			best_score = score;
			best = (int)i;
		}
	}
	out->closest = best;
	out->allows = best >= 0 && best_score == 0;
	return 0;
}

static const struct pol_labels *ns_labels_of(const struct pol_namespace *ns)
{
	return ns ? &ns->labels : &no_labels;
}

static int explain_dir(const struct pol_model *model, const struct pol_flow *flow,
		       const struct pol_verdict *v, bool egress, struct pol_explain_dir *out)
{
	const struct pol_dir_result *res = egress ? &v->egress : &v->ingress;
	enum pol_endpoint_kind kind = egress ? v->src_kind : v->dst_kind;
	struct other_end end;

	out->egress = egress;
	out->state = res->state;
	out->pod = kind == POL_EP_POD ? (egress ? v->src_pod : v->dst_pod) : NULL;
	out->analysed = out->pod && v->reason == POL_REASON_POLICY &&
			(res->state == POL_DIR_ALLOWED || res->state == POL_DIR_DENIED);
	out->allowed = !out->analysed || res->state == POL_DIR_ALLOWED;
	if (!out->analysed)
		return 0;

	end.ip = egress ? &flow->dst : &flow->src;
	end.pod = egress ? v->dst_pod : v->src_pod;
	end.ns_labels = end.pod ? ns_labels_of(pol_model_namespace(model, end.pod->ns)) : &no_labels;

	out->allowed = false;
	if (res->n_isolating) {
		out->policies = calloc(res->n_isolating, sizeof(*out->policies));
		if (!out->policies)
			return -1;
		out->n_policies = res->n_isolating;
	}
	for (size_t i = 0; i < res->n_isolating; i++) {
		if (explain_policy(res->isolating[i], egress, flow, &end, v->dst_pod,
				   &out->policies[i]) < 0)
			return -1;
		if (out->policies[i].allows)
			out->allowed = true;
	}
	return 0;
}

/* The rule pol_eval() names as the allowing one must allow here too. */
static bool allowing_rule_agrees(const struct pol_explain_dir *d, const struct pol_dir_result *res)
{
	if (!d->analysed || res->state != POL_DIR_ALLOWED)
		return true;
	for (size_t i = 0; i < d->n_policies; i++) {
		const struct pol_explain_policy *p = &d->policies[i];

		if (p->policy != res->policy)
			continue;
		return res->rule >= 0 && (size_t)res->rule < p->n_rules &&
		       p->rules[res->rule].peers_match && p->rules[res->rule].ports_match;
	}
	return false;
}

struct pol_explain *pol_explain_flow(const struct pol_model *model,
				     const struct pol_flow *flow,
				     const struct pol_verdict *v)
{
	struct pol_explain *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->flow = *flow;
	x->verdict = *v;
	if (v->src_pod)
		x->src_ns = pol_model_namespace(model, v->src_pod->ns);
	if (v->dst_pod)
		x->dst_ns = pol_model_namespace(model, v->dst_pod->ns);
	if (explain_dir(model, flow, v, true, &x->egress) < 0 ||
	    explain_dir(model, flow, v, false, &x->ingress) < 0) {
		pol_explain_free(x);
		errno = ENOMEM;
		return NULL;
	}
	if (v->reason == POL_REASON_POLICY)
		x->consistent = (x->egress.allowed && x->ingress.allowed) == v->allowed &&
				allowing_rule_agrees(&x->egress, &v->egress) &&
				allowing_rule_agrees(&x->ingress, &v->ingress);
	else
		x->consistent = v->allowed;
	return x;
}

static void free_dir(struct pol_explain_dir *d)
{
	for (size_t i = 0; i < d->n_policies; i++) {
		struct pol_explain_policy *p = &d->policies[i];

		for (size_t j = 0; j < p->n_rules; j++) {
			free(p->rules[j].peers);
			free(p->rules[j].ports);
		}
		free(p->rules);
	}
	free(d->policies);
}

void pol_explain_free(struct pol_explain *x)
{
	if (!x)
		return;
	free_dir(&x->egress);
	free_dir(&x->ingress);
	free(x);
}

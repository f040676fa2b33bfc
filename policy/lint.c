/* SPDX-License-Identifier: Apache-2.0 */
/* policy/lint.c - static checks for the classic NetworkPolicy mistakes. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/strbuf.h"
#include "policy/lint.h"

#define NONE SIZE_MAX

/* ------------------------------------------------------------------ */
/* Rule table                                                          */

static const struct {
	const char *id;
	const char *name;
	enum pol_lint_severity sev;
} rules[POL_LINT_RULE_MAX + 1] = {
	[POL_LINT_ONE_SIDED_INGRESS] = { "NP001", "one-sided-ingress", POL_LINT_ERROR },
	[POL_LINT_ONE_SIDED_EGRESS] = { "NP002", "one-sided-egress", POL_LINT_ERROR },
	[POL_LINT_EGRESS_WITHOUT_DNS] = { "NP003", "egress-without-dns", POL_LINT_ERROR },
	[POL_LINT_SELECTOR_MATCHES_NOTHING] = { "NP004", "selector-matches-nothing", POL_LINT_WARNING },
	[POL_LINT_NAMESPACE_LABEL_UNKNOWN] = { "NP005", "namespace-label-unknown", POL_LINT_ERROR },
	[POL_LINT_IPBLOCK_COVERS_PODS] = { "NP006", "ipblock-covers-pods", POL_LINT_WARNING },
	[POL_LINT_NONCANONICAL_CIDR] = { "NP007", "noncanonical-cidr", POL_LINT_WARNING },
	[POL_LINT_EXCEPT_REMOVES_NOTHING] = { "NP008", "except-removes-nothing", POL_LINT_WARNING },
	[POL_LINT_NAMED_PORT_UNDEFINED] = { "NP009", "named-port-undefined", POL_LINT_ERROR },
	[POL_LINT_POLICY_SELECTS_NO_POD] = { "NP010", "policy-selects-no-pod", POL_LINT_WARNING },
	[POL_LINT_NAMESPACE_WITHOUT_DEFAULT_DENY] = { "NP011", "namespace-without-default-deny", POL_LINT_INFO },
	[POL_LINT_SHADOWED_RULE] = { "NP012", "shadowed-rule", POL_LINT_WARNING },
	[POL_LINT_POLICY_UNUSED_IN_WINDOW] = { "NP013", "policy-unused-in-window", POL_LINT_INFO },
};

static bool rule_valid(enum pol_lint_rule r)
{
	return r >= POL_LINT_ONE_SIDED_INGRESS && r <= POL_LINT_RULE_MAX;
}

const char *pol_lint_rule_id(enum pol_lint_rule r)
{
	return rule_valid(r) ? rules[r].id : NULL;
}

const char *pol_lint_rule_name(enum pol_lint_rule r)
{
	return rule_valid(r) ? rules[r].name : NULL;
}

bool pol_lint_rule_parse(const char *text, enum pol_lint_rule *out)
{
	for (int r = POL_LINT_ONE_SIDED_INGRESS; text && r <= POL_LINT_RULE_MAX; r++) {
		if (strcasecmp(text, rules[r].id) == 0 || strcmp(text, rules[r].name) == 0) {
			*out = r;
			return true;
		}
	}
	return false;
}

enum pol_lint_severity pol_lint_rule_severity(enum pol_lint_rule r)
{
	return rule_valid(r) ? rules[r].sev : POL_LINT_ERROR;
}

const char *pol_lint_severity_name(enum pol_lint_severity s)
{
	switch (s) {
	case POL_LINT_INFO: return "info";
	case POL_LINT_WARNING: return "warning";
	case POL_LINT_ERROR: return "error";
	}
	return NULL;
}

bool pol_lint_severity_parse(const char *text, enum pol_lint_severity *out)
{
	for (int s = POL_LINT_INFO; s <= POL_LINT_ERROR; s++) {
		if (text && strcmp(text, pol_lint_severity_name(s)) == 0) {
			*out = s;
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Text: core/strbuf (oom latches, checked once by the caller).        */

static void sb_indent(struct strbuf *b, int n)
{
	for (int i = 0; i < n; i++)
		strbuf_append(b, " ", 1);
}

/* ------------------------------------------------------------------ */
/* Edit distance and typo hints                                        */

unsigned pol_lint_edit_distance(const char *a, const char *b, unsigned cap)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned *buf, *prev2, *prev, *cur, *t, res;

	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	buf = calloc(3 * (lb + 1), sizeof(*buf));
	if (!buf)
		return cap + 1; /* "far apart": a hint is optional */
	prev2 = buf;
	prev = buf + lb + 1;
	cur = prev + lb + 1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	res = (unsigned)lb;
	for (size_t i = 1; i <= la; i++) {
		unsigned best;

		cur[0] = (unsigned)i;
		best = cur[0];
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			/* adjacent transposition: "teir" is one slip from "tier" */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
			if (v < best)
				best = v;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
		res = prev[lb];
		if (best > cap)
			break; /* every later row is at least as far */
	}
	free(buf);
	if (la == 0)
		res = (unsigned)lb;
	return res > cap ? cap + 1 : res;
}

const char *pol_lint_nearest(const char *word, const char *const *cands, size_t n)
{
	size_t len = strlen(word);
	unsigned cap = (unsigned)((len + 2) / 3);
	const char *best = NULL;
	unsigned best_d;

	if (cap < 1)
		cap = 1;
	best_d = cap + 1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (!cands[i] || strcmp(cands[i], word) == 0)
			continue;
		if (strcasecmp(cands[i], word) == 0)
			return cands[i];
		d = pol_lint_edit_distance(word, cands[i], cap);
		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	return best;
}

/* ------------------------------------------------------------------ */
/* Selector and rule coverage (NP012)                                  */

/* A requirement in one form: matchLabels k=v is "k In (v)". */
struct req {
	const char *key;
	enum pol_sel_op op;
	const char *const *values;
	size_t n_values;
	const char *one; /* storage for a matchLabels value */
};

static size_t sel_n_reqs(const struct pol_selector *s)
{
	return s->match_labels.n + s->n_exprs;
}

static void sel_req(const struct pol_selector *s, size_t i, struct req *r)
{
	if (i < s->match_labels.n) {
		r->key = s->match_labels.items[i].key;
		r->op = POL_SEL_IN;
		r->one = s->match_labels.items[i].value;
		r->values = &r->one;
		r->n_values = 1;
	} else {
		const struct pol_sel_expr *e = &s->exprs[i - s->match_labels.n];

		r->key = e->key;
		r->op = e->op;
		r->values = (const char *const *)e->values;
		r->n_values = e->n_values;
	}
}

static bool in_set(const char *v, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, set[i]) == 0)
			return true;
	return false;
}

static bool subset(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		if (!in_set(a[i], b, nb))
			return false;
	return true;
}

static bool disjoint(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		if (in_set(a[i], b, nb))
			return false;
	return true;
}

/* Requirement want holds for every label set satisfying have. */
static bool req_implies(const struct req *have, const struct req *want)
{
	if (strcmp(have->key, want->key) != 0)
		return false;
	switch (want->op) {
	case POL_SEL_IN:
		return have->op == POL_SEL_IN &&
		       subset(have->values, have->n_values, want->values, want->n_values);
	case POL_SEL_NOT_IN:
		if (have->op == POL_SEL_IN)
			return disjoint(have->values, have->n_values, want->values, want->n_values);
		if (have->op == POL_SEL_NOT_IN)
			return subset(want->values, want->n_values, have->values, have->n_values);
		return have->op == POL_SEL_DOES_NOT_EXIST;
	case POL_SEL_EXISTS:
		return have->op == POL_SEL_IN || have->op == POL_SEL_EXISTS;
	case POL_SEL_DOES_NOT_EXIST:
		return have->op == POL_SEL_DOES_NOT_EXIST;
	}
	return false;
}

bool pol_lint_selector_covers(const struct pol_selector *b, const struct pol_selector *a)
{
	/* b matches everything a matches when each requirement of b follows
	 * from one requirement of a. */
	for (size_t i = 0; i < sel_n_reqs(b); i++) {
		struct req want, have;
		bool ok = false;

		sel_req(b, i, &want);
		for (size_t j = 0; j < sel_n_reqs(a) && !ok; j++) {
			sel_req(a, j, &have);
			ok = req_implies(&have, &want);
		}
		if (!ok)
			return false;
	}
	return true;
}

static bool sel_empty(const struct pol_selector *s)
{
	return !s || sel_n_reqs(s) == 0;
}

static bool cidr_within(const struct pol_cidr *outer, const struct pol_cidr *inner)
{
	return outer->v4 == inner->v4 && outer->len <= inner->len &&
	       pol_cidr_contains(outer, &inner->addr);
}

static bool cidr_overlap(const struct pol_cidr *x, const struct pol_cidr *y)
{
	return cidr_within(x, y) || cidr_within(y, x);
}

static bool ipblock_covers(const struct pol_ipblock *b, const struct pol_ipblock *a)
{
	if (!cidr_within(&b->cidr, &a->cidr))
		return false;
	/* every hole of b that touches a must lie inside a hole of a */
	for (size_t i = 0; i < b->n_except; i++) {
		const struct pol_cidr *e = &b->except[i];
		bool ok;

		if (!cidr_overlap(e, &a->cidr))
			continue;
		ok = false;
		for (size_t j = 0; j < a->n_except && !ok; j++)
			ok = cidr_within(&a->except[j], e);
		if (!ok)
			return false;
	}
	return true;
}

static bool peer_covers(const struct pol_peer *b, const struct pol_peer *a)
{
	if (a->ipblock || b->ipblock)
		return a->ipblock && b->ipblock && ipblock_covers(b->ipblock, a->ipblock);
	/* namespace part: absent = the policy's own namespace */
	if (b->ns_sel) {
		if (a->ns_sel) {
			if (!pol_lint_selector_covers(b->ns_sel, a->ns_sel))
				return false;
		} else if (!sel_empty(b->ns_sel)) {
			return false;
		}
	} else if (a->ns_sel) {
		return false;
	}
	/* pod part: absent = every pod */
	if (!b->pod_sel)
		return true;
	if (!a->pod_sel)
		return sel_empty(b->pod_sel);
	return pol_lint_selector_covers(b->pod_sel, a->pod_sel);
}

static bool port_covers(const struct pol_port *b, const struct pol_port *a)
{
	unsigned alo, ahi, blo, bhi;

	if (a->proto != b->proto)
		return false;
	if (!b->has_port)
		return true;
	if (!a->has_port)
		return false;
	if (a->name || b->name)
		return a->name && b->name && strcmp(a->name, b->name) == 0;
	alo = a->port;
	ahi = a->end_port ? a->end_port : a->port;
	blo = b->port;
	bhi = b->end_port ? b->end_port : b->port;
	return blo <= alo && ahi <= bhi;
}

bool pol_lint_rule_covers(const struct pol_rule *b, const struct pol_rule *a)
{
	if (b->n_peers) {
		if (!a->n_peers)
			return false;
		for (size_t i = 0; i < a->n_peers; i++) {
			bool ok = false;

			for (size_t j = 0; j < b->n_peers && !ok; j++)
				ok = peer_covers(&b->peers[j], &a->peers[i]);
			if (!ok)
				return false;
		}
	}
	if (b->n_ports) {
		if (!a->n_ports)
			return false;
		for (size_t i = 0; i < a->n_ports; i++) {
			bool ok = false;

			for (size_t j = 0; j < b->n_ports && !ok; j++)
				ok = port_covers(&b->ports[j], &a->ports[i]);
			if (!ok)
				return false;
		}
	}
	return true;
}

bool pol_lint_cidr_noncanonical(const char *text, char *canon, size_t len)
{
	struct pol_cidr c;
	struct pol_ip written;
	const char *slash;
	char ip[POL_IP_STRLEN];

	if (!text || !pol_cidr_parse(text, &c))
		return false;
	slash = strchr(text, '/');
	if (!slash || (size_t)(slash - text) >= sizeof(ip))
		return false;
	memcpy(ip, text, (size_t)(slash - text));
	ip[slash - text] = '\0';
	if (!pol_ip_parse(ip, &written))
		return false;
	if (memcmp(written.b, c.addr.b, sizeof(written.b)) == 0)
		return false;
	pol_cidr_format(&c, canon, len);
	return true;
}

/* ------------------------------------------------------------------ */
/* Run state                                                           */

/* Pods that agree on namespace, labels and container ports are selected
 * alike by every selector, so one representative stands for all of them in
 * flow evaluation; only an ipBlock over some of their IPs (NP006) could make
 * them differ. This keeps the reachability rules near-linear in practice. */
struct cls {
	size_t rep;       /* pod index */
	size_t *members;  /* pod indexes, cluster order */
	size_t n;
	bool iso_in;      /* some policy isolates the class (as far as known) */
	bool iso_eg;
};

struct nsgrp {
	const char *ns;
	const struct pol_labels *labels; /* the Namespace's, or none */
	size_t start, end;
};

struct lint {
	const struct pol_model *m;
	const struct pol_cluster *c;
	const struct pol_lint_opts *o;
	struct pol_lint_report *rep;
	size_t cap_items, cap_skipped;
	bool oom;
	struct cls *cls;   /* sorted by namespace */
	size_t n_cls;
	size_t *cls_of;    /* per pod: class index or NONE */
	uint8_t *mark;     /* per pod scratch */
	size_t *pod_idx;   /* scratch */
	struct nsgrp *grp; /* classes of one namespace: [start, end) */
	size_t n_grp;
};

static const struct pol_labels no_labels;

static bool pod_live(const struct pol_pod *p)
{
	return p->phase != POL_PHASE_SUCCEEDED && p->phase != POL_PHASE_FAILED;
}

/* A pod with an address of its own that flows can be evaluated for. */
static bool pod_ident(const struct pol_pod *p)
{
	return pod_live(p) && !p->host_network && p->n_ips > 0;
}

/* A workload pod: counts for "selects a pod" (a Pending pod will run). */
static bool pod_workload(const struct pol_pod *p)
{
	return pod_live(p) && !p->host_network;
}

static const struct pol_labels *ns_labels(struct lint *L, const char *ns)
{
	const struct pol_namespace *n = pol_model_namespace(L->m, ns);

	return n ? &n->labels : &no_labels;
}

static bool ipblock_has_ip(const struct pol_ipblock *b, const struct pol_ip *ip)
{
	if (!pol_cidr_contains(&b->cidr, ip))
		return false;
	for (size_t i = 0; i < b->n_except; i++)
		if (pol_cidr_contains(&b->except[i], ip))
			return false;
	return true;
}

static bool ipblock_has_pod(const struct pol_ipblock *b, const struct pol_pod *p)
{
	for (size_t i = 0; i < p->n_ips; i++)
		if (ipblock_has_ip(b, &p->ips[i]))
			return true;
	return false;
}

/* The peer of a rule of pol admits / reaches pod (object-level selection;
 * verdicts come from pol_eval). */
static bool peer_has_pod(struct lint *L, const struct pol_policy *pol,
			 const struct pol_peer *pe, const struct pol_pod *pod)
{
	if (pe->ipblock)
		return !pod->host_network && ipblock_has_pod(pe->ipblock, pod);
	if (pe->ns_sel) {
		if (!pol_selector_matches(pe->ns_sel, ns_labels(L, pod->ns)))
			return false;
	} else if (strcmp(pod->ns, pol->ns) != 0) {
		return false;
	}
	return !pe->pod_sel || pol_selector_matches(pe->pod_sel, &pod->labels);
}

/* A peer naming particular clients: a non-empty pod or namespace selector,
 * not an ipBlock. Open peers state no intent about who the clients are,
 * so a one-sided path through them is no mistake. */
static bool peer_specific(const struct pol_peer *pe)
{
	if (pe->ipblock)
		return false;
	/* "every pod of my namespace" ({}) is as generic as "every namespace" */
	return !sel_empty(pe->pod_sel) || !sel_empty(pe->ns_sel);
}

static bool policy_selects(const struct pol_policy *p, const struct pol_pod *pod)
{
	return strcmp(p->ns, pod->ns) == 0 && pol_selector_matches(&p->pod_sel, &pod->labels);
}

/* ------------------------------------------------------------------ */
/* Findings                                                            */

static void f_obj(struct lint *L, struct pol_lint_finding *f, enum pol_lint_obj_kind kind,
		  const char *ns, const char *name, const char *role)
{
	struct pol_lint_obj *o;

	for (size_t i = 0; i < f->n_objects; i++) {
		o = &f->objects[i];
		if (o->kind == kind && strcmp(o->name, name) == 0 && strcmp(o->role, role) == 0 &&
		    ((!o->ns && !ns) || (o->ns && ns && strcmp(o->ns, ns) == 0)))
			return;
	}
	o = realloc(f->objects, (f->n_objects + 1) * sizeof(*o));
	if (!o) {
		L->oom = true;
		return;
	}
	f->objects = o;
	o = &f->objects[f->n_objects];
	*o = (struct pol_lint_obj){ .kind = kind };
	o->ns = ns ? strdup(ns) : NULL;
	o->name = strdup(name);
	o->role = strdup(role);
	f->n_objects++;
	if ((ns && !o->ns) || !o->name || !o->role)
		L->oom = true;
}

static void f_policy(struct lint *L, struct pol_lint_finding *f, const struct pol_policy *p,
		     const char *role)
{
	f_obj(L, f, POL_LINT_OBJ_POLICY, p->ns, p->name, role);
}

/* Add the pods marked with bit in L->mark, listing at most POL_LINT_MAX_PODS. */
static void f_marked_pods(struct lint *L, struct pol_lint_finding *f, uint8_t bit, const char *role)
{
	size_t listed = 0;

	for (size_t i = 0; i < L->c->n_pods; i++) {
		const struct pol_pod *p = L->c->pods[i];

		if (!(L->mark[i] & bit))
			continue;
		f->n_pods++;
		if (listed++ < POL_LINT_MAX_PODS)
			f_obj(L, f, POL_LINT_OBJ_POD, p->ns, p->name, role);
	}
}

static void f_port(struct pol_lint_finding *f, const struct pol_port *pt, uint16_t tested,
		   uint8_t tested_proto, struct lint *L)
{
	f->has_port = true;
	if (pt) {
		f->port.proto = pt->proto;
		f->port.has_port = pt->has_port;
		f->port.port = pt->port;
		f->port.end_port = pt->end_port;
		if (pt->name && !(f->port.name = strdup(pt->name)))
			L->oom = true;
	} else {
		f->port.proto = tested_proto;
	}
	f->port.tested = tested;
}

static void finding_clear(struct pol_lint_finding *f)
{
	free(f->ns);
	free(f->location);
	free(f->message);
	free(f->hint);
	free(f->fix);
	for (size_t i = 0; i < f->n_objects; i++) {
		free(f->objects[i].ns);
		free(f->objects[i].name);
		free(f->objects[i].role);
	}
	free(f->objects);
	free(f->port.name);
}

static bool rule_disabled(const struct lint *L, enum pol_lint_rule r)
{
	return L->o && (L->o->disabled & (1U << r));
}

static bool finding_in_scope(const struct lint *L, const struct pol_lint_finding *f)
{
	const char *ns = L->o ? L->o->ns : NULL;

	if (rule_disabled(L, f->rule))
		return false;
	if (!ns)
		return true;
	if (f->ns && strcmp(f->ns, ns) == 0)
		return true;
	for (size_t i = 0; i < f->n_objects; i++) {
		const struct pol_lint_obj *o = &f->objects[i];
		const char *ons = o->kind == POL_LINT_OBJ_NAMESPACE ? o->name : o->ns;

		if (ons && strcmp(ons, ns) == 0)
			return true;
	}
	return false;
}

/* Move *f (built on the caller's stack) into the report. The texts come as
 * buffers so one call checks every allocation. */
static void finding_push(struct lint *L, struct pol_lint_finding *f, const char *ns,
			 struct strbuf *loc, struct strbuf *msg, struct strbuf *hint, struct strbuf *fix)
{
	f->severity = pol_lint_rule_severity(f->rule);
	f->ns = ns ? strdup(ns) : NULL;
	if (ns && !f->ns)
		L->oom = true;
	if (loc && loc->len)
		f->location = strbuf_take(loc);
	if (hint && hint->len)
		f->hint = strbuf_take(hint);
	f->message = strbuf_take(msg);
	f->fix = strbuf_take(fix);
	if ((loc && loc->oom) || (hint && hint->oom) || !f->message || !f->fix)
		L->oom = true;
	if (loc)
		free(strbuf_take(loc));
	if (hint)
		free(strbuf_take(hint));
	if (L->oom || !finding_in_scope(L, f)) {
		finding_clear(f);
		return;
	}
	if (L->rep->n == L->cap_items) {
		size_t cap = L->cap_items ? 2 * L->cap_items : 16;
		struct pol_lint_finding *p = realloc(L->rep->items, cap * sizeof(*p));

		if (!p) {
			L->oom = true;
			finding_clear(f);
			return;
		}
		L->rep->items = p;
		L->cap_items = cap;
	}
	L->rep->items[L->rep->n++] = *f;
}

static void skip_rule(struct lint *L, enum pol_lint_rule rule, const char *reason)
{
	struct pol_lint_skip *s;

	if (rule_disabled(L, rule) && strcmp(reason, "disabled") != 0)
		return; /* listed once, as disabled */
	for (size_t i = 0; i < L->rep->n_skipped; i++)
		if (L->rep->skipped[i].rule == rule)
			return;
	if (L->rep->n_skipped == L->cap_skipped) {
		size_t cap = L->cap_skipped ? 2 * L->cap_skipped : 8;

		s = realloc(L->rep->skipped, cap * sizeof(*s));
		if (!s) {
			L->oom = true;
			return;
		}
		L->rep->skipped = s;
		L->cap_skipped = cap;
	}
	s = &L->rep->skipped[L->rep->n_skipped];
	s->rule = rule;
	s->reason = strdup(reason);
	if (!s->reason) {
		L->oom = true;
		return;
	}
	L->rep->n_skipped++;
}

/* ------------------------------------------------------------------ */
/* Text forms                                                          */

static const char *op_name(enum pol_sel_op op)
{
	switch (op) {
	case POL_SEL_IN: return "In";
	case POL_SEL_NOT_IN: return "NotIn";
	case POL_SEL_EXISTS: return "Exists";
	case POL_SEL_DOES_NOT_EXIST: return "DoesNotExist";
	}
	return "?";
}

/* kubectl label-selector syntax: "tier=db,app in (a,b),!legacy". */
static void sel_text(struct strbuf *b, const struct pol_selector *s)
{
	if (sel_empty(s)) {
		strbuf_puts(b, "{}");
		return;
	}
	for (size_t i = 0; i < sel_n_reqs(s); i++) {
		struct req r;

		sel_req(s, i, &r);
		if (i)
			strbuf_puts(b, ",");
		if (i < s->match_labels.n) {
			strbuf_printf(b, "%s=%s", r.key, r.values[0]);
			continue;
		}
		switch (r.op) {
		case POL_SEL_EXISTS:
			strbuf_puts(b, r.key);
			break;
		case POL_SEL_DOES_NOT_EXIST:
			strbuf_printf(b, "!%s", r.key);
			break;
		case POL_SEL_IN:
		case POL_SEL_NOT_IN:
			strbuf_printf(b, "%s %s (", r.key, r.op == POL_SEL_IN ? "in" : "notin");
			for (size_t j = 0; j < r.n_values; j++)
				strbuf_printf(b, "%s%s", j ? "," : "", r.values[j]);
			strbuf_puts(b, ")");
			break;
		}
	}
}

static void port_text(struct strbuf *b, uint8_t proto, const struct pol_port *pt, uint16_t tested)
{
	const char *pn = pol_proto_name(pt ? pt->proto : proto);

	if (!pt) {
		strbuf_printf(b, "every port (tested %s %u)", pn ? pn : "TCP", tested);
		return;
	}
	if (!pt->has_port)
		strbuf_printf(b, "every %s port", pn);
	else if (pt->name)
		strbuf_printf(b, "%s port \"%s\"", pn, pt->name);
	else if (pt->end_port)
		strbuf_printf(b, "%s %u-%u", pn, pt->port, pt->end_port);
	else
		strbuf_printf(b, "%s %u", pn, pt->port);
}

static void policy_list_text(struct strbuf *b, const struct pol_policy *const *p, size_t n)
{
	for (size_t i = 0; i < n && i < 6; i++)
		strbuf_printf(b, "%s%s", i ? ", " : "", p[i]->name);
	if (n > 6)
		strbuf_printf(b, " and %zu more", n - 6);
}

/* A YAML plain scalar when that reads back as the same string, else a
 * double-quoted one. */
static void yaml_scalar(struct strbuf *b, const char *s)
{
	static const char *const special[] = { "true", "false", "yes", "no", "on", "off",
					       "null", "y", "n", "~" };
	bool plain = *s && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'));

	for (const char *p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '/';
	for (size_t i = 0; plain && i < sizeof(special) / sizeof(special[0]); i++)
		plain = strcasecmp(s, special[i]) != 0;
	if (plain) {
		strbuf_puts(b, s);
		return;
	}
	strbuf_puts(b, "\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			strbuf_printf(b, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			strbuf_printf(b, "\\x%02x", (unsigned char)*p);
		else
			strbuf_append(b, p, 1);
	}
	strbuf_puts(b, "\"");
}

/* "key: {}" or a mapping; the first line is at col (after an optional
 * "- "), the body two further in. */
static void yaml_selector(struct strbuf *b, int col, bool dash, const char *key,
			  const struct pol_selector *s)
{
	int in = col + 2 + (dash ? 2 : 0);

	sb_indent(b, col);
	strbuf_printf(b, "%s%s:", dash ? "- " : "", key);
	if (sel_empty(s)) {
		strbuf_puts(b, " {}\n");
		return;
	}
	strbuf_puts(b, "\n");
	if (s->match_labels.n) {
		sb_indent(b, in);
		strbuf_puts(b, "matchLabels:\n");
		for (size_t i = 0; i < s->match_labels.n; i++) {
			sb_indent(b, in + 2);
			yaml_scalar(b, s->match_labels.items[i].key);
			strbuf_puts(b, ": ");
			yaml_scalar(b, s->match_labels.items[i].value);
			strbuf_puts(b, "\n");
		}
	}
	if (s->n_exprs) {
		sb_indent(b, in);
		strbuf_puts(b, "matchExpressions:\n");
		for (size_t i = 0; i < s->n_exprs; i++) {
			const struct pol_sel_expr *e = &s->exprs[i];

			sb_indent(b, in);
			strbuf_puts(b, "- key: ");
			yaml_scalar(b, e->key);
			strbuf_puts(b, "\n");
			sb_indent(b, in + 2);
			strbuf_printf(b, "operator: %s\n", op_name(e->op));
			if (e->op == POL_SEL_IN || e->op == POL_SEL_NOT_IN) {
				sb_indent(b, in + 2);
				strbuf_puts(b, "values: [");
				for (size_t j = 0; j < e->n_values; j++) {
					if (j)
						strbuf_puts(b, ", ");
					yaml_scalar(b, e->values[j]);
				}
				strbuf_puts(b, "]\n");
			}
		}
	}
}

/* namespaceSelector for exactly one namespace, by its immutable label. */
static void yaml_ns_name(struct strbuf *b, int col, bool dash, const char *ns)
{
	sb_indent(b, col);
	strbuf_printf(b, "%snamespaceSelector:\n", dash ? "- " : "");
	sb_indent(b, col + 2 + (dash ? 2 : 0));
	strbuf_puts(b, "matchLabels:\n");
	sb_indent(b, col + 4 + (dash ? 2 : 0));
	strbuf_puts(b, "kubernetes.io/metadata.name: ");
	yaml_scalar(b, ns);
	strbuf_puts(b, "\n");
}

static void yaml_port(struct strbuf *b, int col, uint8_t proto, const struct pol_port *pt)
{
	sb_indent(b, col);
	strbuf_printf(b, "- protocol: %s\n", pol_proto_name(pt ? pt->proto : proto));
	if (!pt || !pt->has_port)
		return;
	sb_indent(b, col + 2);
	if (pt->name) {
		strbuf_puts(b, "port: ");
		yaml_scalar(b, pt->name);
		strbuf_puts(b, "\n");
	} else {
		strbuf_printf(b, "port: %u\n", pt->port);
		if (pt->end_port) {
			sb_indent(b, col + 2);
			strbuf_printf(b, "endPort: %u\n", pt->end_port);
		}
	}
}

/* A policy name derived from others: DNS-1123, at most 63 characters. */
static void yaml_name(struct strbuf *b, const char *prefix, const char *base)
{
	char name[64];
	size_t n;

	snprintf(name, sizeof(name), "%s%s", prefix, base);
	n = strlen(name);
	while (n && (name[n - 1] == '-' || name[n - 1] == '.'))
		name[--n] = '\0';
	strbuf_puts(b, name);
}

static void yaml_head(struct strbuf *b, const char *name_prefix, const char *name_base,
		      const char *ns)
{
	strbuf_puts(b, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ");
	yaml_name(b, name_prefix, name_base);
	strbuf_puts(b, "\n  namespace: ");
	yaml_scalar(b, ns);
	strbuf_puts(b, "\nspec:\n");
}

/* ------------------------------------------------------------------ */
/* Pod classes                                                         */

static int cmp_labels(const struct pol_labels *a, const struct pol_labels *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		int r = strcmp(a->items[i].key, b->items[i].key);

		if (!r)
			r = strcmp(a->items[i].value, b->items[i].value);
		if (r)
			return r;
	}
	return (a->n > b->n) - (a->n < b->n);
}

static int cmp_ports(const struct pol_pod *a, const struct pol_pod *b)
{
	for (size_t i = 0; i < a->n_ports && i < b->n_ports; i++) {
		const struct pol_container_port *x = &a->ports[i], *y = &b->ports[i];
		int r = (x->port > y->port) - (x->port < y->port);

		if (!r)
			r = (x->proto > y->proto) - (x->proto < y->proto);
		if (!r)
			r = strcmp(x->name ? x->name : "", y->name ? y->name : "");
		if (r)
			return r;
	}
	return (a->n_ports > b->n_ports) - (a->n_ports < b->n_ports);
}

static int cmp_pod_class(const void *x, const void *y, void *arg)
{
	const struct pol_cluster *c = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	const struct pol_pod *a = c->pods[i], *b = c->pods[j];
	int r = strcmp(a->ns, b->ns);

	if (!r)
		r = cmp_labels(&a->labels, &b->labels);
	if (!r)
		r = cmp_ports(a, b);
	if (!r)
		r = (i > j) - (i < j); /* stable: members in cluster order */
	return r;
}

static int build_classes(struct lint *L)
{
	const struct pol_cluster *c = L->c;
	size_t n = 0, *idx = L->pod_idx;

	for (size_t i = 0; i < c->n_pods; i++) {
		L->cls_of[i] = NONE;
		if (pod_ident(c->pods[i]))
			idx[n++] = i;
	}
	if (n)
		qsort_r(idx, n, sizeof(*idx), cmp_pod_class, (void *)c);
	L->cls = calloc(n ? n : 1, sizeof(*L->cls));
	if (!L->cls)
		return -1;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		struct cls *k = &L->cls[L->n_cls];

		while (j < n) {
			const struct pol_pod *a = c->pods[idx[i]], *b = c->pods[idx[j]];

			if (strcmp(a->ns, b->ns) || cmp_labels(&a->labels, &b->labels) ||
			    cmp_ports(a, b))
				break;
			j++;
		}
		k->members = malloc((j - i) * sizeof(size_t));
		if (!k->members)
			return -1;
		memcpy(k->members, idx + i, (j - i) * sizeof(size_t));
		k->n = j - i;
		k->rep = idx[i];
		for (size_t m = i; m < j; m++)
			L->cls_of[idx[m]] = L->n_cls;
		L->n_cls++;
		i = j;
	}
	return 0;
}

static const struct pol_pod *cls_pod(const struct lint *L, size_t k)
{
	return L->c->pods[L->cls[k].rep];
}

static void flow_init(struct pol_flow *f, const struct pol_ip *s, const struct pol_ip *d,
		      uint8_t proto, uint16_t port);

static int build_groups(struct lint *L);
static size_t grp_find(const struct lint *L, const char *ns);

/* Whether some policy isolates class k in each direction, asked of the
 * engine with a documentation address (TEST-NET / 2001:db8::) as the peer.
 * Only a class isolated on the far side can be half of a one-sided path,
 * so this prunes most pairs in large clusters. Unsure counts as isolated. */
static void class_isolation(struct lint *L, size_t k)
{
	const struct pol_pod *p = cls_pod(L, k);
	struct pol_ip ext;
	struct pol_flow f;
	struct pol_verdict v;

	pol_ip_parse(pol_ip_is_v4(&p->ips[0]) ? "192.0.2.1" : "2001:db8::1", &ext);
	flow_init(&f, &p->ips[0], &ext, POL_PROTO_TCP, 1);
	pol_eval(L->m, &f, 0, &v);
	L->cls[k].iso_eg = v.reason != POL_REASON_POLICY ||
			   (v.egress.state != POL_DIR_NOT_ISOLATED && v.egress.state != POL_DIR_SKIPPED);
	flow_init(&f, &ext, &p->ips[0], POL_PROTO_TCP, 1);
	pol_eval(L->m, &f, 0, &v);
	L->cls[k].iso_in = v.reason != POL_REASON_POLICY ||
			   (v.ingress.state != POL_DIR_NOT_ISOLATED && v.ingress.state != POL_DIR_SKIPPED);
}

static void mark_cls(struct lint *L, size_t k, uint8_t bit)
{
	for (size_t i = 0; i < L->cls[k].n; i++)
		L->mark[L->cls[k].members[i]] |= bit;
}

static const struct pol_labels *ns_labels(struct lint *L, const char *ns);

/* Classes are sorted by namespace; each namespace's run is one group, so
 * a policy looks at its own namespace only, and a namespaceSelector is
 * matched once per namespace rather than once per class. */
static int build_groups(struct lint *L)
{
	L->grp = calloc(L->n_cls ? L->n_cls : 1, sizeof(*L->grp));
	if (!L->grp)
		return -1;
	for (size_t k = 0; k < L->n_cls;) {
		struct nsgrp *g = &L->grp[L->n_grp++];

		g->ns = cls_pod(L, k)->ns;
		g->labels = ns_labels(L, g->ns);
		g->start = k;
		while (k < L->n_cls && strcmp(cls_pod(L, k)->ns, g->ns) == 0)
			k++;
		g->end = k;
	}
	return 0;
}

static size_t grp_find(const struct lint *L, const char *ns)
{
	size_t lo = 0, hi = L->n_grp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(L->grp[mid].ns, ns);

		if (!r)
			return mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

/* ------------------------------------------------------------------ */
/* Flows                                                               */

static bool pick_ips(const struct pol_pod *a, const struct pol_pod *b, struct pol_ip *ia,
		     struct pol_ip *ib)
{
	for (size_t i = 0; i < a->n_ips; i++)
		for (size_t j = 0; j < b->n_ips; j++)
			if (pol_ip_is_v4(&a->ips[i]) == pol_ip_is_v4(&b->ips[j])) {
				*ia = a->ips[i];
				*ib = b->ips[j];
				return true;
			}
	return false;
}

struct tport {
	uint8_t proto;
	uint16_t port;
};

#define MAX_TPORTS 8

/* The concrete ports to try for port entry pt (NULL: the rule has none) on
 * destination dst: what the entry means on that pod. 0 when it means no
 * port there (a named port the pod lacks: NP009's business). */
static size_t test_ports(const struct pol_port *pt, const struct pol_pod *dst, struct tport *out)
{
	size_t n = 0;

	if (pt && pt->has_port && !pt->name && !pt->end_port) {
		out[0] = (struct tport){ pt->proto, pt->port };
		return 1;
	}
	for (size_t i = 0; i < dst->n_ports && n < MAX_TPORTS; i++) {
		const struct pol_container_port *cp = &dst->ports[i];

		if (pt && cp->proto != pt->proto)
			continue;
		if (pt && pt->has_port && pt->name && (!cp->name || strcmp(cp->name, pt->name)))
			continue;
		if (pt && pt->end_port && (cp->port < pt->port || cp->port > pt->end_port))
			continue;
		out[n++] = (struct tport){ cp->proto, cp->port };
	}
	if (!n && pt && pt->has_port && pt->end_port)
		out[n++] = (struct tport){ pt->proto, pt->port };
	return n;
}

static void flow_init(struct pol_flow *f, const struct pol_ip *s, const struct pol_ip *d,
		      uint8_t proto, uint16_t port)
{
	memset(f, 0, sizeof(*f));
	f->src = *s;
	f->dst = *d;
	f->proto = proto;
	f->port = port;
}

/* ------------------------------------------------------------------ */
/* NP001 / NP002: one-sided paths                                      */

struct pol_set {
	const struct pol_policy **p;
	size_t n, cap;
};

static void set_add(struct lint *L, struct pol_set *s, const struct pol_policy *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i] == p)
			return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		const struct pol_policy **q = realloc(s->p, cap * sizeof(*q));

		if (!q) {
			L->oom = true;
			return;
		}
		s->p = q;
		s->cap = cap;
	}
	s->p[s->n++] = p;
}

#define MARK_NEAR 1
#define MARK_FAR 2

struct side {
	bool ingress;                 /* NP001 (else NP002) */
	const struct pol_policy *pol; /* whose rule admits */
	size_t ri;
	const struct pol_port *pt;    /* NULL: rule without ports */
	size_t pj;
	struct pol_set other;         /* the far side's isolating policies */
	const struct pol_peer *peer;  /* the peer that named the far side */
	const char *far_ns;
	uint8_t t_proto;
	uint16_t t_port;
	bool any;
};

enum pair_res { PAIR_NA, PAIR_OK, PAIR_ONE_SIDED };

/* A one-sided pair, held until its namespace group is decided. */
struct pair {
	size_t fi, nk;                           /* far entry, near class */
	const struct pol_policy *const *iso;     /* far side's isolating policies (model's) */
	size_t n_iso;
	uint8_t proto;
	uint16_t port;
};

/* Evaluate src -> dst on the ports the entry means on dst. One-sided when
 * the near direction (the rule's) allows at least one of them and the far
 * direction denies every one it allows; out then says who isolates the far
 * side and which port was tried first. */
static enum pair_res eval_pair(struct lint *L, const struct side *sd, const struct pol_pod *src,
			       const struct pol_pod *dst, struct pair *out)
{
	struct tport tp[MAX_TPORTS];
	size_t n = test_ports(sd->pt, dst, tp);
	struct pol_ip si, di;
	struct pol_verdict v;
	bool admitted = false;

	if (!n || !pick_ips(src, dst, &si, &di))
		return PAIR_NA;
	for (size_t i = 0; i < n; i++) {
		struct pol_flow f;
		const struct pol_dir_result *near, *far;

		flow_init(&f, &si, &di, tp[i].proto, tp[i].port);
		pol_eval(L->m, &f, 0, &v);
		if (v.reason != POL_REASON_POLICY)
			return PAIR_OK;
		near = sd->ingress ? &v.ingress : &v.egress;
		far = sd->ingress ? &v.egress : &v.ingress;
		if (near->state != POL_DIR_ALLOWED)
			continue;
		if (far->state != POL_DIR_DENIED)
			return PAIR_OK;
		if (!admitted) {
			out->iso = far->isolating;
			out->n_iso = far->n_isolating;
			out->proto = tp[i].proto;
			out->port = tp[i].port;
		}
		admitted = true;
	}
	return admitted ? PAIR_ONE_SIDED : PAIR_NA;
}

static void emit_one_sided(struct lint *L, struct side *sd)
{
	struct pol_lint_finding f = { .rule = sd->ingress ? POL_LINT_ONE_SIDED_INGRESS
							  : POL_LINT_ONE_SIDED_EGRESS };
	struct strbuf loc = { 0 }, msg = { 0 }, fix = { 0 }, port = { 0 }, sel = { 0 };
	const struct pol_policy *P = sd->pol;
	const char *dir = sd->ingress ? "ingress" : "egress";
	size_t n_near = 0, n_far = 0;
	/* In the fix, the far side gets the missing rule: it selects the pods
	 * the peer named and admits / reaches the pods P selects. */
	const struct pol_selector *far_sel = sd->peer->pod_sel;
	bool cross = strcmp(sd->far_ns, P->ns) != 0;

	for (size_t i = 0; i < L->c->n_pods; i++) {
		n_near += (L->mark[i] & MARK_NEAR) != 0;
		n_far += (L->mark[i] & MARK_FAR) != 0;
	}
	f_policy(L, &f, P, sd->ingress ? "ingress-policy" : "egress-policy");
	for (size_t i = 0; i < sd->other.n; i++)
		f_policy(L, &f, sd->other.p[i], sd->ingress ? "egress-policy" : "ingress-policy");
	f_marked_pods(L, &f, sd->ingress ? MARK_FAR : MARK_NEAR, "source");
	f_marked_pods(L, &f, sd->ingress ? MARK_NEAR : MARK_FAR, "destination");
	f_port(&f, sd->pt, sd->t_port, sd->t_proto, L);

	strbuf_printf(&loc, "spec.%s[%zu]", dir, sd->ri);
	if (sd->pt)
		strbuf_printf(&loc, ".ports[%zu]", sd->pj);
	port_text(&port, sd->t_proto, sd->pt, sd->t_port);
	if (!sel_empty(sd->peer->pod_sel))
		sel_text(&sel, sd->peer->pod_sel);
	else
		strbuf_puts(&sel, "every pod");
	if (sd->peer->ns_sel) {
		strbuf_puts(&sel, " of namespaces ");
		sel_text(&sel, sd->peer->ns_sel);
	}
	if (sd->ingress) {
		strbuf_printf(&msg, "%s/%s admits %s from %zu pod%s in %s (%s), but their egress "
			  "policies (", P->ns, P->name, port.s ? port.s : "", n_far,
			  n_far == 1 ? "" : "s", sd->far_ns, sel.s ? sel.s : "");
		policy_list_text(&msg, sd->other.p, sd->other.n);
		strbuf_printf(&msg, ") never let them reach the %zu selected pod%s on it", n_near,
			  n_near == 1 ? "" : "s");
	} else {
		strbuf_printf(&msg, "%s/%s lets %zu pod%s reach %zu pod%s (%s) in %s on %s, but the "
			  "ingress policies there (", P->ns, P->name, n_near, n_near == 1 ? "" : "s",
			  n_far, n_far == 1 ? "" : "s", sel.s ? sel.s : "", sd->far_ns,
			  port.s ? port.s : "");
		policy_list_text(&msg, sd->other.p, sd->other.n);
		strbuf_puts(&msg, ") never admit them");
	}

	strbuf_printf(&fix, "add an %s rule in namespace %s, e.g.\n", sd->ingress ? "egress" : "ingress",
		  sd->far_ns);
	yaml_head(&fix, sd->ingress ? "allow-egress-to-" : "allow-ingress-from-", P->name,
		  sd->far_ns);
	yaml_selector(&fix, 2, false, "podSelector", far_sel);
	strbuf_printf(&fix, "  policyTypes:\n  - %s\n  %s:\n  - %s:\n", sd->ingress ? "Egress" : "Ingress",
		  sd->ingress ? "egress" : "ingress", sd->ingress ? "to" : "from");
	yaml_selector(&fix, 4, true, "podSelector", &P->pod_sel);
	if (cross)
		yaml_ns_name(&fix, 6, false, P->ns);
	strbuf_puts(&fix, "    ports:\n");
	yaml_port(&fix, 4, sd->t_proto, sd->pt);
	free(strbuf_take(&port));
	free(strbuf_take(&sel));
	if (port.oom || sel.oom)
		L->oom = true;
	finding_push(L, &f, P->ns, &loc, &msg, NULL, &fix);
}

static void lint_one_sided(struct lint *L, bool ingress)
{
	const struct pol_cluster *c = L->c;
	size_t n = L->n_cls ? L->n_cls : 1;
	size_t *near = malloc(n * sizeof(*near)), *far = malloc(n * sizeof(*far));
	size_t *far_grp = malloc(n * sizeof(*far_grp)), own;
	bool *far_iso = malloc(n * sizeof(*far_iso));
	struct pair *pend = NULL;
	size_t n_pend = 0, cap_pend = 0;
	const struct pol_peer **far_peer = malloc(n * sizeof(*far_peer));
	bool *ns_ok = NULL; /* per peer of the rule: its namespace part matches */
	size_t cap_ok = 0;

	if (!near || !far || !far_peer || !far_grp || !far_iso) {
		L->oom = true;
		goto out;
	}
	for (size_t pi = 0; pi < c->n_policies && !L->oom; pi++) {
		const struct pol_policy *P = c->policies[pi];
		const struct pol_rule *rules_ = ingress ? P->ingress : P->egress;
		size_t n_rules = ingress ? P->n_ingress : P->n_egress, n_near = 0;

		if (!(ingress ? P->type_ingress : P->type_egress) || !n_rules)
			continue;
		own = grp_find(L, P->ns);
		if (own == NONE)
			continue;
		for (size_t k = L->grp[own].start; k < L->grp[own].end; k++)
			if (pol_selector_matches(&P->pod_sel, &cls_pod(L, k)->labels))
				near[n_near++] = k;
		if (!n_near)
			continue;
		for (size_t ri = 0; ri < n_rules && !L->oom; ri++) {
			const struct pol_rule *r = &rules_[ri];
			size_t n_entries = r->n_ports ? r->n_ports : 1, n_far = 0;

			/* The far side the rule names, once per rule: classes in
			 * namespace order, each with the first specific peer that
			 * matches it. A rule open to every peer names no one. */
			if (r->n_peers > cap_ok) {
				bool *q = realloc(ns_ok, r->n_peers * sizeof(*q));

				if (!q) {
					L->oom = true;
					break;
				}
				ns_ok = q;
				cap_ok = r->n_peers;
			}
			for (size_t gi = 0; gi < L->n_grp; gi++) {
				const struct nsgrp *G = &L->grp[gi];
				bool any_ns = false;

				for (size_t e = 0; e < r->n_peers; e++) {
					const struct pol_peer *pe = &r->peers[e];

					ns_ok[e] = peer_specific(pe) &&
						   (pe->ns_sel ? pol_selector_matches(pe->ns_sel, G->labels)
							       : gi == own);
					any_ns |= ns_ok[e];
				}
				if (!any_ns)
					continue;
				for (size_t k = G->start; k < G->end; k++) {
					for (size_t e = 0; e < r->n_peers; e++) {
						const struct pol_peer *pe = &r->peers[e];

						if (ns_ok[e] && (!pe->pod_sel ||
								 pol_selector_matches(pe->pod_sel,
										      &cls_pod(L, k)->labels))) {
							far[n_far] = k;
							far_grp[n_far] = gi;
							/* a class the far direction does not
							 * isolate always gets through: no
							 * flow to evaluate */
							far_iso[n_far] = ingress ? L->cls[k].iso_eg
										 : L->cls[k].iso_in;
							far_peer[n_far++] = pe;
							break;
						}
					}
				}
			}
			for (size_t pj = 0; pj < n_entries && !L->oom; pj++) {
				for (size_t g = 0; g < n_far && !L->oom;) {
					const char *gns = L->grp[far_grp[g]].ns;
					size_t end = g;
					struct side sd = {
						.ingress = ingress, .pol = P, .ri = ri,
						.pt = r->n_ports ? &r->ports[pj] : NULL, .pj = pj,
						.far_ns = gns,
					};

					bool whole_ns_ok = false;

					n_pend = 0;
					while (end < n_far && far_grp[end] == far_grp[g])
						end++;
					for (size_t fi = g; fi < end && !L->oom; fi++) {
						size_t fk = far[fi];
						const struct pol_pod *fp = cls_pod(L, fk);
						bool whole_ns = sel_empty(far_peer[fi]->pod_sel);

						if (!far_iso[fi]) {
							/* not isolated on the far side: reaches */
							whole_ns_ok |= whole_ns;
							continue;
						}
						for (size_t ni = 0; ni < n_near; ni++) {
							size_t nk = near[ni];
							const struct pol_pod *np = cls_pod(L, nk);
							const struct pol_pod *fpod = fp;
							struct pair pr = { .fi = fi, .nk = nk };
							enum pair_res res;

							if (nk == fk) {
								/* pod to another pod of its class */
								if (L->cls[nk].n < 2)
									continue;
								fpod = c->pods[L->cls[nk].members[1]];
							}
							res = eval_pair(L, &sd, ingress ? fpod : np,
									ingress ? np : fpod, &pr);
							if (res == PAIR_OK)
								whole_ns_ok |= whole_ns;
							if (res != PAIR_ONE_SIDED)
								continue;
							if (n_pend == cap_pend) {
								size_t cap = cap_pend ? 2 * cap_pend : 64;
								struct pair *q = realloc(pend, cap * sizeof(*q));

								if (!q) {
									L->oom = true;
									break;
								}
								pend = q;
								cap_pend = cap;
							}
							pend[n_pend++] = pr;
						}
					}
					/* A peer naming whole namespaces admits every pod
					 * there, most of which never meant to connect: it is
					 * one-sided only when no pod of the namespace gets
					 * through. A peer with a pod selector names its
					 * clients, and each of them that cannot is reported. */
					for (size_t i = 0; i < n_pend; i++) {
						const struct pair *pr = &pend[i];

						if (sel_empty(far_peer[pr->fi]->pod_sel) && whole_ns_ok)
							continue;
						mark_cls(L, far[pr->fi], MARK_FAR);
						mark_cls(L, pr->nk, MARK_NEAR);
						for (size_t k = 0; k < pr->n_iso; k++)
							set_add(L, &sd.other, pr->iso[k]);
						if (!sd.peer) {
							sd.peer = far_peer[pr->fi];
							sd.t_proto = pr->proto;
							sd.t_port = pr->port;
						}
						sd.any = true;
					}
					if (sd.any) {
						emit_one_sided(L, &sd);
						/* marks are only set with any: clear them here
						 * rather than for every group */
						memset(L->mark, 0, c->n_pods);
					}
					free(sd.other.p);
					g = end;
				}
			}
		}
	}
out:
	free(pend);
	free(far_iso);
	free(ns_ok);
	free(near);
	free(far);
	free(far_grp);
	free(far_peer);
}

static void lint_one_sided_ingress(struct lint *L)
{
	lint_one_sided(L, true);
}

static void lint_one_sided_egress(struct lint *L)
{
	lint_one_sided(L, false);
}

/* ------------------------------------------------------------------ */
/* NP003: egress isolation without DNS                                 */

static bool is_dns_pod(const struct pol_pod *p)
{
	const char *v = pol_labels_get(&p->labels, "k8s-app");

	return v && (strcmp(v, "kube-dns") == 0 || strcmp(v, "coredns") == 0);
}

/* The rule lets port 53 out somewhere: a DNS port to any peer, or every
 * port to an address block (a resolver outside the cluster). */
static bool rule_allows_dns_port(const struct pol_rule *r)
{
	if (!r->n_ports) {
		if (!r->n_peers)
			return true;
		for (size_t i = 0; i < r->n_peers; i++)
			if (r->peers[i].ipblock)
				return true;
		return false;
	}
	for (size_t i = 0; i < r->n_ports; i++) {
		const struct pol_port *p = &r->ports[i];

		if (p->proto != POL_PROTO_UDP && p->proto != POL_PROTO_TCP)
			continue;
		if (!p->has_port)
			return true;
		if (p->name)
			continue;
		if (p->port == 53 || (p->end_port && p->port <= 53 && 53 <= p->end_port))
			return true;
	}
	return false;
}

static void lint_dns(struct lint *L)
{
	const struct pol_cluster *c = L->c;
	size_t *dns = malloc((L->n_cls ? L->n_cls : 1) * sizeof(*dns)), n_dns = 0;

	if (!dns) {
		L->oom = true;
		return;
	}
	for (size_t k = 0; k < L->n_cls; k++)
		if (is_dns_pod(cls_pod(L, k)))
			dns[n_dns++] = k;
	for (size_t g = 0; g < L->n_cls && !L->oom;) {
		const char *gns = cls_pod(L, g)->ns;
		size_t end = g;
		struct pol_set iso = { 0 };
		bool any = false;

		while (end < L->n_cls && strcmp(cls_pod(L, end)->ns, gns) == 0)
			end++;
		for (size_t k = g; k < end; k++) {
			const struct pol_pod *p = cls_pod(L, k);
			struct pol_ip probe, any_dst;
			struct pol_flow f;
			struct pol_verdict v;
			bool ok = false, v4 = pol_ip_is_v4(&p->ips[0]);

			/* An address no cluster uses (TEST-NET / documentation
			 * prefix): tells whether egress is isolated at all, and by
			 * which policies, without depending on DNS pods existing. */
			pol_ip_parse(v4 ? "192.0.2.53" : "2001:db8::53", &any_dst);
			flow_init(&f, &p->ips[0], &any_dst, POL_PROTO_UDP, 53);
			pol_eval(L->m, &f, 0, &v);
			if (v.reason != POL_REASON_POLICY || v.egress.state != POL_DIR_DENIED)
				continue;
			for (size_t d = 0; d < n_dns && !ok; d++) {
				static const uint8_t protos[] = { POL_PROTO_UDP, POL_PROTO_TCP };

				for (size_t q = 0; q < 2 && !ok; q++) {
					struct pol_verdict dv;
					struct pol_ip from;

					if (!pick_ips(p, cls_pod(L, dns[d]), &from, &probe))
						break;
					flow_init(&f, &from, &probe, protos[q], 53);
					pol_eval(L->m, &f, 0, &dv);
					ok = dv.reason != POL_REASON_POLICY ||
					     dv.egress.state != POL_DIR_DENIED;
				}
			}
			for (size_t i = 0; i < v.egress.n_isolating && !ok; i++) {
				const struct pol_policy *ip = v.egress.isolating[i];

				for (size_t r = 0; r < ip->n_egress && !ok; r++)
					ok = rule_allows_dns_port(&ip->egress[r]);
			}
			if (ok)
				continue;
			any = true;
			mark_cls(L, k, MARK_NEAR);
			for (size_t i = 0; i < v.egress.n_isolating; i++)
				set_add(L, &iso, v.egress.isolating[i]);
		}
		if (any) {
			struct pol_lint_finding fd = { .rule = POL_LINT_EGRESS_WITHOUT_DNS };
			struct strbuf msg = { 0 }, fix = { 0 };
			size_t n = 0;
			const struct pol_pod *dp = n_dns ? cls_pod(L, dns[0]) : NULL;
			struct pol_selector dsel = { 0 };
			struct pol_label dl = { (char *)"k8s-app",
						(char *)(dp ? pol_labels_get(&dp->labels, "k8s-app")
							    : "kube-dns") };

			for (size_t i = 0; i < c->n_pods; i++)
				n += (L->mark[i] & MARK_NEAR) != 0;
			/* the namespace first: it is what the finding is about */
			f_obj(L, &fd, POL_LINT_OBJ_NAMESPACE, NULL, gns, "namespace");
			for (size_t i = 0; i < iso.n; i++)
				f_policy(L, &fd, iso.p[i], "egress-policy");
			f_marked_pods(L, &fd, MARK_NEAR, "source");
			strbuf_printf(&msg, "%zu pod%s in %s %s isolated for egress (by ", n,
				  n == 1 ? "" : "s", gns, n == 1 ? "is" : "are");
			policy_list_text(&msg, iso.p, iso.n);
			strbuf_printf(&msg, ") and can reach neither %s nor port 53 anywhere, so name "
				  "resolution fails", n_dns ? "a cluster DNS pod"
				  : "a DNS pod (none labelled k8s-app=kube-dns in the input)");
			dsel.match_labels.items = &dl;
			dsel.match_labels.n = 1;
			strbuf_printf(&fix, "allow DNS for every pod of %s:\n", gns);
			yaml_head(&fix, "allow-dns", "", gns);
			strbuf_puts(&fix, "  podSelector: {}\n  policyTypes:\n  - Egress\n  egress:\n  - to:\n");
			yaml_ns_name(&fix, 4, true, dp ? dp->ns : "kube-system");
			yaml_selector(&fix, 6, false, "podSelector", &dsel);
			strbuf_puts(&fix, "    ports:\n    - protocol: UDP\n      port: 53\n"
				      "    - protocol: TCP\n      port: 53\n");
			finding_push(L, &fd, gns, NULL, &msg, NULL, &fix);
			memset(L->mark, 0, c->n_pods);
		}
		free(iso.p);
		g = end;
	}
	free(dns);
}

/* ------------------------------------------------------------------ */
/* NP004 / NP005 / NP010: selectors that match nothing                 */

struct strv {
	const char **v;
	size_t n, cap;
};

static void strv_add(struct lint *L, struct strv *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		const char **q = realloc(s->v, cap * sizeof(*q));

		if (!q) {
			L->oom = true;
			return;
		}
		s->v = q;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

/* Why no label set of cands satisfies sel: the first requirement none of
 * them meets, with the nearest existing key or value. what names the
 * objects ("pod in production", "namespace"). The corrected text goes to
 * fix when there is one. Returns whether a requirement failed on its own. */
static bool selector_hint(struct lint *L, const struct pol_selector *sel,
			  const struct pol_labels *const *cands, size_t n, const char *what,
			  struct strbuf *hint, struct strbuf *fixtxt)
{
	for (size_t i = 0; i < sel_n_reqs(sel); i++) {
		struct req r;
		struct strv keys = { 0 }, vals = { 0 };
		bool key_seen = false, met = false;

		sel_req(sel, i, &r);
		if (r.op == POL_SEL_NOT_IN || r.op == POL_SEL_DOES_NOT_EXIST) {
			/* an exclusion fails alone when it excludes every candidate */
			bool all = n > 0;

			for (size_t j = 0; j < n && all; j++) {
				const char *v = pol_labels_get(cands[j], r.key);

				all = v && (r.op == POL_SEL_DOES_NOT_EXIST ||
					    in_set(v, r.values, r.n_values));
			}
			if (!all)
				continue;
			if (r.op == POL_SEL_DOES_NOT_EXIST)
				strbuf_printf(hint, "every %s carries the label key \"%s\"", what, r.key);
			else
				strbuf_printf(hint, "every %s has a %s value the NotIn list excludes", what,
					  r.key);
			return true;
		}
		for (size_t j = 0; j < n; j++) {
			const char *v = pol_labels_get(cands[j], r.key);

			for (size_t k = 0; k < cands[j]->n; k++)
				strv_add(L, &keys, cands[j]->items[k].key);
			if (!v)
				continue;
			key_seen = true;
			strv_add(L, &vals, v);
			if (r.op == POL_SEL_EXISTS || in_set(v, r.values, r.n_values))
				met = true;
		}
		if (met) {
			free(keys.v);
			free(vals.v);
			continue;
		}
		if (!key_seen) {
			const char *near = pol_lint_nearest(r.key, keys.v, keys.n);

			strbuf_printf(hint, "no %s carries the label key \"%s\"", what, r.key);
			if (near) {
				strbuf_printf(hint, "; did you mean \"%s\"?", near);
				strbuf_printf(fixtxt, "change the key \"%s\" to \"%s\"", r.key, near);
			}
		} else {
			const char *near = NULL, *bad = r.n_values ? r.values[0] : "";

			for (size_t k = 0; k < r.n_values && !near; k++) {
				near = pol_lint_nearest(r.values[k], vals.v, vals.n);
				bad = r.values[k];
			}
			strbuf_printf(hint, "no %s has %s=%s", what, r.key, bad);
			if (near) {
				strbuf_printf(hint, "; did you mean %s=%s?", r.key, near);
				strbuf_printf(fixtxt, "change \"%s: %s\" to \"%s: %s\"", r.key, bad, r.key,
					  near);
			} else {
				strbuf_printf(hint, " (values present:");
				for (size_t k = 0; k < vals.n && k < 8; k++)
					strbuf_printf(hint, " %s", vals.v[k]);
				strbuf_puts(hint, vals.n > 8 ? " ...)" : ")");
			}
		}
		free(keys.v);
		free(vals.v);
		return true;
	}
	strbuf_printf(hint, "each requirement matches some %s, but none matches all of them together",
		  what);
	return false;
}

/* Label sets of live workload pods in namespace ns (NULL: every namespace);
 * returns the count written to out (sized n_pods). */
static size_t pod_label_sets(struct lint *L, const char *ns, const struct pol_labels **out)
{
	size_t n = 0;

	for (size_t i = 0; i < L->c->n_pods; i++) {
		const struct pol_pod *p = L->c->pods[i];

		if (pod_workload(p) && (!ns || strcmp(p->ns, ns) == 0))
			out[n++] = &p->labels;
	}
	return n;
}

static size_t count_pods(struct lint *L, const struct pol_selector *sel, const char *ns)
{
	size_t n = 0;

	for (size_t i = 0; i < L->c->n_pods; i++) {
		const struct pol_pod *p = L->c->pods[i];

		if (pod_workload(p) && strcmp(p->ns, ns) == 0 &&
		    pol_selector_matches(sel, &p->labels))
			n++;
	}
	return n;
}

/* NP010 */
static void lint_policy_selects(struct lint *L, const struct pol_policy *P,
				const struct pol_labels **sets)
{
	struct pol_lint_finding f = { .rule = POL_LINT_POLICY_SELECTS_NO_POD };
	struct strbuf msg = { 0 }, hint = { 0 }, fix = { 0 }, fx = { 0 }, what = { 0 }, loc = { 0 };
	size_t n;

	if (count_pods(L, &P->pod_sel, P->ns))
		return;
	f_policy(L, &f, P, "policy");
	strbuf_puts(&loc, "spec.podSelector");
	n = pod_label_sets(L, P->ns, sets);
	if (sel_empty(&P->pod_sel)) {
		strbuf_printf(&msg, "%s/%s selects every pod of %s, which has none", P->ns, P->name, P->ns);
		strbuf_puts(&fix, "nothing to do if the workload is still to come; otherwise delete the policy");
	} else {
		strbuf_printf(&msg, "%s/%s selects no pod: nothing in %s carries ", P->ns, P->name, P->ns);
		sel_text(&msg, &P->pod_sel);
		if (n) {
			strbuf_printf(&what, "pod in %s", P->ns);
		} else {
			strbuf_puts(&what, "pod in the cluster");
			n = pod_label_sets(L, NULL, sets);
		}
		selector_hint(L, &P->pod_sel, sets, n, what.s ? what.s : "pod", &hint, &fx);
		if (fx.len)
			strbuf_printf(&fix, "in spec.podSelector, %s", fx.s);
		else
			strbuf_puts(&fix, "correct spec.podSelector to the labels of the intended pods, "
				      "or delete the policy if the workload is gone");
	}
	free(strbuf_take(&fx));
	free(strbuf_take(&what));
	finding_push(L, &f, P->ns, &loc, &msg, &hint, &fix);
}

static bool any_ns_has_key(struct lint *L, const char *key)
{
	for (size_t i = 0; i < L->c->n_namespaces; i++)
		if (pol_labels_get(&L->c->namespaces[i]->labels, key))
			return true;
	return false;
}

static bool ns_exists(struct lint *L, const char *name)
{
	return pol_model_namespace(L->m, name) != NULL;
}

/* NP005 for one namespaceSelector; true when it fired. */
static bool lint_ns_keys(struct lint *L, const struct pol_policy *P, const struct pol_selector *s,
			 const char *where)
{
	struct pol_lint_finding f = { .rule = POL_LINT_NAMESPACE_LABEL_UNKNOWN };
	struct strbuf msg = { 0 }, hint = { 0 }, fix = { 0 }, loc = { 0 };
	struct strv keys = { 0 };
	const char *bad = NULL, *bad_val = NULL;

	for (size_t i = 0; i < sel_n_reqs(s) && !bad; i++) {
		struct req r;

		sel_req(s, i, &r);
		if ((r.op == POL_SEL_IN || r.op == POL_SEL_EXISTS) && !any_ns_has_key(L, r.key)) {
			bad = r.key;
			bad_val = r.op == POL_SEL_IN && r.n_values == 1 ? r.values[0] : NULL;
		}
	}
	if (!bad)
		return false;
	for (size_t i = 0; i < L->c->n_namespaces; i++) {
		const struct pol_labels *l = &L->c->namespaces[i]->labels;

		for (size_t k = 0; k < l->n; k++)
			strv_add(L, &keys, l->items[k].key);
	}
	f_policy(L, &f, P, "policy");
	strbuf_printf(&loc, "%s.namespaceSelector", where);
	strbuf_printf(&msg, "namespaceSelector key \"%s\" is carried by no namespace, so this peer "
		  "matches nothing", bad);
	if (bad_val && ns_exists(L, bad_val)) {
		strbuf_printf(&hint, "namespace %s exists; every namespace carries "
			  "kubernetes.io/metadata.name=<its name>", bad_val);
		strbuf_printf(&fix, "in %s.namespaceSelector.matchLabels, replace \"%s: %s\" with "
			  "\"kubernetes.io/metadata.name: %s\"", where, bad, bad_val, bad_val);
		f_obj(L, &f, POL_LINT_OBJ_NAMESPACE, NULL, bad_val, "namespace");
	} else {
		const char *near = pol_lint_nearest(bad, keys.v, keys.n);

		if (near) {
			strbuf_printf(&hint, "did you mean \"%s\"?", near);
			strbuf_printf(&fix, "in %s.namespaceSelector, change the key \"%s\" to \"%s\"",
				  where, bad, near);
		} else {
			strbuf_printf(&fix, "label the intended namespaces (kubectl label namespace NAME "
				  "%s=...), or select them by kubernetes.io/metadata.name", bad);
		}
	}
	free(keys.v);
	finding_push(L, &f, P->ns, &loc, &msg, &hint, &fix);
	return true;
}

/* NP004 for one peer. */
static void lint_peer_selects(struct lint *L, const struct pol_policy *P, const struct pol_peer *pe,
			      const char *where, const struct pol_labels **sets)
{
	const struct pol_cluster *c = L->c;
	struct pol_lint_finding f = { .rule = POL_LINT_SELECTOR_MATCHES_NOTHING };
	struct strbuf msg = { 0 }, hint = { 0 }, fix = { 0 }, fx = { 0 }, loc = { 0 };
	size_t n = 0, n_ns = 0;

	if (pe->ipblock)
		return;
	if (pe->ns_sel) {
		if (!c->n_namespaces)
			return;
		if (lint_ns_keys(L, P, pe->ns_sel, where))
			return;
		for (size_t i = 0; i < c->n_namespaces; i++)
			if (pol_selector_matches(pe->ns_sel, &c->namespaces[i]->labels))
				n_ns++;
		if (!n_ns) {
			for (size_t i = 0; i < c->n_namespaces; i++)
				sets[n++] = &c->namespaces[i]->labels;
			f_policy(L, &f, P, "policy");
			strbuf_printf(&loc, "%s.namespaceSelector", where);
			strbuf_puts(&msg, "namespaceSelector ");
			sel_text(&msg, pe->ns_sel);
			strbuf_puts(&msg, " matches no namespace");
			selector_hint(L, pe->ns_sel, sets, n, "namespace", &hint, &fx);
			if (fx.len)
				strbuf_printf(&fix, "in %s.namespaceSelector, %s", where, fx.s);
			else
				strbuf_puts(&fix, "label the intended namespaces or correct the selector");
			free(strbuf_take(&fx));
			finding_push(L, &f, P->ns, &loc, &msg, &hint, &fix);
			return;
		}
	}
	if (!pe->pod_sel || sel_empty(pe->pod_sel) || !c->n_pods)
		return;
	/* pods in scope: the selected namespaces, or the policy's own */
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];

		if (!pod_workload(p))
			continue;
		if (pe->ns_sel ? !pol_selector_matches(pe->ns_sel, ns_labels(L, p->ns))
			       : strcmp(p->ns, P->ns) != 0)
			continue;
		if (pol_selector_matches(pe->pod_sel, &p->labels))
			return;
		sets[n++] = &p->labels;
	}
	f_policy(L, &f, P, "policy");
	strbuf_printf(&loc, "%s.podSelector", where);
	strbuf_puts(&msg, "podSelector ");
	sel_text(&msg, pe->pod_sel);
	if (pe->ns_sel) {
		strbuf_puts(&msg, " matches no pod in the namespaces selected by ");
		sel_text(&msg, pe->ns_sel);
	} else {
		strbuf_printf(&msg, " matches no pod in %s", P->ns);
		f_obj(L, &f, POL_LINT_OBJ_NAMESPACE, NULL, P->ns, "namespace");
	}
	if (!n) {
		n = pod_label_sets(L, NULL, sets);
		selector_hint(L, pe->pod_sel, sets, n, "pod in the cluster", &hint, &fx);
		strbuf_puts(&msg, " (there is no pod in scope)");
	} else {
		selector_hint(L, pe->pod_sel, sets, n, "pod in scope", &hint, &fx);
	}
	if (fx.len)
		strbuf_printf(&fix, "in %s.podSelector, %s", where, fx.s);
	else if (!pe->ns_sel)
		strbuf_printf(&fix, "the pods may live in another namespace: add a namespaceSelector to "
			  "%s, or correct the podSelector", where);
	else
		strbuf_puts(&fix, "correct the podSelector to the labels of the intended pods");
	free(strbuf_take(&fx));
	finding_push(L, &f, P->ns, &loc, &msg, &hint, &fix);
}

static void lint_selectors(struct lint *L)
{
	const struct pol_cluster *c = L->c;
	const struct pol_labels **sets;
	size_t max = c->n_pods > c->n_namespaces ? c->n_pods : c->n_namespaces;

	sets = malloc((max ? max : 1) * sizeof(*sets));
	if (!sets) {
		L->oom = true;
		return;
	}
	if (!c->n_pods) {
		skip_rule(L, POL_LINT_POLICY_SELECTS_NO_POD, "the input holds no pod");
	}
	if (!c->n_namespaces)
		skip_rule(L, POL_LINT_NAMESPACE_LABEL_UNKNOWN, "the input holds no namespace");
	for (size_t pi = 0; pi < c->n_policies && !L->oom; pi++) {
		const struct pol_policy *P = c->policies[pi];

		if (c->n_pods)
			lint_policy_selects(L, P, sets);
		for (int d = 0; d < 2; d++) {
			const struct pol_rule *rs = d ? P->egress : P->ingress;
			size_t nr = d ? P->n_egress : P->n_ingress;

			for (size_t ri = 0; ri < nr; ri++) {
				for (size_t k = 0; k < rs[ri].n_peers; k++) {
					char where[80];

					snprintf(where, sizeof(where), "spec.%s[%zu].%s[%zu]",
						 d ? "egress" : "ingress", ri, d ? "to" : "from", k);
					lint_peer_selects(L, P, &rs[ri].peers[k], where, sets);
				}
			}
		}
	}
	free(sets);
}

/* ------------------------------------------------------------------ */
/* NP006 / NP007 / NP008: ipBlocks                                     */

static unsigned common_prefix(const struct pol_ip *a, const struct pol_ip *b)
{
	unsigned n = 0;

	for (size_t i = 0; i < 16; i++) {
		uint8_t x = a->b[i] ^ b->b[i];

		if (!x) {
			n += 8;
			continue;
		}
		while (!(x & 0x80)) {
			n++;
			x <<= 1;
		}
		break;
	}
	return n;
}

static void lint_ipblock_pods(struct lint *L, const struct pol_policy *P, bool egress,
			      const struct pol_ipblock *b, const char *where)
{
	const struct pol_cluster *c = L->c;
	struct pol_lint_finding f = { .rule = POL_LINT_IPBLOCK_COVERS_PODS };
	struct strbuf msg = { 0 }, fix = { 0 }, loc = { 0 };
	struct pol_ip lo = { { 0 } };
	unsigned plen = 128;
	size_t n = 0;
	char block[POL_CIDR_STRLEN], pref[POL_CIDR_STRLEN];

	memset(L->mark, 0, c->n_pods);
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];

		if (!pod_ident(p))
			continue;
		for (size_t j = 0; j < p->n_ips; j++) {
			if (!ipblock_has_ip(b, &p->ips[j]))
				continue;
			if (!n)
				lo = p->ips[j];
			else
				plen = plen < common_prefix(&lo, &p->ips[j]) ? plen
									     : common_prefix(&lo, &p->ips[j]);
			L->mark[i] = MARK_NEAR;
			n++;
			break;
		}
	}
	if (!n)
		return;
	f_policy(L, &f, P, "policy");
	f_marked_pods(L, &f, MARK_NEAR, "covered");
	pol_cidr_format(&b->cidr, block, sizeof(block));
	strbuf_printf(&loc, "%s.ipBlock", where);
	strbuf_printf(&msg, "ipBlock %s covers the IP of %zu pod%s; npshim matches pod traffic against "
		  "ipBlocks by address, so this rule %s them too", block, f.n_pods,
		  f.n_pods == 1 ? "" : "s", egress ? "reaches" : "admits");
	if (plen < b->cidr.len)
		plen = b->cidr.len;
	if (plen > b->cidr.len) {
		struct pol_cidr pc = { .addr = lo, .len = (uint8_t)plen, .v4 = b->cidr.v4 };

		/* clear host bits: format the network, not the first pod */
		for (unsigned bit = plen; bit < 128; bit++)
			pc.addr.b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		pol_cidr_format(&pc, pref, sizeof(pref));
		strbuf_printf(&fix, "if the rule is meant for traffic outside the cluster, exclude the "
			  "pod addresses:\n  ipBlock:\n    cidr: %s\n    except:\n", block);
		for (size_t i = 0; i < b->n_except; i++) {
			char e[POL_CIDR_STRLEN];

			strbuf_printf(&fix, "    - %s\n", pol_cidr_format(&b->except[i], e, sizeof(e)));
		}
		strbuf_printf(&fix, "    - %s\nand select pods with podSelector/namespaceSelector peers", pref);
	} else {
		strbuf_printf(&fix, "select these pods with podSelector/namespaceSelector peers instead of "
			  "ipBlock %s (pod IPs change when pods are rescheduled)", block);
	}
	finding_push(L, &f, P->ns, &loc, &msg, NULL, &fix);
}

static void lint_except(struct lint *L, const struct pol_policy *P, const struct pol_ipblock *b,
			const char *where)
{
	for (size_t i = 0; i < b->n_except; i++) {
		const struct pol_cidr *e = &b->except[i];
		struct pol_lint_finding f = { .rule = POL_LINT_EXCEPT_REMOVES_NOTHING };
		struct strbuf msg = { 0 }, fix = { 0 }, loc = { 0 };
		char es[POL_CIDR_STRLEN], bs[POL_CIDR_STRLEN];
		size_t by = NONE;

		pol_cidr_format(e, es, sizeof(es));
		pol_cidr_format(&b->cidr, bs, sizeof(bs));
		if (cidr_within(&b->cidr, e)) {
			if (e->len == b->cidr.len)
				continue; /* removes everything: not "nothing" */
			for (size_t j = 0; j < b->n_except && by == NONE; j++) {
				if (j == i || !cidr_within(&b->except[j], e))
					continue;
				/* of two equal entries, the later one is redundant */
				if (b->except[j].len == e->len && j > i)
					continue;
				by = j;
			}
			if (by == NONE)
				continue;
		}
		f_policy(L, &f, P, "policy");
		strbuf_printf(&loc, "%s.ipBlock.except[%zu]", where, i);
		if (by == NONE) {
			strbuf_printf(&msg, "except %s lies outside cidr %s and removes nothing (the API "
				  "server rejects it)", es, bs);
			strbuf_printf(&fix, "delete except entry %s, or correct it to a range inside %s", es, bs);
		} else {
			char os[POL_CIDR_STRLEN];

			pol_cidr_format(&b->except[by], os, sizeof(os));
			strbuf_printf(&msg, "except %s removes nothing: except %s already covers it", es, os);
			strbuf_printf(&fix, "delete except entry %s", es);
		}
		finding_push(L, &f, P->ns, &loc, &msg, NULL, &fix);
	}
}

static void lint_cidr_texts(struct lint *L)
{
	if (!L->o)
		return;
	for (size_t i = 0; i < L->o->n_cidr_texts; i++) {
		const struct pol_lint_cidr_text *t = &L->o->cidr_texts[i];
		struct pol_lint_finding f = { .rule = POL_LINT_NONCANONICAL_CIDR };
		struct strbuf msg = { 0 }, fix = { 0 }, loc = { 0 };
		char canon[POL_CIDR_STRLEN];

		if (!t->ns || !t->policy || !t->text ||
		    !pol_lint_cidr_noncanonical(t->text, canon, sizeof(canon)))
			continue;
		f_obj(L, &f, POL_LINT_OBJ_POLICY, t->ns, t->policy, "policy");
		if (t->location)
			strbuf_puts(&loc, t->location);
		strbuf_printf(&msg, "CIDR %s has host bits set; it means %s, not the address it names",
			  t->text, canon);
		/* the parse succeeded, so the text has a slash */
		strbuf_printf(&fix, "write %s, or %.*s/%s if the single address was meant", canon,
			  (int)(strchr(t->text, '/') - t->text), t->text,
			  strchr(t->text, ':') ? "128" : "32");
		finding_push(L, &f, t->ns, &loc, &msg, NULL, &fix);
	}
}

static void lint_ipblocks(struct lint *L)
{
	const struct pol_cluster *c = L->c;

	for (size_t pi = 0; pi < c->n_policies && !L->oom; pi++) {
		const struct pol_policy *P = c->policies[pi];

		for (int d = 0; d < 2; d++) {
			const struct pol_rule *rs = d ? P->egress : P->ingress;
			size_t nr = d ? P->n_egress : P->n_ingress;

			for (size_t ri = 0; ri < nr; ri++) {
				for (size_t k = 0; k < rs[ri].n_peers; k++) {
					const struct pol_ipblock *b = rs[ri].peers[k].ipblock;
					char where[80];

					if (!b)
						continue;
					snprintf(where, sizeof(where), "spec.%s[%zu].%s[%zu]",
						 d ? "egress" : "ingress", ri, d ? "to" : "from", k);
					if (c->n_pods)
						lint_ipblock_pods(L, P, d, b, where);
					lint_except(L, P, b, where);
				}
			}
		}
	}
	lint_cidr_texts(L);
}

/* ------------------------------------------------------------------ */
/* NP009: named ports                                                  */

static bool pod_has_port_name(const struct pol_pod *p, const char *name, uint8_t proto)
{
	for (size_t i = 0; i < p->n_ports; i++)
		if (p->ports[i].name && strcmp(p->ports[i].name, name) == 0 &&
		    p->ports[i].proto == proto)
			return true;
	return false;
}

static void lint_named_port(struct lint *L, const struct pol_policy *P, bool egress,
			    const struct pol_rule *r, size_t ri, size_t pj)
{
	const struct pol_cluster *c = L->c;
	const struct pol_port *pt = &r->ports[pj];
	struct pol_lint_finding f = { .rule = POL_LINT_NAMED_PORT_UNDEFINED };
	struct strbuf msg = { 0 }, hint = { 0 }, fix = { 0 }, loc = { 0 };
	struct strv names = { 0 };
	const char *other_proto = NULL;
	size_t n = 0;

	memset(L->mark, 0, c->n_pods);
	/* the pods the name resolves against: the destinations */
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];
		bool dst = false;

		if (!pod_workload(p))
			continue;
		if (!egress) {
			dst = policy_selects(P, p);
		} else if (!r->n_peers) {
			dst = true;
		} else {
			for (size_t k = 0; k < r->n_peers && !dst; k++)
				dst = peer_has_pod(L, P, &r->peers[k], p);
		}
		if (!dst)
			continue;
		if (pod_has_port_name(p, pt->name, pt->proto)) {
			/* One destination defines it: no finding, but the
			 * names of the pods seen before it were collected. */
			free(names.v);
			return;
		}
		L->mark[i] = MARK_NEAR;
		n++;
		for (size_t j = 0; j < p->n_ports; j++) {
			if (!p->ports[j].name)
				continue;
			strv_add(L, &names, p->ports[j].name);
			if (strcmp(p->ports[j].name, pt->name) == 0)
				other_proto = pol_proto_name(p->ports[j].proto);
		}
	}
	if (!n) {
		free(names.v);
		return;
	}
	f_policy(L, &f, P, "policy");
	f_marked_pods(L, &f, MARK_NEAR, "destination");
	f_port(&f, pt, 0, 0, L);
	strbuf_printf(&loc, "spec.%s[%zu].ports[%zu]", egress ? "egress" : "ingress", ri, pj);
	if (n == 1)
		strbuf_printf(&msg, "named port \"%s\"/%s is not defined by the %s pod, so this entry "
			  "matches no port", pt->name, pol_proto_name(pt->proto),
			  egress ? "destination" : "selected");
	else
		strbuf_printf(&msg, "named port \"%s\"/%s is defined by none of the %zu %s pods, so "
			  "this entry matches no port", pt->name, pol_proto_name(pt->proto), n,
			  egress ? "destination" : "selected");
	if (other_proto) {
		strbuf_printf(&hint, "the pods define \"%s\" with protocol %s", pt->name, other_proto);
		strbuf_printf(&fix, "set protocol: %s on this port entry", other_proto);
	} else {
		const char *near = pol_lint_nearest(pt->name, names.v, names.n);

		if (near) {
			strbuf_printf(&hint, "did you mean \"%s\"?", near);
			strbuf_printf(&fix, "change port: %s to port: %s", pt->name, near);
		} else {
			strbuf_puts(&fix, "use a port name the pods define in spec.containers[].ports[].name, "
				      "or the port number");
			if (names.n) {
				strbuf_puts(&hint, "names defined:");
				for (size_t k = 0; k < names.n && k < 8; k++)
					strbuf_printf(&hint, " %s", names.v[k]);
			}
		}
	}
	free(names.v);
	finding_push(L, &f, P->ns, &loc, &msg, &hint, &fix);
}

static void lint_named_ports(struct lint *L)
{
	const struct pol_cluster *c = L->c;

	if (!c->n_pods) {
		skip_rule(L, POL_LINT_NAMED_PORT_UNDEFINED, "the input holds no pod");
		return;
	}
	for (size_t pi = 0; pi < c->n_policies && !L->oom; pi++) {
		const struct pol_policy *P = c->policies[pi];

		for (int d = 0; d < 2; d++) {
			const struct pol_rule *rs = d ? P->egress : P->ingress;
			size_t nr = d ? P->n_egress : P->n_ingress;

			for (size_t ri = 0; ri < nr; ri++)
				for (size_t pj = 0; pj < rs[ri].n_ports; pj++)
					if (rs[ri].ports[pj].has_port && rs[ri].ports[pj].name)
						lint_named_port(L, P, d, &rs[ri], ri, pj);
		}
	}
}

/* ------------------------------------------------------------------ */
/* NP011: namespaces without default deny                              */

static bool system_namespace(const char *ns)
{
	return strcmp(ns, "kube-system") == 0 || strcmp(ns, "kube-public") == 0 ||
	       strcmp(ns, "kube-node-lease") == 0;
}

static void lint_default_deny(struct lint *L)
{
	const struct pol_cluster *c = L->c;
	struct strv seen = { 0 };

	if (!c->n_pods) {
		skip_rule(L, POL_LINT_NAMESPACE_WITHOUT_DEFAULT_DENY, "the input holds no pod");
		return;
	}
	for (size_t i = 0; i < c->n_pods && !L->oom; i++) {
		const char *ns = c->pods[i]->ns;
		bool in = false, eg = false;
		size_t n = 0;

		if (!pod_workload(c->pods[i]))
			continue;
		for (size_t k = 0; k < seen.n && !in; k++)
			in = strcmp(seen.v[k], ns) == 0;
		if (in)
			continue;
		strv_add(L, &seen, ns);
		/* system namespaces run the cluster itself; a default deny there
		 * is a deliberate project, not a lint default */
		if (system_namespace(ns) && !(L->o && L->o->ns && strcmp(L->o->ns, ns) == 0))
			continue;
		for (size_t k = 0; k < c->n_policies; k++) {
			const struct pol_policy *P = c->policies[k];

			if (strcmp(P->ns, ns) || !sel_empty(&P->pod_sel))
				continue;
			in |= P->type_ingress;
			eg |= P->type_egress;
		}
		if (in)
			continue;
		struct pol_lint_finding f = { .rule = POL_LINT_NAMESPACE_WITHOUT_DEFAULT_DENY };
		struct strbuf msg = { 0 }, fix = { 0 };

		memset(L->mark, 0, c->n_pods);
		for (size_t k = 0; k < c->n_pods; k++)
			if (pod_workload(c->pods[k]) && strcmp(c->pods[k]->ns, ns) == 0) {
				L->mark[k] = MARK_NEAR;
				n++;
			}
		f_obj(L, &f, POL_LINT_OBJ_NAMESPACE, NULL, ns, "namespace");
		f_marked_pods(L, &f, MARK_NEAR, "selected");
		strbuf_printf(&msg, "namespace %s runs %zu pod%s and has no default-deny policy for ingress%s:"
			  " any new workload there is reachable from everywhere", ns, n,
			  n == 1 ? "" : "s", eg ? "" : " (nor for egress)");
		strbuf_puts(&fix, "isolate every pod, then allow what each one needs:\n");
		yaml_head(&fix, "default-deny-ingress", "", ns);
		strbuf_puts(&fix, "  podSelector: {}\n  policyTypes:\n  - Ingress\n");
		finding_push(L, &f, ns, NULL, &msg, NULL, &fix);
	}
	free(seen.v);
}

/* ------------------------------------------------------------------ */
/* NP012: shadowed rules                                               */

static void lint_shadowed(struct lint *L)
{
	const struct pol_cluster *c = L->c;

	for (size_t pi = 0; pi < c->n_policies && !L->oom; pi++) {
		const struct pol_policy *P = c->policies[pi];

		for (int d = 0; d < 2; d++) {
			const struct pol_rule *rs = d ? P->egress : P->ingress;
			size_t nr = d ? P->n_egress : P->n_ingress;
			const char *dir = d ? "egress" : "ingress";

			for (size_t a = 0; a < nr; a++) {
				for (size_t b = 0; b < nr; b++) {
					struct pol_lint_finding f = { .rule = POL_LINT_SHADOWED_RULE };
					struct strbuf msg = { 0 }, fix = { 0 }, loc = { 0 };

					if (a == b || !pol_lint_rule_covers(&rs[b], &rs[a]))
						continue;
					/* two equal rules: the later one is the redundant one */
					if (b > a && pol_lint_rule_covers(&rs[a], &rs[b]))
						continue;
					f_policy(L, &f, P, "policy");
					strbuf_printf(&loc, "spec.%s[%zu]", dir, a);
					strbuf_printf(&msg, "%s rule %zu of %s/%s is fully covered by %s rule %zu "
						  "of the same policy and adds nothing", dir, a, P->ns,
						  P->name, dir, b);
					strbuf_printf(&fix, "delete spec.%s[%zu], or narrow spec.%s[%zu] if it "
						  "admits more than intended", dir, a, dir, b);
					finding_push(L, &f, P->ns, &loc, &msg, NULL, &fix);
					break;
				}
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* NP013: policies unused in the recorded window                       */

static void fmt_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t > 0 && gmtime_r(&tt, &tm))
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(buf, len, "?");
}

static void lint_usage(struct lint *L)
{
	const struct pol_cluster *c = L->c;
	const struct pol_lint_usage *u = L->o ? L->o->usage : NULL;
	char since[32], until[32];

	if (!u) {
		skip_rule(L, POL_LINT_POLICY_UNUSED_IN_WINDOW, "no recorded flows given (--db)");
		return;
	}
	if (u->unusable) {
		skip_rule(L, POL_LINT_POLICY_UNUSED_IN_WINDOW, u->unusable);
		return;
	}
	if (!u->n_flows) {
		skip_rule(L, POL_LINT_POLICY_UNUSED_IN_WINDOW, "no flow recorded in the window");
		return;
	}
	fmt_time(since, sizeof(since), u->since);
	fmt_time(until, sizeof(until), u->until);
	for (size_t pi = 0; pi < c->n_policies && !L->oom; pi++) {
		const struct pol_policy *P = c->policies[pi];
		struct pol_lint_finding f = { .rule = POL_LINT_POLICY_UNUSED_IN_WINDOW };
		struct strbuf msg = { 0 }, fix = { 0 };
		bool used = false;

		for (size_t i = 0; i < u->n_decided && !used; i++)
			used = u->decided[i].ns && u->decided[i].name &&
			       strcmp(u->decided[i].ns, P->ns) == 0 &&
			       strcmp(u->decided[i].name, P->name) == 0;
		/* a policy selecting no pod is NP010's finding, with a better
		 * explanation than "unused"; a policy without rules (a default
		 * deny) works by denying, and a window without denied traffic is
		 * its goal, not a sign it is stale */
		if (used || (c->n_pods && !count_pods(L, &P->pod_sel, P->ns)) ||
		    (!P->n_ingress && !P->n_egress))
			continue;
		f_policy(L, &f, P, "policy");
		strbuf_printf(&msg, "%s/%s decided none of the %llu flows recorded between %s and %s",
			  P->ns, P->name, (unsigned long long)u->n_flows, since, until);
		strbuf_puts(&fix, "check whether the traffic it allows still exists; delete the policy if "
			      "not, or keep it if it guards rare traffic (batch jobs, failover)");
		finding_push(L, &f, P->ns, NULL, &msg, NULL, &fix);
	}
}

/* ------------------------------------------------------------------ */

static int str_cmp0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_finding(const void *x, const void *y)
{
	const struct pol_lint_finding *a = x, *b = y;
	int r = (a->rule > b->rule) - (a->rule < b->rule);

	if (!r)
		r = str_cmp0(a->ns, b->ns);
	if (!r)
		r = str_cmp0(a->n_objects ? a->objects[0].name : NULL,
			     b->n_objects ? b->objects[0].name : NULL);
	if (!r)
		r = str_cmp0(a->location, b->location);
	if (!r)
		r = str_cmp0(a->message, b->message);
	return r;
}

void pol_lint_report_free(struct pol_lint_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->n; i++)
		finding_clear(&rep->items[i]);
	free(rep->items);
	for (size_t i = 0; i < rep->n_skipped; i++)
		free(rep->skipped[i].reason);
	free(rep->skipped);
	free(rep);
}

struct pol_lint_report *pol_lint_run(const struct pol_model *model,
				     const struct pol_lint_opts *opts)
{
	struct lint L = { .m = model, .c = pol_model_cluster(model), .o = opts };
	size_t np = L.c->n_pods ? L.c->n_pods : 1;

	L.rep = calloc(1, sizeof(*L.rep));
	L.cls_of = malloc(np * sizeof(*L.cls_of));
	L.pod_idx = malloc(np * sizeof(*L.pod_idx));
	L.mark = calloc(np, 1);
	if (!L.rep || !L.cls_of || !L.pod_idx || !L.mark || build_classes(&L) < 0)
		L.oom = true;
	if (!L.oom && build_groups(&L) < 0)
		L.oom = true;
	for (size_t k = 0; !L.oom && k < L.n_cls; k++)
		class_isolation(&L, k);
	if (!L.oom) {
		if (!L.c->n_pods) {
			skip_rule(&L, POL_LINT_ONE_SIDED_INGRESS, "the input holds no pod");
			skip_rule(&L, POL_LINT_ONE_SIDED_EGRESS, "the input holds no pod");
			skip_rule(&L, POL_LINT_EGRESS_WITHOUT_DNS, "the input holds no pod");
			skip_rule(&L, POL_LINT_IPBLOCK_COVERS_PODS, "the input holds no pod");
		}
#define R(x) (1U << (x))
		static const struct {
			void (*fn)(struct lint *);
			uint32_t rules;
		} pass[] = {
			{ lint_one_sided_ingress, R(POL_LINT_ONE_SIDED_INGRESS) },
			{ lint_one_sided_egress, R(POL_LINT_ONE_SIDED_EGRESS) },
			{ lint_dns, R(POL_LINT_EGRESS_WITHOUT_DNS) },
			{ lint_selectors, R(POL_LINT_SELECTOR_MATCHES_NOTHING) |
					  R(POL_LINT_NAMESPACE_LABEL_UNKNOWN) |
					  R(POL_LINT_POLICY_SELECTS_NO_POD) },
			{ lint_ipblocks, R(POL_LINT_IPBLOCK_COVERS_PODS) | R(POL_LINT_NONCANONICAL_CIDR) |
					 R(POL_LINT_EXCEPT_REMOVES_NOTHING) },
			{ lint_named_ports, R(POL_LINT_NAMED_PORT_UNDEFINED) },
			{ lint_default_deny, R(POL_LINT_NAMESPACE_WITHOUT_DEFAULT_DENY) },
			{ lint_shadowed, R(POL_LINT_SHADOWED_RULE) },
			{ lint_usage, R(POL_LINT_POLICY_UNUSED_IN_WINDOW) },
		};
#undef R
		uint32_t off = opts ? opts->disabled : 0;

		for (int r = POL_LINT_ONE_SIDED_INGRESS; r <= POL_LINT_RULE_MAX; r++)
			if (off & (1U << r))
				skip_rule(&L, r, "disabled");
		/* every pass starts with clear pod marks and leaves them as it likes */
		for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]) && !L.oom; i++) {
			if ((pass[i].rules & ~off) == 0)
				continue;
			memset(L.mark, 0, np);
			pass[i].fn(&L);
		}
	}
	for (size_t i = 0; i < L.n_cls; i++)
		free(L.cls[i].members);
	free(L.cls);
	free(L.grp);
	free(L.cls_of);
	free(L.pod_idx);
	free(L.mark);
	if (L.oom) {
		pol_lint_report_free(L.rep);
		errno = ENOMEM;
		return NULL;
	}
	if (L.rep->n)
		qsort(L.rep->items, L.rep->n, sizeof(*L.rep->items), cmp_finding);
	for (size_t i = 0; i < L.rep->n; i++)
		L.rep->count[L.rep->items[i].severity]++;
	return L.rep;
}

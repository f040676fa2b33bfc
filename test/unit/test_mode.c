/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_mode.c - what a verdict means: global mode, namespace label
 * override (the denying pod's namespace), staged policies, both directions,
 * and the flow log line. */
#include <stdlib.h>
#include <string.h>

#include "audit/mode.h"
#include "policy/model.h"
#include "test/unit/test.h"

static void add_ns(struct pol_cluster *c, const char *name, const char *mode)
{
	struct pol_namespace *ns = calloc(1, sizeof(*ns));

	ns->name = strdup(name);
	pol_labels_set(&ns->labels, "kubernetes.io/metadata.name", name);
	if (mode)
		pol_labels_set(&ns->labels, AUDIT_MODE_LABEL, mode);
	pol_cluster_add_namespace(c, ns);
}

static void add_pod(struct pol_cluster *c, const char *ns, const char *name, const char *ip)
{
	struct pol_pod *p = calloc(1, sizeof(*p));

	p->ns = strdup(ns);
	p->name = strdup(name);
	pol_labels_set(&p->labels, "app", name);
	p->phase = POL_PHASE_RUNNING;
	p->ips = calloc(1, sizeof(*p->ips));
	p->n_ips = 1;
	pol_ip_parse(ip, &p->ips[0]);
	pol_cluster_add_pod(c, p);
}

/* A policy selecting pod app=<app> in ns that denies every ingress (and
 * egress when egress is true). */
static void add_deny(struct pol_cluster *c, const char *ns, const char *name, const char *app,
		     bool egress, bool staged)
{
	struct pol_policy *p = calloc(1, sizeof(*p));

	p->ns = strdup(ns);
	p->name = strdup(name);
	pol_labels_set(&p->pod_sel.match_labels, "app", app);
	p->type_ingress = !egress;
	p->type_egress = egress;
	p->staged = staged;
	pol_cluster_add_policy(c, p);
}

static struct pol_flow flow(const char *src, const char *dst, uint16_t port)
{
	struct pol_flow f = { .proto = POL_PROTO_TCP, .port = port };

	pol_ip_parse(src, &f.src);
	pol_ip_parse(dst, &f.dst);
	return f;
}

int main(void)
{
	struct pol_cluster *c = pol_cluster_new();
	struct pol_model *m;
	struct audit_outcome o;
	struct pol_flow f;
	enum audit_mode am;
	char err[256] = "", line[1024];

	add_ns(c, "enf", NULL);          /* follows the global mode */
	add_ns(c, "aud", "audit");
	add_ns(c, "strict", "enforce");
	add_ns(c, "stg", NULL);
	add_ns(c, "odd", "sometimes");   /* invalid value: global mode */
	add_pod(c, "enf", "e1", "10.0.0.1");
	add_pod(c, "enf", "e2", "10.0.0.2");
	add_pod(c, "aud", "a1", "10.0.1.1");
	add_pod(c, "aud", "a2", "10.0.1.2");
	add_pod(c, "strict", "s1", "10.0.2.1");
	add_pod(c, "stg", "g1", "10.0.3.1");
	add_pod(c, "odd", "o1", "10.0.4.1");
	add_deny(c, "enf", "deny-e1", "e1", false, false);
	add_deny(c, "aud", "deny-a1", "a1", false, false);
	add_deny(c, "aud", "deny-a2-egress", "a2", true, false);
	add_deny(c, "strict", "deny-s1", "s1", false, false);
	add_deny(c, "stg", "staged-g1", "g1", false, true);
	add_deny(c, "odd", "deny-o1", "o1", false, false);
	m = pol_model_build(c, NULL, err, sizeof(err));
	T_ASSERT(m != NULL, "model: %s", err);
	if (!m)
		return T_REPORT();

	T_ASSERT(audit_mode_parse("audit", &am) && am == AUDIT_MODE_AUDIT, "parse audit");
	T_ASSERT(audit_mode_parse("enforce", &am) && am == AUDIT_MODE_ENFORCE, "parse enforce");
	T_ASSERT(!audit_mode_parse("Audit", &am), "case-sensitive");

	/* An allowed flow: nobody isolates e2. */
	f = flow("10.0.0.1", "10.0.0.2", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_ALLOW && !o.staged, "allow");

	/* Ingress deny at e1, namespace without label: the global mode. */
	f = flow("10.0.0.2", "10.0.0.1", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(!o.accept && o.kind == AUDIT_REC_DENY && o.mode == AUDIT_REC_ENFORCE, "enforce deny");
	T_ASSERT(o.basis == &o.enforced && o.basis->ingress.state == POL_DIR_DENIED, "basis");
	audit_decide(m, &f, AUDIT_MODE_AUDIT, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_WOULD_DENY && o.mode == AUDIT_REC_AUDIT,
		 "global audit: would-deny");

	/* The destination's namespace is labelled audit: never dropped, even
	 * with a global enforce. The source's namespace does not count. */
	f = flow("10.0.0.2", "10.0.1.1", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_WOULD_DENY && o.mode == AUDIT_REC_AUDIT,
		 "ns label audit overrides global enforce");
	/* ... and enforce overrides a global audit. */
	f = flow("10.0.0.2", "10.0.2.1", 80);
	audit_decide(m, &f, AUDIT_MODE_AUDIT, &o);
	T_ASSERT(!o.accept && o.kind == AUDIT_REC_DENY && o.mode == AUDIT_REC_ENFORCE,
		 "ns label enforce overrides global audit");
	/* Egress deny of a2 (audit namespace) to an unisolated pod: a2's
	 * namespace decides. */
	f = flow("10.0.1.2", "10.0.0.2", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_WOULD_DENY && o.basis->egress.state == POL_DIR_DENIED,
		 "egress deny in an audit namespace");
	/* Both directions deny: a2 egress (audit) and s1 ingress (enforce):
	 * the enforcing namespace wins. */
	f = flow("10.0.1.2", "10.0.2.1", 80);
	audit_decide(m, &f, AUDIT_MODE_AUDIT, &o);
	T_ASSERT(!o.accept && o.kind == AUDIT_REC_DENY, "both deny, one enforcing: drop");
	/* Both deny, both audit: a2 -> a1. */
	f = flow("10.0.1.2", "10.0.1.1", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_WOULD_DENY, "both deny, both audit: accept");
	/* An invalid label value falls back to the global mode. */
	f = flow("10.0.0.2", "10.0.4.1", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(!o.accept && o.kind == AUDIT_REC_DENY, "invalid label: global enforce");
	audit_decide(m, &f, AUDIT_MODE_AUDIT, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_WOULD_DENY, "invalid label: global audit");

	/* A staged policy: enforcement ignores it, the record says would-deny. */
	f = flow("10.0.0.2", "10.0.3.1", 80);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	T_ASSERT(o.accept && o.kind == AUDIT_REC_WOULD_DENY && o.staged, "staged: would-deny");
	T_ASSERT(o.enforced.allowed && !o.full.allowed && o.basis == &o.full, "staged: basis is full");
	T_ASSERT(o.basis->ingress.n_isolating == 1 &&
		 strcmp(o.basis->ingress.isolating[0]->name, "staged-g1") == 0, "staged policy named");
	audit_flow_format(line, sizeof(line), &f, &o, 7);
	T_ASSERT(strcmp(line, "flow: would-deny TCP 10.0.0.2 (enf/e2) -> 10.0.3.1:80 (stg/g1) "
			      "dir=ingress policies=stg/staged-g1 mode=enforce staged gen=7") == 0,
		 "log line: %s", line);

	f = flow("10.0.0.2", "10.0.0.1", 443);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	audit_flow_format(line, sizeof(line), &f, &o, 1);
	T_ASSERT(strcmp(line, "flow: deny TCP 10.0.0.2 (enf/e2) -> 10.0.0.1:443 (enf/e1) "
			      "dir=ingress policies=enf/deny-e1 mode=enforce gen=1") == 0,
		 "deny line: %s", line);
	f = flow("192.0.2.9", "10.0.0.1", 443);
	audit_decide(m, &f, AUDIT_MODE_ENFORCE, &o);
	audit_flow_format(line, sizeof(line), &f, &o, 1);
	T_ASSERT(strstr(line, "192.0.2.9 (external) -> 10.0.0.1:443 (enf/e1)") != NULL, "external: %s", line);
	/* A tiny buffer is cut, never overrun. */
	audit_flow_format(line, 10, &f, &o, 1);
	T_ASSERT(strlen(line) == 9, "truncated to the buffer: '%s'", line);

	{
		struct audit_flowlog fl;

		audit_flowlog_init(&fl, 2, 1);
		for (int i = 0; i < 5; i++)
			audit_flowlog_write(&fl, &f, &o, 1);
		T_ASSERT(fl.lines == 2 && fl.suppressed == 3, "rate limit: %llu lines, %llu suppressed",
			 (unsigned long long)fl.lines, (unsigned long long)fl.suppressed);
	}
	pol_model_free(m);
	return T_REPORT();
}

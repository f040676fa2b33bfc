/* SPDX-License-Identifier: Apache-2.0 */
/* audit/mode.c - enforce/audit/staged decision and the interim flow log. */
#include "audit/mode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool audit_mode_parse(const char *text, enum audit_mode *out)
{
	if (strcmp(text, "enforce") == 0)
		*out = AUDIT_MODE_ENFORCE;
	else if (strcmp(text, "audit") == 0)
		*out = AUDIT_MODE_AUDIT;
	else
		return false;
	return true;
}

const char *audit_mode_name(enum audit_mode m)
{
	return m == AUDIT_MODE_AUDIT ? "audit" : "enforce";
}

enum audit_mode audit_namespace_mode(const struct pol_model *model, const char *ns,
				     enum audit_mode global)
{
	const struct pol_namespace *n;
	const char *v;
	enum audit_mode m;

	if (!ns)
		return global;
	n = pol_model_namespace(model, ns);
	if (!n)
		return global;
	v = pol_labels_get(&n->labels, AUDIT_MODE_LABEL);
	if (v && audit_mode_parse(v, &m))
		return m;
	return global;
}

static enum audit_rec_mode rec_mode(enum audit_mode m)
{
	return m == AUDIT_MODE_AUDIT ? AUDIT_REC_AUDIT : AUDIT_REC_ENFORCE;
}

/* Mode of the flow as decided by v: enforce when any denying direction's
 * pod namespace enforces. */
static enum audit_mode deny_mode(const struct pol_model *model, const struct pol_verdict *v,
				 enum audit_mode global)
{
	bool any = false, enforce = false;

	if (v->egress.state == POL_DIR_DENIED) {
		any = true;
		if (audit_namespace_mode(model, v->src_pod ? v->src_pod->ns : NULL, global) ==
		    AUDIT_MODE_ENFORCE)
			enforce = true;
	}
	if (v->ingress.state == POL_DIR_DENIED) {
		any = true;
		if (audit_namespace_mode(model, v->dst_pod ? v->dst_pod->ns : NULL, global) ==
		    AUDIT_MODE_ENFORCE)
			enforce = true;
	}
	/* A deny without a denying direction cannot come from the engine;
	 * fall back to the global mode rather than guess a namespace. */
	if (!any)
		return global;
	return enforce ? AUDIT_MODE_ENFORCE : AUDIT_MODE_AUDIT;
}

void audit_decide(const struct pol_model *model, const struct pol_flow *flow,
		  enum audit_mode global, struct audit_outcome *out)
{
	bool staged = pol_model_has_staged(model);

	memset(out, 0, sizeof(*out));
	pol_eval(model, flow, POL_EVAL_ENFORCED_ONLY, &out->enforced);
	if (staged)
		pol_eval(model, flow, 0, &out->full);
	else
		out->full = out->enforced;

	if (!out->enforced.allowed) {
		enum audit_mode m = deny_mode(model, &out->enforced, global);

		out->basis = &out->enforced;
		out->mode = rec_mode(m);
		if (m == AUDIT_MODE_ENFORCE) {
			out->accept = false;
			out->kind = AUDIT_REC_DENY;
		} else {
			out->accept = true;
			out->kind = AUDIT_REC_WOULD_DENY;
		}
		return;
	}
	out->accept = true;
	if (!out->full.allowed) {
		out->basis = &out->full;
		out->kind = AUDIT_REC_WOULD_DENY;
		out->staged = true;
		out->mode = rec_mode(deny_mode(model, &out->full, global));
		return;
	}
	out->basis = &out->enforced;
	out->kind = AUDIT_REC_ALLOW;
	out->mode = rec_mode(global);
	if (out->enforced.dst_pod)
		out->mode = rec_mode(audit_namespace_mode(model, out->enforced.dst_pod->ns, global));
	else if (out->enforced.src_pod)
		out->mode = rec_mode(audit_namespace_mode(model, out->enforced.src_pod->ns, global));
}

void audit_flowlog_init(struct audit_flowlog *fl, uint32_t burst, uint32_t per_sec)
{
	memset(fl, 0, sizeof(*fl));
	fl->rl.burst = burst;
	fl->rl.per_sec = per_sec;
}

struct out {
	char *buf;
	size_t len, off;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->off >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->off += (size_t)n < o->len - o->off ? (size_t)n : o->len - o->off - 1;
}

static void put_endpoint(struct out *o, const struct pol_ip *ip, uint16_t port,
			 enum pol_endpoint_kind kind, const struct pol_pod *pod)
{
	char a[POL_IP_STRLEN];
	bool v6 = !pol_ip_is_v4(ip);

	pol_ip_format(ip, a, sizeof(a));
	if (port)
		put(o, v6 ? "[%s]:%u" : "%s:%u", a, port);
	else
		put(o, "%s", a);
	if (kind == POL_EP_POD && pod)
		put(o, " (%s/%s)", pod->ns, pod->name);
	else if (kind == POL_EP_NODE)
		put(o, " (node)");
	else
		put(o, " (external)");
}

static void put_policies(struct out *o, const struct pol_dir_result *d, bool *first)
{
	for (size_t i = 0; i < d->n_isolating; i++) {
		put(o, "%s%s/%s", *first ? "" : ",", d->isolating[i]->ns, d->isolating[i]->name);
		*first = false;
	}
}

char *audit_flow_format(char *buf, size_t len, const struct pol_flow *flow,
			const struct audit_outcome *oc, uint64_t generation)
{
	struct out o = { buf, len, 0 };
	const struct pol_verdict *v = oc->basis;
	const char *proto = pol_proto_name(flow->proto);
	unsigned dirs = 0;
	bool first = true;

	if (!len)
		return buf;
	buf[0] = 0;
	put(&o, "flow: %s ", audit_rec_verdict_name(oc->kind));
	if (proto)
		put(&o, "%s ", proto);
	else
		put(&o, "proto-%u ", flow->proto);
	put_endpoint(&o, &flow->src, 0, v->src_kind, v->src_pod);
	put(&o, " -> ");
	put_endpoint(&o, &flow->dst, flow->port, v->dst_kind, v->dst_pod);
	if (v->egress.state == POL_DIR_DENIED)
		dirs |= AUDIT_REC_DIR_EGRESS;
	if (v->ingress.state == POL_DIR_DENIED)
		dirs |= AUDIT_REC_DIR_INGRESS;
	put(&o, " dir=%s policies=", dirs ? audit_rec_dir_name(dirs) : "none");
	if (dirs & AUDIT_REC_DIR_EGRESS)
		put_policies(&o, &v->egress, &first);
	if (dirs & AUDIT_REC_DIR_INGRESS)
		put_policies(&o, &v->ingress, &first);
	if (first)
		put(&o, "-");
	put(&o, " mode=%s%s gen=%llu", audit_rec_mode_name(oc->mode),
	    oc->staged ? " staged" : "", (unsigned long long)generation);
	return buf;
}

void audit_flowlog_write(struct audit_flowlog *fl, const struct pol_flow *flow,
			 const struct audit_outcome *o, uint64_t generation)
{
	char line[1024];
	uint64_t supp = 0;

	if (o->kind == AUDIT_REC_ALLOW)
		return;
	if (!log_ratelimit_allow(&fl->rl, &supp)) {
		/* Atomic: the status thread reads these counters. */
		__atomic_fetch_add(&fl->suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&fl->lines, 1, __ATOMIC_RELAXED);
	audit_flow_format(line, sizeof(line), flow, o, generation);
	if (supp)
		log_info("%s (%llu similar lines suppressed)", line, (unsigned long long)supp);
	else
		log_info("%s", line);
}

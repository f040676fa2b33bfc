/* SPDX-License-Identifier: Apache-2.0 */
/* cli/flows_explain.c - closest rule and failing field for recorded denies. */
#include "cli/flows_explain.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/offline.h"
#include "core/log.h"
#include "policy/explain.h"
#include "policy/model.h"

struct flows_explain {
	struct pol_model *model;
};

int flows_explain_load(const char *const *paths, size_t n, struct flows_explain **out)
{
	struct flows_explain *x = calloc(1, sizeof(*x));
	int ret;

	*out = NULL;
	if (!x) {
		log_err("flows --explain");
		return CMD_FAILURE;
	}
	ret = offline_load_model("flows --explain", paths, n, NULL, &x->model);
	if (ret != CMD_OK) {
		free(x);
		return ret;
	}
	*out = x;
	return CMD_OK;
}

void flows_explain_free(struct flows_explain *x)
{
	if (!x)
		return;
	pol_model_free(x->model);
	free(x);
}

/* First address of a comma separated sample, else the name (external and
 * node endpoints are named by their address). */
static bool first_ip(const char *ips, const char *name, struct pol_ip *out)
{
	char buf[POL_IP_STRLEN];
	size_t len = strcspn(ips ? ips : "", ",");

	if (len && len < sizeof(buf)) {
		memcpy(buf, ips, len);
		buf[len] = '\0';
		if (pol_ip_parse(buf, out))
			return true;
	}
	return name && pol_ip_parse(name, out);
}

static const char *op_name(enum pol_sel_op op)
{
	switch (op) {
	case POL_SEL_IN:
		return "In";
	case POL_SEL_NOT_IN:
		return "NotIn";
	case POL_SEL_EXISTS:
		return "Exists";
	default:
		return "DoesNotExist";
	}
}

static void selfail_text(FILE *f, const char *which, const struct pol_explain_selfail *s)
{
	if (s->expr)
		fprintf(f, "%s %s %s", which, s->key, op_name(s->expr->op));
	else
		fprintf(f, "%s %s=%s", which, s->key, s->want ? s->want : "");
	if (s->have)
		fprintf(f, " (has %s=%s)", s->key, s->have);
	else
		fprintf(f, " (no label %s)", s->key);
}

static void peer_text(FILE *f, const struct pol_explain_dir *d, const struct pol_policy *pol,
		      const struct pol_explain_peer *p)
{
	char buf[POL_CIDR_STRLEN];

	switch (p->fail) {
	case POL_XF_NOT_A_POD:
		fprintf(f, "selects pods, the %s is no pod", d->egress ? "destination" : "source");
		break;
	case POL_XF_OTHER_NAMESPACE:
		fprintf(f, "podSelector alone selects namespace %s, the pod is in %s", pol->ns,
			p->peer_ns ? p->peer_ns : "another");
		break;
	case POL_XF_SELECTOR:
		if (p->ns_sel.failed)
			selfail_text(f, "namespaceSelector", &p->ns_sel);
		if (p->ns_sel.failed && p->pod_sel.failed)
			fputs(" and ", f);
		if (p->pod_sel.failed)
			selfail_text(f, "podSelector", &p->pod_sel);
		break;
	case POL_XF_CIDR:
		fputs("address outside the ipBlock", f);
		break;
	case POL_XF_EXCEPT:
		fprintf(f, "address inside except %s",
			p->except ? pol_cidr_format(p->except, buf, sizeof(buf)) : "?");
		break;
	default:
		fputs("matches", f);
		break;
	}
}

static void port_text(FILE *f, const struct pol_port *pp, const struct pol_explain_port *e,
		      const struct pol_flow *flow)
{
	const char *proto = pol_proto_name(flow->proto);

	if (pp->name)
		fprintf(f, "%s/%s", pp->name, pol_proto_name(pp->proto));
	else if (!pp->has_port)
		fprintf(f, "any/%s", pol_proto_name(pp->proto));
	else if (pp->end_port)
		fprintf(f, "%u-%u/%s", pp->port, pp->end_port, pol_proto_name(pp->proto));
	else
		fprintf(f, "%u/%s", pp->port, pol_proto_name(pp->proto));
	switch (e->fail) {
	case POL_XF_PROTOCOL:
		fprintf(f, ", the connection is %s", proto ? proto : "another protocol");
		break;
	case POL_XF_PORT:
		fprintf(f, ", the connection is to %u", flow->port);
		break;
	case POL_XF_NAMED_PORT_UNDEFINED:
		fputs(", the destination pod has no such port", f);
		break;
	case POL_XF_NAMED_PORT_OTHER:
		fprintf(f, ", which is %u on the destination pod, the connection is to %u", e->resolved,
			flow->port);
		break;
	case POL_XF_NAMED_PORT_NOT_POD:
		fputs(", a name needs a pod destination", f);
		break;
	default:
		break;
	}
}

/* The closest rule over every isolating policy of a direction. */
static bool closest(const struct pol_explain_dir *d, const struct pol_explain_policy **pp,
		    const struct pol_explain_rule **rr)
{
	int best = 3;

	*pp = NULL;
	*rr = NULL;
	for (size_t i = 0; i < d->n_policies; i++) {
		const struct pol_explain_policy *p = &d->policies[i];
		const struct pol_explain_rule *r;
		int fails;

		if (p->closest < 0 || (size_t)p->closest >= p->n_rules)
			continue;
		r = &p->rules[p->closest];
		fails = !r->peers_match + !r->ports_match;
		if (fails < best) {
			best = fails;
			*pp = p;
			*rr = r;
		}
	}
	return *pp != NULL;
}

/* Which peer / port entry to show: the first one (a person reads a rule
 * top down), but a port entry of the connection's protocol first. */
static size_t pick_port(const struct pol_explain_rule *r)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i].fail == POL_XF_PORT || r->ports[i].fail == POL_XF_NAMED_PORT_OTHER)
			return i;
	return 0;
}

struct dir_out {
	cJSON *json;
	char *text;
};

static void explain_dir(const struct pol_explain *x, const struct pol_explain_dir *d,
			struct dir_out *out)
{
	const struct pol_explain_policy *p;
	const struct pol_explain_rule *r;
	const char *dir = d->egress ? "egress" : "ingress";
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	cJSON *j = cJSON_CreateObject();

	out->json = j;
	out->text = NULL;
	if (!f || !j)
		goto done;
	cJSON_AddStringToObject(j, "state", "denied");
	if (!closest(d, &p, &r)) {
		cJSON *iso = cJSON_AddArrayToObject(j, "isolated_by");

		fprintf(f, "%s: no rule; isolated by", dir);
		for (size_t i = 0; i < d->n_policies; i++) {
			char ref[600];

			snprintf(ref, sizeof(ref), "%s/%s", d->policies[i].policy->ns,
				 d->policies[i].policy->name);
			if (iso)
				cJSON_AddItemToArray(iso, cJSON_CreateString(ref));
			fprintf(f, "%s %s", i ? "," : "", ref);
		}
		cJSON_AddNullToObject(j, "closest");
		goto done;
	}
	{
		const struct pol_policy *pol = p->policy;
		const struct pol_rule *rule = d->egress ? &pol->egress[p->closest] : &pol->ingress[p->closest];
		cJSON *c = cJSON_AddObjectToObject(j, "closest");
		char ref[600], ruletext[40], *part = NULL;
		size_t plen = 0;
		FILE *pf;

		snprintf(ref, sizeof(ref), "%s/%s", pol->ns, pol->name);
		snprintf(ruletext, sizeof(ruletext), "%s[%d]", dir, p->closest);
		fprintf(f, "%s: closest %s %s:", dir, ref, ruletext);
		if (c) {
			cJSON_AddStringToObject(c, "policy", ref);
			cJSON_AddStringToObject(c, "rule", ruletext);
		}
		if (!r->peers_match && r->n_peers) {
			pf = open_memstream(&part, &plen);
			if (pf) {
				peer_text(pf, d, pol, &r->peers[0]);
				fclose(pf);
			}
			fprintf(f, " %s[0] %s", d->egress ? "to" : "from", part ? part : "");
			if (c) {
				cJSON *pj = cJSON_AddObjectToObject(c, "peer");

				if (pj) {
					cJSON_AddNumberToObject(pj, "index", 0);
					cJSON_AddStringToObject(pj, "fail", pol_explain_fail_name(r->peers[0].fail));
					cJSON_AddStringToObject(pj, "text", part ? part : "");
				}
			}
			free(part);
			part = NULL;
		}
		if (!r->ports_match && r->n_ports) {
			size_t k = pick_port(r);

			pf = open_memstream(&part, &plen);
			if (pf) {
				port_text(pf, &rule->ports[k], &r->ports[k], &x->flow);
				fclose(pf);
			}
			fprintf(f, "%s ports[%zu] %s", r->peers_match ? "" : ";", k, part ? part : "");
			if (c) {
				cJSON *pj = cJSON_AddObjectToObject(c, "port");

				if (pj) {
					cJSON_AddNumberToObject(pj, "index", (double)k);
					cJSON_AddStringToObject(pj, "fail", pol_explain_fail_name(r->ports[k].fail));
					cJSON_AddStringToObject(pj, "text", part ? part : "");
				}
			}
			free(part);
		}
	}
done:
	if (f && fclose(f) == 0)
		out->text = s;
	else
		free(s);
}

struct analysis {
	bool ok;
	bool allowed_now;
	char note[256];
	struct pol_explain *x;
	struct dir_out eg, in;
};

static void analyse(struct flows_explain *fx, const struct flows_explain_row *row,
		    struct analysis *a)
{
	struct pol_flow flow = { 0 };
	struct pol_verdict v;

	memset(a, 0, sizeof(*a));
	if (strcmp(row->verdict, "deny") != 0 && strcmp(row->verdict, "would-deny") != 0)
		return;
	a->ok = true;
	flow.proto = pol_proto_parse(row->protocol);
	flow.port = (uint16_t)row->port;
	if (!flow.proto || !first_ip(row->src_ips, row->src_name, &flow.src) ||
	    !first_ip(row->dst_ips, row->dst_name, &flow.dst)) {
		snprintf(a->note, sizeof(a->note), "the row has no usable address sample");
		return;
	}
	pol_eval(fx->model, &flow, 0, &v);
	/* A pod sample whose address now belongs to nobody (or to another
	 * pod) cannot be explained against today's cluster. */
	{
		const char *nss[2] = { row->src_ns, row->dst_ns };
		const char *kinds[2] = { row->src_kind, row->dst_kind };
		const struct pol_pod *pods[2] = { v.src_pod, v.dst_pod };

		for (int i = 0; i < 2; i++) {
			bool is_pod = strcmp(kinds[i], "Node") != 0 && strcmp(kinds[i], "External") != 0;

			if (is_pod && (!pods[i] || strcmp(pods[i]->ns, nss[i]) != 0)) {
				snprintf(a->note, sizeof(a->note),
					 "the %s's sampled address is not a pod of namespace %s in the cluster "
					 "now; explained as it would be decided today",
					 i ? "destination" : "source", nss[i]);
				break;
			}
		}
	}
	if (v.allowed) {
		a->allowed_now = true;
		return;
	}
	a->x = pol_explain_flow(fx->model, &flow, &v);
	if (!a->x)
		return;
	if (a->x->egress.analysed && !a->x->egress.allowed)
		explain_dir(a->x, &a->x->egress, &a->eg);
	if (a->x->ingress.analysed && !a->x->ingress.allowed)
		explain_dir(a->x, &a->x->ingress, &a->in);
}

static void analysis_free(struct analysis *a)
{
	cJSON_Delete(a->eg.json);
	cJSON_Delete(a->in.json);
	free(a->eg.text);
	free(a->in.text);
	pol_explain_free(a->x);
}

cJSON *flows_explain_json(struct flows_explain *fx, const struct flows_explain_row *row)
{
	struct analysis a;
	cJSON *j;

	analyse(fx, row, &a);
	if (!a.ok) {
		analysis_free(&a);
		return NULL;
	}
	j = cJSON_CreateObject();
	if (j) {
		cJSON_AddStringToObject(j, "verdict_now", a.allowed_now ? "allow" : "deny");
		if (a.note[0])
			cJSON_AddStringToObject(j, "note", a.note);
		if (a.eg.json) {
			cJSON_AddItemToObject(j, "egress", a.eg.json);
			a.eg.json = NULL;
		}
		if (a.in.json) {
			cJSON_AddItemToObject(j, "ingress", a.in.json);
			a.in.json = NULL;
		}
	}
	analysis_free(&a);
	return j;
}

char *flows_explain_text(struct flows_explain *fx, const struct flows_explain_row *row)
{
	struct analysis a;
	char *s = NULL;

	analyse(fx, row, &a);
	if (!a.ok)
		s = strdup("");
	else if (a.allowed_now)
		s = strdup(a.note[0] ? "allowed now (address sample is stale)" : "allowed now");
	else if (asprintf(&s, "%s%s%s%s%s", a.eg.text ? a.eg.text : "",
			  a.eg.text && a.in.text ? " | " : "", a.in.text ? a.in.text : "",
			  a.note[0] ? " | note: " : "", a.note) < 0)
		s = NULL;
	analysis_free(&a);
	return s;
}

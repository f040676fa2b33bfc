/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_explain.c - `npshim explain`: why one connection is allowed or denied. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/flowline.h"
#include "cli/offline.h"
#include "k8s/kubeconfig.h"
#include "core/flags.h"
#include "core/log.h"
#include "policy/explain.h"
#include "policy/model.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim explain --cluster PATH [--cluster PATH ...] --from NS/POD|IP\n"
		"                      --to NS/POD|IP --port PORT[/PROTO] [--node NAME]\n"
		"                      [--enforced-only] [--output text|json]\n"
		"\n"
		"Explain the NetworkPolicy verdict of one new connection: who the source and\n"
		"destination are, whether each is isolated and by which policies, the rule\n"
		"that allowed each direction, or for a deny each isolating policy's closest\n"
		"rule and exactly which part of it did not match.\n"
		"\n"
		"  --cluster PATH   manifest file or directory, as for 'npshim simulate'\n"
		"Or read the live cluster once from the API server instead of --cluster:\n"
		K8S_CONN_USAGE
		"  --from, --to     a pod as NAMESPACE/NAME, or an IPv4/IPv6 address\n"
		"  --port SPEC      80, 53/UDP, 5000/SCTP (default protocol TCP; case does\n"
		"                   not matter), or ICMP / ICMPv6 alone\n"
		"  --node NAME      only pods on NAME are enforced (default: every pod)\n"
		"  --enforced-only  leave out staged policies (npshim.io/mode: audit)\n"
		"  --output FORMAT  text (default) or json\n"
		"\n"
		"A dual-stack pod uses the address of the family both ends share (IPv4\n"
		"first, IPv6 for ICMPv6); ICMP and ICMPv6 follow the address family.\n"
		"\n"
		"Exit status: 0 allowed, 1 denied, 2 bad input, 3 failure.\n");
}

struct explain_opts {
	struct offline_paths clusters;
	struct k8s_conn_opts live;
	const char *from;
	const char *to;
	const char *port;
	const char *node;
	bool json;
	unsigned eval_flags;
	uint8_t proto;
	uint16_t port_num;
};

static bool parse_port_spec(const char *spec, uint8_t *proto, uint16_t *port);

static int parse_args(int argc, char **argv, struct explain_opts *o)
{
	static const struct option longopts[] = {
		{ "cluster", required_argument, NULL, 'c' },
		K8S_CONN_LONGOPTS,
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "node", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "enforced-only", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char **slot;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		if (k8s_conn_opts_getopt(&o->live, c, optarg))
			continue;
		slot = NULL;
		switch (c) {
		case 'c': {
			int rc = offline_paths_take(&o->clusters, "explain", "--cluster", optarg);

			if (rc != CMD_OK)
				return rc;
			break;
		}
		case 'f': slot = &o->from; break;
		case 't': slot = &o->to; break;
		case 'p': slot = &o->port; break;
		case 'n': slot = &o->node; break;
		case 'o':
			if (strcmp(optarg, "json") == 0) {
				o->json = true;
			} else if (strcmp(optarg, "text") == 0) {
				o->json = false;
			} else {
				log_errx("explain: --output '%s': expected text or json", optarg);
				return CMD_USAGE;
			}
			break;
		case 'e':
			o->eval_flags |= POL_EVAL_ENFORCED_ONLY;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_option_error("explain", c, argv);
		}
		if (slot) {
			const char *flag = c == 'f' ? "--from" : c == 't' ? "--to" : c == 'p' ? "--port" : "--node";

			if (*slot) {
				log_errx("explain: %s given twice", flag);
				return CMD_USAGE;
			}
			if (!optarg[0]) {
				log_errx("explain: %s needs a value", flag);
				return CMD_USAGE;
			}
			*slot = optarg;
		}
	}
	if (optind < argc) {
		log_errx("explain: unexpected argument '%s'", argv[optind]);
		return CMD_USAGE;
	}
	if (o->clusters.n && o->live.given) {
		log_errx("explain: --cluster and --kubeconfig/--context/--in-cluster/--sa-dir exclude each other");
		return CMD_USAGE;
	}
	if ((o->clusters.n == 0 && !o->live.given) || !o->from || !o->to || !o->port) {
		log_errx("explain: %s is required; see 'npshim explain --help'",
			 o->clusters.n == 0 && !o->live.given ? "--cluster PATH or --kubeconfig/--in-cluster" :
			 !o->from ? "--from NS/POD|IP" :
			 !o->to ? "--to NS/POD|IP" : "--port PORT[/PROTO]");
		return CMD_USAGE;
	}
	if (!parse_port_spec(o->port, &o->proto, &o->port_num)) {
		log_errx("explain: --port '%s': expected PORT (1-65535), PORT/TCP, PORT/UDP, PORT/SCTP, ICMP or ICMPv6",
			 o->port);
		return CMD_USAGE;
	}
	return CMD_OK;
}

/* --port: "80", "53/udp", "ICMP". */
static bool parse_port_spec(const char *spec, uint8_t *proto, uint16_t *port)
{
	const char *slash = strchr(spec, '/');
	char num[16];
	uint64_t v;
	size_t n;

	*proto = POL_PROTO_TCP;
	*port = 0;
	if (strcasecmp(spec, "icmp") == 0) {
		*proto = POL_PROTO_ICMP;
		return true;
	}
	if (strcasecmp(spec, "icmpv6") == 0) {
		*proto = POL_PROTO_ICMPV6;
		return true;
	}
	n = slash ? (size_t)(slash - spec) : strlen(spec);
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, spec, n);
	num[n] = '\0';
	if (!flag_parse_u64(num, 1, 65535, &v))
		return false;
	*port = (uint16_t)v;
	if (slash) {
		if (strcasecmp(slash + 1, "tcp") == 0)
			*proto = POL_PROTO_TCP;
		else if (strcasecmp(slash + 1, "udp") == 0)
			*proto = POL_PROTO_UDP;
		else if (strcasecmp(slash + 1, "sctp") == 0)
			*proto = POL_PROTO_SCTP;
		else
			return false;
	}
	return true;
}

/* A --from/--to argument: a pod by name (all its addresses) or one address. */
struct endpoint_arg {
	const char *flag;
	const struct pol_pod *pod;
	const struct pol_ip *ips;
	size_t n_ips;
	struct pol_ip ip;
};

static const char *phase_name(enum pol_pod_phase p)
{
	switch (p) {
	case POL_PHASE_UNKNOWN:   return "Unknown";
	case POL_PHASE_PENDING:   return "Pending";
	case POL_PHASE_RUNNING:   return "Running";
	case POL_PHASE_SUCCEEDED: return "Succeeded";
	case POL_PHASE_FAILED:    return "Failed";
	}
	return "?";
}

static int resolve_endpoint(const struct pol_model *model, const char *flag,
			    const char *text, struct endpoint_arg *ep)
{
	const struct pol_cluster *c = pol_model_cluster(model);
	struct pol_cidr cidr;
	const char *slash;
	char ns[256];
	const char *name;

	memset(ep, 0, sizeof(*ep));
	ep->flag = flag;
	if (pol_ip_parse(text, &ep->ip)) {
		ep->ips = &ep->ip;
		ep->n_ips = 1;
		return CMD_OK;
	}
	if (pol_cidr_parse(text, &cidr)) {
		log_errx("explain: %s %s: a CIDR is not an endpoint; give one address", flag, text);
		return CMD_USAGE;
	}
	slash = strchr(text, '/');
	if (!slash || slash == text || !slash[1] || strchr(slash + 1, '/') ||
	    (size_t)(slash - text) >= sizeof(ns)) {
		log_errx("explain: %s '%s' is neither NAMESPACE/POD nor an IP address", flag, text);
		return CMD_USAGE;
	}
	memcpy(ns, text, (size_t)(slash - text));
	ns[slash - text] = '\0';
	name = slash + 1;
	ep->pod = pol_model_pod_by_name(model, ns, name);
	if (!ep->pod) {
		/* The model only indexes pods with an identity; say why this one
		 * has none rather than "not found". */
		for (size_t i = 0; i < c->n_pods; i++) {
			const struct pol_pod *p = c->pods[i];

			if (strcmp(p->ns, ns) != 0 || strcmp(p->name, name) != 0)
				continue;
			if (p->phase == POL_PHASE_SUCCEEDED || p->phase == POL_PHASE_FAILED)
				log_errx("explain: %s %s: the pod has finished (phase %s); it has no network identity",
					 flag, text, phase_name(p->phase));
			else
				log_errx("explain: %s %s: the pod has no IP address (phase %s)",
					 flag, text, phase_name(p->phase));
			return CMD_USAGE;
		}
		if (!pol_model_namespace(model, ns))
			log_errx("explain: %s %s: no pod %s in namespace %s (the cluster has no namespace %s)",
				 flag, text, name, ns, ns);
		else
			log_errx("explain: %s %s: no pod %s in namespace %s", flag, text, name, ns);
		return CMD_USAGE;
	}
	if (ep->pod->phase == POL_PHASE_SUCCEEDED || ep->pod->phase == POL_PHASE_FAILED) {
		log_errx("explain: %s %s: the pod has finished (phase %s); it has no network identity",
			 flag, text, phase_name(ep->pod->phase));
		return CMD_USAGE;
	}
	if (ep->pod->n_ips == 0) {
		log_errx("explain: %s %s: the pod has no IP address (phase %s)",
			 flag, text, phase_name(ep->pod->phase));
		return CMD_USAGE;
	}
	ep->ips = ep->pod->ips;
	ep->n_ips = ep->pod->n_ips;
	return CMD_OK;
}

static bool pick_pair(const struct endpoint_arg *a, const struct endpoint_arg *b,
		      bool want_v6, struct pol_ip *sa, struct pol_ip *sb)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < a->n_ips; i++) {
			bool v4 = pol_ip_is_v4(&a->ips[i]);

			if (pass == 0 && v4 == want_v6)
				continue;
			for (size_t j = 0; j < b->n_ips; j++) {
				if (pol_ip_is_v4(&b->ips[j]) == v4) {
					*sa = a->ips[i];
					*sb = b->ips[j];
					return true;
				}
			}
		}
	}
	return false;
}

/* ---- text fragments shared by both outputs ---------------------------- */

static const char *op_name(enum pol_sel_op op)
{
	switch (op) {
	case POL_SEL_IN:             return "In";
	case POL_SEL_NOT_IN:         return "NotIn";
	case POL_SEL_EXISTS:         return "Exists";
	case POL_SEL_DOES_NOT_EXIST: return "DoesNotExist";
	}
	return "?";
}

static void put_expr(struct flowline_buf *b, const struct pol_sel_expr *e)
{
	switch (e->op) {
	case POL_SEL_EXISTS:
		flowline_buf_puts(b, e->key);
		return;
	case POL_SEL_DOES_NOT_EXIST:
		flowline_buf_printf(b, "!%s", e->key);
		return;
	case POL_SEL_IN:
	case POL_SEL_NOT_IN:
		flowline_buf_printf(b, "%s %s (", e->key, e->op == POL_SEL_IN ? "in" : "notin");
		for (size_t i = 0; i < e->n_values; i++)
			flowline_buf_printf(b, "%s%s", i ? "," : "", e->values[i]);
		flowline_buf_puts(b, ")");
		return;
	}
}

/* kubectl's label selector syntax: "tier=db,env in (a,b),!canary". */
static void put_selector(struct flowline_buf *b, const struct pol_selector *sel)
{
	bool first = true;

	if (sel->match_labels.n == 0 && sel->n_exprs == 0) {
		flowline_buf_puts(b, "{} (all)");
		return;
	}
	for (size_t i = 0; i < sel->match_labels.n; i++, first = false)
		flowline_buf_printf(b, "%s%s=%s", first ? "" : ",", sel->match_labels.items[i].key,
				    sel->match_labels.items[i].value);
	for (size_t i = 0; i < sel->n_exprs; i++, first = false) {
		if (!first)
			flowline_buf_puts(b, ",");
		put_expr(b, &sel->exprs[i]);
	}
}

static void put_cidr(struct flowline_buf *b, const struct pol_cidr *c)
{
	char s[POL_CIDR_STRLEN];

	flowline_buf_puts(b, pol_cidr_format(c, s, sizeof(s)));
}

static void put_peer(struct flowline_buf *b, const struct pol_peer *peer, const struct pol_policy *pol)
{
	if (peer->ipblock) {
		flowline_buf_puts(b, "ipBlock ");
		put_cidr(b, &peer->ipblock->cidr);
		for (size_t i = 0; i < peer->ipblock->n_except; i++) {
			flowline_buf_puts(b, i ? ", " : " except ");
			put_cidr(b, &peer->ipblock->except[i]);
		}
		return;
	}
	if (peer->ns_sel) {
		flowline_buf_puts(b, "namespaceSelector ");
		put_selector(b, peer->ns_sel);
	}
	if (peer->ns_sel && peer->pod_sel)
		flowline_buf_puts(b, " AND ");
	if (peer->pod_sel) {
		flowline_buf_puts(b, "podSelector ");
		put_selector(b, peer->pod_sel);
		if (!peer->ns_sel)
			flowline_buf_printf(b, " in namespace %s", pol->ns);
	}
}

static void put_port(struct flowline_buf *b, const struct pol_port *p)
{
	const char *proto = pol_proto_name(p->proto);

	if (!p->has_port)
		flowline_buf_printf(b, "every %s port", proto ? proto : "?");
	else if (p->name)
		flowline_buf_printf(b, "%s/%s", p->name, proto ? proto : "?");
	else if (p->end_port)
		flowline_buf_printf(b, "%u-%u/%s", p->port, p->end_port, proto ? proto : "?");
	else
		flowline_buf_printf(b, "%u/%s", p->port, proto ? proto : "?");
}

static void put_flow_port(struct flowline_buf *b, const struct pol_flow *f)
{
	if (f->proto == POL_PROTO_ICMP || f->proto == POL_PROTO_ICMPV6)
		flowline_buf_puts(b, pol_proto_name(f->proto));
	else
		flowline_buf_printf(b, "%u/%s", f->port, pol_proto_name(f->proto));
}

static void put_labels(struct flowline_buf *b, const struct pol_labels *l)
{
	if (l->n == 0) {
		flowline_buf_puts(b, "(none)");
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		flowline_buf_printf(b, "%s%s=%s", i ? ", " : "", l->items[i].key, l->items[i].value);
}

static void put_selfail(struct flowline_buf *b, const struct pol_explain_selfail *f)
{
	if (f->have)
		flowline_buf_printf(b, "has %s=%s", f->key, f->have);
	else
		flowline_buf_printf(b, "has no label %s", f->key);
	if (!f->expr) {
		flowline_buf_printf(b, ", needs %s=%s", f->key, f->want);
		return;
	}
	flowline_buf_puts(b, ", needs ");
	put_expr(b, f->expr);
}

static void put_ip(struct flowline_buf *b, const struct pol_ip *ip)
{
	char s[POL_IP_STRLEN];

	flowline_buf_puts(b, pol_ip_format(ip, s, sizeof(s)));
}

/* ---- text output ------------------------------------------------------ */

static void text_endpoint(struct flowline_buf *b, const char *title, enum pol_endpoint_kind kind,
			  const struct pol_pod *pod, const struct pol_ip *ip,
			  const struct pol_namespace *ns)
{
	flowline_buf_printf(b, "%-12s", title);
	switch (kind) {
	case POL_EP_POD:
		flowline_buf_printf(b, "pod %s/%s (", pod->ns, pod->name);
		put_ip(b, ip);
		if (pod->node_name)
			flowline_buf_printf(b, ", node %s", pod->node_name);
		flowline_buf_puts(b, ")\n            pod labels: ");
		put_labels(b, &pod->labels);
		flowline_buf_printf(b, "\n            namespace %s labels: ", pod->ns);
		if (ns)
			put_labels(b, &ns->labels);
		else
			flowline_buf_puts(b, "(namespace not in the cluster files)");
		flowline_buf_puts(b, "\n");
		return;
	case POL_EP_NODE:
		put_ip(b, ip);
		flowline_buf_puts(b, ", a node address (host-network pods count as their node)\n");
		return;
	case POL_EP_EXTERNAL:
		put_ip(b, ip);
		flowline_buf_puts(b, ", outside the cluster (no pod or node has this address)\n");
		return;
	}
}

/* sep goes between the namespace and the pod part of a selector failure. */
static void text_peer_fail(struct flowline_buf *b, const struct pol_explain *x,
			   const struct pol_explain_dir *d, const struct pol_explain_peer *pf,
			   const char *sep)
{
	const struct pol_ip *other_ip = d->egress ? &x->flow.dst : &x->flow.src;
	const struct pol_pod *other = d->egress ? x->verdict.dst_pod : x->verdict.src_pod;

	switch (pf->fail) {
	case POL_XF_NONE:
		if (pf->except || (!pf->ns_sel.failed && !pf->pod_sel.failed && !other)) {
			put_ip(b, other_ip);
			flowline_buf_puts(b, " is inside the CIDR");
		} else if (other) {
			flowline_buf_printf(b, "pod %s/%s matches", other->ns, other->name);
		} else {
			flowline_buf_puts(b, "matches");
		}
		return;
	case POL_XF_NOT_A_POD:
		put_ip(b, other_ip);
		flowline_buf_puts(b, " is not a pod, and selectors match pods only");
		return;
	case POL_XF_OTHER_NAMESPACE:
		flowline_buf_printf(b, "pod %s/%s is in namespace %s; a podSelector without namespaceSelector selects only its policy's namespace",
				    other->ns, other->name, other->ns);
		return;
	case POL_XF_SELECTOR:
		if (pf->ns_sel.failed) {
			flowline_buf_printf(b, "namespace %s ", pf->peer_ns ? pf->peer_ns : "?");
			put_selfail(b, &pf->ns_sel);
		}
		if (pf->ns_sel.failed && pf->pod_sel.failed)
			flowline_buf_puts(b, sep);
		if (pf->pod_sel.failed) {
			flowline_buf_printf(b, "pod %s/%s ", other ? other->ns : "?",
					    other ? other->name : "?");
			put_selfail(b, &pf->pod_sel);
		}
		return;
	case POL_XF_CIDR:
		put_ip(b, other_ip);
		flowline_buf_puts(b, " is outside the CIDR");
		return;
	case POL_XF_EXCEPT:
		put_ip(b, other_ip);
		flowline_buf_puts(b, " is inside the CIDR but excepted by ");
		put_cidr(b, pf->except);
		return;
	default:
		flowline_buf_puts(b, pol_explain_fail_name(pf->fail));
		return;
	}
}

static void text_port_fail(struct flowline_buf *b, const struct pol_explain *x,
			   const struct pol_port *p, const struct pol_explain_port *pf)
{
	const struct pol_pod *dst = x->verdict.dst_pod;

	switch (pf->fail) {
	case POL_XF_NONE:
		flowline_buf_puts(b, "matches ");
		put_flow_port(b, &x->flow);
		return;
	case POL_XF_PROTOCOL:
		flowline_buf_printf(b, "protocol %s, the connection is %s",
				    pol_proto_name(p->proto), pol_proto_name(x->flow.proto));
		if (x->flow.proto == POL_PROTO_ICMP || x->flow.proto == POL_PROTO_ICMPV6)
			flowline_buf_puts(b, " (only a rule without ports matches ICMP)");
		return;
	case POL_XF_PORT:
		flowline_buf_printf(b, "the connection is to port %u", x->flow.port);
		return;
	case POL_XF_NAMED_PORT_UNDEFINED:
		flowline_buf_printf(b, "pod %s/%s defines no %s container port named \"%s\"",
				    dst->ns, dst->name, pol_proto_name(p->proto), p->name);
		return;
	case POL_XF_NAMED_PORT_OTHER:
		flowline_buf_printf(b, "\"%s\" is port %u on pod %s/%s, the connection is to port %u",
				    p->name, pf->resolved, dst->ns, dst->name, x->flow.port);
		return;
	case POL_XF_NAMED_PORT_NOT_POD:
		flowline_buf_puts(b, "the destination is not a pod, so a named port cannot match");
		return;
	default:
		flowline_buf_puts(b, pol_explain_fail_name(pf->fail));
		return;
	}
}

static void text_rule(struct flowline_buf *b, const struct pol_explain *x,
		      const struct pol_explain_dir *d, const struct pol_explain_policy *ep,
		      const struct pol_explain_rule *r, int idx, bool allowing)
{
	const struct pol_policy *pol = ep->policy;
	const struct pol_rule *rule = d->egress ? &pol->egress[idx] : &pol->ingress[idx];
	const char *peers_key = d->egress ? "to" : "from";

	if (rule->n_peers == 0) {
		flowline_buf_printf(b, "      %s: any peer (no '%s' list)\n", peers_key, peers_key);
	} else {
		for (size_t i = 0; i < r->n_peers; i++) {
			if (allowing && (int)i != r->matched_peer)
				continue;
			flowline_buf_printf(b, "      %s[%zu] ", peers_key, i);
			put_peer(b, &rule->peers[i], pol);
			flowline_buf_puts(b, r->peers[i].fail == POL_XF_NONE ? "\n          ok: " : "\n          no: ");
			text_peer_fail(b, x, d, &r->peers[i], "\n          no: ");
			flowline_buf_puts(b, "\n");
		}
	}
	if (rule->n_ports == 0) {
		flowline_buf_puts(b, "      ports: any port and protocol (no 'ports' list)\n");
		return;
	}
	for (size_t i = 0; i < r->n_ports; i++) {
		if (allowing && (int)i != r->matched_port)
			continue;
		flowline_buf_printf(b, "      ports[%zu] ", i);
		put_port(b, &rule->ports[i]);
		flowline_buf_puts(b, r->ports[i].fail == POL_XF_NONE ? "\n          ok: " : "\n          no: ");
		text_port_fail(b, x, &rule->ports[i], &r->ports[i]);
		flowline_buf_puts(b, "\n");
	}
}

static void text_dir(struct flowline_buf *b, const struct pol_explain *x, const struct pol_explain_dir *d)
{
	const struct pol_verdict *v = &x->verdict;
	const struct pol_dir_result *res = d->egress ? &v->egress : &v->ingress;
	const char *dname = d->egress ? "egress" : "ingress";
	const char *Dname = d->egress ? "Egress" : "Ingress";

	if (!d->pod) {
		flowline_buf_printf(b, "%s: the %s is not a pod; no policy applies to it.\n",
				    Dname, d->egress ? "source" : "destination");
		return;
	}
	flowline_buf_printf(b, "%s of %s/%s: ", Dname, d->pod->ns, d->pod->name);
	if (res->state == POL_DIR_SKIPPED) {
		flowline_buf_printf(b, "not decided here (the pod runs on node %s, not this node).\n",
				    d->pod->node_name ? d->pod->node_name : "(none)");
		return;
	}
	if (res->state == POL_DIR_NOT_ISOLATED) {
		flowline_buf_printf(b, "ALLOWED, not isolated (no policy in namespace %s selects it for %s).\n",
				    d->pod->ns, dname);
		return;
	}
	if (!d->analysed)
		return;
	flowline_buf_printf(b, "%s\n  isolated by %zu polic%s:", res->state == POL_DIR_ALLOWED ? "ALLOWED" : "DENIED",
			    d->n_policies, d->n_policies == 1 ? "y" : "ies");
	for (size_t i = 0; i < d->n_policies; i++)
		flowline_buf_printf(b, "%s %s/%s%s", i ? "," : "", d->policies[i].policy->ns,
				    d->policies[i].policy->name,
				    d->policies[i].policy->staged ? " (staged)" : "");
	flowline_buf_puts(b, "\n");
	if (res->state == POL_DIR_ALLOWED) {
		for (size_t i = 0; i < d->n_policies; i++) {
			const struct pol_explain_policy *ep = &d->policies[i];

			if (ep->policy != res->policy || res->rule < 0 || (size_t)res->rule >= ep->n_rules)
				continue;
			flowline_buf_printf(b, "  allowed by %s/%s %s[%d]:\n", ep->policy->ns,
					    ep->policy->name, dname, res->rule);
			text_rule(b, x, d, ep, &ep->rules[res->rule], res->rule, true);
		}
		return;
	}
	flowline_buf_printf(b, "  no rule of these policies allows it:\n");
	for (size_t i = 0; i < d->n_policies; i++) {
		const struct pol_explain_policy *ep = &d->policies[i];

		flowline_buf_printf(b, "  - %s/%s: ", ep->policy->ns, ep->policy->name);
		if (ep->closest < 0) {
			flowline_buf_printf(b, "has no %s rules (it only isolates)\n", dname);
			continue;
		}
		if (ep->n_rules == 1)
			flowline_buf_printf(b, "its only rule %s[0]:\n", dname);
		else
			flowline_buf_printf(b, "closest of %zu rules is %s[%d]:\n", ep->n_rules, dname, ep->closest);
		text_rule(b, x, d, ep, &ep->rules[ep->closest], ep->closest, false);
	}
	flowline_buf_printf(b, "  To allow it, a policy of namespace %s selecting this pod needs an %s rule\n"
			    "  that matches ", d->pod->ns, dname);
	{
		const struct pol_pod *other = d->egress ? x->verdict.dst_pod : x->verdict.src_pod;

		if (other)
			flowline_buf_printf(b, "pod %s/%s", other->ns, other->name);
		else
			put_ip(b, d->egress ? &x->flow.dst : &x->flow.src);
	}
	flowline_buf_puts(b, " and ");
	put_flow_port(b, &x->flow);
	flowline_buf_puts(b, ".\n");
}

/* A pod given by name that uses the host network is not what the
 * policies see: say so next to the endpoint. */
static void host_network_note(struct flowline_buf *b, const struct endpoint_arg *ep)
{
	if (!ep->pod || !ep->pod->host_network)
		return;
	flowline_buf_printf(b, "            (%s/%s uses the host network: its traffic is node %s's, and\n"
			    "             pod and namespace selectors never match it)\n",
			    ep->pod->ns, ep->pod->name, ep->pod->node_name ? ep->pod->node_name : "?");
}

static void text_output(struct flowline_buf *b, const struct pol_explain *x,
			const struct endpoint_arg *src_arg, const struct endpoint_arg *dst_arg)
{
	const struct pol_verdict *v = &x->verdict;

	flowline_buf_puts(b, "Connection  ");
	put_ip(b, &x->flow.src);
	flowline_buf_puts(b, " -> ");
	put_ip(b, &x->flow.dst);
	flowline_buf_puts(b, " ");
	put_flow_port(b, &x->flow);
	flowline_buf_puts(b, "\n");
	text_endpoint(b, "Source", v->src_kind, v->src_pod, &x->flow.src, x->src_ns);
	host_network_note(b, src_arg);
	text_endpoint(b, "Destination", v->dst_kind, v->dst_pod, &x->flow.dst, x->dst_ns);
	host_network_note(b, dst_arg);
	flowline_buf_printf(b, "Verdict     %s", v->allowed ? "ALLOW" : "DENY");
	if (v->reason == POL_REASON_SELF)
		flowline_buf_puts(b, ": a pod may always reach itself");
	else if (v->reason == POL_REASON_NODE)
		flowline_buf_puts(b, ": traffic between a pod and its own node is always allowed");
	else if (!v->allowed && !x->egress.allowed && !x->ingress.allowed)
		flowline_buf_puts(b, ": both the source's egress and the destination's ingress deny it");
	else if (!v->allowed && !x->egress.allowed)
		flowline_buf_puts(b, ": the source's egress denies it");
	else if (!v->allowed)
		flowline_buf_puts(b, ": the destination's ingress denies it");
	else
		flowline_buf_puts(b, ": egress and ingress both allow it");
	flowline_buf_puts(b, "\n");
	if (v->reason != POL_REASON_POLICY)
		return;
	flowline_buf_puts(b, "\n");
	text_dir(b, x, &x->egress);
	flowline_buf_puts(b, "\n");
	text_dir(b, x, &x->ingress);
}

/* ---- JSON output ------------------------------------------------------ */

static void json_ip(struct flowline_buf *b, const struct pol_ip *ip)
{
	char s[POL_IP_STRLEN];

	flowline_buf_json_string(b, pol_ip_format(ip, s, sizeof(s)));
}

static void json_labels(struct flowline_buf *b, const struct pol_labels *l)
{
	flowline_buf_puts(b, "{");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			flowline_buf_puts(b, ", ");
		flowline_buf_json_string(b, l->items[i].key);
		flowline_buf_puts(b, ": ");
		flowline_buf_json_string(b, l->items[i].value);
	}
	flowline_buf_puts(b, "}");
}

static void json_endpoint(struct flowline_buf *b, enum pol_endpoint_kind kind,
			  const struct pol_pod *pod, const struct pol_ip *ip,
			  const struct pol_namespace *ns)
{
	static const char *const kinds[] = { "external", "pod", "node" };

	flowline_buf_puts(b, "{\"ip\": ");
	json_ip(b, ip);
	flowline_buf_printf(b, ", \"kind\": \"%s\", \"pod\": ", kinds[kind]);
	if (kind != POL_EP_POD || !pod) {
		flowline_buf_puts(b, "null}");
		return;
	}
	flowline_buf_json_ref(b, pod->ns, pod->name);
	flowline_buf_puts(b, ", \"node\": ");
	flowline_buf_json_string(b, pod->node_name);
	flowline_buf_puts(b, ", \"labels\": ");
	json_labels(b, &pod->labels);
	flowline_buf_puts(b, ", \"namespace_labels\": ");
	if (ns)
		json_labels(b, &ns->labels);
	else
		flowline_buf_puts(b, "null");
	flowline_buf_puts(b, "}");
}

static void json_text_of(struct flowline_buf *b, void (*fn)(struct flowline_buf *, const void *),
			 const void *arg)
{
	struct flowline_buf t = { 0 };

	fn(&t, arg);
	if (t.oom)
		b->oom = true;
	flowline_buf_json_string(b, t.s ? t.s : "");
	flowline_buf_free(&t);
}

static void selector_text(struct flowline_buf *b, const void *sel)
{
	put_selector(b, sel);
}

static void json_selfail(struct flowline_buf *b, const struct pol_explain_selfail *f)
{
	if (!f->failed) {
		flowline_buf_puts(b, "null");
		return;
	}
	flowline_buf_puts(b, "{\"key\": ");
	flowline_buf_json_string(b, f->key);
	if (!f->expr) {
		flowline_buf_puts(b, ", \"operator\": \"=\", \"values\": [");
		flowline_buf_json_string(b, f->want);
		flowline_buf_puts(b, "]");
	} else {
		flowline_buf_printf(b, ", \"operator\": \"%s\", \"values\": [", op_name(f->expr->op));
		for (size_t i = 0; i < f->expr->n_values; i++) {
			if (i)
				flowline_buf_puts(b, ", ");
			flowline_buf_json_string(b, f->expr->values[i]);
		}
		flowline_buf_puts(b, "]");
	}
	flowline_buf_puts(b, ", \"has\": ");
	flowline_buf_json_string(b, f->have);
	flowline_buf_puts(b, "}");
}

struct peer_arg {
	const struct pol_peer *peer;
	const struct pol_policy *pol;
};

static void peer_text(struct flowline_buf *b, const void *arg)
{
	const struct peer_arg *pa = arg;

	put_peer(b, pa->peer, pa->pol);
}

static void port_text(struct flowline_buf *b, const void *p)
{
	put_port(b, p);
}

struct fail_arg {
	const struct pol_explain *x;
	const struct pol_explain_dir *d;
	const struct pol_port *port;
	const struct pol_explain_peer *peer;
	const struct pol_explain_port *pf;
};

static void peer_fail_text(struct flowline_buf *b, const void *arg)
{
	const struct fail_arg *fa = arg;

	text_peer_fail(b, fa->x, fa->d, fa->peer, "; ");
}

static void port_fail_text(struct flowline_buf *b, const void *arg)
{
	const struct fail_arg *fa = arg;

	text_port_fail(b, fa->x, fa->port, fa->pf);
}

static void json_rule(struct flowline_buf *b, const struct pol_explain *x,
		      const struct pol_explain_dir *d, const struct pol_policy *pol,
		      const struct pol_explain_rule *r, size_t idx)
{
	const struct pol_rule *rule = d->egress ? &pol->egress[idx] : &pol->ingress[idx];

	flowline_buf_printf(b, "{\"index\": %zu, \"matches\": %s, \"peers_match\": %s, \"ports_match\": %s, \"peers\": [",
			    idx, r->peers_match && r->ports_match ? "true" : "false",
			    r->peers_match ? "true" : "false", r->ports_match ? "true" : "false");
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct pol_explain_peer *pf = &r->peers[i];
		struct peer_arg pa = { &rule->peers[i], pol };
		struct fail_arg fa = { .x = x, .d = d, .peer = pf };

		flowline_buf_printf(b, "%s{\"index\": %zu, \"peer\": ", i ? ", " : "", i);
		json_text_of(b, peer_text, &pa);
		flowline_buf_printf(b, ", \"match\": %s, \"fail\": ", pf->fail == POL_XF_NONE ? "true" : "false");
		if (pf->fail == POL_XF_NONE)
			flowline_buf_puts(b, "null");
		else
			flowline_buf_json_string(b, pol_explain_fail_name(pf->fail));
		flowline_buf_puts(b, ", \"namespace_selector\": ");
		json_selfail(b, &pf->ns_sel);
		flowline_buf_puts(b, ", \"pod_selector\": ");
		json_selfail(b, &pf->pod_sel);
		flowline_buf_puts(b, ", \"except\": ");
		if (pf->except) {
			char s[POL_CIDR_STRLEN];

			flowline_buf_json_string(b, pol_cidr_format(pf->except, s, sizeof(s)));
		} else {
			flowline_buf_puts(b, "null");
		}
		flowline_buf_puts(b, ", \"text\": ");
		json_text_of(b, peer_fail_text, &fa);
		flowline_buf_puts(b, "}");
	}
	flowline_buf_puts(b, "], \"ports\": [");
	for (size_t i = 0; i < r->n_ports; i++) {
		const struct pol_explain_port *pf = &r->ports[i];
		struct fail_arg fa = { .x = x, .d = d, .port = &rule->ports[i], .pf = pf };

		flowline_buf_printf(b, "%s{\"index\": %zu, \"port\": ", i ? ", " : "", i);
		json_text_of(b, port_text, &rule->ports[i]);
		flowline_buf_printf(b, ", \"match\": %s, \"fail\": ", pf->fail == POL_XF_NONE ? "true" : "false");
		if (pf->fail == POL_XF_NONE)
			flowline_buf_puts(b, "null");
		else
			flowline_buf_json_string(b, pol_explain_fail_name(pf->fail));
		if (pf->resolved)
			flowline_buf_printf(b, ", \"resolved\": %u", pf->resolved);
		flowline_buf_puts(b, ", \"text\": ");
		json_text_of(b, port_fail_text, &fa);
		flowline_buf_puts(b, "}");
	}
	flowline_buf_puts(b, "]}");
}

static void json_dir(struct flowline_buf *b, const struct pol_explain *x, const struct pol_explain_dir *d)
{
	static const char *const states[] = { "not local", "not isolated", "allowed", "denied" };

	flowline_buf_puts(b, "{\"pod\": ");
	if (d->pod)
		flowline_buf_json_ref(b, d->pod->ns, d->pod->name);
	else
		flowline_buf_puts(b, "null");
	flowline_buf_printf(b, ", \"state\": \"%s\", \"policies\": [",
			    d->pod ? states[d->state] : "not a pod");
	for (size_t i = 0; i < d->n_policies; i++) {
		const struct pol_explain_policy *ep = &d->policies[i];

		flowline_buf_puts(b, i ? ", {\"policy\": " : "{\"policy\": ");
		flowline_buf_json_ref(b, ep->policy->ns, ep->policy->name);
		flowline_buf_printf(b, ", \"staged\": %s, \"pod_selector\": ", ep->policy->staged ? "true" : "false");
		json_text_of(b, selector_text, &ep->policy->pod_sel);
		flowline_buf_printf(b, ", \"allows\": %s, \"closest_rule\": ", ep->allows ? "true" : "false");
		if (ep->closest < 0)
			flowline_buf_puts(b, "null");
		else
			flowline_buf_printf(b, "%d", ep->closest);
		flowline_buf_puts(b, ", \"rules\": [");
		for (size_t j = 0; j < ep->n_rules; j++) {
			if (j)
				flowline_buf_puts(b, ", ");
			json_rule(b, x, d, ep->policy, &ep->rules[j], j);
		}
		flowline_buf_puts(b, "]}");
	}
	flowline_buf_puts(b, "]}");
}

static void json_output(struct flowline_buf *b, const struct pol_explain *x)
{
	const struct pol_verdict *v = &x->verdict;

	flowline_buf_puts(b, "{\"flow\": {\"src\": ");
	json_ip(b, &x->flow.src);
	flowline_buf_puts(b, ", \"dst\": ");
	json_ip(b, &x->flow.dst);
	flowline_buf_printf(b, ", \"protocol\": \"%s\", \"port\": ", pol_proto_name(x->flow.proto));
	if (x->flow.proto == POL_PROTO_ICMP || x->flow.proto == POL_PROTO_ICMPV6)
		flowline_buf_puts(b, "null");
	else
		flowline_buf_printf(b, "%u", x->flow.port);
	flowline_buf_puts(b, "}, \"source\": ");
	json_endpoint(b, v->src_kind, v->src_pod, &x->flow.src, x->src_ns);
	flowline_buf_puts(b, ", \"destination\": ");
	json_endpoint(b, v->dst_kind, v->dst_pod, &x->flow.dst, x->dst_ns);
	flowline_buf_printf(b, ", \"verdict\": \"%s\", \"reason\": ", v->allowed ? "allow" : "deny");
	flowline_format_reason_json(b, v);
	flowline_buf_puts(b, ", \"egress\": ");
	json_dir(b, x, &x->egress);
	flowline_buf_puts(b, ", \"ingress\": ");
	json_dir(b, x, &x->ingress);
	flowline_buf_printf(b, ", \"consistent\": %s}\n", x->consistent ? "true" : "false");
}

static int explain_flow(const struct pol_model *model, const struct explain_opts *o)
{
	struct endpoint_arg src, dst;
	struct flowline_buf out = { 0 };
	struct pol_flow flow = { 0 };
	struct pol_verdict v;
	struct pol_explain *x;
	int ret;

	flow.proto = o->proto;
	flow.port = o->port_num;
	ret = resolve_endpoint(model, "--from", o->from, &src);
	if (ret == CMD_OK)
		ret = resolve_endpoint(model, "--to", o->to, &dst);
	if (ret != CMD_OK)
		return ret;
	if (!pick_pair(&src, &dst, flow.proto == POL_PROTO_ICMPV6, &flow.src, &flow.dst)) {
		log_errx("explain: %s and %s have no address family in common (IPv4 / IPv6)", o->from, o->to);
		return CMD_USAGE;
	}
	if (flow.proto == POL_PROTO_ICMP && !pol_ip_is_v4(&flow.src))
		flow.proto = POL_PROTO_ICMPV6;
	else if (flow.proto == POL_PROTO_ICMPV6 && pol_ip_is_v4(&flow.src))
		flow.proto = POL_PROTO_ICMP;

	pol_eval(model, &flow, o->eval_flags, &v);
	x = pol_explain_flow(model, &flow, &v);
	if (!x) {
		log_err("explain");
		return CMD_FAILURE;
	}
	if (o->json)
		json_output(&out, x);
	else
		text_output(&out, x, &src, &dst);
	if (!x->consistent)
		log_errx("explain: internal inconsistency: the rule analysis disagrees with the verdict; please report this with the cluster files");
	pol_explain_free(x);
	if (out.oom) {
		flowline_buf_free(&out);
		log_errx("explain: out of memory");
		return CMD_FAILURE;
	}
	if (fwrite(out.s, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		flowline_buf_free(&out);
		log_err("explain: writing the output");
		return CMD_FAILURE;
	}
	flowline_buf_free(&out);
	return v.allowed ? CMD_OK : CMD_NEGATIVE;
}

int cmd_explain(int argc, char **argv)
{
	struct explain_opts o = { 0 };
	struct pol_model *model = NULL;
	int ret;

	ret = parse_args(argc, argv, &o);
	if (ret != CMD_OK) {
		offline_paths_free(&o.clusters);
		return ret < 0 ? CMD_OK : ret;
	}
	ret = offline_load_model_from("explain", o.clusters.v, o.clusters.n, &o.live, o.node, &model);
	if (ret == CMD_OK)
		ret = explain_flow(model, &o);
	pol_model_free(model);
	offline_paths_free(&o.clusters);
	return ret;
}

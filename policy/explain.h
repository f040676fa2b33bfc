/* SPDX-License-Identifier: Apache-2.0 */
/* policy/explain.h - why a flow got its verdict, part by part.
 *
 * pol_explain_flow() re-examines one flow against every policy that isolates
 * its source (egress) or destination (ingress), rule by rule, and records for
 * each rule which peer and which port matched or exactly what did not: the
 * label or expression of a pod or namespace selector, the ipBlock CIDR or the
 * except that holds the address, the protocol, the port or port range, or a
 * named port the destination pod does not define. The CLI formats this for a
 * person or as JSON. It is slow on purpose (it looks at every rule of the
 * isolating policies, and records everything); the packet path never calls it.
 *
 * Ownership: the returned struct pol_explain and its arrays are owned by the
 * caller and freed with pol_explain_free(). Policies, pods, selectors,
 * expressions and CIDRs it points to are borrowed from the model and valid
 * as long as the model. Pure: no I/O.
 */
#ifndef NPSHIM_POLICY_EXPLAIN_H
#define NPSHIM_POLICY_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

/* What did not match. POL_XF_NONE: the part matched. */
enum pol_explain_fail {
	POL_XF_NONE,
	/* peers */
	POL_XF_NOT_A_POD,        /* a selector peer, but the other end is no pod */
	POL_XF_OTHER_NAMESPACE,  /* podSelector alone: the pod is in another namespace */
	POL_XF_SELECTOR,         /* pod and/or namespace selector (see the peer) */
	POL_XF_CIDR,             /* the address is outside ipBlock.cidr (or other family) */
	POL_XF_EXCEPT,           /* inside ipBlock.cidr but also inside an except */
	/* ports */
	POL_XF_PROTOCOL,         /* the port entry is for another protocol */
	POL_XF_PORT,             /* another port number, or outside port..endPort */
	POL_XF_NAMED_PORT_UNDEFINED, /* the destination pod has no such named port */
	POL_XF_NAMED_PORT_OTHER, /* the named port is defined with another number */
	POL_XF_NAMED_PORT_NOT_POD, /* the destination is no pod: names cannot resolve */
};

/* The first requirement of a selector that the labels fail: a matchLabels
 * entry (expr NULL; key and want set) or an expression. */
struct pol_explain_selfail {
	bool failed;
	const char *key;
	const char *want;                /* matchLabels value */
	const struct pol_sel_expr *expr; /* failing expression, or NULL */
	const char *have;                /* the label's value, NULL when absent */
};

struct pol_explain_peer {
	enum pol_explain_fail fail;
	struct pol_explain_selfail pod_sel; /* fail == POL_XF_SELECTOR */
	struct pol_explain_selfail ns_sel;
	const char *peer_ns;                /* namespace of the peer pod, or NULL */
	const struct pol_cidr *except;      /* POL_XF_EXCEPT: the except entry */
};

struct pol_explain_port {
	enum pol_explain_fail fail;
	uint16_t resolved; /* a named port's number on the destination pod, 0 if none */
};

struct pol_explain_rule {
	bool peers_match;  /* some peer matched, or the rule has no peers */
	bool ports_match;  /* some port matched, or the rule has no ports */
	int matched_peer;  /* index, -1 when none or the rule has no peers */
	int matched_port;
	struct pol_explain_peer *peers; /* one per rule peer */
	size_t n_peers;
	struct pol_explain_port *ports; /* one per rule port */
	size_t n_ports;
};

struct pol_explain_policy {
	const struct pol_policy *policy;
	bool allows;
	/* The first allowing rule, else the closest: fewest failing parts (peer
	 * side, port side), first in order on a tie. -1: no rules for the
	 * direction (the policy only isolates). */
	int closest;
	struct pol_explain_rule *rules; /* every rule of the direction */
	size_t n_rules;
};

struct pol_explain_dir {
	bool egress;                  /* else ingress */
	const struct pol_pod *pod;    /* whose direction; NULL when not a pod */
	enum pol_dir_state state;     /* from the verdict */
	bool analysed;                /* state is ALLOWED or DENIED */
	bool allowed;                 /* the analysis' own conclusion */
	struct pol_explain_policy *policies; /* the isolating policies, in order */
	size_t n_policies;
};

struct pol_explain {
	struct pol_flow flow;
	struct pol_verdict verdict;
	const struct pol_namespace *src_ns; /* of the pods, NULL when unknown */
	const struct pol_namespace *dst_ns;
	struct pol_explain_dir egress;  /* of the source */
	struct pol_explain_dir ingress; /* of the destination */
	/* False if the analysis reached another verdict than pol_eval(): a bug
	 * in one of the two, which the caller must show. */
	bool consistent;
};

/* Analyse flow, whose verdict v came from pol_eval(model, flow, flags).
 * NULL with errno = ENOMEM on allocation failure. */
struct pol_explain *pol_explain_flow(const struct pol_model *model,
				     const struct pol_flow *flow,
				     const struct pol_verdict *v);
void pol_explain_free(struct pol_explain *x);

/* Short stable name of a failure for JSON: "selector", "not a pod",
 * "other namespace", "cidr", "except", "protocol", "port", "named port
 * undefined", "named port number", "named port needs a pod destination";
 * "" for POL_XF_NONE. */
const char *pol_explain_fail_name(enum pol_explain_fail f);

/* The first requirement of sel that labels fail, in the order the selector
 * lists them (matchLabels, then matchExpressions). */
struct pol_explain_selfail pol_explain_selector(const struct pol_selector *sel,
						const struct pol_labels *labels);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* policy/model.h - the compiled, immutable policy model and flow evaluation.
 *
 * pol_model_build() takes ownership of a struct pol_cluster and compiles it
 * once into lookup structures (IP hash for endpoints, longest-prefix trie for
 * ipBlocks, per-pod lists of selecting policies and pre-matched peers), so
 * that pol_eval() never scans every policy. A model is never modified after
 * it is built; any number of threads may evaluate it at once. Pure: no I/O.
 */
#ifndef NPSHIM_POLICY_MODEL_H
#define NPSHIM_POLICY_MODEL_H

#include "policy/objects.h"

struct pol_model;

struct pol_build_opts {
	/* Only pods on this node are enforced (egress of local sources, ingress
	 * of local destinations). NULL: every pod counts as local. */
	const char *node_name;
	/* Extra addresses of this node (--node-ip); always allowed. */
	const struct pol_ip *node_ips;
	size_t n_node_ips;
};

/* Build a model. Takes ownership of cluster in every case (freed on
 * failure). opts may be NULL. On a semantic error (for example two running
 * pods with one IP) returns NULL and writes a message naming the objects to
 * err; on ENOMEM returns NULL with errno set. */
struct pol_model *pol_model_build(struct pol_cluster *cluster,
				  const struct pol_build_opts *opts,
				  char *err, size_t errlen);
void pol_model_free(struct pol_model *model);

/* Borrowed; valid as long as the model. */
const struct pol_cluster *pol_model_cluster(const struct pol_model *model);

struct pol_flow {
	struct pol_ip src;
	struct pol_ip dst;
	uint8_t proto;  /* enum pol_proto */
	uint16_t port;  /* destination port; 0 for ICMP */
};

enum pol_endpoint_kind {
	POL_EP_EXTERNAL, /* no pod and no node of the model */
	POL_EP_POD,
	POL_EP_NODE,     /* a pod's hostIP, or one of opts->node_ips */
};

enum pol_dir_state {
	POL_DIR_SKIPPED,      /* not a local pod: this node does not decide it */
	POL_DIR_NOT_ISOLATED, /* no policy selects the pod for this direction */
	POL_DIR_ALLOWED,
	POL_DIR_DENIED,
};

struct pol_dir_result {
	enum pol_dir_state state;
	/* POL_DIR_ALLOWED: the first policy (in cluster order) and its rule index
	 * that allowed the flow. */
	const struct pol_policy *policy;
	int rule;
	/* Policies that select the pod for this direction (isolate it), borrowed
	 * from the model, in cluster order; set for ALLOWED and DENIED. */
	const struct pol_policy *const *isolating;
	size_t n_isolating;
};

enum pol_reason {
	POL_REASON_POLICY, /* decided by the two directions below */
	POL_REASON_SELF,   /* a pod reaching itself */
	POL_REASON_NODE,   /* between a pod and its own node, or a node IP */
};

struct pol_verdict {
	bool allowed;
	enum pol_reason reason;
	enum pol_endpoint_kind src_kind;
	enum pol_endpoint_kind dst_kind;
	const struct pol_pod *src_pod; /* borrowed; NULL unless kind is POD */
	const struct pol_pod *dst_pod;
	struct pol_dir_result egress;  /* of the source */
	struct pol_dir_result ingress; /* of the destination */
};

enum pol_eval_flags {
	/* Leave staged policies (npshim.io/mode: audit) out: the verdict that is
	 * enforced. Without it every policy counts: the verdict to audit. */
	POL_EVAL_ENFORCED_ONLY = 1U << 0,
};

/* Decide one new connection. Never fails; out is always filled. */
void pol_eval(const struct pol_model *model, const struct pol_flow *flow,
	      unsigned flags, struct pol_verdict *out);

/* Endpoint lookup by address: the pod owning ip, or NULL. Borrowed. */
const struct pol_pod *pol_model_pod_by_ip(const struct pol_model *model,
					  const struct pol_ip *ip);
/* Pod by namespace and name, or NULL. Borrowed. */
const struct pol_pod *pol_model_pod_by_name(const struct pol_model *model,
					    const char *ns, const char *name);
const struct pol_namespace *pol_model_namespace(const struct pol_model *model,
						const char *name);
bool pol_model_has_staged(const struct pol_model *model);
bool pol_model_pod_is_local(const struct pol_model *model,
			    const struct pol_pod *pod);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* audit/recommend.h - least-privilege NetworkPolicies from observed flows.
 *
 * Input: a model of the cluster (current objects plus the recorded pods of
 * audit/replay.h) and resolved observations. Output: per namespace a
 * default-deny, a DNS egress policy when its pods resolved names, and one
 * ingress and one egress policy per workload group that had traffic.
 *
 * Workload groups: pods are grouped by the workload the daemon names them
 * after (audit_workload_of); pods without a controller are grouped by their
 * stable labels. Stable labels are those every pod of the group carries
 * with one value, minus per-instance labels (rec_label_is_instance). Groups
 * of one namespace whose stable labels are identical cannot be told apart
 * by any selector and become one group. The selector is the smallest subset
 * of the stable labels, in order of preference (rec_label_rank), that
 * selects exactly the group's pods among the pods of its namespace,
 * checked with pol_selector_matches(); failing that, every stable label
 * (the over-permission figures then show the extra pods).
 *
 * Peers: other groups by podSelector (plus a namespaceSelector on
 * kubernetes.io/metadata.name when in another namespace); nodes and
 * external addresses by ipBlock, merged to the --cidr-prefix block when
 * two or more distinct addresses share it. Ports as numbers, with endPort
 * for contiguous runs; ICMP cannot be named by a NetworkPolicy, so a peer
 * reached by ICMP gets a rule without ports (the figures say so).
 *
 * Ownership: struct rec_result owns everything in it; rec_result_free().
 * Pods and namespaces are borrowed from the model. Pure: no I/O.
 */
#ifndef NPSHIM_AUDIT_RECOMMEND_H
#define NPSHIM_AUDIT_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/replay.h"
#include "policy/model.h"

struct cJSON;

/* Label keys that differ between pods of one workload or between rollouts. */
bool rec_label_is_instance(const char *key);
/* Preference of a label key for selectors: lower is preferred. */
int rec_label_rank(const char *key);

/* Labels every pod carries with the same value, instance labels dropped.
 * out is cleared first. 0 or -1 (ENOMEM). */
int rec_stable_labels(const struct pol_pod *const *pods, size_t n, struct pol_labels *out);

/**
 * rec_choose_selector - the smallest subset of @stable (preferred keys
 * first) whose matchLabels select exactly the pods with member[i] true
 * among @pods (the namespace's pods). *exact is false when no subset of up
 * to three keys does; @out then holds every stable label. 0 or -1 (ENOMEM).
 */
int rec_choose_selector(const struct pol_labels *stable, const struct pol_pod *const *pods,
			const bool *member, size_t n, struct pol_labels *out, bool *exact);

/**
 * rec_merge_addrs - ipBlocks for a set of addresses.
 * Addresses sharing a /@prefix4 (IPv4) or /@prefix6 (IPv6) block with at
 * least one other address become that block; a lone address stays /32
 * (/128). @out (room for @n) gets the blocks sorted by address, each once;
 * @of[i] (may be NULL) the index in @out that covers addrs[i]. Returns the
 * number of blocks.
 */
size_t rec_merge_addrs(const struct pol_ip *addrs, size_t n, unsigned prefix4,
		       unsigned prefix6, struct pol_cidr *out, size_t *of);

struct rec_port {
	uint8_t proto;
	uint16_t port;
	uint16_t end_port; /* 0: a single port */
};

/* Sort and merge (proto, port) pairs into ranges: contiguous ports of one
 * protocol become port..end_port. @ports is sorted in place; @out needs
 * room for @n. Returns the number of entries. */
size_t rec_port_ranges(struct rec_port *ports, size_t n, struct rec_port *out);

struct rec_group {
	char *ns;
	char *name;       /* base of policy names, a DNS-1123 label */
	char *desc;       /* "Deployment api", "StatefulSet postgres and 1 more", ... */
	const struct pol_pod **pods;
	size_t n_pods;
	struct pol_labels stable;
	struct pol_labels selector;
	bool exact;
	bool dns;         /* pods labelled k8s-app=kube-dns */
};

enum rec_peer_type {
	REC_PEER_GROUP,
	REC_PEER_CIDR,
};

struct rec_peer {
	enum rec_peer_type type;
	const struct rec_group *group;
	struct pol_cidr cidr;
	size_t n_addrs;   /* distinct observed addresses in cidr */
	uint64_t count;
	int64_t first_ms, last_ms;
};

struct rec_rule {
	struct rec_peer *peers;
	size_t n_peers;
	struct rec_port *ports;
	size_t n_ports;
	bool all_ports;   /* ICMP was seen: the rule lists no ports */
	uint64_t count;
	int64_t first_ms, last_ms;
	/* Over-permission over the real pods of the cluster. */
	uint64_t pod_pairs, pod_pairs_unseen;
	uint64_t ports_open, ports_unseen; /* ports_open 0 with all_ports */
	uint64_t addrs, addrs_unseen;      /* in the ipBlocks of the rule */
};

enum rec_kind {
	REC_DEFAULT_DENY,
	REC_DNS,
	REC_INGRESS,
	REC_EGRESS,
};

struct rec_policy {
	enum rec_kind kind;
	char *ns;
	char *name;
	const struct rec_group *group; /* INGRESS, EGRESS */
	struct rec_rule *rules;
	size_t n_rules;
	uint64_t count;                /* connections covered */
	size_t n_flows;                /* observations covered */
	int64_t first_ms, last_ms;     /* 0 when none */
	uint64_t pods_selected;        /* real pods the podSelector picks */
};

struct rec_opts {
	/* Namespaces to write policies for; NULL = every namespace with a pod
	 * endpoint among the observations. */
	const char *const *namespaces;
	size_t n_namespaces;
	unsigned cidr_prefix;  /* IPv4, 1..32 */
	unsigned cidr_prefix6; /* IPv6, 1..128 */
	/* Cover flows the daemon dropped under enforce (default: left out,
	 * they never happened). */
	bool include_denied;
	unsigned eval_flags;
};

struct rec_result {
	struct rec_group *groups;
	size_t n_groups;
	struct rec_policy *policies;
	size_t n_policies;
	char **namespaces;     /* policies were written for these, sorted */
	size_t n_namespaces;
	/* Per observation (index as in the set): used for the policies. */
	bool *used;
	size_t n_used;
	size_t n_left_denied;  /* observations only ever dropped under enforce */
	size_t n_always;       /* observations always allowed (self, own node) */
	size_t n_outside;      /* observations touching no selected namespace */
	char **notes;          /* warnings for the reader */
	size_t n_notes;
};

/**
 * rec_build - the recommendation. @model holds the cluster and the recorded
 * pods; @obs was resolved against it. @existing (may be NULL) holds the
 * current policies: names already taken there are not reused.
 * Returns 0, or -1 with errno ENOMEM.
 */
int rec_build(const struct pol_model *model, const struct audit_obs_set *obs,
	      const struct pol_cluster *existing, const struct rec_opts *opts,
	      struct rec_result *out);
void rec_result_free(struct rec_result *r);

/* The policy as a Kubernetes object (networking.k8s.io/v1), with
 * annotations saying what it covers. NULL on ENOMEM. */
struct cJSON *rec_policy_json(const struct rec_policy *p);
/* One comment line per rule (what it covers and its over-permission),
 * heap string; NULL on ENOMEM. */
char *rec_rule_comment(const struct rec_policy *p, size_t rule);

/* Coverage of one observation under the proof model. */
struct rec_cover {
	bool covered;          /* every sampled pair allowed */
	struct pol_flow flow;  /* the first denied pair when not */
	struct pol_verdict verdict;
};

/**
 * rec_prove - evaluate every observation marked used in @r under @proof
 * (current + recorded pods + recommended policies, loaded back from the
 * emitted text). @cover gets one entry per observation (unused ones are
 * marked covered). *pairs counts evaluated pairs. Returns the number of
 * observations not covered.
 */
size_t rec_prove(const struct pol_model *proof, const struct audit_obs_set *obs,
		 const struct rec_result *r, unsigned eval_flags, struct rec_cover *cover,
		 size_t *pairs);

/* "2026-11-28T17:00:00Z" from Unix milliseconds. */
char *rec_time_format(int64_t ms, char *buf, size_t len);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* audit/replay.h - recorded flows back into evaluable connections.
 *
 * The store keeps one row per minute of an aggregated flow (workload pair,
 * protocol, port, verdict, ...) with a few sampled addresses, pod names and
 * the labels of one pod of each side. recommend and replay both need the
 * connections themselves again, to run them through pol_eval():
 *
 *   rows --audit_obs_add_row()--> observations (one per workload pair,
 *     protocol and port, over the whole window: counts summed, first/last
 *     seen widened, samples and days seen merged)
 *   observations + the current model --audit_obs_resolve()--> for each side
 *     the addresses to evaluate: sampled addresses that still belong to a
 *     pod of the same namespace and workload, or else a "recorded pod" built
 *     from the sampled labels (pods come and go during a week; the verdict
 *     their workload gets does not depend on which instance it was), with an
 *     address from a private range no cluster uses (fd6e:7073:6869:6d00::/64).
 *
 * Because rows only sample addresses (sources and destinations are not
 * paired), a flow is evaluated for every sampled source with every sampled
 * destination; all pods of one workload share the labels policies select
 * on, so the pairing never changes a verdict.
 *
 * Ownership: an audit_obs_set owns its observations and every string in
 * them; audit_obs_set_free() releases them. Recorded pods are appended to
 * a cluster the caller owns. Pure: no I/O.
 */
#ifndef NPSHIM_AUDIT_REPLAY_H
#define NPSHIM_AUDIT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

/* Samples kept per side after merging rows. */
#define AUDIT_OBS_SAMPLES 8

/* The private /64 recorded pods get their addresses from. */
#define AUDIT_OBS_GHOST_PREFIX "fd6e:7073:6869:6d00::/64"
/* Origin of a recorded pod (and namespace), so callers can tell them. */
#define AUDIT_OBS_GHOST_ORIGIN "recorded"

struct audit_obs_ep {
	enum pol_endpoint_kind kind; /* from the row's kind: Node, External, else pod */
	char *ns;                    /* "" for node and external */
	char *wl_kind;               /* Deployment, ..., Node, External */
	char *wl_name;
	struct pol_ip ips[AUDIT_OBS_SAMPLES];
	size_t n_ips;
	char *pods[AUDIT_OBS_SAMPLES];
	size_t n_pods;
	struct pol_labels labels;    /* sampled labels (first non-empty sample) */
	/* Filled by audit_obs_resolve(): what to evaluate for this side. */
	struct pol_ip eval[AUDIT_OBS_SAMPLES];
	size_t n_eval;
	bool ghost;                  /* eval is a recorded pod's address */
};

/* Bits of audit_obs.verdicts: 1 << enum audit_rec_verdict. */
struct audit_obs {
	struct audit_obs_ep src, dst;
	uint8_t proto;
	uint16_t port;
	uint64_t count;          /* connections */
	uint64_t rows;
	int64_t first_ms, last_ms;
	unsigned verdicts;
	uint64_t enforced_denies; /* connections dropped under enforce */
	int32_t *days;            /* distinct UTC days (Unix s / 86400), sorted */
	size_t n_days;
};

/* One row as read from the store; strings borrowed for the call. */
struct audit_obs_row {
	const char *src_ns, *src_kind, *src_name;
	const char *dst_ns, *dst_kind, *dst_name;
	uint8_t proto;
	uint16_t port;
	int verdict;  /* enum audit_rec_verdict */
	int mode;     /* enum audit_rec_mode */
	uint64_t count;
	int64_t first_ms, last_ms;
	const char *src_ips, *src_pods, *src_labels; /* comma separated */
	const char *dst_ips, *dst_pods, *dst_labels;
};

struct audit_obs_set {
	struct audit_obs **v;
	size_t n, cap;
	struct audit_obs **tab; /* open addressing index by flow key */
	size_t tab_cap;
};

/* Merge one row. false with a message in err (an unparsable sample: the
 * caller names the row) or on ENOMEM (errno set, err says so). */
bool audit_obs_add_row(struct audit_obs_set *s, const struct audit_obs_row *row,
		       char *err, size_t errlen);
/* Sort observations (source, destination, protocol, port): output order
 * never depends on the order rows came in. */
void audit_obs_set_sort(struct audit_obs_set *s);
void audit_obs_set_free(struct audit_obs_set *s);

/* "k=v,k=v" into labels (appended). false on a malformed entry. */
bool audit_obs_parse_labels(const char *text, struct pol_labels *out);

/**
 * audit_obs_resolve - choose the addresses to evaluate for every side.
 * @s: observations
 * @model: the current cluster
 * @ghosts: recorded pods (and namespaces missing from @model) are appended
 *          here; merge a clone of it into every cluster the observations
 *          are evaluated against
 * Returns 0, or -1 with errno ENOMEM.
 */
int audit_obs_resolve(struct audit_obs_set *s, const struct pol_model *model,
		      struct pol_cluster *ghosts);

/* True when pod is one audit_obs_resolve() made. */
bool audit_obs_is_ghost(const struct pol_pod *pod);

/* The endpoint a workload key names: "Deployment production/api",
 * "External 203.0.113.10". Writes into buf, returns buf. */
const char *audit_obs_ep_name(const struct audit_obs_ep *ep, char *buf, size_t len);

/* Verdict changes between two models (replay). */
struct audit_replay_change {
	const struct audit_obs *obs;
	struct pol_flow flow;        /* the first sampled pair whose verdict changed */
	struct pol_verdict before;   /* borrowed pointers into the old model */
	struct pol_verdict after;    /* ... into the new model */
};

/**
 * audit_replay_diff - evaluate every observation under both models.
 * A flow "breaks" when some sampled pair was allowed before and is denied
 * after; it "opens" when some pair was denied before and is allowed after.
 * *changes (caller frees) gets one entry per changed observation.
 * *evaluated counts evaluated pairs. Returns 0 or -1 (ENOMEM).
 */
int audit_replay_diff(const struct audit_obs_set *s, const struct pol_model *before,
		      const struct pol_model *after, unsigned eval_flags,
		      struct audit_replay_change **changes, size_t *n_changes,
		      size_t *evaluated);

/**
 * audit_replay_apply - the proposed policy set on top of a cluster.
 * Every policy of @proposed replaces the policy of @cluster with the same
 * namespace and name, or is added; @deletes ("ns/name") are removed first.
 * Policies are moved out of @proposed. *replaced, *added, *deleted count
 * what happened. A delete naming no policy fills @err and returns -1 with
 * errno EINVAL; -1 with ENOMEM otherwise.
 */
int audit_replay_apply(struct pol_cluster *cluster, struct pol_cluster *proposed,
		       const char *const *deletes, size_t n_deletes,
		       size_t *replaced, size_t *added, size_t *deleted,
		       char *err, size_t errlen);

#endif

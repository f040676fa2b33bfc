/* SPDX-License-Identifier: Apache-2.0 */
/* audit/record.h - the flow record a packet thread hands to the store pipeline.
 *
 * Lifetime, the one rule to remember: every pointer in a struct audit_record
 * is BORROWED FOR THE DURATION OF audit_pipeline_submit() ONLY. Submit copies
 * what it keeps (names, labels, policy names) into a fixed-size ring slot
 * before it returns, so the caller may drop its RCU read lock, and the model
 * may be swapped and freed, as soon as submit returns. The store thread never
 * dereferences a model pointer. Strings longer than the slot allows are
 * truncated (counted in audit_pipeline_stats.truncated); Kubernetes names are
 * at most 253 bytes and a slot holds more than four of those, so truncation
 * only ever hits long label sets.
 *
 * Copying at submit time costs a few hundred bytes of memcpy per record,
 * once per NEW connection (never per packet). Interning would need a shared
 * table written by every packet thread, and keeping pointers would need the
 * daemon to delay freeing a model until the store thread has drained every
 * record of that generation; the copy is simpler and bounded.
 *
 * Workload of a pod (how rows are aggregated):
 *   owner ReplicaSet "<d>-<hash>" with label pod-template-hash=<hash> ->
 *     Deployment <d>;
 *   owner Job "<c>-<digits>" (the CronJob suffix, a scheduled-time number)
 *     -> CronJob <c>;
 *   any other owner -> <owner kind> <owner name>;
 *   no owner -> Pod <pod name>.
 * A node endpoint is Node <ip>, an external one External <ip>.
 */
#ifndef NPSHIM_AUDIT_RECORD_H
#define NPSHIM_AUDIT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

/* What happened to the connection. Numbers are stored in the database. */
enum audit_rec_verdict {
	AUDIT_REC_ALLOW = 0,
	AUDIT_REC_DENY = 1,       /* dropped (enforce) */
	AUDIT_REC_WOULD_DENY = 2, /* accepted, but enforce would drop it */
};

/* The mode that applied to the connection. Stored in the database. */
enum audit_rec_mode {
	AUDIT_REC_ENFORCE = 0,
	AUDIT_REC_AUDIT = 1,
};

/* Which side denied (bits of audit_record.deny_dirs). Both set = both
 * the source's egress and the destination's ingress denied. */
enum audit_rec_dir {
	AUDIT_REC_DIR_EGRESS = 1U << 0,
	AUDIT_REC_DIR_INGRESS = 1U << 1,
};

struct audit_record {
	/* CLOCK_REALTIME in nanoseconds; 0 = stamped by submit. */
	uint64_t time_ns;
	/* Addresses, protocol (enum pol_proto), destination port. */
	struct pol_flow flow;
	enum pol_endpoint_kind src_kind;
	enum pol_endpoint_kind dst_kind;
	/* Borrowed for the call; NULL unless the kind is POL_EP_POD. */
	const struct pol_pod *src_pod;
	const struct pol_pod *dst_pod;
	enum audit_rec_verdict verdict;
	enum audit_rec_mode mode;
	/* AUDIT_REC_DIR_* bits; 0 for an allowed connection. */
	unsigned deny_dirs;
	/* The deciding policies, borrowed for the call. For a deny: the
	 * policies isolating the pod in each denying direction (what must
	 * change for the flow to pass). For an allow: the policy that allowed
	 * each direction, if any. Either list may be empty. */
	const struct pol_policy *const *egress_policies;
	size_t n_egress_policies;
	const struct pol_policy *const *ingress_policies;
	size_t n_ingress_policies;
	/* Generation of the model that decided (a counter the daemon bumps at
	 * each swap). */
	uint64_t generation;
};

/**
 * audit_record_fill - fill a record from one evaluation.
 * @r: record to fill (every field is written; time_ns is set to 0)
 * @flow: the connection
 * @pv: the pol_eval() result that produced @verdict (for a would-deny, the
 *      evaluation including staged policies); borrowed, and @r keeps
 *      pointers into it, so @pv must outlive the submit call
 * @verdict, @mode: as the daemon decided them
 * @generation: the model generation
 *
 * deny_dirs and the policy lists are derived from @pv as documented above.
 */
void audit_record_fill(struct audit_record *r, const struct pol_flow *flow,
		       const struct pol_verdict *pv, enum audit_rec_verdict verdict,
		       enum audit_rec_mode mode, uint64_t generation);

/* Names as stored in the database and shown by the CLI; NULL when out of
 * range. */
const char *audit_rec_verdict_name(enum audit_rec_verdict v); /* "allow", "deny", "would-deny" */
const char *audit_rec_mode_name(enum audit_rec_mode m);       /* "enforce", "audit" */
const char *audit_rec_dir_name(unsigned deny_dirs);           /* "", "egress", "ingress", "both" */
/* Inverse of audit_rec_verdict_name; false when unknown. */
bool audit_rec_verdict_parse(const char *text, enum audit_rec_verdict *out);

/**
 * audit_workload_of - the workload a pod belongs to, per the rules above.
 * @pod: the pod (borrowed)
 * @kind: out, "Deployment", "CronJob", "Pod" (static) or the owner kind
 *        (borrowed from @pod)
 * @name: out, borrowed from @pod (owner_name or name)
 * @name_len: out, bytes of @name that form the workload name (a prefix of
 *            owner_name for Deployment and CronJob)
 */
void audit_workload_of(const struct pol_pod *pod, const char **kind,
		       const char **name, size_t *name_len);

#endif

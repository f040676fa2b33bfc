/* SPDX-License-Identifier: Apache-2.0 */
/* audit/mode.h - what a verdict means: enforce, audit, staged policies.
 *
 * audit_decide() turns the engine's answer for one new connection into the
 * packet's fate (accept or drop) and the record kind (allow, deny,
 * would-deny):
 *
 * - The enforced verdict leaves staged policies (annotation npshim.io/mode:
 *   audit) out (POL_EVAL_ENFORCED_ONLY); the full verdict counts them all.
 * - Enforced allows, full allows: accept, allow.
 * - Enforced allows, full denies (a staged policy would deny): accept,
 *   would-deny, explained by the full verdict.
 * - Enforced denies: the mode comes from the namespace of the pod whose
 *   direction denied: the source pod's namespace for an egress deny, the
 *   destination pod's namespace for an ingress deny. A namespace label
 *   npshim.io/mode=audit|enforce overrides the global --mode for it (any
 *   other value, or no label: the global mode). When both directions deny,
 *   the packet is dropped if either namespace enforces: that namespace's
 *   policies deny it and it asked for enforcement. Drop -> deny; otherwise
 *   accept -> would-deny. Explained by the enforced verdict.
 * Audit never drops.
 *
 * Pure and thread-safe: reads the model only. The per-thread flow logger
 * below is the interim record stream (one rate-limited line per deny and
 * would-deny) for when no flow store is configured.
 */
#ifndef NPSHIM_AUDIT_MODE_H
#define NPSHIM_AUDIT_MODE_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/record.h"
#include "core/log.h"
#include "policy/model.h"

#define AUDIT_MODE_LABEL "npshim.io/mode"

enum audit_mode {
	AUDIT_MODE_ENFORCE,
	AUDIT_MODE_AUDIT,
};

/* "enforce" / "audit". */
bool audit_mode_parse(const char *text, enum audit_mode *out);
const char *audit_mode_name(enum audit_mode m);

/* The mode of a namespace: its label when valid, else global. ns may be
 * NULL (then global). */
enum audit_mode audit_namespace_mode(const struct pol_model *model, const char *ns,
				     enum audit_mode global);

struct audit_outcome {
	bool accept;                   /* the packet's fate */
	enum audit_rec_verdict kind;   /* allow, deny, would-deny */
	enum audit_rec_mode mode;      /* the mode that applied */
	bool staged;                   /* would-deny caused by staged policies */
	/* The evaluation that explains kind: points at full or enforced. */
	const struct pol_verdict *basis;
	struct pol_verdict enforced;
	struct pol_verdict full;       /* == enforced when the model has no staged policy */
};

/* Decide one connection. out->basis points into *out (do not copy the
 * struct and keep using basis). */
void audit_decide(const struct pol_model *model, const struct pol_flow *flow,
		  enum audit_mode global, struct audit_outcome *out);

/* Interim record stream: rate-limited log lines, one logger per thread (no
 * locking inside). Zero-initialise, then audit_flowlog_init(). */
struct audit_flowlog {
	struct log_ratelimit rl;
	uint64_t lines;      /* lines written */
	uint64_t suppressed; /* lines refused by the rate limit */
};

void audit_flowlog_init(struct audit_flowlog *fl, uint32_t burst, uint32_t per_sec);
/* Log a deny or would-deny (allow is ignored). A line looks like
 *   flow: deny TCP 10.0.0.1 (prod/web-1) -> 10.0.0.2:5432 (prod/db-0)
 *         dir=ingress policies=prod/db-only mode=enforce gen=3
 *         [(N similar lines suppressed)]
 * (on one line). */
void audit_flowlog_write(struct audit_flowlog *fl, const struct pol_flow *flow,
			 const struct audit_outcome *o, uint64_t generation);

/* Format the same text into buf (for tests); returns buf. */
char *audit_flow_format(char *buf, size_t len, const struct pol_flow *flow,
			const struct audit_outcome *o, uint64_t generation);

#endif

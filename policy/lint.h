/* SPDX-License-Identifier: Apache-2.0 */
/* policy/lint.h - static checks for the classic NetworkPolicy mistakes.
 *
 * pol_lint_run() looks at a built model (and, for NP013, at a summary of
 * recorded flows) and returns findings: a stable rule id, a severity, the
 * objects involved, a one-line explanation and a concrete fix. Reachability
 * rules (NP001-NP003) ask the engine (pol_eval) about representative flows
 * instead of re-deriving NetworkPolicy semantics. Pure: no I/O, no globals.
 *
 * Ownership: the report and every string in it belong to the caller and are
 * released by pol_lint_report_free(). The model is borrowed for the call
 * only; no finding points into it.
 *
 * docs/lint.md documents every rule, its severity and the JSON form the CLI
 * prints; keep the two in step.
 */
#ifndef NPSHIM_POLICY_LINT_H
#define NPSHIM_POLICY_LINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/model.h"

/* Ids are part of the public contract (CI configurations name them): never
 * renumber, only append. */
enum pol_lint_rule {
	POL_LINT_ONE_SIDED_INGRESS = 1,      /* NP001 */
	POL_LINT_ONE_SIDED_EGRESS,           /* NP002 */
	POL_LINT_EGRESS_WITHOUT_DNS,         /* NP003 */
	POL_LINT_SELECTOR_MATCHES_NOTHING,   /* NP004 */
	POL_LINT_NAMESPACE_LABEL_UNKNOWN,    /* NP005 */
	POL_LINT_IPBLOCK_COVERS_PODS,        /* NP006 */
	POL_LINT_NONCANONICAL_CIDR,          /* NP007 */
	POL_LINT_EXCEPT_REMOVES_NOTHING,     /* NP008 */
	POL_LINT_NAMED_PORT_UNDEFINED,       /* NP009 */
	POL_LINT_POLICY_SELECTS_NO_POD,      /* NP010 */
	POL_LINT_NAMESPACE_WITHOUT_DEFAULT_DENY, /* NP011 */
	POL_LINT_SHADOWED_RULE,              /* NP012 */
	POL_LINT_POLICY_UNUSED_IN_WINDOW,    /* NP013 */
};
#define POL_LINT_RULE_MAX POL_LINT_POLICY_UNUSED_IN_WINDOW

/* Ordered: a threshold compares with >=. */
enum pol_lint_severity {
	POL_LINT_INFO,
	POL_LINT_WARNING,
	POL_LINT_ERROR,
};

/* "NP001"... / "one-sided-ingress"... ; NULL for an unknown value. */
const char *pol_lint_rule_id(enum pol_lint_rule rule);
const char *pol_lint_rule_name(enum pol_lint_rule rule);
/* The fixed severity of each rule (docs/lint.md explains the choice). */
enum pol_lint_severity pol_lint_rule_severity(enum pol_lint_rule rule);
/* "NP004" (any case) or "selector-matches-nothing" into *out; false when
 * unknown. */
bool pol_lint_rule_parse(const char *text, enum pol_lint_rule *out);
/* "error" / "warning" / "info"; parse is the inverse, false when unknown. */
const char *pol_lint_severity_name(enum pol_lint_severity sev);
bool pol_lint_severity_parse(const char *text, enum pol_lint_severity *out);

enum pol_lint_obj_kind {
	POL_LINT_OBJ_POLICY,
	POL_LINT_OBJ_POD,
	POL_LINT_OBJ_NAMESPACE,
};

/* One object a finding involves. role says what it does in the finding:
 *   "policy"            the policy the finding is about
 *   "ingress-policy"    NP001/NP002: the policy (rule) admitting ingress
 *   "egress-policy"     NP001/NP002: a policy isolating / allowing egress
 *   "source"            pods whose traffic is concerned
 *   "destination"       pods the traffic goes to
 *   "selected"          pods the policy selects
 *   "covered"           NP006: pods whose IP lies in the ipBlock
 *   "namespace"         the namespace the finding is about
 * ns is NULL for a namespace object. */
struct pol_lint_obj {
	enum pol_lint_obj_kind kind;
	char *ns;
	char *name;
	char *role;
};

/* The port a finding concerns, as written in the rule (NP001, NP002, NP009).
 * tested is the number flows were evaluated on (a named port resolved
 * against a destination pod, a range's first defined port); 0 when none. */
struct pol_lint_port {
	uint8_t proto;
	bool has_port;
	uint16_t port;
	uint16_t end_port;
	char *name;
	uint16_t tested;
};

struct pol_lint_finding {
	enum pol_lint_rule rule;
	enum pol_lint_severity severity;
	char *ns;        /* namespace of the primary object */
	char *location;  /* path inside the primary policy ("spec.ingress[0]"), or NULL */
	char *message;   /* one line */
	char *hint;      /* "did you mean ..." for typos, or NULL */
	char *fix;       /* concrete fix; may span lines (YAML), never NULL */
	struct pol_lint_obj *objects;
	size_t n_objects;
	/* Pods are listed up to POL_LINT_MAX_PODS per role; n_pods counts all
	 * pods the finding concerns, listed or not. */
	size_t n_pods;
	bool has_port;
	struct pol_lint_port port;
};

#define POL_LINT_MAX_PODS 20

/* A rule that could not run on this input, and why (for example NP010 on a
 * file holding only policies: no pod to select). */
struct pol_lint_skip {
	enum pol_lint_rule rule;
	char *reason;
};

struct pol_lint_report {
	struct pol_lint_finding *items; /* sorted: rule, namespace, location... */
	size_t n;
	struct pol_lint_skip *skipped;
	size_t n_skipped;
	size_t count[POL_LINT_ERROR + 1]; /* findings per severity */
};

/* A policy named by namespace and name (borrowed strings). */
struct pol_lint_policy_ref {
	const char *ns;
	const char *name;
};

/* What recorded flows say about policy use in a window (for NP013). Filled
 * by the store's query code from one or more databases. A policy "decided"
 * a flow when it was the allowing policy of either direction, or one of the
 * policies isolating a denied direction. Strings are borrowed. */
struct pol_lint_usage {
	int64_t since;   /* window start, Unix seconds (0: unknown) */
	int64_t until;   /* window end */
	uint64_t n_flows; /* flows recorded in the window; 0 makes NP013 skip */
	const struct pol_lint_policy_ref *decided;
	size_t n_decided;
	/* Set when the recording cannot answer the question (for example it
	 * kept denied flows only, so allowing policies never show): NP013 is
	 * skipped with this reason. */
	const char *unusable;
};

/* One ipBlock CIDR (or except entry) as written in a policy, found by the
 * cluster source because the model stores CIDRs with host bits cleared.
 * location is the path inside the policy, e.g. "spec.egress[0].to[1].ipBlock.cidr".
 * Strings borrowed. */
struct pol_lint_cidr_text {
	const char *ns;
	const char *policy;
	const char *location;
	const char *text;
};

struct pol_lint_opts {
	/* Report only findings involving this namespace; NULL: every one. */
	const char *ns;
	/* Rules not to run: bit (1U << rule) for each. They are listed under
	 * skipped with the reason "disabled". */
	uint32_t disabled;
	/* NULL: NP013 is skipped (no recorded flows given). */
	const struct pol_lint_usage *usage;
	/* Facts the object model does not keep: ipBlock CIDRs as written with
	 * host bits set (NP007). Borrowed; may be empty. */
	const struct pol_lint_cidr_text *cidr_texts;
	size_t n_cidr_texts;
};

/* Run every rule. NULL with errno = ENOMEM; otherwise a report (possibly
 * with no finding). opts may be NULL. */
struct pol_lint_report *pol_lint_run(const struct pol_model *model,
				     const struct pol_lint_opts *opts);
void pol_lint_report_free(struct pol_lint_report *rep);

/* Exposed for unit tests and for the CLI's own hints. */

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), capped: returns at most cap + 1. */
unsigned pol_lint_edit_distance(const char *a, const char *b, unsigned cap);
/* The candidate nearest to word within the typo threshold (about a third
 * of its length, at least 1), or NULL. Ties go to the first candidate. */
const char *pol_lint_nearest(const char *word, const char *const *cands, size_t n);
/* Every object a matches is matched by b, provable from the selectors alone
 * (sound, not complete: false when unsure). */
bool pol_lint_selector_covers(const struct pol_selector *b, const struct pol_selector *a);
/* Rule a of a policy admits nothing rule b does not (same direction). */
bool pol_lint_rule_covers(const struct pol_rule *b, const struct pol_rule *a);
/* A CIDR text with host bits set ("10.42.1.1/4"): true and the canonical
 * form in canon (>= POL_CIDR_STRLEN bytes). False for canonical or invalid. */
bool pol_lint_cidr_noncanonical(const char *text, char *canon, size_t len);

#endif

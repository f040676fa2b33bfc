/* SPDX-License-Identifier: Apache-2.0 */
/* audit/record.c - filling flow records from verdicts; workload names. */
#include "audit/record.h"

#include <ctype.h>
#include <string.h>

void audit_record_fill(struct audit_record *r, const struct pol_flow *flow,
		       const struct pol_verdict *pv, enum audit_rec_verdict verdict,
		       enum audit_rec_mode mode, uint64_t generation)
{
	memset(r, 0, sizeof(*r));
	r->flow = *flow;
	r->src_kind = pv->src_kind;
	r->dst_kind = pv->dst_kind;
	r->src_pod = pv->src_kind == POL_EP_POD ? pv->src_pod : NULL;
	r->dst_pod = pv->dst_kind == POL_EP_POD ? pv->dst_pod : NULL;
	r->verdict = verdict;
	r->mode = mode;
	r->generation = generation;
	if (verdict == AUDIT_REC_ALLOW) {
		/* The allowing policy of each direction; &pv->x.policy is a
		 * one-element array of the right type. */
		if (pv->egress.state == POL_DIR_ALLOWED && pv->egress.policy) {
			r->egress_policies = &pv->egress.policy;
			r->n_egress_policies = 1;
		}
		if (pv->ingress.state == POL_DIR_ALLOWED && pv->ingress.policy) {
			r->ingress_policies = &pv->ingress.policy;
			r->n_ingress_policies = 1;
		}
		return;
	}
	if (pv->egress.state == POL_DIR_DENIED) {
		r->deny_dirs |= AUDIT_REC_DIR_EGRESS;
		r->egress_policies = pv->egress.isolating;
		r->n_egress_policies = pv->egress.n_isolating;
	}
	if (pv->ingress.state == POL_DIR_DENIED) {
		r->deny_dirs |= AUDIT_REC_DIR_INGRESS;
		r->ingress_policies = pv->ingress.isolating;
		r->n_ingress_policies = pv->ingress.n_isolating;
	}
}

const char *audit_rec_verdict_name(enum audit_rec_verdict v)
{
	switch (v) {
	case AUDIT_REC_ALLOW: return "allow";
	case AUDIT_REC_DENY: return "deny";
	case AUDIT_REC_WOULD_DENY: return "would-deny";
	}
	return NULL;
}

const char *audit_rec_mode_name(enum audit_rec_mode m)
{
	switch (m) {
	case AUDIT_REC_ENFORCE: return "enforce";
	case AUDIT_REC_AUDIT: return "audit";
	}
	return NULL;
}

const char *audit_rec_dir_name(unsigned deny_dirs)
{
	switch (deny_dirs & (AUDIT_REC_DIR_EGRESS | AUDIT_REC_DIR_INGRESS)) {
	case AUDIT_REC_DIR_EGRESS: return "egress";
	case AUDIT_REC_DIR_INGRESS: return "ingress";
	case AUDIT_REC_DIR_EGRESS | AUDIT_REC_DIR_INGRESS: return "both";
	default: return "";
	}
}

bool audit_rec_verdict_parse(const char *text, enum audit_rec_verdict *out)
{
	static const enum audit_rec_verdict all[] = {
		AUDIT_REC_ALLOW, AUDIT_REC_DENY, AUDIT_REC_WOULD_DENY,
	};

	if (!text)
		return false;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(text, audit_rec_verdict_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

/* "<prefix>-<suffix>" where suffix is exactly the given string: the length
 * of prefix, or 0 when name does not have that shape. */
static size_t strip_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (s == 0 || n < s + 2 || name[n - s - 1] != '-')
		return 0;
	if (memcmp(name + n - s, suffix, s) != 0)
		return 0;
	return n - s - 1;
}

/* A CronJob names its Jobs "<cronjob>-<scheduled time in minutes>": a
 * decimal suffix. Returns the cronjob name length or 0. */
static size_t cronjob_prefix(const char *name)
{
	size_t n = strlen(name), i = n;

	while (i > 0 && isdigit((unsigned char)name[i - 1]))
		i--;
	/* The controller uses an 8+ digit minute count; shorter numeric
	 * suffixes are ordinary hand-named Jobs ("migrate-2"). */
	if (n - i < 8 || i < 2 || name[i - 1] != '-')
		return 0;
	return i - 1;
}

void audit_workload_of(const struct pol_pod *pod, const char **kind,
		       const char **name, size_t *name_len)
{
	if (!pod->owner_kind || !pod->owner_name || !*pod->owner_name) {
		*kind = "Pod";
		*name = pod->name ? pod->name : "";
		*name_len = strlen(*name);
		return;
	}
	*name = pod->owner_name;
	*name_len = strlen(pod->owner_name);
	*kind = pod->owner_kind;
	if (strcmp(pod->owner_kind, "ReplicaSet") == 0) {
		const char *hash = pol_labels_get(&pod->labels, "pod-template-hash");
		size_t n = hash ? strip_suffix(pod->owner_name, hash) : 0;

		if (n) {
			*kind = "Deployment";
			*name_len = n;
		}
	} else if (strcmp(pod->owner_kind, "Job") == 0) {
		size_t n = cronjob_prefix(pod->owner_name);

		if (n) {
			*kind = "CronJob";
			*name_len = n;
		}
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_lint.c - libFuzzer target: YAML cluster bytes through the
 * loader and the model into every lint rule, checking the report's promises
 * (valid ids, fixed severities, texts present, counts adding up, objects
 * named). */
#include <stdint.h>
#include <string.h>

#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/lint.h"
#include "policy/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_report(const struct pol_lint_report *r)
{
	size_t count[POL_LINT_ERROR + 1] = { 0 };

	for (size_t i = 0; i < r->n; i++) {
		const struct pol_lint_finding *f = &r->items[i];

		if (!pol_lint_rule_id(f->rule) || f->severity != pol_lint_rule_severity(f->rule))
			__builtin_trap();
		if (!f->message || !*f->message || strchr(f->message, '\n') || !f->fix || !*f->fix)
			__builtin_trap();
		if (!f->n_objects)
			__builtin_trap();
		for (size_t j = 0; j < f->n_objects; j++)
			if (!f->objects[j].name || !f->objects[j].role ||
			    (f->objects[j].kind != POL_LINT_OBJ_NAMESPACE && !f->objects[j].ns))
				__builtin_trap();
		if (i && f->rule < r->items[i - 1].rule)
			__builtin_trap();
		count[f->severity]++;
	}
	if (memcmp(count, r->count, sizeof(count)) != 0)
		__builtin_trap();
	for (size_t i = 0; i < r->n_skipped; i++)
		if (!pol_lint_rule_id(r->skipped[i].rule) || !r->skipped[i].reason)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_cluster *c = pol_cluster_new();
	struct pol_lint_policy_ref used[] = { { "default", "p" } };
	struct pol_lint_usage u = { .since = 1, .until = 2, .n_flows = 1, .decided = used,
				    .n_decided = 1 };
	struct pol_lint_cidr_text ct = { "default", "p", "spec.ingress[0].from[0].ipBlock.cidr",
					 "10.1.2.3/8" };
	struct pol_lint_opts o = { .usage = &u, .cidr_texts = &ct, .n_cidr_texts = 1 };
	struct pol_lint_report *r;
	struct pol_model *m;
	struct k8s_diag diag;
	char err[256];

	if (!c)
		return 0;
	k8s_diag_init(&diag);
	diag.silent = true;
	if (k8s_load_buffer("fuzz.yaml", data, size, K8S_FORMAT_YAML, c, &diag)) {
		k8s_diag_free(&diag);
		pol_cluster_free(c);
		return 0;
	}
	k8s_diag_free(&diag);
	m = pol_model_build(c, NULL, err, sizeof(err));
	if (!m)
		return 0;
	/* every namespace in turn would be slow; the input picks one */
	if (size & 1)
		o.ns = "default";
	r = pol_lint_run(m, &o);
	if (r)
		check_report(r);
	pol_lint_report_free(r);
	pol_model_free(m);
	return 0;
}

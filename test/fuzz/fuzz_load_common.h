/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_load_common.h - shared body of the cluster loader targets:
 * bytes -> parser -> decoder -> pol_cluster, with the loader's promises
 * checked (errors counted and explained, nothing half-loaded, decoded
 * objects obey the invariants policy/objects.h states). */
#ifndef NPSHIM_FUZZ_LOAD_COMMON_H
#define NPSHIM_FUZZ_LOAD_COMMON_H

#include <stdint.h>
#include <string.h>

#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/objects.h"

static void check_rules(const struct pol_rule *r, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < r[i].n_peers; j++) {
			const struct pol_peer *p = &r[i].peers[j];

			if (!p->pod_sel && !p->ns_sel && !p->ipblock)
				__builtin_trap();
			if (p->ipblock && (p->pod_sel || p->ns_sel))
				__builtin_trap();
		}
		for (j = 0; j < r[i].n_ports; j++) {
			const struct pol_port *pt = &r[i].ports[j];

			if (pt->proto != POL_PROTO_TCP && pt->proto != POL_PROTO_UDP &&
			    pt->proto != POL_PROTO_SCTP)
				__builtin_trap();
			if (pt->end_port && (pt->name || !pt->has_port || pt->end_port < pt->port))
				__builtin_trap();
			if (pt->has_port && !pt->name && pt->port == 0)
				__builtin_trap();
		}
	}
}

static void check_cluster(const struct pol_cluster *c)
{
	size_t i;

	for (i = 0; i < c->n_pods; i++)
		if (c->pods[i]->n_ips > 2 || !c->pods[i]->ns || !c->pods[i]->name)
			__builtin_trap();
	for (i = 0; i < c->n_policies; i++) {
		const struct pol_policy *p = c->policies[i];

		if (!p->type_ingress && !p->type_egress)
			__builtin_trap();
		check_rules(p->ingress, p->n_ingress);
		check_rules(p->egress, p->n_egress);
	}
	for (i = 0; i < c->n_namespaces; i++)
		if (!pol_labels_get(&c->namespaces[i]->labels, "kubernetes.io/metadata.name"))
			__builtin_trap();
}

static int fuzz_load(const uint8_t *data, size_t size, enum k8s_format format)
{
	struct pol_cluster *c = pol_cluster_new();
	struct k8s_diag diag;
	size_t errors;

	if (!c)
		return 0;
	k8s_diag_init(&diag);
	errors = k8s_load_buffer(format == K8S_FORMAT_JSON ? "fuzz.json" : "fuzz.yaml",
				 data, size, format, c, &diag);
	if (errors != diag.n_errors)
		__builtin_trap();
	if (errors) {
		/* All or nothing, and every error explained. */
		if (c->n_namespaces || c->n_pods || c->n_policies)
			__builtin_trap();
		if (!diag.n_msgs && !diag.n_dropped)
			__builtin_trap();
	} else {
		check_cluster(c);
	}
	k8s_diag_free(&diag);
	pol_cluster_free(c);
	return 0;
}

#endif

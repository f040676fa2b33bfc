/* SPDX-License-Identifier: Apache-2.0 */
/* test/tools/load_cluster.c - load cluster files and show what was decoded.
 *
 *     load_cluster [--dump] [--quiet] PATH...
 *
 * Runs the file loader (k8s_files_load's engine) over every PATH and prints
 * its diagnostics on stderr. Prints a count line on stdout, or with --dump
 * every decoded object as one JSON document. Exit 0 when everything loaded,
 * 2 when any error was reported. Used by test/badinput under ASan and handy
 * to check a manifest by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/objects.h"

static cJSON *labels_json(const struct pol_labels *l)
{
	cJSON *o = cJSON_CreateObject();
	size_t i;

	for (i = 0; o && i < l->n; i++)
		cJSON_AddStringToObject(o, l->items[i].key, l->items[i].value);
	return o;
}

static cJSON *selector_json(const struct pol_selector *s)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	cJSON *o = cJSON_CreateObject(), *exprs;
	size_t i, j;

	if (!s)
		return cJSON_CreateNull();
	cJSON_AddItemToObject(o, "matchLabels", labels_json(&s->match_labels));
	exprs = cJSON_AddArrayToObject(o, "matchExpressions");
	for (i = 0; i < s->n_exprs; i++) {
		cJSON *e = cJSON_CreateObject(), *v;

		cJSON_AddStringToObject(e, "key", s->exprs[i].key);
		cJSON_AddStringToObject(e, "operator", ops[s->exprs[i].op]);
		v = cJSON_AddArrayToObject(e, "values");
		for (j = 0; j < s->exprs[i].n_values; j++)
			cJSON_AddItemToArray(v, cJSON_CreateString(s->exprs[i].values[j]));
		cJSON_AddItemToArray(exprs, e);
	}
	return o;
}

static cJSON *rules_json(const struct pol_rule *r, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	char buf[POL_CIDR_STRLEN];
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		cJSON *rule = cJSON_CreateObject();
		cJSON *peers = cJSON_AddArrayToObject(rule, "peers");
		cJSON *ports = cJSON_AddArrayToObject(rule, "ports");

		for (j = 0; j < r[i].n_peers; j++) {
			const struct pol_peer *p = &r[i].peers[j];
			cJSON *po = cJSON_CreateObject();

			if (p->pod_sel)
				cJSON_AddItemToObject(po, "podSelector", selector_json(p->pod_sel));
			if (p->ns_sel)
				cJSON_AddItemToObject(po, "namespaceSelector", selector_json(p->ns_sel));
			if (p->ipblock) {
				cJSON *ib = cJSON_AddObjectToObject(po, "ipBlock");
				cJSON *ex;

				cJSON_AddStringToObject(ib, "cidr",
							pol_cidr_format(&p->ipblock->cidr, buf, sizeof(buf)));
				ex = cJSON_AddArrayToObject(ib, "except");
				for (k = 0; k < p->ipblock->n_except; k++)
					cJSON_AddItemToArray(ex, cJSON_CreateString(pol_cidr_format(
						&p->ipblock->except[k], buf, sizeof(buf))));
			}
			cJSON_AddItemToArray(peers, po);
		}
		for (j = 0; j < r[i].n_ports; j++) {
			const struct pol_port *p = &r[i].ports[j];
			cJSON *po = cJSON_CreateObject();

			cJSON_AddStringToObject(po, "protocol", pol_proto_name(p->proto));
			if (p->name)
				cJSON_AddStringToObject(po, "port", p->name);
			else if (p->has_port)
				cJSON_AddNumberToObject(po, "port", p->port);
			if (p->end_port)
				cJSON_AddNumberToObject(po, "endPort", p->end_port);
			cJSON_AddItemToArray(ports, po);
		}
		cJSON_AddItemToArray(a, rule);
	}
	return a;
}

static cJSON *cluster_json(const struct pol_cluster *c)
{
	static const char *const phases[] = { "Unknown", "Pending", "Running", "Succeeded", "Failed" };
	cJSON *root = cJSON_CreateObject();
	cJSON *nss = cJSON_AddArrayToObject(root, "namespaces");
	cJSON *pods = cJSON_AddArrayToObject(root, "pods");
	cJSON *pols = cJSON_AddArrayToObject(root, "policies");
	char buf[POL_IP_STRLEN];
	size_t i, j;

	for (i = 0; i < c->n_namespaces; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", c->namespaces[i]->name);
		cJSON_AddItemToObject(o, "labels", labels_json(&c->namespaces[i]->labels));
		cJSON_AddStringToObject(o, "origin", c->namespaces[i]->origin);
		cJSON_AddItemToArray(nss, o);
	}
	for (i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];
		cJSON *o = cJSON_CreateObject(), *ips, *ports;

		cJSON_AddStringToObject(o, "namespace", p->ns);
		cJSON_AddStringToObject(o, "name", p->name);
		cJSON_AddItemToObject(o, "labels", labels_json(&p->labels));
		if (p->node_name)
			cJSON_AddStringToObject(o, "nodeName", p->node_name);
		cJSON_AddBoolToObject(o, "hostNetwork", p->host_network);
		cJSON_AddStringToObject(o, "phase", phases[p->phase]);
		ips = cJSON_AddArrayToObject(o, "ips");
		for (j = 0; j < p->n_ips; j++)
			cJSON_AddItemToArray(ips, cJSON_CreateString(
				pol_ip_format(&p->ips[j], buf, sizeof(buf))));
		if (p->has_host_ip)
			cJSON_AddStringToObject(o, "hostIP", pol_ip_format(&p->host_ip, buf, sizeof(buf)));
		ports = cJSON_AddArrayToObject(o, "ports");
		for (j = 0; j < p->n_ports; j++) {
			cJSON *po = cJSON_CreateObject();

			if (p->ports[j].name)
				cJSON_AddStringToObject(po, "name", p->ports[j].name);
			cJSON_AddNumberToObject(po, "port", p->ports[j].port);
			cJSON_AddStringToObject(po, "protocol", pol_proto_name(p->ports[j].proto));
			cJSON_AddItemToArray(ports, po);
		}
		if (p->owner_kind) {
			cJSON_AddStringToObject(o, "ownerKind", p->owner_kind);
			cJSON_AddStringToObject(o, "ownerName", p->owner_name);
		}
		cJSON_AddStringToObject(o, "origin", p->origin);
		cJSON_AddItemToArray(pods, o);
	}
	for (i = 0; i < c->n_policies; i++) {
		const struct pol_policy *p = c->policies[i];
		cJSON *o = cJSON_CreateObject(), *types;

		cJSON_AddStringToObject(o, "namespace", p->ns);
		cJSON_AddStringToObject(o, "name", p->name);
		cJSON_AddItemToObject(o, "podSelector", selector_json(&p->pod_sel));
		types = cJSON_AddArrayToObject(o, "policyTypes");
		if (p->type_ingress)
			cJSON_AddItemToArray(types, cJSON_CreateString("Ingress"));
		if (p->type_egress)
			cJSON_AddItemToArray(types, cJSON_CreateString("Egress"));
		cJSON_AddItemToObject(o, "ingress", rules_json(p->ingress, p->n_ingress));
		cJSON_AddItemToObject(o, "egress", rules_json(p->egress, p->n_egress));
		cJSON_AddBoolToObject(o, "staged", p->staged);
		cJSON_AddStringToObject(o, "origin", p->origin);
		cJSON_AddItemToArray(pols, o);
	}
	return root;
}

int main(int argc, char **argv)
{
	struct k8s_load_stats st;
	struct k8s_loader *l;
	struct pol_cluster *c;
	struct k8s_diag diag;
	bool dump = false, quiet = false;
	size_t errors;
	int i, first = 1;

	for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
		if (!strcmp(argv[first], "--dump"))
			dump = true;
		else if (!strcmp(argv[first], "--quiet"))
			quiet = true;
		else if (!strcmp(argv[first], "--"))
			break;
		else
			break;
	}
	if (first >= argc || !strcmp(argv[first], "--help") || !strcmp(argv[first], "-h")) {
		fprintf(stderr, "usage: load_cluster [--dump] [--quiet] PATH...\n");
		return 2;
	}
	k8s_diag_init(&diag);
	c = pol_cluster_new();
	l = k8s_loader_new(&diag);
	if (!c || !l) {
		fprintf(stderr, "load_cluster: out of memory\n");
		return 3;
	}
	for (i = first; i < argc; i++)
		k8s_loader_add_path(l, argv[i]);
	errors = k8s_loader_finish(l, c, &st);
	k8s_loader_free(l);
	k8s_diag_print(&diag, stderr);
	if (errors) {
		fprintf(stderr, "load_cluster: %zu error%s, nothing loaded\n", errors,
			errors == 1 ? "" : "s");
	} else if (dump) {
		cJSON *j = cluster_json(c);
		char *s = cJSON_Print(j);

		printf("%s\n", s ? s : "null");
		free(s);
		cJSON_Delete(j);
	} else if (!quiet) {
		printf("files %zu documents %zu namespaces %zu pods %zu policies %zu skipped %zu\n",
		       st.files, st.documents, st.namespaces, st.pods, st.policies, st.skipped);
	}
	k8s_diag_free(&diag);
	pol_cluster_free(c);
	return errors ? 2 : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* clusterpods - list the pods of cluster files as JSON lines, for the e2e topology.
 *
 *   clusterpods --cluster PATH [--cluster PATH ...]
 *
 * The e2e suite and the demo build one network namespace per pod of a
 * cluster file. They read the pods through the loader npshim uses, so
 * whatever npshim accepts (YAML, kubectl lists, directories) the topology
 * accepts too, and a file npshim rejects stops the test with npshim's own
 * message. One line per pod that has an identity (running, an IP, not
 * hostNetwork), in cluster order:
 *
 *   {"ns":"production","name":"db-0","ips":["10.0.1.5"],"node":"node-1",
 *    "labels":{"tier":"database"},"ports":[{"port":5432,"protocol":"TCP"}]}
 */
#include <stdio.h>
#include <string.h>

#include "k8s/diag.h"
#include "k8s/files.h"
#include "policy/objects.h"

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	const char *paths[64];
	struct pol_cluster *c;
	struct k8s_diag diag;
	char ip[POL_IP_STRLEN];
	size_t n = 0, errors;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cluster") && i + 1 < argc && n < 64) {
			paths[n++] = argv[++i];
		} else {
			fprintf(stderr, "usage: clusterpods --cluster PATH [--cluster PATH ...] (up to 64)\n");
			return 2;
		}
	}
	if (!n) {
		fprintf(stderr, "usage: clusterpods --cluster PATH [--cluster PATH ...]\n");
		return 2;
	}
	c = pol_cluster_new();
	if (!c) {
		perror("clusterpods");
		return 1;
	}
	k8s_diag_init(&diag);
	errors = k8s_files_load(c, paths, n, &diag);
	k8s_diag_print(&diag, stderr);
	k8s_diag_free(&diag);
	if (errors) {
		pol_cluster_free(c);
		return 1;
	}
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];

		if (p->host_network || !p->n_ips || p->phase == POL_PHASE_SUCCEEDED ||
		    p->phase == POL_PHASE_FAILED)
			continue;
		printf("{\"ns\":");
		json_str(p->ns);
		printf(",\"name\":");
		json_str(p->name);
		printf(",\"ips\":[");
		for (size_t k = 0; k < p->n_ips; k++)
			printf("%s\"%s\"", k ? "," : "",
			       pol_ip_format(&p->ips[k], ip, sizeof(ip)));
		printf("],\"node\":");
		if (p->node_name)
			json_str(p->node_name);
		else
			printf("null");
		printf(",\"labels\":{");
		for (size_t k = 0; k < p->labels.n; k++) {
			printf("%s", k ? "," : "");
			json_str(p->labels.items[k].key);
			putchar(':');
			json_str(p->labels.items[k].value);
		}
		printf("},\"ports\":[");
		for (size_t k = 0; k < p->n_ports; k++)
			printf("%s{\"port\":%u,\"protocol\":\"%s\"}", k ? "," : "",
			       p->ports[k].port, pol_proto_name(p->ports[k].proto));
		printf("]}\n");
	}
	pol_cluster_free(c);
	return 0;
}

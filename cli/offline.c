/* SPDX-License-Identifier: Apache-2.0 */
/* cli/offline.c - load --cluster files and compile them for offline commands. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/offline.h"
#include "core/log.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/live.h"
#include "policy/model.h"

int offline_paths_add(struct offline_paths *p, const char *path)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 4;
		const char **v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = path;
	return 0;
}

int offline_paths_take(struct offline_paths *p, const char *cmd, const char *opt,
		       const char *value)
{
	if (!value[0]) {
		log_errx("%s: %s needs a value", cmd, opt);
		return CMD_USAGE;
	}
	if (offline_paths_add(p, value) < 0) {
		log_err("%s", cmd);
		return CMD_FAILURE;
	}
	return CMD_OK;
}

void offline_paths_free(struct offline_paths *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static bool node_has_pods(const struct pol_cluster *c, const char *node)
{
	for (size_t i = 0; i < c->n_pods; i++)
		if (c->pods[i]->node_name && strcmp(c->pods[i]->node_name, node) == 0)
			return true;
	return false;
}

int offline_load_model(const char *cmd, const char *const *paths, size_t n_paths,
		       const char *node_name, struct pol_model **out)
{
	return offline_load_model_from(cmd, paths, n_paths, NULL, node_name, out);
}

int offline_load_cluster(const char *cmd, const char *what, const char *const *paths,
			 size_t n_paths, const struct k8s_conn_opts *live, struct pol_cluster **out)
{
	struct pol_cluster *cluster;
	struct k8s_diag diag;
	size_t n_errors;

	*out = NULL;
	cluster = pol_cluster_new();
	if (!cluster) {
		log_err("%s: loading %s", cmd, what);
		return CMD_FAILURE;
	}
	k8s_diag_init(&diag);
	errno = 0;
	if (live && live->given) {
		/* The API server's state, read once (list of the three kinds). */
		if (k8s_live_load(live, cluster, &diag) < 0) {
			fflush(stdout);
			k8s_diag_print(&diag, stderr);
			k8s_diag_free(&diag);
			pol_cluster_free(cluster);
			log_errx("%s: cannot read %s from the API server", cmd, what);
			return CMD_FAILURE;
		}
		n_errors = diag.n_errors;
	} else {
		n_errors = k8s_files_load(cluster, paths, n_paths, &diag);
	}
	/* Every diagnostic, notes included, so one run shows all problems. */
	fflush(stdout);
	k8s_diag_print(&diag, stderr);
	k8s_diag_free(&diag);
	if (n_errors) {
		pol_cluster_free(cluster);
		log_errx("%s: %s is invalid (%zu error%s); nothing evaluated",
			 cmd, what, n_errors, n_errors == 1 ? "" : "s");
		return CMD_USAGE;
	}
	*out = cluster;
	return CMD_OK;
}

int offline_load_model_from(const char *cmd, const char *const *paths, size_t n_paths,
			    const struct k8s_conn_opts *live, const char *node_name,
			    struct pol_model **out)
{
	struct pol_build_opts opts = { .node_name = node_name };
	struct pol_cluster *cluster;
	struct pol_model *model;
	char err[1024] = "";
	int rc;

	*out = NULL;
	rc = offline_load_cluster(cmd, "the cluster", paths, n_paths, live, &cluster);
	if (rc != CMD_OK)
		return rc;
	if (node_name && !node_has_pods(cluster, node_name))
		log_warnx("%s: no pod of the cluster runs on node '%s': no pod is local, nothing is enforced",
			  cmd, node_name);
	errno = 0;
	model = pol_model_build(cluster, &opts, err, sizeof(err));
	if (!model) {
		if (!err[0]) {
			log_err("%s: compiling the policy model", cmd);
			return CMD_FAILURE;
		}
		log_errx("%s: %s", cmd, err);
		return CMD_USAGE;
	}
	*out = model;
	return CMD_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* cli/offline.h - cluster files to a compiled model, for the offline commands.
 *
 * simulate, explain (and later replay/recommend) take the same
 * `--cluster PATH` arguments; this loads them all, prints every diagnostic
 * to stderr, and compiles the model only when nothing was wrong.
 */
#ifndef NPSHIM_CLI_OFFLINE_H
#define NPSHIM_CLI_OFFLINE_H

#include <stddef.h>

struct pol_model;

/* Load paths (files or directories), then build the model with node_name
 * (NULL: every pod is local). Returns CMD_OK with *out set (caller frees
 * with pol_model_free), CMD_USAGE after printing the diagnostics of invalid
 * input, or CMD_FAILURE (out of memory). cmd names the command in messages. */
int offline_load_model(const char *cmd, const char *const *paths, size_t n_paths,
		       const char *node_name, struct pol_model **out);

/* The same, from the API server when live->given (--kubeconfig,
 * --context, --in-cluster, --sa-dir; the paths are then ignored), else
 * from the paths. A connection or permission failure returns CMD_FAILURE
 * after printing the reason. */
struct k8s_conn_opts;
int offline_load_model_from(const char *cmd, const char *const *paths, size_t n_paths,
			    const struct k8s_conn_opts *live, const char *node_name,
			    struct pol_model **out);

/* Only the loading part: the cluster objects, not compiled. what names the
 * input in messages ("the cluster", "--cluster"). Same returns; *out is
 * the caller's to free with pol_cluster_free. */
struct pol_cluster;
int offline_load_cluster(const char *cmd, const char *what, const char *const *paths,
			 size_t n_paths, const struct k8s_conn_opts *live, struct pol_cluster **out);

/* A growable list of --cluster arguments (borrowed strings). */
struct offline_paths {
	const char **v;
	size_t n;
	size_t cap;
};

/* 0, or -1 with errno = ENOMEM. */
int offline_paths_add(struct offline_paths *p, const char *path);
/* A path given as the value of option opt: an empty one is refused.
 * CMD_OK, or CMD_USAGE / CMD_FAILURE after saying why (cmd names the
 * command). */
int offline_paths_take(struct offline_paths *p, const char *cmd, const char *opt,
		       const char *value);
void offline_paths_free(struct offline_paths *p);

#endif

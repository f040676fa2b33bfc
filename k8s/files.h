/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/files.h - cluster state from manifest files and kubectl output.
 *
 * Accepts what users have: YAML manifests (multi-document, anchors),
 * `kubectl get ... -o json|yaml` output (kind: List with mixed items),
 * PodList/NamespaceList/NetworkPolicyList whose items carry no kind (as the
 * API server returns them), single objects, and directories of such files
 * (not recursive: *.json, *.yaml, *.yml in name order, dot-files skipped).
 * JSON or YAML is told by content: a document starting with '{' or '[' is
 * strict JSON, except that a .yaml or .yml file which is not strict JSON is
 * read as YAML in flow style. Objects of other kinds are skipped and
 * counted; unknown fields are ignored.
 *
 * All or nothing: objects are decoded into a private cluster and moved into
 * the caller's only when no error at all was found. Every problem (syntax,
 * types, validation, an object defined twice) is reported to the diag with
 * file, line and column, up to the diag's cap; loading goes on after an
 * error so one run shows them all.
 */
#ifndef NPSHIM_K8S_FILES_H
#define NPSHIM_K8S_FILES_H

#include <stddef.h>

#include "policy/objects.h"

struct k8s_diag;

/* Largest file read, bytes. */
#define K8S_FILE_MAX (1024UL * 1024 * 1024)

enum k8s_format {
	K8S_FORMAT_AUTO, /* by content */
	K8S_FORMAT_JSON,
	K8S_FORMAT_YAML,
};

struct k8s_load_stats {
	size_t files;
	size_t documents;
	size_t namespaces;
	size_t pods;
	size_t policies;
	size_t skipped; /* objects of kinds npshim does not use */
};

struct k8s_loader;

/* diag is borrowed and must outlive the loader. NULL with errno ENOMEM. */
struct k8s_loader *k8s_loader_new(struct k8s_diag *diag);
void k8s_loader_free(struct k8s_loader *l);
/* Load a file, or every manifest of a directory. */
void k8s_loader_add_path(struct k8s_loader *l, const char *path);
/* Load len bytes named name (used in messages and origins). */
void k8s_loader_add_buffer(struct k8s_loader *l, const char *name, const void *data,
			   size_t len, enum k8s_format format);
/* Errors reported since the loader was made; 0 means all went well. When 0,
 * moves every loaded object into into (checking for objects into already
 * holds), else leaves into untouched. Returns the error count. stats may be
 * NULL. The loader is spent afterwards: free it. */
size_t k8s_loader_finish(struct k8s_loader *l, struct pol_cluster *into,
			 struct k8s_load_stats *stats);

/* One-call forms: load n paths (or one buffer) into into. Return the number
 * of errors (0 = success; into is only changed on success). */
size_t k8s_files_load(struct pol_cluster *into, const char *const *paths, size_t n,
		      struct k8s_diag *diag);
size_t k8s_load_buffer(const char *name, const void *data, size_t len,
		       enum k8s_format format, struct pol_cluster *into,
		       struct k8s_diag *diag);

#endif

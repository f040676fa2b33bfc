/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/persist.h - the last good cluster state on disk.
 *
 * The watcher writes the cached objects to STATE_DIR/K8S_PERSIST_FILE as
 * one JSON "List" (apiVersion v1; items with kind and apiVersion, bulky
 * fields stripped, see k8s/cache.h), the same format `kubectl get -o json`
 * produces, so the manifest loader reads it back and so can a human
 * (`npshim simulate --file STATE_DIR/cluster-state.json`). Writes are
 * atomic: a temporary file in the same directory, fsync, rename, fsync of
 * the directory; a crash leaves the old file or the new one, never half.
 */
#ifndef NPSHIM_K8S_PERSIST_H
#define NPSHIM_K8S_PERSIST_H

#include <stddef.h>
#include <stdint.h>

struct k8s_cache;
struct k8s_diag;
struct pol_cluster;

#define K8S_PERSIST_FILE "cluster-state.json"

/* STATE_DIR/K8S_PERSIST_FILE into buf. -ENAMETOOLONG when it does not fit. */
int k8s_persist_path(const char *state_dir, char *buf, size_t len);

/* Write every cached object. The directory is created (0700) when
 * missing. 0 or -errno. */
int k8s_persist_save(const struct k8s_cache *cache, const char *state_dir);

/* Read the persisted state. 0 with *out (owned by the caller) and
 * *saved_unix (the file's mtime); -ENOENT when there is none; -EINVAL when
 * it cannot be used (the reasons reported to diag: a state file that does
 * not load is never half-used). */
int k8s_persist_load(const char *state_dir, struct pol_cluster **out, int64_t *saved_unix,
		     struct k8s_diag *diag);

#endif

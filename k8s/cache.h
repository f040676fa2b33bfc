/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/cache.h - the reflectors' object store and snapshot builder.
 *
 * One store per kind (Namespace, Pod, NetworkPolicy), keyed by "name" or
 * "namespace/name". Each entry owns its decoded object (policy/objects.h),
 * the object's resourceVersion and a compact JSON form with the bulky
 * fields the policy engine never reads removed (managedFields, the
 * last-applied annotation, pod conditions and container statuses); that
 * form is what gets persisted, and comparing it tells a change that matters
 * from status churn, so a MODIFIED that changes nothing relevant does not
 * cost a model rebuild.
 *
 * Not thread-safe: the watcher's event thread owns a cache. Snapshots are
 * deep copies handed to whoever asks, so the cache never shares memory with
 * a compiled model.
 */
#ifndef NPSHIM_K8S_CACHE_H
#define NPSHIM_K8S_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "k8s/decode.h"

struct pol_cluster;

/* The kinds of enum k8s_kind (k8s/decode.h) a cache holds: arrays indexed
 * by kind are K8S_CACHE_KIND_END long, iteration runs from FIRST. */
#define K8S_CACHE_KIND_FIRST K8S_KIND_NAMESPACE
#define K8S_CACHE_KIND_END (K8S_KIND_NETWORKPOLICY + 1)

/* "namespaces", "pods", "networkpolicies". */
const char *k8s_kind_resource(enum k8s_kind kind);

struct k8s_store;

/* NULL with errno = ENOMEM. */
struct k8s_store *k8s_store_new(enum k8s_kind kind);
void k8s_store_free(struct k8s_store *s);
size_t k8s_store_count(const struct k8s_store *s);

/* Insert or replace. Takes ownership of decoded (a struct pol_namespace,
 * pol_pod or pol_policy matching the store's kind), raw and rv in every
 * case. key is copied. Returns 1 inserted, 0 replaced, -ENOMEM (everything
 * freed, store unchanged). */
int k8s_store_put(struct k8s_store *s, const char *key, void *decoded, char *raw, char *rv);
/* Remove key; false when absent. */
bool k8s_store_del(struct k8s_store *s, const char *key);
/* Borrowed until the entry is replaced or removed; NULL when absent. */
const char *k8s_store_raw(const struct k8s_store *s, const char *key);
const char *k8s_store_rv(const struct k8s_store *s, const char *key);
/* Move the entry of key from src into dst (a relist keeping the last good
 * copy of an object it could not decode). False when absent or ENOMEM. */
bool k8s_store_move(struct k8s_store *dst, struct k8s_store *src, const char *key);

struct k8s_cache_counters {
	uint64_t added, updated, deleted;
	uint64_t unchanged; /* updates equal to the cached object */
	uint64_t replaces;  /* relists applied */
	uint64_t rebuilds;  /* snapshots built */
};

struct k8s_cache;

struct k8s_cache *k8s_cache_new(void);
void k8s_cache_free(struct k8s_cache *c);

/* Upsert as k8s_store_put (same ownership). An object equal to the cached
 * one (same compact form) only updates its rv and does not mark the cache
 * dirty. 0 or -ENOMEM. */
int k8s_cache_upsert(struct k8s_cache *c, enum k8s_kind kind, const char *key,
		     void *decoded, char *raw, char *rv, uint64_t now_ms);
/* Delete; false when the key was not cached. */
bool k8s_cache_delete(struct k8s_cache *c, enum k8s_kind kind, const char *key,
		      uint64_t now_ms);
/* A relist: fresh (consumed, freed) replaces every object of kind. Objects
 * missing from fresh are deletions, counted and logged at debug level.
 * Returns the number of deletions. */
size_t k8s_cache_replace(struct k8s_cache *c, enum k8s_kind kind, struct k8s_store *fresh,
			 uint64_t now_ms);
/* Borrowed store of kind. */
struct k8s_store *k8s_cache_store(struct k8s_cache *c, enum k8s_kind kind);

/* Debounce: a burst of changes gives one rebuild. True when the cache is
 * dirty and has been quiet for K8S_DEBOUNCE_QUIET_MS, or dirty for
 * K8S_DEBOUNCE_MAX_MS whatever the traffic. Otherwise *wait_ms gets how
 * long until it could be due (-1 when clean). */
#define K8S_DEBOUNCE_QUIET_MS 100
#define K8S_DEBOUNCE_MAX_MS 1000
bool k8s_cache_rebuild_due(const struct k8s_cache *c, uint64_t now_ms, int *wait_ms);
bool k8s_cache_dirty(const struct k8s_cache *c);
/* Force the next k8s_cache_rebuild_due() true (first full sync). */
void k8s_cache_mark_dirty(struct k8s_cache *c, uint64_t now_ms);

/* A deep copy of every cached object, each kind sorted by key, owned by
 * the caller. Clears the dirty flag and counts a rebuild. NULL on ENOMEM. */
struct pol_cluster *k8s_cache_snapshot(struct k8s_cache *c);

/* Write every object as one JSON "List" (apiVersion v1, items with kind and
 * apiVersion), sorted by kind then key. 0 or -errno. */
int k8s_cache_write_list(const struct k8s_cache *c, FILE *out);

/* The compact form of an API object for the store: removes in place the
 * members the engine never reads (see above) and metadata.resourceVersion,
 * sets kind and apiVersion, and prints it. Owned by the caller; NULL on
 * ENOMEM. */
struct cJSON;
char *k8s_object_compact(struct cJSON *obj, enum k8s_kind kind);
/* Only set kind and apiVersion (list items come without them). */
void k8s_object_set_kind(struct cJSON *obj, enum k8s_kind kind);
/* Free a decoded object of kind (pol_namespace_free & co.). NULL is fine. */
void k8s_object_free(enum k8s_kind kind, void *decoded);

void k8s_cache_counters(const struct k8s_cache *c, struct k8s_cache_counters *out);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/tree.h - source positions of cJSON nodes, and duplicate-key sets.
 *
 * cJSON keeps no positions, so the file parsers (k8s/jsonpos.c,
 * k8s/yamlpos.c) record where each node they create came from in a side
 * map keyed by node address. The decoder looks positions up to name the line
 * of a semantic error (a bad CIDR in the middle of a file). A map borrows
 * nothing: keys are only compared, never dereferenced, so a map may outlive
 * its tree, but must then be cleared before nodes of another tree are added
 * (addresses get reused).
 */
#ifndef NPSHIM_K8S_TREE_H
#define NPSHIM_K8S_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* A JSON number written with a fraction or an exponent (80.0, 8e1): the API
 * server's JSON decoder refuses it where an integer is expected, even when it
 * is integral. YAML never sets it: kubectl converts YAML to JSON with Go's
 * encoder, which writes an integral 80.0 as 80. */
#define K8S_POS_FLOAT (1U << 0)

struct k8s_pos {
	uint32_t line; /* 1-based */
	uint32_t col;  /* 1-based, in bytes */
	uint32_t flags;
};

struct k8s_pos_map;

/* NULL with errno = ENOMEM. */
struct k8s_pos_map *k8s_pos_map_new(void);
void k8s_pos_map_free(struct k8s_pos_map *m);
/* Forget every entry, keep the memory. */
void k8s_pos_map_clear(struct k8s_pos_map *m);
/* Record (or replace) the position of node. 0, or -ENOMEM. */
int k8s_pos_map_set(struct k8s_pos_map *m, const struct cJSON *node,
		    uint32_t line, uint32_t col, uint32_t flags);
/* False when m is NULL or node has no entry. */
bool k8s_pos_map_get(const struct k8s_pos_map *m, const struct cJSON *node,
		     struct k8s_pos *out);
size_t k8s_pos_map_count(const struct k8s_pos_map *m);

/* Keys already present in one object under construction. Small objects are
 * scanned; from K8S_OBJKEYS_HASH_MIN members on, a hash set keeps the check
 * O(1) so a hostile object with 100k keys cannot make loading quadratic.
 * Borrows the key strings: pass the very string the new member will own
 * (its ->string), so it lives as long as obj. Zero-initialise. */
#define K8S_OBJKEYS_HASH_MIN 16
struct k8s_objkeys {
	size_t n;
	const char **slots;
	size_t cap;
};

/* Record key as a member about to be added to obj (whose children are the
 * members added so far). 1 when new, 0 when obj already has it, -ENOMEM. */
int k8s_objkeys_add(struct k8s_objkeys *k, const struct cJSON *obj, const char *key);
void k8s_objkeys_free(struct k8s_objkeys *k);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* policy/lpm.h - longest-prefix-match trie over 16-byte addresses.
 *
 * A path-compressed binary trie mapping prefixes (struct pol_cidr) to a
 * 32-bit value. IPv4 and IPv6 live in separate roots: an IPv6 prefix never
 * contains an IPv4(-mapped) address, as in the Kubernetes API's Go types.
 * The trie owns its nodes; lpm_free() releases them. Lookups never allocate
 * and may run from any number of threads once inserts are finished.
 */
#ifndef NPSHIM_POLICY_LPM_H
#define NPSHIM_POLICY_LPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/objects.h"

/* A stored value that means "no match here": it hides shorter prefixes,
 * which is how an ipBlock's except entries are represented. */
#define LPM_NONE UINT32_MAX

struct lpm;

/* NULL with errno = ENOMEM. */
struct lpm *lpm_new(void);
void lpm_free(struct lpm *t);

/* Insert prefix with value, replacing the value of an equal prefix. value
 * may be LPM_NONE. 0, or -1 with errno = ENOMEM (trie unchanged). */
int lpm_insert(struct lpm *t, const struct pol_cidr *prefix, uint32_t value);

/* Value of the longest prefix containing ip. False when no prefix contains
 * it or the longest one holds LPM_NONE. */
bool lpm_lookup(const struct lpm *t, const struct pol_ip *ip, uint32_t *value);

/* Fill an EMPTY trie with the union of ipBlocks: afterwards lpm_lookup(ip)
 * gives the index of the first block whose cidr contains ip and none of
 * whose except entries do, or false when no block matches. Exact, also when
 * one block's except overlaps another block's cidr. 0 or -1 (ENOMEM, or
 * EINVAL when t is not empty). */
int lpm_insert_ipblocks(struct lpm *t, const struct pol_ipblock *const *blocks, size_t n);

/* Number of prefixes stored; bytes of memory held. */
size_t lpm_count(const struct lpm *t);
size_t lpm_memory(const struct lpm *t);

#endif

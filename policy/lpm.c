/* SPDX-License-Identifier: Apache-2.0 */
/* policy/lpm.c - path-compressed binary trie for longest-prefix match.
 *
 * Nodes live in one array and refer to each other by index (0 = none), so
 * the whole trie is one allocation and growing it never leaves dangling
 * pointers. Keys are kept as two host-order 64-bit halves for cheap masking.
 */
#include "policy/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct lpm_node {
	uint64_t hi, lo;    /* key, bits beyond len cleared */
	uint32_t child[2];
	uint32_t value;
	uint8_t len;
	bool has_value;
};

struct lpm {
	struct lpm_node *nodes; /* nodes[0] unused: index 0 means "none" */
	uint32_t n_nodes, cap;
	uint32_t root[2];       /* [0] IPv6, [1] IPv4 */
	size_t count;
};

struct key {
	uint64_t hi, lo;
};

static struct key key_of(const struct pol_ip *ip)
{
	struct key k = { 0, 0 };
	int i;

	for (i = 0; i < 8; i++) {
		k.hi = k.hi << 8 | ip->b[i];
		k.lo = k.lo << 8 | ip->b[8 + i];
	}
	return k;
}

static uint64_t mask_hi(unsigned len)
{
	return len == 0 ? 0 : len >= 64 ? ~0ULL : ~0ULL << (64 - len);
}

static uint64_t mask_lo(unsigned len)
{
	return len <= 64 ? 0 : len >= 128 ? ~0ULL : ~0ULL << (128 - len);
}

static unsigned key_bit(struct key k, unsigned pos)
{
	return pos < 64 ? (unsigned)(k.hi >> (63 - pos)) & 1 : (unsigned)(k.lo >> (127 - pos)) & 1;
}

/* Length of the common prefix of a and b, at most max. */
static unsigned common_len(struct key a, struct key b, unsigned max)
{
	uint64_t x = a.hi ^ b.hi;
	unsigned n;

	if (x)
		n = (unsigned)__builtin_clzll(x);
	else if ((x = a.lo ^ b.lo))
		n = 64 + (unsigned)__builtin_clzll(x);
	else
		n = 128;
	return n < max ? n : max;
}

struct lpm *lpm_new(void)
{
	struct lpm *t = calloc(1, sizeof(*t));

	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->n_nodes = 1;
	return t;
}

void lpm_free(struct lpm *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t);
}

/* Make room for extra more nodes. */
static int reserve(struct lpm *t, uint32_t extra)
{
	struct lpm_node *n;
	uint32_t cap;

	if (t->nodes && t->n_nodes + extra <= t->cap)
		return 0;
	if (t->n_nodes > UINT32_MAX / 4) {
		errno = ENOMEM;
		return -1;
	}
	cap = t->cap ? t->cap * 2 : 8;
	while (cap < t->n_nodes + extra)
		cap *= 2;
	n = realloc(t->nodes, (size_t)cap * sizeof(*n));
	if (!n) {
		errno = ENOMEM;
		return -1;
	}
	t->nodes = n;
	t->cap = cap;
	return 0;
}

static uint32_t node_add(struct lpm *t, struct key k, unsigned len, bool has_value, uint32_t value)
{
	uint32_t i = t->n_nodes++;
	struct lpm_node *n = &t->nodes[i];

	n->hi = k.hi & mask_hi(len);
	n->lo = k.lo & mask_lo(len);
	n->child[0] = n->child[1] = 0;
	n->value = value;
	n->len = (uint8_t)len;
	n->has_value = has_value;
	return i;
}

int lpm_insert(struct lpm *t, const struct pol_cidr *prefix, uint32_t value)
{
	struct key k = key_of(&prefix->addr);
	unsigned len = prefix->len > 128 ? 128 : prefix->len;
	uint32_t *slot, cur;

	/* At most two new nodes (a split); reserving first keeps every
	 * pointer into the node array valid below. */
	if (reserve(t, 2) < 0)
		return -1;
	k.hi &= mask_hi(len);
	k.lo &= mask_lo(len);
	slot = &t->root[prefix->v4 ? 1 : 0];
	for (;;) {
		struct lpm_node *n;
		struct key nk;
		unsigned c;
		uint32_t x, leaf;

		cur = *slot;
		if (!cur) {
			*slot = node_add(t, k, len, true, value);
			t->count++;
			return 0;
		}
		n = &t->nodes[cur];
		nk.hi = n->hi;
		nk.lo = n->lo;
		c = common_len(nk, k, n->len < len ? n->len : len);
		if (c == n->len && c == len) {
			if (!n->has_value)
				t->count++;
			n->has_value = true;
			n->value = value;
			return 0;
		}
		if (c == n->len) {
			slot = &n->child[key_bit(k, n->len)];
			continue;
		}
		if (c == len) {
			x = node_add(t, k, len, true, value);
			t->nodes[x].child[key_bit(nk, len)] = cur;
			*slot = x;
			t->count++;
			return 0;
		}
		x = node_add(t, k, c, false, 0);
		leaf = node_add(t, k, len, true, value);
		t->nodes[x].child[key_bit(nk, c)] = cur;
		t->nodes[x].child[key_bit(k, c)] = leaf;
		*slot = x;
		t->count++;
		return 0;
	}
}

bool lpm_lookup(const struct lpm *t, const struct pol_ip *ip, uint32_t *value)
{
	struct key k = key_of(ip);
	uint32_t i = t->root[pol_ip_is_v4(ip) ? 1 : 0];
	uint32_t best = LPM_NONE;

	while (i) {
		const struct lpm_node *n = &t->nodes[i];

		if (((k.hi ^ n->hi) & mask_hi(n->len)) || ((k.lo ^ n->lo) & mask_lo(n->len)))
			break;
		if (n->has_value)
			best = n->value;
		if (n->len >= 128)
			break;
		i = n->child[key_bit(k, n->len)];
	}
	if (best == LPM_NONE)
		return false;
	if (value)
		*value = best;
	return true;
}

/* outer contains inner as a set of addresses. */
static bool cidr_covers(const struct pol_cidr *outer, const struct pol_cidr *inner)
{
	return outer->v4 == inner->v4 && outer->len <= inner->len &&
	       pol_cidr_contains(outer, &inner->addr);
}

/* The value for prefix p: every address whose longest stored prefix is p
 * lies in exactly those stored prefixes that cover p, so block membership
 * is constant over them and can be decided from p alone. */
static uint32_t block_value(const struct pol_cidr *p, const struct pol_ipblock *const *blocks, size_t n)
{
	size_t i, j;

	for (i = 0; i < n && i < LPM_NONE; i++) {
		const struct pol_ipblock *b = blocks[i];
		bool excepted = false;

		if (!cidr_covers(&b->cidr, p))
			continue;
		for (j = 0; j < b->n_except && !excepted; j++)
			excepted = cidr_covers(&b->except[j], p);
		if (!excepted)
			return (uint32_t)i;
	}
	return LPM_NONE;
}

int lpm_insert_ipblocks(struct lpm *t, const struct pol_ipblock *const *blocks, size_t n)
{
	size_t i, j;

	if (t->count) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct pol_ipblock *b = blocks[i];

		if (lpm_insert(t, &b->cidr, block_value(&b->cidr, blocks, n)) < 0)
			return -1;
		for (j = 0; j < b->n_except; j++)
			if (lpm_insert(t, &b->except[j], block_value(&b->except[j], blocks, n)) < 0)
				return -1;
	}
	return 0;
}

size_t lpm_count(const struct lpm *t)
{
	return t->count;
}

size_t lpm_memory(const struct lpm *t)
{
	return sizeof(*t) + (size_t)t->cap * sizeof(struct lpm_node);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/tree.c - source positions of cJSON nodes, and duplicate-key sets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/tree.h"

struct pos_slot {
	const struct cJSON *node; /* NULL = empty */
	struct k8s_pos pos;
};

struct k8s_pos_map {
	struct pos_slot *slots;
	size_t cap; /* power of two */
	size_t n;
};

static size_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

struct k8s_pos_map *k8s_pos_map_new(void)
{
	struct k8s_pos_map *m = calloc(1, sizeof(*m));

	if (!m)
		errno = ENOMEM;
	return m;
}

void k8s_pos_map_free(struct k8s_pos_map *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

void k8s_pos_map_clear(struct k8s_pos_map *m)
{
	if (m && m->slots)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	if (m)
		m->n = 0;
}

static struct pos_slot *pos_find(struct pos_slot *slots, size_t cap, const struct cJSON *node)
{
	size_t i = ptr_hash(node) & (cap - 1);

	while (slots[i].node && slots[i].node != node)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int pos_grow(struct k8s_pos_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 256, i;
	struct pos_slot *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++)
		if (m->slots[i].node)
			*pos_find(n, ncap, m->slots[i].node) = m->slots[i];
	free(m->slots);
	m->slots = n;
	m->cap = ncap;
	return 0;
}

int k8s_pos_map_set(struct k8s_pos_map *m, const struct cJSON *node,
		    uint32_t line, uint32_t col, uint32_t flags)
{
	struct pos_slot *s;

	/* Load factor at most 1/2 keeps probe runs short. */
	if ((m->n + 1) * 2 > m->cap && pos_grow(m) < 0)
		return -ENOMEM;
	s = pos_find(m->slots, m->cap, node);
	if (!s->node)
		m->n++;
	s->node = node;
	s->pos.line = line;
	s->pos.col = col;
	s->pos.flags = flags;
	return 0;
}

bool k8s_pos_map_get(const struct k8s_pos_map *m, const struct cJSON *node,
		     struct k8s_pos *out)
{
	const struct pos_slot *s;

	if (!m || !m->cap || !node)
		return false;
	s = pos_find(m->slots, m->cap, node);
	if (!s->node)
		return false;
	*out = s->pos;
	return true;
}

size_t k8s_pos_map_count(const struct k8s_pos_map *m)
{
	return m ? m->n : 0;
}

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Insert into the set; 1 new, 0 present. The table always has room. */
static int keyset_put(const char **slots, size_t cap, const char *key)
{
	size_t i = str_hash(key) & (cap - 1);

	while (slots[i]) {
		if (strcmp(slots[i], key) == 0)
			return 0;
		i = (i + 1) & (cap - 1);
	}
	slots[i] = key;
	return 1;
}

static int keyset_grow(struct k8s_objkeys *k, const struct cJSON *obj)
{
	size_t ncap = k->cap ? k->cap * 2 : 64, i;
	const char **n = calloc(ncap, sizeof(*n));
	const struct cJSON *c;

	if (!n)
		return -ENOMEM;
	if (k->slots) {
		for (i = 0; i < k->cap; i++)
			if (k->slots[i])
				keyset_put(n, ncap, k->slots[i]);
	} else {
		for (c = obj->child; c; c = c->next)
			if (c->string)
				keyset_put(n, ncap, c->string);
	}
	free(k->slots);
	k->slots = n;
	k->cap = ncap;
	return 0;
}

int k8s_objkeys_add(struct k8s_objkeys *k, const struct cJSON *obj, const char *key)
{
	const struct cJSON *c;
	int rc;

	if (k->n < K8S_OBJKEYS_HASH_MIN) {
		for (c = obj->child; c; c = c->next)
			if (c->string && strcmp(c->string, key) == 0)
				return 0;
		k->n++;
		return 1;
	}
	if ((k->n + 1) * 2 > k->cap) {
		rc = keyset_grow(k, obj);
		if (rc < 0)
			return rc;
	}
	rc = keyset_put(k->slots, k->cap, key);
	if (rc)
		k->n++;
	return rc;
}

void k8s_objkeys_free(struct k8s_objkeys *k)
{
	free(k->slots);
	k->slots = NULL;
	k->cap = k->n = 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/cache.c - object stores per kind, change detection, snapshots. */
#include "k8s/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "policy/objects.h"

struct obj {
	char *key;
	void *decoded;
	char *raw;
	char *rv;
	struct obj *next;
};

struct k8s_store {
	enum k8s_kind kind;
	struct obj **buckets;
	size_t n_buckets;
	size_t n;
};

struct k8s_cache {
	struct k8s_store *stores[K8S_CACHE_KIND_END];
	struct k8s_cache_counters cnt;
	bool dirty;
	uint64_t first_dirty_ms;
	uint64_t last_change_ms;
};

const char *k8s_kind_resource(enum k8s_kind kind)
{
	switch (kind) {
	case K8S_KIND_NAMESPACE:
		return "namespaces";
	case K8S_KIND_POD:
		return "pods";
	case K8S_KIND_NETWORKPOLICY:
		return "networkpolicies";
	default:
		return "objects";
	}
}

void k8s_object_free(enum k8s_kind kind, void *d)
{
	if (!d)
		return;
	switch (kind) {
	case K8S_KIND_NAMESPACE:
		pol_namespace_free(d);
		break;
	case K8S_KIND_POD:
		pol_pod_free(d);
		break;
	case K8S_KIND_NETWORKPOLICY:
		pol_policy_free(d);
		break;
	default:
		break;
	}
}

static void obj_free(enum k8s_kind kind, struct obj *o)
{
	free(o->key);
	k8s_object_free(kind, o->decoded);
	free(o->raw);
	free(o->rv);
	free(o);
}

/* FNV-1a: keys are short and not attacker-chosen in volume that matters
 * (the API server is trusted to be honest about names). */
static size_t hash_key(const char *k)
{
	uint64_t h = 1469598103934665603ull;

	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

struct k8s_store *k8s_store_new(enum k8s_kind kind)
{
	struct k8s_store *s = calloc(1, sizeof(*s));

	if (!s)
		goto nomem;
	s->kind = kind;
	s->n_buckets = 64;
	s->buckets = calloc(s->n_buckets, sizeof(*s->buckets));
	if (!s->buckets)
		goto nomem;
	return s;
nomem:
	free(s);
	errno = ENOMEM;
	return NULL;
}

void k8s_store_free(struct k8s_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct obj *o = s->buckets[i], *next;

		for (; o; o = next) {
			next = o->next;
			obj_free(s->kind, o);
		}
	}
	free(s->buckets);
	free(s);
}

size_t k8s_store_count(const struct k8s_store *s)
{
	return s ? s->n : 0;
}

static struct obj **find_slot(const struct k8s_store *s, const char *key)
{
	struct obj **pp = &s->buckets[hash_key(key) & (s->n_buckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0)
			return pp;
	return pp;
}

static void grow(struct k8s_store *s)
{
	size_t nb = s->n_buckets * 2;
	struct obj **b = calloc(nb, sizeof(*b));

	/* Failing to grow only makes chains longer. */
	if (!b)
		return;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct obj *o = s->buckets[i], *next;

		for (; o; o = next) {
			size_t h = hash_key(o->key) & (nb - 1);

			next = o->next;
			o->next = b[h];
			b[h] = o;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = nb;
}

static void store_link(struct k8s_store *s, struct obj *o)
{
	struct obj **pp;

	if (s->n >= s->n_buckets)
		grow(s);
	pp = find_slot(s, o->key);
	o->next = NULL;
	*pp = o;
	s->n++;
}

int k8s_store_put(struct k8s_store *s, const char *key, void *decoded, char *raw, char *rv)
{
	struct obj **pp = find_slot(s, key), *o = *pp;

	if (o) {
		k8s_object_free(s->kind, o->decoded);
		free(o->raw);
		free(o->rv);
		o->decoded = decoded;
		o->raw = raw;
		o->rv = rv;
		return 0;
	}
	o = calloc(1, sizeof(*o));
	if (o)
		o->key = strdup(key);
	if (!o || !o->key) {
		free(o);
		k8s_object_free(s->kind, decoded);
		free(raw);
		free(rv);
		return -ENOMEM;
	}
	o->decoded = decoded;
	o->raw = raw;
	o->rv = rv;
	store_link(s, o);
	return 1;
}

static struct obj *store_unlink(struct k8s_store *s, const char *key)
{
	struct obj **pp = find_slot(s, key), *o = *pp;

	if (!o)
		return NULL;
	*pp = o->next;
	o->next = NULL;
	s->n--;
	return o;
}

bool k8s_store_del(struct k8s_store *s, const char *key)
{
	struct obj *o = store_unlink(s, key);

	if (!o)
		return false;
	obj_free(s->kind, o);
	return true;
}

const char *k8s_store_raw(const struct k8s_store *s, const char *key)
{
	struct obj *o = *find_slot(s, key);

	return o ? o->raw : NULL;
}

const char *k8s_store_rv(const struct k8s_store *s, const char *key)
{
	struct obj *o = *find_slot(s, key);

	return o ? o->rv : NULL;
}

bool k8s_store_move(struct k8s_store *dst, struct k8s_store *src, const char *key)
{
	struct obj *o;

	if (*find_slot(dst, key))
		return false;
	o = store_unlink(src, key);
	if (!o)
		return false;
	store_link(dst, o);
	return true;
}

/* --- cache --- */

struct k8s_cache *k8s_cache_new(void)
{
	struct k8s_cache *c = calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	for (int k = K8S_CACHE_KIND_FIRST; k < K8S_CACHE_KIND_END; k++) {
		c->stores[k] = k8s_store_new((enum k8s_kind)k);
		if (!c->stores[k]) {
			k8s_cache_free(c);
			errno = ENOMEM;
			return NULL;
		}
	}
	return c;
}

void k8s_cache_free(struct k8s_cache *c)
{
	if (!c)
		return;
	for (int k = K8S_CACHE_KIND_FIRST; k < K8S_CACHE_KIND_END; k++)
		k8s_store_free(c->stores[k]);
	free(c);
}

struct k8s_store *k8s_cache_store(struct k8s_cache *c, enum k8s_kind kind)
{
	return c->stores[kind];
}

static void touch(struct k8s_cache *c, uint64_t now_ms)
{
	if (!c->dirty) {
		c->dirty = true;
		c->first_dirty_ms = now_ms;
	}
	c->last_change_ms = now_ms;
}

void k8s_cache_mark_dirty(struct k8s_cache *c, uint64_t now_ms)
{
	touch(c, now_ms);
	/* Due at once. */
	c->first_dirty_ms = now_ms - K8S_DEBOUNCE_MAX_MS;
	c->last_change_ms = now_ms - K8S_DEBOUNCE_QUIET_MS;
}

int k8s_cache_upsert(struct k8s_cache *c, enum k8s_kind kind, const char *key,
		     void *decoded, char *raw, char *rv, uint64_t now_ms)
{
	struct k8s_store *s = c->stores[kind];
	struct obj *o = *find_slot(s, key);
	int r;

	if (o && o->raw && raw && strcmp(o->raw, raw) == 0) {
		free(o->rv);
		o->rv = rv;
		k8s_object_free(kind, decoded);
		free(raw);
		c->cnt.unchanged++;
		return 0;
	}
	r = k8s_store_put(s, key, decoded, raw, rv);
	if (r < 0)
		return r;
	if (r == 1)
		c->cnt.added++;
	else
		c->cnt.updated++;
	touch(c, now_ms);
	return 0;
}

bool k8s_cache_delete(struct k8s_cache *c, enum k8s_kind kind, const char *key, uint64_t now_ms)
{
	if (!k8s_store_del(c->stores[kind], key))
		return false;
	c->cnt.deleted++;
	touch(c, now_ms);
	return true;
}

size_t k8s_cache_replace(struct k8s_cache *c, enum k8s_kind kind, struct k8s_store *fresh,
			 uint64_t now_ms)
{
	struct k8s_store *old = c->stores[kind];
	size_t deleted = 0, changed = 0;

	for (size_t i = 0; i < old->n_buckets; i++) {
		for (struct obj *o = old->buckets[i]; o; o = o->next) {
			const char *nr = k8s_store_raw(fresh, o->key);

			if (!nr) {
				/* Deleted while we were not watching: the relist
				 * is the only place we learn about it. */
				log_debug("k8s: relist: %s %s is gone", k8s_kind_name(kind), o->key);
				deleted++;
			} else if (!o->raw || strcmp(nr, o->raw) != 0) {
				changed++;
			}
		}
	}
	/* Objects only in fresh are additions. */
	if (fresh->n + deleted != old->n)
		changed += fresh->n + deleted - old->n;
	c->stores[kind] = fresh;
	k8s_store_free(old);
	c->cnt.replaces++;
	c->cnt.deleted += deleted;
	if (deleted || changed)
		touch(c, now_ms);
	return deleted;
}

bool k8s_cache_dirty(const struct k8s_cache *c)
{
	return c->dirty;
}

bool k8s_cache_rebuild_due(const struct k8s_cache *c, uint64_t now_ms, int *wait_ms)
{
	uint64_t q, m;

	if (!c->dirty) {
		*wait_ms = -1;
		return false;
	}
	q = c->last_change_ms + K8S_DEBOUNCE_QUIET_MS;
	m = c->first_dirty_ms + K8S_DEBOUNCE_MAX_MS;
	if (now_ms >= q || now_ms >= m) {
		*wait_ms = 0;
		return true;
	}
	*wait_ms = (int)((q < m ? q : m) - now_ms);
	return false;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct obj *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

/* Entries of one store sorted by key (borrowed pointers); NULL + errno. */
static struct obj **sorted(const struct k8s_store *s)
{
	struct obj **v = malloc((s->n ? s->n : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct obj *o = s->buckets[i]; o; o = o->next)
			v[n++] = o;
	qsort(v, n, sizeof(*v), cmp_obj);
	return v;
}

struct pol_cluster *k8s_cache_snapshot(struct k8s_cache *c)
{
	struct pol_cluster view = { 0 }, *out = NULL;
	struct obj **v[K8S_CACHE_KIND_END] = { 0 };

	for (int k = K8S_CACHE_KIND_FIRST; k < K8S_CACHE_KIND_END; k++) {
		v[k] = sorted(c->stores[k]);
		if (!v[k])
			goto out;
	}
	view.n_namespaces = c->stores[K8S_KIND_NAMESPACE]->n;
	view.n_pods = c->stores[K8S_KIND_POD]->n;
	view.n_policies = c->stores[K8S_KIND_NETWORKPOLICY]->n;
	view.namespaces = calloc(view.n_namespaces + 1, sizeof(*view.namespaces));
	view.pods = calloc(view.n_pods + 1, sizeof(*view.pods));
	view.policies = calloc(view.n_policies + 1, sizeof(*view.policies));
	if (!view.namespaces || !view.pods || !view.policies)
		goto out;
	for (size_t i = 0; i < view.n_namespaces; i++)
		view.namespaces[i] = v[K8S_KIND_NAMESPACE][i]->decoded;
	for (size_t i = 0; i < view.n_pods; i++)
		view.pods[i] = v[K8S_KIND_POD][i]->decoded;
	for (size_t i = 0; i < view.n_policies; i++)
		view.policies[i] = v[K8S_KIND_NETWORKPOLICY][i]->decoded;
	/* The view borrows the cached objects; the clone owns its own. */
	out = pol_cluster_clone(&view);
	if (out) {
		c->dirty = false;
		c->cnt.rebuilds++;
	}
out:
	free(view.namespaces);
	free(view.pods);
	free(view.policies);
	for (int k = K8S_CACHE_KIND_FIRST; k < K8S_CACHE_KIND_END; k++)
		free(v[k]);
	if (!out)
		errno = ENOMEM;
	return out;
}

int k8s_cache_write_list(const struct k8s_cache *c, FILE *out)
{
	bool first = true;

	fputs("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"metadata\":{},\"items\":[\n", out);
	for (int k = K8S_CACHE_KIND_FIRST; k < K8S_CACHE_KIND_END; k++) {
		struct obj **v = sorted(c->stores[k]);

		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < c->stores[k]->n; i++) {
			if (!v[i]->raw)
				continue;
			if (!first)
				fputs(",\n", out);
			fputs(v[i]->raw, out);
			first = false;
		}
		free(v);
	}
	fputs("\n]}\n", out);
	return ferror(out) ? -EIO : 0;
}

void k8s_cache_counters(const struct k8s_cache *c, struct k8s_cache_counters *out)
{
	*out = c->cnt;
}

static void del_path(cJSON *obj, const char *a, const char *b)
{
	cJSON *parent = cJSON_GetObjectItemCaseSensitive(obj, a);

	if (cJSON_IsObject(parent))
		cJSON_DeleteItemFromObjectCaseSensitive(parent, b);
}

/* Always appended, whether obj had the member or not: a watch event's
 * object starts with kind and apiVersion, a list item has neither, and the
 * compact forms of the two must be byte-equal for an unchanged object, or
 * every relist looks like a change of everything that last came by watch. */
static void set_string(cJSON *obj, const char *name, const char *val)
{
	cJSON *s = cJSON_CreateString(val);

	if (!s)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	cJSON_AddItemToObject(obj, name, s);
}

void k8s_object_set_kind(cJSON *obj, enum k8s_kind kind)
{
	set_string(obj, "kind", k8s_kind_name(kind));
	set_string(obj, "apiVersion", kind == K8S_KIND_NETWORKPOLICY ? "networking.k8s.io/v1" : "v1");
}

char *k8s_object_compact(cJSON *obj, enum k8s_kind kind)
{
	cJSON *ann;

	k8s_object_set_kind(obj, kind);
	/* Bulky and never read by the engine; also the fields that churn on
	 * every status update, which would otherwise look like changes. */
	del_path(obj, "metadata", "managedFields");
	del_path(obj, "metadata", "resourceVersion");
	ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
					       "annotations");
	if (cJSON_IsObject(ann))
		cJSON_DeleteItemFromObjectCaseSensitive(ann,
							"kubectl.kubernetes.io/last-applied-configuration");
	if (kind == K8S_KIND_POD) {
		static const char *const status_drop[] = { "conditions", "containerStatuses",
							   "initContainerStatuses",
							   "ephemeralContainerStatuses",
							   "resourceClaimStatuses", NULL };
		for (const char *const *d = status_drop; *d; d++)
			del_path(obj, "status", *d);
		del_path(obj, "spec", "volumes");
	}
	return cJSON_PrintUnformatted(obj);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* audit/replay.c - recorded flow rows into observations, evaluated again. */
#include "audit/replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "audit/record.h"

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= 0xff;
	return h * 0x100000001b3ULL;
}

static uint64_t row_hash(const struct audit_obs_row *r)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = hash_str(h, r->src_ns);
	h = hash_str(h, r->src_kind);
	h = hash_str(h, r->src_name);
	h = hash_str(h, r->dst_ns);
	h = hash_str(h, r->dst_kind);
	h = hash_str(h, r->dst_name);
	h ^= (uint64_t)r->proto << 16 | r->port;
	h *= 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static bool ep_is(const struct audit_obs_ep *ep, const char *ns, const char *kind,
		  const char *name)
{
	return strcmp(ep->ns, ns) == 0 && strcmp(ep->wl_kind, kind) == 0 &&
	       strcmp(ep->wl_name, name) == 0;
}

static bool obs_is(const struct audit_obs *o, const struct audit_obs_row *r)
{
	return o->proto == r->proto && o->port == r->port &&
	       ep_is(&o->src, r->src_ns, r->src_kind, r->src_name) &&
	       ep_is(&o->dst, r->dst_ns, r->dst_kind, r->dst_name);
}

bool audit_obs_parse_labels(const char *text, struct pol_labels *out)
{
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ',');
		const char *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *key;
		int ret;

		eq = memchr(p, '=', len);
		if (!eq || eq == p)
			return false;
		key = strndup(p, (size_t)(eq - p));
		if (!key)
			return false;
		{
			char *val = strndup(eq + 1, len - (size_t)(eq - p) - 1);

			ret = val ? pol_labels_set(out, key, val) : -1;
			free(val);
		}
		free(key);
		if (ret < 0)
			return false;
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

/* Add the comma separated IPs of text to the side's samples. */
static bool merge_ips(struct audit_obs_ep *ep, const char *text, char *err, size_t errlen,
		      const char *what)
{
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char buf[POL_IP_STRLEN];
		struct pol_ip ip;
		bool dup = false;

		if (len == 0 || len >= sizeof(buf)) {
			snprintf(err, errlen, "%s: malformed address sample '%.*s'", what,
				 (int)(len > 60 ? 60 : len), p);
			return false;
		}
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (!pol_ip_parse(buf, &ip)) {
			snprintf(err, errlen, "%s: '%s' is not an IP address", what, buf);
			return false;
		}
		for (size_t i = 0; i < ep->n_ips; i++)
			if (memcmp(&ep->ips[i], &ip, sizeof(ip)) == 0)
				dup = true;
		if (!dup && ep->n_ips < AUDIT_OBS_SAMPLES)
			ep->ips[ep->n_ips++] = ip;
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

static bool merge_pods(struct audit_obs_ep *ep, const char *text)
{
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool dup = false;

		for (size_t i = 0; i < ep->n_pods; i++)
			if (strlen(ep->pods[i]) == len && memcmp(ep->pods[i], p, len) == 0)
				dup = true;
		if (len && !dup && ep->n_pods < AUDIT_OBS_SAMPLES) {
			ep->pods[ep->n_pods] = strndup(p, len);
			if (!ep->pods[ep->n_pods])
				return false;
			ep->n_pods++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

static bool ep_init(struct audit_obs_ep *ep, const char *ns, const char *kind,
		    const char *name, char *err, size_t errlen, const char *side)
{
	if (strcmp(kind, "Node") == 0)
		ep->kind = POL_EP_NODE;
	else if (strcmp(kind, "External") == 0)
		ep->kind = POL_EP_EXTERNAL;
	else
		ep->kind = POL_EP_POD;
	if (ep->kind == POL_EP_POD && (!*ns || !*kind || !*name)) {
		snprintf(err, errlen, "%s endpoint '%s %s/%s' has no namespace, kind or name",
			 side, kind, ns, name);
		errno = EINVAL;
		return false;
	}
	ep->ns = strdup(ns);
	ep->wl_kind = strdup(kind);
	ep->wl_name = strdup(name);
	if (!ep->ns || !ep->wl_kind || !ep->wl_name) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	return true;
}

static bool merge_side(struct audit_obs_ep *ep, const char *ips, const char *pods,
		       const char *labels, char *err, size_t errlen, const char *side)
{
	char what[32];

	snprintf(what, sizeof(what), "%s_ips", side);
	if (!merge_ips(ep, ips, err, errlen, what)) {
		errno = EINVAL;
		return false;
	}
	if (!merge_pods(ep, pods)) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	if (ep->labels.n == 0 && *labels) {
		if (!audit_obs_parse_labels(labels, &ep->labels)) {
			pol_labels_clear(&ep->labels);
			snprintf(err, errlen, "%s_labels: malformed label list '%.80s'", side, labels);
			errno = EINVAL;
			return false;
		}
	}
	return true;
}

static bool add_day(struct audit_obs *o, int32_t day)
{
	size_t i;
	int32_t *v;

	for (i = 0; i < o->n_days && o->days[i] < day; i++)
		;
	if (i < o->n_days && o->days[i] == day)
		return true;
	v = realloc(o->days, (o->n_days + 1) * sizeof(*v));
	if (!v)
		return false;
	o->days = v;
	memmove(&v[i + 1], &v[i], (o->n_days - i) * sizeof(*v));
	v[i] = day;
	o->n_days++;
	return true;
}

static void obs_free(struct audit_obs *o)
{
	struct audit_obs_ep *eps[2] = { &o->src, &o->dst };

	if (!o)
		return;
	for (int k = 0; k < 2; k++) {
		free(eps[k]->ns);
		free(eps[k]->wl_kind);
		free(eps[k]->wl_name);
		for (size_t i = 0; i < eps[k]->n_pods; i++)
			free(eps[k]->pods[i]);
		pol_labels_clear(&eps[k]->labels);
	}
	free(o->days);
	free(o);
}

static bool grow_index(struct audit_obs_set *s)
{
	size_t cap = s->tab_cap ? s->tab_cap * 2 : 256;
	struct audit_obs **tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		const struct audit_obs *o = s->v[i];
		struct audit_obs_row r = {
			.src_ns = o->src.ns, .src_kind = o->src.wl_kind, .src_name = o->src.wl_name,
			.dst_ns = o->dst.ns, .dst_kind = o->dst.wl_kind, .dst_name = o->dst.wl_name,
			.proto = o->proto, .port = o->port,
		};
		size_t k = row_hash(&r) & (cap - 1);

		while (tab[k])
			k = (k + 1) & (cap - 1);
		tab[k] = s->v[i];
	}
	free(s->tab);
	s->tab = tab;
	s->tab_cap = cap;
	return true;
}

bool audit_obs_add_row(struct audit_obs_set *s, const struct audit_obs_row *r,
		       char *err, size_t errlen)
{
	struct audit_obs *o = NULL;
	size_t k;

	if ((s->n + 1) * 2 > s->tab_cap && !grow_index(s))
		goto oom;
	k = row_hash(r) & (s->tab_cap - 1);
	while (s->tab[k]) {
		if (obs_is(s->tab[k], r)) {
			o = s->tab[k];
			break;
		}
		k = (k + 1) & (s->tab_cap - 1);
	}
	if (!o) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct audit_obs **v = realloc(s->v, cap * sizeof(*v));

			if (!v)
				goto oom;
			s->v = v;
			s->cap = cap;
		}
		o = calloc(1, sizeof(*o));
		if (!o)
			goto oom;
		if (!ep_init(&o->src, r->src_ns, r->src_kind, r->src_name, err, errlen, "source") ||
		    !ep_init(&o->dst, r->dst_ns, r->dst_kind, r->dst_name, err, errlen, "destination")) {
			obs_free(o);
			return false;
		}
		o->proto = r->proto;
		o->port = r->port;
		o->first_ms = r->first_ms;
		o->last_ms = r->last_ms;
		s->v[s->n++] = o;
		s->tab[k] = o;
	}
	if (!merge_side(&o->src, r->src_ips, r->src_pods, r->src_labels, err, errlen, "src") ||
	    !merge_side(&o->dst, r->dst_ips, r->dst_pods, r->dst_labels, err, errlen, "dst"))
		return false;
	o->count += r->count;
	o->rows++;
	if (r->first_ms < o->first_ms)
		o->first_ms = r->first_ms;
	if (r->last_ms > o->last_ms)
		o->last_ms = r->last_ms;
	if (r->verdict >= 0 && r->verdict < 8)
		o->verdicts |= 1U << r->verdict;
	if (r->verdict == AUDIT_REC_DENY && r->mode == AUDIT_REC_ENFORCE)
		o->enforced_denies += r->count;
	if (!add_day(o, (int32_t)(r->first_ms / 86400000)) ||
	    !add_day(o, (int32_t)(r->last_ms / 86400000)))
		goto oom;
	return true;
oom:
	errno = ENOMEM;
	snprintf(err, errlen, "out of memory");
	return false;
}

static int ep_cmp(const struct audit_obs_ep *a, const struct audit_obs_ep *b)
{
	int c = strcmp(a->ns, b->ns);

	if (!c)
		c = strcmp(a->wl_kind, b->wl_kind);
	if (!c)
		c = strcmp(a->wl_name, b->wl_name);
	return c;
}

static int obs_cmp(const void *pa, const void *pb)
{
	const struct audit_obs *a = *(const struct audit_obs *const *)pa;
	const struct audit_obs *b = *(const struct audit_obs *const *)pb;
	int c = ep_cmp(&a->src, &b->src);

	if (!c)
		c = ep_cmp(&a->dst, &b->dst);
	if (!c)
		c = (int)a->proto - (int)b->proto;
	if (!c)
		c = (int)a->port - (int)b->port;
	return c;
}

void audit_obs_set_sort(struct audit_obs_set *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), obs_cmp);
}

void audit_obs_set_free(struct audit_obs_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		obs_free(s->v[i]);
	free(s->v);
	free(s->tab);
	memset(s, 0, sizeof(*s));
}

const char *audit_obs_ep_name(const struct audit_obs_ep *ep, char *buf, size_t len)
{
	if (ep->kind == POL_EP_POD)
		snprintf(buf, len, "%s %s/%s", ep->wl_kind, ep->ns, ep->wl_name);
	else
		snprintf(buf, len, "%s %s", ep->wl_kind, ep->wl_name);
	return buf;
}

bool audit_obs_is_ghost(const struct pol_pod *pod)
{
	return pod->origin && strcmp(pod->origin, AUDIT_OBS_GHOST_ORIGIN) == 0;
}

/* The pod belongs to the endpoint's workload (as the daemon named it). */
static bool pod_is_ep(const struct pol_pod *pod, const struct audit_obs_ep *ep)
{
	const char *kind, *name;
	size_t len;

	if (strcmp(pod->ns, ep->ns) != 0)
		return false;
	audit_workload_of(pod, &kind, &name, &len);
	return strcmp(kind, ep->wl_kind) == 0 && strlen(ep->wl_name) == len &&
	       strncmp(name, ep->wl_name, len) == 0;
}

struct ghost_ctx {
	const struct pol_model *model;
	struct pol_cluster *ghosts;
	uint32_t next; /* host part of the next recorded pod address */
};

static const struct pol_pod *find_ghost(const struct pol_cluster *g, const struct audit_obs_ep *ep)
{
	for (size_t i = 0; i < g->n_pods; i++)
		if (pod_is_ep(g->pods[i], ep))
			return g->pods[i];
	return NULL;
}

static int ensure_ns(struct ghost_ctx *gc, const char *ns)
{
	struct pol_namespace *n;

	if (pol_model_namespace(gc->model, ns))
		return 0;
	for (size_t i = 0; i < gc->ghosts->n_namespaces; i++)
		if (strcmp(gc->ghosts->namespaces[i]->name, ns) == 0)
			return 0;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -1;
	n->name = strdup(ns);
	n->origin = strdup(AUDIT_OBS_GHOST_ORIGIN);
	if (!n->name || !n->origin ||
	    pol_labels_set(&n->labels, "kubernetes.io/metadata.name", ns) < 0) {
		pol_namespace_free(n);
		return -1;
	}
	return pol_cluster_add_namespace(gc->ghosts, n);
}

static bool name_taken(const struct ghost_ctx *gc, const char *ns, const char *name)
{
	if (pol_model_pod_by_name(gc->model, ns, name))
		return true;
	for (size_t i = 0; i < gc->ghosts->n_pods; i++)
		if (strcmp(gc->ghosts->pods[i]->ns, ns) == 0 &&
		    strcmp(gc->ghosts->pods[i]->name, name) == 0)
			return true;
	return false;
}

static const struct pol_pod *make_ghost(struct ghost_ctx *gc, const struct audit_obs_ep *ep)
{
	struct pol_pod *pod;
	struct pol_cidr base;
	char name[300];

	if (ensure_ns(gc, ep->ns) < 0)
		return NULL;
	pod = calloc(1, sizeof(*pod));
	if (!pod)
		return NULL;
	/* The sampled pod name reads best; a suffix when it is taken (the
	 * name was reused by a pod of another workload). */
	if (ep->n_pods && !name_taken(gc, ep->ns, ep->pods[0]))
		snprintf(name, sizeof(name), "%s", ep->pods[0]);
	else
		snprintf(name, sizeof(name), "%s.recorded-%u", ep->wl_name, gc->next);
	pod->ns = strdup(ep->ns);
	pod->name = strdup(name);
	pod->origin = strdup(AUDIT_OBS_GHOST_ORIGIN);
	pod->phase = POL_PHASE_RUNNING;
	pod->ips = calloc(1, sizeof(*pod->ips));
	if (strcmp(ep->wl_kind, "Pod") != 0) {
		pod->owner_kind = strdup(ep->wl_kind);
		pod->owner_name = strdup(ep->wl_name);
		if (!pod->owner_kind || !pod->owner_name)
			goto fail;
	}
	if (!pod->ns || !pod->name || !pod->origin || !pod->ips)
		goto fail;
	for (size_t i = 0; i < ep->labels.n; i++)
		if (pol_labels_set(&pod->labels, ep->labels.items[i].key,
				   ep->labels.items[i].value) < 0)
			goto fail;
	pol_cidr_parse(AUDIT_OBS_GHOST_PREFIX, &base);
	pod->ips[0] = base.addr;
	gc->next++;
	pod->ips[0].b[12] = (uint8_t)(gc->next >> 24);
	pod->ips[0].b[13] = (uint8_t)(gc->next >> 16);
	pod->ips[0].b[14] = (uint8_t)(gc->next >> 8);
	pod->ips[0].b[15] = (uint8_t)gc->next;
	pod->n_ips = 1;
	if (pol_cluster_add_pod(gc->ghosts, pod) < 0)
		return NULL;
	return gc->ghosts->pods[gc->ghosts->n_pods - 1];
fail:
	pol_pod_free(pod);
	return NULL;
}

static int resolve_ep(struct ghost_ctx *gc, struct audit_obs_ep *ep)
{
	const struct pol_pod *g;

	ep->n_eval = 0;
	ep->ghost = false;
	if (ep->kind != POL_EP_POD) {
		/* Node and external endpoints are named by their address. */
		struct pol_ip ip;

		if (pol_ip_parse(ep->wl_name, &ip)) {
			ep->eval[ep->n_eval++] = ip;
		} else {
			for (size_t i = 0; i < ep->n_ips; i++)
				ep->eval[ep->n_eval++] = ep->ips[i];
		}
		return 0;
	}
	for (size_t i = 0; i < ep->n_ips; i++) {
		const struct pol_pod *pod = pol_model_pod_by_ip(gc->model, &ep->ips[i]);

		if (pod && pod_is_ep(pod, ep))
			ep->eval[ep->n_eval++] = ep->ips[i];
	}
	if (ep->n_eval)
		return 0;
	g = find_ghost(gc->ghosts, ep);
	if (!g)
		g = make_ghost(gc, ep);
	if (!g) {
		errno = ENOMEM;
		return -1;
	}
	ep->eval[ep->n_eval++] = g->ips[0];
	ep->ghost = true;
	return 0;
}

int audit_obs_resolve(struct audit_obs_set *s, const struct pol_model *model,
		      struct pol_cluster *ghosts)
{
	struct ghost_ctx gc = { .model = model, .ghosts = ghosts, .next = (uint32_t)ghosts->n_pods };

	for (size_t i = 0; i < s->n; i++)
		if (resolve_ep(&gc, &s->v[i]->src) < 0 || resolve_ep(&gc, &s->v[i]->dst) < 0)
			return -1;
	return 0;
}

int audit_replay_diff(const struct audit_obs_set *s, const struct pol_model *before,
		      const struct pol_model *after, unsigned eval_flags,
		      struct audit_replay_change **changes, size_t *n_changes,
		      size_t *evaluated)
{
	struct audit_replay_change *v = NULL;
	size_t n = 0;

	*changes = NULL;
	*n_changes = 0;
	*evaluated = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct audit_obs *o = s->v[i];
		bool found = false;

		for (size_t a = 0; a < o->src.n_eval && !found; a++) {
			for (size_t b = 0; b < o->dst.n_eval && !found; b++) {
				struct audit_replay_change c = { .obs = o };

				c.flow.src = o->src.eval[a];
				c.flow.dst = o->dst.eval[b];
				c.flow.proto = o->proto;
				c.flow.port = o->port;
				pol_eval(before, &c.flow, eval_flags, &c.before);
				pol_eval(after, &c.flow, eval_flags, &c.after);
				(*evaluated)++;
				if (c.before.allowed == c.after.allowed)
					continue;
				found = true;
				struct audit_replay_change *nv = realloc(v, (n + 1) * sizeof(*nv));

				if (!nv) {
					free(v);
					errno = ENOMEM;
					return -1;
				}
				v = nv;
				v[n++] = c;
			}
		}
	}
	*changes = v;
	*n_changes = n;
	return 0;
}

static ssize_t find_policy(const struct pol_cluster *c, const char *ns, const char *name)
{
	for (size_t i = 0; i < c->n_policies; i++)
		if (strcmp(c->policies[i]->ns, ns) == 0 && strcmp(c->policies[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static void remove_policy(struct pol_cluster *c, size_t i)
{
	pol_policy_free(c->policies[i]);
	memmove(&c->policies[i], &c->policies[i + 1],
		(c->n_policies - i - 1) * sizeof(*c->policies));
	c->n_policies--;
}

int audit_replay_apply(struct pol_cluster *cluster, struct pol_cluster *proposed,
		       const char *const *deletes, size_t n_deletes,
		       size_t *replaced, size_t *added, size_t *deleted,
		       char *err, size_t errlen)
{
	*replaced = *added = *deleted = 0;
	for (size_t i = 0; i < n_deletes; i++) {
		const char *slash = strchr(deletes[i], '/');
		char ns[256];
		ssize_t at;

		if (!slash || slash == deletes[i] || !slash[1] ||
		    (size_t)(slash - deletes[i]) >= sizeof(ns)) {
			snprintf(err, errlen, "--delete '%s': expected NAMESPACE/NAME", deletes[i]);
			errno = EINVAL;
			return -1;
		}
		memcpy(ns, deletes[i], (size_t)(slash - deletes[i]));
		ns[slash - deletes[i]] = '\0';
		at = find_policy(cluster, ns, slash + 1);
		if (at < 0) {
			snprintf(err, errlen,
				 "--delete %s: the current cluster has no NetworkPolicy %s in namespace %s",
				 deletes[i], slash + 1, ns);
			errno = EINVAL;
			return -1;
		}
		remove_policy(cluster, (size_t)at);
		(*deleted)++;
	}
	for (size_t i = 0; i < proposed->n_policies; i++) {
		struct pol_policy *p = proposed->policies[i];
		ssize_t at = find_policy(cluster, p->ns, p->name);

		proposed->policies[i] = NULL;
		if (at >= 0) {
			/* In place: cluster order decides which policy is named
			 * as the one that allowed a flow. */
			pol_policy_free(cluster->policies[at]);
			cluster->policies[at] = p;
			(*replaced)++;
		} else {
			if (pol_cluster_add_policy(cluster, p) < 0) {
				for (size_t j = i + 1; j < proposed->n_policies; j++) {
					pol_policy_free(proposed->policies[j]);
					proposed->policies[j] = NULL;
				}
				proposed->n_policies = 0;
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			(*added)++;
		}
	}
	proposed->n_policies = 0;
	return 0;
}

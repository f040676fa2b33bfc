/* SPDX-License-Identifier: Apache-2.0 */
/* policy/model.c - compile a cluster into an immutable index; evaluate flows.
 *
 * Build: identity-bearing pods are numbered 0..n-1, grouped by namespace so
 * that "every pod of namespace N" is one index range. Each rule's selector
 * peers are matched once, at build time, into a set of pod numbers (a bitset
 * or a sorted array, whichever is smaller); its ipBlock peers go into one
 * trie. Each pod gets the list of policies isolating it per direction.
 * Evaluation is then two hash lookups plus, per policy in those lists, a set
 * test, a trie lookup and a port check per rule. Pure: no I/O.
 */
#include "policy/model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lpm.h"

#define METADATA_NAME "kubernetes.io/metadata.name"

/* IP table values: a pod number, or a node address with flags. */
#define EP_NONE UINT32_MAX
#define EP_NODE (1U << 31)
#define EP_OPTS (1U << 30) /* one of opts->node_ips: always allowed */
#define EP_POD_MAX (1U << 30)

enum { DIR_IN, DIR_EG };
enum { SET_NONE, SET_ALL, SET_BITS, SET_LIST };

struct ip_entry {
	uint64_t a, b;
	uint32_t val;
};

struct str_entry {
	const char *a, *b; /* borrowed; NULL a = empty slot */
	uint32_t hash;
	uint32_t val;
};

struct str_tab {
	struct str_entry *e;
	uint32_t mask;
};

struct cport {
	uint8_t proto;
	bool any_port;
	uint16_t lo, hi;
	const char *name; /* borrowed from the policy */
};

struct crule {
	bool all_peers;
	uint8_t set_kind;
	uint32_t set_off, set_n;
	struct lpm *ipset;
	uint32_t port_off, n_ports; /* n_ports == 0: every port and protocol */
};

struct cpol {
	const struct pol_policy *pol;
	uint32_t rule_off[2], n_rules[2];
};

struct mpod {
	const struct pol_pod *pod;
	uint32_t ns;
	bool local;
	/* [dir * 2 + enforced_only] into iso_pol / iso_idx */
	uint32_t list_off[4], list_n[4];
};

struct pol_model {
	struct pol_cluster *cluster;
	char *node_name;
	bool has_staged;

	struct mpod *pods;
	uint32_t n_pods;
	uint32_t *ns_first, *ns_count; /* per cluster namespace: pod range */

	struct ip_entry *ips;
	uint32_t ip_mask;

	struct cpol *pols;
	struct crule *rules;
	uint32_t n_rules;
	struct cport *ports;
	uint64_t *words;
	uint32_t *idx;
	const struct pol_policy **iso_pol;
	uint32_t *iso_idx;

	struct str_tab ns_by_name;  /* name -> cluster namespace index */
	struct str_tab pod_by_name; /* ns, name -> cluster pod index */
};

/* ---- small growable arrays (build time) -------------------------------- */

struct vec {
	void *p;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v, size_t count)
{
	void *at;

	if (v->n + count > v->cap) {
		size_t cap = v->cap ? v->cap : 64;
		void *p;

		while (cap < v->n + count)
			cap *= 2;
		p = realloc(v->p, cap * v->size);
		if (!p)
			return NULL;
		v->p = p;
		v->cap = cap;
	}
	at = (char *)v->p + v->n * v->size;
	v->n += count;
	return at;
}

/* ---- hashing ----------------------------------------------------------- */

static uint32_t hash_str2(const char *a, const char *b)
{
	uint32_t h = 2166136261u;

	for (; *a; a++)
		h = (h ^ (uint8_t)*a) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	if (b)
		for (; *b; b++)
			h = (h ^ (uint8_t)*b) * 16777619u;
	return h;
}

static uint32_t tab_size(size_t n)
{
	uint32_t cap = 16;

	while (cap < n * 2 + 1 && cap < (1U << 30))
		cap *= 2;
	return cap;
}

static int str_tab_init(struct str_tab *t, size_t n)
{
	uint32_t cap = tab_size(n);

	t->e = calloc(cap, sizeof(*t->e));
	if (!t->e)
		return -1;
	t->mask = cap - 1;
	return 0;
}

/* The entry for (a, b): the existing one, or an empty slot to fill (with
 * str_tab_fill). Lookups never write, so a built model stays read-only. */
static struct str_entry *str_tab_slot(const struct str_tab *t, const char *a, const char *b)
{
	uint32_t h = hash_str2(a, b), i;

	for (i = h & t->mask;; i = (i + 1) & t->mask) {
		struct str_entry *e = &t->e[i];

		if (!e->a)
			return e;
		if (e->hash == h && strcmp(e->a, a) == 0 &&
		    (b == e->b || (b && e->b && strcmp(b, e->b) == 0)))
			return e;
	}
}

static void str_tab_fill(struct str_entry *e, const char *a, const char *b, uint32_t val)
{
	e->a = a;
	e->b = b;
	e->hash = hash_str2(a, b);
	e->val = val;
}

static bool str_tab_get(const struct str_tab *t, const char *a, const char *b, uint32_t *val)
{
	struct str_entry *e;

	if (!t->e || !a)
		return false;
	e = str_tab_slot(t, a, b);
	if (!e->a)
		return false;
	*val = e->val;
	return true;
}

static void ip_words(const struct pol_ip *ip, uint64_t *a, uint64_t *b)
{
	memcpy(a, ip->b, 8);
	memcpy(b, ip->b + 8, 8);
}

static uint32_t hash_ip(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL) * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h >> 32);
}

static struct ip_entry *ip_slot(struct ip_entry *tab, uint32_t mask, uint64_t a, uint64_t b)
{
	uint32_t i;

	for (i = hash_ip(a, b) & mask;; i = (i + 1) & mask) {
		struct ip_entry *e = &tab[i];

		if (e->val == EP_NONE || (e->a == a && e->b == b))
			return e;
	}
}

static uint32_t ep_lookup(const struct pol_model *m, const struct pol_ip *ip)
{
	uint64_t a, b;

	ip_words(ip, &a, &b);
	return ip_slot(m->ips, m->ip_mask, a, b)->val;
}

/* ---- bitsets ----------------------------------------------------------- */

static inline void bit_set(uint64_t *w, uint32_t i)
{
	w[i / 64] |= 1ULL << (i % 64);
}

static inline bool bit_test(const uint64_t *w, uint32_t i)
{
	return w[i / 64] >> (i % 64) & 1;
}

static void bit_set_range(uint64_t *w, uint32_t from, uint32_t count)
{
	uint32_t i = from, end = from + count;

	while (i < end && i % 64)
		bit_set(w, i++);
	for (; i + 64 <= end; i += 64)
		w[i / 64] = ~0ULL;
	while (i < end)
		bit_set(w, i++);
}

/* ---- build state ------------------------------------------------------- */

struct build {
	struct pol_model *m;
	char *err;
	size_t errlen;
	uint32_t words_per_set;
	uint64_t *scratch;     /* one pod set */
	uint32_t ns_words;
	uint32_t *pod_ns;      /* per cluster pod: its namespace index */

	/* memoised selector results, keyed by a canonical text form */
	struct str_tab memo;
	struct vec memo_keys;  /* char *, owned */
	struct vec memo_bits;  /* uint64_t: ns sets and pod sets */
	struct vec keybuf;     /* char */

	/* label index: (key, value) -> postings of pod numbers */
	bool have_index;
	struct str_tab label_idx;
	uint32_t *post_off, *post;

	struct vec rulekey;    /* char */
	struct vec sets;       /* struct set_desc, by rule-shape memo value */
	struct set_dedup *dedup; /* equal pod sets share storage */
	uint32_t dedup_mask;

	struct vec rules, ports, words, idx; /* become the model's arrays */
	struct vec pairs;      /* struct iso_pair */
};

struct set_desc {
	uint8_t kind;
	uint32_t off, n;
};

struct set_dedup {
	bool used;
	uint64_t hash;
	struct set_desc set;
};

struct iso_pair {
	uint32_t pod;
	uint32_t list; /* dir * 2 + enforced_only */
	uint32_t pol;
};

static void build_error(struct build *bd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void build_error(struct build *bd, const char *fmt, ...)
{
	va_list ap;

	if (!bd->err || !bd->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(bd->err, bd->errlen, fmt, ap);
	va_end(ap);
}

static const char *origin_of(const char *origin)
{
	return origin ? origin : "?";
}

/* Namespaces: index by name, add implicit ones, and make every namespace
 * carry kubernetes.io/metadata.name as the API server does. */
static int build_namespaces(struct build *bd)
{
	struct pol_model *m = bd->m;
	struct pol_cluster *c = m->cluster;
	size_t i, total = c->n_namespaces + c->n_pods + c->n_policies;

	if (str_tab_init(&m->ns_by_name, total) < 0)
		return -ENOMEM;
	bd->pod_ns = calloc(c->n_pods + 1, sizeof(*bd->pod_ns));
	if (!bd->pod_ns)
		return -ENOMEM;
	for (i = 0; i < c->n_namespaces; i++) {
		struct pol_namespace *ns = c->namespaces[i];
		struct str_entry *e;
		const char *v;

		if (!ns->name || !*ns->name) {
			build_error(bd, "namespace without a name (%s)", origin_of(ns->origin));
			return -EINVAL;
		}
		e = str_tab_slot(&m->ns_by_name, ns->name, NULL);
		if (e->a) {
			build_error(bd, "namespace %s defined twice (%s and %s)", ns->name,
				    origin_of(c->namespaces[e->val]->origin), origin_of(ns->origin));
			return -EINVAL;
		}
		str_tab_fill(e, ns->name, NULL, (uint32_t)i);
		v = pol_labels_get(&ns->labels, METADATA_NAME);
		if ((!v || strcmp(v, ns->name) != 0) &&
		    pol_labels_set(&ns->labels, METADATA_NAME, ns->name) < 0)
			return -ENOMEM;
	}
	for (i = 0; i < c->n_pods + c->n_policies; i++) {
		const char *name, *what, *origin, *obj;
		struct pol_namespace *ns;
		struct str_entry *e;

		if (i < c->n_pods) {
			name = c->pods[i]->ns;
			obj = c->pods[i]->name;
			origin = c->pods[i]->origin;
			what = "pod";
		} else {
			name = c->policies[i - c->n_pods]->ns;
			obj = c->policies[i - c->n_pods]->name;
			origin = c->policies[i - c->n_pods]->origin;
			what = "NetworkPolicy";
		}
		if (!name || !*name || !obj || !*obj) {
			build_error(bd, "%s without a %s (%s)", what, obj && *obj ? "namespace" : "name",
				    origin_of(origin));
			return -EINVAL;
		}
		e = str_tab_slot(&m->ns_by_name, name, NULL);
		if (e->a) {
			if (i < c->n_pods)
				bd->pod_ns[i] = e->val;
			continue;
		}
		ns = calloc(1, sizeof(*ns));
		if (!ns || !(ns->name = strdup(name)) ||
		    pol_labels_set(&ns->labels, METADATA_NAME, name) < 0) {
			pol_namespace_free(ns);
			return -ENOMEM;
		}
		if (pol_cluster_add_namespace(c, ns) < 0)
			return -ENOMEM;
		str_tab_fill(e, ns->name, NULL, (uint32_t)(c->n_namespaces - 1));
		if (i < c->n_pods)
			bd->pod_ns[i] = e->val;
	}
	return 0;
}

static uint32_t ns_index(const struct pol_model *m, const char *name)
{
	uint32_t v = 0;

	str_tab_get(&m->ns_by_name, name, NULL, &v);
	return v;
}

static bool has_identity(const struct pol_pod *p)
{
	return p->n_ips > 0 && !p->host_network && p->phase != POL_PHASE_SUCCEEDED &&
	       p->phase != POL_PHASE_FAILED;
}

static int build_pods(struct build *bd, const struct pol_build_opts *opts)
{
	struct pol_model *m = bd->m;
	struct pol_cluster *c = m->cluster;
	size_t n_ns = c->n_namespaces, i, n_ip = 0;
	uint32_t *fill;
	uint32_t cap;

	if (str_tab_init(&m->pod_by_name, c->n_pods) < 0)
		return -ENOMEM;
	m->ns_first = calloc(n_ns + 1, sizeof(*m->ns_first));
	m->ns_count = calloc(n_ns + 1, sizeof(*m->ns_count));
	if (!m->ns_first || !m->ns_count)
		return -ENOMEM;
	for (i = 0; i < c->n_pods; i++) {
		struct pol_pod *p = c->pods[i];
		struct str_entry *e = str_tab_slot(&m->pod_by_name, p->ns, p->name);

		if (e->a) {
			build_error(bd, "pod %s/%s defined twice (%s and %s)", p->ns, p->name,
				    origin_of(c->pods[e->val]->origin), origin_of(p->origin));
			return -EINVAL;
		}
		str_tab_fill(e, p->ns, p->name, (uint32_t)i);
		n_ip += p->n_ips + 1;
		if (has_identity(p))
			m->ns_count[bd->pod_ns[i]]++;
	}
	for (i = 0; i < n_ns; i++)
		m->ns_first[i + 1] = m->ns_first[i] + m->ns_count[i];
	m->n_pods = m->ns_first[n_ns];
	if (m->n_pods >= EP_POD_MAX) {
		build_error(bd, "too many pods (%u)", m->n_pods);
		return -EINVAL;
	}
	m->pods = calloc(m->n_pods + 1, sizeof(*m->pods));
	fill = calloc(n_ns + 1, sizeof(*fill));
	if (!m->pods || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (i = 0; i < c->n_pods; i++) {
		struct pol_pod *p = c->pods[i];
		uint32_t ns, at;

		if (!has_identity(p))
			continue;
		ns = bd->pod_ns[i];
		at = m->ns_first[ns] + fill[ns]++;
		m->pods[at].pod = p;
		m->pods[at].ns = ns;
		m->pods[at].local = !opts || !opts->node_name ||
				    (p->node_name && strcmp(p->node_name, opts->node_name) == 0);
	}
	free(fill);

	n_ip += opts ? opts->n_node_ips : 0;
	cap = tab_size(n_ip);
	m->ips = malloc((size_t)cap * sizeof(*m->ips));
	if (!m->ips)
		return -ENOMEM;
	for (i = 0; i < cap; i++)
		m->ips[i].val = EP_NONE;
	m->ip_mask = cap - 1;
	for (i = 0; i < m->n_pods; i++) {
		const struct pol_pod *p = m->pods[i].pod;
		size_t k;

		for (k = 0; k < p->n_ips; k++) {
			struct ip_entry *e;
			uint64_t a, b;

			ip_words(&p->ips[k], &a, &b);
			e = ip_slot(m->ips, m->ip_mask, a, b);
			if (e->val != EP_NONE && e->val != i) {
				const struct pol_pod *o = m->pods[e->val].pod;
				char ip[POL_IP_STRLEN];

				build_error(bd, "pods %s/%s (%s) and %s/%s (%s) both have IP %s",
					    o->ns, o->name, origin_of(o->origin), p->ns, p->name,
					    origin_of(p->origin), pol_ip_format(&p->ips[k], ip, sizeof(ip)));
				return -EINVAL;
			}
			e->a = a;
			e->b = b;
			e->val = (uint32_t)i;
		}
	}
	/* Node addresses: a pod IP wins over a hostIP (a hostNetwork pod's
	 * podIP is its node's address and was left out above). */
	for (i = 0; i < c->n_pods + (opts ? opts->n_node_ips : 0); i++) {
		const struct pol_ip *ip;
		struct ip_entry *e;
		uint32_t flag = EP_NODE;
		uint64_t a, b;

		if (i < c->n_pods) {
			if (!c->pods[i]->has_host_ip)
				continue;
			ip = &c->pods[i]->host_ip;
		} else {
			ip = &opts->node_ips[i - c->n_pods];
			flag |= EP_OPTS;
		}
		ip_words(ip, &a, &b);
		e = ip_slot(m->ips, m->ip_mask, a, b);
		if (e->val != EP_NONE && !(e->val & EP_NODE))
			continue;
		e->a = a;
		e->b = b;
		e->val = (e->val == EP_NONE ? 0 : e->val) | flag;
	}
	return 0;
}

/* ---- selector evaluation at build time --------------------------------- */

static int key_add(struct build *bd, const char *s, char sep)
{
	size_t len = strlen(s);
	char *p = vec_push(&bd->keybuf, len + 1);

	if (!p)
		return -1;
	memcpy(p, s, len);
	p[len] = sep;
	return 0;
}

/* A text form equal for equal selectors (matchLabels are sorted already;
 * expression values are taken in their order, which only costs a memo miss
 * when two policies list them differently). */
static const char *selector_key(struct build *bd, char kind, const struct pol_selector *sel)
{
	char k[2] = { kind, 0 };
	size_t i, j;

	bd->keybuf.n = 0;
	if (key_add(bd, k, '\1') < 0)
		return NULL;
	for (i = 0; i < sel->match_labels.n; i++)
		if (key_add(bd, sel->match_labels.items[i].key, '\1') < 0 ||
		    key_add(bd, sel->match_labels.items[i].value, '\2') < 0)
			return NULL;
	for (i = 0; i < sel->n_exprs; i++) {
		const struct pol_sel_expr *e = &sel->exprs[i];
		char op[2] = { (char)('0' + e->op), 0 };

		if (key_add(bd, op, '\3') < 0 || key_add(bd, e->key, '\1') < 0)
			return NULL;
		for (j = 0; j < e->n_values; j++)
			if (key_add(bd, e->values[j], '\1') < 0)
				return NULL;
		if (key_add(bd, "", '\2') < 0)
			return NULL;
	}
	if (key_add(bd, "", '\0') < 0)
		return NULL;
	return bd->keybuf.p;
}

/* The memo entry for key: an existing one (*fresh false), or a new one
 * holding an owned copy of key whose val the caller sets. NULL on ENOMEM. */
static struct str_entry *memo_entry(struct build *bd, const char *key, bool *fresh)
{
	struct str_entry *e = str_tab_slot(&bd->memo, key, NULL);
	char *own, **slot;

	if (e->a) {
		*fresh = false;
		return e;
	}
	if (bd->memo_keys.n * 2 + 2 >= (size_t)bd->memo.mask) {
		/* Grow the table: rehash the owned keys. */
		struct str_tab nt;
		size_t i;

		if (str_tab_init(&nt, (bd->memo.mask + 1) * 2) < 0)
			return NULL;
		for (i = 0; i < bd->memo.mask + 1; i++) {
			struct str_entry *oe = &bd->memo.e[i], *ne;

			if (!oe->a)
				continue;
			ne = str_tab_slot(&nt, oe->a, NULL);
			*ne = *oe;
		}
		free(bd->memo.e);
		bd->memo = nt;
		e = str_tab_slot(&bd->memo, key, NULL);
	}
	own = strdup(key);
	slot = own ? vec_push(&bd->memo_keys, 1) : NULL;
	if (!slot) {
		free(own);
		return NULL;
	}
	*slot = own;
	str_tab_fill(e, own, NULL, 0);
	*fresh = true;
	return e;
}

/* Find or make the memo entry for sel; *fresh says whether its set (nwords
 * words, zeroed) must still be computed. Returns the word offset, or -1. */
static ptrdiff_t memo_get(struct build *bd, char kind, const struct pol_selector *sel,
			  uint32_t nwords, bool *fresh)
{
	const char *key = selector_key(bd, kind, sel);
	struct str_entry *e = key ? memo_entry(bd, key, fresh) : NULL;
	uint64_t *w;
	size_t off;

	if (!e)
		return -1;
	if (!*fresh)
		return (ptrdiff_t)e->val;
	off = bd->memo_bits.n;
	w = vec_push(&bd->memo_bits, nwords);
	if (!w || off > UINT32_MAX)
		return -1;
	memset(w, 0, nwords * sizeof(*w));
	e->val = (uint32_t)off;
	return (ptrdiff_t)off;
}

/* The set of namespaces a namespaceSelector matches (memoised). Returns a
 * word offset into memo_bits (pointers move as the memo grows), or -1. */
static ptrdiff_t ns_set(struct build *bd, const struct pol_selector *sel)
{
	const struct pol_cluster *c = bd->m->cluster;
	bool fresh;
	ptrdiff_t off = memo_get(bd, 'n', sel, bd->ns_words, &fresh);
	uint64_t *w;
	size_t i;

	if (off < 0 || !fresh)
		return off;
	w = (uint64_t *)bd->memo_bits.p + off;
	for (i = 0; i < c->n_namespaces; i++)
		if (pol_selector_matches(sel, &c->namespaces[i]->labels))
			bit_set(w, (uint32_t)i);
	return off;
}

static int build_label_index(struct build *bd)
{
	const struct pol_model *m = bd->m;
	size_t total = 0, i, k, at;
	uint32_t n_keys = 0, *fill, *ids;

	for (i = 0; i < m->n_pods; i++)
		total += m->pods[i].pod->labels.n;
	if (str_tab_init(&bd->label_idx, total) < 0)
		return -1;
	bd->post_off = calloc(total + 2, sizeof(*bd->post_off));
	bd->post = calloc(total + 1, sizeof(*bd->post));
	fill = calloc(total + 1, sizeof(*fill));
	ids = calloc(total + 1, sizeof(*ids));
	if (!bd->post_off || !bd->post || !fill || !ids) {
		free(fill);
		free(ids);
		return -1;
	}
	/* count per (key, value), then prefix sums, then fill in pod order */
	for (i = 0, at = 0; i < m->n_pods; i++) {
		const struct pol_labels *l = &m->pods[i].pod->labels;

		for (k = 0; k < l->n; k++, at++) {
			struct str_entry *e = str_tab_slot(&bd->label_idx, l->items[k].key,
							   l->items[k].value);

			if (!e->a)
				str_tab_fill(e, l->items[k].key, l->items[k].value, n_keys++);
			ids[at] = e->val;
			bd->post_off[e->val + 1]++;
		}
	}
	for (i = 0; i < n_keys; i++)
		bd->post_off[i + 1] += bd->post_off[i];
	for (i = 0, at = 0; i < m->n_pods; i++)
		for (k = 0; k < m->pods[i].pod->labels.n; k++, at++)
			bd->post[bd->post_off[ids[at]] + fill[ids[at]]++] = (uint32_t)i;
	free(fill);
	free(ids);
	bd->have_index = true;
	return 0;
}

/* Pods labelled key=value that sel matches, into w. exact: the selector is
 * that one requirement, so every pod of the posting list matches. */
static void match_postings(struct build *bd, const struct pol_selector *sel, uint32_t id,
			   bool exact, uint64_t *w)
{
	uint32_t j;

	for (j = bd->post_off[id]; j < bd->post_off[id + 1]; j++) {
		uint32_t p = bd->post[j];

		if (exact || pol_selector_matches(sel, &bd->m->pods[p].pod->labels))
			bit_set(w, p);
	}
}

/* The set of all pods (any namespace) a podSelector matches (memoised).
 * The rarest matchLabels entry, or an In expression, narrows the candidates
 * through the label index; other selectors are tested against every pod.
 * Returns a word offset into memo_bits, or -1. */
static ptrdiff_t pod_set_global(struct build *bd, const struct pol_selector *sel)
{
	const struct pol_model *m = bd->m;
	bool fresh;
	ptrdiff_t off = memo_get(bd, 'p', sel, bd->words_per_set, &fresh);
	uint64_t *w;
	uint32_t i, j, id, best = 0, best_n = UINT32_MAX;

	if (off < 0 || !fresh)
		return off;
	if (!bd->have_index && build_label_index(bd) < 0)
		return -1;
	w = (uint64_t *)bd->memo_bits.p + off;
	if (sel->match_labels.n) {
		for (i = 0; i < sel->match_labels.n; i++) {
			if (!str_tab_get(&bd->label_idx, sel->match_labels.items[i].key,
					 sel->match_labels.items[i].value, &id))
				return off; /* no pod has this label: empty */
			if (bd->post_off[id + 1] - bd->post_off[id] < best_n) {
				best = id;
				best_n = bd->post_off[id + 1] - bd->post_off[id];
			}
		}
		match_postings(bd, sel, best, sel->match_labels.n == 1 && !sel->n_exprs, w);
		return off;
	}
	for (i = 0; i < sel->n_exprs; i++) {
		const struct pol_sel_expr *e = &sel->exprs[i];

		if (e->op != POL_SEL_IN)
			continue;
		for (j = 0; j < e->n_values; j++)
			if (str_tab_get(&bd->label_idx, e->key, e->values[j], &id))
				match_postings(bd, sel, id, sel->n_exprs == 1, w);
		return off;
	}
	for (i = 0; i < m->n_pods; i++)
		if (pol_selector_matches(sel, &m->pods[i].pod->labels))
			bit_set(w, i);
	return off;
}

static bool selector_empty(const struct pol_selector *sel)
{
	return !sel || (!sel->match_labels.n && !sel->n_exprs);
}

/* Below this many pods in scope, testing each is cheaper than the index. */
#define SCAN_LIMIT 256

/* Add the pods a selector peer matches to out. */
static int peer_pods(struct build *bd, const struct pol_policy *pol, const struct pol_peer *peer,
		     uint64_t *out)
{
	const struct pol_model *m = bd->m;
	uint32_t n_ns = (uint32_t)m->cluster->n_namespaces, own = ns_index(m, pol->ns);
	const uint64_t *nss = NULL, *global = NULL;
	ptrdiff_t ns_off = -1, pod_off = -1;
	uint32_t ns, i, in_scope = 0;

	if (peer->ns_sel) {
		ns_off = ns_set(bd, peer->ns_sel);
		if (ns_off < 0)
			return -1;
		nss = (const uint64_t *)bd->memo_bits.p + ns_off;
		for (ns = 0; ns < n_ns; ns++)
			if (bit_test(nss, ns))
				in_scope += m->ns_count[ns];
	} else {
		in_scope = m->ns_count[own];
	}
	if (!selector_empty(peer->pod_sel) && in_scope > SCAN_LIMIT) {
		pod_off = pod_set_global(bd, peer->pod_sel);
		if (pod_off < 0)
			return -1;
		/* the memo may have moved: take both pointers afresh */
		global = (const uint64_t *)bd->memo_bits.p + pod_off;
		if (ns_off >= 0)
			nss = (const uint64_t *)bd->memo_bits.p + ns_off;
	}
	for (ns = 0; ns < n_ns; ns++) {
		uint32_t first = m->ns_first[ns], count = m->ns_count[ns];

		if (nss ? !bit_test(nss, ns) : ns != own)
			continue;
		if (selector_empty(peer->pod_sel)) {
			bit_set_range(out, first, count);
		} else if (global) {
			for (i = first; i < first + count; i++)
				if (bit_test(global, i))
					bit_set(out, i);
		} else {
			for (i = first; i < first + count; i++)
				if (pol_selector_matches(peer->pod_sel, &m->pods[i].pod->labels))
					bit_set(out, i);
		}
	}
	return 0;
}

static int compile_ports(struct build *bd, const struct pol_rule *r, struct crule *cr)
{
	struct cport *cp;
	size_t i;

	cr->port_off = (uint32_t)bd->ports.n;
	cr->n_ports = (uint32_t)r->n_ports;
	if (!r->n_ports)
		return 0;
	cp = vec_push(&bd->ports, r->n_ports);
	if (!cp)
		return -1;
	for (i = 0; i < r->n_ports; i++) {
		const struct pol_port *p = &r->ports[i];

		cp[i].proto = p->proto;
		cp[i].any_port = !p->has_port;
		cp[i].name = p->has_port ? p->name : NULL;
		cp[i].lo = p->port;
		cp[i].hi = p->end_port > p->port ? p->end_port : p->port;
	}
	return 0;
}

/* Rules with the same selector peers (and, when a peer has no namespace
 * selector, the same namespace) get the same pod set: key them. */
static const char *rule_key(struct build *bd, const struct pol_policy *pol, const struct pol_rule *r)
{
	size_t k, len;
	char *p;

	bd->rulekey.n = 0;
	if (!(p = vec_push(&bd->rulekey, 1)))
		return NULL;
	*p = 'R';
	for (k = 0; k < r->n_peers; k++) {
		const struct pol_peer *peer = &r->peers[k];
		const struct pol_selector *sels[2] = { peer->pod_sel, peer->ns_sel };
		int s;

		if (peer->ipblock || (!peer->pod_sel && !peer->ns_sel))
			continue;
		for (s = 0; s < 2; s++) {
			const char *part = "-";

			if (sels[s])
				part = selector_key(bd, s ? 'n' : 'p', sels[s]);
			else if (s == 1)
				part = pol->ns;
			if (!part)
				return NULL;
			len = strlen(part);
			if (!(p = vec_push(&bd->rulekey, len + 1)))
				return NULL;
			memcpy(p, part, len);
			p[len] = '\4';
		}
	}
	if (!(p = vec_push(&bd->rulekey, 1)))
		return NULL;
	*p = '\0';
	return bd->rulekey.p;
}

static uint64_t set_hash(const uint64_t *w, uint32_t nw)
{
	uint64_t h = 0x84222325cbf29ce4ULL;
	uint32_t i;

	for (i = 0; i < nw; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

/* Store the set in scratch (count members) once: equal sets share storage. */
static int store_set(struct build *bd, uint32_t count, struct set_desc *out)
{
	uint32_t i, nw = bd->words_per_set, n_pods = bd->m->n_pods;
	uint64_t h;
	struct set_dedup *d;

	memset(out, 0, sizeof(*out));
	if (count == 0) {
		out->kind = SET_NONE;
		return 0;
	}
	if (count == n_pods) {
		out->kind = SET_ALL;
		return 0;
	}
	h = set_hash(bd->scratch, nw);
	for (i = (uint32_t)h & bd->dedup_mask;; i = (i + 1) & bd->dedup_mask) {
		d = &bd->dedup[i];
		if (!d->used)
			break;
		if (d->hash != h || d->set.n != count)
			continue;
		if (d->set.kind == SET_BITS &&
		    memcmp((uint64_t *)bd->words.p + d->set.off, bd->scratch, nw * sizeof(uint64_t)))
			continue;
		if (d->set.kind == SET_LIST) {
			const uint32_t *a = (const uint32_t *)bd->idx.p + d->set.off;
			uint32_t k;

			for (k = 0; k < count && bit_test(bd->scratch, a[k]); k++)
				;
			if (k < count)
				continue;
		}
		*out = d->set;
		return 0;
	}
	out->n = count;
	if (count < n_pods / 32) {
		uint32_t *a = vec_push(&bd->idx, count), n = 0;

		if (!a)
			return -1;
		out->kind = SET_LIST;
		out->off = (uint32_t)(bd->idx.n - count);
		for (i = 0; i < nw; i++) {
			uint64_t w = bd->scratch[i];

			while (w) {
				a[n++] = i * 64 + (uint32_t)__builtin_ctzll(w);
				w &= w - 1;
			}
		}
	} else {
		uint64_t *w = vec_push(&bd->words, nw);

		if (!w)
			return -1;
		out->kind = SET_BITS;
		out->off = (uint32_t)(bd->words.n - nw);
		memcpy(w, bd->scratch, nw * sizeof(uint64_t));
	}
	/* The table holds one entry per rule at most, so it never fills. */
	d->used = true;
	d->hash = h;
	d->set = *out;
	return 0;
}

/* The pod set of a rule's selector peers, memoised per rule shape. */
static int rule_pod_set(struct build *bd, const struct pol_policy *pol, const struct pol_rule *r,
			struct set_desc *out)
{
	uint32_t count = 0, i, nw = bd->words_per_set;
	struct set_desc *sd;
	struct str_entry *e;
	const char *key;
	bool fresh, any_sel = false;
	size_t k;

	for (k = 0; k < r->n_peers && !any_sel; k++)
		any_sel = !r->peers[k].ipblock && (r->peers[k].pod_sel || r->peers[k].ns_sel);
	if (!any_sel) {
		/* ipBlock peers only (a peer without any of the three is invalid
		 * and rejected by the loader; here it matches nothing) */
		memset(out, 0, sizeof(*out));
		out->kind = SET_NONE;
		return 0;
	}
	key = rule_key(bd, pol, r);
	e = key ? memo_entry(bd, key, &fresh) : NULL;
	if (!e)
		return -1;
	if (!fresh) {
		*out = ((struct set_desc *)bd->sets.p)[e->val];
		return 0;
	}
	memset(bd->scratch, 0, nw * sizeof(uint64_t));
	for (k = 0; k < r->n_peers; k++) {
		const struct pol_peer *peer = &r->peers[k];

		if (peer->ipblock || (!peer->pod_sel && !peer->ns_sel))
			continue;
		if (peer_pods(bd, pol, peer, bd->scratch) < 0)
			return -1;
	}
	for (i = 0; i < nw; i++)
		count += (uint32_t)__builtin_popcountll(bd->scratch[i]);
	if (store_set(bd, count, out) < 0)
		return -1;
	sd = vec_push(&bd->sets, 1);
	if (!sd)
		return -1;
	*sd = *out;
	/* Matching the peers memoised selectors and may have grown the memo
	 * table: find the entry again (the key is still in rulekey). */
	e = str_tab_slot(&bd->memo, key, NULL);
	e->val = (uint32_t)(bd->sets.n - 1);
	return 0;
}

static int compile_rule(struct build *bd, const struct pol_policy *pol, const struct pol_rule *r)
{
	const struct pol_ipblock **blocks = NULL;
	struct crule *cr = vec_push(&bd->rules, 1);
	struct set_desc set;
	uint32_t n_blocks = 0, i;
	size_t k;

	if (!cr)
		return -1;
	memset(cr, 0, sizeof(*cr));
	if (compile_ports(bd, r, cr) < 0)
		return -1;
	if (!r->n_peers) {
		cr->all_peers = true;
		return 0;
	}
	/* cr may move while the set is stored: only the rules vec moves it,
	 * and nothing below pushes to it. */
	if (rule_pod_set(bd, pol, r, &set) < 0)
		return -1;
	cr->set_kind = set.kind;
	cr->set_off = set.off;
	cr->set_n = set.n;
	for (k = 0; k < r->n_peers; k++)
		n_blocks += r->peers[k].ipblock != NULL;
	if (!n_blocks)
		return 0;
	blocks = calloc(n_blocks, sizeof(*blocks));
	cr->ipset = blocks ? lpm_new() : NULL;
	if (!cr->ipset) {
		free(blocks);
		return -1;
	}
	for (k = 0, i = 0; k < r->n_peers; k++)
		if (r->peers[k].ipblock)
			blocks[i++] = r->peers[k].ipblock;
	if (lpm_insert_ipblocks(cr->ipset, blocks, n_blocks) < 0) {
		free(blocks);
		return -1;
	}
	free(blocks);
	return 0;
}

static int compile_policies(struct build *bd)
{
	struct pol_model *m = bd->m;
	const struct pol_cluster *c = m->cluster;
	size_t p;

	m->pols = calloc(c->n_policies + 1, sizeof(*m->pols));
	if (!m->pols)
		return -1;
	for (p = 0; p < c->n_policies; p++) {
		const struct pol_policy *pol = c->policies[p];
		struct cpol *cp = &m->pols[p];
		uint32_t ns = ns_index(m, pol->ns), i;
		int dir;

		cp->pol = pol;
		if (pol->staged)
			m->has_staged = true;
		for (dir = DIR_IN; dir <= DIR_EG; dir++) {
			bool typed = dir == DIR_IN ? pol->type_ingress : pol->type_egress;
			const struct pol_rule *rules = dir == DIR_IN ? pol->ingress : pol->egress;
			size_t n = dir == DIR_IN ? pol->n_ingress : pol->n_egress, k;

			cp->rule_off[dir] = (uint32_t)bd->rules.n;
			cp->n_rules[dir] = 0;
			/* Rules of a direction missing from policyTypes are
			 * ignored, as the API does. */
			if (!typed)
				continue;
			for (k = 0; k < n; k++)
				if (compile_rule(bd, pol, &rules[k]) < 0)
					return -1;
			cp->n_rules[dir] = (uint32_t)n;
		}
		if (!pol->type_ingress && !pol->type_egress)
			continue;
		for (i = m->ns_first[ns]; i < m->ns_first[ns] + m->ns_count[ns]; i++) {
			struct iso_pair *pr;
			int enf;

			if (!pol_selector_matches(&pol->pod_sel, &m->pods[i].pod->labels))
				continue;
			for (dir = DIR_IN; dir <= DIR_EG; dir++) {
				if (!(dir == DIR_IN ? pol->type_ingress : pol->type_egress))
					continue;
				for (enf = 0; enf < 2; enf++) {
					if (enf && pol->staged)
						continue;
					pr = vec_push(&bd->pairs, 1);
					if (!pr)
						return -1;
					pr->pod = i;
					pr->list = (uint32_t)(dir * 2 + enf);
					pr->pol = (uint32_t)p;
				}
			}
		}
	}
	return 0;
}

/* Per pod and list, the isolating policies in cluster order: a counting
 * sort of the (pod, list, policy) pairs, which were made in policy order. */
static int build_lists(struct build *bd)
{
	struct pol_model *m = bd->m;
	const struct iso_pair *pairs = bd->pairs.p;
	size_t n = bd->pairs.n, i;
	uint32_t *start, *fill, slots = m->n_pods * 4;

	m->iso_pol = calloc(n + 1, sizeof(*m->iso_pol));
	m->iso_idx = calloc(n + 1, sizeof(*m->iso_idx));
	start = calloc((size_t)slots + 1, sizeof(*start));
	fill = calloc((size_t)slots + 1, sizeof(*fill));
	if (!m->iso_pol || !m->iso_idx || !start || !fill) {
		free(start);
		free(fill);
		return -1;
	}
	for (i = 0; i < n; i++)
		start[pairs[i].pod * 4 + pairs[i].list + 1]++;
	for (i = 0; i < slots; i++)
		start[i + 1] += start[i];
	for (i = 0; i < n; i++) {
		uint32_t s = pairs[i].pod * 4 + pairs[i].list, at = start[s] + fill[s]++;

		m->iso_idx[at] = pairs[i].pol;
		m->iso_pol[at] = m->pols[pairs[i].pol].pol;
	}
	for (i = 0; i < m->n_pods; i++) {
		int l;

		for (l = 0; l < 4; l++) {
			m->pods[i].list_off[l] = start[i * 4 + l];
			m->pods[i].list_n[l] = start[i * 4 + l + 1] - start[i * 4 + l];
		}
	}
	free(start);
	free(fill);
	return 0;
}

static void build_release(struct build *bd)
{
	size_t i;

	for (i = 0; i < bd->memo_keys.n; i++)
		free(((char **)bd->memo_keys.p)[i]);
	free(bd->memo_keys.p);
	free(bd->memo_bits.p);
	free(bd->memo.e);
	free(bd->keybuf.p);
	free(bd->rulekey.p);
	free(bd->pod_ns);
	free(bd->sets.p);
	free(bd->dedup);
	free(bd->label_idx.e);
	free(bd->post_off);
	free(bd->post);
	free(bd->scratch);
	free(bd->pairs.p);
	free(bd->rules.p);
	free(bd->ports.p);
	free(bd->words.p);
	free(bd->idx.p);
}

struct pol_model *pol_model_build(struct pol_cluster *cluster,
				  const struct pol_build_opts *opts,
				  char *err, size_t errlen)
{
	struct build bd;
	struct pol_model *m;
	int rc = -ENOMEM;

	memset(&bd, 0, sizeof(bd));
	bd.err = err;
	bd.errlen = errlen;
	bd.memo_keys.size = sizeof(char *);
	bd.memo_bits.size = sizeof(uint64_t);
	bd.keybuf.size = 1;
	bd.rulekey.size = 1;
	bd.sets.size = sizeof(struct set_desc);
	bd.rules.size = sizeof(struct crule);
	bd.ports.size = sizeof(struct cport);
	bd.words.size = sizeof(uint64_t);
	bd.idx.size = sizeof(uint32_t);
	bd.pairs.size = sizeof(struct iso_pair);
	if (err && errlen)
		err[0] = '\0';

	m = calloc(1, sizeof(*m));
	if (!m) {
		pol_cluster_free(cluster);
		goto out_errno;
	}
	m->cluster = cluster;
	bd.m = m;
	if (!cluster) {
		m->cluster = pol_cluster_new();
		if (!m->cluster)
			goto fail;
	}
	if (opts && opts->node_name && !(m->node_name = strdup(opts->node_name)))
		goto fail;
	rc = build_namespaces(&bd);
	if (rc < 0)
		goto fail;
	rc = build_pods(&bd, opts);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	bd.words_per_set = (m->n_pods + 63) / 64 + 1;
	bd.ns_words = (uint32_t)(m->cluster->n_namespaces + 63) / 64 + 1;
	bd.scratch = calloc(bd.words_per_set, sizeof(uint64_t));
	if (!bd.scratch || str_tab_init(&bd.memo, 64) < 0)
		goto fail;
	{
		size_t n_rules = 0, i;
		uint32_t cap;

		for (i = 0; i < m->cluster->n_policies; i++)
			n_rules += m->cluster->policies[i]->n_ingress + m->cluster->policies[i]->n_egress;
		cap = tab_size(n_rules);
		bd.dedup = calloc(cap, sizeof(*bd.dedup));
		if (!bd.dedup)
			goto fail;
		bd.dedup_mask = cap - 1;
	}
	if (compile_policies(&bd) < 0 || build_lists(&bd) < 0)
		goto fail;
	/* Hand the arrays over to the model. */
	m->rules = bd.rules.p;
	m->n_rules = (uint32_t)bd.rules.n;
	m->ports = bd.ports.p;
	m->words = bd.words.p;
	m->idx = bd.idx.p;
	bd.rules.p = bd.ports.p = bd.words.p = bd.idx.p = NULL;
	bd.rules.n = 0;
	build_release(&bd);
	return m;

fail:
	/* The rules compiled so far own tries: give them to the model so that
	 * pol_model_free() releases everything in one place. */
	m->rules = bd.rules.p;
	m->n_rules = (uint32_t)bd.rules.n;
	bd.rules.p = NULL;
	build_release(&bd);
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory while compiling the policy model");
	pol_model_free(m);
	errno = -rc;
	return NULL;
out_errno:
	if (err && errlen)
		snprintf(err, errlen, "out of memory while compiling the policy model");
	errno = ENOMEM;
	return NULL;
}

void pol_model_free(struct pol_model *m)
{
	uint32_t i;

	if (!m)
		return;
	for (i = 0; i < m->n_rules; i++)
		lpm_free(m->rules[i].ipset);
	free(m->rules);
	free(m->ports);
	free(m->words);
	free(m->idx);
	free(m->iso_pol);
	free(m->iso_idx);
	free(m->pols);
	free(m->pods);
	free(m->ns_first);
	free(m->ns_count);
	free(m->ips);
	free(m->ns_by_name.e);
	free(m->pod_by_name.e);
	free(m->node_name);
	pol_cluster_free(m->cluster);
	free(m);
}

/* ---- queries ----------------------------------------------------------- */

const struct pol_cluster *pol_model_cluster(const struct pol_model *m)
{
	return m->cluster;
}

const struct pol_pod *pol_model_pod_by_ip(const struct pol_model *m, const struct pol_ip *ip)
{
	uint32_t v = ep_lookup(m, ip);

	return v < EP_POD_MAX ? m->pods[v].pod : NULL;
}

const struct pol_pod *pol_model_pod_by_name(const struct pol_model *m, const char *ns,
					    const char *name)
{
	uint32_t v;

	if (!ns || !name || !str_tab_get(&m->pod_by_name, ns, name, &v))
		return NULL;
	return m->cluster->pods[v];
}

const struct pol_namespace *pol_model_namespace(const struct pol_model *m, const char *name)
{
	uint32_t v;

	if (!name || !str_tab_get(&m->ns_by_name, name, NULL, &v))
		return NULL;
	return m->cluster->namespaces[v];
}

bool pol_model_has_staged(const struct pol_model *m)
{
	return m->has_staged;
}

bool pol_model_pod_is_local(const struct pol_model *m, const struct pol_pod *pod)
{
	if (!m->node_name)
		return true;
	return pod && pod->node_name && strcmp(pod->node_name, m->node_name) == 0;
}

/* ---- evaluation -------------------------------------------------------- */

static bool set_has(const struct pol_model *m, const struct crule *r, uint32_t pod)
{
	const uint32_t *a;
	uint32_t lo, hi;

	switch (r->set_kind) {
	case SET_ALL:
		return true;
	case SET_BITS:
		return bit_test(m->words + r->set_off, pod);
	case SET_LIST:
		a = m->idx + r->set_off;
		lo = 0;
		hi = r->set_n;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;

			if (a[mid] == pod)
				return true;
			if (a[mid] < pod)
				lo = mid + 1;
			else
				hi = mid;
		}
		return false;
	default:
		return false;
	}
}

/* A named port resolves against the destination pod's container ports of
 * the same protocol; no such port means this entry matches nothing. */
static bool ports_match(const struct pol_model *m, const struct crule *r,
			const struct pol_flow *flow, const struct pol_pod *dst)
{
	uint32_t i;

	if (!r->n_ports)
		return true;
	for (i = 0; i < r->n_ports; i++) {
		const struct cport *p = &m->ports[r->port_off + i];

		if (p->proto != flow->proto)
			continue;
		if (p->any_port)
			return true;
		if (p->name) {
			size_t k;

			if (!dst)
				continue;
			for (k = 0; k < dst->n_ports; k++) {
				const struct pol_container_port *cp = &dst->ports[k];

				if (cp->proto == p->proto && cp->name && strcmp(cp->name, p->name) == 0) {
					if (cp->port == flow->port)
						return true;
					break;
				}
			}
			continue;
		}
		if (flow->port >= p->lo && flow->port <= p->hi)
			return true;
	}
	return false;
}

static void eval_dir(const struct pol_model *m, const struct mpod *self, int dir, bool enforced,
		     const struct pol_flow *flow, uint32_t other, const struct pol_pod *dst,
		     struct pol_dir_result *out)
{
	uint32_t l = (uint32_t)dir * 2 + (enforced ? 1 : 0);
	uint32_t off = self->list_off[l], n = self->list_n[l], i, k;
	const struct pol_ip *other_ip = dir == DIR_IN ? &flow->src : &flow->dst;
	bool other_pod = other < EP_POD_MAX;

	if (!n) {
		out->state = POL_DIR_NOT_ISOLATED;
		return;
	}
	out->isolating = m->iso_pol + off;
	out->n_isolating = n;
	out->state = POL_DIR_DENIED;
	for (i = 0; i < n; i++) {
		const struct cpol *cp = &m->pols[m->iso_idx[off + i]];
		const struct crule *r;

		/* A policy without rules (a default deny) only isolates; m->rules
		 * may be NULL then, and NULL + 0 is undefined. */
		if (!cp->n_rules[dir])
			continue;
		r = m->rules + cp->rule_off[dir];
		for (k = 0; k < cp->n_rules[dir]; k++, r++) {
			bool peer = r->all_peers || (other_pod && set_has(m, r, other)) ||
				    (r->ipset && lpm_lookup(r->ipset, other_ip, NULL));

			if (peer && ports_match(m, r, flow, dst)) {
				out->state = POL_DIR_ALLOWED;
				out->policy = cp->pol;
				out->rule = (int)k;
				return;
			}
		}
	}
}

static bool dir_passes(const struct pol_dir_result *d)
{
	return d->state != POL_DIR_DENIED;
}

static bool ip_eq(const struct pol_ip *a, const struct pol_ip *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

static enum pol_endpoint_kind kind_of(uint32_t v)
{
	if (v == EP_NONE)
		return POL_EP_EXTERNAL;
	return v & EP_NODE ? POL_EP_NODE : POL_EP_POD;
}

void pol_eval(const struct pol_model *m, const struct pol_flow *flow, unsigned flags,
	      struct pol_verdict *out)
{
	uint32_t sv = ep_lookup(m, &flow->src), dv = ep_lookup(m, &flow->dst);
	const struct mpod *sp = sv < EP_POD_MAX ? &m->pods[sv] : NULL;
	const struct mpod *dp = dv < EP_POD_MAX ? &m->pods[dv] : NULL;
	bool enforced = flags & POL_EVAL_ENFORCED_ONLY;

	memset(out, 0, sizeof(*out));
	out->egress.rule = out->ingress.rule = -1;
	out->src_kind = kind_of(sv);
	out->dst_kind = kind_of(dv);
	out->src_pod = sp ? sp->pod : NULL;
	out->dst_pod = dp ? dp->pod : NULL;
	out->egress.state = out->ingress.state = POL_DIR_SKIPPED;
	/* The directions are evaluated even when SELF or NODE decides the
	 * flow, so that a reader sees what the policies alone would say. */
	if (sp && sp->local)
		eval_dir(m, sp, DIR_EG, enforced, flow, dv, out->dst_pod, &out->egress);
	if (dp && dp->local)
		eval_dir(m, dp, DIR_IN, enforced, flow, sv, out->dst_pod, &out->ingress);

	if (sp && sp == dp) {
		out->reason = POL_REASON_SELF;
		out->allowed = true;
	} else if ((sv != EP_NONE && (sv & EP_OPTS)) || (dv != EP_NONE && (dv & EP_OPTS)) ||
		   (sp && sp->pod->has_host_ip && ip_eq(&sp->pod->host_ip, &flow->dst)) ||
		   (dp && dp->pod->has_host_ip && ip_eq(&dp->pod->host_ip, &flow->src))) {
		out->reason = POL_REASON_NODE;
		out->allowed = true;
	} else {
		out->reason = POL_REASON_POLICY;
		out->allowed = dir_passes(&out->egress) && dir_passes(&out->ingress);
	}
}

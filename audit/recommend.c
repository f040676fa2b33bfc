/* SPDX-License-Identifier: Apache-2.0 */
/* audit/recommend.c - workload groups, selectors, rules and their figures. */
#include "audit/recommend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "audit/record.h"

/* sort_n() with an empty (possibly NULL) array is undefined: skip it. */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

/* ---- labels -------------------------------------------------------- */

bool rec_label_is_instance(const char *key)
{
	static const char *const exact[] = {
		"pod-template-hash",
		"controller-revision-hash",
		"pod-template-generation",
		"statefulset.kubernetes.io/pod-name",
		"apps.kubernetes.io/pod-index",
		"batch.kubernetes.io/controller-uid",
		"batch.kubernetes.io/job-name",
		"batch.kubernetes.io/job-completion-index",
		"controller-uid",
		"job-name",
		"pod-name",
	};
	const char *slash = strrchr(key, '/');
	const char *base = slash ? slash + 1 : key;

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(key, exact[i]) == 0)
			return true;
	/* The same names under other prefixes (operators copy them). */
	return strcmp(base, "pod-name") == 0 || strcmp(base, "pod-index") == 0 ||
	       strcmp(base, "controller-uid") == 0 || strcmp(base, "pod-template-hash") == 0;
}

int rec_label_rank(const char *key)
{
	static const char *const pref[] = {
		"app.kubernetes.io/name", "app", "k8s-app", "name",
		"app.kubernetes.io/instance", "app.kubernetes.io/component",
		"component", "tier", "role", "app.kubernetes.io/part-of",
	};

	for (size_t i = 0; i < sizeof(pref) / sizeof(pref[0]); i++)
		if (strcmp(key, pref[i]) == 0)
			return (int)i;
	/* Versions change with every release: last resort. */
	if (strcmp(key, "version") == 0 || strcmp(key, "app.kubernetes.io/version") == 0 ||
	    strcmp(key, "helm.sh/chart") == 0)
		return 1000;
	return 100;
}

int rec_stable_labels(const struct pol_pod *const *pods, size_t n, struct pol_labels *out)
{
	pol_labels_clear(out);
	if (n == 0)
		return 0;
	for (size_t i = 0; i < pods[0]->labels.n; i++) {
		const struct pol_label *l = &pods[0]->labels.items[i];
		bool all = !rec_label_is_instance(l->key);

		for (size_t j = 1; all && j < n; j++) {
			const char *v = pol_labels_get(&pods[j]->labels, l->key);

			all = v && strcmp(v, l->value) == 0;
		}
		if (all && pol_labels_set(out, l->key, l->value) < 0)
			return -1;
	}
	return 0;
}

static int label_pref_cmp(const void *pa, const void *pb)
{
	const struct pol_label *a = pa, *b = pb;
	int ra = rec_label_rank(a->key), rb = rec_label_rank(b->key);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	return strcmp(a->key, b->key);
}

static int label_key_cmp(const void *pa, const void *pb)
{
	const struct pol_label *a = pa, *b = pb;

	return strcmp(a->key, b->key);
}

/* Does the matchLabels selector made of the k labels select exactly? */
static bool selects_exactly(const struct pol_label *pick, size_t k,
			    const struct pol_pod *const *pods, const bool *member, size_t n)
{
	struct pol_label sorted[3];
	struct pol_selector sel = { 0 };

	memcpy(sorted, pick, k * sizeof(*pick));
	sort_n(sorted, k, sizeof(*sorted), label_key_cmp);
	sel.match_labels.items = sorted;
	sel.match_labels.n = k;
	for (size_t i = 0; i < n; i++)
		if (pol_selector_matches(&sel, &pods[i]->labels) != member[i])
			return false;
	return true;
}

#define REC_MAX_KEYS 16

int rec_choose_selector(const struct pol_labels *stable, const struct pol_pod *const *pods,
			const bool *member, size_t n, struct pol_labels *out, bool *exact)
{
	struct pol_label cand[REC_MAX_KEYS], pick[3];
	size_t nc = stable->n < REC_MAX_KEYS ? stable->n : REC_MAX_KEYS;
	size_t k;

	pol_labels_clear(out);
	*exact = false;
	if (stable->n) {
		struct pol_label *all = malloc(stable->n * sizeof(*all));

		if (!all)
			return -1;
		memcpy(all, stable->items, stable->n * sizeof(*all));
		sort_n(all, stable->n, sizeof(*all), label_pref_cmp);
		memcpy(cand, all, nc * sizeof(*cand));
		free(all);
	}
	for (k = 1; k <= 3 && k <= nc && !*exact; k++) {
		size_t idx[3] = { 0, 1, 2 };

		/* Combinations in lexicographic order of preference. */
		for (;;) {
			for (size_t j = 0; j < k; j++)
				pick[j] = cand[idx[j]];
			if (selects_exactly(pick, k, pods, member, n)) {
				*exact = true;
				break;
			}
			size_t j = k;
			while (j > 0 && idx[j - 1] == nc - k + j - 1)
				j--;
			if (j == 0)
				break;
			idx[j - 1]++;
			for (size_t m = j; m < k; m++)
				idx[m] = idx[m - 1] + 1;
		}
	}
	if (*exact) {
		for (size_t j = 0; j < k - 1; j++)
			if (pol_labels_set(out, pick[j].key, pick[j].value) < 0)
				return -1;
		return 0;
	}
	for (size_t j = 0; j < stable->n; j++)
		if (pol_labels_set(out, stable->items[j].key, stable->items[j].value) < 0)
			return -1;
	/* Every stable label may still select exactly (more than 3 needed). */
	{
		struct pol_selector sel = { .match_labels = *out };

		*exact = true;
		for (size_t i = 0; i < n; i++)
			if (pol_selector_matches(&sel, &pods[i]->labels) != member[i])
				*exact = false;
	}
	return 0;
}

/* ---- addresses and ports ------------------------------------------- */

static void cidr_of(const struct pol_ip *ip, unsigned bits, struct pol_cidr *out)
{
	out->addr = *ip;
	out->len = (uint8_t)bits;
	out->v4 = pol_ip_is_v4(ip);
	for (unsigned i = 0; i < 128; i++)
		if (i >= bits)
			out->addr.b[i / 8] &= (uint8_t)~(0x80U >> (i % 8));
}

static int ip_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pol_ip));
}

size_t rec_merge_addrs(const struct pol_ip *addrs, size_t n, unsigned prefix4,
		       unsigned prefix6, struct pol_cidr *out, size_t *of)
{
	size_t n_out = 0;

	for (size_t i = 0; i < n; i++) {
		bool v4 = pol_ip_is_v4(&addrs[i]);
		unsigned block = v4 ? 96 + prefix4 : prefix6;
		struct pol_cidr c;
		bool shared = false;

		cidr_of(&addrs[i], block, &c);
		for (size_t j = 0; j < n && !shared; j++)
			shared = memcmp(&addrs[j], &addrs[i], sizeof(addrs[i])) != 0 &&
				 pol_cidr_contains(&c, &addrs[j]);
		if (!shared)
			cidr_of(&addrs[i], 128, &c);
		size_t k;
		for (k = 0; k < n_out; k++)
			if (out[k].len == c.len && memcmp(&out[k].addr, &c.addr, sizeof(c.addr)) == 0)
				break;
		if (k == n_out)
			out[n_out++] = c;
	}
	sort_n(out, n_out, sizeof(*out), ip_cmp); /* addr is the first member */
	for (size_t i = 0; of && i < n; i++) {
		of[i] = 0;
		for (size_t k = 0; k < n_out; k++)
			if (pol_cidr_contains(&out[k], &addrs[i]))
				of[i] = k;
	}
	return n_out;
}

static int port_cmp(const void *pa, const void *pb)
{
	const struct rec_port *a = pa, *b = pb;

	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return (int)a->port - (int)b->port;
}

size_t rec_port_ranges(struct rec_port *ports, size_t n, struct rec_port *out)
{
	size_t n_out = 0;

	sort_n(ports, n, sizeof(*ports), port_cmp);
	for (size_t i = 0; i < n; i++) {
		struct rec_port *last = n_out ? &out[n_out - 1] : NULL;
		uint16_t top = last ? (last->end_port ? last->end_port : last->port) : 0;

		if (last && last->proto == ports[i].proto && ports[i].port <= top)
			continue; /* duplicate */
		if (last && last->proto == ports[i].proto && ports[i].port == top + 1) {
			last->end_port = ports[i].port;
			continue;
		}
		out[n_out] = ports[i];
		out[n_out].end_port = 0;
		n_out++;
	}
	return n_out;
}

/* ---- small helpers -------------------------------------------------- */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static char *labels_text(const struct pol_labels *l)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->items[i].key) + strlen(l->items[i].value) + 2;
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	*p = '\0';
	for (size_t i = 0; i < l->n; i++)
		p += sprintf(p, "%s%s=%s", i ? "," : "", l->items[i].key, l->items[i].value);
	return s;
}

char *rec_time_format(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)ms);
	return buf;
}

/* A DNS-1123 label from free text, at most max bytes. */
static void dns_label(const char *in, char *out, size_t max)
{
	size_t n = 0;

	for (; *in && n < max; in++) {
		char c = *in;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		if (c == '-' && (n == 0 || out[n - 1] == '-'))
			continue;
		out[n++] = c;
	}
	while (n && out[n - 1] == '-')
		n--;
	if (n == 0)
		memcpy(out, "workload", (n = 8));
	out[n] = '\0';
}

static bool pod_is_real(const struct pol_pod *p)
{
	return !audit_obs_is_ghost(p) && !p->host_network && p->n_ips &&
	       p->phase != POL_PHASE_SUCCEEDED && p->phase != POL_PHASE_FAILED;
}

/* ---- grouping ------------------------------------------------------- */

struct pod_ent {
	size_t idx;     /* in the cluster */
	char *key;      /* ns \x1f W|L \x1f ... */
	char *wl;       /* "Deployment api" */
};

static int ent_cmp(const void *pa, const void *pb)
{
	const struct pod_ent *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	return c ? c : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

struct builder {
	const struct pol_model *model;
	const struct pol_cluster *cl;
	const struct rec_opts *opts;
	struct rec_result *r;
	size_t *pod_group;      /* per cluster pod, SIZE_MAX when none */
	const struct pol_pod **by_ptr; /* pods sorted by address, for pod -> group */
	size_t *grp_by_addr;    /* group of by_ptr[i] */
	size_t n_by_ptr;
	size_t *ns_order;       /* cluster pod indexes sorted by namespace */
	bool *real;             /* per cluster pod: pod_is_real() */
	const struct pol_policy **existing; /* current policies sorted by ns, name */
	size_t n_existing;
};

static const struct pol_cluster *sort_cl;

static int ns_order_cmp(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int c = strcmp(sort_cl->pods[a]->ns, sort_cl->pods[b]->ns);

	return c ? c : (a < b ? -1 : a > b);
}

/* [*lo, *hi) of ns_order: the pods of namespace ns. */
static void ns_range(const struct builder *b, const char *ns, size_t *lo, size_t *hi)
{
	size_t l = 0, h = b->cl->n_pods;

	while (l < h) {
		size_t m = l + (h - l) / 2;

		if (strcmp(b->cl->pods[b->ns_order[m]]->ns, ns) < 0)
			l = m + 1;
		else
			h = m;
	}
	*lo = l;
	h = b->cl->n_pods;
	while (l < h) {
		size_t m = l + (h - l) / 2;

		if (strcmp(b->cl->pods[b->ns_order[m]]->ns, ns) <= 0)
			l = m + 1;
		else
			h = m;
	}
	*hi = l;
}

static int ptr_cmp(const void *pa, const void *pb)
{
	const void *a = *(const void *const *)pa, *b = *(const void *const *)pb;

	return a < b ? -1 : a > b;
}

static size_t pod_index(const struct builder *b, const struct pol_pod *pod)
{
	const struct pol_pod **hit = bsearch(&pod, b->by_ptr, b->n_by_ptr, sizeof(*b->by_ptr), ptr_cmp);

	return hit ? (size_t)(hit - b->by_ptr) : SIZE_MAX;
}

static size_t group_of_pod(const struct builder *b, const struct pol_pod *pod)
{
	size_t i = pod ? pod_index(b, pod) : SIZE_MAX;

	return i == SIZE_MAX ? SIZE_MAX : b->grp_by_addr[i];
}

static int note(struct rec_result *r, char *s)
{
	char **v;

	if (!s)
		return -1;
	v = realloc(r->notes, (r->n_notes + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return -1;
	}
	r->notes = v;
	v[r->n_notes++] = s;
	return 0;
}

static int grp_stable_cmp(const void *pa, const void *pb, void *arg);

struct grp_tmp {
	char *ns;
	char *stable_text;
	struct pol_labels stable;
	size_t *pods;    /* cluster indexes */
	size_t n_pods;
	char **wls;      /* distinct workload names */
	size_t n_wls;
};

static int grp_cmp(const void *pa, const void *pb)
{
	const struct grp_tmp *a = pa, *b = pb;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->stable_text, b->stable_text);
}

static int grp_stable_cmp(const void *pa, const void *pb, void *arg)
{
	(void)arg;
	return grp_cmp(pa, pb);
}

static int add_wl(struct grp_tmp *g, const char *wl)
{
	char **v;

	for (size_t i = 0; i < g->n_wls; i++)
		if (strcmp(g->wls[i], wl) == 0)
			return 0;
	v = realloc(g->wls, (g->n_wls + 1) * sizeof(*v));
	if (!v)
		return -1;
	g->wls = v;
	g->wls[g->n_wls] = strdup(wl);
	return g->wls[g->n_wls++] ? 0 : -1;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *group_desc(struct grp_tmp *g, size_t n_pods)
{
	bool bare = true;

	sort_n(g->wls, g->n_wls, sizeof(*g->wls), str_cmp);
	for (size_t i = 0; i < g->n_wls; i++)
		bare = bare && strncmp(g->wls[i], "Pod ", 4) == 0;
	if (g->n_wls == 1)
		return strdup(g->wls[0]);
	if (bare)
		return xasprintf("%zu pods without a controller", n_pods);
	return xasprintf("%s and %zu more", g->wls[0], g->n_wls - 1);
}

static int make_groups(struct builder *b)
{
	const struct pol_cluster *cl = b->cl;
	struct pod_ent *ents = calloc(cl->n_pods ? cl->n_pods : 1, sizeof(*ents));
	struct grp_tmp *gt = NULL;
	size_t n_ents = 0, n_gt = 0;
	int ret = -1;

	b->pod_group = malloc((cl->n_pods ? cl->n_pods : 1) * sizeof(*b->pod_group));
	if (!ents || !b->pod_group)
		goto out;
	for (size_t i = 0; i < cl->n_pods; i++) {
		const struct pol_pod *p = cl->pods[i];
		const char *kind, *name;
		size_t len;

		b->pod_group[i] = SIZE_MAX;
		if (p->host_network)
			continue;
		audit_workload_of(p, &kind, &name, &len);
		ents[n_ents].idx = i;
		if (strcmp(kind, "Pod") == 0) {
			/* No controller: pods alike in their stable labels are
			 * one workload (a bare pod, or a list without owners). */
			struct pol_labels st = { 0 };
			char *t;

			if (rec_stable_labels(&p, 1, &st) < 0 || !(t = labels_text(&st))) {
				pol_labels_clear(&st);
				goto out;
			}
			pol_labels_clear(&st);
			ents[n_ents].key = xasprintf("%s\x1fL\x1f%s", p->ns, t);
			ents[n_ents].wl = xasprintf("Pod %s", p->name);
			free(t);
		} else {
			ents[n_ents].key = xasprintf("%s\x1fW\x1f%s\x1f%.*s", p->ns, kind, (int)len, name);
			ents[n_ents].wl = xasprintf("%s %.*s", kind, (int)len, name);
		}
		if (!ents[n_ents].key || !ents[n_ents].wl) {
			n_ents++;
			goto out;
		}
		n_ents++;
	}
	sort_n(ents, n_ents, sizeof(*ents), ent_cmp);
	gt = calloc(n_ents ? n_ents : 1, sizeof(*gt));
	if (!gt)
		goto out;
	for (size_t i = 0; i < n_ents;) {
		size_t j = i;
		struct grp_tmp *g = &gt[n_gt++];
		const struct pol_pod **pp;

		while (j < n_ents && strcmp(ents[j].key, ents[i].key) == 0)
			j++;
		g->ns = strdup(cl->pods[ents[i].idx]->ns);
		g->pods = malloc((j - i) * sizeof(*g->pods));
		pp = malloc((j - i) * sizeof(*pp));
		if (!g->ns || !g->pods || !pp) {
			free(pp);
			goto out;
		}
		for (size_t k = i; k < j; k++) {
			g->pods[g->n_pods++] = ents[k].idx;
			pp[k - i] = cl->pods[ents[k].idx];
			if (add_wl(g, ents[k].wl) < 0) {
				free(pp);
				goto out;
			}
		}
		if (rec_stable_labels(pp, j - i, &g->stable) < 0 ||
		    !(g->stable_text = labels_text(&g->stable))) {
			free(pp);
			goto out;
		}
		free(pp);
		i = j;
	}
	/* Groups no selector can tell apart are one. */
	if (n_gt > 1)
		qsort_r(gt, n_gt, sizeof(*gt), grp_stable_cmp, NULL);
	b->r->groups = calloc(n_gt ? n_gt : 1, sizeof(*b->r->groups));
	if (!b->r->groups)
		goto out;
	for (size_t i = 0; i < n_gt;) {
		size_t j = i + 1;
		struct rec_group *g = &b->r->groups[b->r->n_groups];
		size_t total = gt[i].n_pods;

		while (j < n_gt && grp_cmp(&gt[i], &gt[j]) == 0) {
			total += gt[j].n_pods;
			for (size_t w = 0; w < gt[j].n_wls; w++)
				if (add_wl(&gt[i], gt[j].wls[w]) < 0)
					goto out;
			j++;
		}
		b->r->n_groups++;
		g->ns = strdup(gt[i].ns);
		g->desc = group_desc(&gt[i], total);
		g->pods = malloc(total * sizeof(*g->pods));
		if (!g->ns || !g->desc || !g->pods)
			goto out;
		for (size_t k = i; k < j; k++)
			for (size_t m = 0; m < gt[k].n_pods; m++) {
				b->pod_group[gt[k].pods[m]] = b->r->n_groups - 1;
				g->pods[g->n_pods++] = cl->pods[gt[k].pods[m]];
			}
		g->stable = gt[i].stable;
		memset(&gt[i].stable, 0, sizeof(gt[i].stable));
		{
			const char *v = pol_labels_get(&g->stable, "k8s-app");

			g->dns = v && strcmp(v, "kube-dns") == 0;
		}
		i = j;
	}
	ret = 0;
out:
	for (size_t i = 0; i < n_ents; i++) {
		free(ents[i].key);
		free(ents[i].wl);
	}
	free(ents);
	for (size_t i = 0; gt && i < n_gt; i++) {
		free(gt[i].ns);
		free(gt[i].stable_text);
		pol_labels_clear(&gt[i].stable);
		free(gt[i].pods);
		for (size_t w = 0; w < gt[i].n_wls; w++)
			free(gt[i].wls[w]);
		free(gt[i].wls);
	}
	free(gt);
	return ret;
}

/* Selectors and names, per namespace. */
static int choose_selectors(struct builder *b)
{
	const struct pol_cluster *cl = b->cl;
	const struct pol_pod **nsp = malloc((cl->n_pods ? cl->n_pods : 1) * sizeof(*nsp));
	bool *member = malloc((cl->n_pods ? cl->n_pods : 1) * sizeof(*member));
	size_t *nsg = malloc((cl->n_pods ? cl->n_pods : 1) * sizeof(*nsg));
	int ret = -1;

	if (!nsp || !member || !nsg)
		goto out;
	for (size_t gi = 0; gi < b->r->n_groups; gi++) {
		struct rec_group *g = &b->r->groups[gi];
		size_t n = 0;
		char base[48];
		const char *primary = NULL;

		size_t lo, hi;

		ns_range(b, g->ns, &lo, &hi);
		for (size_t o = lo; o < hi; o++) {
			size_t i = b->ns_order[o];

			if (cl->pods[i]->host_network)
				continue;
			nsp[n] = cl->pods[i];
			nsg[n] = b->pod_group[i];
			member[n] = b->pod_group[i] == gi;
			n++;
		}
		if (rec_choose_selector(&g->stable, nsp, member, n, &g->selector, &g->exact) < 0)
			goto out;
		/* The name a person would use: the app label, else the
		 * workload's own name. */
		for (size_t i = 0; i < g->selector.n && !primary; i++)
			if (rec_label_rank(g->selector.items[i].key) <= 3)
				primary = g->selector.items[i].value;
		for (size_t i = 0; i < g->stable.n && !primary; i++)
			if (rec_label_rank(g->stable.items[i].key) <= 3)
				primary = g->stable.items[i].value;
		if (!primary) {
			const char *sp = strchr(g->desc, ' ');

			primary = sp ? sp + 1 : g->desc;
		}
		dns_label(primary, base, 40);
		g->name = strdup(base);
		if (!g->name)
			goto out;
		if (!g->exact) {
			char *sel = labels_text(&g->selector);
			size_t extra = 0;

			for (size_t i = 0; i < n; i++) {
				struct pol_selector s = { .match_labels = g->selector };

				if (!member[i] && pol_selector_matches(&s, &nsp[i]->labels))
					extra++;
			}
			if (note(b->r, xasprintf("%s/%s (%s): no label set selects only its pods; "
						 "selector %s also selects %zu other pod%s",
						 g->ns, g->name, g->desc, sel && *sel ? sel : "{}",
						 extra, extra == 1 ? "" : "s")) < 0) {
				free(sel);
				goto out;
			}
			free(sel);
		}
	}
	/* Unique names within a namespace. */
	for (size_t gi = 0, first = 0; gi < b->r->n_groups; gi++) {
		unsigned dup = 1;

		/* Groups come sorted by namespace: compare within it only. */
		if (strcmp(b->r->groups[first].ns, b->r->groups[gi].ns) != 0)
			first = gi;
		for (size_t gj = first; gj < gi; gj++)
			if (strcmp(b->r->groups[gj].ns, b->r->groups[gi].ns) == 0 &&
			    strncmp(b->r->groups[gj].name, b->r->groups[gi].name,
				    strlen(b->r->groups[gi].name)) == 0)
				dup++;
		if (dup > 1) {
			char *n = xasprintf("%s-%u", b->r->groups[gi].name, dup);

			if (!n)
				goto out;
			free(b->r->groups[gi].name);
			b->r->groups[gi].name = n;
		}
	}
	ret = 0;
out:
	free(nsp);
	free(member);
	free(nsg);
	return ret;
}

/* ---- edges: what each policy must allow ---------------------------- */

struct edge {
	size_t slot;       /* policy slot */
	size_t peer_group; /* SIZE_MAX: an address */
	struct pol_ip addr;
	uint8_t proto;
	uint16_t port;
	uint64_t count;
	int64_t first_ms, last_ms;
};

struct slot {
	enum rec_kind kind;
	const char *ns;
	size_t group;      /* SIZE_MAX for DNS */
	size_t first_edge, n_edges;
	size_t n_flows;
};

struct edges {
	struct edge *v;
	size_t n, cap;
	struct slot *slots;
	size_t n_slots, cap_slots;
	size_t *ing, *egr; /* per group: slot or SIZE_MAX */
};

static size_t slot_get(struct edges *e, enum rec_kind kind, const char *ns, size_t group)
{
	size_t *cache = kind == REC_INGRESS ? &e->ing[group] : kind == REC_EGRESS ? &e->egr[group] : NULL;

	if (cache && *cache != SIZE_MAX)
		return *cache;
	if (!cache)
		for (size_t i = 0; i < e->n_slots; i++)
			if (e->slots[i].kind == kind && strcmp(e->slots[i].ns, ns) == 0)
				return i;
	if (e->n_slots == e->cap_slots) {
		size_t cap = e->cap_slots ? e->cap_slots * 2 : 16;
		struct slot *v = realloc(e->slots, cap * sizeof(*v));

		if (!v)
			return SIZE_MAX;
		e->slots = v;
		e->cap_slots = cap;
	}
	e->slots[e->n_slots] = (struct slot){ .kind = kind, .ns = ns, .group = group };
	if (cache)
		*cache = e->n_slots;
	return e->n_slots++;
}

static int edge_add(struct edges *e, size_t slot, size_t peer_group, const struct pol_ip *addr,
		    const struct audit_obs *o)
{
	if (slot == SIZE_MAX)
		return -1;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct edge *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n] = (struct edge){
		.slot = slot, .peer_group = peer_group, .proto = o->proto, .port = o->port,
		.count = o->count, .first_ms = o->first_ms, .last_ms = o->last_ms,
	};
	if (addr)
		e->v[e->n].addr = *addr;
	e->n++;
	e->slots[slot].n_flows++;
	return 0;
}

static bool ns_selected(const struct rec_result *r, const char *ns)
{
	for (size_t i = 0; i < r->n_namespaces; i++)
		if (strcmp(r->namespaces[i], ns) == 0)
			return true;
	return false;
}

static int add_ns(struct rec_result *r, const char *ns)
{
	char **v;

	if (ns_selected(r, ns))
		return 0;
	v = realloc(r->namespaces, (r->n_namespaces + 1) * sizeof(*v));
	if (!v)
		return -1;
	r->namespaces = v;
	v[r->n_namespaces] = strdup(ns);
	return v[r->n_namespaces++] ? 0 : -1;
}

static bool is_icmp(uint8_t proto)
{
	return proto == POL_PROTO_ICMP || proto == POL_PROTO_ICMPV6;
}

/* ---- policies -------------------------------------------------------- */

struct peer_acc {
	struct rec_peer peer;
	struct rec_port *ports; /* observed singletons */
	size_t n_ports;
	bool all_ports;
	struct rec_port *ranges;
	size_t n_ranges;
	bool taken;
};

static int peer_sort_key_cmp(const struct rec_peer *a, const struct rec_peer *b, const char *own_ns)
{
	if (a->type != b->type)
		return a->type == REC_PEER_GROUP ? -1 : 1;
	if (a->type == REC_PEER_CIDR) {
		int c = memcmp(&a->cidr.addr, &b->cidr.addr, sizeof(a->cidr.addr));

		return c ? c : (int)a->cidr.len - (int)b->cidr.len;
	}
	bool ao = strcmp(a->group->ns, own_ns) == 0, bo = strcmp(b->group->ns, own_ns) == 0;

	if (ao != bo)
		return ao ? -1 : 1;
	int c = strcmp(a->group->ns, b->group->ns);

	return c ? c : strcmp(a->group->name, b->group->name);
}

static const char *sort_ns;

static int peer_qsort_cmp(const void *pa, const void *pb)
{
	return peer_sort_key_cmp(pa, pb, sort_ns);
}

static int rule_qsort_cmp(const void *pa, const void *pb)
{
	const struct rec_rule *a = pa, *b = pb;

	return peer_sort_key_cmp(&a->peers[0], &b->peers[0], sort_ns);
}

static bool same_ports(const struct peer_acc *a, const struct peer_acc *b)
{
	if (a->all_ports != b->all_ports)
		return false;
	if (a->all_ports)
		return true;
	return a->n_ranges == b->n_ranges &&
	       memcmp(a->ranges, b->ranges, a->n_ranges * sizeof(*a->ranges)) == 0;
}

static int acc_port(struct peer_acc *pa, uint8_t proto, uint16_t port)
{
	struct rec_port *v;

	if (is_icmp(proto)) {
		pa->all_ports = true;
		return 0;
	}
	for (size_t i = 0; i < pa->n_ports; i++)
		if (pa->ports[i].proto == proto && pa->ports[i].port == port)
			return 0;
	v = realloc(pa->ports, (pa->n_ports + 1) * sizeof(*v));
	if (!v)
		return -1;
	pa->ports = v;
	v[pa->n_ports++] = (struct rec_port){ .proto = proto, .port = port };
	return 0;
}

static void widen(int64_t *first, int64_t *last, int64_t f, int64_t l)
{
	if (!*first || f < *first)
		*first = f;
	if (l > *last)
		*last = l;
}

static int build_rules(struct builder *b, struct edges *e, struct slot *s, struct rec_policy *p)
{
	struct edge *ev = &e->v[s->first_edge];
	size_t n = s->n_edges, n_acc = 0, n_addr = 0;
	struct peer_acc *acc = calloc(n + 1, sizeof(*acc));
	struct pol_ip *addrs = calloc(n + 1, sizeof(*addrs));
	struct pol_cidr *cidrs = calloc(n + 1, sizeof(*cidrs));
	size_t *of = calloc(n + 1, sizeof(*of));
	int ret = -1;

	if (!acc || !addrs || !cidrs || !of)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		if (ev[i].peer_group != SIZE_MAX)
			continue;
		for (size_t k = 0; k < n_addr && !dup; k++)
			dup = memcmp(&addrs[k], &ev[i].addr, sizeof(addrs[k])) == 0;
		if (!dup)
			addrs[n_addr++] = ev[i].addr;
	}
	rec_merge_addrs(addrs, n_addr, b->opts->cidr_prefix, b->opts->cidr_prefix6, cidrs, of);
	for (size_t i = 0; i < n; i++) {
		struct rec_peer key = { 0 };
		size_t k;

		if (ev[i].peer_group != SIZE_MAX) {
			key.type = REC_PEER_GROUP;
			key.group = &b->r->groups[ev[i].peer_group];
		} else {
			key.type = REC_PEER_CIDR;
			for (size_t a = 0; a < n_addr; a++)
				if (memcmp(&addrs[a], &ev[i].addr, sizeof(addrs[a])) == 0)
					key.cidr = cidrs[of[a]];
		}
		for (k = 0; k < n_acc; k++) {
			struct rec_peer *q = &acc[k].peer;

			if (q->type == key.type &&
			    (key.type == REC_PEER_GROUP ? q->group == key.group
			     : q->cidr.len == key.cidr.len &&
				       memcmp(&q->cidr.addr, &key.cidr.addr, sizeof(key.cidr.addr)) == 0))
				break;
		}
		if (k == n_acc)
			acc[n_acc++].peer = key;
		acc[k].peer.count += ev[i].count;
		widen(&acc[k].peer.first_ms, &acc[k].peer.last_ms, ev[i].first_ms, ev[i].last_ms);
		if (acc_port(&acc[k], ev[i].proto, ev[i].port) < 0)
			goto out;
		/* A DNS server takes both protocols from its clients, as
		 * allow-dns grants them: a resolver falls back to TCP for a
		 * long answer (the figures show it unused until then). */
		if (p->kind == REC_INGRESS && p->group->dns && ev[i].port == 53 &&
		    (ev[i].proto == POL_PROTO_UDP || ev[i].proto == POL_PROTO_TCP) &&
		    acc_port(&acc[k], ev[i].proto == POL_PROTO_UDP ? POL_PROTO_TCP : POL_PROTO_UDP, 53) < 0)
			goto out;
		p->count += ev[i].count;
		widen(&p->first_ms, &p->last_ms, ev[i].first_ms, ev[i].last_ms);
	}
	for (size_t a = 0; a < n_addr; a++)
		for (size_t k = 0; k < n_acc; k++)
			if (acc[k].peer.type == REC_PEER_CIDR &&
			    pol_cidr_contains(&acc[k].peer.cidr, &addrs[a]))
				acc[k].peer.n_addrs++;
	for (size_t k = 0; k < n_acc; k++) {
		struct rec_port *tmp = malloc((acc[k].n_ports + 1) * sizeof(*tmp));

		acc[k].ranges = malloc((acc[k].n_ports + 1) * sizeof(*acc[k].ranges));
		if (!tmp || !acc[k].ranges) {
			free(tmp);
			goto out;
		}
		if (acc[k].n_ports)
			memcpy(tmp, acc[k].ports, acc[k].n_ports * sizeof(*tmp));
		acc[k].n_ranges = rec_port_ranges(tmp, acc[k].n_ports, acc[k].ranges);
		free(tmp);
	}
	/* Peers with the same ports share a rule, as a person would write it. */
	p->rules = calloc(n_acc + 1, sizeof(*p->rules));
	if (!p->rules)
		goto out;
	for (size_t k = 0; k < n_acc; k++) {
		struct rec_rule *r;

		if (acc[k].taken)
			continue;
		r = &p->rules[p->n_rules++];
		r->peers = calloc(n_acc, sizeof(*r->peers));
		r->ports = malloc((acc[k].n_ranges + 1) * sizeof(*r->ports));
		if (!r->peers || !r->ports)
			goto out;
		r->all_ports = acc[k].all_ports;
		if (!r->all_ports) {
			memcpy(r->ports, acc[k].ranges, acc[k].n_ranges * sizeof(*r->ports));
			r->n_ports = acc[k].n_ranges;
		}
		for (size_t m = k; m < n_acc; m++) {
			if (acc[m].taken || !same_ports(&acc[k], &acc[m]))
				continue;
			acc[m].taken = true;
			r->peers[r->n_peers++] = acc[m].peer;
			r->count += acc[m].peer.count;
			widen(&r->first_ms, &r->last_ms, acc[m].peer.first_ms, acc[m].peer.last_ms);
		}
		sort_ns = p->ns;
		sort_n(r->peers, r->n_peers, sizeof(*r->peers), peer_qsort_cmp);
	}
	sort_ns = p->ns;
	sort_n(p->rules, p->n_rules, sizeof(*p->rules), rule_qsort_cmp);
	ret = 0;
out:
	for (size_t k = 0; acc && k < n_acc; k++) {
		free(acc[k].ports);
		free(acc[k].ranges);
	}
	free(acc);
	free(addrs);
	free(cidrs);
	free(of);
	return ret;
}

/* Distinct observed (proto, port) of a rule's edges. */
static uint64_t seen_ports(const struct edges *e, const struct slot *s, const struct rec_rule *r,
			   const struct rec_result *res)
{
	struct rec_port seen[512];
	size_t n = 0;
	uint64_t extra = 0;

	for (size_t i = 0; i < s->n_edges; i++) {
		const struct edge *ed = &e->v[s->first_edge + i];
		bool in = false, dup = false;

		for (size_t k = 0; k < r->n_peers && !in; k++) {
			const struct rec_peer *q = &r->peers[k];

			in = ed->peer_group != SIZE_MAX
				     ? q->type == REC_PEER_GROUP && q->group == &res->groups[ed->peer_group]
				     : q->type == REC_PEER_CIDR && pol_cidr_contains(&q->cidr, &ed->addr);
		}
		if (!in || is_icmp(ed->proto))
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = seen[k].proto == ed->proto && seen[k].port == ed->port;
		if (dup)
			continue;
		if (n < sizeof(seen) / sizeof(seen[0]))
			seen[n++] = (struct rec_port){ .proto = ed->proto, .port = ed->port };
		else
			extra++;
	}
	return n + extra;
}

static bool selects(const struct pol_labels *sel_labels, const struct pol_pod *p)
{
	struct pol_selector s = { .match_labels = *sel_labels };

	return pol_selector_matches(&s, &p->labels);
}

static void overperm(struct builder *b, const struct edges *e, const struct slot *s,
		     struct rec_policy *p, const bool *resolvers)
{
	const struct pol_cluster *cl = b->cl;
	uint64_t n_sel = 0, n_sel_seen = 0;
	size_t lo, hi;

	ns_range(b, p->ns, &lo, &hi);
	for (size_t o = lo; o < hi; o++) {
		size_t i = b->ns_order[o];
		const struct pol_pod *a = cl->pods[i];

		if (!b->real[i])
			continue;
		if (p->kind == REC_DNS || p->kind == REC_DEFAULT_DENY) {
			n_sel++;
			if (resolvers && b->pod_group[i] != SIZE_MAX && resolvers[b->pod_group[i]])
				n_sel_seen++;
		} else if (selects(&p->group->selector, a)) {
			n_sel++;
			if (b->pod_group[i] != SIZE_MAX && &b->r->groups[b->pod_group[i]] == p->group)
				n_sel_seen++;
		}
	}
	p->pods_selected = n_sel;
	for (size_t ri = 0; ri < p->n_rules; ri++) {
		struct rec_rule *r = &p->rules[ri];
		uint64_t seen = r->ports_unseen;

		r->ports_open = 0;
		for (size_t k = 0; k < r->n_ports; k++)
			r->ports_open += (uint64_t)(r->ports[k].end_port ? r->ports[k].end_port - r->ports[k].port + 1 : 1);
		seen = seen_ports(e, s, r, b->r);
		r->ports_unseen = r->all_ports ? 0 : (r->ports_open > seen ? r->ports_open - seen : 0);
		r->addrs = r->addrs_unseen = 0;
		for (size_t k = 0; k < r->n_peers; k++) {
			const struct rec_peer *q = &r->peers[k];

			if (q->type != REC_PEER_CIDR)
				continue;
			unsigned host = 128U - q->cidr.len;
			uint64_t sz = host >= 63 ? (UINT64_C(1) << 63) : (UINT64_C(1) << host);

			r->addrs += sz;
			r->addrs_unseen += sz - q->n_addrs;
		}
		r->pod_pairs = r->pod_pairs_unseen = 0;
		for (size_t k = 0; k < r->n_peers; k++) {
			const struct rec_peer *q = &r->peers[k];
			bool first_of_ns = q->type == REC_PEER_GROUP;

			/* Each namespace of the rule's peers once. */
			for (size_t m = 0; first_of_ns && m < k; m++)
				if (r->peers[m].type == REC_PEER_GROUP &&
				    strcmp(r->peers[m].group->ns, q->group->ns) == 0)
					first_of_ns = false;
			if (!first_of_ns)
				continue;
			ns_range(b, q->group->ns, &lo, &hi);
			for (size_t o = lo; o < hi; o++) {
				size_t i = b->ns_order[o];
				const struct pol_pod *bp = cl->pods[i];
				bool matched = false, peer_seen = false;

				if (!b->real[i])
					continue;
				for (size_t m = k; m < r->n_peers && !matched; m++) {
					const struct rec_peer *qm = &r->peers[m];

					if (qm->type != REC_PEER_GROUP || strcmp(qm->group->ns, bp->ns) != 0 ||
					    !selects(&qm->group->selector, bp))
						continue;
					matched = true;
					peer_seen = b->pod_group[i] != SIZE_MAX &&
						    &b->r->groups[b->pod_group[i]] == qm->group;
				}
				if (!matched)
					continue;
				/* b itself may be among the selected pods: no pair with itself. */
				bool b_sel = strcmp(bp->ns, p->ns) == 0 &&
					     (p->kind == REC_DNS || selects(&p->group->selector, bp));
				bool b_sel_seen = b_sel && b->pod_group[i] != SIZE_MAX &&
						  (p->kind == REC_DNS ? resolvers && resolvers[b->pod_group[i]]
						   : &b->r->groups[b->pod_group[i]] == p->group);
				uint64_t pairs = n_sel - (b_sel ? 1 : 0);
				uint64_t pairs_seen = peer_seen ? n_sel_seen - (b_sel_seen ? 1 : 0) : 0;

				r->pod_pairs += pairs;
				r->pod_pairs_unseen += pairs - pairs_seen;
			}
		}
	}
}

static int pol_name_cmp(const void *pa, const void *pb)
{
	const struct pol_policy *a = *(const struct pol_policy *const *)pa;
	const struct pol_policy *b = *(const struct pol_policy *const *)pb;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->name, b->name);
}

static bool name_taken(const struct builder *b, const char *ns, const char *name)
{
	const struct rec_result *r = b->r;
	struct pol_policy key = { .ns = (char *)ns, .name = (char *)name };
	const struct pol_policy *kp = &key;

	if (b->n_existing &&
	    bsearch(&kp, b->existing, b->n_existing, sizeof(*b->existing), pol_name_cmp))
		return true;
	/* Policies are written namespace by namespace: look back within it. */
	for (size_t i = r->n_policies; i > 0 && strcmp(r->policies[i - 1].ns, ns) == 0; i--)
		if (strcmp(r->policies[i - 1].name, name) == 0)
			return true;
	return false;
}

static int policy_new(struct builder *b, enum rec_kind kind, const char *ns,
		      const struct rec_group *g)
{
	struct rec_result *r = b->r;
	struct rec_policy *p = &r->policies[r->n_policies];
	char *name;

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->group = g;
	switch (kind) {
	case REC_DEFAULT_DENY:
		name = strdup("default-deny");
		break;
	case REC_DNS:
		name = strdup("allow-dns");
		break;
	default:
		name = xasprintf("%s-%s", g->name, kind == REC_INGRESS ? "ingress" : "egress");
		break;
	}
	if (name && name_taken(b, ns, name)) {
		/* The current cluster (or another group) has it: never
		 * overwrite a policy nobody asked us to replace. */
		char *alt = xasprintf("recommended-%s", name);

		free(name);
		name = alt;
		for (unsigned k = 2; name && name_taken(b, ns, name); k++) {
			free(name);
			name = xasprintf("recommended-%s-%u",
					 kind == REC_DEFAULT_DENY ? "default-deny" :
					 kind == REC_DNS ? "allow-dns" : g->name, k);
		}
	}
	p->name = name;
	p->ns = strdup(ns);
	if (!p->name || !p->ns) {
		free(p->name);
		free(p->ns);
		return -1;
	}
	r->n_policies++;
	return 0;
}

static int edge_slot_cmp(const void *pa, const void *pb)
{
	const struct edge *a = pa, *b = pb;

	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

int rec_build(const struct pol_model *model, const struct audit_obs_set *obs,
	      const struct pol_cluster *existing, const struct rec_opts *opts,
	      struct rec_result *out)
{
	struct builder b = { .model = model, .cl = pol_model_cluster(model), .opts = opts, .r = out };
	struct edges e = { 0 };
	size_t *order = NULL;
	bool *resolvers = NULL;
	size_t *ns_flows = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	b.n_by_ptr = b.cl->n_pods;
	b.by_ptr = malloc((b.n_by_ptr ? b.n_by_ptr : 1) * sizeof(*b.by_ptr));
	out->used = calloc(obs->n ? obs->n : 1, sizeof(*out->used));
	out->n_used = obs->n;
	b.ns_order = malloc((b.n_by_ptr ? b.n_by_ptr : 1) * sizeof(*b.ns_order));
	b.real = malloc((b.n_by_ptr ? b.n_by_ptr : 1) * sizeof(*b.real));
	if (!b.by_ptr || !out->used || !b.ns_order || !b.real)
		goto out;
	for (size_t i = 0; i < b.n_by_ptr; i++) {
		b.ns_order[i] = i;
		b.real[i] = pod_is_real(b.cl->pods[i]);
	}
	sort_cl = b.cl;
	sort_n(b.ns_order, b.n_by_ptr, sizeof(*b.ns_order), ns_order_cmp);
	if (existing && existing->n_policies) {
		b.existing = malloc(existing->n_policies * sizeof(*b.existing));
		if (!b.existing)
			goto out;
		memcpy(b.existing, existing->policies, existing->n_policies * sizeof(*b.existing));
		b.n_existing = existing->n_policies;
		sort_n(b.existing, b.n_existing, sizeof(*b.existing), pol_name_cmp);
	}
	if (make_groups(&b) < 0 || choose_selectors(&b) < 0)
		goto out;
	/* pod -> group by address, for the pods pol_model_pod_by_ip() returns. */
	b.grp_by_addr = malloc((b.n_by_ptr ? b.n_by_ptr : 1) * sizeof(*b.grp_by_addr));
	if (!b.grp_by_addr)
		goto out;
	for (size_t i = 0; i < b.n_by_ptr; i++)
		b.by_ptr[i] = b.cl->pods[i];
	sort_n(b.by_ptr, b.n_by_ptr, sizeof(*b.by_ptr), ptr_cmp);
	for (size_t i = 0; i < b.n_by_ptr; i++)
		b.grp_by_addr[pod_index(&b, b.cl->pods[i])] = b.pod_group[i];
	/* Namespaces. */
	for (size_t i = 0; i < opts->n_namespaces; i++)
		if (add_ns(out, opts->namespaces[i]) < 0)
			goto out;
	if (!opts->namespaces) {
		for (size_t i = 0; i < obs->n; i++) {
			const struct audit_obs *o = obs->v[i];

			if (!opts->include_denied && o->enforced_denies == o->count)
				continue;
			if (o->src.kind == POL_EP_POD && add_ns(out, o->src.ns) < 0)
				goto out;
			if (o->dst.kind == POL_EP_POD && add_ns(out, o->dst.ns) < 0)
				goto out;
		}
	}
	sort_n(out->namespaces, out->n_namespaces, sizeof(*out->namespaces), str_cmp);
	e.ing = malloc((out->n_groups + 1) * sizeof(*e.ing));
	e.egr = malloc((out->n_groups + 1) * sizeof(*e.egr));
	resolvers = calloc(out->n_groups + 1, sizeof(*resolvers));
	ns_flows = calloc(out->n_namespaces + 1, sizeof(*ns_flows));
	if (!e.ing || !e.egr || !resolvers || !ns_flows)
		goto out;
	for (size_t i = 0; i <= out->n_groups; i++)
		e.ing[i] = e.egr[i] = SIZE_MAX;
	for (size_t i = 0; i < obs->n; i++) {
		const struct audit_obs *o = obs->v[i];
		bool policy_decides = false;
		size_t gs = SIZE_MAX, gd = SIZE_MAX;

		if (!opts->include_denied && o->enforced_denies == o->count) {
			out->n_left_denied++;
			continue;
		}
		for (size_t a = 0; a < o->src.n_eval; a++)
			for (size_t c = 0; c < o->dst.n_eval; c++) {
				struct pol_flow f = { .src = o->src.eval[a], .dst = o->dst.eval[c],
						      .proto = o->proto, .port = o->port };
				struct pol_verdict v;

				pol_eval(model, &f, opts->eval_flags, &v);
				if (v.reason == POL_REASON_POLICY)
					policy_decides = true;
			}
		if (!policy_decides) {
			out->n_always++;
			continue;
		}
		if (o->src.kind == POL_EP_POD && o->src.n_eval)
			gs = group_of_pod(&b, pol_model_pod_by_ip(model, &o->src.eval[0]));
		if (o->dst.kind == POL_EP_POD && o->dst.n_eval)
			gd = group_of_pod(&b, pol_model_pod_by_ip(model, &o->dst.eval[0]));
		bool src_sel = gs != SIZE_MAX && ns_selected(out, out->groups[gs].ns);
		bool dst_sel = gd != SIZE_MAX && ns_selected(out, out->groups[gd].ns);

		if (!src_sel && !dst_sel) {
			out->n_outside++;
			continue;
		}
		out->used[i] = true;
		for (size_t ni = 0; ni < out->n_namespaces; ni++)
			if ((src_sel && strcmp(out->namespaces[ni], out->groups[gs].ns) == 0) ||
			    (dst_sel && strcmp(out->namespaces[ni], out->groups[gd].ns) == 0))
				ns_flows[ni]++;
		if (src_sel) {
			bool dns = gd != SIZE_MAX && out->groups[gd].dns && o->port == 53 &&
				   (o->proto == POL_PROTO_UDP || o->proto == POL_PROTO_TCP);
			size_t s = dns ? slot_get(&e, REC_DNS, out->groups[gs].ns, SIZE_MAX)
				       : slot_get(&e, REC_EGRESS, out->groups[gs].ns, gs);

			if (dns)
				resolvers[gs] = true;
			for (size_t c = 0; c < (gd == SIZE_MAX ? o->dst.n_eval : 1); c++)
				if (edge_add(&e, s, gd, gd == SIZE_MAX ? &o->dst.eval[c] : NULL, o) < 0)
					goto out;
		}
		if (dst_sel) {
			size_t s = slot_get(&e, REC_INGRESS, out->groups[gd].ns, gd);

			for (size_t c = 0; c < (gs == SIZE_MAX ? o->src.n_eval : 1); c++)
				if (edge_add(&e, s, gs, gs == SIZE_MAX ? &o->src.eval[c] : NULL, o) < 0)
					goto out;
		}
	}
	/* Group edges by slot, then emit policies in a stable order:
	 * namespace; default-deny, DNS, then groups by name, ingress first. */
	sort_n(e.v, e.n, sizeof(*e.v), edge_slot_cmp);
	for (size_t i = 0, s = SIZE_MAX; i < e.n; i++) {
		if (e.v[i].slot != s) {
			s = e.v[i].slot;
			e.slots[s].first_edge = i;
		}
		e.slots[s].n_edges++;
	}
	order = malloc((e.n_slots + 1) * sizeof(*order));
	out->policies = calloc(e.n_slots + out->n_namespaces + 1, sizeof(*out->policies));
	if (!order || !out->policies)
		goto out;
	for (size_t i = 0; i < e.n_slots; i++)
		order[i] = i;
	/* Slots by namespace, DNS first, then by workload name, ingress
	 * before egress (one workload's two policies side by side). */
	for (size_t i = 1; i < e.n_slots; i++)
		for (size_t j = i; j > 0; j--) {
			const struct slot *x = &e.slots[order[j - 1]], *y = &e.slots[order[j]];
			int c = strcmp(x->ns, y->ns);

			if (!c)
				c = (x->kind != REC_DNS) - (y->kind != REC_DNS);
			if (!c && x->group != SIZE_MAX && y->group != SIZE_MAX)
				c = strcmp(out->groups[x->group].name, out->groups[y->group].name);
			if (!c)
				c = (int)x->kind - (int)y->kind;
			if (c <= 0)
				break;
			size_t t = order[j - 1];
			order[j - 1] = order[j];
			order[j] = t;
		}
	for (size_t ni = 0; ni < out->n_namespaces; ni++) {
		const char *ns = out->namespaces[ni];
		struct rec_policy *p;

		if (policy_new(&b, REC_DEFAULT_DENY, ns, NULL) < 0)
			goto out;
		p = &out->policies[out->n_policies - 1];
		p->n_flows = ns_flows[ni];
		if (!ns_flows[ni] &&
		    note(out, xasprintf("namespace %s had no recorded traffic: its default-deny blocks "
					"every connection of its pods", ns)) < 0)
			goto out;
		overperm(&b, &e, NULL, p, NULL);
		for (size_t k = 0; k < e.n_slots; k++) {
			struct slot *s = &e.slots[order[k]];

			if (strcmp(s->ns, ns) != 0 || s->n_edges == 0)
				continue;
			if (policy_new(&b, s->kind, ns,
				       s->group == SIZE_MAX ? NULL : &out->groups[s->group]) < 0)
				goto out;
			p = &out->policies[out->n_policies - 1];
			p->n_flows = s->n_flows;
			if (build_rules(&b, &e, s, p) < 0)
				goto out;
			if (s->kind == REC_DNS) {
				/* Resolvers fall back to TCP for long answers: both. */
				for (size_t ri = 0; ri < p->n_rules; ri++) {
					struct rec_rule *r = &p->rules[ri];
					struct rec_port *v = realloc(r->ports, 2 * sizeof(*v));

					if (!v)
						goto out;
					r->ports = v;
					v[0] = (struct rec_port){ .proto = POL_PROTO_TCP, .port = 53 };
					v[1] = (struct rec_port){ .proto = POL_PROTO_UDP, .port = 53 };
					r->n_ports = 2;
					r->all_ports = false;
					r->ports_unseen = 0;
				}
				/* One rule for every DNS server group. */
				while (p->n_rules > 1) {
					struct rec_rule *r0 = &p->rules[0], *rl = &p->rules[p->n_rules - 1];
					struct rec_peer *v = realloc(r0->peers, (r0->n_peers + rl->n_peers) * sizeof(*v));

					if (!v)
						goto out;
					r0->peers = v;
					memcpy(&v[r0->n_peers], rl->peers, rl->n_peers * sizeof(*v));
					r0->n_peers += rl->n_peers;
					r0->count += rl->count;
					widen(&r0->first_ms, &r0->last_ms, rl->first_ms, rl->last_ms);
					free(rl->peers);
					free(rl->ports);
					p->n_rules--;
				}
			}
			overperm(&b, &e, s, p, resolvers);
		}
	}
	ret = 0;
out:
	if (ret < 0)
		errno = ENOMEM;
	free(order);
	free(resolvers);
	free(ns_flows);
	free(e.v);
	free(e.slots);
	free(e.ing);
	free(e.egr);
	free(b.by_ptr);
	free(b.pod_group);
	free(b.grp_by_addr);
	free(b.ns_order);
	free(b.real);
	free(b.existing);
	return ret;
}

void rec_result_free(struct rec_result *r)
{
	for (size_t i = 0; i < r->n_groups; i++) {
		struct rec_group *g = &r->groups[i];

		free(g->ns);
		free(g->name);
		free(g->desc);
		free(g->pods);
		pol_labels_clear(&g->stable);
		pol_labels_clear(&g->selector);
	}
	free(r->groups);
	for (size_t i = 0; i < r->n_policies; i++) {
		struct rec_policy *p = &r->policies[i];

		for (size_t k = 0; k < p->n_rules; k++) {
			free(p->rules[k].peers);
			free(p->rules[k].ports);
		}
		free(p->rules);
		free(p->ns);
		free(p->name);
	}
	free(r->policies);
	for (size_t i = 0; i < r->n_namespaces; i++)
		free(r->namespaces[i]);
	free(r->namespaces);
	for (size_t i = 0; i < r->n_notes; i++)
		free(r->notes[i]);
	free(r->notes);
	free(r->used);
	memset(r, 0, sizeof(*r));
}

/* ---- output objects -------------------------------------------------- */

static cJSON *labels_json(const struct pol_labels *l)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < l->n; i++)
		if (!cJSON_AddStringToObject(o, l->items[i].key, l->items[i].value)) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

/* {} or {matchLabels: ...}. */
static cJSON *selector_json(const struct pol_labels *l)
{
	cJSON *o = cJSON_CreateObject();

	if (o && l && l->n && !cJSON_AddItemToObject(o, "matchLabels", labels_json(l))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *peer_json(const struct rec_policy *p, const struct rec_peer *q)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	if (ok && q->type == REC_PEER_CIDR) {
		char buf[POL_CIDR_STRLEN];
		cJSON *ib = cJSON_AddObjectToObject(o, "ipBlock");

		ok = ib && cJSON_AddStringToObject(ib, "cidr", pol_cidr_format(&q->cidr, buf, sizeof(buf)));
	} else if (ok) {
		if (strcmp(q->group->ns, p->ns) != 0) {
			struct pol_labels nl = { 0 };
			struct pol_label one = { .key = (char *)"kubernetes.io/metadata.name",
						 .value = q->group->ns };

			nl.items = &one;
			nl.n = 1;
			ok = cJSON_AddItemToObject(o, "namespaceSelector", selector_json(&nl));
		}
		ok = ok && cJSON_AddItemToObject(o, "podSelector", selector_json(&q->group->selector));
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *rule_json(const struct rec_policy *p, const struct rec_rule *r, bool ingress)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *peers = o ? cJSON_AddArrayToObject(o, ingress ? "from" : "to") : NULL;
	bool ok = peers != NULL;

	for (size_t k = 0; ok && k < r->n_peers; k++)
		ok = cJSON_AddItemToArray(peers, peer_json(p, &r->peers[k]));
	if (ok && !r->all_ports && r->n_ports) {
		cJSON *ports = cJSON_AddArrayToObject(o, "ports");

		ok = ports != NULL;
		for (size_t k = 0; ok && k < r->n_ports; k++) {
			cJSON *pt = cJSON_CreateObject();

			ok = pt && cJSON_AddItemToArray(ports, pt) &&
			     cJSON_AddStringToObject(pt, "protocol", pol_proto_name(r->ports[k].proto)) &&
			     cJSON_AddNumberToObject(pt, "port", r->ports[k].port) &&
			     (!r->ports[k].end_port ||
			      cJSON_AddNumberToObject(pt, "endPort", r->ports[k].end_port));
		}
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static char *policy_summary(const struct rec_policy *p)
{
	switch (p->kind) {
	case REC_DEFAULT_DENY:
		return xasprintf("default deny for namespace %s: every pod is isolated for ingress "
				 "and egress; the other recommended policies allow the %zu observed "
				 "flow%s", p->ns, p->n_flows, p->n_flows == 1 ? "" : "s");
	case REC_DNS:
		return xasprintf("DNS lookups of the pods of %s: %zu flow%s to the cluster DNS",
				 p->ns, p->n_flows, p->n_flows == 1 ? "" : "s");
	default: {
		char *sel = labels_text(&p->group->selector);
		char *s, *gone = NULL;
		bool live = false;

		for (size_t i = 0; i < p->group->n_pods; i++)
			live = live || !audit_obs_is_ghost(p->group->pods[i]);
		size_t peers = 0;

		for (size_t i = 0; i < p->n_rules; i++)
			peers += p->rules[i].n_peers;
		if (!live)
			gone = xasprintf("; no pod of it runs now, selected by its recorded labels");
		s = xasprintf("%s of %s (%s; %s): %zu observed flow%s %s %zu peer%s%s",
			      p->kind == REC_INGRESS ? "ingress" : "egress", p->group->name,
			      sel && *sel ? sel : "{}", p->group->desc, p->n_flows, p->n_flows == 1 ? "" : "s",
			      p->kind == REC_INGRESS ? "from" : "to", peers, peers == 1 ? "" : "s",
			      gone ? gone : "");
		free(gone);
		free(sel);
		return s;
	}
	}
}

cJSON *rec_policy_json(const struct rec_policy *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *md, *ann, *spec, *types;
	char *summary = policy_summary(p);
	char t1[40], t2[40], flows[64];
	bool ok;

	if (!o || !summary)
		goto fail;
	snprintf(flows, sizeof(flows), "%zu flow%s, %llu connection%s", p->n_flows,
		 p->n_flows == 1 ? "" : "s", (unsigned long long)p->count, p->count == 1 ? "" : "s");
	ok = cJSON_AddStringToObject(o, "apiVersion", "networking.k8s.io/v1") &&
	     cJSON_AddStringToObject(o, "kind", "NetworkPolicy") &&
	     (md = cJSON_AddObjectToObject(o, "metadata")) &&
	     cJSON_AddStringToObject(md, "name", p->name) &&
	     cJSON_AddStringToObject(md, "namespace", p->ns) &&
	     (ann = cJSON_AddObjectToObject(md, "annotations")) &&
	     cJSON_AddStringToObject(ann, "npshim.io/recommended", summary);
	if (ok && p->kind != REC_DEFAULT_DENY && p->count)
		ok = cJSON_AddStringToObject(ann, "npshim.io/covers", flows) &&
		     cJSON_AddStringToObject(ann, "npshim.io/first-seen", rec_time_format(p->first_ms, t1, sizeof(t1))) &&
		     cJSON_AddStringToObject(ann, "npshim.io/last-seen", rec_time_format(p->last_ms, t2, sizeof(t2)));
	ok = ok && (spec = cJSON_AddObjectToObject(o, "spec")) &&
	     cJSON_AddItemToObject(spec, "podSelector",
				   selector_json(p->group ? &p->group->selector : NULL)) &&
	     (types = cJSON_AddArrayToObject(spec, "policyTypes"));
	if (!ok)
		goto fail;
	if (p->kind == REC_DEFAULT_DENY || p->kind == REC_INGRESS)
		ok = cJSON_AddItemToArray(types, cJSON_CreateString("Ingress"));
	if (ok && p->kind != REC_INGRESS)
		ok = cJSON_AddItemToArray(types, cJSON_CreateString("Egress"));
	if (ok && p->kind != REC_DEFAULT_DENY) {
		cJSON *rules = cJSON_AddArrayToObject(spec, p->kind == REC_INGRESS ? "ingress" : "egress");

		ok = rules != NULL;
		for (size_t i = 0; ok && i < p->n_rules; i++)
			ok = cJSON_AddItemToArray(rules, rule_json(p, &p->rules[i], p->kind == REC_INGRESS));
	}
	if (!ok)
		goto fail;
	free(summary);
	return o;
fail:
	free(summary);
	cJSON_Delete(o);
	errno = ENOMEM;
	return NULL;
}

static void peer_text(FILE *f, const struct rec_policy *p, const struct rec_peer *q)
{
	char buf[POL_CIDR_STRLEN];

	if (q->type == REC_PEER_CIDR) {
		fprintf(f, "%s", pol_cidr_format(&q->cidr, buf, sizeof(buf)));
		if (q->n_addrs > 1)
			fprintf(f, " (%zu addresses seen)", q->n_addrs);
	} else if (strcmp(q->group->ns, p->ns) != 0) {
		fprintf(f, "%s/%s", q->group->ns, q->group->name);
	} else {
		fprintf(f, "%s", q->group->name);
	}
}

char *rec_rule_comment(const struct rec_policy *p, size_t ri)
{
	const struct rec_rule *r = &p->rules[ri];
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	char t[40];
	bool any = false;

	if (!f)
		return NULL;
	fprintf(f, "%s ", p->kind == REC_INGRESS ? "from" : "to");
	for (size_t k = 0; k < r->n_peers; k++) {
		if (k)
			fprintf(f, ", ");
		peer_text(f, p, &r->peers[k]);
	}
	fprintf(f, ": %llu connection%s, last %s; over-permission: ",
		(unsigned long long)r->count, r->count == 1 ? "" : "s",
		rec_time_format(r->last_ms, t, sizeof(t)));
	if (r->all_ports) {
		fprintf(f, "every port (ICMP was seen and NetworkPolicy cannot name it)");
		any = true;
	}
	if (r->ports_unseen) {
		fprintf(f, "%s%llu of %llu ports never used", any ? ", " : "",
			(unsigned long long)r->ports_unseen, (unsigned long long)r->ports_open);
		any = true;
	}
	if (r->pod_pairs_unseen) {
		fprintf(f, "%s%llu of %llu pod pairs never seen", any ? ", " : "",
			(unsigned long long)r->pod_pairs_unseen, (unsigned long long)r->pod_pairs);
		any = true;
	}
	if (r->addrs_unseen) {
		fprintf(f, "%s%llu addresses never contacted", any ? ", " : "",
			(unsigned long long)r->addrs_unseen);
		any = true;
	}
	if (!any)
		fprintf(f, "none");
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

size_t rec_prove(const struct pol_model *proof, const struct audit_obs_set *obs,
		 const struct rec_result *r, unsigned eval_flags, struct rec_cover *cover,
		 size_t *pairs)
{
	size_t missing = 0;

	*pairs = 0;
	for (size_t i = 0; i < obs->n; i++) {
		const struct audit_obs *o = obs->v[i];

		memset(&cover[i], 0, sizeof(cover[i]));
		cover[i].covered = true;
		if (i >= r->n_used || !r->used[i])
			continue;
		for (size_t a = 0; a < o->src.n_eval && cover[i].covered; a++)
			for (size_t c = 0; c < o->dst.n_eval && cover[i].covered; c++) {
				struct pol_flow f = { .src = o->src.eval[a], .dst = o->dst.eval[c],
						      .proto = o->proto, .port = o->port };

				pol_eval(proof, &f, eval_flags, &cover[i].verdict);
				(*pairs)++;
				if (!cover[i].verdict.allowed) {
					cover[i].covered = false;
					cover[i].flow = f;
				}
			}
		if (!cover[i].covered)
			missing++;
	}
	return missing;
}

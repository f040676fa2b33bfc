/* SPDX-License-Identifier: Apache-2.0 */
/* policy/objects.c - the decoded object graph: ownership, labels, selectors,
 * addresses and protocol names. Pure: no I/O.
 */
#include "policy/objects.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cluster container ------------------------------------------------- */

struct pol_cluster *pol_cluster_new(void)
{
	struct pol_cluster *c = calloc(1, sizeof(*c));

	if (!c)
		errno = ENOMEM;
	return c;
}

void pol_cluster_free(struct pol_cluster *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_namespaces; i++)
		pol_namespace_free(c->namespaces[i]);
	for (i = 0; i < c->n_pods; i++)
		pol_pod_free(c->pods[i]);
	for (i = 0; i < c->n_policies; i++)
		pol_policy_free(c->policies[i]);
	free(c->namespaces);
	free(c->pods);
	free(c->policies);
	free(c);
}

/* Grow *arr (of pointers) so that it holds n + extra entries. The capacity
 * is read back from the allocator, so arrays that a caller allocated itself
 * with exactly n entries are grown correctly too. */
static int ptr_reserve(void ***arr, size_t n, size_t extra)
{
	size_t want = n + extra, cap;
	void **p;

	if (want < n || want > SIZE_MAX / sizeof(*p) / 2) {
		errno = ENOMEM;
		return -1;
	}
	if (*arr && malloc_usable_size(*arr) >= want * sizeof(*p))
		return 0;
	for (cap = 8; cap < want; cap *= 2)
		;
	p = realloc(*arr, cap * sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	*arr = p;
	return 0;
}

int pol_cluster_add_namespace(struct pol_cluster *c, struct pol_namespace *obj)
{
	if (ptr_reserve((void ***)&c->namespaces, c->n_namespaces, 1) < 0) {
		pol_namespace_free(obj);
		return -1;
	}
	c->namespaces[c->n_namespaces++] = obj;
	return 0;
}

int pol_cluster_add_pod(struct pol_cluster *c, struct pol_pod *obj)
{
	if (ptr_reserve((void ***)&c->pods, c->n_pods, 1) < 0) {
		pol_pod_free(obj);
		return -1;
	}
	c->pods[c->n_pods++] = obj;
	return 0;
}

int pol_cluster_add_policy(struct pol_cluster *c, struct pol_policy *obj)
{
	if (ptr_reserve((void ***)&c->policies, c->n_policies, 1) < 0) {
		pol_policy_free(obj);
		return -1;
	}
	c->policies[c->n_policies++] = obj;
	return 0;
}

int pol_cluster_merge(struct pol_cluster *dst, struct pol_cluster *src)
{
	/* Reserve everything first so that a failure leaves both unchanged. */
	if (ptr_reserve((void ***)&dst->namespaces, dst->n_namespaces, src->n_namespaces) < 0 ||
	    ptr_reserve((void ***)&dst->pods, dst->n_pods, src->n_pods) < 0 ||
	    ptr_reserve((void ***)&dst->policies, dst->n_policies, src->n_policies) < 0)
		return -1;
	if (src->n_namespaces)
		memcpy(dst->namespaces + dst->n_namespaces, src->namespaces,
		       src->n_namespaces * sizeof(*src->namespaces));
	if (src->n_pods)
		memcpy(dst->pods + dst->n_pods, src->pods,
		       src->n_pods * sizeof(*src->pods));
	if (src->n_policies)
		memcpy(dst->policies + dst->n_policies, src->policies,
		       src->n_policies * sizeof(*src->policies));
	dst->n_namespaces += src->n_namespaces;
	dst->n_pods += src->n_pods;
	dst->n_policies += src->n_policies;
	free(src->namespaces);
	free(src->pods);
	free(src->policies);
	src->namespaces = NULL;
	src->pods = NULL;
	src->policies = NULL;
	src->n_namespaces = src->n_pods = src->n_policies = 0;
	return 0;
}

/* ---- destructors ------------------------------------------------------- */

void pol_labels_clear(struct pol_labels *labels)
{
	size_t i;

	if (!labels)
		return;
	for (i = 0; i < labels->n; i++) {
		free(labels->items[i].key);
		free(labels->items[i].value);
	}
	free(labels->items);
	labels->items = NULL;
	labels->n = 0;
}

static void sel_expr_clear(struct pol_sel_expr *e)
{
	size_t i;

	free(e->key);
	for (i = 0; i < e->n_values; i++)
		free(e->values[i]);
	free(e->values);
}

void pol_selector_clear(struct pol_selector *sel)
{
	size_t i;

	if (!sel)
		return;
	pol_labels_clear(&sel->match_labels);
	for (i = 0; i < sel->n_exprs; i++)
		sel_expr_clear(&sel->exprs[i]);
	free(sel->exprs);
	sel->exprs = NULL;
	sel->n_exprs = 0;
}

static void selector_free(struct pol_selector *sel)
{
	if (!sel)
		return;
	pol_selector_clear(sel);
	free(sel);
}

static void ipblock_free(struct pol_ipblock *b)
{
	if (!b)
		return;
	free(b->except);
	free(b);
}

static void rules_free(struct pol_rule *rules, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct pol_rule *r = &rules[i];

		for (j = 0; j < r->n_peers; j++) {
			selector_free(r->peers[j].pod_sel);
			selector_free(r->peers[j].ns_sel);
			ipblock_free(r->peers[j].ipblock);
		}
		free(r->peers);
		for (j = 0; j < r->n_ports; j++)
			free(r->ports[j].name);
		free(r->ports);
	}
	free(rules);
}

void pol_namespace_free(struct pol_namespace *ns)
{
	if (!ns)
		return;
	free(ns->name);
	pol_labels_clear(&ns->labels);
	free(ns->origin);
	free(ns);
}

void pol_pod_free(struct pol_pod *pod)
{
	size_t i;

	if (!pod)
		return;
	free(pod->ns);
	free(pod->name);
	pol_labels_clear(&pod->labels);
	free(pod->node_name);
	free(pod->ips);
	for (i = 0; i < pod->n_ports; i++)
		free(pod->ports[i].name);
	free(pod->ports);
	free(pod->owner_kind);
	free(pod->owner_name);
	free(pod->origin);
	free(pod);
}

void pol_policy_free(struct pol_policy *pol)
{
	if (!pol)
		return;
	free(pol->ns);
	free(pol->name);
	pol_selector_clear(&pol->pod_sel);
	rules_free(pol->ingress, pol->n_ingress);
	rules_free(pol->egress, pol->n_egress);
	free(pol->origin);
	free(pol);
}

/* ---- labels ------------------------------------------------------------ */

/* Index of key, or -(insertion point) - 1 when absent. */
static ptrdiff_t labels_find(const struct pol_labels *labels, const char *key)
{
	size_t lo = 0, hi = labels->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(labels->items[mid].key, key);

		if (c == 0)
			return (ptrdiff_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(ptrdiff_t)lo - 1;
}

int pol_labels_set(struct pol_labels *labels, const char *key, const char *value)
{
	ptrdiff_t at = labels_find(labels, key);
	struct pol_label *items;
	char *k, *v;
	size_t pos;

	v = strdup(value);
	if (!v) {
		errno = ENOMEM;
		return -1;
	}
	if (at >= 0) {
		free(labels->items[at].value);
		labels->items[at].value = v;
		return 0;
	}
	k = strdup(key);
	items = k ? realloc(labels->items, (labels->n + 1) * sizeof(*items)) : NULL;
	if (!items) {
		free(k);
		free(v);
		errno = ENOMEM;
		return -1;
	}
	pos = (size_t)(-at - 1);
	memmove(&items[pos + 1], &items[pos], (labels->n - pos) * sizeof(*items));
	items[pos].key = k;
	items[pos].value = v;
	labels->items = items;
	labels->n++;
	return 0;
}

const char *pol_labels_get(const struct pol_labels *labels, const char *key)
{
	ptrdiff_t at = labels_find(labels, key);

	return at >= 0 ? labels->items[at].value : NULL;
}

/* ---- selectors --------------------------------------------------------- */

static bool value_in(const struct pol_sel_expr *e, const char *value)
{
	size_t i;

	for (i = 0; i < e->n_values; i++)
		if (strcmp(e->values[i], value) == 0)
			return true;
	return false;
}

bool pol_selector_matches(const struct pol_selector *sel, const struct pol_labels *labels)
{
	size_t i;

	for (i = 0; i < sel->match_labels.n; i++) {
		const char *v = pol_labels_get(labels, sel->match_labels.items[i].key);

		if (!v || strcmp(v, sel->match_labels.items[i].value) != 0)
			return false;
	}
	for (i = 0; i < sel->n_exprs; i++) {
		const struct pol_sel_expr *e = &sel->exprs[i];
		const char *v = pol_labels_get(labels, e->key);

		switch (e->op) {
		case POL_SEL_IN:
			if (!v || !value_in(e, v))
				return false;
			break;
		case POL_SEL_NOT_IN:
			/* An absent key satisfies NotIn (apimachinery semantics). */
			if (v && value_in(e, v))
				return false;
			break;
		case POL_SEL_EXISTS:
			if (!v)
				return false;
			break;
		case POL_SEL_DOES_NOT_EXIST:
			if (v)
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* ---- deep copy --------------------------------------------------------- */

static char *dup_opt(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

static void *dup_mem(const void *src, size_t n, size_t size, bool *fail)
{
	void *d;

	if (!src || n == 0)
		return NULL;
	d = malloc(n * size);
	if (!d) {
		*fail = true;
		return NULL;
	}
	memcpy(d, src, n * size);
	return d;
}

static void labels_copy(struct pol_labels *dst, const struct pol_labels *src, bool *fail)
{
	size_t i;

	dst->items = NULL;
	dst->n = 0;
	if (!src->n)
		return;
	dst->items = calloc(src->n, sizeof(*dst->items));
	if (!dst->items) {
		*fail = true;
		return;
	}
	dst->n = src->n;
	for (i = 0; i < src->n; i++) {
		dst->items[i].key = dup_opt(src->items[i].key, fail);
		dst->items[i].value = dup_opt(src->items[i].value, fail);
	}
}

static void selector_copy(struct pol_selector *dst, const struct pol_selector *src, bool *fail)
{
	size_t i, j;

	labels_copy(&dst->match_labels, &src->match_labels, fail);
	dst->exprs = NULL;
	dst->n_exprs = 0;
	if (!src->n_exprs)
		return;
	dst->exprs = calloc(src->n_exprs, sizeof(*dst->exprs));
	if (!dst->exprs) {
		*fail = true;
		return;
	}
	dst->n_exprs = src->n_exprs;
	for (i = 0; i < src->n_exprs; i++) {
		const struct pol_sel_expr *s = &src->exprs[i];
		struct pol_sel_expr *d = &dst->exprs[i];

		d->key = dup_opt(s->key, fail);
		d->op = s->op;
		if (!s->n_values)
			continue;
		d->values = calloc(s->n_values, sizeof(*d->values));
		if (!d->values) {
			*fail = true;
			continue;
		}
		d->n_values = s->n_values;
		for (j = 0; j < s->n_values; j++)
			d->values[j] = dup_opt(s->values[j], fail);
	}
}

static struct pol_selector *selector_dup(const struct pol_selector *src, bool *fail)
{
	struct pol_selector *d;

	if (!src)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		*fail = true;
		return NULL;
	}
	selector_copy(d, src, fail);
	return d;
}

static struct pol_rule *rules_dup(const struct pol_rule *src, size_t n, bool *fail)
{
	struct pol_rule *d;
	size_t i, j;

	if (!n)
		return NULL;
	d = calloc(n, sizeof(*d));
	if (!d) {
		*fail = true;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const struct pol_rule *s = &src[i];

		if (s->n_peers) {
			d[i].peers = calloc(s->n_peers, sizeof(*d[i].peers));
			if (!d[i].peers) {
				*fail = true;
			} else {
				d[i].n_peers = s->n_peers;
				for (j = 0; j < s->n_peers; j++) {
					const struct pol_peer *sp = &s->peers[j];
					struct pol_peer *dp = &d[i].peers[j];

					dp->pod_sel = selector_dup(sp->pod_sel, fail);
					dp->ns_sel = selector_dup(sp->ns_sel, fail);
					if (!sp->ipblock)
						continue;
					dp->ipblock = calloc(1, sizeof(*dp->ipblock));
					if (!dp->ipblock) {
						*fail = true;
						continue;
					}
					dp->ipblock->cidr = sp->ipblock->cidr;
					dp->ipblock->except = dup_mem(sp->ipblock->except,
								      sp->ipblock->n_except,
								      sizeof(struct pol_cidr), fail);
					if (dp->ipblock->except)
						dp->ipblock->n_except = sp->ipblock->n_except;
				}
			}
		}
		if (s->n_ports) {
			d[i].ports = dup_mem(s->ports, s->n_ports, sizeof(*s->ports), fail);
			if (d[i].ports) {
				d[i].n_ports = s->n_ports;
				for (j = 0; j < s->n_ports; j++)
					d[i].ports[j].name = dup_opt(s->ports[j].name, fail);
			}
		}
	}
	return d;
}

static struct pol_namespace *namespace_dup(const struct pol_namespace *s)
{
	struct pol_namespace *d = calloc(1, sizeof(*d));
	bool fail = false;

	if (!d)
		return NULL;
	d->name = dup_opt(s->name, &fail);
	labels_copy(&d->labels, &s->labels, &fail);
	d->origin = dup_opt(s->origin, &fail);
	if (fail) {
		pol_namespace_free(d);
		return NULL;
	}
	return d;
}

static struct pol_pod *pod_dup(const struct pol_pod *s)
{
	struct pol_pod *d = calloc(1, sizeof(*d));
	bool fail = false;
	size_t i;

	if (!d)
		return NULL;
	*d = *s;
	d->ns = dup_opt(s->ns, &fail);
	d->name = dup_opt(s->name, &fail);
	labels_copy(&d->labels, &s->labels, &fail);
	d->node_name = dup_opt(s->node_name, &fail);
	d->ips = dup_mem(s->ips, s->n_ips, sizeof(*s->ips), &fail);
	d->n_ips = d->ips ? s->n_ips : 0;
	d->ports = dup_mem(s->ports, s->n_ports, sizeof(*s->ports), &fail);
	d->n_ports = d->ports ? s->n_ports : 0;
	for (i = 0; i < d->n_ports; i++)
		d->ports[i].name = dup_opt(s->ports[i].name, &fail);
	d->owner_kind = dup_opt(s->owner_kind, &fail);
	d->owner_name = dup_opt(s->owner_name, &fail);
	d->origin = dup_opt(s->origin, &fail);
	if (fail) {
		pol_pod_free(d);
		return NULL;
	}
	return d;
}

static struct pol_policy *policy_dup(const struct pol_policy *s)
{
	struct pol_policy *d = calloc(1, sizeof(*d));
	bool fail = false;

	if (!d)
		return NULL;
	d->ns = dup_opt(s->ns, &fail);
	d->name = dup_opt(s->name, &fail);
	selector_copy(&d->pod_sel, &s->pod_sel, &fail);
	d->type_ingress = s->type_ingress;
	d->type_egress = s->type_egress;
	d->ingress = rules_dup(s->ingress, s->n_ingress, &fail);
	d->n_ingress = d->ingress ? s->n_ingress : 0;
	d->egress = rules_dup(s->egress, s->n_egress, &fail);
	d->n_egress = d->egress ? s->n_egress : 0;
	d->staged = s->staged;
	d->origin = dup_opt(s->origin, &fail);
	if (fail) {
		pol_policy_free(d);
		return NULL;
	}
	return d;
}

struct pol_cluster *pol_cluster_clone(const struct pol_cluster *c)
{
	struct pol_cluster *d = pol_cluster_new();
	size_t i;

	if (!d)
		return NULL;
	for (i = 0; i < c->n_namespaces; i++) {
		struct pol_namespace *o = namespace_dup(c->namespaces[i]);

		if (!o || pol_cluster_add_namespace(d, o) < 0)
			goto fail;
	}
	for (i = 0; i < c->n_pods; i++) {
		struct pol_pod *o = pod_dup(c->pods[i]);

		if (!o || pol_cluster_add_pod(d, o) < 0)
			goto fail;
	}
	for (i = 0; i < c->n_policies; i++) {
		struct pol_policy *o = policy_dup(c->policies[i]);

		if (!o || pol_cluster_add_policy(d, o) < 0)
			goto fail;
	}
	return d;
fail:
	pol_cluster_free(d);
	errno = ENOMEM;
	return NULL;
}

/* ---- addresses --------------------------------------------------------- */

static const uint8_t v4_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

bool pol_ip_is_v4(const struct pol_ip *ip)
{
	return memcmp(ip->b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

/* Dotted quad, exactly four decimal octets. Leading zeros are read as
 * decimal, as the API server's (sloppy) parser does, never as octal. */
static bool parse_v4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t digits = 0;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (unsigned)(s[i] - '0');
			if (++digits > 3 || v > 255)
				return false;
			i++;
		}
		if (!digits)
			return false;
		out[part] = (uint8_t)v;
	}
	return i == len;
}

/* Parse s[0..len) as an address; IPv4 comes back IPv4-mapped. */
static bool parse_ip_n(const char *s, size_t len, struct pol_ip *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	uint8_t v4[4];
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == ':')
			break;
	if (i == len) {
		if (!parse_v4(s, len, v4))
			return false;
		memcpy(out->b, v4_mapped_prefix, 12);
		memcpy(out->b + 12, v4, 4);
		return true;
	}
	/* inet_pton rejects zone ids, whitespace and any junk on its own; the
	 * copy bounds the input and NUL-terminates it. */
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, out->b) == 1;
}

bool pol_ip_parse(const char *text, struct pol_ip *out)
{
	struct pol_ip ip;

	if (!text || !parse_ip_n(text, strlen(text), &ip))
		return false;
	*out = ip;
	return true;
}

static void mask_bits(struct pol_ip *ip, unsigned len)
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		unsigned lo = i * 8;

		if (len >= lo + 8)
			continue;
		if (len <= lo)
			ip->b[i] = 0;
		else
			ip->b[i] &= (uint8_t)(0xff00u >> (len - lo));
	}
}

bool pol_cidr_parse(const char *text, struct pol_cidr *out)
{
	const char *slash;
	struct pol_cidr c;
	unsigned len = 0, max;
	size_t digits = 0;
	const char *p;
	bool v4_text;

	if (!text)
		return false;
	slash = strchr(text, '/');
	if (!slash || !parse_ip_n(text, (size_t)(slash - text), &c.addr))
		return false;
	v4_text = memchr(text, ':', (size_t)(slash - text)) == NULL;
	for (p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9' || ++digits > 3)
			return false;
		len = len * 10 + (unsigned)(*p - '0');
	}
	max = v4_text ? 32 : 128;
	if (!digits || len > max)
		return false;
	if (v4_text)
		len += 96;
	mask_bits(&c.addr, len);
	c.len = (uint8_t)len;
	/* An IPv4-mapped network written in IPv6 notation with at least /96 is
	 * an IPv4 network, as Go's net.IPNet treats it; every other IPv6 network
	 * never contains an IPv4 address. */
	c.v4 = len >= 96 && pol_ip_is_v4(&c.addr);
	*out = c;
	return true;
}

bool pol_cidr_contains(const struct pol_cidr *cidr, const struct pol_ip *ip)
{
	unsigned full = cidr->len / 8, rest = cidr->len % 8;

	if (cidr->v4 != pol_ip_is_v4(ip))
		return false;
	if (memcmp(cidr->addr.b, ip->b, full) != 0)
		return false;
	if (rest && ((cidr->addr.b[full] ^ ip->b[full]) & (uint8_t)(0xff00u >> rest)))
		return false;
	return true;
}

char *pol_ip_format(const struct pol_ip *ip, char *buf, size_t len)
{
	if (!len)
		return buf;
	if (pol_ip_is_v4(ip)) {
		snprintf(buf, len, "%u.%u.%u.%u", ip->b[12], ip->b[13], ip->b[14], ip->b[15]);
		return buf;
	}
	if (!inet_ntop(AF_INET6, ip->b, buf, (socklen_t)(len > 0x7fffffff ? 0x7fffffff : len)))
		buf[0] = '\0';
	return buf;
}

char *pol_cidr_format(const struct pol_cidr *cidr, char *buf, size_t len)
{
	char ip[POL_IP_STRLEN];

	if (!len)
		return buf;
	pol_ip_format(&cidr->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, cidr->v4 ? cidr->len - 96u : cidr->len);
	return buf;
}

/* ---- protocols --------------------------------------------------------- */

const char *pol_proto_name(uint8_t proto)
{
	switch (proto) {
	case POL_PROTO_TCP:
		return "TCP";
	case POL_PROTO_UDP:
		return "UDP";
	case POL_PROTO_SCTP:
		return "SCTP";
	case POL_PROTO_ICMP:
		return "ICMP";
	case POL_PROTO_ICMPV6:
		return "ICMPv6";
	default:
		return NULL;
	}
}

uint8_t pol_proto_parse(const char *name)
{
	static const uint8_t all[] = {
		POL_PROTO_TCP, POL_PROTO_UDP, POL_PROTO_SCTP, POL_PROTO_ICMP, POL_PROTO_ICMPV6,
	};
	size_t i;

	if (!name)
		return 0;
	for (i = 0; i < sizeof(all); i++)
		if (strcmp(name, pol_proto_name(all[i])) == 0)
			return all[i];
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* audit/pipeline.c - ring -> aggregation -> SQLite, on one store thread. */
#include "audit/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/ring.h"
#include "core/log.h"
#include "store/store.h"

/* ---- ring slots ------------------------------------------------------ */

/* Strings copied by submit. The key strings come first so that, should a
 * slot overflow, only pod names and labels get cut, never the identity
 * that rows are aggregated on. */
enum {
	S_SRC_NS,
	S_SRC_KIND,
	S_SRC_NAME,
	S_DST_NS,
	S_DST_KIND,
	S_DST_NAME,
	S_POLICIES,
	S_SRC_POD,
	S_DST_POD,
	S_SRC_LABELS,
	S_DST_LABELS,
	S__N,
};

#define SLOT_BUF 880

struct slot {
	uint64_t time_ns;
	uint64_t generation;
	struct pol_ip src_ip;
	struct pol_ip dst_ip;
	uint16_t port;
	uint8_t proto;
	uint8_t verdict;
	uint8_t mode;
	uint8_t dirs;
	uint8_t src_kind;
	uint8_t dst_kind;
	uint16_t off[S__N];
	uint16_t len[S__N];
	char buf[SLOT_BUF]; /* each string NUL-terminated */
};

struct slot_writer {
	struct slot *s;
	size_t used;
	bool truncated;
};

/* Start string idx; returns the room left for it (excluding the NUL). */
static size_t sw_open(struct slot_writer *w, int idx)
{
	/* A full buffer ends with a NUL (sw_close): point there, empty. */
	w->s->off[idx] = (uint16_t)(w->used < SLOT_BUF ? w->used : SLOT_BUF - 1);
	w->s->len[idx] = 0;
	return w->used < SLOT_BUF ? SLOT_BUF - w->used - 1 : 0;
}

static void sw_append(struct slot_writer *w, int idx, const char *str, size_t n)
{
	size_t room = w->used < SLOT_BUF ? SLOT_BUF - w->used - 1 : 0;

	if (n > room) {
		n = room;
		w->truncated = true;
	}
	memcpy(w->s->buf + w->used, str, n);
	w->used += n;
	w->s->len[idx] = (uint16_t)(w->s->len[idx] + n);
}

static void sw_close(struct slot_writer *w)
{
	if (w->used < SLOT_BUF)
		w->s->buf[w->used++] = '\0';
	else
		w->s->buf[SLOT_BUF - 1] = '\0';
}

static void sw_put(struct slot_writer *w, int idx, const char *str, size_t n)
{
	sw_open(w, idx);
	if (str)
		sw_append(w, idx, str, n);
	sw_close(w);
}

static void sw_puts(struct slot_writer *w, int idx, const char *str)
{
	sw_put(w, idx, str, str ? strlen(str) : 0);
}

/* Labels that change with every rollout and tell the reader nothing. */
static bool label_is_noise(const char *key)
{
	return strcmp(key, "pod-template-hash") == 0 ||
	       strcmp(key, "controller-revision-hash") == 0 ||
	       strcmp(key, "pod-template-generation") == 0;
}

static void sw_labels(struct slot_writer *w, int idx, const struct pol_pod *pod)
{
	bool first = true;

	sw_open(w, idx);
	for (size_t i = 0; pod && i < pod->labels.n; i++) {
		const struct pol_label *l = &pod->labels.items[i];
		size_t kl = strlen(l->key), vl = strlen(l->value);
		size_t room = w->used < SLOT_BUF ? SLOT_BUF - w->used - 1 : 0;

		if (label_is_noise(l->key))
			continue;
		/* Whole labels only: a cut "key=val" would read as a real
		 * label with another value. */
		if (kl + vl + 2 > room) {
			w->truncated = true;
			break;
		}
		if (!first)
			sw_append(w, idx, ",", 1);
		sw_append(w, idx, l->key, kl);
		sw_append(w, idx, "=", 1);
		sw_append(w, idx, l->value, vl);
		first = false;
	}
	sw_close(w);
}

static void sw_endpoint(struct slot_writer *w, int ns_idx, const struct pol_pod *pod)
{
	const char *kind, *name;
	size_t name_len;

	if (!pod) {
		/* Node and external endpoints are named by address on the
		 * store thread: no formatting on the packet path. */
		sw_puts(w, ns_idx, "");
		sw_puts(w, ns_idx + 1, "");
		sw_puts(w, ns_idx + 2, "");
		return;
	}
	audit_workload_of(pod, &kind, &name, &name_len);
	sw_puts(w, ns_idx, pod->ns);
	sw_puts(w, ns_idx + 1, kind);
	sw_put(w, ns_idx + 2, name, name_len);
}

static bool seen_before(const struct pol_policy *const *list, size_t n,
			const struct pol_policy *pol)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == pol)
			return true;
	return false;
}

static void sw_policies(struct slot_writer *w, const struct audit_record *r)
{
	bool first = true;

	sw_open(w, S_POLICIES);
	for (int dir = 0; dir < 2; dir++) {
		const struct pol_policy *const *list = dir ? r->ingress_policies : r->egress_policies;
		size_t n = dir ? r->n_ingress_policies : r->n_egress_policies;

		for (size_t i = 0; list && i < n; i++) {
			const struct pol_policy *pol = list[i];

			if (!pol || seen_before(list, i, pol) ||
			    (dir && seen_before(r->egress_policies, r->n_egress_policies, pol)))
				continue;
			if (!first)
				sw_append(w, S_POLICIES, ",", 1);
			if (pol->ns) {
				sw_append(w, S_POLICIES, pol->ns, strlen(pol->ns));
				sw_append(w, S_POLICIES, "/", 1);
			}
			if (pol->name)
				sw_append(w, S_POLICIES, pol->name, strlen(pol->name));
			first = false;
		}
	}
	sw_close(w);
}

static const char *slot_str(const struct slot *s, int idx)
{
	return s->buf + s->off[idx];
}

/* ---- aggregation groups ------------------------------------------------ */

#define SAMPLES 4

enum { K_SRC_NS, K_SRC_KIND, K_SRC_NAME, K_DST_NS, K_DST_KIND, K_DST_NAME, K_POLICIES, K__N };

struct group {
	struct group *next; /* hash chain */
	size_t index;       /* in pipeline.groups */
	uint64_t hash;
	int64_t bucket;
	int64_t first_ms;
	int64_t last_ms;
	uint64_t pending;   /* records not yet committed */
	uint64_t generation;
	uint16_t port;
	uint8_t proto, verdict, mode, dirs;
	bool samples_dirty;
	const char *k[K__N]; /* into keybuf */
	struct pol_ip src_ips[SAMPLES], dst_ips[SAMPLES];
	uint8_t n_src_ips, n_dst_ips, n_src_pods, n_dst_pods;
	char *src_pods[SAMPLES], *dst_pods[SAMPLES];
	char *src_labels, *dst_labels;
	char keybuf[];
};

struct audit_pipeline {
	struct ring *ring;
	enum audit_record_scope record;
	char *db_path;
	char *node;
	uint64_t retention_s;
	uint64_t max_db_bytes;
	uint32_t flush_ms;
	uint32_t max_groups;

	/* producer-side counters */
	_Atomic uint64_t filtered, dropped_full, truncated;
	/* store-thread counters, read by audit_pipeline_stats() */
	_Atomic uint64_t drained, dropped_groups, dropped_store, records_written,
		rows_written, flushes, flush_errors, busy, pruned, corrupt_moved;

	/* store thread state */
	pthread_t thread;
	struct store *store;
	struct group **table; /* hash buckets */
	size_t table_mask;
	struct group **groups;
	size_t n_groups;
	size_t n_dirty_hint;
	int state;            /* 0 ok, else -errno of the last failure */
	uint64_t retry_at_ms; /* monotonic; no DB attempt before */
	uint64_t backoff_ms;
	uint64_t next_prune_ms;
	uint64_t next_optimize_ms;
	uint64_t roll_failures; /* in a row; they only slow readers down */
	uint64_t last_touch_ms;
	bool run_started;
	char *scratch;        /* joined samples for one row */
	size_t scratch_len;

	/* control, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	uint64_t flush_req, flush_done;
	int flush_result;
	char state_msg[160];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define CNT_ADD(p, field, n) atomic_fetch_add_explicit(&(p)->field, (n), memory_order_relaxed)
#define CNT_GET(p, field) atomic_load_explicit(&((struct audit_pipeline *)(p))->field, memory_order_relaxed)

bool audit_pipeline_wants(const struct audit_pipeline *p, enum audit_rec_verdict v)
{
	return v != AUDIT_REC_ALLOW || p->record == AUDIT_RECORD_ALL;
}

bool audit_pipeline_submit(struct audit_pipeline *p, const struct audit_record *r)
{
	struct slot_writer w;
	struct slot *s;
	uint64_t ticket;

	if (!audit_pipeline_wants(p, r->verdict)) {
		CNT_ADD(p, filtered, 1);
		return true;
	}
	s = ring_claim(p->ring, &ticket);
	if (!s) {
		CNT_ADD(p, dropped_full, 1);
		return false;
	}
	s->time_ns = r->time_ns ? r->time_ns : real_ns();
	s->generation = r->generation;
	s->src_ip = r->flow.src;
	s->dst_ip = r->flow.dst;
	s->port = r->flow.port;
	s->proto = r->flow.proto;
	s->verdict = (uint8_t)r->verdict;
	s->mode = (uint8_t)r->mode;
	s->dirs = (uint8_t)r->deny_dirs;
	s->src_kind = (uint8_t)r->src_kind;
	s->dst_kind = (uint8_t)r->dst_kind;
	w.s = s;
	w.used = 0;
	w.truncated = false;
	sw_endpoint(&w, S_SRC_NS, r->src_kind == POL_EP_POD ? r->src_pod : NULL);
	sw_endpoint(&w, S_DST_NS, r->dst_kind == POL_EP_POD ? r->dst_pod : NULL);
	sw_policies(&w, r);
	sw_puts(&w, S_SRC_POD, r->src_kind == POL_EP_POD && r->src_pod ? r->src_pod->name : NULL);
	sw_puts(&w, S_DST_POD, r->dst_kind == POL_EP_POD && r->dst_pod ? r->dst_pod->name : NULL);
	sw_labels(&w, S_SRC_LABELS, r->src_kind == POL_EP_POD ? r->src_pod : NULL);
	sw_labels(&w, S_DST_LABELS, r->dst_kind == POL_EP_POD ? r->dst_pod : NULL);
	ring_publish(p->ring, ticket);
	if (w.truncated)
		CNT_ADD(p, truncated, 1);
	return true;
}

/* Eight bytes at a time (the key strings are 100+ bytes a record), then a
 * final avalanche (splitmix64) so that the low bits used by the hash table
 * depend on every input byte. Also the row key in the database: changing
 * it only means a flow's current minute may get a second row once. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
	const unsigned char *c = data;
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, c, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
		c += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, c, n);
	h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

struct gkey {
	int64_t bucket;
	uint16_t port;
	uint8_t proto, verdict, mode, dirs;
	const char *k[K__N];
	size_t kl[K__N];
};

static uint64_t gkey_hash(const struct gkey *g)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t fixed[6] = { (uint8_t)(g->port >> 8), (uint8_t)g->port, g->proto,
			     g->verdict, g->mode, g->dirs };

	/* Not the bucket: the same flow has the same key every minute, so
	 * readers can count distinct flows over a window with the integer
	 * (COUNT(DISTINCT fkey)) instead of comparing strings. */
	h = hash_bytes(h, fixed, sizeof(fixed));
	for (int i = 0; i < K__N; i++)
		h = hash_bytes(h, g->k[i], g->kl[i] + 1); /* with the NUL: "a","bc" != "ab","c" */
	return mix(h);
}

static bool group_matches(const struct group *gr, const struct gkey *g, uint64_t hash)
{
	if (gr->hash != hash || gr->bucket != g->bucket || gr->port != g->port ||
	    gr->proto != g->proto || gr->verdict != g->verdict || gr->mode != g->mode ||
	    gr->dirs != g->dirs)
		return false;
	for (int i = 0; i < K__N; i++)
		if (strcmp(gr->k[i], g->k[i]) != 0)
			return false;
	return true;
}

static void group_free(struct group *gr)
{
	for (int i = 0; i < gr->n_src_pods; i++)
		free(gr->src_pods[i]);
	for (int i = 0; i < gr->n_dst_pods; i++)
		free(gr->dst_pods[i]);
	free(gr->src_labels);
	free(gr->dst_labels);
	free(gr);
}

static void group_unlink(struct audit_pipeline *p, struct group *gr)
{
	struct group **pp = &p->table[gr->hash & p->table_mask];

	while (*pp != gr)
		pp = &(*pp)->next;
	*pp = gr->next;
	p->groups[gr->index] = p->groups[--p->n_groups];
	p->groups[gr->index]->index = gr->index;
	group_free(gr);
}

static struct group *group_new(struct audit_pipeline *p, const struct gkey *g, uint64_t hash)
{
	size_t total = 0;
	struct group *gr;
	char *at;

	for (int i = 0; i < K__N; i++)
		total += g->kl[i] + 1;
	gr = calloc(1, sizeof(*gr) + total);
	if (!gr)
		return NULL;
	at = gr->keybuf;
	for (int i = 0; i < K__N; i++) {
		memcpy(at, g->k[i], g->kl[i]);
		at[g->kl[i]] = '\0';
		gr->k[i] = at;
		at += g->kl[i] + 1;
	}
	gr->hash = hash;
	gr->bucket = g->bucket;
	gr->port = g->port;
	gr->proto = g->proto;
	gr->verdict = g->verdict;
	gr->mode = g->mode;
	gr->dirs = g->dirs;
	gr->next = p->table[hash & p->table_mask];
	p->table[hash & p->table_mask] = gr;
	gr->index = p->n_groups;
	p->groups[p->n_groups++] = gr;
	return gr;
}

static void sample_ip(struct pol_ip *ips, uint8_t *n, const struct pol_ip *ip, bool *dirty)
{
	for (int i = 0; i < *n; i++)
		if (memcmp(&ips[i], ip, sizeof(*ip)) == 0)
			return;
	if (*n < SAMPLES) {
		ips[(*n)++] = *ip;
		*dirty = true;
	}
}

static void sample_pod(char **pods, uint8_t *n, const char *name, bool *dirty)
{
	if (!*name)
		return;
	for (int i = 0; i < *n; i++)
		if (strcmp(pods[i], name) == 0)
			return;
	if (*n < SAMPLES) {
		char *copy = strdup(name);

		if (copy) {
			pods[(*n)++] = copy;
			*dirty = true;
		}
	}
}

static int flush(struct audit_pipeline *p, bool final);

/* Make room for one more group. Clean groups go first (their rows are in
 * the database; a later record for the same key adds to the row). When
 * every group still waits to be written, try writing now. */
static bool make_room(struct audit_pipeline *p)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = p->n_groups; i-- > 0 && p->n_groups >= p->max_groups;) {
			struct group *gr = p->groups[i];

			if (gr->pending == 0 && !gr->samples_dirty)
				group_unlink(p, gr);
		}
		if (p->n_groups < p->max_groups)
			return true;
		if (pass == 0 && flush(p, false) != 0)
			return false;
	}
	return p->n_groups < p->max_groups;
}

static void consume(struct audit_pipeline *p, const struct slot *s)
{
	char src_ip[POL_IP_STRLEN], dst_ip[POL_IP_STRLEN];
	struct gkey g;
	struct group *gr;
	uint64_t hash;
	int64_t ms = (int64_t)(s->time_ns / 1000000);

	g.bucket = (int64_t)(s->time_ns / 1000000000ULL) / 60 * 60;
	g.port = s->port;
	g.proto = s->proto;
	g.verdict = s->verdict;
	g.mode = s->mode;
	g.dirs = s->dirs;
	for (int i = 0; i < K__N; i++) {
		g.k[i] = slot_str(s, i); /* K_* and S_* agree up to S_POLICIES */
		g.kl[i] = strlen(g.k[i]);
	}
	if (s->src_kind != POL_EP_POD) {
		g.k[K_SRC_KIND] = s->src_kind == POL_EP_NODE ? "Node" : "External";
		g.k[K_SRC_NAME] = pol_ip_format(&s->src_ip, src_ip, sizeof(src_ip));
	}
	if (s->dst_kind != POL_EP_POD) {
		g.k[K_DST_KIND] = s->dst_kind == POL_EP_NODE ? "Node" : "External";
		g.k[K_DST_NAME] = pol_ip_format(&s->dst_ip, dst_ip, sizeof(dst_ip));
	}
	for (int i = K_SRC_KIND; i <= K_DST_NAME; i++)
		g.kl[i] = strlen(g.k[i]);
	hash = gkey_hash(&g);
	for (gr = p->table[hash & p->table_mask]; gr; gr = gr->next)
		if (group_matches(gr, &g, hash))
			break;
	if (!gr) {
		if (p->n_groups >= p->max_groups && !make_room(p)) {
			CNT_ADD(p, dropped_groups, 1);
			return;
		}
		gr = group_new(p, &g, hash);
		if (!gr) {
			CNT_ADD(p, dropped_groups, 1);
			return;
		}
		gr->first_ms = ms;
		gr->last_ms = ms;
	}
	if (ms < gr->first_ms)
		gr->first_ms = ms;
	if (ms > gr->last_ms)
		gr->last_ms = ms;
	if (s->generation > gr->generation)
		gr->generation = s->generation;
	gr->pending++;
	sample_ip(gr->src_ips, &gr->n_src_ips, &s->src_ip, &gr->samples_dirty);
	sample_ip(gr->dst_ips, &gr->n_dst_ips, &s->dst_ip, &gr->samples_dirty);
	sample_pod(gr->src_pods, &gr->n_src_pods, slot_str(s, S_SRC_POD), &gr->samples_dirty);
	sample_pod(gr->dst_pods, &gr->n_dst_pods, slot_str(s, S_DST_POD), &gr->samples_dirty);
	if (!gr->src_labels && *slot_str(s, S_SRC_LABELS)) {
		gr->src_labels = strdup(slot_str(s, S_SRC_LABELS));
		gr->samples_dirty = true;
	}
	if (!gr->dst_labels && *slot_str(s, S_DST_LABELS)) {
		gr->dst_labels = strdup(slot_str(s, S_DST_LABELS));
		gr->samples_dirty = true;
	}
}

/* ---- writing ------------------------------------------------------------ */

/* Join samples into p->scratch at *at; returns the start. */
static const char *join_ips(struct audit_pipeline *p, size_t *at, const struct pol_ip *ips, int n)
{
	char *start = p->scratch + *at;

	*start = '\0';
	for (int i = 0; i < n; i++) {
		char buf[POL_IP_STRLEN];
		int w = snprintf(p->scratch + *at, p->scratch_len - *at, "%s%s",
				 i ? "," : "", pol_ip_format(&ips[i], buf, sizeof(buf)));

		if (w < 0 || (size_t)w >= p->scratch_len - *at)
			break;
		*at += (size_t)w;
	}
	(*at)++;
	return start;
}

static const char *join_strs(struct audit_pipeline *p, size_t *at, char *const *strs, int n)
{
	char *start = p->scratch + *at;

	*start = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(p->scratch + *at, p->scratch_len - *at, "%s%s",
				 i ? "," : "", strs[i]);

		if (w < 0 || (size_t)w >= p->scratch_len - *at)
			break;
		*at += (size_t)w;
	}
	(*at)++;
	return start;
}

static void set_state(struct audit_pipeline *p, int state, const char *msg)
{
	uint64_t dropped = CNT_GET(p, dropped_groups) + CNT_GET(p, dropped_full);

	if (state == p->state)
		return;
	/* One line per change of state, not per failed attempt: a full disk
	 * must not fill the log too. */
	if (state == 0)
		log_info("flow store %s: writing again (records dropped so far: %llu)",
			 p->db_path, (unsigned long long)dropped);
	else
		log_warnx("flow store: %s; packets are still decided, flow records are held "
			  "in memory (bounded) and dropped when it fills; retrying",
			  msg);
	p->state = state;
	pthread_mutex_lock(&p->lock);
	snprintf(p->state_msg, sizeof(p->state_msg), "%s", state ? msg : "ok");
	pthread_mutex_unlock(&p->lock);
}

static void schedule_retry(struct audit_pipeline *p)
{
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 500;
	if (p->backoff_ms > 30000)
		p->backoff_ms = 30000;
	p->retry_at_ms = mono_ms() + p->backoff_ms;
}

static void handle_failure(struct audit_pipeline *p, int ret, const char *msg)
{
	CNT_ADD(p, flush_errors, 1);
	if (ret == -EUCLEAN) {
		char moved[4200];
		int r;

		store_close(p->store);
		p->store = NULL;
		r = store_move_aside(p->db_path, moved, sizeof(moved));
		if (r == 0) {
			CNT_ADD(p, corrupt_moved, 1);
			log_warnx("flow store: %s; moved it to %s and starting a new database",
				  msg, moved);
			p->run_started = false;
			p->retry_at_ms = 0; /* reopen right away */
			p->backoff_ms = 0;
			set_state(p, ret, msg);
			return;
		}
		log_warnx("flow store: %s; cannot move it aside: %s", msg, strerror(-r));
	} else if (ret != -EBUSY && ret != -ENOSPC && p->store) {
		/* Unknown trouble: start from a fresh handle next time. */
		store_close(p->store);
		p->store = NULL;
		p->run_started = false;
	}
	set_state(p, ret, msg);
	schedule_retry(p);
}

static bool ensure_open(struct audit_pipeline *p)
{
	char err[512];
	int ret;

	if (p->store)
		return true;
	if (mono_ms() < p->retry_at_ms)
		return false;
	ret = store_open(p->db_path, p->node, &p->store, err, sizeof(err));
	if (ret) {
		handle_failure(p, ret, err);
		return false;
	}
	return true;
}

static void add_busy(struct audit_pipeline *p)
{
	uint64_t b = p->store ? store_busy_count(p->store) : 0;
	uint64_t seen = CNT_GET(p, busy);

	if (b > seen)
		CNT_ADD(p, busy, b - seen);
}

/* Roll the last complete hour up into the hourly and daily tables (one
 * hour per flush: a backlog after downtime never holds up writing). A
 * failure loses nothing: readers use minute rows past the watermark, and
 * the next flush tries again. */
static void roll(struct audit_pipeline *p)
{
	bool more = false;

	if (!p->store)
		return;
	if (store_roll(p->store, (int64_t)(real_ns() / 1000000000ULL), &more) == 0) {
		if (p->roll_failures)
			log_info("flow store: rolling up again after %llu failures",
				 (unsigned long long)p->roll_failures);
		p->roll_failures = 0;
		return;
	}
	/* Once, then every ten minutes or so of flushes. */
	if (p->roll_failures++ % 600 == 0)
		log_warnx("flow store: rollup: %s", store_errmsg(p->store));
}

static void prune(struct audit_pipeline *p)
{
	uint64_t now = mono_ms();
	int64_t min_bucket = 0;

	if ((!p->retention_s && !p->max_db_bytes) || now < p->next_prune_ms || !p->store)
		return;
	if (p->retention_s)
		min_bucket = (int64_t)(real_ns() / 1000000000ULL) - (int64_t)p->retention_s;
	/* Small batches, each its own short transaction, so a reader or the
	 * next flush never waits long behind a big delete. */
	for (int i = 0; i < 4; i++) {
		uint64_t pruned = 0;
		int ret = store_prune(p->store, min_bucket, p->max_db_bytes, 2000, &pruned);

		if (ret) {
			/* Not a reason to stop writing; try again later. */
			log_warnx("flow store: retention: %s", store_errmsg(p->store));
			p->next_prune_ms = now + 30000;
			return;
		}
		CNT_ADD(p, pruned, pruned);
		if (pruned < 2000) {
			p->next_prune_ms = now + 10000;
			return;
		}
	}
	p->next_prune_ms = now; /* more to do: continue after the next flush */
}

/* Rows per transaction. A normal interval fits in one; a backlog (after a
 * disk-full or read-only spell) is written in several, so that a little
 * free space is enough to make progress and one failure does not undo
 * what the earlier chunks stored. */
#define FLUSH_CHUNK 2000

static void fill_row(struct audit_pipeline *p, const struct group *gr, struct store_row *row)
{
	size_t at = 0;

	row->bucket = gr->bucket;
	row->key = gr->hash;
	row->first_ms = gr->first_ms;
	row->last_ms = gr->last_ms;
	row->count = gr->pending;
	row->src_ns = gr->k[K_SRC_NS];
	row->src_kind = gr->k[K_SRC_KIND];
	row->src_name = gr->k[K_SRC_NAME];
	row->dst_ns = gr->k[K_DST_NS];
	row->dst_kind = gr->k[K_DST_KIND];
	row->dst_name = gr->k[K_DST_NAME];
	row->policies = gr->k[K_POLICIES];
	row->proto = gr->proto;
	row->port = gr->port;
	row->verdict = gr->verdict;
	row->mode = gr->mode;
	row->direction = gr->dirs;
	row->generation = gr->generation;
	row->src_ips = join_ips(p, &at, gr->src_ips, gr->n_src_ips);
	row->dst_ips = join_ips(p, &at, gr->dst_ips, gr->n_dst_ips);
	row->src_pods = join_strs(p, &at, gr->src_pods, gr->n_src_pods);
	row->dst_pods = join_strs(p, &at, gr->dst_pods, gr->n_dst_pods);
	row->src_labels = gr->src_labels ? gr->src_labels : "";
	row->dst_labels = gr->dst_labels ? gr->dst_labels : "";
}

/* Write every group with pending records or new samples, in transactions
 * of at most FLUSH_CHUNK rows, then forget groups of past minutes. After a
 * failure nothing is tried before the retry time (backoff), so a full disk
 * costs one attempt per backoff step, not one per record. */
static int flush(struct audit_pipeline *p, bool final)
{
	int64_t now_ms = (int64_t)(real_ns() / 1000000);
	int64_t cur_bucket = now_ms / 1000 / 60 * 60;
	size_t n_dirty = 0, i = 0;
	int ret;

	if (p->state && mono_ms() < p->retry_at_ms)
		return p->state;
	for (size_t k = 0; k < p->n_groups; k++)
		if (p->groups[k]->pending || p->groups[k]->samples_dirty)
			n_dirty++;
	if (!ensure_open(p))
		return p->state ? p->state : -EAGAIN;
	if (!p->run_started) {
		ret = store_run_start(p->store, now_ms,
				      p->record == AUDIT_RECORD_ALL ? "all" : "denied");
		if (ret)
			goto fail;
		p->run_started = true;
		p->last_touch_ms = (uint64_t)now_ms;
	}
	/* Idle: touch the run at most every 10 s, so the readiness window
	 * knows we were recording even when nothing was denied. */
	if (n_dirty == 0 && !final && (uint64_t)now_ms < p->last_touch_ms + 10000)
		goto done;
	do {
		uint64_t records = 0, rows = 0;
		size_t start = i;

		ret = store_begin(p->store);
		if (ret)
			goto fail;
		for (; i < p->n_groups && rows < FLUSH_CHUNK; i++) {
			struct group *gr = p->groups[i];
			struct store_row row;

			if (!gr->pending && !gr->samples_dirty)
				continue;
			fill_row(p, gr, &row);
			ret = store_put(p->store, &row);
			if (ret)
				goto fail_tx;
			records += gr->pending;
			rows++;
		}
		ret = store_run_touch(p->store, now_ms);
		if (ret)
			goto fail_tx;
		ret = store_commit(p->store);
		if (ret)
			goto fail_tx;
		for (size_t k = start; k < i; k++) {
			p->groups[k]->pending = 0;
			p->groups[k]->samples_dirty = false;
		}
		p->last_touch_ms = (uint64_t)now_ms;
		CNT_ADD(p, records_written, records);
		CNT_ADD(p, rows_written, rows);
		CNT_ADD(p, flushes, 1);
	} while (i < p->n_groups);
done:
	add_busy(p);
	p->backoff_ms = 0;
	p->retry_at_ms = 0;
	set_state(p, 0, NULL);
	/* Groups of minutes before the previous one are complete: forget
	 * them (a straggler would just add to the row). */
	for (size_t k = p->n_groups; k-- > 0;) {
		struct group *gr = p->groups[k];

		if (gr->bucket < cur_bucket - 60 && !gr->pending && !gr->samples_dirty)
			group_unlink(p, gr);
	}
	if (!final) {
		roll(p);
		prune(p);
	}
	/* Readers plan better with statistics; the first run after some
	 * data has landed, then hourly. */
	if (p->store && mono_ms() >= p->next_optimize_ms && CNT_GET(p, rows_written) > 0) {
		if (store_optimize(p->store) != 0)
			log_debug("flow store: %s", store_errmsg(p->store));
		p->next_optimize_ms = mono_ms() + (p->next_optimize_ms ? 3600000 : 60000);
	}
	return 0;

fail_tx:
	store_rollback(p->store);
fail:
	add_busy(p);
	{
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", store_errmsg(p->store));
		handle_failure(p, ret, msg);
	}
	return ret;
}

static size_t drain(struct audit_pipeline *p, size_t max)
{
	size_t n = 0;
	const struct slot *s;

	while (n < max && (s = ring_peek(p->ring))) {
		consume(p, s);
		ring_release(p->ring);
		n++;
	}
	if (n)
		CNT_ADD(p, drained, n);
	return n;
}

#define IDLE_POLL_MIN_NS 1000000L  /* 1 ms */
#define IDLE_POLL_MAX_NS 16000000L /* 16 ms: 3,200 records at 200k/s; the ring has 16k */

static void *store_thread(void *arg)
{
	struct audit_pipeline *p = arg;
	uint64_t next_flush = mono_ms() + p->flush_ms;
	long idle_ns = IDLE_POLL_MIN_NS;

	for (;;) {
		uint64_t req, now;
		bool stopping;
		size_t n;

		pthread_mutex_lock(&p->lock);
		stopping = p->stopping;
		req = p->flush_req;
		pthread_mutex_unlock(&p->lock);

		n = drain(p, 8192);
		now = mono_ms();
		if (stopping) {
			int ret;
			uint64_t lost = 0;

			while (drain(p, 8192))
				;
			p->retry_at_ms = 0; /* the last chance: try now */
			ret = flush(p, true);
			if (ret && p->state) {
				/* The last chance is gone: what is still
				 * pending is lost, and counted. */
				for (size_t i = 0; i < p->n_groups; i++)
					lost += p->groups[i]->pending;
				CNT_ADD(p, dropped_store, lost);
			}
			break;
		}
		if (req != p->flush_done || now >= next_flush) {
			int ret;

			if (req != p->flush_done)
				while (drain(p, 8192))
					;
			if (req != p->flush_done)
				p->retry_at_ms = 0; /* an explicit request tries now */
			ret = flush(p, false);
			next_flush = mono_ms() + p->flush_ms;
			if (req != p->flush_done) {
				pthread_mutex_lock(&p->lock);
				p->flush_done = req;
				p->flush_result = ret;
				pthread_cond_broadcast(&p->cond);
				pthread_mutex_unlock(&p->lock);
			}
			continue;
		}
		if (n == 0) {
			/* Producers never signal (that could make them wait);
			 * poll instead, backing off while the ring stays empty
			 * so an idle node costs ~60 wakeups a second, not 1000.
			 * At the longest sleep the ring holds several times
			 * what arrives meanwhile at 200k records/s. */
			struct timespec ts = { 0, idle_ns };

			nanosleep(&ts, NULL);
			if (idle_ns < IDLE_POLL_MAX_NS)
				idle_ns *= 2;
		} else {
			idle_ns = IDLE_POLL_MIN_NS;
		}
	}
	return NULL;
}

struct audit_pipeline *audit_pipeline_start(const struct audit_pipeline_opts *opts,
					    char *err, size_t errlen)
{
	struct audit_pipeline *p;
	char host[256];
	size_t buckets = 1;
	int rc;

	if (!opts || !opts->db_path || !*opts->db_path) {
		snprintf(err, errlen, "flow store: no database path given");
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	p->record = opts->record;
	p->retention_s = opts->retention_s;
	p->max_db_bytes = opts->max_db_bytes;
	p->flush_ms = opts->flush_interval_ms ? opts->flush_interval_ms : 1000;
	p->max_groups = opts->max_groups ? opts->max_groups : 65536;
	if (!opts->node_name) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "unknown");
		host[sizeof(host) - 1] = '\0';
	}
	p->db_path = strdup(opts->db_path);
	p->node = strdup(opts->node_name ? opts->node_name : host);
	while (buckets < (size_t)p->max_groups * 2)
		buckets <<= 1;
	p->table = calloc(buckets, sizeof(*p->table));
	p->table_mask = buckets - 1;
	p->groups = calloc(p->max_groups, sizeof(*p->groups));
	p->scratch_len = 4 * SAMPLES * 320;
	p->scratch = malloc(p->scratch_len);
	if (!p->db_path || !p->node || !p->table || !p->groups || !p->scratch)
		goto nomem;
	p->ring = ring_new(opts->ring_slots ? opts->ring_slots : 16384, sizeof(struct slot));
	if (!p->ring) {
		snprintf(err, errlen, "flow store: cannot allocate the record ring: %s",
			 strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	snprintf(p->state_msg, sizeof(p->state_msg), "ok");
	p->state = 0;
	/* Open now so that a bad path is reported at startup; failure is not
	 * fatal (the thread retries), the daemon keeps deciding packets. */
	ensure_open(p);
	rc = pthread_create(&p->thread, NULL, store_thread, p);
	if (rc) {
		snprintf(err, errlen, "flow store: cannot start the store thread: %s", strerror(rc));
		store_close(p->store);
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cond);
		errno = rc;
		goto fail;
	}
	return p;
nomem:
	snprintf(err, errlen, "flow store: out of memory");
	errno = ENOMEM;
fail:
	if (p) {
		ring_free(p->ring);
		free(p->table);
		free(p->groups);
		free(p->scratch);
		free(p->db_path);
		free(p->node);
		free(p);
	}
	return NULL;
}

void audit_pipeline_stats(const struct audit_pipeline *p, struct audit_pipeline_stats *out)
{
	struct audit_pipeline *pw = (struct audit_pipeline *)p; /* the lock */

	memset(out, 0, sizeof(*out));
	out->submitted = CNT_GET(p, drained) + ring_used(p->ring);
	out->filtered = CNT_GET(p, filtered);
	out->dropped_full = CNT_GET(p, dropped_full);
	out->dropped_groups = CNT_GET(p, dropped_groups);
	out->dropped_store = CNT_GET(p, dropped_store);
	out->truncated = CNT_GET(p, truncated);
	out->records_written = CNT_GET(p, records_written);
	out->rows_written = CNT_GET(p, rows_written);
	out->flushes = CNT_GET(p, flushes);
	out->flush_errors = CNT_GET(p, flush_errors);
	out->busy = CNT_GET(p, busy);
	out->pruned = CNT_GET(p, pruned);
	out->corrupt_moved = CNT_GET(p, corrupt_moved);
	pthread_mutex_lock(&pw->lock);
	snprintf(out->db_state, sizeof(out->db_state), "%s", pw->state_msg);
	out->db_ok = strcmp(pw->state_msg, "ok") == 0;
	pthread_mutex_unlock(&pw->lock);
}

int audit_pipeline_flush(struct audit_pipeline *p, unsigned timeout_ms)
{
	struct timespec deadline;
	uint64_t my;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	my = ++p->flush_req;
	while (p->flush_done < my && ret == 0)
		ret = pthread_cond_timedwait(&p->cond, &p->lock, &deadline);
	if (p->flush_done >= my)
		ret = p->flush_result ? -EIO : 0;
	else
		ret = -ETIMEDOUT;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void audit_pipeline_stop(struct audit_pipeline *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	while (p->n_groups)
		group_unlink(p, p->groups[p->n_groups - 1]);
	store_close(p->store);
	ring_free(p->ring);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->table);
	free(p->groups);
	free(p->scratch);
	free(p->db_path);
	free(p->node);
	free(p);
}

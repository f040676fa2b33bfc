/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/reflector.c - list+watch state machine for one resource. */
#include "k8s/reflector.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "k8s/api.h"
#include "k8s/decode.h"
#include "k8s/diag.h"
#include "policy/objects.h"

#define LIST_BODY_MAX (512u << 20)
#define WATCH_LINE_MAX (32u << 20)
#define LIST_TIMEOUT_S 120
#define WATCH_MARGIN_S 30
#define SHORT_WATCH_MS 1000
#define ONESHOT_MAX_ATTEMPTS 6

enum next_step {
	STEP_LIST,     /* from the first page */
	STEP_PAGE,     /* the page of r->cont again */
	STEP_WATCH,    /* from r->rv */
};

struct k8s_reflector {
	struct k8s_api *api;
	struct k8s_cache *cache;
	enum k8s_kind kind;
	bool watch;
	unsigned page_size;
	enum k8s_sync_state state;
	enum next_step after_backoff;
	uint64_t backoff_until;
	struct k8s_req *req;

	/* list in progress */
	char *body;
	size_t body_len, body_cap;
	char *cont;
	char *list_rv;
	struct k8s_store *fresh;
	char **failed_keys; /* items we could not decode: keep the old copy */
	size_t n_failed;
	unsigned consecutive_410;

	/* watch in progress */
	char *rv;
	char *line;
	size_t line_len, line_cap;
	uint64_t watch_started;
	uint64_t watch_events;
	bool stop_relist;     /* set by the data callback: relist after this */
	bool stop_backoff;    /* ... after a backoff */
	bool gone;            /* 410 seen */

	/* backoff */
	uint64_t delay_ms;
	uint64_t last_fail;
	uint64_t rng;
	unsigned attempts;    /* consecutive failures */

	/* reporting */
	struct k8s_diag *diag;
	char sig[48];
	struct k8s_watch_status st;
};

static const char *const group_of[K8S_CACHE_KIND_END] = {
	[K8S_KIND_NAMESPACE] = "",
	[K8S_KIND_POD] = "",
	[K8S_KIND_NETWORKPOLICY] = "networking.k8s.io",
};
static const char *const list_kind[K8S_CACHE_KIND_END] = {
	[K8S_KIND_NAMESPACE] = "NamespaceList",
	[K8S_KIND_POD] = "PodList",
	[K8S_KIND_NETWORKPOLICY] = "NetworkPolicyList",
};
static const char *const coll_path[K8S_CACHE_KIND_END] = {
	[K8S_KIND_NAMESPACE] = "/api/v1/namespaces",
	[K8S_KIND_POD] = "/api/v1/pods",
	[K8S_KIND_NETWORKPOLICY] = "/apis/networking.k8s.io/v1/networkpolicies",
};

const char *k8s_sync_state_name(enum k8s_sync_state s)
{
	static const char *const n[] = { "idle", "listing", "watching", "backoff", "listed",
					 "failed" };

	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

static void start_list(struct k8s_reflector *r, uint64_t now);
static void start_page(struct k8s_reflector *r, uint64_t now);
static void start_watch(struct k8s_reflector *r, uint64_t now);

static const char *res(const struct k8s_reflector *r)
{
	return k8s_kind_resource(r->kind);
}

static uint64_t rnd(struct k8s_reflector *r)
{
	/* xorshift64*: jitter only, no need for more. */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 2685821657736338717ull;
}

static void set_error(struct k8s_reflector *r, const char *sig, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log on a change of failure kind only; always keep the text for status. */
static void set_error(struct k8s_reflector *r, const char *sig, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->st.last_error, sizeof(r->st.last_error), fmt, ap);
	va_end(ap);
	r->st.errors++;
	r->st.last_error_unix = time(NULL);
	if (strcmp(r->sig, sig) != 0) {
		/* A one-shot load hands its failure to the caller's diag. */
		if (r->watch)
			log_warnx("k8s: %s: %s", res(r), r->st.last_error);
		else
			log_debug("k8s: %s: %s", res(r), r->st.last_error);
		snprintf(r->sig, sizeof(r->sig), "%s", sig);
	} else {
		log_debug("k8s: %s: %s (again)", res(r), r->st.last_error);
	}
}

static void healthy(struct k8s_reflector *r)
{
	if (r->sig[0]) {
		log_info("k8s: %s: recovered (from %s)", res(r), r->sig);
		r->sig[0] = '\0';
	}
	r->attempts = 0;
}

static void backoff(struct k8s_reflector *r, uint64_t now, int retry_after, enum next_step then)
{
	uint64_t d;

	if (r->last_fail && now - r->last_fail > K8S_BACKOFF_RESET_MS)
		r->delay_ms = K8S_BACKOFF_INITIAL_MS;
	r->last_fail = now;
	r->attempts++;
	/* jitter factor in [1, 2) */
	d = (uint64_t)((double)r->delay_ms * (1.0 + (double)(rnd(r) >> 11) / 9007199254740992.0));
	r->delay_ms = r->delay_ms * 2 > K8S_BACKOFF_MAX_MS ? K8S_BACKOFF_MAX_MS : r->delay_ms * 2;
	if (retry_after >= 0)
		d = (uint64_t)retry_after * 1000 + rnd(r) % 200;
	r->state = K8S_SYNC_BACKOFF;
	r->after_backoff = then;
	r->backoff_until = now + d;
	log_debug("k8s: %s: retrying in %.1f s", res(r), (double)d / 1000);
}

/* A list-only reflector stops on what retrying cannot fix. */
static bool oneshot_gives_up(struct k8s_reflector *r, const struct k8s_result *x)
{
	if (r->watch)
		return false;
	if (r->attempts >= ONESHOT_MAX_ATTEMPTS)
		return true;
	if (x->status == 401 || x->status == 403 || x->status == 404 || x->status == 400)
		return true;
	return x->net == K8S_NET_TLS || x->net == K8S_NET_DNS || x->net == K8S_NET_CONNECT;
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static char *urlenc(const char *s)
{
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			sprintf(p, "%%%02X", c);
			p += 3;
		}
	}
	*p = '\0';
	return out;
}

static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Status message of an error body, or its first line for text/plain. */
static void body_message(const struct k8s_result *x, char *buf, size_t len)
{
	cJSON *j = x->body ? cJSON_ParseWithLength(x->body, x->body_len) : NULL;
	const char *m = j ? json_str(j, "message") : NULL;

	if (m)
		snprintf(buf, len, "%s", m);
	else if (x->body && x->body_len)
		snprintf(buf, len, "%.*s", (int)strcspn(x->body, "\r\n"), x->body);
	else
		snprintf(buf, len, "(no body)");
	cJSON_Delete(j);
}

/* Classify a failed request, report it, choose what comes next. */
static void request_failed(struct k8s_reflector *r, const struct k8s_result *x, const char *verb,
			   enum next_step retry_step, uint64_t now)
{
	char msg[256], sig[48];
	enum next_step then = retry_step;

	/* No response, or a success cut short: a transport failure. */
	if (x->status == 0 || (x->status < 300 && x->net != K8S_NET_OK)) {
		snprintf(sig, sizeof(sig), "net:%s", k8s_net_name(x->net));
		set_error(r, sig, "%s %s: %s failure: %s", verb, res(r), k8s_net_name(x->net),
			  x->error);
		backoff(r, now, -1, then);
		goto out;
	}
	body_message(x, msg, sizeof(msg));
	snprintf(sig, sizeof(sig), "http:%ld", x->status);
	switch (x->status) {
	case 401:
		set_error(r, sig, "%s %s: 401 Unauthorized (%s): the credentials were rejected%s", verb,
			  res(r), msg, r->watch ? "; re-reading the token and retrying" : "");
		break;
	case 403:
		set_error(r, sig,
			  "%s %s: 403 Forbidden: RBAC: need list/watch on %s%s%s at cluster scope "
			  "(ClusterRole rule apiGroups [\"%s\"] resources [\"%s\"] verbs [get list watch]); "
			  "server said: %s",
			  verb, res(r), res(r), group_of[r->kind][0] ? "." : "", group_of[r->kind],
			  group_of[r->kind], res(r), msg);
		break;
	case 404:
		set_error(r, sig, "%s %s: 404 Not Found: the API server does not serve %s (%s)",
			  verb, res(r), coll_path[r->kind], msg);
		then = STEP_LIST;
		break;
	case 410:
		/* Expected after compaction: relist now; only a repeat is a
		 * failure worth waiting for. */
		r->consecutive_410++;
		log_info("k8s: %s: 410 Gone on %s (%s); relisting", res(r), verb, msg);
		r->st.last_error_unix = time(NULL);
		snprintf(r->st.last_error, sizeof(r->st.last_error), "%s %s: 410 Gone: %s", verb,
			 res(r), msg);
		if (r->consecutive_410 > 2) {
			backoff(r, now, -1, STEP_LIST);
			return;
		}
		start_list(r, now);
		return;
	case 429:
		set_error(r, sig, "%s %s: 429 Too Many Requests (%s)%s", verb, res(r), msg,
			  x->retry_after >= 0 ? "; honouring Retry-After" : "");
		break;
	case 503:
		set_error(r, sig, "%s %s: 503 Service Unavailable (%s)", verb, res(r), msg);
		break;
	default:
		set_error(r, sig, "%s %s: HTTP %ld (%s)", verb, res(r), x->status, msg);
		/* 500 on a watch and 504 "too large resource version" mean
		 * start over with a fresh list (client-go). */
		if (x->status >= 400)
			then = STEP_LIST;
		break;
	}
	backoff(r, now, x->status == 429 || x->status >= 500 ? x->retry_after : -1, then);
out:
	if (oneshot_gives_up(r, x))
		r->state = K8S_SYNC_FAILED;
}

/* --- decoding one object --- */

/* key "ns/name" or "name"; NULL when metadata is unusable. */
static char *object_key(const struct k8s_reflector *r, const cJSON *obj, char *why, size_t len)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *name = json_str(md, "name"), *ns = json_str(md, "namespace");
	char *key;

	if (!cJSON_IsObject(md) || !name || !*name) {
		snprintf(why, len, "metadata.name missing or not a string");
		return NULL;
	}
	if (r->kind == K8S_KIND_NAMESPACE)
		return strdup(name);
	if (!ns || !*ns) {
		snprintf(why, len, "metadata.namespace missing or not a string");
		return NULL;
	}
	if (asprintf(&key, "%s/%s", ns, name) < 0)
		return NULL;
	return key;
}

/* Decode obj via the shared decoder, so the API and manifest files are
 * held to the same rules. NULL with the decoder's first message in why. */
static void *decode_item(struct k8s_reflector *r, const cJSON *obj, const char *origin,
			 char *why, size_t len)
{
	struct k8s_diag local, *d = &local;
	void *out = NULL;

	k8s_diag_init(&local);
	local.max_kept = 1;
	/* A one-shot load collects every message for its caller. */
	if (r->diag)
		d = r->diag;
	switch (r->kind) {
	case K8S_KIND_NAMESPACE:
		out = k8s_decode_namespace(obj, NULL, d, origin);
		break;
	case K8S_KIND_POD:
		out = k8s_decode_pod(obj, NULL, d, origin);
		break;
	case K8S_KIND_NETWORKPOLICY:
		out = k8s_decode_policy(obj, NULL, d, origin);
		break;
	default:
		break;
	}
	if (!out)
		snprintf(why, len, "%s",
			 local.n_msgs ? local.msgs[0].text
				      : r->diag ? "reported above" : "rejected by the decoder");
	k8s_diag_free(&local);
	return out;
}

/* --- LIST --- */

static void list_reset(struct k8s_reflector *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	free(r->cont);
	r->cont = NULL;
	free(r->list_rv);
	r->list_rv = NULL;
	k8s_store_free(r->fresh);
	r->fresh = NULL;
	for (size_t i = 0; i < r->n_failed; i++)
		free(r->failed_keys[i]);
	free(r->failed_keys);
	r->failed_keys = NULL;
	r->n_failed = 0;
}

static bool on_list_data(void *ctx, const char *buf, size_t len)
{
	struct k8s_reflector *r = ctx;

	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1 << 16;
		char *nb;

		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > LIST_BODY_MAX)
			return false;
		nb = realloc(r->body, cap);
		if (!nb)
			return false;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, buf, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return true;
}

static void remember_failed(struct k8s_reflector *r, const char *key)
{
	char **nk = realloc(r->failed_keys, (r->n_failed + 1) * sizeof(*nk));

	if (!nk)
		return;
	r->failed_keys = nk;
	nk[r->n_failed] = strdup(key);
	if (nk[r->n_failed])
		r->n_failed++;
}

/* Apply one page; false when the body is not a list of our kind. */
static bool apply_page(struct k8s_reflector *r, char *why, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *md, *items, *it;
	const char *kind, *rv, *cont;
	bool ok = false;

	if (!root || !cJSON_IsObject(root)) {
		snprintf(why, len, "list body is not a JSON object");
		goto out;
	}
	kind = json_str(root, "kind");
	if (kind && strcmp(kind, list_kind[r->kind]) != 0) {
		snprintf(why, len, "list kind is \"%s\", expected %s", kind, list_kind[r->kind]);
		goto out;
	}
	md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	rv = json_str(md, "resourceVersion");
	cont = json_str(md, "continue");
	/* The first page's RV is the list's; later pages carry the same. */
	if (!r->list_rv) {
		if (!rv || !*rv) {
			snprintf(why, len, "list has no metadata.resourceVersion");
			goto out;
		}
		r->list_rv = strdup(rv);
		if (!r->list_rv)
			goto out;
	}
	items = cJSON_GetObjectItemCaseSensitive(root, "items");
	if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
		snprintf(why, len, "list items is not an array");
		goto out;
	}
	cJSON_ArrayForEach(it, items) {
		char kwhy[256], dwhy[512];
		char *key, *raw, *irv;
		void *dec;

		if (!cJSON_IsObject(it)) {
			r->st.malformed++;
			log_warnx("k8s: %s: list item is not an object; skipped", res(r));
			continue;
		}
		key = object_key(r, it, kwhy, sizeof(kwhy));
		if (!key) {
			r->st.malformed++;
			log_warnx("k8s: %s: list item skipped: %s", res(r), kwhy);
			continue;
		}
		/* List items come without kind/apiVersion
		 * (kubernetes#63676); the compact form adds them, and the
		 * decoder wants them. */
		irv = json_str(cJSON_GetObjectItemCaseSensitive(it, "metadata"), "resourceVersion")
			      ? strdup(json_str(cJSON_GetObjectItemCaseSensitive(it, "metadata"),
						"resourceVersion"))
			      : strdup("");
		k8s_object_set_kind((cJSON *)it, r->kind);
		dec = decode_item(r, it, "api", dwhy, sizeof(dwhy));
		raw = dec ? k8s_object_compact((cJSON *)it, r->kind) : NULL;
		if (!dec || !irv || !raw) {
			r->st.malformed++;
			log_warnx("k8s: %s %s: cannot use it (%s); keeping the last good copy if any",
				  k8s_kind_name(r->kind), key, dec ? "out of memory" : dwhy);
			remember_failed(r, key);
			k8s_object_free(r->kind, dec);
			free(raw);
			free(irv);
			free(key);
			continue;
		}
		if (k8s_store_put(r->fresh, key, dec, raw, irv) < 0) {
			free(key);
			snprintf(why, len, "out of memory");
			goto out;
		}
		free(key);
	}
	free(r->cont);
	r->cont = cont && *cont ? strdup(cont) : NULL;
	r->st.pages++;
	ok = true;
out:
	cJSON_Delete(root);
	return ok;
}

static void commit_list(struct k8s_reflector *r, uint64_t now)
{
	struct k8s_store *old = k8s_cache_store(r->cache, r->kind);
	size_t deleted;

	for (size_t i = 0; i < r->n_failed; i++)
		k8s_store_move(r->fresh, old, r->failed_keys[i]);
	deleted = k8s_cache_replace(r->cache, r->kind, r->fresh, now);
	r->fresh = NULL;
	free(r->rv);
	r->rv = r->list_rv;
	r->list_rv = NULL;
	if (r->st.lists)
		r->st.relists++;
	r->st.lists++;
	r->st.synced = true;
	r->st.last_sync_unix = time(NULL);
	/* A one-shot load (simulate, explain) keeps the terminal quiet. */
	if (r->watch)
		log_info("k8s: %s: listed %zu objects at resourceVersion %s%s", res(r),
			 k8s_store_count(k8s_cache_store(r->cache, r->kind)), r->rv,
			 deleted ? " (objects gone since the last list removed)" : "");
	else
		log_debug("k8s: %s: listed %zu objects at resourceVersion %s", res(r),
			  k8s_store_count(k8s_cache_store(r->cache, r->kind)), r->rv);
	list_reset(r);
	if (r->watch) {
		start_watch(r, now);
	} else {
		r->state = K8S_SYNC_LISTED;
	}
}

static void on_list_done(void *ctx, const struct k8s_result *x)
{
	struct k8s_reflector *r = ctx;
	uint64_t now = k8s_now_ms();
	char why[256];

	r->req = NULL;
	if (x->status == 200 && x->net == K8S_NET_OK) {
		if (!apply_page(r, why, sizeof(why))) {
			set_error(r, "list:body", "list %s: %s", res(r), why);
			list_reset(r);
			backoff(r, now, -1, STEP_LIST);
			if (!r->watch && r->attempts >= ONESHOT_MAX_ATTEMPTS)
				r->state = K8S_SYNC_FAILED;
			return;
		}
		healthy(r);
		free(r->body);
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		if (r->cont)
			start_page(r, now);
		else
			commit_list(r, now);
		return;
	}
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	if (x->status == 410 && r->cont) {
		/* Continue token expired: a consistent list needs a fresh
		 * start, never the inconsistent token the Status offers. */
		log_info("k8s: %s: continue token expired; restarting the list", res(r));
		r->consecutive_410++;
		if (r->consecutive_410 > 2)
			backoff(r, now, -1, STEP_LIST);
		else
			start_list(r, now);
		return;
	}
	if (x->status == 200 && x->net == K8S_NET_ABORTED) {
		set_error(r, "list:toolarge", "list %s: page larger than %u MiB", res(r),
			  LIST_BODY_MAX >> 20);
		backoff(r, now, -1, STEP_LIST);
		return;
	}
	request_failed(r, x, "list", r->cont ? STEP_PAGE : STEP_LIST, now);
}

static const struct k8s_req_ops list_ops = {
	.data = on_list_data,
	.done = on_list_done,
};

static void send_list(struct k8s_reflector *r, uint64_t now)
{
	char *q = NULL, *enc = NULL;
	char limit[32] = "";

	if (r->page_size)
		snprintf(limit, sizeof(limit), "limit=%u", r->page_size);
	/* No resourceVersion on any page: the first is a consistent read
	 * (never 410), continue pages must not carry one (400). */
	if (r->cont) {
		enc = urlenc(r->cont);
		if (!enc || asprintf(&q, "%s?%s%scontinue=%s", coll_path[r->kind], limit,
				     limit[0] ? "&" : "", enc) < 0)
			q = NULL;
	} else if (asprintf(&q, "%s%s%s", coll_path[r->kind], limit[0] ? "?" : "", limit) < 0) {
		q = NULL;
	}
	free(enc);
	r->state = K8S_SYNC_LISTING;
	if (q)
		r->req = k8s_api_get(r->api, q, LIST_TIMEOUT_S, &list_ops, r);
	free(q);
	if (!r->req) {
		set_error(r, "local", "list %s: cannot start request: %s", res(r), strerror(errno));
		backoff(r, now, -1, STEP_LIST);
	}
}

static void start_list(struct k8s_reflector *r, uint64_t now)
{
	list_reset(r);
	r->fresh = k8s_store_new(r->kind);
	if (!r->fresh) {
		set_error(r, "local", "list %s: out of memory", res(r));
		backoff(r, now, -1, STEP_LIST);
		return;
	}
	send_list(r, now);
}

static void start_page(struct k8s_reflector *r, uint64_t now)
{
	if (!r->fresh) {
		start_list(r, now);
		return;
	}
	send_list(r, now);
}

/* --- WATCH --- */

static void malformed(struct k8s_reflector *r, const char *line, size_t len, const char *why)
{
	char sig[48];

	r->st.malformed++;
	snprintf(sig, sizeof(sig), "watch:malformed");
	/* Every malformed line is worth a line in the log; they end the
	 * watch, so they cannot flood it faster than the backoff allows. */
	set_error(r, sig, "watch %s: malformed event (%s), resourceVersion stays %s; relisting: %.*s%s",
		  res(r), why, r->rv ? r->rv : "?", (int)(len > 160 ? 160 : len), line,
		  len > 160 ? "..." : "");
	r->stop_relist = true;
	r->stop_backoff = true;
}

/* One framed event. False ends the watch (what comes next is in the
 * stop_* flags). */
static bool handle_event(struct k8s_reflector *r, const char *line, size_t len)
{
	cJSON *ev = cJSON_ParseWithLength(line, len);
	cJSON *obj;
	const char *type, *kind, *rv;
	char why[512];
	char *key = NULL, *raw = NULL, *nrv = NULL;
	void *dec = NULL;
	bool ok = false;

	if (!ev || !cJSON_IsObject(ev)) {
		malformed(r, line, len, "not a JSON object");
		goto out;
	}
	type = json_str(ev, "type");
	obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	if (!type) {
		malformed(r, line, len, "no type");
		goto out;
	}
	if (!cJSON_IsObject(obj)) {
		malformed(r, line, len, "object is not a JSON object");
		goto out;
	}
	if (strcmp(type, "ERROR") == 0) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		const char *reason = json_str(obj, "reason"), *msg = json_str(obj, "message");

		if ((cJSON_IsNumber(code) && code->valueint == 410) ||
		    (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0))) {
			log_info("k8s: %s: watch ERROR 410 %s (%s); relisting", res(r),
				 reason ? reason : "", msg ? msg : "");
			snprintf(r->st.last_error, sizeof(r->st.last_error),
				 "watch %s: ERROR 410 %s: %s", res(r), reason ? reason : "",
				 msg ? msg : "");
			r->st.last_error_unix = time(NULL);
			r->gone = true;
			r->stop_relist = true;
		} else {
			set_error(r, "watch:error", "watch %s: ERROR event %d %s: %s", res(r),
				  cJSON_IsNumber(code) ? code->valueint : 0, reason ? reason : "",
				  msg ? msg : "");
			r->stop_relist = true;
			r->stop_backoff = true;
		}
		goto out;
	}
	kind = json_str(obj, "kind");
	if (kind && strcmp(kind, k8s_kind_name(r->kind)) != 0) {
		snprintf(why, sizeof(why), "object kind %s on the %s watch", kind, res(r));
		malformed(r, line, len, why);
		goto out;
	}
	rv = json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
	if (!rv || !*rv) {
		malformed(r, line, len, "object has no metadata.resourceVersion");
		goto out;
	}
	nrv = strdup(rv);
	if (!nrv)
		goto oom;
	if (strcmp(type, "BOOKMARK") == 0) {
		r->st.bookmarks++;
		goto advance;
	}
	if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0 &&
	    strcmp(type, "DELETED") != 0) {
		snprintf(why, sizeof(why), "unknown event type \"%.40s\"", type);
		malformed(r, line, len, why);
		goto out;
	}
	key = object_key(r, obj, why, sizeof(why));
	if (!key) {
		malformed(r, line, len, why);
		goto out;
	}
	if (strcmp(type, "DELETED") == 0) {
		k8s_cache_delete(r->cache, r->kind, key, k8s_now_ms());
	} else {
		/* Decode before touching anything: a half-understood object
		 * is never applied. */
		dec = decode_item(r, obj, "api", why, sizeof(why));
		if (!dec) {
			malformed(r, line, len, why);
			goto out;
		}
		raw = k8s_object_compact(obj, r->kind);
		if (!raw)
			goto oom;
		if (k8s_cache_upsert(r->cache, r->kind, key, dec, raw, strdup(nrv), k8s_now_ms()) < 0) {
			dec = NULL;
			raw = NULL;
			goto oom;
		}
		dec = NULL;
		raw = NULL;
	}
	r->st.events++;
	r->st.last_event_unix = time(NULL);
advance:
	/* Only now, with the event applied, may the resume point move. */
	free(r->rv);
	r->rv = nrv;
	nrv = NULL;
	r->watch_events++;
	/* Progress: a 410 from now on is a fresh one, relisted at once. A
	 * server that answers every watch with 410 gets the backoff. */
	r->consecutive_410 = 0;
	ok = true;
	goto out;
oom:
	set_error(r, "local", "watch %s: out of memory; relisting", res(r));
	r->stop_relist = true;
	r->stop_backoff = true;
out:
	k8s_object_free(r->kind, dec);
	free(raw);
	free(nrv);
	free(key);
	cJSON_Delete(ev);
	return ok;
}

static bool on_watch_data(void *ctx, const char *buf, size_t len)
{
	struct k8s_reflector *r = ctx;
	size_t start = 0;

	if (r->sig[0])
		healthy(r);

	if (r->line_len + len + 1 > r->line_cap) {
		size_t cap = r->line_cap ? r->line_cap : 1 << 14;
		char *nb;

		while (cap < r->line_len + len + 1)
			cap *= 2;
		if (cap > WATCH_LINE_MAX + (1u << 16)) {
			malformed(r, r->line ? r->line : "", r->line_len, "event larger than the line limit");
			return false;
		}
		nb = realloc(r->line, cap);
		if (!nb) {
			malformed(r, "", 0, "out of memory");
			return false;
		}
		r->line = nb;
		r->line_cap = cap;
	}
	memcpy(r->line + r->line_len, buf, len);
	r->line_len += len;
	/* Frame on '\n': compact JSON never holds a raw newline, and HTTP
	 * chunk boundaries are meaningless here. */
	for (;;) {
		char *nl = memchr(r->line + start, '\n', r->line_len - start);
		size_t l;

		if (!nl)
			break;
		l = (size_t)(nl - (r->line + start));
		while (l && (r->line[start + l - 1] == '\r' || r->line[start + l - 1] == ' '))
			l--;
		if (l && !handle_event(r, r->line + start, l)) {
			r->line_len = 0;
			return false;
		}
		start = (size_t)(nl - r->line) + 1;
	}
	memmove(r->line, r->line + start, r->line_len - start);
	r->line_len -= start;
	return true;
}

static void on_watch_done(void *ctx, const struct k8s_result *x)
{
	struct k8s_reflector *r = ctx;
	uint64_t now = k8s_now_ms();
	uint64_t lasted = now - r->watch_started;
	bool partial = r->line_len > 0;

	r->req = NULL;
	r->line_len = 0;
	if (r->stop_relist || r->stop_backoff) {
		bool relist = r->stop_relist, wait = r->stop_backoff;

		r->stop_relist = r->stop_backoff = false;
		if (r->gone) {
			r->gone = false;
			r->consecutive_410++;
			if (r->consecutive_410 > 2)
				backoff(r, now, -1, STEP_LIST);
			else
				start_list(r, now);
			return;
		}
		if (wait)
			backoff(r, now, -1, relist ? STEP_LIST : STEP_WATCH);
		else if (relist)
			start_list(r, now);
		else
			start_watch(r, now);
		return;
	}
	if (x->status == 200 && (x->net == K8S_NET_OK || x->net == K8S_NET_DROPPED ||
				 x->net == K8S_NET_TIMEOUT)) {
		if (partial)
			log_debug("k8s: %s: watch ended inside an event; it is lost with the connection "
				  "and comes again from resourceVersion %s", res(r), r->rv);
		if (x->net != K8S_NET_OK) {
			set_error(r, "watch:dropped", "watch %s: connection lost (%s); resuming from %s",
				  res(r), x->error, r->rv);
			backoff(r, now, -1, STEP_WATCH);
			return;
		}
		if (lasted < SHORT_WATCH_MS && r->watch_events == 0) {
			/* A server that ends watches at once would make us
			 * hot-loop; client-go calls this a very short watch
			 * and relists after a backoff. */
			set_error(r, "watch:short", "watch %s: ended after %llu ms without events",
				  res(r), (unsigned long long)lasted);
			backoff(r, now, -1, STEP_LIST);
			return;
		}
		healthy(r);
		log_debug("k8s: %s: watch ended cleanly after %llu ms; watching again from %s", res(r),
			  (unsigned long long)lasted, r->rv);
		start_watch(r, now);
		return;
	}
	if (x->status == 410) {
		request_failed(r, x, "watch", STEP_LIST, now);
		return;
	}
	request_failed(r, x, "watch",
		       x->status == 0 || x->status == 401 || x->status == 403 || x->status == 429 ||
				       x->status == 503
			       ? STEP_WATCH
			       : STEP_LIST,
		       now);
}

static const struct k8s_req_ops watch_ops = {
	.data = on_watch_data,
	.done = on_watch_done,
};

static void start_watch(struct k8s_reflector *r, uint64_t now)
{
	unsigned timeout = 300 + (unsigned)(rnd(r) % 301);
	char *q = NULL, *enc = urlenc(r->rv ? r->rv : "");

	if (!enc || asprintf(&q, "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
			     coll_path[r->kind], enc, timeout) < 0)
		q = NULL;
	free(enc);
	r->state = K8S_SYNC_WATCHING;
	r->watch_started = now;
	r->watch_events = 0;
	r->line_len = 0;
	r->stop_relist = r->stop_backoff = r->gone = false;
	if (q)
		r->req = k8s_api_get(r->api, q, (long)timeout + WATCH_MARGIN_S, &watch_ops, r);
	free(q);
	if (!r->req) {
		set_error(r, "local", "watch %s: cannot start request: %s", res(r), strerror(errno));
		backoff(r, now, -1, STEP_WATCH);
		return;
	}
	r->st.watches++;
}

/* --- public --- */

struct k8s_reflector *k8s_reflector_new(struct k8s_api *api, struct k8s_cache *cache,
					enum k8s_kind kind, bool watch)
{
	struct k8s_reflector *r = calloc(1, sizeof(*r));
	struct timespec ts;

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->api = api;
	r->cache = cache;
	r->kind = kind;
	r->watch = watch;
	r->page_size = K8S_LIST_PAGE;
	r->delay_ms = K8S_BACKOFF_INITIAL_MS;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uintptr_t)r >> 4) ^
		 ((uint64_t)kind << 40);
	if (!r->rng)
		r->rng = 0x9e3779b97f4a7c15ull;
	r->st.kind = kind;
	return r;
}

void k8s_reflector_free(struct k8s_reflector *r)
{
	if (!r)
		return;
	if (r->req)
		k8s_api_cancel(r->api, r->req);
	list_reset(r);
	free(r->rv);
	free(r->line);
	free(r);
}

void k8s_reflector_set_page_size(struct k8s_reflector *r, unsigned limit)
{
	r->page_size = limit;
}

void k8s_reflector_set_diag(struct k8s_reflector *r, struct k8s_diag *diag)
{
	r->diag = diag;
}

void k8s_reflector_start(struct k8s_reflector *r, uint64_t now_ms)
{
	if (r->req) {
		k8s_api_cancel(r->api, r->req);
		r->req = NULL;
	}
	start_list(r, now_ms);
}

int k8s_reflector_tick(struct k8s_reflector *r, uint64_t now_ms)
{
	if (r->state != K8S_SYNC_BACKOFF)
		return -1;
	if (now_ms < r->backoff_until) {
		uint64_t d = r->backoff_until - now_ms;

		return d > 60000 ? 60000 : (int)d;
	}
	switch (r->after_backoff) {
	case STEP_WATCH:
		if (r->rv) {
			start_watch(r, now_ms);
			break;
		}
		/* FALLTHROUGH */
	case STEP_LIST:
		start_list(r, now_ms);
		break;
	case STEP_PAGE:
		start_page(r, now_ms);
		break;
	}
	return r->state == K8S_SYNC_BACKOFF ? 0 : -1;
}

bool k8s_reflector_feed(struct k8s_reflector *r, const char *buf, size_t len)
{
	if (r->stop_relist || r->stop_backoff)
		return false;
	return on_watch_data(r, buf, len);
}

const char *k8s_reflector_rv(const struct k8s_reflector *r)
{
	return r->rv ? r->rv : "";
}

bool k8s_reflector_synced(const struct k8s_reflector *r)
{
	return r->st.synced;
}

void k8s_reflector_status(const struct k8s_reflector *r, struct k8s_watch_status *out)
{
	uint64_t now = k8s_now_ms();

	*out = r->st;
	out->state = r->state;
	snprintf(out->rv, sizeof(out->rv), "%s", r->rv ? r->rv : "");
	out->objects = k8s_store_count(k8s_cache_store(r->cache, r->kind));
	out->backoff_ms = r->state == K8S_SYNC_BACKOFF && r->backoff_until > now
				  ? r->backoff_until - now
				  : 0;
}

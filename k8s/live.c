/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/live.c - watcher thread and one-shot load over the reflectors. */
#include "k8s/live.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "k8s/api.h"
#include "k8s/cache.h"
#include "k8s/diag.h"
#include "k8s/persist.h"
#include "policy/objects.h"

#define NKINDS 3
#define LOOP_MAX_WAIT_MS 1000
#define PERSIST_INTERVAL_DEFAULT_S 10

static const enum k8s_kind kinds[NKINDS] = { K8S_KIND_NAMESPACE, K8S_KIND_POD,
					     K8S_KIND_NETWORKPOLICY };

struct k8s_watcher {
	struct k8s_api *api;
	struct k8s_cache *cache;
	struct k8s_reflector *refl[NKINDS];
	k8s_snapshot_fn on_snapshot;
	void *ctx;
	char *state_dir;
	uint64_t persist_interval_ms;
	uint64_t last_persist_ms;
	bool persist_pending;
	struct pol_cluster *persisted; /* delivered first by the thread */
	bool synced;

	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards pub */
	struct k8s_watcher_status pub;
	struct k8s_watcher_status st; /* the thread's working copy */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- one-shot --- */

int k8s_live_load_timeout(const struct k8s_conn_opts *opts, unsigned timeout_s,
			  struct pol_cluster *into, struct k8s_diag *diag)
{
	struct k8s_reflector *refl[NKINDS] = { 0 };
	struct k8s_cache *cache = NULL;
	struct k8s_api *api = NULL;
	struct k8s_conn *conn;
	struct pol_cluster *snap;
	char err[768];
	uint64_t deadline;
	int ret = -1;

	if (!timeout_s)
		timeout_s = 60;
	if (k8s_conn_resolve(opts, &conn, err, sizeof(err)) < 0) {
		k8s_diag_error(diag, "cluster", 0, 0, "%s", err);
		return -1;
	}
	api = k8s_api_new(conn);
	cache = k8s_cache_new();
	if (!api || !cache)
		goto nomem;
	for (int i = 0; i < NKINDS; i++) {
		refl[i] = k8s_reflector_new(api, cache, kinds[i], false);
		if (!refl[i])
			goto nomem;
		k8s_reflector_set_diag(refl[i], diag);
	}
	for (int i = 0; i < NKINDS; i++)
		k8s_reflector_start(refl[i], k8s_now_ms());
	deadline = k8s_now_ms() + (uint64_t)timeout_s * 1000;
	for (;;) {
		struct k8s_watch_status ws;
		int wait = LOOP_MAX_WAIT_MS, done = 0;
		uint64_t now = k8s_now_ms();

		for (int i = 0; i < NKINDS; i++) {
			int t = k8s_reflector_tick(refl[i], now);

			k8s_reflector_status(refl[i], &ws);
			if (ws.state == K8S_SYNC_FAILED) {
				k8s_diag_error(diag, k8s_api_conn(api)->source, 0, 0, "%s", ws.last_error);
				goto out;
			}
			if (ws.state == K8S_SYNC_LISTED)
				done++;
			if (t >= 0 && t < wait)
				wait = t;
		}
		if (done == NKINDS)
			break;
		if (now >= deadline) {
			for (int i = 0; i < NKINDS; i++) {
				k8s_reflector_status(refl[i], &ws);
				if (ws.state != K8S_SYNC_LISTED)
					k8s_diag_error(diag, k8s_api_conn(api)->source, 0, 0,
						       "%s: not listed within %u s%s%s",
						       k8s_kind_resource(kinds[i]), timeout_s,
						       ws.last_error[0] ? ": " : "", ws.last_error);
			}
			goto out;
		}
		if (k8s_api_poll(api, wait) < 0) {
			k8s_diag_error(diag, "cluster", 0, 0, "libcurl multi interface failed");
			goto out;
		}
	}
	snap = k8s_cache_snapshot(cache);
	if (!snap || pol_cluster_merge(into, snap) < 0) {
		pol_cluster_free(snap);
		goto nomem;
	}
	pol_cluster_free(snap);
	ret = 0;
	goto out;
nomem:
	k8s_diag_error(diag, "cluster", 0, 0, "out of memory");
out:
	for (int i = 0; i < NKINDS; i++)
		k8s_reflector_free(refl[i]);
	k8s_cache_free(cache);
	k8s_api_free(api);
	return ret;
}

int k8s_live_load(const struct k8s_conn_opts *opts, struct pol_cluster *into,
		  struct k8s_diag *diag)
{
	return k8s_live_load_timeout(opts, 0, into, diag);
}

/* --- watcher --- */

static void publish(struct k8s_watcher *w)
{
	struct k8s_cache_counters cnt;
	bool all = true;

	for (int i = 0; i < NKINDS; i++) {
		k8s_reflector_status(w->refl[i], &w->st.watch[i]);
		all = all && w->st.watch[i].synced;
	}
	k8s_cache_counters(w->cache, &cnt);
	w->st.synced = all;
	w->st.added = cnt.added;
	w->st.updated = cnt.updated;
	w->st.deleted = cnt.deleted;
	w->st.unchanged = cnt.unchanged;
	pthread_mutex_lock(&w->lock);
	w->pub = w->st;
	pthread_mutex_unlock(&w->lock);
}

static void persist_now(struct k8s_watcher *w, uint64_t now)
{
	int e = k8s_persist_save(w->cache, w->state_dir);

	w->last_persist_ms = now;
	w->persist_pending = false;
	if (e < 0) {
		w->st.persist_errors++;
		snprintf(w->st.persist_error, sizeof(w->st.persist_error), "%s", strerror(-e));
		/* One line per distinct failure is enough. */
		if (w->st.persist_errors == 1 || w->st.persist_errors % 100 == 0)
			log_warnx("k8s: cannot persist the cluster state to %s: %s",
				  w->st.persist_path, strerror(-e));
		return;
	}
	w->st.persist_writes++;
	w->st.persist_error[0] = '\0';
	w->st.last_persist_unix = time(NULL);
}

static void deliver(struct k8s_watcher *w, struct pol_cluster *snap)
{
	w->st.snapshots++;
	w->st.last_snapshot_unix = time(NULL);
	/* The callee may ask for the status (serving_persisted). */
	publish(w);
	if (w->on_snapshot)
		w->on_snapshot(snap, w->ctx);
	else
		pol_cluster_free(snap);
}

static void *watcher_main(void *arg)
{
	struct k8s_watcher *w = arg;

	if (w->persisted) {
		struct pol_cluster *p = w->persisted;

		w->persisted = NULL;
		w->st.serving_persisted = true;
		log_info("k8s: serving the persisted cluster state (%zu namespaces, %zu pods, %zu "
			 "policies) until the first full sync",
			 p->n_namespaces, p->n_pods, p->n_policies);
		deliver(w, p);
	}
	for (int i = 0; i < NKINDS; i++)
		k8s_reflector_start(w->refl[i], k8s_now_ms());
	while (!atomic_load(&w->stop)) {
		uint64_t now = k8s_now_ms();
		int wait = LOOP_MAX_WAIT_MS, dw;
		bool all = true;

		for (int i = 0; i < NKINDS; i++) {
			int t = k8s_reflector_tick(w->refl[i], now);

			if (t >= 0 && t < wait)
				wait = t;
			all = all && k8s_reflector_synced(w->refl[i]);
		}
		/* A partial state (pods without their policies) would give
		 * wrong verdicts: nothing is published before all three
		 * resources are listed. */
		if (all && !w->synced) {
			w->synced = true;
			k8s_cache_mark_dirty(w->cache, now);
			log_info("k8s: initial sync complete%s",
				 w->st.serving_persisted ? "; persisted state replaced" : "");
		}
		if (w->synced) {
			if (k8s_cache_rebuild_due(w->cache, now, &dw)) {
				struct pol_cluster *snap = k8s_cache_snapshot(w->cache);

				if (snap) {
					w->st.serving_persisted = false;
					w->persist_pending = true;
					deliver(w, snap);
				} else {
					log_warnx("k8s: out of memory building a snapshot; retrying");
					dw = 100;
				}
			}
			if (dw >= 0 && dw < wait)
				wait = dw;
		}
		if (w->persist_pending && w->state_dir) {
			uint64_t due = w->last_persist_ms ? w->last_persist_ms + w->persist_interval_ms
							  : 0;

			if (now >= due)
				persist_now(w, now);
			else if ((int64_t)(due - now) < wait)
				wait = (int)(due - now);
		}
		publish(w);
		if (k8s_api_poll(w->api, wait) < 0) {
			log_warnx("k8s: libcurl multi poll failed; retrying");
			struct timespec ts = { 0, 100 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	if (w->persist_pending && w->state_dir)
		persist_now(w, k8s_now_ms());
	publish(w);
	return NULL;
}

static void watcher_free(struct k8s_watcher *w)
{
	for (int i = 0; i < NKINDS; i++)
		k8s_reflector_free(w->refl[i]);
	k8s_cache_free(w->cache);
	k8s_api_free(w->api);
	pol_cluster_free(w->persisted);
	free(w->state_dir);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

struct k8s_watcher *k8s_watcher_start_opts(const struct k8s_watcher_opts *o, char *err,
					   size_t errlen)
{
	struct k8s_watcher *w = calloc(1, sizeof(*w));
	struct k8s_conn *conn;
	int e;

	if (!w) {
		seterr(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->stop, false);
	w->on_snapshot = o->on_snapshot;
	w->ctx = o->ctx;
	w->persist_interval_ms =
		(uint64_t)(o->persist_interval_s ? o->persist_interval_s : PERSIST_INTERVAL_DEFAULT_S) *
		1000;
	w->st.started_unix = time(NULL);
	if (k8s_conn_resolve(o->conn, &conn, err, errlen) < 0) {
		watcher_free(w);
		errno = EINVAL;
		return NULL;
	}
	snprintf(w->st.source, sizeof(w->st.source), "%s", conn->source);
	snprintf(w->st.server, sizeof(w->st.server), "%s", conn->server);
	w->api = k8s_api_new(conn);
	w->cache = k8s_cache_new();
	if (!w->api || !w->cache)
		goto nomem;
	for (int i = 0; i < NKINDS; i++) {
		w->refl[i] = k8s_reflector_new(w->api, w->cache, kinds[i], true);
		if (!w->refl[i])
			goto nomem;
		if (o->page_size)
			k8s_reflector_set_page_size(w->refl[i], o->page_size);
	}
	if (o->state_dir) {
		struct k8s_diag diag;

		w->state_dir = strdup(o->state_dir);
		if (!w->state_dir)
			goto nomem;
		if (k8s_persist_path(o->state_dir, w->st.persist_path, sizeof(w->st.persist_path)) < 0) {
			seterr(err, errlen, "state directory %s: path too long", o->state_dir);
			watcher_free(w);
			errno = ENAMETOOLONG;
			return NULL;
		}
		k8s_diag_init(&diag);
		e = k8s_persist_load(o->state_dir, &w->persisted, &w->st.persisted_saved_unix, &diag);
		if (e == 0) {
			w->st.persisted_loaded = true;
		} else if (e != -ENOENT) {
			/* A damaged state file is not fatal: the API server
			 * is the truth, the file only a head start. */
			log_warnx("k8s: ignoring the persisted state %s: %s", w->st.persist_path,
				  diag.n_msgs ? diag.msgs[0].text : strerror(-e));
		}
		k8s_diag_free(&diag);
	}
	publish(w);
	e = pthread_create(&w->thread, NULL, watcher_main, w);
	if (e) {
		seterr(err, errlen, "cannot start the watcher thread: %s", strerror(e));
		watcher_free(w);
		errno = e;
		return NULL;
	}
	return w;
nomem:
	seterr(err, errlen, "out of memory");
	watcher_free(w);
	errno = ENOMEM;
	return NULL;
}

struct k8s_watcher *k8s_watcher_start(const struct k8s_conn_opts *opts, const char *state_dir,
				      k8s_snapshot_fn on_snapshot, void *ctx)
{
	struct k8s_watcher_opts o = {
		.conn = opts,
		.state_dir = state_dir,
		.on_snapshot = on_snapshot,
		.ctx = ctx,
	};
	char err[768];
	struct k8s_watcher *w = k8s_watcher_start_opts(&o, err, sizeof(err));

	if (!w)
		log_errx("k8s: %s", err);
	return w;
}

void k8s_watcher_status(struct k8s_watcher *w, struct k8s_watcher_status *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->pub;
	pthread_mutex_unlock(&w->lock);
}

void k8s_watcher_stop_status(struct k8s_watcher *w, struct k8s_watcher_status *final)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	k8s_api_wakeup(w->api);
	pthread_join(w->thread, NULL);
	if (final)
		*final = w->pub;
	watcher_free(w);
}

void k8s_watcher_stop(struct k8s_watcher *w)
{
	k8s_watcher_stop_status(w, NULL);
}

static void add_num(cJSON *o, const char *name, double v)
{
	cJSON_AddNumberToObject(o, name, v);
}

static void add_time(cJSON *o, const char *name, int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (!t) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, name, buf);
}

struct cJSON *k8s_watcher_status_json(const struct k8s_watcher_status *st)
{
	cJSON *o = cJSON_CreateObject(), *ws, *p;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "source", st->source);
	cJSON_AddStringToObject(o, "server", st->server);
	cJSON_AddBoolToObject(o, "synced", st->synced);
	cJSON_AddBoolToObject(o, "serving_persisted", st->serving_persisted);
	add_num(o, "snapshots", (double)st->snapshots);
	add_time(o, "last_snapshot", st->last_snapshot_unix);
	add_time(o, "started", st->started_unix);
	p = cJSON_AddObjectToObject(o, "objects");
	if (p) {
		add_num(p, "added", (double)st->added);
		add_num(p, "updated", (double)st->updated);
		add_num(p, "deleted", (double)st->deleted);
		add_num(p, "unchanged", (double)st->unchanged);
	}
	p = cJSON_AddObjectToObject(o, "persist");
	if (p) {
		cJSON_AddStringToObject(p, "path", st->persist_path);
		cJSON_AddBoolToObject(p, "loaded_at_start", st->persisted_loaded);
		add_time(p, "loaded_saved_at", st->persisted_saved_unix);
		add_num(p, "writes", (double)st->persist_writes);
		add_num(p, "errors", (double)st->persist_errors);
		add_time(p, "last_write", st->last_persist_unix);
		cJSON_AddStringToObject(p, "last_error", st->persist_error);
	}
	ws = cJSON_AddArrayToObject(o, "watches");
	for (int i = 0; ws && i < NKINDS; i++) {
		const struct k8s_watch_status *w = &st->watch[i];
		cJSON *j = cJSON_CreateObject();

		if (!j)
			break;
		cJSON_AddStringToObject(j, "resource", k8s_kind_resource(w->kind));
		cJSON_AddStringToObject(j, "state", k8s_sync_state_name(w->state));
		cJSON_AddBoolToObject(j, "synced", w->synced);
		cJSON_AddStringToObject(j, "resource_version", w->rv);
		add_num(j, "objects", (double)w->objects);
		add_num(j, "events", (double)w->events);
		add_num(j, "bookmarks", (double)w->bookmarks);
		add_num(j, "lists", (double)w->lists);
		add_num(j, "relists", (double)w->relists);
		add_num(j, "pages", (double)w->pages);
		add_num(j, "watches", (double)w->watches);
		add_num(j, "errors", (double)w->errors);
		add_num(j, "malformed", (double)w->malformed);
		add_num(j, "backoff_ms", (double)w->backoff_ms);
		add_time(j, "last_sync", w->last_sync_unix);
		add_time(j, "last_event", w->last_event_unix);
		add_time(j, "last_error_at", w->last_error_unix);
		cJSON_AddStringToObject(j, "last_error", w->last_error);
		cJSON_AddItemToArray(ws, j);
	}
	return o;
}

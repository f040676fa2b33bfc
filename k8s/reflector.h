/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/reflector.h - list+watch of one resource into the cache, client-go style.
 *
 * A reflector LISTs its collection page by page (limit/continue; the list's
 * own resourceVersion, never an item's), replaces its kind in the cache
 * (objects that disappeared become deletions), then WATCHes from that
 * resourceVersion with allowWatchBookmarks=true and a random 300-600 s
 * timeoutSeconds. Watch bodies are framed on newlines, not on HTTP chunks.
 * After each applied event (BOOKMARK included) its resourceVersion becomes
 * the one to resume from; a malformed event never moves it and ends the
 * watch, followed by a relist so nothing is missed.
 *
 *   clean end of a watch        watch again from the last RV at once
 *   dropped connection, 429,
 *   connect/TLS/DNS failure,
 *   401, 403, 503              back off, watch again from the last RV
 *   410 (HTTP or ERROR event)  relist at once (backed off if it repeats)
 *   other ERROR, 5xx, garbage  back off, relist
 *
 * Backoff: 0.8 s doubling to 30 s, jitter x[1,2), reset after 2 minutes
 * without a failure; Retry-After wins when the server sends it. Failures
 * are logged once per change of kind (a TLS error retried 100 times is one
 * line, and its recovery another).
 *
 * Everything runs on the thread that polls the k8s_api; not thread-safe.
 * A reflector borrows its api and cache, which must outlive it.
 */
#ifndef NPSHIM_K8S_REFLECTOR_H
#define NPSHIM_K8S_REFLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s/cache.h"

struct k8s_api;
struct k8s_reflector;

#define K8S_LIST_PAGE 500
#define K8S_BACKOFF_INITIAL_MS 800
#define K8S_BACKOFF_MAX_MS 30000
#define K8S_BACKOFF_RESET_MS 120000

enum k8s_sync_state {
	K8S_SYNC_IDLE,
	K8S_SYNC_LISTING,
	K8S_SYNC_WATCHING,
	K8S_SYNC_BACKOFF,
	K8S_SYNC_LISTED, /* list-only reflector: done */
	K8S_SYNC_FAILED, /* list-only reflector: gave up (see last_error) */
};

const char *k8s_sync_state_name(enum k8s_sync_state s);

struct k8s_watch_status {
	enum k8s_kind kind;
	enum k8s_sync_state state;
	bool synced;          /* a complete list has been applied */
	char rv[64];          /* resume point ("" before the first list) */
	uint64_t objects;     /* cached objects of this kind */
	uint64_t events;      /* ADDED/MODIFIED/DELETED applied */
	uint64_t bookmarks;
	uint64_t lists;       /* complete lists (first one included) */
	uint64_t relists;     /* lists after the first */
	uint64_t pages;
	uint64_t watches;     /* watch requests started */
	uint64_t errors;      /* failed requests and protocol errors */
	uint64_t malformed;   /* watch lines or list items refused */
	uint64_t backoff_ms;  /* time left when state is BACKOFF */
	int64_t last_sync_unix;
	int64_t last_event_unix;
	int64_t last_error_unix;
	char last_error[384];
};

/* watch false: list once (one-shot commands); the state ends LISTED, or
 * FAILED on an error that retrying will not fix (401, 403, 404, TLS, DNS,
 * connection refused, after max_attempts of anything else). NULL + errno. */
struct k8s_reflector *k8s_reflector_new(struct k8s_api *api, struct k8s_cache *cache,
					enum k8s_kind kind, bool watch);
/* Cancels the request in flight. NULL is fine. */
void k8s_reflector_free(struct k8s_reflector *r);

/* Page size for lists (default K8S_LIST_PAGE; 0 = no limit). */
void k8s_reflector_set_page_size(struct k8s_reflector *r, unsigned limit);

/* Decoder messages of refused objects go to diag (borrowed) as well as
 * to the log; for one-shot loads. */
struct k8s_diag;
void k8s_reflector_set_diag(struct k8s_reflector *r, struct k8s_diag *diag);

/* Begin with a list. */
void k8s_reflector_start(struct k8s_reflector *r, uint64_t now_ms);
/* Run due timers. Returns milliseconds until the next one, -1 for none. */
int k8s_reflector_tick(struct k8s_reflector *r, uint64_t now_ms);

bool k8s_reflector_synced(const struct k8s_reflector *r);

/* Hand body bytes of a watch response to the reflector as if they came
 * from the network (unit tests and the fuzz target; no request needed,
 * api may be NULL). Returns false when the reflector would end the watch
 * (a malformed event or an ERROR); it then expects a relist. */
bool k8s_reflector_feed(struct k8s_reflector *r, const char *buf, size_t len);
/* The resource version a watch would resume from; "" before any. */
const char *k8s_reflector_rv(const struct k8s_reflector *r);
void k8s_reflector_status(const struct k8s_reflector *r, struct k8s_watch_status *out);

#endif

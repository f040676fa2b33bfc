/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/live.h - the live cluster source: one-shot load and the watcher.
 *
 * What commands call. Connection flags: see k8s/kubeconfig.h
 * (struct k8s_conn_opts, k8s_conn_opts_arg, K8S_CONN_LONGOPTS).
 *
 * One-shot (simulate, explain): k8s_live_load() lists namespaces, pods and
 * networkpolicies once and appends them to a cluster the caller owns.
 *
 * Watcher (run): k8s_watcher_start() starts one thread of its own that
 * lists and watches the three resources on one libcurl multi handle
 * (k8s/reflector.h) and calls on_snapshot with a fresh struct pol_cluster
 * whenever the cluster changed, debounced (a burst of events gives one
 * snapshot). It never runs on the caller's thread, so the packet path never
 * waits for the API server. With a state directory, the last good state is
 * written there (k8s/persist.h) and, at start, a persisted state is handed
 * to on_snapshot before the first full sync (status says so).
 */
#ifndef NPSHIM_K8S_LIVE_H
#define NPSHIM_K8S_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s/kubeconfig.h"
#include "k8s/reflector.h"

struct pol_cluster;
struct k8s_diag;
struct cJSON;

/* List the three resources once and append every object to into (owned by
 * the caller). Retries 429/5xx/410 a few times with backoff (bounded by
 * timeout_s, 0 = 60 s); fails at once on 401/403/404, TLS, DNS and
 * connection errors. 0 on success; -1 with the reason (the resource, the
 * HTTP status or network failure, the RBAC permission missing) reported to
 * diag, into then untouched. Objects that fail validation are reported to
 * diag as errors and left out; the call still returns 0 when the lists
 * themselves were read (diag->n_errors tells). */
int k8s_live_load(const struct k8s_conn_opts *opts, struct pol_cluster *into,
		  struct k8s_diag *diag);
int k8s_live_load_timeout(const struct k8s_conn_opts *opts, unsigned timeout_s,
			  struct pol_cluster *into, struct k8s_diag *diag);

struct k8s_watcher;

/* Called on the watcher's thread with a new cluster; ownership passes to
 * the callee (usually straight into pol_model_build()). Must not block for
 * long: events queue up meanwhile. Whether a snapshot came from the
 * persisted state is in k8s_watcher_status().serving_persisted. */
typedef void (*k8s_snapshot_fn)(struct pol_cluster *snapshot, void *ctx);

struct k8s_watcher_opts {
	const struct k8s_conn_opts *conn; /* borrowed during start only */
	const char *state_dir;            /* NULL: no persistence; copied */
	k8s_snapshot_fn on_snapshot;
	void *ctx;
	unsigned page_size;               /* 0: K8S_LIST_PAGE */
	unsigned persist_interval_s;      /* min. seconds between writes; 0: 10 */
};

/* Resolve the connection, load a persisted state if any (delivered from
 * the new thread before anything else), start the thread. NULL with a
 * message in err (bad kubeconfig, thread creation) and errno set. */
struct k8s_watcher *k8s_watcher_start_opts(const struct k8s_watcher_opts *o, char *err,
					   size_t errlen);
/* The short form the commands use. */
struct k8s_watcher *k8s_watcher_start(const struct k8s_conn_opts *opts, const char *state_dir,
				      k8s_snapshot_fn on_snapshot, void *ctx);

struct k8s_watcher_status {
	struct k8s_watch_status watch[3]; /* namespaces, pods, networkpolicies */
	bool synced;              /* all three listed at least once */
	bool serving_persisted;   /* the current snapshot came from disk */
	bool persisted_loaded;    /* a persisted state was found at start */
	int64_t persisted_saved_unix; /* its mtime, 0 when none */
	uint64_t snapshots;       /* delivered to on_snapshot (rebuilds) */
	uint64_t added, updated, deleted, unchanged;
	uint64_t persist_writes, persist_errors;
	int64_t last_snapshot_unix;
	int64_t last_persist_unix;
	int64_t started_unix;
	char source[256];         /* "kubeconfig F, context C" / "in-cluster (DIR)" */
	char server[256];
	char persist_path[512];   /* "" without a state directory */
	char persist_error[256];
};

/* A consistent copy of the current status; any thread. */
void k8s_watcher_status(struct k8s_watcher *w, struct k8s_watcher_status *out);
/* The status as JSON (for `status --output json`); owned by the caller. */
struct cJSON *k8s_watcher_status_json(const struct k8s_watcher_status *st);

/* Stop the thread, write the state a last time, free everything. No
 * on_snapshot call happens after this returns. NULL is fine. */
void k8s_watcher_stop(struct k8s_watcher *w);
/* The same, copying the status after the last write into final. */
void k8s_watcher_stop_status(struct k8s_watcher *w, struct k8s_watcher_status *final);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/api.h - HTTP GETs against the API server on one libcurl multi handle.
 *
 * A struct k8s_api owns the connection settings, the bearer token cache and
 * a CURLM; every request of it runs on the thread that calls k8s_api_poll()
 * (the watcher's event thread, or the caller of a one-shot load), so the
 * three watches of a reflector set share one thread and one connection pool.
 * Only k8s_api_wakeup() may be called from another thread.
 *
 * Authentication: "Authorization: Bearer" from the token file (re-read when
 * older than K8S_TOKEN_MAX_AGE_S and right after any 401; the kubelet rotates
 * projected tokens) or the static token; client certificates; TLS verified
 * against the configured CA unless the kubeconfig says insecure.
 */
#ifndef NPSHIM_K8S_API_H
#define NPSHIM_K8S_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct k8s_conn;
struct k8s_api;
struct k8s_req;

#define K8S_TOKEN_MAX_AGE_S 60
#define K8S_USER_AGENT "npshim/0.1 (linux) k8s-reflector"

/* What went wrong below HTTP, for "report once per state change". */
enum k8s_net {
	K8S_NET_OK,        /* a complete HTTP response */
	K8S_NET_DNS,       /* name resolution failed */
	K8S_NET_CONNECT,   /* refused, unreachable, connect timeout */
	K8S_NET_TLS,       /* handshake or certificate verification */
	K8S_NET_DROPPED,   /* connection lost mid-response (reset, EOF) */
	K8S_NET_TIMEOUT,   /* whole-transfer timeout */
	K8S_NET_ABORTED,   /* the data callback asked to stop */
	K8S_NET_OTHER,
};

const char *k8s_net_name(enum k8s_net n);

struct k8s_result {
	long status;          /* HTTP status; 0 when no response arrived */
	enum k8s_net net;
	const char *error;    /* libcurl's message when net != OK */
	int retry_after;      /* Retry-After seconds, -1 when absent */
	/* Body of a non-2xx response (at most 64 KiB, NUL-terminated), else
	 * NULL. Borrowed for the duration of the done callback. */
	const char *body;
	size_t body_len;
	uint64_t bytes;       /* body bytes delivered to the data callback */
};

struct k8s_req_ops {
	/* Body bytes of a 2xx response, in arbitrary pieces. Return false to
	 * abort the transfer (done then reports K8S_NET_ABORTED). */
	bool (*data)(void *ctx, const char *buf, size_t len);
	/* Exactly once per request, unless it was cancelled. The request is
	 * freed after this returns; new requests may be started from here. */
	void (*done)(void *ctx, const struct k8s_result *res);
};

/* Takes ownership of conn in every case. NULL with errno set. */
struct k8s_api *k8s_api_new(struct k8s_conn *conn);
/* Cancels every request still running (no done callbacks). NULL is fine. */
void k8s_api_free(struct k8s_api *api);
/* Borrowed; the connection settings. */
const struct k8s_conn *k8s_api_conn(const struct k8s_api *api);

/* Start "GET <server><path_query>". path_query begins with '/' and is
 * already URL-encoded. timeout_s bounds the whole transfer (0 = none; for a
 * watch give timeoutSeconds plus a margin). Returns a handle that stays
 * valid until done runs or k8s_api_cancel(); NULL with errno set. */
struct k8s_req *k8s_api_get(struct k8s_api *api, const char *path_query, long timeout_s,
			    const struct k8s_req_ops *ops, void *ctx);
/* Stop a running request; its done callback is not called. */
void k8s_api_cancel(struct k8s_api *api, struct k8s_req *req);

/* Wait for network activity at most timeout_ms, move the transfers on and
 * run the callbacks. 0, or -EIO when libcurl fails. */
int k8s_api_poll(struct k8s_api *api, int timeout_ms);
/* Make a k8s_api_poll() in progress return now. Any thread. */
void k8s_api_wakeup(struct k8s_api *api);

/* Drop the cached token so the next request re-reads the file (done
 * automatically after a 401). */
void k8s_api_token_invalidate(struct k8s_api *api);

/* Monotonic clock in milliseconds, shared by the k8s modules. */
uint64_t k8s_now_ms(void);

#endif

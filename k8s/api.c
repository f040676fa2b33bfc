/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/api.c - libcurl multi transport for the API client. */
#include "k8s/api.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "core/log.h"
#include "k8s/kubeconfig.h"

#define ERR_BODY_MAX (64u << 10)
#define TOKEN_MAX (64u << 10)
#define RETRY_AFTER_MAX_S 600

struct k8s_req {
	struct k8s_api *api;
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	const struct k8s_req_ops *ops;
	bool in_multi;
	void *ctx;
	long status;
	int retry_after;
	bool aborted;
	char *err_body;
	size_t err_len;
	uint64_t bytes;
	char errbuf[CURL_ERROR_SIZE];
	struct k8s_req *next, *prev;
};

struct k8s_api {
	struct k8s_conn *conn;
	CURLM *multi;
	struct k8s_req *reqs;
	char *token;
	uint64_t token_read_ms;
	bool token_stale;
	bool token_warned;
	/* tls-server-name: the URL names the verified host, CONNECT_TO the
	 * real one. */
	char *url_base;
	char *connect_to;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

uint64_t k8s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *k8s_net_name(enum k8s_net n)
{
	static const char *const names[] = {
		[K8S_NET_OK] = "ok",           [K8S_NET_DNS] = "dns",
		[K8S_NET_CONNECT] = "connect", [K8S_NET_TLS] = "tls",
		[K8S_NET_DROPPED] = "dropped", [K8S_NET_TIMEOUT] = "timeout",
		[K8S_NET_ABORTED] = "aborted", [K8S_NET_OTHER] = "other",
	};

	return (unsigned)n < sizeof(names) / sizeof(names[0]) ? names[n] : "?";
}

static int setup_server_name(struct k8s_api *api)
{
	const struct k8s_conn *c = api->conn;
	CURLU *u;
	char *host = NULL, *port = NULL, *url = NULL;
	int ret = -EINVAL;

	if (!c->tls_server_name) {
		api->url_base = strdup(c->server);
		return api->url_base ? 0 : -ENOMEM;
	}
	u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, c->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, c->tls_server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto out;
	api->url_base = strdup(url);
	/* CONNECT_TO wants a bare host; curl gives IPv6 hosts bracketed,
	 * which is also what the option accepts. */
	if (asprintf(&api->connect_to, "%s:%s:%s:%s", c->tls_server_name, port, host, port) < 0)
		api->connect_to = NULL;
	ret = api->url_base && api->connect_to ? 0 : -ENOMEM;
	if (api->url_base && api->url_base[0]) {
		size_t n = strlen(api->url_base);

		if (api->url_base[n - 1] == '/')
			api->url_base[n - 1] = '\0';
	}
out:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	curl_url_cleanup(u);
	return ret;
}

struct k8s_api *k8s_api_new(struct k8s_conn *conn)
{
	struct k8s_api *api;
	int e;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		k8s_conn_free(conn);
		errno = EIO;
		return NULL;
	}
	api = calloc(1, sizeof(*api));
	if (!api) {
		k8s_conn_free(conn);
		errno = ENOMEM;
		return NULL;
	}
	api->conn = conn;
	api->token_stale = true;
	api->multi = curl_multi_init();
	if (!api->multi) {
		k8s_api_free(api);
		errno = ENOMEM;
		return NULL;
	}
	e = setup_server_name(api);
	if (e < 0) {
		k8s_api_free(api);
		errno = -e;
		return NULL;
	}
	return api;
}

const struct k8s_conn *k8s_api_conn(const struct k8s_api *api)
{
	return api->conn;
}

static void req_free(struct k8s_req *r)
{
	struct k8s_api *api = r->api;

	if (r->prev)
		r->prev->next = r->next;
	else
		api->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->easy) {
		if (r->in_multi)
			curl_multi_remove_handle(api->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->connect_to);
	free(r->err_body);
	free(r);
}

void k8s_api_free(struct k8s_api *api)
{
	if (!api)
		return;
	while (api->reqs)
		req_free(api->reqs);
	if (api->multi)
		curl_multi_cleanup(api->multi);
	if (api->token) {
		explicit_bzero(api->token, strlen(api->token));
		free(api->token);
	}
	free(api->url_base);
	free(api->connect_to);
	k8s_conn_free(api->conn);
	free(api);
}

void k8s_api_token_invalidate(struct k8s_api *api)
{
	api->token_stale = true;
}

/* Re-read the token file when stale. Open the path each time: the kubelet
 * swaps the ..data symlink, a kept fd would read the old token forever. A
 * failed read keeps the last good token. */
static void token_refresh(struct k8s_api *api)
{
	const char *path = api->conn->token_file;
	char *buf, *start, *end;
	size_t n;
	FILE *f;

	if (!path)
		return;
	if (!api->token_stale && k8s_now_ms() - api->token_read_ms < K8S_TOKEN_MAX_AGE_S * 1000ull)
		return;
	api->token_read_ms = k8s_now_ms();
	api->token_stale = false;
	f = fopen(path, "re");
	if (!f) {
		if (!api->token_warned)
			log_warn("k8s: token file %s", path);
		api->token_warned = true;
		return;
	}
	buf = malloc(TOKEN_MAX + 1);
	if (!buf) {
		fclose(f);
		return;
	}
	n = fread(buf, 1, TOKEN_MAX, f);
	fclose(f);
	buf[n] = '\0';
	for (start = buf; *start && isspace((unsigned char)*start); start++)
		;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (!*start || strpbrk(start, "\r\n")) {
		if (!api->token_warned)
			log_warnx("k8s: token file %s is empty or holds several lines; keeping the last token",
				  path);
		api->token_warned = true;
		free(buf);
		return;
	}
	if (api->token_warned)
		log_info("k8s: token file %s readable again", path);
	api->token_warned = false;
	if (!api->token || strcmp(api->token, start) != 0) {
		if (api->token) {
			log_info("k8s: bearer token changed (re-read %s)", path);
			explicit_bzero(api->token, strlen(api->token));
			free(api->token);
		}
		api->token = strdup(start);
	}
	explicit_bzero(buf, n);
	free(buf);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct k8s_req *r = userdata;
	size_t len = size * nitems;
	static const char name[] = "retry-after:";

	/* A new status line (after a 100-continue or redirect) resets state. */
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		r->retry_after = -1;
		return len;
	}
	if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		char val[64];
		size_t vl = len - (sizeof(name) - 1);
		const char *v = buf + sizeof(name) - 1;
		char *end;
		long secs;

		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && isspace((unsigned char)v[vl - 1]))
			vl--;
		if (vl == 0 || vl >= sizeof(val))
			return len;
		memcpy(val, v, vl);
		val[vl] = '\0';
		secs = strtol(val, &end, 10);
		if (*end) {
			/* HTTP-date form. */
			time_t t = curl_getdate(val, NULL);

			if (t < 0)
				return len;
			secs = (long)(t - time(NULL));
		}
		if (secs < 0)
			secs = 0;
		if (secs > RETRY_AFTER_MAX_S)
			secs = RETRY_AFTER_MAX_S;
		r->retry_after = (int)secs;
	}
	return len;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct k8s_req *r = userdata;
	size_t len = size * nmemb;

	if (r->status == 0)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status >= 200 && r->status < 300) {
		r->bytes += len;
		if (r->ops->data && !r->ops->data(r->ctx, buf, len)) {
			r->aborted = true;
			return 0;
		}
		return len;
	}
	/* An error body is a Status (or text/plain from priority-and-
	 * fairness); keep the head of it for the message. */
	if (r->err_len < ERR_BODY_MAX) {
		size_t take = len;
		char *nb;

		if (take > ERR_BODY_MAX - r->err_len)
			take = ERR_BODY_MAX - r->err_len;
		nb = realloc(r->err_body, r->err_len + take + 1);
		if (!nb)
			return len;
		r->err_body = nb;
		memcpy(nb + r->err_len, buf, take);
		r->err_len += take;
		nb[r->err_len] = '\0';
	}
	return len;
}

static int set_blob(CURL *e, CURLoption opt, char *pem, size_t len)
{
	struct curl_blob blob = { .data = pem, .len = len, .flags = CURL_BLOB_COPY };

	return curl_easy_setopt(e, opt, &blob) == CURLE_OK ? 0 : -1;
}

struct k8s_req *k8s_api_get(struct k8s_api *api, const char *path_query, long timeout_s,
			    const struct k8s_req_ops *ops, void *ctx)
{
	const struct k8s_conn *c = api->conn;
	struct k8s_req *r = calloc(1, sizeof(*r));
	char *url = NULL, *auth = NULL;
	struct curl_slist *h;
	CURL *e;
	int bad = 0;

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->api = api;
	r->ops = ops;
	r->ctx = ctx;
	r->retry_after = -1;
	r->easy = e = curl_easy_init();
	if (!e)
		goto nomem;
	if (asprintf(&url, "%s%s", api->url_base, path_query) < 0) {
		url = NULL;
		goto nomem;
	}
	token_refresh(api);
	const char *token = api->token ? api->token : c->token;

	h = curl_slist_append(NULL, "Accept: application/json");
	if (h)
		r->headers = h;
	if (token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			auth = NULL;
			goto nomem;
		}
		h = curl_slist_append(r->headers, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (!h)
			goto nomem;
		r->headers = h;
	}
	if (!r->headers)
		goto nomem;

	bad |= curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, K8S_USER_AGENT);
	bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
	/* A quiet watch sends nothing for minutes; keepalive finds a dead
	 * peer without a read timeout that would kill healthy watches. */
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	if (c->insecure) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
		if (c->ca_file)
			bad |= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
		else if (c->ca_pem)
			bad |= set_blob(e, CURLOPT_CAINFO_BLOB, c->ca_pem, c->ca_pem_len);
	}
	if (c->cert_file)
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	else if (c->cert_pem)
		bad |= set_blob(e, CURLOPT_SSLCERT_BLOB, c->cert_pem, c->cert_pem_len);
	if (c->key_file)
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	else if (c->key_pem)
		bad |= set_blob(e, CURLOPT_SSLKEY_BLOB, c->key_pem, c->key_pem_len);
	if (api->connect_to) {
		r->connect_to = curl_slist_append(NULL, api->connect_to);
		if (!r->connect_to)
			goto nomem;
		bad |= curl_easy_setopt(e, CURLOPT_CONNECT_TO, r->connect_to);
	}
	free(url);
	url = NULL;
	if (bad) {
		errno = EINVAL;
		goto fail;
	}
	if (curl_multi_add_handle(api->multi, e) != CURLM_OK) {
		errno = EIO;
		goto fail;
	}
	r->in_multi = true;
	r->next = api->reqs;
	if (api->reqs)
		api->reqs->prev = r;
	api->reqs = r;
	return r;
nomem:
	errno = ENOMEM;
fail:
	free(url);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->connect_to);
	free(r);
	return NULL;
}

void k8s_api_cancel(struct k8s_api *api, struct k8s_req *req)
{
	(void)api;
	if (req)
		req_free(req);
}

void k8s_api_wakeup(struct k8s_api *api)
{
	curl_multi_wakeup(api->multi);
}

static enum k8s_net classify(CURLcode rc, bool aborted)
{
	switch (rc) {
	case CURLE_OK:
		return K8S_NET_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return K8S_NET_DNS;
	case CURLE_COULDNT_CONNECT:
		return K8S_NET_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return K8S_NET_TLS;
	case CURLE_OPERATION_TIMEDOUT:
		return K8S_NET_TIMEOUT;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return K8S_NET_DROPPED;
	case CURLE_WRITE_ERROR:
		return aborted ? K8S_NET_ABORTED : K8S_NET_OTHER;
	default:
		return K8S_NET_OTHER;
	}
}

static void finish(struct k8s_api *api, CURLMsg *msg)
{
	struct k8s_req *r = NULL;
	struct k8s_result res = { 0 };

	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
	if (!r)
		return;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	res.net = classify(msg->data.result, r->aborted);
	res.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result);
	res.retry_after = r->retry_after;
	res.bytes = r->bytes;
	if (res.status && (res.status < 200 || res.status >= 300)) {
		res.body = r->err_body ? r->err_body : "";
		res.body_len = r->err_len;
		/* The token may have rotated under us. */
		if (res.status == 401)
			api->token_stale = true;
	}
	/* Detach first: done may start new requests or free ctx. */
	curl_multi_remove_handle(api->multi, r->easy);
	r->in_multi = false;
	if (r->ops->done)
		r->ops->done(r->ctx, &res);
	req_free(r);
}

int k8s_api_poll(struct k8s_api *api, int timeout_ms)
{
	CURLMsg *msg;
	int running, left;

	if (curl_multi_poll(api->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
		return -EIO;
	if (curl_multi_perform(api->multi, &running) != CURLM_OK)
		return -EIO;
	while ((msg = curl_multi_info_read(api->multi, &left))) {
		if (msg->msg == CURLMSG_DONE)
			finish(api, msg);
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* core/metrics.c - per-thread counters, the Prometheus text writer and the HTTP endpoints. */
#include "core/metrics.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"

#ifndef NPSHIM_VERSION
#define NPSHIM_VERSION "0.1.0"
#endif

/* Upper bounds in ns: 5 us .. 100 ms. A verdict in user space normally
 * takes microseconds; the tail buckets show stalls (a slow batch, a lock). */
static const uint64_t lat_bounds_ns[METRICS_LAT_BUCKETS] = {
	5000,	 10000,	  25000,   50000,   100000,   250000,   500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 100000000,
};

struct metrics {
	struct metrics_q *q;
	size_t n_q;
	const char *const *kinds;
	size_t n_kinds;
	const char *const *modes;
	size_t n_modes;

	pthread_mutex_t mu; /* rebuild figures */
	double rebuild_last_s;
	uint64_t rebuilds, rebuild_failures;

	struct MHD_Daemon *httpd;
	const struct metrics_ops *ops;
	void *ctx;
	struct log_ratelimit http_rl;
	pthread_mutex_t http_rl_mu;
};

struct metrics *metrics_new(size_t n_queues, const char *const *kind_names, size_t n_kinds,
			    const char *const *mode_names, size_t n_modes)
{
	struct metrics *m;

	if (n_kinds > METRICS_MAX_KINDS || n_modes > METRICS_MAX_MODES) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (n_queues && posix_memalign((void **)&m->q, 64, n_queues * sizeof(*m->q)) != 0) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	if (n_queues)
		memset(m->q, 0, n_queues * sizeof(*m->q));
	m->n_q = n_queues;
	m->kinds = kind_names;
	m->n_kinds = n_kinds;
	m->modes = mode_names;
	m->n_modes = n_modes;
	m->http_rl.burst = 5;
	m->http_rl.per_sec = 1;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->http_rl_mu, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	metrics_stop(m);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->http_rl_mu);
	free(m->q);
	free(m);
}

struct metrics_q *metrics_queue(struct metrics *m, size_t i)
{
	return m && i < m->n_q ? &m->q[i] : NULL;
}

unsigned metrics_lat_bucket(uint64_t ns)
{
	unsigned lo = 0, hi = METRICS_LAT_BUCKETS;

	/* First bound >= ns (le semantics). */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (lat_bounds_ns[mid] >= ns)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void metrics_q_end(struct metrics_q *q)
{
	uint64_t start, dt;
	unsigned b;

	if (!q)
		return;
	start = q->batch_start_ns;
	metrics_store(&q->batch_start_ns, 0);
	metrics_store(&q->batches, q->batches + 1);
	if (!start || !q->in_batch)
		return;
	dt = metrics_now_ns() - start;
	b = metrics_lat_bucket(dt);
	metrics_store(&q->lat_bucket[b], q->lat_bucket[b] + q->in_batch);
	metrics_store(&q->lat_sum_ns, q->lat_sum_ns + dt * q->in_batch);
	metrics_store(&q->lat_count, q->lat_count + q->in_batch);
}

void metrics_model_rebuilt(struct metrics *m, double seconds, bool ok)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->rebuild_last_s = seconds;
	m->rebuilds++;
	if (!ok)
		m->rebuild_failures++;
	pthread_mutex_unlock(&m->mu);
}

uint64_t metrics_longest_batch_ns(struct metrics *m, size_t *which)
{
	uint64_t now = metrics_now_ns(), worst = 0;

	for (size_t i = 0; m && i < m->n_q; i++) {
		uint64_t s = __atomic_load_n(&m->q[i].batch_start_ns, __ATOMIC_RELAXED);

		if (s && now > s && now - s > worst) {
			worst = now - s;
			if (which)
				*which = i;
		}
	}
	return worst;
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- exposition text ---- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	/* HELP text escapes only backslash and newline; ours has neither,
	 * but the writer stays correct for any text. */
	fprintf(f, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void label_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* name{k1="v1",k2="v2"} value; labels as NULL-terminated key, value pairs. */
static void sample(FILE *f, const char *name, double value, ...)
{
	va_list ap;
	const char *k;
	bool first = true;

	fputs(name, f);
	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		fprintf(f, "%s%s=", first ? "{" : ",", k);
		label_value(f, v ? v : "");
		first = false;
	}
	va_end(ap);
	if (!first)
		fputc('}', f);
	/* Integers print exactly up to 2^53; beyond, %.17g keeps the double. */
	if (value == (double)(int64_t)value && value < 9007199254740992.0 && value > -9007199254740992.0)
		fprintf(f, " %lld\n", (long long)value);
	else
		fprintf(f, " %.17g\n", value);
}

static double num(const cJSON *o, const char *key, bool *found)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsNumber(it)) {
		*found = true;
		return it->valuedouble;
	}
	if (cJSON_IsBool(it)) {
		*found = true;
		return cJSON_IsTrue(it) ? 1 : 0;
	}
	*found = false;
	return 0;
}

/* One family with one unlabelled sample, when status has the member. */
static void single(FILE *f, const cJSON *o, const char *key, const char *name, const char *type,
		   const char *help)
{
	bool found;
	double v = num(o, key, &found);

	if (!found)
		return;
	family(f, name, type, help);
	sample(f, name, v, NULL);
}

/* A per-queue family: one sample per element of status.queues. */
static void per_queue(FILE *f, const cJSON *queues, const char *key, const char *name,
		      const char *type, const char *help)
{
	const cJSON *q;
	bool any = false;

	cJSON_ArrayForEach(q, queues) {
		bool found, fn;
		double v = num(q, key, &found), n = num(q, "num", &fn);
		char qn[16];

		if (!found || !fn)
			continue;
		if (!any)
			family(f, name, type, help);
		any = true;
		snprintf(qn, sizeof(qn), "%u", (unsigned)n);
		sample(f, name, v, "queue", qn, NULL);
	}
}

static void render_status(FILE *f, const cJSON *st)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(st, "model");
	const cJSON *reload = cJSON_GetObjectItemCaseSensitive(st, "reload");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(st, "rules");
	const cJSON *queues = cJSON_GetObjectItemCaseSensitive(st, "queues");
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "records");
	/* "cluster" is there only when the API server is the source. */
	const cJSON *watch = cJSON_GetObjectItemCaseSensitive(st, "cluster");
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(st, "mode");
	const cJSON *q, *sink;
	bool found;
	double up = num(st, "uptime_s", &found);

	if (cJSON_IsString(mode)) {
		family(f, "npshim_mode_info", "gauge", "The global mode (enforce or audit) and failure policy.");
		sample(f, "npshim_mode_info", 1, "mode", mode->valuestring, "fail_open",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "fail_open")) ? "true" : "false",
		       NULL);
	}
	if (found) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		family(f, "npshim_start_time_seconds", "gauge", "Start time of the daemon, Unix seconds.");
		sample(f, "npshim_start_time_seconds",
		       (double)(int64_t)((double)now.tv_sec + (double)now.tv_nsec / 1e9 - up), NULL);
	}

	single(f, model, "generation", "npshim_model_generation", "gauge",
	       "Generation of the policy model in use (1 at start, +1 per successful rebuild).");
	single(f, model, "age_s", "npshim_model_age_seconds", "gauge",
	       "Seconds since the model in use was built.");
	if (cJSON_IsObject(model)) {
		static const char *const kinds[] = { "namespaces", "pods", "policies" };

		family(f, "npshim_model_objects", "gauge", "Objects in the model in use, by kind.");
		for (size_t i = 0; i < 3; i++) {
			double v = num(model, kinds[i], &found);

			if (found)
				sample(f, "npshim_model_objects", v, "kind", kinds[i], NULL);
		}
	}
	single(f, reload, "count", "npshim_reloads_total", "counter",
	       "Model rebuilds after start (file change, SIGHUP, control socket).");
	single(f, reload, "failures", "npshim_reload_failures_total", "counter",
	       "Rebuilds that failed; the previous model stayed in use.");
	single(f, rules, "installed", "npshim_rules_installed", "gauge",
	       "1 when npshim's iptables rules are in place (0 also when they are managed elsewhere).");

	per_queue(f, queues, "received", "npshim_queue_packets_total", "counter",
		  "Packets received from the NFQUEUE queue.");
	if (cJSON_GetArraySize(queues) > 0) {
		family(f, "npshim_queue_verdicts_total", "counter",
		       "Verdicts sent to the kernel by queue and verdict.");
		cJSON_ArrayForEach(q, queues) {
			double n = num(q, "num", &found), a, d;
			char qn[16];

			if (!found)
				continue;
			snprintf(qn, sizeof(qn), "%u", (unsigned)n);
			a = num(q, "accepted", &found);
			if (found)
				sample(f, "npshim_queue_verdicts_total", a, "queue", qn, "verdict", "accept", NULL);
			d = num(q, "dropped", &found);
			if (found)
				sample(f, "npshim_queue_verdicts_total", d, "queue", qn, "verdict", "drop", NULL);
		}
	}
	per_queue(f, queues, "parse_errors", "npshim_queue_parse_errors_total", "counter",
		  "Queued packets that could not be parsed (they get the failure verdict).");
	per_queue(f, queues, "verdict_errors", "npshim_queue_verdict_errors_total", "counter",
		  "Verdicts the kernel refused or that could not be sent.");
	per_queue(f, queues, "enobufs", "npshim_queue_enobufs_total", "counter",
		  "Receive overruns reported on the queue socket (ENOBUFS).");
	if (cJSON_GetArraySize(queues) > 0) {
		family(f, "npshim_queue_kernel_drops_total", "counter",
		       "Packets the kernel dropped (or, fail-open, accepted unseen) before npshim saw them: "
		       "queue_full = queue length reached, socket_full = the socket buffer was full.");
		cJSON_ArrayForEach(q, queues) {
			double n = num(q, "num", &found), v;
			char qn[16];

			if (!found || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "kernel_known")))
				continue;
			snprintf(qn, sizeof(qn), "%u", (unsigned)n);
			v = num(q, "kernel_queue_dropped", &found);
			if (found)
				sample(f, "npshim_queue_kernel_drops_total", v, "queue", qn, "reason",
				       "queue_full", NULL);
			v = num(q, "kernel_user_dropped", &found);
			if (found)
				sample(f, "npshim_queue_kernel_drops_total", v, "queue", qn, "reason",
				       "socket_full", NULL);
		}
	}
	per_queue(f, queues, "kernel_queue_total", "npshim_queue_kernel_waiting", "gauge",
		  "Packets waiting in the kernel queue for a verdict right now.");
	per_queue(f, queues, "kernel_known", "npshim_queue_bound", "gauge",
		  "1 when the kernel lists the queue as bound (/proc/net/netfilter/nfnetlink_queue).");

	sink = cJSON_GetObjectItemCaseSensitive(rec, "sink");
	if (cJSON_IsString(sink) && strcmp(sink->valuestring, "store") == 0) {
		double v;

		single(f, rec, "submitted", "npshim_store_records_submitted_total", "counter",
		       "Flow records handed to the store thread.");
		single(f, rec, "records_written", "npshim_store_records_written_total", "counter",
		       "Flow records committed to the SQLite store.");
		family(f, "npshim_store_records_dropped_total", "counter",
		       "Flow records lost: ring_full = the store thread fell behind, store = the database "
		       "could not be written.");
		v = num(rec, "dropped_full", &found);
		if (found)
			sample(f, "npshim_store_records_dropped_total", v, "reason", "ring_full", NULL);
		v = num(rec, "dropped_store", &found);
		if (found)
			sample(f, "npshim_store_records_dropped_total", v, "reason", "store", NULL);
		single(f, rec, "db_ok", "npshim_store_ok", "gauge",
		       "1 when the last write to the flow store succeeded.");
	} else if (cJSON_IsString(sink)) {
		single(f, rec, "log_lines", "npshim_flowlog_lines_total", "counter",
		       "Flow log lines written (no --db).");
		single(f, rec, "log_suppressed", "npshim_flowlog_suppressed_total", "counter",
		       "Flow log lines suppressed by the rate limit (no --db).");
	}
	if (cJSON_IsObject(watch)) {
		const cJSON *w, *watches = cJSON_GetObjectItemCaseSensitive(watch, "watches");
		static const struct {
			const char *key, *name, *type, *help;
		} per_watch[] = {
			{ "events", "npshim_watch_events_total", "counter", "Watch events applied." },
			{ "relists", "npshim_watch_relists_total", "counter",
			  "Re-lists after the first (410 Gone, errors, malformed events)." },
			{ "errors", "npshim_watch_errors_total", "counter",
			  "Failed list or watch requests." },
		};

		family(f, "npshim_watch_synced", "gauge",
		       "1 when the API source has listed every resource and follows changes.");
		sample(f, "npshim_watch_synced",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(watch, "synced")) ? 1 : 0, NULL);
		for (size_t i = 0; i < sizeof(per_watch) / sizeof(per_watch[0]); i++) {
			family(f, per_watch[i].name, per_watch[i].type, per_watch[i].help);
			cJSON_ArrayForEach(w, watches) {
				const cJSON *res = cJSON_GetObjectItemCaseSensitive(w, "resource");
				bool present;
				double v = num(w, per_watch[i].key, &present);

				if (present && cJSON_IsString(res))
					sample(f, per_watch[i].name, v, "resource", res->valuestring, NULL);
			}
		}
	}
}

char *metrics_render(struct metrics *m, const cJSON *status, bool alive, bool ready)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t cum = 0, sum_ns = 0;

	if (!f)
		return NULL;
	family(f, "npshim_build_info", "gauge", "Version of the running npshim.");
	sample(f, "npshim_build_info", 1, "version", NPSHIM_VERSION, NULL);
	family(f, "npshim_alive", "gauge", "1 while every packet thread makes progress (/healthz).");
	sample(f, "npshim_alive", alive, NULL);
	family(f, "npshim_ready", "gauge",
	       "1 once the model is loaded, the rules installed and the queues bound (/readyz).");
	sample(f, "npshim_ready", ready, NULL);

	family(f, "npshim_verdicts_total", "counter",
	       "Decisions on new connections by kind (allow, deny, would_deny) and the mode that applied.");
	for (size_t k = 0; k < m->n_kinds; k++) {
		for (size_t md = 0; md < m->n_modes; md++) {
			uint64_t v = 0;

			for (size_t i = 0; i < m->n_q; i++)
				v += load(&m->q[i].verdicts[k][md]);
			sample(f, "npshim_verdicts_total", (double)v, "kind", m->kinds[k], "mode",
			       m->modes[md], NULL);
		}
	}

	family(f, "npshim_verdict_latency_seconds", "histogram",
	       "Time from receiving a batch of queued packets to sending their verdicts, per packet.");
	for (size_t i = 0; i < m->n_q; i++)
		sum_ns += load(&m->q[i].lat_sum_ns);
	for (unsigned b = 0; b <= METRICS_LAT_BUCKETS; b++) {
		char le[32];

		for (size_t i = 0; i < m->n_q; i++)
			cum += load(&m->q[i].lat_bucket[b]);
		if (b < METRICS_LAT_BUCKETS)
			snprintf(le, sizeof(le), "%g", (double)lat_bounds_ns[b] / 1e9);
		else
			snprintf(le, sizeof(le), "+Inf");
		sample(f, "npshim_verdict_latency_seconds_bucket", (double)cum, "le", le, NULL);
	}
	/* The threads keep counting while we read: the count is the +Inf
	 * bucket as read, so the two always agree as the format requires. */
	sample(f, "npshim_verdict_latency_seconds_sum", (double)sum_ns / 1e9, NULL);
	sample(f, "npshim_verdict_latency_seconds_count", (double)cum, NULL);

	pthread_mutex_lock(&m->mu);
	if (m->rebuilds) {
		family(f, "npshim_model_rebuild_duration_seconds", "gauge",
		       "Duration of the last model rebuild (load the files, compile, publish).");
		sample(f, "npshim_model_rebuild_duration_seconds", m->rebuild_last_s, NULL);
	}
	pthread_mutex_unlock(&m->mu);

	if (status)
		render_status(f, status);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- HTTP ---- */

bool metrics_addr_parse(const char *text, void *ss_out, unsigned *len_out, char *why,
			size_t whylen)
{
	struct sockaddr_storage *ss = ss_out;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	unsigned long port;
	char *end;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (!rb || rb[1] != ':') {
			snprintf(why, whylen, "expected [IPv6]:PORT");
			return false;
		}
		hl = (size_t)(rb - text - 1);
		if (hl >= sizeof(host)) {
			snprintf(why, whylen, "address too long");
			return false;
		}
		memcpy(host, text + 1, hl);
		host[hl] = 0;
		port_s = rb + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon) {
			snprintf(why, whylen, "expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
			return false;
		}
		hl = (size_t)(colon - text);
		if (hl >= sizeof(host) || hl == 0) {
			snprintf(why, whylen, "expected ADDRESS:PORT, e.g. 127.0.0.1:9632");
			return false;
		}
		memcpy(host, text, hl);
		host[hl] = 0;
		port_s = colon + 1;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!port_s[0] || *end || errno || port < 1 || port > 65535 || port_s[0] == '+' ||
	    port_s[0] == '-') {
		snprintf(why, whylen, "port '%s': expected 1-65535", port_s);
		return false;
	}
	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(why, whylen, "'%s' is not an IPv6 address", host);
			return false;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len_out = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			snprintf(why, whylen, "'%s' is not an IPv4 address (names are not resolved)", host);
			return false;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len_out = sizeof(*s4);
	}
	return true;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, char *body,
			     const char *ctype, bool must_free)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(strlen(body), body,
					       must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return rc;
}

static char *dup_line(const char *a, const char *b)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s\n", a, b) < 0)
		return NULL;
	return s;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct metrics *m = cls;
	char why[256] = "";
	char *body;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, (char *)"only GET and HEAD\n", text, false);
	if (*upload_data_size) {
		/* A GET with a body: ignore the body. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") == 0) {
		cJSON *st = m->ops->status ? m->ops->status(m->ctx) : NULL;
		bool alive = m->ops->alive ? m->ops->alive(m->ctx, why, sizeof(why)) : true;
		bool ready = m->ops->ready ? m->ops->ready(m->ctx, why, sizeof(why)) : true;

		body = metrics_render(m, st, alive, ready);
		cJSON_Delete(st);
		if (!body)
			return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, (char *)"out of memory\n", text,
				     false);
		return reply(conn, MHD_HTTP_OK, body, "text/plain; version=0.0.4; charset=utf-8", true);
	}
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		bool health = url[1] == 'h';
		bool ok = health ? (m->ops->alive ? m->ops->alive(m->ctx, why, sizeof(why)) : true)
				 : (m->ops->ready ? m->ops->ready(m->ctx, why, sizeof(why)) : true);

		body = ok ? dup_line(health ? "ok" : "ready", "") : dup_line(health ? "unhealthy: " : "not ready: ", why);
		if (!body)
			return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, (char *)"out of memory\n", text,
				     false);
		return reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, text, true);
	}
	if (strcmp(url, "/") == 0)
		return reply(conn, MHD_HTTP_OK, (char *)"npshim: /metrics /healthz /readyz\n", text, false);
	return reply(conn, MHD_HTTP_NOT_FOUND, (char *)"not found; try /metrics, /healthz, /readyz\n",
		     text, false);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics *m = cls;
	char msg[512];
	size_t l;
	bool allow;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	l = strlen(msg);
	while (l && msg[l - 1] == '\n')
		msg[--l] = 0;
	/* Misbehaving clients can make these repeat. */
	pthread_mutex_lock(&m->http_rl_mu);
	allow = log_ratelimit_allow(&m->http_rl, NULL);
	pthread_mutex_unlock(&m->http_rl_mu);
	if (allow)
		log_warnx("metrics http: %s", msg);
}

int metrics_serve(struct metrics *m, const char *addr, const struct metrics_ops *ops, void *ctx,
		  char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned sl;
	char why[128];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	uint16_t port;

	if (!metrics_addr_parse(addr, &ss, &sl, why, sizeof(why))) {
		snprintf(err, errlen, "metrics address '%s': %s", addr, why);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	m->ops = ops;
	m->ctx = ctx;
	errno = 0;
	/* The logger first, or MHD logs the options before it itself. */
	m->httpd = MHD_start_daemon(flags, port, NULL, NULL, handle, m,
				    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				    MHD_OPTION_END);
	if (!m->httpd) {
		int e = errno ? errno : EADDRINUSE;

		snprintf(err, errlen, "metrics: cannot listen on %s: %s", addr, strerror(e));
		return -e;
	}
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m || !m->httpd)
		return;
	MHD_stop_daemon(m->httpd);
	m->httpd = NULL;
}

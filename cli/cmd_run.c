/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_run.c - `npshim run`: the node daemon (queues, rules, reload, status).
 *
 * Threads:
 *   main      signals (signalfd), inotify on the --cluster paths, debounce
 *   npshim-qN one per queue: parse, decide, verdict, then records
 *   reload    rebuilds the model off the packet path and publishes it
 *   npshim-ctl the control socket (status, reload)
 *   store     (audit/pipeline) when --db is given
 * The model is published through core/snapshot: a packet thread holds a
 * read section for one receive batch and never waits for a rebuild.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/mode.h"
#include "audit/pipeline.h"
#include "audit/record.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/run_svc.h"
#include "core/ctl.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "k8s/diag.h"
#include "k8s/files.h"
#include "k8s/live.h"
#include "nfq/queue.h"
#include "nfq/rules.h"
#include "policy/model.h"

#ifndef NPSHIM_VERSION
#define NPSHIM_VERSION "0.1.0"
#endif

#define RELOAD_DEBOUNCE_MS 250
/* How often the installed rules are compared with what they should be,
 * unless --rules-check says otherwise. */
#define RULES_CHECK_DEFAULT_S 10
#define PENDING_MAX 256
#define MAX_QUEUES 64
#define MAX_PATHS 256

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim run --cluster PATH...|--kubeconfig F|--in-cluster [--mode enforce|audit] [--node NAME] [--node-ip IP...]\n"
		"                  [--queues FIRST[:LAST]] [--fail-open|--fail-closed] [--rules install|none]\n"
		"                  [--hooks forward[,input,output]] [--socket PATH] [--keep-rules]\n"
		"                  [--mark BITS] [--db PATH [--record denied|all] [--retention DUR]\n"
		"                  [--max-db-size SIZE]] [--rules-check DUR] [--log-level LEVEL]\n"
		"                  [--config PATH|--no-config] [--check-config] [--metrics ADDR:PORT|off]\n"
		"\n"
		"Enforce or audit NetworkPolicy on this node. iptables sends the first packet\n"
		"of every new connection to NFQUEUE; npshim decides it with the policy model\n"
		"built from the --cluster files and answers the kernel.\n"
		"\n"
		"  --cluster PATH     manifest file or directory (repeatable; or the API flags below);\n"
		"                     reloaded on change and on SIGHUP\n"
		"  --mode MODE        enforce (default) drops denied connections; audit only\n"
		"                     records them. A namespace label npshim.io/mode=audit|enforce\n"
		"                     overrides the mode for its pods; a policy annotated\n"
		"                     npshim.io/mode: audit is staged (recorded, never enforced)\n"
		"  --node NAME        only pods on this node are enforced (default: every pod)\n"
		"  --node-ip IP       an address of this node, always allowed (repeatable)\n"
		"  --queues A[:B]     NFQUEUE numbers, one thread each (default 0)\n"
		"  --fail-open        when npshim is not running or its queue overflows, and for\n"
		"                     packets it cannot parse: accept (default in audit mode)\n"
		"  --fail-closed      the same cases: drop (default in enforce mode)\n"
		"  --rules MODE       install (default): install the iptables rules at start and\n"
		"                     remove them at exit; none: the rules are managed elsewhere\n"
		"  --hooks LIST       forward (default), input, output: where the rules hook in\n"
		"  --keep-rules       leave the rules in place at exit (then --fail-* decides)\n"
		"  --rules-check DUR  how often to check that the rules are still in place and\n"
		"                     reinstall them if not (default 10s; 0 = never)\n"
		"  --mark BITS        connection mark bits of a decided flow (default 0x%x)\n"
		"  --socket PATH      control socket (default %s)\n"
		"  --db PATH          store flow records in this SQLite file; without it every\n"
		"                     deny and would-deny is a rate-limited log line\n"
		"  --record WHAT      denied (default): deny and would-deny; all: every new flow\n"
		"  --retention DUR    drop records older than DUR (e.g. 7d; default: keep)\n"
		"  --max-db-size SIZE prune the oldest records beyond SIZE (e.g. 1G)\n"
		"  --log-level LEVEL  error, warn, info (default), debug\n"
		"\n"
		"Cluster state from the API server instead of --cluster files (listed, then\n"
		"watched; the last good state is kept in --state-dir and served at start):\n"
		K8S_CONN_USAGE
		"  --state-dir DIR    last good cluster state (default /var/lib/npshim)\n"
		"\n"
		"Running as a service (systemd unit, settings file, metrics; see npshim(8)):\n"
		"  --config PATH      settings file, key = value (default %s when it\n"
		"                     exists); every flag above is a key; flags override it\n"
		"  --no-config        do not read the default settings file\n"
		"  --check-config     check the settings, flags and cluster files, then exit\n"
		"  --metrics ADDR:PORT  Prometheus /metrics, /healthz, /readyz (default %s;\n"
		"                     off disables)\n"
		"\n"
		"Signals: SIGHUP reloads the cluster files; SIGTERM/SIGINT answer the packets\n"
		"in flight, remove the rules (unless --keep-rules) and exit 0. A reload that\n"
		"fails keeps the previous model; 'npshim status' shows the error.\n"
		"Exit status: 0 clean stop; 2 bad flags or an invalid cluster; 3 startup failed\n"
		"(not root, no NFQUEUE support, queue in use, iptables failed).\n",
		RULES_DEFAULT_MARK, CTL_DEFAULT_SOCKET, RUNSVC_DEFAULT_CONFIG, METRICS_DEFAULT_ADDR);
}

struct run_model {
	struct pol_model *model;
	uint64_t generation;
};

static void run_model_destroy(void *p)
{
	struct run_model *rm = p;

	pol_model_free(rm->model);
	free(rm);
}

struct run_opts {
	const char *paths[MAX_PATHS];
	size_t n_paths;
	enum audit_mode mode;
	const char *node;
	struct pol_ip node_ips[64];
	char *node_ip_text[64];
	size_t n_node_ips;
	uint16_t q_first, q_last;
	int fail_open; /* -1 unset */
	bool rules;
	unsigned hooks;
	bool keep_rules;
	uint32_t mark;
	const char *socket;
	const char *db;
	enum audit_record_scope record;
	uint64_t retention_s;
	uint64_t max_db_bytes;
	uint64_t rules_check_s; /* 0: never */
	struct k8s_conn_opts live; /* --kubeconfig/--context/--in-cluster/--sa-dir */
	const char *state_dir;
};

struct run;

struct qctx {
	struct run *run;
	struct queue *q;
	int slot;
	const struct run_model *cur;
	struct audit_flowlog flowlog;
	struct metrics_q *mq;
	struct {
		struct pol_flow flow;
		struct audit_outcome oc;
	} pend[PENDING_MAX];
	size_t n_pend;
};

struct run {
	struct run_opts o;
	struct runsvc *svc;
	struct snap *snap;
	struct audit_pipeline *pipe;
	bool want_allow;
	struct qctx qc[MAX_QUEUES];
	size_t n_queues;
	bool rules_installed;
	struct rules_config rcfg;
	_Atomic uint64_t rules_repairs;
	struct timespec started;

	pthread_mutex_t mu; /* protects everything below */
	pthread_cond_t cv;
	bool reload_pending, reload_stop;
	uint64_t reloads, reload_failures;
	char last_error[2048];
	time_t last_error_at, last_reload_at;
	uint64_t generation;
	struct timespec model_built; /* CLOCK_MONOTONIC */
	time_t model_built_wall;
	size_t n_pods, n_policies, n_namespaces;
	bool staged;
	/* Namespaces whose npshim.io/mode label sets their mode: "ns=mode"
	 * strings, for status. */
	char **ns_modes;
	size_t n_ns_modes;
	/* Live mode: the watcher, and the newest snapshot not built yet
	 * (a newer one replaces it; under mu). */
	struct k8s_watcher *watcher;
	struct pol_cluster *live_next;
};

/* ---- packet path ---- */

static void write_record(struct qctx *c, const struct pol_flow *flow, const struct audit_outcome *oc)
{
	uint64_t gen = c->cur ? c->cur->generation : 0;

	if (c->run->pipe) {
		struct audit_record r;

		audit_record_fill(&r, flow, oc->basis, oc->kind, oc->mode, gen);
		audit_pipeline_submit(c->run->pipe, &r);
	} else {
		audit_flowlog_write(&c->flowlog, flow, oc, gen);
	}
}

static void q_batch_begin(void *ctx)
{
	struct qctx *c = ctx;

	metrics_q_begin(c->mq);
	c->cur = snap_read_lock(c->run->snap, c->slot);
	c->n_pend = 0;
}

static void q_decide(void *ctx, const struct pkt_info *pkt, struct queue_decision *out)
{
	struct qctx *c = ctx;
	struct pol_flow flow = { .src = pkt->src, .dst = pkt->dst, .proto = pkt->proto,
				 .port = (pkt->flags & PKT_F_NO_PORTS) ? 0 : pkt->dport };
	struct audit_outcome *oc;

	if (!c->cur) {
		/* No model yet (from the API server before the first sync
		 * when nothing was persisted): the failure verdict. */
		out->accept = c->run->o.fail_open || c->run->o.mode == AUDIT_MODE_AUDIT;
		return;
	}
	if (c->n_pend == PENDING_MAX) {
		/* More packets in one batch than slots: write the records now
		 * rather than lose them. */
		for (size_t i = 0; i < c->n_pend; i++)
			write_record(c, &c->pend[i].flow, &c->pend[i].oc);
		c->n_pend = 0;
	}
	oc = &c->pend[c->n_pend].oc;
	audit_decide(c->cur->model, &flow, c->run->o.mode, oc);
	metrics_q_verdict(c->mq, oc->kind, oc->mode);
	out->accept = oc->accept;
	out->would_deny = oc->kind == AUDIT_REC_WOULD_DENY;
	if (oc->kind != AUDIT_REC_ALLOW || c->run->want_allow) {
		c->pend[c->n_pend].flow = flow;
		c->n_pend++;
	}
}

static void q_batch_end(void *ctx)
{
	struct qctx *c = ctx;

	metrics_q_end(c->mq);
	/* The kernel has its verdicts; records may take their time, and
	 * the model stays alive until the unlock below. */
	for (size_t i = 0; i < c->n_pend; i++)
		write_record(c, &c->pend[i].flow, &c->pend[i].oc);
	c->n_pend = 0;
	snap_read_unlock(c->run->snap, c->slot);
	c->cur = NULL;
}

static const struct queue_ops run_queue_ops = {
	.batch_begin = q_batch_begin,
	.decide = q_decide,
	.batch_end = q_batch_end,
};

/* ---- model loading ---- */

static void diag_text(const struct k8s_diag *d, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < d->n_msgs && off + 1 < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? "; " : "", d->msgs[i].text);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off >= len)
		off = len - 1;
	if (d->n_errors > d->n_msgs && off + 1 < len)
		snprintf(buf + off, len - off, "; %zu more", d->n_errors - d->n_msgs);
}

static void free_ns_modes(struct run *r)
{
	for (size_t i = 0; i < r->n_ns_modes; i++)
		free(r->ns_modes[i]);
	free(r->ns_modes);
	r->ns_modes = NULL;
	r->n_ns_modes = 0;
}

/* Called with r->mu held. Out of memory leaves the list short. */
static void set_ns_modes(struct run *r, const struct pol_cluster *mc)
{
	free_ns_modes(r);
	r->ns_modes = calloc(mc->n_namespaces ? mc->n_namespaces : 1, sizeof(*r->ns_modes));
	if (!r->ns_modes)
		return;
	for (size_t i = 0; i < mc->n_namespaces; i++) {
		const char *v = pol_labels_get(&mc->namespaces[i]->labels, AUDIT_MODE_LABEL);
		enum audit_mode m;
		char *e;

		if (!v || !audit_mode_parse(v, &m))
			continue;
		if (asprintf(&e, "%s=%s", mc->namespaces[i]->name, audit_mode_name(m)) >= 0)
			r->ns_modes[r->n_ns_modes++] = e;
	}
}

/* Load the files, build, publish. 0, or -1 with the reason in err (and the
 * old model left in place). print: write every file diagnostic to stderr
 * (then the return is -2 for those, so the caller does not repeat them). */
static int load_and_publish(struct run *r, bool print, char *err, size_t errlen)
{
	struct pol_build_opts bo = { .node_name = r->o.node, .node_ips = r->o.node_ips,
				     .n_node_ips = r->o.n_node_ips };
	struct pol_cluster *cl;
	struct k8s_diag diag;
	struct run_model *rm;
	struct pol_model *m;
	const struct pol_cluster *mc;
	size_t nerr;
	uint64_t gen, t0 = metrics_now_ns();

	if (r->o.live.given) {
		pthread_mutex_lock(&r->mu);
		cl = r->live_next;
		r->live_next = NULL;
		pthread_mutex_unlock(&r->mu);
		/* SIGHUP in live mode, or a snapshot already built. */
		if (!cl)
			return 1;
		goto build;
	}
	cl = pol_cluster_new();
	if (!cl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	k8s_diag_init(&diag);
	nerr = k8s_files_load(cl, r->o.paths, r->o.n_paths, &diag);
	if (nerr) {
		if (print)
			k8s_diag_print(&diag, stderr);
		diag_text(&diag, err, errlen);
		k8s_diag_free(&diag);
		pol_cluster_free(cl);
		return print ? -2 : -1;
	}
	k8s_diag_free(&diag);
build:
	err[0] = 0;
	m = pol_model_build(cl, &bo, err, errlen);
	if (!m) {
		if (!err[0])
			snprintf(err, errlen, "building the model: %s", strerror(errno));
		return -1;
	}
	rm = calloc(1, sizeof(*rm));
	if (!rm) {
		pol_model_free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rm->model = m;
	mc = pol_model_cluster(m);
	/* The generation is known before the swap: publishes are serialised
	 * by the single reload thread (and startup, before it exists). */
	rm->generation = snap_generation(r->snap) + 1;
	pthread_mutex_lock(&r->mu);
	r->n_pods = mc->n_pods;
	r->n_policies = mc->n_policies;
	r->n_namespaces = mc->n_namespaces;
	r->staged = pol_model_has_staged(m);
	set_ns_modes(r, mc);
	pthread_mutex_unlock(&r->mu);
	gen = snap_publish(r->snap, rm);
	pthread_mutex_lock(&r->mu);
	r->generation = gen;
	clock_gettime(CLOCK_MONOTONIC, &r->model_built);
	r->model_built_wall = time(NULL);
	pthread_mutex_unlock(&r->mu);
	runsvc_rebuilt(r->svc, t0, true);
	return 0;
}

static void *reload_main(void *arg)
{
	struct run *r = arg;

	pthread_setname_np(pthread_self(), "npshim-reload");
	/* A rebuild must not take CPU from the packet threads: on a busy
	 * node it runs when they are idle (nice applies per thread). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
		log_debug("reload thread: setpriority: %s", strerror(errno));
	for (;;) {
		char err[2048];
		int rc;

		pthread_mutex_lock(&r->mu);
		while (!r->reload_pending && !r->reload_stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->reload_stop) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		r->reload_pending = false;
		pthread_mutex_unlock(&r->mu);

		rc = load_and_publish(r, false, err, sizeof(err));
		if (rc == 1)
			continue;
		pthread_mutex_lock(&r->mu);
		r->reloads++;
		r->last_reload_at = time(NULL);
		if (rc < 0) {
			r->reload_failures++;
			snprintf(r->last_error, sizeof(r->last_error), "%s", err);
			r->last_error_at = r->last_reload_at;
		} else {
			r->last_error[0] = 0;
		}
		pthread_mutex_unlock(&r->mu);
		if (rc < 0)
			log_errx("reload failed, keeping model generation %llu: %s",
				 (unsigned long long)snap_generation(r->snap), err);
		else
			log_info("reloaded: model generation %llu (%zu pods, %zu policies)",
				 (unsigned long long)r->generation, r->n_pods, r->n_policies);
		runsvc_reloaded(r->svc, rc == 0, snap_generation(r->snap), err);
	}
	return NULL;
}

static void request_reload(struct run *r)
{
	pthread_mutex_lock(&r->mu);
	r->reload_pending = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* The watcher's thread hands over a new cluster state (debounced there);
 * the reload thread builds it, off the watcher and off the packet path. */
static void on_live_snapshot(struct pol_cluster *cl, void *ctx)
{
	struct run *r = ctx;

	pthread_mutex_lock(&r->mu);
	pol_cluster_free(r->live_next);
	r->live_next = cl;
	r->reload_pending = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* ---- status ---- */

static void add_time(cJSON *o, const char *key, time_t t)
{
	char buf[32];
	struct tm tm;

	if (!t) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(o, key, buf);
}

static double since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static cJSON *status_json(struct run *r)
{
	cJSON *o = cJSON_CreateObject(), *model, *reload, *rules, *queues, *tot, *ips, *hooks, *rec;
	uint64_t t_recv = 0, t_acc = 0, t_drop = 0, t_wd = 0, t_perr = 0, t_enob = 0, t_kdrop = 0,
		 t_verr = 0;
	char buf[64];

	cJSON_AddStringToObject(o, "version", NPSHIM_VERSION);
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddStringToObject(o, "mode", audit_mode_name(r->o.mode));
	cJSON_AddBoolToObject(o, "fail_open", r->o.fail_open);
	if (r->o.node)
		cJSON_AddStringToObject(o, "node", r->o.node);
	else
		cJSON_AddNullToObject(o, "node");
	ips = cJSON_AddArrayToObject(o, "node_ips");
	for (size_t i = 0; i < r->o.n_node_ips; i++)
		cJSON_AddItemToArray(ips, cJSON_CreateString(r->o.node_ip_text[i]));
	cJSON_AddNumberToObject(o, "uptime_s", since(&r->started));

	pthread_mutex_lock(&r->mu);
	model = cJSON_AddObjectToObject(o, "model");
	cJSON_AddNumberToObject(model, "generation", (double)r->generation);
	cJSON_AddNumberToObject(model, "age_s", since(&r->model_built));
	add_time(model, "built_at", r->model_built_wall);
	cJSON_AddNumberToObject(model, "pods", (double)r->n_pods);
	cJSON_AddNumberToObject(model, "policies", (double)r->n_policies);
	cJSON_AddNumberToObject(model, "namespaces", (double)r->n_namespaces);
	cJSON_AddBoolToObject(model, "staged_policies", r->staged);
	{
		/* {"ns": "audit"|"enforce"} for namespaces whose label sets it */
		cJSON *nm = cJSON_AddObjectToObject(model, "namespace_modes");

		for (size_t i = 0; i < r->n_ns_modes; i++) {
			char *eq = strchr(r->ns_modes[i], '=');

			*eq = 0;
			cJSON_AddStringToObject(nm, r->ns_modes[i], eq + 1);
			*eq = '=';
		}
	}
	reload = cJSON_AddObjectToObject(o, "reload");
	cJSON_AddNumberToObject(reload, "count", (double)r->reloads);
	cJSON_AddNumberToObject(reload, "failures", (double)r->reload_failures);
	if (r->last_error[0])
		cJSON_AddStringToObject(reload, "last_error", r->last_error);
	else
		cJSON_AddNullToObject(reload, "last_error");
	add_time(reload, "last_error_at", r->last_error_at);
	add_time(reload, "last_at", r->last_reload_at);
	cJSON_AddBoolToObject(reload, "pending", r->reload_pending);
	pthread_mutex_unlock(&r->mu);
	if (r->watcher) {
		struct k8s_watcher_status ks;

		k8s_watcher_status(r->watcher, &ks);
		cJSON_AddItemToObject(o, "cluster", k8s_watcher_status_json(&ks));
	}

	rules = cJSON_AddObjectToObject(o, "rules");
	cJSON_AddBoolToObject(rules, "managed", r->o.rules);
	cJSON_AddBoolToObject(rules, "installed", r->rules_installed);
	cJSON_AddBoolToObject(rules, "keep", r->o.keep_rules);
	cJSON_AddNumberToObject(rules, "repairs", (double)atomic_load(&r->rules_repairs));
	snprintf(buf, sizeof(buf), "0x%x", r->o.mark);
	cJSON_AddStringToObject(rules, "mark", buf);
	hooks = cJSON_AddArrayToObject(rules, "hooks");
	if (r->o.hooks & RULES_HOOK_FORWARD)
		cJSON_AddItemToArray(hooks, cJSON_CreateString("forward"));
	if (r->o.hooks & RULES_HOOK_INPUT)
		cJSON_AddItemToArray(hooks, cJSON_CreateString("input"));
	if (r->o.hooks & RULES_HOOK_OUTPUT)
		cJSON_AddItemToArray(hooks, cJSON_CreateString("output"));

	queues = cJSON_AddArrayToObject(o, "queues");
	for (size_t i = 0; i < r->n_queues; i++) {
		struct queue_stats s;
		cJSON *q = cJSON_CreateObject();

		queue_get_stats(r->qc[i].q, &s);
		cJSON_AddNumberToObject(q, "num", s.num);
		cJSON_AddNumberToObject(q, "received", (double)s.received);
		cJSON_AddNumberToObject(q, "accepted", (double)s.accepted);
		cJSON_AddNumberToObject(q, "dropped", (double)s.dropped);
		cJSON_AddNumberToObject(q, "would_deny", (double)s.would_deny);
		cJSON_AddNumberToObject(q, "parse_errors", (double)s.parse_errors);
		cJSON_AddNumberToObject(q, "enobufs", (double)s.enobufs);
		cJSON_AddNumberToObject(q, "verdict_errors", (double)s.verdict_errors);
		cJSON_AddNumberToObject(q, "batches", (double)s.batches);
		cJSON_AddNumberToObject(q, "verdict_msgs", (double)s.verdict_msgs);
		cJSON_AddNumberToObject(q, "copy_range", s.copy_range);
		cJSON_AddNumberToObject(q, "maxlen", s.maxlen);
		cJSON_AddNumberToObject(q, "rcvbuf", s.rcvbuf);
		cJSON_AddBoolToObject(q, "gso", s.gso);
		cJSON_AddBoolToObject(q, "fail_open", s.fail_open);
		cJSON_AddBoolToObject(q, "kernel_known", s.kernel_known);
		cJSON_AddNumberToObject(q, "kernel_queue_total", s.kernel_queue_total);
		cJSON_AddNumberToObject(q, "kernel_queue_dropped", (double)s.kernel_queue_dropped);
		cJSON_AddNumberToObject(q, "kernel_user_dropped", (double)s.kernel_user_dropped);
		cJSON_AddNumberToObject(q, "kernel_drops",
					(double)(s.kernel_queue_dropped + s.kernel_user_dropped));
		cJSON_AddNumberToObject(q, "kernel_id_sequence", s.kernel_id_sequence);
		cJSON_AddItemToArray(queues, q);
		t_recv += s.received;
		t_acc += s.accepted;
		t_drop += s.dropped;
		t_wd += s.would_deny;
		t_perr += s.parse_errors;
		t_enob += s.enobufs;
		t_verr += s.verdict_errors;
		t_kdrop += s.kernel_queue_dropped + s.kernel_user_dropped;
	}
	tot = cJSON_AddObjectToObject(o, "totals");
	cJSON_AddNumberToObject(tot, "received", (double)t_recv);
	cJSON_AddNumberToObject(tot, "accepted", (double)t_acc);
	cJSON_AddNumberToObject(tot, "dropped", (double)t_drop);
	cJSON_AddNumberToObject(tot, "would_deny", (double)t_wd);
	cJSON_AddNumberToObject(tot, "parse_errors", (double)t_perr);
	cJSON_AddNumberToObject(tot, "enobufs", (double)t_enob);
	cJSON_AddNumberToObject(tot, "verdict_errors", (double)t_verr);
	cJSON_AddNumberToObject(tot, "kernel_drops", (double)t_kdrop);

	rec = cJSON_AddObjectToObject(o, "records");
	if (r->pipe) {
		struct audit_pipeline_stats ps;

		audit_pipeline_stats(r->pipe, &ps);
		cJSON_AddStringToObject(rec, "sink", "store");
		cJSON_AddStringToObject(rec, "db", r->o.db);
		cJSON_AddNumberToObject(rec, "submitted", (double)ps.submitted);
		cJSON_AddNumberToObject(rec, "dropped_full", (double)ps.dropped_full);
		cJSON_AddNumberToObject(rec, "dropped_store", (double)ps.dropped_store);
		cJSON_AddNumberToObject(rec, "records_written", (double)ps.records_written);
		cJSON_AddBoolToObject(rec, "db_ok", ps.db_ok);
		cJSON_AddStringToObject(rec, "db_state", ps.db_state);
	} else {
		uint64_t lines = 0, supp = 0;

		/* Plain reads of another thread's counters: a status figure
		 * may lag by a line, never more. */
		for (size_t i = 0; i < r->n_queues; i++) {
			lines += __atomic_load_n(&r->qc[i].flowlog.lines, __ATOMIC_RELAXED);
			supp += __atomic_load_n(&r->qc[i].flowlog.suppressed, __ATOMIC_RELAXED);
		}
		cJSON_AddStringToObject(rec, "sink", "log");
		cJSON_AddNumberToObject(rec, "log_lines", (double)lines);
		cJSON_AddNumberToObject(rec, "log_suppressed", (double)supp);
	}
	return o;
}

static cJSON *ctl_handle(void *ctx, const char *cmd, const cJSON *req)
{
	struct run *r = ctx;

	if (strcmp(cmd, "status") == 0)
		return status_json(r);
	if (strcmp(cmd, "reload") == 0) {
		cJSON *o = cJSON_CreateObject();

		request_reload(r);
		cJSON_AddBoolToObject(o, "ok", true);
		cJSON_AddNumberToObject(o, "generation", (double)snap_generation(r->snap));
		return o;
	}
	if (strcmp(cmd, "ping") == 0) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddBoolToObject(o, "ok", true);
		return o;
	}
	return NULL;
}

/* ---- file watching ---- */

struct watch {
	int wd;
	char name[NAME_MAX + 1]; /* basename to match; "" = any manifest */
};

static bool manifest_name(const char *n)
{
	size_t l = strlen(n);

	return (l > 5 && strcmp(n + l - 5, ".json") == 0) ||
	       (l > 5 && strcmp(n + l - 5, ".yaml") == 0) ||
	       (l > 4 && strcmp(n + l - 4, ".yml") == 0);
}

/* Watch the directory of every path (editors and kubectl replace files by
 * rename; ConfigMap volumes swap a "..data" symlink), or the path itself
 * when it is a directory. */
static int setup_watches(const struct run_opts *o, struct watch *w, size_t *n_w)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
			IN_MODIFY | IN_ATTRIB;

	*n_w = 0;
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < o->n_paths; i++) {
		struct stat st;
		char dir[PATH_MAX];
		const char *slash;

		if (stat(o->paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(dir, sizeof(dir), "%s", o->paths[i]);
			w[*n_w].name[0] = 0;
		} else {
			slash = strrchr(o->paths[i], '/');
			if (slash)
				snprintf(dir, sizeof(dir), "%.*s", (int)(slash - o->paths[i] + (slash == o->paths[i])),
					 o->paths[i]);
			else
				snprintf(dir, sizeof(dir), ".");
			snprintf(w[*n_w].name, sizeof(w[*n_w].name), "%s", slash ? slash + 1 : o->paths[i]);
		}
		w[*n_w].wd = inotify_add_watch(fd, dir, mask);
		if (w[*n_w].wd < 0)
			log_warn("cannot watch %s for changes (SIGHUP still reloads)", dir);
		else
			(*n_w)++;
	}
	return fd;
}

/* Drain inotify events; true when one concerns a cluster file. */
static bool read_watch_events(int fd, const struct watch *w, size_t n_w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				hit = true;
			for (size_t i = 0; i < n_w && !hit; i++) {
				if (w[i].wd != ev->wd || !ev->len)
					continue;
				if (strncmp(ev->name, "..", 2) == 0 ||
				    (w[i].name[0] ? strcmp(ev->name, w[i].name) == 0
						  : manifest_name(ev->name)))
					hit = true;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

/* ---- flags ---- */

static int parse_args(int argc, char **argv, struct run_opts *o)
{
	enum {
		O_CLUSTER = 256, O_MODE, O_NODE, O_NODE_IP, O_QUEUES, O_FAIL_OPEN, O_FAIL_CLOSED,
		O_RULES, O_HOOKS, O_SOCKET, O_KEEP, O_MARK, O_DB, O_RECORD, O_RETENTION, O_MAXDB,
		O_LOGLEVEL, O_RULES_CHECK, O_STATE_DIR,
	};
	static const struct option longopts[] = {
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "mode", required_argument, NULL, O_MODE },
		{ "node", required_argument, NULL, O_NODE },
		{ "node-ip", required_argument, NULL, O_NODE_IP },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "fail-open", no_argument, NULL, O_FAIL_OPEN },
		{ "fail-closed", no_argument, NULL, O_FAIL_CLOSED },
		{ "rules", required_argument, NULL, O_RULES },
		{ "hooks", required_argument, NULL, O_HOOKS },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "keep-rules", no_argument, NULL, O_KEEP },
		{ "mark", required_argument, NULL, O_MARK },
		{ "db", required_argument, NULL, O_DB },
		{ "record", required_argument, NULL, O_RECORD },
		{ "retention", required_argument, NULL, O_RETENTION },
		{ "max-db-size", required_argument, NULL, O_MAXDB },
		{ "log-level", required_argument, NULL, O_LOGLEVEL },
		{ "rules-check", required_argument, NULL, O_RULES_CHECK },
		{ "state-dir", required_argument, NULL, O_STATE_DIR },
		K8S_CONN_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool store_flags = false;
	enum log_level lvl;
	int c;

	o->mode = AUDIT_MODE_ENFORCE;
	o->fail_open = -1;
	o->rules = true;
	o->hooks = RULES_HOOK_FORWARD;
	o->mark = RULES_DEFAULT_MARK;
	o->socket = CTL_DEFAULT_SOCKET;
	o->record = AUDIT_RECORD_DENIED;
	o->rules_check_s = RULES_CHECK_DEFAULT_S;
	optind = 0;
	opterr = 0;
	o->state_dir = "/var/lib/npshim";
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (k8s_conn_opts_getopt(&o->live, c, optarg))
			continue;
		switch (c) {
		case O_STATE_DIR:
			if (!optarg[0]) {
				log_errx("run: --state-dir needs a directory");
				return CMD_USAGE;
			}
			o->state_dir = optarg;
			break;
		case O_CLUSTER:
			if (!optarg[0]) {
				log_errx("run: --cluster needs a path");
				return CMD_USAGE;
			}
			if (o->n_paths == MAX_PATHS) {
				log_errx("run: more than %d --cluster paths", MAX_PATHS);
				return CMD_USAGE;
			}
			o->paths[o->n_paths++] = optarg;
			break;
		case O_MODE:
			if (!audit_mode_parse(optarg, &o->mode)) {
				log_errx("run: --mode '%s': expected enforce or audit", optarg);
				return CMD_USAGE;
			}
			break;
		case O_NODE:
			if (!optarg[0]) {
				log_errx("run: --node needs a node name");
				return CMD_USAGE;
			}
			o->node = optarg;
			break;
		case O_NODE_IP:
			if (o->n_node_ips == 64) {
				log_errx("run: more than 64 --node-ip addresses");
				return CMD_USAGE;
			}
			if (!pol_ip_parse(optarg, &o->node_ips[o->n_node_ips])) {
				log_errx("run: --node-ip '%s': not an IPv4 or IPv6 address", optarg);
				return CMD_USAGE;
			}
			o->node_ip_text[o->n_node_ips++] = optarg;
			break;
		case O_QUEUES:
			if (!rules_queues_parse(optarg, &o->q_first, &o->q_last)) {
				log_errx("run: --queues '%s': expected N or FIRST:LAST (0-65535, FIRST <= LAST)", optarg);
				return CMD_USAGE;
			}
			if (o->q_last - o->q_first + 1 > MAX_QUEUES) {
				log_errx("run: --queues '%s': at most %d queues", optarg, MAX_QUEUES);
				return CMD_USAGE;
			}
			break;
		case O_FAIL_OPEN:
		case O_FAIL_CLOSED:
			if (o->fail_open != -1 && o->fail_open != (c == O_FAIL_OPEN)) {
				log_errx("run: --fail-open and --fail-closed exclude each other");
				return CMD_USAGE;
			}
			o->fail_open = c == O_FAIL_OPEN;
			break;
		case O_RULES:
			if (strcmp(optarg, "install") == 0) {
				o->rules = true;
			} else if (strcmp(optarg, "none") == 0) {
				o->rules = false;
			} else {
				log_errx("run: --rules '%s': expected install or none", optarg);
				return CMD_USAGE;
			}
			break;
		case O_HOOKS:
			if (!rules_hooks_parse(optarg, &o->hooks)) {
				log_errx("run: --hooks '%s': expected a comma-separated list of forward, input, output", optarg);
				return CMD_USAGE;
			}
			break;
		case O_SOCKET:
			if (!optarg[0]) {
				log_errx("run: --socket needs a path");
				return CMD_USAGE;
			}
			o->socket = optarg;
			break;
		case O_KEEP:
			o->keep_rules = true;
			break;
		case O_MARK:
			if (!rules_mark_parse(optarg, &o->mark)) {
				log_errx("run: --mark '%s': expected a non-zero 32-bit number (e.g. 0x4000000)", optarg);
				return CMD_USAGE;
			}
			break;
		case O_DB:
			if (!optarg[0]) {
				log_errx("run: --db needs a path");
				return CMD_USAGE;
			}
			o->db = optarg;
			break;
		case O_RECORD:
			if (strcmp(optarg, "denied") == 0) {
				o->record = AUDIT_RECORD_DENIED;
			} else if (strcmp(optarg, "all") == 0) {
				o->record = AUDIT_RECORD_ALL;
			} else {
				log_errx("run: --record '%s': expected denied or all", optarg);
				return CMD_USAGE;
			}
			store_flags = true;
			break;
		case O_RETENTION:
			if (!flag_parse_duration(optarg, &o->retention_s)) {
				log_errx("run: --retention '%s': expected a duration such as 7d, 12h, 90m", optarg);
				return CMD_USAGE;
			}
			store_flags = true;
			break;
		case O_MAXDB:
			if (!flag_parse_size(optarg, &o->max_db_bytes) || o->max_db_bytes == 0) {
				log_errx("run: --max-db-size '%s': expected a size such as 512M or 1G", optarg);
				return CMD_USAGE;
			}
			store_flags = true;
			break;
		case O_RULES_CHECK:
			if (!flag_parse_duration(optarg, &o->rules_check_s) ||
			    o->rules_check_s > 86400) {
				log_errx("run: --rules-check '%s': expected a duration up to 1d (e.g. 10s; 0 = never)", optarg);
				return CMD_USAGE;
			}
			break;
		case O_LOGLEVEL:
			if (!log_level_parse(optarg, &lvl)) {
				log_errx("run: --log-level '%s': expected error, warn, info or debug", optarg);
				return CMD_USAGE;
			}
			log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_option_error("run", c, argv);
		}
	}
	if (optind < argc) {
		log_errx("run: unexpected argument '%s'", argv[optind]);
		return CMD_USAGE;
	}
	if (!o->n_paths && !o->live.given) {
		log_errx("run: --cluster PATH or --kubeconfig/--in-cluster is required; see 'npshim run --help'");
		return CMD_USAGE;
	}
	if (o->n_paths && o->live.given) {
		log_errx("run: --cluster and --kubeconfig/--context/--in-cluster/--sa-dir exclude each other");
		return CMD_USAGE;
	}
	if (store_flags && !o->db) {
		log_errx("run: --record, --retention and --max-db-size need --db PATH");
		return CMD_USAGE;
	}
	if (o->keep_rules && !o->rules) {
		log_errx("run: --keep-rules only applies with --rules install");
		return CMD_USAGE;
	}
	if (o->fail_open == -1)
		o->fail_open = o->mode == AUDIT_MODE_AUDIT;
	return CMD_OK;
}

/* ---- lifecycle ---- */

static void stop_queues(struct run *r)
{
	for (size_t i = 0; i < r->n_queues; i++)
		queue_request_stop(r->qc[i].q, 100);
	for (size_t i = 0; i < r->n_queues; i++) {
		queue_stop(r->qc[i].q);
		r->qc[i].q = NULL;
		snap_reader_del(r->snap, r->qc[i].slot);
	}
	r->n_queues = 0;
}

static void remove_rules(struct run *r)
{
	char err[1024];

	if (!r->rules_installed)
		return;
	if (rules_remove(rules_families_available(), err, sizeof(err)) < 0)
		log_errx("removing the iptables rules: %s; run 'npshim rules remove'", err);
	else
		log_info("iptables rules removed");
	r->rules_installed = false;
}

/* Put the rules back when someone removed or reordered them. */
static void check_rules(struct run *r)
{
	char why[512], err[1024];
	unsigned fams = rules_families_available();
	int rc;

	if (!r->rules_installed)
		return;
	rc = rules_verify(&r->rcfg, fams, why, sizeof(why));
	if (rc < 0) {
		log_warnx("cannot check the iptables rules: %s", why);
		return;
	}
	if (rc == 0)
		return;
	log_warnx("iptables rules changed behind our back (%s); reinstalling", why);
	if (rules_install(&r->rcfg, fams, err, sizeof(err)) < 0)
		log_errx("reinstalling the iptables rules: %s", err);
	else
		atomic_fetch_add(&r->rules_repairs, 1);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int main_loop(struct run *r, int sfd)
{
	struct watch w[MAX_PATHS];
	size_t n_w = 0;
	int ifd = setup_watches(&r->o, w, &n_w);
	int64_t due = -1; /* ms left until a debounced reload */
	int64_t every = r->o.rules_check_s ? (int64_t)r->o.rules_check_s * 1000 : INT32_MAX;
	int64_t next_check = mono_ms() + every;

	if (ifd < 0)
		log_warn("inotify unavailable; only SIGHUP reloads");
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = ifd, .events = POLLIN } };
		struct timespec t0, t1;
		int rc;

		int64_t wait_ms = next_check - mono_ms();

		if (wait_ms <= 0) {
			if (r->o.rules_check_s)
				check_rules(r);
			next_check = mono_ms() + every;
			wait_ms = every;
		}
		if (due >= 0 && due < wait_ms)
			wait_ms = due;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = poll(p, 2, (int)wait_ms);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (due >= 0) {
			due -= (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			if (due <= 0) {
				due = -1;
				log_info("cluster files changed; reloading");
				request_reload(r);
			}
		}
		if (rc < 0 && errno != EINTR) {
			log_err("poll");
			break;
		}
		if (rc <= 0)
			continue;
		if (p[1].revents && read_watch_events(ifd, w, n_w))
			due = RELOAD_DEBOUNCE_MS;
		if (p[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_info("SIGHUP: reloading");
					runsvc_reloading(r->svc);
					request_reload(r);
				} else {
					log_info("%s: stopping", strsignal((int)si.ssi_signo));
					if (ifd >= 0)
						close(ifd);
					return 0;
				}
			}
		}
	}
	if (ifd >= 0)
		close(ifd);
	return -1;
}

int cmd_run(int argc, char **argv)
{
	struct run *r;
	struct ctl *ctl = NULL;
	pthread_t reload_thread;
	bool reload_started = false;
	sigset_t sigs;
	char err[4096];
	int rc, sfd = -1, ret = CMD_FAILURE;
	bool running = false;

	r = calloc(1, sizeof(*r));
	if (!r) {
		log_err("run");
		return CMD_FAILURE;
	}
	rc = runsvc_prepare(&r->svc, &argc, &argv);
	if (rc == 0)
		rc = parse_args(argc, argv, &r->o);
	if (rc) {
		runsvc_free(r->svc);
		free(r);
		return rc < 0 ? CMD_OK : rc;
	}
	/* Daemon lines carry timestamps; the level --log-level chose stays. */
	log_init(log_get_level(), "npshim", true);
	if (geteuid() != 0 && !runsvc_check_only(r->svc)) {
		runsvc_free(r->svc);
		log_errx("run: must run as root (NFQUEUE and iptables need CAP_NET_ADMIN)");
		free(r);
		return CMD_FAILURE;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	r->snap = snap_new(run_model_destroy, MAX_QUEUES + 2);
	if (!r->snap) {
		log_err("run");
		goto out;
	}
	if (r->o.live.given && runsvc_check_only(r->svc)) {
		/* Configuration check: read the API server once. */
		struct k8s_diag diag;
		struct pol_cluster *cl = pol_cluster_new();

		k8s_diag_init(&diag);
		if (!cl || k8s_live_load(&r->o.live, cl, &diag) < 0 || diag.n_errors) {
			k8s_diag_print(&diag, stderr);
			k8s_diag_free(&diag);
			pol_cluster_free(cl);
			log_errx("run: cannot read the cluster from the API server");
			ret = CMD_USAGE;
			goto out;
		}
		k8s_diag_free(&diag);
		r->live_next = cl;
	}
	/* Live mode: the model arrives from the watcher, after the queues
	 * are bound; until then the packet path gives the failure verdict. */
	rc = r->o.live.given && !r->live_next ? 1 : load_and_publish(r, true, err, sizeof(err));
	if (rc < 0) {
		if (rc == -2)
			log_errx("run: the cluster files have errors (above); nothing was started");
		else
			log_errx("run: cannot load the cluster: %s", err);
		ret = CMD_USAGE;
		goto out;
	}
	if (rc == 0)
		log_info("model generation 1: %zu namespaces, %zu pods, %zu policies%s", r->n_namespaces,
			 r->n_pods, r->n_policies, r->staged ? " (some staged)" : "");
	if (runsvc_check_only(r->svc)) {
		runsvc_print_check_ok(r->svc, r->n_namespaces, r->n_pods, r->n_policies);
		ret = CMD_OK;
		goto out;
	}

	/* Every thread started from here on inherits the blocked signals;
	 * only the main loop receives them, through the signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("run: signalfd");
		goto out;
	}

	if (r->o.db) {
		struct audit_pipeline_opts po = {
			.db_path = r->o.db,
			.node_name = r->o.node,
			.record = r->o.record,
			.retention_s = r->o.retention_s,
			.max_db_bytes = r->o.max_db_bytes,
		};

		r->pipe = audit_pipeline_start(&po, err, sizeof(err));
		if (!r->pipe) {
			log_errx("run: flow store: %s", err);
			goto out;
		}
		r->want_allow = audit_pipeline_wants(r->pipe, AUDIT_REC_ALLOW);
	}

	/* The control socket starts last (answering status means ready:
	 * queues bound, rules in place), but a daemon already answering
	 * there is refused now, before its rules could be touched. */
	{
		char *resp = NULL;

		if (ctl_request(r->o.socket, "{\"cmd\":\"ping\"}", &resp, 1000, err, sizeof(err)) == 0) {
			free(resp);
			log_errx("run: another npshim answers on %s; stop it first or use --socket",
				 r->o.socket);
			goto out;
		}
	}

	for (unsigned n = r->o.q_first; n <= r->o.q_last; n++) {
		struct qctx *c = &r->qc[r->n_queues];
		struct queue_config qc = {
			.num = (uint16_t)n,
			.fail_open = r->o.fail_open,
			.error_accept = r->o.fail_open || r->o.mode == AUDIT_MODE_AUDIT,
			.mark = r->o.mark,
		};

		c->run = r;
		c->mq = runsvc_queue(r->svc, r->n_queues);
		c->slot = snap_reader_add(r->snap);
		audit_flowlog_init(&c->flowlog, 20, 5);
		c->q = queue_start(&qc, &run_queue_ops, c, err, sizeof(err));
		if (!c->q) {
			snap_reader_del(r->snap, c->slot);
			log_errx("run: %s", err);
			goto out;
		}
		r->n_queues++;
	}

	if (r->o.rules) {
		struct rules_config rc_ = { .mark = r->o.mark, .queue_first = r->o.q_first,
					    .queue_last = r->o.q_last, .fail_open = r->o.fail_open,
					    .hooks = r->o.hooks };

		r->rcfg = rc_;

		if (!(rules_families_available() & RULES_V6))
			log_warnx("IPv6 is disabled on this host: IPv4 rules only");
		r->rules_installed = true; /* a failure may leave half: remove it */
		if (rules_install(&rc_, rules_families_available(), err, sizeof(err)) < 0) {
			log_errx("run: installing the iptables rules: %s", err);
			goto out;
		}
	}

	rc = pthread_create(&reload_thread, NULL, reload_main, r);
	if (rc) {
		errno = rc;
		log_err("run: reload thread");
		goto out;
	}
	reload_started = true;
	if (r->o.live.given) {
		r->watcher = k8s_watcher_start(&r->o.live, r->o.state_dir, on_live_snapshot, r);
		if (!r->watcher)
			goto out; /* the reason is logged */
	}
	ctl = ctl_start(r->o.socket, ctl_handle, r, err, sizeof(err));
	if (!ctl) {
		log_errx("run: %s", err);
		goto out;
	}
	log_info("running: mode %s, %s, queues %u-%u, rules %s, socket %s",
		 audit_mode_name(r->o.mode), r->o.fail_open ? "fail-open" : "fail-closed",
		 r->o.q_first, r->o.q_last, r->o.rules ? "installed" : "not managed", r->o.socket);

	snprintf(err, sizeof(err), "running: mode %s, queues %u-%u", audit_mode_name(r->o.mode),
		 r->o.q_first, r->o.q_last);
	if (runsvc_started(r->svc, ctl_handle, r, err, err, sizeof(err)) < 0) {
		log_errx("run: %s", err);
		goto out;
	}
	running = true;
	ret = main_loop(r, sfd) == 0 ? CMD_OK : CMD_FAILURE;
out:
	runsvc_stopping(r->svc);
	/* The control socket first (status must not read queues being
	 * freed); rules next, so no new packet is queued; then the queues
	 * answer what is in flight and unbind. A failed startup never leaves
	 * rules behind, --keep-rules or not. */
	ctl_stop(ctl);
	if (!r->o.keep_rules || !running)
		remove_rules(r);
	stop_queues(r);
	/* Before the reload thread: no snapshot may arrive after it. */
	k8s_watcher_stop(r->watcher);
	r->watcher = NULL;
	if (reload_started) {
		pthread_mutex_lock(&r->mu);
		r->reload_stop = true;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(reload_thread, NULL);
	}
	audit_pipeline_stop(r->pipe);
	pol_cluster_free(r->live_next);
	snap_free(r->snap);
	if (sfd >= 0)
		close(sfd);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free_ns_modes(r);
	runsvc_free(r->svc);
	free(r);
	return ret;
}

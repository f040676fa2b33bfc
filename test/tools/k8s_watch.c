/* SPDX-License-Identifier: Apache-2.0 */
/* test/tools/k8s_watch.c - run the cluster watcher and print what it sees.
 *
 *     k8s_watch [CONNECTION FLAGS] [--state-dir DIR] [--page-size N]
 *               [--persist-interval S] [--duration S]
 *               [--flow NAME=SRC,DST,PROTO,PORT]... [--once]
 *
 * Prints JSON lines on stdout for test/k8s/run.sh:
 *   {"type":"snapshot","seq":N,"persisted":B,"namespaces":{..},"pods":{..},
 *    "policies":{..},"verdicts":{NAME:"allow"|"deny"|"error: .."}}
 *       for every snapshot the watcher delivers (verdicts come from
 *       pol_model_build + pol_eval over that snapshot, audit view);
 *   {"type":"status",...}   the watcher status when it changed (checked
 *       every 100 ms);
 *   {"type":"final",...}    the status after k8s_watcher_stop().
 * Runs until SIGTERM/SIGINT or --duration. --once does a one-shot
 * k8s_live_load instead, prints one snapshot, the diagnostics on stderr,
 * and exits 0 (loaded) or 1.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "k8s/api.h"
#include "k8s/diag.h"
#include "k8s/live.h"
#include "policy/model.h"
#include "policy/objects.h"

#define MAX_FLOWS 32

struct flow {
	char *name;
	struct pol_flow f;
};

static struct flow flows[MAX_FLOWS];
static size_t n_flows;
static unsigned long seq;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stop;
static struct k8s_watcher *_Atomic watcher;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void emit(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	pthread_mutex_lock(&out_lock);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	pthread_mutex_unlock(&out_lock);
	free(s);
	cJSON_Delete(o);
}

static cJSON *labels_json(const struct pol_labels *l)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < l->n; i++)
		cJSON_AddStringToObject(o, l->items[i].key, l->items[i].value);
	return o;
}

static void add_ipblocks(cJSON *arr, const struct pol_rule *r, size_t n)
{
	char buf[POL_CIDR_STRLEN], line[1024];

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < r[i].n_peers; j++) {
			const struct pol_ipblock *b = r[i].peers[j].ipblock;
			size_t off;

			if (!b)
				continue;
			off = (size_t)snprintf(line, sizeof(line), "%s",
					       pol_cidr_format(&b->cidr, buf, sizeof(buf)));
			for (size_t k = 0; k < b->n_except && off < sizeof(line); k++)
				off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
							k ? "," : " except ",
							pol_cidr_format(&b->except[k], buf, sizeof(buf)));
			cJSON_AddItemToArray(arr, cJSON_CreateString(line));
		}
	}
}

static cJSON *digest(const struct pol_cluster *c)
{
	cJSON *o = cJSON_CreateObject(), *ns, *pods, *pols;
	char buf[POL_IP_STRLEN], key[600];

	cJSON_AddStringToObject(o, "type", "snapshot");
	ns = cJSON_AddObjectToObject(o, "namespaces");
	for (size_t i = 0; i < c->n_namespaces; i++) {
		cJSON *n = cJSON_AddObjectToObject(ns, c->namespaces[i]->name);

		cJSON_AddItemToObject(n, "labels", labels_json(&c->namespaces[i]->labels));
	}
	pods = cJSON_AddObjectToObject(o, "pods");
	for (size_t i = 0; i < c->n_pods; i++) {
		const struct pol_pod *p = c->pods[i];
		cJSON *j, *ips;

		snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
		j = cJSON_AddObjectToObject(pods, key);
		cJSON_AddItemToObject(j, "labels", labels_json(&p->labels));
		ips = cJSON_AddArrayToObject(j, "ips");
		for (size_t k = 0; k < p->n_ips; k++)
			cJSON_AddItemToArray(ips, cJSON_CreateString(pol_ip_format(&p->ips[k], buf,
										   sizeof(buf))));
		if (p->node_name)
			cJSON_AddStringToObject(j, "node", p->node_name);
		cJSON_AddNumberToObject(j, "phase", p->phase);
		cJSON_AddBoolToObject(j, "hostNetwork", p->host_network);
	}
	pols = cJSON_AddObjectToObject(o, "policies");
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct pol_policy *p = c->policies[i];
		cJSON *j, *ib;

		snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
		j = cJSON_AddObjectToObject(pols, key);
		cJSON_AddNumberToObject(j, "ingress", (double)p->n_ingress);
		cJSON_AddNumberToObject(j, "egress", (double)p->n_egress);
		ib = cJSON_AddArrayToObject(j, "ipblocks");
		add_ipblocks(ib, p->ingress, p->n_ingress);
		add_ipblocks(ib, p->egress, p->n_egress);
	}
	return o;
}

/* Digest, then verdicts of the configured flows on a model of c (which
 * pol_model_build consumes). */
static cJSON *snapshot_json(struct pol_cluster *c, bool persisted)
{
	cJSON *o = digest(c), *v;
	struct pol_model *m;
	char err[512] = "";

	cJSON_AddNumberToObject(o, "seq", (double)++seq);
	cJSON_AddBoolToObject(o, "persisted", persisted);
	v = cJSON_AddObjectToObject(o, "verdicts");
	m = pol_model_build(c, NULL, err, sizeof(err));
	for (size_t i = 0; i < n_flows; i++) {
		struct pol_verdict vd;
		char msg[600];

		if (!m) {
			snprintf(msg, sizeof(msg), "error: %s", err[0] ? err : strerror(errno));
			cJSON_AddStringToObject(v, flows[i].name, msg);
			continue;
		}
		pol_eval(m, &flows[i].f, 0, &vd);
		cJSON_AddStringToObject(v, flows[i].name, vd.allowed ? "allow" : "deny");
	}
	pol_model_free(m);
	return o;
}

static void on_snapshot(struct pol_cluster *snap, void *ctx)
{
	struct k8s_watcher_status st;
	struct k8s_watcher *w = watcher;
	bool persisted = true;

	(void)ctx;
	/* Called on the watcher's thread, which publishes the flag before
	 * delivering. Only the persisted state can come before
	 * k8s_watcher_start_opts() returns. */
	if (w) {
		k8s_watcher_status(w, &st);
		persisted = st.serving_persisted;
	}
	emit(snapshot_json(snap, persisted));
}

static bool parse_flow(const char *arg)
{
	char *copy = strdup(arg), *eq, *f[4], *save = NULL;
	struct flow *fl = &flows[n_flows];
	int n = 0;

	if (!copy || n_flows == MAX_FLOWS)
		goto bad;
	eq = strchr(copy, '=');
	if (!eq)
		goto bad;
	*eq = '\0';
	for (char *t = strtok_r(eq + 1, ",", &save); t && n < 4; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n != 4 || !pol_ip_parse(f[0], &fl->f.src) || !pol_ip_parse(f[1], &fl->f.dst))
		goto bad;
	fl->f.proto = pol_proto_parse(f[2]);
	fl->f.port = (uint16_t)atoi(f[3]);
	if (!fl->f.proto)
		goto bad;
	fl->name = strdup(copy);
	free(copy);
	n_flows++;
	return fl->name != NULL;
bad:
	free(copy);
	fprintf(stderr, "k8s_watch: bad --flow '%s' (NAME=SRC,DST,PROTO,PORT)\n", arg);
	return false;
}

static void usage(void)
{
	fprintf(stderr, "usage: k8s_watch [--kubeconfig F] [--context C] [--in-cluster] [--sa-dir D]\n"
			"                 [--state-dir D] [--page-size N] [--persist-interval S]\n"
			"                 [--duration S] [--flow NAME=SRC,DST,PROTO,PORT]... [--once]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		K8S_CONN_LONGOPTS,
		{ "state-dir", required_argument, NULL, 's' },
		{ "page-size", required_argument, NULL, 'p' },
		{ "persist-interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "flow", required_argument, NULL, 'f' },
		{ "once", no_argument, NULL, 'o' },
		{ "debug", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct k8s_conn_opts conn = { 0 };
	struct k8s_watcher_opts wo = { 0 };
	struct k8s_watcher_status st;
	const char *state_dir = NULL;
	double duration = 0;
	bool once = false;
	char err[1024], *last = NULL;
	struct sigaction sa;
	struct timespec t0, now;
	int opt;

	log_init(LOG_LEVEL_INFO, "k8s_watch", true);
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (k8s_conn_opts_getopt(&conn, opt, optarg))
			continue;
		switch (opt) {
		case 's':
			state_dir = optarg;
			break;
		case 'p':
			wo.page_size = (unsigned)atoi(optarg);
			break;
		case 'i':
			wo.persist_interval_s = (unsigned)atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'f':
			if (!parse_flow(optarg))
				return 2;
			break;
		case 'o':
			once = true;
			break;
		case 'D':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (once) {
		struct pol_cluster *c = pol_cluster_new();
		struct k8s_diag diag;
		int rc;

		k8s_diag_init(&diag);
		rc = c ? k8s_live_load_timeout(&conn, duration > 0 ? (unsigned)duration : 0, c, &diag)
		       : -1;
		k8s_diag_print(&diag, stderr);
		if (rc == 0)
			emit(snapshot_json(c, false));
		else
			pol_cluster_free(c);
		k8s_diag_free(&diag);
		return rc == 0 ? 0 : 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	wo.conn = &conn;
	wo.state_dir = state_dir;
	wo.on_snapshot = on_snapshot;
	watcher = k8s_watcher_start_opts(&wo, err, sizeof(err));
	if (!watcher) {
		fprintf(stderr, "k8s_watch: %s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		struct timespec ts = { 0, 100 * 1000000L };
		cJSON *j;
		char *s;

		nanosleep(&ts, NULL);
		k8s_watcher_status(watcher, &st);
		/* Compare without the clock-driven fields, print with them. */
		for (int i = 0; i < 3; i++)
			st.watch[i].backoff_ms = 0;
		j = k8s_watcher_status_json(&st);
		s = j ? cJSON_PrintUnformatted(j) : NULL;
		if (s && (!last || strcmp(s, last) != 0)) {
			cJSON_AddStringToObject(j, "type", "status");
			emit(j);
			j = NULL;
			free(last);
			last = s;
		} else {
			free(s);
		}
		cJSON_Delete(j);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (duration > 0 && (double)(now.tv_sec - t0.tv_sec) +
						(double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= duration)
			break;
	}
	{
		struct k8s_watcher *w = watcher;
		cJSON *j;

		/* Stop first: the status then includes the last write. */
		k8s_watcher_stop_status(w, &st);
		watcher = NULL;
		j = k8s_watcher_status_json(&st);
		if (j) {
			cJSON_AddStringToObject(j, "type", "final");
			emit(j);
		}
	}
	free(last);
	for (size_t i = 0; i < n_flows; i++)
		free(flows[i].name);
	return 0;
}

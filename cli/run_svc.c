/* SPDX-License-Identifier: Apache-2.0 */
/* cli/run_svc.c - the service side of `npshim run`: config keyset, systemd notify, watchdog, metrics. */
#include "cli/run_svc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/mode.h"
#include "audit/record.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "nfq/rules.h"
#include "policy/objects.h"

/* ---- the keyset ---- */

static bool check_queues(const char *v, char *why, size_t len)
{
	uint16_t a, b;

	if (!rules_queues_parse(v, &a, &b)) {
		snprintf(why, len, "expected N or FIRST:LAST (0-65535, FIRST <= LAST)");
		return false;
	}
	if (b - a + 1 > RUNSVC_MAX_QUEUES) {
		snprintf(why, len, "at most %d queues", RUNSVC_MAX_QUEUES);
		return false;
	}
	return true;
}

static bool check_hooks(const char *v, char *why, size_t len)
{
	unsigned h;

	if (rules_hooks_parse(v, &h))
		return true;
	snprintf(why, len, "expected a comma-separated list of forward, input, output");
	return false;
}

static bool check_mark(const char *v, char *why, size_t len)
{
	uint32_t m;

	if (rules_mark_parse(v, &m))
		return true;
	snprintf(why, len, "expected a non-zero 32-bit number (e.g. 0x4000000)");
	return false;
}

static bool check_ip(const char *v, char *why, size_t len)
{
	struct pol_ip ip;

	if (pol_ip_parse(v, &ip))
		return true;
	snprintf(why, len, "not an IPv4 or IPv6 address");
	return false;
}

static bool check_metrics(const char *v, char *why, size_t len)
{
	struct sockaddr_storage ss;
	unsigned sl;

	return strcmp(v, "off") == 0 || metrics_addr_parse(v, &ss, &sl, why, len);
}

static const char *const mode_choices[] = { "enforce", "audit", NULL };
static const char *const fail_choices[] = { "open", "closed", NULL };
static const char *const fail_flags[] = { "--fail-open", "--fail-closed", NULL };
static const char *const rules_choices[] = { "install", "none", NULL };
static const char *const record_choices[] = { "denied", "all", NULL };
static const char *const level_choices[] = { "error", "warn", "info", "debug", NULL };

const struct conf_key runsvc_keys[] = {
	{ .name = "cluster", .type = CONF_STRING, .flag = "--cluster", .repeat = true,
	  .def = "(none; this, kubeconfig or in-cluster is required)",
	  .help = "manifest file or directory; repeat the key for several" },
	{ .name = "kubeconfig", .type = CONF_STRING, .flag = "--kubeconfig", .def = "($KUBECONFIG)",
	  .help = "kubeconfig file(s), ':'-separated: watch the API server instead of files" },
	{ .name = "context", .type = CONF_STRING, .flag = "--context", .def = "(current-context)",
	  .help = "kubeconfig context" },
	{ .name = "in-cluster", .type = CONF_BOOL, .flag = "--in-cluster", .def = "false",
	  .help = "watch the API server with the pod's service account" },
	{ .name = "sa-dir", .type = CONF_STRING, .flag = "--sa-dir",
	  .def = "/var/run/secrets/kubernetes.io/serviceaccount", .help = "service-account directory" },
	{ .name = "state-dir", .type = CONF_STRING, .flag = "--state-dir", .def = "/var/lib/npshim",
	  .help = "where the last good cluster state from the API server is kept" },
	{ .name = "mode", .type = CONF_ENUM, .flag = "--mode", .choices = mode_choices,
	  .def = "enforce", .help = "enforce drops denied connections; audit only records them" },
	{ .name = "node", .type = CONF_STRING, .flag = "--node", .def = "(every pod is local)",
	  .help = "only pods on this node are enforced" },
	{ .name = "node-ip", .type = CONF_CUSTOM, .flag = "--node-ip", .repeat = true,
	  .check = check_ip, .def = "(none)", .help = "an address of this node, always allowed; repeatable" },
	{ .name = "queues", .type = CONF_CUSTOM, .flag = "--queues", .check = check_queues,
	  .def = "0", .help = "NFQUEUE numbers N or FIRST:LAST, one thread each" },
	{ .name = "fail", .type = CONF_ENUM, .flag = "--fail-open", .choices = fail_choices,
	  .choice_flags = fail_flags, .def = "closed in enforce mode, open in audit mode",
	  .help = "verdict when npshim is not running, its queue overflows or a packet cannot be parsed" },
	{ .name = "rules", .type = CONF_ENUM, .flag = "--rules", .choices = rules_choices,
	  .def = "install", .help = "install: manage the iptables rules; none: they are managed elsewhere" },
	{ .name = "hooks", .type = CONF_CUSTOM, .flag = "--hooks", .check = check_hooks,
	  .def = "forward", .help = "where the rules hook in: forward, input, output (comma-separated)" },
	{ .name = "keep-rules", .type = CONF_BOOL, .flag = "--keep-rules", .def = "false",
	  .help = "leave the rules in place at exit" },
	{ .name = "rules-check", .type = CONF_DURATION, .flag = "--rules-check", .def = "10s",
	  .help = "how often to check the rules are in place and reinstall them (0 = never)" },
	{ .name = "mark", .type = CONF_CUSTOM, .flag = "--mark", .check = check_mark,
	  .def = "0x4000000", .help = "connection mark bits of a decided flow" },
	{ .name = "socket", .type = CONF_STRING, .flag = "--socket", .def = CTL_DEFAULT_SOCKET,
	  .help = "control socket path" },
	{ .name = "db", .type = CONF_STRING, .flag = "--db", .def = "(none: log lines)",
	  .help = "SQLite file for flow records" },
	{ .name = "record", .type = CONF_ENUM, .flag = "--record", .choices = record_choices,
	  .def = "denied", .help = "denied: deny and would-deny; all: every new flow (needs db)" },
	{ .name = "retention", .type = CONF_DURATION, .flag = "--retention", .def = "(keep)",
	  .help = "drop records older than this, e.g. 7d (needs db)" },
	{ .name = "max-db-size", .type = CONF_SIZE, .flag = "--max-db-size", .def = "(no limit)",
	  .help = "prune the oldest records beyond this size, e.g. 1G (needs db)" },
	{ .name = "log-level", .type = CONF_ENUM, .flag = "--log-level", .choices = level_choices,
	  .def = "info", .help = "error, warn, info or debug" },
	{ .name = "metrics", .type = CONF_CUSTOM, .flag = "--metrics", .check = check_metrics,
	  .def = METRICS_DEFAULT_ADDR, .help = "ADDRESS:PORT of /metrics, /healthz, /readyz, or off" },
};
const size_t runsvc_n_keys = sizeof(runsvc_keys) / sizeof(runsvc_keys[0]);

/* ---- state ---- */

static const char *const kind_names[] = { "allow", "deny", "would_deny" };
static const char *const mode_names[] = { "enforce", "audit" };

struct qprogress {
	double received;
	uint64_t last_progress_ns;
};

struct runsvc {
	char **argv;
	struct conf *conf;
	char *config_path; /* the file read, or NULL */
	bool check_only;
	char *metrics_addr; /* NULL: off */
	bool metrics_explicit;

	struct metrics *metrics;
	struct sdn_watchdog *wdog;
	ctl_handler status;
	void *ctx;
	/* READY=1 needs both: everything started, and a model (in API
	 * server mode the first one arrives after the start). */
	pthread_mutex_t ready_mu;
	bool started, model_ok;
	atomic_bool ready; /* READY=1 sent and not stopping */
	uint64_t stall_ns;

	pthread_mutex_t mu; /* progress */
	struct qprogress prog[RUNSVC_MAX_QUEUES];
};

/* ---- prepare ---- */

static bool is_flag(const char *a, const char *flag, const char **value)
{
	size_t l = strlen(flag);

	if (strncmp(a, flag, l) != 0)
		return false;
	if (a[l] == 0) {
		*value = NULL;
		return true;
	}
	if (a[l] == '=') {
		*value = a + l + 1;
		return true;
	}
	return false;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* The file decides what a root daemon enforces and where it writes: one
 * others may change is worth a word (sshd refuses; we only warn). */
static void warn_if_writable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)))
		log_warnx("run: %s is writable by %s; it decides what npshim enforces", path,
			  (st.st_mode & S_IWOTH) ? "every user" : "its group");
}

int runsvc_prepare(struct runsvc **out, int *argcp, char ***argvp)
{
	int argc = *argcp, n = 0, merged_argc;
	char **argv = *argvp, **merged;
	const char *config = NULL, *metrics = NULL;
	bool no_config = false, rest = false, help = wants_help(argc, argv);
	struct runsvc *s = calloc(1, sizeof(*s));
	char err[8192], why[256];

	*out = NULL;
	if (!s) {
		log_err("run");
		return CMD_FAILURE;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->ready_mu, NULL);
	atomic_init(&s->ready, false);
	/* First pass: where the configuration comes from. */
	for (int i = 1; i < argc; i++) {
		const char *v;

		if (strcmp(argv[i], "--") == 0)
			break;
		if (is_flag(argv[i], "--config", &v)) {
			if (!v && i + 1 >= argc) {
				log_errx("run: --config needs a path");
				goto usage;
			}
			config = v ? v : argv[++i];
			if (!config[0]) {
				log_errx("run: --config needs a path");
				goto usage;
			}
		} else if (strcmp(argv[i], "--no-config") == 0) {
			no_config = true;
		}
	}
	if (config && no_config) {
		log_errx("run: --config and --no-config exclude each other");
		goto usage;
	}
	if (!config && !no_config && access(RUNSVC_DEFAULT_CONFIG, F_OK) == 0)
		config = RUNSVC_DEFAULT_CONFIG;
	if (config && !help) {
		int rc = conf_load(config, runsvc_keys, runsvc_n_keys, &s->conf, err, sizeof(err));

		if (rc < 0) {
			char *line = err, *nl;

			do {
				nl = strchr(line, '\n');
				if (nl)
					*nl = 0;
				log_errx("run: config: %s", line);
				line = nl + 1;
			} while (nl);
			goto usage;
		}
		s->config_path = strdup(config);
		warn_if_writable(config);
	}
	merged = conf_merge_argv(s->conf, runsvc_keys, runsvc_n_keys, argc, argv, &merged_argc);
	if (!merged) {
		log_err("run");
		runsvc_free(s);
		return CMD_FAILURE;
	}
	/* Second pass: take out what is handled here. The file's --metrics
	 * comes before the command line's, so the last one wins. */
	s->argv = merged;
	for (int i = 0; i < merged_argc; i++) {
		const char *v;

		if (i > 0 && strcmp(merged[i], "--") == 0)
			rest = true;

		if (i > 0 && !rest && (is_flag(merged[i], "--config", &v))) {
			if (!v)
				i++;
			continue;
		}
		if (i > 0 && !rest && strcmp(merged[i], "--no-config") == 0)
			continue;
		if (i > 0 && !rest && strcmp(merged[i], "--check-config") == 0) {
			s->check_only = true;
			continue;
		}
		if (i > 0 && !rest && is_flag(merged[i], "--metrics", &v)) {
			if (!v && i + 1 >= merged_argc) {
				log_errx("run: --metrics needs ADDRESS:PORT or off");
				goto usage;
			}
			metrics = v ? v : merged[++i];
			continue;
		}
		merged[n++] = merged[i];
	}
	merged[n] = NULL;
	if (metrics) {
		if (!help && !check_metrics(metrics, why, sizeof(why))) {
			log_errx("run: --metrics '%s': %s (or off)", metrics, why);
			goto usage;
		}
		s->metrics_explicit = true;
	} else {
		metrics = METRICS_DEFAULT_ADDR;
	}
	if (strcmp(metrics, "off") != 0)
		s->metrics_addr = strdup(metrics);
	s->metrics = metrics_new(RUNSVC_MAX_QUEUES, kind_names, 3, mode_names, 2);
	if (!s->metrics || (!s->metrics_addr && strcmp(metrics, "off") != 0)) {
		log_err("run");
		runsvc_free(s);
		return CMD_FAILURE;
	}
	if (s->config_path)
		log_debug("run: configuration from %s (%zu settings)", s->config_path, s->conf->n);
	*argcp = n;
	*argvp = merged;
	*out = s;
	return 0;
usage:
	runsvc_free(s);
	return CMD_USAGE;
}

bool runsvc_check_only(const struct runsvc *s)
{
	return s && s->check_only;
}

void runsvc_print_check_ok(const struct runsvc *s, size_t n_namespaces, size_t n_pods,
			   size_t n_policies)
{
	printf("configuration OK (%s%s; model: %zu namespaces, %zu pods, %zu policies)\n",
	       s && s->config_path ? "config file " : "no config file",
	       s && s->config_path ? s->config_path : "", n_namespaces, n_pods, n_policies);
}

struct metrics_q *runsvc_queue(struct runsvc *s, size_t i)
{
	return s ? metrics_queue(s->metrics, i) : NULL;
}

/* Send READY=1 once started with a model; true when it was sent now. */
static bool maybe_ready(struct runsvc *s, const char *status)
{
	bool now = false;

	pthread_mutex_lock(&s->ready_mu);
	if (s->started && s->model_ok && !atomic_load(&s->ready)) {
		sdn_ready("%s", status);
		atomic_store(&s->ready, true);
		now = true;
	}
	pthread_mutex_unlock(&s->ready_mu);
	return now;
}

void runsvc_rebuilt(struct runsvc *s, uint64_t t0_ns, bool ok)
{
	if (!s)
		return;
	metrics_model_rebuilt(s->metrics, (double)(metrics_now_ns() - t0_ns) / 1e9, ok);
	if (!ok)
		return;
	pthread_mutex_lock(&s->ready_mu);
	s->model_ok = true;
	pthread_mutex_unlock(&s->ready_mu);
	if (maybe_ready(s, "running: first model loaded"))
		log_info("ready: the first model is loaded");
}

/* ---- health ---- */

static cJSON *get_status(struct runsvc *s)
{
	return s->status ? s->status(s->ctx, "status", NULL) : NULL;
}

/* Every packet thread makes progress: none is stuck inside one batch, and
 * none leaves packets waiting in the kernel queue without reading them. */
static bool svc_alive(void *ctx, char *why, size_t len)
{
	struct runsvc *s = ctx;
	uint64_t now = metrics_now_ns(), worst;
	size_t which = 0;
	const cJSON *q;
	cJSON *st;
	bool ok = true;
	size_t i = 0;

	worst = metrics_longest_batch_ns(s->metrics, &which);
	if (worst > s->stall_ns) {
		snprintf(why, len, "packet thread %zu has been inside one batch for %.1f s", which,
			 (double)worst / 1e9);
		return false;
	}
	st = get_status(s);
	if (!st)
		return true; /* nothing more to look at; not a reason to restart */
	pthread_mutex_lock(&s->mu);
	cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(st, "queues")) {
		const cJSON *rcv = cJSON_GetObjectItemCaseSensitive(q, "received");
		const cJSON *wait = cJSON_GetObjectItemCaseSensitive(q, "kernel_queue_total");
		const cJSON *num = cJSON_GetObjectItemCaseSensitive(q, "num");
		struct qprogress *p;

		if (i >= RUNSVC_MAX_QUEUES)
			break;
		p = &s->prog[i++];
		if (!cJSON_IsNumber(rcv))
			continue;
		if (!p->last_progress_ns || rcv->valuedouble != p->received || !cJSON_IsNumber(wait) ||
		    wait->valuedouble == 0) {
			p->received = rcv->valuedouble;
			p->last_progress_ns = now;
			continue;
		}
		if (ok && now - p->last_progress_ns > s->stall_ns) {
			snprintf(why, len, "queue %d: %d packets wait in the kernel, none read for %.1f s",
				 cJSON_IsNumber(num) ? num->valueint : -1, wait->valueint,
				 (double)(now - p->last_progress_ns) / 1e9);
			ok = false;
		}
	}
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(st);
	return ok;
}

static bool svc_ready(void *ctx, char *why, size_t len)
{
	struct runsvc *s = ctx;
	const cJSON *model, *rules, *queues, *q;
	cJSON *st;
	bool ok = true;

	if (!atomic_load(&s->ready)) {
		pthread_mutex_lock(&s->ready_mu);
		snprintf(why, len, "%s", s->started ? "waiting for the first cluster state" : "starting");
		pthread_mutex_unlock(&s->ready_mu);
		return false;
	}
	st = get_status(s);
	if (!st) {
		snprintf(why, len, "no status");
		return false;
	}
	model = cJSON_GetObjectItemCaseSensitive(st, "model");
	rules = cJSON_GetObjectItemCaseSensitive(st, "rules");
	queues = cJSON_GetObjectItemCaseSensitive(st, "queues");
	if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(model, "generation")) ||
	    cJSON_GetObjectItemCaseSensitive(model, "generation")->valuedouble < 1) {
		snprintf(why, len, "no model loaded");
		ok = false;
	} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rules, "managed")) &&
		   !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rules, "installed"))) {
		snprintf(why, len, "iptables rules not installed");
		ok = false;
	} else if (cJSON_GetArraySize(queues) == 0) {
		snprintf(why, len, "no queue bound");
		ok = false;
	} else {
		cJSON_ArrayForEach(q, queues) {
			if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "kernel_known"))) {
				snprintf(why, len, "queue %d is not bound in the kernel",
					 cJSON_GetObjectItemCaseSensitive(q, "num")
						 ? cJSON_GetObjectItemCaseSensitive(q, "num")->valueint
						 : -1);
				ok = false;
				break;
			}
		}
	}
	cJSON_Delete(st);
	return ok;
}

bool runsvc_alive(struct runsvc *s, char *why, size_t whylen)
{
	return s ? svc_alive(s, why, whylen) : true;
}

bool runsvc_ready(struct runsvc *s, char *why, size_t whylen)
{
	return s ? svc_ready(s, why, whylen) : true;
}

static cJSON *svc_status(void *ctx)
{
	return get_status(ctx);
}

static const struct metrics_ops svc_metrics_ops = {
	.status = svc_status,
	.alive = svc_alive,
	.ready = svc_ready,
};

/* ---- lifecycle ---- */

int runsvc_started(struct runsvc *s, ctl_handler status, void *ctx, const char *summary,
		   char *err, size_t errlen)
{
	char sum[256];
	uint64_t wd;

	if (!s)
		return 0;
	/* summary may share the caller's err buffer. */
	snprintf(sum, sizeof(sum), "%s", summary);
	s->status = status;
	s->ctx = ctx;
	wd = sdn_watchdog_usec();
	/* A batch takes microseconds; half the watchdog interval (at least a
	 * second, so a busy shared machine is not mistaken for a hang). */
	s->stall_ns = wd ? wd * 1000 / 2 : 10000000000ull;
	if (s->stall_ns < 1000000000ull)
		s->stall_ns = 1000000000ull;
	if (s->metrics_addr) {
		int rc = metrics_serve(s->metrics, s->metrics_addr, &svc_metrics_ops, s, err, errlen);

		if (rc < 0) {
			if (s->metrics_explicit)
				return -1;
			log_warnx("%s; metrics disabled (set --metrics ADDRESS:PORT or off)", err);
		} else {
			log_info("metrics on http://%s/metrics", s->metrics_addr);
		}
	}
	pthread_mutex_lock(&s->ready_mu);
	s->started = true;
	pthread_mutex_unlock(&s->ready_mu);
	if (!maybe_ready(s, sum))
		sdn_status("started; waiting for the first cluster state");
	s->wdog = sdn_watchdog_start(svc_alive, s);
	return 0;
}

void runsvc_reloading(struct runsvc *s)
{
	if (s)
		sdn_reloading("reloading the cluster files");
}

void runsvc_reloaded(struct runsvc *s, bool ok, uint64_t generation, const char *error)
{
	/* Before READY (starting, or waiting for the first model) there is
	 * no RELOADING=1 to answer. */
	if (!s || !atomic_load(&s->ready))
		return;
	if (ok)
		sdn_ready("running: model generation %llu", (unsigned long long)generation);
	else
		sdn_ready("running: reload failed, keeping model generation %llu: %s",
			  (unsigned long long)generation, error ? error : "");
}

void runsvc_stopping(struct runsvc *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->ready_mu);
	if (s->started)
		sdn_stopping("stopping");
	s->started = false;
	atomic_store(&s->ready, false);
	pthread_mutex_unlock(&s->ready_mu);
	sdn_watchdog_stop(s->wdog);
	s->wdog = NULL;
	metrics_stop(s->metrics);
}

void runsvc_free(struct runsvc *s)
{
	if (!s)
		return;
	runsvc_stopping(s);
	metrics_free(s->metrics);
	conf_argv_free(s->argv);
	conf_free(s->conf);
	free(s->config_path);
	free(s->metrics_addr);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->ready_mu);
	free(s);
}

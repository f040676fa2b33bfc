/* SPDX-License-Identifier: Apache-2.0 */
/* cli/run_svc.h - `npshim run` as a service: config file, sd_notify, watchdog, metrics.
 *
 * cmd_run calls these at its few lifecycle points; everything about systemd,
 * /etc/npshim/npshim.conf and the metrics endpoint lives here:
 *
 *   runsvc_prepare()   before flag parsing: merge the config file under the
 *                      command line, take out --config, --no-config,
 *                      --check-config and --metrics
 *   runsvc_queue()     the metrics block of packet thread i
 *   runsvc_rebuilt()   after each model build (duration)
 *   runsvc_started()   everything is up: metrics server, READY=1, watchdog
 *   runsvc_reloading() SIGHUP seen: RELOADING=1
 *   runsvc_reloaded()  the rebuild finished: READY=1 and STATUS=
 *   runsvc_stopping()  STOPPING=1; watchdog and metrics server stop
 *   runsvc_free()
 *
 * Every call takes NULL (does nothing), so cmd_run needs no conditionals.
 * Owner: systemd/config helper (issue 7).
 */
#ifndef NPSHIM_CLI_RUN_SVC_H
#define NPSHIM_CLI_RUN_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl.h"
#include "core/conf.h"
#include "core/metrics.h"

#define RUNSVC_DEFAULT_CONFIG "/etc/npshim/npshim.conf"
#define RUNSVC_MAX_QUEUES 64

struct runsvc;

/* The run keyset: every `npshim run` flag as a config key. */
extern const struct conf_key runsvc_keys[];
extern const size_t runsvc_n_keys;

/* Returns 0 with *out set and *argc and *argv replaced by the merged command
 * line (owned by *out, valid until runsvc_free); or CMD_USAGE after
 * printing the errors (bad config file, bad --metrics). With --help in argv
 * the config file is not read. */
int runsvc_prepare(struct runsvc **out, int *argc, char ***argv);
/* --check-config was given: validate, print "configuration OK", exit. */
bool runsvc_check_only(const struct runsvc *s);
/* Say what was checked, on stdout. */
void runsvc_print_check_ok(const struct runsvc *s, size_t n_namespaces, size_t n_pods,
			   size_t n_policies);

struct metrics_q *runsvc_queue(struct runsvc *s, size_t i);
/* A model build started at t0_ns (metrics_now_ns()) ended. */
void runsvc_rebuilt(struct runsvc *s, uint64_t t0_ns, bool ok);

/* Start the metrics server (its failure is fatal only when an address was
 * asked for explicitly), send READY=1, start the watchdog. status answers
 * "status" like the control socket handler. 0 or -1 with err set. */
int runsvc_started(struct runsvc *s, ctl_handler status, void *ctx, const char *summary,
		   char *err, size_t errlen);
/* What /healthz and /readyz answer (and the watchdog asks): false with
 * the reason in why. */
bool runsvc_alive(struct runsvc *s, char *why, size_t whylen);
bool runsvc_ready(struct runsvc *s, char *why, size_t whylen);
void runsvc_reloading(struct runsvc *s);
void runsvc_reloaded(struct runsvc *s, bool ok, uint64_t generation, const char *error);
void runsvc_stopping(struct runsvc *s);
void runsvc_free(struct runsvc *s);

#endif

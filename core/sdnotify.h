/* SPDX-License-Identifier: Apache-2.0 */
/* core/sdnotify.h - systemd Type=notify: readiness, reload, stop, watchdog.
 *
 * Thin over libsystemd's sd_notify(). Every call is a no-op when the process
 * was not started by a service manager (no NOTIFY_SOCKET), so the daemon
 * calls them unconditionally.
 *
 * The watchdog: when the manager asked for one (WATCHDOG_USEC, and
 * WATCHDOG_PID naming this process if set), sdn_watchdog_start() runs a
 * thread that wakes every half of that interval and asks alive(): the caller
 * answers whether every packet thread is making progress. Only then is
 * WATCHDOG=1 sent; a stuck loop therefore stops the keep-alives and the
 * manager restarts the service (WatchdogSec=, Restart=).
 *
 * Threads: the sdn_* calls may come from any thread. Ownership: the
 * watchdog owns its thread; sdn_watchdog_stop() joins and frees it.
 * Owner: systemd/config helper (issue 7).
 */
#ifndef NPSHIM_CORE_SDNOTIFY_H
#define NPSHIM_CORE_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sdn_watchdog;

/* True when a service manager listens (NOTIFY_SOCKET is set). */
bool sdn_enabled(void);

/* READY=1 with a STATUS= line. */
void sdn_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with MONOTONIC_USEC= (the manager matches it to the reload
 * it asked for); follow with sdn_ready() once the reload is done. */
void sdn_reloading(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1 with a STATUS= line. */
void sdn_stopping(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STATUS= alone. */
void sdn_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval the manager asked for, in microseconds; 0 when
 * none. */
uint64_t sdn_watchdog_usec(void);

/* Answer whether the process is healthy; when not, say why (logged, and
 * sent as STATUS=). Called from the watchdog thread. */
typedef bool (*sdn_alive_fn)(void *ctx, char *why, size_t whylen);

/* Start the keep-alive thread when a watchdog is requested. NULL when none
 * is (errno 0) or the thread cannot start (errno set, logged). */
struct sdn_watchdog *sdn_watchdog_start(sdn_alive_fn alive, void *ctx);
/* Stop and join. NULL is fine. */
void sdn_watchdog_stop(struct sdn_watchdog *w);
/* Keep-alives sent so far, and times alive() said no (for tests/metrics). */
uint64_t sdn_watchdog_pings(const struct sdn_watchdog *w);
uint64_t sdn_watchdog_misses(const struct sdn_watchdog *w);

#endif

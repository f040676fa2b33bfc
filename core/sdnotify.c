/* SPDX-License-Identifier: Apache-2.0 */
/* core/sdnotify.c - sd_notify() messages and the liveness-gated watchdog thread. */
#include "core/sdnotify.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "core/log.h"

struct sdn_watchdog {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint64_t period_us;
	sdn_alive_fn alive;
	void *ctx;
	atomic_uint_fast64_t pings, misses;
};

bool sdn_enabled(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s && s[0];
}

/* state ("READY=1\n"...) then STATUS=<formatted text>. */
static void __attribute__((format(printf, 2, 0)))
notify(const char *state, const char *fmt, va_list ap)
{
	char status[512], msg[768];
	int rc;

	if (!sdn_enabled())
		return;
	vsnprintf(status, sizeof(status), fmt, ap);
	/* A newline would start another assignment. */
	for (char *p = status; *p; p++)
		if (*p == '\n')
			*p = ' ';
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", state, status);
	rc = sd_notify(0, msg);
	if (rc < 0) {
		static struct log_ratelimit rl = { .burst = 3, .per_sec = 1 };
		static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;
		bool allow;

		pthread_mutex_lock(&rl_mu);
		allow = log_ratelimit_allow(&rl, NULL);
		pthread_mutex_unlock(&rl_mu);
		if (allow)
			log_warnx("sd_notify: %s", strerror(-rc));
	}
}

#define NOTIFY_FN(fname, state)                  \
	void fname(const char *fmt, ...)         \
	{                                        \
		va_list ap;                      \
		va_start(ap, fmt);               \
		notify(state, fmt, ap);          \
		va_end(ap);                      \
	}

NOTIFY_FN(sdn_ready, "READY=1\n")
NOTIFY_FN(sdn_stopping, "STOPPING=1\n")
NOTIFY_FN(sdn_status, "")

void sdn_reloading(const char *fmt, ...)
{
	struct timespec ts;
	char state[96];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	va_start(ap, fmt);
	notify(state, fmt, ap);
	va_end(ap);
}

uint64_t sdn_watchdog_usec(void)
{
	uint64_t usec = 0;

	/* Checks WATCHDOG_PID against our pid too, so a child that inherited
	 * the variables does not ping on our behalf. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

static void *watchdog_main(void *arg)
{
	struct sdn_watchdog *w = arg;
	bool was_alive = true;
	struct timespec due;

	pthread_setname_np(pthread_self(), "npshim-wdog");
	clock_gettime(CLOCK_MONOTONIC, &due);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		char why[256] = "";
		bool alive;

		pthread_mutex_unlock(&w->mu);
		alive = w->alive(w->ctx, why, sizeof(why));
		if (alive) {
			sd_notify(0, "WATCHDOG=1");
			atomic_fetch_add(&w->pings, 1);
			if (!was_alive) {
				log_info("watchdog: healthy again; keep-alives resumed");
				sdn_status("running");
			}
		} else {
			uint64_t n = atomic_fetch_add(&w->misses, 1);

			/* On the change of state, then every tenth time: the
			 * manager restarts us after WatchdogSec anyway. */
			if (was_alive || n % 10 == 0)
				log_errx("watchdog: withholding the keep-alive: %s", why);
			if (was_alive)
				sdn_status("unhealthy: %s", why);
		}
		was_alive = alive;
		due.tv_sec += (time_t)(w->period_us / 1000000);
		due.tv_nsec += (long)(w->period_us % 1000000) * 1000;
		if (due.tv_nsec >= 1000000000) {
			due.tv_sec++;
			due.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&w->mu);
		while (!w->stop) {
			if (pthread_cond_timedwait(&w->cv, &w->mu, &due) == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct sdn_watchdog *sdn_watchdog_start(sdn_alive_fn alive, void *ctx)
{
	uint64_t usec = sdn_watchdog_usec();
	struct sdn_watchdog *w;
	pthread_condattr_t ca;
	int rc;

	if (!usec || !sdn_enabled()) {
		errno = 0;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		log_err("watchdog");
		return NULL;
	}
	/* Half the interval, as sd_watchdog_enabled(3) recommends, so one
	 * late wake-up does not cost a restart. */
	w->period_us = usec / 2 ? usec / 2 : 1;
	w->alive = alive;
	w->ctx = ctx;
	atomic_init(&w->pings, 0);
	atomic_init(&w->misses, 0);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&w->thread, NULL, watchdog_main, w);
	if (rc) {
		errno = rc;
		log_err("watchdog thread");
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		errno = rc;
		return NULL;
	}
	log_info("watchdog: keep-alive every %llu ms (WatchdogSec %llu ms)",
		 (unsigned long long)(w->period_us / 1000), (unsigned long long)(usec / 1000));
	return w;
}

void sdn_watchdog_stop(struct sdn_watchdog *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

uint64_t sdn_watchdog_pings(const struct sdn_watchdog *w)
{
	return w ? atomic_load(&((struct sdn_watchdog *)w)->pings) : 0;
}

uint64_t sdn_watchdog_misses(const struct sdn_watchdog *w)
{
	return w ? atomic_load(&((struct sdn_watchdog *)w)->misses) : 0;
}

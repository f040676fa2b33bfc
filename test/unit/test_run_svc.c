/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_run_svc.c - run's service glue: config merge, liveness and readiness verdicts. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run_svc.h"
#include "test.h"

/* What the fake daemon reports; the test changes it between calls. */
static double received = 10, waiting, generation = 1;
static bool installed = true, bound = true;

static cJSON *fake_status(void *ctx, const char *cmd, const cJSON *req)
{
	char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\"model\":{\"generation\":%g},\"rules\":{\"managed\":true,\"installed\":%s},"
		 "\"queues\":[{\"num\":3,\"received\":%g,\"kernel_queue_total\":%g,\"kernel_known\":%s}]}",
		 generation, installed ? "true" : "false", received, waiting, bound ? "true" : "false");
	return strcmp(cmd, "status") == 0 ? cJSON_Parse(buf) : NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void test_prepare(void)
{
	char path[] = "/tmp/npshim-test-runsvc-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "cluster = /from/file\nmode = audit\nmetrics = off\nfail = open\n";
	char cfg[64];
	char *argv[] = { "run", "--config", path, "--mode", "enforce", "--fail-closed", "--check-config", NULL };
	char **av = argv;
	int ac = 7;
	struct runsvc *s = NULL;
	int rc;

	T_ASSERT(fd >= 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1, "temp file");
	close(fd);
	snprintf(cfg, sizeof(cfg), "%s", path);
	rc = runsvc_prepare(&s, &ac, &av);
	T_ASSERT(rc == 0 && s, "prepare: %d", rc);
	if (s) {
		/* The file's cluster, then the command line minus what
		 * run_svc handles itself; the file's mode and fail are
		 * overridden, so they are not passed at all. */
		const char *want[] = { "run", "--cluster", "/from/file", "--mode", "enforce", "--fail-closed" };

		T_ASSERT(ac == 6, "argc %d", ac);
		for (int i = 0; i < ac && i < 6; i++)
			T_ASSERT(strcmp(av[i], want[i]) == 0, "argv[%d] '%s' want '%s'", i, av[i], want[i]);
		T_ASSERT(av[ac] == NULL, "terminated");
		T_ASSERT(runsvc_check_only(s), "--check-config taken out and remembered");
	}
	runsvc_free(s);
	unlink(path);

	{
		char *a2[] = { "run", "--no-config", "--metrics", "nope", NULL };
		char **v2 = a2;
		int c2 = 4;

		s = NULL;
		T_ASSERT(runsvc_prepare(&s, &c2, &v2) == CMD_USAGE && !s, "bad --metrics refused");
	}
	{
		char *a3[] = { "run", "--config", "/nonexistent/npshim.conf", NULL };
		char **v3 = a3;
		int c3 = 3;

		s = NULL;
		T_ASSERT(runsvc_prepare(&s, &c3, &v3) == CMD_USAGE && !s, "missing --config refused");
	}
	{
		/* --help never reads the file: a broken config must not hide it. */
		char *a4[] = { "run", "--config", "/nonexistent/npshim.conf", "--help", NULL };
		char **v4 = a4;
		int c4 = 4;

		s = NULL;
		T_ASSERT(runsvc_prepare(&s, &c4, &v4) == 0 && s && c4 == 2 &&
				 strcmp(v4[1], "--help") == 0,
			 "--help with a missing config");
		runsvc_free(s);
	}
}

static void test_health(void)
{
	char *argv[] = { "run", "--no-config", "--metrics", "off", NULL };
	char **av = argv;
	int ac = 4;
	struct runsvc *s = NULL;
	char why[256], err[256];
	struct metrics_q *q;

	/* A 1 s watchdog makes the stall limit 1 s (half of it, at least
	 * 1 s); without NOTIFY_SOCKET no keep-alive thread starts. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "1000000", 1);
	T_ASSERT(runsvc_prepare(&s, &ac, &av) == 0 && s, "prepare");
	if (!s)
		return;
	q = runsvc_queue(s, 0);
	T_ASSERT(q && !runsvc_queue(s, RUNSVC_MAX_QUEUES), "queue blocks");
	T_ASSERT(!runsvc_ready(s, why, sizeof(why)) && strstr(why, "starting"), "not ready before start: %s",
		 why);
	runsvc_rebuilt(s, metrics_now_ns(), true);
	T_ASSERT(runsvc_started(s, fake_status, NULL, "running", err, sizeof(err)) == 0, "start: %s", err);
	T_ASSERT(runsvc_ready(s, why, sizeof(why)), "ready: %s", why);
	installed = false;
	T_ASSERT(!runsvc_ready(s, why, sizeof(why)) && strstr(why, "rules"), "rules gone: %s", why);
	installed = true;
	bound = false;
	T_ASSERT(!runsvc_ready(s, why, sizeof(why)) && strstr(why, "queue 3"), "queue unbound: %s", why);
	bound = true;

	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "alive: %s", why);
	/* Packets wait in the kernel and the thread reads none: after the
	 * stall limit, not alive. */
	waiting = 5;
	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "waiting packets, no time passed yet");
	sleep_ms(600);
	received = 11; /* progress: the clock restarts */
	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "progress while waiting");
	sleep_ms(600);
	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "0.6 s without progress is fine");
	sleep_ms(600);
	T_ASSERT(!runsvc_alive(s, why, sizeof(why)) && strstr(why, "queue 3: 5 packets wait"),
		 "stuck receive: %s", why);
	waiting = 0;
	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "queue drained: alive again");
	/* A thread inside one batch for too long. */
	metrics_q_begin(q);
	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "a fresh batch is fine");
	sleep_ms(1100);
	T_ASSERT(!runsvc_alive(s, why, sizeof(why)) && strstr(why, "packet thread 0"), "stuck batch: %s",
		 why);
	metrics_q_end(q);
	T_ASSERT(runsvc_alive(s, why, sizeof(why)), "batch done: alive");
	runsvc_stopping(s);
	T_ASSERT(!runsvc_ready(s, why, sizeof(why)), "not ready once stopping");
	runsvc_free(s);
}

int main(void)
{
	test_prepare();
	test_health();
	return T_REPORT();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* core/log.c - operational logging. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static const char *line_prefix;
static bool with_timestamps;
static bool to_journal;

/* systemd sets JOURNAL_STREAM=dev:ino for the stream it connected to the
 * journal; stderr may since have been redirected, so compare. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level, const char *prefix, bool timestamps)
{
	current_level = level;
	line_prefix = prefix;
	/* Under systemd the journal stamps and prioritises each line: a
	 * "<N>" syslog priority prefix instead of our own timestamp and
	 * name (the journal adds the unit's). */
	to_journal = stderr_is_journal();
	if (to_journal || getenv("INVOCATION_ID"))
		timestamps = false;
	if (to_journal)
		line_prefix = NULL;
	with_timestamps = timestamps;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

bool log_level_parse(const char *text, enum log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	static const char *const tags[] = { "error", "warning", "info", "debug" };
	char line[2048];
	size_t off = 0;
	int n;

	if (level > current_level)
		return;
	if (to_journal) {
		static const char prio[] = { '3', '4', '6', '7' };

		line[off++] = '<';
		line[off++] = prio[level];
		line[off++] = '>';
	}
	if (with_timestamps) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off += strftime(line + off, sizeof(line) - off, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	n = snprintf(line + off, sizeof(line) - off, "%s%s%s: ",
		     line_prefix ? line_prefix : "", line_prefix ? ": " : "",
		     tags[level]);
	if (n > 0)
		off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	if (n > 0)
		off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
	if (errnum && off < sizeof(line) - 1) {
		n = snprintf(line + off, sizeof(line) - off, ": %s", strerror(errnum));
		if (n > 0)
			off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
	}
	if (off >= sizeof(line) - 1)
		off = sizeof(line) - 2;
	line[off++] = '\n';
	/* One write per line so lines from several threads never interleave. */
	if (write(STDERR_FILENO, line, off) < 0) {
		/* Nowhere left to report it. */
	}
}

#define LOG_FN(fname, level, use_errno)                      \
	void fname(const char *fmt, ...)                     \
	{                                                    \
		int saved = errno;                           \
		va_list ap;                                  \
		va_start(ap, fmt);                           \
		log_emit(level, use_errno ? saved : 0, fmt, ap); \
		va_end(ap);                                  \
		errno = saved;                               \
	}

LOG_FN(log_err, LOG_LEVEL_ERROR, 1)
LOG_FN(log_errx, LOG_LEVEL_ERROR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t *suppressed_out)
{
	uint64_t now = monotonic_ns();

	if (!rl->started) {
		rl->started = true;
		rl->tokens = rl->burst;
		rl->last_ns = now;
	}
	rl->tokens += (double)(now - rl->last_ns) / 1e9 * rl->per_sec;
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	rl->last_ns = now;
	if (rl->tokens < 1.0) {
		rl->suppressed++;
		return false;
	}
	rl->tokens -= 1.0;
	if (suppressed_out)
		*suppressed_out = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

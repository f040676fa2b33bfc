/* SPDX-License-Identifier: Apache-2.0 */
/* core/log.h - operational logging (relayd style) and rate limiting.
 *
 * Messages go to stderr, one line each, prefixed with the level. log_warn and
 * log_err append strerror(errno); every call preserves errno. Safe to call
 * from several threads (one write(2) per line). Flow records never go here:
 * they have their own stream (audit/).
 */
#ifndef NPSHIM_CORE_LOG_H
#define NPSHIM_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Default level is INFO. prefix (may be NULL) starts every line, e.g.
 * "npshim". Timestamps are added when timestamps is true (daemon mode). */
void log_init(enum log_level level, const char *prefix, bool timestamps);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error"/"warn"/"info"/"debug". */
bool log_level_parse(const char *text, enum log_level *out);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Token bucket for repeated conditions: at most burst lines, refilled at
 * per_sec lines a second. Zero-initialise, then set burst and per_sec. Not
 * shared between threads without the caller's own lock. */
struct log_ratelimit {
	uint32_t burst;
	uint32_t per_sec;
	double tokens;
	uint64_t last_ns;
	uint64_t suppressed; /* lines refused since the last allowed one */
	bool started;
};

/* True when a line may be written now. *suppressed_out (may be NULL) gets
 * the number of lines refused since the last allowed one, then resets, so
 * the caller can say "(N similar lines suppressed)". */
bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t *suppressed_out);

#endif

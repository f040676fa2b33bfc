/* SPDX-License-Identifier: Apache-2.0 */
/* core/flags.h - parsing helpers for command-line and config values.
 *
 * Each returns true on success and leaves *out untouched on failure; the
 * caller names the flag in its message (these functions print nothing).
 */
#ifndef NPSHIM_CORE_FLAGS_H
#define NPSHIM_CORE_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal, no sign, no trailing characters, value in [min, max]. */
bool flag_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* "90s", "15m", "1h", "7d", "2w", or plain seconds; "1h30m" too. */
bool flag_parse_duration(const char *text, uint64_t *seconds_out);
/* "512K", "64M", "1G", "1T" or bytes (powers of 1024). */
bool flag_parse_size(const char *text, uint64_t *bytes_out);
/* RFC 3339 ("2026-11-28T17:00:00Z", with an offset or fractional seconds)
 * into Unix seconds. */
bool flag_parse_rfc3339(const char *text, int64_t *unix_out);

#endif

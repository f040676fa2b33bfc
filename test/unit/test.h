/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test.h - the in-house unit test harness.
 *
 * T_ASSERT(cond, fmt, ...) counts one check and prints the failing ones with
 * file:line. T_REPORT() prints "N passed, N failed" and returns the exit
 * status for main.
 */
#ifndef NPSHIM_TEST_H
#define NPSHIM_TEST_H

#include <stdio.h>

static unsigned t_passed, t_failed;

#define T_ASSERT(cond, ...)                                              \
	do {                                                             \
		if (cond) {                                              \
			t_passed++;                                      \
		} else {                                                 \
			t_failed++;                                      \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);      \
			printf(__VA_ARGS__);                             \
			printf("  [%s]\n", #cond);                       \
		}                                                        \
	} while (0)

#define T_REPORT()                                                        \
	(printf("%s: %u passed, %u failed\n", __FILE__, t_passed, t_failed), \
	 t_failed ? 1 : 0)

#endif

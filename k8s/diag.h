/* SPDX-License-Identifier: Apache-2.0 */
/* k8s/diag.h - collected diagnostics of the cluster sources.
 *
 * A loader reports every problem it finds, not just the first, so a user
 * fixes a manifest in one round. Messages look like a compiler's:
 *
 *     PATH:LINE:COL: error: MESSAGE
 *     PATH:LINE: error: MESSAGE        (column unknown)
 *     PATH: error: MESSAGE             (position unknown)
 *
 * Every error is counted; the text of at most max_kept errors (and, apart,
 * of max_kept notes) is kept, the rest are counted in n_dropped. Notes are
 * informational and never make a load fail. A struct k8s_diag owns its message strings; k8s_diag_free()
 * releases them. Not thread-safe; one per load.
 */
#ifndef NPSHIM_K8S_DIAG_H
#define NPSHIM_K8S_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define K8S_DIAG_DEFAULT_MAX 50

enum k8s_diag_sev {
	K8S_DIAG_ERROR,
	K8S_DIAG_NOTE,
};

struct k8s_diag_msg {
	enum k8s_diag_sev sev;
	char *text; /* the whole formatted line, without newline */
};

struct k8s_diag {
	size_t n_errors;   /* every error reported, kept or not */
	size_t n_notes;
	size_t n_dropped;  /* messages counted but not kept (cap or ENOMEM) */
	size_t max_kept;   /* 0 means K8S_DIAG_DEFAULT_MAX */
	bool silent;       /* count only, keep no text (fuzzers) */
	size_t kept_errors, kept_notes;
	struct k8s_diag_msg *msgs;
	size_t n_msgs;
	size_t cap_msgs;
};

/* Zero the structure; equivalent to "= { 0 }". */
void k8s_diag_init(struct k8s_diag *d);
/* Release every kept message and reset the counters. Accepts NULL. */
void k8s_diag_free(struct k8s_diag *d);

/* Report one problem. path may be NULL (then "<input>"); line and col are
 * 1-based, 0 when unknown. */
void k8s_diag_error(struct k8s_diag *d, const char *path, unsigned line,
		    unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void k8s_diag_note(struct k8s_diag *d, const char *path, unsigned line,
		   unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Print every kept message, one per line, then a line saying how many were
 * not shown, if any. */
void k8s_diag_print(const struct k8s_diag *d, FILE *out);

/* True when some kept message contains needle (tests). */
bool k8s_diag_contains(const struct k8s_diag *d, const char *needle);

#endif

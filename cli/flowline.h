/* SPDX-License-Identifier: Apache-2.0 */
/* cli/flowline.h - the line format of `npshim simulate`: flow in, verdict out.
 *
 * Input: one JSON object per line,
 *   {"src": "10.42.1.1", "dst": "10.42.2.2", "protocol": "TCP", "port": 80}
 * protocol is TCP (default), UDP, SCTP, ICMP or ICMPv6 (case-sensitive, as
 * in the Kubernetes API); port is required for TCP/UDP/SCTP and must be
 * absent (or null) for ICMP/ICMPv6. src and dst are IPv4 or IPv6 addresses of
 * one family. Other members are kept and echoed. Members named like the
 * output members (verdict, src_pod, dst_pod, reason) are dropped and
 * replaced, so a previous output can be fed back in.
 *
 * Output: the input members, then "verdict", "src_pod", "dst_pod" and
 * "reason" (see flowline_format_result()).
 *
 * Pure: no I/O. Text is built in a struct flowline_buf the caller owns.
 */
#ifndef NPSHIM_CLI_FLOWLINE_H
#define NPSHIM_CLI_FLOWLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/model.h"

/* Lines longer than this are refused (a flow is well under 1 KiB). */
#define FLOWLINE_MAX_LEN (64 * 1024)

/* A growable text buffer. Zero-initialise; oom latches on allocation failure
 * (every later append is a no-op), so callers check once at the end. */
struct flowline_buf {
	char *s;
	size_t len;
	size_t cap;
	bool oom;
};

void flowline_buf_reset(struct flowline_buf *b);   /* len = 0, keeps memory */
void flowline_buf_free(struct flowline_buf *b);
void flowline_buf_put(struct flowline_buf *b, const char *s, size_t n);
void flowline_buf_puts(struct flowline_buf *b, const char *s);
void flowline_buf_printf(struct flowline_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* s as a JSON string literal (quotes included); NULL gives null. */
void flowline_buf_json_string(struct flowline_buf *b, const char *s);
/* "ns/name" as a JSON string literal. */
void flowline_buf_json_ref(struct flowline_buf *b, const char *ns, const char *name);

struct flowline {
	struct pol_flow flow;
	bool has_port;
	/* The input object without its closing brace and without replaced
	 * members, e.g. `{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 80`.
	 * Owned; released by flowline_clear(). */
	char *echo;
};

/* Parse one line (len bytes, no terminating newline needed; NULs inside
 * are an error). On success fills *out (call flowline_clear() later) and
 * returns true. On failure writes a message that quotes the offending
 * member or the column of a syntax error, without a line-number prefix
 * (the caller knows the line), and returns false; *out is then empty.
 * errno is EINVAL then, or ENOMEM (message "out of memory") when memory ran
 * out. */
bool flowline_parse(const char *text, size_t len, struct flowline *out,
		    char *err, size_t errlen);
void flowline_clear(struct flowline *fl);

/* True for a line holding only whitespace: simulate skips such lines (and
 * still counts them for line numbers). */
bool flowline_is_blank(const char *text, size_t len);

/* Append the output object for fl and its verdict, with a final newline:
 * echo + "verdict": "allow"|"deny", "src_pod"/"dst_pod": "ns/name"|null,
 * "reason": {...}. The reason object:
 *   "by": "policy" | "self" | "node"
 *   "text": one human-readable sentence
 *   "egress": DIR, "ingress": DIR   (only with "by": "policy")
 * DIR = {"state": "allowed"|"denied"|"not isolated"|"not local"|"not a pod",
 *        "policy": "ns/name", "rule": N     (allowed: the first allowing rule,
 *                                             N indexes spec.egress/ingress)
 *        "isolated_by": ["ns/name", ...]}   (allowed and denied)
 */
void flowline_format_result(struct flowline_buf *b, const struct flowline *fl,
			    const struct pol_verdict *v);

/* The reason object alone, as above. */
void flowline_format_reason_json(struct flowline_buf *b, const struct pol_verdict *v);
/* The one-sentence reason alone, as "text" above. */
void flowline_format_reason_text(struct flowline_buf *b, const struct pol_verdict *v);

#endif

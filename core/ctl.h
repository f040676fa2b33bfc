/* SPDX-License-Identifier: Apache-2.0 */
/* core/ctl.h - the daemon's unix control socket: JSON lines in, JSON lines out.
 *
 * Protocol: a client connects, writes one request per line, e.g.
 *   {"cmd":"status"}
 * and reads one response line per request: the handler's JSON object, or
 *   {"error":"MESSAGE"}
 * Several requests may share one connection. A line longer than
 * CTL_MAX_LINE or not valid JSON gets an error response and the connection
 * is closed. Connections are served one at a time with a read timeout, so a
 * stuck client costs the others at most that long.
 *
 * Threads: ctl_start() runs the server in its own thread; the handler is
 * called from it. Ownership: the server owns its socket file (removed by
 * ctl_stop) and thread; the handler's returned object is freed by the
 * server after sending.
 */
#ifndef NPSHIM_CORE_CTL_H
#define NPSHIM_CORE_CTL_H

#include <stddef.h>

#define CTL_DEFAULT_SOCKET "/run/npshim/npshim.sock"
#define CTL_MAX_LINE 65536

struct ctl;
struct cJSON;

/* Answer one request. cmd is the "cmd" member (never NULL), req the whole
 * request object (borrowed). Return a new cJSON object, or NULL for an
 * unknown command. */
typedef struct cJSON *(*ctl_handler)(void *ctx, const char *cmd, const struct cJSON *req);

/* Create the socket (its directory too, mode 0755) and start serving.
 * A path with a live daemon behind it is refused (EADDRINUSE); a stale
 * socket file is replaced. NULL with errno and a message in err. */
struct ctl *ctl_start(const char *path, ctl_handler handler, void *ctx,
		      char *err, size_t errlen);
/* Stop the thread, close and unlink the socket. NULL is fine. */
void ctl_stop(struct ctl *c);

/* Client side: send request (one line, no newline needed) to the daemon at
 * path and return its response line in *response (malloc'd, no newline).
 * 0 or -errno with a message in err. timeout_ms bounds the whole exchange. */
int ctl_request(const char *path, const char *request, char **response,
		unsigned timeout_ms, char *err, size_t errlen);

#endif

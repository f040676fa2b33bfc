/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_ctl.c - the control socket: round trip, unknown command,
 * bad requests, a second server on a live socket, a stale socket file. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/ctl.h"
#include "test/unit/test.h"

static int calls;

static cJSON *handler(void *ctx, const char *cmd, const cJSON *req)
{
	cJSON *o;

	calls++;
	if (strcmp(cmd, "echo") != 0)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "tag", (const char *)ctx);
	cJSON_AddItemToObject(o, "req", cJSON_Duplicate(req, true));
	return o;
}

/* Send raw bytes, read the first answer line. */
static char *raw(const char *path, const char *data, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[4096];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	size_t off = 0;
	ssize_t n;

	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	while (off < len && (n = send(fd, data + off, len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	off = 0;
	while (off < sizeof(buf) - 1 && (n = recv(fd, buf + off, sizeof(buf) - 1 - off, 0)) > 0) {
		off += (size_t)n;
		if (memchr(buf, '\n', off))
			break;
	}
	buf[off] = 0;
	close(fd);
	return buf;
}

int main(void)
{
	char dir[] = "/tmp/npshim-ctl.XXXXXX", path[128], err[256], *resp = NULL, *big;
	struct ctl *c, *c2;
	struct stat st;
	int rc;

	T_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/sub/dir/ctl.sock", dir);
	c = ctl_start(path, handler, "one", err, sizeof(err));
	T_ASSERT(c != NULL, "start: %s", err);
	T_ASSERT(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "socket created with its directories");

	rc = ctl_request(path, "{\"cmd\":\"echo\",\"x\":1}", &resp, 2000, err, sizeof(err));
	T_ASSERT(rc == 0 && resp && strstr(resp, "\"tag\":\"one\"") && strstr(resp, "\"x\":1"),
		 "round trip: %d %s", rc, resp ? resp : err);
	free(resp);
	rc = ctl_request(path, "{\"cmd\":\"nope\"}", &resp, 2000, err, sizeof(err));
	T_ASSERT(rc == 0 && resp && strcmp(resp, "{\"error\":\"unknown command 'nope'\"}") == 0,
		 "unknown command: %s", resp ? resp : err);
	free(resp);

	T_ASSERT(strstr(raw(path, "not json\n", 9), "not a JSON object") != NULL, "bad JSON answered");
	T_ASSERT(strstr(raw(path, "{\"x\":1}\n", 8), "no \\\"cmd\\\"") != NULL, "missing cmd answered");
	/* Two requests in one write, two answers in order. */
	{
		char *r = raw(path, "{\"cmd\":\"echo\",\"n\":1}\n{\"cmd\":\"echo\",\"n\":2}\n", 42);

		T_ASSERT(r && strstr(r, "\"n\":1"), "first of two pipelined requests: %s", r);
	}
	big = malloc(CTL_MAX_LINE + 100);
	memset(big, 'a', CTL_MAX_LINE + 99);
	big[CTL_MAX_LINE + 99] = '\n';
	T_ASSERT(strstr(raw(path, big, CTL_MAX_LINE + 100), "too long") != NULL, "overlong line refused");
	free(big);

	/* A second server on the live socket is refused; the first still works. */
	c2 = ctl_start(path, handler, "two", err, sizeof(err));
	T_ASSERT(c2 == NULL && errno == EADDRINUSE && strstr(err, "another npshim"), "second server refused: %s", err);
	rc = ctl_request(path, "{\"cmd\":\"echo\"}", &resp, 2000, err, sizeof(err));
	T_ASSERT(rc == 0 && strstr(resp, "\"one\""), "first server still answers");
	free(resp);
	ctl_stop(c);
	T_ASSERT(stat(path, &st) < 0 && errno == ENOENT, "socket removed at stop");

	rc = ctl_request(path, "{\"cmd\":\"echo\"}", &resp, 500, err, sizeof(err));
	T_ASSERT(rc < 0 && strstr(err, "no npshim daemon"), "no daemon: %s", err);

	/* A stale socket file (no listener) is replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(sa.sun_path, path);
		bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
	}
	c = ctl_start(path, handler, "three", err, sizeof(err));
	T_ASSERT(c != NULL, "stale socket replaced: %s", err);
	rc = ctl_request(path, "{\"cmd\":\"echo\"}", &resp, 2000, err, sizeof(err));
	T_ASSERT(rc == 0 && strstr(resp, "\"three\""), "new server answers");
	free(resp);
	ctl_stop(c);
	T_ASSERT(calls >= 6, "handler called %d times", calls);
	snprintf(path, sizeof(path), "%s/sub/dir", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	return T_REPORT();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* core/ctl.c - unix control socket server and client. */
#include "core/ctl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define CTL_CLIENT_TIMEOUT_MS 2000

struct ctl {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler handler;
	void *ctx;
	pthread_t thread;
	atomic_bool stop;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Write all of buf before deadline. */
static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one line (without the newline) into a malloc'd buffer. 0, -errno,
 * -ENODATA at a clean EOF before any byte, -E2BIG for an overlong line. */
static int read_line(int fd, char **out, int64_t deadline, char *carry, size_t *carry_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		char *nl;

		/* Consume what a previous read left over first. */
		if (*carry_len) {
			size_t take = *carry_len;

			if (len + take + 1 > cap) {
				while (len + take + 1 > cap)
					cap *= 2;
				char *nb = realloc(buf, cap);
				if (!nb) {
					free(buf);
					return -ENOMEM;
				}
				buf = nb;
			}
			memcpy(buf + len, carry, take);
			len += take;
			*carry_len = 0;
		}
		buf[len] = 0;
		nl = memchr(buf, '\n', len);
		if (nl && (size_t)(nl - buf) > CTL_MAX_LINE) {
			free(buf);
			return -E2BIG;
		}
		if (nl) {
			size_t rest = len - (size_t)(nl - buf) - 1;

			memcpy(carry, nl + 1, rest);
			*carry_len = rest;
			*nl = 0;
			*out = buf;
			return 0;
		}
		if (len > CTL_MAX_LINE) {
			free(buf);
			return -E2BIG;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		n = recv(fd, carry, 4096, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (n == 0) {
			if (len) {
				/* Last line without newline: take it. */
				*out = buf;
				return 0;
			}
			free(buf);
			return -ENODATA;
		}
		*carry_len = (size_t)n;
	}
}

static void reply_error(int fd, const char *msg, int64_t deadline)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "error", msg);
	s = cJSON_PrintUnformatted(o);
	if (s) {
		write_all(fd, s, strlen(s), deadline);
		write_all(fd, "\n", 1, deadline);
	}
	free(s);
	cJSON_Delete(o);
}

static void serve_client(struct ctl *c, int fd)
{
	char carry[4096];
	size_t carry_len = 0;

	while (!atomic_load(&c->stop)) {
		int64_t deadline = now_ms() + CTL_CLIENT_TIMEOUT_MS;
		char *line = NULL, *s;
		cJSON *req, *resp;
		const cJSON *cmd;
		int rc = read_line(fd, &line, deadline, carry, &carry_len);

		if (rc == -E2BIG) {
			reply_error(fd, "request line too long", deadline);
			return;
		}
		if (rc < 0)
			return;
		req = cJSON_Parse(line);
		free(line);
		if (!req || !cJSON_IsObject(req)) {
			reply_error(fd, "request is not a JSON object", deadline);
			cJSON_Delete(req);
			return;
		}
		cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
		if (!cJSON_IsString(cmd)) {
			reply_error(fd, "request has no \"cmd\" string", deadline);
			cJSON_Delete(req);
			continue;
		}
		resp = c->handler(c->ctx, cmd->valuestring, req);
		if (!resp) {
			char msg[160];

			snprintf(msg, sizeof(msg), "unknown command '%.100s'", cmd->valuestring);
			reply_error(fd, msg, deadline);
			cJSON_Delete(req);
			continue;
		}
		cJSON_Delete(req);
		s = cJSON_PrintUnformatted(resp);
		cJSON_Delete(resp);
		if (!s) {
			reply_error(fd, "out of memory", deadline);
			return;
		}
		rc = write_all(fd, s, strlen(s), deadline);
		if (!rc)
			rc = write_all(fd, "\n", 1, deadline);
		free(s);
		if (rc)
			return;
	}
}

static void *ctl_main(void *arg)
{
	struct ctl *c = arg;

	pthread_setname_np(pthread_self(), "npshim-ctl");
	while (!atomic_load(&c->stop)) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int fd;

		/* Wake up now and then to notice a stop request. */
		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_client(c, fd);
		close(fd);
	}
	return NULL;
}

/* mkdir -p for the socket's directory. */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

struct ctl *ctl_start(const char *path, ctl_handler handler, void *ctx,
		      char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct ctl *c;
	int rc, probe;

	if (fill_addr(&sa, path) < 0) {
		snprintf(err, errlen, "control socket path '%s' is too long", path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->handler = handler;
	c->ctx = ctx;
	atomic_init(&c->stop, false);
	rc = make_parent(path);
	if (rc < 0) {
		snprintf(err, errlen, "control socket %s: cannot create its directory: %s", path,
			 strerror(-rc));
		goto fail;
	}
	/* A daemon already answering there keeps its socket. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "control socket %s: another npshim is running there", path);
			rc = -EADDRINUSE;
			goto fail;
		}
		close(probe);
	}
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0660) < 0 || listen(c->fd, 16) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = -pthread_create(&c->thread, NULL, ctl_main, c);
	if (rc) {
		snprintf(err, errlen, "control socket: cannot start its thread: %s", strerror(-rc));
		unlink(path);
		goto fail;
	}
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	errno = -rc;
	return NULL;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	close(c->fd);
	unlink(c->path);
	free(c);
}

int ctl_request(const char *path, const char *request, char **response,
		unsigned timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int64_t deadline = now_ms() + timeout_ms;
	char carry[4096];
	size_t carry_len = 0;
	int fd, rc;

	*response = NULL;
	if (fill_addr(&sa, path) < 0) {
		snprintf(err, errlen, "control socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		if (errno == ENOENT || errno == ECONNREFUSED)
			snprintf(err, errlen, "no npshim daemon at %s (%s); is 'npshim run' running?",
				 path, strerror(errno));
		else
			snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	rc = write_all(fd, request, strlen(request), deadline);
	if (!rc)
		rc = write_all(fd, "\n", 1, deadline);
	if (!rc)
		rc = read_line(fd, response, deadline, carry, &carry_len);
	if (rc == -ENODATA)
		snprintf(err, errlen, "%s: the daemon closed the connection without answering", path);
	else if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "%s: no answer within %u ms", path, timeout_ms);
	else if (rc)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* probe - connect to TCP/UDP echo servers with a timeout; batch and load modes.
 *
 *   probe tcp|udp HOST PORT [--timeout MS] [--count N]
 *   probe send udp HOST PORT [--count N] [--interval MS]
 *   probe batch [--timeout MS] [--parallel N] < LINES
 *   probe load tcp|udp HOST PORT --duration SEC [--parallel N]
 *              [--timeout MS] [--ports N] [--rate N]
 *
 * Single mode prints one JSON object and exits 0 when every attempt got
 * through, 1 when none did, 3 when some did (a flaky path is a finding, not a
 * pass), 2 on a usage or system error.
 *
 * Send mode sends N datagrams from ONE socket and waits for nothing: a
 * one-way UDP flow, which conntrack keeps in state NEW (the e2e suite checks
 * that npshim queues such a flow once, not per packet).
 *
 * Batch mode reads lines "NETNS tcp|udp HOST PORT" (NETNS a name under
 * /run/netns or "-" for the current one) and probes them all in parallel,
 * each thread entering its namespace with setns(), which only affects the
 * calling thread. It prints one JSON line per input line, in input order.
 * This is what lets the e2e suite probe a 9x9 matrix in about one timeout.
 *
 * Load mode measures the packet path: for TCP, N threads open new
 * connections back to back (closed with RST so neither side piles up
 * TIME_WAIT) and report connections/s and connect latency percentiles; for
 * UDP, N threads send one datagram per new flow (a distinct source port and
 * destination port pair, so conntrack sees a NEW flow each time) open-loop.
 *
 * A TCP probe counts as connected only when the echo server answers a line;
 * a UDP probe when the datagram comes back. Self-contained: plain libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum result { R_CONNECTED, R_REFUSED, R_TIMEOUT, R_ERROR };

static const char *const result_names[] = {
	[R_CONNECTED] = "connected",
	[R_REFUSED] = "refused",
	[R_TIMEOUT] = "timeout",
	[R_ERROR] = "error",
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int resolve(const char *host, const char *port, int socktype,
		   struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = socktype,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int rc;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "probe: %s port %s: %s\n", host, port,
			gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Wait for events on fd until the absolute deadline; 0 on timeout. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now;
	int rc;

	for (;;) {
		now = now_ns();
		if (now >= deadline)
			return 0;
		rc = poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		return pfd.revents;
	}
}

static enum result errno_result(int err)
{
	if (err == ECONNREFUSED || err == ECONNRESET || err == EHOSTUNREACH ||
	    err == ENETUNREACH)
		return R_REFUSED;
	if (err == ETIMEDOUT)
		return R_TIMEOUT;
	return R_ERROR;
}

static void set_rst_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* One TCP probe: connect, send a line, expect it echoed. */
static enum result probe_tcp(const struct sockaddr_storage *ss, socklen_t len,
			     unsigned timeout_ms, int *err)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char msg[64], buf[64];
	size_t got = 0;
	socklen_t elen = sizeof(*err);
	ssize_t n;
	int fd, rc, mlen;
	enum result res = R_TIMEOUT;

	*err = 0;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return R_ERROR;
	}
	if (connect(fd, (const struct sockaddr *)ss, len) < 0 &&
	    errno != EINPROGRESS) {
		*err = errno;
		res = errno_result(errno);
		goto out;
	}
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc <= 0)
		goto out;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &elen);
	if (*err) {
		res = errno_result(*err);
		goto out;
	}
	mlen = snprintf(msg, sizeof(msg), "npshim-probe %d %" PRIu64 "\n",
			getpid(), now_ns());
	if (send(fd, msg, (size_t)mlen, MSG_NOSIGNAL) != mlen) {
		*err = errno;
		res = errno_result(errno);
		goto out;
	}
	while (got < (size_t)mlen) {
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc <= 0)
			goto out;
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : ECONNRESET;
			res = errno_result(*err);
			goto out;
		}
		got += (size_t)n;
	}
	res = memcmp(buf, msg, (size_t)mlen) ? R_ERROR : R_CONNECTED;
out:
	set_rst_close(fd);
	close(fd);
	return res;
}

/* One UDP probe from a fresh socket (a new source port, a new flow). */
static enum result probe_udp(const struct sockaddr_storage *ss, socklen_t len,
			     unsigned timeout_ms, int *err)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char msg[64], buf[128];
	ssize_t n;
	int fd, rc, mlen;
	enum result res = R_TIMEOUT;

	*err = 0;
	fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return R_ERROR;
	}
	/* Connected, so an ICMP port unreachable comes back as ECONNREFUSED. */
	if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
		*err = errno;
		res = errno_result(errno);
		goto out;
	}
	mlen = snprintf(msg, sizeof(msg), "npshim-probe %d %" PRIu64, getpid(),
			now_ns());
	if (send(fd, msg, (size_t)mlen, 0) != mlen) {
		*err = errno;
		res = errno_result(errno);
		goto out;
	}
	for (;;) {
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc <= 0)
			goto out;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			*err = errno;
			res = errno_result(errno);
			goto out;
		}
		/* A stray datagram is not an answer to this probe. */
		if (n == mlen && !memcmp(buf, msg, (size_t)mlen)) {
			res = R_CONNECTED;
			goto out;
		}
	}
out:
	close(fd);
	return res;
}

static bool parse_proto(const char *s, int *socktype)
{
	if (!strcmp(s, "tcp") || !strcmp(s, "TCP"))
		*socktype = SOCK_STREAM;
	else if (!strcmp(s, "udp") || !strcmp(s, "UDP"))
		*socktype = SOCK_DGRAM;
	else
		return false;
	return true;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void usage(FILE *f)
{
	fputs("usage: probe tcp|udp HOST PORT [--timeout MS] [--count N]\n"
	      "       probe send udp HOST PORT [--count N] [--interval MS]\n"
	      "       probe batch [--timeout MS] [--parallel N] < LINES\n"
	      "              (LINES: NETNS tcp|udp HOST PORT; NETNS \"-\" = current)\n"
	      "       probe load tcp|udp HOST PORT --duration SEC [--parallel N]\n"
	      "              [--timeout MS] [--ports N] [--rate FLOWS_PER_SEC]\n",
	      f);
}

/* Options shared by the modes; each mode says which it accepts. */
struct opts {
	unsigned long timeout_ms;
	unsigned long count;
	unsigned long parallel;
	unsigned long duration;
	unsigned long ports;
	unsigned long rate;
	unsigned long interval_ms;
};

static int parse_opts(int argc, char **argv, int first, struct opts *o,
		      const char *allowed)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned long max;
	} table[] = {
		{ "--timeout", offsetof(struct opts, timeout_ms), 3600000 },
		{ "--count", offsetof(struct opts, count), 1000000 },
		{ "--parallel", offsetof(struct opts, parallel), 4096 },
		{ "--duration", offsetof(struct opts, duration), 3600 },
		{ "--ports", offsetof(struct opts, ports), 65535 },
		{ "--rate", offsetof(struct opts, rate), 100000000 },
		{ "--interval", offsetof(struct opts, interval_ms), 60000 },
	};
	size_t k;

	for (int i = first; i < argc; i++) {
		for (k = 0; k < sizeof(table) / sizeof(table[0]); k++)
			if (!strcmp(argv[i], table[k].name))
				break;
		if (k == sizeof(table) / sizeof(table[0]) ||
		    !strstr(allowed, table[k].name)) {
			fprintf(stderr, "probe: unknown option '%s'\n", argv[i]);
			return -1;
		}
		if (i + 1 >= argc ||
		    parse_uint(argv[i + 1], table[k].max,
			       (unsigned long *)((char *)o + table[k].off)) ||
		    !*(unsigned long *)((char *)o + table[k].off)) {
			fprintf(stderr,
				"probe: %s needs a number from 1 to %lu\n",
				argv[i], table[k].max);
			return -1;
		}
		i++;
	}
	return 0;
}

static int cmd_single(int argc, char **argv)
{
	struct opts o = { .timeout_ms = 1000, .count = 1 };
	struct sockaddr_storage ss;
	socklen_t len;
	int socktype, err = 0, last_err = 0;
	unsigned long ok = 0, i;
	enum result res, last = R_TIMEOUT;
	uint64_t t0, total = 0;

	if (argc < 4 || !parse_proto(argv[1], &socktype)) {
		usage(stderr);
		return 2;
	}
	if (parse_opts(argc, argv, 4, &o, "--timeout --count"))
		return 2;
	if (resolve(argv[2], argv[3], socktype, &ss, &len))
		return 2;
	for (i = 0; i < o.count; i++) {
		t0 = now_ns();
		res = socktype == SOCK_STREAM ?
			      probe_tcp(&ss, len, (unsigned)o.timeout_ms, &err) :
			      probe_udp(&ss, len, (unsigned)o.timeout_ms, &err);
		total += now_ns() - t0;
		if (res == R_CONNECTED)
			ok++;
		else
			last = res, last_err = err;
	}
	printf("{\"proto\":\"%s\",\"host\":", socktype == SOCK_STREAM ? "tcp" : "udp");
	json_str(stdout, argv[2]);
	printf(",\"port\":%s,\"result\":\"%s\",\"attempts\":%lu,\"connected\":%lu,"
	       "\"ms\":%.3f",
	       argv[3], ok == o.count ? "connected" : result_names[last], o.count,
	       ok, (double)total / 1e6 / (double)o.count);
	if (ok != o.count && last_err) {
		printf(",\"error\":");
		json_str(stdout, strerror(last_err));
	}
	printf("}\n");
	if (ok == o.count)
		return 0;
	return ok ? 3 : 1;
}

static int cmd_send(int argc, char **argv)
{
	struct opts o = { .count = 10, .interval_ms = 10 };
	struct sockaddr_storage ss;
	struct timespec gap;
	unsigned long i, sent = 0;
	socklen_t len;
	int fd, err = 0;

	if (argc < 5 || strcmp(argv[2], "udp")) {
		usage(stderr);
		return 2;
	}
	if (parse_opts(argc, argv, 5, &o, "--count --interval"))
		return 2;
	if (resolve(argv[3], argv[4], SOCK_DGRAM, &ss, &len))
		return 2;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		fprintf(stderr, "probe: udp socket to %s port %s: %s\n", argv[3],
			argv[4], strerror(errno));
		return 2;
	}
	gap.tv_sec = (time_t)(o.interval_ms / 1000);
	gap.tv_nsec = (long)(o.interval_ms % 1000) * 1000000L;
	for (i = 0; i < o.count; i++) {
		if (i)
			nanosleep(&gap, NULL);
		/* A refusal (ICMP from an earlier datagram) is reported on a
		 * later send; the flow is still one-way. */
		if (send(fd, "npshim-oneway", 13, 0) == 13)
			sent++;
		else
			err = errno;
	}
	close(fd);
	printf("{\"proto\":\"udp\",\"host\":");
	json_str(stdout, argv[3]);
	printf(",\"port\":%s,\"mode\":\"send\",\"sent\":%lu", argv[4], sent);
	if (err) {
		printf(",\"error\":");
		json_str(stdout, strerror(err));
	}
	printf("}\n");
	return sent == o.count ? 0 : 1;
}

/* ---- batch mode ---- */

struct batch_item {
	char netns[256];
	char host[64];
	char port[8];
	int socktype;
	unsigned timeout_ms;
	enum result res;
	int err;
	double ms;
	char why[384]; /* set when the item could not run at all */
};

struct batch {
	struct batch_item *items;
	size_t n;
	size_t next;
	pthread_mutex_t lock;
};

static void batch_run_one(struct batch_item *it, int *cur_ns_fd,
			  char *cur_ns, size_t cur_len)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char path[300];
	uint64_t t0;
	int fd;

	if (strcmp(it->netns, cur_ns)) {
		if (!strcmp(it->netns, "-"))
			snprintf(path, sizeof(path), "/proc/%d/ns/net", getpid());
		else
			snprintf(path, sizeof(path), "/run/netns/%s", it->netns);
		/* /proc/PID/ns/net is the process's namespace, which this
		 * thread may have left for an earlier line. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
			snprintf(it->why, sizeof(it->why), "netns %s: %s",
				 it->netns, strerror(errno));
			if (fd >= 0)
				close(fd);
			it->res = R_ERROR;
			return;
		}
		if (*cur_ns_fd >= 0)
			close(*cur_ns_fd);
		*cur_ns_fd = fd;
		snprintf(cur_ns, cur_len, "%s", it->netns);
	}
	if (resolve(it->host, it->port, it->socktype, &ss, &len)) {
		snprintf(it->why, sizeof(it->why), "bad address %s port %s",
			 it->host, it->port);
		it->res = R_ERROR;
		return;
	}
	t0 = now_ns();
	it->res = it->socktype == SOCK_STREAM ?
			  probe_tcp(&ss, len, it->timeout_ms, &it->err) :
			  probe_udp(&ss, len, it->timeout_ms, &it->err);
	it->ms = (double)(now_ns() - t0) / 1e6;
}

static void *batch_worker(void *arg)
{
	struct batch *b = arg;
	char cur[256] = "-";
	int cur_fd = -1;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&b->lock);
		i = b->next++;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->n)
			break;
		batch_run_one(&b->items[i], &cur_fd, cur, sizeof(cur));
	}
	if (cur_fd >= 0)
		close(cur_fd);
	return NULL;
}

static int cmd_batch(int argc, char **argv)
{
	struct opts o = { .timeout_ms = 1000, .parallel = 128 };
	struct batch b = { .lock = PTHREAD_MUTEX_INITIALIZER };
	size_t cap = 0, lineno = 0, nthreads, i;
	char line[512], proto[8], extra[2];
	pthread_t *th;
	int failures = 0;

	if (parse_opts(argc, argv, 1, &o, "--timeout --parallel"))
		return 2;
	while (fgets(line, sizeof(line), stdin)) {
		struct batch_item *it;
		unsigned long port;

		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (b.n == cap) {
			cap = cap ? cap * 2 : 64;
			it = realloc(b.items, cap * sizeof(*it));
			if (!it) {
				perror("probe");
				return 2;
			}
			b.items = it;
		}
		it = &b.items[b.n];
		memset(it, 0, sizeof(*it));
		if (sscanf(line, "%255s %7s %63s %7s %1s", it->netns, proto,
			   it->host, it->port, extra) != 4 ||
		    !parse_proto(proto, &it->socktype) ||
		    parse_uint(it->port, 65535, &port) || !port) {
			fprintf(stderr,
				"probe: stdin line %zu: expected 'NETNS tcp|udp HOST PORT'\n",
				lineno);
			return 2;
		}
		it->timeout_ms = (unsigned)o.timeout_ms;
		b.n++;
	}
	nthreads = b.n < o.parallel ? b.n : o.parallel;
	th = calloc(nthreads ? nthreads : 1, sizeof(*th));
	if (!th) {
		perror("probe");
		return 2;
	}
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, batch_worker, &b)) {
			fprintf(stderr, "probe: cannot start thread %zu\n", i);
			nthreads = i;
			break;
		}
	/* With no thread at all the items would stay unprobed: run them here. */
	if (!nthreads)
		batch_worker(&b);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < b.n; i++) {
		struct batch_item *it = &b.items[i];

		printf("{\"netns\":");
		json_str(stdout, it->netns);
		printf(",\"proto\":\"%s\",\"host\":",
		       it->socktype == SOCK_STREAM ? "tcp" : "udp");
		json_str(stdout, it->host);
		printf(",\"port\":%s,\"result\":\"%s\",\"ms\":%.3f", it->port,
		       result_names[it->res], it->ms);
		if (it->why[0] || it->err) {
			printf(",\"error\":");
			json_str(stdout, it->why[0] ? it->why : strerror(it->err));
		}
		printf("}\n");
		if (it->why[0])
			failures++;
	}
	free(th);
	free(b.items);
	return failures ? 2 : 0;
}

/* ---- load mode ---- */

struct load_thread {
	pthread_t th;
	const struct sockaddr_storage *ss;
	socklen_t len;
	int socktype;
	unsigned idx, nthreads;
	unsigned timeout_ms;
	unsigned ports;
	uint64_t start, deadline;
	double rate; /* flows per second for this thread, 0 = unpaced */
	/* TCP: connect latencies in ns of successful connections. */
	uint32_t *lat;
	size_t n_lat, cap_lat;
	uint64_t max_lat, max_at;
	uint64_t ok, timeouts, refused, errors;
	/* Connections that took 500 ms or more: the mark of a lost SYN
	 * (retransmitted after the kernel's 1 s initial RTO). */
	uint64_t slow;
	/* UDP */
	uint64_t sent, send_errors;
};

static int lat_push(struct load_thread *t, uint64_t ns)
{
	uint32_t *p;

	if (t->n_lat == t->cap_lat) {
		t->cap_lat = t->cap_lat ? t->cap_lat * 2 : 65536;
		p = realloc(t->lat, t->cap_lat * sizeof(*p));
		if (!p)
			return -1;
		t->lat = p;
	}
	t->lat[t->n_lat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	return 0;
}

static void *load_tcp(void *arg)
{
	struct load_thread *t = arg;
	uint64_t t0, t1;
	socklen_t elen;
	int fd, err, rc;

	while ((t0 = now_ns()) < t->deadline) {
		fd = socket(t->ss->ss_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			t->errors++;
			continue;
		}
		rc = connect(fd, (const struct sockaddr *)t->ss, t->len);
		if (rc < 0 && errno != EINPROGRESS) {
			if (errno_result(errno) == R_REFUSED)
				t->refused++;
			else
				t->errors++;
			close(fd);
			continue;
		}
		rc = rc < 0 ? wait_fd(fd, POLLOUT,
				      t0 + (uint64_t)t->timeout_ms * 1000000ull) :
			      POLLOUT;
		t1 = now_ns();
		err = 0;
		elen = sizeof(err);
		if (rc > 0)
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (rc <= 0) {
			t->timeouts++;
		} else if (err) {
			if (errno_result(err) == R_REFUSED)
				t->refused++;
			else
				t->errors++;
		} else {
			t->ok++;
			if (t1 - t0 > t->max_lat) {
				t->max_lat = t1 - t0;
				t->max_at = t0 - t->start;
			}
			if (t1 - t0 >= 500000000ull)
				t->slow++;
			if (lat_push(t, t1 - t0))
				t->errors++;
		}
		set_rst_close(fd);
		close(fd);
	}
	return NULL;
}

static void *load_udp(void *arg)
{
	enum { NSOCK = 512 };
	struct load_thread *t = arg;
	struct sockaddr_storage dst = *t->ss;
	uint16_t base_port;
	int fds[NSOCK];
	unsigned s, p = 0;
	uint64_t now, next = 0, gap;
	char msg[32] = "npshim-load";

	for (s = 0; s < NSOCK; s++) {
		fds[s] = socket(t->ss->ss_family,
				SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[s] < 0) {
			t->send_errors++;
			continue;
		}
	}
	base_port = dst.ss_family == AF_INET ?
			    ntohs(((struct sockaddr_in *)&dst)->sin_port) :
			    ntohs(((struct sockaddr_in6 *)&dst)->sin6_port);
	gap = t->rate > 0 ? (uint64_t)(1e9 / t->rate) : 0;
	/* Sockets (source ports) vary fastest, destination ports slowest, so
	 * a (source, destination) pair recurs only after NSOCK * ports flows
	 * per thread; the bench makes conntrack forget flows sooner. */
	while ((now = now_ns()) < t->deadline) {
		for (s = 0; s < NSOCK && now < t->deadline; s++) {
			uint16_t port = (uint16_t)(base_port + p);

			/* Paced: sleep until this flow's slot. Slots closer
			 * than a sleep can resolve go out back to back, so the
			 * rate holds in 1 ms bursts without burning a core. */
			if (gap) {
				if (!next)
					next = now;
				if (next > now + 1000000) {
					struct timespec ts = {
						.tv_sec = (time_t)(next / 1000000000ull),
						.tv_nsec = (long)(next % 1000000000ull),
					};

					clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				}
				next += gap;
			}
			if (fds[s] < 0)
				continue;
			if (dst.ss_family == AF_INET)
				((struct sockaddr_in *)&dst)->sin_port = htons(port);
			else
				((struct sockaddr_in6 *)&dst)->sin6_port = htons(port);
			if (sendto(fds[s], msg, sizeof(msg), 0,
				   (struct sockaddr *)&dst, t->len) < 0)
				t->send_errors++;
			else
				t->sent++;
		}
		p = (p + 1) % t->ports;
	}
	for (s = 0; s < NSOCK; s++)
		if (fds[s] >= 0)
			close(fds[s]);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmd_load(int argc, char **argv)
{
	struct opts o = { .timeout_ms = 1000, .parallel = 4, .ports = 1 };
	struct sockaddr_storage ss;
	struct load_thread *th;
	socklen_t len;
	int socktype;
	uint64_t start, elapsed, ok = 0, tmo = 0, ref = 0, errs = 0;
	uint64_t sent = 0, serr = 0, max_lat = 0, max_at = 0, slow = 0;
	size_t n_lat = 0, i, k;
	uint32_t *all;
	double secs;

	if (argc < 5 || !parse_proto(argv[2], &socktype)) {
		usage(stderr);
		return 2;
	}
	if (parse_opts(argc, argv, 5, &o,
		       "--timeout --parallel --duration --ports --rate"))
		return 2;
	if (!o.duration) {
		fprintf(stderr, "probe: load needs --duration SEC\n");
		return 2;
	}
	if (resolve(argv[3], argv[4], socktype, &ss, &len))
		return 2;
	th = calloc(o.parallel, sizeof(*th));
	if (!th) {
		perror("probe");
		return 2;
	}
	start = now_ns();
	for (i = 0; i < o.parallel; i++) {
		th[i] = (struct load_thread){
			.ss = &ss, .len = len, .socktype = socktype,
			.idx = (unsigned)i, .nthreads = (unsigned)o.parallel,
			.timeout_ms = (unsigned)o.timeout_ms,
			.ports = (unsigned)o.ports, .start = start,
			.deadline = start + o.duration * 1000000000ull,
			.rate = o.rate ? (double)o.rate / (double)o.parallel : 0,
		};
		if (pthread_create(&th[i].th, NULL,
				   socktype == SOCK_STREAM ? load_tcp : load_udp,
				   &th[i])) {
			fprintf(stderr, "probe: cannot start thread %zu\n", i);
			return 2;
		}
	}
	for (i = 0; i < o.parallel; i++)
		pthread_join(th[i].th, NULL);
	elapsed = now_ns() - start;
	secs = (double)elapsed / 1e9;
	for (i = 0; i < o.parallel; i++) {
		ok += th[i].ok, tmo += th[i].timeouts, ref += th[i].refused;
		errs += th[i].errors, sent += th[i].sent;
		serr += th[i].send_errors, n_lat += th[i].n_lat;
		slow += th[i].slow;
		if (th[i].max_lat > max_lat)
			max_lat = th[i].max_lat, max_at = th[i].max_at;
	}
	if (socktype == SOCK_DGRAM) {
		printf("{\"mode\":\"load\",\"proto\":\"udp\",\"seconds\":%.3f,"
		       "\"threads\":%lu,\"flows_sent\":%" PRIu64
		       ",\"send_errors\":%" PRIu64 ",\"flows_per_sec\":%.0f}\n",
		       secs, o.parallel, sent, serr, (double)sent / secs);
		free(th);
		return 0;
	}
	all = malloc((n_lat ? n_lat : 1) * sizeof(*all));
	if (!all) {
		perror("probe");
		return 2;
	}
	for (i = 0, k = 0; i < o.parallel; i++) {
		memcpy(all + k, th[i].lat, th[i].n_lat * sizeof(*all));
		k += th[i].n_lat;
		free(th[i].lat);
	}
	qsort(all, n_lat, sizeof(*all), cmp_u32);
#define PCT(p) (n_lat ? (double)all[(size_t)((double)(n_lat - 1) * (p))] / 1e3 : 0.0)
	printf("{\"mode\":\"load\",\"proto\":\"tcp\",\"seconds\":%.3f,"
	       "\"threads\":%lu,\"connected\":%" PRIu64 ",\"timeouts\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"slow_500ms\":%" PRIu64 ",\"conn_per_sec\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
	       "\"p999_us\":%.1f,\"max_us\":%.1f,\"max_at_ms\":%.0f}\n",
	       secs, o.parallel, ok, tmo, ref, errs, slow, (double)ok / secs,
	       PCT(0.50), PCT(0.99), PCT(0.999), (double)max_lat / 1e3,
	       (double)max_at / 1e6);
#undef PCT
	free(all);
	free(th);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "batch"))
		return cmd_batch(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "load"))
		return cmd_load(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return cmd_send(argc, argv);
	return cmd_single(argc, argv);
}

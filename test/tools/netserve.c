/* SPDX-License-Identifier: Apache-2.0 */
/* netserve - TCP and UDP echo servers on several ports, for e2e tests and bench.
 *
 *   netserve [--tcp PORTS] [--udp PORTS] [--bind ADDR] [--pidfile FILE]
 *            [--stats FILE] [--sink] [--daemon]
 *
 * PORTS is a list like "80,81,8000-8010". One epoll loop serves every socket:
 * a TCP connection gets back whatever it sends until it closes; a UDP
 * datagram is sent back to its sender. --sink is for load runs: datagrams
 * are only counted (replies would double the packets through the queue) and
 * TCP connections are closed with a reset as soon as they are accepted. --daemon
 * detaches after every socket is bound, so a caller that starts it can probe
 * at once; the pid file is written then. SIGTERM or SIGINT stop it; with
 * --stats the counters are written there as JSON on exit and on SIGUSR1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PORTS 1024

struct counters {
	uint64_t tcp_accepted;
	uint64_t tcp_bytes;
	uint64_t udp_datagrams;
	uint64_t udp_bytes;
};

/* epoll data: the fd in the low 32 bits, its kind in the high bits. */
enum kind { K_LISTEN = 1, K_CONN, K_UDP, K_SIGNAL };

static uint64_t tag(int fd, enum kind k)
{
	return (uint64_t)k << 32 | (uint32_t)fd;
}

static int parse_ports(const char *arg, uint16_t *ports, size_t *n)
{
	char *copy = strdup(arg), *save = NULL, *tok, *end;
	unsigned long lo, hi;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		errno = 0;
		lo = strtoul(tok, &end, 10);
		hi = lo;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		if (errno || *end || end == tok || !lo || hi > 65535 || hi < lo) {
			fprintf(stderr, "netserve: bad port or range '%s' in '%s'\n",
				tok, arg);
			free(copy);
			return -1;
		}
		for (; lo <= hi; lo++) {
			if (*n == MAX_PORTS) {
				fprintf(stderr, "netserve: more than %d ports\n",
					MAX_PORTS);
				free(copy);
				return -1;
			}
			ports[(*n)++] = (uint16_t)lo;
		}
	}
	free(copy);
	return 0;
}

static int open_socket(const char *bind_addr, int type, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1, zero = 0, buf = 4 << 20;

	if (!bind_addr || inet_pton(AF_INET6, bind_addr, &sin6->sin6_addr) == 1) {
		/* The default is a dual-stack [::] socket, which takes IPv4 too. */
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
		if (!bind_addr)
			sin6->sin6_addr = in6addr_any;
	} else if (inet_pton(AF_INET, bind_addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else {
		fprintf(stderr, "netserve: --bind '%s' is not an IP address\n",
			bind_addr);
		return -1;
	}
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (type == SOCK_DGRAM)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	/* The kernel caps the backlog at net.core.somaxconn; the bench raises
	 * that, since a full accept queue drops SYNs (a 1 s client stall). */
	if (type == SOCK_STREAM && listen(fd, 65535) < 0)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "netserve: %s port %u: %s\n",
		type == SOCK_STREAM ? "tcp" : "udp", port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int write_stats(const char *path, const struct counters *c)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f,
		"{\"tcp_accepted\":%" PRIu64 ",\"tcp_bytes\":%" PRIu64
		",\"udp_datagrams\":%" PRIu64 ",\"udp_bytes\":%" PRIu64 "}\n",
		c->tcp_accepted, c->tcp_bytes, c->udp_datagrams, c->udp_bytes);
	if (fclose(f))
		return -1;
	/* Renamed into place so a reader never sees half a file. */
	return rename(tmp, path);
}

static int write_pidfile(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "w");

	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f)) {
		fprintf(stderr, "netserve: pid file %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void handle_udp(int fd, bool sink, struct counters *c)
{
	struct sockaddr_storage from;
	socklen_t flen;
	char buf[2048];
	ssize_t n;
	int i;

	/* Bounded, so a flood on one port cannot starve the others. */
	for (i = 0; i < 256; i++) {
		flen = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			     &flen);
		if (n < 0)
			return;
		c->udp_datagrams++;
		c->udp_bytes += (uint64_t)n;
		if (!sink)
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from,
			       flen);
	}
}

static void handle_conn(int ep, int fd, struct counters *c)
{
	char buf[4096];
	ssize_t n, w;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		c->tcp_bytes += (uint64_t)n;
		/* Echoes are tiny; a peer that does not read gets dropped. */
		w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w != n)
			break;
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

static void handle_listen(int ep, int lfd, bool sink, struct counters *c)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd, i;

	for (i = 0; i < 256; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c->tcp_accepted++;
		if (sink) {
			/* A load run only opens connections: close at once,
			 * with a reset, so the accept queue never backs up. */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
			continue;
		}
		ev.data.u64 = tag(fd, K_CONN);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			close(fd);
	}
}

static void usage(FILE *f)
{
	fputs("usage: netserve [--tcp PORTS] [--udp PORTS] [--bind ADDR]\n"
	      "                [--pidfile FILE] [--stats FILE] [--sink] [--daemon]\n"
	      "PORTS: comma-separated ports and ranges, e.g. 80,81,8000-8010\n",
	      f);
}

int main(int argc, char **argv)
{
	static uint16_t tcp_ports[MAX_PORTS], udp_ports[MAX_PORTS];
	static int fds[2 * MAX_PORTS];
	const char *bind_addr = NULL, *pidfile = NULL, *stats = NULL;
	size_t n_tcp = 0, n_udp = 0, i;
	bool sink = false, daemonize = false, running = true;
	struct counters c = { 0 };
	struct epoll_event ev, evs[64];
	sigset_t mask;
	int ep, sfd, fd, n;

	for (int a = 1; a < argc; a++) {
		const char *o = argv[a];
		bool has_arg = a + 1 < argc;

		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(o, "--tcp") && has_arg) {
			if (parse_ports(argv[++a], tcp_ports, &n_tcp))
				return 2;
		} else if (!strcmp(o, "--udp") && has_arg) {
			if (parse_ports(argv[++a], udp_ports, &n_udp))
				return 2;
		} else if (!strcmp(o, "--bind") && has_arg) {
			bind_addr = argv[++a];
		} else if (!strcmp(o, "--pidfile") && has_arg) {
			pidfile = argv[++a];
		} else if (!strcmp(o, "--stats") && has_arg) {
			stats = argv[++a];
		} else if (!strcmp(o, "--sink")) {
			sink = true;
		} else if (!strcmp(o, "--daemon")) {
			daemonize = true;
		} else {
			fprintf(stderr, "netserve: unknown option or missing value: '%s'\n", o);
			usage(stderr);
			return 2;
		}
	}
	if (!n_tcp && !n_udp) {
		fprintf(stderr, "netserve: nothing to serve (give --tcp or --udp)\n");
		return 2;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < n_tcp + n_udp; i++) {
		bool tcp = i < n_tcp;

		fds[i] = open_socket(bind_addr, tcp ? SOCK_STREAM : SOCK_DGRAM,
				     tcp ? tcp_ports[i] : udp_ports[i - n_tcp]);
		if (fds[i] < 0)
			return 1;
	}

	if (daemonize) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("netserve: fork");
			return 1;
		}
		if (pid > 0) {
			/* The parent writes the pid file, so it exists when the
			 * caller's command returns; signals sent before the
			 * child's signalfd exists stay pending (blocked above). */
			if (pidfile && write_pidfile(pidfile, pid)) {
				kill(pid, SIGKILL);
				return 1;
			}
			_exit(0);
		}
		setsid();
		/* The parent's stdout may be a pipe a test waits on. */
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (fd > 1)
				close(fd);
		}
	} else if (pidfile && write_pidfile(pidfile, getpid())) {
		return 1;
	}

	/* After the fork: a signalfd watched by epoll is woken through the
	 * creating process's signal queue, so the child must create both. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ep < 0 || sfd < 0) {
		perror("netserve");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = tag(sfd, K_SIGNAL);
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (i = 0; i < n_tcp + n_udp; i++) {
		ev.data.u64 = tag(fds[i], i < n_tcp ? K_LISTEN : K_UDP);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			perror("netserve: epoll_ctl");
			return 1;
		}
	}
	while (running) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("netserve: epoll_wait");
			break;
		}
		for (int k = 0; k < n; k++) {
			enum kind kd = (enum kind)(evs[k].data.u64 >> 32);

			fd = (int)(uint32_t)evs[k].data.u64;
			switch (kd) {
			case K_LISTEN:
				handle_listen(ep, fd, sink, &c);
				break;
			case K_CONN:
				handle_conn(ep, fd, &c);
				break;
			case K_UDP:
				handle_udp(fd, sink, &c);
				break;
			case K_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						if (stats && write_stats(stats, &c))
							perror("netserve: stats");
					} else {
						running = false;
					}
				}
				break;
			}
			}
		}
	}
	if (stats && write_stats(stats, &c))
		fprintf(stderr, "netserve: stats %s: %s\n", stats, strerror(errno));
	if (pidfile)
		unlink(pidfile);
	return 0;
}

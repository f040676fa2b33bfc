/* SPDX-License-Identifier: Apache-2.0 */
/* nfq_acceptall - a minimal accept-all NFQUEUE reader: the user-space limit.
 *
 *   nfq_acceptall [--queues FIRST[:LAST]] [--fail-open] [--copy BYTES]
 *                 [--maxlen N] [--rcvbuf BYTES] [--repeat-mark BITS]
 *                 [--pidfile FILE] [--stats FILE]
 *
 * The bench's reference point: it does everything npshim must do to pass a
 * packet (bind the queue, copy the headers, answer with a verdict) and
 * nothing else. One thread per queue; each drains every message the socket
 * holds and accepts them all with one NFQNL_MSG_VERDICT_BATCH for the
 * highest id, which the kernel applies to every id up to it.
 *
 * Queue length, copy range and receive buffer default to npshim's own
 * (nfq/queue.h), with NETLINK_NO_ENOBUFS as npshim sets it, so both lose
 * packets under the same conditions. --repeat-mark answers as npshim does
 * under its own rule set: NF_REPEAT with the packet mark | BITS, so the
 * rules save the bits to the connection on the second pass (a packet whose
 * mark differs from the batch's ends the batch); without it the verdict is
 * a plain NF_ACCEPT. On SIGTERM or SIGINT it prints its counters as JSON
 * (and writes them to --stats) and exits 0.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "nfq/queue.h"

#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif

struct queue {
	pthread_t th;
	uint16_t num;
	struct mnl_socket *nl;
	uint32_t portid;
	/* per-batch state */
	uint32_t last_id;
	uint32_t batch_mark; /* --repeat-mark: the mark every packet of the batch gets */
	unsigned in_batch;
	/* counters */
	uint64_t packets, batches, enobufs, errors;
};

static atomic_bool stopping;
static bool fail_open;
static unsigned copy_bytes = QUEUE_DEFAULT_COPY_RANGE;
static uint32_t maxlen = QUEUE_DEFAULT_MAXLEN;
static uint32_t rcvbuf_bytes = QUEUE_DEFAULT_RCVBUF;
static uint32_t repeat_mark; /* 0: NF_ACCEPT */

static int send_cfg(struct queue *q, uint8_t cmd, bool params)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);

	if (cmd)
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, cmd);
	if (params) {
		uint32_t flags = NFQA_CFG_F_GSO | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);

		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)copy_bytes);
		nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags | NFQA_CFG_F_FAIL_OPEN));
	}
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

static int send_batch(struct queue *q)
{
	char buf[256];
	struct nlmsghdr *nlh;

	if (!q->in_batch)
		return 0;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, q->num);
	nfq_nlmsg_verdict_put(nlh, (int)q->last_id, repeat_mark ? NF_REPEAT : NF_ACCEPT);
	if (repeat_mark)
		nfq_nlmsg_verdict_put_mark(nlh, q->batch_mark);
	q->in_batch = 0;
	q->batches++;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
		q->errors++;
		return -errno;
	}
	return 0;
}

static int on_packet(const struct nlmsghdr *nlh, void *data)
{
	struct queue *q = data;
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	struct nfqnl_msg_packet_hdr *ph;
	uint32_t mark = 0;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR]) {
		q->errors++;
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	if (repeat_mark) {
		/* A batch verdict sets one mark on all its packets. */
		if (attr[NFQA_MARK])
			mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
		mark |= repeat_mark;
		if (q->in_batch && mark != q->batch_mark)
			send_batch(q);
		q->batch_mark = mark;
	}
	q->last_id = ntohl(ph->packet_id);
	q->in_batch++;
	q->packets++;
	return MNL_CB_OK;
}

static void *queue_thread(void *arg)
{
	struct queue *q = arg;
	size_t bufsz = 0xffff + (MNL_SOCKET_BUFFER_SIZE / 2);
	char *buf = malloc(bufsz);
	ssize_t n;
	int flags;

	if (!buf)
		return NULL;
	while (!atomic_load(&stopping)) {
		/* Block for the first message, then drain without waiting;
		 * the batch goes out when the socket is empty. */
		flags = q->in_batch ? MSG_DONTWAIT : 0;
		n = recv(mnl_socket_get_fd(q->nl), buf, bufsz, flags);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				send_batch(q);
				continue;
			}
			if (errno == ENOBUFS) {
				q->enobufs++;
				continue;
			}
			if (errno == EINTR)
				continue;
			q->errors++;
			continue;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, q->portid, on_packet, q) < 0)
			q->errors++;
		if (q->in_batch >= 1024)
			send_batch(q);
	}
	send_batch(q);
	free(buf);
	return NULL;
}

static int open_queue(struct queue *q)
{
	int one = 1, rcvbuf = (int)rcvbuf_bytes, err;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };

	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!q->nl || mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		fprintf(stderr, "nfq_acceptall: netlink socket: %s\n",
			strerror(errno));
		return -1;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	/* FORCE: beyond net.core.rmem_max, as root. */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE,
		       &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUF,
			   &rcvbuf, sizeof(rcvbuf));
	mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	/* Lets the thread see the stop flag while the queue is idle. */
	setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	err = send_cfg(q, NFQNL_CFG_CMD_BIND, false);
	if (!err)
		err = send_cfg(q, 0, true);
	if (err) {
		fprintf(stderr, "nfq_acceptall: bind queue %u: %s\n", q->num,
			strerror(-err));
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: nfq_acceptall [--queues FIRST[:LAST]] [--fail-open] [--copy BYTES]\n"
	      "                     [--maxlen N] [--rcvbuf BYTES] [--repeat-mark BITS]\n"
	      "                     [--pidfile FILE] [--stats FILE]\n",
	      f);
}

int main(int argc, char **argv)
{
	unsigned long first = 0, last = 0, v;
	const char *pidfile = NULL, *stats = NULL;
	struct queue *qs;
	sigset_t mask;
	char *end;
	int sig;
	size_t n, i;
	uint64_t packets = 0, batches = 0, enobufs = 0, errors = 0;
	FILE *f;

	for (int a = 1; a < argc; a++) {
		bool has = a + 1 < argc;

		if (!strcmp(argv[a], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[a], "--fail-open")) {
			fail_open = true;
		} else if (!strcmp(argv[a], "--queues") && has) {
			const char *s = argv[++a];

			errno = 0;
			first = strtoul(s, &end, 10);
			last = first;
			if (*end == ':')
				last = strtoul(end + 1, &end, 10);
			if (errno || *end || end == s || last > 65535 || last < first) {
				fprintf(stderr, "nfq_acceptall: bad --queues '%s' (FIRST[:LAST], 0-65535)\n", s);
				return 2;
			}
		} else if (!strcmp(argv[a], "--copy") && has) {
			v = strtoul(argv[++a], &end, 10);
			if (*end || v < 20 || v > 65535) {
				fprintf(stderr, "nfq_acceptall: --copy needs 20-65535 bytes\n");
				return 2;
			}
			copy_bytes = (unsigned)v;
		} else if ((!strcmp(argv[a], "--maxlen") || !strcmp(argv[a], "--rcvbuf") ||
			    !strcmp(argv[a], "--repeat-mark")) && has) {
			const char *opt = argv[a], *s = argv[++a];

			errno = 0;
			v = strtoul(s, &end, 0);
			if (errno || *end || end == s || v == 0 || v > UINT32_MAX) {
				fprintf(stderr, "nfq_acceptall: bad %s '%s' (1 to 2^32-1)\n", opt, s);
				return 2;
			}
			if (!strcmp(opt, "--maxlen"))
				maxlen = (uint32_t)v;
			else if (!strcmp(opt, "--rcvbuf"))
				rcvbuf_bytes = v > INT32_MAX ? INT32_MAX : (uint32_t)v;
			else
				repeat_mark = (uint32_t)v;
		} else if (!strcmp(argv[a], "--pidfile") && has) {
			pidfile = argv[++a];
		} else if (!strcmp(argv[a], "--stats") && has) {
			stats = argv[++a];
		} else {
			fprintf(stderr, "nfq_acceptall: unknown option or missing value: '%s'\n", argv[a]);
			usage(stderr);
			return 2;
		}
	}

	/* Threads inherit the blocked set; the main thread takes signals. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	n = last - first + 1;
	qs = calloc(n, sizeof(*qs));
	if (!qs) {
		perror("nfq_acceptall");
		return 1;
	}
	for (i = 0; i < n; i++) {
		qs[i].num = (uint16_t)(first + i);
		if (open_queue(&qs[i]))
			return 1;
	}
	for (i = 0; i < n; i++)
		if (pthread_create(&qs[i].th, NULL, queue_thread, &qs[i])) {
			fprintf(stderr, "nfq_acceptall: cannot start thread\n");
			return 1;
		}
	if (pidfile) {
		f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
			fprintf(stderr, "nfq_acceptall: pid file %s: %s\n",
				pidfile, strerror(errno));
			return 1;
		}
	}
	sigwait(&mask, &sig);
	atomic_store(&stopping, true);
	for (i = 0; i < n; i++) {
		pthread_join(qs[i].th, NULL);
		send_cfg(&qs[i], NFQNL_CFG_CMD_UNBIND, false);
		mnl_socket_close(qs[i].nl);
		packets += qs[i].packets, batches += qs[i].batches;
		enobufs += qs[i].enobufs, errors += qs[i].errors;
	}
	for (int pass = 0; pass < 2; pass++) {
		f = pass ? (stats ? fopen(stats, "w") : NULL) : stdout;
		if (!f)
			continue;
		fprintf(f,
			"{\"packets\":%" PRIu64 ",\"batches\":%" PRIu64
			",\"enobufs\":%" PRIu64 ",\"errors\":%" PRIu64 "}\n",
			packets, batches, enobufs, errors);
		if (pass)
			fclose(f);
	}
	if (pidfile)
		unlink(pidfile);
	free(qs);
	return 0;
}

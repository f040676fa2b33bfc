/* SPDX-License-Identifier: Apache-2.0 */
/* nfq/queue.c - NFQUEUE socket setup, packet loop and batched verdicts. */
#include "nfq/queue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* Big enough for one packet message: copy range plus every attribute the
 * kernel may add (hw address, timestamps, interface indexes, skb info). */
#define QUEUE_MSG_BUF 8192
#define QUEUE_POLL_MS 100

struct queue {
	struct queue_config cfg;
	const struct queue_ops *ops;
	void *ctx;
	struct mnl_socket *nl;
	int fd;
	uint32_t portid;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_uint drain_ms;

	/* receive side */
	struct mmsghdr *msgs;
	struct iovec *iov;
	char *rxbuf;
	/* verdicts of the current batch, in arrival order */
	struct queue_verdict *pend;
	struct queue_vmsg *plan;
	size_t n_pend, cap_pend;
	char *txbuf;

	/* setup: the ack we wait for */
	uint32_t cfg_seq;
	int cfg_err;
	bool cfg_acked;

	_Atomic uint64_t received, accepted, dropped, would_deny, parse_errors,
		enobufs, verdict_errors, batches, verdict_msgs;
	uint32_t rcvbuf_granted;
	bool gso;
};

static void inc(_Atomic uint64_t *c, uint64_t n)
{
	/* One writer per counter: a relaxed add is enough for readers. */
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static int add_pending(struct queue *q, uint32_t id, bool accept, uint32_t mark)
{
	if (q->n_pend == q->cap_pend) {
		size_t ncap = q->cap_pend ? q->cap_pend * 2 : 64;
		struct queue_verdict *np = realloc(q->pend, ncap * sizeof(*np));
		struct queue_vmsg *pp;

		if (!np)
			return -ENOMEM;
		q->pend = np;
		pp = realloc(q->plan, ncap * sizeof(*pp));
		if (!pp)
			return -ENOMEM;
		q->plan = pp;
		q->cap_pend = ncap;
	}
	q->pend[q->n_pend++] = (struct queue_verdict){ .id = id, .mark = mark, .accept = accept };
	return 0;
}

size_t queue_plan_verdicts(const struct queue_verdict *v, size_t n, struct queue_vmsg *out)
{
	size_t i = 0, k = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && v[j + 1].accept == v[i].accept &&
		       (!v[i].accept || v[j + 1].mark == v[i].mark))
			j++;
		out[k++] = (struct queue_vmsg){ .id = v[j].id, .mark = v[i].accept ? v[i].mark : 0,
						.accept = v[i].accept, .batch = j > i,
						.count = j - i + 1 };
		i = j + 1;
	}
	return k;
}

/* Send every pending verdict, all in one sendmsg when they fit. */
static void flush_verdicts(struct queue *q)
{
	size_t n = queue_plan_verdicts(q->pend, q->n_pend, q->plan), off = 0;

	for (size_t i = 0; i < n; i++) {
		const struct queue_vmsg *m = &q->plan[i];
		struct nlmsghdr *nlh;

		if (off + 64 > QUEUE_MSG_BUF) {
			if (mnl_socket_sendto(q->nl, q->txbuf, off) < 0)
				inc(&q->verdict_errors, 1);
			off = 0;
		}
		nlh = nfq_nlmsg_put(q->txbuf + off,
				    m->batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, q->cfg.num);
		nfq_nlmsg_verdict_put(nlh, (int)m->id, m->accept ? NF_REPEAT : NF_DROP);
		if (m->accept)
			nfq_nlmsg_verdict_put_mark(nlh, m->mark);
		off += NLMSG_ALIGN(nlh->nlmsg_len);
		inc(&q->verdict_msgs, 1);
		inc(m->accept ? &q->accepted : &q->dropped, m->count);
	}
	if (off && mnl_socket_sendto(q->nl, q->txbuf, off) < 0) {
		/* The packets stay queued until the socket closes; nothing
		 * better to do than count it and say so once in a while. */
		inc(&q->verdict_errors, 1);
		log_warn("queue %u: sending verdicts", q->cfg.num);
	}
	q->n_pend = 0;
}

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	/* Unknown attributes are skipped, not errors (newer kernels). */
	if (mnl_attr_type_valid(attr, NFQA_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case NFQA_PACKET_HDR:
		if (mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(struct nfqnl_msg_packet_hdr)) < 0)
			return MNL_CB_OK;
		break;
	case NFQA_MARK:
	case NFQA_CAP_LEN:
	case NFQA_SKB_INFO:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_OK;
		break;
	default:
		break;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

bool queue_msg_parse(const void *buf, size_t len, struct queue_msg *out)
{
	const struct nlmsghdr *nlh = buf;
	const struct nlattr *tb[NFQA_MAX + 1] = { 0 };
	const struct nfqnl_msg_packet_hdr *ph;

	memset(out, 0, sizeof(*out));
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));

	if (len < sizeof(*nlh) || nlh->nlmsg_len < off || nlh->nlmsg_len > len)
		return false;
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
		return false;
	/* Our own walk rather than mnl_attr_parse(): the kernel does not pad
	 * the last attribute (the payload), and libmnl would look for
	 * attributes up to the ALIGNED end, past the bytes received. Every
	 * attribute must end inside nlmsg_len. */
	while (off + sizeof(struct nlattr) <= nlh->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)((const char *)buf + off);

		if (a->nla_len < sizeof(*a) || a->nla_len > nlh->nlmsg_len - off)
			return false;
		attr_cb(a, tb);
		off += NLA_ALIGN((size_t)a->nla_len);
	}
	if (!tb[NFQA_PACKET_HDR])
		return false;
	ph = mnl_attr_get_payload(tb[NFQA_PACKET_HDR]);
	out->id = ntohl(ph->packet_id);
	out->hw_protocol = ntohs(ph->hw_protocol);
	if (tb[NFQA_MARK])
		out->mark = ntohl(mnl_attr_get_u32(tb[NFQA_MARK]));
	if (tb[NFQA_PAYLOAD]) {
		out->payload = mnl_attr_get_payload(tb[NFQA_PAYLOAD]);
		out->caplen = mnl_attr_get_payload_len(tb[NFQA_PAYLOAD]);
	}
	/* CAP_LEN is present only when the copy was cut by the copy range. */
	out->wire_len = tb[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(tb[NFQA_CAP_LEN])) : out->caplen;
	return true;
}

static void handle_packet(struct queue *q, const struct nlmsghdr *nlh, size_t avail)
{
	struct queue_decision d = { .accept = q->cfg.error_accept };
	struct queue_msg msg;
	struct pkt_info pkt;
	uint32_t mark;
	int rc;

	if (!queue_msg_parse(nlh, avail, &msg)) {
		/* Without an id there is no packet to answer; it stays queued
		 * until the socket closes. Cannot happen with a sane kernel. */
		inc(&q->verdict_errors, 1);
		return;
	}
	inc(&q->received, 1);
	mark = msg.mark | q->cfg.mark;
	rc = pkt_parse(msg.payload, msg.caplen, msg.wire_len, &pkt);
	if (rc != PKT_OK) {
		/* error: the configured failure verdict (accept in audit mode
		 * or fail-open, drop otherwise), counted. */
		inc(&q->parse_errors, 1);
		log_debug("queue %u: packet %u: %s: %s", q->cfg.num, msg.id, pkt_strerror(rc),
			  pkt.reason);
	} else {
		q->ops->decide(q->ctx, &pkt, &d);
		if (d.would_deny)
			inc(&q->would_deny, 1);
	}
	if (add_pending(q, msg.id, d.accept, mark) < 0) {
		/* No memory to remember the verdict: answer this one now,
		 * alone, so it is never left hanging. */
		char buf[128];
		struct nlmsghdr *v = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, q->cfg.num);

		nfq_nlmsg_verdict_put(v, (int)msg.id, d.accept ? NF_REPEAT : NF_DROP);
		if (d.accept)
			nfq_nlmsg_verdict_put_mark(v, mark);
		if (mnl_socket_sendto(q->nl, buf, v->nlmsg_len) < 0)
			inc(&q->verdict_errors, 1);
		inc(d.accept ? &q->accepted : &q->dropped, 1);
	}
}

/* Walk every netlink message of one datagram. */
static void handle_datagram(struct queue *q, const char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int n = (int)len;

	while (mnl_nlmsg_ok(nlh, n)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
				inc(&q->verdict_errors, 1);
			} else if (q->cfg_seq && nlh->nlmsg_seq == q->cfg_seq) {
				q->cfg_err = -e->error;
				q->cfg_acked = true;
			} else if (e->error) {
				inc(&q->verdict_errors, 1);
				log_debug("queue %u: kernel refused a verdict: %s", q->cfg.num,
					  strerror(-e->error));
			}
		} else if (nlh->nlmsg_type ==
			   ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
			handle_packet(q, nlh, (size_t)n);
		}
		nlh = mnl_nlmsg_next(nlh, &n);
	}
}

/* The receive vectors, once: recvmmsg() only writes msg_len and
 * msg_hdr.msg_flags (no name, no control data), so they stay valid; at a
 * low rate a batch is one or two packets, and rebuilding all `batch` headers
 * on every call was the largest user-space item of the packet loop. */
static void receive_init(struct queue *q)
{
	for (unsigned i = 0; i < q->cfg.batch; i++) {
		q->iov[i].iov_base = q->rxbuf + (size_t)i * QUEUE_MSG_BUF;
		q->iov[i].iov_len = QUEUE_MSG_BUF;
		memset(&q->msgs[i].msg_hdr, 0, sizeof(q->msgs[i].msg_hdr));
		q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
		q->msgs[i].msg_hdr.msg_iovlen = 1;
	}
}

/* Receive one batch; returns the number of datagrams or -errno. */
static int receive(struct queue *q)
{
	int n = recvmmsg(q->fd, q->msgs, q->cfg.batch, MSG_WAITFORONE, NULL);

	if (n < 0)
		return -errno;
	return n;
}

static void process(struct queue *q, int n)
{
	if (q->ops->batch_begin)
		q->ops->batch_begin(q->ctx);
	for (int i = 0; i < n; i++) {
		if (q->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			inc(&q->verdict_errors, 1);
			continue;
		}
		handle_datagram(q, q->rxbuf + (size_t)i * QUEUE_MSG_BUF, q->msgs[i].msg_len);
	}
	flush_verdicts(q);
	if (q->ops->batch_end)
		q->ops->batch_end(q->ctx);
	inc(&q->batches, 1);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *queue_main(void *arg)
{
	struct queue *q = arg;
	int64_t stop_at = 0, last_pkt = 0;
	char name[16];

	snprintf(name, sizeof(name), "npshim-q%u", q->cfg.num);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		int n = receive(q);

		if (atomic_load(&q->stop)) {
			int64_t now = now_ms();
			unsigned drain = atomic_load(&q->drain_ms);

			if (!stop_at) {
				stop_at = now + 10 * (int64_t)drain;
				last_pkt = now;
			}
			if (n > 0)
				last_pkt = now;
			/* Drained: nothing for drain_ms, or the cap reached
			 * under a flood that does not stop. */
			if ((n <= 0 && now - last_pkt >= drain) || now >= stop_at) {
				if (n > 0)
					process(q, n);
				break;
			}
		}
		if (n > 0) {
			process(q, n);
			continue;
		}
		switch (-n) {
		case EAGAIN:
		case EINTR:
			break;
		case ENOBUFS:
			/* Only when NETLINK_NO_ENOBUFS could not be set. */
			inc(&q->enobufs, 1);
			break;
		default:
			log_warnx("queue %u: receive: %s", q->cfg.num, strerror(-n));
			usleep(10000);
			break;
		}
	}
	return NULL;
}

static int config_msg(struct queue *q, char *err, size_t errlen)
{
	char buf[512];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->cfg.num);
	uint32_t flags = NFQA_CFG_F_GSO | (q->cfg.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
	uint32_t mask = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
	int64_t deadline;

	/* Bind, copy mode, maxlen and flags in one message: the kernel
	 * applies the command first, then the rest, and answers once. */
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = q->cfg_seq = (uint32_t)time(NULL) | 1u;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)q->cfg.copy_range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, q->cfg.maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "queue %u: sending the bind request: %s", q->cfg.num,
			 strerror(errno));
		return -errno;
	}
	/* Packets may already arrive before the ack (rules kept from a
	 * previous run): they are decided like any other. */
	deadline = now_ms() + 5000;
	while (!q->cfg_acked) {
		int n;

		if (now_ms() > deadline) {
			snprintf(err, errlen, "queue %u: no answer to the bind request", q->cfg.num);
			return -ETIMEDOUT;
		}
		n = receive(q);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "queue %u: reading the bind answer: %s", q->cfg.num,
				 strerror(-n));
			return n;
		}
		process(q, n);
	}
	q->cfg_seq = 0;
	if (q->cfg_err) {
		int e = q->cfg_err;

		if (e == EPERM)
			snprintf(err, errlen, "queue %u: binding refused (EPERM): run as root "
				 "(CAP_NET_ADMIN), or another process owns this queue", q->cfg.num);
		else if (e == EBUSY)
			snprintf(err, errlen, "queue %u: already bound by another process", q->cfg.num);
		else if (e == EOPNOTSUPP || e == ENOENT)
			snprintf(err, errlen, "queue %u: the kernel refused the queue flags or "
				 "has no nfnetlink_queue support: %s", q->cfg.num, strerror(e));
		else
			snprintf(err, errlen, "queue %u: binding failed: %s", q->cfg.num, strerror(e));
		return -e;
	}
	q->gso = true;
	return 0;
}

static void queue_free(struct queue *q)
{
	if (q->nl)
		mnl_socket_close(q->nl);
	free(q->msgs);
	free(q->iov);
	free(q->rxbuf);
	free(q->txbuf);
	free(q->pend);
	free(q->plan);
	free(q);
}

struct queue *queue_start(const struct queue_config *cfg, const struct queue_ops *ops,
			  void *ctx, char *err, size_t errlen)
{
	struct queue *q = calloc(1, sizeof(*q));
	struct timeval tv = { 0, QUEUE_POLL_MS * 1000 };
	socklen_t sl = sizeof(int);
	int one = 1, size, got = 0, rc;

	if (!q) {
		snprintf(err, errlen, "queue %u: out of memory", cfg->num);
		return NULL;
	}
	q->cfg = *cfg;
	if (!q->cfg.copy_range)
		q->cfg.copy_range = QUEUE_DEFAULT_COPY_RANGE;
	if (!q->cfg.maxlen)
		q->cfg.maxlen = QUEUE_DEFAULT_MAXLEN;
	if (!q->cfg.rcvbuf)
		q->cfg.rcvbuf = QUEUE_DEFAULT_RCVBUF;
	if (!q->cfg.batch)
		q->cfg.batch = QUEUE_DEFAULT_BATCH;
	q->ops = ops;
	q->ctx = ctx;
	atomic_init(&q->stop, false);
	atomic_init(&q->drain_ms, 200);
	q->msgs = calloc(q->cfg.batch, sizeof(*q->msgs));
	q->iov = calloc(q->cfg.batch, sizeof(*q->iov));
	q->rxbuf = malloc((size_t)q->cfg.batch * QUEUE_MSG_BUF);
	q->txbuf = malloc(QUEUE_MSG_BUF);
	if (!q->msgs || !q->iov || !q->rxbuf || !q->txbuf) {
		snprintf(err, errlen, "queue %u: out of memory", cfg->num);
		errno = ENOMEM;
		goto fail;
	}
	receive_init(q);
	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!q->nl) {
		rc = errno;
		snprintf(err, errlen, "queue %u: cannot open a netfilter netlink socket: %s",
			 cfg->num, strerror(rc));
		errno = rc;
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = errno;
		snprintf(err, errlen, "queue %u: netlink bind: %s", cfg->num, strerror(rc));
		errno = rc;
		goto fail;
	}
	q->fd = mnl_socket_get_fd(q->nl);
	q->portid = mnl_socket_get_portid(q->nl);
	/* A burst of new flows must not overflow the socket: FORCE ignores
	 * net.core.rmem_max (needs CAP_NET_ADMIN; plain SO_RCVBUF otherwise). */
	size = (int)q->cfg.rcvbuf;
	if (setsockopt(q->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (getsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &got, &sl) == 0)
		q->rcvbuf_granted = (uint32_t)got;
	/* Losses then show in the kernel's queue_user_dropped counter rather
	 * than as an error that would interrupt the receive loop. */
	if (setsockopt(q->fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one)) < 0)
		log_warn("queue %u: NETLINK_NO_ENOBUFS", cfg->num);
	/* The thread wakes up this often to notice a stop request. */
	setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = config_msg(q, err, errlen);
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	rc = pthread_create(&q->thread, NULL, queue_main, q);
	if (rc) {
		snprintf(err, errlen, "queue %u: cannot start its thread: %s", cfg->num, strerror(rc));
		errno = rc;
		goto fail;
	}
	q->thread_started = true;
	return q;
fail:
	rc = errno;
	queue_free(q);
	errno = rc;
	return NULL;
}

void queue_request_stop(struct queue *q, unsigned drain_ms)
{
	if (!q)
		return;
	atomic_store(&q->drain_ms, drain_ms);
	atomic_store(&q->stop, true);
}

void queue_stop(struct queue *q)
{
	char buf[256];
	struct nlmsghdr *nlh;

	if (!q)
		return;
	if (!atomic_load(&q->stop))
		queue_request_stop(q, 200);
	if (q->thread_started)
		pthread_join(q->thread, NULL);
	/* Unbind explicitly; closing the socket would do it too, but this
	 * way the kernel frees the queue before we return. */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->cfg.num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		log_warn("queue %u: unbind", q->cfg.num);
	queue_free(q);
}

bool queue_proc_parse(const char *text, uint16_t num, struct queue_stats *out)
{
	const char *p = text;

	while (p && *p) {
		unsigned qn, portid, total, mode, range, seq;
		unsigned long long qdrop, udrop;

		if (sscanf(p, "%u %u %u %u %u %llu %llu %u", &qn, &portid, &total, &mode, &range,
			   &qdrop, &udrop, &seq) == 8 && qn == num) {
			out->kernel_known = true;
			out->kernel_queue_total = total;
			out->kernel_queue_dropped = qdrop;
			out->kernel_user_dropped = udrop;
			out->kernel_id_sequence = seq;
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static void read_proc(uint16_t num, struct queue_stats *out)
{
	char buf[16384];
	ssize_t n;
	int fd = open("/proc/net/netfilter/nfnetlink_queue", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	queue_proc_parse(buf, num, out);
}

void queue_get_stats(const struct queue *q, struct queue_stats *out)
{
	struct queue *m = (struct queue *)q;

	memset(out, 0, sizeof(*out));
	out->num = q->cfg.num;
	out->received = atomic_load_explicit(&m->received, memory_order_relaxed);
	out->accepted = atomic_load_explicit(&m->accepted, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&m->dropped, memory_order_relaxed);
	out->would_deny = atomic_load_explicit(&m->would_deny, memory_order_relaxed);
	out->parse_errors = atomic_load_explicit(&m->parse_errors, memory_order_relaxed);
	out->enobufs = atomic_load_explicit(&m->enobufs, memory_order_relaxed);
	out->verdict_errors = atomic_load_explicit(&m->verdict_errors, memory_order_relaxed);
	out->batches = atomic_load_explicit(&m->batches, memory_order_relaxed);
	out->verdict_msgs = atomic_load_explicit(&m->verdict_msgs, memory_order_relaxed);
	out->copy_range = q->cfg.copy_range;
	out->maxlen = q->cfg.maxlen;
	out->rcvbuf = q->rcvbuf_granted;
	out->gso = q->gso;
	out->fail_open = q->cfg.fail_open;
	read_proc(q->cfg.num, out);
}

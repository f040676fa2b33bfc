/* SPDX-License-Identifier: Apache-2.0 */
/* nfq/queue.h - one NFQUEUE queue: netlink socket, its thread, verdicts.
 *
 * queue_start() opens a netfilter netlink socket (libmnl), binds it to one
 * queue number, configures it (copy only the first copy_range bytes,
 * NFQA_CFG_F_GSO, NFQA_CFG_F_FAIL_OPEN when asked, queue maxlen, a large
 * SO_RCVBUF(FORCE), NETLINK_NO_ENOBUFS) and starts a thread that:
 *
 *   receives up to `batch` packets with one recvmmsg(),
 *   ops->batch_begin(ctx),
 *   parses each (nfq/pkt.h) and asks ops->decide(ctx, ...) for a verdict
 *     (a packet that cannot be parsed gets cfg->error_accept, counted),
 *   sends every verdict of the batch in one sendmsg(): a run of consecutive
 *     ids with the same verdict and mark is one NFQNL_MSG_VERDICT_BATCH,
 *   ops->batch_end(ctx)  -- slow work (records, logs) goes here, after the
 *     kernel has its verdicts.
 *
 * Accept is NF_REPEAT with the packet mark | cfg->mark (NFQA_MARK), so the
 * rules in nfq/rules.c save the bit to the connection and the flow is not
 * queued again. Drop is NF_DROP.
 *
 * Threads: the queue's thread calls ops; queue_stats() may be called from
 * any thread (counters are atomics). Ownership: the queue owns its socket,
 * buffers and thread; queue_stop() releases them. ctx is borrowed and must
 * outlive queue_stop().
 */
#ifndef NPSHIM_NFQ_QUEUE_H
#define NPSHIM_NFQ_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfq/pkt.h"

struct queue;

struct queue_config {
	uint16_t num;
	uint32_t copy_range;  /* 0: QUEUE_DEFAULT_COPY_RANGE */
	uint32_t maxlen;      /* kernel queue length; 0: QUEUE_DEFAULT_MAXLEN */
	uint32_t rcvbuf;      /* socket receive buffer; 0: QUEUE_DEFAULT_RCVBUF */
	unsigned batch;       /* packets per recvmmsg; 0: QUEUE_DEFAULT_BATCH */
	bool fail_open;       /* NFQA_CFG_F_FAIL_OPEN: kernel queue full -> accept */
	bool error_accept;    /* verdict for packets that cannot be parsed */
	uint32_t mark;        /* bits ORed into the mark of accepted packets */
};

/* Headers only: 60 bytes of IPv4 + 60 of TCP fit in 128; IPv6 with a few
 * extension headers needs more, and 256 still copies no payload worth
 * speaking of. */
#define QUEUE_DEFAULT_COPY_RANGE 256
#define QUEUE_DEFAULT_MAXLEN 8192
#define QUEUE_DEFAULT_RCVBUF (16u << 20)
#define QUEUE_DEFAULT_BATCH 64

struct queue_decision {
	bool accept;
	bool would_deny; /* accepted, but enforce would drop it (counted) */
};

struct queue_ops {
	void (*batch_begin)(void *ctx);
	/* pkt is valid for the call only. */
	void (*decide)(void *ctx, const struct pkt_info *pkt, struct queue_decision *out);
	void (*batch_end)(void *ctx);
};

struct queue_stats {
	uint16_t num;
	uint64_t received;       /* packets read from the socket */
	uint64_t accepted;       /* verdicts: accept (incl. would-deny, errors accepted) */
	uint64_t dropped;        /* verdicts: drop */
	uint64_t would_deny;
	uint64_t parse_errors;   /* packets pkt_parse() refused */
	uint64_t enobufs;        /* receive overruns reported to us (ENOBUFS) */
	uint64_t verdict_errors; /* verdicts the kernel refused, or send failures */
	uint64_t batches;        /* recvmmsg() calls that returned packets */
	uint64_t verdict_msgs;   /* verdict messages sent (batched ones count 1) */
	uint32_t copy_range;
	uint32_t maxlen;
	uint32_t rcvbuf;         /* as granted by the kernel */
	bool gso;
	bool fail_open;
	/* From /proc/net/netfilter/nfnetlink_queue; kernel_known false when
	 * the line for this queue could not be read. */
	bool kernel_known;
	uint32_t kernel_queue_total;   /* waiting for a verdict right now */
	uint64_t kernel_queue_dropped; /* queue full (maxlen) */
	uint64_t kernel_user_dropped;  /* could not be sent to us (socket full) */
	uint32_t kernel_id_sequence;   /* packets queued since bind */
};

/* NULL with errno set and a message in err on failure (not root, no
 * nfnetlink_queue support, queue already bound by another process). */
struct queue *queue_start(const struct queue_config *cfg, const struct queue_ops *ops,
			  void *ctx, char *err, size_t errlen);
/* Ask the thread to finish: it keeps answering packets until none arrived
 * for drain_ms (at most 10 x drain_ms in all), then stops. Returns at once;
 * lets several queues drain in parallel before queue_stop(). */
void queue_request_stop(struct queue *q, unsigned drain_ms);
/* Request stop if not yet done, join the thread, unbind, close, free.
 * NULL is fine. */
void queue_stop(struct queue *q);

void queue_get_stats(const struct queue *q, struct queue_stats *out);

/* A verdict decided for one packet, in arrival order ... */
struct queue_verdict {
	uint32_t id;
	uint32_t mark; /* the mark to set; only for accept */
	bool accept;
};

/* ... and one verdict message that answers a run of them. */
struct queue_vmsg {
	uint32_t id;    /* the last id of the run */
	uint32_t mark;
	bool accept;
	bool batch;     /* NFQNL_MSG_VERDICT_BATCH (covers every lower id) */
	size_t count;   /* packets answered */
};

/* Pure: group v[0..n) into verdict messages. Ids arrive in increasing
 * order and the kernel handles the messages of one sendmsg in order, so a
 * run of consecutive packets with the same verdict (and, for accept, the
 * same mark, which a batch sets on every packet) is one VERDICT_BATCH up to
 * its last id: every lower id has been answered by then. out must hold n
 * entries; returns the number written. */
size_t queue_plan_verdicts(const struct queue_verdict *v, size_t n, struct queue_vmsg *out);

/* One NFQNL_MSG_PACKET message, decoded. Pointers point into the buffer. */
struct queue_msg {
	uint32_t id;
	uint16_t hw_protocol; /* host order: 0x0800, 0x86dd, ... */
	uint32_t mark;
	const uint8_t *payload;
	size_t caplen;
	size_t wire_len; /* NFQA_CAP_LEN when the copy was cut, else caplen */
};

/* Pure: decode one netlink message (len bytes available at nlh) sent by
 * nfnetlink_queue. Attributes are validated before use; unknown ones are
 * skipped. false when it is not a packet message or has no usable packet
 * header. */
bool queue_msg_parse(const void *nlh, size_t len, struct queue_msg *out);

/* Pure: the kernel_* fields of out for queue num from the text of
 * /proc/net/netfilter/nfnetlink_queue. false when the queue has no line. */
bool queue_proc_parse(const char *text, uint16_t num, struct queue_stats *out);

#endif

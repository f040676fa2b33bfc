/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_queue.c - decoding nfnetlink_queue packet messages and the
 * kernel's /proc counters (the pure parts of nfq/queue.c). */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <string.h>

#include "nfq/queue.h"
#include "test/unit/test.h"

static size_t build(char *buf, uint32_t id, uint32_t mark, const void *pl, size_t pl_len,
		    uint32_t cap_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	struct nfqnl_msg_packet_hdr ph = { .packet_id = htonl(id), .hw_protocol = htons(0x0800), .hook = 2 };

	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = 2;
	g->res_id = htons(3);
	mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof(ph), &ph);
	if (mark)
		mnl_attr_put_u32(nlh, NFQA_MARK, htonl(mark));
	mnl_attr_put_u32(nlh, 250, 7); /* unknown attribute: skipped */
	if (cap_len)
		mnl_attr_put_u32(nlh, NFQA_CAP_LEN, htonl(cap_len));
	if (pl)
		mnl_attr_put(nlh, NFQA_PAYLOAD, pl_len, pl);
	return nlh->nlmsg_len;
}

int main(void)
{
	char buf[1024];
	uint8_t payload[40] = { 0x45 };
	struct queue_msg m;
	struct queue_stats st;
	size_t len;

	len = build(buf, 77, 0x10, payload, sizeof(payload), 1500);
	T_ASSERT(queue_msg_parse(buf, len, &m), "parse");
	T_ASSERT(m.id == 77 && m.mark == 0x10 && m.hw_protocol == 0x0800, "id/mark/proto");
	T_ASSERT(m.caplen == 40 && m.wire_len == 1500 && m.payload && m.payload[0] == 0x45, "payload");

	/* The kernel does not pad the payload attribute: a 29-byte packet
	 * makes a message whose length is not a multiple of 4, and the
	 * datagram ends right there. */
	len = build(buf, 81, 0, payload, 29, 0) - 3;
	((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len;
	{
		char exact[1024];

		memcpy(exact, buf, len);
		T_ASSERT(queue_msg_parse(exact, len, &m) && m.id == 81 && m.caplen == 29,
			 "unpadded last attribute");
	}

	len = build(buf, 78, 0, payload, sizeof(payload), 0);
	T_ASSERT(queue_msg_parse(buf, len, &m) && m.mark == 0 && m.wire_len == 40, "no mark, no cap_len");

	/* Every truncation is refused or parsed within bounds, never read past. */
	len = build(buf, 79, 5, payload, sizeof(payload), 60);
	for (size_t n = 0; n < len; n++) {
		bool okp = queue_msg_parse(buf, n, &m);

		T_ASSERT(!okp, "truncated to %zu accepted", n);
	}
	/* A message whose header claims more than there is. */
	((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len + 100;
	T_ASSERT(!queue_msg_parse(buf, len, &m), "nlmsg_len beyond buffer");
	/* Not a packet message. */
	len = build(buf, 80, 0, NULL, 0, 0);
	((struct nlmsghdr *)buf)->nlmsg_type = NLMSG_ERROR;
	T_ASSERT(!queue_msg_parse(buf, len, &m), "wrong type");
	/* A packet header attribute of the wrong size is not used. */
	{
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		uint8_t small[3] = { 1, 2, 3 };

		nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
		mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
		mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof(small), small);
		T_ASSERT(!queue_msg_parse(buf, nlh->nlmsg_len, &m), "short packet header");
	}

	{
		/* accept x3 (mark 1), drop x2, accept (mark 1), accept (mark 5), drop */
		static const struct queue_verdict v[] = {
			{ 10, 1, true }, { 11, 1, true }, { 12, 1, true }, { 13, 9, false },
			{ 14, 7, false }, { 15, 1, true }, { 16, 5, true }, { 17, 0, false },
		};
		struct queue_vmsg out[8];
		size_t n = queue_plan_verdicts(v, 8, out), total = 0;

		T_ASSERT(n == 5, "5 messages for 8 packets: %zu", n);
		T_ASSERT(n == 5 && out[0].batch && out[0].id == 12 && out[0].accept && out[0].mark == 1 &&
			 out[0].count == 3, "accept run as one batch up to its last id");
		T_ASSERT(n == 5 && out[1].batch && out[1].id == 14 && !out[1].accept && out[1].mark == 0 &&
			 out[1].count == 2, "drop run: marks do not matter");
		T_ASSERT(n == 5 && !out[2].batch && out[2].id == 15 && out[3].id == 16 && out[3].mark == 5,
			 "a different mark breaks the run");
		T_ASSERT(n == 5 && !out[4].batch && out[4].id == 17 && !out[4].accept, "last single drop");
		for (size_t i = 0; i < n; i++)
			total += out[i].count;
		T_ASSERT(total == 8, "every packet answered once");
		T_ASSERT(queue_plan_verdicts(v, 0, out) == 0, "nothing to send");
	}

	memset(&st, 0, sizeof(st));
	T_ASSERT(queue_proc_parse("    0  12345     0 2   256     0     0       17  1\n"
				  "    1  12346     3 2   256     5     9     4242  1\n", 1, &st),
		 "proc line found");
	T_ASSERT(st.kernel_known && st.kernel_queue_total == 3 && st.kernel_queue_dropped == 5 &&
		 st.kernel_user_dropped == 9 && st.kernel_id_sequence == 4242, "proc fields");
	memset(&st, 0, sizeof(st));
	T_ASSERT(!queue_proc_parse("    0  12345     0 2   256     0     0       17  1\n", 4, &st) &&
		 !st.kernel_known, "queue without a line");
	T_ASSERT(!queue_proc_parse("", 0, &st), "empty proc file");
	return T_REPORT();
}

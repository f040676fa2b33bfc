/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_queue.c - libFuzzer target: a raw nfnetlink_queue message
 * into queue_msg_parse(), then its payload into pkt_parse(), as the queue
 * thread does (without the socket). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfq/pkt.h"
#include "nfq/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_msg m;
	struct pkt_info info;
	/* Netlink messages are 4-byte aligned in a real receive buffer. */
	uint32_t *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	if (queue_msg_parse(buf, size, &m)) {
		if (m.payload && ((const uint8_t *)m.payload < (const uint8_t *)buf ||
				  (const uint8_t *)m.payload + m.caplen > (const uint8_t *)buf + size))
			abort();
		pkt_parse(m.payload, m.caplen, m.wire_len, &info);
	}
	free(buf);
	return 0;
}

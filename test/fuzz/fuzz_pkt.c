/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_pkt.c - libFuzzer target: raw bytes into pkt_parse().
 *
 * The first two input bytes choose how much longer than the captured bytes
 * the packet claims to be (the copy-range case); the rest is the packet.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nfq/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_info info;
	size_t extra;
	int rc;

	if (size < 2)
		return 0;
	extra = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	rc = pkt_parse(data, size, size + extra, &info);
	if (rc < 0 || rc >= PKT_ERR__COUNT || !info.reason)
		abort();
	if (rc == PKT_OK && info.l4_off > size)
		abort();
	return 0;
}

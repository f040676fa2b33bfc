/* SPDX-License-Identifier: Apache-2.0 */
/* nfq/pkt.h - the packet parser: an IP packet's first bytes to a flow key.
 *
 * Pure: no I/O, no globals, no allocation, so it can be linked alone and
 * fuzzed. It reads only buf[0..caplen) and writes only *out. The kernel hands
 * us a copy of the first bytes of each queued packet (the copy range), so
 * the buffer may be shorter than the packet: every length is checked against
 * both what was captured (caplen) and what the IP header says the packet is
 * (bounded by wire_len, the packet's real length).
 */
#ifndef NPSHIM_NFQ_PKT_H
#define NPSHIM_NFQ_PKT_H

#include <stddef.h>
#include <stdint.h>

#include "policy/objects.h"

enum pkt_err {
	PKT_OK = 0,
	PKT_ERR_EMPTY,        /* no bytes at all */
	PKT_ERR_VERSION,      /* neither IPv4 nor IPv6 */
	PKT_ERR_TRUNCATED,    /* a header ends beyond the captured bytes */
	PKT_ERR_MALFORMED,    /* a length or field contradicts the packet */
	PKT_ERR_FRAGMENT,     /* a non-first fragment: no L4 header to read */
	PKT_ERR__COUNT,
};

enum pkt_flags {
	PKT_F_FRAGMENT = 1U << 0, /* first fragment of a fragmented datagram */
	PKT_F_NO_PORTS = 1U << 1, /* protocol without ports (ICMP, ESP, ...) */
	PKT_F_IPV6 = 1U << 2,
	PKT_F_JUMBO = 1U << 3,    /* length field 0 (GSO "big" packet/jumbogram) */
};

/* TCP flag bits as on the wire (byte 13 of the TCP header). */
enum {
	PKT_TCP_FIN = 0x01,
	PKT_TCP_SYN = 0x02,
	PKT_TCP_RST = 0x04,
	PKT_TCP_ACK = 0x10,
};

struct pkt_info {
	struct pol_ip src;  /* IPv4 stored IPv4-mapped, as everywhere */
	struct pol_ip dst;
	uint8_t proto;      /* upper-layer protocol after extension headers */
	uint8_t tcp_flags;  /* TCP only */
	uint8_t icmp_type;  /* ICMP and ICMPv6 only */
	uint8_t icmp_code;
	uint16_t sport;     /* 0 when the protocol has no ports */
	uint16_t dport;
	uint16_t l4_off;    /* offset of the L4 header in the buffer */
	unsigned flags;     /* enum pkt_flags */
	/* Static text saying exactly what was wrong; "ok" on success. Never
	 * NULL after pkt_parse() returned. */
	const char *reason;
};

/* Parse buf (caplen bytes captured of a packet wire_len bytes long; pass
 * wire_len = caplen when the whole packet is there; a wire_len smaller than
 * caplen is treated as caplen). Returns PKT_OK or an enum pkt_err; *out is
 * always fully written, and as far as the packet could be read (addresses
 * and protocol are filled for PKT_ERR_FRAGMENT). */
int pkt_parse(const uint8_t *buf, size_t caplen, size_t wire_len,
	      struct pkt_info *out);

/* Short fixed name of an error code ("truncated", ...). */
const char *pkt_strerror(int err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* nfq/pkt.c - pure IPv4/IPv6 + L4 header parser for queued packets. */
#include "nfq/pkt.h"

#include <string.h>

/* More extension headers than this is an attack or garbage, not a packet a
 * host would send; stop instead of walking a long chain. */
#define PKT_MAX_EXTHDRS 16

enum {
	IPPROTO_HOPOPTS_ = 0,
	IPPROTO_ICMP_ = 1,
	IPPROTO_TCP_ = 6,
	IPPROTO_UDP_ = 17,
	IPPROTO_ROUTING_ = 43,
	IPPROTO_FRAGMENT_ = 44,
	IPPROTO_ESP_ = 50,
	IPPROTO_AH_ = 51,
	IPPROTO_ICMPV6_ = 58,
	IPPROTO_NONE_ = 59,
	IPPROTO_DSTOPTS_ = 60,
	IPPROTO_SCTP_ = 132,
	IPPROTO_MH_ = 135,
	IPPROTO_UDPLITE_ = 136,
	IPPROTO_HIP_ = 139,
	IPPROTO_SHIM6_ = 140,
};

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static int fail(struct pkt_info *out, int err, const char *reason)
{
	out->reason = reason;
	return err;
}

/* Bytes [off, off+need) must lie inside the packet (end, from the IP
 * header) and inside what was captured. Outside the packet is malformed;
 * inside the packet but not captured is truncation. */
static int need(struct pkt_info *out, size_t caplen, size_t end, size_t off,
		size_t n, const char *malformed, const char *truncated)
{
	if (off > end || n > end - off)
		return fail(out, PKT_ERR_MALFORMED, malformed);
	if (off > caplen || n > caplen - off)
		return fail(out, PKT_ERR_TRUNCATED, truncated);
	return PKT_OK;
}

static int parse_l4(const uint8_t *buf, size_t caplen, size_t end, size_t off,
		    struct pkt_info *out)
{
	int rc;

	out->l4_off = (uint16_t)(off > 0xffff ? 0xffff : off);
	switch (out->proto) {
	case IPPROTO_TCP_: {
		unsigned doff;

		rc = need(out, caplen, end, off, 20,
			  "TCP header extends beyond the IP packet",
			  "TCP header beyond the captured bytes");
		if (rc)
			return rc;
		doff = (unsigned)(buf[off + 12] >> 4) * 4;
		if (doff < 20)
			return fail(out, PKT_ERR_MALFORMED, "TCP data offset below 5 words");
		if (doff > end - off)
			return fail(out, PKT_ERR_MALFORMED,
				    "TCP data offset beyond the IP packet");
		out->sport = be16(buf + off);
		out->dport = be16(buf + off + 2);
		out->tcp_flags = buf[off + 13];
		break;
	}
	case IPPROTO_UDP_:
	case IPPROTO_UDPLITE_: {
		uint16_t ulen;

		rc = need(out, caplen, end, off, 8,
			  "UDP header extends beyond the IP packet",
			  "UDP header beyond the captured bytes");
		if (rc)
			return rc;
		ulen = be16(buf + off + 4);
		/* 0 is legal: UDP-Lite coverage "all", or a jumbo datagram. */
		if (ulen != 0 && ulen < 8)
			return fail(out, PKT_ERR_MALFORMED, "UDP length below 8");
		out->sport = be16(buf + off);
		out->dport = be16(buf + off + 2);
		break;
	}
	case IPPROTO_SCTP_:
		rc = need(out, caplen, end, off, 12,
			  "SCTP common header extends beyond the IP packet",
			  "SCTP common header beyond the captured bytes");
		if (rc)
			return rc;
		out->sport = be16(buf + off);
		out->dport = be16(buf + off + 2);
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		rc = need(out, caplen, end, off, 8,
			  "ICMP header extends beyond the IP packet",
			  "ICMP header beyond the captured bytes");
		if (rc)
			return rc;
		out->icmp_type = buf[off];
		out->icmp_code = buf[off + 1];
		out->flags |= PKT_F_NO_PORTS;
		break;
	default:
		/* A protocol without ports we know of (GRE, ESP, ...): the
		 * policy still decides it by addresses and protocol. */
		out->flags |= PKT_F_NO_PORTS;
		break;
	}
	out->reason = "ok";
	return PKT_OK;
}

static void map_v4(struct pol_ip *ip, const uint8_t *a)
{
	memset(ip->b, 0, 10);
	ip->b[10] = 0xff;
	ip->b[11] = 0xff;
	memcpy(ip->b + 12, a, 4);
}

static int parse_v4(const uint8_t *buf, size_t caplen, size_t wire_len,
		    struct pkt_info *out)
{
	size_t ihl, tot;
	uint16_t frag;

	if (caplen < 20)
		return fail(out, PKT_ERR_TRUNCATED, "IPv4 header beyond the captured bytes");
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	if (ihl < 20)
		return fail(out, PKT_ERR_MALFORMED, "IPv4 header length below 5 words");
	tot = be16(buf + 2);
	if (tot == 0) {
		/* GSO/"big TCP" aggregates longer than 64 KiB carry 0. */
		if (wire_len <= 0xffff)
			return fail(out, PKT_ERR_MALFORMED, "IPv4 total length 0");
		tot = wire_len;
		out->flags |= PKT_F_JUMBO;
	}
	if (tot < ihl)
		return fail(out, PKT_ERR_MALFORMED,
			    "IPv4 total length shorter than its header");
	if (tot > wire_len)
		return fail(out, PKT_ERR_MALFORMED,
			    "IPv4 total length beyond the end of the packet");
	if (caplen < ihl)
		return fail(out, PKT_ERR_TRUNCATED, "IPv4 options beyond the captured bytes");
	map_v4(&out->src, buf + 12);
	map_v4(&out->dst, buf + 16);
	out->proto = buf[9];
	frag = be16(buf + 6);
	if (frag & 0x1fff) {
		out->flags |= PKT_F_NO_PORTS;
		return fail(out, PKT_ERR_FRAGMENT, "IPv4 non-first fragment");
	}
	if (frag & 0x2000)
		out->flags |= PKT_F_FRAGMENT;
	return parse_l4(buf, caplen, tot, ihl, out);
}

static int parse_v6(const uint8_t *buf, size_t caplen, size_t wire_len,
		    struct pkt_info *out)
{
	size_t end, off = 40, len;
	uint8_t nh;
	int rc;

	out->flags |= PKT_F_IPV6;
	if (caplen < 40)
		return fail(out, PKT_ERR_TRUNCATED, "IPv6 header beyond the captured bytes");
	end = be16(buf + 4);
	if (end == 0) {
		/* Jumbogram (RFC 2675) or a GSO aggregate: the wire length
		 * is the only length there is. */
		end = wire_len;
		if (end > 40)
			out->flags |= PKT_F_JUMBO;
	} else {
		end += 40;
		if (end > wire_len)
			return fail(out, PKT_ERR_MALFORMED,
				    "IPv6 payload length beyond the end of the packet");
	}
	memcpy(out->src.b, buf + 8, 16);
	memcpy(out->dst.b, buf + 24, 16);
	nh = buf[6];
	for (unsigned i = 0;; i++) {
		if (i == PKT_MAX_EXTHDRS) {
			out->proto = nh;
			return fail(out, PKT_ERR_MALFORMED, "too many IPv6 extension headers");
		}
		switch (nh) {
		case IPPROTO_HOPOPTS_:
			if (i != 0) {
				out->proto = nh;
				return fail(out, PKT_ERR_MALFORMED,
					    "IPv6 hop-by-hop header not first");
			}
			/* fall through */
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
		case IPPROTO_MH_:
		case IPPROTO_HIP_:
		case IPPROTO_SHIM6_:
			rc = need(out, caplen, end, off, 2,
				  "IPv6 extension header beyond the packet",
				  "IPv6 extension header beyond the captured bytes");
			if (rc)
				return rc;
			len = ((size_t)buf[off + 1] + 1) * 8;
			break;
		case IPPROTO_AH_:
			rc = need(out, caplen, end, off, 2,
				  "IPv6 AH header beyond the packet",
				  "IPv6 AH header beyond the captured bytes");
			if (rc)
				return rc;
			len = ((size_t)buf[off + 1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT_: {
			uint16_t fo;

			rc = need(out, caplen, end, off, 8,
				  "IPv6 fragment header beyond the packet",
				  "IPv6 fragment header beyond the captured bytes");
			if (rc)
				return rc;
			fo = be16(buf + off + 2);
			nh = buf[off];
			off += 8;
			if (fo & 0xfff8) {
				out->proto = nh;
				out->flags |= PKT_F_NO_PORTS;
				return fail(out, PKT_ERR_FRAGMENT, "IPv6 non-first fragment");
			}
			if (fo & 1)
				out->flags |= PKT_F_FRAGMENT;
			continue;
		}
		case IPPROTO_ESP_:
		case IPPROTO_NONE_:
			/* Nothing readable follows: encrypted, or no payload. */
			out->proto = nh;
			out->l4_off = (uint16_t)(off > 0xffff ? 0xffff : off);
			out->flags |= PKT_F_NO_PORTS;
			out->reason = "ok";
			return PKT_OK;
		default:
			out->proto = nh;
			return parse_l4(buf, caplen, end, off, out);
		}
		rc = need(out, caplen, end, off, len,
			  "IPv6 extension header length beyond the packet",
			  "IPv6 extension header beyond the captured bytes");
		if (rc)
			return rc;
		nh = buf[off];
		off += len;
	}
}

int pkt_parse(const uint8_t *buf, size_t caplen, size_t wire_len,
	      struct pkt_info *out)
{
	memset(out, 0, sizeof(*out));
	if (wire_len < caplen)
		wire_len = caplen;
	if (caplen == 0 || !buf)
		return fail(out, PKT_ERR_EMPTY, "empty packet");
	switch (buf[0] >> 4) {
	case 4:
		return parse_v4(buf, caplen, wire_len, out);
	case 6:
		return parse_v6(buf, caplen, wire_len, out);
	default:
		return fail(out, PKT_ERR_VERSION, "IP version is neither 4 nor 6");
	}
}

const char *pkt_strerror(int err)
{
	static const char *const names[PKT_ERR__COUNT] = {
		[PKT_OK] = "ok",
		[PKT_ERR_EMPTY] = "empty",
		[PKT_ERR_VERSION] = "bad version",
		[PKT_ERR_TRUNCATED] = "truncated",
		[PKT_ERR_MALFORMED] = "malformed",
		[PKT_ERR_FRAGMENT] = "non-first fragment",
	};

	if (err < 0 || err >= PKT_ERR__COUNT)
		return "unknown";
	return names[err];
}

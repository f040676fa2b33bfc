/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_pkt.c - the packet parser on good, truncated, oversized and
 * garbage packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfq/pkt.h"
#include "test/unit/test.h"

static size_t ipv4(uint8_t *p, uint8_t proto, size_t l4len, unsigned opt_words)
{
	size_t ihl = 20 + opt_words * 4, tot = ihl + l4len;

	memset(p, 0, tot);
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	p[2] = (uint8_t)(tot >> 8);
	p[3] = (uint8_t)tot;
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	memcpy(p + 16, (uint8_t[]){ 10, 0, 0, 2 }, 4);
	return ihl;
}

static void tcp(uint8_t *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
	p[0] = (uint8_t)(sport >> 8);
	p[1] = (uint8_t)sport;
	p[2] = (uint8_t)(dport >> 8);
	p[3] = (uint8_t)dport;
	p[12] = 5 << 4;
	p[13] = flags;
}

static void udp(uint8_t *p, uint16_t sport, uint16_t dport, uint16_t len)
{
	p[0] = (uint8_t)(sport >> 8);
	p[1] = (uint8_t)sport;
	p[2] = (uint8_t)(dport >> 8);
	p[3] = (uint8_t)dport;
	p[4] = (uint8_t)(len >> 8);
	p[5] = (uint8_t)len;
}

/* IPv6 header with payload length plen and first next header nh. */
static void ipv6(uint8_t *p, uint8_t nh, uint16_t plen)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = (uint8_t)(plen >> 8);
	p[5] = (uint8_t)plen;
	p[6] = nh;
	p[7] = 64;
	p[8] = 0xfd;
	p[23] = 1;
	p[24] = 0xfd;
	p[39] = 2;
}

static bool is_v4(const struct pol_ip *ip, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	static const uint8_t pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(ip->b, pre, 12) == 0 && ip->b[12] == a && ip->b[13] == b &&
	       ip->b[14] == c && ip->b[15] == d;
}

static void test_ipv4(void)
{
	uint8_t p[256];
	struct pkt_info info;
	size_t off;
	int rc;

	off = ipv4(p, 6, 20, 0);
	tcp(p + off, 40000, 5432, PKT_TCP_SYN);
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_OK, "v4 tcp: %s", info.reason);
	T_ASSERT(is_v4(&info.src, 10, 0, 0, 1) && is_v4(&info.dst, 10, 0, 0, 2), "v4 addrs");
	T_ASSERT(info.proto == 6 && info.dport == 5432 && info.sport == 40000, "v4 tcp ports");
	T_ASSERT(info.tcp_flags == PKT_TCP_SYN && info.l4_off == 20, "v4 tcp flags/off");
	T_ASSERT(!(info.flags & (PKT_F_IPV6 | PKT_F_NO_PORTS | PKT_F_FRAGMENT)), "v4 flags");
	T_ASSERT(strcmp(info.reason, "ok") == 0, "reason ok");

	/* Copy range shorter than the packet: fine while headers are there. */
	p[2] = 0x05;
	p[3] = 0xdc; /* total length 1500 */
	rc = pkt_parse(p, 40, 1500, &info);
	T_ASSERT(rc == PKT_OK && info.dport == 5432, "v4 partial copy: %s", info.reason);
	/* ... but not when the real packet is shorter than the header says. */
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "v4 oversized total length: %d", rc);
	/* Trailing padding after total length is ignored. */
	off = ipv4(p, 6, 20, 0);
	tcp(p + off, 1, 80, PKT_TCP_SYN);
	memset(p + 40, 0xee, 20);
	rc = pkt_parse(p, 60, 60, &info);
	T_ASSERT(rc == PKT_OK && info.dport == 80, "v4 padding: %s", info.reason);

	/* Options: IHL 7. */
	off = ipv4(p, 6, 20, 2);
	tcp(p + off, 1, 443, PKT_TCP_SYN | PKT_TCP_ACK);
	rc = pkt_parse(p, 48, 48, &info);
	T_ASSERT(rc == PKT_OK && info.dport == 443 && info.l4_off == 28, "v4 options: %s", info.reason);
	rc = pkt_parse(p, 24, 48, &info);
	T_ASSERT(rc == PKT_ERR_TRUNCATED, "v4 options truncated: %d", rc);

	off = ipv4(p, 17, 8, 0);
	udp(p + off, 5353, 53, 8);
	rc = pkt_parse(p, 28, 28, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 17 && info.dport == 53, "v4 udp: %s", info.reason);
	udp(p + off, 5353, 53, 3);
	rc = pkt_parse(p, 28, 28, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "udp length 3: %d", rc);
	udp(p + off, 5353, 53, 0);
	rc = pkt_parse(p, 28, 28, &info);
	T_ASSERT(rc == PKT_OK, "udp length 0 accepted: %s", info.reason);

	off = ipv4(p, 132, 12, 0);
	udp(p + off, 3000, 3868, 0);
	rc = pkt_parse(p, 32, 32, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 132 && info.dport == 3868, "v4 sctp: %s", info.reason);
	rc = pkt_parse(p, 31, 32, &info);
	T_ASSERT(rc == PKT_ERR_TRUNCATED, "sctp truncated: %d", rc);

	off = ipv4(p, 1, 8, 0);
	p[off] = 8;
	rc = pkt_parse(p, 28, 28, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 1 && info.icmp_type == 8 && info.dport == 0 &&
		 (info.flags & PKT_F_NO_PORTS), "v4 icmp echo: %s", info.reason);
	off = ipv4(p, 1, 4, 0);
	rc = pkt_parse(p, 24, 24, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "icmp shorter than 8 bytes: %d", rc);

	off = ipv4(p, 47, 4, 0); /* GRE: no ports, still a flow */
	rc = pkt_parse(p, 24, 24, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 47 && (info.flags & PKT_F_NO_PORTS), "gre: %s", info.reason);
}

static void test_ipv4_bad(void)
{
	uint8_t p[128];
	struct pkt_info info;
	size_t off;
	int rc;

	off = ipv4(p, 6, 20, 0);
	tcp(p + off, 1, 80, PKT_TCP_SYN);
	/* Every truncation of a 40-byte TCP SYN is reported, never read. */
	for (size_t n = 0; n < 40; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, p, n);
		rc = pkt_parse(copy, n, 40, &info);
		T_ASSERT(rc == (n ? PKT_ERR_TRUNCATED : PKT_ERR_EMPTY),
			 "truncated at %zu: %d (%s)", n, rc, info.reason);
		T_ASSERT(info.reason != NULL, "reason set at %zu", n);
		rc = pkt_parse(copy, n, n, &info);
		T_ASSERT(rc != PKT_OK, "short packet %zu accepted", n);
		free(copy);
	}

	p[0] = 0x44; /* IHL 4 */
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED && strstr(info.reason, "header length"), "IHL 4: %s", info.reason);
	p[0] = 0x45;
	p[2] = 0;
	p[3] = 19;
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "total length below header: %d", rc);
	p[3] = 0;
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "total length 0: %d", rc);
	rc = pkt_parse(p, 40, 70000, &info);
	T_ASSERT(rc == PKT_OK && (info.flags & PKT_F_JUMBO) && info.dport == 80,
		 "total length 0 on a 70000-byte GSO packet: %s", info.reason);
	p[3] = 40;

	p[off + 12] = 4 << 4;
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED && strstr(info.reason, "TCP data offset"), "TCP doff 4: %s", info.reason);
	p[off + 12] = 6 << 4;
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "TCP doff beyond packet: %d", rc);
	p[off + 12] = 5 << 4;

	/* Fragments: the first one has ports, later ones have none. */
	p[6] = 0x20; /* MF */
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_OK && (info.flags & PKT_F_FRAGMENT) && info.dport == 80, "first fragment: %s", info.reason);
	p[6] = 0x00;
	p[7] = 0x10; /* offset 16*8 */
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_FRAGMENT && info.proto == 6 && info.dport == 0 &&
		 is_v4(&info.dst, 10, 0, 0, 2), "non-first fragment: %d %s", rc, info.reason);
	p[7] = 0;

	p[0] = 0x55;
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_ERR_VERSION, "version 5: %d", rc);
	rc = pkt_parse(NULL, 0, 0, &info);
	T_ASSERT(rc == PKT_ERR_EMPTY, "empty: %d", rc);
}

static void test_ipv6(void)
{
	uint8_t p[512];
	struct pkt_info info;
	int rc;

	ipv6(p, 6, 20);
	memset(p + 40, 0, 20);
	tcp(p + 40, 33000, 8080, PKT_TCP_SYN);
	rc = pkt_parse(p, 60, 60, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 6 && info.dport == 8080 && (info.flags & PKT_F_IPV6),
		 "v6 tcp: %s", info.reason);
	T_ASSERT(info.src.b[0] == 0xfd && info.src.b[15] == 1 && info.dst.b[15] == 2, "v6 addrs");
	rc = pkt_parse(p, 59, 60, &info);
	T_ASSERT(rc == PKT_ERR_TRUNCATED, "v6 tcp truncated: %d", rc);
	rc = pkt_parse(p, 39, 60, &info);
	T_ASSERT(rc == PKT_ERR_TRUNCATED, "v6 header truncated: %d", rc);
	rc = pkt_parse(p, 50, 50, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED, "v6 payload length beyond packet: %d", rc);

	/* hop-by-hop (8) -> routing (24) -> dest opts (16) -> AH (16) -> UDP */
	{
		size_t off = 40;

		memset(p, 0, sizeof(p));
		p[off] = 43;
		p[off + 1] = 0;
		off += 8;
		p[off] = 60;
		p[off + 1] = 2;
		off += 24;
		p[off] = 51;
		p[off + 1] = 1;
		off += 16;
		p[off] = 17;
		p[off + 1] = 2; /* (2+2)*4 = 16 */
		off += 16;
		udp(p + off, 1000, 53, 8);
		off += 8;
		ipv6(p, 0, (uint16_t)(off - 40));
		rc = pkt_parse(p, off, off, &info);
		T_ASSERT(rc == PKT_OK && info.proto == 17 && info.dport == 53 && info.l4_off == off - 8,
			 "v6 ext chain: %d %s (l4 %u)", rc, info.reason, info.l4_off);
		for (size_t n = 40; n < off; n++) {
			rc = pkt_parse(p, n, off, &info);
			T_ASSERT(rc == PKT_ERR_TRUNCATED, "v6 ext chain truncated at %zu: %d", n, rc);
		}
		/* The routing header claims more than the packet holds. */
		p[49] = 200;
		rc = pkt_parse(p, off, off, &info);
		T_ASSERT(rc == PKT_ERR_MALFORMED, "v6 ext length beyond packet: %d %s", rc, info.reason);
	}

	/* Hop-by-hop anywhere but first is malformed. */
	ipv6(p, 60, 16);
	memset(p + 40, 0, 16);
	p[40] = 0;
	rc = pkt_parse(p, 56, 56, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED && strstr(info.reason, "hop-by-hop"), "hbh not first: %s", info.reason);

	/* A chain of 20 destination options headers. */
	ipv6(p, 60, 20 * 8);
	memset(p + 40, 0, 20 * 8);
	for (int i = 0; i < 20; i++)
		p[40 + i * 8] = 60;
	rc = pkt_parse(p, 40 + 160, 40 + 160, &info);
	T_ASSERT(rc == PKT_ERR_MALFORMED && strstr(info.reason, "too many"), "long chain: %s", info.reason);

	/* Fragment header: first fragment keeps the ports. */
	ipv6(p, 44, 16);
	memset(p + 40, 0, 16);
	p[40] = 17;
	p[43] = 1; /* offset 0, M */
	udp(p + 48, 9, 5000, 100);
	rc = pkt_parse(p, 56, 56, &info);
	T_ASSERT(rc == PKT_OK && (info.flags & PKT_F_FRAGMENT) && info.dport == 5000, "v6 first fragment: %s", info.reason);
	p[42] = 0x05;
	p[43] = 0x00; /* offset 160 */
	rc = pkt_parse(p, 56, 56, &info);
	T_ASSERT(rc == PKT_ERR_FRAGMENT && info.proto == 17 && info.dport == 0, "v6 later fragment: %d", rc);

	ipv6(p, 50, 8);
	rc = pkt_parse(p, 48, 48, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 50 && (info.flags & PKT_F_NO_PORTS), "esp stops: %s", info.reason);
	ipv6(p, 59, 0);
	rc = pkt_parse(p, 40, 40, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 59 && !(info.flags & PKT_F_JUMBO),
		 "empty payload: %d %s", rc, info.reason);
	rc = pkt_parse(p, 40, 70000, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 59 && (info.flags & PKT_F_JUMBO), "jumbo no-next: %s", info.reason);

	ipv6(p, 58, 8);
	memset(p + 40, 0, 8);
	p[40] = 128;
	rc = pkt_parse(p, 48, 48, &info);
	T_ASSERT(rc == PKT_OK && info.proto == 58 && info.icmp_type == 128 && info.dport == 0,
		 "icmpv6 echo: %s", info.reason);
}

/* Deterministic garbage: never a crash, always a valid code and a reason. */
static void test_garbage(void)
{
	uint8_t p[200];
	struct pkt_info info;
	uint32_t s = 12345;
	unsigned bad = 0, ok = 0;

	for (int i = 0; i < 20000; i++) {
		size_t n;
		int rc;

		for (size_t j = 0; j < sizeof(p); j++) {
			s = s * 1103515245u + 12345u;
			p[j] = (uint8_t)(s >> 16);
		}
		/* Half of the cases start like a real header, so the L4 and
		 * extension-header paths get garbage too. */
		if (i & 1)
			p[0] = (i & 2) ? 0x45 : 0x60;
		n = (s >> 8) % sizeof(p);
		rc = pkt_parse(p, n, (s >> 4) % 300, &info);
		if (rc < 0 || rc >= PKT_ERR__COUNT || !info.reason)
			bad++;
		if (rc == PKT_OK)
			ok++;
	}
	T_ASSERT(bad == 0, "%u garbage packets gave an invalid result", bad);
	T_ASSERT(ok > 0, "some garbage parses (sanity of the generator)");
	T_ASSERT(strcmp(pkt_strerror(PKT_ERR_TRUNCATED), "truncated") == 0, "strerror");
	T_ASSERT(strcmp(pkt_strerror(99), "unknown") == 0, "strerror unknown");
}

int main(void)
{
	test_ipv4();
	test_ipv4_bad();
	test_ipv6();
	test_garbage();
	return T_REPORT();
}

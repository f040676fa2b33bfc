/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_lpm.c - the prefix trie against a naive linear reference. */
#include <stdlib.h>
#include <string.h>

#include "policy/lpm.h"
#include "test/unit/test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Addresses drawn from a small pool of "bases" so that random prefixes
 * nest and overlap often, which is where tries go wrong. */
static struct pol_ip bases[8];

static void rand_ip(struct pol_ip *ip, bool v4)
{
	const struct pol_ip *base = &bases[rnd() % 8];
	unsigned flips = rnd() % 4, i;

	*ip = *base;
	if (v4) {
		memset(ip->b, 0, 10);
		ip->b[10] = ip->b[11] = 0xff;
	} else if (ip->b[0] == 0) {
		ip->b[0] = 0x20; /* keep v6 addresses out of ::ffff:0:0/96 */
	}
	for (i = 0; i < flips; i++) {
		unsigned bit = v4 ? 96 + rnd() % 32 : rnd() % 128;

		ip->b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	}
}

static void mask(struct pol_cidr *c)
{
	unsigned i;

	for (i = c->len; i < 128; i++)
		c->addr.b[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

static void rand_cidr(struct pol_cidr *c, bool v4)
{
	rand_ip(&c->addr, v4);
	c->v4 = v4;
	c->len = (uint8_t)(v4 ? 96 + rnd() % 33 : rnd() % 129);
	mask(c);
}

struct ref_entry {
	struct pol_cidr c;
	uint32_t value;
};

static bool ref_lookup(const struct ref_entry *e, size_t n, const struct pol_ip *ip, uint32_t *out)
{
	int best_len = -1;
	uint32_t best = LPM_NONE;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!pol_cidr_contains(&e[i].c, ip))
			continue;
		/* Later inserts of an equal prefix replace earlier ones. */
		if ((int)e[i].c.len >= best_len) {
			best_len = e[i].c.len;
			best = e[i].value;
		}
	}
	if (best == LPM_NONE)
		return false;
	*out = best;
	return true;
}

static void test_random_lpm(void)
{
	unsigned round, bad = 0, checked = 0;

	for (round = 0; round < 40; round++) {
		struct ref_entry e[200];
		size_t n = 1 + rnd() % 200, i;
		struct lpm *t = lpm_new();

		T_ASSERT(t != NULL, "lpm_new");
		if (!t)
			return;
		for (i = 0; i < n; i++) {
			rand_cidr(&e[i].c, rnd() % 2);
			e[i].value = rnd() % 7 == 0 ? LPM_NONE : rnd() % 1000;
			if (lpm_insert(t, &e[i].c, e[i].value) < 0)
				bad++;
		}
		for (i = 0; i < 2000; i++) {
			struct pol_ip ip;
			uint32_t a = 0, b = 0;
			bool ra, rb;

			rand_ip(&ip, rnd() % 2);
			ra = lpm_lookup(t, &ip, &a);
			rb = ref_lookup(e, n, &ip, &b);
			checked++;
			if (ra != rb || (ra && a != b))
				bad++;
		}
		lpm_free(t);
	}
	T_ASSERT(bad == 0, "%u of %u random lookups differ from the reference", bad, checked);
}

static bool ref_blocks(const struct pol_ipblock *b, size_t n, const struct pol_ip *ip, uint32_t *out)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		bool ex = false;

		if (!pol_cidr_contains(&b[i].cidr, ip))
			continue;
		for (j = 0; j < b[i].n_except; j++)
			ex = ex || pol_cidr_contains(&b[i].except[j], ip);
		if (!ex) {
			*out = (uint32_t)i;
			return true;
		}
	}
	return false;
}

static void test_random_ipblocks(void)
{
	unsigned round, bad = 0, checked = 0;

	for (round = 0; round < 200; round++) {
		struct pol_ipblock b[6];
		const struct pol_ipblock *bp[6];
		struct pol_cidr ex[6][4];
		size_t n = 1 + rnd() % 6, i, j;
		struct lpm *t = lpm_new();

		if (!t)
			return;
		for (i = 0; i < n; i++) {
			bool v4 = rnd() % 3 != 0;

			rand_cidr(&b[i].cidr, v4);
			b[i].n_except = rnd() % 5;
			b[i].except = ex[i];
			for (j = 0; j < b[i].n_except; j++) {
				/* Mostly inside the cidr, as the API requires, but
				 * not always: the trie must not care. */
				ex[i][j] = b[i].cidr;
				if (rnd() % 5) {
					unsigned k, extra = rnd() % 12;

					ex[i][j].len = (uint8_t)(b[i].cidr.len + extra > 128 ? 128 : b[i].cidr.len + extra);
					for (k = b[i].cidr.len; k < ex[i][j].len; k++)
						if (rnd() % 2)
							ex[i][j].addr.b[k / 8] |= (uint8_t)(0x80 >> (k % 8));
				} else {
					rand_cidr(&ex[i][j], v4);
				}
			}
			bp[i] = &b[i];
		}
		T_ASSERT(lpm_insert_ipblocks(t, bp, n) == 0, "insert ipblocks");
		for (i = 0; i < 500; i++) {
			struct pol_ip ip;
			uint32_t a = 0, r = 0;
			bool ra, rb;

			rand_ip(&ip, rnd() % 3 != 0);
			if (i % 2) {
				/* aim inside a block */
				const struct pol_cidr *c = &b[rnd() % n].cidr;
				unsigned k;

				ip = c->addr;
				for (k = c->len; k < 128; k++)
					if (rnd() % 2)
						ip.b[k / 8] |= (uint8_t)(0x80 >> (k % 8));
			}
			ra = lpm_lookup(t, &ip, &a);
			rb = ref_blocks(b, n, &ip, &r);
			checked++;
			if (ra != rb || (ra && a != r))
				bad++;
		}
		lpm_free(t);
	}
	T_ASSERT(bad == 0, "%u of %u ipBlock lookups differ from the reference", bad, checked);
}

static void test_fixed(void)
{
	struct lpm *t = lpm_new();
	struct pol_cidr c;
	struct pol_ip ip;
	uint32_t v = 0;

	if (!t)
		return;
	T_ASSERT(!pol_ip_parse("10.0.0.1", &ip) || !lpm_lookup(t, &ip, &v), "empty trie");
	pol_cidr_parse("0.0.0.0/0", &c);
	lpm_insert(t, &c, 1);
	pol_cidr_parse("10.0.0.0/8", &c);
	lpm_insert(t, &c, 2);
	pol_cidr_parse("10.1.0.0/16", &c);
	lpm_insert(t, &c, LPM_NONE);
	pol_cidr_parse("::/0", &c);
	lpm_insert(t, &c, 6);
	T_ASSERT(lpm_count(t) == 4, "count %zu", lpm_count(t));

	pol_ip_parse("10.2.3.4", &ip);
	T_ASSERT(lpm_lookup(t, &ip, &v) && v == 2, "10.2.3.4 -> /8");
	pol_ip_parse("10.1.3.4", &ip);
	T_ASSERT(!lpm_lookup(t, &ip, &v), "10.1.3.4 hidden by a negative entry");
	pol_ip_parse("192.168.1.1", &ip);
	T_ASSERT(lpm_lookup(t, &ip, &v) && v == 1, "v4 default route");
	pol_ip_parse("2001:db8::1", &ip);
	T_ASSERT(lpm_lookup(t, &ip, &v) && v == 6, "v6 default route");
	/* ::/0 must not swallow IPv4: remove the v4 default and look again. */
	lpm_free(t);
	t = lpm_new();
	if (!t)
		return;
	pol_cidr_parse("::/0", &c);
	lpm_insert(t, &c, 6);
	pol_ip_parse("192.168.1.1", &ip);
	T_ASSERT(!lpm_lookup(t, &ip, &v), "::/0 does not contain IPv4");
	pol_cidr_parse("10.0.0.0/8", &c);
	lpm_insert(t, &c, 7);
	lpm_insert(t, &c, 8);
	T_ASSERT(lpm_count(t) == 2, "replace keeps count (%zu)", lpm_count(t));
	pol_ip_parse("10.9.9.9", &ip);
	T_ASSERT(lpm_lookup(t, &ip, &v) && v == 8, "replaced value");
	pol_cidr_parse("10.9.9.9/32", &c);
	lpm_insert(t, &c, 9);
	T_ASSERT(lpm_lookup(t, &ip, &v) && v == 9, "host route");
	T_ASSERT(lpm_memory(t) > 0, "memory");
	T_ASSERT(lpm_insert_ipblocks(t, NULL, 0) == -1, "ipblocks into a non-empty trie");
	lpm_free(t);
	lpm_free(NULL);
}

int main(void)
{
	unsigned i;

	for (i = 0; i < 8; i++) {
		unsigned k;

		for (k = 0; k < 16; k++)
			bases[i].b[k] = (uint8_t)rnd();
	}
	test_fixed();
	test_random_lpm();
	test_random_ipblocks();
	return T_REPORT();
}

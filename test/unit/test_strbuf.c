/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_strbuf.c - the growable text buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "test/unit/test.h"

int main(void)
{
	struct strbuf b = { 0 };
	char *s;

	s = strbuf_take(&b);
	T_ASSERT(s && strcmp(s, "") == 0, "empty buffer hands over an empty string");
	free(s);

	strbuf_puts(&b, "abc");
	strbuf_append(&b, "defXYZ", 3);
	strbuf_printf(&b, "-%d-%s", 42, "x");
	T_ASSERT(b.len == 11 && strcmp(b.s, "abcdef-42-x") == 0, "appends in order: '%s'", b.s);

	/* Past any initial capacity, in one printf and across many. */
	for (int i = 0; i < 1000; i++)
		strbuf_printf(&b, "%04d", i);
	T_ASSERT(b.len == 11 + 4000, "length after 1000 printfs: %zu", b.len);
	T_ASSERT(memcmp(b.s + b.len - 4, "0999", 4) == 0 && b.s[b.len] == '\0', "tail and NUL");
	strbuf_printf(&b, "%5000s", "wide");
	T_ASSERT(b.len == 11 + 4000 + 5000 && b.s[b.len - 1] == 'e', "one printf larger than the room");
	s = strbuf_take(&b);
	T_ASSERT(s && strlen(s) == 9011 && b.s == NULL && b.len == 0, "take empties the buffer");
	free(s);

	/* An append that cannot fit latches oom; later appends do nothing. */
	strbuf_puts(&b, "x");
	strbuf_append(&b, "y", SIZE_MAX - 1);
	T_ASSERT(b.oom, "impossible size latches oom");
	strbuf_puts(&b, "z");
	T_ASSERT(b.len == 1, "no append after oom");
	T_ASSERT(strbuf_take(&b) == NULL && !b.oom && !b.s, "take after oom: NULL, buffer reset");

	strbuf_puts(&b, "gone");
	strbuf_free(&b);
	T_ASSERT(b.s == NULL && b.len == 0 && b.cap == 0, "free resets");
	return T_REPORT();
}

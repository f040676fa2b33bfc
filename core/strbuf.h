/* SPDX-License-Identifier: Apache-2.0 */
/* core/strbuf.h - a growable, always NUL-terminated text buffer.
 *
 * Allocation failure latches: once oom is set every later append is a
 * no-op, so a caller builds a whole text and checks once. Ownership: the
 * buffer owns s until strbuf_take() hands it over or strbuf_free() drops
 * it. Pure (no I/O); usable from policy/ and the packet-free paths alike.
 */
#ifndef NPSHIM_CORE_STRBUF_H
#define NPSHIM_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s; /* NULL until the first append */
	size_t len, cap;
	bool oom;
};

void strbuf_append(struct strbuf *b, const char *data, size_t n);
void strbuf_puts(struct strbuf *b, const char *text);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (an empty string when nothing was appended), now the caller's
 * to free; NULL with errno = ENOMEM when an append failed. The buffer is
 * left empty either way. */
char *strbuf_take(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif

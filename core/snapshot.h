/* SPDX-License-Identifier: Apache-2.0 */
/* core/snapshot.h - publish an immutable object to reader threads.
 *
 * One writer at a time (publishes are serialised inside) swaps in a new
 * object with one atomic pointer store; readers never block and never take
 * a lock: a read section costs an atomic store, a fence and a load. After
 * the swap the writer waits until every reader that could still see the old
 * object has left its read section, then destroys the old object. The
 * scheme is epoch based: each registered reader has its own slot (a cache
 * line) holding the epoch it entered with, 0 when outside.
 *
 * Ownership: the snap owns the current object from snap_publish() on and
 * destroys it with the destroy callback (when replaced, and in snap_free).
 * A pointer returned by snap_read_lock() is borrowed until the matching
 * snap_read_unlock(). Read sections must be short (they delay a publisher,
 * never another reader) and must not nest on one slot.
 */
#ifndef NPSHIM_CORE_SNAPSHOT_H
#define NPSHIM_CORE_SNAPSHOT_H

#include <stdint.h>

struct snap;

/* NULL with errno set on failure. max_readers: how many slots. */
struct snap *snap_new(void (*destroy)(void *obj), unsigned max_readers);
/* Destroys the current object. No reader may be inside. NULL is fine. */
void snap_free(struct snap *s);

/* A slot for one reader thread: >= 0, or -ENOSPC when all are taken.
 * Thread-safe. */
int snap_reader_add(struct snap *s);
void snap_reader_del(struct snap *s, int slot);

/* The current object (NULL before the first publish). */
const void *snap_read_lock(struct snap *s, int slot);
void snap_read_unlock(struct snap *s, int slot);

/* Make obj current; returns after the previous object was destroyed (it
 * waits for readers still inside a section that began before the swap).
 * Returns the new generation: 1 for the first publish, then 2, 3, ... */
uint64_t snap_publish(struct snap *s, void *obj);
/* Number of publishes so far. */
uint64_t snap_generation(const struct snap *s);

#endif

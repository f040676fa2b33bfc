/* SPDX-License-Identifier: Apache-2.0 */
/* audit/ring.h - bounded lock-free multi-producer, single-consumer ring.
 *
 * Fixed-size slots, each with a sequence number (the bounded queue of
 * D. Vyukov). A producer claims a slot with one compare-and-swap on the head,
 * fills it in place and publishes it; when the ring is full it fails at once
 * (the caller counts the drop): producers never wait on the consumer or on
 * each other. Exactly one thread consumes.
 *
 * Ownership: the ring owns its slot memory; ring_free() releases it. A
 * claimed slot pointer is valid until ring_publish(); a peeked slot pointer
 * until ring_release().
 */
#ifndef NPSHIM_AUDIT_RING_H
#define NPSHIM_AUDIT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring;

/* slots is rounded up to a power of two (>= 2); slot_size bytes each, aligned
 * to 16. NULL with errno (EINVAL, ENOMEM). */
struct ring *ring_new(size_t slots, size_t slot_size);
void ring_free(struct ring *r);
size_t ring_capacity(const struct ring *r);

/* Producer: a slot to fill, or NULL when the ring is full. *ticket is handed
 * back to ring_publish(). Every claimed slot must be published. */
void *ring_claim(struct ring *r, uint64_t *ticket);
void ring_publish(struct ring *r, uint64_t ticket);

/* Consumer (one thread): the oldest published slot or NULL. A slot claimed
 * but not yet published blocks the ones behind it until it is. */
void *ring_peek(struct ring *r);
/* Give the slot returned by ring_peek() back to the producers. */
void ring_release(struct ring *r);

/* Approximate number of claimed-or-published slots, for stats. */
size_t ring_used(const struct ring *r);

#endif

/* Intrusive multi-producer / single-consumer queue (Vyukov). Producers on any thread
 * push without locks; only the owning reactor pops. Used for inter-reactor messages. */
#pragma once
#include <stdatomic.h>
#include <stddef.h>

struct mpsc_node {
    _Atomic(struct mpsc_node *) next;
};

struct mpsc_queue {
    _Atomic(struct mpsc_node *) head; /* producers swap here */
    struct mpsc_node *tail;           /* consumer side */
    struct mpsc_node stub;
};

static inline void mpsc_init(struct mpsc_queue *q)
{
    atomic_store(&q->stub.next, NULL);
    atomic_store(&q->head, &q->stub);
    q->tail = &q->stub;
}

static inline void mpsc_push(struct mpsc_queue *q, struct mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    struct mpsc_node *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Returns NULL when empty, or when a producer is between its two steps (the caller
 * retries on its next loop turn; the producer's wake-up guarantees that turn). */
static inline struct mpsc_node *mpsc_pop(struct mpsc_queue *q)
{
    struct mpsc_node *tail = q->tail;
    struct mpsc_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL;
    mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

static inline int mpsc_empty(struct mpsc_queue *q)
{
    return q->tail == &q->stub && atomic_load_explicit(&q->stub.next, memory_order_acquire) == NULL
           && atomic_load_explicit(&q->head, memory_order_acquire) == &q->stub;
}

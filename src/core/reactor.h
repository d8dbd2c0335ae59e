/* Reactors: one event-loop thread per configured core, each owning an io_uring.
 *
 * A reactor owns its data; other threads talk to it only by messages (reactor_send).
 * The first reactor is the *primary*: every control operation (gRPC and JSON-RPC
 * handlers) runs there, so control state needs no locks.
 *
 * By default a reactor sleeps in io_uring_enter until a completion, a message or a
 * timer is due, so an idle daemon uses no CPU. With busy-poll it never sleeps. */
#pragma once
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct reactor;
typedef void (*reactor_fn)(void *arg);

/* An operation submitted on a reactor's ring; `user_data` of the SQE points at it. */
struct reactor_completion {
    void (*cb)(struct reactor_completion *c, int res, uint32_t flags);
};

struct reactor_opts {
    const uint32_t *cores; /* CPU ids, one reactor each; cores[0] is the primary */
    int n_cores;
    bool busy_poll;
    bool pin;              /* set CPU affinity to the core */
    unsigned ring_entries; /* 0 = default */
};

/* Creates the reactors (threads not started yet). */
int reactors_init(const struct reactor_opts *opts);
/* Starts every reactor thread, then runs `fn(arg)` on the primary. */
int reactors_start(reactor_fn fn, void *arg);
/* Asks every reactor to leave its loop (any thread). */
void reactors_stop(void);
/* Waits for all reactor threads to exit, then frees them. */
void reactors_join(void);

int reactor_count(void);
struct reactor *reactor_get(int idx);
struct reactor *reactor_primary(void);
/* The reactor running on this thread, or NULL off-reactor. */
struct reactor *reactor_self(void);
int reactor_index(const struct reactor *r);
uint32_t reactor_core(const struct reactor *r);
bool reactor_on_primary(void);

/* Runs fn(arg) on reactor r, from any thread. Returns 0 or -ENOMEM. */
int reactor_send(struct reactor *r, reactor_fn fn, void *arg);

/* Deferred work on the current reactor, run on its next loop turn. Intrusive (no
 * allocation): completions of synchronous I/O use it so callbacks never recurse into
 * the submitter. */
struct reactor_deferred {
    void (*fn)(struct reactor_deferred *d);
    struct reactor_deferred *next;
};
void reactor_defer(struct reactor_deferred *d);

/* Monotonic clock in nanoseconds. */
uint64_t reactor_now_ns(void);

/* Timers and pollers run on the reactor that created them and must be
 * cancelled there. A period of 0 means one-shot. */
struct reactor_timer;
struct reactor_timer *reactor_timer_start(uint64_t delay_us, uint64_t period_us, reactor_fn fn,
                                          void *arg);
void reactor_timer_cancel(struct reactor_timer *t);

/* A poller runs on every loop turn; registering one keeps the reactor from
 * sleeping while it exists (use timers for periodic work instead). */
struct reactor_poller;
struct reactor_poller *reactor_poller_register(int (*fn)(void *arg), void *arg);
void reactor_poller_unregister(struct reactor_poller *p);

/* SQE on the current reactor's ring (submitted on the next loop turn), or NULL if the
 * ring is full even after flushing. Set user_data with reactor_sqe_set_completion. */
struct io_uring_sqe *reactor_get_sqe(void);
static inline void reactor_sqe_set_completion(struct io_uring_sqe *sqe,
                                              struct reactor_completion *c)
{
    io_uring_sqe_set_data(sqe, c);
}

/* One-shot readiness watch of fd (POLLIN/POLLOUT mask) on the current reactor. */
int reactor_poll_fd(int fd, uint32_t poll_mask, struct reactor_completion *c);
/* Cancels a pending poll watch registered with completion c. */
int reactor_poll_cancel(struct reactor_completion *c);

/* Per-reactor counters, for framework_get_reactors. */
struct reactor_stats {
    uint64_t loops, messages, completions, sleeps;
    uint64_t busy_ns, idle_ns;
};
void reactor_get_stats(const struct reactor *r, struct reactor_stats *out);
bool reactor_busy_poll(void);

/*
 * Unit tests for the MPSC queue (src/core/mpsc.h) and the reactors
 * (src/core/reactor.h): multi-producer message delivery (exactly once, FIFO per
 * producer), cross-reactor messages, timers, pollers and fd polling.
 *
 * Two reactors on cores {0, 1} (not pinned) run for the whole group. Tests never
 * sleep for synchronisation: callbacks on the reactors update atomics and broadcast a
 * condition variable, and the test thread waits for a predicate with a deadline.
 * cmocka assertions are only made on the test thread (they longjmp); reactor-side
 * checks count failures in atomics that the test thread asserts on.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mpsc.h"
#include "core/reactor.h"

#define WAIT_MS 10000 /* generous: ASan builds on a loaded machine; normally ~ms */

/* ---- waiting ---- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;

static void notify(void)
{
    pthread_mutex_lock(&g_mu);
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* Waits until pred(arg) holds or WAIT_MS pass. Returns pred's final value. */
static bool wait_for(bool (*pred)(void *), void *arg)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    dl.tv_nsec += (long)(WAIT_MS % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_mu);
    bool ok;
    while (!(ok = pred(arg)))
        if (pthread_cond_timedwait(&g_cv, &g_mu, &dl) == ETIMEDOUT) {
            ok = pred(arg);
            break;
        }
    pthread_mutex_unlock(&g_mu);
    return ok;
}

static bool flag_set(void *arg) { return atomic_load((atomic_bool *)arg); }

struct at_least {
    atomic_long *v;
    long n;
};
static bool reached(void *arg)
{
    struct at_least *a = arg;
    return atomic_load(a->v) >= a->n;
}

static void wait_at_least(atomic_long *v, long n, const char *what)
{
    struct at_least a = {v, n};
    if (!wait_for(reached, &a))
        fail_msg("timed out waiting for %s: %ld of %ld", what, atomic_load(v), n);
}

/* Runs fn(arg) on reactor r and waits for it to finish. */
struct run_ctx {
    reactor_fn fn;
    void *arg;
    atomic_bool done;
};

static void run_trampoline(void *p)
{
    struct run_ctx *c = p;
    c->fn(c->arg);
    atomic_store(&c->done, true);
    notify();
}

static void run_on(struct reactor *r, reactor_fn fn, void *arg)
{
    struct run_ctx c = {.fn = fn, .arg = arg};
    atomic_init(&c.done, false);
    assert_int_equal(reactor_send(r, run_trampoline, &c), 0);
    if (!wait_for(flag_set, &c.done))
        fail_msg("timed out waiting for a message on reactor %d", reactor_index(r));
}

static void nothing(void *arg) { (void)arg; }

/* ---- group setup: two reactors ---- */

static atomic_bool g_started;
static atomic_int g_start_idx = -1;
static atomic_bool g_start_on_primary;
static void *g_start_arg_seen;
static int g_start_token;

static void start_fn(void *arg)
{
    struct reactor *self = reactor_self();
    g_start_arg_seen = arg;
    atomic_store(&g_start_idx, self ? reactor_index(self) : -2);
    atomic_store(&g_start_on_primary, reactor_on_primary());
    atomic_store(&g_started, true);
    notify();
}

static int group_setup(void **state)
{
    (void)state;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cv, &ca);
    pthread_condattr_destroy(&ca);

    /* Zero cores is refused before anything is created. */
    struct reactor_opts none = {.cores = NULL, .n_cores = 0};
    if (reactors_init(&none) != -EINVAL) {
        fprintf(stderr, "reactors_init accepted zero cores\n");
        return -1;
    }

    static const uint32_t cores[] = {0, 1};
    struct reactor_opts o = {.cores = cores, .n_cores = 2, .busy_poll = false, .pin = false};
    int rc = reactors_init(&o);
    if (rc) {
        fprintf(stderr, "reactors_init: %s\n", strerror(-rc));
        return -1;
    }
    rc = reactors_start(start_fn, &g_start_token);
    if (rc) {
        fprintf(stderr, "reactors_start: %s\n", strerror(-rc));
        return -1;
    }
    if (!wait_for(flag_set, &g_started)) {
        fprintf(stderr, "the start function never ran\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    reactors_stop();
    reactors_join();
    if (reactor_count() != 0 || reactor_primary() != NULL || reactor_get(0) != NULL) {
        fprintf(stderr, "reactors not released by reactors_join\n");
        return -1;
    }
    pthread_cond_destroy(&g_cv);
    return 0;
}

/* ---- MPSC queue on its own ---- */

struct item {
    struct mpsc_node node; /* first: the node address is the item address */
    int producer;
    int seq;
};

static void test_mpsc_single_thread(void **state)
{
    (void)state;
    struct mpsc_queue q;
    struct item it[5];
    mpsc_init(&q);
    assert_true(mpsc_empty(&q));
    assert_null(mpsc_pop(&q));

    for (int i = 0; i < 5; i++) {
        it[i].seq = i;
        mpsc_push(&q, &it[i].node);
        assert_false(mpsc_empty(&q));
    }
    for (int i = 0; i < 5; i++) {
        struct item *x = (struct item *)mpsc_pop(&q);
        assert_non_null(x);
        assert_ptr_equal(x, &it[i]);
    }
    assert_null(mpsc_pop(&q));
    assert_true(mpsc_empty(&q));

    /* Interleaved push/pop, including emptying the queue repeatedly (the stub node is
     * recycled each time). */
    for (int round = 0; round < 100; round++) {
        mpsc_push(&q, &it[0].node);
        assert_ptr_equal(mpsc_pop(&q), &it[0].node);
        assert_null(mpsc_pop(&q));
        assert_true(mpsc_empty(&q));
        mpsc_push(&q, &it[1].node);
        mpsc_push(&q, &it[2].node);
        assert_ptr_equal(mpsc_pop(&q), &it[1].node);
        mpsc_push(&q, &it[3].node);
        assert_ptr_equal(mpsc_pop(&q), &it[2].node);
        assert_ptr_equal(mpsc_pop(&q), &it[3].node);
        assert_null(mpsc_pop(&q));
        assert_true(mpsc_empty(&q));
    }
}

#define Q_PRODUCERS 4
#define Q_PER_PRODUCER 20000

struct q_producer {
    struct mpsc_queue *q;
    struct item *items;
    int id;
};

static void *q_produce(void *arg)
{
    struct q_producer *p = arg;
    for (int i = 0; i < Q_PER_PRODUCER; i++) {
        p->items[i].producer = p->id;
        p->items[i].seq = i;
        mpsc_push(p->q, &p->items[i].node);
    }
    return NULL;
}

static void test_mpsc_multi_producer(void **state)
{
    (void)state;
    struct mpsc_queue q;
    mpsc_init(&q);
    struct item *items = calloc((size_t)Q_PRODUCERS * Q_PER_PRODUCER, sizeof(*items));
    assert_non_null(items);
    struct q_producer prod[Q_PRODUCERS];
    pthread_t th[Q_PRODUCERS];
    for (int p = 0; p < Q_PRODUCERS; p++) {
        prod[p] = (struct q_producer){&q, items + (size_t)p * Q_PER_PRODUCER, p};
        assert_int_equal(pthread_create(&th[p], NULL, q_produce, &prod[p]), 0);
    }
    int next[Q_PRODUCERS] = {0};
    long got = 0, bad = 0;
    uint64_t deadline = reactor_now_ns() + (uint64_t)WAIT_MS * 1000000ull;
    while (got < (long)Q_PRODUCERS * Q_PER_PRODUCER && reactor_now_ns() < deadline) {
        struct item *x = (struct item *)mpsc_pop(&q);
        if (!x) {
            sched_yield();
            continue;
        }
        if (x->producer < 0 || x->producer >= Q_PRODUCERS || x->seq != next[x->producer])
            bad++;
        else
            next[x->producer]++;
        got++;
    }
    for (int p = 0; p < Q_PRODUCERS; p++)
        assert_int_equal(pthread_join(th[p], NULL), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(got, (long)Q_PRODUCERS * Q_PER_PRODUCER);
    for (int p = 0; p < Q_PRODUCERS; p++)
        assert_int_equal(next[p], Q_PER_PRODUCER);
    assert_null(mpsc_pop(&q));
    assert_true(mpsc_empty(&q));
    free(items);
}

/* ---- reactors ---- */

static void test_started_on_primary(void **state)
{
    (void)state;
    assert_int_equal(atomic_load(&g_start_idx), 0);
    assert_true(atomic_load(&g_start_on_primary));
    assert_ptr_equal(g_start_arg_seen, &g_start_token);

    assert_int_equal(reactor_count(), 2);
    assert_non_null(reactor_get(0));
    assert_non_null(reactor_get(1));
    assert_null(reactor_get(2));
    assert_null(reactor_get(-1));
    assert_ptr_equal(reactor_primary(), reactor_get(0));
    assert_int_equal(reactor_index(reactor_get(0)), 0);
    assert_int_equal(reactor_index(reactor_get(1)), 1);
    assert_int_equal(reactor_core(reactor_get(0)), 0);
    assert_int_equal(reactor_core(reactor_get(1)), 1);
    assert_false(reactor_busy_poll());

    /* Off-reactor: no self, not primary, no timers, pollers or SQEs. */
    assert_null(reactor_self());
    assert_false(reactor_on_primary());
    assert_null(reactor_timer_start(1000, 0, nothing, NULL));
    assert_null(reactor_poller_register(NULL, NULL));
    assert_null(reactor_get_sqe());
}

struct where {
    atomic_int idx;
    atomic_bool primary;
};

static void record_where(void *arg)
{
    struct where *w = arg;
    struct reactor *self = reactor_self();
    atomic_store(&w->idx, self ? reactor_index(self) : -2);
    atomic_store(&w->primary, reactor_on_primary());
}

static void test_send_runs_on_target(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        struct where w;
        atomic_init(&w.idx, -1);
        atomic_init(&w.primary, false);
        run_on(reactor_get(i), record_where, &w);
        assert_int_equal(atomic_load(&w.idx), i);
        assert_int_equal(atomic_load(&w.primary), i == 0);
    }
}

/* Many producers, both reactors: every message delivered exactly once, on the reactor
 * it was sent to, in the order each producer sent it. */
#define PRODUCERS 4
#define PER_TARGET 10000 /* messages per producer per reactor */
#define N_TARGETS 2
#define TOTAL ((long)PRODUCERS * N_TARGETS * PER_TARGET)

struct msg {
    int producer, target, seq;
};

static struct msg *g_msgs;
static atomic_uchar *g_delivered;
static int g_last_seq[N_TARGETS][PRODUCERS]; /* touched only by reactor `target` */
static atomic_long g_n_delivered, g_wrong_reactor, g_out_of_order, g_send_failed;

static void on_msg(void *arg)
{
    struct msg *m = arg;
    struct reactor *self = reactor_self();
    if (!self || reactor_index(self) != m->target)
        atomic_fetch_add(&g_wrong_reactor, 1);
    else if (g_last_seq[m->target][m->producer] + 1 != m->seq)
        atomic_fetch_add(&g_out_of_order, 1);
    if (self)
        g_last_seq[reactor_index(self)][m->producer] = m->seq;
    atomic_fetch_add(&g_delivered[m - g_msgs], 1);
    if (atomic_fetch_add(&g_n_delivered, 1) + 1 == TOTAL)
        notify();
}

static size_t msg_index(int p, int t, int s)
{
    return ((size_t)p * N_TARGETS + (size_t)t) * PER_TARGET + (size_t)s;
}

static void *producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int s = 0; s < PER_TARGET; s++)
        for (int t = 0; t < N_TARGETS; t++) {
            struct msg *m = &g_msgs[msg_index(p, t, s)];
            if (reactor_send(reactor_get(t), on_msg, m) != 0)
                atomic_fetch_add(&g_send_failed, 1);
        }
    return NULL;
}

static void test_many_producers(void **state)
{
    (void)state;
    g_msgs = calloc((size_t)TOTAL, sizeof(*g_msgs));
    g_delivered = calloc((size_t)TOTAL, sizeof(*g_delivered));
    assert_non_null(g_msgs);
    assert_non_null(g_delivered);
    for (int p = 0; p < PRODUCERS; p++)
        for (int t = 0; t < N_TARGETS; t++)
            for (int s = 0; s < PER_TARGET; s++)
                g_msgs[msg_index(p, t, s)] = (struct msg){p, t, s};
    for (int t = 0; t < N_TARGETS; t++)
        for (int p = 0; p < PRODUCERS; p++)
            g_last_seq[t][p] = -1;
    atomic_store(&g_n_delivered, 0);

    pthread_t th[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++)
        assert_int_equal(pthread_create(&th[p], NULL, producer, (void *)(intptr_t)p), 0);
    for (int p = 0; p < PRODUCERS; p++)
        assert_int_equal(pthread_join(th[p], NULL), 0);
    assert_int_equal(atomic_load(&g_send_failed), 0);

    wait_at_least(&g_n_delivered, TOTAL, "message delivery");
    /* A round trip through each reactor: anything still queued behind the producers'
     * messages (duplicates) would run before it. */
    for (int t = 0; t < N_TARGETS; t++)
        run_on(reactor_get(t), nothing, NULL);

    assert_int_equal(atomic_load(&g_n_delivered), TOTAL);
    assert_int_equal(atomic_load(&g_wrong_reactor), 0);
    assert_int_equal(atomic_load(&g_out_of_order), 0);
    for (long i = 0; i < TOTAL; i++)
        if (atomic_load(&g_delivered[i]) != 1)
            fail_msg("message %ld delivered %d times", i, atomic_load(&g_delivered[i]));
    for (int t = 0; t < N_TARGETS; t++)
        for (int p = 0; p < PRODUCERS; p++)
            assert_int_equal(g_last_seq[t][p], PER_TARGET - 1);
    free(g_msgs);
    free(g_delivered);
    g_msgs = NULL;
    g_delivered = NULL;
}

/* Ping-pong between the two reactors: reactor_send works from a reactor too. */
#define ROUND_TRIPS 2000
static atomic_long g_pings, g_pong_wrong;

static void pong(void *arg);

static void ping(void *arg)
{
    (void)arg;
    if (!reactor_self() || reactor_index(reactor_self()) != 1)
        atomic_fetch_add(&g_pong_wrong, 1);
    reactor_send(reactor_get(0), pong, NULL);
}

static void pong(void *arg)
{
    (void)arg;
    if (!reactor_on_primary())
        atomic_fetch_add(&g_pong_wrong, 1);
    long n = atomic_fetch_add(&g_pings, 1) + 1;
    if (n < ROUND_TRIPS)
        reactor_send(reactor_get(1), ping, NULL);
    else
        notify();
}

static void test_cross_reactor(void **state)
{
    (void)state;
    atomic_store(&g_pings, 0);
    assert_int_equal(reactor_send(reactor_get(1), ping, NULL), 0);
    wait_at_least(&g_pings, ROUND_TRIPS, "ping-pong");
    assert_int_equal(atomic_load(&g_pings), ROUND_TRIPS);
    assert_int_equal(atomic_load(&g_pong_wrong), 0);
}

/* ---- timers ---- */

#define ONESHOT_US 30000
#define PERIOD_US 5000
#define CANCELLED_US 10000

struct timer_state {
    uint64_t t0_ns;
    atomic_long oneshot_fired, periodic_fired, cancelled_fired, sentinel_fired, wrong_thread;
    atomic_ullong oneshot_at_ns;
    struct reactor_timer *periodic;
    bool oneshot_created;
    long periodic_at_cancel;
    int expected_idx;
};

static void check_thread(struct timer_state *s)
{
    if (!reactor_self() || reactor_index(reactor_self()) != s->expected_idx)
        atomic_fetch_add(&s->wrong_thread, 1);
}

static void oneshot_cb(void *arg)
{
    struct timer_state *s = arg;
    check_thread(s);
    atomic_store(&s->oneshot_at_ns, reactor_now_ns());
    atomic_fetch_add(&s->oneshot_fired, 1);
    notify();
}

static void periodic_cb(void *arg)
{
    struct timer_state *s = arg;
    check_thread(s);
    atomic_fetch_add(&s->periodic_fired, 1);
    notify();
}

static void cancelled_cb(void *arg)
{
    struct timer_state *s = arg;
    atomic_fetch_add(&s->cancelled_fired, 1);
}

static void sentinel_cb(void *arg)
{
    struct timer_state *s = arg;
    check_thread(s);
    atomic_fetch_add(&s->sentinel_fired, 1);
    notify();
}

static void timers_start(void *arg)
{
    struct timer_state *s = arg;
    s->t0_ns = reactor_now_ns();
    s->oneshot_created = reactor_timer_start(ONESHOT_US, 0, oneshot_cb, s) != NULL;
    s->periodic = reactor_timer_start(PERIOD_US, PERIOD_US, periodic_cb, s);
    struct reactor_timer *c = reactor_timer_start(CANCELLED_US, 0, cancelled_cb, s);
    reactor_timer_cancel(c);
    reactor_timer_cancel(NULL); /* harmless */
}

static void timers_cancel_periodic(void *arg)
{
    struct timer_state *s = arg;
    reactor_timer_cancel(s->periodic);
    s->periodic_at_cancel = atomic_load(&s->periodic_fired);
    /* Well past several periods: if the periodic timer still ran, it would show. */
    reactor_timer_start(5 * PERIOD_US, 0, sentinel_cb, s);
}

static void test_timers(void **state)
{
    (void)state;
    static struct timer_state s; /* static: outlives any late callback */
    memset(&s, 0, sizeof(s));
    s.expected_idx = 1;
    run_on(reactor_get(1), timers_start, &s);
    assert_true(s.oneshot_created);
    assert_non_null(s.periodic);

    wait_at_least(&s.oneshot_fired, 1, "the one-shot timer");
    wait_at_least(&s.periodic_fired, 3, "the periodic timer");

    run_on(reactor_get(1), timers_cancel_periodic, &s);
    wait_at_least(&s.sentinel_fired, 1, "the sentinel timer");

    /* One-shot: fired exactly once, not before its delay, roughly on time. */
    assert_int_equal(atomic_load(&s.oneshot_fired), 1);
    uint64_t elapsed_us = (atomic_load(&s.oneshot_at_ns) - s.t0_ns) / 1000;
    assert_true(elapsed_us >= ONESHOT_US);
    assert_true(elapsed_us < ONESHOT_US + 2000000); /* generous for ASan/loaded CI */
    /* Periodic: several times before the cancel, never after. */
    assert_true(s.periodic_at_cancel >= 3);
    assert_int_equal(atomic_load(&s.periodic_fired), s.periodic_at_cancel);
    /* Cancelled before due: never ran (its deadline is long past the sentinel's start). */
    assert_int_equal(atomic_load(&s.cancelled_fired), 0);
    assert_int_equal(atomic_load(&s.sentinel_fired), 1);
    assert_int_equal(atomic_load(&s.wrong_thread), 0);
}

/* Timers fire in deadline order regardless of creation order; zero delay fires too. */
struct order_state {
    atomic_int n;
    int order[4];
};

static void order_cb(void *arg)
{
    /* arg encodes (state, id) */
    uintptr_t v = (uintptr_t)arg;
    struct order_state *s = (struct order_state *)(v & ~(uintptr_t)3);
    int id = (int)(v & 3);
    int i = atomic_fetch_add(&s->n, 1);
    if (i < 4)
        s->order[i] = id;
    notify();
}

static struct order_state g_order __attribute__((aligned(8)));

static void order_start(void *arg)
{
    (void)arg;
    uintptr_t base = (uintptr_t)&g_order;
    reactor_timer_start(15000, 0, order_cb, (void *)(base | 3));
    reactor_timer_start(5000, 0, order_cb, (void *)(base | 1));
    reactor_timer_start(10000, 0, order_cb, (void *)(base | 2));
    reactor_timer_start(0, 0, order_cb, (void *)(base | 0));
}

static bool order_done(void *arg)
{
    (void)arg;
    return atomic_load(&g_order.n) >= 4;
}

static void test_timer_order(void **state)
{
    (void)state;
    memset(&g_order, 0, sizeof(g_order));
    run_on(reactor_get(0), order_start, NULL);
    if (!wait_for(order_done, NULL))
        fail_msg("timers did not all fire");
    /* Flush one more turn so a stray duplicate would be counted. */
    run_on(reactor_get(0), nothing, NULL);
    assert_int_equal(atomic_load(&g_order.n), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(g_order.order[i], i);
}

/* A periodic timer that cancels itself from its own callback stops at once. */
struct self_cancel {
    struct reactor_timer *t;
    atomic_long fired;
    atomic_long sentinel;
};

static void self_cancel_cb(void *arg)
{
    struct self_cancel *s = arg;
    if (atomic_fetch_add(&s->fired, 1) + 1 == 3)
        reactor_timer_cancel(s->t);
    notify();
}

static void self_cancel_sentinel(void *arg)
{
    struct self_cancel *s = arg;
    atomic_fetch_add(&s->sentinel, 1);
    notify();
}

static void self_cancel_start(void *arg)
{
    struct self_cancel *s = arg;
    s->t = reactor_timer_start(1000, 1000, self_cancel_cb, s);
}

static void self_cancel_arm_sentinel(void *arg)
{
    reactor_timer_start(10000, 0, self_cancel_sentinel, arg);
}

static void test_timer_self_cancel(void **state)
{
    (void)state;
    static struct self_cancel s;
    memset(&s, 0, sizeof(s));
    run_on(reactor_get(0), self_cancel_start, &s);
    assert_non_null(s.t);
    wait_at_least(&s.fired, 3, "the self-cancelling timer");
    run_on(reactor_get(0), self_cancel_arm_sentinel, &s);
    wait_at_least(&s.sentinel, 1, "the sentinel timer");
    assert_int_equal(atomic_load(&s.fired), 3);
}

/* ---- pollers ---- */

struct poller_state {
    struct reactor_poller *p;
    atomic_long calls;
    atomic_long wrong_thread;
};

static int poller_fn(void *arg)
{
    struct poller_state *s = arg;
    if (!reactor_self() || reactor_index(reactor_self()) != 1)
        atomic_fetch_add(&s->wrong_thread, 1);
    if (atomic_fetch_add(&s->calls, 1) + 1 == 100) {
        reactor_poller_unregister(s->p);
        notify();
    }
    return 1;
}

static void poller_start(void *arg)
{
    struct poller_state *s = arg;
    s->p = reactor_poller_register(poller_fn, s);
}

static void test_poller(void **state)
{
    (void)state;
    static struct poller_state s;
    memset(&s, 0, sizeof(s));
    run_on(reactor_get(1), poller_start, &s);
    assert_non_null(s.p);
    wait_at_least(&s.calls, 100, "the poller");
    /* Two more round trips: the unregistered poller is not called again, and the
     * reactor still serves messages (sleeping again once no poller is left). */
    run_on(reactor_get(1), nothing, NULL);
    run_on(reactor_get(1), nothing, NULL);
    assert_int_equal(atomic_load(&s.calls), 100);
    assert_int_equal(atomic_load(&s.wrong_thread), 0);
}

/* ---- fd polling through the ring ---- */

struct fd_watch {
    struct reactor_completion comp; /* first */
    int fd;
    atomic_int res;
    atomic_bool fired, armed, wrong_thread;
};

static void fd_watch_cb(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    struct fd_watch *w = (struct fd_watch *)c;
    if (!reactor_self() || reactor_index(reactor_self()) != 0)
        atomic_store(&w->wrong_thread, true);
    atomic_store(&w->res, res);
    atomic_store(&w->fired, true);
    notify();
}

static void fd_watch_arm(void *arg)
{
    struct fd_watch *w = arg;
    atomic_store(&w->armed, reactor_poll_fd(w->fd, POLLIN, &w->comp) == 0);
}

static void test_poll_fd(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    static struct fd_watch w;
    memset(&w, 0, sizeof(w));
    w.comp.cb = fd_watch_cb;
    w.fd = fds[0];
    run_on(reactor_get(0), fd_watch_arm, &w);
    assert_true(atomic_load(&w.armed));
    /* Not readable yet: one round trip later it has not fired. */
    run_on(reactor_get(0), nothing, NULL);
    assert_false(atomic_load(&w.fired));

    assert_int_equal(write(fds[1], "x", 1), 1);
    if (!wait_for(flag_set, &w.fired))
        fail_msg("poll completion never arrived");
    assert_true(atomic_load(&w.res) & POLLIN);
    assert_false(atomic_load(&w.wrong_thread));
    close(fds[0]);
    close(fds[1]);
}

/* ---- stats ---- */

struct stats_probe {
    struct reactor_stats st;
};

static void read_stats(void *arg)
{
    struct stats_probe *p = arg;
    reactor_get_stats(reactor_self(), &p->st);
}

static void test_stats(void **state)
{
    (void)state;
    struct stats_probe p;
    memset(&p, 0, sizeof(p));
    run_on(reactor_get(0), read_stats, &p);
    /* Reactor 0 has run at least the start function and the earlier tests' messages. */
    assert_true(p.st.loops > 0);
    assert_true(p.st.messages > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpsc_single_thread),
        cmocka_unit_test(test_mpsc_multi_producer),
        cmocka_unit_test(test_started_on_primary),
        cmocka_unit_test(test_send_runs_on_target),
        cmocka_unit_test(test_many_producers),
        cmocka_unit_test(test_cross_reactor),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_timer_self_cancel),
        cmocka_unit_test(test_poller),
        cmocka_unit_test(test_poll_fd),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

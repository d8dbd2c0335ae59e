/* Test harness: two reactors (cores 0 and 1, not pinned) and a way for the test thread
 * to run a function on a reactor and wait for it to report back. cmocka assertions stay
 * on the test thread; reactor-side code records results in the call struct. */
#pragma once
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "core/reactor.h"

#define HARNESS_WAIT_MS 20000

struct harness_call {
    void (*fn)(struct harness_call *c);
    void *arg;
    int rc;
    atomic_bool done;
};

static pthread_mutex_t harness_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t harness_cv = PTHREAD_COND_INITIALIZER;

/* Reactor side: report the outcome of a harness call. */
static inline void harness_done(struct harness_call *c, int rc)
{
    c->rc = rc;
    pthread_mutex_lock(&harness_mu);
    atomic_store(&c->done, true);
    pthread_cond_broadcast(&harness_cv);
    pthread_mutex_unlock(&harness_mu);
}

static inline void harness_trampoline(void *arg)
{
    struct harness_call *c = arg;
    c->fn(c);
}

/* Runs fn on reactor idx and waits for harness_done. Returns its rc, or -ETIMEDOUT. */
static inline int harness_run(int idx, void (*fn)(struct harness_call *), void *arg)
{
    struct harness_call c = {.fn = fn, .arg = arg};
    atomic_init(&c.done, false);
    if (reactor_send(reactor_get(idx), harness_trampoline, &c))
        return -ENOMEM;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += HARNESS_WAIT_MS / 1000;
    pthread_mutex_lock(&harness_mu);
    while (!atomic_load(&c.done))
        if (pthread_cond_timedwait(&harness_cv, &harness_mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&harness_mu);
    return atomic_load(&c.done) ? c.rc : -ETIMEDOUT;
}

static inline int harness_start(void)
{
    static const uint32_t cores[] = {0, 1};
    struct reactor_opts o = {.cores = cores, .n_cores = 2};
    int rc = reactors_init(&o);
    return rc ? rc : reactors_start(NULL, NULL);
}

static inline void harness_stop(void)
{
    reactors_stop();
    reactors_join();
}

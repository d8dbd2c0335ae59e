#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

/* Jobs whose completion has not run yet: shutdown waits for them, so no worker sends a
 * message to a reactor that is gone. */
static atomic_int g_active;

struct job {
    reactor_fn work, done;
    void *arg;
    struct reactor *origin;
};

static void finish(void *p)
{
    struct job *j = p;
    j->done(j->arg);
    free(j);
    atomic_fetch_sub(&g_active, 1);
}

static void *run(void *p)
{
    struct job *j = p;
    j->work(j->arg);
    /* If the message cannot be queued (ENOMEM), retry: dropping `done` would leak the
     * caller's request forever. */
    while (reactor_send(j->origin, finish, j))
        sched_yield();
    return NULL;
}

struct drain {
    reactor_fn done;
    void *arg;
};

static void drain_check(void *p)
{
    struct drain *d = p;
    if (atomic_load(&g_active) == 0) {
        d->done(d->arg);
        free(d);
        return;
    }
    if (!reactor_timer_start(1000, 0, drain_check, d)) {
        d->done(d->arg); /* cannot wait: let shutdown go on */
        free(d);
    }
}

void offload_drain(reactor_fn done, void *arg)
{
    struct drain *d = malloc(sizeof(*d));
    if (!d) {
        done(arg);
        return;
    }
    d->done = done;
    d->arg = arg;
    drain_check(d);
}

int offload(reactor_fn work, reactor_fn done, void *arg)
{
    struct reactor *self = reactor_self();
    if (!self)
        return -EINVAL;
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return -ENOMEM;
    *j = (struct job){work, done, arg, self};
    atomic_fetch_add(&g_active, 1);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, run, j);
    pthread_attr_destroy(&attr);
    if (rc) {
        atomic_fetch_sub(&g_active, 1);
        free(j);
        return -rc;
    }
    return 0;
}

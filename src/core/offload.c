#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

struct job {
    reactor_fn work, done;
    void *arg;
    struct reactor *origin;
};

static void *run(void *p)
{
    struct job *j = p;
    j->work(j->arg);
    /* If the message cannot be queued (ENOMEM), retry: dropping `done` would leak the
     * caller's request forever. */
    while (reactor_send(j->origin, j->done, j->arg))
        sched_yield();
    free(j);
    return NULL;
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
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, run, j);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(j);
        return -rc;
    }
    return 0;
}

/* The serialized call context of the pool, replica and snapshot services (lvs_call.h). */
#include "grpc/lvs_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lvs_call_finish(struct lvs_call *c)
{
    struct lvs_serial *s = c->serial; /* c is freed before the next call starts */
    if (c->pool[0])
        lvs_name_unlock(c->pool);
    free(c);
    lvs_serial_done(s);
}

void lvs_call_fail(struct lvs_call *c, grpc_status_code code, const char *msg)
{
    rpc_fail(c->call, code, "%s", msg);
    lvs_call_finish(c);
}

void lvs_call_fail_errno(struct lvs_call *c, int rc, const char *errmsg)
{
    lvs_call_fail(c, lvs_grpc_status(rc), errmsg ? errmsg : strerror(-rc));
}

static void run(void *arg)
{
    struct lvs_call *c = arg;
    if (rpc_call_cancelled(c->call)) {
        if (c->v0)
            rpc_fail(c->call, GRPC_STATUS_CANCELLED, "cancelled before it ran");
        else
            rpc_fail(c->call, GRPC_STATUS_CANCELLED, "%s: cancelled before it ran",
                     rpc_call_method(c->call));
        lvs_call_finish(c);
        return;
    }
    c->fn(c);
}

static void submit(struct rpc_call *call, const ProtobufCMessage *req, struct lvs_serial *serial,
                   bool exclusive, size_t ctx_size, lvs_call_fn fn, bool v0)
{
    /* calloc'd: the service's own fields start zeroed; the head is at offset 0. */
    struct lvs_call *c = calloc(1, ctx_size);
    if (!c) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    *c = (struct lvs_call){.call = call, .req = req, .fn = fn, .serial = serial, .v0 = v0};
    if (lvs_serial_submit(serial, exclusive, run, c)) {
        free(c);
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
    }
}

void lvs_call_submit(struct rpc_call *call, const ProtobufCMessage *req, struct lvs_serial *serial,
                     bool exclusive, size_t ctx_size, lvs_call_fn fn)
{
    submit(call, req, serial, exclusive, ctx_size, fn, false);
}

void lvs_call_submit_v0(struct rpc_call *call, const ProtobufCMessage *req,
                        struct lvs_serial *serial, bool exclusive, size_t ctx_size,
                        lvs_call_fn fn)
{
    submit(call, req, serial, exclusive, ctx_size, fn, true);
}

bool lvs_call_lock_pool(struct lvs_call *c, const struct lvs *l)
{
    int rc = lvs_name_trylock(l->name);
    if (rc) {
        rpc_fail(c->call, c->v0 ? GRPC_STATUS_ABORTED : lvs_grpc_status(rc),
                 "pool %s: lock already held (another operation on it is under way)", l->name);
        lvs_call_finish(c);
        return false;
    }
    snprintf(c->pool, sizeof(c->pool), "%s", l->name);
    return true;
}

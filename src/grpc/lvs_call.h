/* The call context of the gRPC methods serialized on an lvs_serial (behaviour §10):
 * PoolRpc, ReplicaRpc, SnapshotRpc and the v0 Mayastor pool and replica methods.
 *
 * A service's context embeds struct lvs_call as its FIRST member (named c), so that the
 * head and the context have the same address: lvs_call_submit() allocates ctx_size
 * zeroed bytes and queues the call on its serial; when its turn comes, a call whose
 * client has gone (cancelled, deadline passed) is answered CANCELLED and not run, any
 * other is run by fn(head). A fn downcasts the head to its context, as
 * (struct ctx *)head (valid because the head is the first member); asynchronous steps
 * pass the head (or the context) as their void *arg.
 *
 * Exactly one lvs_call_finish() ends the call (the fail helpers and a busy
 * lvs_call_lock_pool() call it): it releases the pool lock taken, frees the context and
 * lets the serial start the next call. The answer (rpc_reply / rpc_fail) comes first. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "grpc/rpc.h"
#include "lvs/lvs.h"

struct lvs_call;
typedef void (*lvs_call_fn)(struct lvs_call *c);

struct lvs_call {
    struct rpc_call *call;
    const ProtobufCMessage *req;
    lvs_call_fn fn;
    struct lvs_serial *serial;
    bool v0;                 /* mayastor.Mayastor's answers (lvs_call_submit_v0) */
    char pool[LVS_NAME_MAX]; /* the pool whose try-lock is held, "" if none */
};

/* Queues fn on serial (shared or exclusive) in a new zeroed context of ctx_size bytes
 * (>= sizeof(struct lvs_call)) whose head is filled in; out of memory: answers
 * RESOURCE_EXHAUSTED "ENOMEM" at once. */
void lvs_call_submit(struct rpc_call *call, const ProtobufCMessage *req, struct lvs_serial *serial,
                     bool exclusive, size_t ctx_size, lvs_call_fn fn);
/* The same for the v0 service, whose answers differ in two details kept as they were:
 * the CANCELLED message does not name the method, and a try-lock that cannot be taken is
 * ABORTED whatever the reason. */
void lvs_call_submit_v0(struct rpc_call *call, const ProtobufCMessage *req,
                        struct lvs_serial *serial, bool exclusive, size_t ctx_size,
                        lvs_call_fn fn);

/* Ends the call (answered already): unlocks the pool, frees the context, next call. */
void lvs_call_finish(struct lvs_call *c);
/* Answers code with msg, then finishes. */
void lvs_call_fail(struct lvs_call *c, grpc_status_code code, const char *msg);
/* Answers a negative errno of the lvs layer: lvs_grpc_status(rc) with errmsg, or
 * strerror(-rc) when errmsg is NULL; then finishes. */
void lvs_call_fail_errno(struct lvs_call *c, int rc, const char *errmsg);
/* Takes the try-lock of pool l (released by lvs_call_finish). When it is held already
 * (or cannot be taken), answers "pool X: lock already held (another operation on it is
 * under way)", finishes the call and returns false. One pool per call. */
bool lvs_call_lock_pool(struct lvs_call *c, const struct lvs *l);

/* mayastor.v1.ReplicaRpc: replicas (logical volumes) carved out of pools, behaviour §4.
 *
 * Mutations are serialized through lvs_replica_serial (exclusive), ListReplicas runs
 * shared; create/destroy/resize/set-entity-id also take the pool's try-lock (busy:
 * ABORTED). Replicas are found by uuid (the uuid of any device; a device that is not an
 * lvol is INTERNAL). ShareReplica / UnshareReplica share a replica over NVMe/TCP (and
 * record it, lvol_share.h); CreateReplica with share=NVMF shares the new replica, and
 * destroys it again if that fails (as upstream). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/lvs_call.h"
#include "grpc/rpc.h"
#include "grpc/v1/replica_msg.h"
#include "lvs/lvol.h"
#include "lvs/lvol_share.h"
#include "lvs/lvs.h"
#include "replica.pb-c.h"


/* ---- the call context ---- */

struct rctx {
    struct lvs_call c; /* first (lvs_call.h) */
    char uuid[37];     /* the replica shared (ShareReplica's answer) */
};
_Static_assert(offsetof(struct rctx, c) == 0, "struct rctx starts with its lvs_call");

static void submit(struct rpc_call *call, const ProtobufCMessage *req, bool exclusive,
                   lvs_call_fn fn)
{
    lvs_call_submit(call, req, &lvs_replica_serial, exclusive, sizeof(struct rctx), fn);
}

static void reply_replica(struct lvs_call *c, const struct lvol *lv)
{
    struct replica_msg *m = calloc(1, sizeof(*m));
    if (!m) {
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    replica_msg_fill(m, lv);
    rpc_reply(c->call, &m->r.base);
    replica_msg_free(m);
    free(m);
    lvs_call_finish(c);
}

/* Answers with the replica of that uuid after an operation on it (INTERNAL if it went). */
static void reply_replica_uuid(struct lvs_call *c, const char *uuid)
{
    struct lvol *lv;
    if (lvol_lookup_uuid(uuid, &lv)) {
        lvs_call_fail(c, GRPC_STATUS_INTERNAL, "the replica disappeared");
        return;
    }
    reply_replica(c, lv);
}

/* NONE or NVMF; anything else is answered INVALID_ARGUMENT (false). */
static bool share_protocol_ok(struct lvs_call *c, int share)
{
    if (share == MAYASTOR__V1__SHARE_PROTOCOL__NONE || share == MAYASTOR__V1__SHARE_PROTOCOL__NVMF)
        return true;
    rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "invalid replica share protocol value: %d",
             share);
    lvs_call_finish(c);
    return false;
}

/* The replica with that uuid; answers and returns NULL (NOT_FOUND, with gtm-602 when
 * `destroy`; INTERNAL for a device that is not a replica). */
static struct lvol *find(struct lvs_call *c, const char *uuid, bool destroy, bool snapshots)
{
    struct lvol *lv;
    int rc = lvol_lookup_uuid(uuid, &lv);
    if (rc == -ENOTTY) {
        rpc_fail(c->call, GRPC_STATUS_INTERNAL, "bdev %s is not a lvol", uuid);
        lvs_call_finish(c);
        return NULL;
    }
    if (rc || (!snapshots && lvol_is_snapshot(lv))) {
        if (destroy)
            rpc_fail_md(c->call, GRPC_STATUS_NOT_FOUND, "gtm-602", "0",
                        "failed to destroy lvol %s: Replica not found", uuid ? uuid : "");
        else
            rpc_fail(c->call, GRPC_STATUS_NOT_FOUND, "Replica %s not found", uuid ? uuid : "");
        lvs_call_finish(c);
        return NULL;
    }
    return lv;
}

/* ---- CreateReplica ---- */

static grpc_status_code share_status(int rc)
{
    switch (-rc) {
    case EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case ESHUTDOWN:
        return GRPC_STATUS_UNAVAILABLE;
    case EBUSY:
    case EBADMSG: /* the replica's PTPL file is unreadable or not its own */
        return GRPC_STATUS_FAILED_PRECONDITION;
    case ENOMEM:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

static void created_shared(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct rctx *x = arg;
    if (rc) {
        lvs_call_fail(&x->c, share_status(rc), errmsg);
        return;
    }
    reply_replica(&x->c, lv);
}

static void created(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct rctx *x = arg;
    struct lvs_call *c = &x->c;
    const Mayastor__V1__CreateReplicaRequest *r = (const void *)c->req;
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
    if (r->share == MAYASTOR__V1__SHARE_PROTOCOL__NVMF) {
        lvol_share_new(lv, (const char *const *)r->allowed_hosts, r->n_allowed_hosts,
                       lv->uuid_str, created_shared, x);
        return;
    }
    reply_replica(c, lv);
}

static void do_create(struct lvs_call *c)
{
    const Mayastor__V1__CreateReplicaRequest *r = (const void *)c->req;
    if (!share_protocol_ok(c, r->share))
        return;
    struct lvs *l = lvs_lookup_any(r->pooluuid);
    if (!l) {
        rpc_fail(c->call, GRPC_STATUS_FAILED_PRECONDITION, "Pool %s not found", r->pooluuid);
        lvs_call_finish(c);
        return;
    }
    if (!lvs_call_lock_pool(c, l))
        return;
    struct lvol_create_args a = {
        .name = r->name,
        .uuid = r->uuid,
        .size = r->size,
        .thin = r->thin,
        .entity_id = r->_entity_id_case == MAYASTOR__V1__CREATE_REPLICA_REQUEST___ENTITY_ID_ENTITY_ID
                         ? r->entity_id
                         : NULL,
    };
    lvol_create(l, &a, created, c);
}

/* ---- DestroyReplica ---- */

static void empty_done(void *arg, int rc, const char *errmsg)
{
    struct lvs_call *c = arg;
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
    rpc_reply(c->call, NULL);
    lvs_call_finish(c);
}

static void do_destroy(struct lvs_call *c)
{
    const Mayastor__V1__DestroyReplicaRequest *r = (const void *)c->req;
    struct lvs *want = NULL;
    if (r->pool_case == MAYASTOR__V1__DESTROY_REPLICA_REQUEST__POOL_POOL_NAME ||
        r->pool_case == MAYASTOR__V1__DESTROY_REPLICA_REQUEST__POOL_POOL_UUID) {
        bool by_name = r->pool_case == MAYASTOR__V1__DESTROY_REPLICA_REQUEST__POOL_POOL_NAME;
        const char *id = by_name ? r->pool_name : r->pool_uuid;
        want = by_name ? lvs_lookup(id) : lvs_lookup_uuid(id);
        if (!want) {
            rpc_fail(c->call, GRPC_STATUS_FAILED_PRECONDITION,
                     "failed to destroy lvol %s: Pool %s=%s is not loaded", r->uuid,
                     by_name ? "name" : "uuid", id);
            lvs_call_finish(c);
            return;
        }
    }
    struct lvol *lv = find(c, r->uuid, true, false);
    if (!lv)
        return;
    if (want && want != lv->lvs) {
        rpc_fail(c->call, GRPC_STATUS_ABORTED,
                 "failed to destroy lvol %s: the specified pool %s (%s) does not match the "
                 "replica's pool %s (%s)", r->uuid, want->name, want->uuid_str, lv->lvs->name,
                 lv->lvs->uuid_str);
        lvs_call_finish(c);
        return;
    }
    if (lvs_call_lock_pool(c, lv->lvs))
        lvol_destroy(lv, empty_done, c);
}

/* ---- ResizeReplica / SetReplicaEntityId ---- */

static void replica_done(void *arg, int rc, const char *errmsg)
{
    struct lvs_call *c = arg;
    const Mayastor__V1__ResizeReplicaRequest *r = (const void *)c->req;
    if (rc) {
        grpc_status_code code = GRPC_STATUS_INTERNAL;
        switch (-rc) {
        case ENOSPC:
        case ENOMEM:
            code = GRPC_STATUS_RESOURCE_EXHAUSTED;
            break;
        case EPERM:
            code = GRPC_STATUS_PERMISSION_DENIED;
            break;
        case EINVAL:
        case ENOENT:
            code = GRPC_STATUS_INVALID_ARGUMENT;
            break;
        case EALREADY:
            code = GRPC_STATUS_ABORTED;
            break;
        }
        lvs_call_fail(c, code, errmsg ? errmsg : strerror(-rc));
        return;
    }
    reply_replica_uuid(c, r->uuid);
}

static void do_resize(struct lvs_call *c)
{
    const Mayastor__V1__ResizeReplicaRequest *r = (const void *)c->req;
    struct lvol *lv = find(c, r->uuid, false, true);
    if (lv && lvs_call_lock_pool(c, lv->lvs))
        lvol_resize(lv, r->requested_size, replica_done, c);
}

static void entity_done(void *arg, int rc, const char *errmsg)
{
    struct lvs_call *c = arg;
    const Mayastor__V1__SetReplicaEntityIdRequest *r = (const void *)c->req;
    if (rc) {
        /* The property could not be persisted (behaviour §10: DATA_LOSS). */
        lvs_call_fail(c, rc == -EALREADY ? GRPC_STATUS_ABORTED : GRPC_STATUS_DATA_LOSS,
                      errmsg ? errmsg : strerror(-rc));
        return;
    }
    reply_replica_uuid(c, r->uuid);
}

static void do_set_entity(struct lvs_call *c)
{
    const Mayastor__V1__SetReplicaEntityIdRequest *r = (const void *)c->req;
    struct lvol *lv = find(c, r->uuid, false, true);
    if (lv && lvs_call_lock_pool(c, lv->lvs))
        lvol_set_property(lv, LVOL_XATTR_ENTITY_ID, r->entity_id ? r->entity_id : "", true,
                          entity_done, c);
}

/* ---- ListReplicas ---- */

static bool str_filter(const Google__Protobuf__StringValue *f, const char *v)
{
    return !f || !strcmp(f->value ? f->value : "", v);
}

static void do_list(struct lvs_call *c)
{
    const Mayastor__V1__ListReplicaOptions *r = (const void *)c->req;
    bool lvs_wanted = !r->n_pooltypes;
    for (size_t i = 0; i < r->n_pooltypes; i++) {
        if (r->pooltypes[i] != MAYASTOR__V1__POOL_TYPE__Lvs &&
            r->pooltypes[i] != MAYASTOR__V1__POOL_TYPE__Lvm) {
            rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "invalid pool type %d",
                     r->pooltypes[i]);
            lvs_call_finish(c);
            return;
        }
        lvs_wanted |= r->pooltypes[i] == MAYASTOR__V1__POOL_TYPE__Lvs;
    }
    size_t n = 0;
    for (struct lvs *l = lvs_wanted ? lvs_first() : NULL; l; l = lvs_next(l))
        n += l->n_lvols;
    struct replica_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));
    Mayastor__V1__Replica **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!msgs || !ptrs) {
        free(msgs);
        free(ptrs);
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    const Mayastor__V1__ListReplicaOptions__Query *q = r->query;
    size_t k = 0;
    for (struct lvs *l = lvs_wanted ? lvs_first() : NULL; l; l = lvs_next(l)) {
        if (!str_filter(r->poolname, l->name) || !str_filter(r->pooluuid, l->uuid_str))
            continue;
        for (struct lvol *lv = l->lvols; lv && k < n; lv = lv->next) {
            if (!lv->bdev || !str_filter(r->name, lv->name) || !str_filter(r->uuid, lv->uuid_str))
                continue;
            if (q) {
                bool snap = lvol_is_snapshot(lv), clone = lvol_is_clone(lv);
                if (!((q->replica && !snap && !clone) || (q->snapshot && snap) ||
                      (q->clone && clone)))
                    continue;
            }
            replica_msg_fill(&msgs[k], lv);
            ptrs[k] = &msgs[k].r;
            k++;
        }
    }
    Mayastor__V1__ListReplicasResponse resp = MAYASTOR__V1__LIST_REPLICAS_RESPONSE__INIT;
    resp.n_replicas = k;
    resp.replicas = ptrs;
    rpc_reply(c->call, &resp.base);
    for (size_t i = 0; i < k; i++)
        replica_msg_free(&msgs[i]);
    free(msgs);
    free(ptrs);
    lvs_call_finish(c);
}

/* ---- ShareReplica / UnshareReplica ---- */

static void shared_done(void *arg, int rc, const char *errmsg)
{
    struct rctx *x = arg;
    struct lvs_call *c = &x->c;
    if (rc) {
        lvs_call_fail(c, share_status(rc), errmsg ? errmsg : strerror(-rc));
        return;
    }
    reply_replica_uuid(c, x->uuid);
}

static void do_share(struct lvs_call *c)
{
    const Mayastor__V1__ShareReplicaRequest *r = (const void *)c->req;
    struct lvol *lv = find(c, r->uuid, false, false);
    if (!lv)
        return;
    if (r->share == MAYASTOR__V1__SHARE_PROTOCOL__NONE && !lvol_is_shared(lv)) {
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT,
                 "replica %s is not shared: nothing to do for protocol NONE", r->uuid);
        lvs_call_finish(c);
        return;
    }
    if (!share_protocol_ok(c, r->share))
        return;
    if (!lvs_call_lock_pool(c, lv->lvs))
        return;
    memcpy(((struct rctx *)c)->uuid, lv->uuid_str, 37);
    if (r->share == MAYASTOR__V1__SHARE_PROTOCOL__NONE)
        lvol_unshare(lv, shared_done, c);
    else
        lvol_share(lv, (const char *const *)r->allowed_hosts, r->n_allowed_hosts, shared_done, c);
}

static void do_unshare(struct lvs_call *c)
{
    const Mayastor__V1__UnshareReplicaRequest *r = (const void *)c->req;
    struct lvol *lv = find(c, r->uuid, false, false);
    if (lv && lvs_call_lock_pool(c, lv->lvs)) {
        memcpy(((struct rctx *)c)->uuid, lv->uuid_str, 37);
        lvol_unshare(lv, shared_done, c);
    }
}

/* ---- handlers ---- */

static void create_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_create);
}
static void destroy_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_destroy);
}
static void list_replicas(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, false, do_list);
}
static void resize_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_resize);
}
static void set_entity_id(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_set_entity);
}

static void share_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_share);
}
static void unshare_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_unshare);
}

static const struct rpc_handler handlers[] = {
    {"CreateReplica", create_replica, false},
    {"DestroyReplica", destroy_replica, false},
    {"ListReplicas", list_replicas, false},
    {"ResizeReplica", resize_replica, false},
    {"SetReplicaEntityId", set_entity_id, false},
    {"ShareReplica", share_replica, false},
    {"UnshareReplica", unshare_replica, false},
};

const struct rpc_service svc_v1_replica = {
    .desc = &mayastor__v1__replica_rpc__descriptor,
    .alias = "v1.replica.ReplicaRpc",
    .version = API_V1,
    .capability = "replicas",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

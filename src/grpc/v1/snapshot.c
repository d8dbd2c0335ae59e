/* mayastor.v1.SnapshotRpc: snapshots of replicas and clones made from them (behaviour §7).
 *
 * Serialized with the ReplicaRpc (lvs_replica_serial: mutations exclusive, lists
 * shared, §10); mutations also take the pool's try-lock (busy: ABORTED). The lvol layer
 * is lvs/snapshot.c. CreateNexusSnapshot needs the nexus: it has no handler, so the
 * registry answers UNIMPLEMENTED naming the capability below.
 *
 * Mapping choices (docs/compatibility.md): a missing snapshot uuid in
 * CreateReplicaSnapshot is INVALID_ARGUMENT (upstream fails later, INTERNAL); a pool
 * named in DestroySnapshot that is not loaded is NOT_FOUND; ListSnapshotClone of an
 * unknown snapshot is NOT_FOUND; ListSnapshot of an unknown snapshot or source replica
 * is an empty list. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "grpc/lvs_call.h"
#include "grpc/rpc.h"
#include "grpc/v1/replica_msg.h"
#include "lvs/lvol.h"
#include "lvs/lvs.h"
#include "lvs/snapshot.h"
#include "snapshot.pb-c.h"

/* ---- SnapshotInfo ---- */

struct info_msg {
    Mayastor__V1__SnapshotInfo m;
    Google__Protobuf__Timestamp ts;
    struct lvol_snapshot_info i;
};

static void info_fill(struct info_msg *x, const struct lvol *snap)
{
    struct lvol_snapshot_info *i = &x->i;
    lvol_snapshot_info(snap, i);
    mayastor__v1__snapshot_info__init(&x->m);
    Mayastor__V1__SnapshotInfo *m = &x->m;
    m->snapshot_uuid = (char *)snap->uuid_str;
    m->snapshot_name = (char *)snap->name;
    m->snapshot_size = i->size;
    m->num_clones = i->num_clones;
    if (i->has_time) {
        google__protobuf__timestamp__init(&x->ts);
        x->ts.seconds = i->time.tv_sec;
        x->ts.nanos = (int32_t)i->time.tv_nsec;
        m->timestamp = &x->ts;
    }
    m->source_uuid = i->source_uuid;
    m->source_size = i->source_size;
    m->pool_uuid = (char *)snap->lvs->uuid_str;
    m->pool_name = (char *)snap->lvs->name;
    m->entity_id = i->entity_id;
    m->txn_id = i->txn_id;
    m->valid_snapshot = i->valid;
    m->ready_as_source = false; /* as upstream: always */
    m->referenced_bytes = i->referenced_bytes;
    m->discarded_snapshot = i->discarded;
}

/* ---- the call context ---- */

struct sctx {
    struct lvs_call c; /* first (lvs_call.h) */
    char uuid[37];     /* the replica of a snapshot */
    bool deleted;
};
_Static_assert(offsetof(struct sctx, c) == 0, "struct sctx starts with its lvs_call");

/* On lvs_replica_serial, as the ReplicaRpc. */
static void submit(struct rpc_call *call, const ProtobufCMessage *req, bool exclusive,
                   lvs_call_fn fn)
{
    lvs_call_submit(call, req, &lvs_replica_serial, exclusive, sizeof(struct sctx), fn);
}

static bool empty(const char *s) { return !s || !*s; }

/* ---- CreateReplicaSnapshot ---- */

static void snapshot_made(void *arg, int rc, struct lvol *snap, const char *errmsg)
{
    struct sctx *x = arg;
    struct lvs_call *c = &x->c;
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
    struct info_msg *im = calloc(1, sizeof(*im));
    if (!im) {
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    info_fill(im, snap);
    Mayastor__V1__CreateReplicaSnapshotResponse resp =
        MAYASTOR__V1__CREATE_REPLICA_SNAPSHOT_RESPONSE__INIT;
    resp.replica_uuid = x->uuid;
    resp.snapshot = &im->m;
    rpc_reply(c->call, &resp.base);
    free(im);
    lvs_call_finish(c);
}

static void do_create(struct lvs_call *c)
{
    struct sctx *x = (struct sctx *)c;
    const Mayastor__V1__CreateReplicaSnapshotRequest *r = (const void *)c->req;
    const char *missing = empty(r->snapshot_name) ? "snapshot_name"
                          : empty(r->entity_id)   ? "entity_id"
                          : empty(r->txn_id)      ? "txn_id"
                          : empty(r->snapshot_uuid) ? "snapshot_uuid"
                                                    : NULL;
    if (missing) {
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT,
                 "invalid snapshot parameters for replica %s: %s is required",
                 r->replica_uuid ? r->replica_uuid : "", missing);
        lvs_call_finish(c);
        return;
    }
    struct lvol *lv;
    int rc = lvol_lookup_uuid(r->replica_uuid, &lv);
    if (rc == -ENOTTY) {
        rpc_fail(c->call, GRPC_STATUS_INTERNAL, "bdev %s is not a lvol", r->replica_uuid);
        lvs_call_finish(c);
        return;
    }
    if (rc || lvol_is_snapshot(lv)) {
        rpc_fail(c->call, GRPC_STATUS_NOT_FOUND, "Replica %s not found",
                 r->replica_uuid ? r->replica_uuid : "");
        lvs_call_finish(c);
        return;
    }
    if (!lvs_call_lock_pool(c, lv->lvs))
        return;
    memcpy(x->uuid, lv->uuid_str, sizeof(x->uuid));
    struct lvol_snapshot_args a = {
        .name = r->snapshot_name,
        .uuid = r->snapshot_uuid,
        .entity_id = r->entity_id,
        .txn_id = r->txn_id,
    };
    lvol_snapshot_create(lv, &a, snapshot_made, c);
}

/* ---- ListSnapshot ---- */

static bool query_keeps(const Mayastor__V1__ListSnapshotsRequest__Query *q,
                        const struct info_msg *im)
{
    if (!q)
        return true;
    if (q->_invalid_case == MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST__QUERY___INVALID_INVALID &&
        q->invalid != !im->i.valid)
        return false;
    if (q->_discarded_case ==
            MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST__QUERY___DISCARDED_DISCARDED &&
        q->discarded != im->i.discarded)
        return false;
    return true;
}

static void do_list(struct lvs_call *c)
{
    const Mayastor__V1__ListSnapshotsRequest *r = (const void *)c->req;
    bool by_snap = r->_snapshot_uuid_case ==
                   MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST___SNAPSHOT_UUID_SNAPSHOT_UUID;
    bool by_src = r->_source_uuid_case ==
                  MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST___SOURCE_UUID_SOURCE_UUID;
    size_t n = 0;
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
        n += l->n_lvols;
    struct lvol **cand = calloc(n ? n : 1, sizeof(*cand));
    size_t k = 0;
    if (!cand) {
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    if (by_snap) {
        struct lvol *s = lvol_snapshot_lookup(r->snapshot_uuid);
        char parent[64];
        if (s && by_src &&
            (lvol_get_property(s, LVOL_XATTR_SNAP_PARENT_ID, parent, sizeof(parent)) ||
             strcmp(parent, r->source_uuid)))
            s = NULL;
        if (s)
            cand[k++] = s;
    } else if (by_src) {
        /* The replica's ancestry, newest first, while each snapshot was taken of it. */
        struct lvol *src = lvol_find_uuid(r->source_uuid);
        bs_blob_id p = src && !lvol_is_snapshot(src) ? bs_blob_parent(src->blob) : BS_INVALID_ID;
        while (p != BS_INVALID_ID && k < n) {
            struct lvol *s = lvol_lookup_blob(src->lvs, p);
            char parent[64];
            if (!s || !lvol_is_snapshot(s) ||
                lvol_get_property(s, LVOL_XATTR_SNAP_PARENT_ID, parent, sizeof(parent)) ||
                strcmp(parent, src->uuid_str))
                break;
            cand[k++] = s;
            p = bs_blob_parent(s->blob);
        }
    } else {
        for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
            for (struct lvol *lv = l->lvols; lv && k < n; lv = lv->next)
                if (lvol_is_snapshot(lv))
                    cand[k++] = lv;
    }
    struct info_msg *msgs = calloc(k ? k : 1, sizeof(*msgs));
    Mayastor__V1__SnapshotInfo **ptrs = calloc(k ? k : 1, sizeof(*ptrs));
    if (!msgs || !ptrs) {
        free(cand);
        free(msgs);
        free(ptrs);
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        info_fill(&msgs[m], cand[i]);
        if (query_keeps(r->query, &msgs[m])) {
            ptrs[m] = &msgs[m].m;
            m++;
        }
    }
    Mayastor__V1__ListSnapshotsResponse resp = MAYASTOR__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
    resp.n_snapshots = m;
    resp.snapshots = ptrs;
    rpc_reply(c->call, &resp.base);
    free(cand);
    free(msgs);
    free(ptrs);
    lvs_call_finish(c);
}

/* ---- DestroySnapshot ---- */

static void snapshot_destroyed(void *arg, int rc, const char *errmsg)
{
    struct lvs_call *c = arg;
    if (rc) {
        lvs_call_fail(c, rc == -EBUSY ? GRPC_STATUS_FAILED_PRECONDITION : lvs_grpc_status(rc),
                      errmsg ? errmsg : strerror(-rc));
        return;
    }
    rpc_reply(c->call, NULL);
    lvs_call_finish(c);
}

static void do_destroy(struct lvs_call *c)
{
    struct sctx *x = (struct sctx *)c;
    const Mayastor__V1__DestroySnapshotRequest *r = (const void *)c->req;
    struct lvs *want = NULL;
    if (r->pool_case == MAYASTOR__V1__DESTROY_SNAPSHOT_REQUEST__POOL_POOL_NAME ||
        r->pool_case == MAYASTOR__V1__DESTROY_SNAPSHOT_REQUEST__POOL_POOL_UUID) {
        bool by_name = r->pool_case == MAYASTOR__V1__DESTROY_SNAPSHOT_REQUEST__POOL_POOL_NAME;
        const char *id = by_name ? r->pool_name : r->pool_uuid;
        want = by_name ? lvs_lookup(id) : lvs_lookup_uuid(id);
        if (!want) {
            rpc_fail(c->call, GRPC_STATUS_NOT_FOUND,
                     "failed to destroy snapshot %s: pool %s=%s is not loaded", r->snapshot_uuid,
                     by_name ? "name" : "uuid", id);
            lvs_call_finish(c);
            return;
        }
    }
    struct lvol *s = lvol_snapshot_lookup(r->snapshot_uuid);
    if (!s) {
        rpc_fail(c->call, GRPC_STATUS_NOT_FOUND, "snapshot %s not found",
                 r->snapshot_uuid ? r->snapshot_uuid : "");
        lvs_call_finish(c);
        return;
    }
    if (want && want != s->lvs) {
        rpc_fail(c->call, GRPC_STATUS_ABORTED,
                 "failed to destroy snapshot %s: the specified pool %s (%s) does not match the "
                 "snapshot's pool %s (%s)", r->snapshot_uuid, want->name, want->uuid_str,
                 s->lvs->name, s->lvs->uuid_str);
        lvs_call_finish(c);
        return;
    }
    if (lvs_call_lock_pool(c, s->lvs))
        lvol_snapshot_destroy(s, &x->deleted, snapshot_destroyed, c);
}

/* ---- CreateSnapshotClone / ListSnapshotClone ---- */

static void clone_made(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct lvs_call *c = arg;
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
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

static void do_clone(struct lvs_call *c)
{
    const Mayastor__V1__CreateSnapshotCloneRequest *r = (const void *)c->req;
    const char *missing = empty(r->clone_name) ? "clone_name"
                          : empty(r->clone_uuid) ? "clone_uuid"
                                                 : NULL;
    if (missing) {
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT,
                 "invalid clone parameters for snapshot %s: %s is required",
                 r->snapshot_uuid ? r->snapshot_uuid : "", missing);
        lvs_call_finish(c);
        return;
    }
    struct lvol *s = lvol_snapshot_lookup(r->snapshot_uuid);
    if (!s || lvol_is_discarded(s)) {
        rpc_fail(c->call, GRPC_STATUS_NOT_FOUND, "snapshot %s not found%s",
                 r->snapshot_uuid ? r->snapshot_uuid : "",
                 s ? " (it is discarded)" : "");
        lvs_call_finish(c);
        return;
    }
    if (lvs_call_lock_pool(c, s->lvs))
        lvol_clone_create(s, r->clone_name, r->clone_uuid, clone_made, c);
}

static void do_list_clones(struct lvs_call *c)
{
    const Mayastor__V1__ListSnapshotCloneRequest *r = (const void *)c->req;
    size_t n = 0;
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
        n += l->n_lvols;
    struct lvol **v = calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    size_t k = 0;
    if (r->_snapshot_uuid_case ==
        MAYASTOR__V1__LIST_SNAPSHOT_CLONE_REQUEST___SNAPSHOT_UUID_SNAPSHOT_UUID) {
        struct lvol *s = lvol_snapshot_lookup(r->snapshot_uuid);
        if (!s) {
            free(v);
            rpc_fail(c->call, GRPC_STATUS_NOT_FOUND, "snapshot %s not found",
                     r->snapshot_uuid ? r->snapshot_uuid : "");
            lvs_call_finish(c);
            return;
        }
        k = lvol_snapshot_clones(s, v, n);
        if (k > n)
            k = n;
    } else {
        for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
            for (struct lvol *lv = l->lvols; lv && k < n; lv = lv->next)
                if (lvol_is_clone(lv))
                    v[k++] = lv;
    }
    struct replica_msg *msgs = calloc(k ? k : 1, sizeof(*msgs));
    Mayastor__V1__Replica **ptrs = calloc(k ? k : 1, sizeof(*ptrs));
    if (!msgs || !ptrs) {
        free(v);
        free(msgs);
        free(ptrs);
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    for (size_t i = 0; i < k; i++) {
        replica_msg_fill(&msgs[i], v[i]);
        ptrs[i] = &msgs[i].r;
    }
    Mayastor__V1__ListSnapshotCloneResponse resp = MAYASTOR__V1__LIST_SNAPSHOT_CLONE_RESPONSE__INIT;
    resp.n_replicas = k;
    resp.replicas = ptrs;
    rpc_reply(c->call, &resp.base);
    for (size_t i = 0; i < k; i++)
        replica_msg_free(&msgs[i]);
    free(v);
    free(msgs);
    free(ptrs);
    lvs_call_finish(c);
}

/* ---- handlers ---- */

static void create_replica_snapshot(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_create);
}
static void list_snapshot(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, false, do_list);
}
static void destroy_snapshot(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_destroy);
}
static void create_snapshot_clone(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, true, do_clone);
}
static void list_snapshot_clone(struct rpc_call *c, const ProtobufCMessage *r)
{
    submit(c, r, false, do_list_clones);
}

static const struct rpc_handler handlers[] = {
    {"CreateReplicaSnapshot", create_replica_snapshot, false},
    {"ListSnapshot", list_snapshot, false},
    {"DestroySnapshot", destroy_snapshot, false},
    {"CreateSnapshotClone", create_snapshot_clone, false},
    {"ListSnapshotClone", list_snapshot_clone, false},
    /* CreateNexusSnapshot: UNIMPLEMENTED until the nexus exists. */
};

const struct rpc_service svc_v1_snapshot = {
    .desc = &mayastor__v1__snapshot_rpc__descriptor,
    .alias = "v1.snapshot.SnapshotRpc",
    .version = API_V1,
    .capability = "nexus snapshots (the nexus)",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

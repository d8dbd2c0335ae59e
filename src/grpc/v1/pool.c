/* mayastor.v1.PoolRpc: storage pools (lvolstores) on local disks, behaviour §3.
 *
 * Every method is serialized through lvs_pool_serial (upstream's PoolService lock is
 * exclusive for all of them, ListPools included) and takes the per-pool-name try-lock
 * inside the lvs layer (busy: ABORTED). Codes follow lvs_grpc_status(). LVM pools are
 * refused: FAILED_PRECONDITION without --enable-lvm, UNIMPLEMENTED with it (there is no
 * LVM backend in this io-engine). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "grpc/lvs_call.h"
#include "grpc/rpc.h"
#include "lvs/lvs.h"
#include "pool.pb-c.h"

/* ---- Pool message ---- */

/* A Pool reply and what it points to (its strings are the pool's, except disk). */
struct pool_msg {
    Mayastor__V1__Pool pool;
    Mayastor__V1__PoolMetadataInfo md;
    char *disk;
};

static void pool_msg_fill(struct pool_msg *m, const struct lvs *l)
{
    memset(m, 0, sizeof(*m));
    mayastor__v1__pool__init(&m->pool);
    mayastor__v1__pool_metadata_info__init(&m->md);
    m->disk = lvs_disk_uri(l);
    m->pool.uuid = (char *)l->uuid_str;
    m->pool.name = (char *)l->name;
    m->pool.n_disks = m->disk ? 1 : 0;
    m->pool.disks = &m->disk;
    m->pool.state = MAYASTOR__V1__POOL_STATE__POOL_ONLINE;
    m->pool.capacity = lvs_capacity(l);
    m->pool.used = lvs_used(l);
    m->pool.pooltype = MAYASTOR__V1__POOL_TYPE__Lvs;
    m->pool.committed = lvs_committed(l);
    m->pool.cluster_size = (uint32_t)lvs_cluster_size(l);
    m->pool._page_size_case = MAYASTOR__V1__POOL___PAGE_SIZE_PAGE_SIZE;
    m->pool.page_size = lvs_page_size(l);
    m->pool.disk_capacity = lvs_disk_capacity(l);
    m->md.md_page_size = lvs_page_size(l);
    m->md.md_pages = lvs_md_pages(l);
    m->md.md_used_pages = lvs_md_used_pages(l);
    m->pool._md_info_case = MAYASTOR__V1__POOL___MD_INFO_MD_INFO;
    m->pool.md_info = &m->md;
}

static void pool_msg_free(struct pool_msg *m)
{
    free(m->disk);
    m->disk = NULL;
}

/* ---- the call context ---- */

struct pctx {
    struct lvs_call c;      /* first (lvs_call.h) */
    struct pool_msg before; /* GrowPool */
    char name[LVS_NAME_MAX];
};
_Static_assert(offsetof(struct pctx, c) == 0, "struct pctx starts with its lvs_call");

/* On lvs_pool_serial, every method exclusive (see above). */
static void submit(struct rpc_call *call, const ProtobufCMessage *req, lvs_call_fn fn)
{
    lvs_call_submit(call, req, &lvs_pool_serial, true, sizeof(struct pctx), fn);
}

static void reply_pool(struct lvs_call *c, const struct lvs *l)
{
    struct pool_msg m;
    pool_msg_fill(&m, l);
    rpc_reply(c->call, &m.pool.base);
    pool_msg_free(&m);
    lvs_call_finish(c);
}

/* The pool type of a request: false (answered) for LVM or an unknown value. */
static bool lvs_only(struct lvs_call *c, int pooltype)
{
    if (pooltype == MAYASTOR__V1__POOL_TYPE__Lvm) {
        if (!g_env.args.enable_lvm)
            rpc_fail(c->call, GRPC_STATUS_FAILED_PRECONDITION,
                     "LVM pools are disabled: start the io-engine with --enable-lvm");
        else
            rpc_fail(c->call, GRPC_STATUS_UNIMPLEMENTED,
                     "LVM pools are not implemented in this io-engine (no LVM backend); "
                     "use pooltype Lvs");
        lvs_call_finish(c);
        return false;
    }
    if (pooltype != MAYASTOR__V1__POOL_TYPE__Lvs) {
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "invalid pooltype provided: %d",
                 pooltype);
        lvs_call_finish(c);
        return false;
    }
    return true;
}

/* Disk count and uuid checks shared by Create and Import. */
static bool check_args(struct lvs_call *c, size_t n_disks, char **disks,
                       const Google__Protobuf__StringValue *uuid)
{
    if (!n_disks) {
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "invalid argument, missing devices");
        lvs_call_finish(c);
        return false;
    }
    if (uuid) {
        uuid_t u;
        if (!uuid->value || uuid_parse(uuid->value, u)) {
            rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "invalid uuid provided: '%s'",
                     uuid->value ? uuid->value : "");
            lvs_call_finish(c);
            return false;
        }
    }
    if (n_disks > 1) {
        char list[512] = "";
        size_t off = 0;
        for (size_t i = 0; i < n_disks && off < sizeof(list); i++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"", i ? ", " : "",
                                    disks[i]);
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "invalid number %zu of devices [%s]",
                 n_disks, list);
        lvs_call_finish(c);
        return false;
    }
    return true;
}

/* ---- CreatePool / ImportPool ---- */

static void pool_ready(void *arg, int rc, struct lvs *l, const char *errmsg)
{
    struct lvs_call *c = arg;
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
    reply_pool(c, l);
}

static void do_create(struct lvs_call *c)
{
    const Mayastor__V1__CreatePoolRequest *r = (const void *)c->req;
    if (!lvs_only(c, r->pooltype) || !check_args(c, r->n_disks, r->disks, r->uuid))
        return;
    struct lvs_pool_args a = {
        .name = r->name,
        .uuid = r->uuid ? r->uuid->value : NULL,
        .disk = r->disks[0],
        .mode = LVS_CREATE_OR_IMPORT,
    };
    /* 0 means the default, as upstream passes it on to SPDK. */
    if (r->_cluster_size_case == MAYASTOR__V1__CREATE_POOL_REQUEST___CLUSTER_SIZE_CLUSTER_SIZE)
        a.cluster_size = r->cluster_size;
    if (r->_md_args_case == MAYASTOR__V1__CREATE_POOL_REQUEST___MD_ARGS_MD_ARGS && r->md_args &&
        r->md_args->_md_resv_ratio_case ==
            MAYASTOR__V1__POOL_METADATA_ARGS___MD_RESV_RATIO_MD_RESV_RATIO) {
        float ratio = r->md_args->md_resv_ratio;
        if (!(ratio > 0) || !isfinite(ratio) || ratio * 100.0f > 1e9f) {
            rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT,
                     "pool %s: invalid metadata parameter: md_resv_ratio must be > 0, not %g",
                     r->name, (double)ratio);
            lvs_call_finish(c);
            return;
        }
        a.md_ratio = (uint32_t)(ratio * 100.0f);
        if (!a.md_ratio)
            a.md_ratio = 1;
    }
    lvs_create_or_import(&a, pool_ready, c);
}

static void do_import(struct lvs_call *c)
{
    const Mayastor__V1__ImportPoolRequest *r = (const void *)c->req;
    if (!lvs_only(c, r->pooltype) || !check_args(c, r->n_disks, r->disks, r->uuid))
        return;
    struct lvs_pool_args a = {
        .name = r->name,
        .uuid = r->uuid ? r->uuid->value : NULL,
        .disk = r->disks[0],
        .mode = LVS_IMPORT,
    };
    lvs_create_or_import(&a, pool_ready, c);
}

/* ---- Destroy / Export / Grow ---- */

/* A pool by name, and uuid when given (both must match, as upstream's finder). */
static struct lvs *find(struct lvs_call *c, const char *name,
                        const Google__Protobuf__StringValue *uuid)
{
    struct lvs *l = NULL;
    if (uuid) {
        l = lvs_lookup_uuid(uuid->value);
        if (l && strcmp(l->name, name ? name : ""))
            l = NULL;
    } else {
        l = lvs_lookup(name ? name : "");
    }
    if (!l) {
        rpc_fail(c->call, GRPC_STATUS_NOT_FOUND, "pool %s%s%s not found", name ? name : "",
                 uuid ? " with uuid " : "", uuid && uuid->value ? uuid->value : "");
        lvs_call_finish(c);
    }
    return l;
}

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
    const Mayastor__V1__DestroyPoolRequest *r = (const void *)c->req;
    struct lvs *l = find(c, r->name, r->uuid);
    if (l)
        lvs_destroy(l, false, empty_done, c);
}

static void do_export(struct lvs_call *c)
{
    const Mayastor__V1__ExportPoolRequest *r = (const void *)c->req;
    struct lvs *l = find(c, r->name, r->uuid);
    if (l)
        lvs_export(l, empty_done, c);
}

static void grown(void *arg, int rc, const char *errmsg)
{
    struct pctx *p = arg;
    struct lvs_call *c = &p->c;
    struct lvs *l = lvs_lookup(p->name);
    if (rc || !l) {
        pool_msg_free(&p->before);
        lvs_call_fail_errno(c, rc ? rc : -ENODEV, errmsg);
        return;
    }
    struct pool_msg now;
    pool_msg_fill(&now, l);
    Mayastor__V1__GrowPoolResponse resp = MAYASTOR__V1__GROW_POOL_RESPONSE__INIT;
    resp.previous_pool = &p->before.pool;
    resp.current_pool = &now.pool;
    rpc_reply(c->call, &resp.base);
    pool_msg_free(&now);
    pool_msg_free(&p->before);
    lvs_call_finish(c);
}

static void do_grow(struct lvs_call *c)
{
    struct pctx *p = (struct pctx *)c;
    const Mayastor__V1__GrowPoolRequest *r = (const void *)c->req;
    struct lvs *l = find(c, r->name, r->uuid);
    if (!l)
        return;
    snprintf(p->name, sizeof(p->name), "%s", l->name);
    pool_msg_fill(&p->before, l); /* its strings are l's, which outlives the grow */
    lvs_grow(l, grown, c);
}

/* ---- ListPools ---- */

static void do_list(struct lvs_call *c)
{
    const Mayastor__V1__ListPoolOptions *r = (const void *)c->req;
    if (r->pooltype && r->pooltype->value != MAYASTOR__V1__POOL_TYPE__Lvs &&
        r->pooltype->value != MAYASTOR__V1__POOL_TYPE__Lvm) {
        rpc_fail(c->call, GRPC_STATUS_INVALID_ARGUMENT, "Unknown pool type %d",
                 r->pooltype->value);
        lvs_call_finish(c);
        return;
    }
    bool none = r->pooltype && r->pooltype->value != MAYASTOR__V1__POOL_TYPE__Lvs;
    size_t n = none ? 0 : lvs_count();
    struct pool_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));
    Mayastor__V1__Pool **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!msgs || !ptrs) {
        free(msgs);
        free(ptrs);
        rpc_fail(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        lvs_call_finish(c);
        return;
    }
    uuid_t want;
    bool bad_uuid = r->uuid && (!r->uuid->value || uuid_parse(r->uuid->value, want));
    size_t k = 0;
    for (struct lvs *l = none || bad_uuid ? NULL : lvs_first(); l && k < n; l = lvs_next(l)) {
        if (r->name && strcmp(l->name, r->name->value ? r->name->value : ""))
            continue;
        if (r->uuid && uuid_compare(l->uuid, want))
            continue;
        pool_msg_fill(&msgs[k], l);
        ptrs[k] = &msgs[k].pool;
        k++;
    }
    Mayastor__V1__ListPoolsResponse resp = MAYASTOR__V1__LIST_POOLS_RESPONSE__INIT;
    resp.n_pools = k;
    resp.pools = ptrs;
    rpc_reply(c->call, &resp.base);
    for (size_t i = 0; i < k; i++)
        pool_msg_free(&msgs[i]);
    free(msgs);
    free(ptrs);
    lvs_call_finish(c);
}

/* ---- handlers ---- */

static void create_pool(struct rpc_call *c, const ProtobufCMessage *r) { submit(c, r, do_create); }
static void import_pool(struct rpc_call *c, const ProtobufCMessage *r) { submit(c, r, do_import); }
static void destroy_pool(struct rpc_call *c, const ProtobufCMessage *r) { submit(c, r, do_destroy); }
static void export_pool(struct rpc_call *c, const ProtobufCMessage *r) { submit(c, r, do_export); }
static void grow_pool(struct rpc_call *c, const ProtobufCMessage *r) { submit(c, r, do_grow); }
static void list_pools(struct rpc_call *c, const ProtobufCMessage *r) { submit(c, r, do_list); }

static const struct rpc_handler handlers[] = {
    {"CreatePool", create_pool, false},
    {"DestroyPool", destroy_pool, false},
    {"ExportPool", export_pool, false},
    {"ImportPool", import_pool, false},
    {"ListPools", list_pools, false},
    {"GrowPool", grow_pool, false},
};

const struct rpc_service svc_v1_pool = {
    .desc = &mayastor__v1__pool_rpc__descriptor,
    .alias = "v1.pool.PoolRpc",
    .version = API_V1,
    .capability = "pool management (lvolstore pools)",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

/* mayastor.Mayastor (v0): the legacy all-in-one service. Host queries, pools and
 * replicas are served now; ShareReplica, nexus and snapshot methods answer UNIMPLEMENTED
 * until built. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "grpc/host_common.h"
#include "grpc/lvs_call.h"
#include "host/nvme_ctrlr_registry.h"
#include "lvs/lvol.h"
#include "lvs/lvol_share.h"
#include "lvs/lvs.h"
#include "mayastor.pb-c.h"
#include "version.h"

static void get_info(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    Mayastor__MayastorFeatures feat = MAYASTOR__MAYASTOR_FEATURES__INIT;
    Mayastor__MayastorInfoRequest resp = MAYASTOR__MAYASTOR_INFO_REQUEST__INIT;
    feat.asymmetricnamespaceaccess = g_env.ana_enabled;
    resp.version = (char *)IO_ENGINE_VERSION;
    resp.supportedfeatures = &feat;
    rpc_reply(call, &resp.base);
}

static void get_usage(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    struct rusage ru;
    if (!host_rusage(call, &ru))
        return;
    Mayastor__ResourceUsage u = MAYASTOR__RESOURCE_USAGE__INIT;
    u.soft_faults = ru.ru_minflt;
    u.hard_faults = ru.ru_majflt;
    u.swaps = ru.ru_nswap;
    u.in_block_ops = ru.ru_inblock;
    u.out_block_ops = ru.ru_oublock;
    u.ipc_msg_send = ru.ru_msgsnd;
    u.ipc_msg_rcv = ru.ru_msgrcv;
    u.signals = ru.ru_nsignals;
    u.vol_csw = ru.ru_nvcsw;
    u.invol_csw = ru.ru_nivcsw;
    Mayastor__GetResourceUsageReply resp = MAYASTOR__GET_RESOURCE_USAGE_REPLY__INIT;
    resp.usage = &u;
    rpc_reply(call, &resp.base);
}

static void reply_block_devices(struct rpc_call *call, const struct blk_device_list *list)
{
    size_t n = list->n;
    Mayastor__BlockDevice *devs = calloc(n ? n : 1, sizeof(*devs));
    Mayastor__BlockDevice **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    Mayastor__BlockDevice__Partition *parts = calloc(n ? n : 1, sizeof(*parts));
    Mayastor__BlockDevice__Filesystem *fss = calloc(n ? n : 1, sizeof(*fss));
    if (!devs || !ptrs || !parts || !fss) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct blk_device *d = &list->devs[i];
        Mayastor__BlockDevice *o = &devs[i];
        mayastor__block_device__init(o);
        o->devname = d->devname;
        o->devtype = d->devtype;
        o->devmajor = d->devmajor;
        o->devminor = d->devminor;
        o->model = d->model;
        o->devpath = d->devpath;
        o->n_devlinks = d->n_devlinks;
        o->devlinks = d->devlinks;
        o->size = d->size;
        o->available = d->available;
        if (d->has_partition) {
            mayastor__block_device__partition__init(&parts[i]);
            parts[i].parent = d->partition.parent;
            parts[i].number = d->partition.number;
            parts[i].name = d->partition.name;
            parts[i].scheme = d->partition.scheme;
            parts[i].typeid_ = d->partition.typeid;
            parts[i].uuid = d->partition.uuid;
            o->partition = &parts[i];
        }
        if (d->has_filesystem) {
            mayastor__block_device__filesystem__init(&fss[i]);
            fss[i].fstype = d->filesystem.fstype;
            fss[i].label = d->filesystem.label;
            fss[i].uuid = d->filesystem.uuid;
            /* v0 carries a single mount point: the first one. */
            fss[i].mountpoint = d->filesystem.n_mountpoints ? d->filesystem.mountpoints[0] : "";
            o->filesystem = &fss[i];
        }
        ptrs[i] = o;
    }
    Mayastor__ListBlockDevicesReply resp = MAYASTOR__LIST_BLOCK_DEVICES_REPLY__INIT;
    resp.n_devices = n;
    resp.devices = ptrs;
    rpc_reply(call, &resp.base);
out:
    free(devs);
    free(ptrs);
    free(parts);
    free(fss);
}

static void list_block_devices(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__ListBlockDevicesRequest *r = (const void *)req;
    host_list_block_devices(call, r->all, reply_block_devices);
}

static void list_ctrlrs(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    struct nvme_ctrlr_info *infos;
    size_t n;
    if (nvme_ctrlr_registry_list(&infos, &n)) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    Mayastor__NvmeController *c = calloc(n ? n : 1, sizeof(*c));
    Mayastor__NvmeController **p = calloc(n ? n : 1, sizeof(*p));
    if (!c || !p) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
    } else {
        for (size_t i = 0; i < n; i++) {
            mayastor__nvme_controller__init(&c[i]);
            c[i].name = infos[i].name;
            c[i].state = (Mayastor__NvmeControllerState)infos[i].state;
            c[i].size = infos[i].size;
            c[i].blk_size = infos[i].blk_size;
            p[i] = &c[i];
        }
        Mayastor__ListNvmeControllersReply resp = MAYASTOR__LIST_NVME_CONTROLLERS_REPLY__INIT;
        resp.n_controllers = n;
        resp.controllers = p;
        rpc_reply(call, &resp.base);
    }
    free(c);
    free(p);
    free(infos);
}

static void stat_ctrlrs(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    struct nvme_ctrlr_info *infos;
    size_t n;
    if (nvme_ctrlr_registry_list(&infos, &n)) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    Mayastor__NvmeControllerStats *c = calloc(n ? n : 1, sizeof(*c));
    Mayastor__NvmeControllerStats **p = calloc(n ? n : 1, sizeof(*p));
    Mayastor__NvmeControllerIoStats *st = calloc(n ? n : 1, sizeof(*st));
    if (!c || !p || !st) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
    } else {
        for (size_t i = 0; i < n; i++) {
            mayastor__nvme_controller_stats__init(&c[i]);
            mayastor__nvme_controller_io_stats__init(&st[i]);
            st[i].num_read_ops = infos[i].stats.num_read_ops;
            st[i].num_write_ops = infos[i].stats.num_write_ops;
            st[i].bytes_read = infos[i].stats.bytes_read;
            st[i].bytes_written = infos[i].stats.bytes_written;
            st[i].num_unmap_ops = infos[i].stats.num_unmap_ops;
            st[i].bytes_unmapped = infos[i].stats.bytes_unmapped;
            c[i].name = infos[i].name;
            c[i].stats = &st[i];
            p[i] = &c[i];
        }
        Mayastor__StatNvmeControllersReply resp = MAYASTOR__STAT_NVME_CONTROLLERS_REPLY__INIT;
        resp.n_controllers = n;
        resp.controllers = p;
        rpc_reply(call, &resp.base);
    }
    free(c);
    free(p);
    free(st);
    free(infos);
}

/* ---- pools and replicas (behaviour §3, §4; upstream's v0 semantics) ----
 *
 * v0 differs from v1: CreatePool answers the pool when it exists already on the same
 * disk; DestroyPool of an unknown pool succeeds; a replica is named by its "uuid" field
 * (CreateReplica) or name (CreateReplicaV2) and creation is idempotent by name;
 * DestroyReplica takes the replica name and succeeds when it does not exist; a missing
 * pool is INVALID_ARGUMENT. Pool methods share PoolRpc's serialization, replica methods
 * ReplicaRpc's; both take the per-pool try-lock (busy: ABORTED). */


struct v0ctx {
    struct lvs_call c; /* first (lvs_call.h) */
    char name[LVS_NAME_MAX];
    char uuid[37];
};
_Static_assert(offsetof(struct v0ctx, c) == 0, "struct v0ctx starts with its lvs_call");

static void v0_submit(struct rpc_call *call, const ProtobufCMessage *req, struct lvs_serial *ser,
                      bool exclusive, lvs_call_fn fn)
{
    lvs_call_submit_v0(call, req, ser, exclusive, sizeof(struct v0ctx), fn);
}

/* -- pools -- */

struct v0_pool_msg {
    Mayastor__Pool p;
    char *disk;
};

static void v0_pool_fill(struct v0_pool_msg *m, const struct lvs *l)
{
    mayastor__pool__init(&m->p);
    m->disk = lvs_disk_uri(l);
    m->p.name = (char *)l->name;
    m->p.n_disks = m->disk ? 1 : 0;
    m->p.disks = &m->disk;
    m->p.state = MAYASTOR__POOL_STATE__POOL_ONLINE;
    m->p.capacity = lvs_capacity(l);
    m->p.used = lvs_used(l);
}

static void v0_pool_reply(struct lvs_call *c, const struct lvs *l)
{
    struct v0_pool_msg m;
    v0_pool_fill(&m, l);
    rpc_reply(c->call, &m.p.base);
    free(m.disk);
    lvs_call_finish(c);
}

static void v0_pool_created(void *arg, int rc, struct lvs *l, const char *errmsg)
{
    struct v0ctx *x = arg;
    struct lvs_call *c = &x->c;
    if (rc == -EEXIST) {
        /* Idempotent: the pool exists already on that disk. */
        struct lvs *have = lvs_lookup(x->name);
        if (have) {
            v0_pool_reply(c, have);
            return;
        }
    }
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
    v0_pool_reply(c, l);
}

static void v0_do_create_pool(struct lvs_call *c)
{
    const Mayastor__CreatePoolRequest *r = (const void *)c->req;
    if (!r->n_disks) {
        lvs_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "Missing devices");
        return;
    }
    if (r->n_disks > 1) {
        lvs_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                      "invalid number of devices: a pool has one disk");
        return;
    }
    struct v0ctx *x = (struct v0ctx *)c;
    snprintf(x->name, sizeof(x->name), "%.63s", r->name);
    struct lvs_pool_args a = {.name = r->name, .disk = r->disks[0], .mode = LVS_CREATE_OR_IMPORT};
    lvs_create_or_import(&a, v0_pool_created, c);
}

static void v0_empty_done(void *arg, int rc, const char *errmsg)
{
    struct lvs_call *c = arg;
    if (rc) {
        lvs_call_fail_errno(c, rc, errmsg);
        return;
    }
    Mayastor__Null n = MAYASTOR__NULL__INIT;
    rpc_reply(c->call, &n.base);
    lvs_call_finish(c);
}

static void v0_do_destroy_pool(struct lvs_call *c)
{
    const Mayastor__DestroyPoolRequest *r = (const void *)c->req;
    struct lvs *l = lvs_lookup(r->name);
    if (!l) {
        v0_empty_done(c, 0, NULL); /* nothing to destroy */
        return;
    }
    lvs_destroy(l, false, v0_empty_done, c);
}

static void v0_do_list_pools(struct lvs_call *c)
{
    size_t n = lvs_count();
    struct v0_pool_msg *m = calloc(n ? n : 1, sizeof(*m));
    Mayastor__Pool **p = calloc(n ? n : 1, sizeof(*p));
    if (!m || !p) {
        free(m);
        free(p);
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    size_t k = 0;
    for (struct lvs *l = lvs_first(); l && k < n; l = lvs_next(l), k++) {
        v0_pool_fill(&m[k], l);
        p[k] = &m[k].p;
    }
    Mayastor__ListPoolsReply resp = MAYASTOR__LIST_POOLS_REPLY__INIT;
    resp.n_pools = k;
    resp.pools = p;
    rpc_reply(c->call, &resp.base);
    for (size_t i = 0; i < k; i++)
        free(m[i].disk);
    free(m);
    free(p);
    lvs_call_finish(c);
}

/* -- replicas -- */

struct v0_replica_msg {
    Mayastor__Replica r;
    Mayastor__ReplicaV2 r2;
    Mayastor__ReplicaSpaceUsage u;
    char *uri;
};

static void v0_replica_fill(struct v0_replica_msg *m, const struct lvol *lv)
{
    struct lvol_usage us;
    lvol_get_usage(lv, &us);
    m->uri = lvol_share_uri(lv);
    Mayastor__ShareProtocolReplica share = lv->share == LVOL_SHARE_NVMF
                                               ? MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NVMF
                                               : MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NONE;
    mayastor__replica__init(&m->r);
    m->r.uuid = (char *)lv->name; /* v0: the replica's "uuid" is its name */
    m->r.pool = (char *)lv->lvs->name;
    m->r.thin = lvol_is_thin(lv);
    m->r.size = lvol_size(lv);
    m->r.share = share;
    m->r.uri = m->uri ? m->uri : "";
    m->r.n_allowed_hosts = lv->n_allowed_hosts;
    m->r.allowed_hosts = lv->allowed_hosts;
    mayastor__replica_space_usage__init(&m->u);
    m->u.capacity_bytes = us.capacity_bytes;
    m->u.allocated_bytes = us.allocated_bytes;
    m->u.cluster_size = us.cluster_size;
    m->u.num_clusters = us.num_clusters;
    m->u.num_allocated_clusters = us.num_allocated_clusters;
    mayastor__replica_v2__init(&m->r2);
    m->r2.name = (char *)lv->name;
    m->r2.uuid = (char *)lv->uuid_str;
    m->r2.pool = (char *)lv->lvs->name;
    m->r2.thin = m->r.thin;
    m->r2.size = us.capacity_bytes;
    m->r2.share = share;
    m->r2.uri = m->r.uri;
    m->r2.usage = &m->u;
    m->r2.n_allowed_hosts = lv->n_allowed_hosts;
    m->r2.allowed_hosts = lv->allowed_hosts;
}

static void v0_replica_reply(struct lvs_call *c, const struct lvol *lv, bool v2)
{
    struct v0_replica_msg m;
    v0_replica_fill(&m, lv);
    rpc_reply(c->call, v2 ? &m.r2.base : &m.r.base);
    free(m.uri);
    lvs_call_finish(c);
}

static void v0_replica_shared(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct lvs_call *c = arg;
    if (rc) {
        lvs_call_fail(c, rc == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_INTERNAL,
                      errmsg);
        return;
    }
    v0_replica_reply(c, lv, c->req->descriptor == &mayastor__create_replica_request_v2__descriptor);
}

static void v0_replica_created(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct lvs_call *c = arg;
    bool v2 = c->req->descriptor == &mayastor__create_replica_request_v2__descriptor;
    int share = v2 ? ((const Mayastor__CreateReplicaRequestV2 *)c->req)->share
                   : ((const Mayastor__CreateReplicaRequest *)c->req)->share;
    if (rc) {
        /* v0 reports creation errors as upstream: ENOSPC exhausted, the rest invalid. */
        grpc_status_code code = rc == -ENOSPC ? GRPC_STATUS_RESOURCE_EXHAUSTED
                                : rc == -EEXIST ? GRPC_STATUS_ALREADY_EXISTS
                                : rc == -EALREADY ? GRPC_STATUS_ABORTED
                                                  : lvs_grpc_status(rc);
        lvs_call_fail(c, code, errmsg ? errmsg : strerror(-rc));
        return;
    }
    if (share == MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NVMF) {
        size_t n = v2 ? ((const Mayastor__CreateReplicaRequestV2 *)c->req)->n_allowed_hosts
                      : ((const Mayastor__CreateReplicaRequest *)c->req)->n_allowed_hosts;
        char **h = v2 ? ((const Mayastor__CreateReplicaRequestV2 *)c->req)->allowed_hosts
                      : ((const Mayastor__CreateReplicaRequest *)c->req)->allowed_hosts;
        /* a v0 replica is named after the request's uuid */
        lvol_share_new(lv, (const char *const *)h, n, lv->name, v0_replica_shared, c);
        return;
    }
    v0_replica_reply(c, lv, v2);
}

static void v0_create_replica_common(struct lvs_call *c, const char *name, const char *uuid,
                                     const char *pool, uint64_t size, bool thin, int share,
                                     bool v2)
{
    struct lvs *l = lvs_lookup(pool);
    if (!l) {
        char msg[LVS_ERRMSG_LEN];
        snprintf(msg, sizeof(msg), "Pool %s not found", pool);
        lvs_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, msg);
        return;
    }
    struct bdev *b = bdev_lookup(name);
    if (b) {
        struct lvol *lv = lvol_from_bdev(b);
        if (!lv) {
            char msg[LVS_ERRMSG_LEN];
            snprintf(msg, sizeof(msg), "bdev %s is not a lvol", name);
            lvs_call_fail(c, GRPC_STATUS_INTERNAL, msg);
            return;
        }
        v0_replica_reply(c, lv, v2); /* idempotent by name */
        return;
    }
    if (share != MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NONE &&
        share != MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NVMF) {
        char msg[128];
        snprintf(msg, sizeof(msg), "invalid replica share protocol value: %d", share);
        lvs_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, msg);
        return;
    }
    if (!lvs_call_lock_pool(c, l))
        return;
    struct v0ctx *x = (struct v0ctx *)c;
    snprintf(x->name, sizeof(x->name), "%.63s", name);
    struct lvol_create_args a = {.name = name, .uuid = uuid, .size = size, .thin = thin};
    lvol_create(l, &a, v0_replica_created, c);
}

static void v0_do_create_replica(struct lvs_call *c)
{
    const Mayastor__CreateReplicaRequest *r = (const void *)c->req;
    v0_create_replica_common(c, r->uuid, NULL, r->pool, r->size, r->thin, r->share, false);
}

static void v0_do_create_replica_v2(struct lvs_call *c)
{
    const Mayastor__CreateReplicaRequestV2 *r = (const void *)c->req;
    v0_create_replica_common(c, r->name, r->uuid, r->pool, r->size, r->thin, r->share, true);
}

static void v0_do_destroy_replica(struct lvs_call *c)
{
    const Mayastor__DestroyReplicaRequest *r = (const void *)c->req;
    struct bdev *b = bdev_lookup(r->uuid);
    if (!b) {
        v0_empty_done(c, 0, NULL); /* nothing to destroy */
        return;
    }
    struct lvol *lv = lvol_from_bdev(b);
    if (!lv) {
        char msg[LVS_ERRMSG_LEN];
        snprintf(msg, sizeof(msg), "bdev %s is not a lvol", r->uuid);
        lvs_call_fail(c, GRPC_STATUS_INTERNAL, msg);
        return;
    }
    if (lvs_call_lock_pool(c, lv->lvs))
        lvol_destroy(lv, v0_empty_done, c);
}

/* Every registered lvol, in pool order. */
static size_t v0_lvols(struct lvol ***out)
{
    size_t n = 0;
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
        n += l->n_lvols;
    struct lvol **v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return SIZE_MAX;
    size_t k = 0;
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
        for (struct lvol *lv = l->lvols; lv && k < n; lv = lv->next)
            if (lv->bdev)
                v[k++] = lv;
    *out = v;
    return k;
}

static void v0_list_replicas_any(struct lvs_call *c, bool v2)
{
    struct lvol **lvols;
    size_t n = v0_lvols(&lvols);
    struct v0_replica_msg *m = n == SIZE_MAX ? NULL : calloc(n ? n : 1, sizeof(*m));
    void **p = n == SIZE_MAX ? NULL : calloc(n ? n : 1, sizeof(*p));
    if (!m || !p) {
        if (n != SIZE_MAX)
            free(lvols);
        free(m);
        free(p);
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        v0_replica_fill(&m[i], lvols[i]);
        p[i] = v2 ? (void *)&m[i].r2 : (void *)&m[i].r;
    }
    if (v2) {
        Mayastor__ListReplicasReplyV2 resp = MAYASTOR__LIST_REPLICAS_REPLY_V2__INIT;
        resp.n_replicas = n;
        resp.replicas = (Mayastor__ReplicaV2 **)p;
        rpc_reply(c->call, &resp.base);
    } else {
        Mayastor__ListReplicasReply resp = MAYASTOR__LIST_REPLICAS_REPLY__INIT;
        resp.n_replicas = n;
        resp.replicas = (Mayastor__Replica **)p;
        rpc_reply(c->call, &resp.base);
    }
    for (size_t i = 0; i < n; i++)
        free(m[i].uri);
    free(m);
    free(p);
    free(lvols);
    lvs_call_finish(c);
}

static void v0_do_list_replicas(struct lvs_call *c) { v0_list_replicas_any(c, false); }
static void v0_do_list_replicas_v2(struct lvs_call *c) { v0_list_replicas_any(c, true); }

static void v0_do_stat_replicas(struct lvs_call *c)
{
    struct lvol **lvols;
    size_t n = v0_lvols(&lvols);
    Mayastor__ReplicaStats *rs = n == SIZE_MAX ? NULL : calloc(n ? n : 1, sizeof(*rs));
    Mayastor__Stats *st = n == SIZE_MAX ? NULL : calloc(n ? n : 1, sizeof(*st));
    Mayastor__ReplicaStats **p = n == SIZE_MAX ? NULL : calloc(n ? n : 1, sizeof(*p));
    if (!rs || !st || !p) {
        if (n != SIZE_MAX)
            free(lvols);
        free(rs);
        free(st);
        free(p);
        lvs_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct bdev_io_stats s;
        bdev_get_stats(lvols[i]->bdev, &s);
        mayastor__stats__init(&st[i]);
        st[i].num_read_ops = s.num_read_ops;
        st[i].num_write_ops = s.num_write_ops;
        st[i].bytes_read = s.bytes_read;
        st[i].bytes_written = s.bytes_written;
        mayastor__replica_stats__init(&rs[i]);
        rs[i].uuid = lvols[i]->name;
        rs[i].pool = lvols[i]->lvs->name;
        rs[i].stats = &st[i];
        p[i] = &rs[i];
    }
    Mayastor__StatReplicasReply resp = MAYASTOR__STAT_REPLICAS_REPLY__INIT;
    resp.n_replicas = n;
    resp.replicas = p;
    rpc_reply(c->call, &resp.base);
    free(rs);
    free(st);
    free(p);
    free(lvols);
    lvs_call_finish(c);
}

static void create_pool(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_pool_serial, true, v0_do_create_pool);
}
static void destroy_pool(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_pool_serial, true, v0_do_destroy_pool);
}
static void list_pools(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_pool_serial, true, v0_do_list_pools);
}
static void create_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, true, v0_do_create_replica);
}
static void create_replica_v2(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, true, v0_do_create_replica_v2);
}
/* ShareReplica: REPLICA_NVMF shares (or replaces the allowed hosts), REPLICA_NONE
 * unshares; the answer is the share URI. */
static void v0_share_done(void *arg, int rc, const char *errmsg)
{
    struct v0ctx *x = arg;
    if (rc) {
        lvs_call_fail(&x->c, rc == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_INTERNAL,
                      errmsg ? errmsg : strerror(-rc));
        return;
    }
    struct lvol *lv = lvol_find_uuid(x->uuid);
    char *uri = lv ? lvol_share_uri(lv) : NULL;
    if (!uri) {
        lvs_call_fail(&x->c, GRPC_STATUS_INTERNAL, "the replica disappeared");
        return;
    }
    Mayastor__ShareReplicaReply resp = MAYASTOR__SHARE_REPLICA_REPLY__INIT;
    resp.uri = uri;
    rpc_reply(x->c.call, &resp.base);
    free(uri);
    lvs_call_finish(&x->c);
}

static void v0_do_share_replica(struct lvs_call *c)
{
    const Mayastor__ShareReplicaRequest *r = (const void *)c->req;
    struct lvol *lv = NULL;
    if (r->uuid && *r->uuid && !(lv = lvol_find_uuid(r->uuid)))
        lv = lvol_lookup_name(r->uuid);
    if (lv && lvol_is_snapshot(lv))
        lv = NULL;
    if (!lv) {
        char msg[LVS_ERRMSG_LEN];
        snprintf(msg, sizeof(msg), "replica %s not found", r->uuid ? r->uuid : "");
        lvs_call_fail(c, GRPC_STATUS_NOT_FOUND, msg);
        return;
    }
    if (r->share != MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NONE &&
        r->share != MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NVMF) {
        char msg[128];
        snprintf(msg, sizeof(msg), "invalid replica share protocol value: %d", r->share);
        lvs_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, msg);
        return;
    }
    if (!lvs_call_lock_pool(c, lv->lvs))
        return;
    struct v0ctx *x = (struct v0ctx *)c;
    memcpy(x->uuid, lv->uuid_str, sizeof(x->uuid));
    if (r->share == MAYASTOR__SHARE_PROTOCOL_REPLICA__REPLICA_NONE)
        lvol_unshare(lv, v0_share_done, x);
    else
        lvol_share(lv, (const char *const *)r->allowed_hosts, r->n_allowed_hosts, v0_share_done, x);
}

static void share_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, true, v0_do_share_replica);
}

static void destroy_replica(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, true, v0_do_destroy_replica);
}
static void list_replicas(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, false, v0_do_list_replicas);
}
static void list_replicas_v2(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, false, v0_do_list_replicas_v2);
}
static void stat_replicas(struct rpc_call *c, const ProtobufCMessage *r)
{
    v0_submit(c, r, &lvs_replica_serial, false, v0_do_stat_replicas);
}

static const struct rpc_handler handlers[] = {
    {"GetMayastorInfo", get_info, false},
    {"GetResourceUsage", get_usage, false},
    {"ListBlockDevices", list_block_devices, false},
    {"ListNvmeControllers", list_ctrlrs, false},
    {"StatNvmeControllers", stat_ctrlrs, false},
    {"CreatePool", create_pool, false},
    {"DestroyPool", destroy_pool, false},
    {"ListPools", list_pools, false},
    {"CreateReplica", create_replica, false},
    {"CreateReplicaV2", create_replica_v2, false},
    {"DestroyReplica", destroy_replica, false},
    {"ListReplicas", list_replicas, false},
    {"ListReplicasV2", list_replicas_v2, false},
    {"StatReplicas", stat_replicas, false},
    {"ShareReplica", share_replica, false},
};

const struct rpc_service svc_v0_mayastor = {
    .desc = &mayastor__mayastor__descriptor,
    .alias = "v0.mayastor.Mayastor",
    .version = API_V0,
    .capability = "replica sharing (the NVMe-oF target), nexus and snapshots",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

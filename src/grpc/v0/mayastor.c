/* mayastor.Mayastor (v0): the legacy all-in-one service. Host queries are served now;
 * pool, replica, nexus and snapshot methods answer UNIMPLEMENTED until built. */
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "grpc/host_common.h"
#include "host/nvme_ctrlr_registry.h"
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

static const struct rpc_handler handlers[] = {
    {"GetMayastorInfo", get_info, false},
    {"GetResourceUsage", get_usage, false},
    {"ListBlockDevices", list_block_devices, false},
    {"ListNvmeControllers", list_ctrlrs, false},
    {"StatNvmeControllers", stat_ctrlrs, false},
};

const struct rpc_service svc_v0_mayastor = {
    .desc = &mayastor__mayastor__descriptor,
    .alias = "v0.mayastor.Mayastor",
    .version = API_V0,
    .capability = "pools, replicas, nexus and snapshots",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

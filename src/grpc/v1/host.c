/* mayastor.v1.HostRpc: facts about this node and engine.
 * ListBlockDevices enumerates off the reactor (host_common.c). */
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "grpc/host_common.h"
#include "host.pb-c.h"
#include "host/nvme_ctrlr_registry.h"
#include "version.h"

/* ---- GetMayastorInfo ---- */

static void get_info(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    Mayastor__V1__MayastorInfoResponse resp = MAYASTOR__V1__MAYASTOR_INFO_RESPONSE__INIT;
    Mayastor__V1__BackCompatMayastorFeatures prev = MAYASTOR__V1__BACK_COMPAT_MAYASTOR_FEATURES__INIT;
    Mayastor__V1__RegisterRequest reg = MAYASTOR__V1__REGISTER_REQUEST__INIT;
    Mayastor__V1__MayastorFeatures feat = MAYASTOR__V1__MAYASTOR_FEATURES__INIT;
    Mayastor__V1__MayastorBugFixes fixes = MAYASTOR__V1__MAYASTOR_BUG_FIXES__INIT;
    Google__Protobuf__StringValue inst = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Google__Protobuf__StringValue nqn = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Mayastor__V1__APIVersion versions[2];
    size_t nv = 0;

    if (g_env.args.api_versions & API_V0)
        versions[nv++] = MAYASTOR__V1__APIVERSION__V0;
    if (g_env.args.api_versions & API_V1)
        versions[nv++] = MAYASTOR__V1__APIVERSION__V1;

    prev.asymmetricnamespaceaccess = g_env.ana_enabled;
    feat.asymmetricnamespaceaccess = g_env.ana_enabled;
    /* Features this engine does not have are reported present-and-false, so a control
     * plane never schedules work that needs them. */
    feat._logical_volume_manager_case = MAYASTOR__V1__MAYASTOR_FEATURES___LOGICAL_VOLUME_MANAGER_LOGICAL_VOLUME_MANAGER;
    feat.logicalvolumemanager = false;
    feat._snapshot_rebuild_case = MAYASTOR__V1__MAYASTOR_FEATURES___SNAPSHOT_REBUILD_SNAPSHOT_REBUILD;
    feat.snapshotrebuild = false;
    feat._rdma_capable_io_engine_case = MAYASTOR__V1__MAYASTOR_FEATURES___RDMA_CAPABLE_IO_ENGINE_RDMA_CAPABLE_IO_ENGINE;
    feat.rdmacapableioengine = false;
    fixes.nexusrebuildreplicaancestry = true;

    inst.value = g_env.instance_uuid;
    nqn.value = g_env.host_nqn;
    reg.id = g_env.args.node_name;
    reg.grpc_endpoint = g_env.grpc_endpoint;
    reg.instance_uuid = &inst;
    reg.n_api_version = nv;
    reg.api_version = versions;
    reg.hostnqn = &nqn;
    reg._features_case = MAYASTOR__V1__REGISTER_REQUEST___FEATURES_FEATURES;
    reg.features = &feat;
    reg._bugfixes_case = MAYASTOR__V1__REGISTER_REQUEST___BUGFIXES_BUGFIXES;
    reg.bugfixes = &fixes;
    reg._version_case = MAYASTOR__V1__REGISTER_REQUEST___VERSION_VERSION;
    reg.version = (char *)IO_ENGINE_VERSION;

    resp.version = (char *)IO_ENGINE_VERSION;
    resp.previous_features = &prev;
    resp.registration_info = &reg;
    rpc_reply(call, &resp.base);
}

/* ---- GetMayastorResourceUsage ---- */

static void get_usage(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    struct rusage ru;
    if (!host_rusage(call, &ru))
        return;
    Mayastor__V1__ResourceUsage u = MAYASTOR__V1__RESOURCE_USAGE__INIT;
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
    Mayastor__V1__GetMayastorResourceUsageResponse resp =
        MAYASTOR__V1__GET_MAYASTOR_RESOURCE_USAGE_RESPONSE__INIT;
    resp.usage = &u;
    rpc_reply(call, &resp.base);
}

/* ---- ListBlockDevices ---- */

static void reply_block_devices(struct rpc_call *call, const struct blk_device_list *list)
{
    size_t n = list->n;
    Mayastor__V1__BlockDevice *devs = calloc(n ? n : 1, sizeof(*devs));
    Mayastor__V1__BlockDevice **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    Mayastor__V1__BlockDevice__Partition *parts = calloc(n ? n : 1, sizeof(*parts));
    Mayastor__V1__BlockDevice__Filesystem *fss = calloc(n ? n : 1, sizeof(*fss));
    if (!devs || !ptrs || !parts || !fss) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct blk_device *d = &list->devs[i];
        Mayastor__V1__BlockDevice *o = &devs[i];
        mayastor__v1__block_device__init(o);
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
        o->connection_type = d->connection_type;
        if (d->has_rotational) {
            o->_is_rotational_case = MAYASTOR__V1__BLOCK_DEVICE___IS_ROTATIONAL_IS_ROTATIONAL;
            o->is_rotational = d->is_rotational;
        }
        if (d->has_partition) {
            mayastor__v1__block_device__partition__init(&parts[i]);
            parts[i].parent = d->partition.parent;
            parts[i].number = d->partition.number;
            parts[i].name = d->partition.name;
            parts[i].scheme = d->partition.scheme;
            parts[i].typeid_ = d->partition.typeid;
            parts[i].uuid = d->partition.uuid;
            o->partition = &parts[i];
        }
        if (d->has_filesystem) {
            mayastor__v1__block_device__filesystem__init(&fss[i]);
            fss[i].fstype = d->filesystem.fstype;
            fss[i].label = d->filesystem.label;
            fss[i].uuid = d->filesystem.uuid;
            fss[i].n_mountpoints = d->filesystem.n_mountpoints;
            fss[i].mountpoints = d->filesystem.mountpoints;
            o->filesystem = &fss[i];
        }
        ptrs[i] = o;
    }
    Mayastor__V1__ListBlockDevicesResponse resp = MAYASTOR__V1__LIST_BLOCK_DEVICES_RESPONSE__INIT;
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
    const Mayastor__V1__ListBlockDevicesRequest *r = (const void *)req;
    host_list_block_devices(call, r->all, reply_block_devices);
}

/* ---- NVMe controllers ---- */

static Mayastor__V1__NvmeControllerState ctrlr_state(enum nvme_ctrlr_state s)
{
    return (Mayastor__V1__NvmeControllerState)s; /* same numbering as the proto enum */
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
    Mayastor__V1__NvmeController *c = calloc(n ? n : 1, sizeof(*c));
    Mayastor__V1__NvmeController **p = calloc(n ? n : 1, sizeof(*p));
    if (!c || !p) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
    } else {
        for (size_t i = 0; i < n; i++) {
            mayastor__v1__nvme_controller__init(&c[i]);
            c[i].name = infos[i].name;
            c[i].state = ctrlr_state(infos[i].state);
            c[i].size = infos[i].size;
            c[i].blk_size = infos[i].blk_size;
            p[i] = &c[i];
        }
        Mayastor__V1__ListNvmeControllersResponse resp =
            MAYASTOR__V1__LIST_NVME_CONTROLLERS_RESPONSE__INIT;
        resp.n_controllers = n;
        resp.controllers = p;
        rpc_reply(call, &resp.base);
    }
    free(c);
    free(p);
    free(infos);
}

static void stat_ctrlr(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__StatNvmeControllerRequest *r = (const void *)req;
    struct nvme_ctrlr_info info;
    if (nvme_ctrlr_registry_find(r->name, &info)) {
        rpc_fail(call, GRPC_STATUS_NOT_FOUND, "NVMe controller '%s' not found", r->name);
        return;
    }
    Mayastor__V1__NvmeControllerIoStats st = MAYASTOR__V1__NVME_CONTROLLER_IO_STATS__INIT;
    st.num_read_ops = info.stats.num_read_ops;
    st.num_write_ops = info.stats.num_write_ops;
    st.bytes_read = info.stats.bytes_read;
    st.bytes_written = info.stats.bytes_written;
    st.num_unmap_ops = info.stats.num_unmap_ops;
    st.bytes_unmapped = info.stats.bytes_unmapped;
    Mayastor__V1__StatNvmeControllerResponse resp = MAYASTOR__V1__STAT_NVME_CONTROLLER_RESPONSE__INIT;
    resp.stats = &st;
    rpc_reply(call, &resp.base);
}

static const struct rpc_handler handlers[] = {
    {"GetMayastorInfo", get_info, false},
    {"ListBlockDevices", list_block_devices, false},
    {"GetMayastorResourceUsage", get_usage, false},
    {"ListNvmeControllers", list_ctrlrs, false},
    {"StatNvmeController", stat_ctrlr, false},
};

const struct rpc_service svc_v1_host = {
    .desc = &mayastor__v1__host_rpc__descriptor,
    .alias = "v1.host.HostRpc",
    .version = API_V1,
    .capability = "host information",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

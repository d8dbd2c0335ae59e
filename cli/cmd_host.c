/* "host" commands: node-level queries of mayastor.v1.HostRpc. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "host.pb-c.h"
#include "output.h"
#include "pbjson.h"

static int call_and_emit(struct cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *desc,
                         void (*table_view)(const ProtobufCMessage *reply))
{
    return cli_call_emit(ctx, "mayastor.v1.HostRpc", method, req, desc, table_view);
}

/* ---- host info --------------------------------------------------------------------- */

static void info_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__MayastorInfoResponse *r = (const void *)msg;
    const Mayastor__V1__RegisterRequest *reg = r->registration_info;
    struct table *t = table_new((const char *[]){"PROPERTY", "VALUE", NULL});

    table_row(t);
    table_cell_str(t, "version");
    table_cell_str(t, r->version);
    if (reg) {
        table_row(t);
        table_cell_str(t, "node id");
        table_cell_str(t, reg->id);
        table_row(t);
        table_cell_str(t, "grpc endpoint");
        table_cell_str(t, reg->grpc_endpoint);
        table_row(t);
        table_cell_str(t, "instance uuid");
        table_cell_str(t, reg->instance_uuid ? reg->instance_uuid->value : NULL);

        /* Enum names come from the descriptor so a new API version needs no change. */
        char apis[128] = "";
        size_t n = 0;
        for (size_t i = 0; i < reg->n_api_version && n < sizeof(apis); i++) {
            const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
                &mayastor__v1__apiversion__descriptor, (int)reg->api_version[i]);
            n += (size_t)snprintf(apis + n, sizeof(apis) - n, "%s%s", i ? ", " : "",
                                  v ? v->name : "?");
        }
        table_row(t);
        table_cell_str(t, "api versions");
        table_cell_str(t, apis);
        table_row(t);
        table_cell_str(t, "host nqn");
        table_cell_str(t, reg->hostnqn ? reg->hostnqn->value : NULL);

        char *s = pb_summary(reg->_features_case ? &reg->features->base : NULL);
        table_row(t);
        table_cell_str(t, "features");
        table_cell_str(t, s);
        free(s);
        s = pb_summary(reg->_bugfixes_case ? &reg->bugfixes->base : NULL);
        table_row(t);
        table_cell_str(t, "bug fixes");
        table_cell_str(t, s);
        free(s);
    } else if (r->previous_features) {
        /* An engine without registration info still reports the old feature set. */
        char *s = pb_summary(&r->previous_features->base);
        table_row(t);
        table_cell_str(t, "features");
        table_cell_str(t, s);
        free(s);
    }
    table_print(t, stdout);
    table_free(t);
}

static int run_info(struct cli_ctx *ctx)
{
    return call_and_emit(ctx, "GetMayastorInfo", NULL,
                         &mayastor__v1__mayastor_info_response__descriptor, info_table);
}

/* ---- host block-devices ------------------------------------------------------------ */

static void join(char *buf, size_t len, char *const *items, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", items[i]);
}

static void block_devices_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListBlockDevicesResponse *r = (const void *)msg;
    struct table *t = table_new((const char *[]){"DEVNAME", "DEVTYPE", ">SIZE", "AVAILABLE",
                                                 "MODEL", "DEVPATH", ">MAJOR", ">MINOR",
                                                 "FSTYPE", "FSUUID", "MOUNTPOINTS", NULL});
    table_set_empty(t, "No block devices found");
    for (size_t i = 0; i < r->n_devices; i++) {
        const Mayastor__V1__BlockDevice *d = r->devices[i];
        const Mayastor__V1__BlockDevice__Filesystem *fs = d->filesystem;
        char size[32], mounts[1024];
        /* The API reports sizes in 512-byte sectors regardless of the logical block size. */
        human_size(d->size * 512, size, sizeof(size));
        join(mounts, sizeof(mounts), fs ? fs->mountpoints : NULL, fs ? fs->n_mountpoints : 0);
        table_row(t);
        table_cell_str(t, d->devname);
        table_cell_str(t, d->devtype);
        table_cell_str(t, size);
        table_cell_str(t, d->available ? "yes" : "no");
        table_cell_str(t, d->model);
        table_cell_str(t, d->devpath);
        table_cell(t, "%u", d->devmajor);
        table_cell(t, "%u", d->devminor);
        table_cell_str(t, fs ? fs->fstype : NULL);
        table_cell_str(t, fs ? fs->uuid : NULL);
        table_cell_str(t, mounts);
    }
    table_print(t, stdout);
    table_free(t);
}

static int run_block_devices(struct cli_ctx *ctx)
{
    Mayastor__V1__ListBlockDevicesRequest req = MAYASTOR__V1__LIST_BLOCK_DEVICES_REQUEST__INIT;
    req.all = cli_flag(ctx, "all");
    return call_and_emit(ctx, "ListBlockDevices", &req.base,
                         &mayastor__v1__list_block_devices_response__descriptor,
                         block_devices_table);
}

/* ---- host resource-usage ----------------------------------------------------------- */

/* One row whose columns are the ResourceUsage fields, in proto order, named after them:
 * a field added to the proto shows up without a change here. */
static void resource_usage_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__GetMayastorResourceUsageResponse *r = (const void *)msg;
    const ProtobufCMessageDescriptor *d = &mayastor__v1__resource_usage__descriptor;
    const char **headers = xcalloc(d->n_fields + 1, sizeof(char *));
    char (*names)[64] = xcalloc(d->n_fields, sizeof(*names));
    for (unsigned i = 0; i < d->n_fields; i++) {
        names[i][0] = '>';
        for (size_t k = 0; d->fields[i].name[k] && k + 2 < sizeof(names[i]); k++)
            names[i][k + 1] = (char)toupper((unsigned char)d->fields[i].name[k]);
        headers[i] = names[i];
    }
    struct table *t = table_new(headers);
    table_set_empty(t, "No resource usage reported");
    if (r->usage) {
        table_row(t);
        for (unsigned i = 0; i < d->n_fields; i++) {
            char v[64];
            pb_field_str(&r->usage->base, &d->fields[i], v, sizeof(v));
            table_cell_str(t, v);
        }
    }
    table_print(t, stdout);
    table_free(t);
    free(names);
    free(headers);
}

static int run_resource_usage(struct cli_ctx *ctx)
{
    return call_and_emit(ctx, "GetMayastorResourceUsage", NULL,
                         &mayastor__v1__get_mayastor_resource_usage_response__descriptor,
                         resource_usage_table);
}

/* ---- host nvme-controllers --------------------------------------------------------- */

static void nvme_controllers_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListNvmeControllersResponse *r = (const void *)msg;
    struct table *t = table_new((const char *[]){"NAME", "STATE", ">SIZE", ">BLK_SIZE", NULL});
    table_set_empty(t, "No NVMe controllers found");
    for (size_t i = 0; i < r->n_controllers; i++) {
        const Mayastor__V1__NvmeController *c = r->controllers[i];
        const ProtobufCEnumValue *st = protobuf_c_enum_descriptor_get_value(
            &mayastor__v1__nvme_controller_state__descriptor, (int)c->state);
        char size[32];
        human_size(c->size, size, sizeof(size));
        table_row(t);
        table_cell_str(t, c->name);
        if (st)
            table_cell_str(t, st->name);
        else
            table_cell(t, "%d", (int)c->state);
        table_cell_str(t, size);
        table_cell(t, "%u", c->blk_size);
    }
    table_print(t, stdout);
    table_free(t);
}

static int run_nvme_controllers(struct cli_ctx *ctx)
{
    return call_and_emit(ctx, "ListNvmeControllers", NULL,
                         &mayastor__v1__list_nvme_controllers_response__descriptor,
                         nvme_controllers_table);
}

/* ---- host nvme-controller-stats ---------------------------------------------------- */

static void nvme_stats_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__StatNvmeControllerResponse *r = (const void *)msg;
    const Mayastor__V1__NvmeControllerIoStats *s = r->stats;
    struct table *t = table_new((const char *[]){">READS", ">WRITES", ">UNMAPS", ">READ", ">WRITTEN",
                                                 ">UNMAPPED", NULL});
    char rd[32], wr[32], um[32];
    human_size(s ? s->bytes_read : 0, rd, sizeof(rd));
    human_size(s ? s->bytes_written : 0, wr, sizeof(wr));
    human_size(s ? s->bytes_unmapped : 0, um, sizeof(um));
    table_row(t);
    table_cell(t, "%llu", (unsigned long long)(s ? s->num_read_ops : 0));
    table_cell(t, "%llu", (unsigned long long)(s ? s->num_write_ops : 0));
    table_cell(t, "%llu", (unsigned long long)(s ? s->num_unmap_ops : 0));
    table_cell_str(t, rd);
    table_cell_str(t, wr);
    table_cell_str(t, um);
    table_print(t, stdout);
    table_free(t);
}

static int run_nvme_stats(struct cli_ctx *ctx)
{
    Mayastor__V1__StatNvmeControllerRequest req = MAYASTOR__V1__STAT_NVME_CONTROLLER_REQUEST__INIT;
    req.name = ctx->pos[0];
    return call_and_emit(ctx, "StatNvmeController", &req.base,
                         &mayastor__v1__stat_nvme_controller_response__descriptor, nvme_stats_table);
}

/* ---- the group --------------------------------------------------------------------- */

static const struct cli_cmd host_info = {
    .name = "info",
    .summary = "engine version, node id, endpoint, API versions, NQN and features",
    .description = "Shows what the io-engine reports about itself (HostRpc.GetMayastorInfo).",
    .run = run_info,
};

static const struct cli_opt block_devices_opts[] = {
    {"all", 'a', NULL, "also list devices that are in use (mounted, partitioned, ...)"},
    {0},
};

static const struct cli_cmd host_block_devices = {
    .name = "block-devices",
    .summary = "block devices on the host (available ones unless --all)",
    .description = "Lists the host's block devices (HostRpc.ListBlockDevices). SIZE is shown in\n"
                   "binary units; -o json gives the raw `size` in 512-byte sectors.",
    .opts = block_devices_opts,
    .run = run_block_devices,
};

static const struct cli_cmd host_resource_usage = {
    .name = "resource-usage",
    .summary = "resource usage (getrusage) of the io-engine process",
    .description = "Shows the io-engine's process resource usage\n"
                   "(HostRpc.GetMayastorResourceUsage).",
    .run = run_resource_usage,
};

static const struct cli_cmd host_nvme_controllers = {
    .name = "nvme-controllers",
    .summary = "NVMe controllers of the engine's initiator",
    .description = "Lists the NVMe (initiator) controllers of the io-engine\n"
                   "(HostRpc.ListNvmeControllers). SIZE is the namespace size.",
    .run = run_nvme_controllers,
};

static const struct cli_cmd host_nvme_stats = {
    .name = "nvme-controller-stats",
    .summary = "I/O counters of one NVMe controller of the initiator",
    .args_usage = "NAME",
    .description = "Shows the I/O counters of an NVMe (initiator) controller, NAME as\n"
                   "nvme-controllers lists it: host:port/subnqn (HostRpc.StatNvmeController).",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_nvme_stats,
};

static const struct cli_cmd *const host_subs[] = {
    &host_info, &host_block_devices, &host_resource_usage, &host_nvme_controllers,
    &host_nvme_stats, NULL,
};

const struct cli_cmd cli_cmd_host = {
    .name = "host",
    .summary = "node information: info, block devices, resource usage, NVMe controllers",
    .description = "Node-level queries (mayastor.v1.HostRpc).",
    .subs = host_subs,
};

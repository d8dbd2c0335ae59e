/* "pool" commands: storage pools of mayastor.v1.PoolRpc (create, import, list, destroy,
 * export, grow). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "output.h"
#include "pbjson.h"
#include "pool.pb-c.h"

#define SVC "mayastor.v1.PoolRpc"

static void pools_table(Mayastor__V1__Pool *const *pools, size_t n)
{
    struct table *t = table_new((const char *[]){"NAME", "UUID", "STATE", ">CAPACITY", ">USED",
                                                 ">COMMITTED", ">DISK_CAPACITY", ">CLUSTER",
                                                 "DISKS", NULL});
    table_set_empty(t, "No pools found");
    for (size_t i = 0; i < n; i++) {
        const Mayastor__V1__Pool *p = pools[i];
        char cap[32], used[32], com[32], disk[32], cl[32];
        human_size(p->capacity, cap, sizeof(cap));
        human_size(p->used, used, sizeof(used));
        human_size(p->committed, com, sizeof(com));
        human_size(p->disk_capacity, disk, sizeof(disk));
        human_size(p->cluster_size, cl, sizeof(cl));
        const ProtobufCEnumValue *st =
            protobuf_c_enum_descriptor_get_value(&mayastor__v1__pool_state__descriptor, p->state);
        table_row(t);
        table_cell_str(t, p->name);
        table_cell_str(t, p->uuid);
        table_cell_str(t, st ? st->name : "?");
        table_cell_str(t, cap);
        table_cell_str(t, used);
        table_cell_str(t, com);
        table_cell_str(t, disk);
        table_cell_str(t, cl);
        table_cell_str(t, p->n_disks ? p->disks[0] : NULL);
    }
    table_print(t, stdout);
    table_free(t);
}

static void pool_table(const ProtobufCMessage *msg)
{
    Mayastor__V1__Pool *p = (Mayastor__V1__Pool *)msg;
    pools_table(&p, 1);
}

static void list_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListPoolsResponse *r = (const void *)msg;
    pools_table(r->pools, r->n_pools);
}

static void grow_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__GrowPoolResponse *r = (const void *)msg;
    struct table *t = table_new((const char *[]){"", ">CAPACITY", ">USED", ">DISK_CAPACITY",
                                                 NULL});
    const Mayastor__V1__Pool *v[2] = {r->previous_pool, r->current_pool};
    static const char *const label[2] = {"before", "after"};
    for (int i = 0; i < 2; i++) {
        if (!v[i])
            continue;
        char cap[32], used[32], disk[32];
        human_size(v[i]->capacity, cap, sizeof(cap));
        human_size(v[i]->used, used, sizeof(used));
        human_size(v[i]->disk_capacity, disk, sizeof(disk));
        table_row(t);
        table_cell_str(t, label[i]);
        table_cell_str(t, cap);
        table_cell_str(t, used);
        table_cell_str(t, disk);
    }
    table_print(t, stdout);
    table_free(t);
}

static int run_create(struct cli_ctx *ctx)
{
    Mayastor__V1__CreatePoolRequest req = MAYASTOR__V1__CREATE_POOL_REQUEST__INIT;
    Google__Protobuf__StringValue uuid = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Mayastor__V1__PoolMetadataArgs md = MAYASTOR__V1__POOL_METADATA_ARGS__INIT;
    req.name = ctx->pos[0];
    req.n_disks = 1;
    req.disks = &ctx->pos[1];
    if ((uuid.value = (char *)cli_opt(ctx, "uuid")))
        req.uuid = &uuid;
    const char *cs = cli_opt(ctx, "cluster-size");
    if (cs) {
        uint64_t v;
        if (cli_parse_size(cs, &v) || v > UINT32_MAX)
            return cli_usage_error(ctx, "invalid --cluster-size '%s' (e.g. 4MiB)", cs);
        req._cluster_size_case = MAYASTOR__V1__CREATE_POOL_REQUEST___CLUSTER_SIZE_CLUSTER_SIZE;
        req.cluster_size = (uint32_t)v;
    }
    const char *ratio = cli_opt(ctx, "md-resv-ratio");
    if (ratio) {
        char *end;
        float r = strtof(ratio, &end);
        if (end == ratio || *end)
            return cli_usage_error(ctx, "invalid --md-resv-ratio '%s' (e.g. 2.0)", ratio);
        md._md_resv_ratio_case = MAYASTOR__V1__POOL_METADATA_ARGS___MD_RESV_RATIO_MD_RESV_RATIO;
        md.md_resv_ratio = r;
        req._md_args_case = MAYASTOR__V1__CREATE_POOL_REQUEST___MD_ARGS_MD_ARGS;
        req.md_args = &md;
    }
    return cli_call_emit(ctx, SVC, "CreatePool", &req.base, &mayastor__v1__pool__descriptor,
                         pool_table);
}

static int run_import(struct cli_ctx *ctx)
{
    Mayastor__V1__ImportPoolRequest req = MAYASTOR__V1__IMPORT_POOL_REQUEST__INIT;
    Google__Protobuf__StringValue uuid = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    req.name = ctx->pos[0];
    req.n_disks = 1;
    req.disks = &ctx->pos[1];
    if ((uuid.value = (char *)cli_opt(ctx, "uuid")))
        req.uuid = &uuid;
    return cli_call_emit(ctx, SVC, "ImportPool", &req.base, &mayastor__v1__pool__descriptor,
                         pool_table);
}

static int run_list(struct cli_ctx *ctx)
{
    Mayastor__V1__ListPoolOptions req = MAYASTOR__V1__LIST_POOL_OPTIONS__INIT;
    Google__Protobuf__StringValue name = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Google__Protobuf__StringValue uuid = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    if (ctx->n_pos) {
        name.value = ctx->pos[0];
        req.name = &name;
    }
    if ((uuid.value = (char *)cli_opt(ctx, "uuid")))
        req.uuid = &uuid;
    return cli_call_emit(ctx, SVC, "ListPools", &req.base,
                         &mayastor__v1__list_pools_response__descriptor, list_table);
}

/* Destroy, Export and Grow share the request layout {name, uuid}. */
#define NAME_UUID_REQ(type, init, ctx, req, uuidv)   \
    type req = init;                                 \
    Google__Protobuf__StringValue uuidv = GOOGLE__PROTOBUF__STRING_VALUE__INIT; \
    req.name = (ctx)->pos[0];                        \
    if ((uuidv.value = (char *)cli_opt((ctx), "uuid"))) \
        req.uuid = &uuidv

static int run_destroy(struct cli_ctx *ctx)
{
    NAME_UUID_REQ(Mayastor__V1__DestroyPoolRequest, MAYASTOR__V1__DESTROY_POOL_REQUEST__INIT, ctx,
                  req, uuid);
    return cli_call_emit(ctx, SVC, "DestroyPool", &req.base, &google__protobuf__empty__descriptor,
                         NULL);
}

static int run_export(struct cli_ctx *ctx)
{
    NAME_UUID_REQ(Mayastor__V1__ExportPoolRequest, MAYASTOR__V1__EXPORT_POOL_REQUEST__INIT, ctx,
                  req, uuid);
    return cli_call_emit(ctx, SVC, "ExportPool", &req.base, &google__protobuf__empty__descriptor,
                         NULL);
}

static int run_grow(struct cli_ctx *ctx)
{
    NAME_UUID_REQ(Mayastor__V1__GrowPoolRequest, MAYASTOR__V1__GROW_POOL_REQUEST__INIT, ctx, req,
                  uuid);
    return cli_call_emit(ctx, SVC, "GrowPool", &req.base,
                         &mayastor__v1__grow_pool_response__descriptor, grow_table);
}

static const struct cli_opt create_opts[] = {
    {"uuid", 'u', "UUID", "the pool's uuid (random by default; checked on import)"},
    {"cluster-size", 'c', "SIZE", "allocation unit: a multiple of 1MiB up to 1GiB (default 4MiB)"},
    {"md-resv-ratio", 0, "RATIO", "metadata reservation relative to the default (> 0, e.g. 2.0)"},
    {0},
};

static const struct cli_opt uuid_opt[] = {
    {"uuid", 'u', "UUID", "the pool's uuid, which must match too"},
    {0},
};

static const struct cli_opt list_opts[] = {
    {"uuid", 'u', "UUID", "only the pool with this uuid"},
    {0},
};

static const struct cli_cmd pool_create = {
    .name = "create",
    .summary = "create a pool on a disk, or import the pool it holds",
    .args_usage = "NAME DISK",
    .description =
        "Creates pool NAME on DISK (PoolRpc.CreatePool), or imports it if DISK already holds\n"
        "a pool named NAME. DISK is a device URI (aio:///dev/sdb, uring:///dev/sdb,\n"
        "malloc:///m0?size_mb=64) or a path (/dev/sdb means aio:///dev/sdb).",
    .opts = create_opts,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_create,
};

static const struct cli_cmd pool_import = {
    .name = "import",
    .summary = "import the pool a disk holds",
    .args_usage = "NAME DISK",
    .description = "Imports pool NAME from DISK (PoolRpc.ImportPool); fails if DISK holds no pool,\n"
                   "or a pool with another name (or another uuid, with --uuid).",
    .opts = uuid_opt,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_import,
};

static const struct cli_cmd pool_list = {
    .name = "list",
    .summary = "pools of the engine (one, if NAME is given)",
    .args_usage = "[NAME]",
    .description = "Lists the pools (PoolRpc.ListPools); NAME or --uuid select one, an unknown one\n"
                   "gives an empty list. Sizes are in binary units; -o json gives bytes.",
    .opts = list_opts,
    .min_pos = 0,
    .max_pos = 1,
    .run = run_list,
};

static const struct cli_cmd pool_destroy = {
    .name = "destroy",
    .summary = "destroy a pool and every replica in it",
    .args_usage = "NAME",
    .description = "Destroys pool NAME (PoolRpc.DestroyPool): its replicas are gone, its disk is\n"
                   "released. Prints nothing on success (-o json prints {}).",
    .opts = uuid_opt,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_destroy,
};

static const struct cli_cmd pool_export = {
    .name = "export",
    .summary = "unload a pool, keeping its data on the disk",
    .args_usage = "NAME",
    .description = "Exports pool NAME (PoolRpc.ExportPool): it is unloaded cleanly and its disk\n"
                   "released; `pool import` or `pool create` brings it back.",
    .opts = uuid_opt,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_export,
};

static const struct cli_cmd pool_grow = {
    .name = "grow",
    .summary = "grow a pool into its (enlarged) disk",
    .args_usage = "NAME",
    .description = "Re-reads the size of pool NAME's disk and grows the pool into it\n"
                   "(PoolRpc.GrowPool); shows the sizes before and after.",
    .opts = uuid_opt,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_grow,
};

static const struct cli_cmd *const pool_subs[] = {&pool_list,   &pool_create, &pool_import,
                                                   &pool_destroy, &pool_export, &pool_grow,
                                                   NULL};

const struct cli_cmd cli_cmd_pool = {
    .name = "pool",
    .summary = "storage pools: list, create, import, destroy, export, grow",
    .description = "Storage pools (lvolstores) on local disks (mayastor.v1.PoolRpc).",
    .subs = pool_subs,
};

/* "bdev" commands: block devices of mayastor.v1.BdevRpc (list, create, destroy, share,
 * unshare). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev.pb-c.h"
#include "cli.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "output.h"
#include "pbjson.h"

/* -o json prints the whole reply; -o table the columns below. */
static int call_and_emit(struct cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *desc,
                         void (*table_view)(const ProtobufCMessage *reply))
{
    return cli_call_emit(ctx, "mayastor.v1.BdevRpc", method, req, desc, table_view);
}

/* One row per device; `bdev list` and `bdev create` share the columns. */
static void bdevs_table(Mayastor__V1__Bdev *const *bdevs, size_t n)
{
    struct table *t = table_new((const char *[]){"NAME", "UUID", ">SIZE", ">BLK_SIZE",
                                                 "CLAIMED_BY", "PRODUCT", "URI", "SHARE_URI",
                                                 NULL});
    table_set_empty(t, "No bdevs found");
    for (size_t i = 0; i < n; i++) {
        const Mayastor__V1__Bdev *b = bdevs[i];
        char size[32];
        human_size(b->num_blocks * b->blk_size, size, sizeof(size));
        table_row(t);
        table_cell_str(t, b->name);
        table_cell_str(t, b->uuid);
        table_cell_str(t, size);
        table_cell(t, "%u", b->blk_size);
        table_cell_str(t, b->claimed_by);
        table_cell_str(t, b->product_name);
        table_cell_str(t, b->uri);
        table_cell_str(t, b->share_uri);
    }
    table_print(t, stdout);
    table_free(t);
}

static void list_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListBdevResponse *r = (const void *)msg;
    bdevs_table(r->bdevs, r->n_bdevs);
}

static void create_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__CreateBdevResponse *r = (const void *)msg;
    bdevs_table(&r->bdev, r->bdev ? 1 : 0);
}

static int run_list(struct cli_ctx *ctx)
{
    Mayastor__V1__ListBdevOptions req = MAYASTOR__V1__LIST_BDEV_OPTIONS__INIT;
    Google__Protobuf__StringValue name = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    if (ctx->n_pos) {
        name.value = ctx->pos[0];
        req.name = &name;
    }
    return call_and_emit(ctx, "List", &req.base, &mayastor__v1__list_bdev_response__descriptor,
                         list_table);
}

static int run_create(struct cli_ctx *ctx)
{
    Mayastor__V1__CreateBdevRequest req = MAYASTOR__V1__CREATE_BDEV_REQUEST__INIT;
    req.uri = ctx->pos[0];
    return call_and_emit(ctx, "Create", &req.base,
                         &mayastor__v1__create_bdev_response__descriptor, create_table);
}

static int run_destroy(struct cli_ctx *ctx)
{
    Mayastor__V1__DestroyBdevRequest req = MAYASTOR__V1__DESTROY_BDEV_REQUEST__INIT;
    req.uri = ctx->pos[0];
    /* Table mode prints nothing on success; -o json prints the (empty) reply, {}. */
    return call_and_emit(ctx, "Destroy", &req.base, &google__protobuf__empty__descriptor, NULL);
}

static void share_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__BdevShareResponse *r = (const void *)msg;
    bdevs_table(&r->bdev, r->bdev ? 1 : 0);
}

static int run_share(struct cli_ctx *ctx)
{
    Mayastor__V1__BdevShareRequest req = MAYASTOR__V1__BDEV_SHARE_REQUEST__INIT;
    req.name = ctx->pos[0];
    req.protocol = MAYASTOR__V1__SHARE_PROTOCOL__NVMF;
    if (cli_split_list(cli_opt(ctx, "hosts"), &req.allowed_hosts, &req.n_allowed_hosts))
        return cli_usage_error(ctx, "out of memory");
    int rc = call_and_emit(ctx, "Share", &req.base, &mayastor__v1__bdev_share_response__descriptor,
                           share_table);
    cli_list_free(req.allowed_hosts);
    return rc;
}

static int run_unshare(struct cli_ctx *ctx)
{
    Mayastor__V1__BdevUnshareRequest req = MAYASTOR__V1__BDEV_UNSHARE_REQUEST__INIT;
    req.name = ctx->pos[0];
    return call_and_emit(ctx, "Unshare", &req.base, &google__protobuf__empty__descriptor, NULL);
}

static const struct cli_opt share_opts[] = {
    {"hosts", 0, "NQNS", "host NQNs allowed to connect, comma-separated (default: any host)"},
    {0},
};

static const struct cli_cmd bdev_share = {
    .name = "share",
    .summary = "share a block device over NVMe/TCP",
    .args_usage = "NAME",
    .description = "Shares device NAME over NVMe/TCP (BdevRpc.Share) as\n"
                   "nqn.2019-05.io.openebs:NAME and shows it with its nvmf:// share URI; on a\n"
                   "shared device it replaces the allowed hosts.",
    .opts = share_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_share,
};

static const struct cli_cmd bdev_unshare = {
    .name = "unshare",
    .summary = "stop sharing a block device",
    .args_usage = "NAME",
    .description = "Disconnects the hosts of device NAME and stops sharing it (BdevRpc.Unshare).\n"
                   "Prints nothing on success (-o json prints {}).",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_unshare,
};

static const struct cli_cmd bdev_list = {
    .name = "list",
    .summary = "block devices of the engine (one, if NAME is given)",
    .args_usage = "[NAME]",
    .description = "Lists the io-engine's block devices (BdevRpc.List). NAME (a device name or\n"
                   "alias) restricts the list to that device; an unknown NAME gives an empty\n"
                   "list. SIZE is num_blocks x blk_size in binary units.",
    .min_pos = 0,
    .max_pos = 1,
    .run = run_list,
};

static const struct cli_cmd bdev_create = {
    .name = "create",
    .summary = "create a block device from a URI",
    .args_usage = "URI",
    .description =
        "Creates a block device from URI (BdevRpc.Create) and shows it, e.g.\n"
        "  malloc:///m0?size_mb=64   null:///n0?num_blocks=2048&blk_size=4096\n"
        "  uring:///var/tmp/disk.img  aio:///dev/sdb  bdev:///m0 (a reference)\n"
        "Quote the URI for the shell when it has '&' or '?'.",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_create,
};

static const struct cli_cmd bdev_destroy = {
    .name = "destroy",
    .summary = "destroy the block device a URI designates",
    .args_usage = "URI",
    .description = "Destroys the block device that URI designates (BdevRpc.Destroy); for a\n"
                   "bdev:/// or loopback:/// reference only the reference goes. Prints nothing\n"
                   "on success (-o json prints {}).",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_destroy,
};

static const struct cli_cmd *const bdev_subs[] = {&bdev_list, &bdev_create, &bdev_destroy,
                                                  &bdev_share, &bdev_unshare, NULL};

const struct cli_cmd cli_cmd_bdev = {
    .name = "bdev",
    .summary = "block devices: list, create, destroy, share, unshare",
    .description = "Block devices created from URIs (mayastor.v1.BdevRpc).",
    .subs = bdev_subs,
};

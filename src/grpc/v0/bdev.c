/* mayastor.BdevRpc (v0): block devices created from URIs, as v1 (grpc/v1/bdev.c) with
 * the v0 messages: List(Null) -> Bdevs, Create(BdevUri) -> CreateReply{name},
 * Destroy(BdevUri) -> Null. Same error mapping as v1 (-EBUSY -> FAILED_PRECONDITION,
 * otherwise rpc_status_from_errno).
 *
 * Share(BdevShareRequest{name, proto "nvmf"}) -> BdevShareReply{uri} and
 * Unshare(CreateReply{name}) -> Null, as v1's Share/Unshare. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bdev/bdev_rpc.h"
#include "bdev/bdev_uri.h"
#include "grpc/rpc.h"
#include "grpc/bdev_share.h"
#include "mayastor.pb-c.h"

static grpc_status_code bdev_status(int err)
{
    return err == -EBUSY ? GRPC_STATUS_FAILED_PRECONDITION : rpc_status_from_errno(err);
}

static void to_proto(const struct bdev_view *v, Mayastor__Bdev *msg)
{
    mayastor__bdev__init(msg);
    msg->name = v->name;
    msg->uuid = (char *)v->uuid;
    msg->num_blocks = v->num_blocks;
    msg->blk_size = v->blk_size;
    msg->claimed = v->claimed;
    msg->claimed_by = v->claimed_by;
    msg->aliases = v->aliases;
    msg->uri = v->uri;
    msg->product_name = v->product_name;
    msg->share_uri = v->share_uri;
}

static void list(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)req;
    struct bdev_view *views;
    size_t n;
    if (bdev_views_collect(NULL, &views, &n)) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    Mayastor__Bdev *msgs = calloc(n ? n : 1, sizeof(*msgs));
    Mayastor__Bdev **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!msgs || !ptrs) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
    } else {
        for (size_t i = 0; i < n; i++) {
            to_proto(&views[i], &msgs[i]);
            ptrs[i] = &msgs[i];
        }
        Mayastor__Bdevs resp = MAYASTOR__BDEVS__INIT;
        resp.n_bdevs = n;
        resp.bdevs = ptrs;
        rpc_reply(call, &resp.base);
    }
    bdev_views_free(views, n);
    free(msgs);
    free(ptrs);
}

static void created(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct rpc_call *call = arg;
    if (rc) {
        rpc_fail(call, bdev_status(rc), "%s", errmsg ? errmsg : strerror(-rc));
        return;
    }
    Mayastor__CreateReply resp = MAYASTOR__CREATE_REPLY__INIT;
    resp.name = b->name;
    rpc_reply(call, &resp.base);
}

static void create(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__BdevUri *r = (const void *)req;
    bdev_create_uri(r->uri, created, call);
}

static void destroyed(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    (void)b;
    struct rpc_call *call = arg;
    if (rc)
        rpc_fail(call, bdev_status(rc), "%s", errmsg ? errmsg : strerror(-rc));
    else
        rpc_reply(call, NULL);
}

static void destroy(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__BdevUri *r = (const void *)req;
    bdev_destroy_uri(r->uri, destroyed, call);
}

static void share_bdev(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__BdevShareRequest *r = (const void *)req;
    if (r->proto && *r->proto && strcasecmp(r->proto, "nvmf")) {
        rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "share protocol '%s' is not supported: only "
                 "nvmf", r->proto);
        return;
    }
    if (!bdev_rpc_share(call, r->name, r->allowed_hosts, r->n_allowed_hosts))
        return;
    char *uri = bdev_share_uri(bdev_lookup(r->name));
    Mayastor__BdevShareReply resp = MAYASTOR__BDEV_SHARE_REPLY__INIT;
    resp.uri = uri ? uri : "";
    rpc_reply(call, &resp.base);
    free(uri);
}

static void unshare_bdev(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__CreateReply *r = (const void *)req;
    bdev_rpc_unshare(call, r->name);
}

static const struct rpc_handler handlers[] = {
    {"List", list, false},
    {"Create", create, false},
    {"Destroy", destroy, false},
    {"Share", share_bdev, false},
    {"Unshare", unshare_bdev, false},
};

const struct rpc_service svc_v0_bdev = {
    .desc = &mayastor__bdev_rpc__descriptor,
    .alias = "v0.bdev_rpc.BdevRpc",
    .version = API_V0,
    .capability = "sharing over NVMe-oF (the NVMe-oF target)",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

/* mayastor.v1.BdevRpc: block devices created from URIs (behaviour §2, §9).
 *
 * Create/Destroy go through the URI layer (bdev/bdev_uri.h); List reads the device
 * table. Errors carry the layer's message; codes follow rpc_status_from_errno (EINVAL ->
 * INVALID_ARGUMENT, ENOENT/ENODEV -> NOT_FOUND, EEXIST -> ALREADY_EXISTS), except a
 * device in use (-EBUSY), which answers FAILED_PRECONDITION: the request is valid and may
 * succeed once the user lets the device go.
 *
 * Share exports a device over NVMe/TCP (protocol NVMF only; sharing a shared device again
 * replaces its allowed hosts); Unshare disconnects its hosts and stops it (nothing to do
 * if it is not shared). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev.pb-c.h"
#include "bdev/bdev_rpc.h"
#include "bdev/bdev_uri.h"
#include "grpc/rpc.h"
#include "grpc/bdev_share.h"

static grpc_status_code bdev_status(int err)
{
    return err == -EBUSY ? GRPC_STATUS_FAILED_PRECONDITION : rpc_status_from_errno(err);
}

/* Points msg's strings at the view's (both live until the reply is sent). */
static void to_proto(const struct bdev_view *v, Mayastor__V1__Bdev *msg)
{
    mayastor__v1__bdev__init(msg);
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

/* ---- Create ---- */

static void created(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct rpc_call *call = arg;
    if (rc) {
        rpc_fail(call, bdev_status(rc), "%s", errmsg ? errmsg : strerror(-rc));
        return;
    }
    struct bdev_view v;
    if (bdev_view_get(b, &v)) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    Mayastor__V1__Bdev msg;
    to_proto(&v, &msg);
    Mayastor__V1__CreateBdevResponse resp = MAYASTOR__V1__CREATE_BDEV_RESPONSE__INIT;
    resp.bdev = &msg;
    rpc_reply(call, &resp.base);
    bdev_view_free(&v);
}

static void create(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__CreateBdevRequest *r = (const void *)req;
    bdev_create_uri(r->uri, created, call);
}

/* ---- Destroy ---- */

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
    const Mayastor__V1__DestroyBdevRequest *r = (const void *)req;
    bdev_destroy_uri(r->uri, destroyed, call);
}

/* ---- List ---- */

static void list(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__ListBdevOptions *r = (const void *)req;
    struct bdev *only = NULL;
    struct bdev_view *views;
    size_t n;
    if (r->name) {
        /* As upstream: a name (or alias) that matches nothing gives an empty list. */
        only = bdev_lookup(r->name->value ? r->name->value : "");
        if (!only) {
            Mayastor__V1__ListBdevResponse empty = MAYASTOR__V1__LIST_BDEV_RESPONSE__INIT;
            rpc_reply(call, &empty.base);
            return;
        }
    }
    if (bdev_views_collect(only, &views, &n)) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    Mayastor__V1__Bdev *msgs = calloc(n ? n : 1, sizeof(*msgs));
    Mayastor__V1__Bdev **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!msgs || !ptrs) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
    } else {
        for (size_t i = 0; i < n; i++) {
            to_proto(&views[i], &msgs[i]);
            ptrs[i] = &msgs[i];
        }
        Mayastor__V1__ListBdevResponse resp = MAYASTOR__V1__LIST_BDEV_RESPONSE__INIT;
        resp.n_bdevs = n;
        resp.bdevs = ptrs;
        rpc_reply(call, &resp.base);
    }
    bdev_views_free(views, n);
    free(msgs);
    free(ptrs);
}

/* ---- Share / Unshare ---- */

static void share_bdev(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__BdevShareRequest *r = (const void *)req;
    if (r->protocol != MAYASTOR__V1__SHARE_PROTOCOL__NVMF) {
        rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "share protocol %d is not supported: only "
                 "NVMF", r->protocol);
        return;
    }
    if (!bdev_rpc_share(call, r->name, r->allowed_hosts, r->n_allowed_hosts))
        return;
    struct bdev_view v;
    if (bdev_view_get(bdev_lookup(r->name), &v)) {
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    Mayastor__V1__Bdev msg;
    to_proto(&v, &msg);
    Mayastor__V1__BdevShareResponse resp = MAYASTOR__V1__BDEV_SHARE_RESPONSE__INIT;
    resp.bdev = &msg;
    rpc_reply(call, &resp.base);
    bdev_view_free(&v);
}

static void unshare_bdev(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__BdevUnshareRequest *r = (const void *)req;
    bdev_rpc_unshare(call, r->name);
}

static const struct rpc_handler handlers[] = {
    {"Create", create, false},
    {"Destroy", destroy, false},
    {"List", list, false},
    {"Share", share_bdev, false},
    {"Unshare", unshare_bdev, false},
};

const struct rpc_service svc_v1_bdev = {
    .desc = &mayastor__v1__bdev_rpc__descriptor,
    .alias = "v1.bdev.BdevRpc",
    .version = API_V1,
    .capability = "sharing over NVMe-oF (the NVMe-oF target)",
    .handlers = handlers,
    .n_handlers = sizeof(handlers) / sizeof(handlers[0]),
};

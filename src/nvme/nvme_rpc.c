/* SPDK's JSON-RPC methods for NVMe controllers, on the initiator:
 *   bdev_nvme_attach_controller {name, trtype "tcp", traddr, trsvcid, adrfam, subnqn,
 *       hostnqn, hdgst, ddgst}  → [device name]   (the device is named after the
 *       controller's address, "<traddr>:<trsvcid>/<subnqn>n1", not after `name`)
 *   bdev_nvme_detach_controller {name}             (the controller name from
 *       bdev_nvme_get_controllers)
 *   bdev_nvme_get_controllers {name?}
 *   bdev_nvme_send_cmd {name, cmd_type "admin"|"io", data_direction "c2h"|"h2c",
 *       cmdbuf (base64 SQE), data (base64, h2c), data_len (c2h)} → {cpl, data} (base64)
 * and our diagnostic ioe_nvme_resv {name (device), action register|acquire|release|report,
 *   type (RREGA/RACQA/RRELA), rtype, cptpl, iekey, crkey, nrkey, prkey} → {status, dnr,
 *   crd, dw0, data (report, base64)}: the reservation API of nvme.h, as the nexus calls it.
 * Primary reactor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bdev/bdev_rpc.h"
#include "bdev/bdev_uri.h"
#include "core/log.h"
#include "jsonrpc/jsonrpc.h"
#include "jsonrpc/params.h"
#include "nvme/nvme_internal.h"
#include "nvme/nvme_rpc.h"
#include "nvmf/nvme_spec.h"

static const char *state_name(int s)
{
    static const char *const n[] = {"new", "initializing", "enabled", "failed", "deleting",
                                    "deleted"};
    return s >= 0 && s < 6 ? n[s] : "unknown";
}

static json_t *ctrlr_json(const struct nvme_ctrlr *c)
{
    const struct bdev *b = nvme_ctrlr_bdev(c);
    char port[8];
    snprintf(port, sizeof(port), "%u", c->port);
    return json_pack("{s:s, s:[{s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s}, s:i, s:s}], s:o}",
                     "name", c->name, "ctrlrs", "state", state_name(atomic_load(&c->state)),
                     "trid", "trtype", "TCP", "adrfam",
                     c->addr.ss_family == AF_INET6 ? "IPv6" : "IPv4", "traddr", c->host,
                     "trsvcid", port, "subnqn", c->subnqn, "host", "nqn",
                     c->hostnqn, "cntlid", (int)c->cntlid, "last_error", c->last_error, "bdevs",
                     b ? json_pack("[s]", b->name) : json_array());
}

static void get_controllers(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    const struct jsonrpc_param spec[] = {{"name", P_STR, false, &name, NULL}, {0}};
    if (!jsonrpc_decode_params(req, "bdev_nvme_get_controllers", params, spec))
        return;
    json_t *arr = json_array();
    for (struct nvme_ctrlr *c = nvme_ctrlr_first(); c; c = c->next) {
        if (name && strcmp(name, c->name))
            continue;
        json_array_append_new(arr, ctrlr_json(c));
    }
    if (name && !json_array_size(arr)) {
        json_decref(arr);
        jsonrpc_error(req, -ENODEV, "No such device: no NVMe controller named '%s'", name);
        return;
    }
    jsonrpc_reply(req, arr);
}

static void attached(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct jsonrpc_request *req = arg;
    if (rc)
        jsonrpc_error(req, rc, "%s", errmsg ? errmsg : strerror(-rc));
    else
        jsonrpc_reply(req, json_pack("[s]", b->name));
}

static void attach_controller(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *trtype = NULL, *traddr = NULL, *trsvcid = NULL, *adrfam = NULL,
               *subnqn = NULL, *hostnqn = NULL;
    bool hdgst = false, ddgst = false;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},       {"trtype", P_STR, true, &trtype, NULL},
        {"traddr", P_STR, true, &traddr, NULL},   {"trsvcid", P_STR, false, &trsvcid, NULL},
        {"adrfam", P_STR, false, &adrfam, NULL},  {"subnqn", P_STR, true, &subnqn, NULL},
        {"hostnqn", P_STR, false, &hostnqn, NULL}, {"hdgst", P_BOOL, false, &hdgst, NULL},
        {"ddgst", P_BOOL, false, &ddgst, NULL},   {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_nvme_attach_controller", params, spec))
        return;
    if (strcasecmp(trtype, "tcp")) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_nvme_attach_controller: trtype '%s' is not supported (tcp only)", trtype);
        return;
    }
    if (adrfam && strcasecmp(adrfam, "ipv4") && strcasecmp(adrfam, "ipv6")) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_nvme_attach_controller: adrfam '%s' is not supported", adrfam);
        return;
    }
    bool v6 = strchr(traddr, ':') != NULL;
    char uri[1024];
    snprintf(uri, sizeof(uri), "nvmf://%s%s%s:%s/%s?hdgst=%s&ddgst=%s%s%s", v6 ? "[" : "", traddr,
             v6 ? "]" : "", trsvcid ? trsvcid : "4420", subnqn, hdgst ? "true" : "false",
             ddgst ? "true" : "false", hostnqn ? "&hostnqn=" : "", hostnqn ? hostnqn : "");
    log_info("JSON-RPC: attaching NVMe controller %s as %s", name, uri);
    bdev_create_uri(uri, attached, req);
}

static void detached(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    (void)b;
    struct jsonrpc_request *req = arg;
    if (rc)
        jsonrpc_error(req, rc == -ENOENT ? -ENODEV : rc, "%s", errmsg ? errmsg : strerror(-rc));
    else
        jsonrpc_reply(req, json_true());
}

static void detach_controller(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    const struct jsonrpc_param spec[] = {{"name", P_STR, true, &name, NULL}, {0}};
    if (!jsonrpc_decode_params(req, "bdev_nvme_detach_controller", params, spec))
        return;
    struct nvme_ctrlr *c = nvme_ctrlr_by_name(name);
    struct bdev *b = c ? nvme_ctrlr_bdev(c) : NULL;
    if (!b) {
        jsonrpc_error(req, -ENODEV, "No such device: no NVMe controller named '%s'", name);
        return;
    }
    char uri[1024];
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(uri, sizeof(uri), "nvmf://%s%s%s:%u/%s", v6 ? "[" : "", c->host, v6 ? "]" : "",
             c->port, c->subnqn);
    bdev_destroy_uri(uri, detached, req);
}

/* ---- bdev_nvme_send_cmd ---- */

struct send_ctx {
    struct jsonrpc_request *req;
    struct bdev_desc *desc;
    void *buf;
    uint32_t len;
    bool c2h;
};

static void sent(void *arg, int err, const struct nvme_cpl *cpl)
{
    struct send_ctx *x = arg;
    if (err) {
        jsonrpc_error(x->req, err, "bdev_nvme_send_cmd: %s", strerror(-err));
    } else {
        uint8_t cqe[16] = {0};
        le32_put(cqe, cpl->dw0);
        le32_put(cqe + 4, cpl->dw1);
        le16_put(cqe + 14, (uint16_t)((cpl->status << 1) | (cpl->crd << 12) |
                                      (cpl->dnr ? 0x8000 : 0)));
        char *c64 = bdev_rpc_base64_encode(cqe, sizeof(cqe));
        char *d64 = x->c2h && x->len ? bdev_rpc_base64_encode(x->buf, x->len) : NULL;
        json_t *o = json_pack("{s:s}", "cpl", c64 ? c64 : "");
        if (d64)
            json_object_set_new(o, "data", json_string(d64));
        jsonrpc_reply(x->req, o);
        free(c64);
        free(d64);
    }
    if (x->desc)
        bdev_close(x->desc);
    free(x->buf);
    free(x);
}

static void send_cmd(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *type = NULL, *dir = NULL, *cmdbuf = NULL, *data = NULL;
    uint64_t data_len = 0, timeout_ms = 0;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},
        {"cmd_type", P_STR, true, &type, NULL},
        {"data_direction", P_STR, true, &dir, NULL},
        {"cmdbuf", P_STR, true, &cmdbuf, NULL},
        {"data", P_STR, false, &data, NULL},
        {"data_len", P_U64, false, &data_len, NULL},
        {"timeout_ms", P_U64, false, &timeout_ms, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_nvme_send_cmd", params, spec))
        return;
    bool admin = !strcmp(type, "admin"), io = !strcmp(type, "io");
    bool c2h = !strcmp(dir, "c2h"), h2c = !strcmp(dir, "h2c");
    if ((!admin && !io) || (!c2h && !h2c)) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_nvme_send_cmd: cmd_type is admin or io, data_direction c2h or h2c");
        return;
    }
    struct nvme_ctrlr *c = nvme_ctrlr_by_name(name);
    struct bdev *b = c ? nvme_ctrlr_bdev(c) : NULL;
    if (!b) {
        jsonrpc_error(req, -ENODEV, "No such device: no NVMe controller named '%s'", name);
        return;
    }
    void *sqe = NULL;
    size_t sqe_len = 0;
    if (bdev_rpc_base64_decode(cmdbuf, &sqe, &sqe_len) || sqe_len != 64) {
        free(sqe);
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_nvme_send_cmd: cmdbuf must be the 64-byte command in base64");
        return;
    }
    struct send_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        free(sqe);
        jsonrpc_error(req, -ENOMEM, "out of memory");
        return;
    }
    x->req = req;
    x->c2h = c2h;
    int rc = 0;
    if (h2c && data) {
        size_t n = 0;
        if (bdev_rpc_base64_decode(data, &x->buf, &n) || n > (1u << 20))
            rc = -EINVAL;
        x->len = (uint32_t)n;
    } else if (c2h && data_len) {
        if (data_len > (1u << 20) || !(x->buf = calloc(1, data_len)))
            rc = data_len > (1u << 20) ? -EINVAL : -ENOMEM;
        x->len = (uint32_t)data_len;
    }
    if (rc) {
        free(sqe);
        free(x->buf);
        free(x);
        jsonrpc_error(req, rc == -EINVAL ? JSONRPC_INVALID_PARAMS : rc,
                      "bdev_nvme_send_cmd: the data must be valid base64 of at most 1 MiB");
        return;
    }
    if (admin) {
        rc = nvme_bdev_admin(b, sqe, x->buf, x->len, h2c, sent, x);
    } else if (!(rc = bdev_open_bdev(b, &x->desc))) {
        rc = nvme_bdev_io_passthru(x->desc, sqe, x->buf, x->len, h2c, sent, x);
    }
    free(sqe);
    if (rc) {
        if (x->desc)
            bdev_close(x->desc);
        free(x->buf);
        free(x);
        jsonrpc_error(req, rc, "bdev_nvme_send_cmd: %s",
                      rc == -EIO ? "the controller is not connected" : strerror(-rc));
    }
}

/* ---- ioe_nvme_resv (diagnostics): the reservation API the nexus uses ---- */

static void resv_done(void *arg, int err, const struct nvme_cpl *cpl)
{
    struct send_ctx *x = arg;
    if (err) {
        jsonrpc_error(x->req, err, "ioe_nvme_resv: %s", strerror(-err));
    } else {
        json_t *o = json_pack("{s:i, s:b, s:i, s:I}", "status", (int)cpl->status, "dnr", cpl->dnr,
                              "crd", (int)cpl->crd, "dw0", (json_int_t)cpl->dw0);
        if (x->len) {
            char *d64 = bdev_rpc_base64_encode(x->buf, x->len);
            json_object_set_new(o, "data", json_string(d64 ? d64 : ""));
            free(d64);
        }
        jsonrpc_reply(x->req, o);
    }
    bdev_close(x->desc);
    free(x->buf);
    free(x);
}

static void resv(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *action = NULL;
    uint64_t type = 0, rtype = 0, cptpl = 0, crkey = 0, nrkey = 0, prkey = 0;
    bool iekey = false;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},       {"action", P_STR, true, &action, NULL},
        {"type", P_U64, false, &type, NULL},      {"rtype", P_U64, false, &rtype, NULL},
        {"cptpl", P_U64, false, &cptpl, NULL},    {"iekey", P_BOOL, false, &iekey, NULL},
        {"crkey", P_U64, false, &crkey, NULL},    {"nrkey", P_U64, false, &nrkey, NULL},
        {"prkey", P_U64, false, &prkey, NULL},    {0},
    };
    if (!jsonrpc_decode_params(req, "ioe_nvme_resv", params, spec))
        return;
    struct bdev *b = bdev_lookup(name);
    if (!b || !nvme_bdev_is_remote(b)) {
        jsonrpc_error(req, -ENODEV, "No such device: no nvmf device named '%s'", name);
        return;
    }
    struct send_ctx *x = calloc(1, sizeof(*x));
    int rc = x ? bdev_open_bdev(b, &x->desc) : -ENOMEM;
    if (!rc) {
        x->req = req;
        if (!strcmp(action, "register"))
            rc = nvme_resv_register(x->desc, (uint8_t)type, iekey, (uint8_t)cptpl, crkey, nrkey,
                                    resv_done, x);
        else if (!strcmp(action, "acquire"))
            rc = nvme_resv_acquire(x->desc, (uint8_t)type, iekey, (uint8_t)rtype, crkey, prkey,
                                   resv_done, x);
        else if (!strcmp(action, "release"))
            rc = nvme_resv_release(x->desc, (uint8_t)type, iekey, (uint8_t)rtype, crkey,
                                   resv_done, x);
        else if (!strcmp(action, "report")) {
            x->len = 4096;
            rc = (x->buf = calloc(1, x->len)) ? nvme_resv_report(x->desc, x->buf, x->len,
                                                                 resv_done, x)
                                              : -ENOMEM;
        } else
            rc = -EINVAL;
    }
    if (rc) {
        if (x && x->desc)
            bdev_close(x->desc);
        if (x)
            free(x->buf);
        free(x);
        jsonrpc_error(req, rc == -EINVAL ? JSONRPC_INVALID_PARAMS : rc, "ioe_nvme_resv: %s",
                      rc == -EINVAL ? "action is register, acquire, release or report"
                                    : strerror(-rc));
    }
}

const struct jsonrpc_method nvme_rpc_m_resv = {"ioe_nvme_resv", resv};
const struct jsonrpc_method nvme_rpc_m_attach = {"bdev_nvme_attach_controller", attach_controller};
const struct jsonrpc_method nvme_rpc_m_detach = {"bdev_nvme_detach_controller", detach_controller};
const struct jsonrpc_method nvme_rpc_m_get = {"bdev_nvme_get_controllers", get_controllers};
const struct jsonrpc_method nvme_rpc_m_send_cmd = {"bdev_nvme_send_cmd", send_cmd};

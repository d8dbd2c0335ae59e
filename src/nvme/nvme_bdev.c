/* nvmf:// devices (nvme.h): namespace 1 of a remote controller as a block device.
 *
 * A channel is one reactor's I/O queue. It connects when created if the controller runs,
 * and again, lazily, on the first I/O after the controller came back (the controller's
 * `live` word changed). While the controller is down I/O fails at once with -EIO. A queue
 * that fails tells the primary, which resets the controller.
 *
 * An I/O bigger than what one command may carry (MDTS, 65536 blocks, the DSM range
 * length) runs as consecutive commands; the request lives in the bdev_io's driver area,
 * so nothing is allocated per I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bdev/bdev_uri.h"
#include "core/log.h"
#include "core/uri.h"
#include "nvme/nvme_internal.h"
#include "nvmf/nvme_spec.h"

#define DRIVER "nvme"
#define PRODUCT "NVMe disk"

struct nvme_io {
    struct nvme_req r;
    uint64_t done_blocks;   /* of the bdev_io, in commands already completed */
    uint32_t cmd_blocks;    /* blocks of the command in flight */
    uint8_t dsm[16];        /* Dataset Management range */
    struct iovec dsm_iov;
};
_Static_assert(sizeof(struct nvme_io) <= BDEV_IO_DRIVER_CTX, "nvme_io fits the driver area");

/* ---- NVMe status → errno for the layers above ---- */

static int status_errno(uint16_t status)
{
    switch (status) {
    case NVME_SC_LBA_RANGE:
        return -EINVAL;
    case NVME_SC_CAPACITY_EXCEEDED:
        return -ENOSPC;
    case NVME_SC_RESERVATION_CONFLICT:
        return -EACCES;
    case NVME_SC_INVALID_OPCODE:
        return -ENOTSUP;
    default:
        return -EIO;
    }
}

/* ---- channels ---- */

static void chan_q_failed(void *arg, struct nvme_qpair *q, int err, const char *why)
{
    struct nvme_chan *ch = arg;
    if (q != ch->q)
        return;
    (void)err; /* the reason is in `why`; the controller resets either way */
    nvme_ctrlr_io_failed(ch->c, ch->live, why);
    ch->q = NULL;
    nvme_qpair_destroy(q);
}

static void chan_drop(struct nvme_chan *ch)
{
    if (ch->q) {
        nvme_qpair_destroy(ch->q);
        ch->q = NULL;
    }
}

/* A queue under generation `live` (cntlid in its low 16 bits). */
static int chan_connect(struct nvme_chan *ch, uint32_t live)
{
    struct nvme_ctrlr *c = ch->c;
    int idx = reactor_index(ch->reactor);
    if (idx >= c->io_queues) {
        log_error("nvme: %s: reactor %d has no I/O queue (the controller granted %u)", c->name,
                  idx, c->io_queues);
        return -EIO;
    }
    struct nvme_qpair_opts o = {0};
    o.addr = c->addr;
    o.addrlen = c->addrlen;
    o.peer = c->peer;
    o.qid = (uint16_t)(idx + 1);
    o.depth = c->io_depth;
    o.cntlid = (uint16_t)(live & 0xFFFF);
    o.subnqn = c->subnqn;
    o.hostnqn = c->hostnqn;
    memcpy(o.hostid, c->hostid, 16);
    o.hdgst = c->hdgst;
    o.ddgst = c->ddgst;
    o.cmd_timeout_ns = c->io_timeout_ns;
    o.connect_timeout_ns = c->connect_timeout_ns;
    o.incapsule = c->ioccsz_bytes;
    struct nvme_qpair_cbs cbs = {NULL, chan_q_failed, ch}; /* ready: nothing to do, I/O waits in the queue */
    ch->q = nvme_qpair_connect(&o, &cbs);
    ch->live = live;
    return ch->q ? 0 : -ENOMEM;
}

/* The queue to send on now, connecting one if needed; -EIO while the controller is down. */
static int chan_queue(struct nvme_chan *ch, struct nvme_qpair **out)
{
    uint32_t live = atomic_load_explicit(&ch->c->live, memory_order_acquire);
    if (!live) {
        chan_drop(ch);
        return -EIO;
    }
    if (ch->q && ch->live != live)
        chan_drop(ch); /* from before a reconnect: its controller is gone */
    if (!ch->q) {
        int rc = chan_connect(ch, live);
        if (rc)
            return rc;
    }
    *out = ch->q;
    return 0;
}

static int nvme_channel_create(struct bdev *b, void **ctx)
{
    struct nvme_ctrlr *c = b->ctx;
    struct nvme_chan *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->c = c;
    ch->reactor = reactor_self();
    atomic_store(&c->chans[reactor_index(ch->reactor)], ch);
    uint32_t live = atomic_load(&c->live);
    if (live)
        chan_connect(ch, live); /* ready before the first I/O */
    *ctx = ch;
    return 0;
}

static void nvme_channel_destroy(struct bdev *b, void *ctx)
{
    struct nvme_ctrlr *c = b->ctx;
    struct nvme_chan *ch = ctx;
    atomic_store(&c->chans[reactor_index(ch->reactor)], NULL);
    chan_drop(ch);
    free(ch);
}

/* ---- I/O ---- */

static void io_next(struct bdev_io *io, bool first);

/* The first command of an I/O runs inside submit: its failure must complete later. */
static void io_fail(struct bdev_io *io, int rc, bool first)
{
    if (first)
        bdev_io_complete_deferred(io, rc);
    else
        bdev_io_complete(io, rc);
}

static void io_req_done(struct nvme_req *r, int err, const struct nvme_cpl *cpl)
{
    struct bdev_io *io = r->arg;
    struct nvme_io *x = (struct nvme_io *)io->driver;
    if (err) {
        bdev_io_complete(io, err == -ETIMEDOUT ? -ETIMEDOUT : -EIO);
        return;
    }
    if (cpl->status) {
        bdev_io_complete(io, status_errno(cpl->status));
        return;
    }
    x->done_blocks += x->cmd_blocks;
    if (x->done_blocks < io->num_blocks) {
        io_next(io, false);
        return;
    }
    bdev_io_complete(io, 0);
}

/* Sends the next command of io. */
static void io_next(struct bdev_io *io, bool first)
{
    struct nvme_chan *ch = bdev_channel_ctx(io->ch);
    struct nvme_ctrlr *c = ch->c;
    struct nvme_io *x = (struct nvme_io *)io->driver;
    struct nvme_req *r = &x->r;
    uint32_t bs = io->bdev->blk_size;
    uint64_t left = io->num_blocks - x->done_blocks, slba = io->offset_blocks + x->done_blocks;
    uint64_t max = 65536;
    if (io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE) {
        uint64_t by_xfer = c->max_xfer / bs;
        if (by_xfer && by_xfer < max)
            max = by_xfer;
    } else if (io->type == BDEV_IO_UNMAP) {
        max = 0xFFFFFFFFull;
    }
    uint32_t n = (uint32_t)(left < max ? left : max);
    x->cmd_blocks = n;
    memset(r, 0, sizeof(*r));
    r->done = io_req_done;
    r->arg = io;
    switch (io->type) {
    case BDEV_IO_READ:
    case BDEV_IO_WRITE:
        nvme_sqe_init(r->sqe, io->type == BDEV_IO_READ ? NVME_IO_READ : NVME_IO_WRITE, 1);
        le64_put(r->sqe + 40, slba);
        le32_put(r->sqe + 48, n - 1);
        r->iov = io->iov;
        r->iovcnt = io->iovcnt;
        r->iov_off = x->done_blocks * bs;
        r->len = n * bs;
        r->h2c = io->type == BDEV_IO_WRITE;
        break;
    case BDEV_IO_WRITE_ZEROES:
        nvme_sqe_init(r->sqe, NVME_IO_WRITE_ZEROES, 1);
        le64_put(r->sqe + 40, slba);
        le32_put(r->sqe + 48, n - 1);
        break;
    case BDEV_IO_UNMAP:
        nvme_sqe_init(r->sqe, NVME_IO_DSM, 1);
        le32_put(r->sqe + 40, 0);      /* one range (NR 0's based) */
        le32_put(r->sqe + 44, 1u << 2); /* AD: deallocate */
        memset(x->dsm, 0, sizeof(x->dsm));
        le32_put(x->dsm + 4, n);
        le64_put(x->dsm + 8, slba);
        x->dsm_iov.iov_base = x->dsm;
        x->dsm_iov.iov_len = sizeof(x->dsm);
        r->iov = &x->dsm_iov;
        r->iovcnt = 1;
        r->len = sizeof(x->dsm);
        r->h2c = true;
        break;
    case BDEV_IO_FLUSH:
        nvme_sqe_init(r->sqe, NVME_IO_FLUSH, 1);
        x->cmd_blocks = (uint32_t)left; /* one command for the whole range */
        break;
    default:
        io_fail(io, -ENOTSUP, first);
        return;
    }
    struct nvme_qpair *q;
    int rc = chan_queue(ch, &q);
    if (rc) {
        io_fail(io, rc, first);
        return;
    }
    nvme_qpair_submit(q, r);
}

static void nvme_submit(struct bdev *b, void *ctx, struct bdev_io *io)
{
    struct nvme_ctrlr *c = b->ctx;
    struct nvme_io *x = (struct nvme_io *)io->driver;
    (void)ctx;
    x->done_blocks = 0;
    if (io->type == BDEV_IO_FLUSH && !c->vwc) {
        bdev_io_complete_deferred(io, 0); /* nothing volatile to flush */
        return;
    }
    if (io->type == BDEV_IO_RESET) {
        bdev_io_complete_deferred(io, 0);
        return;
    }
    io_next(io, true); /* while the controller is down its queue answers -EIO (chan_queue) */
}

static bool nvme_supports(const struct bdev *b, enum bdev_io_type t)
{
    const struct nvme_ctrlr *c = b->ctx;
    switch (t) {
    case BDEV_IO_READ:
    case BDEV_IO_WRITE:
    case BDEV_IO_FLUSH:
    case BDEV_IO_RESET:
        return true;
    case BDEV_IO_UNMAP:
        return c->oncs & (1u << 2);
    case BDEV_IO_WRITE_ZEROES:
        return c->oncs & (1u << 3);
    default:
        return false;
    }
}

static void nvme_destruct(struct bdev *b)
{
    struct nvme_ctrlr *c = b->ctx;
    log_info("nvme: detaching %s", c->name);
    c->bdev = NULL;
    nvme_ctrlr_destroy(c);
}

static void nvme_dump_info(const struct bdev *b, json_t *o)
{
    const struct nvme_ctrlr *c = b->ctx;
    char ns[37];
    uuid_unparse_lower(c->ns_uuid, ns);
    bool hd = false, dd = false;
    if (c->admin)
        nvme_qpair_digests(c->admin, &hd, &dd);
    json_t *n = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:b, s:i}", "trtype",
                          "TCP", "traddr", c->host, "trsvcid", (int)c->port, "subnqn", c->subnqn,
                          "hostnqn", c->hostnqn, "model_number", c->model, "serial_number",
                          c->serial, "namespace_uuid", ns, "cntlid", (int)c->cntlid,
                          "header_digest", hd, "data_digest", dd, "max_transfer_bytes",
                          (int)c->max_xfer);
    json_object_update(o, n);
    json_decref(n);
}

static const struct bdev_ops nvme_ops = {
    .driver = DRIVER,
    .channel_create = nvme_channel_create,
    .channel_destroy = nvme_channel_destroy,
    .submit = nvme_submit,
    .supports = nvme_supports,
    .destruct = nvme_destruct,
    .dump_info = nvme_dump_info,
};

bool nvme_bdev_is_remote(const struct bdev *b) { return b && b->ops == &nvme_ops; }

struct bdev *nvme_bdev_build(struct nvme_ctrlr *c, char *err, size_t errlen)
{
    char name[NVME_NAME_MAX + 4];
    snprintf(name, sizeof(name), "%sn1", c->name);
    struct bdev *b = bdev_alloc(name, PRODUCT, &nvme_ops);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    static const uint8_t zero[16];
    if (memcmp(c->ns_uuid, zero, 16))
        memcpy(b->uuid, c->ns_uuid, 16);
    else
        uuid_generate(b->uuid);
    b->blk_size = c->ns_blk_size;
    atomic_store(&b->num_blocks, c->ns_blocks);
    b->required_alignment = 1;
    b->ctx = c;
    return b;
}

/* ---- passthrough ---- */

struct passthru {
    struct nvme_req r;
    struct iovec iov;
    uint8_t payload[16];
    nvme_cmd_cb cb;
    void *arg;
};

static void passthru_done(struct nvme_req *r, int err, const struct nvme_cpl *cpl)
{
    struct passthru *p = r->arg;
    p->cb(p->arg, err, cpl);
    free(p);
}

/* A command of at most one buffer on the calling reactor's queue of the opened nvmf
 * device d. Without buf, len bytes of the command's own payload go to the controller:
 * the keys of a reservation command. */
static int passthru_send(struct bdev_desc *d, const uint8_t sqe[64], void *buf, uint32_t len,
                         bool h2c, const uint64_t *keys, int nkeys, nvme_cmd_cb cb, void *arg)
{
    struct bdev *b = bdev_desc_bdev(d);
    if (!nvme_bdev_is_remote(b))
        return -ENODEV;
    struct bdev_channel *bc = bdev_get_channel(d);
    if (!bc)
        return -ENOMEM;
    struct nvme_qpair *q;
    int rc = chan_queue(bdev_channel_ctx(bc), &q);
    if (rc)
        return rc;
    struct passthru *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    for (int i = 0; i < nkeys; i++)
        le64_put(p->payload + 8 * i, keys[i]);
    nvme_req_init(&p->r, &p->iov, sqe, buf ? buf : p->payload, len, h2c, passthru_done, p);
    p->cb = cb;
    p->arg = arg;
    nvme_qpair_submit(q, &p->r);
    return 0;
}

int nvme_bdev_io_passthru(struct bdev_desc *d, const uint8_t sqe[64], void *buf, uint32_t len,
                          bool h2c, nvme_cmd_cb cb, void *arg)
{
    return passthru_send(d, sqe, buf, len, h2c, NULL, 0, cb, arg);
}

int nvme_bdev_admin(struct bdev *b, const uint8_t sqe[64], void *buf, uint32_t len, bool h2c,
                    nvme_cmd_cb cb, void *arg)
{
    if (!nvme_bdev_is_remote(b))
        return -ENODEV;
    return nvme_ctrlr_admin(b->ctx, sqe, buf, len, h2c, cb, arg);
}

/* Reservation commands carry their keys (CRKEY, NRKEY/PRKEY) as 8 or 16 bytes of data. */
static int resv_cmd(struct bdev_desc *d, uint8_t opc, uint32_t cdw10, const uint64_t *keys,
                    int nkeys, nvme_cmd_cb cb, void *arg)
{
    uint8_t sqe[64];
    nvme_sqe_init(sqe, opc, 1);
    le32_put(sqe + 40, cdw10);
    return passthru_send(d, sqe, NULL, (uint32_t)(8 * nkeys), true, keys, nkeys, cb, arg);
}

int nvme_resv_register(struct bdev_desc *d, uint8_t rrega, bool iekey, uint8_t cptpl,
                       uint64_t crkey, uint64_t nrkey, nvme_cmd_cb cb, void *arg)
{
    uint64_t k[2] = {crkey, nrkey};
    return resv_cmd(d, NVME_IO_RESV_REGISTER,
                    (rrega & 7u) | (iekey ? 8u : 0) | ((uint32_t)(cptpl & 3) << 30), k, 2, cb, arg);
}

int nvme_resv_acquire(struct bdev_desc *d, uint8_t racqa, bool iekey, uint8_t rtype,
                      uint64_t crkey, uint64_t prkey, nvme_cmd_cb cb, void *arg)
{
    uint64_t k[2] = {crkey, prkey};
    return resv_cmd(d, NVME_IO_RESV_ACQUIRE,
                    (racqa & 7u) | (iekey ? 8u : 0) | ((uint32_t)rtype << 8), k, 2, cb, arg);
}

int nvme_resv_release(struct bdev_desc *d, uint8_t rrela, bool iekey, uint8_t rtype,
                      uint64_t crkey, nvme_cmd_cb cb, void *arg)
{
    uint64_t k[1] = {crkey};
    return resv_cmd(d, NVME_IO_RESV_RELEASE,
                    (rrela & 7u) | (iekey ? 8u : 0) | ((uint32_t)rtype << 8), k, 1, cb, arg);
}

int nvme_resv_report(struct bdev_desc *d, void *buf, uint32_t len, nvme_cmd_cb cb, void *arg)
{
    if (len < 64 || len % 4)
        return -EINVAL;
    uint8_t sqe[64];
    nvme_sqe_init(sqe, NVME_IO_RESV_REPORT, 1);
    le32_put(sqe + 40, len / 4 - 1);
    le32_put(sqe + 44, 1); /* EDS: extended data structure (128-bit host identifiers) */
    return nvme_bdev_io_passthru(d, sqe, buf, len, false, cb, arg);
}

/* ---- URI scheme ---- */

static int parse_bool(const struct uri *u, const char *key, bool *out, char *err, size_t errlen)
{
    const char *v = uri_param(u, key);
    *out = false;
    if (!v)
        return 0;
    if (!*v || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcasecmp(v, "true") ||
        !strcmp(v, "1")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcmp(v, "0"))
        return 0;
    snprintf(err, errlen, "%s=%s is not a boolean (yes/no, on/off, true/false, 1/0)", key, v);
    return -EINVAL;
}

struct nvmf_target {
    char host[256];
    uint16_t port;
    char subnqn[224];
};

static int parse_target(const struct uri *u, struct nvmf_target *t, char *err, size_t errlen)
{
    if (!*u->host) {
        snprintf(err, errlen, "%s:// needs a host: %s://host[:port]/subnqn", u->scheme, u->scheme);
        return -EINVAL;
    }
    const char *nqn = u->path[0] == '/' ? u->path + 1 : u->path;
    if (!*nqn || strlen(nqn) > 223) { /* everything after the first '/' (an NQN may hold '/') */
        snprintf(err, errlen, "%s:// needs a subsystem NQN of 1 to 223 characters as its path",
                 u->scheme);
        return -EINVAL;
    }
    if (u->port == 0 || u->port > 65535) {
        snprintf(err, errlen, "port %d is not a TCP port", u->port);
        return -EINVAL;
    }
    snprintf(t->host, sizeof(t->host), "%s", u->host);
    t->port = (uint16_t)(u->port < 0 ? NVME_DEFAULT_PORT : u->port);
    snprintf(t->subnqn, sizeof(t->subnqn), "%s", nqn);
    return 0;
}

static int nvmf_name(const struct uri *u, char *name, size_t len, char *err, size_t errlen)
{
    struct nvmf_target t;
    int rc = parse_target(u, &t, err, errlen);
    if (rc)
        return rc;
    bool v6 = strchr(t.host, ':') != NULL;
    snprintf(name, len, "%s%s%s:%u/%sn1", v6 ? "[" : "", t.host, v6 ? "]" : "", t.port, t.subnqn);
    return 0;
}

struct create_ctx {
    void (*done)(void *arg, int rc, struct bdev *b, const char *errmsg);
    void *arg;
};

static void attached(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct create_ctx *x = arg;
    x->done(x->arg, rc, b, errmsg);
    free(x);
}

static void nvmf_create_async(const struct uri *u, const char *name,
                              void (*done)(void *arg, int rc, struct bdev *b, const char *errmsg),
                              void *arg)
{
    (void)name;
    char err[BDEV_ERRMSG_LEN];
    struct nvmf_target t;
    bool hdgst, ddgst, b1;
    uuid_t uu;
    bool given;
    int rc = parse_target(u, &t, err, sizeof(err));
    if (!rc)
        rc = parse_bool(u, "hdgst", &hdgst, err, sizeof(err));
    if (!rc)
        rc = parse_bool(u, "ddgst", &ddgst, err, sizeof(err));
    if (!rc)
        rc = parse_bool(u, "reftag", &b1, err, sizeof(err));
    if (!rc)
        rc = parse_bool(u, "guard", &b1, err, sizeof(err));
    if (!rc) /* parsed, not checked against the namespace (as upstream) */
        rc = bdev_param_uuid(u, uu, &given, err, sizeof(err));
    const char *hostnqn = uri_param(u, "hostnqn");
    if (!rc && hostnqn && (!*hostnqn || strlen(hostnqn) > 223)) {
        snprintf(err, sizeof(err), "hostnqn must be 1 to 223 characters");
        rc = -EINVAL;
    }
    if (rc) {
        done(arg, rc, NULL, err);
        return;
    }
    struct nvme_ctrlr *c;
    struct create_ctx *x = calloc(1, sizeof(*x));
    if (!x || (rc = nvme_ctrlr_new(t.host, t.port, t.subnqn, hostnqn, hdgst, ddgst, &c, err,
                                   sizeof(err)))) {
        free(x);
        done(arg, rc ? rc : -ENOMEM, NULL, rc ? err : "out of memory");
        return;
    }
    x->done = done;
    x->arg = arg;
    nvme_ctrlr_start(c, attached, x);
}

#define NVMF_SCHEME(var, sch)                                                                 \
    const struct bdev_scheme var = {                                                          \
        .scheme = sch, .name = nvmf_name, .create_async = nvmf_create_async, .driver = DRIVER, \
    }
NVMF_SCHEME(bdev_scheme_nvmf, "nvmf");
NVMF_SCHEME(bdev_scheme_nvmf_tcp, "nvmf+tcp");
NVMF_SCHEME(bdev_scheme_nvmf_rdma_tcp, "nvmf+rdma+tcp");

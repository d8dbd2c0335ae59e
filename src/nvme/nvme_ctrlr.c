/* A remote NVMe/TCP controller (nvme_internal.h): bring-up on the admin queue, keep alive,
 * reset and reconnect, the registry entry. Primary reactor only.
 *
 * Bring-up, each step the completion of the one before:
 *   admin queue connect (ICReq, Fabrics Connect with KATO) → Property Get CAP →
 *   Property Set CC.EN → Property Get CSTS until RDY (CAP.TO) → Identify Controller →
 *   Set Features Number of Queues → Identify Namespace 1 → its identification
 *   descriptors (UUID/NGUID) → running: I/O queues connect on their reactors.
 * Any failure while running (a queue lost, a command timed out, keep alive unanswered)
 * takes the controller down: queues dropped, I/O fails, reconnect every
 * NVME_RECONNECT_DELAY until NVME_CTRLR_LOSS_TIMEOUT has passed. */
#include <errno.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/env.h"
#include "core/log.h"
#include "core/offload.h"
#include "nvme/nvme_internal.h"
#include "nvmf/nvme_spec.h"

#define ADMIN_DEPTH 32
#define ADMIN_INCAPSULE 8192 /* NVMe-oF: admin queues take 8 KiB in the capsule */
#define CSTS_POLL_US 10000

enum step {
    ST_CONNECT, ST_CAP, ST_CC, ST_CSTS, ST_ID_CTRLR, ST_NUM_QUEUES, ST_ID_NS, ST_NS_DESC, ST_DONE
};

static void advance(struct nvme_ctrlr *c);
static void ctrlr_down(struct nvme_ctrlr *c, const char *why);
static void maybe_free(struct nvme_ctrlr *c);

/* ---- identity ---- */

void nvme_host_identity(char nqn[224], uint8_t hostid[16])
{
    const char *e = getenv("HOSTNQN");
    if (e && *e)
        snprintf(nqn, 224, "%s", e);
    else
        snprintf(nqn, 224, "nqn.2019-05.io.openebs:node-name:%.180s", g_env.args.node_name);
    const char *id = getenv("MAYASTOR_NVMF_HOSTID");
    if (id && !uuid_parse(id, hostid))
        return;
    /* derived from the NQN: the same every start, so reservations find their holder */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    memset(hostid, 0, 16);
    if (EVP_Digest(nqn, strlen(nqn), md, &n, EVP_sha256(), NULL) && n >= 16)
        memcpy(hostid, md, 16);
    hostid[6] = (uint8_t)((hostid[6] & 0x0F) | 0x80); /* version 8: name-based, custom */
    hostid[8] = (uint8_t)((hostid[8] & 0x3F) | 0x80);
}

/* ---- registry ---- */

static struct nvme_ctrlr *g_ctrlrs; /* every controller not destroyed, by creation */

struct bdev *nvme_ctrlr_bdev(const struct nvme_ctrlr *c)
{
    return c->bdev && bdev_lookup(c->bdev->name) == c->bdev ? c->bdev : NULL;
}

struct nvme_ctrlr *nvme_ctrlr_by_name(const char *name)
{
    for (struct nvme_ctrlr *c = g_ctrlrs; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

struct nvme_ctrlr *nvme_ctrlr_first(void) { return g_ctrlrs; }

static void list_remove(struct nvme_ctrlr *c)
{
    for (struct nvme_ctrlr **p = &g_ctrlrs; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

static void describe(struct nvme_ctrlr_entry *e, struct nvme_ctrlr_info *out)
{
    struct nvme_ctrlr *c = (struct nvme_ctrlr *)((char *)e - offsetof(struct nvme_ctrlr, reg));
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%.287s", c->name);
    out->state = (enum nvme_ctrlr_state)atomic_load(&c->state);
    if (c->ns_blk_size) {
        out->size = c->ns_blocks * c->ns_blk_size;
        out->blk_size = c->ns_blk_size;
    }
    if (nvme_ctrlr_bdev(c)) {
        struct bdev_io_stats st;
        bdev_get_stats(c->bdev, &st);
        out->stats.num_read_ops = st.num_read_ops;
        out->stats.num_write_ops = st.num_write_ops;
        out->stats.bytes_read = st.bytes_read;
        out->stats.bytes_written = st.bytes_written;
        out->stats.num_unmap_ops = st.num_unmap_ops;
        out->stats.bytes_unmapped = st.bytes_unmapped;
    }
}

/* ---- admin commands ---- */

struct admin_ctx {
    struct nvme_req r;
    struct iovec iov;
    struct nvme_ctrlr *c;
    unsigned attempt;  /* internal bring-up commands: ignored if another attempt began */
    bool internal;
    nvme_cmd_cb cb;
    void *arg;
};


static void admin_done(struct nvme_req *r, int err, const struct nvme_cpl *cpl)
{
    struct admin_ctx *x = r->arg;
    struct nvme_ctrlr *c = x->c;
    bool stale = x->internal && (c->destroying || x->attempt != c->attempt);
    if (!stale && x->cb)
        x->cb(x->arg, err, cpl); /* may destroy c: it stays allocated while counted here */
    c->admin_inflight--;
    free(x);
    maybe_free(c);
}

static int admin_submit(struct nvme_ctrlr *c, const uint8_t sqe[64], void *buf, uint32_t len,
                        bool h2c, bool internal, nvme_cmd_cb cb, void *arg)
{
    if (!c->admin || c->destroying)
        return -EIO;
    struct admin_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    nvme_req_init(&x->r, &x->iov, sqe, buf, len, h2c, admin_done, x);
    x->c = c;
    x->internal = internal;
    x->attempt = c->attempt;
    x->cb = cb;
    x->arg = arg;
    c->admin_inflight++;
    nvme_qpair_submit(c->admin, &x->r);
    return 0;
}

int nvme_ctrlr_admin(struct nvme_ctrlr *c, const uint8_t sqe[64], void *buf, uint32_t len,
                     bool h2c, nvme_cmd_cb cb, void *arg)
{
    if (atomic_load(&c->state) != NVME_CTRLR_RUNNING)
        return -EIO;
    return admin_submit(c, sqe, buf, len, h2c, false, cb, arg);
}

/* ---- bring-up ---- */

static void bringup_failed(struct nvme_ctrlr *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bringup_failed(struct nvme_ctrlr *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    if (c->created) {
        /* the first bring-up: the create fails with the reason */
        void (*done)(void *, int, struct bdev *, const char *) = c->created;
        c->created = NULL;
        char msg[600];
        snprintf(msg, sizeof(msg), "cannot attach NVMe controller %s: %s", c->name, c->last_error);
        if (c->admin) {
            nvme_qpair_destroy(c->admin);
            c->admin = NULL;
        }
        done(c->created_arg, rc, NULL, msg);
        nvme_ctrlr_destroy(c);
        return;
    }
    ctrlr_down(c, c->last_error);
}

static void step_cb(void *arg, int err, const struct nvme_cpl *cpl);

static void submit_step(struct nvme_ctrlr *c, const uint8_t sqe[64], void *buf, uint32_t len,
                        bool h2c)
{
    int rc = admin_submit(c, sqe, buf, len, h2c, true, step_cb, c);
    if (rc)
        bringup_failed(c, rc, "cannot send an admin command: %s", strerror(-rc));
}

static void prop_get(struct nvme_ctrlr *c, uint32_t ofst, bool eight)
{
    uint8_t sqe[64];
    nvme_sqe_fabrics(sqe, NVMF_FCTYPE_PROPERTY_GET);
    sqe[40] = eight ? 1 : 0;
    le32_put(sqe + 44, ofst);
    submit_step(c, sqe, NULL, 0, false);
}

static void prop_set(struct nvme_ctrlr *c, uint32_t ofst, uint32_t value)
{
    uint8_t sqe[64];
    nvme_sqe_fabrics(sqe, NVMF_FCTYPE_PROPERTY_SET);
    sqe[40] = 0;
    le32_put(sqe + 44, ofst);
    le32_put(sqe + 48, value);
    submit_step(c, sqe, NULL, 0, false);
}

static void identify(struct nvme_ctrlr *c, uint8_t cns, uint32_t nsid)
{
    uint8_t sqe[64];
    nvme_sqe_init(sqe, NVME_ADM_IDENTIFY, nsid);
    le32_put(sqe + 40, cns);
    memset(c->idbuf, 0, 4096);
    submit_step(c, sqe, c->idbuf, 4096, false);
}

static void csts_poll(void *arg)
{
    struct nvme_ctrlr *c = arg;
    c->step_timer = NULL;
    prop_get(c, 0x1C, false);
}

static void ascii_get(char *out, const uint8_t *p, size_t len)
{
    memcpy(out, p, len);
    out[len] = 0;
    for (size_t i = len; i > 0 && (out[i - 1] == ' ' || !out[i - 1]); i--)
        out[i - 1] = 0;
}

/* The answer to the current step: check it, take what it says, go on. */
static void step_cb(void *arg, int err, const struct nvme_cpl *cpl)
{
    struct nvme_ctrlr *c = arg;
    static const char *const names[] = {"connect", "Property Get CAP", "Property Set CC",
                                        "Property Get CSTS", "Identify Controller",
                                        "Set Features Number of Queues", "Identify Namespace",
                                        "Namespace Identification Descriptors", "done"};
    if (err) {
        bringup_failed(c, err, "%s: %s", names[c->step], strerror(-err));
        return;
    }
    if (cpl->status && !(c->step == ST_NS_DESC)) {
        bringup_failed(c, -EIO, "%s failed with status 0x%03x", names[c->step], cpl->status);
        return;
    }
    const uint8_t *d = c->idbuf;
    switch (c->step) {
    case ST_CAP: {
        uint64_t cap = (uint64_t)cpl->dw0 | ((uint64_t)cpl->dw1 << 32);
        c->cap = cap;
        uint32_t mqes = (uint32_t)(cap & 0xFFFF) + 1;
        c->io_depth = (uint16_t)(mqes < NVME_QP_MAX_DEPTH ? mqes : NVME_QP_MAX_DEPTH);
        uint64_t to_ms = ((cap >> 24) & 0xFF) * 500;
        c->rdy_deadline_ns = reactor_now_ns() + (to_ms ? to_ms : 5000) * 1000000ull;
        c->step = ST_CC;
        prop_set(c, 0x14, 1u | (6u << 16) | (4u << 20)); /* EN, IOSQES 64 B, IOCQES 16 B */
        return;
    }
    case ST_CC:
        c->step = ST_CSTS;
        prop_get(c, 0x1C, false);
        return;
    case ST_CSTS:
        if (cpl->dw0 & 2) {
            bringup_failed(c, -EIO, "the controller reports a fatal status (CSTS.CFS)");
            return;
        }
        if (!(cpl->dw0 & 1)) {
            if (reactor_now_ns() > c->rdy_deadline_ns) {
                bringup_failed(c, -ETIMEDOUT, "the controller did not become ready (CSTS.RDY)");
                return;
            }
            c->step_timer = reactor_timer_start(CSTS_POLL_US, 0, csts_poll, c);
            return;
        }
        c->step = ST_ID_CTRLR;
        identify(c, 1, 0);
        return;
    case ST_ID_CTRLR: {
        ascii_get(c->serial, d + 4, 20);
        ascii_get(c->model, d + 24, 40);
        ascii_get(c->fw, d + 64, 8);
        uint32_t mps = 4096u << ((c->cap >> 48) & 0xF);
        uint8_t mdts = d[77];
        c->max_xfer = mdts ? (mdts >= 12 ? (1u << 20) * 16 : mps << mdts) : 1u << 20;
        if (c->max_xfer > 1u << 20)
            c->max_xfer = 1u << 20;
        c->oncs = le16_get(d + 520);
        c->vwc = d[525] & 1;
        uint32_t ioccsz = le32_get(d + 1792);
        c->ioccsz_bytes = ioccsz > 4 ? ioccsz * 16 - 64 : 0;
        if (c->ioccsz_bytes > 65536)
            c->ioccsz_bytes = 65536;
        c->step = ST_NUM_QUEUES;
        uint8_t sqe[64];
        nvme_sqe_init(sqe, NVME_ADM_SET_FEATURES, 0);
        uint32_t want = (uint32_t)reactor_count();
        if (want > 64)
            want = 64;
        le32_put(sqe + 40, 0x07);
        le32_put(sqe + 44, (want - 1) | ((want - 1) << 16));
        submit_step(c, sqe, NULL, 0, false);
        return;
    }
    case ST_NUM_QUEUES: {
        uint32_t nsq = (cpl->dw0 & 0xFFFF) + 1, ncq = (cpl->dw0 >> 16) + 1;
        c->io_queues = (uint16_t)(nsq < ncq ? nsq : ncq);
        c->step = ST_ID_NS;
        identify(c, 0, 1);
        return;
    }
    case ST_ID_NS: {
        uint64_t nsze = le64_get(d);
        uint8_t lbaf = d[26] & 0xF;
        uint8_t lbads = d[128 + 4 * lbaf + 2];
        if (!nsze || lbads < 9 || lbads > 16) {
            bringup_failed(c, -ENODEV, "namespace 1 is not active (size %llu, LBA data size 2^%u)",
                           (unsigned long long)nsze, lbads);
            return;
        }
        uint64_t old = c->ns_blocks;
        c->ns_blocks = nsze;
        c->ns_blk_size = 1u << lbads;
        if (nvme_ctrlr_bdev(c) && old != nsze) {
            log_info("nvme: %s: namespace size changed from %llu to %llu blocks", c->name,
                     (unsigned long long)old, (unsigned long long)nsze);
            atomic_store(&c->bdev->num_blocks, nsze);
        }
        if (!c->ns_has_uuid)
            memcpy(c->ns_uuid, d + 104, 16); /* NGUID, until a descriptor says better */
        c->step = ST_NS_DESC;
        identify(c, 3, 1);
        return;
    }
    case ST_NS_DESC:
        /* optional: an old controller may not know CNS 03h */
        if (!cpl->status) {
            for (size_t off = 0; off + 4 <= 4096;) {
                uint8_t t = d[off], l = d[off + 1];
                if (!t || off + 4 + l > 4096)
                    break;
                if (t == 3 && l == 16) { /* UUID */
                    memcpy(c->ns_uuid, d + off + 4, 16);
                    c->ns_has_uuid = true;
                }
                off += 4 + (size_t)l;
            }
        }
        c->step = ST_DONE;
        advance(c);
        return;
    default:
        return;
    }
}

static void keep_alive(void *arg);

static void ka_done(void *arg, int err, const struct nvme_cpl *cpl)
{
    struct nvme_ctrlr *c = arg;
    if (err || (cpl && cpl->status)) {
        if (atomic_load(&c->state) == NVME_CTRLR_RUNNING && !c->destroying) {
            char why[96];
            snprintf(why, sizeof(why), "keep alive failed (%s)",
                     err ? strerror(-err) : "error status");
            ctrlr_down(c, why);
        }
    }
}

static void keep_alive(void *arg)
{
    struct nvme_ctrlr *c = arg;
    uint8_t sqe[64];
    nvme_sqe_init(sqe, NVME_ADM_KEEP_ALIVE, 0);
    if (admin_submit(c, sqe, NULL, 0, false, true, ka_done, c))
        ctrlr_down(c, "cannot send keep alive");
}

static void running(struct nvme_ctrlr *c)
{
    if (!c->bdev) {
        char err[200];
        c->bdev = nvme_bdev_build(c, err, sizeof(err));
        if (!c->bdev) {
            bringup_failed(c, -ENOMEM, "%s", err);
            return;
        }
    }
    if (!++c->gen)
        c->gen = 1;
    atomic_store(&c->live, ((uint32_t)c->gen << 16) | c->cntlid);
    atomic_store(&c->state, NVME_CTRLR_RUNNING);
    c->down_since_ns = 0;
    if (c->kato_ms)
        c->ka_timer = reactor_timer_start((uint64_t)c->kato_ms * 500, (uint64_t)c->kato_ms * 500,
                                          keep_alive, c);
    if (c->created) {
        log_info("nvme: attached %s (%s %s, serial %s): namespace of %llu x %u bytes, %u I/O "
                 "queue(s) of %u, MDTS %u KiB, in-capsule %u", c->name, c->model, c->fw,
                 c->serial, (unsigned long long)c->ns_blocks, c->ns_blk_size, c->io_queues,
                 c->io_depth, c->max_xfer / 1024, c->ioccsz_bytes);
        void (*done)(void *, int, struct bdev *, const char *) = c->created;
        c->created = NULL;
        done(c->created_arg, 0, c->bdev, NULL);
        return;
    }
    /* the I/O queues connect again on their next I/O (they see the new `live`) */
    log_info("nvme: %s reconnected (controller %u, attempt %u)", c->name, c->cntlid,
             c->reconnects);
}

static void admin_ready(void *arg, struct nvme_qpair *q, uint16_t cntlid)
{
    struct nvme_ctrlr *c = arg;
    if (q != c->admin)
        return;
    c->cntlid = cntlid;
    c->step = ST_CAP;
    prop_get(c, 0x00, true);
}

static void admin_failed(void *arg, struct nvme_qpair *q, int err, const char *why)
{
    struct nvme_ctrlr *c = arg;
    if (q != c->admin || c->destroying)
        return;
    if (atomic_load(&c->state) == NVME_CTRLR_RUNNING) {
        ctrlr_down(c, why);
        return;
    }
    bringup_failed(c, err, "%s", why);
}

static void advance(struct nvme_ctrlr *c)
{
    if (c->step == ST_CONNECT) {
        c->attempt++;
        struct nvme_qpair_opts o = {0};
        o.addr = c->addr;
        o.addrlen = c->addrlen;
        o.peer = c->peer;
        o.qid = 0;
        o.depth = ADMIN_DEPTH;
        o.cntlid = 0xFFFF;
        o.subnqn = c->subnqn;
        o.hostnqn = c->hostnqn;
        memcpy(o.hostid, c->hostid, 16);
        o.kato_ms = c->kato_ms;
        o.hdgst = c->hdgst;
        o.ddgst = c->ddgst;
        o.cmd_timeout_ns = c->admin_timeout_ns;
        o.connect_timeout_ns = c->connect_timeout_ns;
        o.incapsule = ADMIN_INCAPSULE;
        struct nvme_qpair_cbs cbs = {admin_ready, admin_failed, c};
        c->admin = nvme_qpair_connect(&o, &cbs);
        if (!c->admin)
            bringup_failed(c, -ENOMEM, "cannot open a socket");
        return;
    }
    if (c->step == ST_DONE)
        running(c);
}

/* ---- down and reconnect ---- */

static void retry(void *arg)
{
    struct nvme_ctrlr *c = arg;
    c->retry_timer = NULL;
    if (c->destroying)
        return;
    c->reconnects++;
    c->step = ST_CONNECT;
    advance(c);
}

static void ctrlr_down(struct nvme_ctrlr *c, const char *why)
{
    if (c->destroying)
        return;
    bool was_running = atomic_load(&c->state) == NVME_CTRLR_RUNNING;
    atomic_store(&c->live, 0);
    atomic_store(&c->state, NVME_CTRLR_FAULTED);
    snprintf(c->last_error, sizeof(c->last_error), "%s", why);
    if (c->ka_timer) {
        reactor_timer_cancel(c->ka_timer);
        c->ka_timer = NULL;
    }
    if (c->step_timer) {
        reactor_timer_cancel(c->step_timer);
        c->step_timer = NULL;
    }
    if (c->admin) {
        nvme_qpair_destroy(c->admin);
        c->admin = NULL;
    }
    /* the I/O queues notice by themselves: the next I/O sees `live` is 0 and drops its
     * queue; a queue waiting on the lost controller times out or is closed by it */
    uint64_t now = reactor_now_ns();
    if (!c->down_since_ns)
        c->down_since_ns = now;
    if (was_running)
        log_warn("nvme: %s is down: %s; reconnecting every %llu ms for up to %llu s", c->name,
                 why, (unsigned long long)(c->reconnect_delay_ns / 1000000),
                 (unsigned long long)(c->loss_timeout_ns / 1000000000ull));
    if (now - c->down_since_ns >= c->loss_timeout_ns) {
        log_error("nvme: %s: giving up after %u reconnect attempt(s) over %llu s: %s", c->name,
                  c->reconnects, (unsigned long long)((now - c->down_since_ns) / 1000000000ull),
                  why);
        return;
    }
    if (!c->retry_timer)
        c->retry_timer = reactor_timer_start(c->reconnect_delay_ns / 1000, 0, retry, c);
}

struct io_failed_msg {
    struct nvme_ctrlr *c;
    uint32_t live;
    char why[160];
};

static void io_failed_on_primary(void *arg)
{
    struct io_failed_msg *m = arg;
    struct nvme_ctrlr *c = m->c;
    if (!c->destroying && m->live && m->live == atomic_load(&c->live)) {
        char why[200];
        snprintf(why, sizeof(why), "I/O queue: %s", m->why);
        ctrlr_down(c, why);
    }
    free(m);
}

void nvme_ctrlr_io_failed(struct nvme_ctrlr *c, uint32_t live, const char *why)
{
    struct io_failed_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return; /* the keep alive or the next I/O notices */
    m->c = c;
    m->live = live;
    snprintf(m->why, sizeof(m->why), "%s", why);
    if (reactor_send(reactor_primary(), io_failed_on_primary, m))
        free(m);
}

/* ---- create / destroy ---- */

static int resolve(struct nvme_ctrlr *c, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%u", c->port);
    int rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc || !res) {
        snprintf(err, errlen, "cannot resolve %.100s: %s", c->host, gai_strerror(rc));
        return -ENOENT;
    }
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int nvme_ctrlr_new(const char *host, uint16_t port, const char *subnqn, const char *hostnqn,
                   bool hdgst, bool ddgst, struct nvme_ctrlr **out, char *err, size_t errlen)
{
    struct nvme_ctrlr *c = calloc(1, sizeof(*c));
    if (!c || !(c->idbuf = aligned_alloc(4096, 4096))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    snprintf(c->subnqn, sizeof(c->subnqn), "%s", subnqn);
    char nqn[224];
    nvme_host_identity(nqn, c->hostid);
    snprintf(c->hostnqn, sizeof(c->hostnqn), "%s", hostnqn && *hostnqn ? hostnqn : nqn);
    c->hdgst = hdgst;
    c->ddgst = ddgst;
    bool v6 = strchr(host, ':') != NULL;
    snprintf(c->name, sizeof(c->name), "%s%s%s:%u/%s", v6 ? "[" : "", host, v6 ? "]" : "", port,
             subnqn);
    snprintf(c->peer, sizeof(c->peer), "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
    c->io_timeout_ns = nvme_env_duration_ns("NVME_TIMEOUT", 5000000000ull, 1000);
    c->admin_timeout_ns = nvme_env_duration_ns("NVME_TIMEOUT_ADMIN", 5000000000ull, 1000);
    c->kato_ms = (uint32_t)(nvme_env_duration_ns("NVME_KATO", 10000000000ull, 1000000) / 1000000);
    c->connect_timeout_ns = nvme_env_duration_ns("NVMF_FABRICS_CONNECT_TIMEOUT", 1000000000ull, 1000);
    c->reconnect_delay_ns = nvme_env_duration_ns("NVME_RECONNECT_DELAY", 1000000000ull, 1000000);
    c->loss_timeout_ns = nvme_env_duration_ns("NVME_CTRLR_LOSS_TIMEOUT", 30000000000ull, 1000000);
    if (!c->reconnect_delay_ns)
        c->reconnect_delay_ns = 1000000;
    atomic_store(&c->state, NVME_CTRLR_NEW);
    c->reg.describe = describe;
    *out = c;
    (void)err;
    (void)errlen;
    return 0;
}

struct start_job {
    struct nvme_ctrlr *c;
    int rc;
    char err[200];
};

static void resolve_work(void *arg)
{
    struct start_job *j = arg;
    j->rc = resolve(j->c, j->err, sizeof(j->err));
}

static void resolved(void *arg)
{
    struct start_job *j = arg;
    struct nvme_ctrlr *c = j->c;
    if (j->rc) {
        bringup_failed(c, j->rc, "%s", j->err);
    } else {
        nvme_ctrlr_registry_add(&c->reg);
        struct nvme_ctrlr **p = &g_ctrlrs;
        while (*p)
            p = &(*p)->next;
        c->next = NULL;
        *p = c;
        atomic_store(&c->state, NVME_CTRLR_INITIALIZING);
        c->step = ST_CONNECT;
        advance(c);
    }
    free(j);
}

void nvme_ctrlr_start(struct nvme_ctrlr *c,
                      void (*done)(void *arg, int rc, struct bdev *b, const char *errmsg),
                      void *arg)
{
    c->created = done;
    c->created_arg = arg;
    struct start_job *j = calloc(1, sizeof(*j));
    if (!j) {
        bringup_failed(c, -ENOMEM, "out of memory");
        return;
    }
    j->c = c;
    /* a host name may need DNS, which blocks: off the reactor */
    if (offload(resolve_work, resolved, j)) {
        free(j);
        bringup_failed(c, -ENOMEM, "cannot start the name resolution");
    }
}

static void maybe_free(struct nvme_ctrlr *c)
{
    if (!c->destroying || c->admin_inflight)
        return;
    free(c->idbuf);
    free(c);
}

void nvme_ctrlr_destroy(struct nvme_ctrlr *c)
{
    if (c->destroying)
        return;
    c->destroying = true;
    atomic_store(&c->live, 0);
    atomic_store(&c->state, NVME_CTRLR_UNCONFIGURED);
    nvme_ctrlr_registry_remove(&c->reg);
    list_remove(c);
    struct reactor_timer **timers[] = {&c->ka_timer, &c->retry_timer, &c->step_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        if (*timers[i]) {
            reactor_timer_cancel(*timers[i]);
            *timers[i] = NULL;
        }
    if (c->admin) {
        nvme_qpair_destroy(c->admin);
        c->admin = NULL;
    }
    maybe_free(c);
}

/* Controllers (primary reactor): Fabrics Connect / Property Get / Property Set /
 * Disconnect, the controller's lifetime, keep alive, asynchronous events, and the
 * access word pushed to its queues. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

#define CAP_MQES (NVMF_MAX_QUEUE_DEPTH - 1)
#define CAP_TO 30 /* ready timeout, 500 ms units: 15 s */
#define NVMF_VS 0x00010300u

static uint64_t cap_value(void)
{
    return (uint64_t)CAP_MQES | (1ull << 16) /* CQR */ | ((uint64_t)CAP_TO << 24) |
           (1ull << 37) /* CSS: NVM command set */;
}

uint32_t nvmf_ctrlr_access(const struct nvmf_ctrlr *c)
{
    const struct nvmf_subsys *ss = c->ss;
    uint32_t a = 0;
    if (nvmf_resv_access(&ss->resv, c->hostid, false))
        a |= NVMF_ACCESS_READ;
    if (nvmf_resv_access(&ss->resv, c->hostid, true))
        a |= NVMF_ACCESS_WRITE;
    if (c->acre)
        a |= NVMF_ACCESS_ACRE;
    if (ss->kind == NVMF_SUBSYS_NEXUS)
        a |= NVMF_ACCESS_NEXUS;
    return a | ((uint32_t)ss->ana_state << NVMF_ACCESS_ANA_SHIFT);
}

void nvmf_ctrlr_push_access(struct nvmf_ctrlr *c)
{
    uint32_t a = nvmf_ctrlr_access(c);
    if (c->admin) /* its completions carry retry delays too */
        atomic_store_explicit(&c->admin->access, a, memory_order_release);
    for (struct nvmf_qpair *q = c->io_qpairs; q; q = q->ctrlr_next)
        atomic_store_explicit(&q->access, a, memory_order_release);
}

/* ---- asynchronous events ---- */

static void aer_complete(struct nvmf_req *r, uint32_t dw0)
{
    r->dw0 = dw0;
    r->status = NVME_SC_SUCCESS;
    nvmf_req_complete_from_primary(r);
}

void nvmf_ctrlr_aen(struct nvmf_ctrlr *c, uint32_t cfg_bit, uint32_t dw0)
{
    if (c->dying || (cfg_bit && !(c->aen_cfg & cfg_bit)))
        return;
    if (c->n_aer) {
        struct nvmf_req *r = c->aer[0];
        memmove(c->aer, c->aer + 1, sizeof(c->aer[0]) * (size_t)--c->n_aer);
        aer_complete(r, dw0);
        return;
    }
    for (int i = 0; i < c->n_events; i++)
        if (c->events[i] == dw0)
            return; /* already waiting for the host */
    if (c->n_events < NVMF_MAX_EVENTS)
        c->events[c->n_events++] = dw0;
}

/* An Asynchronous Event Request: answered at once if an event waits, else kept. */
void nvmf_ctrlr_aer(struct nvmf_ctrlr *c, struct nvmf_req *r)
{
    if (c->n_events) {
        uint32_t ev = c->events[0];
        memmove(c->events, c->events + 1, sizeof(c->events[0]) * (size_t)--c->n_events);
        aer_complete(r, ev);
        return;
    }
    if (c->n_aer >= NVMF_MAX_AER) {
        r->status = NVME_SC_ASYNC_LIMIT;
        nvmf_req_complete_from_primary(r);
        return;
    }
    c->aer[c->n_aer++] = r;
}

/* ---- lifetime ---- */

static void ctrlr_free(struct nvmf_ctrlr *c)
{
    struct nvmf_subsys *ss = c->ss;
    for (struct nvmf_ctrlr **p = &ss->ctrlrs; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    log_info("nvmf: %s: controller %u of host %s removed", ss->nqn, c->cntlid, c->hostnqn);
    free(c);
    nvmf_subsys_ctrlr_removed(ss);
}

void nvmf_ctrlr_destroy(struct nvmf_ctrlr *c)
{
    if (c->dying)
        return;
    c->dying = true;
    if (c->ka_timer) {
        reactor_timer_cancel(c->ka_timer);
        c->ka_timer = NULL;
    }
    /* outstanding event requests end with the queue */
    while (c->n_aer) {
        struct nvmf_req *r = c->aer[--c->n_aer];
        r->status = NVME_SC_ABORT_SQ_DELETION;
        nvmf_req_complete_from_primary(r);
    }
    if (c->admin)
        nvmf_qpair_disconnect(c->admin);
    for (struct nvmf_qpair *q = c->io_qpairs; q; q = q->ctrlr_next)
        nvmf_qpair_disconnect(q);
    if (!c->qpairs)
        ctrlr_free(c);
}

void nvmf_ctrlr_qpair_gone(struct nvmf_qpair *qp)
{
    struct nvmf_ctrlr *c = qp->ctrlr;
    if (!c)
        return;
    qp->ctrlr = NULL;
    if (c->admin == qp) {
        c->admin = NULL;
    } else {
        for (struct nvmf_qpair **p = &c->io_qpairs; *p; p = &(*p)->ctrlr_next) {
            if (*p == qp) {
                *p = qp->ctrlr_next;
                break;
            }
        }
    }
    c->qpairs--;
    if (!c->admin && !c->dying) {
        /* the admin queue is the controller: without it the I/O queues go too */
        nvmf_ctrlr_destroy(c);
        return;
    }
    if (c->dying && !c->qpairs)
        ctrlr_free(c);
}

static void ka_check(void *arg)
{
    struct nvmf_ctrlr *c = arg;
    if (c->dying || !c->kato_ms)
        return;
    if (reactor_now_ns() - c->last_ka_ns > (uint64_t)c->kato_ms * 1000000ull) {
        log_warn("nvmf: %s: controller %u of host %s: keep-alive timeout (%u ms) expired",
                 c->ss->nqn, c->cntlid, c->hostnqn, c->kato_ms);
        nvmf_ctrlr_destroy(c);
    }
}

void nvmf_ctrlr_set_kato(struct nvmf_ctrlr *c, uint32_t kato_ms)
{
    if (c->ka_timer) {
        reactor_timer_cancel(c->ka_timer);
        c->ka_timer = NULL;
    }
    c->kato_ms = kato_ms;
    c->last_ka_ns = reactor_now_ns();
    if (!kato_ms)
        return;
    uint64_t period_us = (uint64_t)kato_ms * 1000 / 4;
    if (period_us < 100000)
        period_us = 100000;
    c->ka_timer = reactor_timer_start(period_us, period_us, ka_check, c);
}

static uint16_t alloc_cntlid(struct nvmf_subsys *ss)
{
    uint32_t span = (uint32_t)ss->max_cntlid - ss->min_cntlid + 1;
    for (uint32_t n = 0; n < span; n++) {
        uint16_t id = ss->next_cntlid;
        ss->next_cntlid = id >= ss->max_cntlid ? ss->min_cntlid : (uint16_t)(id + 1);
        bool used = false;
        for (struct nvmf_ctrlr *c = ss->ctrlrs; c && !used; c = c->next)
            used = c->cntlid == id;
        if (!used)
            return id;
    }
    return 0;
}

/* ---- Connect ---- */

static void invalid_param(struct nvmf_req *r, bool in_data, uint16_t offset)
{
    r->status = NVME_SC_CONNECT_INVALID_PARAM;
    r->dnr = true;
    r->dw0 = (in_data ? 1u : 0u) | ((uint32_t)offset << 16);
}

/* A NUL-terminated string field of the connect data (at most 256 bytes). */
static bool str_field(const uint8_t *p, char *out, size_t outlen)
{
    size_t n = strnlen((const char *)p, 256);
    if (n == 256 || n >= outlen)
        return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

static void fabrics_connect(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    const uint8_t *s = r->sqe;
    uint16_t recfmt = le16_get(s + 40), qid = le16_get(s + 42), sqsize = le16_get(s + 44);
    uint32_t kato = le32_get(s + 48);
    if (recfmt != 0) {
        r->status = NVME_SC_CONNECT_FORMAT;
        r->dnr = true;
        return;
    }
    if (!r->buf || r->xfer_len < 1024) {
        r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
        r->dnr = true;
        return;
    }
    const uint8_t *d = r->buf;
    uint16_t cntlid = le16_get(d + 16);
    char subnqn[NVMF_NQN_MAX + 1], hostnqn[NVMF_NQN_MAX + 1];
    if (!str_field(d + 256, subnqn, sizeof(subnqn))) {
        invalid_param(r, true, 256);
        return;
    }
    if (!str_field(d + 512, hostnqn, sizeof(hostnqn)) || !hostnqn[0]) {
        invalid_param(r, true, 512);
        return;
    }
    struct nvmf_subsys *ss = nvmf_subsys_by_nqn(subnqn);
    if (!ss || ss->stopping) {
        log_info("nvmf: %s: connect to unknown subsystem %s", qp->peer, subnqn);
        invalid_param(r, true, 256);
        return;
    }
    if (!nvmf_subsys_host_allowed(ss, hostnqn)) {
        log_warn("nvmf: %s: host %s is not allowed on %s", qp->peer, hostnqn, subnqn);
        r->status = NVME_SC_CONNECT_INVALID_HOST;
        r->dnr = true;
        return;
    }
    if (sqsize < 1 || sqsize > CAP_MQES) {
        invalid_param(r, false, 44);
        return;
    }
    struct nvmf_ctrlr *c;
    if (qid == 0) {
        if (cntlid != 0xFFFF) {
            invalid_param(r, true, 16);
            return;
        }
        uint16_t id = alloc_cntlid(ss);
        if (!id || !(c = calloc(1, sizeof(*c)))) {
            r->status = NVME_SC_CONNECT_CTRL_BUSY;
            return;
        }
        c->ss = ss;
        c->cntlid = id;
        snprintf(c->hostnqn, sizeof(c->hostnqn), "%s", hostnqn);
        memcpy(c->hostid, d, 16);
        c->n_io_queues = 0;
        c->resv_mask = 0;
        c->admin = qp;
        c->qpairs = 1;
        c->next = ss->ctrlrs;
        ss->ctrlrs = c;
        nvmf_ctrlr_set_kato(c, kato);
        log_info("nvmf: %s: host %s connected to %s as controller %u", qp->peer, hostnqn,
                 ss->nqn, id);
    } else {
        for (c = ss->ctrlrs; c && c->cntlid != cntlid; c = c->next)
            ;
        if (!c || c->dying) {
            invalid_param(r, true, 16);
            return;
        }
        if (strcmp(c->hostnqn, hostnqn) || memcmp(c->hostid, d, 16)) {
            invalid_param(r, true, 512);
            return;
        }
        if (!(c->csts & NVME_CSTS_RDY) || ss->discovery) {
            invalid_param(r, false, 42);
            return;
        }
        uint16_t max_q = c->n_io_queues ? c->n_io_queues : NVMF_MAX_IO_QUEUES;
        bool dup = false;
        for (struct nvmf_qpair *q = c->io_qpairs; q && !dup; q = q->ctrlr_next)
            dup = q->qid == qid;
        if (qid > max_q || dup) {
            invalid_param(r, false, 42);
            return;
        }
        qp->ctrlr_next = c->io_qpairs;
        c->io_qpairs = qp;
        c->qpairs++;
    }
    qp->ctrlr = c;
    qp->qid = qid;
    qp->sqsize = (uint16_t)(sqsize + 1);
    qp->sqhd = 1;
    qp->connected = true;
    qp->lim.max_incapsule = qid ? NVMF_IN_CAPSULE : NVMF_IN_CAPSULE_ADMIN;
    atomic_store_explicit(&qp->access, nvmf_ctrlr_access(c), memory_order_release);
    r->dw0 = c->cntlid;
}

/* ---- properties ---- */

static void property_get(struct nvmf_req *r, struct nvmf_ctrlr *c)
{
    bool eight = r->sqe[40] & 1;
    uint32_t ofst = le32_get(r->sqe + 44);
    uint64_t v;
    switch (ofst) {
    case NVME_REG_CAP:
        if (!eight)
            goto bad;
        v = cap_value();
        break;
    case NVME_REG_VS:
        v = NVMF_VS;
        goto four;
    case NVME_REG_CC:
        v = c->cc;
        goto four;
    case NVME_REG_CSTS:
        v = c->csts;
        goto four;
    default:
        goto bad;
    }
    r->dw0 = (uint32_t)v;
    r->dw1 = (uint32_t)(v >> 32);
    return;
four:
    if (eight)
        goto bad;
    r->dw0 = (uint32_t)v;
    return;
bad:
    r->status = NVME_SC_INVALID_FIELD;
    r->dnr = true;
}

static void property_set(struct nvmf_req *r, struct nvmf_ctrlr *c)
{
    bool eight = r->sqe[40] & 1;
    uint32_t ofst = le32_get(r->sqe + 44);
    uint32_t v = le32_get(r->sqe + 48);
    if (ofst != NVME_REG_CC || eight) {
        r->status = NVME_SC_INVALID_FIELD;
        r->dnr = true;
        return;
    }
    uint32_t old = c->cc;
    c->cc = v;
    if ((v & NVME_CC_EN) && !(old & NVME_CC_EN)) {
        /* queue entry sizes must be those of NVMe: 64-byte SQEs, 16-byte CQEs */
        if (((v >> 16) & 0xF) != 6 || ((v >> 20) & 0xF) != 4 || ((v >> 4) & 7) != 0) {
            c->csts |= NVME_CSTS_CFS;
            return;
        }
        c->csts |= NVME_CSTS_RDY;
    } else if (!(v & NVME_CC_EN) && (old & NVME_CC_EN)) {
        /* a controller reset: the I/O queues go */
        c->csts &= ~(NVME_CSTS_RDY | NVME_CSTS_SHST_CMPLT | NVME_CSTS_CFS);
        for (struct nvmf_qpair *q = c->io_qpairs; q; q = q->ctrlr_next)
            nvmf_qpair_disconnect(q);
    }
    if (NVME_CC_SHN(v))
        c->csts = (c->csts & ~(3u << 2)) | NVME_CSTS_SHST_CMPLT;
    else
        c->csts &= ~(3u << 2);
}

void nvmf_fabrics_exec(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    switch (SQE_FCTYPE(r->sqe)) {
    case NVMF_FCTYPE_CONNECT:
        fabrics_connect(r);
        break;
    case NVMF_FCTYPE_PROPERTY_GET:
    case NVMF_FCTYPE_PROPERTY_SET:
        if (!qp->ctrlr || qp->qid != 0) {
            r->status = NVME_SC_INVALID_FIELD;
            break;
        }
        qp->ctrlr->last_ka_ns = reactor_now_ns();
        if (SQE_FCTYPE(r->sqe) == NVMF_FCTYPE_PROPERTY_GET)
            property_get(r, qp->ctrlr);
        else
            property_set(r, qp->ctrlr);
        break;
    case NVMF_FCTYPE_DISCONNECT:
        if (qp->qid == 0) {
            r->status = NVME_SC_INVALID_FIELD;
            break;
        }
        /* the response first, then the queue goes (messages keep their order) */
        nvmf_req_complete_from_primary(r);
        nvmf_qpair_disconnect(qp);
        return;
    default:
        r->status = NVME_SC_INVALID_OPCODE;
        r->dnr = true;
        break;
    }
    nvmf_req_complete_from_primary(r);
}

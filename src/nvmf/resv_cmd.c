/* Reservation commands (primary reactor): decode, run on the namespace's reservation
 * state (resv.c), tell the affected hosts, abort where asked, update every queue's
 * access word. */
#include <string.h>

#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

static uint16_t cntlid_of(const uint8_t hostid[16], void *ctx)
{
    struct nvmf_subsys *ss = ctx;
    for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next)
        if (!c->dying && !memcmp(c->hostid, hostid, 16))
            return c->cntlid;
    return 0xFFFF;
}

/* Queues a reservation notification on every controller of the host, and raises the
 * event unless the host masked that type. */
static void notify(struct nvmf_subsys *ss, const struct nvmf_resv_notice *n)
{
    for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next) {
        if (c->dying || memcmp(c->hostid, n->hostid, 16))
            continue;
        if (c->resv_mask & (1u << n->type))
            continue;
        c->resv_log_count++;
        if (c->n_resv_notices < (int)(sizeof(c->resv_notices) / sizeof(c->resv_notices[0])))
            c->resv_notices[c->n_resv_notices++] = *n;
        nvmf_ctrlr_aen(c, 0, NVME_AER_TYPE_IO_SPECIFIC | (NVME_AER_IO_RESV_LOG << 8) |
                                 ((uint32_t)NVME_LOG_RESV_NOTIFICATION << 16));
    }
}

static void apply_notices(struct nvmf_subsys *ss, const struct nvmf_resv_notices *out)
{
    for (size_t i = 0; i < out->n; i++)
        notify(ss, &out->v[i]);
    /* Preempt and Abort: the preempted hosts' queues are torn down, which ends every
     * command they have outstanding; they reconnect and find their registration gone. */
    for (size_t i = 0; i < out->n_abort; i++)
        for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next)
            if (!memcmp(c->hostid, out->abort_hostid[i], 16))
                for (struct nvmf_qpair *q = c->io_qpairs; q; q = q->ctrlr_next)
                    nvmf_qpair_disconnect(q);
    for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next)
        nvmf_ctrlr_push_access(c);
}

void nvmf_resv_exec(struct nvmf_req *r)
{
    struct nvmf_ctrlr *c = r->qp->ctrlr;
    if (!c || c->dying) {
        r->status = NVME_SC_ABORT_SQ_DELETION;
        nvmf_req_complete_from_primary(r);
        return;
    }
    struct nvmf_subsys *ss = c->ss;
    uint32_t c10 = SQE_CDW(r->sqe, 10);
    static struct nvmf_resv_notices out;
    memset(&out, 0, sizeof(out));
    bool changed = false;
    const uint8_t *data = r->buf;
    size_t len = r->h2c ? r->xfer_len : 0;
    switch (SQE_OPC(r->sqe)) {
    case NVME_IO_RESV_REGISTER:
        r->status = nvmf_resv_register(&ss->resv, c->hostid, c10, data, len, &out, &changed);
        break;
    case NVME_IO_RESV_ACQUIRE:
        r->status = nvmf_resv_acquire(&ss->resv, c->hostid, c10, data, len, &out, &changed);
        break;
    case NVME_IO_RESV_RELEASE:
        r->status = nvmf_resv_release(&ss->resv, c->hostid, c10, data, len, &out, &changed);
        break;
    case NVME_IO_RESV_REPORT: {
        if (!r->c2h || !r->buf) {
            r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
            break;
        }
        size_t want = ((size_t)c10 + 1) * 4;
        if (want > r->xfer_len)
            want = r->xfer_len;
        r->status = nvmf_resv_report(&ss->resv, SQE_CDW(r->sqe, 11), r->buf, want, cntlid_of, ss);
        r->c2h_len = r->xfer_len;
        break;
    }
    }
    if (changed || out.n)
        apply_notices(ss, &out);
    nvmf_req_complete_from_primary(r);
}

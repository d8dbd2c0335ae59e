/* Reservation commands (primary reactor): decode, run on the namespace's reservation
 * state (resv.c), tell the affected hosts, abort where asked, update every queue's
 * access word.
 *
 * Where the state persists through power loss (a PTPL file, ptpl.h), a command that
 * changes it computes the new state on a copy, writes the file, and only then makes the
 * copy the namespace's state, sends the notices and completes; a write that fails leaves
 * the state as it was and fails the command with Internal Error, so no host is told of a
 * change a restart would forget. Commands arriving meanwhile wait, in order. */
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"
#include "nvmf/ptpl.h"

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

/* A change of the reservation state on its way to the PTPL file. */
struct resv_change {
    struct nvmf_subsys *ss;
    struct nvmf_req *r;
    struct nvmf_resv next;
    struct nvmf_resv_notices out;
};

static void resv_run(struct nvmf_req *r);

/* The state is the namespace's now: hosts are told, preempted queues torn down. */
static void commit(struct nvmf_subsys *ss, const struct nvmf_resv *next,
                   const struct nvmf_resv_notices *out)
{
    ss->resv = *next;
    apply_notices(ss, out);
}

/* Runs the commands that waited for a file write, in order; lets a stopping subsystem
 * go once nothing is in flight. */
static void run_waiting(struct nvmf_subsys *ss)
{
    while (!ss->resv_busy && ss->resv_wait) {
        struct nvmf_req *r = ss->resv_wait;
        ss->resv_wait = r->next;
        r->next = NULL;
        resv_run(r);
    }
    if (!ss->resv_busy)
        nvmf_subsys_ctrlr_removed(ss); /* frees it if it is stopping without controllers */
}

static void persisted(void *arg, int rc)
{
    struct resv_change *x = arg;
    struct nvmf_subsys *ss = x->ss;
    ss->resv_busy = false;
    if (rc)
        x->r->status = NVME_SC_INTERNAL; /* the state stays as it was, on disk and here */
    else
        commit(ss, &x->next, &x->out);
    nvmf_req_complete_from_primary(x->r);
    free(x);
    run_waiting(ss);
}

/* The command changed the state (in x->next): a state that persists, or stops
 * persisting, reaches the file before it takes effect; the command completes after. */
static void change(struct resv_change *x)
{
    struct nvmf_subsys *ss = x->ss;
    if (!ss->ptpl_path || (!ss->resv.ptpl && !x->next.ptpl)) {
        commit(ss, &x->next, &x->out);
        nvmf_req_complete_from_primary(x->r);
        free(x);
        return;
    }
    char uuid[37];
    uuid_unparse_lower(ss->nguid, uuid);
    char *text = nvmf_resv_to_ptpl(&x->next, uuid);
    if (!text) {
        x->r->status = NVME_SC_INTERNAL;
        nvmf_req_complete_from_primary(x->r);
        free(x);
        return;
    }
    ss->resv_busy = true;
    nvmf_ptpl_store(ss->ptpl_path, text, persisted, x);
    free(text);
}

static void resv_run(struct nvmf_req *r)
{
    struct nvmf_ctrlr *c = r->qp->ctrlr;
    if (!c || c->dying) {
        r->status = NVME_SC_ABORT_SQ_DELETION;
        nvmf_req_complete_from_primary(r);
        return;
    }
    struct nvmf_subsys *ss = c->ss;
    uint32_t c10 = SQE_CDW(r->sqe, 10), c11 = SQE_CDW(r->sqe, 11);
    if (r->qp->qid == 0) { /* Set Features: Reservation Persistence (admin.c checked it) */
        if ((c11 & 1) && !ss->ptpl_path) {
            r->status = NVME_SC_INVALID_FIELD;
            r->dnr = true;
            nvmf_req_complete_from_primary(r);
            return;
        }
        if (ss->resv.ptpl == (bool)(c11 & 1)) {
            nvmf_req_complete_from_primary(r);
            return;
        }
    }
    if (SQE_OPC(r->sqe) == NVME_IO_RESV_REPORT && r->qp->qid) {
        if (!r->c2h || !r->buf) {
            r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
        } else {
            size_t want = ((size_t)c10 + 1) * 4;
            if (want > r->xfer_len)
                want = r->xfer_len;
            r->status = nvmf_resv_report(&ss->resv, c11, r->buf, want, cntlid_of, ss);
            r->c2h_len = r->xfer_len;
        }
        r->dnr = r->status != 0;
        nvmf_req_complete_from_primary(r);
        return;
    }
    struct resv_change *x = calloc(1, sizeof(*x));
    if (!x) {
        r->status = NVME_SC_INTERNAL;
        nvmf_req_complete_from_primary(r);
        return;
    }
    x->ss = ss;
    x->r = r;
    x->next = ss->resv;
    bool changed = false;
    const uint8_t *data = r->buf;
    size_t len = r->h2c ? r->xfer_len : 0;
    if (r->qp->qid == 0) {
        x->next.ptpl = c11 & 1;
        changed = true;
    } else {
        switch (SQE_OPC(r->sqe)) {
        case NVME_IO_RESV_REGISTER:
            /* CPTPL 11b asks for persistence this namespace cannot give */
            if (((c10 >> 30) & 3) == 3 && !ss->ptpl_path)
                r->status = NVME_SC_INVALID_FIELD;
            else
                r->status = nvmf_resv_register(&x->next, c->hostid, c10, data, len, &x->out,
                                               &changed);
            break;
        case NVME_IO_RESV_ACQUIRE:
            r->status = nvmf_resv_acquire(&x->next, c->hostid, c10, data, len, &x->out, &changed);
            break;
        case NVME_IO_RESV_RELEASE:
            r->status = nvmf_resv_release(&x->next, c->hostid, c10, data, len, &x->out, &changed);
            break;
        }
    }
    if (r->status || !changed) {
        /* a malformed command stays wrong; a conflict may pass once the holder lets go */
        r->dnr = r->status && r->status != NVME_SC_RESERVATION_CONFLICT;
        nvmf_req_complete_from_primary(r);
        free(x);
        return;
    }
    change(x);
}

/* Reservation commands (and the persistence feature) of one namespace run in order: one
 * that arrives while another's state is being written waits for it. */
void nvmf_resv_exec(struct nvmf_req *r)
{
    struct nvmf_ctrlr *c = r->qp->ctrlr;
    if (c && !c->dying && c->ss->resv_busy) {
        r->next = NULL;
        struct nvmf_req **p = &c->ss->resv_wait;
        while (*p)
            p = &(*p)->next;
        *p = r;
        return;
    }
    resv_run(r);
}

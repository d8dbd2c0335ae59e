/* One NVMe/TCP connection (a queue pair) on its reactor: receiving PDUs into place,
 * dispatching commands, sending data and responses, and teardown.
 *
 * Receiving: the socket is watched with a one-shot io_uring poll; when readable, PDUs are
 * read with non-blocking recv. Headers and small data come through a staging buffer;
 * a large data transfer is read straight into the command's buffer, so the bytes of a
 * write land where the device reads them from. Sending gathers queued PDUs (header, data
 * buffer, digest) into one sendmsg; what does not fit waits for POLLOUT. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/log.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

#define SMALL_BUF 4096u
#define MAX_CACHED 16
#define TX_IOV_MAX 64

static void rx_process(struct nvmf_qpair *qp);
static void tx_flush(struct nvmf_qpair *qp);
static void qp_close(struct nvmf_qpair *qp, const char *why);
static void qp_maybe_free(struct nvmf_qpair *qp);

/* Every entry into a qpair from outside (readiness, messages, device completions) runs
 * between qp_enter and qp_leave: a close deep inside frees the qpair only on the way
 * out, never under a caller still using it. */
static void qp_enter(struct nvmf_qpair *qp) { qp->depth++; }
static void qp_leave(struct nvmf_qpair *qp)
{
    if (--qp->depth == 0 && qp->closing)
        qp_maybe_free(qp);
}

/* ---- data buffers: two size classes, a few of each cached per reactor ---- */

struct buf_cache {
    void *small[MAX_CACHED], *large[MAX_CACHED];
    int n_small, n_large;
};
static _Thread_local struct buf_cache t_bufs;
static pthread_key_t g_bufs_key;
static pthread_once_t g_bufs_once = PTHREAD_ONCE_INIT;

/* A reactor thread's cached buffers go with the thread. */
static void bufs_free(void *arg)
{
    struct buf_cache *c = arg;
    while (c->n_small)
        free(c->small[--c->n_small]);
    while (c->n_large)
        free(c->large[--c->n_large]);
}

static void bufs_key_make(void) { pthread_key_create(&g_bufs_key, bufs_free); }

static void bufs_register(void)
{
    pthread_once(&g_bufs_once, bufs_key_make);
    if (!pthread_getspecific(g_bufs_key))
        pthread_setspecific(g_bufs_key, &t_bufs);
}

uint8_t *nvmf_buf_get(uint32_t len)
{
    bool small = len <= SMALL_BUF;
    if (small && t_bufs.n_small)
        return t_bufs.small[--t_bufs.n_small];
    if (!small && len <= NVMF_MDTS_BYTES && t_bufs.n_large)
        return t_bufs.large[--t_bufs.n_large];
    void *p = NULL;
    size_t sz = small ? SMALL_BUF : (len <= NVMF_MDTS_BYTES ? NVMF_MDTS_BYTES : len);
    if (posix_memalign(&p, 4096, sz))
        return NULL;
    return p;
}

void nvmf_buf_put(uint8_t *p, uint32_t len)
{
    if (!p)
        return;
    if (!t_bufs.n_small && !t_bufs.n_large)
        bufs_register();
    if (len <= SMALL_BUF && t_bufs.n_small < MAX_CACHED)
        t_bufs.small[t_bufs.n_small++] = p;
    else if (len > SMALL_BUF && len <= NVMF_MDTS_BYTES && t_bufs.n_large < MAX_CACHED)
        t_bufs.large[t_bufs.n_large++] = p;
    else
        free(p);
}

/* ---- requests ---- */

static struct nvmf_req *req_alloc(struct nvmf_qpair *qp)
{
    struct nvmf_req *r = qp->free_reqs;
    if (!r)
        return NULL;
    qp->free_reqs = r->next;
    r->next = NULL;
    qp->busy_reqs++;
    r->state = REQ_EXEC;
    r->status = 0;
    r->dnr = false;
    r->dw0 = r->dw1 = 0;
    r->buf = NULL;
    r->buf_len = 0;
    r->xfer_len = r->c2h_len = r->h2c_got = r->r2t_end = 0;
    r->h2c = r->c2h = false;
    r->cmp_buf = NULL;
    return r;
}

static void req_release(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    nvmf_buf_put(r->buf, r->buf_len);
    r->buf = NULL;
    nvmf_buf_put(r->cmp_buf, r->buf_len);
    r->cmp_buf = NULL;
    r->state = REQ_FREE;
    r->next = qp->free_reqs;
    qp->free_reqs = r;
    qp->busy_reqs--;
    if (qp->closing)
        qp_maybe_free(qp);
}

static void rsp_sent(struct nvmf_tx *tx)
{
    struct nvmf_req *r = (struct nvmf_req *)((char *)tx - offsetof(struct nvmf_req, tx_rsp));
    req_release(r);
}

static void tx_nothing(struct nvmf_tx *tx) { (void)tx; }

/* ---- socket readiness ---- */

static void arm_in(struct nvmf_qpair *qp)
{
    if (qp->in_armed || qp->closing)
        return;
    if (reactor_poll_fd(qp->fd, POLLIN, &qp->poll_in) == 0)
        qp->in_armed = true;
    else
        qp_close(qp, "cannot watch the socket");
}

static void arm_out(struct nvmf_qpair *qp)
{
    if (qp->out_armed || qp->closing)
        return;
    if (reactor_poll_fd(qp->fd, POLLOUT, &qp->poll_out) == 0)
        qp->out_armed = true;
    else
        qp_close(qp, "cannot watch the socket");
}

/* A readiness watch fired: readable → receive, writable → send what is queued. */
static void poll_done_in(struct nvmf_qpair *qp, int res, bool out)
{
    if (out)
        qp->out_armed = false;
    else
        qp->in_armed = false;
    if (qp->closing) {
        qp_maybe_free(qp);
        return;
    }
    if (res < 0) {
        qp_close(qp, "socket poll failed");
        return;
    }
    if (out)
        tx_flush(qp);
    else
        rx_process(qp);
}

static void poll_done(struct nvmf_qpair *qp, int res, bool out)
{
    qp_enter(qp);
    poll_done_in(qp, res, out);
    qp_leave(qp);
}

static void on_in(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    poll_done((struct nvmf_qpair *)((char *)c - offsetof(struct nvmf_qpair, poll_in)), res, false);
}

static void on_out(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    poll_done((struct nvmf_qpair *)((char *)c - offsetof(struct nvmf_qpair, poll_out)), res, true);
}

/* ---- transmit ---- */

static void tx_queue(struct nvmf_qpair *qp, struct nvmf_tx *tx)
{
    tx->next = NULL;
    tx->sent = 0;
    if (qp->tx_tail)
        qp->tx_tail->next = tx;
    else
        qp->tx_head = tx;
    qp->tx_tail = tx;
}

static uint32_t tx_total(const struct nvmf_tx *tx)
{
    return tx->hdr_len + tx->data_len + tx->ddgst_len;
}

/* Adds the unsent part of tx to iov; returns the new count. */
static int tx_iov(const struct nvmf_tx *tx, struct iovec *iov, int n)
{
    uint32_t off = tx->sent;
    const struct {
        uint8_t *p;
        uint32_t len;
    } seg[3] = {{tx->hdr, tx->hdr_len}, {tx->data, tx->data_len}, {(uint8_t *)tx->ddgst, tx->ddgst_len}};
    for (int i = 0; i < 3 && n < TX_IOV_MAX; i++) {
        if (off >= seg[i].len) {
            off -= seg[i].len;
            continue;
        }
        iov[n].iov_base = seg[i].p + off;
        iov[n].iov_len = seg[i].len - off;
        n++;
        off = 0;
    }
    return n;
}

static void tx_flush(struct nvmf_qpair *qp)
{
    while (qp->tx_head && !qp->closing) {
        struct iovec iov[TX_IOV_MAX];
        int n = 0;
        for (struct nvmf_tx *t = qp->tx_head; t && n < TX_IOV_MAX - 3; t = t->next)
            n = tx_iov(t, iov, n);
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(qp->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                arm_out(qp);
                return;
            }
            if (errno == EINTR)
                continue;
            qp_close(qp, "send failed");
            return;
        }
        uint64_t left = (uint64_t)w;
        while (qp->tx_head) {
            struct nvmf_tx *t = qp->tx_head;
            uint32_t rem = tx_total(t) - t->sent;
            if (left < rem) {
                t->sent += (uint32_t)left;
                break;
            }
            left -= rem;
            qp->tx_head = t->next;
            if (!qp->tx_head)
                qp->tx_tail = NULL;
            t->done(t);
            if (qp->closing)
                return;
        }
    }
}

static void term_sent(struct nvmf_tx *tx)
{
    struct nvmf_qpair *qp = (struct nvmf_qpair *)((char *)tx - offsetof(struct nvmf_qpair, tx_ctl));
    qp_close(qp, "terminated after a transport error");
}

/* A fatal transport error: send a C2HTermReq with the offending header, then close. */
static void terminate(struct nvmf_qpair *qp, const struct tcp_pdu_error *e, const uint8_t *hdr,
                      uint32_t len)
{
    if (qp->terminating || qp->closing)
        return;
    log_warn("nvmf: %s: terminating the connection (fatal error status %u, field %u)", qp->peer,
             (unsigned)e->fes, e->fei);
    qp->terminating = true;
    struct nvmf_tx *t = &qp->tx_ctl;
    t->hdr = qp->ctl_buf;
    t->hdr_len = (uint32_t)tcp_pdu_build_term(qp->ctl_buf, e->fes, e->fei, hdr, len);
    t->data = NULL;
    t->data_len = t->ddgst_len = 0;
    t->done = term_sent;
    tx_queue(qp, t);
    tx_flush(qp);
}

static void fatal(struct nvmf_qpair *qp, enum tcp_fes fes, uint32_t fei)
{
    struct tcp_pdu_error e = {fes, fei};
    terminate(qp, &e, qp->hdr, qp->lay.hlen ? qp->lay.hlen : TCP_CH_LEN);
}

/* ---- completion ---- */

/* Responses completed during one loop turn (a batch of device completions) are sent
 * together on the next turn: one sendmsg instead of one per command, and the device gets
 * its next commands sooner (the loop does not stop to send between two completions). */
static void flush_deferred(struct reactor_deferred *d)
{
    struct nvmf_qpair *qp = (struct nvmf_qpair *)((char *)d - offsetof(struct nvmf_qpair, flush_def));
    qp->flush_armed = false;
    qp_enter(qp);
    if (!qp->closing)
        tx_flush(qp);
    qp_leave(qp);
}

static void tx_kick(struct nvmf_qpair *qp)
{
    if (qp->flush_armed || qp->closing)
        return;
    qp->flush_armed = true;
    qp->flush_def.fn = flush_deferred;
    reactor_defer(&qp->flush_def);
}

static void req_complete(struct nvmf_req *r);

void nvmf_req_complete(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    qp_enter(qp);
    req_complete(r);
    qp_leave(qp);
}

static void req_complete(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    if (qp->closing || qp->terminating) {
        req_release(r);
        return;
    }
    bool ok = r->status == NVME_SC_SUCCESS;
    bool hd = qp->lim.hdgst, dd = qp->lim.ddgst;
    if (ok && r->c2h && r->c2h_len) {
        struct nvmf_tx *t = &r->tx_c2h;
        t->hdr = r->c2h_hdr;
        t->hdr_len = (uint32_t)tcp_pdu_build_c2h(r->c2h_hdr, r->cid, 0, r->c2h_len, true, hd, dd,
                                                 qp->hpda);
        t->data = r->buf;
        t->data_len = r->c2h_len;
        t->ddgst_len = 0;
        if (dd) {
            le32_put(t->ddgst, crc32c(r->buf, r->c2h_len));
            t->ddgst_len = TCP_DGST_LEN;
        }
        t->done = tx_nothing;
        tx_queue(qp, t);
    }
    uint8_t cqe[16];
    le32_put(cqe, r->dw0);
    le32_put(cqe + 4, r->dw1);
    le16_put(cqe + 8, qp->sqhd);
    le16_put(cqe + 10, qp->qid);
    le16_put(cqe + 12, r->cid);
    uint32_t access = atomic_load_explicit(&qp->access, memory_order_acquire);
    uint8_t crd = nvmf_crd_index(access & NVMF_ACCESS_ACRE,
                                 access & NVMF_ACCESS_NEXUS ? NVMF_SUBSYS_NEXUS : NVMF_SUBSYS_REPLICA,
                                 r->status, r->dnr);
    le16_put(cqe + 14, (uint16_t)((r->status << 1) | (crd << NVME_STATUS_CRD_SHIFT) |
                                  (r->dnr ? NVME_STATUS_DNR : 0)));
    struct nvmf_tx *t = &r->tx_rsp;
    t->hdr = r->rsp_hdr;
    t->hdr_len = (uint32_t)tcp_pdu_build_resp(r->rsp_hdr, cqe, hd);
    t->data = NULL;
    t->data_len = t->ddgst_len = 0;
    t->done = rsp_sent;
    r->state = REQ_TX;
    tx_queue(qp, t);
    tx_kick(qp);
}

/* ---- the primary hand-off ---- */

static void req_back(void *arg)
{
    struct nvmf_req *r = arg;
    struct nvmf_qpair *qp = r->qp;
    qp_enter(qp);
    bool connect = SQE_OPC(r->sqe) == NVME_FABRICS && SQE_FCTYPE(r->sqe) == NVMF_FCTYPE_CONNECT;
    if (connect)
        qp->rx_paused = false;
    nvmf_req_complete(r);
    if (connect && !qp->closing)
        rx_process(qp);
    qp_leave(qp);
}

static void req_on_primary(void *arg)
{
    struct nvmf_req *r = arg;
    r->primary_fn(r);
}

void nvmf_req_to_primary(struct nvmf_req *r, void (*fn)(struct nvmf_req *r))
{
    r->primary_fn = fn;
    if (reactor_self() == reactor_primary()) {
        fn(r);
        return;
    }
    if (reactor_send(reactor_primary(), req_on_primary, r)) {
        r->status = NVME_SC_INTERNAL;
        nvmf_req_complete(r);
    }
}

void nvmf_req_complete_from_primary(struct nvmf_req *r)
{
    struct reactor *home = r->qp->reactor;
    if (reactor_self() == home) {
        req_back(r);
        return;
    }
    /* a message to a running reactor only fails without memory; the command is then lost
     * to the host, which times it out and resets the controller */
    if (reactor_send(home, req_back, r))
        log_error("nvmf: cannot return a command to its queue (out of memory)");
}

/* ---- commands ---- */

static void send_r2t(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    uint32_t len = r->xfer_len - r->h2c_got;
    if (len > qp->lim.maxh2cdata)
        len = qp->lim.maxh2cdata;
    r->r2t_end = r->h2c_got + len;
    r->state = REQ_RX_DATA;
    struct nvmf_tx *t = &r->tx_r2t;
    t->hdr = r->r2t_hdr;
    t->hdr_len = (uint32_t)tcp_pdu_build_r2t(r->r2t_hdr, r->cid, r->idx, r->h2c_got, len,
                                             qp->lim.hdgst);
    t->data = NULL;
    t->data_len = t->ddgst_len = 0;
    t->done = tx_nothing;
    tx_queue(qp, t);
    tx_flush(qp);
}

static void cmd_exec(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    r->state = REQ_EXEC;
    qp->stat_cmds++;
    if (r->status) { /* found bad while parsing */
        nvmf_req_complete(r);
        return;
    }
    if (SQE_OPC(r->sqe) == NVME_FABRICS) {
        uint8_t t = SQE_FCTYPE(r->sqe);
        if (t == NVMF_FCTYPE_CONNECT) {
            if (qp->connected || qp->connect_sent) {
                r->status = NVME_SC_CMD_SEQ_ERROR;
                nvmf_req_complete(r);
                return;
            }
            qp->connect_sent = true;
            qp->rx_paused = true;
        } else if (!qp->connected) {
            r->status = NVME_SC_CMD_SEQ_ERROR;
            nvmf_req_complete(r);
            return;
        }
        nvmf_req_to_primary(r, nvmf_fabrics_exec);
        return;
    }
    if (!qp->connected) {
        r->status = NVME_SC_CMD_SEQ_ERROR;
        nvmf_req_complete(r);
        return;
    }
    if (qp->qid == 0)
        nvmf_req_to_primary(r, nvmf_admin_exec);
    else
        nvmf_io_exec(r);
}

/* Data direction of a command: 1 host to controller, 2 controller to host (opcode bits
 * 1:0, or the fabrics command type's). */
static unsigned data_dir(const uint8_t *sqe)
{
    uint8_t x = SQE_OPC(sqe) == NVME_FABRICS ? SQE_FCTYPE(sqe) : SQE_OPC(sqe);
    return x & 3u;
}

/* A capsule's header is in: check its SGL and say where its data goes. */
static void capsule_header(struct nvmf_qpair *qp)
{
    uint32_t limit = qp->connected ? qp->sqsize : NVMF_MAX_QUEUE_DEPTH;
    struct nvmf_req *r = qp->busy_reqs < limit ? req_alloc(qp) : NULL;
    if (!r) {
        /* more commands outstanding than the queue has entries */
        fatal(qp, TCP_FES_PDU_SEQUENCE_ERROR, 0);
        return;
    }
    memcpy(r->sqe, qp->hdr + TCP_CH_LEN, NVME_SQE_SIZE);
    r->cid = SQE_CID(r->sqe);
    if (qp->sqsize)
        qp->sqhd = (uint16_t)((qp->sqhd + 1) % qp->sqsize);

    const uint8_t *sgl = SQE_SGL(r->sqe);
    uint32_t len = le32_get(sgl + 8);
    uint8_t type = sgl[15];
    unsigned dir = data_dir(r->sqe);
    uint32_t incap = qp->lay.data_len;

    if ((SQE_OPC(r->sqe) != NVME_FABRICS && (r->sqe[1] >> 6) != 1 && (r->sqe[1] >> 6) != 2)) {
        /* PSDT: fabrics commands use SGLs */
        r->status = NVME_SC_INVALID_FIELD;
    } else if (dir == 3) {
        r->status = NVME_SC_INVALID_OPCODE;
    } else if (len > NVMF_MDTS_BYTES) {
        r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
    } else if (incap) {
        if (type != SGL_DATA_BLOCK_OFFSET || dir != 1)
            r->status = NVME_SC_SGL_INVALID_TYPE;
        else if (le64_get(sgl) != 0)
            r->status = NVME_SC_SGL_INVALID_OFFSET;
        else if (len > incap)
            r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
    } else if (len && dir && type != SGL_TRANSPORT_DATA_BLOCK) {
        r->status = type == SGL_DATA_BLOCK_OFFSET ? NVME_SC_DATA_SGL_LENGTH_INVALID
                                                  : NVME_SC_SGL_INVALID_TYPE;
    }
    r->dnr = r->status != 0; /* the same command would fail again */
    if (!r->status && dir && len) {
        r->xfer_len = len;
        r->h2c = dir == 1;
        r->c2h = dir == 2;
        r->buf_len = incap > len ? incap : len;
        r->buf = nvmf_buf_get(r->buf_len);
        if (!r->buf) {
            r->status = NVME_SC_INTERNAL;
            r->xfer_len = 0;
        } else if (r->c2h) {
            memset(r->buf, 0, len);
        }
    }
    if (incap) {
        r->state = REQ_RX_CAPSULE;
        qp->rx_req = r;
        qp->rx_dst = r->status ? NULL : r->buf; /* NULL: read and drop */
        qp->rx_need = incap;
        return;
    }
    qp->rx_req = NULL;
    if (!r->status && r->h2c) {
        send_r2t(r);
        return;
    }
    cmd_exec(r);
}

/* An H2CData header is in: it must continue the transfer an R2T asked for. */
static void h2c_header(struct nvmf_qpair *qp)
{
    struct tcp_h2c_data h;
    tcp_pdu_parse_h2c(qp->hdr, &h);
    struct nvmf_req *r = h.ttag < qp->n_reqs ? &qp->reqs[h.ttag] : NULL;
    if (!r || r->state != REQ_RX_DATA) {
        fatal(qp, TCP_FES_INVALID_HEADER_FIELD, 10);
        return;
    }
    if (r->cid != h.cccid) {
        fatal(qp, TCP_FES_INVALID_HEADER_FIELD, 8);
        return;
    }
    if (h.datal != qp->lay.data_len) {
        fatal(qp, TCP_FES_INVALID_HEADER_FIELD, 16);
        return;
    }
    if (h.datao != r->h2c_got || h.datal > r->r2t_end - r->h2c_got) {
        fatal(qp, TCP_FES_DATA_OUT_OF_RANGE, 12);
        return;
    }
    qp->rx_req = r;
    qp->rx_dst = r->buf + h.datao;
    qp->rx_need = h.datal;
}

static void icreq(struct nvmf_qpair *qp)
{
    struct tcp_icreq ic;
    struct tcp_pdu_error e;
    if (tcp_pdu_parse_icreq(qp->hdr, &ic, &e)) {
        terminate(qp, &e, qp->hdr, TCP_ICREQ_LEN);
        return;
    }
    qp->lim.ic_done = true;
    qp->lim.hdgst = ic.hdgst;
    qp->lim.ddgst = ic.ddgst;
    qp->lim.max_incapsule = NVMF_IN_CAPSULE_ADMIN;
    qp->lim.maxh2cdata = NVMF_MDTS_BYTES;
    qp->hpda = ic.hpda;
    qp->maxr2t = ic.maxr2t;
    struct nvmf_tx *t = &qp->tx_ctl;
    t->hdr = qp->ctl_buf;
    t->hdr_len = (uint32_t)tcp_pdu_build_icresp(qp->ctl_buf, 0, ic.hdgst, ic.ddgst,
                                                qp->lim.maxh2cdata);
    t->data = NULL;
    t->data_len = t->ddgst_len = 0;
    t->done = tx_nothing;
    tx_queue(qp, t);
    tx_flush(qp);
}

/* All of a PDU's data (and digest) is in. */
static void data_done(struct nvmf_qpair *qp, bool digest_ok)
{
    struct nvmf_req *r = qp->rx_req;
    qp->rx_req = NULL;
    if (qp->lay.type == TCP_PDU_CAPSULE_CMD) {
        if (!digest_ok && !r->status)
            r->status = NVME_SC_TRANSIENT_TRANSPORT;
        cmd_exec(r);
        return;
    }
    /* H2CData */
    r->h2c_got += qp->lay.data_len;
    if (!digest_ok && !r->status)
        r->status = NVME_SC_TRANSIENT_TRANSPORT;
    if (r->h2c_got < r->r2t_end)
        return; /* more PDUs of this R2T */
    if (r->h2c_got < r->xfer_len && !r->status) {
        send_r2t(r);
        return;
    }
    cmd_exec(r);
}

/* The header (and digest) of the PDU is complete. */
static void header_done(struct nvmf_qpair *qp)
{
    struct tcp_pdu_layout *l = &qp->lay;
    if (l->hdgst && tcp_pdu_check_hdgst(qp->hdr, l->hlen)) {
        fatal(qp, TCP_FES_HDGST_ERROR, 0);
        return;
    }
    qp->rx_dst = NULL;
    qp->rx_need = 0;
    switch (l->type) {
    case TCP_PDU_ICREQ:
        icreq(qp);
        break;
    case TCP_PDU_H2C_TERM:
        log_warn("nvmf: %s: the host terminated the connection (fatal error status %u)", qp->peer,
                 le16_get(qp->hdr + 8));
        qp_close(qp, "terminated by the host");
        return;
    case TCP_PDU_CAPSULE_CMD:
        capsule_header(qp);
        break;
    case TCP_PDU_H2C_DATA:
        h2c_header(qp);
        break;
    }
    if (qp->closing || qp->terminating)
        return;
    qp->rx_got = 0;
    if (l->data_len) {
        qp->rx = l->pad ? RX_PAD : RX_DATA;
        qp->rx_need = l->data_len;
    } else {
        qp->rx = RX_CH;
        qp->hdr_have = 0;
    }
}

/* Reads up to n bytes for dst (NULL: drop them): from the staging buffer first; large
 * reads with nothing staged go straight to dst. Returns the count, 0 if nothing is there
 * now, -1 if the peer closed or the socket failed. */
static ssize_t rx_read(struct nvmf_qpair *qp, uint8_t *dst, uint32_t n)
{
    if (qp->stage_off == qp->stage_len && dst && n >= SMALL_BUF) {
        ssize_t r = recv(qp->fd, dst, n, MSG_DONTWAIT);
        if (r > 0)
            return r;
        if (r == 0)
            return -1;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    }
    if (qp->stage_off == qp->stage_len) {
        ssize_t r = recv(qp->fd, qp->stage, sizeof(qp->stage), MSG_DONTWAIT);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        qp->stage_off = 0;
        qp->stage_len = (uint32_t)r;
    }
    uint32_t m = qp->stage_len - qp->stage_off;
    if (m > n)
        m = n;
    if (dst)
        memcpy(dst, qp->stage + qp->stage_off, m);
    qp->stage_off += m;
    return m;
}

static void rx_process(struct nvmf_qpair *qp)
{
    while (!qp->closing && !qp->terminating && !qp->rx_paused) {
        ssize_t got;
        struct tcp_pdu_layout *l = &qp->lay;
        switch (qp->rx) {
        case RX_CH:
        case RX_PSH: {
            uint32_t want = qp->rx == RX_CH ? TCP_CH_LEN : l->hlen + l->hdgst;
            got = rx_read(qp, qp->hdr + qp->hdr_have, want - qp->hdr_have);
            if (got <= 0)
                break;
            qp->hdr_have += (uint32_t)got;
            if (qp->hdr_have < want)
                continue;
            if (qp->rx == RX_CH) {
                struct tcp_pdu_error e;
                if (tcp_pdu_check_ch(qp->hdr, &qp->lim, l, &e)) {
                    l->hlen = 0;
                    terminate(qp, &e, qp->hdr, TCP_CH_LEN);
                    return;
                }
                qp->rx = RX_PSH;
                if (l->hlen + l->hdgst > TCP_CH_LEN)
                    continue;
            }
            header_done(qp);
            continue;
        }
        case RX_PAD: {
            uint8_t scratch[256];
            uint32_t want = l->pad - qp->rx_got;
            got = rx_read(qp, scratch, want > sizeof(scratch) ? sizeof(scratch) : want);
            if (got <= 0)
                break;
            qp->rx_got += (uint32_t)got;
            if (qp->rx_got == l->pad) {
                qp->rx_got = 0;
                qp->rx = RX_DATA;
            }
            continue;
        }
        case RX_DATA: {
            uint8_t scratch[4096];
            uint32_t want = qp->rx_need - qp->rx_got;
            uint8_t *dst = qp->rx_dst ? qp->rx_dst + qp->rx_got : scratch;
            if (!qp->rx_dst && want > sizeof(scratch))
                want = sizeof(scratch);
            got = rx_read(qp, dst, want);
            if (got <= 0)
                break;
            qp->rx_got += (uint32_t)got;
            if (qp->rx_got < qp->rx_need)
                continue;
            if (l->ddgst) {
                qp->rx = RX_DDGST;
                qp->rx_ddgst_have = 0;
                continue;
            }
            qp->rx = RX_CH;
            qp->hdr_have = 0;
            data_done(qp, true);
            continue;
        }
        case RX_DDGST: {
            got = rx_read(qp, qp->rx_ddgst + qp->rx_ddgst_have, 4 - qp->rx_ddgst_have);
            if (got <= 0)
                break;
            qp->rx_ddgst_have += (uint32_t)got;
            if (qp->rx_ddgst_have < 4)
                continue;
            bool ok = !qp->rx_dst || crc32c(qp->rx_dst, qp->rx_need) == le32_get(qp->rx_ddgst);
            if (!ok)
                log_warn("nvmf: %s: data digest error", qp->peer);
            qp->rx = RX_CH;
            qp->hdr_have = 0;
            data_done(qp, ok);
            continue;
        }
        }
        /* got <= 0 */
        if (got < 0)
            qp_close(qp, "connection closed by the host");
        else
            arm_in(qp);
        return;
    }
}

/* ---- setup and teardown ---- */

/* This reactor's connections, so that shutdown can close those no controller holds. */
static _Thread_local struct nvmf_qpair *t_qpairs;
static atomic_uint g_live_qpairs; /* accepted and not freed yet, on every reactor */

static void qp_begin(void *arg)
{
    struct nvmf_qpair *qp = arg;
    qp->reactor = reactor_self();
    qp->local_next = t_qpairs;
    t_qpairs = qp;
    qp_enter(qp);
    rx_process(qp);
    qp_leave(qp);
}

void nvmf_qpair_start(struct nvmf_target_listener *l, int fd, struct reactor *r)
{
    struct nvmf_qpair *qp = calloc(1, sizeof(*qp));
    struct nvmf_req *reqs = calloc(NVMF_MAX_QUEUE_DEPTH, sizeof(*reqs));
    if (!qp || !reqs) {
        free(qp);
        free(reqs);
        close(fd);
        log_error("nvmf: out of memory for a new connection");
        return;
    }
    qp->fd = fd;
    qp->listener = l;
    qp->reactor = r;
    qp->reqs = reqs;
    qp->n_reqs = NVMF_MAX_QUEUE_DEPTH;
    for (uint32_t i = NVMF_MAX_QUEUE_DEPTH; i-- > 0;) {
        reqs[i].qp = qp;
        reqs[i].idx = (uint16_t)i;
        reqs[i].next = qp->free_reqs;
        qp->free_reqs = &reqs[i];
    }
    qp->poll_in.cb = on_in;
    qp->poll_out.cb = on_out;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        nvmf_sockaddr_str(&ss, qp->peer, sizeof(qp->peer));
    else
        snprintf(qp->peer, sizeof(qp->peer), "fd %d", fd);
    atomic_fetch_add(&g_live_qpairs, 1);
    if (reactor_send(r, qp_begin, qp)) {
        atomic_fetch_sub(&g_live_qpairs, 1);
        free(reqs);
        free(qp);
        close(fd);
    }
}

static void qp_detached(void *arg)
{
    struct nvmf_qpair *qp = arg;
    qp->detach_pending = false;
    qp_maybe_free(qp);
}

static void qp_gone_on_primary(void *arg)
{
    struct nvmf_qpair *qp = arg;
    nvmf_ctrlr_qpair_gone(qp);
    if (reactor_send(qp->reactor, qp_detached, qp))
        log_error("nvmf: cannot finish closing a connection (out of memory)");
}

static void qp_close_in(struct nvmf_qpair *qp, const char *why);

static void qp_close(struct nvmf_qpair *qp, const char *why)
{
    qp_enter(qp);
    qp_close_in(qp, why);
    qp_leave(qp);
}

static void qp_close_in(struct nvmf_qpair *qp, const char *why)
{
    if (qp->closing)
        return;
    log_debug("nvmf: %s: closing (qid %u): %s", qp->peer, qp->qid, why);
    qp->closing = true;
    shutdown(qp->fd, SHUT_RDWR);
    if (qp->in_armed)
        reactor_poll_cancel(&qp->poll_in);
    if (qp->out_armed)
        reactor_poll_cancel(&qp->poll_out);
    /* what waits for data or for the socket goes now */
    for (struct nvmf_tx *t = qp->tx_head, *n; t; t = n) {
        n = t->next;
        if (t->done == rsp_sent)
            t->done(t);
    }
    qp->tx_head = qp->tx_tail = NULL;
    for (uint32_t i = 0; i < qp->n_reqs; i++)
        if (qp->reqs[i].state == REQ_RX_DATA || qp->reqs[i].state == REQ_RX_CAPSULE)
            req_release(&qp->reqs[i]);
    qp->rx_req = NULL;
    if (qp->connect_sent) {
        qp->detach_pending = true;
        if (reactor_send(reactor_primary(), qp_gone_on_primary, qp)) {
            qp->detach_pending = false;
            log_error("nvmf: cannot tell the controller a connection closed (out of memory)");
        }
    }
    qp_maybe_free(qp);
}

static void qp_maybe_free(struct nvmf_qpair *qp)
{
    if (!qp->closing || qp->in_armed || qp->out_armed || qp->busy_reqs || qp->detach_pending ||
        qp->freeing || qp->depth || qp->flush_armed)
        return;
    qp->freeing = true;
    for (struct nvmf_qpair **p = &t_qpairs; *p; p = &(*p)->local_next) {
        if (*p == qp) {
            *p = qp->local_next;
            break;
        }
    }
    close(qp->fd);
    free(qp->reqs);
    free(qp);
    atomic_fetch_sub(&g_live_qpairs, 1);
}

static void qp_disconnect_msg(void *arg)
{
    qp_close(arg, "disconnected by the target");
}

void nvmf_qpair_disconnect(struct nvmf_qpair *qp)
{
    if (reactor_send(qp->reactor, qp_disconnect_msg, qp))
        log_error("nvmf: cannot disconnect a queue (out of memory)");
}

static void close_local(void *arg)
{
    (void)arg;
    for (struct nvmf_qpair *qp = t_qpairs, *next; qp; qp = next) {
        next = qp->local_next; /* qp may be freed by its close */
        qp_close(qp, "the target is stopping");
    }
}

void nvmf_qpairs_close_all(void)
{
    for (int i = 0; i < reactor_count(); i++)
        if (reactor_send(reactor_get(i), close_local, NULL))
            log_error("nvmf: cannot close the connections of reactor %d (out of memory)", i);
}

unsigned nvmf_qpairs_live(void) { return atomic_load(&g_live_qpairs); }

/* An NVMe/TCP queue of the initiator (nvme_qpair.h).
 *
 * Life: TCP connect (non-blocking, readiness on the reactor's ring) → ICReq/ICResp →
 * Fabrics Connect → ready → commands → failed (connection lost, termination request,
 * protocol error, timeout) or destroyed. Commands occupy slots indexed by CID; a slot is
 * released only when the controller answered *and* everything queued to send for it has
 * left, so a caller's buffer is never touched after its completion.
 *
 * Receive: a staging buffer takes headers (several PDUs per recv); C2HData goes straight
 * into the command's iovecs (readv of the data window plus the staging buffer, so the
 * next headers come in the same call). Send: sendmsg gathers headers and the caller's
 * data segments. */
#include "nvme/nvme_qpair.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/log.h"
#include "core/reactor.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/tcp_pdu.h"

#define SLOT_IOV 32       /* segments of one data window */
#define TX_IOV_MAX 64
#define STAGE_LEN 16384
#define TICK_US 100000    /* timeout checks while commands are outstanding */
#define CONNECT_DATA_LEN 1024
#define H2C_HDR_MAX (TCP_DATA_HLEN + TCP_DGST_LEN + 128)

struct nvme_qpair;

struct qtx {
    struct qtx *next;
    const uint8_t *hdr;
    uint32_t hdr_len;
    const struct iovec *iov;
    int iovcnt;
    uint32_t data_len;
    uint8_t ddgst[4];
    uint32_t ddgst_len;
    uint32_t sent;
    void (*done)(struct nvme_qpair *q, struct qtx *t);
};

struct slot {
    struct nvme_req *req; /* NULL: free */
    uint16_t cid;
    uint64_t deadline_ns;
    bool answered;        /* the response (or a successful last C2HData) arrived */
    struct nvme_cpl cpl;
    int tx_busy;          /* tx items of this slot still queued */
    uint32_t c2h_got;     /* read data received so far */
    uint32_t h2c_sent;    /* write data sent so far (R2T) */
    uint32_t r2t_end;     /* end of the range the current R2T asked for */
    uint16_t r2t_ttag;
    struct qtx tx_cmd, tx_h2c;
    uint8_t cmd_hdr[TCP_CMD_LEN + TCP_DGST_LEN];
    uint8_t h2c_hdr[H2C_HDR_MAX];
    struct iovec win[SLOT_IOV];
    int nwin;
    struct slot *next_free;
};

enum qp_state { QP_TCP, QP_IC, QP_CONNECT, QP_READY, QP_DEAD };
enum rx_state { RX_CH, RX_HDR, RX_DATA, RX_DDGST, RX_TERM };

struct nvme_qpair {
    struct reactor *reactor;
    int fd;
    enum qp_state state;
    char peer[80];
    struct nvme_qpair_opts o;
    char subnqn[224], hostnqn[224];
    struct nvme_qpair_cbs cbs;
    /* negotiated */
    struct tcp_pdu_limits lim;
    uint8_t cpda;
    uint32_t maxh2cdata;
    /* commands */
    struct slot *slots;
    struct slot *free_slots;
    unsigned busy;
    struct nvme_req *pend_head, *pend_tail;
    struct nvme_req connect_req;
    struct iovec connect_iov;
    uint8_t connect_data[CONNECT_DATA_LEN];
    /* receive */
    enum rx_state rx;
    uint8_t hdr[TCP_MAX_HDR + 160];
    uint32_t hdr_have, hdr_need;
    struct tcp_pdu_layout lay;
    struct slot *rx_slot;
    struct iovec rx_win[SLOT_IOV];
    int rx_nwin;
    uint32_t rx_need, rx_got;  /* data bytes of this PDU */
    uint32_t rx_crc;
    uint8_t rx_ddgst[4];
    uint32_t rx_ddgst_have;
    uint8_t *stage;
    uint32_t stage_off, stage_len;
    /* transmit */
    struct qtx *tx_head, *tx_tail;
    struct qtx tx_ctl;
    uint8_t ctl_buf[TCP_ICREQ_LEN + TCP_TERM_HLEN + TCP_TERM_MAX_DATA];
    /* readiness, timers, teardown */
    struct reactor_completion poll_in, poll_out;
    bool in_armed, out_armed;
    struct reactor_timer *timer;
    uint64_t connect_deadline_ns;
    struct reactor_deferred fail_defer;
    bool fail_scheduled;
    struct reactor_deferred flush_defer; /* commands of one loop turn leave together */
    bool flush_armed;
    unsigned unflushed;      /* commands queued since the last send */
    bool destroyed, notified;
    int fail_err;
    char fail_why[160];
    int depth;
};

static void rx_run(struct nvme_qpair *q);
static void tx_flush(struct nvme_qpair *q);
static void q_fail(struct nvme_qpair *q, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void maybe_free(struct nvme_qpair *q);
static void start_next(struct nvme_qpair *q);

static void q_enter(struct nvme_qpair *q) { q->depth++; }
static void q_leave(struct nvme_qpair *q)
{
    if (--q->depth == 0)
        maybe_free(q);
}

/* ---- SQE helpers ---- */

void nvme_sqe_init(uint8_t sqe[64], uint8_t opc, uint32_t nsid)
{
    memset(sqe, 0, 64);
    sqe[0] = opc;
    le32_put(sqe + 4, nsid);
}

void nvme_sqe_fabrics(uint8_t sqe[64], uint8_t fctype)
{
    memset(sqe, 0, 64);
    sqe[0] = NVME_FABRICS;
    sqe[4] = fctype;
}

void nvme_req_init(struct nvme_req *r, struct iovec *iov, const uint8_t sqe[64], void *buf,
                   uint32_t len, bool h2c, void (*done)(struct nvme_req *, int, const struct nvme_cpl *),
                   void *arg)
{
    uint8_t tmp[64];
    memcpy(tmp, sqe, 64); /* sqe may be r->sqe itself */
    memset(r, 0, sizeof(*r));
    memcpy(r->sqe, tmp, 64);
    if (len) {
        iov->iov_base = buf;
        iov->iov_len = len;
        r->iov = iov;
        r->iovcnt = 1;
        r->len = len;
        r->h2c = h2c;
    }
    r->done = done;
    r->arg = arg;
}

/* ---- iovec windows ---- */

/* The part [off, off+len) of iov as at most max segments; -1 when it needs more. */
static int iov_window(const struct iovec *iov, int cnt, uint64_t off, uint32_t len,
                      struct iovec *out, int max)
{
    int n = 0;
    for (int i = 0; i < cnt && len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        if (n == max)
            return -1;
        size_t take = iov[i].iov_len - off;
        if (take > len)
            take = len;
        out[n].iov_base = (uint8_t *)iov[i].iov_base + off;
        out[n].iov_len = take;
        n++;
        len -= (uint32_t)take;
        off = 0;
    }
    return len ? -1 : n;
}

static uint32_t iov_crc(const struct iovec *iov, int n)
{
    uint32_t c = CRC32C_INIT;
    for (int i = 0; i < n; i++)
        c = crc32c_update(c, iov[i].iov_base, iov[i].iov_len);
    return crc32c_final(c);
}

/* ---- readiness ---- */

static void arm_in(struct nvme_qpair *q)
{
    if (q->in_armed || q->state == QP_DEAD)
        return;
    if (reactor_poll_fd(q->fd, POLLIN, &q->poll_in) == 0)
        q->in_armed = true;
    else
        q_fail(q, -ECONNRESET, "cannot watch the socket");
}

static void arm_out(struct nvme_qpair *q)
{
    if (q->out_armed || q->state == QP_DEAD)
        return;
    if (reactor_poll_fd(q->fd, POLLOUT, &q->poll_out) == 0)
        q->out_armed = true;
    else
        q_fail(q, -ECONNRESET, "cannot watch the socket");
}

static void tcp_connected(struct nvme_qpair *q);

static void on_poll(struct nvme_qpair *q, int res, bool out)
{
    q_enter(q);
    if (out)
        q->out_armed = false;
    else
        q->in_armed = false;
    if (q->state != QP_DEAD) {
        if (res < 0)
            q_fail(q, -ECONNRESET, "socket poll failed: %s", strerror(-res));
        else if (out && q->state == QP_TCP)
            tcp_connected(q);
        else if (out)
            tx_flush(q);
        else
            rx_run(q);
    }
    q_leave(q);
}

static void on_in(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    on_poll((struct nvme_qpair *)((char *)c - offsetof(struct nvme_qpair, poll_in)), res, false);
}

static void on_out(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    on_poll((struct nvme_qpair *)((char *)c - offsetof(struct nvme_qpair, poll_out)), res, true);
}

/* ---- timers ---- */

static void tick(void *arg);

static void arm_timer(struct nvme_qpair *q)
{
    if (q->timer || q->state == QP_DEAD)
        return;
    if (q->state == QP_READY && (!q->busy || !q->o.cmd_timeout_ns))
        return;
    q->timer = reactor_timer_start(TICK_US, 0, tick, q);
}

static void tick(void *arg)
{
    struct nvme_qpair *q = arg;
    q->timer = NULL;
    q_enter(q);
    uint64_t now = reactor_now_ns();
    if (q->state != QP_DEAD && q->state != QP_READY && now > q->connect_deadline_ns) {
        q_fail(q, -ETIMEDOUT, "no connection within %llu ms",
               (unsigned long long)(q->o.connect_timeout_ns / 1000000));
    } else if (q->state == QP_READY && q->o.cmd_timeout_ns) {
        for (unsigned i = 0; i < q->o.depth; i++) {
            struct slot *s = &q->slots[i];
            if (s->req && !s->answered && now > s->deadline_ns) {
                q_fail(q, -ETIMEDOUT, "command (opcode 0x%02x, cid %u) got no answer within %llu ms",
                       s->req->sqe[0], s->cid,
                       (unsigned long long)(q->o.cmd_timeout_ns / 1000000));
                break;
            }
        }
    }
    arm_timer(q);
    q_leave(q);
}

/* ---- failure and teardown ---- */

static void complete_req(struct nvme_req *r, int err, const struct nvme_cpl *cpl)
{
    r->next = NULL;
    r->done(r, err, cpl);
}

/* Runs on a later loop turn: every command still held ends with the error, then the
 * owner hears of it (unless it destroyed the queue itself). */
static void fail_run(struct reactor_deferred *d)
{
    struct nvme_qpair *q = (struct nvme_qpair *)((char *)d - offsetof(struct nvme_qpair, fail_defer));
    q_enter(q);
    q->fail_scheduled = false;
    int err = q->destroyed ? -ECANCELED : q->fail_err;
    for (unsigned i = 0; i < q->o.depth; i++) {
        struct slot *s = &q->slots[i];
        struct nvme_req *r = s->req;
        if (!r)
            continue;
        s->req = NULL;
        q->busy--;
        if (r != &q->connect_req)
            complete_req(r, err, NULL);
    }
    while (q->pend_head) {
        struct nvme_req *r = q->pend_head;
        q->pend_head = r->next;
        if (!q->pend_head)
            q->pend_tail = NULL;
        complete_req(r, err, NULL);
    }
    if (!q->notified && !q->destroyed) {
        q->notified = true;
        if (q->cbs.failed)
            q->cbs.failed(q->cbs.arg, q, q->fail_err, q->fail_why);
    }
    q_leave(q);
}

static void schedule_fail_run(struct nvme_qpair *q)
{
    if (q->fail_scheduled)
        return;
    q->fail_scheduled = true;
    q->fail_defer.fn = fail_run;
    reactor_defer(&q->fail_defer);
}

static void q_fail(struct nvme_qpair *q, int err, const char *fmt, ...)
{
    if (q->state == QP_DEAD)
        return;
    bool was_ready = q->state == QP_READY;
    q->state = QP_DEAD;
    q->fail_err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->fail_why, sizeof(q->fail_why), fmt, ap);
    va_end(ap);
    if (!q->destroyed)
        log_warn("nvme: %s queue %u%s: %s", q->peer, q->o.qid, was_ready ? "" : " (connecting)",
                 q->fail_why);
    /* no byte more either way; the watches come back cancelled */
    shutdown(q->fd, SHUT_RDWR);
    if (q->in_armed)
        reactor_poll_cancel(&q->poll_in);
    if (q->out_armed)
        reactor_poll_cancel(&q->poll_out);
    if (q->timer) {
        reactor_timer_cancel(q->timer);
        q->timer = NULL;
    }
    q->tx_head = q->tx_tail = NULL;
    for (unsigned i = 0; i < q->o.depth; i++)
        q->slots[i].tx_busy = 0;
    schedule_fail_run(q);
}

static void maybe_free(struct nvme_qpair *q)
{
    if (!q->destroyed || q->state != QP_DEAD || q->depth || q->in_armed || q->out_armed ||
        q->fail_scheduled || q->timer || q->flush_armed)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->slots);
    free(q->stage);
    free(q);
}

void nvme_qpair_destroy(struct nvme_qpair *q)
{
    q_enter(q);
    q->destroyed = true;
    q_fail(q, -ECANCELED, "destroyed");
    if (q->busy || q->pend_head)
        schedule_fail_run(q);
    q_leave(q);
}

bool nvme_qpair_is_ready(const struct nvme_qpair *q) { return q->state == QP_READY; }
uint32_t nvme_qpair_incapsule(const struct nvme_qpair *q) { return q->o.incapsule; }
unsigned nvme_qpair_outstanding(const struct nvme_qpair *q) { return q->busy; }
void nvme_qpair_digests(const struct nvme_qpair *q, bool *hdgst, bool *ddgst)
{
    *hdgst = q->lim.hdgst;
    *ddgst = q->lim.ddgst;
}

/* ---- transmit ---- */

static void tx_queue(struct nvme_qpair *q, struct qtx *t)
{
    t->next = NULL;
    t->sent = 0;
    if (q->tx_tail)
        q->tx_tail->next = t;
    else
        q->tx_head = t;
    q->tx_tail = t;
}

static uint32_t tx_total(const struct qtx *t) { return t->hdr_len + t->data_len + t->ddgst_len; }

/* Adds the unsent part of t to iov (at most TX_IOV_MAX entries); *full when it did not
 * all fit (the rest goes with the next sendmsg). */
static int tx_iov(const struct qtx *t, struct iovec *iov, int n, bool *full)
{
    uint32_t skip = t->sent;
    const struct iovec hdr = {(void *)t->hdr, t->hdr_len}, dg = {(void *)t->ddgst, t->ddgst_len};
    for (int i = -1; i <= t->iovcnt; i++) {
        const struct iovec *seg = i < 0 ? &hdr : i == t->iovcnt ? &dg : &t->iov[i];
        if (!seg->iov_len)
            continue;
        if (skip >= seg->iov_len) {
            skip -= (uint32_t)seg->iov_len;
            continue;
        }
        if (n == TX_IOV_MAX) {
            *full = true;
            return n;
        }
        iov[n].iov_base = (uint8_t *)seg->iov_base + skip;
        iov[n++].iov_len = seg->iov_len - skip;
        skip = 0;
    }
    return n;
}

static void tx_flush(struct nvme_qpair *q)
{
    q->unflushed = 0;
    while (q->tx_head && q->state != QP_DEAD) {
        struct iovec iov[TX_IOV_MAX];
        int n = 0;
        bool full = false;
        for (struct qtx *t = q->tx_head; t && !full; t = t->next)
            n = tx_iov(t, iov, n, &full);
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(q->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                arm_out(q);
                return;
            }
            if (errno == EINTR)
                continue;
            q_fail(q, -ECONNRESET, "send failed: %s", strerror(errno));
            return;
        }
        uint64_t left = (uint64_t)w;
        while (q->tx_head) {
            struct qtx *t = q->tx_head;
            uint32_t rem = tx_total(t) - t->sent;
            if (left < rem) {
                t->sent += (uint32_t)left;
                break;
            }
            left -= rem;
            q->tx_head = t->next;
            if (!q->tx_head)
                q->tx_tail = NULL;
            if (t->done)
                t->done(q, t);
            if (q->state == QP_DEAD)
                return;
        }
    }
}

/* ---- commands ---- */

static void slot_release(struct nvme_qpair *q, struct slot *s)
{
    struct nvme_req *r = s->req;
    s->req = NULL;
    s->next_free = q->free_slots;
    q->free_slots = s;
    q->busy--;
    if (r && r != &q->connect_req)
        complete_req(r, 0, &s->cpl);
}

/* A slot is done when it is answered and has nothing left to send. */
static void slot_check(struct nvme_qpair *q, struct slot *s)
{
    if (s->req && s->answered && !s->tx_busy) {
        if (s->req == &q->connect_req) {
            struct nvme_cpl c = s->cpl;
            slot_release(q, s);
            if (c.status) {
                q_fail(q, -ECONNREFUSED, "Fabrics Connect refused: status 0x%03x%s", c.status,
                       c.dnr ? " (do not retry)" : "");
                return;
            }
            q->state = QP_READY;
            if (q->cbs.ready)
                q->cbs.ready(q->cbs.arg, q, (uint16_t)c.dw0);
            start_next(q);
            return;
        }
        slot_release(q, s);
        start_next(q);
    }
}

static void cmd_sent(struct nvme_qpair *q, struct qtx *t)
{
    struct slot *s = (struct slot *)((char *)t - offsetof(struct slot, tx_cmd));
    s->tx_busy--;
    slot_check(q, s);
}

static void send_h2c(struct nvme_qpair *q, struct slot *s);

static void h2c_sent(struct nvme_qpair *q, struct qtx *t)
{
    struct slot *s = (struct slot *)((char *)t - offsetof(struct slot, tx_h2c));
    s->tx_busy--;
    if (s->req && s->h2c_sent < s->r2t_end && !s->answered)
        send_h2c(q, s);
    else
        slot_check(q, s);
}

/* The next H2CData PDU of the current R2T. */
static void send_h2c(struct nvme_qpair *q, struct slot *s)
{
    struct nvme_req *r = s->req;
    uint32_t len = s->r2t_end - s->h2c_sent;
    if (len > q->maxh2cdata)
        len = q->maxh2cdata;
    int n = iov_window(r->iov, r->iovcnt, r->iov_off + s->h2c_sent, len, s->win, SLOT_IOV);
    if (n < 0) {
        q_fail(q, -EMSGSIZE, "write data in more than %d segments", SLOT_IOV);
        return;
    }
    s->nwin = n;
    bool last = s->h2c_sent + len == s->r2t_end;
    struct qtx *t = &s->tx_h2c;
    t->hdr = s->h2c_hdr;
    t->hdr_len = (uint32_t)tcp_pdu_build_h2c(s->h2c_hdr, s->cid, s->r2t_ttag, s->h2c_sent, len,
                                             last, q->lim.hdgst, q->lim.ddgst, q->cpda);
    t->iov = s->win;
    t->iovcnt = n;
    t->data_len = len;
    t->ddgst_len = 0;
    if (q->lim.ddgst) {
        le32_put(t->ddgst, iov_crc(s->win, n));
        t->ddgst_len = TCP_DGST_LEN;
    }
    t->done = h2c_sent;
    s->h2c_sent += len;
    s->tx_busy++;
    tx_queue(q, t);
}

/* Builds and queues the capsule of r in slot s. */
static void send_cmd(struct nvme_qpair *q, struct slot *s, struct nvme_req *r)
{
    s->req = r;
    s->answered = false;
    s->c2h_got = s->h2c_sent = s->r2t_end = 0;
    memset(&s->cpl, 0, sizeof(s->cpl));
    s->deadline_ns = reactor_now_ns() + q->o.cmd_timeout_ns;
    q->busy++;
    /* Connect data always travels in the capsule, whatever the queue's IOCCSZ */
    bool incapsule = r->len && r->h2c && (r->len <= q->o.incapsule || r == &q->connect_req);
    uint8_t tmp[64];
    memcpy(tmp, r->sqe, 64);
    le16_put(tmp + 2, s->cid);
    /* NVMe-oF: every command describes its data with an SGL (PSDT 01b); no data is a
     * transport data block of length 0 */
    tmp[1] = (uint8_t)((tmp[1] & 0x3F) | 0x40);
    uint8_t *sgl = tmp + 24;
    memset(sgl, 0, 16);
    le32_put(sgl + 8, r->len);
    sgl[15] = incapsule ? SGL_DATA_BLOCK_OFFSET : SGL_TRANSPORT_DATA_BLOCK;
    struct qtx *t = &s->tx_cmd;
    t->hdr = s->cmd_hdr;
    t->hdr_len = (uint32_t)tcp_pdu_build_capsule(s->cmd_hdr, tmp, incapsule ? r->len : 0,
                                                 q->lim.hdgst, q->lim.ddgst);
    t->iov = NULL;
    t->iovcnt = 0;
    t->data_len = 0;
    t->ddgst_len = 0;
    if (incapsule) {
        int n = iov_window(r->iov, r->iovcnt, r->iov_off, r->len, s->win, SLOT_IOV);
        if (n < 0) {
            /* too many segments to gather: fail this command alone */
            s->answered = true;
            s->cpl.status = NVME_SC_INTERNAL;
            s->cpl.dnr = true;
            slot_release(q, s);
            return;
        }
        s->nwin = n;
        t->iov = s->win;
        t->iovcnt = n;
        t->data_len = r->len;
        if (q->lim.ddgst) {
            le32_put(t->ddgst, iov_crc(s->win, n));
            t->ddgst_len = TCP_DGST_LEN;
        }
    }
    t->done = cmd_sent;
    s->tx_busy = 1;
    tx_queue(q, t);
}

/* Commands submitted during one loop turn (completions resubmitting, a burst from the
 * caller) are sent together, in groups of FLUSH_BATCH, the rest on the next turn: fewer
 * sendmsg calls, yet the target sees a steady stream rather than whole bursts (a burst of
 * 32 file reads at once halves what a virtio disk behind the target does). */
#define FLUSH_BATCH 4
static void flush_run(struct reactor_deferred *d)
{
    struct nvme_qpair *q = (struct nvme_qpair *)((char *)d - offsetof(struct nvme_qpair, flush_defer));
    q->flush_armed = false;
    q_enter(q);
    tx_flush(q);
    q_leave(q);
}

static void tx_kick(struct nvme_qpair *q)
{
    if (q->flush_armed || q->state == QP_DEAD)
        return;
    q->flush_armed = true;
    q->flush_defer.fn = flush_run;
    reactor_defer(&q->flush_defer);
}

/* Sends pending commands while slots are free. */
static void start_next(struct nvme_qpair *q)
{
    if (q->state != QP_READY)
        return;
    bool sent = false;
    while (q->pend_head && q->free_slots) {
        struct nvme_req *r = q->pend_head;
        q->pend_head = r->next;
        if (!q->pend_head)
            q->pend_tail = NULL;
        r->next = NULL;
        struct slot *s = q->free_slots;
        q->free_slots = s->next_free;
        send_cmd(q, s, r);
        sent = true;
        if (++q->unflushed >= FLUSH_BATCH)
            tx_flush(q);
    }
    if (sent) {
        if (q->tx_head)
            tx_kick(q);
        arm_timer(q);
    }
}

void nvme_qpair_submit(struct nvme_qpair *q, struct nvme_req *r)
{
    q_enter(q);
    r->next = NULL;
    if (q->pend_tail)
        q->pend_tail->next = r;
    else
        q->pend_head = r;
    q->pend_tail = r;
    if (q->state == QP_DEAD)
        schedule_fail_run(q);
    else
        start_next(q);
    q_leave(q);
}

/* ---- connection set-up ---- */

static void send_connect(struct nvme_qpair *q)
{
    struct nvme_req *r = &q->connect_req;
    uint8_t sqe[64];
    nvme_sqe_fabrics(sqe, NVMF_FCTYPE_CONNECT);
    le16_put(sqe + 40, 0);                            /* RECFMT */
    le16_put(sqe + 42, q->o.qid);                     /* QID */
    le16_put(sqe + 44, (uint16_t)(q->o.depth - 1));   /* SQSIZE, 0's based */
    le32_put(sqe + 48, q->o.qid ? 0 : q->o.kato_ms);  /* KATO */
    uint8_t *d = q->connect_data;
    memset(d, 0, CONNECT_DATA_LEN);
    memcpy(d, q->o.hostid, 16);
    le16_put(d + 16, q->o.cntlid);
    memcpy(d + 256, q->subnqn, strlen(q->subnqn));
    memcpy(d + 512, q->hostnqn, strlen(q->hostnqn));
    /* the qpair handles its answer itself (slot_check): no done callback runs */
    nvme_req_init(r, &q->connect_iov, sqe, d, CONNECT_DATA_LEN, true, NULL, NULL);
    struct slot *s = q->free_slots;
    q->free_slots = s->next_free;
    send_cmd(q, s, r);
    q->state = QP_CONNECT;
    tx_flush(q);
    arm_timer(q);
}

static void send_icreq(struct nvme_qpair *q)
{
    q->state = QP_IC;
    struct qtx *t = &q->tx_ctl;
    memset(t, 0, sizeof(*t));
    t->hdr = q->ctl_buf;
    t->hdr_len = (uint32_t)tcp_pdu_build_icreq(q->ctl_buf, 0, q->o.hdgst, q->o.ddgst, 0);
    tx_queue(q, t);
    tx_flush(q);
    arm_in(q);
}

static void tcp_connected(struct nvme_qpair *q)
{
    int e = 0;
    socklen_t l = sizeof(e);
    if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &e, &l) || e) {
        q_fail(q, -ECONNREFUSED, "cannot connect: %s", strerror(e ? e : errno));
        return;
    }
    int one = 1;
    setsockopt(q->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    send_icreq(q);
}

struct nvme_qpair *nvme_qpair_connect(const struct nvme_qpair_opts *o,
                                      const struct nvme_qpair_cbs *cbs)
{
    struct nvme_qpair *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->o = *o;
    if (!q->o.depth || q->o.depth > NVME_QP_MAX_DEPTH)
        q->o.depth = NVME_QP_MAX_DEPTH;
    q->o.peer = NULL;
    q->o.subnqn = q->o.hostnqn = NULL;
    snprintf(q->peer, sizeof(q->peer), "%s", o->peer ? o->peer : "?");
    snprintf(q->subnqn, sizeof(q->subnqn), "%s", o->subnqn);
    snprintf(q->hostnqn, sizeof(q->hostnqn), "%s", o->hostnqn);
    q->cbs = *cbs;
    q->reactor = reactor_self();
    q->poll_in.cb = on_in;
    q->poll_out.cb = on_out;
    q->slots = calloc(q->o.depth, sizeof(*q->slots));
    q->stage = malloc(STAGE_LEN);
    q->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!q->slots || !q->stage || q->fd < 0) {
        if (q->fd >= 0)
            close(q->fd);
        free(q->slots);
        free(q->stage);
        free(q);
        return NULL;
    }
    for (int i = q->o.depth - 1; i >= 0; i--) {
        q->slots[i].cid = (uint16_t)i;
        q->slots[i].next_free = q->free_slots;
        q->free_slots = &q->slots[i];
    }
    q->maxh2cdata = 4096;
    q->lim.maxh2cdata = 1u << 20; /* the largest C2HData taken at once */
    q->connect_deadline_ns = reactor_now_ns() + (o->connect_timeout_ns ? o->connect_timeout_ns
                                                                       : 5000000000ull);
    q->state = QP_TCP;
    q_enter(q);
    int rc = connect(q->fd, (const struct sockaddr *)&o->addr, o->addrlen);
    if (rc == 0)
        tcp_connected(q);
    else if (errno == EINPROGRESS)
        arm_out(q);
    else
        q_fail(q, -ECONNREFUSED, "cannot connect: %s", strerror(errno));
    arm_timer(q);
    q_leave(q);
    return q;
}

/* ---- receive ---- */

static void fatal(struct nvme_qpair *q, const struct tcp_pdu_error *e)
{
    /* tell the controller why, best effort, then drop the connection */
    uint8_t buf[TCP_TERM_HLEN + TCP_TERM_MAX_DATA];
    size_t n = tcp_pdu_build_h2c_term(buf, e->fes, e->fei, q->hdr,
                                      q->hdr_have < TCP_TERM_MAX_DATA ? q->hdr_have : TCP_TERM_MAX_DATA);
    if (send(q->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* nothing more to do: the connection goes anyway */
    }
    q_fail(q, -EPROTO, "protocol error from the controller (fatal error status %u, field %u)",
           (unsigned)e->fes, e->fei);
}

static void fatal_at(struct nvme_qpair *q, enum tcp_fes fes, uint32_t fei)
{
    struct tcp_pdu_error e = {fes, fei};
    fatal(q, &e);
}

static void handle_icresp(struct nvme_qpair *q)
{
    struct tcp_icresp ic;
    struct tcp_pdu_error e;
    if (tcp_pdu_parse_icresp(q->hdr, &ic, &e)) {
        fatal(q, &e);
        return;
    }
    if ((ic.hdgst && !q->o.hdgst) || (ic.ddgst && !q->o.ddgst)) {
        fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, 11); /* a digest nobody asked for */
        return;
    }
    if (q->o.hdgst != ic.hdgst || q->o.ddgst != ic.ddgst)
        log_info("nvme: %s queue %u: the controller declined %s%s%s digests", q->peer, q->o.qid,
                 q->o.hdgst && !ic.hdgst ? "header" : "",
                 q->o.hdgst && !ic.hdgst && q->o.ddgst && !ic.ddgst ? " and " : "",
                 q->o.ddgst && !ic.ddgst ? "data" : "");
    q->lim.ic_done = true;
    q->lim.hdgst = ic.hdgst;
    q->lim.ddgst = ic.ddgst;
    q->cpda = ic.cpda;
    q->maxh2cdata = ic.maxh2cdata;
    send_connect(q);
}

static struct slot *slot_of(struct nvme_qpair *q, uint16_t cid)
{
    if (cid >= q->o.depth || !q->slots[cid].req)
        return NULL;
    return &q->slots[cid];
}

static void handle_resp(struct nvme_qpair *q)
{
    const uint8_t *cqe = q->hdr + TCP_CH_LEN;
    uint16_t cid = le16_get(cqe + 12), sf = le16_get(cqe + 14);
    struct slot *s = slot_of(q, cid);
    if (!s || s->answered) {
        fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, TCP_CH_LEN + 12);
        return;
    }
    s->answered = true;
    s->cpl.dw0 = le32_get(cqe);
    s->cpl.dw1 = le32_get(cqe + 4);
    s->cpl.status = (sf >> 1) & 0x7FF;
    s->cpl.crd = (sf >> 12) & 3;
    s->cpl.dnr = sf & 0x8000;
    if (!s->cpl.status && !s->req->h2c && s->req->len && s->c2h_got != s->req->len) {
        /* success without all of the data: not a valid read */
        s->cpl.status = NVME_SC_DATA_TRANSFER_ERROR;
    }
    slot_check(q, s);
}

static void handle_r2t(struct nvme_qpair *q)
{
    struct tcp_r2t t;
    tcp_pdu_parse_r2t(q->hdr, &t);
    struct slot *s = slot_of(q, t.cccid);
    if (!s || !s->req->h2c || s->answered) {
        fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, 8);
        return;
    }
    if (t.r2to != s->h2c_sent || s->h2c_sent < s->r2t_end) {
        fatal_at(q, TCP_FES_PDU_SEQUENCE_ERROR, 12);
        return;
    }
    if (!t.r2tl || t.r2to + (uint64_t)t.r2tl > s->req->len) {
        fatal_at(q, TCP_FES_DATA_OUT_OF_RANGE, 16);
        return;
    }
    s->r2t_ttag = t.ttag;
    s->r2t_end = t.r2to + t.r2tl;
    send_h2c(q, s);
    tx_flush(q);
}

/* A C2HData header: its data lands in the command's iovecs. */
static void handle_c2h(struct nvme_qpair *q)
{
    struct tcp_c2h_data c;
    tcp_pdu_parse_c2h(q->hdr, &c);
    struct slot *s = slot_of(q, c.cccid);
    if (!s || s->req->h2c || s->answered) {
        fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, 8);
        return;
    }
    if (c.datal != q->lay.data_len) {
        fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, 16);
        return;
    }
    if (c.datao != s->c2h_got || c.datao + (uint64_t)c.datal > s->req->len) {
        fatal_at(q, TCP_FES_DATA_OUT_OF_RANGE, 12);
        return;
    }
    int n = iov_window(s->req->iov, s->req->iovcnt, s->req->iov_off + c.datao, c.datal, q->rx_win,
                       SLOT_IOV);
    if (n < 0) {
        q_fail(q, -EMSGSIZE, "read data in more than %d segments", SLOT_IOV);
        return;
    }
    q->rx_nwin = n;
    q->rx_slot = s;
    q->rx_need = c.datal;
    q->rx_got = 0;
    q->rx_crc = CRC32C_INIT;
    q->rx = RX_DATA;
}

/* The data of the C2HData PDU is in: account it, finish the command if the controller
 * said it succeeded with this PDU (SUCCESS flag: no response follows). */
static void c2h_done(struct nvme_qpair *q)
{
    struct slot *s = q->rx_slot;
    const uint8_t *h = q->hdr;
    s->c2h_got += q->rx_need;
    q->rx = RX_CH;
    q->hdr_have = 0;
    if ((h[1] & TCP_F_DATA_SUCCESS)) {
        if (!(h[1] & TCP_F_DATA_LAST) || s->c2h_got != s->req->len) {
            fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, 1);
            return;
        }
        s->answered = true;
        memset(&s->cpl, 0, sizeof(s->cpl));
        slot_check(q, s);
    }
}

/* More C2HData bytes are in: once all of the PDU's are, its digest comes next, or it is
 * done. */
static void rx_data_counted(struct nvme_qpair *q)
{
    if (q->rx_got != q->rx_need)
        return;
    if (q->lay.ddgst) {
        q->rx = RX_DDGST;
        q->rx_ddgst_have = 0;
    } else {
        c2h_done(q);
    }
}

static void handle_term(struct nvme_qpair *q)
{
    uint16_t fes = le16_get(q->hdr + 8);
    uint32_t fei = le32_get(q->hdr + 10);
    q_fail(q, -ECONNRESET, "the controller terminated the connection (fatal error status %u, field %u)",
           fes, fei);
}

/* A complete header (and digest, pad) is in q->hdr. */
static void header_in(struct nvme_qpair *q)
{
    if (q->lay.hdgst && tcp_pdu_check_hdgst(q->hdr, q->lay.hlen)) {
        fatal_at(q, TCP_FES_HDGST_ERROR, 0);
        return;
    }
    switch (q->lay.type) {
    case TCP_PDU_ICRESP:
        q->rx = RX_CH;
        q->hdr_have = 0;
        if (q->state != QP_IC) {
            fatal_at(q, TCP_FES_PDU_SEQUENCE_ERROR, 0);
            return;
        }
        handle_icresp(q);
        return;
    case TCP_PDU_CAPSULE_RESP:
        q->rx = RX_CH;
        q->hdr_have = 0;
        handle_resp(q);
        return;
    case TCP_PDU_R2T:
        q->rx = RX_CH;
        q->hdr_have = 0;
        handle_r2t(q);
        return;
    case TCP_PDU_C2H_DATA:
        handle_c2h(q);
        return;
    case TCP_PDU_C2H_TERM:
        if (q->lay.data_len) {
            q->rx = RX_TERM;
            q->rx_need = q->lay.data_len;
            q->rx_got = 0;
            return;
        }
        handle_term(q);
        return;
    default:
        fatal_at(q, TCP_FES_INVALID_HEADER_FIELD, 0);
    }
}

/* Feeds n staged bytes at p to the receive state machine; returns bytes used. */
static uint32_t rx_feed(struct nvme_qpair *q, const uint8_t *p, uint32_t n)
{
    uint32_t used = 0;
    while (used < n && q->state != QP_DEAD) {
        switch (q->rx) {
        case RX_CH:
        case RX_HDR: {
            uint32_t need = q->rx == RX_CH ? TCP_CH_LEN : q->hdr_need;
            uint32_t take = need - q->hdr_have;
            if (take > n - used)
                take = n - used;
            memcpy(q->hdr + q->hdr_have, p + used, take);
            q->hdr_have += take;
            used += take;
            if (q->hdr_have < need)
                return used;
            if (q->rx == RX_CH) {
                struct tcp_pdu_error e;
                if (tcp_pdu_check_ch_ctrlr(q->hdr, &q->lim, &q->lay, &e)) {
                    fatal(q, &e);
                    return used;
                }
                q->hdr_need = q->lay.hlen + q->lay.hdgst + q->lay.pad;
                q->rx = RX_HDR;
                if (q->hdr_have < q->hdr_need)
                    break;
            }
            header_in(q);
            break;
        }
        case RX_DATA: {
            /* copy into the window at rx_got */
            uint32_t off = q->rx_got;
            for (int i = 0; i < q->rx_nwin && used < n; i++) {
                if (off >= q->rx_win[i].iov_len) {
                    off -= (uint32_t)q->rx_win[i].iov_len;
                    continue;
                }
                uint32_t take = (uint32_t)q->rx_win[i].iov_len - off;
                if (take > n - used)
                    take = n - used;
                memcpy((uint8_t *)q->rx_win[i].iov_base + off, p + used, take);
                if (q->lay.ddgst)
                    q->rx_crc = crc32c_update(q->rx_crc, p + used, take);
                used += take;
                q->rx_got += take;
                off = 0;
            }
            rx_data_counted(q);
            break;
        }
        case RX_DDGST: {
            uint32_t take = 4 - q->rx_ddgst_have;
            if (take > n - used)
                take = n - used;
            memcpy(q->rx_ddgst + q->rx_ddgst_have, p + used, take);
            q->rx_ddgst_have += take;
            used += take;
            if (q->rx_ddgst_have == 4) {
                if (le32_get(q->rx_ddgst) != crc32c_final(q->rx_crc)) {
                    /* the data is not what was sent: the command fails, the queue goes on
                     * failing it would be possible; the controller cannot resend, so the
                     * connection is dropped and the read fails with it */
                    q_fail(q, -EIO, "data digest mismatch in C2HData (cid %u)", q->rx_slot->cid);
                    return used;
                }
                c2h_done(q);
            }
            break;
        }
        case RX_TERM: {
            uint32_t take = q->rx_need - q->rx_got;
            if (take > n - used)
                take = n - used;
            used += take;
            q->rx_got += take;
            if (q->rx_got == q->rx_need)
                handle_term(q);
            break;
        }
        }
    }
    return used;
}

static void rx_run(struct nvme_qpair *q)
{
    for (int rounds = 0; q->state != QP_DEAD && rounds < 64; rounds++) {
        if (q->stage_off < q->stage_len) {
            q->stage_off += rx_feed(q, q->stage + q->stage_off, q->stage_len - q->stage_off);
            continue;
        }
        q->stage_off = q->stage_len = 0;
        ssize_t got;
        if (q->rx == RX_DATA && q->rx_need - q->rx_got >= 512) {
            /* straight into the caller's buffers, and what follows into the stage */
            struct iovec v[SLOT_IOV + 1];
            int n = iov_window(q->rx_win, q->rx_nwin, q->rx_got, q->rx_need - q->rx_got, v, SLOT_IOV);
            v[n].iov_base = q->stage;
            v[n].iov_len = STAGE_LEN;
            got = readv(q->fd, v, n + 1);
            if (got > 0) {
                uint32_t data = q->rx_need - q->rx_got;
                if ((uint64_t)got < data)
                    data = (uint32_t)got;
                if (q->lay.ddgst) {
                    uint32_t left = data;
                    for (int i = 0; i < n && left; i++) {
                        uint32_t take = v[i].iov_len < left ? (uint32_t)v[i].iov_len : left;
                        q->rx_crc = crc32c_update(q->rx_crc, v[i].iov_base, take);
                        left -= take;
                    }
                }
                q->rx_got += data;
                q->stage_len = (uint32_t)got - data;
                rx_data_counted(q);
                continue;
            }
        } else {
            got = recv(q->fd, q->stage, STAGE_LEN, MSG_DONTWAIT);
            if (got > 0) {
                q->stage_len = (uint32_t)got;
                continue;
            }
        }
        if (got == 0) {
            q_fail(q, -ECONNRESET, "the controller closed the connection");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            arm_in(q);
            return;
        }
        q_fail(q, -ECONNRESET, "receive failed: %s", strerror(errno));
        return;
    }
    /* more to read: come back on the next loop turn, after the others */
    arm_in(q);
}

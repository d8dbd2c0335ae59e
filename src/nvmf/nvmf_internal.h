/* The NVMe-oF target's internal model, shared by its files:
 *
 *   nvmf_qpair   one TCP connection = one NVMe queue (admin or I/O). Owned by the reactor it
 *                was given at accept (round robin); receives PDUs, runs I/O commands on the
 *                namespace's bdev channel of that reactor, sends PDUs (tcp_conn.c, io_cmd.c).
 *   nvmf_ctrlr   a controller: its admin queue and I/O queues, properties, features, keep
 *                alive, asynchronous events. Owned by the primary reactor (ctrlr.c, admin.c).
 *   nvmf_subsys  an NVM subsystem (one namespace = one shared bdev) or the discovery
 *                subsystem, with its allowed hosts, controllers, ANA state and reservations.
 *                Primary (subsys.c, discovery.c).
 *
 * A qpair hands every command that touches controller or subsystem state (fabrics, admin,
 * reservations) to the primary with a message and gets it back the same way; only reads,
 * writes and the like run on its own reactor. What the I/O path needs from the primary's
 * state (may this host read/write, the ANA state) is pushed into the qpair's `access` word. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev/bdev.h"
#include "core/reactor.h"
#include "nvmf/nvmf.h"
#include "nvmf/crd.h"
#include "nvmf/resv.h"
#include "nvmf/tcp_pdu.h"

#define NVMF_MAX_QUEUE_DEPTH 128  /* entries per queue (CAP.MQES + 1) */
#define NVMF_MAX_IO_QUEUES 32
#define NVMF_MDTS_BYTES (128u * 1024) /* largest transfer: MDTS 5 (2^5 x 4 KiB) */
#define NVMF_MDTS 5
#define NVMF_IN_CAPSULE 4096u      /* in-capsule data advertised (IOCCSZ) */
#define NVMF_IN_CAPSULE_ADMIN 8192u /* hosts send admin capsules up to 8 KiB before identify */
#define NVMF_MAX_AER 4
#define NVMF_MAX_EVENTS 16

struct nvmf_qpair;
struct nvmf_ctrlr;
struct nvmf_subsys;

/* A transmit item: a PDU header, optional data (one buffer), optional data digest. */
struct nvmf_tx {
    struct nvmf_tx *next;
    uint8_t *hdr;
    uint32_t hdr_len;
    uint8_t *data;
    uint32_t data_len;
    uint8_t ddgst[4];
    uint32_t ddgst_len;
    uint32_t sent; /* bytes of this item already sent */
    void (*done)(struct nvmf_tx *tx);
};

enum nvmf_req_state {
    REQ_FREE,
    REQ_RX_CAPSULE, /* its in-capsule data is arriving */
    REQ_RX_DATA,    /* waiting for H2C data */
    REQ_EXEC,       /* running (bdev I/O or on the primary) */
    REQ_TX,         /* response queued */
};

/* One command of a queue. */
struct nvmf_req {
    struct nvmf_qpair *qp;
    uint16_t idx; /* slot = R2T transfer tag */
    enum nvmf_req_state state;
    uint8_t sqe[64];
    uint16_t cid;
    /* data */
    uint8_t *buf;          /* buf_len >= xfer_len bytes, 4 KiB aligned */
    uint32_t buf_len;
    uint32_t xfer_len;
    bool h2c, c2h;         /* direction of the data */
    uint32_t h2c_got;      /* bytes received so far */
    uint32_t r2t_end;      /* end of the range the current R2T asked for */
    /* completion */
    uint16_t status;       /* (SCT << 8) | SC */
    bool dnr;
    uint32_t dw0, dw1;
    uint32_t c2h_len;      /* bytes of buf to send back (<= xfer_len) */
    /* I/O */
    struct bdev_io bio;
    uint8_t *cmp_buf;      /* Compare: what the medium holds */
    struct iovec iov;
    uint32_t dsm_next, dsm_n;  /* Dataset Management progress */
    /* primary hand-off */
    void (*primary_fn)(struct nvmf_req *r);
    struct nvmf_req *next; /* free list / AER list */
    /* transmit */
    struct nvmf_tx tx_r2t, tx_c2h, tx_rsp;
    uint8_t r2t_hdr[TCP_R2T_LEN + TCP_DGST_LEN];
    uint8_t c2h_hdr[160];
    uint8_t rsp_hdr[TCP_RSP_LEN + TCP_DGST_LEN];
};

/* access word bits (written by the primary, read by the qpair's reactor) */
#define NVMF_ACCESS_READ 0x1u
#define NVMF_ACCESS_WRITE 0x2u
#define NVMF_ACCESS_ACRE 0x4u   /* the host enabled Advanced Command Retry (crd.h) */
#define NVMF_ACCESS_NEXUS 0x8u  /* a nexus subsystem: its retry delays (crd.h) */
#define NVMF_ACCESS_ANA_SHIFT 8 /* ANA state in bits 8..15 */

enum rx_state { RX_CH, RX_PSH, RX_PAD, RX_DATA, RX_DDGST };

struct nvmf_qpair {
    struct reactor *reactor;
    int fd;
    struct nvmf_target_listener *listener;
    char peer[64];
    /* negotiated */
    struct tcp_pdu_limits lim;
    uint8_t hpda;
    uint32_t maxr2t;
    /* queue */
    uint16_t qid;
    uint16_t sqsize;       /* entries (1-based) */
    uint16_t sqhd;
    bool connected;
    struct nvmf_ctrlr *ctrlr;     /* set by the primary at Connect; stable while connected */
    struct bdev_channel *ch;      /* this reactor's channel of the namespace (I/O queues) */
    _Atomic uint32_t access;
    struct nvmf_req *reqs;
    struct nvmf_req *free_reqs;
    uint32_t n_reqs;
    uint32_t busy_reqs;           /* reqs not free */
    /* receive */
    struct reactor_completion poll_in, poll_out;
    bool in_armed, out_armed, cancel_sent;
    bool rx_paused;               /* a Connect is on the primary: read nothing meanwhile */
    bool connect_sent;            /* the primary may know this qpair: tell it at close */
    bool freeing;
    int depth;                    /* handlers of this qpair running: it is freed after them */
    enum rx_state rx;
    uint8_t hdr[TCP_MAX_HDR];
    uint32_t hdr_have;
    struct tcp_pdu_layout lay;
    struct nvmf_req *rx_req;      /* the command whose data is arriving */
    uint8_t *rx_dst;
    uint32_t rx_need, rx_got;
    uint8_t rx_ddgst[4];
    uint32_t rx_ddgst_have;
    uint8_t stage[8192];
    uint32_t stage_off, stage_len;
    /* transmit */
    struct nvmf_tx *tx_head, *tx_tail;
    struct nvmf_tx tx_ctl;        /* ICResp or C2HTermReq */
    uint8_t ctl_buf[TCP_TERM_HLEN + TCP_TERM_MAX_DATA + 8];
    bool terminating;             /* close once the TermReq is sent */
    struct reactor_deferred flush_def; /* responses of one loop turn leave in one sendmsg */
    bool flush_armed;
    /* teardown */
    bool closing;
    bool detach_pending;          /* the primary is detaching us from the controller */
    bool detached;
    struct nvmf_qpair *local_next; /* this reactor's connections (tcp_conn.c) */
    /* primary-owned links */
    struct nvmf_qpair *ctrlr_next;
    uint64_t stat_cmds;
};

struct nvmf_ctrlr {
    struct nvmf_subsys *ss;
    uint16_t cntlid;
    char hostnqn[NVMF_NQN_MAX + 1];
    uint8_t hostid[16];
    uint32_t cc, csts;
    uint32_t kato_ms;
    struct reactor_timer *ka_timer;
    uint64_t last_ka_ns;
    uint32_t aen_cfg;
    uint32_t resv_mask;            /* Reservation Notification Mask feature */
    bool acre;                     /* Host Behavior Support: Advanced Command Retry Enable */
    uint16_t n_io_queues;          /* granted by Set Features Number of Queues */
    struct nvmf_qpair *admin;
    struct nvmf_qpair *io_qpairs;  /* list through ctrlr_next */
    struct nvmf_req *aer[NVMF_MAX_AER];
    int n_aer;
    uint32_t events[NVMF_MAX_EVENTS];
    int n_events;
    bool ns_changed;               /* Changed Namespace List has nsid 1 */
    uint64_t resv_log_count;
    struct nvmf_resv_notice resv_notices[8];
    uint8_t resv_notice_nsid_type[8];
    int n_resv_notices;
    uint32_t feat_arbitration, feat_power, feat_temp, feat_err_recovery, feat_vwc,
        feat_irq_coalesce, feat_write_atomic;
    bool dying;
    int qpairs;                    /* attached qpairs (admin included) */
    struct nvmf_ctrlr *next;       /* subsystem's list */
};

struct nvmf_host {
    char nqn[NVMF_NQN_MAX + 1];
    struct nvmf_host *next;
};

struct nvmf_subsys {
    char nqn[NVMF_NQN_MAX + 1];
    bool discovery;
    char serial[21], model[41];
    char bdev_name[256];
    struct bdev_desc *desc;        /* the namespace's device (NVM subsystems) */
    struct bdev *bdev;
    uint8_t nguid[16];
    enum nvmf_subsys_kind kind;    /* for the Command Retry Delay (crd.h) */
    struct nvmf_host *hosts;       /* NULL: any host */
    struct nvmf_ctrlr *ctrlrs;
    uint16_t next_cntlid, min_cntlid, max_cntlid;
    uint8_t ana_state;
    uint64_t ana_chgcnt;
    struct nvmf_resv resv;
    char *ptpl_path;               /* the PTPL file (ptpl.h); NULL: no persistence */
    bool resv_busy;                /* a change is being written to the PTPL file */
    struct nvmf_req *resv_wait;    /* reservation commands waiting for it (through next) */
    uint16_t port;                 /* the listener it is reachable on */
    bool stopping;
    void (*stopped_cb)(void *arg, int rc);
    void *stopped_arg;
    struct nvmf_subsys *next;
};

struct nvmf_target_listener {
    int fd;
    uint16_t port;
    char addr[64];
    int family;
    struct reactor_completion poll;
    bool armed;
    bool closing;
};

/* ---- tcp_conn.c (qpair's reactor) ---- */
/* Takes an accepted socket onto reactor r. */
void nvmf_qpair_start(struct nvmf_target_listener *l, int fd, struct reactor *r);
/* Finishes a command: sends C2H data (c2h_len bytes of buf) if any, then the response. */
void nvmf_req_complete(struct nvmf_req *r);
/* Runs r->primary_fn(r) on the primary; it ends with nvmf_req_complete_from_primary(). */
void nvmf_req_to_primary(struct nvmf_req *r, void (*fn)(struct nvmf_req *r));
void nvmf_req_complete_from_primary(struct nvmf_req *r);
/* Asks the qpair (on its reactor) to close; from any reactor. */
void nvmf_qpair_disconnect(struct nvmf_qpair *qp);
/* Shutdown (primary): closes every connection on every reactor, controller or not;
 * nvmf_qpairs_live() counts those not freed yet. */
void nvmf_qpairs_close_all(void);
unsigned nvmf_qpairs_live(void);
static inline void nvmf_req_set_status(struct nvmf_req *r, uint16_t sc)
{
    r->status = sc;
}

/* Data buffers (4 KiB aligned), a few cached per reactor. */
uint8_t *nvmf_buf_get(uint32_t len);
void nvmf_buf_put(uint8_t *p, uint32_t len);

/* ---- io_cmd.c (qpair's reactor) ---- */
void nvmf_io_exec(struct nvmf_req *r);

/* ---- ctrlr.c / admin.c (primary) ---- */
void nvmf_fabrics_exec(struct nvmf_req *r); /* on the primary */
void nvmf_admin_exec(struct nvmf_req *r);   /* on the primary */
/* Reservation commands, and Set Features Reservation Persistence (checked by admin.c;
 * it may write the PTPL file); on the primary, completes r. */
void nvmf_resv_exec(struct nvmf_req *r);
/* The custom admin command 0xC1 "create snapshot" (snapshot_cmd.c); completes r. */
void nvmf_admin_create_snapshot(struct nvmf_req *r, struct nvmf_ctrlr *c);
/* The qpair is closing: detach it (and destroy its controller if it was the admin queue);
 * then it is told it may go with a message. */
void nvmf_ctrlr_qpair_gone(struct nvmf_qpair *qp);
void nvmf_ctrlr_destroy(struct nvmf_ctrlr *c);
/* Raises an asynchronous event on a controller (if enabled). */
void nvmf_ctrlr_aen(struct nvmf_ctrlr *c, uint32_t cfg_bit, uint32_t dw0);
/* Recomputes and pushes the access word of every qpair of a controller. */
void nvmf_ctrlr_push_access(struct nvmf_ctrlr *c);
uint32_t nvmf_ctrlr_access(const struct nvmf_ctrlr *c);

/* ---- subsys.c (primary) ---- */
struct nvmf_subsys *nvmf_subsys_by_nqn(const char *nqn);
struct nvmf_subsys *nvmf_subsys_first(void);
bool nvmf_subsys_host_allowed(const struct nvmf_subsys *ss, const char *hostnqn);
/* A controller of ss is gone (or a PTPL write ended); finishes a pending stop. */
void nvmf_subsys_ctrlr_removed(struct nvmf_subsys *ss);
uint64_t nvmf_discovery_genctr(void);
void nvmf_discovery_changed(void);

/* ---- discovery.c (primary) ---- */
/* Builds the discovery log page for hostnqn; returns its size, *out allocated. */
size_t nvmf_discovery_log(const char *hostnqn, uint8_t **out);

/* ---- target.c ---- */
struct sockaddr_storage;
void nvmf_sockaddr_str(const struct sockaddr_storage *ss, char *out, size_t len);
const struct nvmf_target_listener *nvmf_listener_for_port(uint16_t port);

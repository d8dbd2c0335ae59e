/* One NVMe/TCP queue of the initiator: a TCP connection to a controller, opened, taken
 * through ICReq/ICResp and Fabrics Connect, then carrying commands (NVMe/TCP Transport
 * 1.0, NVMe-oF 1.1). A qpair lives on the reactor that created it and is only touched
 * there; completions run there too.
 *
 * Data moves without copies where the protocol allows: write data leaves from the
 * caller's iovecs (in the capsule when it fits, else in H2CData PDUs answering the
 * controller's R2Ts), read data is received straight into the caller's iovecs. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define NVME_QP_MAX_DEPTH 128

/* What the controller answered. */
struct nvme_cpl {
    uint32_t dw0, dw1;
    uint16_t status; /* (SCT << 8) | SC; 0 = success */
    bool dnr;        /* do not retry */
    uint8_t crd;     /* command retry delay index */
};

/* A command and its data; the submitter owns it until done() runs. */
struct nvme_req {
    uint8_t sqe[64];   /* the qpair sets the CID and the data SGL */
    struct iovec *iov; /* data: len bytes across iovcnt segments, from byte iov_off */
    int iovcnt;
    uint32_t len;
    uint64_t iov_off;
    bool h2c;          /* data goes to the controller (write-like); else it comes back */
    /* err 0: the controller answered (cpl); else -ECONNRESET (connection lost),
     * -ETIMEDOUT (no answer in time: the queue is then failed), -ECANCELED (queue
     * destroyed), -EMSGSIZE (data beyond the capsule/transfer limits). */
    void (*done)(struct nvme_req *r, int err, const struct nvme_cpl *cpl);
    void *arg;
    struct nvme_req *next; /* the qpair's pending list */
};

struct nvme_qpair_opts {
    struct sockaddr_storage addr; /* the controller (resolved off the reactor) */
    socklen_t addrlen;
    const char *peer;     /* "host:port" for messages */
    uint16_t qid;         /* 0 = admin queue */
    uint16_t depth;       /* queue entries (sqsize + 1), <= NVME_QP_MAX_DEPTH */
    uint16_t cntlid;      /* 0xFFFF for the admin queue: any */
    const char *subnqn, *hostnqn;
    uint8_t hostid[16];
    uint32_t kato_ms;     /* admin queue only */
    bool hdgst, ddgst;    /* ask for header / data digests */
    uint64_t cmd_timeout_ns;     /* per command; 0 = none */
    uint64_t connect_timeout_ns; /* TCP connect + ICReq + Fabrics Connect */
    uint32_t incapsule;   /* in-capsule data this queue may send (IOCCSZ; 8192 admin) */
};

struct nvme_qpair;

/* Called once: ready (the queue can carry commands; cntlid from Connect) or failed.
 * After `failed`, every command has been completed with an error; the owner destroys
 * the qpair (also allowed from inside the callback). */
struct nvme_qpair_cbs {
    void (*ready)(void *arg, struct nvme_qpair *q, uint16_t cntlid);
    void (*failed)(void *arg, struct nvme_qpair *q, int err, const char *why);
    void *arg;
};

/* Starts connecting on the calling reactor. NULL when out of memory or no socket. */
struct nvme_qpair *nvme_qpair_connect(const struct nvme_qpair_opts *o,
                                      const struct nvme_qpair_cbs *cbs);
/* Queues a command (sent as soon as the queue is ready and has a free entry). A command
 * submitted to a failed queue completes at once with -ECONNRESET. */
void nvme_qpair_submit(struct nvme_qpair *q, struct nvme_req *r);
/* Closes the connection; outstanding and pending commands complete with -ECANCELED
 * (from a later loop turn, never inside this call). */
void nvme_qpair_destroy(struct nvme_qpair *q);
bool nvme_qpair_is_ready(const struct nvme_qpair *q);
/* What the connection negotiated. */
uint32_t nvme_qpair_incapsule(const struct nvme_qpair *q);
unsigned nvme_qpair_outstanding(const struct nvme_qpair *q);
/* The digests the controller agreed to (after ICResp). */
void nvme_qpair_digests(const struct nvme_qpair *q, bool *hdgst, bool *ddgst);

/* Fills r for a command with at most one data buffer (len bytes at buf, described by
 * *iov, which must live as long as r; len 0: no data). */
void nvme_req_init(struct nvme_req *r, struct iovec *iov, const uint8_t sqe[64], void *buf,
                   uint32_t len, bool h2c, void (*done)(struct nvme_req *, int, const struct nvme_cpl *),
                   void *arg);

/* SQE helpers */
void nvme_sqe_init(uint8_t sqe[64], uint8_t opc, uint32_t nsid);
void nvme_sqe_fabrics(uint8_t sqe[64], uint8_t fctype);

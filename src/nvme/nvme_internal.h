/* The NVMe/TCP initiator's model, shared by its files:
 *
 *   nvme_qpair  one TCP connection = one queue (nvme_qpair.c).
 *   nvme_ctrlr  a remote controller: its admin queue on the primary reactor, bring-up
 *               (Connect, CC.EN, Identify, number of queues), keep alive, reset and
 *               reconnect with a bounded policy, its entry in the controller registry
 *               (HostRpc ListNvmeControllers) (nvme_ctrlr.c). Primary.
 *   nvme bdev   namespace 1 as a block device "<ctrlr name>n1"; its channel on a reactor
 *               owns that reactor's I/O queue (nvme_bdev.c).
 *
 * The primary publishes the controller's state to the I/O reactors in one atomic word
 * (`live`: generation and controller id while it runs, 0 while it does not); a channel
 * compares it with the generation its queue was connected under at every I/O and drops
 * or (re)connects its queue accordingly. A reactor whose queue fails tells the primary by
 * message. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bdev/bdev.h"
#include "host/nvme_ctrlr_registry.h"
#include "nvme/nvme.h"
#include "nvme/nvme_qpair.h"

#define NVME_NAME_MAX 300

struct nvme_chan;

struct nvme_ctrlr {
    char name[NVME_NAME_MAX]; /* "host:port/subnqn" */
    char host[256];
    uint16_t port;
    char subnqn[224], hostnqn[224];
    uint8_t hostid[16];
    bool hdgst, ddgst;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char peer[280];
    /* timeouts (ns) and keep alive (ms), from the environment (nvme.h) */
    uint64_t io_timeout_ns, admin_timeout_ns, connect_timeout_ns;
    uint32_t kato_ms;
    uint64_t reconnect_delay_ns, loss_timeout_ns;

    _Atomic int state;          /* enum nvme_ctrlr_state */
    _Atomic uint32_t live;      /* (generation << 16) | cntlid while running, else 0 */
    uint16_t gen;
    struct nvme_qpair *admin;
    uint16_t cntlid;
    /* what Identify said */
    uint32_t max_xfer;          /* bytes per command (MDTS) */
    uint32_t ioccsz_bytes;      /* in-capsule data of I/O queues */
    uint16_t oncs;              /* optional NVM commands: DSM, write zeroes... */
    bool vwc;                   /* a volatile write cache: flush means something */
    uint16_t io_queues;         /* granted by Set Features Number of Queues */
    uint16_t io_depth;          /* entries per I/O queue */
    char serial[21], model[41], fw[9];
    uint64_t ns_blocks;
    uint32_t ns_blk_size;
    uint8_t ns_uuid[16];
    bool ns_has_uuid;

    struct bdev *bdev;          /* built at the first bring-up; NULL before */
    _Atomic(struct nvme_chan *) chans[BDEV_MAX_REACTORS];

    /* bring-up */
    int step;
    unsigned attempt;           /* bring-up attempts: answers of an older one are ignored */
    uint64_t cap;               /* the CAP property */
    uint64_t rdy_deadline_ns;
    uint8_t *idbuf;             /* 4096-byte identify buffer */
    struct iovec idiov;
    void (*created)(void *arg, int rc, struct bdev *b, const char *errmsg);
    void *created_arg;
    /* keep alive, reconnect */
    struct reactor_timer *ka_timer, *retry_timer, *step_timer;
    uint64_t down_since_ns;
    unsigned reconnects;
    int admin_inflight;         /* admin commands whose completion has not run */
    bool destroying;
    char last_error[200];

    struct nvme_ctrlr_entry reg;
    struct nvme_ctrlr *next;    /* every controller (nvme_ctrlr_by_name) */
};

/* One reactor's queue of the device (nvme_bdev.c). */
struct nvme_chan {
    struct nvme_ctrlr *c;
    struct reactor *reactor;
    struct nvme_qpair *q;
    uint32_t live;              /* the ctrlr generation this queue was connected under */
};

/* nvme_ctrlr.c (primary) */
struct nvme_ctrlr *nvme_ctrlr_by_name(const char *name);
struct nvme_ctrlr *nvme_ctrlr_first(void);
/* Its device once registered, else NULL. */
struct bdev *nvme_ctrlr_bdev(const struct nvme_ctrlr *c);
int nvme_ctrlr_new(const char *host, uint16_t port, const char *subnqn, const char *hostnqn,
                   bool hdgst, bool ddgst, struct nvme_ctrlr **out, char *err, size_t errlen);
/* Connects and brings the controller up; done(arg, rc, bdev, err) once (bdev built but not
 * registered: the URI layer registers it). */
void nvme_ctrlr_start(struct nvme_ctrlr *c,
                      void (*done)(void *arg, int rc, struct bdev *b, const char *errmsg),
                      void *arg);
/* The device is going: stop everything and free the controller when nothing refers to
 * it any more. */
void nvme_ctrlr_destroy(struct nvme_ctrlr *c);
/* A reactor's I/O queue under generation `live` failed (message to the primary). */
void nvme_ctrlr_io_failed(struct nvme_ctrlr *c, uint32_t live, const char *why);
/* An admin command with its completion on the primary. */
int nvme_ctrlr_admin(struct nvme_ctrlr *c, const uint8_t sqe[64], void *buf, uint32_t len,
                     bool h2c, nvme_cmd_cb cb, void *arg);

/* nvme_bdev.c */
struct bdev *nvme_bdev_build(struct nvme_ctrlr *c, char *err, size_t errlen);

/* nvme_env.c: durations from the environment ("5s", "200ms", a bare number in unit). */
uint64_t nvme_env_duration_ns(const char *name, uint64_t dflt_ns, uint64_t bare_unit_ns);

/* The NVMe/TCP initiator: a remote NVMe/TCP namespace as a block device (behaviour §1,
 * §2):
 *
 *   nvmf://host[:port]/subnqn[?uuid=&hostnqn=&hdgst=&ddgst=&reftag=&guard=]
 *   (also nvmf+tcp:// and nvmf+rdma+tcp://, which connects over TCP too; port 8420)
 *
 * The controller "host:port/subnqn" gets an admin queue on the primary reactor and an I/O
 * queue on every reactor that does I/O; the device is "<controller>n1" (namespace 1).
 * Host NQN: the URI's hostnqn, else env HOSTNQN, else nqn.2019-05.io.openebs:node-name:
 * <node name>; host identifier: env MAYASTOR_NVMF_HOSTID, else derived from the host NQN
 * (stable across restarts, so reservations keep their holder).
 *
 * Environment (durations as "5s", "200ms", "10us" or a bare number in the unit shown):
 *   NVME_TIMEOUT (us, 5 s)        an I/O without answer fails with -ETIMEDOUT and the
 *                                 controller is reset
 *   NVME_TIMEOUT_ADMIN (us, 5 s)  the same for admin commands
 *   NVME_KATO (ms, 10 s)          keep-alive timeout given at Connect; Keep Alive every half
 *   NVMF_FABRICS_CONNECT_TIMEOUT (us, 1 s)  TCP connect + ICReq + Fabrics Connect
 *   NVME_RECONNECT_DELAY (ms, 1 s)          between reconnect attempts
 *   NVME_CTRLR_LOSS_TIMEOUT (ms, 30 s)      reconnecting stops after this long down; the
 *                                           controller stays FAULTED, I/O fails
 * While the controller is down, I/O fails at once with -EIO (errors surface to the
 * nexus); it works again once a reconnect succeeds. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdev/bdev.h"
#include "nvme/nvme_qpair.h"

#define NVME_DEFAULT_PORT 8420

/* Completion of a passthrough command: err 0 and the controller's answer, or a
 * negative errno (see struct nvme_req). */
typedef void (*nvme_cmd_cb)(void *arg, int err, const struct nvme_cpl *cpl);

/* The host NQN and identifier this engine connects with (env, see above). */
void nvme_host_identity(char nqn[224], uint8_t hostid[16]);

bool nvme_bdev_is_remote(const struct bdev *b);
/* Admin command to the device's controller (primary reactor): sqe as built by the
 * caller (CID and data SGL are set here), buf of len bytes to the controller (h2c) or
 * from it. cb on the primary. -ENODEV not an nvmf device, -EIO controller down. */
int nvme_bdev_admin(struct bdev *b, const uint8_t sqe[64], void *buf, uint32_t len, bool h2c,
                    nvme_cmd_cb cb, void *arg);
/* I/O command on the calling reactor's queue of the opened device; cb on this reactor. */
int nvme_bdev_io_passthru(struct bdev_desc *d, const uint8_t sqe[64], void *buf, uint32_t len,
                          bool h2c, nvme_cmd_cb cb, void *arg);

/* Reservations (NVM Command Set §7.5, 7.6, 7.7, 7.8) on the calling reactor's queue. */
int nvme_resv_register(struct bdev_desc *d, uint8_t rrega, bool iekey, uint8_t cptpl,
                       uint64_t crkey, uint64_t nrkey, nvme_cmd_cb cb, void *arg);
int nvme_resv_acquire(struct bdev_desc *d, uint8_t racqa, bool iekey, uint8_t rtype,
                      uint64_t crkey, uint64_t prkey, nvme_cmd_cb cb, void *arg);
int nvme_resv_release(struct bdev_desc *d, uint8_t rrela, bool iekey, uint8_t rtype,
                      uint64_t crkey, nvme_cmd_cb cb, void *arg);
/* Report with the extended data structure into buf (len bytes). */
int nvme_resv_report(struct bdev_desc *d, void *buf, uint32_t len, nvme_cmd_cb cb, void *arg);

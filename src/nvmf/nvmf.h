/* The NVMe-over-TCP target (behaviour §6): listeners on the replica port (8420) and the
 * nexus port (4421), the discovery subsystem, and one NVM subsystem per shared device,
 * NQN nqn.2019-05.io.openebs:<device name>, with one namespace (nsid 1).
 *
 * Everything here runs on the primary reactor. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVMF_NQN_MAX 223
#define NVMF_DEFAULT_REPLICA_PORT 8420
#define NVMF_DEFAULT_NEXUS_PORT 4421

struct nvmf_subsys;

struct nvmf_target_opts {
    char addr[64];          /* listen address (IPv4 or IPv6 literal) */
    uint16_t replica_port;  /* 0 = default 8420 */
    uint16_t nexus_port;    /* 0 = default 4421 */
    uint32_t queue_depth;   /* 0 = default */
};

/* The listen address of behaviour §1: -T selector, else MY_POD_IP, else 127.0.0.1; the
 * config file's nvmf_tgt_conf.interface and nexus_opts ports override. 0 or -EINVAL with
 * a message. */
int nvmf_target_opts_from_env(struct nvmf_target_opts *o, char *err, size_t errlen);
/* Opens the listeners and creates the discovery subsystem. */
int nvmf_target_start(const struct nvmf_target_opts *o, char *err, size_t errlen);
/* Shutdown: disconnects every host, removes every subsystem, closes the listeners; then
 * done(arg) on the primary. */
void nvmf_target_stop(void (*done)(void *arg), void *arg);
bool nvmf_target_running(void);
const char *nvmf_target_addr(void);
uint16_t nvmf_target_replica_port(void);

/* Shares device `bdev_name` (opened and claimed "nvmf"): allowed hosts (n == 0: any).
 * -EEXIST if already shared, -ENODEV if there is no such device, -EBUSY if claimed. */
int nvmf_share(const char *bdev_name, const char *const *hosts, size_t n_hosts,
               struct nvmf_subsys **out, char *err, size_t errlen);
/* Replaces the allowed hosts; controllers of hosts no longer allowed are disconnected
 * (hosts that connected while any host was allowed stay). */
int nvmf_set_hosts(struct nvmf_subsys *ss, const char *const *hosts, size_t n_hosts);
/* Stops the subsystem: disconnects its hosts, then releases the device; done(arg, rc) on
 * the primary. */
void nvmf_unshare(struct nvmf_subsys *ss, void (*done)(void *arg, int rc), void *arg);
struct nvmf_subsys *nvmf_subsys_for_bdev(const char *bdev_name);
const char *nvmf_subsys_nqn(const struct nvmf_subsys *ss);
/* "nvmf://<addr>:<port>/<nqn>?uuid=<uuid>" (allocated). */
char *nvmf_share_uri(const struct nvmf_subsys *ss);
/* Number of allowed hosts and the i-th one. */
size_t nvmf_subsys_n_hosts(const struct nvmf_subsys *ss);
const char *nvmf_subsys_host(const struct nvmf_subsys *ss, size_t i);
/* Shares device `name`, or replaces its allowed hosts if it is shared already. 0 or
 * -errno (-ENODEV no device, -EBUSY claimed, -EINVAL bad host NQN, -ESHUTDOWN no target)
 * with a message. */
int nvmf_share_device(const char *name, const char *const *hosts, size_t n_hosts, char *err,
                      size_t errlen);
/* The same for a device whose reservations persist through power loss in the file
 * `ptpl_path` (ptpl.h; NULL: they do not), which held `ptpl_text` (NULL: no file). A new
 * share starts from that state; -EBADMSG with a message, and nothing shared, when the text
 * is not a reservation state of this device. An existing share keeps its state. */
int nvmf_share_device_ptpl(const char *name, const char *const *hosts, size_t n_hosts,
                           const char *ptpl_path, const char *ptpl_text, char *err, size_t errlen);
/* Unshares device `name` (nothing to do if it is not shared); done(arg, rc) on the
 * primary, possibly before this returns. */
void nvmf_unshare_device(const char *name, void (*done)(void *arg, int rc), void *arg);

/* The device's size changed: tell connected hosts (namespace attribute notice). */
void nvmf_bdev_resized(const char *bdev_name);
/* ANA state of the subsystem's namespace group (NVME_ANA_* values); hosts are told. */
int nvmf_set_ana_state(struct nvmf_subsys *ss, uint8_t state);
/* Controller id range for new controllers (nexus subsystems). */
int nvmf_set_cntlid_range(struct nvmf_subsys *ss, uint16_t min, uint16_t max);

/* JSON view of every subsystem (nvmf_get_subsystems). */
#include <jansson.h>
json_t *nvmf_subsystems_json(void);
struct jsonrpc_method;
extern const struct jsonrpc_method nvmf_rpc_m_get_subsystems;

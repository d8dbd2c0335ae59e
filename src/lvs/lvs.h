/* Pools: lvolstores (SPDK's "LVS") on top of a blobstore (blobstore.h), behaviour §3.
 *
 * A pool is one blobstore on one block device (its "disk", created from a URI and
 * claimed by module "lvol"), identified by the super blob's xattrs "name" and "uuid"
 * (docs/on-disk-format.md §8.2). Every other blob is a logical volume (lvol.h): a
 * replica, a snapshot or a clone, each registered as a block device.
 *
 * Threading: everything here runs on the primary reactor; operations complete
 * asynchronously there, exactly once, through their callback.
 *
 * Errors are negative errnos with a message for the user. The control surfaces map
 * them with lvs_grpc_status():
 *   -EINVAL, -EOVERFLOW  INVALID_ARGUMENT      -EEXIST        ALREADY_EXISTS
 *   -ENOENT, -ENODEV     NOT_FOUND             -ENOMEDIUM     FAILED_PRECONDITION (no pool)
 *   -EALREADY            ABORTED (pool lock)   -EMEDIUMTYPE   ABORTED (pool mismatch)
 *   -ENOSPC, -ENOMEM,    RESOURCE_EXHAUSTED    -EPERM         PERMISSION_DENIED
 *   -EMFILE                                    -EBUSY         FAILED_PRECONDITION (in use)
 *   -EOPNOTSUPP          UNIMPLEMENTED (needs a part not built, e.g. the NVMe-oF target)
 *   anything else        INTERNAL */
#pragma once
#include <grpc/status.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "bdev/bdev.h"
#include "lvs/blobstore.h"

#define LVS_NAME_MAX 64                    /* bytes including the NUL (SPDK_LVS_NAME_MAX) */
#define LVS_DEFAULT_CLUSTER_SIZE (4u << 20) /* 4 MiB */
#define LVS_MAX_CLUSTER_SIZE (1u << 30)     /* 1 GiB */
#define LVS_CLUSTER_SIZE_UNIT (1u << 20)    /* cluster sizes are multiples of 1 MiB */
#define LVS_CLAIM_MODULE "lvol"             /* claimed_by of a pool disk, as upstream */
#define LVS_ERRMSG_LEN 512

struct lvol;

struct lvs {
    char name[LVS_NAME_MAX];
    uuid_t uuid;
    char uuid_str[37];
    struct bs *bs;
    struct bdev_desc *desc; /* the disk, open and claimed */
    struct bdev *base;
    bs_blob_id super_id;
    struct lvol *lvols; /* every lvol of the pool, in blob-id (load) then creation order */
    size_t n_lvols;
    bool unloading;     /* export/destroy under way: no new replica work */
    struct lvs *next;
};

enum lvs_mode {
    LVS_CREATE_OR_IMPORT, /* CreatePool: import if the disk holds a pool, else create */
    LVS_IMPORT,           /* ImportPool: import only */
    LVS_CREATE,           /* bdev_lvol_create_lvstore: always format */
};

struct lvs_pool_args {
    const char *name;
    const char *uuid;      /* NULL or "": random on create, not checked on import */
    const char *disk;      /* URI, or a bare path (rewritten to aio://<path>) */
    const char *bdev_name; /* instead of disk: an existing device (JSON-RPC) */
    uint32_t cluster_size; /* bytes, 0 = default (4 MiB) */
    uint32_t md_ratio;     /* metadata pages per 100 clusters, 0 = default (100) */
    enum lvs_mode mode;
};

typedef void (*lvs_cb)(void *arg, int rc, struct lvs *lvs, const char *errmsg);
typedef void (*lvs_done_cb)(void *arg, int rc, const char *errmsg);

/* Creates or imports a pool (behaviour §3, step by step). Takes the pool-name lock
 * (busy: -EALREADY). On success lvs is loaded, its lvols registered as devices. */
void lvs_create_or_import(const struct lvs_pool_args *a, lvs_cb cb, void *arg);
/* Unloads the pool cleanly (lvols' devices go first; an lvol still open: -EBUSY) and
 * destroys its disk device. Takes the pool-name lock. */
void lvs_export(struct lvs *lvs, lvs_done_cb cb, void *arg);
/* Destroys the pool: every lvol gone, the super block erased, the disk device destroyed
 * unless keep_disk (SPDK's bdev_lvol_delete_lvstore keeps it), the PTPL directory
 * <ptpl-dir>/pool/<uuid>/ removed. Takes the pool-name lock. */
void lvs_destroy(struct lvs *lvs, bool keep_disk, lvs_done_cb cb, void *arg);
/* Re-reads the disk size (file-backed disks) and grows the blobstore into it. */
void lvs_grow(struct lvs *lvs, lvs_done_cb cb, void *arg);
/* Shutdown: exports every pool (waiting for operations under way), then done(arg). */
void lvs_export_all(void (*done)(void *arg), void *arg);
/* Start-up: create-or-import of every pool of the -P pool file, one after the other;
 * failures are logged. */
void lvs_import_config_pools(void);

/* ---- lookups (loaded pools only) ---- */
struct lvs *lvs_first(void);
struct lvs *lvs_next(struct lvs *l);
struct lvs *lvs_lookup(const char *name);
struct lvs *lvs_lookup_uuid(const char *uuid);
/* As upstream for replica requests: by uuid first, then by name. */
struct lvs *lvs_lookup_any(const char *uuid_or_name);
size_t lvs_count(void);

/* ---- reported values (behaviour §3) ---- */
uint64_t lvs_capacity(const struct lvs *l);      /* cluster size x data clusters */
uint64_t lvs_available(const struct lvs *l);     /* free clusters x cluster size */
uint64_t lvs_used(const struct lvs *l);          /* capacity - available */
uint64_t lvs_committed(const struct lvs *l);     /* sum of lvol sizes (snapshots: allocated) */
uint64_t lvs_disk_capacity(const struct lvs *l); /* the disk's size */
uint64_t lvs_cluster_size(const struct lvs *l);
uint32_t lvs_page_size(const struct lvs *l);     /* metadata page size (4096) */
uint64_t lvs_md_pages(const struct lvs *l);
uint64_t lvs_md_used_pages(const struct lvs *l);
/* The disk's URI as reported in Pool.disks: its creation URI with ?uuid= (allocated). */
char *lvs_disk_uri(const struct lvs *l);

/* ---- the per-pool-name lock (try-lock, as upstream's resource lock) ---- */
/* 0, or -EALREADY when held. */
int lvs_name_trylock(const char *name);
void lvs_name_unlock(const char *name);
bool lvs_name_locked(const char *name);

/* ---- serialization of the gRPC services (behaviour §10) ----
 * A FIFO of operations: an exclusive one runs alone, shared ones together. PoolRpc uses
 * lvs_pool_serial (everything exclusive); ReplicaRpc uses lvs_replica_serial (mutations
 * exclusive, lists shared), which the Snapshot and Test services share. run(arg) starts
 * the operation; it calls lvs_serial_done() once finished. */
struct lvs_serial_op;
struct lvs_serial {
    struct lvs_serial_op *head, *tail;
    int running;         /* operations started and not done */
    bool running_excl;
    bool pumping;
};
extern struct lvs_serial lvs_pool_serial, lvs_replica_serial;
/* Queues run(arg); returns -ENOMEM if it cannot (nothing queued then). */
int lvs_serial_submit(struct lvs_serial *s, bool exclusive, void (*run)(void *arg), void *arg);
void lvs_serial_done(struct lvs_serial *s);

/* gRPC status of an errno of this layer (see the table above). */
grpc_status_code lvs_grpc_status(int rc);

/* Message helpers for callers building errors. */
void lvs_errf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* JSON-RPC methods (lvs_rpc.c), listed in jsonrpc/methods.c. */
struct jsonrpc_method;
extern const struct jsonrpc_method lvs_rpc_m_get_lvstores;  /* bdev_lvol_get_lvstores */
extern const struct jsonrpc_method lvs_rpc_m_create_lvstore; /* bdev_lvol_create_lvstore */
extern const struct jsonrpc_method lvs_rpc_m_delete_lvstore; /* bdev_lvol_delete_lvstore */
extern const struct jsonrpc_method lvs_rpc_m_create;         /* bdev_lvol_create */
extern const struct jsonrpc_method lvs_rpc_m_delete;         /* bdev_lvol_delete */
extern const struct jsonrpc_method lvs_rpc_m_resize;         /* bdev_lvol_resize */
extern const struct jsonrpc_method lvs_rpc_m_get_lvols;      /* bdev_lvol_get_lvols */
extern const struct jsonrpc_method lvs_rpc_m_get_xattrs;     /* ioe_lvol_get_xattrs */
extern const struct jsonrpc_method lvs_rpc_m_set_property;   /* ioe_lvol_set_property */

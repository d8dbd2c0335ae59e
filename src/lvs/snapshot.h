/* Snapshots and clones of replicas (behaviour §7, docs/on-disk-format.md §7 and §10).
 *
 * A snapshot is an lvol whose blob is a read-only blobstore snapshot carrying the
 * io-engine's snapshot xattrs; it is registered as a (read-only) block device named after
 * the snapshot, as SPDK registers snapshot lvols, but replica calls do not find it. A
 * clone is a thin writable lvol made from a snapshot, with the clone xattrs; it is a
 * replica in every respect (is_clone).
 *
 * Xattr values of the io-engine are written without a trailing NUL; "name" (64 bytes,
 * NUL padded) and "uuid" (37 bytes) as for replicas. Snapshot xattr order: name, uuid,
 * io-engine.tx_id, io-engine.entity_id, io-engine.parent_id,
 * io-engine.snapshot_create_time, io-engine.discarded_snapshot. Clone: name, uuid,
 * io-engine.source_uuid, io-engine.clone_create_time.
 *
 * Primary reactor only; the caller holds the pool-name lock of the pool concerned. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lvs/lvol.h"

#define LVOL_XATTR_SNAP_TX_ID "io-engine.tx_id"
#define LVOL_XATTR_SNAP_ENTITY_ID "io-engine.entity_id"
#define LVOL_XATTR_SNAP_PARENT_ID "io-engine.parent_id"
#define LVOL_XATTR_CLONE_CREATE_TIME "io-engine.clone_create_time"
#define LVOL_TIME_LEN 64

struct lvol_snapshot_args {
    const char *name;        /* the snapshot's lvol (and device) name */
    const char *uuid;        /* required */
    const char *entity_id;
    const char *txn_id;
    const char *create_time; /* NULL: now */
};

/* Snapshots replica `src` (not a snapshot itself): -EINVAL bad name/uuid, -EEXIST uuid
 * or name used by a device or lvol, -EPERM src read-only, -ENOSPC/-ENOMEM no space. The
 * replica keeps its identity and device; from now on its writes go copy-on-write. */
void lvol_snapshot_create(struct lvol *src, const struct lvol_snapshot_args *a, lvol_cb cb,
                          void *arg);

/* A thin clone of snapshot `snap` (not discarded): -EINVAL, -EEXIST as above. */
void lvol_clone_create(struct lvol *snap, const char *name, const char *uuid, lvol_cb cb,
                       void *arg);

/* DestroySnapshot: deleted when nothing depends on it; otherwise (clones, or the replica
 * it was taken of: the blobstore cannot merge a snapshot into its single clone) marked
 * io-engine.discarded_snapshot=true, and deleted with its last dependant
 * (lvol_destroy) or at pool import. *deleted tells which happened. */
void lvol_snapshot_destroy(struct lvol *snap, bool *deleted, lvs_done_cb cb, void *arg);

/* The snapshot with that uuid (any pool), NULL if none. */
struct lvol *lvol_snapshot_lookup(const char *uuid);
/* Clones of the io-engine's kind: lvols whose io-engine.source_uuid is snap's uuid. */
size_t lvol_snapshot_clones(const struct lvol *snap, struct lvol **out, size_t max);

/* Everything ListSnapshot reports of one snapshot. */
struct lvol_snapshot_info {
    char txn_id[256], entity_id[256], parent_id[64], create_time[LVOL_TIME_LEN];
    char source_uuid[37];      /* parent_id if that lvol exists, else "" */
    bool valid;                /* every snapshot xattr present */
    bool discarded;
    uint64_t size;             /* allocated bytes of the snapshot */
    uint64_t source_size;      /* its capacity (the replica's size when taken) */
    uint64_t referenced_bytes; /* bytes held by the snapshots it reads through */
    uint64_t num_clones;
    bool has_time;
    struct timespec time;
};
void lvol_snapshot_info(const struct lvol *snap, struct lvol_snapshot_info *i);

/* "2024-10-23 16:46:38.123456789 UTC" for now. */
void lvol_time_now(char buf[LVOL_TIME_LEN]);
/* Parses that form (fraction of any length, optional); 0 or -EINVAL. */
int lvol_time_parse(const char *s, struct timespec *out);

/* JSON-RPC methods (snapshot_rpc.c), listed in jsonrpc/methods.c. */
extern const struct jsonrpc_method lvs_rpc_m_snapshot; /* bdev_lvol_snapshot */
extern const struct jsonrpc_method lvs_rpc_m_clone;    /* bdev_lvol_clone */

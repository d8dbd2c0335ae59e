/* Logical volumes (replicas, snapshots, clones) of a pool, behaviour §4.
 *
 * An lvol is one blob of the pool's blobstore with the xattrs "name" (64 bytes, NUL
 * padded) and "uuid" (36 lowercase characters + NUL), plus the io-engine's properties
 * (docs/on-disk-format.md §8.3, §10). Each lvol is a block device: driver "lvol",
 * product "Logical Volume", name = the lvol name, uuid = the lvol uuid, block size = the
 * blobstore io unit, alias "<pool name>/<lvol name>" (SPDK's alias). Its I/O maps onto
 * the blob (bs_blob_readv/writev/...) on the submitting reactor.
 *
 * Primary reactor only, except the I/O path. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "lvs/lvs.h"

#define LVOL_WIPE_LEN (8ull << 20) /* zeroed at creation when the disk has no UNMAP */
#define LVOL_DRIVER "lvol"
#define LVOL_PRODUCT "Logical Volume"

/* Persistent properties (user xattrs written with a trailing NUL, §10). */
#define LVOL_XATTR_SHARED "shared"
#define LVOL_XATTR_ALLOWED_HOSTS "allowed-hosts"
#define LVOL_XATTR_ENTITY_ID "entity_id"
/* Snapshot/clone xattrs (written without NUL, §7/§10). */
#define LVOL_XATTR_SNAP_CREATE_TIME "io-engine.snapshot_create_time"
#define LVOL_XATTR_SNAP_DISCARDED "io-engine.discarded_snapshot"
#define LVOL_XATTR_CLONE_SOURCE "io-engine.source_uuid"

enum lvol_share { LVOL_SHARE_NONE = 0, LVOL_SHARE_NVMF = 1 };

struct lvol {
    struct lvs *lvs;
    struct bs_blob *blob;
    bs_blob_id id;
    char name[LVS_NAME_MAX];
    uuid_t uuid;
    char uuid_str[37];
    struct bdev *bdev; /* NULL when it could not be registered (name clash at import) */
    bool busy;         /* being destroyed or resized */
    /* Live share state, owned by the NVMe-oF target (not built: always NONE, no hosts). */
    enum lvol_share share;
    char **allowed_hosts;
    size_t n_allowed_hosts;
    struct lvol *next;
};

struct lvol_create_args {
    const char *name;
    const char *uuid;      /* NULL or "": random */
    uint64_t size;         /* bytes, rounded up to whole clusters */
    bool thin;
    const char *entity_id; /* NULL: none */
};

typedef void (*lvol_cb)(void *arg, int rc, struct lvol *lv, const char *errmsg);

/* Creates a replica (behaviour §4): name and uuid must be unused by any device
 * (-EEXIST), size <= pool capacity (-EOVERFLOW), clear method UNMAP when the disk
 * supports it, else the first 8 MiB are zeroed (needs 8 MiB free: -ENOSPC). The caller
 * holds the pool-name lock. */
void lvol_create(struct lvs *lvs, const struct lvol_create_args *a, lvol_cb cb, void *arg);
/* Destroys a replica (its device must not be open: -EBUSY); when it was the last lvol
 * reading through a discarded snapshot (its last clone), the snapshot goes too, and so
 * on down a chain of discarded snapshots; removes its PTPL file. */
void lvol_destroy(struct lvol *lv, lvs_done_cb cb, void *arg);
/* Grows or shrinks to `size` bytes (rounded up to clusters). */
void lvol_resize(struct lvol *lv, uint64_t size, lvs_done_cb cb, void *arg);
/* Sets a persistent property (value written with a trailing NUL); writes nothing when
 * the value is already the same (allowed-hosts: same set). sync=false keeps the change
 * in memory until the next metadata write. */
void lvol_set_property(struct lvol *lv, const char *xattr, const char *value, bool sync,
                       lvs_done_cb cb, void *arg);

/* ---- lookups ---- */
/* The lvol whose device has that uuid: 0, -ENOENT (no device), -ENOTTY (a device that
 * is not an lvol), -EINVAL (not a uuid). */
int lvol_lookup_uuid(const char *uuid, struct lvol **out);
struct lvol *lvol_lookup_name(const char *name); /* by device name (any pool) */
struct lvol *lvol_from_bdev(const struct bdev *b);
struct lvol *lvol_first_in(const struct lvs *lvs);
struct lvol *lvol_lookup_blob(const struct lvs *lvs, bs_blob_id id);

/* ---- facts ---- */
uint64_t lvol_size(const struct lvol *lv); /* bytes */
uint64_t lvol_num_clusters(const struct lvol *lv);
bool lvol_is_thin(const struct lvol *lv);
bool lvol_is_snapshot(const struct lvol *lv); /* has io-engine.snapshot_create_time */
/* Whether lvol_delete can remove lv's blob: no blob clones, or lv is a snapshot whose
 * single blob clone is not an io-engine clone (its replica or a later snapshot of it,
 * into which the blobstore merges it). */
bool lvol_snapshot_deletable(const struct lvol *lv);
bool lvol_is_clone(const struct lvol *lv);    /* io-engine.source_uuid names a snapshot */
bool lvol_is_discarded(const struct lvol *lv);
uint64_t lvol_committed(const struct lvol *lv);
/* A property's value with trailing NULs stripped, NUL-terminated in buf. 0, -ENOENT or
 * -ENOBUFS. */
int lvol_get_property(const struct lvol *lv, const char *xattr, char *buf, size_t len);

struct lvol_usage {
    uint64_t capacity_bytes, allocated_bytes, cluster_size, num_clusters,
        num_allocated_clusters, allocated_bytes_snapshots, num_allocated_clusters_snapshots;
    bool has_snapshot_from_clone;
    uint64_t allocated_bytes_snapshot_from_clone;
};
void lvol_get_usage(const struct lvol *lv, struct lvol_usage *u);
/* Its share URI (allocated): the NVMe-oF one while shared, else
 * "bdev:///<name>?uuid=<uuid>". */
char *lvol_share_uri(const struct lvol *lv);

/* ---- for snapshot.c ---- */
/* An lvol of any pool by uuid, registered as a device or not (NULL if none). */
struct lvol *lvol_find_uuid(const char *uuid);
/* Builds the lvol of a blob just created in the pool (snapshot, clone), appends it to the
 * pool's list and registers its device. On an error other than -ENOMEM/-EIO *out is set
 * (without a device) and the caller deletes it with lvol_delete. */
int lvol_adopt(struct lvs *lvs, bs_blob_id id, struct lvol **out);
/* Unregisters the device (must not be open: -EBUSY) and deletes the blob (no clones:
 * -EBUSY); frees the lvol on success. No discarded-snapshot follow-up (lvol_destroy). */
void lvol_delete(struct lvol *lv, void (*done)(void *arg, int rc), void *arg);

/* ---- for lvs.c ---- */
/* Validates every lvol blob's xattrs at import (a blob without "name", or one longer than
 * 64 bytes, fails the whole pool: -EINVAL). */
int lvol_check_blobs(struct bs *bs, bs_blob_id super, char *err, size_t errlen);
/* Builds the lvols of a just-loaded pool and registers their devices. */
int lvol_load_all(struct lvs *lvs);
/* Unregisters every lvol device of the pool, one after the other, then frees the lvols
 * (their blobs stay the blobstore's). done(arg, rc). */
void lvol_unload_all(struct lvs *lvs, void (*done)(void *arg, int rc), void *arg);
/* Deletes snapshots marked discarded that have no clones left (after an import). */
void lvol_purge_discarded(struct lvs *lvs, void (*done)(void *arg), void *arg);
/* Number of lvols whose device is open. */
size_t lvol_open_count(const struct lvs *lvs);

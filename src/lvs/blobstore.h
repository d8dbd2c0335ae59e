/* The blobstore: SPDK's on-disk format (docs/on-disk-format.md), implemented from that
 * document. A blobstore lives on one block device (a pool's disk) and holds blobs:
 * thin or thick sequences of clusters with xattrs, possibly snapshots and clones.
 *
 * Threading and consistency:
 *  - every metadata operation (load, init, create, resize, xattr sync, snapshot, clone,
 *    delete, unload, grow) runs on the primary reactor and completes there, in order;
 *  - data I/O (bs_blob_readv/writev/...) runs on any reactor through that reactor's
 *    channel of the base device; a write to an unallocated cluster of a thin blob asks the
 *    primary to allocate it (persisting the extent page / chain first), then continues
 *    on the submitting reactor — so metadata reaches the disk before the data it maps,
 *    and an acknowledged write survives a crash;
 *  - all blobs' metadata is loaded at bs_load time and kept in memory.
 *
 * Errors are negative errnos: -EILSEQ no blobstore on the device (bad signature, version
 * or CRC: upstream treats it as an empty disk), -ENXIO a blobstore of another type,
 * -EINVAL / -EIO corrupt metadata (never "repaired" into data loss), -ENOSPC no free
 * clusters, -ENOMEM no free metadata pages, -ENOENT unknown blob, -EBUSY blob has clones
 * or is open, -EPERM read-only blob. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev/bdev.h"

#define BS_PAGE_SIZE 4096u
#define BS_INVALID_ID UINT64_MAX
#define BS_LVOLSTORE_TYPE "LVOLSTORE"

typedef uint64_t bs_blob_id;
struct bs;
struct bs_blob;

enum bs_clear_method {
    BS_CLEAR_DEFAULT = 0,
    BS_CLEAR_NONE = 1,
    BS_CLEAR_UNMAP = 2,
    BS_CLEAR_WRITE_ZEROES = 3,
};

typedef void (*bs_done_cb)(void *arg, int rc);
typedef void (*bs_load_cb)(void *arg, int rc, struct bs *bs);
typedef void (*bs_id_cb)(void *arg, int rc, bs_blob_id id);

struct bs_init_opts {
    uint32_t cluster_size;    /* bytes, multiple of 4096 (default 4 MiB when 0) */
    uint32_t md_pages_ratio;  /* md pages per 100 clusters (default 100 when 0) */
    const char *bstype;       /* e.g. BS_LVOLSTORE_TYPE */
};

/* Formats the device (claimed by the caller through `desc`) and loads the new store. */
void bs_init(struct bdev_desc *desc, const struct bs_init_opts *opts, bs_load_cb cb, void *arg);
/* Loads the store on the device; recovers it if it was not unloaded cleanly. bstype
 * NULL accepts any type. */
void bs_load(struct bdev_desc *desc, const char *bstype, bs_load_cb cb, void *arg);
/* Writes the masks, marks the store clean, frees it (the descriptor stays the caller's). */
void bs_unload(struct bs *bs, bs_done_cb cb, void *arg);
/* Erases the super block (the pool is gone) and frees the store. */
void bs_destroy(struct bs *bs, bs_done_cb cb, void *arg);
/* Re-reads the device size and grows the store into it (shrink refused: -EINVAL). */
void bs_grow(struct bs *bs, bs_done_cb cb, void *arg);

/* ---- store facts (primary) ---- */
uint64_t bs_cluster_size(const struct bs *bs);
uint32_t bs_io_unit_size(const struct bs *bs);
uint64_t bs_total_data_clusters(const struct bs *bs);
uint64_t bs_free_clusters(const struct bs *bs);
uint32_t bs_md_pages_total(const struct bs *bs);
uint32_t bs_md_pages_used(const struct bs *bs);
bs_blob_id bs_get_super_blob(const struct bs *bs);
void bs_set_super_blob(struct bs *bs, bs_blob_id id, bs_done_cb cb, void *arg);
struct bdev_desc *bs_desc(const struct bs *bs);

/* ---- blobs (primary) ---- */
struct bs_xattr {
    const char *name;
    const void *value;
    size_t len;
};

struct bs_blob_opts {
    uint64_t num_clusters;
    bool thin;
    enum bs_clear_method clear_method;
    const struct bs_xattr *xattrs; /* user xattrs, written with the blob */
    size_t n_xattrs;
};

void bs_blob_create(struct bs *bs, const struct bs_blob_opts *opts, bs_id_cb cb, void *arg);
/* Deletes a blob. A snapshot with exactly one clone is merged into it first (format
 * §7.4: the clone takes the clusters it lacks and the snapshot's parent, crash-safe with
 * SNAPRM); -EBUSY if it has two or more clones. */
void bs_blob_delete(struct bs *bs, bs_blob_id id, bs_done_cb cb, void *arg);
/* Takes a read-only snapshot of `id`: the blob becomes a clone of the new snapshot. */
void bs_blob_snapshot(struct bs *bs, bs_blob_id id, const struct bs_xattr *xattrs, size_t n,
                      bs_id_cb cb, void *arg);
/* A writable thin clone of a (read-only) snapshot. */
void bs_blob_clone(struct bs *bs, bs_blob_id snapshot, const struct bs_xattr *xattrs, size_t n,
                   bs_id_cb cb, void *arg);
/* Grows or shrinks a blob (and persists it). */
void bs_blob_resize(struct bs_blob *b, uint64_t num_clusters, bs_done_cb cb, void *arg);
/* Persists in-memory metadata changes (xattrs). */
void bs_blob_sync_md(struct bs_blob *b, bs_done_cb cb, void *arg);

struct bs_blob *bs_blob_first(struct bs *bs);
struct bs_blob *bs_blob_next(struct bs_blob *b);
struct bs_blob *bs_blob_lookup(struct bs *bs, bs_blob_id id);
bs_blob_id bs_blob_get_id(const struct bs_blob *b);
uint64_t bs_blob_num_clusters(const struct bs_blob *b);
uint64_t bs_blob_num_allocated_clusters(const struct bs_blob *b);
uint64_t bs_blob_num_io_units(const struct bs_blob *b);
bool bs_blob_is_thin(const struct bs_blob *b);
bool bs_blob_is_read_only(const struct bs_blob *b);
bool bs_blob_is_snapshot(const struct bs_blob *b); /* has clones or was created as one */
bs_blob_id bs_blob_parent(const struct bs_blob *b); /* BS_INVALID_ID if none */
size_t bs_blob_clones(const struct bs_blob *b, bs_blob_id *out, size_t max);
enum bs_clear_method bs_blob_clear_method(const struct bs_blob *b);

/* User xattrs (in memory until bs_blob_sync_md). get returns -ENOENT if absent. */
int bs_blob_get_xattr(const struct bs_blob *b, const char *name, const void **value, size_t *len);
int bs_blob_set_xattr(struct bs_blob *b, const char *name, const void *value, size_t len);
int bs_blob_remove_xattr(struct bs_blob *b, const char *name);
/* Names of the user xattrs, in on-disk order (NULL-terminated, caller frees the array). */
const char **bs_blob_xattr_names(const struct bs_blob *b);

/* ---- data I/O (any reactor) ----
 * Offsets and lengths in io units (bs_io_unit_size bytes). Completion on the submitting
 * reactor. The caller owns `io` until the callback; every field of it is overwritten, so
 * pass a spare struct bdev_io, never one that is itself in flight. */
void bs_blob_readv(struct bs_blob *b, struct bdev_io *io, struct iovec *iov, int iovcnt,
                   uint64_t offset, uint64_t len, bdev_io_cb cb, void *arg);
void bs_blob_writev(struct bs_blob *b, struct bdev_io *io, struct iovec *iov, int iovcnt,
                    uint64_t offset, uint64_t len, bdev_io_cb cb, void *arg);
void bs_blob_write_zeroes(struct bs_blob *b, struct bdev_io *io, uint64_t offset, uint64_t len,
                          bdev_io_cb cb, void *arg);
void bs_blob_unmap(struct bs_blob *b, struct bdev_io *io, uint64_t offset, uint64_t len,
                   bdev_io_cb cb, void *arg);
void bs_blob_flush(struct bs_blob *b, struct bdev_io *io, bdev_io_cb cb, void *arg);

/* ---- additions ---- */

/* A human-readable reason for the most recent failure of a metadata operation or load
 * on the primary (e.g. which md page of which blob is corrupt). "" if none. */
const char *bs_last_error(void);
/* Frees the in-memory store without writing anything (as if the process died): the next
 * bs_load finds it dirty and recovers. For tests and crash simulation; no operation or
 * I/O may be in progress. */
void bs_abandon(struct bs *bs);

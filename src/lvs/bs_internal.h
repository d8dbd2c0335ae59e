/* Internal structures shared by bs_store.c (load/init/recovery/unload/grow), bs_blob.c
 * (blob metadata operations) and bs_io.c (data path). Not part of the public API. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "blobstore.h"
#include "bs_codec.h"
#include "core/reactor.h"

typedef void (*bs_cb)(void *arg, int rc);

/* Per-reactor count of a blob's data I/Os in flight (each reactor writes only its own
 * entry; the primary sums them to drain the blob before changing its cluster map). */
struct bs_inflight {
    _Alignas(64) _Atomic uint32_t n;
};

struct bs_blob {
    struct bs *bs;
    /* On-disk metadata. md.clusters / md.num_clusters are read by every reactor while
     * not frozen: entries are loaded and stored with __atomic builtins; the array itself
     * and the sizes only change while the blob is frozen and drained (resize, snapshot,
     * delete), so no reactor can hold a stale pointer. */
    struct bs_blob_md md;
    uint32_t *chain; /* md pages of the chain on disk, chain[0] = root */
    uint32_t chain_len;
    uint64_t num_allocated;
    bool dirty;    /* xattrs changed since the last persist */
    bool data_ro;  /* READ_ONLY or unknown data_ro bits: no data writes, no resize */
    bool md_ro;    /* unknown data_ro/md_ro bits: no metadata changes at all */
    struct bs_blob *parent;   /* SNAP of a thin blob */
    struct bs_blob **clones;  /* blobs whose parent this is */
    size_t n_clones, cap_clones;
    /* data path */
    _Atomic bool frozen;
    _Atomic bool deleted;
    struct bs_inflight *inflight; /* [reactor_count()] */
};

/* Per-reactor state of a store (created lazily by the reactor itself). */
struct bs_child;
struct bs_chan {
    struct bs *bs;
    struct bdev_channel *bch;
    int idx;
    struct bs_child *free_children;
    struct bdev_io *frozen_head, *frozen_tail; /* I/Os waiting for a blob to thaw */
};

/* A queued metadata operation (primary). */
struct bs_op {
    struct bs_op *next;
    struct bs *bs;
    void (*start)(struct bs_op *op);
    bool final; /* unload / destroy: the store is gone after finish */
};

struct bs {
    struct bdev_desc *desc;
    struct bdev *bdev;
    struct bs_super sb;      /* in-memory super block (what we write) */
    uint32_t blocklen;       /* = io unit */
    uint32_t blocks_per_page;
    uint64_t blocks_per_cluster;
    uint64_t total_clusters;
    uint64_t md_clusters;    /* M: clusters 0..M-1 hold metadata */
    uint64_t free_clusters;
    bool dev_unmap;          /* device supports UNMAP */
    bool disk_clean;         /* the super block on disk says clean = 1 */
    struct bs_bitmap used_md, used_blobids, used_clusters;
    struct bs_blob **by_page; /* [md_len]: blob whose root page is at that index */
    uint64_t n_blobs;
    /* metadata operation queue */
    struct bs_op *q_head, *q_tail;
    bool op_running, kick_pending, closing;
    struct reactor_deferred kick;
    /* data path */
    _Atomic(struct bs_chan *) chans[BDEV_MAX_REACTORS];
    atomic_uint_fast64_t stat_parked; /* I/Os that waited for a frozen blob */
    atomic_uint_fast64_t stat_allocs; /* clusters allocated by first writes */
};

/* ---- bs_store.c ---- */
void bs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bs_op_submit(struct bs *bs, struct bs_op *op);
void bs_op_done(struct bs_op *op);
/* Completes cb(arg, rc) on the primary on a later loop turn. */
void bs_complete_later(bs_cb cb, void *arg, int rc);

/* Metadata I/O on the primary (byte offsets and lengths, multiples of 4096). */
void bs_dev_io(struct bs *bs, enum bdev_io_type t, void *buf, uint64_t off, uint64_t len, bs_cb cb,
               void *arg);
static inline void bs_md_write(struct bs *bs, uint32_t md_page, void *buf, bs_cb cb, void *arg)
{
    bs_dev_io(bs, BDEV_IO_WRITE, buf, ((uint64_t)bs->sb.md_start + md_page) * BS_PG, BS_PG, cb, arg);
}
void bs_md_zero(struct bs *bs, uint32_t md_page, bs_cb cb, void *arg);
/* Clears `count` clusters from `first` with a blob's clear method. */
void bs_clear_clusters(struct bs *bs, enum bs_clear_method m, uint64_t first, uint64_t count,
                       bs_cb cb, void *arg);
const uint8_t *bs_zero_page(void);

/* Counts I/Os; cb(arg, first error) when every started one finished and end() was called. */
struct bs_batch {
    int pending;
    int rc;
    bs_cb cb;
    void *arg;
};
void bs_batch_begin(struct bs_batch *b, bs_cb cb, void *arg);
void bs_batch_io_done(void *batch, int rc); /* bs_cb for each I/O */
static inline void bs_batch_add(struct bs_batch *b) { b->pending++; }
void bs_batch_end(struct bs_batch *b);

/* Reads page 0, checks it is still our super block, patches clean (0/1) and the fields
 * we own, and writes it. */
void bs_write_super(struct bs *bs, uint32_t clean, bs_cb cb, void *arg);
/* Writes clean = 0 before the first metadata change after a clean load. */
void bs_mark_dirty(struct bs *bs, bs_cb cb, void *arg);

uint32_t bs_claim_cluster(struct bs *bs);
void bs_release_cluster(struct bs *bs, uint32_t c);
uint32_t bs_claim_md_page(struct bs *bs, uint32_t from);
void bs_release_md_page(struct bs *bs, uint32_t p);

/* ---- bs_blob.c ---- */
struct bs_blob *bs_blob_new(struct bs *bs, uint64_t id);
void bs_blob_free(struct bs_blob *b);
/* Updates data_ro / md_ro from the flags. */
void bs_blob_update_ro(struct bs_blob *b);
void bs_blob_add_clone(struct bs_blob *parent, struct bs_blob *clone);
void bs_blob_remove_clone(struct bs_blob *parent, struct bs_blob *clone);
/* §4.4: rewrites the chain of b (root page in place = commit point). */
void bs_blob_persist(struct bs_blob *b, bs_cb cb, void *arg);
/* Deletes b (no clones) from disk and memory; b's map is cleared with its clear method.
 * The caller must have frozen b. */
void bs_blob_delete_internal(struct bs_blob *b, bs_cb cb, void *arg);
/* Allocates cluster slots [first, last] of thin blob b that are still unallocated (§6.3). */
void bs_blob_alloc_range(struct bs_blob *b, uint64_t first, uint64_t last, bs_cb cb, void *arg);
/* Finds the blob whose root is at the low 32 bits of id, checking the full id. */
struct bs_blob *bs_lookup(const struct bs *bs, uint64_t id);
/* §7.5 for one blob at load: keep or delete a half-created / half-deleted snapshot. */
void bs_blob_snapshot_recover(struct bs_blob *b, bs_cb cb, void *arg);

/* ---- bs_io.c ---- */
/* Stops new data I/O to b and calls cb once the in-flight ones are done. */
void bs_blob_freeze(struct bs_blob *b, bs_cb cb, void *arg);
/* Lets I/O flow again: every reactor resubmits (or, if b was deleted, fails) its waiting
 * I/Os; cb runs on the primary after every reactor has done so (b may be freed then). */
void bs_blob_thaw(struct bs_blob *b, bs_cb cb, void *arg);
/* Frees the per-reactor channels (no I/O may be in flight). */
void bs_chans_free(struct bs *bs);

/* The blobstore as a whole: metadata operation queue, metadata I/O helpers, the super
 * block, format (init), load with clean and dirty (recovery, §9.3) paths, unload,
 * destroy and grow. Everything here runs on the primary reactor. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs_internal.h"
#include "core/log.h"

/* ---- errors ---- */

static char g_last_error[512];

void bs_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof(g_last_error), fmt, ap);
    va_end(ap);
    log_error("blobstore: %s", g_last_error);
}

const char *bs_last_error(void) { return g_last_error; }

/* ---- deferred completions ---- */

struct later {
    struct reactor_deferred d;
    bs_cb cb;
    void *arg;
    int rc;
};

static void later_run(struct reactor_deferred *d)
{
    struct later *l = (struct later *)d;
    bs_cb cb = l->cb;
    void *arg = l->arg;
    int rc = l->rc;
    free(l);
    cb(arg, rc);
}

void bs_complete_later(bs_cb cb, void *arg, int rc)
{
    struct later *l = calloc(1, sizeof(*l));
    if (!l) { /* cannot defer: complete now rather than never */
        cb(arg, rc);
        return;
    }
    l->d.fn = later_run;
    l->cb = cb;
    l->arg = arg;
    l->rc = rc;
    reactor_defer(&l->d);
}

/* ---- operation queue ---- */

static void op_kick(struct reactor_deferred *d)
{
    struct bs *bs = (struct bs *)((char *)d - offsetof(struct bs, kick));
    bs->kick_pending = false;
    if (bs->op_running || !bs->q_head)
        return;
    struct bs_op *op = bs->q_head;
    bs->q_head = op->next;
    if (!bs->q_head)
        bs->q_tail = NULL;
    op->next = NULL;
    bs->op_running = true;
    op->start(op);
}

static void schedule_kick(struct bs *bs)
{
    if (bs->kick_pending || bs->op_running || !bs->q_head)
        return;
    bs->kick_pending = true;
    bs->kick.fn = op_kick;
    reactor_defer(&bs->kick);
}

void bs_op_submit(struct bs *bs, struct bs_op *op)
{
    op->bs = bs;
    op->next = NULL;
    if (bs->q_tail)
        bs->q_tail->next = op;
    else
        bs->q_head = op;
    bs->q_tail = op;
    schedule_kick(bs);
}

/* Called by an operation when it is finished, before it reports to its caller. */
void bs_op_done(struct bs_op *op)
{
    struct bs *bs = op->bs;
    bs->op_running = false;
    if (!op->final)
        schedule_kick(bs);
}

/* ---- metadata I/O ---- */

struct dev_io {
    struct bdev_io io;
    struct iovec iov;
    bs_cb cb;
    void *arg;
};

static void dev_io_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct dev_io *d = arg;
    bs_cb cb = d->cb;
    void *a = d->arg;
    free(d);
    cb(a, status);
}

void bs_dev_io(struct bs *bs, enum bdev_io_type t, void *buf, uint64_t off, uint64_t len, bs_cb cb,
               void *arg)
{
    struct bdev_channel *ch = bdev_get_channel(bs->desc);
    struct dev_io *d = ch ? calloc(1, sizeof(*d)) : NULL;
    if (!d) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    d->cb = cb;
    d->arg = arg;
    d->iov.iov_base = buf;
    d->iov.iov_len = len;
    uint64_t lba = off / bs->blocklen, n = len / bs->blocklen;
    switch (t) {
    case BDEV_IO_READ:
        bdev_readv(ch, &d->io, &d->iov, 1, lba, n, dev_io_done, d);
        break;
    case BDEV_IO_WRITE:
        bdev_writev(ch, &d->io, &d->iov, 1, lba, n, dev_io_done, d);
        break;
    case BDEV_IO_WRITE_ZEROES:
        bdev_write_zeroes(ch, &d->io, lba, n, dev_io_done, d);
        break;
    case BDEV_IO_UNMAP:
        bdev_unmap(ch, &d->io, lba, n, dev_io_done, d);
        break;
    default:
        bdev_flush(ch, &d->io, lba, n, dev_io_done, d);
        break;
    }
}

static _Alignas(4096) uint8_t g_zero_page[BS_PG];

const uint8_t *bs_zero_page(void) { return g_zero_page; }

void bs_md_zero(struct bs *bs, uint32_t md_page, bs_cb cb, void *arg)
{
    bs_md_write(bs, md_page, g_zero_page, cb, arg);
}

void bs_clear_clusters(struct bs *bs, enum bs_clear_method m, uint64_t first, uint64_t count,
                       bs_cb cb, void *arg)
{
    uint64_t off = first * bs->sb.cluster_size, len = count * bs->sb.cluster_size;
    switch (m) {
    case BS_CLEAR_DEFAULT:
    case BS_CLEAR_UNMAP:
        if (bs->dev_unmap) {
            bs_dev_io(bs, BDEV_IO_UNMAP, NULL, off, len, cb, arg);
            return;
        }
        break;
    case BS_CLEAR_WRITE_ZEROES:
        bs_dev_io(bs, BDEV_IO_WRITE_ZEROES, NULL, off, len, cb, arg);
        return;
    default:
        break;
    }
    bs_complete_later(cb, arg, 0);
}

void bs_batch_begin(struct bs_batch *b, bs_cb cb, void *arg)
{
    b->pending = 1;
    b->rc = 0;
    b->cb = cb;
    b->arg = arg;
}

void bs_batch_io_done(void *batch, int rc)
{
    struct bs_batch *b = batch;
    if (rc && !b->rc)
        b->rc = rc;
    if (--b->pending == 0)
        b->cb(b->arg, b->rc);
}

void bs_batch_end(struct bs_batch *b) { bs_batch_io_done(b, 0); }

/* ---- claims ---- */

uint32_t bs_claim_cluster(struct bs *bs)
{
    uint32_t c = bs_bitmap_find_clear(&bs->used_clusters, 0);
    if (c != BS_INVALID32) {
        bs_bit_set(&bs->used_clusters, c);
        bs->free_clusters--;
    }
    return c;
}

void bs_release_cluster(struct bs *bs, uint32_t c)
{
    if (bs_bit_get(&bs->used_clusters, c) && c >= bs->md_clusters) {
        bs_bit_clear(&bs->used_clusters, c);
        bs->free_clusters++;
    }
}

uint32_t bs_claim_md_page(struct bs *bs, uint32_t from)
{
    uint32_t p = bs_bitmap_find_clear(&bs->used_md, from);
    if (p != BS_INVALID32)
        bs_bit_set(&bs->used_md, p);
    return p;
}

void bs_release_md_page(struct bs *bs, uint32_t p) { bs_bit_clear(&bs->used_md, p); }

/* ---- the super block on disk ---- */

#define KEEP_CLEAN UINT32_MAX

struct super_write {
    struct bs *bs;
    uint32_t clean;
    bs_cb cb;
    void *arg;
    uint8_t *page;
};

static void super_written(void *arg, int rc)
{
    struct super_write *w = arg;
    if (!rc && w->clean != KEEP_CLEAN) {
        w->bs->disk_clean = w->clean != 0;
        w->bs->sb.clean = w->clean;
    }
    if (rc)
        bs_set_error("cannot write the super block: %s", strerror(-rc));
    bs_cb cb = w->cb;
    void *a = w->arg;
    free(w->page);
    free(w);
    cb(a, rc);
}

static void super_read_back(void *arg, int rc)
{
    struct super_write *w = arg;
    struct bs *bs = w->bs;
    uint8_t *p = w->page;
    if (!rc) {
        uint32_t version = bs_le32(p + 0x08);
        if (memcmp(p, "SPDKBLOB", 8) || version < 1 || version > BS_VERSION || !bs_page_crc_ok(p) ||
            memcmp(p + 0x38, bs->sb.bstype, BS_BSTYPE_LEN)) {
            bs_set_error("the super block on disk is no longer this blobstore's");
            rc = -EILSEQ;
        }
    }
    if (rc) {
        if (rc != -EILSEQ)
            bs_set_error("cannot read the super block: %s", strerror(-rc));
        bs_cb cb = w->cb;
        void *a = w->arg;
        free(w->page);
        free(w);
        cb(a, rc);
        return;
    }
    uint64_t dev_bytes = bs->bdev->num_blocks * bs->blocklen;
    if (w->clean != KEEP_CLEAN)
        bs_put32(p + 0x10, w->clean);
    if (bs_le64(p + 0x50) != 0)
        bs_put64(p + 0x50, bs->sb.size);
    else if (w->clean == 0)
        bs_put64(p + 0x50, dev_bytes);
    bs_put32(p + 0x2C, bs->sb.used_cluster_mask_len);
    bs_put64(p + 0x14, bs->sb.super_blob);
    memcpy(p + 0x38, bs->sb.bstype, BS_BSTYPE_LEN);
    bs_page_set_crc(p);
    bs_dev_io(bs, BDEV_IO_WRITE, p, 0, BS_PG, super_written, w);
}

void bs_write_super(struct bs *bs, uint32_t clean, bs_cb cb, void *arg)
{
    struct super_write *w = calloc(1, sizeof(*w));
    uint8_t *p = aligned_alloc(BS_PG, BS_PG);
    if (!w || !p) {
        free(w);
        free(p);
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    w->bs = bs;
    w->clean = clean;
    w->cb = cb;
    w->arg = arg;
    w->page = p;
    bs_dev_io(bs, BDEV_IO_READ, p, 0, BS_PG, super_read_back, w);
}

void bs_mark_dirty(struct bs *bs, bs_cb cb, void *arg)
{
    if (!bs->disk_clean) {
        cb(arg, 0);
        return;
    }
    bs_write_super(bs, 0, cb, arg);
}

/* ---- store memory ---- */

static struct bs *store_new(struct bdev_desc *desc)
{
    struct bs *bs = calloc(1, sizeof(*bs));
    if (!bs)
        return NULL;
    bs->desc = desc;
    bs->bdev = bdev_desc_bdev(desc);
    bs->blocklen = bs->bdev->blk_size;
    bs->dev_unmap = bdev_io_type_supported(bs->bdev, BDEV_IO_UNMAP);
    return bs;
}

static void store_free_blobs(struct bs *bs)
{
    if (bs->by_page)
        for (uint32_t i = 0; i < bs->sb.md_len; i++)
            if (bs->by_page[i]) {
                bs_blob_free(bs->by_page[i]);
                bs->by_page[i] = NULL;
            }
    bs->n_blobs = 0;
}

static void store_free(struct bs *bs)
{
    if (!bs)
        return;
    store_free_blobs(bs);
    free(bs->by_page);
    bs_bitmap_free(&bs->used_md);
    bs_bitmap_free(&bs->used_blobids);
    bs_bitmap_free(&bs->used_clusters);
    bs_chans_free(bs);
    free(bs);
}

/* Geometry and empty masks from a validated super block. */
static int store_setup(struct bs *bs, const struct bs_super *sb)
{
    bs->sb = *sb;
    bs->blocks_per_page = BS_PG / bs->blocklen;
    bs->blocks_per_cluster = sb->cluster_size / bs->blocklen;
    bs->total_clusters = sb->size / sb->cluster_size;
    bs->md_clusters = bs_super_md_clusters(sb);
    bs->free_clusters = bs->total_clusters;
    bs->by_page = calloc(sb->md_len, sizeof(*bs->by_page));
    if (!bs->by_page || bs_bitmap_init(&bs->used_md, sb->md_len) ||
        bs_bitmap_init(&bs->used_blobids, sb->md_len) ||
        bs_bitmap_init(&bs->used_clusters, (uint32_t)bs->total_clusters))
        return -ENOMEM;
    return 0;
}

static void mark_md_clusters(struct bs *bs)
{
    for (uint64_t c = 0; c < bs->md_clusters; c++)
        bs_bit_set(&bs->used_clusters, (uint32_t)c);
}

static void recount_free(struct bs *bs)
{
    bs->free_clusters = bs->total_clusters - bs_bitmap_count(&bs->used_clusters);
}

/* ---- init (format) ---- */

struct init_ctx {
    struct bs *bs;
    bs_load_cb cb;
    void *arg;
    uint8_t *page;
};

static void init_finish(struct init_ctx *c, int rc)
{
    struct bs *bs = c->bs;
    bs_load_cb cb = c->cb;
    void *arg = c->arg;
    free(c->page);
    free(c);
    if (rc) {
        store_free(bs);
        bs = NULL;
    }
    cb(arg, rc, bs);
}

static void init_super_written(void *arg, int rc)
{
    struct init_ctx *c = arg;
    if (rc)
        bs_set_error("format: cannot write the super block: %s", strerror(-rc));
    init_finish(c, rc);
}

static void init_zeroed(void *arg, int rc)
{
    struct init_ctx *c = arg;
    if (rc) {
        bs_set_error("format: cannot zero the metadata area: %s", strerror(-rc));
        init_finish(c, rc);
        return;
    }
    bs_super_encode(&c->bs->sb, c->page);
    bs_dev_io(c->bs, BDEV_IO_WRITE, c->page, 0, BS_PG, init_super_written, c);
}

struct load_fail {
    bs_load_cb cb;
    void *arg;
};

static void load_fail_cb(void *arg, int rc)
{
    struct load_fail *f = arg;
    bs_load_cb cb = f->cb;
    void *a = f->arg;
    free(f);
    cb(a, rc, NULL);
}

static void fail_load_later(bs_load_cb cb, void *arg, int rc)
{
    struct load_fail *f = malloc(sizeof(*f));
    if (!f) {
        cb(arg, rc, NULL);
        return;
    }
    f->cb = cb;
    f->arg = arg;
    bs_complete_later(load_fail_cb, f, rc);
}

void bs_init(struct bdev_desc *desc, const struct bs_init_opts *opts, bs_load_cb cb, void *arg)
{
    struct bdev *b = bdev_desc_bdev(desc);
    uint32_t cluster = opts && opts->cluster_size ? opts->cluster_size : 4u << 20;
    uint32_t ratio = opts && opts->md_pages_ratio ? opts->md_pages_ratio : 100;
    struct bs_super sb;
    int rc = bs_layout_compute(b->num_blocks, b->blk_size, cluster, ratio, opts ? opts->bstype : NULL,
                               &sb);
    if (rc) {
        bs_set_error("format of %s: %s (cluster size %u, block size %u, %" PRIu64 " blocks)", b->name,
                     rc == -ENOMEM ? "device too small for the metadata" : "invalid parameters",
                     cluster, b->blk_size, (uint64_t)b->num_blocks);
        fail_load_later(cb, arg, rc);
        return;
    }
    struct init_ctx *c = calloc(1, sizeof(*c));
    struct bs *bs = store_new(desc);
    uint8_t *page = aligned_alloc(BS_PG, BS_PG);
    if (!c || !bs || !page || store_setup(bs, &sb)) {
        free(c);
        free(page);
        store_free(bs);
        fail_load_later(cb, arg, -ENOMEM);
        return;
    }
    mark_md_clusters(bs);
    recount_free(bs);
    bs->disk_clean = false;
    c->bs = bs;
    c->cb = cb;
    c->arg = arg;
    c->page = page;
    bs_dev_io(bs, BDEV_IO_WRITE_ZEROES, NULL, 0, ((uint64_t)sb.md_start + sb.md_len) * BS_PG,
              init_zeroed, c);
}

/* ---- load ---- */

#define LWIN 4
#define LWIN_PAGES 64u

struct lwin {
    uint32_t start, count;
    uint8_t *buf;
    uint64_t used;
    bool valid;
};

enum load_phase {
    PH_MASKS_READ,
    PH_MASKS_DECODE,
    PH_RECOVER,
    PH_WRITE_MASKS,
    PH_OPEN,
    PH_LINK,
    PH_REPAIR,
    PH_DONE,
};

struct load_ctx {
    struct bs *bs;
    bs_load_cb cb;
    void *arg;
    const char *bstype;
    char bstype_buf[BS_BSTYPE_LEN + 1];
    uint8_t *page;
    enum load_phase phase;
    bool waiting; /* an I/O is in flight; load_run resumes on completion */
    int io_rc;
    bool clean;   /* trusting the masks (clean load) */
    bool recovered;
    /* page cache for the metadata region */
    struct lwin win[LWIN];
    uint64_t tick;
    /* masks */
    uint8_t *mask_buf[3];
    int mask_step;
    /* recovery */
    uint32_t r_index, r_cur;
    uint64_t r_num_clusters; /* size stated by the chain being recovered */
    bool r_in_chain;
    int r_stage;
    uint32_t *eps;
    size_t n_eps, cap_eps, ep_pos;
    /* opening blobs */
    int o_state;
    uint32_t o_idx, o_from, o_next;
    uint8_t *chain;
    uint32_t *chain_idx;
    uint32_t chain_n, chain_cap;
    struct bs_blob_md md;
    uint64_t o_slot;
    /* repairs */
    uint32_t rep_idx;
};

static void load_run(struct load_ctx *c);

static void load_finish(struct load_ctx *c, int rc)
{
    struct bs *bs = c->bs;
    bs_load_cb cb = c->cb;
    void *arg = c->arg;
    for (int i = 0; i < LWIN; i++)
        free(c->win[i].buf);
    for (int i = 0; i < 3; i++)
        free(c->mask_buf[i]);
    free(c->page);
    free(c->eps);
    free(c->chain);
    free(c->chain_idx);
    bs_blob_md_free(&c->md);
    free(c);
    if (rc) {
        store_free(bs);
        bs = NULL;
    }
    cb(arg, rc, bs);
}

static void load_io_done(void *arg, int rc)
{
    struct load_ctx *c = arg;
    c->waiting = false;
    if (rc && !c->io_rc)
        c->io_rc = rc;
    load_run(c);
}

struct win_io {
    struct load_ctx *c;
    struct lwin *w;
};

static void win_io_done(void *arg, int rc)
{
    struct win_io *wi = arg;
    struct load_ctx *c = wi->c;
    if (!rc)
        wi->w->valid = true;
    free(wi);
    load_io_done(c, rc);
}

/* The md page idx from the cache, or NULL after starting its read (load_run resumes). */
static const uint8_t *page_get(struct load_ctx *c, uint32_t idx)
{
    struct bs *bs = c->bs;
    struct lwin *lru = &c->win[0];
    for (int i = 0; i < LWIN; i++) {
        struct lwin *w = &c->win[i];
        if (w->valid && idx >= w->start && idx < w->start + w->count) {
            w->used = ++c->tick;
            return w->buf + (size_t)(idx - w->start) * BS_PG;
        }
        if (!w->valid || w->used < lru->used)
            lru = w;
        if (!w->valid)
            break;
    }
    if (!lru->buf && !(lru->buf = aligned_alloc(BS_PG, (size_t)LWIN_PAGES * BS_PG))) {
        c->io_rc = -ENOMEM;
        return NULL;
    }
    struct win_io *wi = malloc(sizeof(*wi));
    if (!wi) {
        c->io_rc = -ENOMEM;
        return NULL;
    }
    lru->valid = false;
    lru->start = idx;
    lru->count = bs->sb.md_len - idx < LWIN_PAGES ? bs->sb.md_len - idx : LWIN_PAGES;
    lru->used = ++c->tick;
    wi->c = c;
    wi->w = lru;
    c->waiting = true;
    bs_dev_io(bs, BDEV_IO_READ, lru->buf, ((uint64_t)bs->sb.md_start + idx) * BS_PG,
              (uint64_t)lru->count * BS_PG, win_io_done, wi);
    return NULL;
}

/* 1 = waiting for I/O, <0 error (set by page_get) */
static int page_wait(struct load_ctx *c) { return c->io_rc ? c->io_rc : 1; }

/* -- masks -- */

static uint32_t mask_len_pages(const struct bs *bs, int i)
{
    return i == 0 ? bs->sb.used_page_mask_len
                  : i == 1 ? bs->sb.used_blobid_mask_len : bs->sb.used_cluster_mask_len;
}

static uint32_t mask_start(const struct bs *bs, int i)
{
    return i == 0 ? bs->sb.used_page_mask_start
                  : i == 1 ? bs->sb.used_blobid_mask_start : bs->sb.used_cluster_mask_start;
}

static int masks_read(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    if (c->mask_step == 3)
        return 0;
    int i = c->mask_step++;
    size_t len = (size_t)mask_len_pages(bs, i) * BS_PG;
    c->mask_buf[i] = aligned_alloc(BS_PG, len);
    if (!c->mask_buf[i])
        return -ENOMEM;
    c->waiting = true;
    bs_dev_io(bs, BDEV_IO_READ, c->mask_buf[i], (uint64_t)mask_start(bs, i) * BS_PG, len,
              load_io_done, c);
    return 1;
}

static int masks_decode(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    char why[160];
    struct bs_bitmap m[3] = {{0}};
    int rc = bs_mask_decode(c->mask_buf[0], (size_t)bs->sb.used_page_mask_len * BS_PG,
                            BS_MASK_MD_PAGES, bs->sb.md_len, false, &m[0], why, sizeof(why));
    if (!rc)
        rc = bs_mask_decode(c->mask_buf[1], (size_t)bs->sb.used_blobid_mask_len * BS_PG,
                            BS_MASK_BLOBIDS, bs->sb.md_len, false, &m[1], why, sizeof(why));
    if (!rc)
        rc = bs_mask_decode(c->mask_buf[2], (size_t)bs->sb.used_cluster_mask_len * BS_PG,
                            BS_MASK_CLUSTERS, (uint32_t)bs->total_clusters, true, &m[2], why,
                            sizeof(why));
    if (!rc) {
        for (uint64_t k = 0; k < bs->md_clusters && !rc; k++)
            if (!bs_bit_get(&m[2], (uint32_t)k)) {
                snprintf(why, sizeof(why), "metadata cluster %" PRIu64 " not marked used", k);
                rc = -EINVAL;
            }
        for (uint32_t k = 0; k < bs->sb.md_len && !rc; k++)
            if (bs_bit_get(&m[1], k) && !bs_bit_get(&m[0], k)) {
                snprintf(why, sizeof(why), "blob root page %u not marked used", k);
                rc = -EINVAL;
            }
    }
    if (rc) {
        for (int i = 0; i < 3; i++)
            bs_bitmap_free(&m[i]);
        log_warn("blobstore on %s: clean masks are inconsistent (%s): recovering", bs->bdev->name,
                 why);
        return 1;
    }
    bs_bitmap_free(&bs->used_md);
    bs_bitmap_free(&bs->used_blobids);
    bs_bitmap_free(&bs->used_clusters);
    bs->used_md = m[0];
    bs->used_blobids = m[1];
    bs->used_clusters = m[2];
    recount_free(bs);
    return 0;
}

/* -- recovery (§9.3) -- */

static int rec_cluster(void *ctx, uint32_t cl)
{
    struct bs *bs = ctx;
    if (cl >= bs->total_clusters)
        return -EINVAL;
    bs_bit_set(&bs->used_clusters, cl);
    return 0;
}

static int rec_extent_page(void *ctx, uint32_t idx)
{
    struct load_ctx *c = ctx;
    if (idx == 0 || idx >= c->bs->sb.md_len)
        return -EINVAL;
    if (c->n_eps == c->cap_eps) {
        size_t cap = c->cap_eps ? c->cap_eps * 2 : 16;
        uint32_t *n = realloc(c->eps, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        c->eps = n;
        c->cap_eps = cap;
    }
    c->eps[c->n_eps++] = idx;
    return 0;
}

/* The committed size of the blob being recovered: extent-page entries past it belong to
 * a grow that never committed (extent pages are written before the root page) and must
 * not keep their clusters. */
static int rec_table_clusters(void *ctx, uint64_t num_clusters)
{
    struct load_ctx *c = ctx;
    c->r_num_clusters = num_clusters;
    return 0;
}

static void rec_advance(struct load_ctx *c)
{
    c->r_in_chain = false;
    c->r_stage = 0;
    c->n_eps = 0;
    uint32_t n = bs_bitmap_find_clear(&c->bs->used_md, c->r_index + 1);
    c->r_index = n == BS_INVALID32 ? c->bs->sb.md_len : n;
}

static int recover_step(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    char why[160];
    for (;;) {
        if (c->r_stage == 0) {
            if (!c->r_in_chain) {
                if (c->r_index >= bs->sb.md_len)
                    return 0;
                c->r_cur = c->r_index;
            }
            const uint8_t *p = page_get(c, c->r_cur);
            if (!p)
                return page_wait(c);
            struct bs_md_hdr h;
            bs_md_hdr_decode(p, &h);
            bool valid = h.crc_ok && (h.seq != 0 || h.id == (BS_ID_HIGH | c->r_cur));
            if (valid && (h.seq == 0 || c->r_in_chain) && !bs_bit_get(&bs->used_md, c->r_cur)) {
                bs_bit_set(&bs->used_md, c->r_cur);
                if (h.seq == 0)
                    bs_bit_set(&bs->used_blobids, c->r_cur);
                struct bs_walk_cb cb = {.ctx = bs, .cluster = rec_cluster};
                struct bs_walk_cb cb2 = {.ctx = c, .extent_page = rec_extent_page,
                                         .table_clusters = rec_table_clusters};
                if (h.seq == 0)
                    c->r_num_clusters = 0;
                int rc = bs_md_page_walk(p, &cb, why, sizeof(why));
                if (!rc)
                    rc = bs_md_page_walk(p, &cb2, why, sizeof(why));
                if (rc) {
                    bs_set_error("recovery of %s: md page %u: %s", bs->bdev->name, c->r_cur, why);
                    return rc == -ENOMEM ? rc : -EINVAL;
                }
                if (h.next != BS_INVALID32 && h.next < bs->sb.md_len) {
                    c->r_in_chain = true;
                    c->r_cur = h.next;
                    continue;
                }
                c->r_stage = 1;
                c->ep_pos = 0;
                continue;
            }
            if (c->r_in_chain) { /* the chain ends at an invalid page */
                c->r_stage = 1;
                c->ep_pos = 0;
                continue;
            }
            rec_advance(c);
            continue;
        }
        /* r_stage 1: the extent pages the chain listed */
        if (c->ep_pos < c->n_eps) {
            uint32_t ep = c->eps[c->ep_pos];
            const uint8_t *p = page_get(c, ep);
            if (!p)
                return page_wait(c);
            uint64_t start;
            const uint8_t *e;
            uint32_t n;
            int rc = bs_extent_page_check(p, &start, &e, &n, why, sizeof(why));
            if (rc) {
                bs_set_error("recovery of %s: extent page %u (listed by the chain at md page %u) "
                             "is invalid: %s", bs->bdev->name, ep, c->r_index, why);
                return -EINVAL;
            }
            bs_bit_set(&bs->used_md, ep);
            for (uint32_t j = 0; j < n && start + j < c->r_num_clusters; j++) {
                uint32_t cl = bs_le32(e + 4 * j);
                if (cl && rec_cluster(bs, cl)) {
                    bs_set_error("recovery of %s: extent page %u: cluster %u out of range",
                                 bs->bdev->name, ep, cl);
                    return -EINVAL;
                }
            }
            c->ep_pos++;
            continue;
        }
        rec_advance(c);
    }
}

static void recovery_reset(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    store_free_blobs(bs);
    bs_bitmap_clear_all(&bs->used_md);
    bs_bitmap_clear_all(&bs->used_blobids);
    bs_bitmap_clear_all(&bs->used_clusters);
    c->r_index = 0;
    c->r_in_chain = false;
    c->r_stage = 0;
    c->n_eps = 0;
    c->clean = false;
    c->recovered = true;
    c->o_state = 0;
    c->o_from = 0;
    bs_blob_md_free(&c->md);
}

/* -- writing masks (after recovery, and at unload) -- */

static uint8_t *mask_region(struct bs *bs, int i, size_t *len)
{
    *len = (size_t)mask_len_pages(bs, i) * BS_PG;
    uint8_t *r = aligned_alloc(BS_PG, *len);
    if (!r)
        return NULL;
    const struct bs_bitmap *bm = i == 0 ? &bs->used_md : i == 1 ? &bs->used_blobids
                                                                : &bs->used_clusters;
    bs_mask_encode(i == 0 ? BS_MASK_MD_PAGES : i == 1 ? BS_MASK_BLOBIDS : BS_MASK_CLUSTERS, bm, r,
                   *len);
    return r;
}

struct mask_write {
    struct bs *bs;
    int step;
    uint8_t *buf;
    bs_cb cb;
    void *arg;
};

static void masks_write_step(void *arg, int rc)
{
    struct mask_write *m = arg;
    free(m->buf);
    m->buf = NULL;
    /* used-md-page mask, used-blob-id mask (if the store has one), used-cluster mask */
    while (!rc && m->step < 3 && mask_len_pages(m->bs, m->step) == 0)
        m->step++;
    if (rc || m->step == 3) {
        if (rc)
            bs_set_error("cannot write the masks: %s", strerror(-rc));
        bs_cb cb = m->cb;
        void *a = m->arg;
        free(m);
        cb(a, rc);
        return;
    }
    int i = m->step++;
    size_t len;
    m->buf = mask_region(m->bs, i, &len);
    if (!m->buf) {
        bs_complete_later(masks_write_step, m, -ENOMEM);
        return;
    }
    bs_dev_io(m->bs, BDEV_IO_WRITE, m->buf, (uint64_t)mask_start(m->bs, i) * BS_PG, len,
              masks_write_step, m);
}

static void masks_write(struct bs *bs, bs_cb cb, void *arg)
{
    struct mask_write *m = calloc(1, sizeof(*m));
    if (!m) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    m->bs = bs;
    m->cb = cb;
    m->arg = arg;
    masks_write_step(m, 0);
}

/* -- opening blobs -- */

/* Clean load found the masks inconsistent with the metadata: start over with recovery. */
#define NEED_RECOVERY 2

static int chain_append(struct load_ctx *c, const uint8_t *p, uint32_t idx)
{
    if (c->chain_n == c->chain_cap) {
        uint32_t cap = c->chain_cap ? c->chain_cap * 2 : 4;
        uint8_t *n = realloc(c->chain, (size_t)cap * BS_PG);
        if (!n)
            return -ENOMEM;
        c->chain = n;
        uint32_t *ni = realloc(c->chain_idx, cap * sizeof(*ni));
        if (!ni)
            return -ENOMEM;
        c->chain_idx = ni;
        c->chain_cap = cap;
    }
    memcpy(c->chain + (size_t)c->chain_n * BS_PG, p, BS_PG);
    c->chain_idx[c->chain_n++] = idx;
    return 0;
}

static int open_inconsistent(struct load_ctx *c, const char *what, uint32_t v)
{
    if (c->clean) {
        log_warn("blobstore on %s: blob 0x%" PRIx64 " uses %s %u not marked in the clean masks: "
                 "recovering", c->bs->bdev->name, BS_ID_HIGH | c->o_idx, what, v);
        return NEED_RECOVERY;
    }
    bs_set_error("blob 0x%" PRIx64 ": %s %u is not in use after recovery", BS_ID_HIGH | c->o_idx,
                 what, v);
    return -EINVAL;
}

static int open_finish_blob(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    struct bs_blob_md *md = &c->md;
    for (uint64_t s = 0; s < md->num_clusters; s++) {
        uint32_t cl = md->clusters[s];
        if (!cl)
            continue;
        if (cl >= bs->total_clusters || cl < bs->md_clusters) {
            bs_set_error("blob 0x%" PRIx64 " maps slot %" PRIu64 " to invalid cluster %u", md->id, s,
                         cl);
            return -EINVAL;
        }
        if (!bs_bit_get(&bs->used_clusters, cl))
            return open_inconsistent(c, "cluster", cl);
    }
    struct bs_blob *b = bs_blob_new(bs, md->id);
    if (!b)
        return -ENOMEM;
    b->md = *md;
    memset(md, 0, sizeof(*md));
    b->chain = malloc(c->chain_n * sizeof(uint32_t));
    if (!b->chain) {
        bs_blob_free(b);
        return -ENOMEM;
    }
    memcpy(b->chain, c->chain_idx, c->chain_n * sizeof(uint32_t));
    b->chain_len = c->chain_n;
    for (uint64_t s = 0; s < b->md.num_clusters; s++)
        if (b->md.clusters[s])
            b->num_allocated++;
    bs_blob_update_ro(b);
    bs->by_page[c->o_idx] = b;
    bs->n_blobs++;
    return 0;
}

static int open_step(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    char why[256];
    for (;;) {
        if (c->o_state == 0) {
            uint32_t idx = bs_bitmap_find_set(&bs->used_blobids, c->o_from);
            if (idx == BS_INVALID32)
                return 0;
            c->o_idx = idx;
            c->o_from = idx + 1;
            c->o_next = idx;
            c->chain_n = 0;
            c->o_state = 1;
            if (!bs_bit_get(&bs->used_md, idx))
                return open_inconsistent(c, "root md page", idx);
        }
        uint64_t id = BS_ID_HIGH | c->o_idx;
        if (c->o_state == 1) {
            if (c->o_next == BS_INVALID32) {
                int rc = bs_md_decode_chain(c->chain, c->chain_n, id, &c->md, why, sizeof(why));
                if (rc) {
                    bs_set_error("cannot open blob 0x%" PRIx64 " on %s: %s", id, bs->bdev->name, why);
                    return rc;
                }
                if (c->md.invalid_flags & BS_IF_EXTSNAP) {
                    bs_set_error("blob 0x%" PRIx64 " on %s is an external-snapshot clone (not "
                                 "supported)", id, bs->bdev->name);
                    return -ENOTSUP;
                }
                c->o_state = 2;
                c->o_slot = 0;
                continue;
            }
            const uint8_t *p = page_get(c, c->o_next);
            if (!p)
                return page_wait(c);
            struct bs_md_hdr h;
            bs_md_hdr_decode(p, &h);
            if (!h.crc_ok) {
                bs_set_error("blob 0x%" PRIx64 " on %s: md page %u (chain page %u) has a bad CRC", id,
                             bs->bdev->name, c->o_next, c->chain_n);
                return -EINVAL;
            }
            if (h.id != id || h.seq != c->chain_n) {
                bs_set_error("blob 0x%" PRIx64 " on %s: md page %u holds blob 0x%" PRIx64
                             " sequence %u, expected sequence %u", id, bs->bdev->name, c->o_next,
                             h.id, h.seq, c->chain_n);
                return -EINVAL;
            }
            if (c->chain_n && !bs_bit_get(&bs->used_md, c->o_next))
                return open_inconsistent(c, "chain md page", c->o_next);
            int rc = chain_append(c, p, c->o_next);
            if (rc)
                return rc;
            if (h.next == BS_INVALID32) {
                c->o_next = BS_INVALID32;
                continue;
            }
            if (h.next >= bs->sb.md_len) {
                bs_set_error("blob 0x%" PRIx64 " on %s: md page %u links to page %u beyond the "
                             "metadata region (%u pages)", id, bs->bdev->name, c->o_next, h.next,
                             bs->sb.md_len);
                return -EINVAL;
            }
            for (uint32_t k = 0; k < c->chain_n; k++)
                if (c->chain_idx[k] == h.next) {
                    bs_set_error("blob 0x%" PRIx64 " on %s: md chain loops back to page %u", id,
                                 bs->bdev->name, h.next);
                    return -EINVAL;
                }
            c->o_next = h.next;
            continue;
        }
        /* o_state 2: extent pages */
        struct bs_blob_md *md = &c->md;
        while (md->use_extent_table && c->o_slot < md->num_extent_pages) {
            uint32_t ep = md->extent_pages[c->o_slot];
            if (!ep) {
                c->o_slot++;
                continue;
            }
            if (ep >= bs->sb.md_len) {
                bs_set_error("blob 0x%" PRIx64 " on %s: extent page index %u beyond the metadata "
                             "region", id, bs->bdev->name, ep);
                return -EINVAL;
            }
            if (!bs_bit_get(&bs->used_md, ep))
                return open_inconsistent(c, "extent page", ep);
            const uint8_t *p = page_get(c, ep);
            if (!p)
                return page_wait(c);
            int rc = bs_md_apply_extent_page(md, c->o_slot, p, why, sizeof(why));
            if (rc) {
                bs_set_error("cannot open blob 0x%" PRIx64 " on %s: %s", id, bs->bdev->name, why);
                return rc;
            }
            c->o_slot++;
        }
        int rc = open_finish_blob(c);
        if (rc)
            return rc;
        c->o_state = 0;
    }
}

/* -- relations (§7.1) -- */

static int link_blobs(struct bs *bs)
{
    for (uint32_t i = 0; i < bs->sb.md_len; i++) {
        struct bs_blob *b = bs->by_page[i];
        if (!b || !(b->md.invalid_flags & BS_IF_THIN))
            continue;
        int k = bs_xattr_find(&b->md.ixattrs, BS_XATTR_SNAP);
        if (k < 0)
            continue;
        if (b->md.ixattrs.v[k].len != 8) {
            bs_set_error("blob 0x%" PRIx64 ": internal xattr SNAP has length %u", b->md.id,
                         b->md.ixattrs.v[k].len);
            return -EINVAL;
        }
        uint64_t pid = bs_le64(b->md.ixattrs.v[k].value);
        struct bs_blob *p = bs_lookup(bs, pid);
        if (!p || p == b) {
            bs_set_error("blob 0x%" PRIx64 ": parent snapshot 0x%" PRIx64 " does not exist", b->md.id,
                         pid);
            return -EINVAL;
        }
        b->parent = p;
        bs_blob_add_clone(p, b);
    }
    for (uint32_t i = 0; i < bs->sb.md_len; i++) {
        struct bs_blob *b = bs->by_page[i];
        if (!b)
            continue;
        uint64_t steps = 0;
        for (struct bs_blob *x = b->parent; x; x = x->parent)
            if (++steps > bs->n_blobs) {
                bs_set_error("blob 0x%" PRIx64 ": its snapshot ancestry loops", b->md.id);
                return -EINVAL;
            }
    }
    return 0;
}

/* -- repairs (§7.5) -- */

static int repair_step(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    while (c->rep_idx < bs->sb.md_len) {
        struct bs_blob *b = bs->by_page[c->rep_idx++];
        if (!b)
            continue;
        if (bs_xattr_find(&b->md.ixattrs, BS_XATTR_SNAPRM) < 0 &&
            bs_xattr_find(&b->md.ixattrs, BS_XATTR_SNAPTMP) < 0)
            continue;
        c->waiting = true;
        bs_blob_snapshot_recover(b, load_io_done, c);
        return 1;
    }
    return 0;
}

static void load_run(struct load_ctx *c)
{
    struct bs *bs = c->bs;
    for (;;) {
        if (c->waiting)
            return;
        int rc = 0;
        if (c->io_rc) {
            rc = c->io_rc;
            if (!g_last_error[0])
                bs_set_error("cannot load the blobstore on %s: %s", bs->bdev->name, strerror(-rc));
            load_finish(c, rc);
            return;
        }
        switch (c->phase) {
        case PH_MASKS_READ:
            rc = masks_read(c);
            if (rc == 0)
                c->phase = PH_MASKS_DECODE;
            break;
        case PH_MASKS_DECODE:
            rc = masks_decode(c);
            if (rc == 1) {
                recovery_reset(c);
                c->phase = PH_RECOVER;
                rc = 0;
            } else if (rc == 0) {
                c->phase = PH_OPEN;
            }
            break;
        case PH_RECOVER:
            rc = recover_step(c);
            if (rc == 0) {
                mark_md_clusters(bs);
                recount_free(bs);
                c->phase = PH_WRITE_MASKS;
                c->waiting = true;
                masks_write(bs, load_io_done, c);
                rc = 1;
            }
            break;
        case PH_WRITE_MASKS:
            c->phase = PH_OPEN;
            break;
        case PH_OPEN:
            rc = open_step(c);
            if (rc == NEED_RECOVERY) {
                if (c->recovered) {
                    rc = -EINVAL;
                } else {
                    recovery_reset(c);
                    c->phase = PH_RECOVER;
                    rc = 0;
                }
            } else if (rc == 0) {
                c->phase = PH_LINK;
            }
            break;
        case PH_LINK:
            rc = link_blobs(bs);
            if (!rc)
                c->phase = PH_REPAIR;
            /* the page cache is stale from here on (repairs write metadata) */
            for (int i = 0; i < LWIN; i++)
                c->win[i].valid = false;
            break;
        case PH_REPAIR:
            rc = repair_step(c);
            if (rc == 0)
                c->phase = PH_DONE;
            break;
        case PH_DONE:
            log_info("blobstore on %s loaded%s: %" PRIu64 " blobs, %" PRIu64 "/%" PRIu64
                     " clusters free", bs->bdev->name, c->recovered ? " (recovered)" : "",
                     bs->n_blobs, bs->free_clusters, bs->total_clusters - bs->md_clusters);
            load_finish(c, 0);
            return;
        }
        if (rc < 0) {
            if (!g_last_error[0])
                bs_set_error("cannot load the blobstore on %s: %s", bs->bdev->name, strerror(-rc));
            load_finish(c, rc);
            return;
        }
        if (rc == 1 && !c->waiting) /* page_get failed without I/O: io_rc is set */
            continue;
    }
}

static void load_super_read(void *arg, int rc)
{
    struct load_ctx *c = arg;
    struct bs *bs = c->bs;
    if (rc) {
        bs_set_error("cannot read the super block of %s: %s", bs->bdev->name, strerror(-rc));
        load_finish(c, rc);
        return;
    }
    struct bs_super sb;
    char why[256];
    uint64_t dev_bytes = bs->bdev->num_blocks * bs->blocklen;
    rc = bs_super_validate(c->page, c->bstype, dev_bytes, bs->blocklen, &sb, why, sizeof(why));
    if (rc) {
        if (rc == -EILSEQ) { /* "no blobstore here": not an error worth shouting about */
            snprintf(g_last_error, sizeof(g_last_error), "%s: %s", bs->bdev->name, why);
            log_info("blobstore: %s", g_last_error);
        } else {
            bs_set_error("%s: %s", bs->bdev->name, why);
        }
        load_finish(c, rc);
        return;
    }
    rc = store_setup(bs, &sb);
    if (rc) {
        load_finish(c, rc);
        return;
    }
    bs->disk_clean = sb.clean != 0;
    g_last_error[0] = 0;
    if (sb.clean && sb.used_blobid_mask_len) {
        c->clean = true;
        c->phase = PH_MASKS_READ;
    } else {
        recovery_reset(c);
        c->phase = PH_RECOVER;
    }
    load_run(c);
}

void bs_load(struct bdev_desc *desc, const char *bstype, bs_load_cb cb, void *arg)
{
    struct bdev *b = bdev_desc_bdev(desc);
    if (!b->blk_size || BS_PG % b->blk_size) {
        bs_set_error("%s: block size %u does not divide 4096", b->name, b->blk_size);
        fail_load_later(cb, arg, -EINVAL);
        return;
    }
    struct load_ctx *c = calloc(1, sizeof(*c));
    struct bs *bs = store_new(desc);
    uint8_t *page = aligned_alloc(BS_PG, BS_PG);
    if (!c || !bs || !page) {
        free(c);
        free(bs);
        free(page);
        fail_load_later(cb, arg, -ENOMEM);
        return;
    }
    c->bs = bs;
    c->cb = cb;
    c->arg = arg;
    c->page = page;
    if (bstype) {
        snprintf(c->bstype_buf, sizeof(c->bstype_buf), "%s", bstype);
        c->bstype = c->bstype_buf;
    }
    bs_dev_io(bs, BDEV_IO_READ, page, 0, BS_PG, load_super_read, c);
}

/* ---- unload / destroy / abandon ---- */

struct close_op {
    struct bs_op op;
    bs_done_cb cb;
    void *arg;
    uint8_t *page;
    bool destroy;
};

static void close_finish(void *arg, int rc)
{
    struct close_op *o = arg;
    struct bs *bs = o->op.bs;
    bs_done_cb cb = o->cb;
    void *a = o->arg;
    if (rc && !o->destroy) {
        /* the store stays usable: the caller may retry */
        o->op.final = false;
        bs->closing = false;
        bs_op_done(&o->op);
        free(o->page);
        free(o);
        cb(a, rc);
        return;
    }
    bs_op_done(&o->op);
    free(o->page);
    free(o);
    store_free(bs);
    cb(a, rc);
}

static void unload_masks_written(void *arg, int rc)
{
    struct close_op *o = arg;
    if (rc) {
        close_finish(o, rc);
        return;
    }
    bs_write_super(o->op.bs, 1, close_finish, o);
}

static void close_start(struct bs_op *op)
{
    struct close_op *o = (struct close_op *)op;
    if (o->destroy)
        bs_dev_io(op->bs, BDEV_IO_WRITE, (void *)bs_zero_page(), 0, BS_PG, close_finish, o);
    else
        masks_write(op->bs, unload_masks_written, o);
}

static void closing_refused(void *arg, int rc)
{
    struct close_op *o = arg;
    o->cb(o->arg, rc);
    free(o);
}

static void close_submit(struct bs *bs, bool destroy, bs_done_cb cb, void *arg)
{
    struct close_op *o = calloc(1, sizeof(*o));
    if (!o) {
        cb(arg, -ENOMEM);
        return;
    }
    o->cb = cb;
    o->arg = arg;
    o->destroy = destroy;
    if (bs->closing) {
        bs_complete_later(closing_refused, o, -EBUSY);
        return;
    }
    o->op.start = close_start;
    o->op.final = true;
    bs->closing = true;
    bs_op_submit(bs, &o->op);
}

void bs_unload(struct bs *bs, bs_done_cb cb, void *arg) { close_submit(bs, false, cb, arg); }

void bs_destroy(struct bs *bs, bs_done_cb cb, void *arg) { close_submit(bs, true, cb, arg); }

void bs_abandon(struct bs *bs) { store_free(bs); }

/* ---- grow ---- */

struct grow_op {
    struct bs_op op;
    bs_done_cb cb;
    void *arg;
    struct bs_super old;
    uint64_t new_total;
};

static void grow_written(void *arg, int rc)
{
    struct grow_op *o = arg;
    struct bs *bs = o->op.bs;
    if (!rc) {
        rc = bs_bitmap_resize(&bs->used_clusters, (uint32_t)o->new_total);
        if (!rc) {
            bs->free_clusters += o->new_total - bs->total_clusters;
            bs->total_clusters = o->new_total;
        }
    }
    if (rc) {
        bs->sb.size = o->old.size;
        bs->sb.used_cluster_mask_len = o->old.used_cluster_mask_len;
    }
    bs_op_done(&o->op);
    bs_done_cb cb = o->cb;
    void *a = o->arg;
    free(o);
    cb(a, rc);
}

static void grow_start(struct bs_op *op)
{
    struct grow_op *o = (struct grow_op *)op;
    struct bs *bs = op->bs;
    uint64_t dev_bytes = bs->bdev->num_blocks * bs->blocklen;
    uint64_t total = dev_bytes / bs->sb.cluster_size;
    int rc = 0;
    if (total < bs->total_clusters) {
        bs_set_error("grow: the device shrank (%" PRIu64 " < %" PRIu64 " clusters)", total,
                     bs->total_clusters);
        rc = -EINVAL;
    } else if (total > UINT32_MAX) {
        rc = -EINVAL;
    } else if (total > bs->total_clusters &&
               bs_mask_pages(total) >
                   bs->sb.used_blobid_mask_start - bs->sb.used_cluster_mask_start) {
        bs_set_error("grow: the cluster mask would not fit in its reserved region");
        rc = -ENOSPC;
    }
    if (rc || total == bs->total_clusters) {
        bs_op_done(op);
        bs_done_cb cb = o->cb;
        void *a = o->arg;
        free(o);
        cb(a, rc);
        return;
    }
    o->old = bs->sb;
    o->new_total = total;
    bs->sb.size = dev_bytes;
    bs->sb.used_cluster_mask_len = bs_mask_pages(total);
    bs_write_super(bs, 0, grow_written, o);
}

void bs_grow(struct bs *bs, bs_done_cb cb, void *arg)
{
    struct grow_op *o = calloc(1, sizeof(*o));
    if (!o) {
        cb(arg, -ENOMEM);
        return;
    }
    o->cb = cb;
    o->arg = arg;
    o->op.start = grow_start;
    bs_op_submit(bs, &o->op);
}

/* ---- super blob ---- */

struct super_op {
    struct bs_op op;
    bs_done_cb cb;
    void *arg;
    bs_blob_id id, old;
};

static void set_super_done(void *arg, int rc)
{
    struct super_op *o = arg;
    if (rc)
        o->op.bs->sb.super_blob = o->old;
    bs_op_done(&o->op);
    bs_done_cb cb = o->cb;
    void *a = o->arg;
    free(o);
    cb(a, rc);
}

static void set_super_start(struct bs_op *op)
{
    struct super_op *o = (struct super_op *)op;
    o->old = op->bs->sb.super_blob;
    op->bs->sb.super_blob = o->id;
    bs_write_super(op->bs, KEEP_CLEAN, set_super_done, o);
}

void bs_set_super_blob(struct bs *bs, bs_blob_id id, bs_done_cb cb, void *arg)
{
    struct super_op *o = calloc(1, sizeof(*o));
    if (!o) {
        cb(arg, -ENOMEM);
        return;
    }
    o->cb = cb;
    o->arg = arg;
    o->id = id;
    o->op.start = set_super_start;
    bs_op_submit(bs, &o->op);
}

/* ---- facts ---- */

uint64_t bs_cluster_size(const struct bs *bs) { return bs->sb.cluster_size; }
uint32_t bs_io_unit_size(const struct bs *bs) { return bs->blocklen; }
uint64_t bs_total_data_clusters(const struct bs *bs) { return bs->total_clusters - bs->md_clusters; }
uint64_t bs_free_clusters(const struct bs *bs) { return bs->free_clusters; }
uint32_t bs_md_pages_total(const struct bs *bs) { return bs->sb.md_len; }
uint32_t bs_md_pages_used(const struct bs *bs) { return bs_bitmap_count(&bs->used_md); }
bs_blob_id bs_get_super_blob(const struct bs *bs) { return bs->sb.super_blob; }
struct bdev_desc *bs_desc(const struct bs *bs) { return bs->desc; }

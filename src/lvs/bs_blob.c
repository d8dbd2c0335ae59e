/* Blob metadata operations (primary reactor): create, delete, resize, xattrs, persist
 * (§4.4), snapshot (§7.2), clone (§7.3), cluster allocation for thin writes (§6.3) and the
 * snapshot crash handling run at load (§7.5). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bs_internal.h"
#include "core/log.h"

#define BS_MAX_CLUSTERS (1ull << 31)

/* ---- blob objects ---- */

struct bs_blob *bs_blob_new(struct bs *bs, uint64_t id)
{
    struct bs_blob *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    int n = reactor_count() > 0 ? reactor_count() : 1;
    b->inflight = aligned_alloc(64, (size_t)n * sizeof(struct bs_inflight));
    if (!b->inflight) {
        free(b);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        atomic_init(&b->inflight[i].n, 0);
    atomic_init(&b->frozen, false);
    atomic_init(&b->deleted, false);
    b->bs = bs;
    b->md.id = id;
    return b;
}

void bs_blob_free(struct bs_blob *b)
{
    if (!b)
        return;
    bs_blob_md_free(&b->md);
    free(b->chain);
    free(b->clones);
    free(b->inflight);
    free(b);
}

void bs_blob_update_ro(struct bs_blob *b)
{
    bool unknown_data = b->md.data_ro_flags & ~BS_DRO_KNOWN;
    b->data_ro = (b->md.data_ro_flags & BS_DRO_READ_ONLY) || unknown_data;
    b->md_ro = unknown_data || (b->md.md_ro_flags & ~BS_MRO_KNOWN);
}

void bs_blob_add_clone(struct bs_blob *p, struct bs_blob *c)
{
    if (p->n_clones == p->cap_clones) {
        size_t cap = p->cap_clones ? p->cap_clones * 2 : 4;
        struct bs_blob **n = realloc(p->clones, cap * sizeof(*n));
        if (!n) { /* keep going: only the clone list is incomplete */
            log_error("blobstore: out of memory recording a clone");
            return;
        }
        p->clones = n;
        p->cap_clones = cap;
    }
    p->clones[p->n_clones++] = c;
}

void bs_blob_remove_clone(struct bs_blob *p, struct bs_blob *c)
{
    for (size_t i = 0; i < p->n_clones; i++)
        if (p->clones[i] == c) {
            memmove(&p->clones[i], &p->clones[i + 1], (p->n_clones - i - 1) * sizeof(c));
            p->n_clones--;
            return;
        }
}

struct bs_blob *bs_lookup(const struct bs *bs, uint64_t id)
{
    if ((id >> 32) != 1 || (uint32_t)id >= bs->sb.md_len)
        return NULL;
    struct bs_blob *b = bs->by_page[(uint32_t)id];
    return b && b->md.id == id ? b : NULL;
}

static void blob_insert(struct bs *bs, struct bs_blob *b)
{
    bs->by_page[(uint32_t)b->md.id] = b;
    bs->n_blobs++;
}

static void blob_unlink(struct bs *bs, struct bs_blob *b)
{
    if (bs->by_page[(uint32_t)b->md.id] == b) {
        bs->by_page[(uint32_t)b->md.id] = NULL;
        bs->n_blobs--;
    }
    if (b->parent) {
        bs_blob_remove_clone(b->parent, b);
        b->parent = NULL;
    }
}

/* A new in-memory blob at the lowest free md page, with a zeroed map of n clusters. */
static struct bs_blob *blob_create_mem(struct bs *bs, uint64_t n, bool extent_table, int *rc)
{
    uint32_t root = bs_claim_md_page(bs, 0);
    if (root == BS_INVALID32) {
        *rc = -ENOMEM;
        return NULL;
    }
    struct bs_blob *b = bs_blob_new(bs, BS_ID_HIGH | root);
    if (b) {
        b->md.use_extent_table = extent_table;
        b->md.num_clusters = n;
        b->md.clusters = calloc(n ? n : 1, sizeof(uint32_t));
        b->md.num_extent_pages = extent_table ? bs_ep_count(n) : 0;
        b->md.extent_pages = calloc(b->md.num_extent_pages ? b->md.num_extent_pages : 1,
                                    sizeof(uint32_t));
    }
    if (!b || !b->md.clusters || !b->md.extent_pages) {
        bs_blob_free(b);
        bs_release_md_page(bs, root);
        *rc = -ENOMEM;
        return NULL;
    }
    bs_bit_set(&bs->used_blobids, root);
    return b;
}

/* Releases everything a blob that never reached the disk claimed, and frees it. */
static void blob_discard_new(struct bs *bs, struct bs_blob *b)
{
    for (uint64_t s = 0; s < b->md.num_clusters; s++)
        if (b->md.clusters[s])
            bs_release_cluster(bs, b->md.clusters[s]);
    for (uint64_t s = 0; s < b->md.num_extent_pages; s++)
        if (b->md.extent_pages[s])
            bs_release_md_page(bs, b->md.extent_pages[s]);
    bs_release_md_page(bs, (uint32_t)b->md.id);
    bs_bit_clear(&bs->used_blobids, (uint32_t)b->md.id);
    blob_unlink(bs, b);
    bs_blob_free(b);
}

static int set_internal_id(struct bs_blob *b, const char *name, uint64_t id)
{
    uint8_t v[8];
    bs_put64(v, id);
    int rc = bs_xattr_set(&b->md.ixattrs, name, v, 8);
    if (!rc)
        b->md.invalid_flags |= BS_IF_INTERNAL_XATTR;
    return rc;
}

static void remove_internal(struct bs_blob *b, const char *name)
{
    bs_xattr_remove(&b->md.ixattrs, name);
    if (!b->md.ixattrs.n)
        b->md.invalid_flags &= ~BS_IF_INTERNAL_XATTR;
}

/* ---- writing extent pages ---- */

struct ep_write {
    struct bs_batch batch;
    uint8_t *buf;
    bs_cb cb;
    void *arg;
};

static void ep_write_done(void *arg, int rc)
{
    struct ep_write *w = arg;
    bs_cb cb = w->cb;
    void *a = w->arg;
    free(w->buf);
    free(w);
    cb(a, rc);
}

/* Writes the extent pages of slots [from, to) that exist. */
static void write_extent_pages(struct bs_blob *b, uint64_t from, uint64_t to, bs_cb cb, void *arg)
{
    struct bs *bs = b->bs;
    uint64_t n = 0;
    for (uint64_t s = from; s < to && s < b->md.num_extent_pages; s++)
        if (b->md.extent_pages[s])
            n++;
    if (!n || !b->md.use_extent_table) {
        cb(arg, 0);
        return;
    }
    struct ep_write *w = calloc(1, sizeof(*w));
    uint8_t *buf = aligned_alloc(BS_PG, n * BS_PG);
    if (!w || !buf) {
        free(w);
        free(buf);
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    w->buf = buf;
    w->cb = cb;
    w->arg = arg;
    bs_batch_begin(&w->batch, ep_write_done, w);
    uint64_t k = 0;
    for (uint64_t s = from; s < to && s < b->md.num_extent_pages; s++) {
        if (!b->md.extent_pages[s])
            continue;
        uint8_t *pg = buf + k++ * BS_PG;
        bs_extent_page_encode(&b->md, b->md.id, s, UINT64_MAX, 0, pg);
        bs_batch_add(&w->batch);
        bs_md_write(bs, b->md.extent_pages[s], pg, bs_batch_io_done, &w->batch);
    }
    bs_batch_end(&w->batch);
}

/* Zeroes md pages list[0..n-1] (any order), then cb. */
struct zero_pages {
    struct bs_batch batch;
    bs_cb cb;
    void *arg;
};

static void zero_pages_done(void *arg, int rc)
{
    struct zero_pages *z = arg;
    bs_cb cb = z->cb;
    void *a = z->arg;
    free(z);
    cb(a, rc);
}

static void zero_md_pages(struct bs *bs, const uint32_t *list, uint64_t n, bs_cb cb, void *arg)
{
    if (!n) {
        cb(arg, 0);
        return;
    }
    struct zero_pages *z = calloc(1, sizeof(*z));
    if (!z) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    z->cb = cb;
    z->arg = arg;
    bs_batch_begin(&z->batch, zero_pages_done, z);
    for (uint64_t i = 0; i < n; i++) {
        bs_batch_add(&z->batch);
        bs_md_zero(bs, list[i], bs_batch_io_done, &z->batch);
    }
    bs_batch_end(&z->batch);
}

/* Clears clusters list[0..n-1] (sorted here, contiguous runs merged) with method m. */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct clear_ctx {
    struct bs_batch batch;
    bs_cb cb;
    void *arg;
};

static void clear_done(void *arg, int rc)
{
    struct clear_ctx *c = arg;
    bs_cb cb = c->cb;
    void *a = c->arg;
    free(c);
    cb(a, rc);
}

static void clear_cluster_list(struct bs *bs, enum bs_clear_method m, uint32_t *list, uint64_t n,
                               bs_cb cb, void *arg)
{
    if (!n || m == BS_CLEAR_NONE) {
        cb(arg, 0);
        return;
    }
    struct clear_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    c->cb = cb;
    c->arg = arg;
    qsort(list, n, sizeof(*list), cmp_u32);
    bs_batch_begin(&c->batch, clear_done, c);
    uint64_t i = 0;
    while (i < n) {
        uint64_t j = i + 1;
        while (j < n && list[j] == list[j - 1] + 1)
            j++;
        bs_batch_add(&c->batch);
        bs_clear_clusters(bs, m, list[i], j - i, bs_batch_io_done, &c->batch);
        i = j;
    }
    bs_batch_end(&c->batch);
}

/* ---- persist (§4.4) ---- */

struct persist {
    struct bs_blob *b;
    bs_cb cb;
    void *arg;
    uint8_t *pages;
    uint32_t n;
    uint32_t *idx;
    uint32_t *old;
    uint32_t old_len;
    struct bs_batch batch;
};

static void persist_finish(struct persist *p, int rc)
{
    bs_cb cb = p->cb;
    void *a = p->arg;
    free(p->pages);
    free(p->idx);
    free(p->old);
    free(p);
    cb(a, rc);
}

static void persist_release_new(struct persist *p)
{
    for (uint32_t i = 1; i < p->n; i++)
        bs_release_md_page(p->b->bs, p->idx[i]);
}

static void persist_old_zeroed(void *arg, int rc)
{
    struct persist *p = arg;
    for (uint32_t i = 1; i < p->old_len; i++)
        bs_release_md_page(p->b->bs, p->old[i]);
    if (rc)
        log_warn("blobstore: blob 0x%" PRIx64 ": cannot zero its old metadata pages: %s",
                 p->b->md.id, strerror(-rc));
    persist_finish(p, 0); /* the root page was written: committed */
}

static void persist_root_written(void *arg, int rc)
{
    struct persist *p = arg;
    struct bs_blob *b = p->b;
    if (rc) {
        bs_set_error("blob 0x%" PRIx64 ": cannot write its metadata: %s", b->md.id, strerror(-rc));
        persist_release_new(p);
        persist_finish(p, rc);
        return;
    }
    p->old = b->chain;
    p->old_len = b->chain_len;
    b->chain = p->idx;
    b->chain_len = p->n;
    p->idx = NULL;
    b->dirty = false;
    if (p->old_len > 1)
        zero_md_pages(b->bs, p->old + 1, p->old_len - 1, persist_old_zeroed, p);
    else
        persist_old_zeroed(p, 0);
}

static void persist_chain_written(void *arg, int rc)
{
    struct persist *p = arg;
    if (rc) {
        bs_set_error("blob 0x%" PRIx64 ": cannot write its metadata chain: %s", p->b->md.id,
                     strerror(-rc));
        persist_release_new(p);
        persist_finish(p, rc);
        return;
    }
    bs_md_write(p->b->bs, p->idx[0], p->pages, persist_root_written, p);
}

static void persist_dirty(void *arg, int rc)
{
    struct persist *p = arg;
    struct bs_blob *b = p->b;
    struct bs *bs = b->bs;
    if (rc) {
        persist_finish(p, rc);
        return;
    }
    rc = bs_md_serialize(&b->md, &p->pages, &p->n);
    if (!rc) {
        /* serialize() is the only allocator of the page buffer: make it 4 KiB aligned */
        uint8_t *al = aligned_alloc(BS_PG, (size_t)p->n * BS_PG);
        p->idx = malloc(p->n * sizeof(uint32_t));
        if (!al || !p->idx) {
            free(al);
            rc = -ENOMEM;
        } else {
            memcpy(al, p->pages, (size_t)p->n * BS_PG);
            free(p->pages);
            p->pages = al;
        }
    }
    if (rc) {
        bs_set_error("blob 0x%" PRIx64 ": cannot serialize its metadata: %s", b->md.id,
                     strerror(-rc));
        persist_finish(p, rc);
        return;
    }
    p->idx[0] = (uint32_t)b->md.id;
    for (uint32_t i = 1; i < p->n; i++) {
        p->idx[i] = bs_claim_md_page(bs, 0);
        if (p->idx[i] == BS_INVALID32) {
            for (uint32_t k = 1; k < i; k++)
                bs_release_md_page(bs, p->idx[k]);
            p->n = 1; /* nothing more to release */
            bs_set_error("blob 0x%" PRIx64 ": no free metadata pages for its chain", b->md.id);
            persist_finish(p, -ENOMEM);
            return;
        }
    }
    bs_md_chain_finish(p->pages, p->n, p->idx);
    bs_batch_begin(&p->batch, persist_chain_written, p);
    for (uint32_t i = 1; i < p->n; i++) {
        bs_batch_add(&p->batch);
        bs_md_write(bs, p->idx[i], p->pages + (size_t)i * BS_PG, bs_batch_io_done, &p->batch);
    }
    bs_batch_end(&p->batch);
}

void bs_blob_persist(struct bs_blob *b, bs_cb cb, void *arg)
{
    struct persist *p = calloc(1, sizeof(*p));
    if (!p) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    p->b = b;
    p->cb = cb;
    p->arg = arg;
    bs_mark_dirty(b->bs, persist_dirty, p);
}

/* ---- delete (§4.4) ---- */

struct del {
    struct bs_blob *b;
    bs_cb cb;
    void *arg;
    uint32_t *clusters, *eps;
    uint64_t n_clusters, n_eps;
};

static void del_finish(struct del *d, int rc)
{
    bs_cb cb = d->cb;
    void *a = d->arg;
    free(d->clusters);
    free(d->eps);
    free(d);
    cb(a, rc);
}

static void del_thawed(void *arg, int rc)
{
    (void)rc;
    struct del *d = arg;
    bs_blob_free(d->b);
    del_finish(d, 0);
}

static void del_eps_zeroed(void *arg, int rc)
{
    struct del *d = arg;
    struct bs *bs = d->b->bs;
    if (rc)
        log_warn("blobstore: deleted blob 0x%" PRIx64 ": cannot zero its extent pages: %s",
                 d->b->md.id, strerror(-rc));
    for (uint64_t i = 0; i < d->n_eps; i++)
        bs_release_md_page(bs, d->eps[i]);
    atomic_store(&d->b->deleted, true);
    bs_blob_thaw(d->b, del_thawed, d);
}

static void del_clusters_cleared(void *arg, int rc)
{
    struct del *d = arg;
    struct bs *bs = d->b->bs;
    if (rc)
        log_warn("blobstore: deleted blob 0x%" PRIx64 ": cannot clear its clusters: %s",
                 d->b->md.id, strerror(-rc));
    for (uint64_t i = 0; i < d->n_clusters; i++)
        bs_release_cluster(bs, d->clusters[i]);
    zero_md_pages(bs, d->eps, d->n_eps, del_eps_zeroed, d);
}

static void del_pages_zeroed(void *arg, int rc)
{
    struct del *d = arg;
    struct bs_blob *b = d->b;
    struct bs *bs = b->bs;
    if (rc) {
        bs_set_error("cannot delete blob 0x%" PRIx64 ": %s", b->md.id, strerror(-rc));
        del_finish(d, rc);
        return;
    }
    /* the blob is gone on disk */
    for (uint32_t i = 0; i < b->chain_len; i++)
        bs_release_md_page(bs, b->chain[i]);
    bs_bit_clear(&bs->used_blobids, (uint32_t)b->md.id);
    blob_unlink(bs, b);
    clear_cluster_list(bs, (enum bs_clear_method)(b->md.md_ro_flags & BS_MRO_CLEAR_MASK),
                       d->clusters, d->n_clusters, del_clusters_cleared, d);
}

static void del_dirty(void *arg, int rc)
{
    struct del *d = arg;
    if (rc) {
        del_finish(d, rc);
        return;
    }
    zero_md_pages(d->b->bs, d->b->chain, d->b->chain_len, del_pages_zeroed, d);
}

void bs_blob_delete_internal(struct bs_blob *b, bs_cb cb, void *arg)
{
    struct del *d = calloc(1, sizeof(*d));
    if (d) {
        d->clusters = malloc((b->num_allocated ? b->num_allocated : 1) * sizeof(uint32_t));
        d->eps = malloc((b->md.num_extent_pages ? b->md.num_extent_pages : 1) * sizeof(uint32_t));
    }
    if (!d || !d->clusters || !d->eps) {
        if (d) {
            free(d->clusters);
            free(d->eps);
        }
        free(d);
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    d->b = b;
    d->cb = cb;
    d->arg = arg;
    for (uint64_t s = 0; s < b->md.num_clusters && d->n_clusters < b->num_allocated; s++)
        if (b->md.clusters[s])
            d->clusters[d->n_clusters++] = b->md.clusters[s];
    for (uint64_t s = 0; s < b->md.num_extent_pages; s++)
        if (b->md.extent_pages[s])
            d->eps[d->n_eps++] = b->md.extent_pages[s];
    bs_mark_dirty(b->bs, del_dirty, d);
}

/* ---- generic op plumbing ---- */

struct id_later {
    bs_id_cb cb;
    void *arg;
};

static void id_later_run(void *arg, int rc)
{
    struct id_later *l = arg;
    bs_id_cb cb = l->cb;
    void *a = l->arg;
    free(l);
    cb(a, rc, BS_INVALID_ID);
}

static void fail_id_later(bs_id_cb cb, void *arg, int rc)
{
    struct id_later *l = malloc(sizeof(*l));
    if (!l) {
        cb(arg, rc, BS_INVALID_ID);
        return;
    }
    l->cb = cb;
    l->arg = arg;
    bs_complete_later(id_later_run, l, rc);
}

struct done_later {
    bs_done_cb cb;
    void *arg;
};

static void done_later_run(void *arg, int rc)
{
    struct done_later *l = arg;
    bs_done_cb cb = l->cb;
    void *a = l->arg;
    free(l);
    cb(a, rc);
}

static void fail_done_later(bs_done_cb cb, void *arg, int rc)
{
    struct done_later *l = malloc(sizeof(*l));
    if (!l) {
        cb(arg, rc);
        return;
    }
    l->cb = cb;
    l->arg = arg;
    bs_complete_later(done_later_run, l, rc);
}

static int xattrs_from(struct bs_xattr_list *l, const struct bs_xattr *x, size_t n)
{
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < n; i++) {
        int rc = bs_xattr_set(l, x[i].name, x[i].value, x[i].len);
        if (rc) {
            bs_xattr_list_free(l);
            return rc;
        }
    }
    return 0;
}

/* Operations that make a new blob (create, snapshot, clone) answer with its id and carry
 * the caller's xattrs until the blob takes them; they share this head and its lifecycle. */
struct id_op {
    struct bs_op op;
    struct bs_xattr_list xattrs;
    bs_id_cb cb;
    void *arg;
};

/* Allocates an op of `size` bytes (an id_op first) with a copy of the xattrs; on failure the
 * callback is answered later and NULL returned. */
static void *id_op_new(struct bs *bs, size_t size, const struct bs_xattr *xattrs, size_t n,
                       bs_id_cb cb, void *arg, void (*start)(struct bs_op *))
{
    struct id_op *o = calloc(1, size);
    if (!o) {
        fail_id_later(cb, arg, -ENOMEM);
        return NULL;
    }
    int rc = bs->closing ? -ENODEV : xattrs_from(&o->xattrs, xattrs, n);
    if (rc) {
        free(o);
        fail_id_later(cb, arg, rc);
        return NULL;
    }
    o->cb = cb;
    o->arg = arg;
    o->op.start = start;
    return o;
}

/* Ends the op, frees it (the caller has freed what its own part owns) and answers. */
static void id_op_finish(struct id_op *o, int rc, uint64_t id)
{
    bs_op_done(&o->op);
    bs_id_cb cb = o->cb;
    void *a = o->arg;
    bs_xattr_list_free(&o->xattrs);
    free(o);
    cb(a, rc, rc ? BS_INVALID_ID : id);
}

/* A new thin blob that will take over `from`'s map (snapshot) or read through it (clone):
 * same size and extent layout, the caller's xattrs, and the internal xattr `ixattr` naming
 * `from`. On error *rc is set and the blob (if any) is returned for the caller to discard. */
static struct bs_blob *derived_blob_new(struct id_op *o, struct bs_blob *from, const char *ixattr,
                                        int *rc)
{
    struct bs_blob *nb = blob_create_mem(o->op.bs, from->md.num_clusters,
                                         from->md.use_extent_table, rc);
    if (!nb)
        return NULL;
    nb->md.invalid_flags = BS_IF_THIN | (from->md.use_extent_table ? BS_IF_EXTENT_TABLE : 0);
    nb->md.xattrs = o->xattrs;
    memset(&o->xattrs, 0, sizeof(o->xattrs));
    *rc = set_internal_id(nb, ixattr, from->md.id);
    if (!*rc)
        bs_blob_update_ro(nb);
    return nb;
}

/* ---- create ---- */

struct create_op {
    struct id_op head;
    uint64_t num_clusters;
    bool thin;
    enum bs_clear_method clear;
    struct bs_blob *b;
};

static void create_finish(struct create_op *o, int rc)
{
    id_op_finish(&o->head, rc, rc ? BS_INVALID_ID : o->b->md.id);
}

static void create_persisted(void *arg, int rc)
{
    struct create_op *o = arg;
    struct bs *bs = o->head.op.bs;
    if (rc) {
        blob_discard_new(bs, o->b);
        o->b = NULL;
    } else {
        blob_insert(bs, o->b);
    }
    create_finish(o, rc);
}

static void create_eps_written(void *arg, int rc)
{
    struct create_op *o = arg;
    if (rc) {
        create_persisted(o, rc);
        return;
    }
    bs_blob_persist(o->b, create_persisted, o);
}

static void create_dirty(void *arg, int rc)
{
    struct create_op *o = arg;
    if (rc) {
        create_persisted(o, rc);
        return;
    }
    write_extent_pages(o->b, 0, o->b->md.num_extent_pages, create_eps_written, o);
}

static void create_start(struct bs_op *op)
{
    struct create_op *o = (struct create_op *)op;
    struct bs *bs = op->bs;
    uint64_t n = o->num_clusters;
    int rc = 0;
    if (n > BS_MAX_CLUSTERS) {
        rc = -EINVAL;
    } else if (!o->thin && n > bs->free_clusters) {
        bs_set_error("create: %" PRIu64 " clusters requested, %" PRIu64 " free", n, bs->free_clusters);
        rc = -ENOSPC;
    }
    struct bs_blob *b = rc ? NULL : blob_create_mem(bs, n, true, &rc);
    if (!b) {
        if (rc == -ENOMEM)
            bs_set_error("create: no free metadata page");
        create_finish(o, rc);
        return;
    }
    o->b = b;
    b->md.invalid_flags = BS_IF_EXTENT_TABLE | (o->thin ? BS_IF_THIN : 0);
    b->md.md_ro_flags = (uint64_t)o->clear & BS_MRO_CLEAR_MASK;
    b->md.xattrs = o->head.xattrs;
    memset(&o->head.xattrs, 0, sizeof(o->head.xattrs));
    if (!o->thin) {
        for (uint64_t s = 0; s < n; s++) {
            uint32_t c = bs_claim_cluster(bs);
            if (c == BS_INVALID32) {
                rc = -ENOSPC;
                break;
            }
            b->md.clusters[s] = c;
            b->num_allocated++;
            if (s % BS_EXTENTS_PER_EP == 0) {
                uint32_t ep = bs_claim_md_page(bs, 1);
                if (ep == BS_INVALID32) {
                    rc = -ENOMEM;
                    break;
                }
                b->md.extent_pages[s / BS_EXTENTS_PER_EP] = ep;
            }
        }
    }
    if (rc) {
        bs_set_error("create: %s", rc == -ENOSPC ? "out of clusters" : "no free metadata pages");
        blob_discard_new(bs, b);
        o->b = NULL;
        create_finish(o, rc);
        return;
    }
    bs_blob_update_ro(b);
    bs_mark_dirty(bs, create_dirty, o);
}

void bs_blob_create(struct bs *bs, const struct bs_blob_opts *opts, bs_id_cb cb, void *arg)
{
    struct create_op *o = id_op_new(bs, sizeof(*o), opts ? opts->xattrs : NULL,
                                    opts ? opts->n_xattrs : 0, cb, arg, create_start);
    if (!o)
        return;
    if (opts) {
        o->num_clusters = opts->num_clusters;
        o->thin = opts->thin;
        o->clear = opts->clear_method;
    }
    bs_op_submit(bs, &o->head.op);
}

/* ---- delete ---- */

struct delete_op {
    struct bs_op op;
    uint64_t id;
    bs_done_cb cb;
    void *arg;
    struct bs_blob *b;
};

static void delete_finish(struct delete_op *o, int rc)
{
    bs_op_done(&o->op);
    bs_done_cb cb = o->cb;
    void *a = o->arg;
    free(o);
    cb(a, rc);
}

struct delete_err {
    struct delete_op *o;
    int rc;
};

static void delete_err_thawed(void *arg, int rc)
{
    (void)rc;
    struct delete_err *e = arg;
    struct delete_op *o = e->o;
    int r = e->rc;
    free(e);
    delete_finish(o, r);
}

static void delete_done(void *arg, int rc)
{
    struct delete_op *o = arg;
    if (rc) { /* b still exists: let its I/O flow again */
        struct delete_err *e = malloc(sizeof(*e));
        if (!e) {
            atomic_store(&o->b->frozen, false);
            delete_finish(o, rc);
            return;
        }
        e->o = o;
        e->rc = rc;
        bs_blob_thaw(o->b, delete_err_thawed, e);
        return;
    }
    delete_finish(o, 0);
}

static void delete_frozen(void *arg, int rc)
{
    struct delete_op *o = arg;
    (void)rc;
    bs_blob_delete_internal(o->b, delete_done, o);
}

/* ---- delete of a snapshot with exactly one clone (§7.4 merge) ----
 *
 * S gets SNAPRM = C and is persisted; the slots C lacks take S's clusters (extent pages C
 * lacks are taken over as they are, extent pages both have are rewritten in C's with the
 * merged entries); C's SNAP becomes S's parent (or goes); C is persisted (commit point);
 * S loses every slot now shared with C, becomes thin and is persisted; S is deleted.
 * S, C and every blob reading through C are frozen while the maps and parents change. */

struct merge {
    struct delete_op *o;
    struct bs_blob *s, *c;
    struct bs_blob **frz; /* frz[0] = S, frz[1] = C, then C's descendants */
    size_t n_frz, i;
    /* C before the merge, for rollback */
    uint32_t *c_clusters, *c_eps;
    uint64_t c_allocated;
    struct bs_xattr_list c_ixattrs;
    uint64_t *rewrite; /* extent-page slots of C rewritten in place */
    uint64_t n_rewrite, k;
    int rc;
    void (*after_thaw)(struct merge *m);
};

static void merge_free(struct merge *m)
{
    free(m->frz);
    free(m->c_clusters);
    free(m->c_eps);
    free(m->rewrite);
    bs_xattr_list_free(&m->c_ixattrs);
    free(m);
}

static void merge_end(struct merge *m, int rc)
{
    struct delete_op *o = m->o;
    merge_free(m);
    delete_finish(o, rc);
}

/* sequential freeze / thaw of frz[from..n_frz) */
static void merge_frozen_step(void *arg, int rc);
static void merge_frozen(struct merge *m);

static void merge_freeze_next(struct merge *m)
{
    if (m->i == m->n_frz) {
        merge_frozen(m);
        return;
    }
    bs_blob_freeze(m->frz[m->i++], merge_frozen_step, m);
}

static void merge_frozen_step(void *arg, int rc)
{
    (void)rc;
    merge_freeze_next(arg);
}

static void merge_thaw_step(void *arg, int rc)
{
    (void)rc;
    struct merge *m = arg;
    if (m->i == m->n_frz) {
        m->after_thaw(m);
        return;
    }
    bs_blob_thaw(m->frz[m->i++], merge_thaw_step, m);
}

/* Thaws frz[from..], then after(m). */
static void merge_thaw(struct merge *m, size_t from, void (*after)(struct merge *m))
{
    m->i = from;
    m->after_thaw = after;
    merge_thaw_step(m, 0);
}

static void merge_failed_end(struct merge *m) { merge_end(m, m->rc); }

static void merge_s_unmarked(void *arg, int rc)
{
    struct merge *m = arg;
    if (rc)
        log_warn("blobstore: snapshot 0x%" PRIx64 ": cannot remove its SNAPRM marker (%s): "
                 "done at the next load", m->s->md.id, strerror(-rc));
    merge_thaw(m, 0, merge_failed_end);
}

/* Before the commit: S stays what it was (its SNAPRM marker is removed again). */
static void merge_abort(struct merge *m, int rc)
{
    m->rc = rc;
    remove_internal(m->s, BS_XATTR_SNAPRM);
    bs_blob_persist(m->s, merge_s_unmarked, m);
}

static void merge_c_restored(void *arg, int rc)
{
    struct merge *m = arg;
    if (rc)
        log_warn("blobstore: blob 0x%" PRIx64 ": cannot restore its extent pages (%s): repaired "
                 "at the next load", m->c->md.id, strerror(-rc));
    merge_abort(m, m->rc);
}

static void merge_restore_next(void *arg, int rc)
{
    struct merge *m = arg;
    if (rc)
        merge_c_restored(m, rc);
    else if (m->k < m->n_rewrite) {
        uint64_t s = m->rewrite[m->k++];
        write_extent_pages(m->c, s, s + 1, merge_restore_next, m);
    } else
        merge_c_restored(m, 0);
}

/* C's persist failed: its map, SNAP and the extent pages rewritten in place go back. */
static void merge_rollback_c(struct merge *m, int rc)
{
    struct bs_blob *c = m->c;
    m->rc = rc;
    memcpy(c->md.clusters, m->c_clusters, c->md.num_clusters * sizeof(uint32_t));
    memcpy(c->md.extent_pages, m->c_eps, c->md.num_extent_pages * sizeof(uint32_t));
    c->num_allocated = m->c_allocated;
    bs_xattr_list_free(&c->md.ixattrs);
    c->md.ixattrs = m->c_ixattrs;
    memset(&m->c_ixattrs, 0, sizeof(m->c_ixattrs));
    c->md.invalid_flags |= BS_IF_INTERNAL_XATTR; /* it had SNAP */
    m->k = 0;
    merge_restore_next(m, 0);
}

static void merge_s_deleted(void *arg, int rc)
{
    struct merge *m = arg;
    if (rc) { /* S is still there, without clones: a plain delete can be retried */
        struct bs_blob *s = m->s;
        m->rc = rc;
        bs_set_error("cannot delete snapshot 0x%" PRIx64 " after merging it into its clone: %s",
                     s->md.id, strerror(-rc));
        m->n_frz = 1;
        merge_thaw(m, 0, merge_failed_end);
        return;
    }
    merge_end(m, 0);
}

static void merge_s_persisted(void *arg, int rc)
{
    struct merge *m = arg;
    if (rc) /* on disk S still names C in SNAPRM: §7.5 deletes it at the next load */
        log_warn("blobstore: snapshot 0x%" PRIx64 ": cannot persist it after the merge (%s)",
                 m->s->md.id, strerror(-rc));
    bs_blob_delete_internal(m->s, merge_s_deleted, m);
}

static void merge_others_thawed(struct merge *m)
{
    struct bs_blob *s = m->s, *c = m->c;
    /* S keeps only what C does not share */
    uint64_t n = s->md.num_clusters < c->md.num_clusters ? s->md.num_clusters : c->md.num_clusters;
    for (uint64_t i = 0; i < n; i++)
        if (s->md.clusters[i] && s->md.clusters[i] == c->md.clusters[i]) {
            s->md.clusters[i] = 0;
            s->num_allocated--;
        }
    uint64_t ne = s->md.num_extent_pages < c->md.num_extent_pages ? s->md.num_extent_pages
                                                                  : c->md.num_extent_pages;
    for (uint64_t i = 0; i < ne; i++)
        if (s->md.extent_pages[i] == c->md.extent_pages[i])
            s->md.extent_pages[i] = 0;
    s->md.invalid_flags |= BS_IF_THIN;
    bs_blob_persist(s, merge_s_persisted, m);
}

static void merge_c_persisted(void *arg, int rc)
{
    struct merge *m = arg;
    struct bs_blob *s = m->s, *c = m->c;
    if (rc) {
        merge_rollback_c(m, rc);
        return;
    }
    /* committed: C reads through S's parent now */
    struct bs_blob *p = s->parent;
    bs_blob_remove_clone(s, c);
    c->parent = p;
    if (p) {
        for (size_t i = 0; i < p->n_clones; i++)
            if (p->clones[i] == s)
                p->clones[i] = c;
        s->parent = NULL;
    }
    merge_thaw(m, 1, merge_others_thawed); /* S stays frozen until it is deleted */
}

static void merge_c_eps_written(void *arg, int rc)
{
    struct merge *m = arg;
    struct bs_blob *s = m->s, *c = m->c;
    if (rc) {
        merge_rollback_c(m, rc);
        return;
    }
    if (m->k < m->n_rewrite) {
        uint64_t sl = m->rewrite[m->k++];
        write_extent_pages(c, sl, sl + 1, merge_c_eps_written, m);
        return;
    }
    if (s->parent)
        rc = set_internal_id(c, BS_XATTR_SNAP, s->parent->md.id);
    else
        remove_internal(c, BS_XATTR_SNAP);
    if (rc) {
        merge_rollback_c(m, rc);
        return;
    }
    bs_blob_persist(c, merge_c_persisted, m);
}

static void merge_s_marked(void *arg, int rc)
{
    struct merge *m = arg;
    struct bs_blob *s = m->s, *c = m->c;
    if (rc) {
        merge_abort(m, rc);
        return;
    }
    m->c_clusters = malloc((c->md.num_clusters ? c->md.num_clusters : 1) * sizeof(uint32_t));
    m->c_eps = malloc((c->md.num_extent_pages ? c->md.num_extent_pages : 1) * sizeof(uint32_t));
    m->rewrite = malloc((c->md.num_extent_pages ? c->md.num_extent_pages : 1) * sizeof(uint64_t));
    if (!m->c_clusters || !m->c_eps || !m->rewrite ||
        bs_xattr_list_copy(&m->c_ixattrs, &c->md.ixattrs)) {
        merge_abort(m, -ENOMEM);
        return;
    }
    memcpy(m->c_clusters, c->md.clusters, c->md.num_clusters * sizeof(uint32_t));
    memcpy(m->c_eps, c->md.extent_pages, c->md.num_extent_pages * sizeof(uint32_t));
    m->c_allocated = c->num_allocated;
    /* every reader of these maps is frozen: plain stores are enough */
    uint64_t n = s->md.num_clusters < c->md.num_clusters ? s->md.num_clusters : c->md.num_clusters;
    for (uint64_t i = 0; i < n; i++)
        if (!c->md.clusters[i] && s->md.clusters[i]) {
            c->md.clusters[i] = s->md.clusters[i];
            c->num_allocated++;
        }
    uint64_t ne = s->md.num_extent_pages < c->md.num_extent_pages ? s->md.num_extent_pages
                                                                  : c->md.num_extent_pages;
    for (uint64_t i = 0; i < ne; i++) {
        if (!s->md.extent_pages[i])
            continue;
        if (!c->md.extent_pages[i]) {
            c->md.extent_pages[i] = s->md.extent_pages[i]; /* taken over as it is... */
            /* ...unless the sizes differ: the page holds S's entry count, and C (grown
             * after the snapshot) needs its own, else C cannot be opened again. */
            if (s->md.num_clusters != c->md.num_clusters)
                m->rewrite[m->n_rewrite++] = i;
        } else {
            m->rewrite[m->n_rewrite++] = i;
        }
    }
    m->k = 0;
    merge_c_eps_written(m, 0);
}

static void merge_frozen(struct merge *m)
{
    int rc = set_internal_id(m->s, BS_XATTR_SNAPRM, m->c->md.id);
    if (rc) {
        m->rc = rc;
        merge_thaw(m, 0, merge_failed_end);
        return;
    }
    bs_blob_persist(m->s, merge_s_marked, m);
}

static void merge_start(struct delete_op *o, struct bs_blob *s)
{
    struct bs_blob *c = s->clones[0];
    int rc = 0;
    if (s->md_ro || c->md_ro) {
        bs_set_error("cannot delete snapshot 0x%" PRIx64 ": it or its clone has unknown flags",
                     s->md.id);
        rc = -EPERM;
    } else if (s->md.use_extent_table != c->md.use_extent_table) {
        bs_set_error("cannot delete snapshot 0x%" PRIx64 ": its clone uses another map format",
                     s->md.id);
        rc = -ENOTSUP;
    } else if (c->md.num_clusters > s->md.num_clusters && s->parent &&
               s->parent->md.num_clusters > s->md.num_clusters) {
        /* C's slots past S's end read as zeroes today but would read S's parent after */
        bs_set_error("cannot delete snapshot 0x%" PRIx64 ": its clone is larger than it and its "
                     "parent", s->md.id);
        rc = -ENOTSUP;
    }
    struct merge *m = rc ? NULL : calloc(1, sizeof(*m));
    if (!rc && !m)
        rc = -ENOMEM;
    /* S, C and every blob reading through C */
    size_t cap = 0;
    if (m) {
        cap = 16;
        m->frz = malloc(cap * sizeof(*m->frz));
        if (!m->frz)
            rc = -ENOMEM;
        else {
            m->frz[m->n_frz++] = s;
            m->frz[m->n_frz++] = c;
        }
        for (size_t i = 1; !rc && i < m->n_frz; i++) {
            struct bs_blob *x = m->frz[i];
            for (size_t j = 0; j < x->n_clones; j++) {
                if (m->n_frz == cap) {
                    struct bs_blob **nv = realloc(m->frz, 2 * cap * sizeof(*nv));
                    if (!nv) {
                        rc = -ENOMEM;
                        break;
                    }
                    m->frz = nv;
                    cap *= 2;
                }
                m->frz[m->n_frz++] = x->clones[j];
            }
        }
    }
    if (rc) {
        if (m)
            merge_free(m);
        delete_finish(o, rc);
        return;
    }
    m->o = o;
    m->s = s;
    m->c = c;
    m->i = 0;
    merge_freeze_next(m);
}

static void delete_start(struct bs_op *op)
{
    struct delete_op *o = (struct delete_op *)op;
    struct bs_blob *b = bs_lookup(op->bs, o->id);
    if (!b) {
        delete_finish(o, -ENOENT);
        return;
    }
    if (b->n_clones > 1) {
        bs_set_error("cannot delete blob 0x%" PRIx64 ": it has %zu clones", b->md.id, b->n_clones);
        delete_finish(o, -EBUSY);
        return;
    }
    o->b = b;
    if (b->n_clones == 1) {
        merge_start(o, b);
        return;
    }
    bs_blob_freeze(b, delete_frozen, o);
}

void bs_blob_delete(struct bs *bs, bs_blob_id id, bs_done_cb cb, void *arg)
{
    struct delete_op *o = calloc(1, sizeof(*o));
    if (!o || bs->closing) {
        free(o);
        fail_done_later(cb, arg, o ? -ENODEV : -ENOMEM);
        return;
    }
    o->id = id;
    o->cb = cb;
    o->arg = arg;
    o->op.start = delete_start;
    bs_op_submit(bs, &o->op);
}

/* ---- resize (§6.4) ---- */

struct resize_op {
    struct bs_op op;
    struct bs_blob *b;
    uint64_t id, n, old_n, old_nep;
    bs_done_cb cb;
    void *arg;
    int rc;
    uint32_t *trunc_clusters, *trunc_eps;
    uint64_t n_trunc_clusters, n_trunc_eps;
};

static void resize_finish(struct resize_op *o, int rc)
{
    bs_op_done(&o->op);
    bs_done_cb cb = o->cb;
    void *a = o->arg;
    free(o->trunc_clusters);
    free(o->trunc_eps);
    free(o);
    cb(a, rc);
}

static void resize_thawed(void *arg, int rc)
{
    (void)rc;
    struct resize_op *o = arg;
    resize_finish(o, o->rc);
}

static void resize_end(struct resize_op *o, int rc)
{
    o->rc = rc;
    bs_blob_thaw(o->b, resize_thawed, o);
}

/* Undoes an in-memory grow that did not reach the disk. */
static void grow_rollback(struct resize_op *o)
{
    struct bs_blob *b = o->b;
    struct bs *bs = b->bs;
    for (uint64_t s = o->old_n; s < b->md.num_clusters; s++)
        if (b->md.clusters[s]) {
            bs_release_cluster(bs, b->md.clusters[s]);
            b->md.clusters[s] = 0;
            b->num_allocated--;
        }
    for (uint64_t s = o->old_nep; s < b->md.num_extent_pages; s++)
        if (b->md.extent_pages[s]) {
            bs_release_md_page(bs, b->md.extent_pages[s]);
            b->md.extent_pages[s] = 0;
        }
    b->md.num_clusters = o->old_n;
    b->md.num_extent_pages = b->md.use_extent_table ? o->old_nep : 0;
}

static void grow_persisted(void *arg, int rc)
{
    struct resize_op *o = arg;
    if (rc)
        grow_rollback(o);
    resize_end(o, rc);
}

static void grow_eps_written(void *arg, int rc)
{
    struct resize_op *o = arg;
    if (rc) {
        grow_persisted(o, rc);
        return;
    }
    bs_blob_persist(o->b, grow_persisted, o);
}

static void grow_dirty(void *arg, int rc)
{
    struct resize_op *o = arg;
    if (rc) {
        grow_persisted(o, rc);
        return;
    }
    uint64_t from = o->old_nep ? o->old_nep - 1 : 0;
    write_extent_pages(o->b, from, o->b->md.num_extent_pages, grow_eps_written, o);
}

static void shrink_eps_zeroed(void *arg, int rc)
{
    struct resize_op *o = arg;
    struct bs *bs = o->b->bs;
    if (rc)
        log_warn("blobstore: blob 0x%" PRIx64 ": cannot zero truncated extent pages: %s", o->id,
                 strerror(-rc));
    for (uint64_t i = 0; i < o->n_trunc_eps; i++)
        bs_release_md_page(bs, o->trunc_eps[i]);
    resize_end(o, 0);
}

static void shrink_cleared(void *arg, int rc)
{
    struct resize_op *o = arg;
    struct bs *bs = o->b->bs;
    if (rc)
        log_warn("blobstore: blob 0x%" PRIx64 ": cannot clear truncated clusters: %s", o->id,
                 strerror(-rc));
    for (uint64_t i = 0; i < o->n_trunc_clusters; i++)
        bs_release_cluster(bs, o->trunc_clusters[i]);
    zero_md_pages(bs, o->trunc_eps, o->n_trunc_eps, shrink_eps_zeroed, o);
}

static void shrink_last_ep_written(void *arg, int rc)
{
    struct resize_op *o = arg;
    struct bs_blob *b = o->b;
    if (rc)
        log_warn("blobstore: blob 0x%" PRIx64 ": cannot rewrite its last extent page: %s", o->id,
                 strerror(-rc));
    clear_cluster_list(b->bs, (enum bs_clear_method)(b->md.md_ro_flags & BS_MRO_CLEAR_MASK),
                       o->trunc_clusters, o->n_trunc_clusters, shrink_cleared, o);
}

static void shrink_persisted(void *arg, int rc)
{
    struct resize_op *o = arg;
    struct bs_blob *b = o->b;
    if (rc) { /* not committed: restore the size */
        b->md.num_clusters = o->old_n;
        b->md.num_extent_pages = b->md.use_extent_table ? o->old_nep : 0;
        resize_end(o, rc);
        return;
    }
    /* committed: drop the truncated slots from memory */
    for (uint64_t s = b->md.num_clusters; s < o->old_n; s++)
        if (b->md.clusters[s]) {
            b->md.clusters[s] = 0;
            b->num_allocated--;
        }
    for (uint64_t s = b->md.num_extent_pages; s < o->old_nep; s++)
        b->md.extent_pages[s] = 0;
    /* the last remaining extent page loses its truncated entries */
    uint64_t nep = b->md.num_extent_pages;
    uint64_t last_start = nep ? (nep - 1) * BS_EXTENTS_PER_EP : 0;
    if (nep && b->md.use_extent_table && b->md.extent_pages[nep - 1] &&
        b->md.num_clusters - last_start < BS_EXTENTS_PER_EP) {
        write_extent_pages(b, nep - 1, nep, shrink_last_ep_written, o);
        return;
    }
    shrink_last_ep_written(o, 0);
}

static void shrink_dirty(void *arg, int rc)
{
    struct resize_op *o = arg;
    if (rc) {
        shrink_persisted(o, rc);
        return;
    }
    bs_blob_persist(o->b, shrink_persisted, o);
}

static void resize_frozen(void *arg, int rc)
{
    (void)rc;
    struct resize_op *o = arg;
    struct bs_blob *b = o->b;
    struct bs *bs = b->bs;
    uint64_t n = o->n, nep = b->md.use_extent_table ? bs_ep_count(n) : 0;
    o->old_n = b->md.num_clusters;
    o->old_nep = b->md.num_extent_pages;
    if (n > o->old_n) {
        /* nobody reads the map while frozen: it can be reallocated in place */
        uint32_t *c = realloc(b->md.clusters, n * sizeof(uint32_t));
        if (c) {
            b->md.clusters = c;
            memset(c + o->old_n, 0, (n - o->old_n) * sizeof(uint32_t));
        }
        uint32_t *e = b->md.extent_pages;
        if (c && nep > o->old_nep) {
            e = realloc(b->md.extent_pages, nep * sizeof(uint32_t));
            if (e) {
                b->md.extent_pages = e;
                memset(e + o->old_nep, 0, (nep - o->old_nep) * sizeof(uint32_t));
            }
        }
        if (!c || (nep > o->old_nep && !e)) {
            resize_end(o, -ENOMEM);
            return;
        }
        b->md.num_clusters = n;
        b->md.num_extent_pages = nep;
        if (!(b->md.invalid_flags & BS_IF_THIN)) {
            for (uint64_t s = o->old_n; s < n; s++) {
                uint32_t cl = bs_claim_cluster(bs);
                if (cl == BS_INVALID32) {
                    rc = -ENOSPC;
                    break;
                }
                b->md.clusters[s] = cl;
                b->num_allocated++;
                if (b->md.use_extent_table && !b->md.extent_pages[s / BS_EXTENTS_PER_EP]) {
                    uint32_t ep = bs_claim_md_page(bs, 1);
                    if (ep == BS_INVALID32) {
                        rc = -ENOMEM;
                        break;
                    }
                    b->md.extent_pages[s / BS_EXTENTS_PER_EP] = ep;
                }
            }
        }
        if (rc) {
            bs_set_error("resize of blob 0x%" PRIx64 ": %s", o->id,
                         rc == -ENOSPC ? "out of clusters" : "no free metadata pages");
            grow_rollback(o);
            resize_end(o, rc);
            return;
        }
        bs_mark_dirty(bs, grow_dirty, o);
        return;
    }
    /* shrink */
    o->trunc_clusters = malloc((o->old_n - n) * sizeof(uint32_t));
    o->trunc_eps = malloc((o->old_nep - nep + 1) * sizeof(uint32_t));
    if (!o->trunc_clusters || !o->trunc_eps) {
        resize_end(o, -ENOMEM);
        return;
    }
    for (uint64_t s = n; s < o->old_n; s++)
        if (b->md.clusters[s])
            o->trunc_clusters[o->n_trunc_clusters++] = b->md.clusters[s];
    for (uint64_t s = nep; s < o->old_nep; s++)
        if (b->md.extent_pages[s])
            o->trunc_eps[o->n_trunc_eps++] = b->md.extent_pages[s];
    b->md.num_clusters = n;
    b->md.num_extent_pages = nep;
    bs_mark_dirty(bs, shrink_dirty, o);
}

static void resize_sync_done(void *arg, int rc)
{
    resize_finish(arg, rc);
}

static void resize_start(struct bs_op *op)
{
    struct resize_op *o = (struct resize_op *)op;
    struct bs_blob *b = bs_lookup(op->bs, o->id);
    if (!b || b != o->b) {
        resize_finish(o, -ENOENT);
        return;
    }
    if (b->data_ro || b->md_ro) {
        resize_finish(o, -EPERM);
        return;
    }
    if (o->n > BS_MAX_CLUSTERS) {
        resize_finish(o, -EINVAL);
        return;
    }
    if (o->n == b->md.num_clusters) {
        if (b->dirty)
            bs_blob_persist(b, resize_sync_done, o);
        else
            resize_finish(o, 0);
        return;
    }
    if (o->n > b->md.num_clusters && !(b->md.invalid_flags & BS_IF_THIN) &&
        o->n - b->md.num_clusters > op->bs->free_clusters) {
        bs_set_error("resize of blob 0x%" PRIx64 ": %" PRIu64 " more clusters needed, %" PRIu64
                     " free", o->id, o->n - b->md.num_clusters, op->bs->free_clusters);
        resize_finish(o, -ENOSPC);
        return;
    }
    bs_blob_freeze(b, resize_frozen, o);
}

void bs_blob_resize(struct bs_blob *b, uint64_t num_clusters, bs_done_cb cb, void *arg)
{
    struct resize_op *o = calloc(1, sizeof(*o));
    if (!o || b->bs->closing) {
        free(o);
        fail_done_later(cb, arg, o ? -ENODEV : -ENOMEM);
        return;
    }
    o->b = b;
    o->id = b->md.id;
    o->n = num_clusters;
    o->cb = cb;
    o->arg = arg;
    o->op.start = resize_start;
    bs_op_submit(b->bs, &o->op);
}

/* ---- sync md ---- */

struct sync_op {
    struct bs_op op;
    struct bs_blob *b;
    uint64_t id;
    bs_done_cb cb;
    void *arg;
};

static void sync_done(void *arg, int rc)
{
    struct sync_op *o = arg;
    bs_op_done(&o->op);
    bs_done_cb cb = o->cb;
    void *a = o->arg;
    free(o);
    cb(a, rc);
}

static void sync_start(struct bs_op *op)
{
    struct sync_op *o = (struct sync_op *)op;
    struct bs_blob *b = bs_lookup(op->bs, o->id);
    if (!b || b != o->b) {
        sync_done(o, -ENOENT);
        return;
    }
    if (b->md_ro) {
        sync_done(o, -EPERM);
        return;
    }
    if (!b->dirty) {
        sync_done(o, 0);
        return;
    }
    bs_blob_persist(b, sync_done, o);
}

void bs_blob_sync_md(struct bs_blob *b, bs_done_cb cb, void *arg)
{
    struct sync_op *o = calloc(1, sizeof(*o));
    if (!o || b->bs->closing) {
        free(o);
        fail_done_later(cb, arg, o ? -ENODEV : -ENOMEM);
        return;
    }
    o->b = b;
    o->id = b->md.id;
    o->cb = cb;
    o->arg = arg;
    o->op.start = sync_start;
    bs_op_submit(b->bs, &o->op);
}

/* ---- snapshot (§7.2) ---- */

struct snap_op {
    struct id_op head;
    uint64_t src_id;
    struct bs_blob *b, *s;
    bool frozen, moved;
    /* B before the snapshot, for rollback */
    uint32_t *b_clusters, *b_eps;
    uint64_t b_allocated, b_flags;
    struct bs_xattr_list b_ixattrs;
    /* S's map while it still had the empty one */
    uint32_t *s_clusters, *s_eps;
    uint64_t s_flags, s_mdro;
    int rc;
};

static void snap_finish(struct snap_op *o, int rc)
{
    uint64_t id = rc || !o->s ? BS_INVALID_ID : o->s->md.id;
    bs_xattr_list_free(&o->b_ixattrs);
    free(o->s_clusters);
    free(o->s_eps);
    id_op_finish(&o->head, rc, id);
}

static void snap_abort_s_deleted(void *arg, int rc)
{
    struct snap_op *o = arg;
    if (rc)
        log_error("blobstore: cannot remove the unfinished snapshot 0x%" PRIx64
                  " (it is removed at the next load)", o->s->md.id);
    o->s = NULL;
    snap_finish(o, o->rc);
}

static void snap_abort_s_frozen(void *arg, int rc)
{
    (void)rc;
    struct snap_op *o = arg;
    bs_blob_delete_internal(o->s, snap_abort_s_deleted, o);
}

static void snap_abort_thawed(void *arg, int rc)
{
    (void)rc;
    struct snap_op *o = arg;
    /* S holds SNAPTMP and B does not point at it: delete S (its map is the empty one) */
    bs_blob_freeze(o->s, snap_abort_s_frozen, o);
}

/* Undoes the snapshot in memory (disk state is what §7.5 repairs at the next load). */
static void snap_abort(struct snap_op *o, int rc)
{
    struct bs_blob *b = o->b, *s = o->s;
    o->rc = rc;
    if (o->moved) {
        free(b->md.clusters);
        free(b->md.extent_pages);
        b->md.clusters = o->b_clusters;
        b->md.extent_pages = o->b_eps;
        b->num_allocated = o->b_allocated;
        b->md.invalid_flags = o->b_flags;
        bs_xattr_list_free(&b->md.ixattrs);
        b->md.ixattrs = o->b_ixattrs;
        memset(&o->b_ixattrs, 0, sizeof(o->b_ixattrs));
        s->md.clusters = o->s_clusters;
        s->md.extent_pages = o->s_eps;
        s->num_allocated = 0;
        s->md.invalid_flags = o->s_flags;
        s->md.md_ro_flags = o->s_mdro;
        o->s_clusters = o->s_eps = NULL;
        o->moved = false;
    }
    if (o->frozen) {
        o->frozen = false;
        bs_blob_thaw(b, snap_abort_thawed, o);
        return;
    }
    snap_abort_thawed(o, 0);
}

static void snap_done_thawed(void *arg, int rc)
{
    (void)rc;
    struct snap_op *o = arg;
    snap_finish(o, 0);
}

static void snap_final_persisted(void *arg, int rc)
{
    struct snap_op *o = arg;
    if (rc) { /* B already points at S: the snapshot exists; §7.5 finishes it at the next load */
        log_warn("blobstore: snapshot 0x%" PRIx64 " is complete but its final metadata write "
                 "failed (%s): finished at the next load", o->s->md.id, strerror(-rc));
        o->s->dirty = true;
    }
    o->frozen = false;
    bs_blob_thaw(o->b, snap_done_thawed, o);
}

static void snap_b_persisted(void *arg, int rc)
{
    struct snap_op *o = arg;
    struct bs_blob *b = o->b, *s = o->s;
    if (rc) {
        snap_abort(o, rc);
        return;
    }
    /* committed: B is now a clone of S */
    struct bs_blob *p = b->parent;
    if (p) {
        for (size_t i = 0; i < p->n_clones; i++)
            if (p->clones[i] == b)
                p->clones[i] = s;
        s->parent = p;
    }
    b->parent = s;
    bs_blob_add_clone(s, b);
    o->b_clusters = o->b_eps = NULL; /* B's former map is S's now */
    o->moved = false;
    remove_internal(s, BS_XATTR_SNAPTMP);
    s->md.data_ro_flags |= BS_DRO_READ_ONLY;
    bs_blob_update_ro(s);
    bs_blob_persist(s, snap_final_persisted, o);
}

static void snap_s_moved_persisted(void *arg, int rc)
{
    struct snap_op *o = arg;
    struct bs_blob *b = o->b, *s = o->s;
    if (rc) {
        snap_abort(o, rc);
        return;
    }
    b->md.invalid_flags |= BS_IF_THIN | BS_IF_INTERNAL_XATTR;
    rc = set_internal_id(b, BS_XATTR_SNAP, s->md.id);
    if (rc) {
        snap_abort(o, rc);
        return;
    }
    bs_blob_persist(b, snap_b_persisted, o);
}

static void snap_frozen(void *arg, int rc)
{
    (void)rc;
    struct snap_op *o = arg;
    struct bs_blob *b = o->b, *s = o->s;
    o->frozen = true;
    uint32_t *nc = calloc(b->md.num_clusters ? b->md.num_clusters : 1, sizeof(uint32_t));
    uint32_t *ne = calloc(b->md.num_extent_pages ? b->md.num_extent_pages : 1, sizeof(uint32_t));
    struct bs_xattr_list saved;
    if (!nc || !ne || bs_xattr_list_copy(&saved, &b->md.ixattrs)) {
        free(nc);
        free(ne);
        snap_abort(o, -ENOMEM);
        return;
    }
    /* B's map and extent pages move to S as they are */
    o->b_clusters = b->md.clusters;
    o->b_eps = b->md.extent_pages;
    o->b_allocated = b->num_allocated;
    o->b_flags = b->md.invalid_flags;
    o->b_ixattrs = saved;
    o->s_clusters = s->md.clusters;
    o->s_eps = s->md.extent_pages;
    o->s_flags = s->md.invalid_flags;
    o->s_mdro = s->md.md_ro_flags;
    o->moved = true;
    s->md.clusters = b->md.clusters;
    s->md.extent_pages = b->md.extent_pages;
    s->num_allocated = b->num_allocated;
    s->md.invalid_flags = b->md.invalid_flags;
    s->md.md_ro_flags = (s->md.md_ro_flags & ~BS_MRO_CLEAR_MASK) |
                        (b->md.md_ro_flags & BS_MRO_CLEAR_MASK);
    if (b->parent)
        rc = set_internal_id(s, BS_XATTR_SNAP, b->parent->md.id);
    b->md.clusters = nc;
    b->md.extent_pages = ne;
    b->num_allocated = 0;
    if (rc) {
        snap_abort(o, rc);
        return;
    }
    bs_blob_persist(s, snap_s_moved_persisted, o);
}

static void snap_s_created(void *arg, int rc)
{
    struct snap_op *o = arg;
    if (rc) {
        blob_discard_new(o->head.op.bs, o->s);
        o->s = NULL;
        snap_finish(o, rc);
        return;
    }
    blob_insert(o->head.op.bs, o->s);
    bs_blob_freeze(o->b, snap_frozen, o);
}

static void snap_start(struct bs_op *op)
{
    struct snap_op *o = (struct snap_op *)op;
    struct bs *bs = op->bs;
    struct bs_blob *b = bs_lookup(bs, o->src_id);
    int rc = 0;
    if (!b) {
        rc = -ENOENT;
    } else if (b->data_ro || b->md_ro) {
        bs_set_error("cannot snapshot read-only blob 0x%" PRIx64, b->md.id);
        rc = -EPERM;
    }
    /* S is persisted first naming B in its SNAPTMP internal xattr, so a crash before
     * the map moves leaves an orphan the next load removes */
    struct bs_blob *s = rc ? NULL : derived_blob_new(&o->head, b, BS_XATTR_SNAPTMP, &rc);
    if (!s) {
        snap_finish(o, rc);
        return;
    }
    o->b = b;
    o->s = s;
    if (rc) {
        snap_s_created(o, rc);
        return;
    }
    bs_blob_persist(s, snap_s_created, o);
}

void bs_blob_snapshot(struct bs *bs, bs_blob_id id, const struct bs_xattr *xattrs, size_t n,
                      bs_id_cb cb, void *arg)
{
    struct snap_op *o = id_op_new(bs, sizeof(*o), xattrs, n, cb, arg, snap_start);
    if (!o)
        return;
    o->src_id = id;
    bs_op_submit(bs, &o->head.op);
}

/* ---- clone (§7.3) ---- */

struct clone_op {
    struct id_op head;
    uint64_t snap_id;
    struct bs_blob *s, *c;
};

static void clone_persisted(void *arg, int rc)
{
    struct clone_op *o = arg;
    struct bs *bs = o->head.op.bs;
    uint64_t id = BS_INVALID_ID;
    if (rc) {
        blob_discard_new(bs, o->c);
    } else {
        blob_insert(bs, o->c);
        o->c->parent = o->s;
        bs_blob_add_clone(o->s, o->c);
        id = o->c->md.id;
    }
    id_op_finish(&o->head, rc, id);
}

static void clone_start(struct bs_op *op)
{
    struct clone_op *o = (struct clone_op *)op;
    struct bs *bs = op->bs;
    struct bs_blob *s = bs_lookup(bs, o->snap_id);
    int rc = 0;
    if (!s) {
        rc = -ENOENT;
    } else if (!(s->md.data_ro_flags & BS_DRO_READ_ONLY)) {
        bs_set_error("cannot clone blob 0x%" PRIx64 ": not a read-only snapshot", s->md.id);
        rc = -EINVAL;
    }
    struct bs_blob *c = rc ? NULL : derived_blob_new(&o->head, s, BS_XATTR_SNAP, &rc);
    if (!c) {
        id_op_finish(&o->head, rc, BS_INVALID_ID);
        return;
    }
    o->s = s;
    o->c = c;
    if (rc) {
        clone_persisted(o, rc);
        return;
    }
    bs_blob_persist(c, clone_persisted, o);
}

void bs_blob_clone(struct bs *bs, bs_blob_id snapshot, const struct bs_xattr *xattrs, size_t n,
                   bs_id_cb cb, void *arg)
{
    struct clone_op *o = id_op_new(bs, sizeof(*o), xattrs, n, cb, arg, clone_start);
    if (!o)
        return;
    o->snap_id = snapshot;
    bs_op_submit(bs, &o->head.op);
}

/* ---- cluster allocation for thin writes (§6.3) ---- */

#define COPY_CHUNK (1u << 20)

struct alloc {
    struct bs_blob *b;
    uint64_t slot, last;
    bs_cb cb;
    void *arg;
    uint32_t cluster, ep, src;
    bool new_ep;
    uint8_t *buf;
    uint64_t copied, chunk;
};

static void alloc_next(struct alloc *a);

static void alloc_finish(struct alloc *a, int rc)
{
    bs_cb cb = a->cb;
    void *arg = a->arg;
    free(a->buf);
    free(a);
    cb(arg, rc);
}

/* Gives back the slot's claims after a failure before it was published. */
static void alloc_undo(struct alloc *a)
{
    struct bs *bs = a->b->bs;
    bs_release_cluster(bs, a->cluster);
    if (a->new_ep) {
        bs_release_md_page(bs, a->ep);
        if (a->b->md.extent_pages[a->slot / BS_EXTENTS_PER_EP] == a->ep)
            a->b->md.extent_pages[a->slot / BS_EXTENTS_PER_EP] = 0;
    }
}

static void alloc_publish(struct alloc *a)
{
    atomic_fetch_add_explicit(&a->b->bs->stat_allocs, 1, memory_order_relaxed);
    __atomic_store_n(&a->b->md.clusters[a->slot], a->cluster, __ATOMIC_RELEASE);
    a->b->num_allocated++;
    a->slot++;
    alloc_next(a);
}

static void alloc_chain_persisted(void *arg, int rc)
{
    struct alloc *a = arg;
    if (rc) {
        alloc_undo(a);
        alloc_finish(a, rc);
        return;
    }
    alloc_publish(a);
}

static void alloc_ep_written(void *arg, int rc)
{
    struct alloc *a = arg;
    if (rc) {
        bs_set_error("blob 0x%" PRIx64 ": cannot write extent page %u: %s", a->b->md.id, a->ep,
                     strerror(-rc));
        alloc_undo(a);
        alloc_finish(a, rc);
        return;
    }
    if (a->new_ep) { /* the chain must list the new extent page */
        a->b->md.extent_pages[a->slot / BS_EXTENTS_PER_EP] = a->ep;
        bs_blob_persist(a->b, alloc_chain_persisted, a);
        return;
    }
    alloc_publish(a);
}

static void alloc_rle_persisted(void *arg, int rc)
{
    struct alloc *a = arg;
    if (rc) {
        __atomic_store_n(&a->b->md.clusters[a->slot], 0, __ATOMIC_RELEASE);
        a->b->num_allocated--;
        bs_release_cluster(a->b->bs, a->cluster);
        alloc_finish(a, rc);
        return;
    }
    atomic_fetch_add_explicit(&a->b->bs->stat_allocs, 1, memory_order_relaxed);
    a->slot++;
    alloc_next(a);
}

static void alloc_dirty(void *arg, int rc)
{
    struct alloc *a = arg;
    struct bs_blob *b = a->b;
    if (rc) {
        alloc_undo(a);
        alloc_finish(a, rc);
        return;
    }
    if (!b->md.use_extent_table) { /* legacy RLE blob: the whole chain carries the map */
        __atomic_store_n(&b->md.clusters[a->slot], a->cluster, __ATOMIC_RELEASE);
        b->num_allocated++;
        bs_blob_persist(b, alloc_rle_persisted, a);
        return;
    }
    uint8_t *pg = a->buf ? a->buf : aligned_alloc(BS_PG, BS_PG);
    if (!pg) {
        alloc_undo(a);
        alloc_finish(a, -ENOMEM);
        return;
    }
    a->buf = pg;
    bs_extent_page_encode(&b->md, b->md.id, a->slot / BS_EXTENTS_PER_EP, a->slot, a->cluster, pg);
    bs_md_write(b->bs, a->ep, pg, alloc_ep_written, a);
}

static void alloc_copy_step(void *arg, int rc);

static void alloc_copy_read(void *arg, int rc)
{
    struct alloc *a = arg;
    struct bs *bs = a->b->bs;
    if (rc) {
        alloc_copy_step(a, rc);
        return;
    }
    uint64_t off = (uint64_t)a->cluster * bs->sb.cluster_size + a->copied;
    a->copied += a->chunk;
    bs_dev_io(bs, BDEV_IO_WRITE, a->buf, off, a->chunk, alloc_copy_step, a);
}

static void alloc_copy_step(void *arg, int rc)
{
    struct alloc *a = arg;
    struct bs *bs = a->b->bs;
    if (rc) {
        bs_set_error("blob 0x%" PRIx64 ": copy-on-write of cluster %u failed: %s", a->b->md.id,
                     a->src, strerror(-rc));
        alloc_undo(a);
        alloc_finish(a, rc);
        return;
    }
    if (a->copied == bs->sb.cluster_size) {
        bs_mark_dirty(bs, alloc_dirty, a);
        return;
    }
    uint64_t off = (uint64_t)a->src * bs->sb.cluster_size + a->copied;
    bs_dev_io(bs, BDEV_IO_READ, a->buf, off, a->chunk, alloc_copy_read, a);
}

static void alloc_next(struct alloc *a)
{
    struct bs_blob *b = a->b;
    struct bs *bs = b->bs;
    while (a->slot <= a->last && a->slot < b->md.num_clusters && b->md.clusters[a->slot])
        a->slot++;
    if (a->slot > a->last || a->slot >= b->md.num_clusters || atomic_load(&b->deleted)) {
        alloc_finish(a, 0);
        return;
    }
    if (b->md_ro || b->data_ro) {
        alloc_finish(a, -EPERM);
        return;
    }
    a->new_ep = false;
    a->cluster = bs_claim_cluster(bs);
    if (a->cluster == BS_INVALID32) {
        /* a data-path condition, possibly sustained: no error log per I/O */
        log_debug("blobstore: blob 0x%" PRIx64 ": out of clusters", b->md.id);
        alloc_finish(a, -ENOSPC);
        return;
    }
    if (b->md.use_extent_table) {
        uint32_t ep = b->md.extent_pages[a->slot / BS_EXTENTS_PER_EP];
        if (!ep) {
            ep = bs_claim_md_page(bs, 1);
            if (ep == BS_INVALID32) {
                bs_release_cluster(bs, a->cluster);
                bs_set_error("blob 0x%" PRIx64 ": no free metadata page for an extent page",
                             b->md.id);
                alloc_finish(a, -ENOMEM);
                return;
            }
            a->new_ep = true;
        }
        a->ep = ep;
    }
    /* copy-on-write from the first ancestor that has the slot */
    a->src = 0;
    for (struct bs_blob *p = b->parent; p && !a->src; p = p->parent) {
        if (a->slot >= p->md.num_clusters)
            break;
        a->src = p->md.clusters[a->slot];
    }
    if (!a->src) {
        bs_mark_dirty(bs, alloc_dirty, a);
        return;
    }
    a->chunk = bs->sb.cluster_size < COPY_CHUNK ? bs->sb.cluster_size : COPY_CHUNK;
    a->copied = 0;
    free(a->buf);
    a->buf = aligned_alloc(BS_PG, a->chunk);
    if (!a->buf) {
        alloc_undo(a);
        alloc_finish(a, -ENOMEM);
        return;
    }
    alloc_copy_step(a, 0);
}

void bs_blob_alloc_range(struct bs_blob *b, uint64_t first, uint64_t last, bs_cb cb, void *arg)
{
    struct alloc *a = calloc(1, sizeof(*a));
    if (!a) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    a->b = b;
    a->slot = first;
    a->last = last;
    a->cb = cb;
    a->arg = arg;
    alloc_next(a);
}

/* ---- §7.5 at load ---- */

struct snaprec {
    struct bs_blob *x, *v;
    bs_cb cb;
    void *arg;
    uint64_t ep, n_eps;
};

static void snaprec_done(void *arg, int rc)
{
    struct snaprec *r = arg;
    bs_cb cb = r->cb;
    void *a = r->arg;
    free(r);
    cb(a, rc);
}

static void snaprec_frozen(void *arg, int rc)
{
    (void)rc;
    struct snaprec *r = arg;
    bs_blob_delete_internal(r->x, snaprec_done, r);
}

/* x is kept: its markers go, it is read-only again. */
static void snaprec_keep(void *arg, int rc)
{
    struct snaprec *r = arg;
    struct bs_blob *x = r->x;
    if (rc) {
        snaprec_done(r, rc);
        return;
    }
    remove_internal(x, BS_XATTR_SNAPRM);
    remove_internal(x, BS_XATTR_SNAPTMP);
    x->md.data_ro_flags |= BS_DRO_READ_ONLY;
    bs_blob_update_ro(x);
    bs_blob_persist(x, snaprec_done, r);
}

static void snaprec_ep_written(void *arg, int rc)
{
    struct snaprec *r = arg;
    struct bs_blob *v = r->v, *x = r->x;
    if (rc) {
        snaprec_keep(r, rc);
        return;
    }
    for (; r->ep < r->n_eps; r->ep++) {
        uint64_t first = r->ep * BS_EXTENTS_PER_EP, end = first + BS_EXTENTS_PER_EP;
        bool touched = false;
        for (uint64_t s = first; s < end && s < v->md.num_clusters && s < x->md.num_clusters; s++)
            if (v->md.clusters[s] && v->md.clusters[s] == x->md.clusters[s]) {
                v->md.clusters[s] = 0;
                v->num_allocated--;
                touched = true;
            }
        if (touched && v->md.extent_pages[r->ep]) {
            uint64_t e = r->ep++;
            write_extent_pages(v, e, e + 1, snaprec_ep_written, r);
            return;
        }
    }
    snaprec_keep(r, 0);
}

/* A merge interrupted before its clone v was persisted may have rewritten v's extent pages
 * in place with x's clusters: v gives them back (x still owns them). Returns false if there
 * is nothing to undo. */
static bool snaprec_unmerge(struct snaprec *r)
{
    struct bs_blob *v = r->v, *x = r->x;
    bool any = false;
    for (uint64_t s = 0; s < v->md.num_clusters && s < x->md.num_clusters && !any; s++)
        any = v->md.clusters[s] && v->md.clusters[s] == x->md.clusters[s];
    if (!any || !v->md.use_extent_table)
        return false;
    log_info("blobstore: blob 0x%" PRIx64 ": undoing a partial merge of snapshot 0x%" PRIx64,
             v->md.id, x->md.id);
    r->ep = 0;
    r->n_eps = v->md.num_extent_pages;
    snaprec_ep_written(r, 0);
    return true;
}

void bs_blob_snapshot_recover(struct bs_blob *x, bs_cb cb, void *arg)
{
    bool rm = bs_xattr_find(&x->md.ixattrs, BS_XATTR_SNAPRM) >= 0;
    const char *name = rm ? BS_XATTR_SNAPRM : BS_XATTR_SNAPTMP;
    const struct bs_xattr_ent *e = &x->md.ixattrs.v[bs_xattr_find(&x->md.ixattrs, name)];
    struct bs_blob *v = e->len == 8 ? bs_lookup(x->bs, bs_le64(e->value)) : NULL;
    if (!v) {
        log_warn("blobstore: blob 0x%" PRIx64 " has %s but the blob it names is missing: left as is",
                 x->md.id, name);
        bs_complete_later(cb, arg, 0);
        return;
    }
    struct snaprec *r = calloc(1, sizeof(*r));
    if (!r) {
        bs_complete_later(cb, arg, -ENOMEM);
        return;
    }
    r->x = x;
    r->cb = cb;
    r->arg = arg;
    if (v->parent == x) {
        log_info("blobstore: finishing the interrupted snapshot operation on blob 0x%" PRIx64,
                 x->md.id);
        r->v = v;
        if (rm && snaprec_unmerge(r))
            return;
        snaprec_keep(r, 0);
        return;
    }
    if (x->n_clones) {
        log_error("blobstore: blob 0x%" PRIx64 " has %s and clones: left as is", x->md.id, name);
        free(r);
        bs_complete_later(cb, arg, 0);
        return;
    }
    log_info("blobstore: removing blob 0x%" PRIx64 " left by an interrupted snapshot operation",
             x->md.id);
    /* The clusters and extent pages it shares with v belong to v now (all of them for a
     * half-created snapshot; a half-merged one also has clusters of its own, freed here
     * rather than leaked until the next recovery). */
    for (uint64_t s = 0; s < x->md.num_clusters; s++)
        if (x->md.clusters[s] &&
            (!rm || (s < v->md.num_clusters && x->md.clusters[s] == v->md.clusters[s]))) {
            x->md.clusters[s] = 0;
            x->num_allocated--;
        }
    for (uint64_t s = 0; s < x->md.num_extent_pages; s++)
        if (!rm || (s < v->md.num_extent_pages && x->md.extent_pages[s] == v->md.extent_pages[s]))
            x->md.extent_pages[s] = 0;
    x->md.invalid_flags |= BS_IF_THIN;
    bs_blob_freeze(x, snaprec_frozen, r);
}

/* ---- accessors ---- */

struct bs_blob *bs_blob_lookup(struct bs *bs, bs_blob_id id) { return bs_lookup(bs, id); }

static struct bs_blob *blob_from(struct bs *bs, uint32_t idx)
{
    for (uint32_t i = idx; i < bs->sb.md_len; i++)
        if (bs->by_page[i])
            return bs->by_page[i];
    return NULL;
}

struct bs_blob *bs_blob_first(struct bs *bs) { return blob_from(bs, 0); }
struct bs_blob *bs_blob_next(struct bs_blob *b) { return blob_from(b->bs, (uint32_t)b->md.id + 1); }
bs_blob_id bs_blob_get_id(const struct bs_blob *b) { return b->md.id; }
uint64_t bs_blob_num_clusters(const struct bs_blob *b) { return b->md.num_clusters; }
uint64_t bs_blob_num_allocated_clusters(const struct bs_blob *b) { return b->num_allocated; }
uint64_t bs_blob_num_io_units(const struct bs_blob *b)
{
    return b->md.num_clusters * b->bs->blocks_per_cluster;
}
bool bs_blob_is_thin(const struct bs_blob *b) { return b->md.invalid_flags & BS_IF_THIN; }
bool bs_blob_is_read_only(const struct bs_blob *b) { return b->data_ro; }
bool bs_blob_is_snapshot(const struct bs_blob *b)
{
    return b->n_clones || (b->md.data_ro_flags & BS_DRO_READ_ONLY);
}
bs_blob_id bs_blob_parent(const struct bs_blob *b) { return b->parent ? b->parent->md.id : BS_INVALID_ID; }
size_t bs_blob_clones(const struct bs_blob *b, bs_blob_id *out, size_t max)
{
    for (size_t i = 0; i < b->n_clones && i < max; i++)
        out[i] = b->clones[i]->md.id;
    return b->n_clones;
}
enum bs_clear_method bs_blob_clear_method(const struct bs_blob *b)
{
    return (enum bs_clear_method)(b->md.md_ro_flags & BS_MRO_CLEAR_MASK);
}

int bs_blob_get_xattr(const struct bs_blob *b, const char *name, const void **value, size_t *len)
{
    int i = name ? bs_xattr_find(&b->md.xattrs, name) : -1;
    if (i < 0)
        return -ENOENT;
    if (value)
        *value = b->md.xattrs.v[i].value;
    if (len)
        *len = b->md.xattrs.v[i].len;
    return 0;
}

int bs_blob_set_xattr(struct bs_blob *b, const char *name, const void *value, size_t len)
{
    if (b->md_ro)
        return -EPERM;
    int rc = bs_xattr_set(&b->md.xattrs, name, value, len);
    if (!rc)
        b->dirty = true;
    return rc;
}

int bs_blob_remove_xattr(struct bs_blob *b, const char *name)
{
    if (b->md_ro)
        return -EPERM;
    if (!name)
        return -ENOENT;
    int rc = bs_xattr_remove(&b->md.xattrs, name);
    if (!rc)
        b->dirty = true;
    return rc;
}

const char **bs_blob_xattr_names(const struct bs_blob *b)
{
    const char **v = calloc(b->md.xattrs.n + 1, sizeof(*v));
    if (!v)
        return NULL;
    for (uint32_t i = 0; i < b->md.xattrs.n; i++)
        v[i] = b->md.xattrs.v[i].name;
    return v;
}

/* The blob data path (any reactor): blob offsets are translated to device LBAs through the
 * cluster map, split at cluster boundaries (contiguous clusters are merged into one device
 * I/O), unallocated clusters read from the parent snapshot chain or as zeroes, and the
 * first write to an unallocated cluster of a thin blob asks the primary to allocate it
 * (extent page and chain written first) before the data write is issued here.
 *
 * Cluster map safety: every I/O counts itself in its blob's per-reactor in-flight counter
 * while it looks at the map (and until its device I/Os complete). Operations that change
 * the map array or a blob's parent (resize, snapshot, delete) first freeze the blob: new
 * I/Os are parked on their reactor's channel and the primary waits for the counters to
 * drain; after the change a message round to every reactor resubmits the parked I/Os.
 * Thin allocation only stores single 32-bit entries (atomic, release) and needs no freeze.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bs_internal.h"
#include "core/log.h"

#define BS_CHILD_IOV 8

struct bs_child {
    struct bdev_io bio;
    struct bdev_io *parent;
    struct bs_chan *ch;
    struct bs_child *next;
    struct iovec *iov; /* inl or heap */
    struct iovec inl[BS_CHILD_IOV];
};

/* Our state in the caller's bdev_io (driver area). */
struct bs_io_ctx {
    struct bs_blob *blob;
    struct bs_chan *ch;
    struct bdev_io *next; /* parked while the blob is frozen */
    uint64_t blob_id;
    uint64_t alloc_first, alloc_last;
    uint32_t pending;
    int status;
    bool entered; /* counted in blob->inflight */
};

_Static_assert(sizeof(struct bs_io_ctx) <= BDEV_IO_DRIVER_CTX, "bs_io_ctx too large");

static inline struct bs_io_ctx *ioctx(struct bdev_io *io) { return (struct bs_io_ctx *)io->driver; }

static void io_submit(struct bdev_io *io);

/* ---- channels and child I/Os ---- */

static struct bs_chan *get_chan(struct bs *bs)
{
    struct reactor *r = reactor_self();
    if (!r)
        return NULL;
    int idx = reactor_index(r);
    struct bs_chan *ch = atomic_load_explicit(&bs->chans[idx], memory_order_acquire);
    if (ch)
        return ch;
    ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->bch = bdev_get_channel(bs->desc);
    if (!ch->bch) {
        free(ch);
        return NULL;
    }
    ch->bs = bs;
    ch->idx = idx;
    atomic_store_explicit(&bs->chans[idx], ch, memory_order_release);
    return ch;
}

void bs_chans_free(struct bs *bs)
{
    for (int i = 0; i < BDEV_MAX_REACTORS; i++) {
        struct bs_chan *ch = atomic_load(&bs->chans[i]);
        if (!ch)
            continue;
        while (ch->free_children) {
            struct bs_child *c = ch->free_children;
            ch->free_children = c->next;
            free(c);
        }
        free(ch);
        atomic_store(&bs->chans[i], NULL);
    }
}

static struct bs_child *child_get(struct bs_chan *ch)
{
    struct bs_child *c = ch->free_children;
    if (c)
        ch->free_children = c->next;
    else if (!(c = malloc(sizeof(*c))))
        return NULL;
    c->ch = ch;
    c->iov = c->inl;
    return c;
}

static void child_put(struct bs_child *c)
{
    if (c->iov != c->inl)
        free(c->iov);
    c->next = c->ch->free_children;
    c->ch->free_children = c;
}

/* ---- completion ---- */

static void io_finish(struct bdev_io *io, int status)
{
    struct bs_io_ctx *x = ioctx(io);
    if (x->entered) {
        x->entered = false;
        atomic_fetch_sub_explicit(&x->blob->inflight[x->ch->idx].n, 1, memory_order_release);
    }
    io->cb(io, status, io->cb_arg);
}

static void io_deferred_done(struct reactor_deferred *d)
{
    struct bdev_io *io = (struct bdev_io *)((char *)d - offsetof(struct bdev_io, deferred));
    io_finish(io, io->status);
}

/* Completes on a later loop turn (never inside the submitter's call). */
static void io_finish_later(struct bdev_io *io, int status)
{
    io->status = status;
    io->deferred.fn = io_deferred_done;
    reactor_defer(&io->deferred);
}

static void io_part_done(struct bdev_io *io, int status, bool later)
{
    struct bs_io_ctx *x = ioctx(io);
    if (status && !x->status)
        x->status = status;
    if (--x->pending == 0) {
        if (later)
            io_finish_later(io, x->status);
        else
            io_finish(io, x->status);
    }
}

static void child_done(struct bdev_io *bio, int status, void *arg)
{
    (void)bio;
    struct bs_child *c = arg;
    struct bdev_io *io = c->parent;
    child_put(c);
    io_part_done(io, status, false);
}

/* ---- splitting ---- */

struct cursor {
    const struct iovec *iov;
    int iovcnt;
    int i;
    size_t off;
};

static void cursor_zero(struct cursor *cu, size_t bytes)
{
    while (bytes && cu->i < cu->iovcnt) {
        size_t n = cu->iov[cu->i].iov_len - cu->off;
        if (n > bytes)
            n = bytes;
        memset((char *)cu->iov[cu->i].iov_base + cu->off, 0, n);
        bytes -= n;
        cu->off += n;
        if (cu->off == cu->iov[cu->i].iov_len) {
            cu->i++;
            cu->off = 0;
        }
    }
}

/* Fills c->iov with the next `bytes` of the caller's buffers; returns the count. */
static int cursor_take(struct cursor *cu, struct bs_child *c, size_t bytes)
{
    int n = 0;
    size_t left = bytes, off = cu->off;
    for (int i = cu->i; left && i < cu->iovcnt; i++) {
        size_t len = cu->iov[i].iov_len - off;
        left -= len < left ? len : left;
        off = 0;
        n++;
    }
    if (n > BS_CHILD_IOV) {
        c->iov = malloc((size_t)n * sizeof(struct iovec));
        if (!c->iov) {
            c->iov = c->inl;
            return -1;
        }
    }
    int k = 0;
    while (bytes && cu->i < cu->iovcnt) {
        size_t len = cu->iov[cu->i].iov_len - cu->off;
        if (len > bytes)
            len = bytes;
        c->iov[k].iov_base = (char *)cu->iov[cu->i].iov_base + cu->off;
        c->iov[k].iov_len = len;
        k++;
        bytes -= len;
        cu->off += len;
        if (cu->off == cu->iov[cu->i].iov_len) {
            cu->i++;
            cu->off = 0;
        }
    }
    return k;
}

static void cursor_skip(struct cursor *cu, size_t bytes)
{
    while (bytes && cu->i < cu->iovcnt) {
        size_t n = cu->iov[cu->i].iov_len - cu->off;
        if (n > bytes)
            n = bytes;
        bytes -= n;
        cu->off += n;
        if (cu->off == cu->iov[cu->i].iov_len) {
            cu->i++;
            cu->off = 0;
        }
    }
}

enum seg_kind { SEG_NONE, SEG_ZERO, SEG_SKIP, SEG_DEV };

struct seg {
    enum seg_kind kind;
    uint64_t lba, n;
};

static void seg_flush(struct bdev_io *io, struct cursor *cu, struct seg *s)
{
    struct bs_io_ctx *x = ioctx(io);
    struct bs_chan *ch = x->ch;
    size_t bytes = s->n * ch->bs->blocklen;
    if (s->kind == SEG_NONE)
        return;
    if (s->kind == SEG_ZERO) {
        cursor_zero(cu, bytes);
        s->kind = SEG_NONE;
        return;
    }
    if (s->kind == SEG_SKIP) {
        s->kind = SEG_NONE;
        return;
    }
    s->kind = SEG_NONE;
    struct bs_child *c = child_get(ch);
    if (!c) {
        if (!x->status)
            x->status = -ENOMEM;
        cursor_skip(cu, bytes);
        return;
    }
    c->parent = io;
    int cnt = 0;
    if (io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE) {
        cnt = cursor_take(cu, c, bytes);
        if (cnt <= 0) {
            child_put(c);
            if (!x->status)
                x->status = -ENOMEM;
            return;
        }
    }
    x->pending++;
    switch (io->type) {
    case BDEV_IO_READ:
        bdev_readv(ch->bch, &c->bio, c->iov, cnt, s->lba, s->n, child_done, c);
        break;
    case BDEV_IO_WRITE:
        bdev_writev(ch->bch, &c->bio, c->iov, cnt, s->lba, s->n, child_done, c);
        break;
    case BDEV_IO_WRITE_ZEROES:
        bdev_write_zeroes(ch->bch, &c->bio, s->lba, s->n, child_done, c);
        break;
    default:
        bdev_unmap(ch->bch, &c->bio, s->lba, s->n, child_done, c);
        break;
    }
}

/* Cluster backing slot k for a read: the blob's own, else the first ancestor's that has
 * it (thin blobs), 0 for zeroes. */
static uint32_t resolve_read(const struct bs_blob *b, uint64_t slot)
{
    for (const struct bs_blob *x = b; x; x = x->parent) {
        if (slot >= x->md.num_clusters)
            return 0;
        uint32_t c = __atomic_load_n(&x->md.clusters[slot], __ATOMIC_ACQUIRE);
        if (c || !(x->md.invalid_flags & BS_IF_THIN))
            return c;
    }
    return 0;
}

/* ---- allocation round trip to the primary ---- */

struct alloc_op {
    struct bs_op op;
    struct bdev_io *io;
    int rc;
};

static void alloc_reply(void *arg)
{
    struct bdev_io *io = arg;
    struct bs_io_ctx *x = ioctx(io);
    if (x->status) {
        io_finish(io, x->status);
        return;
    }
    io_submit(io); /* retry: the map now has the clusters */
}

static void alloc_send_back(struct bdev_io *io, int rc)
{
    struct bs_io_ctx *x = ioctx(io);
    x->status = rc;
    while (reactor_send(reactor_get(x->ch->idx), alloc_reply, io))
        ;
}

static void alloc_op_done(void *arg, int rc)
{
    struct alloc_op *o = arg;
    struct bdev_io *io = o->io;
    bs_op_done(&o->op);
    free(o);
    alloc_send_back(io, rc);
}

static void alloc_op_start(struct bs_op *op)
{
    struct alloc_op *o = (struct alloc_op *)op;
    struct bs_io_ctx *x = ioctx(o->io);
    struct bs_blob *b = bs_lookup(op->bs, x->blob_id);
    if (!b || b != x->blob || atomic_load(&b->deleted)) {
        alloc_op_done(o, -ENOENT);
        return;
    }
    bs_blob_alloc_range(b, x->alloc_first, x->alloc_last, alloc_op_done, o);
}

static void alloc_on_primary(void *arg)
{
    struct bdev_io *io = arg;
    struct bs_io_ctx *x = ioctx(io);
    struct bs *bs = x->ch->bs;
    struct alloc_op *o = bs->closing ? NULL : calloc(1, sizeof(*o));
    if (!o) {
        alloc_send_back(io, bs->closing ? -ENODEV : -ENOMEM);
        return;
    }
    o->io = io;
    o->op.start = alloc_op_start;
    bs_op_submit(bs, &o->op);
}

static void request_alloc(struct bdev_io *io, uint64_t first, uint64_t last)
{
    struct bs_io_ctx *x = ioctx(io);
    /* not in flight while waiting: a freeze must not wait for us */
    x->entered = false;
    atomic_fetch_sub_explicit(&x->blob->inflight[x->ch->idx].n, 1, memory_order_release);
    x->alloc_first = first;
    x->alloc_last = last;
    if (reactor_send(reactor_primary(), alloc_on_primary, io))
        io_finish_later(io, -ENOMEM);
}

/* ---- dispatch ---- */

static void dispatch(struct bdev_io *io)
{
    struct bs_io_ctx *x = ioctx(io);
    struct bs_blob *b = x->blob;
    struct bs *bs = b->bs;
    uint64_t bpc = bs->blocks_per_cluster;
    uint64_t pos = io->offset_blocks, end = pos + io->num_blocks;
    enum bdev_io_type t = io->type;

    if (t == BDEV_IO_WRITE || t == BDEV_IO_WRITE_ZEROES) {
        uint64_t first = UINT64_MAX, last = 0;
        for (uint64_t s = pos / bpc; s <= (end - 1) / bpc; s++)
            if (!__atomic_load_n(&b->md.clusters[s], __ATOMIC_ACQUIRE)) {
                if (first == UINT64_MAX)
                    first = s;
                last = s;
            }
        if (first != UINT64_MAX) {
            request_alloc(io, first, last);
            return;
        }
    }
    struct cursor cu = {.iov = io->iov, .iovcnt = io->iovcnt};
    struct seg sg = {.kind = SEG_NONE};
    x->pending = 1;
    x->status = 0;
    while (pos < end) {
        uint64_t slot = pos / bpc, in = pos % bpc;
        uint64_t n = end - pos < bpc - in ? end - pos : bpc - in;
        uint32_t c = t == BDEV_IO_READ ? resolve_read(b, slot)
                                       : __atomic_load_n(&b->md.clusters[slot], __ATOMIC_ACQUIRE);
        struct seg ns;
        if (c) {
            ns = (struct seg){SEG_DEV, (uint64_t)c * bpc + in, n};
        } else {
            ns = (struct seg){t == BDEV_IO_READ ? SEG_ZERO : SEG_SKIP, 0, n};
        }
        if (sg.kind == ns.kind && (ns.kind != SEG_DEV || sg.lba + sg.n == ns.lba)) {
            sg.n += n;
        } else {
            seg_flush(io, &cu, &sg);
            sg = ns;
        }
        pos += n;
    }
    seg_flush(io, &cu, &sg);
    io_part_done(io, 0, true);
}

static void park(struct bs_chan *ch, struct bdev_io *io)
{
    ioctx(io)->next = NULL;
    if (ch->frozen_tail)
        ioctx(ch->frozen_tail)->next = io;
    else
        ch->frozen_head = io;
    ch->frozen_tail = io;
}

static void io_submit(struct bdev_io *io)
{
    struct bs_io_ctx *x = ioctx(io);
    struct bs_blob *b = x->blob;
    struct bs *bs = b->bs;
    struct bs_chan *ch = x->ch ? x->ch : get_chan(bs);
    if (!ch) {
        io_finish_later(io, -ENOMEM);
        return;
    }
    x->ch = ch;
    if (atomic_load(&b->deleted)) {
        io_finish_later(io, -ENOENT);
        return;
    }
    /* Dekker with bs_blob_freeze: either the primary sees our count or we see frozen */
    atomic_fetch_add(&b->inflight[ch->idx].n, 1);
    if (atomic_load(&b->frozen)) {
        atomic_fetch_sub(&b->inflight[ch->idx].n, 1);
        atomic_fetch_add_explicit(&bs->stat_parked, 1, memory_order_relaxed);
        park(ch, io);
        return;
    }
    x->entered = true;
    enum bdev_io_type t = io->type;
    if (t == BDEV_IO_FLUSH) {
        struct bs_child *c = child_get(ch);
        if (!c) {
            io_finish_later(io, -ENOMEM);
            return;
        }
        c->parent = io;
        x->pending = 1;
        x->status = 0;
        bdev_flush(ch->bch, &c->bio, 0, atomic_load(&bs->bdev->num_blocks), child_done, c);
        return;
    }
    if (t != BDEV_IO_READ && b->data_ro) {
        io_finish_later(io, -EPERM);
        return;
    }
    uint64_t size = b->md.num_clusters * bs->blocks_per_cluster;
    if (!io->num_blocks || io->offset_blocks >= size || io->num_blocks > size - io->offset_blocks) {
        io_finish_later(io, -EINVAL);
        return;
    }
    if (t == BDEV_IO_UNMAP && !bs->dev_unmap) { /* advisory: nothing to do */
        io_finish_later(io, 0);
        return;
    }
    if (t == BDEV_IO_READ || t == BDEV_IO_WRITE) {
        uint64_t len = 0;
        for (int i = 0; i < io->iovcnt; i++)
            len += io->iov[i].iov_len;
        if (io->iovcnt <= 0 || len != io->num_blocks * bs->blocklen) {
            io_finish_later(io, -EINVAL);
            return;
        }
    }
    dispatch(io);
}

static void io_start(struct bs_blob *b, struct bdev_io *io, enum bdev_io_type t, struct iovec *iov,
                     int iovcnt, uint64_t offset, uint64_t len, bdev_io_cb cb, void *arg)
{
    io->type = t;
    io->iov = iov;
    io->iovcnt = iovcnt;
    io->offset_blocks = offset;
    io->num_blocks = len;
    io->cb = cb;
    io->cb_arg = arg;
    io->bdev = NULL;
    io->ch = NULL;
    io->user_iov = NULL;
    io->status = 0;
    struct bs_io_ctx *x = ioctx(io);
    memset(x, 0, sizeof(*x));
    x->blob = b;
    x->blob_id = b->md.id;
    io_submit(io);
}

void bs_blob_readv(struct bs_blob *b, struct bdev_io *io, struct iovec *iov, int iovcnt,
                   uint64_t offset, uint64_t len, bdev_io_cb cb, void *arg)
{
    io_start(b, io, BDEV_IO_READ, iov, iovcnt, offset, len, cb, arg);
}

void bs_blob_writev(struct bs_blob *b, struct bdev_io *io, struct iovec *iov, int iovcnt,
                    uint64_t offset, uint64_t len, bdev_io_cb cb, void *arg)
{
    io_start(b, io, BDEV_IO_WRITE, iov, iovcnt, offset, len, cb, arg);
}

void bs_blob_write_zeroes(struct bs_blob *b, struct bdev_io *io, uint64_t offset, uint64_t len,
                          bdev_io_cb cb, void *arg)
{
    io_start(b, io, BDEV_IO_WRITE_ZEROES, NULL, 0, offset, len, cb, arg);
}

void bs_blob_unmap(struct bs_blob *b, struct bdev_io *io, uint64_t offset, uint64_t len,
                   bdev_io_cb cb, void *arg)
{
    io_start(b, io, BDEV_IO_UNMAP, NULL, 0, offset, len, cb, arg);
}

void bs_blob_flush(struct bs_blob *b, struct bdev_io *io, bdev_io_cb cb, void *arg)
{
    io_start(b, io, BDEV_IO_FLUSH, NULL, 0, 0, 0, cb, arg);
}

/* ---- freeze / thaw ---- */

struct freeze {
    struct bs_blob *b;
    bs_cb cb;
    void *arg;
};

static bool drained(const struct bs_blob *b)
{
    int n = reactor_count() > 0 ? reactor_count() : 1;
    for (int i = 0; i < n; i++)
        if (atomic_load(&b->inflight[i].n))
            return false;
    return true;
}

static void freeze_check(void *arg);

static void freeze_retry(void *arg, int rc)
{
    (void)rc;
    freeze_check(arg);
}

/* Polls the in-flight counters every 20 us until they are all zero. */
static void freeze_check(void *arg)
{
    struct freeze *f = arg;
    if (!drained(f->b)) {
        if (!reactor_timer_start(20, 0, freeze_check, f))
            bs_complete_later(freeze_retry, f, 0); /* no timer: try on the next turn */
        return;
    }
    bs_cb cb = f->cb;
    void *a = f->arg;
    free(f);
    cb(a, 0);
}

void bs_blob_freeze(struct bs_blob *b, bs_cb cb, void *arg)
{
    atomic_store(&b->frozen, true);
    if (drained(b)) {
        bs_complete_later(cb, arg, 0);
        return;
    }
    struct freeze *f = malloc(sizeof(*f));
    while (!f)
        f = malloc(sizeof(*f));
    f->b = b;
    f->cb = cb;
    f->arg = arg;
    freeze_check(f);
}

struct thaw {
    struct bs_blob *b;
    struct bs *bs;
    atomic_int pending;
    bs_cb cb;
    void *arg;
};

static void thaw_done(void *arg)
{
    struct thaw *t = arg;
    bs_cb cb = t->cb;
    void *a = t->arg;
    free(t);
    cb(a, 0);
}

static void thaw_on_reactor(void *arg)
{
    struct thaw *t = arg;
    struct bs_chan *ch = atomic_load(&t->bs->chans[reactor_index(reactor_self())]);
    struct bdev_io *mine = NULL, *mine_tail = NULL;
    if (ch) {
        struct bdev_io *io = ch->frozen_head, *prev = NULL;
        while (io) {
            struct bdev_io *next = ioctx(io)->next;
            if (ioctx(io)->blob == t->b) {
                if (prev)
                    ioctx(prev)->next = next;
                else
                    ch->frozen_head = next;
                if (ch->frozen_tail == io)
                    ch->frozen_tail = prev;
                ioctx(io)->next = NULL;
                if (mine_tail)
                    ioctx(mine_tail)->next = io;
                else
                    mine = io;
                mine_tail = io;
            } else {
                prev = io;
            }
            io = next;
        }
    }
    bool deleted = atomic_load(&t->b->deleted);
    while (mine) {
        struct bdev_io *next = ioctx(mine)->next;
        if (deleted)
            io_finish_later(mine, -ENOENT);
        else
            io_submit(mine);
        mine = next;
    }
    if (atomic_fetch_sub(&t->pending, 1) == 1)
        while (reactor_send(reactor_primary(), thaw_done, t))
            ;
}

void bs_blob_thaw(struct bs_blob *b, bs_cb cb, void *arg)
{
    atomic_store(&b->frozen, false);
    struct thaw *t = calloc(1, sizeof(*t));
    while (!t)
        t = calloc(1, sizeof(*t));
    int n = reactor_count();
    t->b = b;
    t->bs = b->bs;
    t->cb = cb;
    t->arg = arg;
    atomic_init(&t->pending, n);
    for (int i = 0; i < n; i++)
        while (reactor_send(reactor_get(i), thaw_on_reactor, t))
            ;
}

#include "bdev.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* Per-channel counters. Each has a single writer (the channel's reactor) and is read by
 * the primary: relaxed atomics keep that race-free at the cost of plain moves. */
enum stat_idx {
    S_READ_OPS, S_READ_BYTES, S_WRITE_OPS, S_WRITE_BYTES, S_UNMAP_OPS, S_UNMAP_BYTES,
    S_WZ_OPS, S_WZ_BYTES, S_FLUSH_OPS, S_RESET_OPS, S_ERRORS,
    S_READ_LAT, S_READ_MIN, S_READ_MAX, S_WRITE_LAT, S_WRITE_MIN, S_WRITE_MAX,
    S_UNMAP_LAT, S_UNMAP_MIN, S_UNMAP_MAX, S_COUNT,
};

struct bdev_channel {
    struct bdev *bdev;
    struct reactor *reactor;
    void *ctx;
    _Atomic uint64_t st[S_COUNT];
};

struct bdev_desc {
    struct bdev *bdev;
    bool claimed;
};

static struct bdev *g_bdevs;

void *bdev_channel_ctx(const struct bdev_channel *ch) { return ch->ctx; }

/* ---- table ---- */

struct bdev *bdev_alloc(const char *name, const char *product_name, const struct bdev_ops *ops)
{
    struct bdev *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->name = strdup(name);
    b->product_name = strdup(product_name);
    if (!b->name || !b->product_name) {
        bdev_free(b);
        return NULL;
    }
    b->ops = ops;
    b->required_alignment = 1;
    uuid_generate_random(b->uuid);
    return b;
}

void bdev_free(struct bdev *b)
{
    if (!b)
        return;
    while (b->aliases) {
        struct bdev_alias *a = b->aliases;
        b->aliases = a->next;
        free(a->name);
        free(a);
    }
    free(b->name);
    free(b->product_name);
    free(b->claimed_by);
    free(b->shared_uri);
    free(b);
}

struct bdev *bdev_first(void) { return g_bdevs; }
struct bdev *bdev_next(struct bdev *b) { return b->next; }

bool bdev_has_alias(const struct bdev *b, const char *alias)
{
    for (const struct bdev_alias *a = b->aliases; a; a = a->next)
        if (!strcmp(a->name, alias))
            return true;
    return false;
}

struct bdev *bdev_lookup(const char *name)
{
    for (struct bdev *b = g_bdevs; b; b = b->next)
        if (!strcmp(b->name, name) || bdev_has_alias(b, name))
            return b;
    return NULL;
}

struct bdev *bdev_lookup_uuid(const uuid_t uuid)
{
    for (struct bdev *b = g_bdevs; b; b = b->next)
        if (!uuid_compare(b->uuid, uuid))
            return b;
    return NULL;
}

int bdev_add_alias(struct bdev *b, const char *alias)
{
    struct bdev *other = bdev_lookup(alias);
    if (other && other != b)
        return -EEXIST;
    if (bdev_has_alias(b, alias))
        return 0;
    struct bdev_alias *a = calloc(1, sizeof(*a));
    if (!a || !(a->name = strdup(alias))) {
        free(a);
        return -ENOMEM;
    }
    /* Appended: the first alias is the creation URI. */
    struct bdev_alias **pp = &b->aliases;
    while (*pp)
        pp = &(*pp)->next;
    *pp = a;
    return 0;
}

int bdev_remove_alias(struct bdev *b, const char *alias)
{
    for (struct bdev_alias **pp = &b->aliases; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, alias)) {
            struct bdev_alias *a = *pp;
            *pp = a->next;
            free(a->name);
            free(a);
            return 0;
        }
    return -ENOENT;
}

int bdev_register(struct bdev *b)
{
    if (bdev_lookup(b->name) || bdev_lookup_uuid(b->uuid))
        return -EEXIST;
    for (struct bdev_alias *a = b->aliases; a; a = a->next)
        if (bdev_lookup(a->name))
            return -EEXIST;
    if (!b->blk_size || !b->num_blocks)
        return -EINVAL;
    struct bdev **pp = &g_bdevs;
    while (*pp)
        pp = &(*pp)->next;
    b->next = NULL;
    *pp = b;
    log_info("bdev %s registered (%s, %" PRIu64 " x %u bytes)", b->name, b->ops->driver,
             b->num_blocks, b->blk_size);
    return 0;
}

struct unreg {
    struct bdev *b;
    atomic_int pending;
    void (*done)(void *, int);
    void *arg;
};

static void unreg_finish(void *arg)
{
    struct unreg *u = arg;
    struct bdev *b = u->b;
    log_info("bdev %s unregistered", b->name);
    if (b->ops->destruct)
        b->ops->destruct(b);
    bdev_free(b);
    if (u->done)
        u->done(u->arg, 0);
    free(u);
}

static void unreg_channel(void *arg)
{
    struct unreg *u = arg;
    int idx = reactor_index(reactor_self());
    struct bdev_channel *ch = atomic_load(&u->b->channels[idx]);
    if (ch) {
        atomic_store(&u->b->channels[idx], NULL);
        if (u->b->ops->channel_destroy)
            u->b->ops->channel_destroy(u->b, ch->ctx);
        free(ch);
    }
    if (atomic_fetch_sub(&u->pending, 1) == 1)
        while (reactor_send(reactor_primary(), unreg_finish, u))
            ; /* ENOMEM: retry rather than leak the device */
}

int bdev_unregister(struct bdev *b, void (*done)(void *, int), void *arg)
{
    if (b->open_count || b->unregistering)
        return -EBUSY;
    struct unreg *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    for (struct bdev **pp = &g_bdevs; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    b->unregistering = true;
    u->b = b;
    u->done = done;
    u->arg = arg;
    /* One visit per reactor (each owns its channel slot), then finish on the primary. */
    int n = reactor_count();
    atomic_init(&u->pending, n);
    for (int i = 0; i < n; i++)
        while (reactor_send(reactor_get(i), unreg_channel, u))
            ;
    return 0;
}

struct unreg_all {
    void (*done)(void *);
    void *arg;
};

static void unreg_all_step(void *arg, int rc);

/* One at a time: each unregister completes (its channels gone) before the next. */
static void unreg_all_next(struct unreg_all *u)
{
    struct bdev *last = NULL;
    for (struct bdev *b = g_bdevs; b; b = b->next)
        if (!b->open_count)
            last = b;
    if (!last) {
        for (struct bdev *b = g_bdevs; b; b = b->next)
            log_warn("bdev %s still open at shutdown: left registered", b->name);
        u->done(u->arg);
        free(u);
        return;
    }
    if (bdev_unregister(last, unreg_all_step, u))
        unreg_all_step(u, 0);
}

static void unreg_all_step(void *arg, int rc)
{
    (void)rc;
    unreg_all_next(arg);
}

void bdev_unregister_all(void (*done)(void *), void *arg)
{
    struct unreg_all *u = malloc(sizeof(*u));
    if (!u) {
        done(arg);
        return;
    }
    u->done = done;
    u->arg = arg;
    unreg_all_next(u);
}

bool bdev_io_type_supported(const struct bdev *b, enum bdev_io_type t)
{
    if (t == BDEV_IO_READ || t == BDEV_IO_WRITE || t == BDEV_IO_RESET)
        return true;
    if (b->ops->supports && b->ops->supports(b, t))
        return true;
    /* Emulated: write-zeroes by writing zeroes, flush as a no-op where nothing caches. */
    return t == BDEV_IO_WRITE_ZEROES;
}

/* ---- open / claim ---- */

int bdev_open_bdev(struct bdev *b, struct bdev_desc **out)
{
    if (b->unregistering)
        return -ENODEV;
    struct bdev_desc *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->bdev = b;
    b->open_count++;
    *out = d;
    return 0;
}

int bdev_open(const char *name, struct bdev_desc **out)
{
    struct bdev *b = bdev_lookup(name);
    return b ? bdev_open_bdev(b, out) : -ENODEV;
}

void bdev_close(struct bdev_desc *d)
{
    if (!d)
        return;
    if (d->claimed)
        bdev_release(d);
    d->bdev->open_count--;
    free(d);
}

struct bdev *bdev_desc_bdev(const struct bdev_desc *d) { return d->bdev; }

int bdev_claim(struct bdev_desc *d, const char *module)
{
    if (d->bdev->claimed_by)
        return d->claimed ? 0 : -EBUSY;
    d->bdev->claimed_by = strdup(module);
    if (!d->bdev->claimed_by)
        return -ENOMEM;
    d->claimed = true;
    return 0;
}

void bdev_release(struct bdev_desc *d)
{
    if (!d->claimed)
        return;
    free(d->bdev->claimed_by);
    d->bdev->claimed_by = NULL;
    d->claimed = false;
}

/* ---- channels ---- */

struct bdev_channel *bdev_get_channel(struct bdev_desc *d)
{
    struct reactor *r = reactor_self();
    if (!r)
        return NULL;
    struct bdev *b = d->bdev;
    int idx = reactor_index(r);
    struct bdev_channel *existing = atomic_load_explicit(&b->channels[idx], memory_order_relaxed);
    if (existing)
        return existing;
    struct bdev_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->bdev = b;
    ch->reactor = r;
    if (b->ops->channel_create && b->ops->channel_create(b, &ch->ctx)) {
        free(ch);
        return NULL;
    }
    atomic_store(&b->channels[idx], ch);
    return ch;
}

/* ---- statistics ---- */

uint64_t bdev_tick_rate(void) { return 1000000000ull; }
uint64_t bdev_ticks(void) { return reactor_now_ns(); }

static inline uint64_t st_get(const struct bdev_channel *ch, enum stat_idx i)
{
    return atomic_load_explicit(&ch->st[i], memory_order_relaxed);
}

static inline void st_set(struct bdev_channel *ch, enum stat_idx i, uint64_t v)
{
    atomic_store_explicit(&ch->st[i], v, memory_order_relaxed);
}

static inline void st_add(struct bdev_channel *ch, enum stat_idx i, uint64_t v)
{
    st_set(ch, i, st_get(ch, i) + v);
}

static void st_latency(struct bdev_channel *ch, enum stat_idx total, uint64_t lat)
{
    st_add(ch, total, lat);
    uint64_t mn = st_get(ch, total + 1), mx = st_get(ch, total + 2);
    if (!mn || lat < mn)
        st_set(ch, total + 1, lat ? lat : 1);
    if (lat > mx)
        st_set(ch, total + 2, lat);
}

static void account(struct bdev_io *io, int status)
{
    struct bdev_channel *ch = io->ch;
    uint64_t lat = reactor_now_ns() - io->start_ns;
    uint64_t bytes = io->num_blocks * io->bdev->blk_size;
    if (status) {
        st_add(ch, S_ERRORS, 1);
        return;
    }
    switch (io->type) {
    case BDEV_IO_READ:
        st_add(ch, S_READ_OPS, 1);
        st_add(ch, S_READ_BYTES, bytes);
        st_latency(ch, S_READ_LAT, lat);
        break;
    case BDEV_IO_WRITE:
        st_add(ch, S_WRITE_OPS, 1);
        st_add(ch, S_WRITE_BYTES, bytes);
        st_latency(ch, S_WRITE_LAT, lat);
        break;
    case BDEV_IO_UNMAP:
        st_add(ch, S_UNMAP_OPS, 1);
        st_add(ch, S_UNMAP_BYTES, bytes);
        st_latency(ch, S_UNMAP_LAT, lat);
        break;
    case BDEV_IO_WRITE_ZEROES:
        st_add(ch, S_WZ_OPS, 1);
        st_add(ch, S_WZ_BYTES, bytes);
        break;
    case BDEV_IO_FLUSH:
        st_add(ch, S_FLUSH_OPS, 1);
        break;
    case BDEV_IO_RESET:
        st_add(ch, S_RESET_OPS, 1);
        break;
    default:
        break;
    }
}

static void min_merge(uint64_t *dst, uint64_t v)
{
    if (v && (!*dst || v < *dst))
        *dst = v;
}

void bdev_get_stats(const struct bdev *b, struct bdev_io_stats *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < reactor_count() && i < BDEV_MAX_REACTORS; i++) {
        const struct bdev_channel *ch = atomic_load(&((struct bdev *)b)->channels[i]);
        if (!ch)
            continue;
        o->num_read_ops += st_get(ch, S_READ_OPS);
        o->bytes_read += st_get(ch, S_READ_BYTES);
        o->num_write_ops += st_get(ch, S_WRITE_OPS);
        o->bytes_written += st_get(ch, S_WRITE_BYTES);
        o->num_unmap_ops += st_get(ch, S_UNMAP_OPS);
        o->bytes_unmapped += st_get(ch, S_UNMAP_BYTES);
        o->num_write_zeroes_ops += st_get(ch, S_WZ_OPS);
        o->bytes_write_zeroed += st_get(ch, S_WZ_BYTES);
        o->num_flush_ops += st_get(ch, S_FLUSH_OPS);
        o->num_reset_ops += st_get(ch, S_RESET_OPS);
        o->num_errors += st_get(ch, S_ERRORS);
        o->read_latency_ticks += st_get(ch, S_READ_LAT);
        o->write_latency_ticks += st_get(ch, S_WRITE_LAT);
        o->unmap_latency_ticks += st_get(ch, S_UNMAP_LAT);
        min_merge(&o->min_read_latency_ticks, st_get(ch, S_READ_MIN));
        min_merge(&o->min_write_latency_ticks, st_get(ch, S_WRITE_MIN));
        min_merge(&o->min_unmap_latency_ticks, st_get(ch, S_UNMAP_MIN));
        if (st_get(ch, S_READ_MAX) > o->max_read_latency_ticks)
            o->max_read_latency_ticks = st_get(ch, S_READ_MAX);
        if (st_get(ch, S_WRITE_MAX) > o->max_write_latency_ticks)
            o->max_write_latency_ticks = st_get(ch, S_WRITE_MAX);
        if (st_get(ch, S_UNMAP_MAX) > o->max_unmap_latency_ticks)
            o->max_unmap_latency_ticks = st_get(ch, S_UNMAP_MAX);
    }
}

struct reset_ctx {
    atomic_int pending;
    void (*done)(void *);
    void *arg;
};

/* The channels one reactor must zero (it is their counters' only writer). */
struct reset_batch {
    struct reset_ctx *ctx;
    size_t n;
    struct bdev_channel *chs[];
};

static void reset_finish(void *arg)
{
    struct reset_ctx *r = arg;
    if (r->done)
        r->done(r->arg);
    free(r);
}

static void reset_on_reactor(void *arg)
{
    struct reset_batch *batch = arg;
    for (size_t c = 0; c < batch->n; c++)
        for (int i = 0; i < S_COUNT; i++)
            st_set(batch->chs[c], i, 0);
    struct reset_ctx *r = batch->ctx;
    free(batch);
    if (atomic_fetch_sub(&r->pending, 1) == 1)
        while (reactor_send(reactor_primary(), reset_finish, r))
            ;
}

/* Channels are collected here on the primary; a channel freed by a later unregister
 * is freed by a message queued after this one on the same reactor, so it is still
 * alive when the batch runs. */
void bdev_reset_stats(struct bdev *only, void (*done)(void *), void *arg)
{
    int n = reactor_count();
    size_t nb = 0;
    for (struct bdev *b = g_bdevs; b; b = b->next)
        nb++;
    struct reset_ctx *r = calloc(1, sizeof(*r));
    if (!r) {
        if (done)
            done(arg);
        return;
    }
    r->done = done;
    r->arg = arg;
    atomic_init(&r->pending, n);
    for (int i = 0; i < n; i++) {
        struct reset_batch *batch = calloc(1, sizeof(*batch) + nb * sizeof(batch->chs[0]));
        if (!batch) { /* this reactor's counters stay: report what we could */
            if (atomic_fetch_sub(&r->pending, 1) == 1)
                reset_finish(r);
            continue;
        }
        batch->ctx = r;
        for (struct bdev *b = g_bdevs; b; b = b->next) {
            struct bdev_channel *ch = atomic_load(&b->channels[i]);
            if (ch && (!only || b == only))
                batch->chs[batch->n++] = ch;
        }
        while (reactor_send(reactor_get(i), reset_on_reactor, batch))
            ;
    }
}

/* ---- I/O ---- */

static void finish_io(struct bdev_io *io, int status)
{
    if (io->user_iov) {
        /* Bounced: copy read data out to the caller's buffers, then drop the bounce. */
        if (io->type == BDEV_IO_READ && status == 0) {
            const char *src = io->bounce_iov.iov_base;
            for (int i = 0; i < io->user_iovcnt; i++) {
                memcpy(io->user_iov[i].iov_base, src, io->user_iov[i].iov_len);
                src += io->user_iov[i].iov_len;
            }
        }
        free(io->bounce_iov.iov_base);
        io->iov = io->user_iov;
        io->iovcnt = io->user_iovcnt;
        io->user_iov = NULL;
    }
    account(io, status);
    io->cb(io, status, io->cb_arg);
}

void bdev_io_complete(struct bdev_io *io, int status) { finish_io(io, status); }

static void deferred_done(struct reactor_deferred *d)
{
    struct bdev_io *io = (struct bdev_io *)((char *)d - offsetof(struct bdev_io, deferred));
    finish_io(io, io->status);
}

void bdev_io_complete_deferred(struct bdev_io *io, int status)
{
    io->status = status;
    io->deferred.fn = deferred_done;
    reactor_defer(&io->deferred);
}

static void fail_early(struct bdev_io *io, int status)
{
    /* Nothing was bounced yet: complete as a failed I/O on the next loop turn. */
    bdev_io_complete_deferred(io, status);
}

static bool iov_aligned(const struct iovec *iov, int n, uint32_t align)
{
    for (int i = 0; i < n; i++)
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
            return false;
    return true;
}

static int bounce(struct bdev_io *io, uint64_t len)
{
    uint32_t align = io->bdev->required_alignment;
    size_t alloc = (len + align - 1) / align * align;
    void *buf = aligned_alloc(align, alloc ? alloc : align);
    if (!buf)
        return -ENOMEM;
    if (io->type == BDEV_IO_WRITE) {
        char *dst = buf;
        for (int i = 0; i < io->iovcnt; i++) {
            memcpy(dst, io->iov[i].iov_base, io->iov[i].iov_len);
            dst += io->iov[i].iov_len;
        }
    }
    io->user_iov = io->iov;
    io->user_iovcnt = io->iovcnt;
    io->bounce_iov.iov_base = buf;
    io->bounce_iov.iov_len = len;
    io->iov = &io->bounce_iov;
    io->iovcnt = 1;
    return 0;
}

/* Write-zeroes on a backend without it: written from one shared zero buffer, in chunks,
 * reusing a private inner I/O. */
#define ZERO_CHUNK (1u << 20)

struct wz_emul {
    struct bdev_io inner;
    struct iovec iov;
    struct bdev_io *outer;
    void *zero; /* the shared, never-written zero buffer */
};

static void wz_step(struct wz_emul *w);

static void wz_done(struct bdev_io *inner, int status, void *arg)
{
    (void)inner;
    struct wz_emul *w = arg;
    struct bdev_io *io = w->outer;
    if (status) {
        free(w);
        finish_io(io, status);
        return;
    }
    io->zero_done += w->inner.num_blocks;
    if (io->zero_done == io->num_blocks) {
        free(w);
        finish_io(io, 0);
        return;
    }
    wz_step(w);
}

static void wz_step(struct wz_emul *w)
{
    struct bdev_io *io = w->outer;
    uint64_t per = ZERO_CHUNK / io->bdev->blk_size;
    uint64_t left = io->num_blocks - io->zero_done;
    uint64_t n = left < per ? left : per;
    w->iov.iov_base = w->zero;
    w->iov.iov_len = n * io->bdev->blk_size;
    memset(&w->inner, 0, offsetof(struct bdev_io, bdev));
    w->inner.type = BDEV_IO_WRITE;
    w->inner.offset_blocks = io->offset_blocks + io->zero_done;
    w->inner.num_blocks = n;
    w->inner.iov = &w->iov;
    w->inner.iovcnt = 1;
    w->inner.cb = wz_done;
    w->inner.cb_arg = w;
    w->inner.bdev = io->bdev;
    w->inner.ch = io->ch;
    w->inner.start_ns = reactor_now_ns();
    w->inner.user_iov = NULL;
    io->bdev->ops->submit(io->bdev, io->ch->ctx, &w->inner);
}

static void emulate_write_zeroes(struct bdev_io *io)
{
    /* The zero buffer is allocated once, by whichever reactor needs it first. */
    static _Atomic(void *) shared;
    void *buf = atomic_load(&shared);
    if (!buf) {
        void *n = aligned_alloc(4096, ZERO_CHUNK);
        if (!n) {
            fail_early(io, -ENOMEM);
            return;
        }
        memset(n, 0, ZERO_CHUNK);
        void *expected = NULL;
        if (!atomic_compare_exchange_strong(&shared, &expected, n)) {
            free(n);
            buf = expected;
        } else {
            buf = n;
        }
    }
    struct wz_emul *w = calloc(1, sizeof(*w));
    if (!w) {
        fail_early(io, -ENOMEM);
        return;
    }
    w->outer = io;
    w->zero = buf;
    io->zero_done = 0;
    wz_step(w);
}

void bdev_submit(struct bdev_channel *ch, struct bdev_io *io)
{
    struct bdev *b = ch->bdev;
    io->bdev = b;
    io->ch = ch;
    io->user_iov = NULL;
    io->status = 0;
    io->start_ns = reactor_now_ns();

    if (io->type >= BDEV_IO_NTYPES) {
        fail_early(io, -EINVAL);
        return;
    }
    if (io->type != BDEV_IO_RESET && io->type != BDEV_IO_FLUSH) {
        if (!io->num_blocks || io->offset_blocks >= b->num_blocks ||
            io->num_blocks > b->num_blocks - io->offset_blocks) {
            fail_early(io, -EINVAL);
            return;
        }
    } else if (io->type == BDEV_IO_FLUSH &&
               (io->offset_blocks > b->num_blocks || io->num_blocks > b->num_blocks - io->offset_blocks)) {
        fail_early(io, -EINVAL);
        return;
    }
    bool native = io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE ||
                  (b->ops->supports && b->ops->supports(b, io->type));
    if (io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE) {
        uint64_t len = 0;
        for (int i = 0; i < io->iovcnt; i++)
            len += io->iov[i].iov_len;
        if (io->iovcnt <= 0 || len != io->num_blocks * b->blk_size) {
            fail_early(io, -EINVAL);
            return;
        }
        if (b->required_alignment > 1 && !iov_aligned(io->iov, io->iovcnt, b->required_alignment)) {
            int rc = bounce(io, len);
            if (rc) {
                fail_early(io, rc);
                return;
            }
        }
    } else if (!native) {
        if (io->type == BDEV_IO_WRITE_ZEROES) {
            emulate_write_zeroes(io);
            return;
        }
        if (io->type == BDEV_IO_RESET) {
            bdev_io_complete_deferred(io, 0); /* nothing to reset */
            return;
        }
        fail_early(io, -ENOTSUP);
        return;
    }
    b->ops->submit(b, ch->ctx, io);
}

static int fill(struct bdev_channel *ch, struct bdev_io *io, enum bdev_io_type t,
                struct iovec *iov, int iovcnt, uint64_t off, uint64_t n, bdev_io_cb cb, void *arg)
{
    io->type = t;
    io->iov = iov;
    io->iovcnt = iovcnt;
    io->offset_blocks = off;
    io->num_blocks = n;
    io->cb = cb;
    io->cb_arg = arg;
    bdev_submit(ch, io);
    return 0;
}

int bdev_readv(struct bdev_channel *ch, struct bdev_io *io, struct iovec *iov, int iovcnt,
               uint64_t off, uint64_t n, bdev_io_cb cb, void *arg)
{
    return fill(ch, io, BDEV_IO_READ, iov, iovcnt, off, n, cb, arg);
}

int bdev_writev(struct bdev_channel *ch, struct bdev_io *io, struct iovec *iov, int iovcnt,
                uint64_t off, uint64_t n, bdev_io_cb cb, void *arg)
{
    return fill(ch, io, BDEV_IO_WRITE, iov, iovcnt, off, n, cb, arg);
}

int bdev_flush(struct bdev_channel *ch, struct bdev_io *io, uint64_t off, uint64_t n,
               bdev_io_cb cb, void *arg)
{
    return fill(ch, io, BDEV_IO_FLUSH, NULL, 0, off, n, cb, arg);
}

int bdev_unmap(struct bdev_channel *ch, struct bdev_io *io, uint64_t off, uint64_t n,
               bdev_io_cb cb, void *arg)
{
    return fill(ch, io, BDEV_IO_UNMAP, NULL, 0, off, n, cb, arg);
}

int bdev_write_zeroes(struct bdev_channel *ch, struct bdev_io *io, uint64_t off, uint64_t n,
                      bdev_io_cb cb, void *arg)
{
    return fill(ch, io, BDEV_IO_WRITE_ZEROES, NULL, 0, off, n, cb, arg);
}

int bdev_reset(struct bdev_channel *ch, struct bdev_io *io, bdev_io_cb cb, void *arg)
{
    return fill(ch, io, BDEV_IO_RESET, NULL, 0, 0, 0, cb, arg);
}

/* ---- URIs ---- */

char *bdev_uri(const struct bdev *b)
{
    const char *base = NULL;
    for (const struct bdev_alias *a = b->aliases; a && !base; a = a->next)
        if (strstr(a->name, "://"))
            base = a->name;
    if (!base)
        return strdup("");
    char u[37];
    uuid_unparse_lower(b->uuid, u);
    if (strstr(base, "uuid="))
        return strdup(base);
    char *out;
    if (asprintf(&out, "%s%cuuid=%s", base, strchr(base, '?') ? '&' : '?', u) < 0)
        return NULL;
    return out;
}

char *bdev_share_uri(const struct bdev *b)
{
    char *out;
    if (b->shared_uri)
        return strdup(b->shared_uri);
    return asprintf(&out, "bdev:///%s", b->name) < 0 ? NULL : out;
}

/*
 * The block-device layer (src/bdev/bdev.c, bdev_uri.c) with its RAM backends:
 * data integrity from two reactors at once with vectored I/O split at odd places,
 * bounce buffers for unaligned I/O, write-zeroes emulation, unmap, range and length
 * checks, claims, statistics, references (bdev:///), URI errors, and unregistering a
 * device whose channels live on several reactors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bdev_harness.h"

/* ---- one I/O from the test thread, executed on a reactor ---- */

struct one_io {
    struct bdev_desc *desc;
    enum bdev_io_type type;
    struct iovec iov[8];
    int iovcnt;
    uint64_t off, n;
    struct bdev_io io;
    struct harness_call *c;
};

static void one_io_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct one_io *o = arg;
    harness_done(o->c, status);
}

static void one_io_submit(struct harness_call *c)
{
    struct one_io *o = c->arg;
    o->c = c;
    struct bdev_channel *ch = bdev_get_channel(o->desc);
    if (!ch) {
        harness_done(c, -ENOMEM);
        return;
    }
    memset(&o->io, 0, sizeof(o->io));
    o->io.type = o->type;
    o->io.iov = o->iov;
    o->io.iovcnt = o->iovcnt;
    o->io.offset_blocks = o->off;
    o->io.num_blocks = o->n;
    o->io.cb = one_io_done;
    o->io.cb_arg = o;
    bdev_submit(ch, &o->io);
}

static int do_io(int reactor, struct bdev_desc *d, enum bdev_io_type t, void *buf, size_t len,
                 uint64_t off, uint64_t n)
{
    struct one_io o = {.desc = d, .type = t, .off = off, .n = n};
    if (buf) {
        o.iov[0].iov_base = buf;
        o.iov[0].iov_len = len;
        o.iovcnt = 1;
    }
    return harness_run(reactor, one_io_submit, &o);
}

/* ---- patterns ---- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static void fill_pattern(unsigned char *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = mix(seed + i);
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
}

static bool all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- concurrent verified workers (one per reactor, several slots each) ---- */

#define SLOTS 8
#define MAX_IO (256 * 1024)

struct slot {
    struct worker *w;
    uint64_t base, span; /* blocks this slot owns */
    uint64_t iter, off, n;
    unsigned char *wbuf, *rbuf;
    struct iovec iov[3];
    struct bdev_io io;
    bool reading;
};

struct worker {
    struct bdev_desc *desc;
    struct bdev_channel *ch;
    uint32_t blk;
    uint64_t iters_per_slot;
    size_t misalign; /* byte offset added to buffers: exercises bounce buffers */
    struct slot slots[SLOTS];
    int active;
    atomic_int mismatches, errors;
    struct harness_call *c;
    uint64_t seed;
};

/* Splits len bytes into three segments at odd (block-multiple) places. */
static int split(struct slot *s, unsigned char *buf, size_t len, uint32_t blk)
{
    size_t blocks = len / blk;
    if (blocks < 3) {
        s->iov[0] = (struct iovec){buf, len};
        return 1;
    }
    size_t a = blk * (1 + (s->iter % (blocks - 2))), b = blk;
    s->iov[0] = (struct iovec){buf, a};
    s->iov[1] = (struct iovec){buf + a, b};
    s->iov[2] = (struct iovec){buf + a + b, len - a - b};
    return 3;
}

static void slot_next(struct slot *s);

static void slot_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct slot *s = arg;
    struct worker *w = s->w;
    if (status) {
        atomic_fetch_add(&w->errors, 1);
    } else if (!s->reading) {
        s->reading = true;
        memset(s->rbuf, 0xAA, s->n * w->blk);
        int cnt = split(s, s->rbuf, s->n * w->blk, w->blk);
        bdev_readv(w->ch, &s->io, s->iov, cnt, s->off, s->n, slot_done, s);
        return;
    } else if (memcmp(s->wbuf, s->rbuf, s->n * w->blk)) {
        atomic_fetch_add(&w->mismatches, 1);
    }
    s->iter++;
    slot_next(s);
}

static void slot_next(struct slot *s)
{
    struct worker *w = s->w;
    if (s->iter == w->iters_per_slot) {
        if (--w->active == 0)
            harness_done(w->c, 0);
        return;
    }
    uint64_t r = mix(w->seed ^ (s->base << 20) ^ s->iter);
    uint64_t max_blocks = MAX_IO / w->blk;
    if (max_blocks > s->span)
        max_blocks = s->span;
    s->n = 1 + r % max_blocks;
    s->off = s->base + (r >> 20) % (s->span - s->n + 1);
    s->reading = false;
    fill_pattern(s->wbuf, s->n * w->blk, r);
    int cnt = split(s, s->wbuf, s->n * w->blk, w->blk);
    bdev_writev(w->ch, &s->io, s->iov, cnt, s->off, s->n, slot_done, s);
}

static void worker_start(struct harness_call *c)
{
    struct worker *w = c->arg;
    w->c = c;
    w->ch = bdev_get_channel(w->desc);
    if (!w->ch) {
        harness_done(c, -ENOMEM);
        return;
    }
    w->active = SLOTS;
    for (int i = 0; i < SLOTS; i++)
        slot_next(&w->slots[i]);
}

struct worker_thread {
    struct worker *w;
    int reactor;
    int rc;
    pthread_t t;
};

static void *worker_thread(void *arg)
{
    struct worker_thread *wt = arg;
    wt->rc = harness_run(wt->reactor, worker_start, wt->w);
    return NULL;
}

/* Two reactors hammer disjoint halves of the device at once, each with SLOTS I/Os in
 * flight, every write read back and compared. */
static void verify_concurrently(const char *name, uint64_t iters, size_t misalign)
{
    struct bdev_desc *d = open_dev(name);
    struct bdev *b = bdev_desc_bdev(d);
    struct worker w[2];
    struct worker_thread wt[2];
    uint64_t half = b->num_blocks / 2;
    for (int r = 0; r < 2; r++) {
        memset(&w[r], 0, sizeof(w[r]));
        w[r].desc = d;
        w[r].blk = b->blk_size;
        w[r].iters_per_slot = iters;
        w[r].seed = 0x1234 + (uint64_t)r;
        for (int i = 0; i < SLOTS; i++) {
            struct slot *s = &w[r].slots[i];
            s->w = &w[r];
            s->span = half / SLOTS;
            s->base = (uint64_t)r * half + (uint64_t)i * s->span;
            s->wbuf = (unsigned char *)malloc(MAX_IO + 64) + misalign;
            s->rbuf = (unsigned char *)malloc(MAX_IO + 64) + misalign;
        }
        wt[r] = (struct worker_thread){.w = &w[r], .reactor = r};
    }
    for (int r = 0; r < 2; r++)
        pthread_create(&wt[r].t, NULL, worker_thread, &wt[r]);
    for (int r = 0; r < 2; r++)
        pthread_join(wt[r].t, NULL);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(wt[r].rc, 0);
        assert_int_equal(atomic_load(&w[r].errors), 0);
        assert_int_equal(atomic_load(&w[r].mismatches), 0);
        for (int i = 0; i < SLOTS; i++) {
            free(w[r].slots[i].wbuf - misalign);
            free(w[r].slots[i].rbuf - misalign);
        }
    }
    close_dev(d);
}

/* ---- a test backend: RAM, 4 KiB alignment, no write-zeroes/unmap ---- */

struct strict {
    unsigned char *data;
    atomic_int misaligned; /* submits that broke the alignment contract */
    atomic_int submits;
};

static void strict_submit(struct bdev *b, void *ch, struct bdev_io *io)
{
    (void)ch;
    struct strict *s = b->ctx;
    atomic_fetch_add(&s->submits, 1);
    unsigned char *p = s->data + io->offset_blocks * b->blk_size;
    for (int i = 0; i < io->iovcnt; i++) {
        if (((uintptr_t)io->iov[i].iov_base | io->iov[i].iov_len) % b->required_alignment)
            atomic_fetch_add(&s->misaligned, 1);
        if (io->type == BDEV_IO_WRITE)
            memcpy(p, io->iov[i].iov_base, io->iov[i].iov_len);
        else if (io->type == BDEV_IO_READ)
            memcpy(io->iov[i].iov_base, p, io->iov[i].iov_len);
        p += io->iov[i].iov_len;
    }
    bdev_io_complete_deferred(io, 0);
}

static void strict_destruct(struct bdev *b)
{
    struct strict *s = b->ctx;
    free(s->data);
    free(s);
}

static const struct bdev_ops strict_ops = {
    .driver = "strict",
    .submit = strict_submit,
    .destruct = strict_destruct,
};

static struct strict *g_strict;

static void register_strict(struct harness_call *c)
{
    struct bdev *b = bdev_alloc("strict0", "Strict test disk", &strict_ops);
    struct strict *s = calloc(1, sizeof(*s));
    s->data = calloc(1, 16u << 20);
    memset(s->data, 0x5A, 16u << 20);
    b->ctx = s;
    b->blk_size = 4096;
    b->num_blocks = (16u << 20) / 4096;
    b->required_alignment = 4096;
    g_strict = s;
    harness_done(c, bdev_register(b));
}

struct unreg_op {
    const char *name;
};

static void unreg_done(void *arg, int rc) { harness_done(arg, rc); }

static void unregister_on_primary(struct harness_call *c)
{
    struct bdev *b = bdev_lookup(((struct unreg_op *)c->arg)->name);
    int rc = b ? bdev_unregister(b, unreg_done, c) : -ENOENT;
    if (rc)
        harness_done(c, rc);
}

/* ---- tests ---- */

static int setup(void **state)
{
    (void)state;
    return harness_start();
}

static int teardown(void **state)
{
    (void)state;
    harness_stop();
    return 0;
}

static void test_malloc_integrity(void **state)
{
    (void)state;
    struct bdev *b;
    char err[256];
    assert_int_equal(create("malloc:///m0?size_mb=64&blk_size=512", &b, err), 0);
    assert_string_equal(b->name, "m0");
    assert_int_equal(b->blk_size, 512);
    assert_int_equal(b->num_blocks, 64 * 2048);
    verify_concurrently("m0", 200, 0);
    assert_int_equal(destroy("malloc:///m0?size_mb=64&blk_size=512", err), 0);

    assert_int_equal(create("malloc:///m4k?num_blocks=8192&blk_size=4096", &b, err), 0);
    assert_int_equal(b->blk_size, 4096);
    assert_int_equal(b->num_blocks, 8192);
    verify_concurrently("m4k", 100, 3); /* malloc needs no alignment: misaligned is fine */
    assert_int_equal(destroy("malloc:///m4k", err), 0);
}

static void test_uri_and_alias(void **state)
{
    (void)state;
    struct bdev *b;
    char err[256];
    const char *u = "malloc:///ua?size_mb=8&uuid=11111111-2222-3333-4444-555555555555";
    assert_int_equal(create(u, &b, err), 0);
    char *uri = bdev_uri(b);
    assert_string_equal(uri, u); /* already has uuid=: unchanged */
    free(uri);
    char *share = bdev_share_uri(b);
    assert_string_equal(share, "bdev:///ua");
    free(share);
    assert_int_equal(destroy("malloc:///ua", err), 0);

    assert_int_equal(create("malloc:///ub?size_mb=8", &b, err), 0);
    char id[37];
    uuid_unparse_lower(b->uuid, id);
    uri = bdev_uri(b);
    char want[128];
    snprintf(want, sizeof(want), "malloc:///ub?size_mb=8&uuid=%s", id);
    assert_string_equal(uri, want);
    free(uri);

    /* References: bdev:/// and loopback:/// add an alias; destroying one drops only it. */
    snprintf(want, sizeof(want), "bdev:///ub?uuid=%s", id);
    assert_int_equal(create(want, &b, err), 0);
    assert_true(bdev_has_alias(b, want));
    assert_int_equal(create("loopback:///ub", &b, err), 0);
    assert_int_equal(create("bdev:///nope", NULL, err), -ENOENT);
    assert_int_equal(create("bdev:///ub?uuid=11111111-2222-3333-4444-555555555555", NULL, err),
                     -EINVAL);
    assert_non_null(strstr(err, "uuid"));
    assert_int_equal(create("bdev:///ub?size_mb=1", NULL, err), -EINVAL);
    assert_int_equal(destroy(want, err), 0);
    assert_int_equal(destroy("loopback:///ub", err), 0);
    assert_int_equal(destroy("malloc:///ub", err), 0);
    assert_int_equal(destroy("malloc:///ub", err), -ENOENT);
}

static void test_uri_errors(void **state)
{
    (void)state;
    char err[256];
    struct {
        const char *uri;
        int rc;
        const char *needle;
    } cases[] = {
        {"floppy:///a", -EINVAL, "scheme"},
        {"not a uri", -EINVAL, ""},
        {"malloc:///x", -EINVAL, "size_mb"},
        {"malloc:///x?size_mb=1&num_blocks=8", -EINVAL, "exactly one"},
        {"malloc:///x?size_mb=1&blk_size=1000", -EINVAL, "blk_size"},
        {"malloc:///x?size_mb=1&colour=red", -EINVAL, "colour"},
        {"malloc:///x?size_mb=abc", -EINVAL, "size_mb"},
        {"malloc:///x?size_mb=0", -EINVAL, "size_mb"},
        {"malloc:///x?size_mb=1&uuid=zzz", -EINVAL, "uuid"},
        {"malloc://host/x?size_mb=1", -EINVAL, "malloc:///"},
        {"null:///", -EINVAL, "null:///"},
        {"null:///n?num_blocks=0", -EINVAL, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = create(cases[i].uri, NULL, err);
        if (rc != cases[i].rc || !strstr(err, cases[i].needle))
            fail_msg("%s: rc %d (want %d), err '%s'", cases[i].uri, rc, cases[i].rc, err);
    }
    assert_int_equal(create("null:///dup?size_mb=1", NULL, err), 0);
    assert_int_equal(create("null:///dup?size_mb=2", NULL, err), -EEXIST);
    assert_int_equal(create("malloc:///dup?size_mb=2", NULL, err), -EEXIST);
    /* The same uuid twice is refused too. */
    assert_int_equal(create("null:///u1?size_mb=1&uuid=aaaaaaaa-2222-3333-4444-555555555555", NULL, err), 0);
    assert_int_equal(create("null:///u2?size_mb=1&uuid=aaaaaaaa-2222-3333-4444-555555555555", NULL, err),
                     -EEXIST);
    assert_int_equal(destroy("malloc:///dup", err), -EINVAL); /* it is a null device */
    assert_int_equal(destroy("null:///dup", err), 0);
    assert_int_equal(destroy("null:///u1", err), 0);
}

static void test_null_device(void **state)
{
    (void)state;
    assert_int_equal(create("null:///n0?size_mb=16&blk_size=4096", NULL, NULL), 0);
    struct bdev_desc *d = open_dev("n0");
    unsigned char *buf = malloc(65536);
    memset(buf, 0x77, 65536);
    assert_int_equal(do_io(1, d, BDEV_IO_WRITE, buf, 65536, 0, 16), 0);
    assert_int_equal(do_io(0, d, BDEV_IO_READ, buf, 65536, 0, 16), 0);
    assert_true(all_zero(buf, 65536));
    free(buf);
    close_dev(d);
    assert_int_equal(destroy("null:///n0", NULL), 0);
}

static void test_zeroes_unmap_and_ranges(void **state)
{
    (void)state;
    assert_int_equal(create("malloc:///z0?size_mb=8", NULL, NULL), 0);
    struct bdev_desc *d = open_dev("z0");
    size_t len = 1 << 20;
    unsigned char *buf = malloc(len);
    fill_pattern(buf, len, 42);
    assert_int_equal(do_io(0, d, BDEV_IO_WRITE, buf, len, 0, len / 512), 0);
    assert_int_equal(do_io(1, d, BDEV_IO_WRITE_ZEROES, NULL, 0, 8, 16), 0);
    assert_int_equal(do_io(1, d, BDEV_IO_UNMAP, NULL, 0, 100, 1000), 0);
    assert_int_equal(do_io(0, d, BDEV_IO_FLUSH, NULL, 0, 0, 0), 0);
    assert_int_equal(do_io(0, d, BDEV_IO_READ, buf, len, 0, len / 512), 0);
    unsigned char *want = malloc(len);
    fill_pattern(want, len, 42);
    memset(want + 8 * 512, 0, 16 * 512);
    memset(want + 100 * 512, 0, 1000 * 512);
    assert_memory_equal(buf, want, len);

    /* Out of range, zero length, and data that does not match the block count. */
    uint64_t nb = (8u << 20) / 512;
    assert_int_equal(do_io(0, d, BDEV_IO_READ, buf, 1024, nb - 1, 2), -EINVAL);
    assert_int_equal(do_io(0, d, BDEV_IO_READ, buf, 512, nb, 1), -EINVAL);
    assert_int_equal(do_io(0, d, BDEV_IO_READ, buf, 512, UINT64_MAX, 1), -EINVAL);
    assert_int_equal(do_io(0, d, BDEV_IO_WRITE, buf, 0, 0, 0), -EINVAL);
    assert_int_equal(do_io(0, d, BDEV_IO_WRITE, buf, 1000, 0, 2), -EINVAL);
    assert_int_equal(do_io(1, d, BDEV_IO_UNMAP, NULL, 0, nb - 10, 11), -EINVAL);
    assert_int_equal(do_io(1, d, BDEV_IO_RESET, NULL, 0, 0, 0), 0);
    free(buf);
    free(want);
    close_dev(d);
    assert_int_equal(destroy("malloc:///z0", NULL), 0);
}

static void test_bounce_and_emulated_zeroes(void **state)
{
    (void)state;
    assert_int_equal(harness_run(0, register_strict, NULL), 0);
    /* Misaligned caller buffers: the backend must only ever see aligned ones. */
    verify_concurrently("strict0", 40, 1);
    assert_int_equal(atomic_load(&g_strict->misaligned), 0);

    struct bdev_desc *d = open_dev("strict0");
    /* Write-zeroes over 3 MiB + 1 block: emulated with writes, in chunks. */
    uint64_t blocks = (3u << 20) / 4096 + 1;
    size_t span = (12 + blocks) * 4096;
    unsigned char *fill = aligned_alloc(4096, span);
    memset(fill, 0x5A, span);
    assert_int_equal(do_io(1, d, BDEV_IO_WRITE, fill, span, 0, span / 4096), 0);
    free(fill);
    int before = atomic_load(&g_strict->submits);
    assert_int_equal(do_io(0, d, BDEV_IO_WRITE_ZEROES, NULL, 0, 10, blocks), 0);
    assert_true(atomic_load(&g_strict->submits) - before >= 4);
    assert_true(all_zero(g_strict->data + 10 * 4096, blocks * 4096));
    assert_int_equal(g_strict->data[10 * 4096 - 1], 0x5A);
    assert_int_equal(g_strict->data[(10 + blocks) * 4096], 0x5A);
    /* Unmap is neither native nor emulated here. */
    assert_int_equal(do_io(1, d, BDEV_IO_UNMAP, NULL, 0, 0, 1), -ENOTSUP);
    close_dev(d);
    struct unreg_op u = {"strict0"};
    assert_int_equal(harness_run(0, unregister_on_primary, &u), 0);
}

static void claim_on_primary(struct harness_call *c)
{
    struct open_op *o = c->arg;
    harness_done(c, bdev_claim(o->desc, o->claim));
}

static void test_claims(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(create("malloc:///c0?size_mb=4", NULL, NULL), 0);
    struct open_op a = {.name = "c0", .claim = "pool"};
    assert_int_equal(harness_run(0, open_on_primary, &a), 0);
    assert_string_equal(bdev_desc_bdev(a.desc)->claimed_by, "pool");
    struct open_op b = {.name = "c0"};
    assert_int_equal(harness_run(0, open_on_primary, &b), 0);
    b.claim = "other";
    assert_int_equal(harness_run(0, claim_on_primary, &b), -EBUSY);
    assert_int_equal(destroy("malloc:///c0", err), -EBUSY);
    assert_non_null(strstr(err, "pool"));
    close_dev(a.desc); /* closing releases the claim */
    assert_int_equal(destroy("malloc:///c0", err), -EBUSY); /* still open by b */
    close_dev(b.desc);
    assert_int_equal(destroy("malloc:///c0", err), 0);
}

struct stats_op {
    const char *name;
    struct bdev_io_stats st;
    bool reset;
};

static void reset_done(void *arg) { harness_done(arg, 0); }

static void stats_on_primary(struct harness_call *c)
{
    struct stats_op *s = c->arg;
    struct bdev *b = bdev_lookup(s->name);
    if (!b) {
        harness_done(c, -ENOENT);
        return;
    }
    if (s->reset) {
        bdev_reset_stats(b, reset_done, c);
        return;
    }
    bdev_get_stats(b, &s->st);
    harness_done(c, 0);
}

static void test_stats(void **state)
{
    (void)state;
    assert_int_equal(create("malloc:///s0?size_mb=4", NULL, NULL), 0);
    struct bdev_desc *d = open_dev("s0");
    unsigned char buf[4096] = {1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(do_io(i % 2, d, BDEV_IO_WRITE, buf, 4096, (uint64_t)i * 8, 8), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(do_io(i % 2, d, BDEV_IO_READ, buf, 4096, 0, 8), 0);
    assert_int_equal(do_io(0, d, BDEV_IO_UNMAP, NULL, 0, 0, 16), 0);
    assert_int_equal(do_io(0, d, BDEV_IO_READ, buf, 512, 1 << 30, 1), -EINVAL);
    struct stats_op s = {.name = "s0"};
    assert_int_equal(harness_run(0, stats_on_primary, &s), 0);
    assert_int_equal(s.st.num_write_ops, 5);
    assert_int_equal(s.st.bytes_written, 5 * 4096);
    assert_int_equal(s.st.num_read_ops, 3);
    assert_int_equal(s.st.bytes_read, 3 * 4096);
    assert_int_equal(s.st.num_unmap_ops, 1);
    assert_int_equal(s.st.bytes_unmapped, 16 * 512);
    assert_int_equal(s.st.num_errors, 1);
    assert_true(s.st.min_read_latency_ticks > 0);
    assert_true(s.st.min_read_latency_ticks <= s.st.max_read_latency_ticks);
    assert_true(s.st.read_latency_ticks >= s.st.max_read_latency_ticks);
    s.reset = true;
    assert_int_equal(harness_run(0, stats_on_primary, &s), 0);
    s.reset = false;
    assert_int_equal(harness_run(0, stats_on_primary, &s), 0);
    assert_int_equal(s.st.num_write_ops + s.st.num_read_ops + s.st.max_read_latency_ticks, 0);
    close_dev(d);
    assert_int_equal(destroy("malloc:///s0", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_integrity),
        cmocka_unit_test(test_uri_and_alias),
        cmocka_unit_test(test_uri_errors),
        cmocka_unit_test(test_null_device),
        cmocka_unit_test(test_zeroes_unmap_and_ranges),
        cmocka_unit_test(test_bounce_and_emulated_zeroes),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The blobstore (src/lvs/bs_*.c) on malloc://, aio:// and uring:// devices driven from two
 * reactors: format, clean load/unload, the byte-exact images of docs/on-disk-format.md §11
 * (512 and 4096-byte blocks, §11.6, §11.7), crash + recovery (masks rebuilt equal to the
 * clean ones), thin allocation, thick blobs, resize, delete, snapshots and clones, §7.5
 * crash handling, out of space, corrupt super blocks and metadata, grow, and concurrent
 * first writes from two reactors.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bdev_harness.h"
#include "bs_example.h"
#include "lvs/blobstore.h"
#include "lvs/bs_codec.h"
#include "lvs/bs_internal.h"

#define PG 4096
#define MiB (1024ull * 1024)

/* ---- running blobstore calls on the primary ---- */

struct args {
    struct bdev_desc *desc;
    struct bs *bs;
    bs_blob_id id;
    struct bs_init_opts iopts;
    struct bs_blob_opts bopts;
    const struct bs_xattr *xattrs;
    size_t n;
    const char *bstype;
    uint64_t n64;
    const char *name;
    const void *value;
    size_t len;
    struct harness_call *c;
    /* out */
    struct bs *out_bs;
    bs_blob_id out_id, out_id2;
    int rc, rc2;
};

static void cb_load(void *arg, int rc, struct bs *bs)
{
    struct args *a = arg;
    a->out_bs = bs;
    harness_done(a->c, rc);
}

static void cb_done(void *arg, int rc)
{
    struct args *a = arg;
    harness_done(a->c, rc);
}

static void cb_id(void *arg, int rc, bs_blob_id id)
{
    struct args *a = arg;
    a->out_id = id;
    harness_done(a->c, rc);
}

#define PRIMARY(name, body)                      \
    static void name(struct harness_call *c)     \
    {                                            \
        struct args *a = c->arg;                 \
        a->c = c;                                \
        body;                                    \
    }

PRIMARY(p_init, bs_init(a->desc, &a->iopts, cb_load, a))
PRIMARY(p_load, bs_load(a->desc, a->bstype, cb_load, a))
PRIMARY(p_unload, bs_unload(a->bs, cb_done, a))
PRIMARY(p_destroy, bs_destroy(a->bs, cb_done, a))
PRIMARY(p_grow, bs_grow(a->bs, cb_done, a))
PRIMARY(p_abandon, bs_abandon(a->bs); harness_done(c, 0))
PRIMARY(p_create, bs_blob_create(a->bs, &a->bopts, cb_id, a))
PRIMARY(p_delete, bs_blob_delete(a->bs, a->id, cb_done, a))
PRIMARY(p_snapshot, bs_blob_snapshot(a->bs, a->id, a->xattrs, a->n, cb_id, a))
PRIMARY(p_clone, bs_blob_clone(a->bs, a->id, a->xattrs, a->n, cb_id, a))
PRIMARY(p_resize, bs_blob_resize(bs_blob_lookup(a->bs, a->id), a->n64, cb_done, a))
PRIMARY(p_sync, bs_blob_sync_md(bs_blob_lookup(a->bs, a->id), cb_done, a))
PRIMARY(p_set_super, bs_set_super_blob(a->bs, a->id, cb_done, a))
PRIMARY(p_set_xattr, harness_done(c, bs_blob_set_xattr(bs_blob_lookup(a->bs, a->id), a->name,
                                                        a->value, a->len)))
PRIMARY(p_rm_xattr, harness_done(c, bs_blob_remove_xattr(bs_blob_lookup(a->bs, a->id), a->name)))

static void cb_id2(void *arg, int rc, bs_blob_id id)
{
    struct args *a = arg;
    a->out_id2 = id;
    a->rc2 = rc;
    harness_done(a->c, a->rc);
}

static void cb_id1(void *arg, int rc, bs_blob_id id)
{
    struct args *a = arg;
    a->out_id = id;
    a->rc = rc;
}

/* two creates submitted back to back: processed in order */
PRIMARY(p_create2, bs_blob_create(a->bs, &a->bopts, cb_id1, a); bs_blob_create(a->bs, &a->bopts, cb_id2, a))

static int run(void (*fn)(struct harness_call *), struct args *a) { return harness_run(0, fn, a); }

static struct bs *t_init(struct bdev_desc *d, uint32_t cluster, int *rc_out)
{
    struct args a = {.desc = d, .iopts = {.cluster_size = cluster, .bstype = BS_LVOLSTORE_TYPE}};
    int rc = run(p_init, &a);
    if (rc_out)
        *rc_out = rc;
    else
        assert_int_equal(rc, 0);
    return a.out_bs;
}

static struct bs *t_load(struct bdev_desc *d, const char *type, int *rc_out)
{
    struct args a = {.desc = d, .bstype = type};
    int rc = run(p_load, &a);
    if (rc_out)
        *rc_out = rc;
    else if (rc)
        fail_msg("load failed: %d (%s)", rc, bs_last_error());
    return a.out_bs;
}

static void t_unload(struct bs *bs)
{
    struct args a = {.bs = bs};
    assert_int_equal(run(p_unload, &a), 0);
}

static void t_abandon(struct bs *bs)
{
    struct args a = {.bs = bs};
    assert_int_equal(run(p_abandon, &a), 0);
}

static int t_create_rc(struct bs *bs, uint64_t n, bool thin, enum bs_clear_method m,
                       const struct bs_xattr *x, size_t nx, bs_blob_id *id)
{
    struct args a = {.bs = bs, .bopts = {.num_clusters = n, .thin = thin, .clear_method = m,
                                         .xattrs = x, .n_xattrs = nx}};
    int rc = run(p_create, &a);
    if (id)
        *id = a.out_id;
    return rc;
}

static bs_blob_id t_create(struct bs *bs, uint64_t n, bool thin, enum bs_clear_method m,
                           const struct bs_xattr *x, size_t nx)
{
    bs_blob_id id;
    assert_int_equal(t_create_rc(bs, n, thin, m, x, nx, &id), 0);
    return id;
}

static int t_delete(struct bs *bs, bs_blob_id id)
{
    struct args a = {.bs = bs, .id = id};
    return run(p_delete, &a);
}

static int t_snapshot(struct bs *bs, bs_blob_id id, const struct bs_xattr *x, size_t n,
                      bs_blob_id *out)
{
    struct args a = {.bs = bs, .id = id, .xattrs = x, .n = n};
    int rc = run(p_snapshot, &a);
    if (out)
        *out = a.out_id;
    return rc;
}

static int t_clone(struct bs *bs, bs_blob_id id, const struct bs_xattr *x, size_t n,
                   bs_blob_id *out)
{
    struct args a = {.bs = bs, .id = id, .xattrs = x, .n = n};
    int rc = run(p_clone, &a);
    if (out)
        *out = a.out_id;
    return rc;
}

static int t_resize(struct bs *bs, bs_blob_id id, uint64_t n)
{
    struct args a = {.bs = bs, .id = id, .n64 = n};
    return run(p_resize, &a);
}

static int t_sync(struct bs *bs, bs_blob_id id)
{
    struct args a = {.bs = bs, .id = id};
    return run(p_sync, &a);
}

static int t_set_xattr(struct bs *bs, bs_blob_id id, const char *name, const void *v, size_t len)
{
    struct args a = {.bs = bs, .id = id, .name = name, .value = v, .len = len};
    return run(p_set_xattr, &a);
}

static int t_set_super(struct bs *bs, bs_blob_id id)
{
    struct args a = {.bs = bs, .id = id};
    return run(p_set_super, &a);
}

static struct bs_blob *B(struct bs *bs, bs_blob_id id)
{
    struct bs_blob *b = bs_blob_lookup(bs, id);
    assert_non_null(b);
    return b;
}

/* ---- devices ---- */

static int g_dev_seq;

struct dev {
    char uri[256];
    char name[64];
    struct bdev_desc *desc;
    struct bdev *b;
};

static void dev_open(struct dev *d)
{
    struct open_op o = {.name = d->name, .claim = "blobstore-test"};
    assert_int_equal(harness_run(0, open_on_primary, &o), 0);
    d->desc = o.desc;
    d->b = bdev_desc_bdev(d->desc);
}

static void dev_malloc(struct dev *d, uint64_t mb, uint32_t blk)
{
    snprintf(d->name, sizeof(d->name), "bs%d", ++g_dev_seq);
    snprintf(d->uri, sizeof(d->uri), "malloc:///%s?size_mb=%llu&blk_size=%u", d->name,
             (unsigned long long)mb, blk);
    char err[BDEV_ERRMSG_LEN];
    assert_int_equal(create(d->uri, NULL, err), 0);
    dev_open(d);
}

static void dev_close(struct dev *d)
{
    if (d->desc)
        close_dev(d->desc);
    d->desc = NULL;
}

static void dev_free(struct dev *d)
{
    dev_close(d);
    char err[BDEV_ERRMSG_LEN];
    assert_int_equal(destroy(d->uri, err), 0);
}

/* raw device I/O from reactor 0 */
struct raw {
    struct bdev_desc *desc;
    enum bdev_io_type t;
    void *buf;
    uint64_t off, len;
    struct bdev_io io;
    struct iovec iov;
    struct harness_call *c;
};

static void raw_done(struct bdev_io *io, int st, void *arg)
{
    (void)io;
    harness_done(((struct raw *)arg)->c, st);
}

static void raw_submit(struct harness_call *c)
{
    struct raw *r = c->arg;
    r->c = c;
    struct bdev *b = bdev_desc_bdev(r->desc);
    struct bdev_channel *ch = bdev_get_channel(r->desc);
    r->iov = (struct iovec){r->buf, r->len};
    if (r->t == BDEV_IO_READ)
        bdev_readv(ch, &r->io, &r->iov, 1, r->off / b->blk_size, r->len / b->blk_size, raw_done, r);
    else
        bdev_writev(ch, &r->io, &r->iov, 1, r->off / b->blk_size, r->len / b->blk_size, raw_done, r);
}

static void raw_io(struct dev *d, enum bdev_io_type t, uint64_t off, void *buf, uint64_t len)
{
    struct raw r = {.desc = d->desc, .t = t, .buf = buf, .off = off, .len = len};
    assert_int_equal(harness_run(0, raw_submit, &r), 0);
}

static uint8_t *read_pages(struct dev *d, uint64_t first, uint64_t n)
{
    uint8_t *buf = aligned_alloc(PG, n * PG);
    raw_io(d, BDEV_IO_READ, first * PG, buf, n * PG);
    return buf;
}

static void assert_page_eq(const uint8_t *got, const uint8_t *want, const char *what)
{
    for (int i = 0; i < PG; i++)
        if (got[i] != want[i]) {
            print_error("%s: first difference at page offset 0x%03x: got %02x want %02x\n", what, i,
                        got[i], want[i]);
            fail();
        }
}

/* ---- blob data I/O on a reactor ---- */

struct bio {
    struct bs_blob *b;
    enum bdev_io_type t;
    void *buf;
    uint64_t off, len; /* io units */
    uint32_t unit;
    struct bdev_io io;
    struct iovec iov[3];
    struct harness_call *c;
};

static void bio_done(struct bdev_io *io, int st, void *arg)
{
    (void)io;
    harness_done(((struct bio *)arg)->c, st);
}

static void bio_submit(struct harness_call *c)
{
    struct bio *x = c->arg;
    x->c = c;
    size_t bytes = x->len * x->unit;
    /* split the buffer in three to exercise vectored splitting */
    int cnt = 1;
    x->iov[0] = (struct iovec){x->buf, bytes};
    if (x->len >= 3) {
        size_t a = x->unit, b2 = bytes - 2 * x->unit;
        x->iov[0] = (struct iovec){x->buf, a};
        x->iov[1] = (struct iovec){(char *)x->buf + a, b2};
        x->iov[2] = (struct iovec){(char *)x->buf + a + b2, x->unit};
        cnt = 3;
    }
    switch (x->t) {
    case BDEV_IO_READ:
        bs_blob_readv(x->b, &x->io, x->iov, cnt, x->off, x->len, bio_done, x);
        break;
    case BDEV_IO_WRITE:
        bs_blob_writev(x->b, &x->io, x->iov, cnt, x->off, x->len, bio_done, x);
        break;
    case BDEV_IO_WRITE_ZEROES:
        bs_blob_write_zeroes(x->b, &x->io, x->off, x->len, bio_done, x);
        break;
    case BDEV_IO_UNMAP:
        bs_blob_unmap(x->b, &x->io, x->off, x->len, bio_done, x);
        break;
    default:
        bs_blob_flush(x->b, &x->io, bio_done, x);
        break;
    }
}

/* byte offsets and lengths */
static int blob_io(int reactor, struct bs *bs, bs_blob_id id, enum bdev_io_type t, void *buf,
                   uint64_t off, uint64_t len)
{
    uint32_t unit = bs_io_unit_size(bs);
    struct bio x = {.b = B(bs, id), .t = t, .buf = buf, .off = off / unit, .len = len / unit,
                    .unit = unit};
    return harness_run(reactor, bio_submit, &x);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static void fill(uint8_t *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = mix(seed + i);
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
}

static bool is_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static void write_pattern(struct bs *bs, bs_blob_id id, uint64_t off, uint64_t len, uint64_t seed)
{
    uint8_t *buf = malloc(len);
    fill(buf, len, seed);
    assert_int_equal(blob_io(1, bs, id, BDEV_IO_WRITE, buf, off, len), 0);
    free(buf);
}

static void check_pattern_(struct bs *bs, bs_blob_id id, uint64_t off, uint64_t len, uint64_t seed,
                           int line)
{
    uint8_t *buf = malloc(len), *want = malloc(len);
    fill(want, len, seed);
    assert_int_equal(blob_io(0, bs, id, BDEV_IO_READ, buf, off, len), 0);
    if (memcmp(buf, want, len)) {
        size_t i = 0;
        while (buf[i] == want[i])
            i++;
        fail_msg("line %d: blob 0x%llx data differs at byte %zu of [%llu, +%llu)", line,
                 (unsigned long long)id, i, (unsigned long long)off, (unsigned long long)len);
    }
    free(buf);
    free(want);
}
#define check_pattern(bs, id, off, len, seed) check_pattern_(bs, id, off, len, seed, __LINE__)

static void check_zero(struct bs *bs, bs_blob_id id, uint64_t off, uint64_t len)
{
    uint8_t *buf = malloc(len);
    memset(buf, 0xAA, len);
    assert_int_equal(blob_io(1, bs, id, BDEV_IO_READ, buf, off, len), 0);
    assert_true(is_zero(buf, len));
    free(buf);
}

/* ---- the §11 example ---- */

struct example {
    struct dev d;
    struct bs *bs;
    bs_blob_id sb, r1, r2;
};

static void name64(char *v, const char *name)
{
    memset(v, 0, 64);
    memcpy(v, name, strlen(name));
}

static void example_build(struct example *e, uint32_t blk, bool no_unmap)
{
    dev_malloc(&e->d, 64, blk);
    e->bs = t_init(e->d.desc, 0, NULL);
    assert_int_equal(bs_cluster_size(e->bs), 4 * MiB);
    assert_int_equal(bs_total_data_clusters(e->bs), 15);
    /* super blob: 0 clusters, extent table */
    e->sb = t_create(e->bs, 0, false, BS_CLEAR_DEFAULT, NULL, 0);
    assert_int_equal(e->sb, 0x100000000ull);
    assert_int_equal(t_set_super(e->bs, e->sb), 0);
    assert_int_equal(t_set_xattr(e->bs, e->sb, "uuid", EX_POOL_UUID, 37), 0);
    assert_int_equal(t_set_xattr(e->bs, e->sb, "name", "pool1", 6), 0);
    assert_int_equal(t_sync(e->bs, e->sb), 0);
    enum bs_clear_method m = no_unmap ? BS_CLEAR_NONE : BS_CLEAR_UNMAP;
    char n1[64], n2[64];
    name64(n1, "r1");
    name64(n2, "r2");
    struct bs_xattr x1[] = {{"name", n1, 64}, {"uuid", EX_R1_UUID, 37}};
    struct bs_xattr x2[] = {{"name", n2, 64}, {"uuid", EX_R2_UUID, 37}};
    e->r1 = t_create(e->bs, 2, true, m, x1, 2);
    if (no_unmap) /* the io-engine zero-fills the first 8 MiB of new replicas */
        assert_int_equal(blob_io(1, e->bs, e->r1, BDEV_IO_WRITE_ZEROES, NULL, 0, 8 * MiB), 0);
    e->r2 = t_create(e->bs, 2, false, m, x2, 2);
    if (no_unmap)
        assert_int_equal(blob_io(0, e->bs, e->r2, BDEV_IO_WRITE_ZEROES, NULL, 0, 8 * MiB), 0);
}

static void expected_super(uint8_t *pg, uint32_t blk, bool clean)
{
    ex_page(EX_SUPER_CLEAN_512, pg);
    bs_put32(pg + 0x10, clean);
    bs_put32(pg + 0x58, blk);
    bs_page_set_crc(pg);
    uint32_t want = blk == 512 ? (clean ? 0x33FF2265u : 0x4BC9BFD7u) : (clean ? 0xFF053E29u : 0x8733A39Bu);
    assert_int_equal(bs_le32(pg + 0xFFC), want);
}

static void check_example_image(struct dev *d, uint32_t blk, bool clean, bool masks)
{
    uint8_t *img = read_pages(d, 0, 20), want[PG];
    expected_super(want, blk, clean);
    assert_page_eq(img, want, "super block");
    uint8_t zero[PG] = {0};
    const uint8_t *mk[3] = {EX_MASK_MD, EX_MASK_CLUSTERS, EX_MASK_BLOBIDS};
    for (int i = 0; i < 3; i++) {
        memset(want, 0, PG);
        if (masks)
            memcpy(want, mk[i], 6);
        assert_page_eq(img + (1 + i) * PG, want, "mask");
    }
    ex_page(EX_MD0_SUPER_BLOB, want);
    assert_page_eq(img + 4 * PG, want, "md page 0 (super blob)");
    ex_page(EX_MD1_R1, want);
    assert_page_eq(img + 5 * PG, want, "md page 1 (r1)");
    ex_page(EX_MD2_R2, want);
    assert_page_eq(img + 6 * PG, want, "md page 2 (r2)");
    ex_page(EX_MD3_R2_EP, want);
    assert_page_eq(img + 7 * PG, want, "md page 3 (r2 extent page)");
    for (int p = 8; p < 20; p++)
        assert_page_eq(img + p * PG, zero, "free md page");
    free(img);
}

static void example_image(uint32_t blk)
{
    struct example e;
    example_build(&e, blk, false);
    /* still loaded: dirty super block, masks never written */
    check_example_image(&e.d, blk, false, false);
    t_unload(e.bs);
    check_example_image(&e.d, blk, true, true);
    /* clean load, nothing written; the facts survive */
    e.bs = t_load(e.d.desc, BS_LVOLSTORE_TYPE, NULL);
    assert_int_equal(bs_get_super_blob(e.bs), 0x100000000ull);
    assert_int_equal(bs_free_clusters(e.bs), 13);
    assert_int_equal(bs_md_pages_used(e.bs), 4);
    assert_true(bs_blob_is_thin(B(e.bs, e.r1)));
    assert_false(bs_blob_is_thin(B(e.bs, e.r2)));
    assert_int_equal(bs_blob_clear_method(B(e.bs, e.r1)), BS_CLEAR_UNMAP);
    assert_int_equal(bs_blob_num_allocated_clusters(B(e.bs, e.r2)), 2);
    assert_int_equal(bs_blob_num_io_units(B(e.bs, e.r2)), 8 * MiB / blk);
    check_example_image(&e.d, blk, true, true);
    /* a crash while in use: recovery rewrites the masks, the super block stays dirty */
    assert_int_equal(t_set_xattr(e.bs, e.r1, "entity_id", "x", 2), 0);
    assert_int_equal(t_sync(e.bs, e.r1), 0); /* marks the store dirty */
    assert_int_equal(t_set_xattr(e.bs, e.r1, "entity_id", NULL, 0), 0);
    struct args a = {.bs = e.bs, .id = e.r1, .name = "entity_id"};
    assert_int_equal(run(p_rm_xattr, &a), 0);
    assert_int_equal(t_sync(e.bs, e.r1), 0);
    t_abandon(e.bs);
    uint8_t *pg = read_pages(&e.d, 0, 1), want[PG];
    expected_super(want, blk, false);
    assert_page_eq(pg, want, "dirty super block");
    free(pg);
    e.bs = t_load(e.d.desc, BS_LVOLSTORE_TYPE, NULL);
    check_example_image(&e.d, blk, false, true);
    t_unload(e.bs);
    check_example_image(&e.d, blk, true, true);
    dev_free(&e.d);
}

static void test_example_512(void **state)
{
    (void)state;
    example_image(512);
}

static void test_example_4096(void **state)
{
    (void)state;
    example_image(4096);
}

/* the pool right after creation and unload: super blob only */
static void test_example_pool_only(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 64, 512);
    struct bs *bs = t_init(d.desc, 0, NULL);
    /* right after format: super block with no super blob, nothing else */
    uint8_t *img = read_pages(&d, 0, 20), zero[PG] = {0};
    assert_int_equal(bs_le64(img + 0x14), BS_INVALID64);
    assert_int_equal(bs_le32(img + 0x10), 0);
    for (int p = 1; p < 20; p++)
        assert_page_eq(img + p * PG, zero, "formatted metadata area");
    free(img);
    bs_blob_id sb = t_create(bs, 0, false, BS_CLEAR_DEFAULT, NULL, 0);
    assert_int_equal(t_set_super(bs, sb), 0);
    assert_int_equal(t_set_xattr(bs, sb, "uuid", EX_POOL_UUID, 37), 0);
    assert_int_equal(t_set_xattr(bs, sb, "name", "pool1", 6), 0);
    assert_int_equal(t_sync(bs, sb), 0);
    t_unload(bs);
    img = read_pages(&d, 0, 20);
    uint8_t want[PG];
    expected_super(want, 512, true);
    assert_page_eq(img, want, "super block");
    const uint8_t m[3][6] = {{0, 0x10, 0, 0, 0, 1}, {1, 0x10, 0, 0, 0, 1}, {2, 0x10, 0, 0, 0, 1}};
    for (int i = 0; i < 3; i++)
        assert_memory_equal(img + (1 + i) * PG, m[i], 6);
    ex_page(EX_MD0_SUPER_BLOB, want);
    assert_page_eq(img + 4 * PG, want, "super blob");
    for (int p = 5; p < 20; p++)
        assert_page_eq(img + p * PG, zero, "free md page");
    free(img);
    dev_free(&d);
}

/* §11.6: replicas with clear method 1 and their first 8 MiB zero-written */
static void test_example_no_unmap(void **state)
{
    (void)state;
    struct example e;
    example_build(&e, 512, true);
    t_unload(e.bs);
    uint8_t *img = read_pages(&e.d, 0, 20), want[PG];
    expected_super(want, 512, true);
    assert_page_eq(img, want, "super block");
    assert_int_equal(img[1 * PG + 5], 0x1f);
    assert_int_equal(img[2 * PG + 5], 0x1f);
    assert_int_equal(img[3 * PG + 5], 0x0b);
    assert_int_equal(bs_le32(img + 5 * PG + 0xFFC), 0x124998FDu);
    assert_int_equal(bs_le32(img + 6 * PG + 0xFFC), 0xF2C34876u);
    assert_int_equal(bs_le32(img + 7 * PG + 0xFFC), 0x5591E537u);
    assert_int_equal(bs_le32(img + 8 * PG + 0xFFC), 0xF78EBCE1u);
    assert_int_equal(e.r2, 0x100000003ull);
    free(img);
    dev_free(&e.d);
}

/* §11.7: thin write, snapshot, clone, then delete */
static void test_example_snapshot_clone(void **state)
{
    (void)state;
    struct example e;
    example_build(&e, 512, false);
    t_unload(e.bs);
    e.bs = t_load(e.d.desc, BS_LVOLSTORE_TYPE, NULL);
    write_pattern(e.bs, e.r1, 4 * MiB, 4096, 77);
    char ns[64], nc[64];
    name64(ns, "s1");
    name64(nc, "c1");
    struct bs_xattr sx[] = {
        {"name", ns, 64},
        {"uuid", EX_S1_UUID, 37},
        {"io-engine.tx_id", "tx1", 3},
        {"io-engine.entity_id", "e1", 2},
        {"io-engine.parent_id", EX_R2_UUID, 36},
        {"io-engine.snapshot_create_time", "2024-10-23 16:46:38.123456789 UTC", 33},
        {"io-engine.discarded_snapshot", "false", 5},
    };
    bs_blob_id s1, c1;
    assert_int_equal(t_snapshot(e.bs, e.r2, sx, 7, &s1), 0);
    assert_int_equal(s1, 0x100000005ull);
    struct bs_xattr cx[] = {
        {"name", nc, 64},
        {"uuid", EX_C1_UUID, 37},
        {"io-engine.source_uuid", EX_S1_UUID, 36},
        {"io-engine.clone_create_time", "2024-10-23 16:50:00.000000001 UTC", 33},
    };
    assert_int_equal(t_clone(e.bs, s1, cx, 4, &c1), 0);
    assert_int_equal(c1, 0x100000006ull);
    assert_int_equal(bs_blob_parent(B(e.bs, e.r2)), s1);
    assert_int_equal(bs_blob_parent(B(e.bs, c1)), s1);
    bs_blob_id clones[4];
    assert_int_equal(bs_blob_clones(B(e.bs, s1), clones, 4), 2);
    assert_true(bs_blob_is_snapshot(B(e.bs, s1)));
    assert_true(bs_blob_is_read_only(B(e.bs, s1)));
    t_unload(e.bs);
    uint8_t *img = read_pages(&e.d, 0, 11), want[PG];
    expected_super(want, 512, true);
    assert_page_eq(img, want, "super block");
    const uint32_t crcs[] = {0x0804437Au, 0xBA2C3523u, 0xA3C48D5Eu, 0x4E31D53Au, 0xA9627396u,
                             0xFDEA0CF8u, 0x0876E832u};
    for (int p = 0; p < 7; p++) {
        if (bs_le32(img + (4 + p) * PG + 0xFFC) != crcs[p])
            fail_msg("md page %d: crc %08x, want %08x", p, bs_le32(img + (4 + p) * PG + 0xFFC),
                     crcs[p]);
    }
    ex_page(EX_MD3_R2_EP, want);
    assert_page_eq(img + 7 * PG, want, "extent page taken over by s1");
    assert_int_equal(img[1 * PG + 5], 0x7f);
    assert_int_equal(img[2 * PG + 5], 0x0f);
    assert_int_equal(img[3 * PG + 5], 0x67);
    free(img);
    /* relations survive a clean load; data reads through the snapshot */
    e.bs = t_load(e.d.desc, BS_LVOLSTORE_TYPE, NULL);
    assert_int_equal(bs_blob_parent(B(e.bs, e.r2)), s1);
    assert_int_equal(bs_blob_parent(B(e.bs, c1)), s1);
    assert_int_equal(bs_blob_clones(B(e.bs, s1), clones, 4), 2);
    check_pattern(e.bs, e.r1, 4 * MiB, 4096, 77);
    assert_int_equal(t_delete(e.bs, s1), -EBUSY);
    assert_int_equal(t_delete(e.bs, e.r1), 0);
    t_unload(e.bs);
    img = read_pages(&e.d, 0, 11);
    uint8_t zero[PG] = {0};
    assert_page_eq(img + 5 * PG, zero, "deleted r1 root");
    assert_page_eq(img + 8 * PG, zero, "deleted r1 extent page");
    assert_int_equal(img[1 * PG + 5], 0x6d);
    assert_int_equal(img[2 * PG + 5], 0x07);
    assert_int_equal(img[3 * PG + 5], 0x65);
    free(img);
    dev_free(&e.d);
}

/* ---- clean load / unload ---- */

/* A grow that wrote its extent page but never committed the root page: recovery must not
 * keep the clusters listed past the blob's committed size (they would leak from the
 * pool's accounting forever). */
static void test_recovery_ignores_uncommitted_extent_entries(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 64, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id a = t_create(bs, 2, false, BS_CLEAR_UNMAP, NULL, 0);
    write_pattern(bs, a, 0, 2 * MiB, 7);
    uint64_t free_before = bs_free_clusters(bs);
    t_unload(bs);

    /* The blob's extent page is the first md page after its root (§6.1). */
    uint8_t *sb = read_pages(&d, 0, 1);
    uint32_t md_start = bs_le32(sb + 0x30);
    uint8_t *ep = read_pages(&d, md_start + 1, 1);
    assert_int_equal(ep[0x10], 6); /* EXTENT_PAGE descriptor */
    uint32_t len = bs_le32(ep + 0x11);
    assert_int_equal(len, 4 + 4 * 2);
    uint32_t last = bs_le32(ep + 0x10 + 9 + 4);
    /* Add a third entry, as the in-place rewrite of an uncommitted grow would. */
    bs_put32(ep + 0x11, 4 + 4 * 3);
    bs_put32(ep + 0x10 + 9 + 8, last + 1);
    bs_page_set_crc(ep);
    raw_io(&d, BDEV_IO_WRITE, (uint64_t)(md_start + 1) * PG, ep, PG);
    bs_put32(sb + 0x10, 0); /* not clean: the next load recovers */
    bs_page_set_crc(sb);
    raw_io(&d, BDEV_IO_WRITE, 0, sb, PG);
    free(ep);
    free(sb);

    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_blob_num_clusters(B(bs, a)), 2);
    assert_int_equal(bs_free_clusters(bs), free_before);
    check_pattern_(bs, a, 0, 2 * MiB, 7, __LINE__);
    t_unload(bs);
    dev_free(&d);
}

static void test_init_load_unload(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 64, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    assert_int_equal(bs_total_data_clusters(bs), 63);
    struct bs_xattr x[] = {{"name", "alpha", 6}, {"k", "v", 1}};
    bs_blob_id a = t_create(bs, 3, false, BS_CLEAR_UNMAP, x, 2);
    bs_blob_id b = t_create(bs, 100, true, BS_CLEAR_NONE, x, 1);
    bs_blob_id c = t_create(bs, 0, true, BS_CLEAR_WRITE_ZEROES, NULL, 0);
    write_pattern(bs, a, 0, 3 * MiB, 1);
    write_pattern(bs, b, 50 * MiB, 8192, 2);
    for (int round = 0; round < 2; round++) {
        t_unload(bs);
        bs = t_load(d.desc, NULL, NULL);
        size_t n = 0;
        for (struct bs_blob *it = bs_blob_first(bs); it; it = bs_blob_next(it))
            n++;
        assert_int_equal(n, 3);
        const void *v;
        size_t len;
        assert_int_equal(bs_blob_get_xattr(B(bs, a), "name", &v, &len), 0);
        assert_int_equal(len, 6);
        assert_memory_equal(v, "alpha", 6);
        assert_int_equal(bs_blob_get_xattr(B(bs, a), "k", &v, &len), 0);
        assert_int_equal(bs_blob_get_xattr(B(bs, b), "k", &v, &len), -ENOENT);
        const char **names = bs_blob_xattr_names(B(bs, a));
        assert_string_equal(names[0], "name");
        assert_string_equal(names[1], "k");
        assert_null(names[2]);
        free(names);
        assert_int_equal(bs_blob_num_clusters(B(bs, b)), 100);
        assert_int_equal(bs_blob_num_allocated_clusters(B(bs, b)), 1);
        assert_int_equal(bs_blob_clear_method(B(bs, c)), BS_CLEAR_WRITE_ZEROES);
        assert_int_equal(bs_free_clusters(bs), 63 - 3 - 1);
        check_pattern(bs, a, 0, 3 * MiB, 1);
        check_pattern(bs, b, 50 * MiB, 8192, 2);
        check_zero(bs, b, 0, 1 * MiB);
    }
    /* two creates submitted together run in order */
    struct args ar = {.bs = bs, .bopts = {.num_clusters = 1, .thin = true}};
    assert_int_equal(run(p_create2, &ar), 0);
    assert_int_equal(ar.rc2, 0);
    assert_true(ar.out_id < ar.out_id2);
    /* destroy: the super block is gone, load says "no blobstore" */
    struct args ad = {.bs = bs};
    assert_int_equal(run(p_destroy, &ad), 0);
    int rc;
    assert_null(t_load(d.desc, NULL, &rc));
    assert_int_equal(rc, -EILSEQ);
    dev_free(&d);
}

/* the in-memory masks as a snapshot */
struct masks {
    struct bs_bitmap md, ids, cl;
};

static void masks_get(struct bs *bs, struct masks *m)
{
    struct bs_bitmap *src[3] = {&bs->used_md, &bs->used_blobids, &bs->used_clusters};
    struct bs_bitmap *dst[3] = {&m->md, &m->ids, &m->cl};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bs_bitmap_init(dst[i], src[i]->n), 0);
        memcpy(dst[i]->w, src[i]->w, (src[i]->n + 63) / 64 * 8);
    }
}

static void masks_free(struct masks *m)
{
    bs_bitmap_free(&m->md);
    bs_bitmap_free(&m->ids);
    bs_bitmap_free(&m->cl);
}

static void masks_equal(struct masks *a, struct masks *b)
{
    assert_true(bs_bitmap_equal(&a->md, &b->md));
    assert_true(bs_bitmap_equal(&a->ids, &b->ids));
    assert_true(bs_bitmap_equal(&a->cl, &b->cl));
}

/* ---- crash and recovery ---- */

static void test_crash_recovery(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 128, 4096);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id thick = t_create(bs, 5, false, BS_CLEAR_UNMAP, NULL, 0);
    bs_blob_id thin = t_create(bs, 600, true, BS_CLEAR_UNMAP, NULL, 0); /* 2 extent pages */
    /* a chain of several pages */
    bs_blob_id big = t_create(bs, 2, true, BS_CLEAR_NONE, NULL, 0);
    char v[1500];
    for (int i = 0; i < 6; i++) {
        char n[8];
        snprintf(n, sizeof(n), "x%d", i);
        memset(v, 'a' + i, sizeof(v));
        assert_int_equal(t_set_xattr(bs, big, n, v, sizeof(v)), 0);
    }
    assert_int_equal(t_sync(bs, big), 0);
    assert_int_equal(B(bs, big)->chain_len, 3);
    write_pattern(bs, thick, 0, 5 * MiB, 10);
    write_pattern(bs, thin, 0, 4096, 11);
    write_pattern(bs, thin, 599 * MiB, 8192, 12);
    write_pattern(bs, thin, 300 * MiB + 512 * 1024, 1 * MiB, 13); /* spans two clusters */
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, thin)), 4);
    bs_blob_id snap, clone;
    assert_int_equal(t_snapshot(bs, thick, NULL, 0, &snap), 0);
    assert_int_equal(t_clone(bs, snap, NULL, 0, &clone), 0);
    write_pattern(bs, clone, 1 * MiB, 4096, 14);
    /* a blob deleted before the crash leaves nothing behind */
    bs_blob_id gone = t_create(bs, 3, false, BS_CLEAR_UNMAP, NULL, 0);
    assert_int_equal(t_delete(bs, gone), 0);
    struct masks before, after;
    masks_get(bs, &before);
    uint64_t free_before = bs_free_clusters(bs);
    t_abandon(bs);

    bs = t_load(d.desc, BS_LVOLSTORE_TYPE, NULL);
    masks_get(bs, &after);
    masks_equal(&before, &after);
    masks_free(&after);
    assert_int_equal(bs_free_clusters(bs), free_before);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, thin)), 4);
    assert_int_equal(bs_blob_parent(B(bs, thick)), snap);
    assert_int_equal(bs_blob_parent(B(bs, clone)), snap);
    assert_null(bs_blob_lookup(bs, gone));
    check_pattern(bs, thick, 0, 5 * MiB, 10);
    check_pattern(bs, snap, 0, 5 * MiB, 10);
    check_pattern(bs, thin, 0, 4096, 11);
    check_pattern(bs, thin, 599 * MiB, 8192, 12);
    check_pattern(bs, thin, 300 * MiB + 512 * 1024, 1 * MiB, 13);
    check_pattern(bs, clone, 1 * MiB, 4096, 14);
    check_zero(bs, thin, 4096, 8192);
    const void *val;
    size_t len;
    assert_int_equal(bs_blob_get_xattr(B(bs, big), "x5", &val, &len), 0);
    assert_int_equal(len, 1500);
    /* the recovered masks are the ones a clean unload writes */
    t_unload(bs);
    uint8_t *img = read_pages(&d, 1, 3);
    struct bs_bitmap m;
    char err[128];
    assert_int_equal(bs_mask_decode(img, PG, BS_MASK_MD_PAGES, before.md.n, false, &m, err, 128), 0);
    assert_true(bs_bitmap_equal(&m, &before.md));
    bs_bitmap_free(&m);
    free(img);
    /* a second crash right after a clean load changes nothing */
    bs = t_load(d.desc, BS_LVOLSTORE_TYPE, NULL);
    t_abandon(bs);
    bs = t_load(d.desc, BS_LVOLSTORE_TYPE, NULL);
    masks_get(bs, &after);
    masks_equal(&before, &after);
    masks_free(&after);
    masks_free(&before);
    t_unload(bs);
    dev_free(&d);
}

/* ---- thin, thick, resize, delete, out of space ---- */

static void test_thin_thick_resize_delete(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 32, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    uint64_t total = bs_total_data_clusters(bs);
    assert_int_equal(total, 31);
    assert_int_equal(bs_free_clusters(bs), 31);
    /* thick */
    bs_blob_id k = t_create(bs, 4, false, BS_CLEAR_UNMAP, NULL, 0);
    assert_int_equal(bs_free_clusters(bs), 27);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, k)), 4);
    write_pattern(bs, k, 0, 4 * MiB, 5);
    /* out of range, misuse */
    uint8_t buf[4096];
    assert_int_equal(blob_io(0, bs, k, BDEV_IO_READ, buf, 4 * MiB, 4096), -EINVAL);
    assert_int_equal(blob_io(0, bs, k, BDEV_IO_WRITE, buf, 4 * MiB - 512, 4096), -EINVAL);
    assert_int_equal(blob_io(0, bs, k, BDEV_IO_FLUSH, NULL, 0, 0), 0);
    /* thin: allocation on first write, zeroes elsewhere */
    bs_blob_id t = t_create(bs, 10, true, BS_CLEAR_UNMAP, NULL, 0);
    assert_int_equal(bs_free_clusters(bs), 27);
    check_zero(bs, t, 0, 10 * MiB);
    write_pattern(bs, t, 3 * MiB + 4096, 4096, 6);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, t)), 1);
    assert_int_equal(bs_free_clusters(bs), 26);
    write_pattern(bs, t, 3 * MiB + 8192, 4096, 7); /* same cluster: no new allocation */
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, t)), 1);
    check_pattern(bs, t, 3 * MiB + 4096, 4096, 6);
    /* unmap of an unallocated cluster is a no-op, of an allocated one clears it */
    assert_int_equal(blob_io(0, bs, t, BDEV_IO_UNMAP, NULL, 0, 1 * MiB), 0);
    assert_int_equal(blob_io(0, bs, t, BDEV_IO_UNMAP, NULL, 3 * MiB, 1 * MiB), 0);
    check_zero(bs, t, 3 * MiB, 1 * MiB);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, t)), 1);
    write_pattern(bs, t, 3 * MiB + 8192, 4096, 7);
    /* write zeroes allocates */
    assert_int_equal(blob_io(1, bs, t, BDEV_IO_WRITE_ZEROES, NULL, 5 * MiB, 2 * MiB), 0);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, t)), 3);
    /* grow / shrink thick */
    assert_int_equal(t_resize(bs, k, 6), 0);
    assert_int_equal(bs_blob_num_clusters(B(bs, k)), 6);
    assert_int_equal(bs_free_clusters(bs), 22);
    check_pattern(bs, k, 0, 4 * MiB, 5);
    write_pattern(bs, k, 5 * MiB, 1 * MiB, 8);
    assert_int_equal(t_resize(bs, k, 2), 0);
    assert_int_equal(bs_free_clusters(bs), 26);
    check_pattern(bs, k, 0, 2 * MiB, 5);
    assert_int_equal(blob_io(0, bs, k, BDEV_IO_READ, buf, 2 * MiB, 4096), -EINVAL);
    /* grow / shrink thin */
    assert_int_equal(t_resize(bs, t, 1000), 0);
    assert_int_equal(bs_free_clusters(bs), 26);
    write_pattern(bs, t, 999 * MiB, 4096, 9); /* second extent page */
    assert_int_equal(t_resize(bs, t, 4), 0);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, t)), 1);
    assert_int_equal(bs_free_clusters(bs), 28);
    check_pattern(bs, t, 3 * MiB + 8192, 4096, 7);
    /* it all survives a reload and a crash */
    uint32_t md_used = bs_md_pages_used(bs);
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    t_abandon(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_md_pages_used(bs), md_used);
    assert_int_equal(bs_free_clusters(bs), 28);
    assert_int_equal(bs_blob_num_clusters(B(bs, t)), 4);
    assert_int_equal(bs_blob_num_clusters(B(bs, k)), 2);
    check_pattern(bs, k, 0, 2 * MiB, 5);
    check_pattern(bs, t, 3 * MiB + 8192, 4096, 7);
    /* out of space */
    bs_blob_id id;
    assert_int_equal(t_create_rc(bs, 30, false, BS_CLEAR_UNMAP, NULL, 0, &id), -ENOSPC);
    assert_int_equal(id, BS_INVALID_ID);
    assert_int_equal(bs_free_clusters(bs), 28);
    assert_int_equal(t_resize(bs, k, 40), -ENOSPC);
    assert_int_equal(bs_blob_num_clusters(B(bs, k)), 2);
    bs_blob_id big = t_create(bs, 100, true, BS_CLEAR_UNMAP, NULL, 0);
    uint8_t *cl = malloc(1 * MiB);
    memset(cl, 0x5A, 1 * MiB);
    int rc = 0;
    uint64_t i;
    for (i = 0; i < 100 && !rc; i++)
        rc = blob_io(i % 2, bs, big, BDEV_IO_WRITE, cl, i * MiB, 1 * MiB);
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(i - 1, 28);
    assert_int_equal(bs_free_clusters(bs), 0);
    free(cl);
    /* delete frees everything (thin, thick) */
    assert_int_equal(t_delete(bs, big), 0);
    assert_int_equal(bs_free_clusters(bs), 28);
    assert_int_equal(t_delete(bs, k), 0);
    assert_int_equal(t_delete(bs, t), 0);
    assert_int_equal(bs_free_clusters(bs), 31);
    assert_int_equal(t_delete(bs, t), -ENOENT);
    assert_int_equal(bs_md_pages_used(bs), 0);
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_null(bs_blob_first(bs));
    assert_int_equal(bs_free_clusters(bs), 31);
    t_unload(bs);
    dev_free(&d);
}

/* xattrs: a chain that grows and shrinks, old chain pages zeroed and freed */
static void test_xattrs_chain(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 16, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id id = t_create(bs, 1, true, BS_CLEAR_UNMAP, NULL, 0);
    assert_int_equal(bs_md_pages_used(bs), 1);
    char v[2000];
    for (int i = 0; i < 8; i++) {
        char n[8];
        snprintf(n, sizeof(n), "k%d", i);
        memset(v, '0' + i, sizeof(v));
        assert_int_equal(t_set_xattr(bs, id, n, v, sizeof(v)), 0);
    }
    assert_int_equal(t_sync(bs, id), 0);
    assert_int_equal(bs_md_pages_used(bs), 4);
    assert_int_equal(B(bs, id)->chain_len, 4);
    uint32_t old_chain[4];
    memcpy(old_chain, B(bs, id)->chain, sizeof(old_chain));
    /* rewriting never reuses its own old pages */
    assert_int_equal(t_set_xattr(bs, id, "k0", "x", 1), 0);
    assert_int_equal(t_sync(bs, id), 0);
    for (int i = 1; i < 4; i++)
        for (uint32_t j = 1; j < B(bs, id)->chain_len; j++)
            assert_int_not_equal(B(bs, id)->chain[j], old_chain[i]);
    uint8_t zero[PG] = {0};
    for (int i = 1; i < 4; i++) {
        uint8_t *pg = read_pages(&d, bs->sb.md_start + old_chain[i], 1);
        assert_page_eq(pg, zero, "old chain page");
        free(pg);
    }
    for (int i = 1; i < 8; i++) {
        char n[8];
        snprintf(n, sizeof(n), "k%d", i);
        struct args a = {.bs = bs, .id = id, .name = n};
        assert_int_equal(run(p_rm_xattr, &a), 0);
    }
    struct args a = {.bs = bs, .id = id, .name = "nope"};
    assert_int_equal(run(p_rm_xattr, &a), -ENOENT);
    assert_int_equal(t_sync(bs, id), 0);
    assert_int_equal(bs_md_pages_used(bs), 1);
    /* value too large for a page */
    static char huge[5000];
    assert_int_equal(t_set_xattr(bs, id, "huge", huge, sizeof(huge)), -ENOMEM);
    assert_int_equal(t_set_xattr(bs, id, "", "v", 1), -EINVAL);
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    const void *val;
    size_t len;
    assert_int_equal(bs_blob_get_xattr(B(bs, id), "k0", &val, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(bs_blob_get_xattr(B(bs, id), "k1", &val, &len), -ENOENT);
    t_unload(bs);
    dev_free(&d);
}

/* ---- snapshots and clones ---- */

static void test_snapshot_clone(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 64, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id base = t_create(bs, 8, true, BS_CLEAR_UNMAP, NULL, 0);
    write_pattern(bs, base, 0, 2 * MiB, 100);   /* clusters 0, 1 */
    write_pattern(bs, base, 6 * MiB, 4096, 101); /* cluster 6 */
    uint64_t free0 = bs_free_clusters(bs);
    bs_blob_id s1;
    struct bs_xattr sx[] = {{"name", "s1", 3}};
    assert_int_equal(t_snapshot(bs, base, sx, 1, &s1), 0);
    assert_int_equal(bs_free_clusters(bs), free0); /* clusters moved, not copied */
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, s1)), 3);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, base)), 0);
    assert_true(bs_blob_is_read_only(B(bs, s1)));
    assert_false(bs_blob_is_read_only(B(bs, base)));
    /* reads through the parent */
    check_pattern(bs, base, 0, 2 * MiB, 100);
    check_pattern(bs, base, 6 * MiB, 4096, 101);
    check_zero(bs, base, 3 * MiB, 1 * MiB);
    /* snapshot is read-only */
    uint8_t buf[4096];
    memset(buf, 1, sizeof(buf));
    assert_int_equal(blob_io(1, bs, s1, BDEV_IO_WRITE, buf, 0, 4096), -EPERM);
    assert_int_equal(blob_io(1, bs, s1, BDEV_IO_WRITE_ZEROES, NULL, 0, 4096), -EPERM);
    assert_int_equal(blob_io(1, bs, s1, BDEV_IO_UNMAP, NULL, 0, 4096), -EPERM);
    assert_int_equal(t_resize(bs, s1, 10), -EPERM);
    assert_int_equal(t_snapshot(bs, s1, NULL, 0, NULL), -EPERM);
    /* copy-on-write: a partial write keeps the rest of the cluster */
    write_pattern(bs, base, 1 * MiB + 4096, 4096, 102);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, base)), 1);
    assert_int_equal(bs_free_clusters(bs), free0 - 1);
    check_pattern(bs, base, 1 * MiB + 4096, 4096, 102);
    uint8_t *got = malloc(1 * MiB), *want = malloc(2 * MiB);
    fill(want, 2 * MiB, 100);
    assert_int_equal(blob_io(0, bs, base, BDEV_IO_READ, got, 1 * MiB, 4096), 0);
    assert_memory_equal(got, want + 1 * MiB, 4096);
    assert_int_equal(blob_io(0, bs, base, BDEV_IO_READ, got, 1 * MiB + 8192, 8192), 0);
    assert_memory_equal(got, want + 1 * MiB + 8192, 8192);
    check_pattern(bs, s1, 0, 2 * MiB, 100); /* the snapshot is unchanged */
    /* clone of the snapshot */
    bs_blob_id c1;
    struct bs_xattr cx[] = {{"name", "c1", 3}};
    assert_int_equal(t_clone(bs, s1, cx, 1, &c1), 0);
    assert_int_equal(t_clone(bs, base, cx, 1, NULL), -EINVAL); /* not a snapshot */
    assert_int_equal(bs_blob_num_clusters(B(bs, c1)), 8);
    assert_true(bs_blob_is_thin(B(bs, c1)));
    check_pattern(bs, c1, 0, 2 * MiB, 100);
    write_pattern(bs, c1, 0, 4096, 103);
    check_pattern(bs, c1, 0, 4096, 103);
    check_pattern(bs, s1, 0, 2 * MiB, 100);
    /* snapshot of a clone: chain of three */
    bs_blob_id s2;
    assert_int_equal(t_snapshot(bs, c1, NULL, 0, &s2), 0);
    assert_int_equal(bs_blob_parent(B(bs, s2)), s1);
    assert_int_equal(bs_blob_parent(B(bs, c1)), s2);
    check_pattern(bs, c1, 0, 4096, 103);
    check_pattern(bs, c1, 4096, 4096 * 3, 100 + 4096); /* same pattern offset */
    write_pattern(bs, c1, 6 * MiB, 4096, 104); /* COW from the grandparent */
    check_pattern(bs, s1, 6 * MiB, 4096, 101);
    check_pattern(bs, c1, 6 * MiB, 4096, 104);
    /* deletion rules */
    assert_int_equal(t_delete(bs, s1), -EBUSY); /* two clones (s2 and base) */
    uint64_t f = bs_free_clusters(bs);
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_free_clusters(bs), f);
    assert_int_equal(bs_blob_parent(B(bs, c1)), s2);
    assert_int_equal(bs_blob_parent(B(bs, s2)), s1);
    assert_int_equal(bs_blob_parent(B(bs, base)), s1);
    assert_true(bs_blob_is_snapshot(B(bs, s2)));
    check_pattern(bs, c1, 6 * MiB, 4096, 104);
    assert_int_equal(t_delete(bs, c1), 0);
    assert_false(bs_blob_clones(B(bs, s2), NULL, 0));
    assert_true(bs_blob_is_snapshot(B(bs, s2))); /* still read-only */
    assert_int_equal(t_delete(bs, s2), 0);
    assert_int_equal(t_delete(bs, base), 0);
    assert_int_equal(t_delete(bs, s1), 0);
    assert_int_equal(bs_free_clusters(bs), bs_total_data_clusters(bs));
    t_unload(bs);
    free(got);
    free(want);
    dev_free(&d);
}

/* §7.5: a crash in the middle of creating a snapshot, both sides of the commit point.
 * The on-disk states are built with the codec from a real snapshot's pages. */
static void write_md(struct dev *d, uint32_t md_start, uint32_t page, const struct bs_blob_md *md)
{
    uint8_t *pages;
    uint32_t n;
    assert_int_equal(bs_md_serialize(md, &pages, &n), 0);
    assert_int_equal(n, 1);
    uint32_t idx = page;
    bs_md_chain_finish(pages, 1, &idx);
    uint8_t *al = aligned_alloc(PG, PG);
    memcpy(al, pages, PG);
    raw_io(d, BDEV_IO_WRITE, ((uint64_t)md_start + page) * PG, al, PG);
    free(al);
    free(pages);
}

static void mark_super_dirty(struct dev *d)
{
    uint8_t *pg = read_pages(d, 0, 1);
    bs_put32(pg + 0x10, 0);
    bs_page_set_crc(pg);
    raw_io(d, BDEV_IO_WRITE, 0, pg, PG);
    free(pg);
}

static void snapshot_crash(bool after_commit)
{
    struct dev d;
    dev_malloc(&d, 32, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id b = t_create(bs, 3, false, BS_CLEAR_UNMAP, NULL, 0);
    write_pattern(bs, b, 0, 3 * MiB, 55);
    bs_blob_id s;
    assert_int_equal(t_snapshot(bs, b, NULL, 0, &s), 0);
    struct bs_blob_md mb, ms;
    memset(&mb, 0, sizeof(mb));
    memset(&ms, 0, sizeof(ms));
    /* copies of both blobs' final metadata */
    struct bs_blob *xb = B(bs, b), *xs = B(bs, s);
    mb = xb->md;
    ms = xs->md;
    struct bs_blob_md b_md = mb, s_md = ms;
    b_md.clusters = calloc(3, 4);
    b_md.extent_pages = calloc(1, 4);
    memcpy(b_md.clusters, mb.clusters, 12);
    memcpy(b_md.extent_pages, mb.extent_pages, 4);
    bs_xattr_list_copy(&b_md.xattrs, &mb.xattrs);
    bs_xattr_list_copy(&b_md.ixattrs, &mb.ixattrs);
    s_md.clusters = calloc(3, 4);
    s_md.extent_pages = calloc(1, 4);
    memcpy(s_md.clusters, ms.clusters, 12);
    memcpy(s_md.extent_pages, ms.extent_pages, 4);
    bs_xattr_list_copy(&s_md.xattrs, &ms.xattrs);
    bs_xattr_list_copy(&s_md.ixattrs, &ms.ixattrs);
    uint32_t ep = s_md.extent_pages[0];
    uint32_t md_start = bs->sb.md_start;
    t_unload(bs);
    /* S still carries SNAPTMP, not read-only yet */
    uint8_t v[8];
    bs_put64(v, b);
    bs_xattr_set(&s_md.ixattrs, "SNAPTMP", v, 8);
    s_md.invalid_flags |= BS_IF_INTERNAL_XATTR;
    s_md.data_ro_flags = 0;
    if (!after_commit) {
        /* B was not rewritten yet: it still owns the map, no SNAP */
        b_md.invalid_flags = BS_IF_EXTENT_TABLE;
        bs_xattr_list_free(&b_md.ixattrs);
        memcpy(b_md.clusters, s_md.clusters, 12);
        b_md.extent_pages[0] = ep;
        write_md(&d, md_start, (uint32_t)b, &b_md);
    }
    write_md(&d, md_start, (uint32_t)s, &s_md);
    mark_super_dirty(&d);
    bs = t_load(d.desc, NULL, NULL);
    if (after_commit) {
        /* S kept: SNAPTMP gone, read-only, B a clone of it */
        assert_non_null(bs_blob_lookup(bs, s));
        assert_true(bs_blob_is_read_only(B(bs, s)));
        assert_int_equal(bs_xattr_find(&B(bs, s)->md.ixattrs, "SNAPTMP"), -1);
        assert_int_equal(bs_blob_parent(B(bs, b)), s);
        check_pattern(bs, s, 0, 3 * MiB, 55);
    } else {
        /* S removed without touching B's clusters */
        assert_null(bs_blob_lookup(bs, s));
        assert_int_equal(bs_blob_parent(B(bs, b)), BS_INVALID_ID);
        assert_int_equal(bs_blob_num_allocated_clusters(B(bs, b)), 3);
        assert_int_equal(bs_free_clusters(bs), bs_total_data_clusters(bs) - 3);
    }
    check_pattern(bs, b, 0, 3 * MiB, 55);
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    check_pattern(bs, b, 0, 3 * MiB, 55);
    t_unload(bs);
    bs_blob_md_free(&b_md);
    bs_blob_md_free(&s_md);
    dev_free(&d);
}

static void test_snapshot_crash_before(void **state)
{
    (void)state;
    snapshot_crash(false);
}

static void test_snapshot_crash_after(void **state)
{
    (void)state;
    snapshot_crash(true);
}

/* ---- §7.4: deleting a snapshot with exactly one clone (merge) ---- */

static uint8_t *read_blob(struct bs *bs, bs_blob_id id, uint64_t len)
{
    uint8_t *buf = malloc(len);
    assert_int_equal(blob_io(0, bs, id, BDEV_IO_READ, buf, 0, len), 0);
    return buf;
}

static void check_blob_(struct bs *bs, bs_blob_id id, const uint8_t *want, uint64_t len, int line)
{
    uint8_t *got = read_blob(bs, id, len);
    if (memcmp(got, want, len)) {
        size_t i = 0;
        while (got[i] == want[i])
            i++;
        fail_msg("line %d: blob 0x%llx differs at byte %zu", line, (unsigned long long)id, i);
    }
    free(got);
}
#define check_blob(bs, id, want, len) check_blob_(bs, id, want, len, __LINE__)

static void test_snapshot_merge_delete(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 32, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    uint64_t total = bs_total_data_clusters(bs);
    bs_blob_id c = t_create(bs, 8, true, BS_CLEAR_UNMAP, NULL, 0);
    write_pattern(bs, c, 0, 1 * MiB, 1);       /* slot 0 */
    write_pattern(bs, c, 1 * MiB, 1 * MiB, 2); /* slot 1 */
    write_pattern(bs, c, 5 * MiB, 4096, 3);    /* slot 5 */
    bs_blob_id s0, s1, s2, x;
    assert_int_equal(t_snapshot(bs, c, NULL, 0, &s0), 0);
    write_pattern(bs, c, 1 * MiB, 4096, 12); /* slot 1: copy-on-write from s0 */
    write_pattern(bs, c, 2 * MiB, 1 * MiB, 13);
    assert_int_equal(t_snapshot(bs, c, NULL, 0, &s1), 0);
    write_pattern(bs, c, 2 * MiB, 1 * MiB, 23); /* slot 2 of its own (s1 keeps its copy) */
    write_pattern(bs, c, 3 * MiB, 4096, 24);
    /* S0 <- S1 <- C: C has slots 2, 3; S1 has 1, 2; S0 has 0, 1, 5 */
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, c)), 2);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, s1)), 2);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, s0)), 3);
    uint8_t *ref = read_blob(bs, c, 8 * MiB), *ref_s0 = read_blob(bs, s0, 8 * MiB);
    /* two clones: refused */
    assert_int_equal(t_clone(bs, s1, NULL, 0, &x), 0);
    assert_int_equal(t_delete(bs, s1), -EBUSY);
    assert_int_equal(t_delete(bs, x), 0);
    uint64_t f = bs_free_clusters(bs);
    assert_int_equal(f, total - 7);
    /* delete S1: C takes slot 1 (S1's), keeps its own slot 2, S1's slot 2 is freed */
    assert_int_equal(t_delete(bs, s1), 0);
    assert_null(bs_blob_lookup(bs, s1));
    assert_int_equal(bs_blob_parent(B(bs, c)), s0);
    bs_blob_id cl[4];
    assert_int_equal(bs_blob_clones(B(bs, s0), cl, 4), 1);
    assert_int_equal(cl[0], c);
    assert_true(bs_blob_is_thin(B(bs, c)));
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, c)), 3);
    assert_int_equal(bs_free_clusters(bs), f + 1);
    check_blob(bs, c, ref, 8 * MiB);
    check_pattern(bs, c, 1 * MiB + 4096, 4096, 2 + 4096); /* inherited from S1's copy */
    check_pattern(bs, c, 5 * MiB, 4096, 3);               /* still read through S0 */
    check_blob(bs, s0, ref_s0, 8 * MiB);
    /* the same after a clean reload and after a crash */
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_free_clusters(bs), f + 1);
    assert_int_equal(bs_blob_parent(B(bs, c)), s0);
    check_blob(bs, c, ref, 8 * MiB);
    t_abandon(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_free_clusters(bs), f + 1);
    check_blob(bs, c, ref, 8 * MiB);
    /* writes to C after the merge land in its own clusters, S0 unchanged */
    write_pattern(bs, c, 1 * MiB, 4096, 31);
    check_pattern(bs, c, 1 * MiB, 4096, 31);
    fill(ref + 1 * MiB, 4096, 31);
    check_blob(bs, s0, ref_s0, 8 * MiB);
    /* S0's only clone is now a snapshot with a clone of its own: S0 <- S2 <- C */
    assert_int_equal(t_snapshot(bs, c, NULL, 0, &s2), 0);
    write_pattern(bs, c, 6 * MiB, 4096, 41);
    fill(ref + 6 * MiB, 4096, 41);
    f = bs_free_clusters(bs);
    assert_int_equal(t_delete(bs, s0), 0);
    assert_int_equal(bs_blob_parent(B(bs, s2)), BS_INVALID_ID);
    assert_int_equal(bs_blob_parent(B(bs, c)), s2);
    assert_true(bs_blob_is_read_only(B(bs, s2)));
    /* S2 had 1, 2, 3 of its own; it takes 0 and 5; S0's slot 1 is freed */
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, s2)), 5);
    assert_int_equal(bs_free_clusters(bs), f + 1);
    check_blob(bs, c, ref, 8 * MiB);
    /* last: S2 into C, which then has no parent and stays thin */
    assert_int_equal(t_delete(bs, s2), 0);
    assert_int_equal(bs_blob_parent(B(bs, c)), BS_INVALID_ID);
    assert_true(bs_blob_is_thin(B(bs, c)));
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, c)), 6);
    assert_int_equal(bs_free_clusters(bs), total - 6);
    assert_int_equal(bs_xattr_find(&B(bs, c)->md.ixattrs, "SNAP"), -1);
    check_blob(bs, c, ref, 8 * MiB);
    check_zero(bs, c, 4 * MiB, 1 * MiB);
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_free_clusters(bs), total - 6);
    check_blob(bs, c, ref, 8 * MiB);
    assert_int_equal(t_delete(bs, c), 0);
    assert_int_equal(bs_free_clusters(bs), total);
    t_unload(bs);
    free(ref);
    free(ref_s0);
    dev_free(&d);
}

/* A crash at each point of the merge sequence: the on-disk states are built with the codec
 * from the blobs' real metadata, as SPDK's steps leave them. */
enum merge_point {
    MP_MARKED,      /* S persisted with SNAPRM */
    MP_EP_MERGED,   /* ... and C's extent page rewritten in place with S's clusters */
    MP_C_PERSISTED, /* ... and C persisted without SNAP (the commit point) */
    MP_DONE,        /* bs_blob_delete returned */
};

static void md_dup(struct bs_blob_md *dst, const struct bs_blob_md *src)
{
    *dst = *src;
    dst->clusters = calloc(src->num_clusters ? src->num_clusters : 1, 4);
    dst->extent_pages = calloc(src->num_extent_pages ? src->num_extent_pages : 1, 4);
    memcpy(dst->clusters, src->clusters, src->num_clusters * 4);
    memcpy(dst->extent_pages, src->extent_pages, src->num_extent_pages * 4);
    assert_int_equal(bs_xattr_list_copy(&dst->xattrs, &src->xattrs), 0);
    assert_int_equal(bs_xattr_list_copy(&dst->ixattrs, &src->ixattrs), 0);
}

static void merge_crash(enum merge_point pt)
{
    struct dev d;
    dev_malloc(&d, 32, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    uint64_t total = bs_total_data_clusters(bs);
    bs_blob_id c = t_create(bs, 4, true, BS_CLEAR_UNMAP, NULL, 0), s;
    write_pattern(bs, c, 0, 2 * MiB, 1);
    assert_int_equal(t_snapshot(bs, c, NULL, 0, &s), 0);
    write_pattern(bs, c, 1 * MiB, 1 * MiB, 2);
    write_pattern(bs, c, 2 * MiB, 4096, 3);
    uint8_t *ref = read_blob(bs, c, 4 * MiB);
    uint64_t f0 = bs_free_clusters(bs);
    assert_int_equal(f0, total - 4);
    uint32_t md_start = bs->sb.md_start;
    if (pt == MP_DONE) {
        assert_int_equal(t_delete(bs, s), 0);
        t_abandon(bs); /* crash right after the delete returned */
    } else {
        struct bs_blob_md ms, mc;
        md_dup(&ms, &B(bs, s)->md);
        md_dup(&mc, &B(bs, c)->md);
        t_unload(bs);
        uint8_t v[8];
        bs_put64(v, c);
        assert_int_equal(bs_xattr_set(&ms.ixattrs, "SNAPRM", v, 8), 0);
        ms.invalid_flags |= BS_IF_INTERNAL_XATTR;
        write_md(&d, md_start, (uint32_t)s, &ms);
        if (pt >= MP_EP_MERGED) {
            /* both have extent page 0: C's is rewritten with the merged entries */
            assert_true(mc.extent_pages[0] && ms.extent_pages[0]);
            mc.clusters[0] = ms.clusters[0];
            uint8_t *pg = aligned_alloc(PG, PG);
            bs_extent_page_encode(&mc, mc.id, 0, UINT64_MAX, 0, pg);
            raw_io(&d, BDEV_IO_WRITE, ((uint64_t)md_start + mc.extent_pages[0]) * PG, pg, PG);
            free(pg);
        }
        if (pt >= MP_C_PERSISTED) {
            bs_xattr_list_free(&mc.ixattrs); /* S had no parent: SNAP goes, C stays thin */
            mc.invalid_flags &= ~BS_IF_INTERNAL_XATTR;
            write_md(&d, md_start, (uint32_t)c, &mc);
        }
        mark_super_dirty(&d);
        bs_blob_md_free(&ms);
        bs_blob_md_free(&mc);
    }
    for (int round = 0; round < 2; round++) {
        bs = t_load(d.desc, NULL, NULL);
        check_blob(bs, c, ref, 4 * MiB);
        assert_true(bs_blob_is_thin(B(bs, c)));
        if (pt <= MP_EP_MERGED) {
            /* rolled back: S kept as it was, C its clone with only its own clusters */
            assert_non_null(bs_blob_lookup(bs, s));
            assert_true(bs_blob_is_read_only(B(bs, s)));
            assert_int_equal(bs_xattr_find(&B(bs, s)->md.ixattrs, "SNAPRM"), -1);
            assert_int_equal(bs_blob_parent(B(bs, c)), s);
            assert_int_equal(bs_blob_num_allocated_clusters(B(bs, c)), 2);
            assert_int_equal(bs_blob_num_allocated_clusters(B(bs, s)), 2);
            assert_int_equal(bs_free_clusters(bs), f0);
            check_pattern(bs, s, 0, 2 * MiB, 1);
        } else {
            /* completed: S gone, its own cluster freed, C has no parent */
            assert_null(bs_blob_lookup(bs, s));
            assert_int_equal(bs_blob_parent(B(bs, c)), BS_INVALID_ID);
            assert_int_equal(bs_blob_num_allocated_clusters(B(bs, c)), 3);
            assert_int_equal(bs_free_clusters(bs), f0 + 1);
        }
        if (round == 0)
            t_abandon(bs); /* the repaired state survives another crash */
    }
    if (pt <= MP_EP_MERGED) { /* the delete can be done again */
        assert_int_equal(t_delete(bs, s), 0);
        assert_int_equal(bs_free_clusters(bs), f0 + 1);
        check_blob(bs, c, ref, 4 * MiB);
    }
    t_unload(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_free_clusters(bs), f0 + 1);
    check_blob(bs, c, ref, 4 * MiB);
    t_unload(bs);
    free(ref);
    dev_free(&d);
}

static void test_merge_crash_marked(void **state)
{
    (void)state;
    merge_crash(MP_MARKED);
}

static void test_merge_crash_ep_merged(void **state)
{
    (void)state;
    merge_crash(MP_EP_MERGED);
}

static void test_merge_crash_c_persisted(void **state)
{
    (void)state;
    merge_crash(MP_C_PERSISTED);
}

static void test_merge_crash_done(void **state)
{
    (void)state;
    merge_crash(MP_DONE);
}

/* ---- corrupt metadata ---- */

static void test_corrupt_super(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 16, 512);
    int rc;
    /* an empty disk */
    assert_null(t_load(d.desc, BS_LVOLSTORE_TYPE, &rc));
    assert_int_equal(rc, -EILSEQ);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    t_unload(bs);
    /* another type */
    assert_null(t_load(d.desc, "OTHER", &rc));
    assert_int_equal(rc, -ENXIO);
    bs = t_load(d.desc, NULL, NULL);
    t_unload(bs);
    /* a flipped bit */
    uint8_t *pg = read_pages(&d, 0, 1);
    pg[0x30] ^= 0x80;
    raw_io(&d, BDEV_IO_WRITE, 0, pg, PG);
    assert_null(t_load(d.desc, BS_LVOLSTORE_TYPE, &rc));
    assert_int_equal(rc, -EILSEQ);
    assert_non_null(strstr(bs_last_error(), "CRC"));
    /* a valid CRC over nonsense */
    pg[0x30] ^= 0x80;
    bs_put32(pg + 0x1C, 1000);
    bs_page_set_crc(pg);
    raw_io(&d, BDEV_IO_WRITE, 0, pg, PG);
    assert_null(t_load(d.desc, BS_LVOLSTORE_TYPE, &rc));
    assert_int_equal(rc, -EINVAL);
    free(pg);
    dev_free(&d);
}

static void corrupt_setup(struct dev *d, bs_blob_id *id)
{
    dev_malloc(d, 16, 512);
    struct bs *bs = t_init(d->desc, 1 * MiB, NULL);
    t_create(bs, 1, true, BS_CLEAR_UNMAP, NULL, 0);
    *id = t_create(bs, 2, false, BS_CLEAR_UNMAP, NULL, 0);
    assert_int_equal(bs->sb.md_start, 4);
    t_unload(bs);
}

static void expect_load_fails(struct dev *d, int want, const char *msg)
{
    int rc;
    assert_null(t_load(d->desc, NULL, &rc));
    if (rc != want || !strstr(bs_last_error(), msg))
        fail_msg("load: %d '%s', expected %d '%s'", rc, bs_last_error(), want, msg);
}

static void test_corrupt_md(void **state)
{
    (void)state;
    struct dev d;
    bs_blob_id id;
    corrupt_setup(&d, &id);
    uint64_t root = (4 + (uint32_t)id) * PG;
    uint8_t *orig = read_pages(&d, 4 + (uint32_t)id, 1), *pg = aligned_alloc(PG, PG);
    /* a bad CRC in a blob's root page: clean load and recovery both fail loudly */
    memcpy(pg, orig, PG);
    pg[0x40] ^= 1;
    raw_io(&d, BDEV_IO_WRITE, root, pg, PG);
    expect_load_fails(&d, -EINVAL, "bad CRC");
    /* a chain pointing at itself */
    memcpy(pg, orig, PG);
    bs_put32(pg + 0xFF8, (uint32_t)id);
    bs_page_set_crc(pg);
    raw_io(&d, BDEV_IO_WRITE, root, pg, PG);
    expect_load_fails(&d, -EINVAL, "loops");
    /* next beyond the metadata region */
    memcpy(pg, orig, PG);
    bs_put32(pg + 0xFF8, 5000);
    bs_page_set_crc(pg);
    raw_io(&d, BDEV_IO_WRITE, root, pg, PG);
    expect_load_fails(&d, -EINVAL, "beyond");
    /* a descriptor running past the page end */
    memcpy(pg, orig, PG);
    bs_put32(pg + 0x11, 5000);
    bs_page_set_crc(pg);
    raw_io(&d, BDEV_IO_WRITE, root, pg, PG);
    expect_load_fails(&d, -EINVAL, "past the page end");
    /* the extent page is corrupt */
    raw_io(&d, BDEV_IO_WRITE, root, orig, PG);
    struct bs_blob_md md;
    char err[128];
    assert_int_equal(bs_md_decode_chain(orig, 1, id, &md, err, sizeof(err)), 0);
    uint32_t ep = md.extent_pages[0];
    bs_blob_md_free(&md);
    uint8_t *epg = read_pages(&d, 4 + ep, 1);
    epg[0x20] ^= 1;
    raw_io(&d, BDEV_IO_WRITE, (4 + ep) * PG, epg, PG);
    expect_load_fails(&d, -EINVAL, "CRC mismatch");
    /* the same after a crash (recovery) */
    mark_super_dirty(&d);
    expect_load_fails(&d, -EINVAL, "is invalid");
    epg[0x20] ^= 1;
    raw_io(&d, BDEV_IO_WRITE, (4 + ep) * PG, epg, PG);
    /* an unknown descriptor type makes recovery fail */
    memcpy(pg, orig, PG);
    uint32_t end = 0x10 + 29 + 13 + 8; /* flags + table with one entry */
    pg[end] = 42;
    bs_put32(pg + end + 1, 2);
    bs_page_set_crc(pg);
    raw_io(&d, BDEV_IO_WRITE, root, pg, PG);
    expect_load_fails(&d, -EINVAL, "unknown descriptor type 42");
    /* fixed: loads again */
    raw_io(&d, BDEV_IO_WRITE, root, orig, PG);
    struct bs *bs = t_load(d.desc, NULL, NULL);
    assert_non_null(bs_blob_lookup(bs, id));
    t_unload(bs);
    /* clean masks that disagree with the metadata: recovery takes over */
    uint8_t *m = read_pages(&d, 2, 1); /* used-cluster mask */
    m[5] = 0x01;
    raw_io(&d, BDEV_IO_WRITE, 2 * PG, m, PG);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, id)), 2);
    assert_int_equal(bs_free_clusters(bs), bs_total_data_clusters(bs) - 2);
    t_unload(bs);
    free(m);
    free(epg);
    free(pg);
    free(orig);
    dev_free(&d);
}

/* ---- grow (aio file, rescanned) and a file-backed store ---- */

static void test_grow_file(void **state)
{
    (void)state;
    char path[] = "/tmp/bs-grow-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 32 * MiB), 0);
    struct dev d;
    snprintf(d.uri, sizeof(d.uri), "aio://%s", path);
    snprintf(d.name, sizeof(d.name), "%s", path);
    char err[BDEV_ERRMSG_LEN];
    assert_int_equal(create(d.uri, NULL, err), 0);
    dev_open(&d);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    assert_int_equal(bs_total_data_clusters(bs), 31);
    bs_blob_id id = t_create(bs, 4, false, BS_CLEAR_UNMAP, NULL, 0);
    write_pattern(bs, id, 0, 4 * MiB, 31);
    /* same size: nothing to do */
    struct args a = {.bs = bs};
    assert_int_equal(run(p_grow, &a), 0);
    assert_int_equal(ftruncate(fd, 96 * MiB), 0);
    char rescan[300];
    snprintf(rescan, sizeof(rescan), "%s?rescan", d.uri);
    assert_int_equal(create(rescan, NULL, err), 0);
    assert_int_equal(run(p_grow, &a), 0);
    assert_int_equal(bs_total_data_clusters(bs), 95);
    assert_int_equal(bs_free_clusters(bs), 91);
    assert_int_equal(t_resize(bs, id, 90), 0);
    write_pattern(bs, id, 89 * MiB, 4096, 32);
    t_unload(bs);
    /* the store comes back from the file after the device is recreated */
    dev_close(&d);
    assert_int_equal(destroy(d.uri, err), 0);
    snprintf(d.uri, sizeof(d.uri), "uring://%s", path);
    assert_int_equal(create(d.uri, NULL, err), 0);
    dev_open(&d);
    bs = t_load(d.desc, BS_LVOLSTORE_TYPE, NULL);
    assert_int_equal(bs_total_data_clusters(bs), 95);
    check_pattern(bs, id, 0, 4 * MiB, 31);
    check_pattern(bs, id, 89 * MiB, 4096, 32);
    t_abandon(bs);
    bs = t_load(d.desc, BS_LVOLSTORE_TYPE, NULL);
    assert_int_equal(bs_free_clusters(bs), 5);
    t_unload(bs);
    /* shrinking is refused */
    dev_close(&d);
    assert_int_equal(destroy(d.uri, err), 0);
    assert_int_equal(ftruncate(fd, 64 * MiB), 0);
    assert_int_equal(create(d.uri, NULL, err), 0);
    dev_open(&d);
    int rc;
    assert_null(t_load(d.desc, NULL, &rc));
    assert_int_equal(rc, -EILSEQ); /* size beyond the device */
    dev_free(&d);
    close(fd);
    unlink(path);
}

/* A legacy (RLE) blob written by an old SPDK: read, thin allocation (whole chain
 * rewritten), resize, snapshot, reload and recovery. */
static void test_legacy_rle(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 16, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    t_unload(bs);
    struct bs_blob_md md;
    memset(&md, 0, sizeof(md));
    md.id = 0x100000003ull;
    md.invalid_flags = BS_IF_THIN;
    md.num_clusters = 4;
    md.clusters = calloc(4, sizeof(uint32_t));
    md.clusters[0] = 5;
    md.clusters[2] = 6;
    write_md(&d, 4, 3, &md);
    bs_blob_md_free(&md);
    uint8_t *data = aligned_alloc(PG, 2 * MiB);
    fill(data, 1 * MiB, 500);
    fill(data + 1 * MiB, 1 * MiB, 502);
    raw_io(&d, BDEV_IO_WRITE, 5 * MiB, data, 2 * MiB);
    free(data);
    mark_super_dirty(&d);
    bs = t_load(d.desc, NULL, NULL);
    bs_blob_id id = 0x100000003ull;
    struct bs_blob *b = B(bs, id);
    assert_false(b->md.use_extent_table);
    assert_int_equal(bs_blob_num_clusters(b), 4);
    assert_int_equal(bs_blob_num_allocated_clusters(b), 2);
    check_pattern(bs, id, 0, 1 * MiB, 500);
    check_zero(bs, id, 1 * MiB, 1 * MiB);
    check_pattern(bs, id, 2 * MiB, 1 * MiB, 502);
    write_pattern(bs, id, 3 * MiB, 8192, 503);
    assert_int_equal(bs_blob_num_allocated_clusters(b), 3);
    assert_int_equal(t_resize(bs, id, 6), 0);
    write_pattern(bs, id, 5 * MiB, 4096, 505);
    bs_blob_id s;
    assert_int_equal(t_snapshot(bs, id, NULL, 0, &s), 0);
    assert_false(B(bs, s)->md.use_extent_table);
    write_pattern(bs, id, 0, 4096, 506); /* copy-on-write from the RLE snapshot */
    check_pattern(bs, s, 0, 1 * MiB, 500);
    struct masks before, after;
    masks_get(bs, &before);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            t_unload(bs);
        else
            t_abandon(bs);
        bs = t_load(d.desc, NULL, NULL);
        masks_get(bs, &after);
        masks_equal(&before, &after);
        masks_free(&after);
        assert_int_equal(bs_blob_parent(B(bs, id)), s);
        check_pattern(bs, id, 0, 4096, 506);
        check_pattern(bs, id, 2 * MiB, 1 * MiB, 502);
        check_pattern(bs, id, 3 * MiB, 8192, 503);
        check_pattern(bs, id, 5 * MiB, 4096, 505);
        check_pattern(bs, s, 0, 1 * MiB, 500);
    }
    masks_free(&before);
    assert_int_equal(t_delete(bs, id), 0);
    assert_int_equal(t_delete(bs, s), 0);
    assert_int_equal(bs_free_clusters(bs), bs_total_data_clusters(bs));
    t_unload(bs);
    dev_free(&d);
}

/* ---- concurrency ---- */

#define CSLOTS 8

struct cw;
struct cslot {
    struct cw *w;
    struct bdev_io io;
    struct iovec iov;
    uint8_t *buf;
    uint64_t k;
    int iter;
};

struct cw {
    struct bs *bs;
    struct bs_blob *b;
    int r, nr;
    uint64_t chunk, nchunks; /* bytes per chunk */
    uint64_t next;
    int active;
    atomic_int errors;
    struct harness_call *c;
    struct cslot s[CSLOTS];
    /* random mode: each slot owns chunks k % CSLOTS == slot, `iters` writes each */
    bool random;
    int iters;
    uint64_t *last_seed; /* per chunk */
};

static void cslot_go(struct cslot *s);

static void cslot_done(struct bdev_io *io, int st, void *arg)
{
    (void)io;
    struct cslot *s = arg;
    if (st)
        atomic_fetch_add(&s->w->errors, 1);
    cslot_go(s);
}

static void cslot_go(struct cslot *s)
{
    struct cw *w = s->w;
    uint64_t k;
    if (w->random) {
        if (s->iter == w->iters) {
            if (--w->active == 0)
                harness_done(w->c, 0);
            return;
        }
        uint64_t idx = s - w->s;
        uint64_t per = w->nchunks / CSLOTS;
        k = idx + CSLOTS * (mix(idx * 1000 + (uint64_t)s->iter + 7) % per);
        uint64_t seed = mix(k * 77 + (uint64_t)s->iter) | 1;
        w->last_seed[k] = seed;
        fill(s->buf, w->chunk, seed);
        s->iter++;
    } else {
        if (w->next >= w->nchunks) {
            if (--w->active == 0)
                harness_done(w->c, 0);
            return;
        }
        k = w->next;
        w->next += (uint64_t)w->nr;
        fill(s->buf, w->chunk, k);
    }
    s->k = k;
    s->iov = (struct iovec){s->buf, w->chunk};
    uint32_t unit = bs_io_unit_size(w->bs);
    bs_blob_writev(w->b, &s->io, &s->iov, 1, k * w->chunk / unit, w->chunk / unit, cslot_done, s);
}

static void cw_start(struct harness_call *c)
{
    struct cw *w = c->arg;
    w->c = c;
    w->next = (uint64_t)w->r;
    w->active = CSLOTS;
    for (int i = 0; i < CSLOTS; i++) {
        w->s[i].w = w;
        cslot_go(&w->s[i]);
    }
}

struct cw_thread {
    struct cw *w;
    int rc;
    pthread_t t;
};

static void *cw_thread(void *arg)
{
    struct cw_thread *t = arg;
    t->rc = harness_run(t->w->r, cw_start, t->w);
    return NULL;
}

/* Both reactors write interleaved 4 KiB chunks of a thin blob at once: every cluster is
 * first written from both sides concurrently and must be allocated exactly once. */
static void test_concurrent_first_writes(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 64, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id id = t_create(bs, 24, true, BS_CLEAR_UNMAP, NULL, 0);
    uint64_t free0 = bs_free_clusters(bs);
    struct cw w[2];
    struct cw_thread th[2];
    for (int r = 0; r < 2; r++) {
        memset(&w[r], 0, sizeof(w[r]));
        w[r].bs = bs;
        w[r].b = B(bs, id);
        w[r].r = r;
        w[r].nr = 2;
        w[r].chunk = 4096;
        w[r].nchunks = 24 * MiB / 4096;
        for (int i = 0; i < CSLOTS; i++)
            w[r].s[i].buf = malloc(4096);
        th[r] = (struct cw_thread){.w = &w[r]};
    }
    for (int r = 0; r < 2; r++)
        pthread_create(&th[r].t, NULL, cw_thread, &th[r]);
    for (int r = 0; r < 2; r++)
        pthread_join(th[r].t, NULL);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(th[r].rc, 0);
        assert_int_equal(atomic_load(&w[r].errors), 0);
        for (int i = 0; i < CSLOTS; i++)
            free(w[r].s[i].buf);
    }
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, id)), 24);
    assert_int_equal(bs_free_clusters(bs), free0 - 24);
    uint8_t *got = malloc(24 * MiB), *want = malloc(4096);
    assert_int_equal(blob_io(0, bs, id, BDEV_IO_READ, got, 0, 24 * MiB), 0);
    for (uint64_t k = 0; k < 24 * MiB / 4096; k++) {
        fill(want, 4096, k);
        if (memcmp(got + k * 4096, want, 4096))
            fail_msg("chunk %llu differs", (unsigned long long)k);
    }
    /* the map survives a crash */
    t_abandon(bs);
    bs = t_load(d.desc, NULL, NULL);
    assert_int_equal(bs_blob_num_allocated_clusters(B(bs, id)), 24);
    memset(got, 0, 24 * MiB);
    assert_int_equal(blob_io(1, bs, id, BDEV_IO_READ, got, 0, 24 * MiB), 0);
    for (uint64_t k = 0; k < 24 * MiB / 4096; k++) {
        fill(want, 4096, k);
        if (memcmp(got + k * 4096, want, 4096))
            fail_msg("chunk %llu differs after recovery", (unsigned long long)k);
    }
    t_unload(bs);
    free(got);
    free(want);
    dev_free(&d);
}

/* Snapshots and resizes while a reactor keeps writing: I/O is parked and resumed around
 * each metadata change, nothing fails, and the blob ends with the last data written. */
static void test_metadata_ops_under_io(void **state)
{
    (void)state;
    struct dev d;
    dev_malloc(&d, 128, 512);
    struct bs *bs = t_init(d.desc, 1 * MiB, NULL);
    bs_blob_id id = t_create(bs, 16, true, BS_CLEAR_UNMAP, NULL, 0);
    uint64_t nchunks = 16 * MiB / 65536;
    struct cw w;
    memset(&w, 0, sizeof(w));
    w.bs = bs;
    w.b = B(bs, id);
    w.r = 1;
    w.chunk = 65536;
    w.nchunks = nchunks;
    w.random = true;
    w.iters = 400;
    w.last_seed = calloc(nchunks, sizeof(uint64_t));
    for (int i = 0; i < CSLOTS; i++)
        w.s[i].buf = malloc(65536);
    struct cw_thread th = {.w = &w};
    pthread_create(&th.t, NULL, cw_thread, &th);
    bs_blob_id snaps[6];
    int ns = 0;
    for (int i = 0; i < 6; i++) {
        if (t_snapshot(bs, id, NULL, 0, &snaps[ns]) == 0)
            ns++;
        assert_int_equal(t_resize(bs, id, 16 + (uint64_t)i + 1), 0);
        usleep(2000);
    }
    pthread_join(th.t, NULL);
    assert_int_equal(th.rc, 0);
    assert_int_equal(atomic_load(&w.errors), 0);
    assert_int_equal(ns, 6);
    print_message("%llu I/Os parked during snapshots/resizes, %llu clusters allocated\n",
                  (unsigned long long)atomic_load(&bs->stat_parked),
                  (unsigned long long)atomic_load(&bs->stat_allocs));
    assert_int_equal(bs_blob_num_clusters(B(bs, id)), 22);
    uint8_t *got = malloc(65536), *want = malloc(65536);
    for (uint64_t k = 0; k < nchunks; k++) {
        assert_int_equal(blob_io(0, bs, id, BDEV_IO_READ, got, k * 65536, 65536), 0);
        if (w.last_seed[k])
            fill(want, 65536, w.last_seed[k]);
        else
            memset(want, 0, 65536);
        if (memcmp(got, want, 65536))
            fail_msg("chunk %llu differs", (unsigned long long)k);
    }
    /* after a crash too */
    t_abandon(bs);
    bs = t_load(d.desc, NULL, NULL);
    for (uint64_t k = 0; k < nchunks; k++) {
        assert_int_equal(blob_io(1, bs, id, BDEV_IO_READ, got, k * 65536, 65536), 0);
        if (w.last_seed[k])
            fill(want, 65536, w.last_seed[k]);
        else
            memset(want, 0, 65536);
        if (memcmp(got, want, 65536))
            fail_msg("chunk %llu differs after recovery", (unsigned long long)k);
    }
    t_unload(bs);
    for (int i = 0; i < CSLOTS; i++)
        free(w.s[i].buf);
    free(w.last_seed);
    free(got);
    free(want);
    dev_free(&d);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_512),
        cmocka_unit_test(test_example_4096),
        cmocka_unit_test(test_example_pool_only),
        cmocka_unit_test(test_example_no_unmap),
        cmocka_unit_test(test_example_snapshot_clone),
        cmocka_unit_test(test_init_load_unload),
        cmocka_unit_test(test_recovery_ignores_uncommitted_extent_entries),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_thin_thick_resize_delete),
        cmocka_unit_test(test_xattrs_chain),
        cmocka_unit_test(test_snapshot_clone),
        cmocka_unit_test(test_snapshot_crash_before),
        cmocka_unit_test(test_snapshot_crash_after),
        cmocka_unit_test(test_snapshot_merge_delete),
        cmocka_unit_test(test_merge_crash_marked),
        cmocka_unit_test(test_merge_crash_ep_merged),
        cmocka_unit_test(test_merge_crash_c_persisted),
        cmocka_unit_test(test_merge_crash_done),
        cmocka_unit_test(test_corrupt_super),
        cmocka_unit_test(test_corrupt_md),
        cmocka_unit_test(test_grow_file),
        cmocka_unit_test(test_legacy_rle),
        cmocka_unit_test(test_concurrent_first_writes),
        cmocka_unit_test(test_metadata_ops_under_io),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

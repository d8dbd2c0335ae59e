/*
 * File-backed block devices (src/bdev/uring.c, aio.c, file_common.c), created and
 * destroyed through URIs on two reactors:
 *  - a sparse 64 MiB file on /tmp (ext4, direct I/O), on /dev/shm (tmpfs, buffered
 *    fallback) and a loop device (512 and 4096-byte sectors), each with uring:// and
 *    aio:// (uring only on the 4K loop);
 *  - from both reactors at once, each on its own half: writes of 1 block to 1 MiB at
 *    many offsets with aligned, oddly split (512/1536/2048), unaligned (bounced) and
 *    many-segment (> 1024 iovecs) buffers, verified reads, write-zeroes and unmap read
 *    back as zeroes, a burst of 1024 I/Os at once (the ring / AIO context fill up),
 *    flush, out-of-range I/O (-EINVAL);
 *  - destroy, recreate from the same file and verify every byte persisted;
 *  - errors: missing file, bad blk_size, blk_size below the device's sector size,
 *    unknown parameter, host or relative path, not a file or device, too small, name
 *    taken; and the aio rescan hook.
 * Expected contents are tracked per 512-byte sector as a generation (0 = zeroes).
 * Loop devices are attached with LO_FLAGS_AUTOCLEAR while the test holds them open, so
 * they go away even if the test dies; files live in temporary directories removed by
 * the group teardown. The loop parts are skipped when not root.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "bdev/bdev.h"
#include "bdev/bdev_uri.h"
#include "bdev/file_common.h"
#include "bdev_harness.h"

#define MIB (1024ull * 1024)
#define DEV_SIZE (64 * MIB)
#define SLOT MIB
#define SECT 512

static char g_tmp[64], g_shm[64];
static bool g_loops; /* root and /dev/loop-control usable */

/* Creation must fail with want; the message must mention `needle`. */
static void expect_create_error(const char *uri, int want, const char *needle)
{
    char err[BDEV_ERRMSG_LEN] = "";
    struct bdev *b = NULL;
    int rc = create(uri, &b, err);
    if (rc != want)
        fail_msg("%s: got %d (%s), expected %d", uri, rc, err, want);
    assert_null(b);
    if (needle && !strstr(err, needle))
        fail_msg("%s: message '%s' does not mention '%s'", uri, err, needle);
}

/* ---- files and loop devices ---- */

static void make_file(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

struct loopdev {
    char path[32];
    int fd; /* held open: the device detaches (autoclear) when it is closed */
};

static int loop_attach(const char *file, unsigned sector, struct loopdev *l)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int ffd = open(file, O_RDWR | O_CLOEXEC);
    int rc = -ENODEV;
    l->fd = -1;
    for (int tries = 0; ctl >= 0 && ffd >= 0 && tries < 16; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) {
            rc = -errno;
            break;
        }
        snprintf(l->path, sizeof(l->path), "/dev/loop%d", n);
        int lfd = open(l->path, O_RDWR | O_CLOEXEC);
        if (lfd < 0) {
            rc = -errno;
            continue;
        }
        struct loop_config cfg = {.fd = (uint32_t)ffd, .block_size = sector};
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        if (!ioctl(lfd, LOOP_CONFIGURE, &cfg)) {
            l->fd = lfd;
            rc = 0;
            break;
        }
        rc = -errno;
        close(lfd);
        if (rc != -EBUSY)
            break;
    }
    if (ctl >= 0)
        close(ctl);
    if (ffd >= 0)
        close(ffd);
    return rc;
}

static void loop_detach(struct loopdev *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* ---- devices under test ---- */

struct tdev {
    char uri[256];
    struct bdev *b;
    struct bdev_desc *desc;
    uint32_t blk;
    uint64_t num_blocks;
    uint8_t *shadow; /* generation per 512-byte sector; 0 = zeroes */
    uint64_t seed;
};

static struct tdev *g_live; /* for the per-test teardown after a failure */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static void sector_fill(unsigned char *dst, uint64_t sector, uint8_t gen, uint64_t seed)
{
    if (!gen) {
        memset(dst, 0, SECT);
        return;
    }
    for (int k = 0; k < SECT / 8; k++) {
        uint64_t v = mix((sector << 8 | (uint64_t)k) ^ ((uint64_t)gen << 56) ^ seed);
        memcpy(dst + k * 8, &v, 8);
    }
}

/* ---- phases: lists of I/O run on a reactor with a queue depth ---- */

enum expect { EXP_OK, EXP_EINVAL, EXP_ENOTSUP, EXP_EIO, EXP_UNMAP /* 0, or -ENOTSUP if not supported */ };
enum layout { L_ALIGNED, L_SPLIT, L_UNALIGNED, L_MANY, L_COUNT };

struct op {
    enum bdev_io_type type;
    uint64_t off, n; /* blocks */
    int layout;
    uint8_t gen;
    enum expect exp;
};

struct phase {
    struct tdev *dev;
    struct op *ops;
    int n, cap, qd;
    /* reactor side */
    struct harness_call *call;
    struct bdev_channel *ch;
    int next, inflight, completed, errors, unmap_unsupported;
    char msg[256];
};

struct run {
    struct bdev_io io;
    struct phase *ph;
    const struct op *op;
    struct iovec *iov;
    int iovcnt;
    void *raw;
    unsigned char *base;
};

static void phase_error(struct phase *ph, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void phase_error(struct phase *ph, const char *fmt, ...)
{
    if (!ph->errors++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ph->msg, sizeof(ph->msg), fmt, ap);
        va_end(ap);
    }
}

static void phase_kick(struct phase *ph);

static void op_done(struct bdev_io *io, int status, void *arg)
{
    struct run *r = arg;
    struct phase *ph = r->ph;
    struct tdev *d = ph->dev;
    const struct op *op = r->op;
    uint64_t bytes = op->n * d->blk, first = op->off * d->blk / SECT, nsect = bytes / SECT;
    bool ok;
    switch (op->exp) {
    case EXP_OK: ok = status == 0; break;
    case EXP_EINVAL: ok = status == -EINVAL; break;
    case EXP_ENOTSUP: ok = status == -ENOTSUP; break;
    case EXP_EIO: ok = status == -EIO; break;
    default: ok = status == 0 || status == -ENOTSUP; break;
    }
    if (!ok)
        phase_error(ph, "%s: type %d at block %" PRIu64 " x %" PRIu64 " (layout %d): status %d (%s)",
                    d->uri, op->type, op->off, op->n, op->layout, status, strerror(-status));
    if (op->exp == EXP_UNMAP && status == -ENOTSUP)
        ph->unmap_unsupported++;
    if ((op->type == BDEV_IO_READ || op->type == BDEV_IO_WRITE) && io->iov != r->iov)
        phase_error(ph, "io->iov not restored after completion");
    if (!status && op->exp != EXP_EINVAL && op->exp != EXP_EIO) {
        if (op->type == BDEV_IO_WRITE)
            memset(d->shadow + first, op->gen, nsect);
        else if (op->type == BDEV_IO_WRITE_ZEROES || op->type == BDEV_IO_UNMAP)
            memset(d->shadow + first, 0, nsect);
        else if (op->type == BDEV_IO_READ) {
            unsigned char want[SECT];
            for (uint64_t s = 0; s < nsect; s++) {
                sector_fill(want, first + s, d->shadow[first + s], d->seed);
                if (memcmp(want, r->base + s * SECT, SECT)) {
                    phase_error(ph, "%s: data mismatch in sector %" PRIu64
                                " (gen %u) reading block %" PRIu64 " x %" PRIu64 " layout %d",
                                d->uri, first + s, d->shadow[first + s], op->off, op->n,
                                op->layout);
                    break;
                }
            }
        }
    }
    free(r->iov);
    free(r->raw);
    free(r);
    ph->inflight--;
    ph->completed++;
    phase_kick(ph);
}

/* Buffers for a transfer: one contiguous area (base), split per layout. */
static int make_buffers(struct run *r, uint64_t len, int idx)
{
    size_t cnt = 1;
    if (r->op->layout == L_SPLIT)
        cnt = len / 512 + 1;
    else if (r->op->layout == L_MANY)
        cnt = len / 512;
    else if (r->op->layout == L_UNALIGNED)
        cnt = 2;
    r->iov = calloc(cnt, sizeof(*r->iov));
    if (r->op->layout == L_UNALIGNED) {
        r->raw = malloc(len + 64);
        r->base = r->raw ? (unsigned char *)r->raw + 1 + idx % 63 : NULL;
    } else {
        r->raw = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
        r->base = r->raw;
    }
    if (!r->iov || !r->raw)
        return -ENOMEM;
    int n = 0;
    uint64_t at = 0;
    static const uint64_t split[] = {512, 1536, 2048};
    while (at < len) {
        uint64_t seg = len - at;
        if (r->op->layout == L_SPLIT && split[n % 3] < seg)
            seg = split[n % 3];
        else if (r->op->layout == L_MANY)
            seg = 512;
        else if (r->op->layout == L_UNALIGNED && n == 0 && len > 1000)
            seg = 1000;
        r->iov[n].iov_base = r->base + at;
        r->iov[n].iov_len = seg;
        at += seg;
        n++;
    }
    r->iovcnt = n;
    return 0;
}

static void start_op(struct phase *ph, const struct op *op, int idx)
{
    struct tdev *d = ph->dev;
    struct run *r = calloc(1, sizeof(*r));
    if (!r) {
        phase_error(ph, "out of memory");
        ph->completed++;
        return;
    }
    r->ph = ph;
    r->op = op;
    ph->inflight++;
    uint64_t len = op->n * d->blk;
    switch (op->type) {
    case BDEV_IO_READ:
    case BDEV_IO_WRITE:
        if (make_buffers(r, len ? len : d->blk, idx)) {
            phase_error(ph, "out of memory");
            free(r->iov);
            free(r->raw);
            free(r);
            ph->inflight--;
            ph->completed++;
            return;
        }
        if (op->type == BDEV_IO_WRITE && op->exp == EXP_OK)
            for (uint64_t s = 0; s < len / SECT; s++)
                sector_fill(r->base + s * SECT, op->off * d->blk / SECT + s, op->gen, d->seed);
        if (op->type == BDEV_IO_READ)
            memset(r->base, 0xa5, len ? len : d->blk);
        if (op->type == BDEV_IO_READ)
            bdev_readv(ph->ch, &r->io, r->iov, r->iovcnt, op->off, op->n, op_done, r);
        else
            bdev_writev(ph->ch, &r->io, r->iov, r->iovcnt, op->off, op->n, op_done, r);
        break;
    case BDEV_IO_FLUSH:
        bdev_flush(ph->ch, &r->io, op->off, op->n, op_done, r);
        break;
    case BDEV_IO_UNMAP:
        bdev_unmap(ph->ch, &r->io, op->off, op->n, op_done, r);
        break;
    case BDEV_IO_WRITE_ZEROES:
        bdev_write_zeroes(ph->ch, &r->io, op->off, op->n, op_done, r);
        break;
    default:
        bdev_reset(ph->ch, &r->io, op_done, r);
        break;
    }
}

static void phase_kick(struct phase *ph)
{
    while (ph->inflight < ph->qd && ph->next < ph->n) {
        int i = ph->next++;
        start_op(ph, &ph->ops[i], i);
    }
    if (ph->completed == ph->n && !ph->inflight)
        harness_done(ph->call, ph->errors ? -EIO : 0);
}

static void phase_start(struct harness_call *c)
{
    struct phase *ph = c->arg;
    ph->call = c;
    ph->ch = bdev_get_channel(ph->dev->desc);
    if (!ph->ch) {
        phase_error(ph, "no channel");
        harness_done(c, -ENODEV);
        return;
    }
    if (!ph->n) {
        harness_done(c, 0);
        return;
    }
    phase_kick(ph);
}

static void add_op(struct phase *ph, enum bdev_io_type t, uint64_t off, uint64_t n, int layout,
                   uint8_t gen, enum expect exp)
{
    if (ph->n == ph->cap) {
        ph->cap = ph->cap ? ph->cap * 2 : 64;
        ph->ops = realloc(ph->ops, (size_t)ph->cap * sizeof(*ph->ops));
        assert_non_null(ph->ops);
    }
    ph->ops[ph->n++] = (struct op){t, off, n, layout, gen, exp};
}

static void phase_reset(struct phase *ph, struct tdev *d, int qd)
{
    free(ph->ops);
    memset(ph, 0, sizeof(*ph));
    ph->dev = d;
    ph->qd = qd;
}

/* Runs ph[0] on reactor 0 and ph[1] on reactor 1 at the same time. */
static void run_phases(struct phase ph[2], const char *what)
{
    struct harness_call c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = (struct harness_call){.fn = phase_start, .arg = &ph[i]};
        atomic_init(&c[i].done, false);
        assert_int_equal(reactor_send(reactor_get(i), harness_trampoline, &c[i]), 0);
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += HARNESS_WAIT_MS / 1000;
    pthread_mutex_lock(&harness_mu);
    while (!atomic_load(&c[0].done) || !atomic_load(&c[1].done))
        if (pthread_cond_timedwait(&harness_cv, &harness_mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&harness_mu);
    for (int i = 0; i < 2; i++) {
        if (!atomic_load(&c[i].done))
            fail_msg("%s: reactor %d timed out (%d of %d done)", what, i, ph[i].completed, ph[i].n);
        if (c[i].rc)
            fail_msg("%s on reactor %d: %d errors, first: %s", what, i, ph[i].errors, ph[i].msg);
    }
}

/* ---- workload generation (test thread) ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    return mix(*s);
}

static uint64_t pick_len(uint64_t *rng, uint32_t blk)
{
    uint64_t max = SLOT / blk, n;
    switch (rng_next(rng) % 8) {
    case 0: n = 1; break;
    case 1: n = 2; break;
    case 2: n = 3; break;
    case 3: n = (4096 + blk - 1) / blk + 1; break;
    case 4: n = (65536 / blk) + 1; break;
    case 5: n = max; break;
    default: n = 1 + rng_next(rng) % (262144 / blk); break;
    }
    return n > max ? max : n;
}

/* Reactor i owns the blocks [half*i, half*(i+1)), in slots of SLOT bytes. */
static void half_range(const struct tdev *d, int i, uint64_t *first, uint64_t *slots,
                       uint64_t *per_slot)
{
    uint64_t half = d->num_blocks / 2;
    *per_slot = SLOT / d->blk;
    *first = half * (uint64_t)i;
    *slots = half / *per_slot;
}

static void gen_writes(struct phase *ph, int i, uint8_t gen, uint64_t *rng)
{
    uint64_t first, slots, per;
    half_range(ph->dev, i, &first, &slots, &per);
    for (uint64_t s = 0; s < slots; s++) {
        uint64_t n = pick_len(rng, ph->dev->blk);
        uint64_t off = first + s * per + rng_next(rng) % (per - n + 1);
        add_op(ph, BDEV_IO_WRITE, off, n, (int)((s + gen) % L_COUNT), gen, EXP_OK);
    }
}

static void gen_reads(struct phase *ph, int i, uint64_t *rng)
{
    uint64_t first, slots, per;
    half_range(ph->dev, i, &first, &slots, &per);
    for (uint64_t s = 0; s < slots; s++) {
        if (s % 4 == 0) /* whole slot */
            add_op(ph, BDEV_IO_READ, first + s * per, per, (int)(s / 4 % L_COUNT), 0, EXP_OK);
        uint64_t n = pick_len(rng, ph->dev->blk);
        uint64_t off = first + s * per + rng_next(rng) % (per - n + 1);
        add_op(ph, BDEV_IO_READ, off, n, (int)(rng_next(rng) % L_COUNT), 0, EXP_OK);
    }
}

static void gen_zeroes(struct phase *ph, int i, uint64_t *rng)
{
    uint64_t first, slots, per;
    half_range(ph->dev, i, &first, &slots, &per);
    bool unmap = bdev_io_type_supported(ph->dev->b, BDEV_IO_UNMAP);
    for (uint64_t s = 0; s < slots; s++) {
        uint64_t n = pick_len(rng, ph->dev->blk);
        uint64_t off = first + s * per + rng_next(rng) % (per - n + 1);
        if (s % 2 == 0)
            add_op(ph, BDEV_IO_WRITE_ZEROES, off, n, 0, 0, EXP_OK);
        else
            add_op(ph, BDEV_IO_UNMAP, off, n, 0, 0, unmap ? EXP_UNMAP : EXP_ENOTSUP);
    }
}

/* 1024 one-block I/Os queued at once. */
static void gen_burst(struct phase *ph, int i, enum bdev_io_type t, uint8_t gen)
{
    uint64_t first, slots, per;
    half_range(ph->dev, i, &first, &slots, &per);
    for (uint64_t k = 0; k < 1024; k++)
        add_op(ph, t, first + k * 2, 1, L_ALIGNED, gen, EXP_OK);
}

static void gen_full_read(struct phase *ph, int i)
{
    uint64_t first, slots, per;
    half_range(ph->dev, i, &first, &slots, &per);
    for (uint64_t s = 0; s < slots; s++)
        add_op(ph, BDEV_IO_READ, first + s * per, per, (int)(s % L_COUNT), 0, EXP_OK);
}

static void gen_edges(struct phase *ph)
{
    uint64_t nb = ph->dev->num_blocks;
    add_op(ph, BDEV_IO_FLUSH, 0, nb, 0, 0, EXP_OK);
    add_op(ph, BDEV_IO_READ, nb - 1, 2, L_ALIGNED, 0, EXP_EINVAL);
    add_op(ph, BDEV_IO_WRITE, nb, 1, L_ALIGNED, 0, EXP_EINVAL);
    add_op(ph, BDEV_IO_READ, 0, 0, L_ALIGNED, 0, EXP_EINVAL);
    add_op(ph, BDEV_IO_WRITE_ZEROES, nb - 1, 2, 0, 0, EXP_EINVAL);
    add_op(ph, BDEV_IO_UNMAP, nb, 1, 0, 0, EXP_EINVAL);
    add_op(ph, BDEV_IO_FLUSH, 0, nb + 1, 0, 0, EXP_EINVAL);
    add_op(ph, BDEV_IO_RESET, 0, 0, 0, 0, EXP_OK);
}

/* ---- the per-device scenario ---- */

struct expect_geo {
    uint32_t blk, align;
    bool direct;
    const char *driver, *product;
};

static void check_device(struct tdev *d, const char *path, const struct expect_geo *g)
{
    struct bdev *b = d->b;
    assert_string_equal(b->name, path);
    assert_string_equal(b->ops->driver, g->driver);
    assert_string_equal(b->product_name, g->product);
    assert_int_equal(b->blk_size, g->blk);
    assert_int_equal(b->required_alignment, g->align);
    assert_int_equal(b->num_blocks, DEV_SIZE / g->blk);
    assert_true(bdev_has_alias(b, d->uri));
    json_t *o = json_object();
    b->ops->dump_info(b, o);
    assert_string_equal(json_string_value(json_object_get(o, "filename")), path);
    assert_true(json_is_boolean(json_object_get(o, "direct")));
    assert_int_equal(json_is_true(json_object_get(o, "direct")), g->direct);
    assert_true(json_integer_value(json_object_get(o, "block_size_detected")) >= 512);
    json_decref(o);
    assert_true(bdev_io_type_supported(b, BDEV_IO_FLUSH));
    if (!strcmp(g->driver, "aio"))
        assert_false(bdev_io_type_supported(b, BDEV_IO_UNMAP));
}

static void dev_open(struct tdev *d, const char *path, const struct expect_geo *g)
{
    char err[BDEV_ERRMSG_LEN];
    int rc = create(d->uri, &d->b, err);
    if (rc)
        fail_msg("create %s: %d (%s)", d->uri, rc, err);
    g_live = d;
    check_device(d, path, g);
    d->blk = d->b->blk_size;
    d->num_blocks = d->b->num_blocks;
    d->desc = open_dev(path);
}

static void dev_close(struct tdev *d)
{
    char err[BDEV_ERRMSG_LEN];
    close_dev(d->desc);
    d->desc = NULL;
    int rc = destroy(d->uri, err);
    if (rc)
        fail_msg("destroy %s: %d (%s)", d->uri, rc, err);
    d->b = NULL;
    g_live = NULL;
}

static void run_device(const char *scheme, const char *path, const char *params,
                       const struct expect_geo *g)
{
    static struct tdev d; /* static: the teardown finds it after a failure */
    memset(&d, 0, sizeof(d));
    snprintf(d.uri, sizeof(d.uri), "%s://%s%s%s", scheme, path, params ? "?" : "", params ? params : "");
    d.shadow = calloc(DEV_SIZE / SECT, 1);
    assert_non_null(d.shadow);
    for (const char *c = d.uri; *c; c++) /* deterministic per URI */
        d.seed = mix(d.seed ^ (unsigned char)*c);
    uint64_t rng = d.seed;

    dev_open(&d, path, g);
    struct phase ph[2] = {0};
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 8);
        gen_writes(&ph[i], i, 1, &rng);
    }
    run_phases(ph, "writes");
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 8);
        gen_reads(&ph[i], i, &rng);
    }
    run_phases(ph, "reads");
    for (int i = 0; i < 2; i++) { /* overwrite parts of the first generation */
        phase_reset(&ph[i], &d, 4);
        gen_writes(&ph[i], i, 2, &rng);
    }
    run_phases(ph, "overwrites");
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 8);
        gen_zeroes(&ph[i], i, &rng);
    }
    run_phases(ph, "write-zeroes and unmap");
    int unsupported = ph[0].unmap_unsupported + ph[1].unmap_unsupported;
    if (unsupported) /* only acceptable if the device learned it cannot */
        assert_false(bdev_io_type_supported(d.b, BDEV_IO_UNMAP));
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 8);
        gen_reads(&ph[i], i, &rng);
    }
    run_phases(ph, "reads after zeroing");
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 1024);
        gen_burst(&ph[i], i, BDEV_IO_WRITE, 3);
    }
    run_phases(ph, "write burst");
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 1024);
        gen_burst(&ph[i], i, BDEV_IO_READ, 0);
    }
    run_phases(ph, "read burst");
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 4);
        gen_edges(&ph[i]);
    }
    run_phases(ph, "flush and range checks");
    dev_close(&d);

    /* The data outlives the device. */
    dev_open(&d, path, g);
    for (int i = 0; i < 2; i++) {
        phase_reset(&ph[i], &d, 8);
        gen_full_read(&ph[i], i);
    }
    run_phases(ph, "full read after re-creation");
    dev_close(&d);
    for (int i = 0; i < 2; i++)
        phase_reset(&ph[i], NULL, 0);
    free(d.shadow);
    d.shadow = NULL;
}

/* ---- tests ---- */

static const struct expect_geo URING_DIRECT = {512, 512, true, "uring", "Uring bdev"};
static const struct expect_geo AIO_DIRECT = {512, 512, true, "aio", "AIO disk"};
static const struct expect_geo URING_BUFFERED = {512, 1, false, "uring", "Uring bdev"};
static const struct expect_geo AIO_BUFFERED = {512, 1, false, "aio", "AIO disk"};

static void file_case(const char *dir, const char *scheme, const struct expect_geo *g)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.img", dir, scheme);
    make_file(path, DEV_SIZE);
    run_device(scheme, path, NULL, g);
    unlink(path);
}

static void test_uring_file(void **state)
{
    (void)state;
    file_case(g_tmp, "uring", &URING_DIRECT);
}

static void test_aio_file(void **state)
{
    (void)state;
    file_case(g_tmp, "aio", &AIO_DIRECT);
}

static void test_uring_tmpfs(void **state)
{
    (void)state;
    file_case(g_shm, "uring", &URING_BUFFERED);
}

static void test_aio_tmpfs(void **state)
{
    (void)state;
    file_case(g_shm, "aio", &AIO_BUFFERED);
}

static struct loopdev g_loop = {.fd = -1};

static void loop_case(const char *scheme, unsigned sector, const char *params,
                      const struct expect_geo *g)
{
    if (!g_loops)
        skip();
    char file[128];
    snprintf(file, sizeof(file), "%s/loop-%s-%u.img", g_tmp, scheme, sector);
    make_file(file, DEV_SIZE);
    int rc = loop_attach(file, sector, &g_loop);
    unlink(file); /* the loop device keeps it */
    if (rc)
        fail_msg("cannot attach a loop device: %s", strerror(-rc));
    run_device(scheme, g_loop.path, params, g);
    loop_detach(&g_loop);
}

static void test_uring_loop(void **state)
{
    (void)state;
    loop_case("uring", 512, NULL, &URING_DIRECT);
}

static void test_aio_loop(void **state)
{
    (void)state;
    loop_case("aio", 512, NULL, &AIO_DIRECT);
}

static void test_uring_loop_4k(void **state)
{
    (void)state;
    static const struct expect_geo g = {4096, 4096, true, "uring", "Uring bdev"};
    loop_case("uring", 4096, "blk_size=0", &g);
}

static void test_errors(void **state)
{
    (void)state;
    char uri[256], path[128], err[BDEV_ERRMSG_LEN];
    struct bdev *b;

    snprintf(uri, sizeof(uri), "uring://%s/missing.img", g_tmp);
    expect_create_error(uri, -ENOENT, "No such file or directory");
    snprintf(uri, sizeof(uri), "aio://%s/missing.img", g_tmp);
    expect_create_error(uri, -ENOENT, "No such file or directory");

    snprintf(path, sizeof(path), "%s/err.img", g_tmp);
    make_file(path, 4 * MIB);
    static const char *const bad_blk[] = {"1000", "256", "131072", "0x200", "-512", ""};
    for (size_t i = 0; i < sizeof(bad_blk) / sizeof(bad_blk[0]); i++) {
        snprintf(uri, sizeof(uri), "uring://%s?blk_size=%s", path, bad_blk[i]);
        expect_create_error(uri, -EINVAL, "blk_size");
    }
    snprintf(uri, sizeof(uri), "uring://%s?foo=bar", path);
    expect_create_error(uri, -EINVAL, "foo");
    snprintf(uri, sizeof(uri), "uring://%s?rescan", path); /* aio only */
    expect_create_error(uri, -EINVAL, "rescan");
    snprintf(uri, sizeof(uri), "aio://%s?uuid=nope", path);
    expect_create_error(uri, -EINVAL, "uuid");
    snprintf(uri, sizeof(uri), "aio://localhost%s", path);
    expect_create_error(uri, -EINVAL, "host");
    expect_create_error("uring://", -EINVAL, NULL);
    expect_create_error("uring:///", -EINVAL, NULL);
    expect_create_error("aio://disk.img", -EINVAL, NULL);
    expect_create_error("uring:///dev/null", -EINVAL, "not a regular file");
    snprintf(uri, sizeof(uri), "uring://%s", g_tmp);
    expect_create_error(uri, -EISDIR, NULL);
    snprintf(uri, sizeof(uri), "uring://%s?blk_size=8192", path);
    struct bdev *big;
    assert_int_equal(create(uri, &big, err), 0);
    assert_int_equal(big->blk_size, 8192);
    assert_int_equal(big->num_blocks, 4 * MIB / 8192);
    /* The same file twice: the name is the path. */
    snprintf(uri, sizeof(uri), "aio://%s", path);
    expect_create_error(uri, -EEXIST, NULL);
    snprintf(uri, sizeof(uri), "uring://%s?blk_size=8192", path);
    assert_int_equal(destroy(uri, err), 0);

    char small[128];
    snprintf(small, sizeof(small), "%s/small.img", g_tmp);
    make_file(small, 100);
    snprintf(uri, sizeof(uri), "aio://%s", small);
    expect_create_error(uri, -EINVAL, "too small");
    make_file(small, 4096);
    snprintf(uri, sizeof(uri), "aio://%s?blk_size=8192", small);
    expect_create_error(uri, -EINVAL, "too small");
    unlink(small);

    /* uuid given, and the name of a device URI. */
    snprintf(uri, sizeof(uri), "aio://%s?uuid=0a1b2c3d-0000-4000-8000-00000000abcd&blk_size=4096", path);
    assert_int_equal(create(uri, &b, err), 0);
    char u[37];
    uuid_unparse_lower(b->uuid, u);
    assert_string_equal(u, "0a1b2c3d-0000-4000-8000-00000000abcd");
    assert_int_equal(b->blk_size, 4096);
    char name[256];
    assert_int_equal(bdev_uri_name(uri, name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, path);
    assert_int_equal(destroy(uri, err), 0);
    assert_int_equal(bdev_uri_name("aio:///dev/loop3", name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "/dev/loop3");
    unlink(path);

    if (!g_loops)
        return;
    /* A 4K-sector device cannot be used with 512-byte blocks. */
    char file[128];
    snprintf(file, sizeof(file), "%s/loop4k.img", g_tmp);
    make_file(file, 8 * MIB);
    int rc = loop_attach(file, 4096, &g_loop);
    unlink(file);
    if (rc)
        fail_msg("cannot attach a loop device: %s", strerror(-rc));
    snprintf(uri, sizeof(uri), "aio://%s?blk_size=512", g_loop.path);
    expect_create_error(uri, -EINVAL, "4096");
    snprintf(uri, sizeof(uri), "uring://%s?blk_size=1024", g_loop.path);
    expect_create_error(uri, -EINVAL, "smaller");
    snprintf(uri, sizeof(uri), "uring://%s", g_loop.path); /* auto: the sector size */
    assert_int_equal(create(uri, &b, err), 0);
    assert_int_equal(b->blk_size, 4096);
    assert_int_equal(b->required_alignment, 4096);
    assert_int_equal(b->num_blocks, 8 * MIB / 4096);
    assert_int_equal(destroy(uri, err), 0);
    snprintf(uri, sizeof(uri), "aio://%s?blk_size=16384", g_loop.path);
    assert_int_equal(create(uri, &b, err), 0);
    assert_int_equal(b->blk_size, 16384);
    assert_int_equal(b->required_alignment, 4096);
    assert_int_equal(destroy(uri, err), 0);
    loop_detach(&g_loop);
}

/* aio's rescan: the hook re-reads the size of an existing device. */
struct rescan_op {
    struct bdev *b;
    char err[BDEV_ERRMSG_LEN];
};

static void rescan_on_primary(struct harness_call *c)
{
    struct rescan_op *r = c->arg;
    harness_done(c, file_rescan(r->b, r->err, sizeof(r->err)));
}

static void test_rescan(void **state)
{
    (void)state;
    char path[128], uri[256], err[BDEV_ERRMSG_LEN];
    snprintf(path, sizeof(path), "%s/rescan.img", g_tmp);
    make_file(path, 1 * MIB);
    snprintf(uri, sizeof(uri), "aio://%s?rescan", path);
    struct bdev *b;
    assert_int_equal(create(uri, &b, err), 0); /* rescan of a new device: just creates it */
    assert_int_equal(b->num_blocks, MIB / 512);
    assert_int_equal(truncate(path, (off_t)(3 * MIB)), 0);
    struct rescan_op r = {.b = b};
    assert_int_equal(harness_run(0, rescan_on_primary, &r), 0);
    assert_int_equal(b->num_blocks, 3 * MIB / 512);
    /* Shrinking while open is refused; closed, it is taken. */
    struct bdev_desc *desc = open_dev(path);
    assert_int_equal(truncate(path, (off_t)(2 * MIB)), 0);
    assert_int_equal(harness_run(0, rescan_on_primary, &r), -EBUSY);
    assert_int_equal(b->num_blocks, 3 * MIB / 512);
    close_dev(desc);
    assert_int_equal(harness_run(0, rescan_on_primary, &r), 0);
    assert_int_equal(b->num_blocks, 2 * MIB / 512);
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(harness_run(0, rescan_on_primary, &r), -EINVAL);
    assert_int_equal(destroy(uri, err), 0);
    unlink(path);
}

/* Partial transfers: where a read or write continues after the kernel did part of it. */
static void test_progress(void **state)
{
    (void)state;
    static char buf[8192];
    struct bdev b = {.blk_size = 512};
    struct iovec iov[4] = {{buf, 512}, {buf + 512, 0}, {buf + 512, 1536}, {buf + 2048, 2048}};
    struct bdev_io io = {.iov = iov, .iovcnt = 4, .offset_blocks = 10, .num_blocks = 8, .bdev = &b};
    struct file_progress p = {0};
    void *one;
    size_t len;
    const struct iovec *v;
    int cnt;
    uint64_t off;

    assert_false(file_progress_next(&io, &p, &one, &len, &v, &cnt, &off));
    assert_ptr_equal(v, iov);
    assert_int_equal(cnt, 4);
    assert_int_equal(off, 5120);
    file_progress_advance(&io, &p, 512); /* the end of a segment; the empty one is skipped */
    assert_int_equal(p.seg, 2);
    assert_int_equal(p.seg_off, 0);
    assert_false(file_progress_next(&io, &p, &one, &len, &v, &cnt, &off));
    assert_ptr_equal(v, &iov[2]);
    assert_int_equal(cnt, 2);
    assert_int_equal(off, 5120 + 512);
    file_progress_advance(&io, &p, 1000); /* inside a segment: the rest of it alone */
    assert_true(file_progress_next(&io, &p, &one, &len, &v, &cnt, &off));
    assert_ptr_equal(one, buf + 1512);
    assert_int_equal(len, 536);
    assert_int_equal(off, 5120 + 1512);
    file_progress_advance(&io, &p, 536 + 1024); /* across a segment boundary */
    assert_int_equal(p.seg, 3);
    assert_int_equal(p.seg_off, 1024);
    assert_true(file_progress_next(&io, &p, &one, &len, &v, &cnt, &off));
    assert_ptr_equal(one, buf + 3072);
    assert_int_equal(len, 1024);
    file_progress_advance(&io, &p, 1024);
    assert_int_equal(p.done, 4096);
    assert_int_equal(p.seg, 4);

    /* More segments than the kernel takes at once: FILE_MAX_SEGS per request. */
    enum { N = FILE_MAX_SEGS * 2 + 10 };
    static struct iovec many[N];
    static char big[N * 512];
    for (int i = 0; i < N; i++)
        many[i] = (struct iovec){big + i * 512, 512};
    struct bdev_io io2 = {.iov = many, .iovcnt = N, .num_blocks = N, .bdev = &b};
    struct file_progress p2 = {0};
    assert_false(file_progress_next(&io2, &p2, &one, &len, &v, &cnt, &off));
    assert_int_equal(cnt, FILE_MAX_SEGS);
    file_progress_advance(&io2, &p2, (uint64_t)FILE_MAX_SEGS * 512);
    assert_false(file_progress_next(&io2, &p2, &one, &len, &v, &cnt, &off));
    assert_ptr_equal(v, &many[FILE_MAX_SEGS]);
    assert_int_equal(cnt, FILE_MAX_SEGS);
    assert_int_equal(off, (uint64_t)FILE_MAX_SEGS * 512);
    file_progress_advance(&io2, &p2, (uint64_t)FILE_MAX_SEGS * 512);
    assert_false(file_progress_next(&io2, &p2, &one, &len, &v, &cnt, &off));
    assert_int_equal(cnt, 10);
}

/* A file cut short under a live device: a read that reaches past the new end gets a
 * short transfer, continues, gets 0 bytes and fails with -EIO; reads before it work. */
static void short_case(const char *dir, const char *scheme)
{
    static struct tdev d;
    char path[128];
    memset(&d, 0, sizeof(d));
    snprintf(path, sizeof(path), "%s/short-%s.img", dir, scheme);
    snprintf(d.uri, sizeof(d.uri), "%s://%s", scheme, path);
    make_file(path, MIB);
    d.shadow = calloc(MIB / SECT, 1);
    assert_non_null(d.shadow);
    char err[BDEV_ERRMSG_LEN];
    int rc = create(d.uri, &d.b, err);
    if (rc)
        fail_msg("create %s: %d (%s)", d.uri, rc, err);
    g_live = &d;
    d.blk = d.b->blk_size;
    d.num_blocks = d.b->num_blocks;
    d.desc = open_dev(path);
    struct phase ph[2] = {0};
    phase_reset(&ph[0], &d, 1);
    phase_reset(&ph[1], &d, 8);
    add_op(&ph[1], BDEV_IO_WRITE, 0, 8, L_ALIGNED, 1, EXP_OK);
    add_op(&ph[1], BDEV_IO_WRITE, d.num_blocks - 8, 8, L_ALIGNED, 1, EXP_OK);
    run_phases(ph, "writes");
    assert_int_equal(truncate(path, (off_t)(MIB - 2048)), 0);
    phase_reset(&ph[1], &d, 1);
    add_op(&ph[1], BDEV_IO_READ, 0, 8, L_ALIGNED, 0, EXP_OK);
    add_op(&ph[1], BDEV_IO_READ, d.num_blocks - 8, 8, L_ALIGNED, 0, EXP_EIO);
    add_op(&ph[1], BDEV_IO_READ, d.num_blocks - 8, 8, L_SPLIT, 0, EXP_EIO);
    run_phases(ph, "reads past the end");
    close_dev(d.desc);
    d.desc = NULL;
    assert_int_equal(destroy(d.uri, err), 0);
    g_live = NULL;
    for (int i = 0; i < 2; i++)
        phase_reset(&ph[i], NULL, 0);
    free(d.shadow);
    d.shadow = NULL;
    unlink(path);
}

static void test_short_transfers(void **state)
{
    (void)state;
    short_case(g_tmp, "uring");
    short_case(g_tmp, "aio");
    short_case(g_shm, "uring");
    short_case(g_shm, "aio");
}

/* ---- setup ---- */

static int teardown_test(void **state)
{
    (void)state;
    if (g_live) { /* a failed test left its device behind */
        if (g_live->desc)
            harness_run(0, close_on_primary, g_live->desc);
        struct uri_op op = {.uri = g_live->uri, .destroy = true};
        harness_run(0, uri_on_primary, &op);
        free(g_live->shadow);
        g_live->shadow = NULL;
        g_live = NULL;
    }
    loop_detach(&g_loop);
    return 0;
}

static void rm_dir(const char *dir)
{
    char cmd[128];
    if (!dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd))
        fprintf(stderr, "cannot remove %s\n", dir);
}

static int group_setup(void **state)
{
    (void)state;
    strcpy(g_tmp, "/tmp/ioe-bdev-file-XXXXXX");
    strcpy(g_shm, "/dev/shm/ioe-bdev-file-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    if (!mkdtemp(g_shm))
        return -1;
    g_loops = geteuid() == 0 && access("/dev/loop-control", R_OK | W_OK) == 0;
    return harness_start();
}

static int group_teardown(void **state)
{
    (void)state;
    harness_stop();
    rm_dir(g_tmp);
    rm_dir(g_shm);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_errors, teardown_test),
        cmocka_unit_test_teardown(test_rescan, teardown_test),
        cmocka_unit_test(test_progress),
        cmocka_unit_test_teardown(test_short_transfers, teardown_test),
        cmocka_unit_test_teardown(test_uring_file, teardown_test),
        cmocka_unit_test_teardown(test_aio_file, teardown_test),
        cmocka_unit_test_teardown(test_uring_tmpfs, teardown_test),
        cmocka_unit_test_teardown(test_aio_tmpfs, teardown_test),
        cmocka_unit_test_teardown(test_uring_loop, teardown_test),
        cmocka_unit_test_teardown(test_aio_loop, teardown_test),
        cmocka_unit_test_teardown(test_uring_loop_4k, teardown_test),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

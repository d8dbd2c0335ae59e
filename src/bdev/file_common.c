#include "file_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uri.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

int file_uri_name(const struct uri *u, char *name, size_t len, char *err, size_t errlen)
{
    if (u->host[0] || u->port >= 0)
        return fail(err, errlen, -EINVAL,
                    "%s:// takes an absolute path without a host: %s:///<path> (got host '%s')",
                    u->scheme, u->scheme, u->host);
    if (u->path[0] != '/' || !u->path[1])
        return fail(err, errlen, -EINVAL, "%s:// needs an absolute file or device path: %s:///<path>",
                    u->scheme, u->scheme);
    if (strlen(u->path) >= len)
        return fail(err, errlen, -EINVAL, "path too long");
    strcpy(name, u->path);
    return 0;
}

/* ---- opening and sizing ---- */

static int get_size(int fd, bool blockdev, uint64_t *size)
{
    if (blockdev)
        return ioctl(fd, BLKGETSIZE64, size) ? -errno : 0;
    struct stat st;
    if (fstat(fd, &st))
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Drops O_DIRECT from an open file (direct I/O is not really available on it). */
static int go_buffered(struct file_disk *d)
{
    int fl = fcntl(d->fd, F_GETFL);
    if (fl < 0 || fcntl(d->fd, F_SETFL, fl & ~O_DIRECT))
        return -errno;
    d->direct = false;
    return 0;
}

/* Direct-I/O alignment of the open file from statx: 1 = known (*mem, *off set),
 * 0 = not reported, -1 = reported as unsupported for this file. */
static int dio_align(int fd, uint32_t *mem, uint32_t *off)
{
#ifdef STATX_DIOALIGN
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) || !(sx.stx_mask & STATX_DIOALIGN))
        return 0;
    if (!sx.stx_dio_offset_align || !sx.stx_dio_mem_align)
        return -1;
    *mem = sx.stx_dio_mem_align;
    *off = sx.stx_dio_offset_align;
    return 1;
#else
    (void)fd;
    (void)mem;
    (void)off;
    return 0;
#endif
}

static int open_disk(const char *path, struct file_disk *d, uint64_t *size, char *err,
                     size_t errlen)
{
    d->direct = true;
    d->fd = open(path, O_RDWR | O_CLOEXEC | O_DIRECT);
    if (d->fd < 0 && errno == EINVAL) {
        d->direct = false;
        d->fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (d->fd < 0) {
        int e = errno;
        return fail(err, errlen, -e, "cannot open %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(d->fd, &st)) {
        int e = errno;
        return fail(err, errlen, -e, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
        return fail(err, errlen, -EINVAL, "%s is not a regular file or a block device", path);
    d->is_blockdev = S_ISBLK(st.st_mode);

    uint32_t mem = 0, off = 0;
    if (d->is_blockdev) {
        int lbs = 0;
        if (ioctl(d->fd, BLKSSZGET, &lbs)) {
            int e = errno;
            return fail(err, errlen, -e, "cannot get the logical block size of %s: %s", path,
                        strerror(e));
        }
        if (lbs < 512 || !is_pow2((uint64_t)lbs))
            return fail(err, errlen, -EINVAL, "%s has an unsupported logical block size %d", path,
                        lbs);
        d->detected_blk = (uint32_t)lbs;
        /* Memory alignment: statx where the kernel reports it, else the historical
         * rule (buffers aligned to the logical block size). */
        d->mem_align = dio_align(d->fd, &mem, &off) == 1 ? mem : (uint32_t)lbs;
    } else {
        d->detected_blk = 512;
        d->mem_align = 512;
        if (d->direct) {
            struct statfs sfs;
            int dio = dio_align(d->fd, &mem, &off);
            bool ramfs = !fstatfs(d->fd, &sfs) &&
                         (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
            if (ramfs || dio < 0) {
                /* tmpfs accepts O_DIRECT (Linux >= 6.6) but only buffers; other file
                 * systems may not do direct I/O on this particular file. */
                int rc = go_buffered(d);
                if (rc)
                    return fail(err, errlen, rc, "cannot disable direct I/O on %s: %s", path,
                                strerror(-rc));
            } else if (dio > 0) {
                d->detected_blk = off > 512 ? off : 512;
                d->mem_align = mem;
            }
        }
    }
    if (!d->direct)
        d->mem_align = 1;
    int rc = get_size(d->fd, d->is_blockdev, size);
    if (rc)
        return fail(err, errlen, rc, "cannot get the size of %s: %s", path, strerror(-rc));
    return 0;
}

static void disk_free(struct file_disk *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d);
}

int file_create(const struct uri *u, const char *name, const char *product,
                const struct bdev_ops *ops, bool allow_rescan, struct bdev **out, char *err,
                size_t errlen)
{
    static const char *const allowed[] = {"blk_size", "uuid", NULL};
    static const char *const allowed_rescan[] = {"blk_size", "uuid", "rescan", NULL};
    const char *bad = uri_unknown_param(u, allow_rescan ? allowed_rescan : allowed);
    if (bad)
        return fail(err, errlen, -EINVAL, "unknown parameter '%s' for %s://", bad, u->scheme);
    uint64_t blk = 0;
    bool blk_given, uuid_given;
    uuid_t uuid;
    int rc = bdev_param_u64(u, "blk_size", &blk, &blk_given, err, errlen);
    if (!rc)
        rc = bdev_param_uuid(u, uuid, &uuid_given, err, errlen);
    if (rc)
        return rc;
    if (blk && (!is_pow2(blk) || blk < 512 || blk > FILE_MAX_BLK_SIZE))
        return fail(err, errlen, -EINVAL,
                    "invalid blk_size %" PRIu64 ": must be a power of two from 512 to %u", blk,
                    FILE_MAX_BLK_SIZE);

    struct file_disk *d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(name))) {
        free(d);
        return fail(err, errlen, -ENOMEM, "out of memory");
    }
    d->fd = -1;
    uint64_t size = 0;
    rc = open_disk(name, d, &size, err, errlen);
    if (rc) {
        disk_free(d);
        return rc;
    }
    if (!blk) {
        blk = d->detected_blk;
        if (blk > FILE_MAX_BLK_SIZE) {
            rc = fail(err, errlen, -EINVAL, "%s has an unsupported block size %" PRIu64, name, blk);
            goto out_free;
        }
    } else if (blk < d->detected_blk) {
        rc = fail(err, errlen, -EINVAL,
                  "blk_size %" PRIu64 " is smaller than the %s block size %u of %s", blk,
                  d->is_blockdev ? "logical" : "direct-I/O", d->detected_blk, name);
        goto out_free;
    }
    uint64_t num_blocks = size / blk;
    if (!num_blocks) {
        rc = fail(err, errlen, -EINVAL,
                  "device too small for blk_size: %s has %" PRIu64 " bytes, blk_size is %" PRIu64,
                  name, size, blk);
        goto out_free;
    }

    struct bdev *b = bdev_alloc(name, product, ops);
    if (!b) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto out_free;
    }
    b->blk_size = (uint32_t)blk;
    b->num_blocks = num_blocks;
    if (d->direct)
        b->required_alignment = d->mem_align > d->detected_blk ? d->mem_align : d->detected_blk;
    else
        b->required_alignment = 1;
    if (uuid_given)
        uuid_copy(b->uuid, uuid);
    b->ctx = d;
    log_info("%s: %s %s, %" PRIu64 " x %" PRIu64 " bytes, %s I/O (detected block %u, alignment %u)",
             ops->driver, d->is_blockdev ? "block device" : "file", name, num_blocks, blk,
             d->direct ? "direct" : "buffered", d->detected_blk, b->required_alignment);
    *out = b;
    return 0;

out_free:
    disk_free(d);
    return rc;
}

void file_destruct(struct bdev *b)
{
    disk_free(b->ctx);
    b->ctx = NULL;
}

void file_dump_info(const struct bdev *b, json_t *o)
{
    const struct file_disk *d = b->ctx;
    json_object_set_new(o, "filename", json_string(d->path));
    json_object_set_new(o, "direct", json_boolean(d->direct));
    json_object_set_new(o, "block_size_detected", json_integer(d->detected_blk));
}

int file_rescan(struct bdev *b, char *err, size_t errlen)
{
    if (b->ops->destruct != file_destruct || !b->ctx)
        return fail(err, errlen, -EINVAL, "device '%s' is not backed by a file", b->name);
    struct file_disk *d = b->ctx;
    uint64_t size;
    int rc = get_size(d->fd, d->is_blockdev, &size);
    if (rc)
        return fail(err, errlen, rc, "cannot get the size of %s: %s", d->path, strerror(-rc));
    uint64_t n = size / b->blk_size;
    if (!n)
        return fail(err, errlen, -EINVAL, "device too small for blk_size: %s has %" PRIu64 " bytes",
                    d->path, size);
    if (n < b->num_blocks && b->open_count)
        return fail(err, errlen, -EBUSY, "%s shrank from %" PRIu64 " to %" PRIu64
                    " blocks while open", d->path, b->num_blocks, n);
    if (n != b->num_blocks) {
        log_info("%s resized: %" PRIu64 " -> %" PRIu64 " blocks", b->name, b->num_blocks, n);
        b->num_blocks = n;
    }
    return 0;
}

/* ---- partial completions ---- */

void file_progress_advance(const struct bdev_io *io, struct file_progress *p, uint64_t n)
{
    p->done += n;
    while (p->seg < io->iovcnt) {
        uint64_t left = io->iov[p->seg].iov_len - p->seg_off;
        if (n < left) {
            p->seg_off += n;
            return;
        }
        n -= left;
        p->seg++;
        p->seg_off = 0;
        if (!n) {
            while (p->seg < io->iovcnt && !io->iov[p->seg].iov_len)
                p->seg++;
            return;
        }
    }
}

bool file_progress_next(const struct bdev_io *io, const struct file_progress *p, void **buf,
                        size_t *len, const struct iovec **iov, int *iovcnt, uint64_t *offset)
{
    *offset = io->offset_blocks * io->bdev->blk_size + p->done;
    if (p->seg_off) {
        const struct iovec *v = &io->iov[p->seg];
        size_t left = v->iov_len - p->seg_off;
        *buf = (char *)v->iov_base + p->seg_off;
        *len = left < (1u << 30) ? left : (1u << 30);
        return true;
    }
    *iov = io->iov + p->seg;
    int n = io->iovcnt - p->seg;
    *iovcnt = n < FILE_MAX_SEGS ? n : FILE_MAX_SEGS;
    return false;
}

/* malloc:// — a RAM disk. Data lives in one anonymous mapping (pages are only touched,
 * and so only use memory, once written). I/O is a memcpy on the submitting reactor,
 * completed on its next loop turn. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/uri.h"
#include "ram_common.h"

struct malloc_disk {
    char *data;
    size_t len;
};

static void copy_iov(struct bdev_io *io, char *base, bool to_disk)
{
    char *p = base + io->offset_blocks * io->bdev->blk_size;
    for (int i = 0; i < io->iovcnt; i++) {
        if (to_disk)
            memcpy(p, io->iov[i].iov_base, io->iov[i].iov_len);
        else
            memcpy(io->iov[i].iov_base, p, io->iov[i].iov_len);
        p += io->iov[i].iov_len;
    }
}

static void malloc_submit(struct bdev *b, void *ch, struct bdev_io *io)
{
    (void)ch;
    struct malloc_disk *d = b->ctx;
    size_t off = io->offset_blocks * b->blk_size, len = bdev_io_bytes(io);
    switch (io->type) {
    case BDEV_IO_READ:
        copy_iov(io, d->data, false);
        break;
    case BDEV_IO_WRITE:
        copy_iov(io, d->data, true);
        break;
    case BDEV_IO_WRITE_ZEROES:
        memset(d->data + off, 0, len);
        break;
    case BDEV_IO_UNMAP:
        /* Unmapped blocks read back as zeroes; whole pages are given back to the kernel. */
        memset(d->data + off, 0, len);
        {
            size_t pg = 4096, a = (off + pg - 1) / pg * pg, e = (off + len) / pg * pg;
            if (e > a)
                madvise(d->data + a, e - a, MADV_DONTNEED);
        }
        break;
    case BDEV_IO_FLUSH:
    case BDEV_IO_RESET:
        break;
    default:
        bdev_io_complete_deferred(io, -ENOTSUP);
        return;
    }
    bdev_io_complete_deferred(io, 0);
}

static bool malloc_supports(const struct bdev *b, enum bdev_io_type t)
{
    (void)b;
    return t == BDEV_IO_UNMAP || t == BDEV_IO_WRITE_ZEROES || t == BDEV_IO_FLUSH;
}

static void malloc_destruct(struct bdev *b)
{
    struct malloc_disk *d = b->ctx;
    if (d) {
        munmap(d->data, d->len);
        free(d);
    }
}

static const struct bdev_ops malloc_ops = {
    .driver = "malloc",
    .submit = malloc_submit,
    .supports = malloc_supports,
    .destruct = malloc_destruct,
};

static int malloc_create(const struct uri *u, const char *name, struct bdev **out, char *err,
                         size_t errlen)
{
    struct ram_geometry g;
    int rc = ram_uri_geometry(u, &g, err, errlen);
    if (rc)
        return rc;
    struct malloc_disk *d = calloc(1, sizeof(*d));
    struct bdev *b = bdev_alloc(name, "Malloc disk", &malloc_ops);
    if (!d || !b) {
        free(d);
        bdev_free(b);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->len = g.num_blocks * g.blk_size;
    d->data = mmap(NULL, d->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (d->data == MAP_FAILED) {
        snprintf(err, errlen, "cannot allocate %zu bytes for %s: %s", d->len, name, strerror(errno));
        free(d);
        bdev_free(b);
        return -ENOMEM;
    }
    b->ctx = d;
    b->blk_size = g.blk_size;
    b->num_blocks = g.num_blocks;
    if (g.uuid_given)
        uuid_copy(b->uuid, g.uuid);
    *out = b;
    return 0;
}

const struct bdev_scheme bdev_scheme_malloc = {
    .scheme = "malloc",
    .name = ram_uri_name,
    .create = malloc_create,
};

/* null:// — discards writes; reads return zeroes. For testing and measuring the layers
 * above a device without any device cost. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/uri.h"
#include "ram_common.h"

static void null_submit(struct bdev *b, void *ch, struct bdev_io *io)
{
    (void)b;
    (void)ch;
    if (io->type == BDEV_IO_READ)
        for (int i = 0; i < io->iovcnt; i++)
            memset(io->iov[i].iov_base, 0, io->iov[i].iov_len);
    bdev_io_complete_deferred(io, 0);
}

static bool null_supports(const struct bdev *b, enum bdev_io_type t)
{
    (void)b;
    return t == BDEV_IO_UNMAP || t == BDEV_IO_WRITE_ZEROES || t == BDEV_IO_FLUSH;
}

static const struct bdev_ops null_ops = {
    .driver = "null",
    .submit = null_submit,
    .supports = null_supports,
};

static int null_create(const struct uri *u, const char *name, struct bdev **out, char *err,
                       size_t errlen)
{
    struct ram_geometry g;
    int rc = ram_uri_geometry(u, &g, err, errlen);
    if (rc)
        return rc;
    struct bdev *b = bdev_alloc(name, "Null disk", &null_ops);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    b->blk_size = g.blk_size;
    b->num_blocks = g.num_blocks;
    if (g.uuid_given)
        uuid_copy(b->uuid, g.uuid);
    *out = b;
    return 0;
}

const struct bdev_scheme bdev_scheme_null = {
    .scheme = "null",
    .name = ram_uri_name,
    .create = null_create,
};

/* uring:// — a file or block device driven through the submitting reactor's own
 * io_uring (no ring of its own): reads and writes are readv/writev at the block offset,
 * flush is fdatasync, unmap and write-zeroes are fallocate(PUNCH_HOLE / ZERO_RANGE,
 * KEEP_SIZE). Completions arrive through the reactor's completion loop.
 *
 * Per I/O state lives in io->driver. A read or write the kernel finished only in part
 * (or that had more than FILE_MAX_SEGS segments) continues from where it stopped; a
 * transfer of 0 bytes is -EIO.
 *
 * When the reactor's ring has no free SQE even after flushing it (its completion queue
 * is backed up), the I/O waits on a per-channel FIFO instead of failing: the queue is
 * retried on the next loop turn (a deferred call, so it is retried even if nothing of
 * ours is in flight) and after each of our completions; new I/O queues behind it.
 *
 * fallocate answering EOPNOTSUPP is remembered per device: supports() then says no, so
 * later unmaps fail early with -ENOTSUP and write-zeroes are emulated by the block
 * layer; the write-zeroes that found out is itself re-dispatched to that emulation. */
#include <errno.h>
#include <linux/falloc.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/log.h"
#include "file_common.h"

struct uring_chan {
    struct bdev_io *wait_head, **wait_tail; /* I/O waiting for an SQE */
    struct reactor_deferred retry;
    bool retry_armed;
    bool dead; /* destroyed while the retry was armed: the retry frees it */
};

struct uring_io {
    struct reactor_completion comp;
    struct uring_chan *ch;
    struct bdev_io *next; /* wait list */
    struct file_progress p;
};
_Static_assert(sizeof(struct uring_io) <= BDEV_IO_DRIVER_CTX, "uring I/O state too large");

static inline struct uring_io *io_state(struct bdev_io *io) { return (struct uring_io *)io->driver; }

static inline struct bdev_io *io_of(struct reactor_completion *c)
{
    return (struct bdev_io *)((char *)c - offsetof(struct bdev_io, driver));
}

static void prep(struct bdev_io *io, struct io_uring_sqe *sqe)
{
    const struct file_disk *d = io->bdev->ctx;
    struct uring_io *s = io_state(io);
    off_t off = (off_t)(io->offset_blocks * io->bdev->blk_size);
    off_t len = (off_t)bdev_io_bytes(io);

    switch (io->type) {
    case BDEV_IO_READ:
    case BDEV_IO_WRITE: {
        void *buf;
        size_t blen;
        const struct iovec *iov;
        int cnt;
        uint64_t pos;
        bool rd = io->type == BDEV_IO_READ;
        if (file_progress_next(io, &s->p, &buf, &blen, &iov, &cnt, &pos)) {
            if (rd)
                io_uring_prep_read(sqe, d->fd, buf, (unsigned)blen, pos);
            else
                io_uring_prep_write(sqe, d->fd, buf, (unsigned)blen, pos);
        } else if (rd) {
            io_uring_prep_readv(sqe, d->fd, iov, (unsigned)cnt, pos);
        } else {
            io_uring_prep_writev(sqe, d->fd, iov, (unsigned)cnt, pos);
        }
        break;
    }
    case BDEV_IO_FLUSH:
        io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
        break;
    case BDEV_IO_UNMAP:
        io_uring_prep_fallocate(sqe, d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
        break;
    case BDEV_IO_WRITE_ZEROES:
        io_uring_prep_fallocate(sqe, d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
        break;
    default:
        io_uring_prep_nop(sqe); /* not reached: submit filters the types */
        break;
    }
    reactor_sqe_set_completion(sqe, &s->comp);
}

static void arm_retry(struct uring_chan *ch)
{
    if (!ch->retry_armed) {
        ch->retry_armed = true;
        reactor_defer(&ch->retry);
    }
}

/* Submits waiting I/O while SQEs are available (FIFO). */
static void drain(struct uring_chan *ch)
{
    while (ch->wait_head) {
        struct io_uring_sqe *sqe = reactor_get_sqe();
        if (!sqe) {
            arm_retry(ch);
            return;
        }
        struct bdev_io *io = ch->wait_head;
        ch->wait_head = io_state(io)->next;
        if (!ch->wait_head)
            ch->wait_tail = &ch->wait_head;
        prep(io, sqe);
    }
}

static void start(struct uring_chan *ch, struct bdev_io *io)
{
    struct io_uring_sqe *sqe = ch->wait_head ? NULL : reactor_get_sqe();
    if (sqe) {
        prep(io, sqe);
        return;
    }
    io_state(io)->next = NULL;
    *ch->wait_tail = io;
    ch->wait_tail = &io_state(io)->next;
    arm_retry(ch);
}

static void retry_fn(struct reactor_deferred *d)
{
    struct uring_chan *ch = (struct uring_chan *)((char *)d - offsetof(struct uring_chan, retry));
    ch->retry_armed = false;
    if (ch->dead) {
        free(ch);
        return;
    }
    drain(ch);
}

static void uring_done(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    struct bdev_io *io = io_of(c);
    struct uring_io *s = io_state(io);
    struct uring_chan *ch = s->ch;
    struct file_disk *d = io->bdev->ctx;
    int status = res < 0 ? res : 0;

    switch (io->type) {
    case BDEV_IO_READ:
    case BDEV_IO_WRITE:
        if (res > 0) {
            file_progress_advance(io, &s->p, (uint64_t)res);
            if (s->p.done < bdev_io_bytes(io)) {
                start(ch, io); /* short transfer or more segments: go on */
                drain(ch);
                return;
            }
        } else if (res == 0) {
            status = -EIO;
        }
        break;
    case BDEV_IO_UNMAP:
        if (res == -EOPNOTSUPP) {
            if (!atomic_exchange(&d->no_unmap, true))
                log_info("uring %s: unmap (hole punching) not supported", d->path);
            status = -ENOTSUP;
        }
        break;
    case BDEV_IO_WRITE_ZEROES:
        if (res == -EOPNOTSUPP) {
            if (!atomic_exchange(&d->no_write_zeroes, true))
                log_info("uring %s: write-zeroes (zero range) not supported, emulated", d->path);
            drain(ch);
            bdev_submit(io->ch, io); /* supports() now says no: the layer writes zeroes */
            return;
        }
        break;
    default:
        break;
    }
    drain(ch);
    bdev_io_complete(io, status);
}

static void uring_submit(struct bdev *b, void *ctx, struct bdev_io *io)
{
    (void)b;
    struct uring_chan *ch = ctx;
    struct uring_io *s = io_state(io);
    switch (io->type) {
    case BDEV_IO_READ:
    case BDEV_IO_WRITE:
    case BDEV_IO_FLUSH:
    case BDEV_IO_UNMAP:
    case BDEV_IO_WRITE_ZEROES:
        break;
    default:
        bdev_io_complete_deferred(io, -ENOTSUP);
        return;
    }
    *s = (struct uring_io){.comp = {.cb = uring_done}, .ch = ch};
    start(ch, io);
}

static bool uring_supports(const struct bdev *b, enum bdev_io_type t)
{
    struct file_disk *d = b->ctx;
    switch (t) {
    case BDEV_IO_FLUSH:
        return true;
    case BDEV_IO_UNMAP:
        return !atomic_load(&d->no_unmap);
    case BDEV_IO_WRITE_ZEROES:
        return !atomic_load(&d->no_write_zeroes);
    default:
        return false;
    }
}

static int uring_channel_create(struct bdev *b, void **ctx)
{
    (void)b;
    struct uring_chan *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->wait_tail = &ch->wait_head;
    ch->retry.fn = retry_fn;
    *ctx = ch;
    return 0;
}

static void uring_channel_destroy(struct bdev *b, void *ctx)
{
    struct uring_chan *ch = ctx;
    if (ch->wait_head)
        log_error("uring %s: channel destroyed with I/O still queued", b->name);
    if (ch->retry_armed)
        ch->dead = true; /* the queued retry still points at it */
    else
        free(ch);
}

static const struct bdev_ops uring_ops = {
    .driver = "uring",
    .channel_create = uring_channel_create,
    .channel_destroy = uring_channel_destroy,
    .submit = uring_submit,
    .supports = uring_supports,
    .destruct = file_destruct,
    .dump_info = file_dump_info,
};

static int uring_create(const struct uri *u, const char *name, struct bdev **out, char *err,
                        size_t errlen)
{
    return file_create(u, name, "Uring bdev", &uring_ops, false, out, err, errlen);
}

const struct bdev_scheme bdev_scheme_uring = {
    .scheme = "uring",
    .name = file_uri_name,
    .create = uring_create,
};

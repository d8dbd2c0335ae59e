/* aio:// — a file or block device driven through Linux native AIO (libaio), as SPDK's
 * bdev_aio: reads and writes are preadv/pwritev iocbs, flush is an fdsync iocb (Linux
 * >= 4.18, which any kernel with the reactors' io_uring has; an -EINVAL from it means
 * the file has no fsync at all, where no fallback could do better, so it is reported).
 * Unmap is not offered (as upstream, which creates aio devices without fallocate);
 * write-zeroes is emulated by the block layer with writes.
 *
 * Each channel has its own AIO context (AIO_DEPTH iocbs) and eventfd, named in every
 * iocb; the channel watches the eventfd with a one-shot poll on the reactor's ring,
 * reaps with a non-blocking io_getevents when it fires, then re-arms the watch. I/O that
 * does not fit (AIO_DEPTH in flight, or io_submit saying EAGAIN) waits on a per-channel
 * FIFO, submitted as completions free slots (or on the next loop turn when nothing is
 * in flight to free one).
 *
 * Teardown: the poll watch and the deferred retry can both outlive the channel (a
 * cancelled poll still completes later on the ring), so they live in a small heap
 * object (struct aio_watch) that the channel merely points at; channel_destroy unhooks
 * it and cancels the poll, and the last of the poll completion and the retry to come
 * back frees it.
 *
 * Note: like SPDK, a buffered (non-O_DIRECT) file makes io_submit do the I/O inline. */
#include <errno.h>
#include <libaio.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "file_common.h"

#define AIO_DEPTH 256
#define AIO_REAP 64

struct aio_chan;

/* The channel's callbacks that may outlive it. */
struct aio_watch {
    struct reactor_completion comp; /* the eventfd poll */
    struct reactor_deferred retry;  /* re-arm the poll / resubmit waiting I/O */
    struct aio_chan *ch;            /* NULL once the channel is gone */
    bool polling;                   /* the poll is on the ring */
    bool retry_armed;
};

struct aio_chan {
    struct bdev *b;
    io_context_t ctx;
    int efd;
    unsigned inflight;                      /* iocbs submitted, not reaped */
    struct bdev_io *wait_head, **wait_tail; /* not accepted yet */
    struct aio_watch *w;
};

struct aio_io {
    struct iocb iocb;
    struct bdev_io *next; /* wait list */
    struct file_progress p;
};
_Static_assert(sizeof(struct aio_io) <= BDEV_IO_DRIVER_CTX, "aio I/O state too large");

static inline struct aio_io *io_state(struct bdev_io *io) { return (struct aio_io *)io->driver; }

/* 0, -EAGAIN (no room now) or another negative errno from io_submit. */
static int submit_one(struct aio_chan *ch, struct bdev_io *io)
{
    const struct file_disk *d = ch->b->ctx;
    struct aio_io *s = io_state(io);
    struct iocb *cb = &s->iocb;

    if (io->type == BDEV_IO_FLUSH) {
        io_prep_fdsync(cb, d->fd);
    } else {
        void *buf;
        size_t len;
        const struct iovec *iov;
        int cnt;
        uint64_t pos;
        bool rd = io->type == BDEV_IO_READ;
        if (file_progress_next(io, &s->p, &buf, &len, &iov, &cnt, &pos)) {
            if (rd)
                io_prep_pread(cb, d->fd, buf, len, (long long)pos);
            else
                io_prep_pwrite(cb, d->fd, buf, len, (long long)pos);
        } else if (rd) {
            io_prep_preadv(cb, d->fd, iov, cnt, (long long)pos);
        } else {
            io_prep_pwritev(cb, d->fd, iov, cnt, (long long)pos);
        }
    }
    io_set_eventfd(cb, ch->efd);
    cb->data = io;
    struct iocb *list[1] = {cb};
    int rc = io_submit(ch->ctx, 1, list);
    if (rc == 1) {
        ch->inflight++;
        return 0;
    }
    return rc < 0 ? rc : -EAGAIN;
}

static void arm_retry(struct aio_chan *ch)
{
    struct aio_watch *w = ch->w;
    if (!w->retry_armed) {
        w->retry_armed = true;
        reactor_defer(&w->retry);
    }
}

static void enqueue(struct aio_chan *ch, struct bdev_io *io)
{
    io_state(io)->next = NULL;
    *ch->wait_tail = io;
    ch->wait_tail = &io_state(io)->next;
    if (!ch->inflight)
        arm_retry(ch); /* no completion will come to drain the queue */
}

static void drain(struct aio_chan *ch)
{
    while (ch->wait_head && ch->inflight < AIO_DEPTH) {
        struct bdev_io *io = ch->wait_head;
        int rc = submit_one(ch, io);
        if (rc == -EAGAIN) {
            if (!ch->inflight)
                arm_retry(ch);
            return;
        }
        ch->wait_head = io_state(io)->next;
        if (!ch->wait_head)
            ch->wait_tail = &ch->wait_head;
        if (rc) {
            log_error("aio %s: io_submit failed: %s", ch->b->name, strerror(-rc));
            bdev_io_complete_deferred(io, rc);
        }
    }
}

static void start(struct aio_chan *ch, struct bdev_io *io)
{
    if (!ch->wait_head && ch->inflight < AIO_DEPTH) {
        int rc = submit_one(ch, io);
        if (!rc)
            return;
        if (rc != -EAGAIN) {
            log_error("aio %s: io_submit failed: %s", ch->b->name, strerror(-rc));
            bdev_io_complete_deferred(io, rc);
            return;
        }
    }
    enqueue(ch, io);
}

static void finish(struct aio_chan *ch, struct bdev_io *io, long res)
{
    int status = res < 0 ? (int)res : 0;
    if (io->type == BDEV_IO_READ || io->type == BDEV_IO_WRITE) {
        if (res > 0) {
            struct aio_io *s = io_state(io);
            file_progress_advance(io, &s->p, (uint64_t)res);
            if (s->p.done < bdev_io_bytes(io)) {
                start(ch, io); /* short transfer or more segments: go on */
                return;
            }
        } else if (res == 0) {
            status = -EIO;
        }
    }
    bdev_io_complete(io, status);
}

static void reap(struct aio_chan *ch)
{
    struct io_event ev[AIO_REAP];
    for (;;) {
        struct timespec zero = {0, 0};
        int n = io_getevents(ch->ctx, 0, AIO_REAP, ev, &zero);
        if (n < 0 && n != -EINTR)
            log_error("aio %s: io_getevents failed: %s", ch->b->name, strerror(-n));
        if (n <= 0)
            break;
        ch->inflight -= (unsigned)n;
        for (int i = 0; i < n; i++)
            finish(ch, ev[i].data, (long)ev[i].res);
        if (n < AIO_REAP)
            break;
    }
    drain(ch);
}

static void arm_poll(struct aio_chan *ch)
{
    struct aio_watch *w = ch->w;
    if (w->polling)
        return;
    if (reactor_poll_fd(ch->efd, POLLIN, &w->comp) == 0)
        w->polling = true;
    else
        arm_retry(ch); /* no SQE now: try again next turn */
}

static void watch_free_if_idle(struct aio_watch *w)
{
    if (!w->ch && !w->polling && !w->retry_armed)
        free(w);
}

static void watch_done(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    struct aio_watch *w = (struct aio_watch *)((char *)c - offsetof(struct aio_watch, comp));
    struct aio_chan *ch = w->ch;
    w->polling = false;
    if (!ch) {
        watch_free_if_idle(w);
        return;
    }
    if (res < 0 && res != -ECANCELED && res != -EINTR)
        log_error("aio %s: eventfd poll failed: %s", ch->b->name, strerror(-res));
    uint64_t cnt;
    ssize_t n = read(ch->efd, &cnt, sizeof(cnt)); /* reset; EAGAIN if already 0 */
    (void)n;
    reap(ch);
    arm_poll(ch);
}

static void retry_fn(struct reactor_deferred *d)
{
    struct aio_watch *w = (struct aio_watch *)((char *)d - offsetof(struct aio_watch, retry));
    struct aio_chan *ch = w->ch;
    w->retry_armed = false;
    if (!ch) {
        watch_free_if_idle(w);
        return;
    }
    arm_poll(ch);
    drain(ch);
}

static void aio_submit(struct bdev *b, void *ctx, struct bdev_io *io)
{
    (void)b;
    struct aio_chan *ch = ctx;
    if (io->type != BDEV_IO_READ && io->type != BDEV_IO_WRITE && io->type != BDEV_IO_FLUSH) {
        bdev_io_complete_deferred(io, -ENOTSUP);
        return;
    }
    memset(io_state(io), 0, sizeof(struct aio_io));
    start(ch, io);
}

static bool aio_supports(const struct bdev *b, enum bdev_io_type t)
{
    (void)b;
    return t == BDEV_IO_FLUSH;
}

static int aio_channel_create(struct bdev *b, void **out)
{
    struct aio_chan *ch = calloc(1, sizeof(*ch));
    struct aio_watch *w = calloc(1, sizeof(*w));
    if (!ch || !w) {
        free(ch);
        free(w);
        return -ENOMEM;
    }
    ch->b = b;
    ch->wait_tail = &ch->wait_head;
    ch->w = w;
    w->ch = ch;
    w->comp.cb = watch_done;
    w->retry.fn = retry_fn;
    ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ch->efd < 0) {
        int e = errno;
        log_error("aio %s: eventfd: %s", b->name, strerror(e));
        free(w);
        free(ch);
        return -e;
    }
    int rc = io_setup(AIO_DEPTH, &ch->ctx);
    if (rc < 0) {
        log_error("aio %s: io_setup(%d) failed: %s (see sysctl fs.aio-max-nr)", b->name, AIO_DEPTH,
                  strerror(-rc));
        close(ch->efd);
        free(w);
        free(ch);
        return rc;
    }
    arm_poll(ch);
    *out = ch;
    return 0;
}

static void aio_channel_destroy(struct bdev *b, void *ctx)
{
    struct aio_chan *ch = ctx;
    struct aio_watch *w = ch->w;
    if (ch->wait_head || ch->inflight)
        log_error("aio %s: channel destroyed with I/O in flight", b->name);
    w->ch = NULL;
    if (w->polling && reactor_poll_cancel(&w->comp)) {
        /* No SQE for the cancel: fire the watch instead, so its completion (which
         * frees w) still comes back. */
        uint64_t one = 1;
        ssize_t n = write(ch->efd, &one, sizeof(one));
        (void)n;
    }
    io_destroy(ch->ctx);
    close(ch->efd);
    watch_free_if_idle(w);
    free(ch);
}

static const struct bdev_ops aio_ops = {
    .driver = "aio",
    .channel_create = aio_channel_create,
    .channel_destroy = aio_channel_destroy,
    .submit = aio_submit,
    .supports = aio_supports,
    .destruct = file_destruct,
    .dump_info = file_dump_info,
};

static int aio_create(const struct uri *u, const char *name, struct bdev **out, char *err,
                      size_t errlen)
{
    return file_create(u, name, "AIO disk", &aio_ops, true, out, err, errlen);
}

const struct bdev_scheme bdev_scheme_aio = {
    .scheme = "aio",
    .name = file_uri_name,
    .create = aio_create,
};

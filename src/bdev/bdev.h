/* Block devices: the layer pools, replicas, the NVMe-oF target and initiator and the
 * nexus all sit on. A device is a name, a uuid, a geometry and a backend; I/O is
 * asynchronous and vectored, submitted and completed on reactors through per-reactor
 * channels, so several reactors do I/O on one device at once without locks.
 *
 * Threading:
 *  - the device table, open/close/claim, create/destroy and stats queries: primary reactor;
 *  - I/O: any reactor, on that reactor's channel (bdev_get_channel on the same reactor);
 *    the completion callback runs on the submitting reactor.
 *
 * The caller owns each struct bdev_io until its callback: the layer allocates nothing
 * per I/O on the fast path (an unaligned buffer on a direct-I/O device costs a bounce). */
#pragma once
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uuid/uuid.h>

#include "core/reactor.h"

#define BDEV_MAX_REACTORS 256

enum bdev_io_type {
    BDEV_IO_READ,
    BDEV_IO_WRITE,
    BDEV_IO_FLUSH,
    BDEV_IO_UNMAP,
    BDEV_IO_WRITE_ZEROES,
    BDEV_IO_RESET,
    BDEV_IO_NTYPES,
};

struct bdev;
struct bdev_io;
struct bdev_channel;
struct bdev_desc;

/* status: 0, or a negative errno (-EIO, -ENOSPC, -ENOTSUP, -EINVAL for out of range...). */
typedef void (*bdev_io_cb)(struct bdev_io *io, int status, void *arg);

/* Room for a backend's per-I/O state (an io_uring completion, an iocb...). */
#define BDEV_IO_DRIVER_CTX 192

struct bdev_io {
    /* set by the submitter (bdev_readv() and friends fill these) */
    enum bdev_io_type type;
    uint64_t offset_blocks;
    uint64_t num_blocks;
    struct iovec *iov;
    int iovcnt;
    bdev_io_cb cb;
    void *cb_arg;

    /* owned by the layer while in flight */
    struct bdev *bdev;
    struct bdev_channel *ch;
    uint64_t start_ns;
    int status;
    struct reactor_deferred deferred; /* completion of synchronous backends */
    struct iovec bounce_iov;         /* used when the caller's buffers are unaligned */
    struct iovec *user_iov;
    int user_iovcnt;
    uint64_t zero_done;              /* write-zeroes emulation progress, in blocks */
    _Alignas(16) unsigned char driver[BDEV_IO_DRIVER_CTX];
};

/* I/O counters of one device (summed over its channels). Latencies are in ticks of
 * bdev_tick_rate() per second (nanoseconds). */
struct bdev_io_stats {
    uint64_t num_read_ops, bytes_read, num_write_ops, bytes_written;
    uint64_t num_unmap_ops, bytes_unmapped, num_write_zeroes_ops, bytes_write_zeroed;
    uint64_t num_flush_ops, num_reset_ops, num_errors;
    uint64_t read_latency_ticks, min_read_latency_ticks, max_read_latency_ticks;
    uint64_t write_latency_ticks, min_write_latency_ticks, max_write_latency_ticks;
    uint64_t unmap_latency_ticks, min_unmap_latency_ticks, max_unmap_latency_ticks;
};

/* What a backend provides. Channel and submit functions run on the channel's reactor;
 * the rest on the primary. */
struct bdev_ops {
    const char *driver; /* "malloc", "null", "uring", "aio"... (SPDK's driver names) */
    int (*channel_create)(struct bdev *b, void **ch_ctx);
    void (*channel_destroy)(struct bdev *b, void *ch_ctx);
    /* Starts io (its geometry already checked); the backend finishes it exactly once with
     * bdev_io_complete() — never from inside submit for synchronous work: use
     * bdev_io_complete_deferred(). */
    void (*submit)(struct bdev *b, void *ch_ctx, struct bdev_io *io);
    bool (*supports)(const struct bdev *b, enum bdev_io_type t);
    /* Frees the backend's state after every channel is gone. */
    void (*destruct)(struct bdev *b);
    /* Adds backend details to bdev_get_bdevs' driver_specific object (optional). */
    void (*dump_info)(const struct bdev *b, json_t *driver_specific);
};

struct bdev_alias {
    char *name;
    struct bdev_alias *next;
};

struct bdev {
    char *name;
    uuid_t uuid;
    uint32_t blk_size;
    /* Atomic: an aio rescan grows it on the primary while reactors check ranges. */
    _Atomic uint64_t num_blocks;
    uint32_t required_alignment; /* buffer/length alignment in bytes (1 = any) */
    char *product_name;          /* e.g. "Malloc disk", "Uring bdev" */
    struct bdev_alias *aliases;  /* creation URIs and other names */
    const struct bdev_ops *ops;
    void *ctx; /* backend state */

    /* owned by the layer */
    char *claimed_by; /* module holding the exclusive claim, NULL if none */
    char *shared_uri; /* where the NVMe-oF target shares it (set by the target), or NULL */
    int open_count;
    bool unregistering;
    /* [i] is created and destroyed by reactor i; the primary reads it for statistics. */
    _Atomic(struct bdev_channel *) channels[BDEV_MAX_REACTORS];
    struct bdev *next;
};

/* ---- device table (primary reactor) ---- */

/* Adds a backend-built device. Fails with -EEXIST if the name, an alias or the uuid is
 * taken. The layer owns b afterwards (freed by ops->destruct at unregister). */
int bdev_register(struct bdev *b);
/* Removes a device with no open descriptors (-EBUSY otherwise): its channels are torn
 * down on their reactors, then done(arg, 0) runs on the primary. */
int bdev_unregister(struct bdev *b, void (*done)(void *arg, int rc), void *arg);
/* Shutdown: unregisters every device (most recent first); devices still open are
 * reported and left. done(arg) runs on the primary when all are gone. */
void bdev_unregister_all(void (*done)(void *arg), void *arg);
struct bdev *bdev_lookup(const char *name_or_alias);
struct bdev *bdev_lookup_uuid(const uuid_t uuid);
struct bdev *bdev_first(void);
struct bdev *bdev_next(struct bdev *b);
int bdev_add_alias(struct bdev *b, const char *alias);
int bdev_remove_alias(struct bdev *b, const char *alias);
bool bdev_has_alias(const struct bdev *b, const char *alias);
/* A struct bdev for a backend to fill (name and product copied). */
struct bdev *bdev_alloc(const char *name, const char *product_name, const struct bdev_ops *ops);
void bdev_free(struct bdev *b); /* only for a device never registered */
bool bdev_io_type_supported(const struct bdev *b, enum bdev_io_type t);

/* ---- open / claim ---- */

int bdev_open(const char *name, struct bdev_desc **out);
int bdev_open_bdev(struct bdev *b, struct bdev_desc **out);
void bdev_close(struct bdev_desc *d);
struct bdev *bdev_desc_bdev(const struct bdev_desc *d);
/* Exclusive claim by a module (a pool claims its disk): -EBUSY if already claimed. */
int bdev_claim(struct bdev_desc *d, const char *module);
void bdev_release(struct bdev_desc *d);

/* ---- I/O (any reactor) ---- */

/* This reactor's channel of the device (created on first use, lives as long as the
 * device). NULL off-reactor or on failure. */
struct bdev_channel *bdev_get_channel(struct bdev_desc *d);

/* Fills io and submits it. Errors (bad range, unsupported type) are reported through
 * the callback, like any other completion; the return value is always 0. */
int bdev_readv(struct bdev_channel *ch, struct bdev_io *io, struct iovec *iov, int iovcnt,
               uint64_t offset_blocks, uint64_t num_blocks, bdev_io_cb cb, void *arg);
int bdev_writev(struct bdev_channel *ch, struct bdev_io *io, struct iovec *iov, int iovcnt,
                uint64_t offset_blocks, uint64_t num_blocks, bdev_io_cb cb, void *arg);
int bdev_flush(struct bdev_channel *ch, struct bdev_io *io, uint64_t offset_blocks,
               uint64_t num_blocks, bdev_io_cb cb, void *arg);
int bdev_unmap(struct bdev_channel *ch, struct bdev_io *io, uint64_t offset_blocks,
               uint64_t num_blocks, bdev_io_cb cb, void *arg);
int bdev_write_zeroes(struct bdev_channel *ch, struct bdev_io *io, uint64_t offset_blocks,
                      uint64_t num_blocks, bdev_io_cb cb, void *arg);
int bdev_reset(struct bdev_channel *ch, struct bdev_io *io, bdev_io_cb cb, void *arg);
/* The backend's context of a channel (what its channel_create made). */
void *bdev_channel_ctx(const struct bdev_channel *ch);
/* Generic submit of a filled io (type, range, iov, cb). */
void bdev_submit(struct bdev_channel *ch, struct bdev_io *io);

/* For backends: finish an I/O (on the channel's reactor). */
void bdev_io_complete(struct bdev_io *io, int status);
void bdev_io_complete_deferred(struct bdev_io *io, int status);
/* Byte length of an I/O's data. */
static inline uint64_t bdev_io_bytes(const struct bdev_io *io)
{
    return io->num_blocks * io->bdev->blk_size;
}

/* ---- statistics (primary) ---- */

uint64_t bdev_tick_rate(void);
uint64_t bdev_ticks(void);
/* Counters since creation or the last reset. */
void bdev_get_stats(const struct bdev *b, struct bdev_io_stats *out);
/* Zeroes the counters of b (or of every device if b is NULL) on every reactor; then
 * done(arg) on the primary. */
void bdev_reset_stats(struct bdev *b, void (*done)(void *arg), void *arg);

/* ---- helpers ---- */

/* The device's URI as upstream reports it: its creation URI with uuid=<uuid> appended
 * if absent (allocated; "" if it was not created from a URI). */
char *bdev_uri(const struct bdev *b);
/* The share URI (allocated): where the NVMe-oF target shares the device, else
 * "bdev:///<name>". */
char *bdev_share_uri(const struct bdev *b);

/* What the file-backed schemes uring:// and aio:// share: the URI (name = the absolute
 * path), opening and sizing the file or block device, the block size and alignment
 * rules, and the progress of a read or write that the kernel completed only in part.
 *
 *   uring:///path?blk_size=&uuid=           aio:///path?blk_size=&uuid=&rescan
 *
 * Opening: O_RDWR|O_CLOEXEC|O_DIRECT. Without direct I/O (the open fails with EINVAL,
 * the file system reports no direct-I/O support, or tmpfs/ramfs where O_DIRECT is only
 * accepted for show) the file is used buffered, so a flush must fsync it.
 *
 * Block size: blk_size=0 or absent means the detected one (the logical block size of a
 * block device, the direct-I/O offset alignment of a file, 512 for a buffered file);
 * otherwise a power of two in [512, 65536] and not below the detected size.
 * required_alignment: 1 when buffered; with direct I/O the larger of the memory and
 * the length alignment the kernel demands per iovec segment (each segment's address
 * must be aligned to the DIO memory alignment and its length a multiple of the logical
 * block size), so that segments of blk_size-multiple length never bounce needlessly. */
#pragma once
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev.h"
#include "bdev_uri.h"

#define FILE_MAX_BLK_SIZE 65536u

/* Per device (struct bdev.ctx). The flags are learned at run time by any reactor. */
struct file_disk {
    int fd;
    char *path;
    bool direct;
    bool is_blockdev;
    uint32_t detected_blk; /* logical block size / DIO offset alignment (512 if buffered) */
    uint32_t mem_align;    /* DIO buffer alignment (1 if buffered) */
    atomic_bool no_unmap;  /* fallocate(PUNCH_HOLE) said EOPNOTSUPP */
    atomic_bool no_write_zeroes; /* fallocate(ZERO_RANGE) said EOPNOTSUPP */
};

/* Scheme `name` hook: the URI path, which must be absolute, without a host. */
int file_uri_name(const struct uri *u, char *name, size_t len, char *err, size_t errlen);

/* Scheme `create` body: validates parameters (allowed: blk_size, uuid and, when
 * allow_rescan, rescan), opens and sizes `name`, and builds the device (not
 * registered) with a struct file_disk as ctx. May block. */
int file_create(const struct uri *u, const char *name, const char *product,
                const struct bdev_ops *ops, bool allow_rescan, struct bdev **out, char *err,
                size_t errlen);

/* ops->destruct: closes the file and frees the context. */
void file_destruct(struct bdev *b);
/* ops->dump_info: {"filename", "direct", "block_size_detected"}. */
void file_dump_info(const struct bdev *b, json_t *driver_specific);

/* Re-reads the size of an existing file-backed device (aio's `rescan`): updates
 * b->num_blocks. Primary reactor. 0, or -EINVAL (now smaller than one block), -EBUSY
 * (it shrank while open) or the error of fstat/ioctl, with a message. */
int file_rescan(struct bdev *b, char *err, size_t errlen);

/* ---- partial completions ---- */

/* How far a read or write has got: `done` bytes in total, which end `seg_off` bytes
 * into segment `seg` of io->iov. */
struct file_progress {
    uint64_t done;
    uint64_t seg_off;
    int seg;
};

/* Most segments handed to the kernel in one request (the rest follow as a
 * continuation, like a short transfer). */
#define FILE_MAX_SEGS 1024

/* Moves p forward by n bytes (skipping empty segments). */
void file_progress_advance(const struct bdev_io *io, struct file_progress *p, uint64_t n);

/* The rest of the transfer from p: either one buffer (*buf, *len; when p ends inside
 * a segment) or segments (*iov, *iovcnt; at most FILE_MAX_SEGS), and its byte offset on
 * the device. Returns true for the single-buffer form. */
bool file_progress_next(const struct bdev_io *io, const struct file_progress *p, void **buf,
                        size_t *len, const struct iovec **iov, int *iovcnt, uint64_t *offset);

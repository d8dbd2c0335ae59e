/* Control-plane views of the block-device layer: the JSON-RPC methods with SPDK's names
 * and result shapes (bdev_get_bdevs, bdev_get_iostat, bdev_malloc_create, ...), two
 * diagnostic I/O methods of ours (ioe_bdev_write / ioe_bdev_read), and the device
 * description the gRPC BdevRpc services (v1 and v0) report.
 *
 * Everything here runs on the primary reactor (docs/block-devices.md has the reference). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdev.h"
#include "jsonrpc/jsonrpc.h"

/* One device as gRPC BdevRpc reports it (mayastor.v1.Bdev / mayastor.Bdev): every
 * string is allocated and owned by the view. */
struct bdev_view {
    char *name;
    char uuid[37];      /* lower-case text */
    uint64_t num_blocks;
    uint32_t blk_size;
    bool claimed;
    char *claimed_by;   /* the claiming module, "Orphaned" when unclaimed (as upstream) */
    char *aliases;      /* every alias, comma-joined in creation order (as upstream) */
    char *uri;          /* bdev_uri(): the creation URI with ?uuid= appended */
    char *product_name;
    char *share_uri;    /* bdev_share_uri(): "bdev:///<name>" while unshared */
};

/* Fills v from b. Returns 0 or -ENOMEM (v is then already released). */
int bdev_view_get(const struct bdev *b, struct bdev_view *v);
void bdev_view_free(struct bdev_view *v);

/* Views of every device (only != NULL: of that one), in table order, for the List
 * methods. Returns 0 or -ENOMEM (nothing to free then). */
int bdev_views_collect(const struct bdev *only, struct bdev_view **views, size_t *n);
void bdev_views_free(struct bdev_view *views, size_t n);

/* JSON-RPC methods, listed in jsonrpc/methods.c. */
extern const struct jsonrpc_method bdev_rpc_m_get_bdevs;
extern const struct jsonrpc_method bdev_rpc_m_get_iostat;
extern const struct jsonrpc_method bdev_rpc_m_reset_iostat;
extern const struct jsonrpc_method bdev_rpc_m_malloc_create;
extern const struct jsonrpc_method bdev_rpc_m_malloc_delete;
extern const struct jsonrpc_method bdev_rpc_m_null_create;
extern const struct jsonrpc_method bdev_rpc_m_null_delete;
extern const struct jsonrpc_method bdev_rpc_m_aio_create;
extern const struct jsonrpc_method bdev_rpc_m_aio_delete;
extern const struct jsonrpc_method bdev_rpc_m_uring_create;
extern const struct jsonrpc_method bdev_rpc_m_uring_delete;
extern const struct jsonrpc_method bdev_rpc_m_ioe_write;
extern const struct jsonrpc_method bdev_rpc_m_ioe_read;

/* Base64 (RFC 4648, padded), exposed for unit tests. encode returns a NUL-terminated
 * allocated string; decode returns 0 and an allocated buffer, or -EINVAL on bad input
 * (characters outside the alphabet, bad length or padding), -ENOMEM. */
char *bdev_rpc_base64_encode(const void *data, size_t len);
int bdev_rpc_base64_decode(const char *s, void **out, size_t *len);

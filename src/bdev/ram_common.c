#include "ram_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/uri.h"

int ram_uri_name(const struct uri *u, char *name, size_t len, char *err, size_t errlen)
{
    const char *n = u->path[0] == '/' ? u->path + 1 : u->path;
    if (u->host[0] || !*n || strchr(n, '/')) {
        snprintf(err, errlen, "expected %s:///<name>", u->scheme);
        return -EINVAL;
    }
    if (strlen(n) >= len) {
        snprintf(err, errlen, "name too long");
        return -EINVAL;
    }
    strcpy(name, n);
    return 0;
}

int ram_uri_geometry(const struct uri *u, struct ram_geometry *g, char *err, size_t errlen)
{
    static const char *const allowed[] = {"size_mb", "num_blocks", "blk_size", "uuid", "resize",
                                          NULL};
    const char *bad = uri_unknown_param(u, allowed);
    if (bad) {
        snprintf(err, errlen, "unknown parameter '%s' for %s://", bad, u->scheme);
        return -EINVAL;
    }
    uint64_t size_mb = 0, blocks = 0, blk = 512;
    bool has_size, has_blocks, has_blk;
    int rc = bdev_param_u64(u, "size_mb", &size_mb, &has_size, err, errlen);
    if (!rc)
        rc = bdev_param_u64(u, "num_blocks", &blocks, &has_blocks, err, errlen);
    if (!rc)
        rc = bdev_param_u64(u, "blk_size", &blk, &has_blk, err, errlen);
    if (!rc)
        rc = bdev_param_uuid(u, g->uuid, &g->uuid_given, err, errlen);
    if (rc)
        return rc;
    if (has_size == has_blocks) {
        snprintf(err, errlen, "%s:// needs exactly one of size_mb and num_blocks", u->scheme);
        return -EINVAL;
    }
    if (blk != 512 && blk != 4096) {
        snprintf(err, errlen, "blk_size must be 512 or 4096, not %llu", (unsigned long long)blk);
        return -EINVAL;
    }
    if (has_size) {
        if (!size_mb || size_mb > (UINT64_MAX >> 20) / 2) {
            snprintf(err, errlen, "invalid size_mb %llu", (unsigned long long)size_mb);
            return -EINVAL;
        }
        blocks = (size_mb << 20) / blk;
    }
    if (!blocks || blocks > (UINT64_MAX / 2) / blk) {
        snprintf(err, errlen, "invalid device size (%llu blocks)", (unsigned long long)blocks);
        return -EINVAL;
    }
    g->blk_size = (uint32_t)blk;
    g->num_blocks = blocks;
    return 0;
}

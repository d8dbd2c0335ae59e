/* URI handling shared by the RAM-backed schemes malloc:// and null://. */
#pragma once
#include <stdint.h>
#include <uuid/uuid.h>

#include "bdev_uri.h"

struct ram_geometry {
    uint32_t blk_size;
    uint64_t num_blocks;
    uuid_t uuid;
    bool uuid_given;
};

/* name = the URI path without its leading '/'. */
int ram_uri_name(const struct uri *u, char *name, size_t len, char *err, size_t errlen);
/* size_mb xor num_blocks (one required), blk_size 512|4096 (default 512), uuid. */
int ram_uri_geometry(const struct uri *u, struct ram_geometry *g, char *err, size_t errlen);

/* Sharing a block device over NVMe-oF for BdevRpc v1 and v0 (primary reactor). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "grpc/rpc.h"

/* Shares device `name` with the allowed hosts (or replaces them); on failure answers the
 * call with the error (FAILED_PRECONDITION for a claimed device) and returns false. */
bool bdev_rpc_share(struct rpc_call *call, const char *name, char **hosts, size_t n_hosts);
/* Stops sharing device `name` and answers the call with an empty reply (NOT_FOUND if there
 * is no such device; nothing to do if it is not shared). */
void bdev_rpc_unshare(struct rpc_call *call, const char *name);

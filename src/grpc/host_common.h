/* What the v1 HostRpc and the v0 Mayastor service share: the off-reactor block-device
 * enumeration and the resource-usage query. Each API version only converts. */
#pragma once
#include <stdbool.h>
#include <sys/resource.h>

#include "host/blk_device.h"
#include "rpc.h"

/* Enumerates on an offload thread, then calls reply(call, list) on the primary reactor
 * (the list is freed afterwards), or fails the call. */
typedef void (*blk_reply_fn)(struct rpc_call *call, const struct blk_device_list *list);
void host_list_block_devices(struct rpc_call *call, bool all, blk_reply_fn reply);

/* getrusage(RUSAGE_SELF) or fails the call and returns false. */
bool host_rusage(struct rpc_call *call, struct rusage *ru);

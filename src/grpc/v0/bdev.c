/* mayastor.BdevRpc (v0): block devices created from URIs.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "mayastor.pb-c.h"

const struct rpc_service svc_v0_bdev = {
    .desc = &mayastor__bdev_rpc__descriptor,
    .alias = "v0.bdev_rpc.BdevRpc",
    .version = API_V0,
    .capability = "the block-device layer",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

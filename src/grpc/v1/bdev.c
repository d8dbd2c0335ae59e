/* mayastor.v1.BdevRpc: block devices created from URIs.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "bdev.pb-c.h"

const struct rpc_service svc_v1_bdev = {
    .desc = &mayastor__v1__bdev_rpc__descriptor,
    .alias = "v1.bdev.BdevRpc",
    .version = API_V1,
    .capability = "the block-device layer",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

/* mayastor.v1.PoolRpc: storage pools (lvolstores) on local disks.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "pool.pb-c.h"

const struct rpc_service svc_v1_pool = {
    .desc = &mayastor__v1__pool_rpc__descriptor,
    .alias = "v1.pool.PoolRpc",
    .version = API_V1,
    .capability = "pool management (lvolstore pools)",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

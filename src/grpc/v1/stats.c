/* mayastor.v1.StatsRpc: I/O statistics of pools, replicas and nexuses.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "stats.pb-c.h"

const struct rpc_service svc_v1_stats = {
    .desc = &mayastor__v1__stats_rpc__descriptor,
    .alias = "v1.stats.StatsRpc",
    .version = API_V1,
    .capability = "I/O statistics of pools, replicas and nexuses",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

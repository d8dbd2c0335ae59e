/* mayastor.v1.ReplicaRpc: replicas (logical volumes) carved out of pools.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "replica.pb-c.h"

const struct rpc_service svc_v1_replica = {
    .desc = &mayastor__v1__replica_rpc__descriptor,
    .alias = "v1.replica.ReplicaRpc",
    .version = API_V1,
    .capability = "replica management (logical volumes)",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

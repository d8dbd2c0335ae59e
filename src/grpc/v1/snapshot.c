/* mayastor.v1.SnapshotRpc: replica and nexus snapshots and clones.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "snapshot.pb-c.h"

const struct rpc_service svc_v1_snapshot = {
    .desc = &mayastor__v1__snapshot_rpc__descriptor,
    .alias = "v1.snapshot.SnapshotRpc",
    .version = API_V1,
    .capability = "snapshots and clones",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

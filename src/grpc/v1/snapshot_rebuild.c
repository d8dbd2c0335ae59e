/* mayastor.v1.SnapshotRebuildRpc: rebuilding snapshots onto replicas.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "snapshot-rebuild.pb-c.h"

const struct rpc_service svc_v1_snapshot_rebuild = {
    .desc = &mayastor__v1__snapshot_rebuild_rpc__descriptor,
    .alias = "v1.snapshot_rebuild.SnapshotRebuildRpc",
    .version = API_V1,
    .capability = "snapshot rebuild",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

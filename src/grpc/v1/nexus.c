/* mayastor.v1.NexusRpc: the nexus, a synchronous N-way mirror with rebuild.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "nexus.pb-c.h"

const struct rpc_service svc_v1_nexus = {
    .desc = &mayastor__v1__nexus_rpc__descriptor,
    .alias = "v1.nexus.NexusRpc",
    .version = API_V1,
    .capability = "the nexus (replicated volume)",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

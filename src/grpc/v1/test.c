/* mayastor.v1.TestRpc: replica wiping and fault injection, for tests.
 *
 * Every method of this service answers UNIMPLEMENTED (naming the capability) until the
 * issue that builds it gives the service a handler table. */
#include "grpc/rpc.h"
#include "test.pb-c.h"

const struct rpc_service svc_v1_test = {
    .desc = &mayastor__v1__test_rpc__descriptor,
    .alias = "v1.test.TestRpc",
    .version = API_V1,
    .capability = "replica wipe and fault injection",
    .handlers = NULL, /* no method built yet */
    .n_handlers = 0,
};

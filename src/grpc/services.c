/* The services this daemon serves, in lookup order. Each lives in its own file under
 * v1/ or v0/; which ones are reachable depends on --api-versions. */
#include "rpc.h"

extern const struct rpc_service svc_v1_pool, svc_v1_replica, svc_v1_nexus, svc_v1_host,
    svc_v1_json, svc_v1_bdev, svc_v1_snapshot, svc_v1_snapshot_rebuild, svc_v1_stats,
    svc_v1_test, svc_v0_mayastor, svc_v0_bdev, svc_v0_json;

const struct rpc_service *const rpc_all_services[] = {
    &svc_v1_pool, &svc_v1_replica, &svc_v1_nexus, &svc_v1_host, &svc_v1_json,
    &svc_v1_bdev, &svc_v1_snapshot, &svc_v1_snapshot_rebuild, &svc_v1_stats, &svc_v1_test,
    &svc_v0_mayastor, &svc_v0_bdev, &svc_v0_json, NULL,
};

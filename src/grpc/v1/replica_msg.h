/* The mayastor.v1.Replica message of a replica (or clone), shared by ReplicaRpc and
 * SnapshotRpc (CreateSnapshotClone / ListSnapshotClone answer with replicas). */
#pragma once
#include "lvs/lvol.h"
#include "replica.pb-c.h"

/* The message and the storage its fields point into. */
struct replica_msg {
    Mayastor__V1__Replica r;
    Mayastor__V1__ReplicaSpaceUsage u;
    char *uri;
    char snap[64];
    char entity[4096];
};

void replica_msg_fill(struct replica_msg *m, const struct lvol *lv);
void replica_msg_free(struct replica_msg *m);

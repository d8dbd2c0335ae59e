#include "replica_msg.h"

#include <stdlib.h>

#include "lvs/lvs.h"

void replica_msg_fill(struct replica_msg *m, const struct lvol *lv)
{
    struct lvol_usage us;
    lvol_get_usage(lv, &us);
    mayastor__v1__replica__init(&m->r);
    mayastor__v1__replica_space_usage__init(&m->u);
    m->uri = lvol_share_uri(lv);
    m->u.capacity_bytes = us.capacity_bytes;
    m->u.allocated_bytes = us.allocated_bytes;
    m->u.cluster_size = us.cluster_size;
    m->u.num_clusters = us.num_clusters;
    m->u.num_allocated_clusters = us.num_allocated_clusters;
    m->u.allocated_bytes_snapshots = us.allocated_bytes_snapshots;
    m->u.num_allocated_clusters_snapshots = us.num_allocated_clusters_snapshots;
    if (us.has_snapshot_from_clone) {
        m->u._allocated_bytes_snapshot_from_clone_case =
            MAYASTOR__V1__REPLICA_SPACE_USAGE___ALLOCATED_BYTES_SNAPSHOT_FROM_CLONE_ALLOCATED_BYTES_SNAPSHOT_FROM_CLONE;
        m->u.allocated_bytes_snapshot_from_clone = us.allocated_bytes_snapshot_from_clone;
    }
    m->r.name = (char *)lv->name;
    m->r.uuid = (char *)lv->uuid_str;
    m->r.pooluuid = (char *)lv->lvs->uuid_str;
    m->r.poolname = (char *)lv->lvs->name;
    m->r.size = us.capacity_bytes;
    m->r.thin = lvol_is_thin(lv);
    m->r.share = lv->share == LVOL_SHARE_NVMF ? MAYASTOR__V1__SHARE_PROTOCOL__NVMF
                                              : MAYASTOR__V1__SHARE_PROTOCOL__NONE;
    m->r.uri = m->uri ? m->uri : "";
    m->r.usage = &m->u;
    m->r.n_allowed_hosts = lv->n_allowed_hosts;
    m->r.allowed_hosts = lv->allowed_hosts;
    m->r.is_snapshot = lvol_is_snapshot(lv);
    m->r.is_clone = lvol_is_clone(lv);
    m->r.pooltype = MAYASTOR__V1__POOL_TYPE__Lvs;
    if (!lvol_get_property(lv, LVOL_XATTR_CLONE_SOURCE, m->snap, sizeof(m->snap))) {
        m->r._snapshot_uuid_case = MAYASTOR__V1__REPLICA___SNAPSHOT_UUID_SNAPSHOT_UUID;
        m->r.snapshot_uuid = m->snap;
    }
    if (!lvol_get_property(lv, LVOL_XATTR_ENTITY_ID, m->entity, sizeof(m->entity))) {
        m->r._entity_id_case = MAYASTOR__V1__REPLICA___ENTITY_ID_ENTITY_ID;
        m->r.entity_id = m->entity;
    }
}

void replica_msg_free(struct replica_msg *m)
{
    free(m->uri);
    m->uri = NULL;
}


/* "snapshot" commands: snapshots of replicas and clones of mayastor.v1.SnapshotRpc
 * (create, list, destroy, clone, list-clones). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "cli.h"
#include "google/protobuf/empty.pb-c.h"
#include "output.h"
#include "snapshot.pb-c.h"

#define SVC "mayastor.v1.SnapshotRpc"

static bool is_uuid(const char *s)
{
    uuid_t u;
    return !uuid_parse(s, u);
}

static void random_uuid(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

/* ---- tables ---- */

static void snapshots_table(Mayastor__V1__SnapshotInfo *const *v, size_t n)
{
    struct table *t = table_new((const char *[]){"NAME", "UUID", "SOURCE", "POOL", ">SIZE",
                                                 ">SOURCE_SIZE", ">CLONES", "CREATED", "VALID",
                                                 "DISCARDED", NULL});
    table_set_empty(t, "No snapshots found");
    for (size_t i = 0; i < n; i++) {
        const Mayastor__V1__SnapshotInfo *s = v[i];
        char size[32], src[32], when[40] = "";
        human_size(s->snapshot_size, size, sizeof(size));
        human_size(s->source_size, src, sizeof(src));
        if (s->timestamp) {
            time_t secs = (time_t)s->timestamp->seconds;
            struct tm tm;
            gmtime_r(&secs, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        table_row(t);
        table_cell_str(t, s->snapshot_name);
        table_cell_str(t, s->snapshot_uuid);
        table_cell_str(t, s->source_uuid);
        table_cell_str(t, s->pool_name);
        table_cell_str(t, size);
        table_cell_str(t, src);
        table_cell(t, "%llu", (unsigned long long)s->num_clones);
        table_cell_str(t, when);
        table_cell_str(t, s->valid_snapshot ? "true" : "false");
        table_cell_str(t, s->discarded_snapshot ? "true" : "false");
    }
    table_print(t, stdout);
    table_free(t);
}

static void create_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__CreateReplicaSnapshotResponse *r = (const void *)msg;
    snapshots_table(&r->snapshot, r->snapshot ? 1 : 0);
}

static void list_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListSnapshotsResponse *r = (const void *)msg;
    snapshots_table(r->snapshots, r->n_snapshots);
}

static void clones_table(Mayastor__V1__Replica *const *v, size_t n)
{
    struct table *t = table_new((const char *[]){"NAME", "UUID", "SNAPSHOT", "POOL", ">SIZE",
                                                 ">ALLOCATED", "URI", NULL});
    table_set_empty(t, "No clones found");
    for (size_t i = 0; i < n; i++) {
        const Mayastor__V1__Replica *r = v[i];
        char size[32], alloc[32];
        human_size(r->size, size, sizeof(size));
        human_size(r->usage ? r->usage->allocated_bytes : 0, alloc, sizeof(alloc));
        table_row(t);
        table_cell_str(t, r->name);
        table_cell_str(t, r->uuid);
        table_cell_str(t, r->_snapshot_uuid_case ? r->snapshot_uuid : NULL);
        table_cell_str(t, r->poolname);
        table_cell_str(t, size);
        table_cell_str(t, alloc);
        table_cell_str(t, r->uri);
    }
    table_print(t, stdout);
    table_free(t);
}

static void clone_table(const ProtobufCMessage *msg)
{
    Mayastor__V1__Replica *r = (Mayastor__V1__Replica *)msg;
    clones_table(&r, 1);
}

static void list_clones_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListSnapshotCloneResponse *r = (const void *)msg;
    clones_table(r->replicas, r->n_replicas);
}

/* ---- commands ---- */

static int run_create(struct cli_ctx *ctx)
{
    Mayastor__V1__CreateReplicaSnapshotRequest req =
        MAYASTOR__V1__CREATE_REPLICA_SNAPSHOT_REQUEST__INIT;
    char uuid[37], txn[37];
    req.replica_uuid = ctx->pos[0];
    req.snapshot_name = ctx->pos[1];
    if (ctx->n_pos > 2) {
        if (!is_uuid(ctx->pos[2]))
            return cli_usage_error(ctx, "invalid UUID '%s'", ctx->pos[2]);
        req.snapshot_uuid = ctx->pos[2];
    } else {
        random_uuid(uuid);
        req.snapshot_uuid = uuid;
    }
    req.entity_id = (char *)cli_opt(ctx, "entity-id");
    if (!req.entity_id)
        return cli_usage_error(ctx, "--entity-id is required");
    req.txn_id = (char *)cli_opt(ctx, "txn-id");
    if (!req.txn_id) {
        random_uuid(txn);
        req.txn_id = txn;
    }
    return cli_call_emit(ctx, SVC, "CreateReplicaSnapshot", &req.base,
                         &mayastor__v1__create_replica_snapshot_response__descriptor,
                         create_table);
}

static int bool_opt(struct cli_ctx *ctx, const char *name, protobuf_c_boolean *out, bool *given)
{
    const char *v = cli_opt(ctx, name);
    *given = v != NULL;
    if (!v)
        return 0;
    if (!strcmp(v, "true"))
        *out = true;
    else if (!strcmp(v, "false"))
        *out = false;
    else
        return cli_usage_error(ctx, "invalid --%s '%s' (true or false)", name, v);
    return 0;
}

static int run_list(struct cli_ctx *ctx)
{
    Mayastor__V1__ListSnapshotsRequest req = MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST__INIT;
    Mayastor__V1__ListSnapshotsRequest__Query q =
        MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST__QUERY__INIT;
    if (ctx->n_pos) {
        req._snapshot_uuid_case = MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST___SNAPSHOT_UUID_SNAPSHOT_UUID;
        req.snapshot_uuid = ctx->pos[0];
    }
    const char *src = cli_opt(ctx, "source");
    if (src) {
        req._source_uuid_case = MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST___SOURCE_UUID_SOURCE_UUID;
        req.source_uuid = (char *)src;
    }
    bool inv, disc;
    int rc = bool_opt(ctx, "invalid", &q.invalid, &inv);
    if (!rc)
        rc = bool_opt(ctx, "discarded", &q.discarded, &disc);
    if (rc)
        return rc;
    if (inv)
        q._invalid_case = MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST__QUERY___INVALID_INVALID;
    if (disc)
        q._discarded_case = MAYASTOR__V1__LIST_SNAPSHOTS_REQUEST__QUERY___DISCARDED_DISCARDED;
    if (inv || disc)
        req.query = &q;
    return cli_call_emit(ctx, SVC, "ListSnapshot", &req.base,
                         &mayastor__v1__list_snapshots_response__descriptor, list_table);
}

static int run_destroy(struct cli_ctx *ctx)
{
    Mayastor__V1__DestroySnapshotRequest req = MAYASTOR__V1__DESTROY_SNAPSHOT_REQUEST__INIT;
    req.snapshot_uuid = ctx->pos[0];
    const char *pool = cli_opt(ctx, "pool");
    if (pool) {
        if (is_uuid(pool)) {
            req.pool_case = MAYASTOR__V1__DESTROY_SNAPSHOT_REQUEST__POOL_POOL_UUID;
            req.pool_uuid = (char *)pool;
        } else {
            req.pool_case = MAYASTOR__V1__DESTROY_SNAPSHOT_REQUEST__POOL_POOL_NAME;
            req.pool_name = (char *)pool;
        }
    }
    return cli_call_emit(ctx, SVC, "DestroySnapshot", &req.base,
                         &google__protobuf__empty__descriptor, NULL);
}

static int run_clone(struct cli_ctx *ctx)
{
    Mayastor__V1__CreateSnapshotCloneRequest req = MAYASTOR__V1__CREATE_SNAPSHOT_CLONE_REQUEST__INIT;
    char uuid[37];
    req.snapshot_uuid = ctx->pos[0];
    req.clone_name = ctx->pos[1];
    if (ctx->n_pos > 2) {
        if (!is_uuid(ctx->pos[2]))
            return cli_usage_error(ctx, "invalid UUID '%s'", ctx->pos[2]);
        req.clone_uuid = ctx->pos[2];
    } else {
        random_uuid(uuid);
        req.clone_uuid = uuid;
    }
    return cli_call_emit(ctx, SVC, "CreateSnapshotClone", &req.base,
                         &mayastor__v1__replica__descriptor, clone_table);
}

static int run_list_clones(struct cli_ctx *ctx)
{
    Mayastor__V1__ListSnapshotCloneRequest req = MAYASTOR__V1__LIST_SNAPSHOT_CLONE_REQUEST__INIT;
    if (ctx->n_pos) {
        req._snapshot_uuid_case =
            MAYASTOR__V1__LIST_SNAPSHOT_CLONE_REQUEST___SNAPSHOT_UUID_SNAPSHOT_UUID;
        req.snapshot_uuid = ctx->pos[0];
    }
    return cli_call_emit(ctx, SVC, "ListSnapshotClone", &req.base,
                         &mayastor__v1__list_snapshot_clone_response__descriptor,
                         list_clones_table);
}

static const struct cli_opt create_opts[] = {
    {"entity-id", 'e', "ID", "the owning volume (required)"},
    {"txn-id", 't', "ID", "the snapshot transaction (default: a random uuid)"},
    {0},
};

static const struct cli_opt list_opts[] = {
    {"source", 's', "UUID", "only snapshots taken of this replica"},
    {"discarded", 0, "BOOL", "only discarded (true) or only kept (false) snapshots"},
    {"invalid", 0, "BOOL", "only invalid (true) or only valid (false) snapshots"},
    {0},
};

static const struct cli_opt destroy_opts[] = {
    {"pool", 'p', "POOL", "the pool the snapshot must be in (a uuid or a name)"},
    {0},
};

static const struct cli_cmd snap_create = {
    .name = "create",
    .summary = "snapshot a replica",
    .args_usage = "REPLICA_UUID NAME [SNAPSHOT_UUID]",
    .description = "Takes snapshot NAME of the replica (SnapshotRpc.CreateReplicaSnapshot) with\n"
                   "SNAPSHOT_UUID (random if not given), and shows it.",
    .opts = create_opts,
    .min_pos = 2,
    .max_pos = 3,
    .run = run_create,
};

static const struct cli_cmd snap_list = {
    .name = "list",
    .summary = "snapshots of the engine (one, if UUID is given)",
    .args_usage = "[UUID]",
    .description = "Lists snapshots (SnapshotRpc.ListSnapshot). SIZE is the space the snapshot\n"
                   "holds; -o json gives every field in bytes.",
    .opts = list_opts,
    .min_pos = 0,
    .max_pos = 1,
    .run = run_list,
};

static const struct cli_cmd snap_destroy = {
    .name = "destroy",
    .summary = "destroy a snapshot",
    .args_usage = "UUID",
    .description = "Destroys the snapshot (SnapshotRpc.DestroySnapshot). While something still\n"
                   "depends on it, it is only marked discarded and goes with its last clone.\n"
                   "Prints nothing on success (-o json prints {}).",
    .opts = destroy_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_destroy,
};

static const struct cli_cmd snap_clone = {
    .name = "clone",
    .summary = "make a writable clone of a snapshot",
    .args_usage = "SNAPSHOT_UUID NAME [CLONE_UUID]",
    .description = "Creates clone NAME of the snapshot (SnapshotRpc.CreateSnapshotClone) with\n"
                   "CLONE_UUID (random if not given), and shows it. A clone is a replica.",
    .min_pos = 2,
    .max_pos = 3,
    .run = run_clone,
};

static const struct cli_cmd snap_list_clones = {
    .name = "list-clones",
    .summary = "clones (of one snapshot, if SNAPSHOT_UUID is given)",
    .args_usage = "[SNAPSHOT_UUID]",
    .description = "Lists clones (SnapshotRpc.ListSnapshotClone).",
    .min_pos = 0,
    .max_pos = 1,
    .run = run_list_clones,
};

static const struct cli_cmd *const snapshot_subs[] = {
    &snap_list, &snap_create, &snap_destroy, &snap_clone, &snap_list_clones, NULL,
};

const struct cli_cmd cli_cmd_snapshot = {
    .name = "snapshot",
    .summary = "snapshots and clones: list, create, destroy, clone, list-clones",
    .description = "Snapshots of replicas and their clones (mayastor.v1.SnapshotRpc).",
    .subs = snapshot_subs,
};

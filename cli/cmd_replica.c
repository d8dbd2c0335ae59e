/* "replica" commands: replicas of mayastor.v1.ReplicaRpc (create, list, destroy, resize,
 * set-entity-id). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "cli.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "output.h"
#include "pbjson.h"
#include "replica.pb-c.h"

#define SVC "mayastor.v1.ReplicaRpc"

static const char *kind(const Mayastor__V1__Replica *r)
{
    return r->is_snapshot ? "snapshot" : r->is_clone ? "clone" : "replica";
}

static void replicas_table(Mayastor__V1__Replica *const *reps, size_t n)
{
    struct table *t = table_new((const char *[]){"NAME", "UUID", "POOL", ">SIZE", ">ALLOCATED",
                                                 "THIN", "SHARE", "KIND", "ENTITY_ID", "URI",
                                                 NULL});
    table_set_empty(t, "No replicas found");
    for (size_t i = 0; i < n; i++) {
        const Mayastor__V1__Replica *r = reps[i];
        char size[32], alloc[32];
        human_size(r->size, size, sizeof(size));
        human_size(r->usage ? r->usage->allocated_bytes : 0, alloc, sizeof(alloc));
        const ProtobufCEnumValue *sh =
            protobuf_c_enum_descriptor_get_value(&mayastor__v1__share_protocol__descriptor,
                                                 r->share);
        table_row(t);
        table_cell_str(t, r->name);
        table_cell_str(t, r->uuid);
        table_cell_str(t, r->poolname);
        table_cell_str(t, size);
        table_cell_str(t, alloc);
        table_cell_str(t, r->thin ? "true" : "false");
        table_cell_str(t, sh ? sh->name : "?");
        table_cell_str(t, kind(r));
        table_cell_str(t, r->_entity_id_case ? r->entity_id : NULL);
        table_cell_str(t, r->uri);
    }
    table_print(t, stdout);
    table_free(t);
}

static void replica_table(const ProtobufCMessage *msg)
{
    Mayastor__V1__Replica *r = (Mayastor__V1__Replica *)msg;
    replicas_table(&r, 1);
}

static void list_table(const ProtobufCMessage *msg)
{
    const Mayastor__V1__ListReplicasResponse *r = (const void *)msg;
    replicas_table(r->replicas, r->n_replicas);
}

static bool is_uuid(const char *s)
{
    uuid_t u;
    return !uuid_parse(s, u);
}

static int run_create(struct cli_ctx *ctx)
{
    Mayastor__V1__CreateReplicaRequest req = MAYASTOR__V1__CREATE_REPLICA_REQUEST__INIT;
    char uuid[37];
    req.name = ctx->pos[0];
    if (ctx->n_pos > 1) {
        if (!is_uuid(ctx->pos[1]))
            return cli_usage_error(ctx, "invalid UUID '%s'", ctx->pos[1]);
        req.uuid = ctx->pos[1];
    } else {
        uuid_t u;
        uuid_generate_random(u);
        uuid_unparse_lower(u, uuid);
        req.uuid = uuid;
    }
    req.pooluuid = (char *)cli_opt(ctx, "pool");
    if (!req.pooluuid)
        return cli_usage_error(ctx, "--pool is required");
    const char *size = cli_opt(ctx, "size");
    if (!size)
        return cli_usage_error(ctx, "--size is required");
    if (cli_parse_size(size, &req.size))
        return cli_usage_error(ctx, "invalid --size '%s' (e.g. 64MiB)", size);
    req.thin = cli_flag(ctx, "thin");
    const char *share = cli_opt(ctx, "share");
    if (share) {
        if (!strcasecmp(share, "none"))
            req.share = MAYASTOR__V1__SHARE_PROTOCOL__NONE;
        else if (!strcasecmp(share, "nvmf"))
            req.share = MAYASTOR__V1__SHARE_PROTOCOL__NVMF;
        else
            return cli_usage_error(ctx, "invalid --share '%s' (none or nvmf)", share);
    }
    const char *entity = cli_opt(ctx, "entity-id");
    if (entity) {
        req._entity_id_case = MAYASTOR__V1__CREATE_REPLICA_REQUEST___ENTITY_ID_ENTITY_ID;
        req.entity_id = (char *)entity;
    }
    if (cli_split_list(cli_opt(ctx, "hosts"), &req.allowed_hosts, &req.n_allowed_hosts))
        return cli_usage_error(ctx, "out of memory");
    int rc = cli_call_emit(ctx, SVC, "CreateReplica", &req.base,
                           &mayastor__v1__replica__descriptor, replica_table);
    cli_list_free(req.allowed_hosts);
    return rc;
}

static int run_share(struct cli_ctx *ctx)
{
    Mayastor__V1__ShareReplicaRequest req = MAYASTOR__V1__SHARE_REPLICA_REQUEST__INIT;
    req.uuid = ctx->pos[0];
    req.share = MAYASTOR__V1__SHARE_PROTOCOL__NVMF;
    if (cli_split_list(cli_opt(ctx, "hosts"), &req.allowed_hosts, &req.n_allowed_hosts))
        return cli_usage_error(ctx, "out of memory");
    int rc = cli_call_emit(ctx, SVC, "ShareReplica", &req.base, &mayastor__v1__replica__descriptor,
                           replica_table);
    cli_list_free(req.allowed_hosts);
    return rc;
}

static int run_unshare(struct cli_ctx *ctx)
{
    Mayastor__V1__UnshareReplicaRequest req = MAYASTOR__V1__UNSHARE_REPLICA_REQUEST__INIT;
    req.uuid = ctx->pos[0];
    return cli_call_emit(ctx, SVC, "UnshareReplica", &req.base,
                         &mayastor__v1__replica__descriptor, replica_table);
}

static int run_list(struct cli_ctx *ctx)
{
    Mayastor__V1__ListReplicaOptions req = MAYASTOR__V1__LIST_REPLICA_OPTIONS__INIT;
    Google__Protobuf__StringValue name = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Google__Protobuf__StringValue uuid = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Google__Protobuf__StringValue pool = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Mayastor__V1__ListReplicaOptions__Query q = MAYASTOR__V1__LIST_REPLICA_OPTIONS__QUERY__INIT;
    if (ctx->n_pos) {
        name.value = ctx->pos[0];
        req.name = &name;
    }
    if ((uuid.value = (char *)cli_opt(ctx, "uuid")))
        req.uuid = &uuid;
    if ((pool.value = (char *)cli_opt(ctx, "pool"))) {
        if (is_uuid(pool.value))
            req.pooluuid = &pool;
        else
            req.poolname = &pool;
    }
    const char *k = cli_opt(ctx, "kind");
    if (k) {
        /* A comma-separated subset of replica,snapshot,clone. */
        char *dup = xstrdup(k), *s = dup, *tok;
        while ((tok = strsep(&s, ","))) {
            if (!strcmp(tok, "replica"))
                q.replica = true;
            else if (!strcmp(tok, "snapshot"))
                q.snapshot = true;
            else if (!strcmp(tok, "clone"))
                q.clone = true;
            else {
                free(dup);
                return cli_usage_error(ctx, "invalid --kind '%s' (replica, snapshot, clone)", k);
            }
        }
        free(dup);
        req.query = &q;
    }
    return cli_call_emit(ctx, SVC, "ListReplicas", &req.base,
                         &mayastor__v1__list_replicas_response__descriptor, list_table);
}

static int run_destroy(struct cli_ctx *ctx)
{
    Mayastor__V1__DestroyReplicaRequest req = MAYASTOR__V1__DESTROY_REPLICA_REQUEST__INIT;
    req.uuid = ctx->pos[0];
    const char *pool = cli_opt(ctx, "pool");
    if (pool) {
        if (is_uuid(pool)) {
            req.pool_case = MAYASTOR__V1__DESTROY_REPLICA_REQUEST__POOL_POOL_UUID;
            req.pool_uuid = (char *)pool;
        } else {
            req.pool_case = MAYASTOR__V1__DESTROY_REPLICA_REQUEST__POOL_POOL_NAME;
            req.pool_name = (char *)pool;
        }
    }
    return cli_call_emit(ctx, SVC, "DestroyReplica", &req.base,
                         &google__protobuf__empty__descriptor, NULL);
}

static int run_resize(struct cli_ctx *ctx)
{
    Mayastor__V1__ResizeReplicaRequest req = MAYASTOR__V1__RESIZE_REPLICA_REQUEST__INIT;
    req.uuid = ctx->pos[0];
    if (cli_parse_size(ctx->pos[1], &req.requested_size))
        return cli_usage_error(ctx, "invalid SIZE '%s' (e.g. 128MiB)", ctx->pos[1]);
    return cli_call_emit(ctx, SVC, "ResizeReplica", &req.base,
                         &mayastor__v1__replica__descriptor, replica_table);
}

static int run_set_entity(struct cli_ctx *ctx)
{
    Mayastor__V1__SetReplicaEntityIdRequest req = MAYASTOR__V1__SET_REPLICA_ENTITY_ID_REQUEST__INIT;
    req.uuid = ctx->pos[0];
    req.entity_id = ctx->pos[1];
    return cli_call_emit(ctx, SVC, "SetReplicaEntityId", &req.base,
                         &mayastor__v1__replica__descriptor, replica_table);
}

static const struct cli_opt create_opts[] = {
    {"pool", 'p', "POOL", "the pool, by uuid or name (required)"},
    {"size", 's', "SIZE", "size, e.g. 64MiB or 1G; rounded up to whole clusters (required)"},
    {"thin", 0, NULL, "thin provisioned: space is allocated on first write"},
    {"share", 0, "PROTOCOL", "none (default) or nvmf"},
    {"entity-id", 'e', "ID", "the owning volume, stored with the replica"},
    {"hosts", 0, "NQNS", "with --share nvmf: the host NQNs allowed to connect (comma-separated)"},
    {0},
};

static const struct cli_opt share_opts[] = {
    {"hosts", 0, "NQNS", "host NQNs allowed to connect, comma-separated (default: any host)"},
    {0},
};

static const struct cli_opt list_opts[] = {
    {"pool", 'p', "POOL", "only replicas of this pool (a uuid or a name)"},
    {"uuid", 'u', "UUID", "only the replica with this uuid"},
    {"kind", 'k', "KINDS", "only these kinds: replica, snapshot, clone (comma-separated)"},
    {0},
};

static const struct cli_opt destroy_opts[] = {
    {"pool", 'p', "POOL", "the pool the replica must be in (a uuid or a name)"},
    {0},
};

static const struct cli_cmd replica_create = {
    .name = "create",
    .summary = "create a replica in a pool",
    .args_usage = "NAME [UUID]",
    .description = "Creates replica NAME (ReplicaRpc.CreateReplica) with UUID (random if not\n"
                   "given) in --pool, of --size bytes, and shows it.",
    .opts = create_opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run_create,
};

static const struct cli_cmd replica_list = {
    .name = "list",
    .summary = "replicas of the engine (one, if NAME is given)",
    .args_usage = "[NAME]",
    .description = "Lists the replicas (ReplicaRpc.ListReplicas), snapshots and clones included\n"
                   "unless --kind says otherwise. Sizes are in binary units; -o json gives bytes\n"
                   "and the full space usage.",
    .opts = list_opts,
    .min_pos = 0,
    .max_pos = 1,
    .run = run_list,
};

static const struct cli_cmd replica_destroy = {
    .name = "destroy",
    .summary = "destroy a replica",
    .args_usage = "UUID",
    .description = "Destroys the replica with UUID (ReplicaRpc.DestroyReplica); with --pool it must\n"
                   "be in that pool. Prints nothing on success (-o json prints {}).",
    .opts = destroy_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_destroy,
};

static const struct cli_cmd replica_resize = {
    .name = "resize",
    .summary = "grow or shrink a replica",
    .args_usage = "UUID SIZE",
    .description = "Resizes the replica with UUID to SIZE (ReplicaRpc.ResizeReplica), rounded up\n"
                   "to whole clusters, and shows it.",
    .min_pos = 2,
    .max_pos = 2,
    .run = run_resize,
};

static const struct cli_cmd replica_set_entity = {
    .name = "set-entity-id",
    .summary = "record the owning volume of a replica",
    .args_usage = "UUID ENTITY_ID",
    .description = "Stores ENTITY_ID with the replica (ReplicaRpc.SetReplicaEntityId) and shows it.",
    .min_pos = 2,
    .max_pos = 2,
    .run = run_set_entity,
};

static const struct cli_cmd replica_share = {
    .name = "share",
    .summary = "share a replica over NVMe/TCP",
    .args_usage = "UUID",
    .description = "Shares the replica with UUID over NVMe/TCP (ReplicaRpc.ShareReplica) as\n"
                   "nqn.2019-05.io.openebs:<name>, and shows it with its nvmf:// URI. On a shared\n"
                   "replica it replaces the allowed hosts; hosts no longer allowed are\n"
                   "disconnected. The share is recorded and survives export/import and restarts.",
    .opts = share_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_share,
};

static const struct cli_cmd replica_unshare = {
    .name = "unshare",
    .summary = "stop sharing a replica",
    .args_usage = "UUID",
    .description = "Disconnects the hosts of the replica with UUID and stops sharing it\n"
                   "(ReplicaRpc.UnshareReplica); nothing to do if it is not shared.",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_unshare,
};

static const struct cli_cmd *const replica_subs[] = {
    &replica_list, &replica_create, &replica_destroy, &replica_resize, &replica_set_entity,
    &replica_share, &replica_unshare, NULL,
};

const struct cli_cmd cli_cmd_replica = {
    .name = "replica",
    .summary = "replicas: list, create, destroy, resize, set-entity-id, share, unshare",
    .description = "Replicas (logical volumes) in pools (mayastor.v1.ReplicaRpc).",
    .subs = replica_subs,
};

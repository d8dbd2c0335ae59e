/* JSON-RPC methods of snapshots and clones with SPDK's names and parameter shapes:
 *   bdev_lvol_snapshot {lvol_name, snapshot_name}  -> the snapshot's device name
 *   bdev_lvol_clone    {snapshot_name, clone_name} -> the clone's device name
 * lvol_name / snapshot_name designate a device by name or alias ("pool/lvol"). They run
 * the same code as gRPC (snapshot.c) under the pool lock (busy: -EBUSY), not the gRPC
 * serialization. Differences from SPDK (docs/pools-and-replicas.md): devices are named
 * after the lvol (SPDK answers a uuid), uuids are random, and a snapshot gets the
 * io-engine's snapshot xattrs (empty tx_id and entity_id) so that the gRPC surface sees
 * it as a snapshot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "jsonrpc/jsonrpc.h"
#include "snapshot.h"

/* Two required string parameters, nothing else (unknown keys: -32602, as lvs_rpc.c). */
static bool two_strings(struct jsonrpc_request *req, const char *method, json_t *params,
                        const char *k1, const char **v1, const char *k2, const char **v2)
{
    if (!json_is_object(params)) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: params must be an object with %s and %s",
                      method, k1, k2);
        return false;
    }
    const char *k;
    json_t *v;
    *v1 = *v2 = NULL;
    json_object_foreach(params, k, v)
    {
        const char **out = !strcmp(k, k1) ? v1 : !strcmp(k, k2) ? v2 : NULL;
        if (!out) {
            jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: unknown parameter '%s'", method, k);
            return false;
        }
        if (!json_is_string(v)) {
            jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: '%s' must be a string", method, k);
            return false;
        }
        *out = json_string_value(v);
    }
    if (!*v1 || !*v2) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: missing parameter '%s'", method,
                      !*v1 ? k1 : k2);
        return false;
    }
    return true;
}

static int code_of(int rc)
{
    if (rc == -EINVAL || rc == -EOVERFLOW)
        return JSONRPC_INVALID_PARAMS;
    if (rc == -EALREADY)
        return -EBUSY;
    return rc;
}

struct sreq {
    struct jsonrpc_request *req;
    char pool[LVS_NAME_MAX];
};

static void made(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct sreq *r = arg;
    lvs_name_unlock(r->pool);
    if (rc)
        jsonrpc_error(r->req, code_of(rc), "%s", errmsg ? errmsg : strerror(-rc));
    else
        jsonrpc_reply(r->req, json_string(lv->name));
    free(r);
}

/* The lvol `name` designates, its pool locked; answers and returns NULL on a problem. */
static struct sreq *start(struct jsonrpc_request *req, const char *name, struct lvol **out)
{
    struct lvol *lv = lvol_lookup_name(name);
    if (!lv) {
        jsonrpc_error(req, -ENODEV, "No such device: no lvol named '%s'", name);
        return NULL;
    }
    if (lvs_name_trylock(lv->lvs->name)) {
        jsonrpc_error(req, -EBUSY, "pool %s: lock already held (another operation on it is "
                      "under way)", lv->lvs->name);
        return NULL;
    }
    struct sreq *r = calloc(1, sizeof(*r));
    if (!r) {
        lvs_name_unlock(lv->lvs->name);
        jsonrpc_error(req, -ENOMEM, "out of memory");
        return NULL;
    }
    r->req = req;
    snprintf(r->pool, sizeof(r->pool), "%s", lv->lvs->name);
    *out = lv;
    return r;
}

static void random_uuid(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

static void rpc_snapshot(struct jsonrpc_request *req, json_t *params)
{
    const char *lvol = NULL, *name = NULL;
    if (!two_strings(req, "bdev_lvol_snapshot", params, "lvol_name", &lvol, "snapshot_name",
                     &name))
        return;
    struct lvol *lv;
    struct sreq *r = start(req, lvol, &lv);
    if (!r)
        return;
    char uuid[37];
    random_uuid(uuid);
    struct lvol_snapshot_args a = {.name = name, .uuid = uuid, .entity_id = "", .txn_id = ""};
    lvol_snapshot_create(lv, &a, made, r);
}

static void rpc_clone(struct jsonrpc_request *req, json_t *params)
{
    const char *snap = NULL, *name = NULL;
    if (!two_strings(req, "bdev_lvol_clone", params, "snapshot_name", &snap, "clone_name",
                     &name))
        return;
    struct lvol *lv;
    struct sreq *r = start(req, snap, &lv);
    if (!r)
        return;
    char uuid[37];
    random_uuid(uuid);
    lvol_clone_create(lv, name, uuid, made, r);
}

const struct jsonrpc_method lvs_rpc_m_snapshot = {"bdev_lvol_snapshot", rpc_snapshot};
const struct jsonrpc_method lvs_rpc_m_clone = {"bdev_lvol_clone", rpc_clone};

/* JSON-RPC methods of pools and replicas, with SPDK's names, parameters and result
 * shapes where SPDK has the method (bdev_lvol_*), plus two diagnostics of ours
 * (ioe_lvol_get_xattrs, ioe_lvol_set_property). They run the same code as gRPC (lvs.c,
 * lvol.c), take the same per-pool lock (busy: -EBUSY here) but not the gRPC services'
 * serialization, as upstream's SPDK methods do not either.
 *
 * SPDK differences (docs/pools-and-replicas.md): lvol devices are named after the lvol
 * (SPDK names them by uuid), so bdev_lvol_create answers the lvol name; an lvstore
 * cannot be cleared at creation (clear_method "none" only); bdev_lvol_delete_lvstore
 * keeps the base device, as SPDK does. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bdev/bdev_rpc.h"
#include "core/log.h"
#include "jsonrpc/jsonrpc.h"
#include "jsonrpc/params.h"
#include "lvol.h"
#include "lvs.h"

/* ---- parameters (as bdev_rpc.c: unknown keys and wrong types are -32602) ---- */


/* errno of the lvs layer -> JSON-RPC error code: a bad value is "invalid params", a
 * held pool lock is -EBUSY, the rest stays a negative errno as SPDK answers. */
static int code_of(int rc)
{
    if (rc == -EINVAL || rc == -EOVERFLOW)
        return JSONRPC_INVALID_PARAMS;
    if (rc == -EALREADY)
        return -EBUSY;
    return rc;
}

/* One pool by uuid xor name (SPDK's vbdev_get_lvol_store_by_uuid_xor_name). Answers and
 * returns NULL on a problem. */
static struct lvs *find_store(struct jsonrpc_request *req, const char *method, const char *uuid,
                              const char *name)
{
    if (uuid && name) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: uuid and lvs_name are mutually exclusive",
                      method);
        return NULL;
    }
    if (!uuid && !name) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: either uuid or lvs_name is required",
                      method);
        return NULL;
    }
    struct lvs *l = uuid ? lvs_lookup_uuid(uuid) : lvs_lookup(name);
    if (!l)
        jsonrpc_error(req, -ENODEV, "No such device: no lvol store %s '%s'",
                      uuid ? "with uuid" : "named", uuid ? uuid : name);
    return l;
}

/* ---- bdev_lvol_get_lvstores ---- */

static json_t *lvstore_json(const struct lvs *l)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:I}", "uuid", l->uuid_str, "name", l->name,
                     "base_bdev", l->base->name, "total_data_clusters",
                     (json_int_t)bs_total_data_clusters(l->bs), "free_clusters",
                     (json_int_t)bs_free_clusters(l->bs), "block_size",
                     (int)bs_io_unit_size(l->bs), "cluster_size",
                     (json_int_t)bs_cluster_size(l->bs));
}

/* SPDK's lvol methods take the size as exactly one of `size` (bytes) and `size_in_mib`. */
static bool size_param(struct jsonrpc_request *req, const char *method, bool has_size,
                       bool has_mib, uint64_t size_mib, uint64_t *size)
{
    if (has_size == has_mib) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: give exactly one of size and size_in_mib",
                      method);
        return false;
    }
    if (has_mib) {
        if (size_mib > UINT64_MAX >> 20) {
            jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: size_in_mib too large", method);
            return false;
        }
        *size = size_mib << 20;
    }
    return true;
}

static void get_lvstores(struct jsonrpc_request *req, json_t *params)
{
    const char *uuid = NULL, *name = NULL;
    const struct jsonrpc_param spec[] = {
        {"uuid", P_STR, false, &uuid, NULL},
        {"lvs_name", P_STR, false, &name, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_lvol_get_lvstores", params, spec))
        return;
    json_t *arr = json_array();
    if (uuid || name) {
        struct lvs *l = find_store(req, "bdev_lvol_get_lvstores", uuid, name);
        if (!l) {
            json_decref(arr);
            return;
        }
        json_array_append_new(arr, lvstore_json(l));
    } else {
        for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
            json_array_append_new(arr, lvstore_json(l));
    }
    jsonrpc_reply(req, arr);
}

/* ---- bdev_lvol_create_lvstore ---- */

static void lvstore_created(void *arg, int rc, struct lvs *l, const char *errmsg)
{
    struct jsonrpc_request *req = arg;
    if (rc) {
        jsonrpc_error(req, code_of(rc), "%s", errmsg ? errmsg : strerror(-rc));
        return;
    }
    jsonrpc_reply(req, json_string(l->uuid_str));
}

static void create_lvstore(struct jsonrpc_request *req, json_t *params)
{
    const char *bdev = NULL, *name = NULL, *clear = NULL;
    uint64_t cluster = 0, ratio = 0, md_page = 0;
    const struct jsonrpc_param spec[] = {
        {"bdev_name", P_STR, true, &bdev, NULL},
        {"lvs_name", P_STR, true, &name, NULL},
        {"cluster_sz", P_U64, false, &cluster, NULL},
        {"clear_method", P_STR, false, &clear, NULL},
        {"num_md_pages_per_cluster_ratio", P_U64, false, &ratio, NULL},
        {"md_page_size", P_U64, false, &md_page, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_lvol_create_lvstore", params, spec))
        return;
    if (clear && strcasecmp(clear, "none")) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "bdev_lvol_create_lvstore: clear_method '%s' "
                      "is not supported: a new pool is never cleared (use \"none\")", clear);
        return;
    }
    if (md_page && md_page != BS_PAGE_SIZE) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_lvol_create_lvstore: md_page_size must be 4096");
        return;
    }
    if (cluster > UINT32_MAX || ratio > UINT32_MAX) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "bdev_lvol_create_lvstore: value too large");
        return;
    }
    struct lvs_pool_args a = {
        .name = name,
        .bdev_name = bdev,
        .cluster_size = (uint32_t)cluster,
        .md_ratio = (uint32_t)ratio,
        .mode = LVS_CREATE,
    };
    lvs_create_or_import(&a, lvstore_created, req);
}

/* ---- bdev_lvol_delete_lvstore ---- */

static void done_true(void *arg, int rc, const char *errmsg)
{
    struct jsonrpc_request *req = arg;
    if (rc)
        jsonrpc_error(req, code_of(rc), "%s", errmsg ? errmsg : strerror(-rc));
    else
        jsonrpc_reply(req, NULL);
}

static void delete_lvstore(struct jsonrpc_request *req, json_t *params)
{
    const char *uuid = NULL, *name = NULL;
    const struct jsonrpc_param spec[] = {
        {"uuid", P_STR, false, &uuid, NULL},
        {"lvs_name", P_STR, false, &name, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_lvol_delete_lvstore", params, spec))
        return;
    struct lvs *l = find_store(req, "bdev_lvol_delete_lvstore", uuid, name);
    if (l)
        lvs_destroy(l, true, done_true, req);
}

/* ---- bdev_lvol_create ---- */

struct lvol_req {
    struct jsonrpc_request *req;
    char pool[LVS_NAME_MAX];
};

static void lvol_created(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    struct lvol_req *r = arg;
    lvs_name_unlock(r->pool);
    if (rc)
        jsonrpc_error(r->req, code_of(rc), "%s", errmsg ? errmsg : strerror(-rc));
    else
        jsonrpc_reply(r->req, json_string(lv->bdev->name));
    free(r);
}

static void lvol_done(void *arg, int rc, const char *errmsg)
{
    struct lvol_req *r = arg;
    lvs_name_unlock(r->pool);
    done_true(r->req, rc, errmsg);
    free(r);
}

/* Takes the pool lock for a JSON-RPC lvol operation; answers and returns NULL if busy. */
static struct lvol_req *lock_pool(struct jsonrpc_request *req, struct lvs *l)
{
    int rc = lvs_name_trylock(l->name);
    if (rc) {
        jsonrpc_error(req, code_of(rc), "pool %s: lock already held (another operation on it "
                      "is under way)", l->name);
        return NULL;
    }
    struct lvol_req *r = calloc(1, sizeof(*r));
    if (!r) {
        lvs_name_unlock(l->name);
        jsonrpc_error(req, -ENOMEM, "out of memory");
        return NULL;
    }
    r->req = req;
    snprintf(r->pool, sizeof(r->pool), "%s", l->name);
    return r;
}

static void create_lvol(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *uuid = NULL, *lvs_name = NULL, *clear = NULL;
    uint64_t size = 0, size_mib = 0;
    bool thin = false, has_size = false, has_mib = false;
    const struct jsonrpc_param spec[] = {
        {"lvol_name", P_STR, true, &name, NULL},
        {"size", P_U64, false, &size, &has_size},
        {"size_in_mib", P_U64, false, &size_mib, &has_mib},
        {"thin_provision", P_BOOL, false, &thin, NULL},
        {"uuid", P_STR, false, &uuid, NULL},
        {"lvs_name", P_STR, false, &lvs_name, NULL},
        {"clear_method", P_STR, false, &clear, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_lvol_create", params, spec))
        return;
    if (!size_param(req, "bdev_lvol_create", has_size, has_mib, size_mib, &size))
        return;
    if (clear && strcasecmp(clear, "unmap") && strcasecmp(clear, "none") &&
        strcasecmp(clear, "write_zeroes")) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "bdev_lvol_create: unknown clear_method '%s'",
                      clear);
        return;
    }
    /* clear_method: the io-engine's rule decides (UNMAP when the disk has it, else the
     * first 8 MiB zeroed), as for gRPC; the value is only validated. */
    struct lvs *l = find_store(req, "bdev_lvol_create", uuid, lvs_name);
    if (!l)
        return;
    struct lvol_req *r = lock_pool(req, l);
    if (!r)
        return;
    struct lvol_create_args a = {.name = name, .size = size, .thin = thin};
    lvol_create(l, &a, lvol_created, r);
}

/* The lvol a JSON-RPC "name" designates (device name or alias); answers -ENODEV. */
static struct lvol *find_lvol(struct jsonrpc_request *req, const char *name)
{
    struct lvol *lv = lvol_lookup_name(name);
    if (!lv)
        jsonrpc_error(req, -ENODEV, "No such device: no lvol named '%s'", name);
    return lv;
}

/* ---- bdev_lvol_delete ---- */

static void delete_lvol(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    const struct jsonrpc_param spec[] = {{"name", P_STR, true, &name, NULL}, {0}};
    if (!jsonrpc_decode_params(req, "bdev_lvol_delete", params, spec))
        return;
    struct lvol *lv = find_lvol(req, name);
    if (!lv)
        return;
    struct lvol_req *r = lock_pool(req, lv->lvs);
    if (r)
        lvol_destroy(lv, lvol_done, r);
}

/* ---- bdev_lvol_resize ---- */

static void resize_lvol(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    uint64_t size = 0, size_mib = 0;
    bool has_size = false, has_mib = false;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},
        {"size", P_U64, false, &size, &has_size},
        {"size_in_mib", P_U64, false, &size_mib, &has_mib},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_lvol_resize", params, spec))
        return;
    if (!size_param(req, "bdev_lvol_resize", has_size, has_mib, size_mib, &size))
        return;
    struct lvol *lv = find_lvol(req, name);
    if (!lv)
        return;
    struct lvol_req *r = lock_pool(req, lv->lvs);
    if (r)
        lvol_resize(lv, size, lvol_done, r);
}

/* ---- bdev_lvol_get_lvols ---- */

static json_t *lvol_json(const struct lvol *lv)
{
    char alias[2 * LVS_NAME_MAX];
    snprintf(alias, sizeof(alias), "%s/%s", lv->lvs->name, lv->name);
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:{s:s, s:s}}", "alias", alias,
                     "uuid", lv->uuid_str, "name", lv->name, "is_thin_provisioned",
                     lvol_is_thin(lv), "is_snapshot", bs_blob_is_snapshot(lv->blob), "is_clone",
                     bs_blob_parent(lv->blob) != BS_INVALID_ID, "is_esnap_clone", 0,
                     "is_degraded", 0, "lvs", "name", lv->lvs->name, "uuid", lv->lvs->uuid_str);
}

static void get_lvols(struct jsonrpc_request *req, json_t *params)
{
    const char *uuid = NULL, *name = NULL;
    const struct jsonrpc_param spec[] = {
        {"lvs_uuid", P_STR, false, &uuid, NULL},
        {"lvs_name", P_STR, false, &name, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_lvol_get_lvols", params, spec))
        return;
    struct lvs *only = NULL;
    if (uuid || name) {
        if (!(only = find_store(req, "bdev_lvol_get_lvols", uuid, name)))
            return;
    }
    json_t *arr = json_array();
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l)) {
        if (only && l != only)
            continue;
        for (struct lvol *lv = l->lvols; lv; lv = lv->next)
            json_array_append_new(arr, lvol_json(lv));
    }
    jsonrpc_reply(req, arr);
}

/* ---- diagnostics: ioe_lvol_get_xattrs / ioe_lvol_set_property ---- */

static void get_xattrs(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    const struct jsonrpc_param spec[] = {{"name", P_STR, true, &name, NULL}, {0}};
    if (!jsonrpc_decode_params(req, "ioe_lvol_get_xattrs", params, spec))
        return;
    struct lvol *lv = find_lvol(req, name);
    if (!lv)
        return;
    const char **names = bs_blob_xattr_names(lv->blob);
    json_t *arr = json_array();
    for (size_t i = 0; names && names[i]; i++) {
        const void *v;
        size_t len;
        if (bs_blob_get_xattr(lv->blob, names[i], &v, &len))
            continue;
        char *b64 = bdev_rpc_base64_encode(v, len);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "name", names[i], "value",
                                             b64 ? b64 : "", "length", (json_int_t)len));
        free(b64);
    }
    free(names);
    char id[32];
    snprintf(id, sizeof(id), "0x%" PRIx64, lv->id);
    jsonrpc_reply(req, json_pack("{s:s, s:o}", "blob_id", id, "xattrs", arr));
}

static void set_property(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *prop = NULL, *value = NULL;
    bool sync = true;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},
        {"property", P_STR, true, &prop, NULL},
        {"value", P_STR, true, &value, NULL},
        {"sync", P_BOOL, false, &sync, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "ioe_lvol_set_property", params, spec))
        return;
    if (strcmp(prop, LVOL_XATTR_SHARED) && strcmp(prop, LVOL_XATTR_ALLOWED_HOSTS) &&
        strcmp(prop, LVOL_XATTR_ENTITY_ID)) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "ioe_lvol_set_property: property must be "
                      "shared, allowed-hosts or entity_id");
        return;
    }
    if (!strcmp(prop, LVOL_XATTR_SHARED) && strcmp(value, "true") && strcmp(value, "false")) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "ioe_lvol_set_property: shared is \"true\" or \"false\"");
        return;
    }
    struct lvol *lv = find_lvol(req, name);
    if (!lv)
        return;
    struct lvol_req *r = lock_pool(req, lv->lvs);
    if (r)
        lvol_set_property(lv, prop, value, sync, lvol_done, r);
}

const struct jsonrpc_method lvs_rpc_m_get_lvstores = {"bdev_lvol_get_lvstores", get_lvstores};
const struct jsonrpc_method lvs_rpc_m_create_lvstore = {"bdev_lvol_create_lvstore",
                                                        create_lvstore};
const struct jsonrpc_method lvs_rpc_m_delete_lvstore = {"bdev_lvol_delete_lvstore",
                                                        delete_lvstore};
const struct jsonrpc_method lvs_rpc_m_create = {"bdev_lvol_create", create_lvol};
const struct jsonrpc_method lvs_rpc_m_delete = {"bdev_lvol_delete", delete_lvol};
const struct jsonrpc_method lvs_rpc_m_resize = {"bdev_lvol_resize", resize_lvol};
const struct jsonrpc_method lvs_rpc_m_get_lvols = {"bdev_lvol_get_lvols", get_lvols};
const struct jsonrpc_method lvs_rpc_m_get_xattrs = {"ioe_lvol_get_xattrs", get_xattrs};
const struct jsonrpc_method lvs_rpc_m_set_property = {"ioe_lvol_set_property", set_property};

/* The JSON-RPC methods this engine provides. Later subsystems add their SPDK-named
 * methods (bdev_get_bdevs, nvmf_get_subsystems, ...) to the table. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bdev/bdev_rpc.h"
#include "jsonrpc.h"
#include "lvs/lvs.h"
#include "lvs/snapshot.h"
#include "nvme/nvme_rpc.h"
#include "nvmf/nvmf.h"
#include "version.h"

static void rpc_get_methods(struct jsonrpc_request *req, json_t *params)
{
    /* SPDK's params: {"current": bool, "include_aliases": bool}; every method here is
     * usable at runtime and none has aliases, so both only need validating. */
    if (params) {
        const char *k;
        json_t *v;
        if (!json_is_object(params)) {
            jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "params must be an object");
            return;
        }
        json_object_foreach(params, k, v)
        {
            if ((strcmp(k, "current") && strcmp(k, "include_aliases")) || !json_is_boolean(v)) {
                jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "invalid parameter '%s'", k);
                return;
            }
        }
    }
    json_t *arr = json_array();
    for (const struct jsonrpc_method *const *m = jsonrpc_methods; *m; m++)
        json_array_append_new(arr, json_string((*m)->name));
    jsonrpc_reply(req, arr);
}

static void get_version(struct jsonrpc_request *req, json_t *params)
{
    if (params && !(json_is_object(params) && json_object_size(params) == 0)) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "spdk_get_version takes no parameters");
        return;
    }
    int major = 0, minor = 0, patch = 0;
    sscanf(IO_ENGINE_VERSION, "%d.%d.%d", &major, &minor, &patch);
    char version[64];
    snprintf(version, sizeof(version), "io-engine %s", IO_ENGINE_VERSION);
    jsonrpc_reply(req, json_pack("{s:s, s:{s:i, s:i, s:i, s:s}}", "version", version, "fields",
                                 "major", major, "minor", minor, "patch", patch, "suffix",
                                 "-" IO_ENGINE_GIT_REV));
}

static const struct jsonrpc_method m_get_methods = {"rpc_get_methods", rpc_get_methods};
static const struct jsonrpc_method m_get_version = {"spdk_get_version", get_version};

const struct jsonrpc_method *const jsonrpc_methods[] = {
    &m_get_methods,
    &m_get_version,
    /* block devices (bdev/bdev_rpc.c) */
    &bdev_rpc_m_get_bdevs,
    &bdev_rpc_m_get_iostat,
    &bdev_rpc_m_reset_iostat,
    &bdev_rpc_m_malloc_create,
    &bdev_rpc_m_malloc_delete,
    &bdev_rpc_m_null_create,
    &bdev_rpc_m_null_delete,
    &bdev_rpc_m_aio_create,
    &bdev_rpc_m_aio_delete,
    &bdev_rpc_m_uring_create,
    &bdev_rpc_m_uring_delete,
    &bdev_rpc_m_ioe_write,
    &bdev_rpc_m_ioe_read,
    /* pools and replicas (lvs/lvs_rpc.c) */
    &lvs_rpc_m_get_lvstores, &lvs_rpc_m_create_lvstore, &lvs_rpc_m_delete_lvstore,
    &lvs_rpc_m_create, &lvs_rpc_m_delete, &lvs_rpc_m_resize, &lvs_rpc_m_get_lvols,
    &lvs_rpc_m_get_xattrs, &lvs_rpc_m_set_property,
    /* snapshots and clones (lvs/snapshot_rpc.c) */
    &lvs_rpc_m_snapshot, &lvs_rpc_m_clone,
    /* the NVMe-oF target (nvmf/nvmf_rpc.c) */
    &nvmf_rpc_m_get_subsystems,
    /* the NVMe/TCP initiator (nvme/nvme_rpc.c) */
    &nvme_rpc_m_attach, &nvme_rpc_m_detach, &nvme_rpc_m_get, &nvme_rpc_m_send_cmd,
    &nvme_rpc_m_resv,
    NULL,
};

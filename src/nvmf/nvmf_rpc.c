/* SPDK-named JSON-RPC methods of the NVMe-oF target: nvmf_get_subsystems. */
#include "jsonrpc/jsonrpc.h"
#include "nvmf/nvmf.h"

static void get_subsystems(struct jsonrpc_request *req, json_t *params)
{
    (void)params; /* SPDK's optional tgt_name: there is one target */
    jsonrpc_reply(req, nvmf_subsystems_json());
}

const struct jsonrpc_method nvmf_rpc_m_get_subsystems = {"nvmf_get_subsystems", get_subsystems};

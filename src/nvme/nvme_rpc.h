/* SPDK-named JSON-RPC methods of the NVMe/TCP initiator (nvme_rpc.c). */
#pragma once
#include "jsonrpc/jsonrpc.h"

extern const struct jsonrpc_method nvme_rpc_m_attach, nvme_rpc_m_detach, nvme_rpc_m_get,
    nvme_rpc_m_send_cmd, nvme_rpc_m_resv;

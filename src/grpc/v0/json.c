/* mayastor.JsonRpc (v0): calls a JSON-RPC method of this engine over gRPC. */
#include "grpc/json_bridge.h"
#include "mayastor.pb-c.h"

static void json_rpc_call(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__JsonRpcRequest *r = (const void *)req;
    json_bridge_call(call, r->method, r->params, &mayastor__json_rpc_reply__descriptor);
}

static const struct rpc_handler handlers[] = {
    {"JsonRpcCall", json_rpc_call, false},
};

const struct rpc_service svc_v0_json = {
    .desc = &mayastor__json_rpc__descriptor,
    .alias = "v0.json_rpc.JsonRpc",
    .version = API_V0,
    .capability = "JSON-RPC",
    .handlers = handlers,
    .n_handlers = 1,
};

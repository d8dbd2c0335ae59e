/* mayastor.v1.JsonRpc: calls a JSON-RPC method of this engine over gRPC. */
#include "grpc/json_bridge.h"
#include "json.pb-c.h"

static void json_rpc_call(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__JsonRpcRequest *r = (const void *)req;
    json_bridge_call(call, r->method, r->params, &mayastor__v1__json_rpc_response__descriptor);
}

static const struct rpc_handler handlers[] = {
    {"JsonRpcCall", json_rpc_call, false},
};

const struct rpc_service svc_v1_json = {
    .desc = &mayastor__v1__json_rpc__descriptor,
    .alias = "v1.json.JsonRpc",
    .version = API_V1,
    .capability = "JSON-RPC",
    .handlers = handlers,
    .n_handlers = 1,
};

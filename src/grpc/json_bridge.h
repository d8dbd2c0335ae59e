/* JsonRpc.JsonRpcCall (v1 and v0): forwards a method and its JSON params to the JSON-RPC
 * dispatcher and maps the outcome to gRPC (behaviour §9). */
#pragma once
#include "rpc.h"

/* reply_desc: a message whose field 1 is `string result` (v1 JsonRpcResponse or v0
 * JsonRpcReply). */
void json_bridge_call(struct rpc_call *call, const char *method, const char *params,
                      const ProtobufCMessageDescriptor *reply_desc);
grpc_status_code json_bridge_status(int jsonrpc_code);

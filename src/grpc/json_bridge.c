#include "json_bridge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc/jsonrpc.h"

struct bridge_ctx {
    struct rpc_call *call;
    const ProtobufCMessageDescriptor *desc;
};

grpc_status_code json_bridge_status(int code)
{
    switch (code) {
    case JSONRPC_INVALID_PARAMS:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case -ENOENT:
        return GRPC_STATUS_NOT_FOUND;
    case -EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

static void done(void *arg, json_t *result, int code, const char *message)
{
    struct bridge_ctx *b = arg;
    if (!result) {
        rpc_fail(b->call, json_bridge_status(code), "%s (JSON-RPC error %d)", message, code);
        free(b);
        return;
    }
    char *text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(b->desc, 1);
    ProtobufCMessage *reply = calloc(1, b->desc->sizeof_message);
    if (!text || !reply || !f || f->type != PROTOBUF_C_TYPE_STRING) {
        rpc_fail(b->call, GRPC_STATUS_INTERNAL, "cannot encode the JSON-RPC result");
    } else {
        b->desc->message_init(reply);
        *(char **)((char *)reply + f->offset) = text;
        rpc_reply(b->call, reply);
    }
    free(reply);
    free(text);
    free(b);
}

void json_bridge_call(struct rpc_call *call, const char *method, const char *params,
                      const ProtobufCMessageDescriptor *reply_desc)
{
    json_t *p = NULL;
    if (!method || !*method) {
        rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "missing JSON-RPC method name");
        return;
    }
    if (params && *params) {
        json_error_t e;
        p = json_loads(params, JSON_DECODE_ANY, &e);
        if (!p) {
            rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "params is not valid JSON: %s (column %d)",
                     e.text, e.column);
            return;
        }
        if (!json_is_object(p) && !json_is_array(p)) {
            json_decref(p);
            rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "params must be a JSON object or array");
            return;
        }
    }
    struct bridge_ctx *b = malloc(sizeof(*b));
    if (!b) {
        json_decref(p);
        rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "ENOMEM");
        return;
    }
    b->call = call;
    b->desc = reply_desc;
    jsonrpc_dispatch(method, p, done, b);
    json_decref(p);
}

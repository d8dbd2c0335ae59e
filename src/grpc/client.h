/* A small blocking unary gRPC client on gRPC core, for io-engine-client (and, later,
 * registration with the control plane). Not for use on a reactor thread. */
#pragma once
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

struct rpc_client;

/* target: "host:port", "[v6]:port", or with an http:// prefix. */
struct rpc_client *rpc_client_new(const char *target);
void rpc_client_free(struct rpc_client *c);

struct rpc_result {
    grpc_status_code status; /* GRPC_STATUS_OK on success */
    char *details;           /* status message (malloc'd, may be "") */
    ProtobufCMessage *reply; /* decoded reply when OK; free with protobuf_c_message_free_unpacked */
};

/* Calls method path "/pkg.Service/Method". Returns 0 when a status was received
 * (check res->status), or -errno on local failure. */
int rpc_client_call(struct rpc_client *c, const char *path, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *reply_desc, unsigned timeout_ms,
                    struct rpc_result *res);
void rpc_result_free(struct rpc_result *res);
const char *rpc_status_name(grpc_status_code code);

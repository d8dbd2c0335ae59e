/* The gRPC service model shared by every service file.
 *
 * A service is its protobuf-c service descriptor (which lists every method with its
 * request and response types) plus a table of the handlers built so far. A method
 * without a handler answers UNIMPLEMENTED naming the capability that will provide it.
 *
 * Handlers run on the primary reactor, receive the decoded request, and finish the
 * call exactly once with rpc_reply() / rpc_fail() (possibly later, from a callback on
 * the primary reactor). Server-streaming handlers send with rpc_stream_send() and finish
 * with rpc_reply(call, NULL) or rpc_fail(). */
#pragma once
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/cli_args.h"

struct rpc_call;
typedef void (*rpc_handler_fn)(struct rpc_call *call, const ProtobufCMessage *request);

struct rpc_handler {
    const char *method; /* rpc name as in the .proto, e.g. "ListPools" */
    rpc_handler_fn fn;
    bool server_streaming;
};

struct rpc_service {
    const ProtobufCServiceDescriptor *desc; /* desc->name is the wire name */
    const char *alias;                      /* module-style name, e.g. "v1.pool.PoolRpc" */
    enum api_version version;
    const char *capability; /* what unbuilt methods wait for, for UNIMPLEMENTED messages */
    const struct rpc_handler *handlers;
    size_t n_handlers;
};

/* Every service the daemon knows, v1 and v0 (NULL-terminated). */
extern const struct rpc_service *const rpc_all_services[];

/* Finishes a unary call with a response message (resp may be NULL for an empty
 * google.protobuf.Empty / mayastor.Null reply) or a streaming call with OK. */
void rpc_reply(struct rpc_call *call, const ProtobufCMessage *resp);
/* Finishes a call with a non-OK status. */
void rpc_fail(struct rpc_call *call, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As rpc_fail, with one trailing metadata entry (e.g. "gtm-602" for upstream clients). */
void rpc_fail_md(struct rpc_call *call, grpc_status_code code, const char *md_key,
                 const char *md_value, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Queues one message of a server-streaming reply. Returns 0 or -errno. */
int rpc_stream_send(struct rpc_call *call, const ProtobufCMessage *msg);
/* True once the client cancelled or its deadline passed: long handlers stop early. */
bool rpc_call_cancelled(const struct rpc_call *call);
const char *rpc_call_method(const struct rpc_call *call);

/* Maps a negative errno to the gRPC status upstream uses for device/bdev errors. */
grpc_status_code rpc_status_from_errno(int err);

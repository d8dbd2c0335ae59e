/* JSON-RPC 2.0: the SPDK-compatible management interface on a unix socket (-r), and the
 * dispatcher that gRPC JsonRpc.JsonRpcCall forwards to.
 *
 * Method handlers run on the primary reactor and finish each request exactly once with
 * jsonrpc_reply() or jsonrpc_error(), possibly later from a primary-reactor callback. */
#pragma once
#include <jansson.h>
#include <stddef.h>

#define JSONRPC_PARSE_ERROR -32700
#define JSONRPC_INVALID_REQUEST -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS -32602
#define JSONRPC_INTERNAL_ERROR -32603

struct jsonrpc_request;
/* params is NULL when the request has none; it is borrowed for the call only. */
typedef void (*jsonrpc_method_fn)(struct jsonrpc_request *req, json_t *params);

struct jsonrpc_method {
    const char *name;
    jsonrpc_method_fn fn;
};

/* Finishes with a result (reference stolen; NULL means JSON true, as SPDK's "no result"). */
void jsonrpc_reply(struct jsonrpc_request *req, json_t *result);
/* Finishes with an error: a JSON-RPC code or a negative errno, as SPDK does. */
void jsonrpc_error(struct jsonrpc_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Outcome callback of jsonrpc_dispatch: result (borrowed) on success, else code+message. */
typedef void (*jsonrpc_done_fn)(void *ctx, json_t *result, int code, const char *message);
/* Runs one method on the primary reactor (the caller is on it). */
void jsonrpc_dispatch(const char *method, json_t *params, jsonrpc_done_fn done, void *ctx);

/* The registered methods (NULL-terminated), for rpc_get_methods. */
extern const struct jsonrpc_method *const jsonrpc_methods[];

/* Socket server on the primary reactor. */
int jsonrpc_server_start(const char *path, char *err, size_t errlen);
/* Closes the socket and every connection; stopped(arg) runs once all are gone. */
void jsonrpc_server_stop(void (*stopped)(void *), void *arg);

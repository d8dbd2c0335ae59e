/* Decoding JSON-RPC params against a table, shared by every method file: SPDK rejects
 * unknown keys and wrong types, and so do we, with a -32602 naming the problem. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "jsonrpc.h"

enum jsonrpc_ptype { P_STR, P_U64, P_BOOL, P_UUID };

struct jsonrpc_param {
    const char *key;
    enum jsonrpc_ptype type;
    bool required;
    void *out;   /* const char ** (P_STR, P_UUID: borrowed from params), uint64_t *, bool * */
    bool *given; /* may be NULL */
};

/* Decodes params (an object, or none) into the outputs of spec (ended by a {0} entry).
 * On a problem answers the request with -32602 and returns false. */
bool jsonrpc_decode_params(struct jsonrpc_request *req, const char *method, json_t *params,
                           const struct jsonrpc_param *spec);

/* "jsonrpc": calls a JSON-RPC method of the engine through mayastor.v1.JsonRpc. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.pb-c.h"
#include "output.h"

static int run_jsonrpc(struct cli_ctx *ctx)
{
    Mayastor__V1__JsonRpcRequest req = MAYASTOR__V1__JSON_RPC_REQUEST__INIT;
    req.method = ctx->pos[0];
    req.params = ctx->n_pos > 1 ? ctx->pos[1] : "";

    /* Checked here as well as by the engine so a typo is reported as a usage error (with
     * the column) without needing a reachable daemon. The text is sent unchanged. */
    if (*req.params) {
        json_error_t e;
        json_t *p = json_loads(req.params, JSON_DECODE_ANY, &e);
        if (!p)
            return cli_usage_error(ctx, "PARAMS is not valid JSON: %s (line %d, column %d)",
                                   e.text, e.line, e.column);
        json_decref(p);
    }

    ProtobufCMessage *reply;
    int rc = cli_call(ctx, "/mayastor.v1.JsonRpc/JsonRpcCall", &req.base,
                      &mayastor__v1__json_rpc_response__descriptor, &reply);
    if (rc)
        return rc;
    const char *result = ((Mayastor__V1__JsonRpcResponse *)reply)->result;
    if (ctx->format == CLI_FMT_JSON) {
        /* One JSON document: the result itself, re-indented; an empty result is null and
         * a (non-conforming) non-JSON result becomes a JSON string. */
        json_t *j = *result ? json_loads(result, JSON_DECODE_ANY, NULL) : json_null();
        if (!j)
            j = json_string(result);
        if (print_json(j)) {
            cli_error(ctx, "cannot encode or write the JSON output");
            rc = CLI_EXIT_LOCAL;
        }
    } else {
        /* Table mode has no table for arbitrary JSON: print the result as returned. */
        size_t n = strlen(result);
        fputs(result, stdout);
        if (!n || result[n - 1] != '\n')
            fputc('\n', stdout);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

const struct cli_cmd cli_cmd_jsonrpc = {
    .name = "jsonrpc",
    .summary = "call a JSON-RPC method of the engine",
    .args_usage = "METHOD [PARAMS]",
    .description =
        "Calls JSON-RPC method METHOD of the io-engine (JsonRpc.JsonRpcCall). PARAMS is a JSON\n"
        "object or array, e.g. '{\"name\": \"x\"}'. The result is printed as the engine\n"
        "returned it; with -o json it is printed as one (re-indented) JSON document.",
    .min_pos = 1,
    .max_pos = 2,
    .run = run_jsonrpc,
};

/* "nvmf" commands: the NVMe-oF target's subsystems (JSON-RPC nvmf_get_subsystems through
 * mayastor.v1.JsonRpc, as there is no gRPC call for them). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.pb-c.h"
#include "output.h"

static void subsystems_table(json_t *arr)
{
    struct table *t = table_new((const char *[]){"NQN", "TYPE", "SERIAL", "DEVICE", "LISTEN",
                                                 "HOSTS", ">CONTROLLERS", NULL});
    table_set_empty(t, "No subsystems");
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        json_t *la = json_array_get(json_object_get(s, "listen_addresses"), 0);
        json_t *ns = json_array_get(json_object_get(s, "namespaces"), 0);
        char listen[96] = "", hosts[1024] = "";
        if (la)
            snprintf(listen, sizeof(listen), "%s:%s",
                     json_string_value(json_object_get(la, "traddr")),
                     json_string_value(json_object_get(la, "trsvcid")));
        if (json_is_true(json_object_get(s, "allow_any_host"))) {
            snprintf(hosts, sizeof(hosts), "any");
        } else {
            size_t k;
            json_t *h;
            json_array_foreach(json_object_get(s, "hosts"), k, h)
            {
                size_t used = strlen(hosts);
                snprintf(hosts + used, sizeof(hosts) - used, "%s%s", k ? "," : "",
                         json_string_value(json_object_get(h, "nqn")));
            }
        }
        table_row(t);
        table_cell_str(t, json_string_value(json_object_get(s, "nqn")));
        table_cell_str(t, json_string_value(json_object_get(s, "subtype")));
        table_cell_str(t, json_string_value(json_object_get(s, "serial_number")));
        table_cell_str(t, ns ? json_string_value(json_object_get(ns, "bdev_name")) : NULL);
        table_cell_str(t, listen);
        table_cell_str(t, hosts);
        table_cell(t, "%lld", (long long)json_integer_value(json_object_get(s, "controllers")));
    }
    table_print(t, stdout);
    table_free(t);
}

static int run_subsystems(struct cli_ctx *ctx)
{
    Mayastor__V1__JsonRpcRequest req = MAYASTOR__V1__JSON_RPC_REQUEST__INIT;
    req.method = "nvmf_get_subsystems";
    req.params = "";
    ProtobufCMessage *reply;
    int rc = cli_call(ctx, "/mayastor.v1.JsonRpc/JsonRpcCall", &req.base,
                      &mayastor__v1__json_rpc_response__descriptor, &reply);
    if (rc)
        return rc;
    json_t *j = json_loads(((Mayastor__V1__JsonRpcResponse *)reply)->result, 0, NULL);
    protobuf_c_message_free_unpacked(reply, NULL);
    if (!json_is_array(j)) {
        json_decref(j);
        cli_error(ctx, "the engine's answer is not a list of subsystems");
        return CLI_EXIT_LOCAL;
    }
    if (ctx->format == CLI_FMT_JSON) {
        if (print_json(j))
            rc = CLI_EXIT_LOCAL;
    } else {
        subsystems_table(j);
    }
    json_decref(j);
    return rc;
}

static const struct cli_cmd nvmf_subsystems = {
    .name = "subsystems",
    .summary = "the NVMe-oF subsystems this engine serves",
    .description = "Lists the NVMe-oF target's subsystems (JSON-RPC nvmf_get_subsystems): the\n"
                   "discovery subsystem and one per shared device, with their serial number,\n"
                   "device, listener, allowed hosts (any, or the list) and connected controllers.",
    .min_pos = 0,
    .max_pos = 0,
    .run = run_subsystems,
};

static const struct cli_cmd *const nvmf_subs[] = {&nvmf_subsystems, NULL};

const struct cli_cmd cli_cmd_nvmf = {
    .name = "nvmf",
    .summary = "the NVMe-oF target: subsystems",
    .description = "The NVMe-over-TCP target of the engine.",
    .subs = nvmf_subs,
};

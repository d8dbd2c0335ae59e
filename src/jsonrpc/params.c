#include "params.h"

#include <stdint.h>
#include <string.h>
#include <uuid/uuid.h>

bool jsonrpc_decode_params(struct jsonrpc_request *req, const char *method, json_t *params,
                           const struct jsonrpc_param *spec)
{
    for (const struct jsonrpc_param *p = spec; p->key; p++)
        if (p->given)
            *p->given = false;
    if (params && !json_is_object(params)) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: params must be an object", method);
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        const struct jsonrpc_param *p = spec;
        while (p->key && strcmp(p->key, k))
            p++;
        if (!p->key) {
            jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: unknown parameter '%s'", method, k);
            return false;
        }
        uuid_t u;
        switch (p->type) {
        case P_STR:
        case P_UUID:
            if (!json_is_string(v)) {
                jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: '%s' must be a string", method, k);
                return false;
            }
            if (p->type == P_UUID && uuid_parse(json_string_value(v), u)) {
                jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: '%s' is not a UUID: '%s'", method,
                              k, json_string_value(v));
                return false;
            }
            *(const char **)p->out = json_string_value(v);
            break;
        case P_U64:
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                              "%s: '%s' must be a non-negative integer", method, k);
                return false;
            }
            *(uint64_t *)p->out = (uint64_t)json_integer_value(v);
            break;
        case P_BOOL:
            if (!json_is_boolean(v)) {
                jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: '%s' must be a boolean", method, k);
                return false;
            }
            *(bool *)p->out = json_is_true(v);
            break;
        }
        if (p->given)
            *p->given = true;
    }
    for (const struct jsonrpc_param *p = spec; p->key; p++) {
        if (p->required && !json_object_get(params, p->key)) {
            jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: missing parameter '%s'", method,
                          p->key);
            return false;
        }
    }
    return true;
}

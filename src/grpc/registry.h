/* Method lookup: "/<service>/<method>" path → service and method, honouring the
 * enabled API versions and the module-style aliases. Pure, unit-tested. */
#pragma once
#include <stddef.h>

#include "rpc.h"

struct rpc_route {
    const struct rpc_service *service;
    const ProtobufCMethodDescriptor *method;
    const struct rpc_handler *handler; /* NULL: not built yet → UNIMPLEMENTED */
};

/* Returns 0 and fills route, or -ENOENT (unknown or disabled service/method). */
int rpc_route_lookup(const struct rpc_service *const *services, unsigned api_versions,
                     const char *path, size_t path_len, struct rpc_route *route);

/* Checks that every handler names a method of its service's descriptor. Returns the
 * number of bad entries (the daemon refuses to start on a non-zero result). */
int rpc_registry_validate(const struct rpc_service *const *services, char *err, size_t errlen);

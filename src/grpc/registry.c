#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool name_eq(const char *name, const char *s, size_t len)
{
    return name && strlen(name) == len && memcmp(name, s, len) == 0;
}

int rpc_route_lookup(const struct rpc_service *const *services, unsigned api_versions,
                     const char *path, size_t path_len, struct rpc_route *route)
{
    if (path_len < 4 || path[0] != '/')
        return -ENOENT;
    const char *svc = path + 1;
    const char *slash = memchr(svc, '/', path_len - 1);
    if (!slash || slash == svc)
        return -ENOENT;
    size_t svc_len = (size_t)(slash - svc);
    const char *meth = slash + 1;
    size_t meth_len = path_len - 1 - svc_len - 1;
    if (!meth_len || memchr(meth, '/', meth_len))
        return -ENOENT;

    for (const struct rpc_service *const *sp = services; *sp; sp++) {
        const struct rpc_service *s = *sp;
        if (!(s->version & api_versions))
            continue;
        if (!name_eq(s->desc->name, svc, svc_len) && !name_eq(s->alias, svc, svc_len))
            continue;
        for (unsigned i = 0; i < s->desc->n_methods; i++) {
            const ProtobufCMethodDescriptor *m = &s->desc->methods[i];
            if (!name_eq(m->name, meth, meth_len))
                continue;
            route->service = s;
            route->method = m;
            route->handler = NULL;
            for (size_t h = 0; h < s->n_handlers; h++)
                if (!strcmp(s->handlers[h].method, m->name))
                    route->handler = &s->handlers[h];
            return 0;
        }
        return -ENOENT;
    }
    return -ENOENT;
}

int rpc_registry_validate(const struct rpc_service *const *services, char *err, size_t errlen)
{
    int bad = 0;
    err[0] = 0;
    for (const struct rpc_service *const *sp = services; *sp; sp++) {
        const struct rpc_service *s = *sp;
        for (size_t h = 0; h < s->n_handlers; h++) {
            bool found = false;
            for (unsigned i = 0; i < s->desc->n_methods; i++)
                found |= !strcmp(s->desc->methods[i].name, s->handlers[h].method);
            if (!found) {
                snprintf(err, errlen, "%s has a handler for unknown method %s", s->desc->name,
                         s->handlers[h].method);
                bad++;
            }
        }
    }
    return bad;
}

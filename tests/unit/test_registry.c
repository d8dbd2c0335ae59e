/*
 * Unit tests for the gRPC method registry (src/grpc/registry.h) against the real
 * service table rpc_all_services: the dispatch table (every method of the upstream API
 * map resolves, under its wire name and its module-style alias), API-version
 * filtering, malformed paths, handler presence and rpc_registry_validate.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc/registry.h"
#include "grpc/rpc.h"
#include "pool.pb-c.h"

#define ALL (API_V0 | API_V1)

static int lookup(unsigned versions, const char *path, struct rpc_route *r)
{
    memset(r, 0xa5, sizeof(*r));
    return rpc_route_lookup(rpc_all_services, versions, path, strlen(path), r);
}

/* ---- the API map: every service and method the upstream engine serves ---- */

struct api_service {
    const char *wire;
    const char *alias; /* NULL: none expected */
    unsigned version;
    const char *const *methods;
};

#define M(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct api_service api_map[] = {
    {"mayastor.v1.PoolRpc", "v1.pool.PoolRpc", API_V1,
     M("CreatePool", "DestroyPool", "ExportPool", "ImportPool", "ListPools", "GrowPool")},
    {"mayastor.v1.ReplicaRpc", "v1.replica.ReplicaRpc", API_V1,
     M("CreateReplica", "DestroyReplica", "ListReplicas", "ShareReplica", "UnshareReplica",
       "ResizeReplica", "SetReplicaEntityId")},
    {"mayastor.v1.NexusRpc", "v1.nexus.NexusRpc", API_V1,
     M("CreateNexus", "DestroyNexus", "ResizeNexus", "ListNexus", "AddChildNexus",
       "RemoveChildNexus", "FaultNexusChild", "ShutdownNexus", "PublishNexus", "UnpublishNexus",
       "GetNvmeAnaState", "SetNvmeAnaState", "ChildOperation", "StartRebuild", "StopRebuild",
       "PauseRebuild", "ResumeRebuild", "GetRebuildState", "GetRebuildStats",
       "GetRebuildHistory", "ListRebuildHistory")},
    {"mayastor.v1.HostRpc", "v1.host.HostRpc", API_V1,
     M("GetMayastorInfo", "ListBlockDevices", "GetMayastorResourceUsage", "ListNvmeControllers",
       "StatNvmeController")},
    {"mayastor.v1.JsonRpc", "v1.json.JsonRpc", API_V1, M("JsonRpcCall")},
    {"mayastor.v1.BdevRpc", "v1.bdev.BdevRpc", API_V1,
     M("Create", "Destroy", "List", "Share", "Unshare")},
    {"mayastor.v1.SnapshotRpc", "v1.snapshot.SnapshotRpc", API_V1,
     M("CreateReplicaSnapshot", "CreateNexusSnapshot", "ListSnapshot", "DestroySnapshot",
       "CreateSnapshotClone", "ListSnapshotClone")},
    {"mayastor.v1.SnapshotRebuildRpc", NULL, API_V1,
     M("CreateSnapshotRebuild", "ListSnapshotRebuild", "DestroySnapshotRebuild")},
    {"mayastor.v1.StatsRpc", "v1.stats.StatsRpc", API_V1,
     M("GetPoolIoStats", "GetNexusIoStats", "GetReplicaIoStats", "ResetIoStats")},
    {"mayastor.v1.TestRpc", "v1.test.TestRpc", API_V1,
     M("GetFeatures", "WipeReplica", "AddFaultInjection", "RemoveFaultInjection",
       "ListFaultInjections")},
    {"mayastor.Mayastor", "v0.mayastor.Mayastor", API_V0,
     M("CreatePool", "DestroyPool", "ListPools", "CreateReplica", "CreateReplicaV2",
       "DestroyReplica", "ListReplicas", "ListReplicasV2", "StatReplicas", "ShareReplica",
       "CreateNexus", "CreateNexusV2", "DestroyNexus", "ListNexus", "ListNexusV2",
       "AddChildNexus", "RemoveChildNexus", "FaultNexusChild", "ShutdownNexus", "PublishNexus",
       "UnpublishNexus", "GetNvmeAnaState", "SetNvmeAnaState", "GetMayastorInfo",
       "ChildOperation", "StartRebuild", "StopRebuild", "PauseRebuild", "ResumeRebuild",
       "GetRebuildState", "GetRebuildStats", "GetRebuildProgress", "CreateSnapshot",
       "ListBlockDevices", "GetResourceUsage", "ListNvmeControllers", "StatNvmeControllers")},
    {"mayastor.BdevRpc", "v0.bdev_rpc.BdevRpc", API_V0,
     M("List", "Create", "Destroy", "Share", "Unshare")},
    {"mayastor.JsonRpc", "v0.json_rpc.JsonRpc", API_V0, M("JsonRpcCall")},
};
#define N_API (sizeof(api_map) / sizeof(api_map[0]))

static unsigned count(const char *const *l)
{
    unsigned n = 0;
    while (l[n])
        n++;
    return n;
}

/* The dispatch table: every listed method resolves to its own service descriptor and
 * method, by wire name and by alias, and no service has methods beyond the map. */
static void test_dispatch_table(void **state)
{
    (void)state;
    unsigned total = 0;
    for (size_t i = 0; i < N_API; i++) {
        const struct api_service *s = &api_map[i];
        const struct rpc_service *svc = NULL;
        for (const struct rpc_service *const *sp = rpc_all_services; *sp; sp++)
            if (!strcmp((*sp)->desc->name, s->wire))
                svc = *sp;
        if (!svc)
            fail_msg("service %s is not in rpc_all_services", s->wire);
        assert_int_equal(svc->version, s->version);
        if (svc->desc->n_methods != count(s->methods))
            fail_msg("%s has %u methods, the API map lists %u", s->wire, svc->desc->n_methods,
                     count(s->methods));

        for (const char *const *m = s->methods; *m; m++) {
            char path[256];
            struct rpc_route r;
            for (int form = 0; form < 2; form++) {
                const char *name = form ? s->alias : s->wire;
                if (!name)
                    continue;
                snprintf(path, sizeof(path), "/%s/%s", name, *m);
                int rc = lookup(ALL, path, &r);
                if (rc != 0)
                    fail_msg("%s: not found (%d)", path, rc);
                if (r.service != svc)
                    fail_msg("%s: routed to service %s", path, r.service->desc->name);
                assert_non_null(r.method);
                assert_string_equal(r.method->name, *m);
                /* The method is one of the descriptor's own entries. */
                assert_true(r.method >= svc->desc->methods &&
                            r.method < svc->desc->methods + svc->desc->n_methods);
                assert_non_null(r.method->input);
                assert_non_null(r.method->output);
                if (r.handler) {
                    assert_string_equal(r.handler->method, *m);
                    assert_non_null(r.handler->fn);
                }
                /* Served only when its API version is enabled. */
                unsigned other = s->version == API_V0 ? API_V1 : API_V0;
                assert_int_equal(lookup(other, path, &r), -ENOENT);
                assert_int_equal(lookup(s->version, path, &r), 0);
            }
            total++;
        }
    }
    /* Every service of the table is in the map (nothing extra is served). */
    size_t n_table = 0;
    for (const struct rpc_service *const *sp = rpc_all_services; *sp; sp++) {
        bool found = false;
        for (size_t i = 0; i < N_API; i++)
            found |= !strcmp((*sp)->desc->name, api_map[i].wire);
        if (!found)
            fail_msg("rpc_all_services has unexpected service %s", (*sp)->desc->name);
        n_table++;
    }
    assert_int_equal(n_table, N_API);
    assert_int_equal(total, 6 + 7 + 21 + 5 + 1 + 5 + 6 + 3 + 4 + 5 + 37 + 5 + 1);
}

/* Every alias of the table resolves to its own service. */
static void test_every_alias(void **state)
{
    (void)state;
    for (const struct rpc_service *const *sp = rpc_all_services; *sp; sp++) {
        const struct rpc_service *s = *sp;
        assert_non_null(s->alias);
        assert_true(s->desc->n_methods > 0);
        char path[256];
        snprintf(path, sizeof(path), "/%s/%s", s->alias, s->desc->methods[0].name);
        struct rpc_route r;
        if (lookup(ALL, path, &r) != 0)
            fail_msg("%s not found", path);
        assert_ptr_equal(r.service, s);
    }
}

static void test_wire_names_and_aliases(void **state)
{
    (void)state;
    struct rpc_route r;
    assert_int_equal(lookup(ALL, "/mayastor.v1.PoolRpc/ListPools", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.v1.PoolRpc");
    assert_string_equal(r.method->name, "ListPools");
    const struct rpc_service *pool = r.service;
    const ProtobufCMethodDescriptor *list_pools = r.method;

    assert_int_equal(lookup(ALL, "/v1.pool.PoolRpc/ListPools", &r), 0);
    assert_ptr_equal(r.service, pool);
    assert_ptr_equal(r.method, list_pools);

    assert_int_equal(lookup(ALL, "/v0.mayastor.Mayastor/GetMayastorInfo", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.Mayastor");
    assert_string_equal(r.method->name, "GetMayastorInfo");

    assert_int_equal(lookup(ALL, "/v0.json_rpc.JsonRpc/JsonRpcCall", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.JsonRpc");
    assert_string_equal(r.method->name, "JsonRpcCall");

    assert_int_equal(lookup(ALL, "/v0.bdev_rpc.BdevRpc/List", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.BdevRpc");
    assert_string_equal(r.method->name, "List");

    /* v1 and v0 services with the same short name stay distinct. */
    assert_int_equal(lookup(ALL, "/mayastor.v1.JsonRpc/JsonRpcCall", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.v1.JsonRpc");
    assert_int_equal(lookup(ALL, "/mayastor.JsonRpc/JsonRpcCall", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.JsonRpc");
    assert_int_equal(lookup(ALL, "/v1.json.JsonRpc/JsonRpcCall", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.v1.JsonRpc");
    assert_int_equal(lookup(ALL, "/v1.bdev.BdevRpc/List", &r), 0);
    assert_string_equal(r.service->desc->name, "mayastor.v1.BdevRpc");
}

static void test_api_version_filter(void **state)
{
    (void)state;
    struct rpc_route r;
    /* V1 only: mayastor.Mayastor (and the other v0 services) are hidden. */
    assert_int_equal(lookup(API_V1, "/mayastor.Mayastor/GetMayastorInfo", &r), -ENOENT);
    assert_int_equal(lookup(API_V1, "/v0.mayastor.Mayastor/GetMayastorInfo", &r), -ENOENT);
    assert_int_equal(lookup(API_V1, "/mayastor.BdevRpc/List", &r), -ENOENT);
    assert_int_equal(lookup(API_V1, "/mayastor.JsonRpc/JsonRpcCall", &r), -ENOENT);
    assert_int_equal(lookup(API_V1, "/mayastor.v1.HostRpc/GetMayastorInfo", &r), 0);
    assert_int_equal(lookup(API_V1, "/mayastor.v1.PoolRpc/ListPools", &r), 0);

    /* V0 only: the v1 services are hidden. */
    assert_int_equal(lookup(API_V0, "/mayastor.v1.HostRpc/GetMayastorInfo", &r), -ENOENT);
    assert_int_equal(lookup(API_V0, "/v1.host.HostRpc/GetMayastorInfo", &r), -ENOENT);
    assert_int_equal(lookup(API_V0, "/mayastor.Mayastor/GetMayastorInfo", &r), 0);

    /* Nothing enabled: nothing served. */
    assert_int_equal(lookup(0, "/mayastor.Mayastor/GetMayastorInfo", &r), -ENOENT);
    assert_int_equal(lookup(0, "/mayastor.v1.PoolRpc/ListPools", &r), -ENOENT);
}

static void test_unknown_names(void **state)
{
    (void)state;
    struct rpc_route r;
    static const char *const paths[] = {
        "/mayastor.v1.NoSuchRpc/ListPools",
        "/mayastor.v1.PoolRpc/NoSuchMethod",
        "/mayastor.v1.PoolRpc/ListPool",   /* prefix of a method */
        "/mayastor.v1.PoolRpc/ListPoolsX", /* method as a prefix */
        "/mayastor.v1.PoolRpc/listpools",  /* case matters */
        "/mayastor.v1.poolrpc/ListPools",
        "/mayastor.v1.Pool/ListPools",     /* prefix of a service */
        "/mayastor.v1.PoolRpcX/ListPools",
        "/v1.pool.PoolRpc/CreateReplica",  /* method of another service */
        "/mayastor.v1.PoolRpc/CreateReplica",
        "/v1.PoolRpc/ListPools",
        "/PoolRpc/ListPools",
        "/grpc.health.v1.Health/Check",
        "/mayastor.Mayastor/ListPoolsV2",
        "/a/b",
        NULL,
    };
    for (const char *const *p = paths; *p; p++)
        if (lookup(ALL, *p, &r) != -ENOENT)
            fail_msg("'%s' was routed", *p);
}

static void test_malformed_paths(void **state)
{
    (void)state;
    struct rpc_route r;
    static const char *const paths[] = {
        "",
        "/",
        "//",
        "//x",
        "//ListPools",
        "/mayastor.v1.PoolRpc",
        "/mayastor.v1.PoolRpc/",
        "/svc/",
        "/svc/m/extra",
        "/mayastor.v1.PoolRpc/ListPools/",
        "/mayastor.v1.PoolRpc/ListPools/extra",
        "/mayastor.v1.PoolRpc//ListPools",
        "mayastor.v1.PoolRpc/ListPools",
        "mayastor.v1.PoolRpc.ListPools",
        " /mayastor.v1.PoolRpc/ListPools",
        NULL,
    };
    for (const char *const *p = paths; *p; p++)
        if (lookup(ALL, *p, &r) != -ENOENT)
            fail_msg("malformed path '%s' was routed", *p);
}

/* The path is a (pointer, length) pair, not a C string. */
static void test_path_length(void **state)
{
    (void)state;
    struct rpc_route r;
    const char *buf = "/mayastor.v1.PoolRpc/ListPoolsGARBAGE";
    size_t len = strlen("/mayastor.v1.PoolRpc/ListPools");
    assert_int_equal(rpc_route_lookup(rpc_all_services, ALL, buf, len, &r), 0);
    assert_string_equal(r.method->name, "ListPools");
    /* One byte short is a different (unknown) method. */
    assert_int_equal(rpc_route_lookup(rpc_all_services, ALL, buf, len - 1, &r), -ENOENT);
    /* Zero length and a length covering only the service. */
    assert_int_equal(rpc_route_lookup(rpc_all_services, ALL, buf, 0, &r), -ENOENT);
    assert_int_equal(rpc_route_lookup(rpc_all_services, ALL, buf, strlen("/mayastor.v1.PoolRpc/"),
                                      &r),
                     -ENOENT);

    /* Not NUL-terminated at all: a heap copy of exactly len bytes (ASan checks reads). */
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, buf, len);
    assert_int_equal(rpc_route_lookup(rpc_all_services, ALL, exact, len, &r), 0);
    assert_string_equal(r.method->name, "ListPools");
    free(exact);

    const char *bad = "/mayastor.v1.PoolRpc";
    char *exact2 = malloc(strlen(bad));
    assert_non_null(exact2);
    memcpy(exact2, bad, strlen(bad));
    assert_int_equal(rpc_route_lookup(rpc_all_services, ALL, exact2, strlen(bad), &r), -ENOENT);
    free(exact2);
}

static void test_handler_presence(void **state)
{
    (void)state;
    struct rpc_route r;
    assert_int_equal(lookup(ALL, "/mayastor.v1.HostRpc/GetMayastorInfo", &r), 0);
    assert_non_null(r.handler);
    assert_string_equal(r.handler->method, "GetMayastorInfo");
    assert_non_null(r.handler->fn);
    assert_false(r.handler->server_streaming);

    /* Same handler through the alias. */
    const struct rpc_handler *h = r.handler;
    assert_int_equal(lookup(ALL, "/v1.host.HostRpc/GetMayastorInfo", &r), 0);
    assert_ptr_equal(r.handler, h);

    /* A method without a handler yet routes, with handler NULL (→ UNIMPLEMENTED). The
     * nexus is built last, so its methods stay unbuilt longest. */
    assert_int_equal(lookup(ALL, "/mayastor.v1.NexusRpc/CreateNexus", &r), 0);
    assert_null(r.handler);
    assert_string_equal(r.method->name, "CreateNexus");
    assert_non_null(r.service->capability);
    assert_true(strlen(r.service->capability) > 0);

    /* The JSON-RPC bridges have a handler in both versions. */
    assert_int_equal(lookup(ALL, "/mayastor.v1.JsonRpc/JsonRpcCall", &r), 0);
    assert_non_null(r.handler);
    assert_int_equal(lookup(ALL, "/mayastor.JsonRpc/JsonRpcCall", &r), 0);
    assert_non_null(r.handler);
}

/* Every service declares a capability for its UNIMPLEMENTED messages, and each handler
 * table entry is well formed. */
static void test_service_table_shape(void **state)
{
    (void)state;
    for (const struct rpc_service *const *sp = rpc_all_services; *sp; sp++) {
        const struct rpc_service *s = *sp;
        assert_non_null(s->desc);
        assert_non_null(s->desc->name);
        assert_true(s->version == API_V0 || s->version == API_V1);
        assert_non_null(s->capability);
        assert_true(s->n_handlers == 0 || s->handlers != NULL);
        for (size_t h = 0; h < s->n_handlers; h++) {
            assert_non_null(s->handlers[h].method);
            assert_non_null(s->handlers[h].fn);
            /* No method has two handlers. */
            for (size_t k = h + 1; k < s->n_handlers; k++)
                if (!strcmp(s->handlers[h].method, s->handlers[k].method))
                    fail_msg("%s: two handlers for %s", s->desc->name, s->handlers[h].method);
        }
    }
}

/* ---- rpc_registry_validate ---- */

static void dummy_handler(struct rpc_call *call, const ProtobufCMessage *req)
{
    (void)call;
    (void)req;
}

static void test_validate_real_table(void **state)
{
    (void)state;
    char err[256] = "stale";
    assert_int_equal(rpc_registry_validate(rpc_all_services, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

static void test_validate_fake_services(void **state)
{
    (void)state;
    char err[256];

    static const struct rpc_handler bad_handlers[] = {
        {"ListPools", dummy_handler, false},
        {"NoSuchMethod", dummy_handler, false},
    };
    const struct rpc_service bad = {
        .desc = &mayastor__v1__pool_rpc__descriptor,
        .alias = "fake.PoolRpc",
        .version = API_V1,
        .capability = "testing",
        .handlers = bad_handlers,
        .n_handlers = 2,
    };
    const struct rpc_service *const one_bad[] = {&bad, NULL};
    assert_int_equal(rpc_registry_validate(one_bad, err, sizeof(err)), 1);
    assert_non_null(strstr(err, "NoSuchMethod"));
    assert_non_null(strstr(err, "mayastor.v1.PoolRpc"));

    /* Two bad entries count twice; mixed with the real table the count is unchanged. */
    static const struct rpc_handler two_bad_handlers[] = {
        {"Nope1", dummy_handler, false},
        {"CreatePool", dummy_handler, false},
        {"listpools", dummy_handler, false}, /* case matters */
    };
    const struct rpc_service bad2 = {
        .desc = &mayastor__v1__pool_rpc__descriptor,
        .alias = "fake2.PoolRpc",
        .version = API_V1,
        .capability = "testing",
        .handlers = two_bad_handlers,
        .n_handlers = 3,
    };
    const struct rpc_service *const two[] = {&bad2, NULL};
    assert_int_equal(rpc_registry_validate(two, err, sizeof(err)), 2);

    const struct rpc_service *mixed[32];
    size_t n = 0;
    for (const struct rpc_service *const *sp = rpc_all_services; *sp && n < 29; sp++)
        mixed[n++] = *sp;
    mixed[n++] = &bad;
    mixed[n++] = &bad2;
    mixed[n] = NULL;
    assert_int_equal(rpc_registry_validate(mixed, err, sizeof(err)), 3);

    /* A fake service whose handlers are all real methods validates and routes. */
    static const struct rpc_handler good_handlers[] = {
        {"ListPools", dummy_handler, false},
        {"CreatePool", dummy_handler, true},
    };
    const struct rpc_service good = {
        .desc = &mayastor__v1__pool_rpc__descriptor,
        .alias = "fake.good.PoolRpc",
        .version = API_V1,
        .capability = "testing",
        .handlers = good_handlers,
        .n_handlers = 2,
    };
    const struct rpc_service *const goods[] = {&good, NULL};
    strcpy(err, "stale");
    assert_int_equal(rpc_registry_validate(goods, err, sizeof(err)), 0);
    assert_string_equal(err, "");

    struct rpc_route r;
    const char *p = "/fake.good.PoolRpc/CreatePool";
    assert_int_equal(rpc_route_lookup(goods, API_V1, p, strlen(p), &r), 0);
    assert_ptr_equal(r.service, &good);
    assert_ptr_equal(r.handler, &good_handlers[1]);
    assert_true(r.handler->server_streaming);
    p = "/mayastor.v1.PoolRpc/ExportPool";
    assert_int_equal(rpc_route_lookup(goods, API_V1, p, strlen(p), &r), 0);
    assert_null(r.handler);
    assert_int_equal(rpc_route_lookup(goods, API_V0, p, strlen(p), &r), -ENOENT);

    /* An empty table validates and routes nothing. */
    const struct rpc_service *const none[] = {NULL};
    assert_int_equal(rpc_registry_validate(none, err, sizeof(err)), 0);
    assert_int_equal(rpc_route_lookup(none, API_V0 | API_V1, p, strlen(p), &r), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_table),
        cmocka_unit_test(test_every_alias),
        cmocka_unit_test(test_wire_names_and_aliases),
        cmocka_unit_test(test_api_version_filter),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_malformed_paths),
        cmocka_unit_test(test_path_length),
        cmocka_unit_test(test_handler_presence),
        cmocka_unit_test(test_service_table_shape),
        cmocka_unit_test(test_validate_real_table),
        cmocka_unit_test(test_validate_fake_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

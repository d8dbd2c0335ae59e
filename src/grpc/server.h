/* The gRPC server: gRPC core's generic (untyped) API, driven by one completion-queue
 * thread. Decoded requests are handed to the primary reactor as messages; replies are
 * started from there. */
#pragma once
#include <stddef.h>

#include "rpc.h"

struct rpc_server_opts {
    const char *ip; /* IPv4/IPv6 literal, "::" = all */
    unsigned port;
    unsigned api_versions;
    unsigned default_timeout_ms; /* applies when the client sends no deadline */
    const struct rpc_service *const *services; /* NULL: rpc_all_services */
};

/* Binds and starts serving. Returns 0, or -errno with a message in err. */
int rpc_server_start(const struct rpc_server_opts *opts, char *err, size_t errlen);
/* Stops accepting calls, lets in-flight ones finish (cancelling those still running
 * after grace_ms), then runs done(arg) on the primary reactor. Call on the primary. */
void rpc_server_shutdown(unsigned grace_ms, void (*done)(void *), void *arg);
/* Frees what the server still holds (after shutdown completed). */
void rpc_server_destroy(void);

/* Test fixture: the daemon's gRPC server and reactors with one test service, so the
 * server-streaming path can be exercised over the wire before any real streaming
 * method (TestRpc.WipeReplica) exists.
 *
 * TestRpc.WipeReplica here streams `wipe_options.chunk_size` messages, one per
 * millisecond (a timer on the primary reactor, like real progress reports), then
 * finishes OK; uuid "fail-after-2" fails with NOT_FOUND after two messages; uuid
 * "burst" queues every message at once to exercise the per-call send queue.
 * It exits 0 on SIGTERM after the server has drained.
 * usage: stream_server PORT */
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reactor.h"
#include "grpc/server.h"
#include "test.pb-c.h"

struct stream {
    struct rpc_call *call;
    char uuid[64];
    uint64_t total, sent;
    struct reactor_timer *timer;
};

static bool send_one(struct stream *s)
{
    Mayastor__V1__WipeReplicaResponse m = MAYASTOR__V1__WIPE_REPLICA_RESPONSE__INIT;
    m.uuid = s->uuid;
    m.total_chunks = s->total;
    m.wiped_chunks = ++s->sent;
    m.remaining_bytes = s->total - s->sent;
    return rpc_stream_send(s->call, &m.base) == 0;
}

static void tick(void *arg)
{
    struct stream *s = arg;
    bool ok = !rpc_call_cancelled(s->call) && send_one(s);
    if (ok && strcmp(s->uuid, "fail-after-2") == 0 && s->sent == 2) {
        reactor_timer_cancel(s->timer);
        rpc_fail(s->call, GRPC_STATUS_NOT_FOUND, "replica %s not found", s->uuid);
        free(s);
        return;
    }
    if (!ok || s->sent == s->total) {
        reactor_timer_cancel(s->timer);
        if (ok)
            rpc_reply(s->call, NULL);
        else
            rpc_fail(s->call, GRPC_STATUS_CANCELLED, "cancelled by the client");
        free(s);
    }
}

static void wipe(struct rpc_call *call, const ProtobufCMessage *req)
{
    const Mayastor__V1__WipeReplicaRequest *r = (const void *)req;
    struct stream *s = calloc(1, sizeof(*s));
    s->call = call;
    snprintf(s->uuid, sizeof(s->uuid), "%s", r->uuid);
    s->total = r->wipe_options ? r->wipe_options->chunk_size : 0;
    if (s->total == 0) {
        rpc_reply(call, NULL);
        free(s);
        return;
    }
    if (!strcmp(s->uuid, "burst")) {
        while (s->sent < s->total)
            if (!send_one(s))
                break;
        rpc_reply(call, NULL);
        free(s);
        return;
    }
    s->timer = reactor_timer_start(1000, 1000, tick, s);
}

static const struct rpc_handler handlers[] = {{"WipeReplica", wipe, true}};
static const struct rpc_service svc = {
    .desc = &mayastor__v1__test_rpc__descriptor,
    .alias = "v1.test.TestRpc",
    .version = API_V1,
    .capability = "test",
    .handlers = handlers,
    .n_handlers = 1,
};
static const struct rpc_service *const services[] = {&svc, NULL};
static unsigned g_port;

static void stopped(void *arg)
{
    (void)arg;
    reactors_stop();
}

static void on_term(void *arg)
{
    (void)arg;
    rpc_server_shutdown(2000, stopped, NULL);
}

static void start(void *arg)
{
    (void)arg;
    char err[256];
    struct rpc_server_opts o = {.ip = "127.0.0.1", .port = g_port, .api_versions = API_V1,
                                .default_timeout_ms = 15000, .services = services};
    if (rpc_server_start(&o, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    printf("ready\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    g_port = (unsigned)atoi(argv[1]);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    grpc_init();
    uint32_t core = 0;
    struct reactor_opts ro = {.cores = &core, .n_cores = 1};
    if (reactors_init(&ro) || reactors_start(start, NULL))
        return 1;
    int sig;
    sigwait(&set, &sig);
    reactor_send(reactor_primary(), on_term, NULL);
    reactors_join();
    rpc_server_destroy();
    grpc_shutdown();
    return 0;
}

/* io-engine: the storage data-plane daemon.
 *
 * Start-up: parse flags → load config files → start the reactors → on the primary
 * reactor, open the JSON-RPC socket and the gRPC port. SIGINT/SIGTERM run the reverse:
 * stop taking gRPC calls (in-flight ones finish, or are cancelled after a grace
 * period), close JSON-RPC, stop the reactors, free everything, exit 0. */
#include <errno.h>
#include <grpc/grpc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "core/cli_args.h"
#include "core/env.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/reactor.h"
#include "grpc/server.h"
#include "jsonrpc/jsonrpc.h"
#include "lvs/lvs.h"
#include "nvmf/nvmf.h"
#include "version.h"

#define GRPC_SHUTDOWN_GRACE_MS 5000
#define GRPC_DEFAULT_TIMEOUT_MS 15000

static struct {
    int sfd;
    struct reactor_completion sig_comp;
    bool shutting_down;
    atomic_int exit_code;
} app = {.sfd = -1};

static void offload_drained(void *arg)
{
    (void)arg;
    reactors_stop();
}

static void devices_gone(void *arg)
{
    (void)arg;
    /* Blocking helpers (device probing) still running must finish while their
     * completions can still run on a reactor. */
    offload_drain(offload_drained, NULL);
}

static void devices_stop(void *arg)
{
    (void)arg;
    /* Devices go last: nothing can reach them any more. */
    bdev_unregister_all(devices_gone, NULL);
}

static void nvmf_stopped(void *arg)
{
    (void)arg;
    /* Pools are exported (not destroyed) first, as upstream does on SIGTERM. */
    lvs_export_all(devices_stop, NULL);
}

static void jsonrpc_stopped(void *arg)
{
    (void)arg;
    /* Hosts are disconnected before the devices they use go away. */
    nvmf_target_stop(nvmf_stopped, NULL);
}

/* The NVMe-oF target, unless nexus_opts.nvmf_enable is false. */
static int start_nvmf(char *err, size_t errlen)
{
    json_t *nx = json_object_get(g_env.config.config, "nexus_opts");
    json_t *en = json_object_get(nx, "nvmf_enable");
    if (en && json_is_false(en)) {
        log_info("nvmf: the NVMe-oF target is disabled (nexus_opts.nvmf_enable: false)");
        return 0;
    }
    struct nvmf_target_opts o;
    int rc = nvmf_target_opts_from_env(&o, err, errlen);
    if (!rc)
        rc = nvmf_target_start(&o, err, errlen);
    return rc;
}

static void grpc_stopped(void *arg)
{
    (void)arg;
    log_info("gRPC server stopped");
    jsonrpc_server_stop(jsonrpc_stopped, NULL);
}

static void app_shutdown(int code)
{
    if (app.shutting_down)
        return;
    app.shutting_down = true;
    if (code)
        atomic_store(&app.exit_code, code);
    log_info("shutting down");
    rpc_server_shutdown(GRPC_SHUTDOWN_GRACE_MS, grpc_stopped, NULL);
}

static void on_signal(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    struct signalfd_siginfo si;
    if (res < 0 && res != -ECANCELED) {
        log_error("signal watch failed: %s", strerror(-res));
        return;
    }
    while (read(app.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        log_info("received signal %s", strsignal((int)si.ssi_signo));
        app_shutdown(0);
    }
    if (!app.shutting_down)
        reactor_poll_fd(app.sfd, POLLIN, c);
}

static void app_start(void *arg)
{
    (void)arg;
    char err[512];
    const struct ioe_args *a = &g_env.args;

    app.sig_comp.cb = on_signal;
    if (reactor_poll_fd(app.sfd, POLLIN, &app.sig_comp))
        log_error("cannot watch signals");

    if (a->registration[0])
        log_warn("registration with %s is not built yet: -R is accepted but unused",
                 a->registration);
    if (a->persistent_store[0])
        log_info("persistent store endpoint %s (used by the nexus, not built yet)",
                 a->persistent_store);

    if (jsonrpc_server_start(a->rpc_socket, err, sizeof(err))) {
        log_error("%s", err);
        app_shutdown(1);
        return;
    }
    if (start_nvmf(err, sizeof(err))) {
        log_error("%s", err);
        app_shutdown(1);
        return;
    }
    /* -P: create or import those pools; gRPC pool/replica calls queue behind it. */
    lvs_import_config_pools();
    struct rpc_server_opts o = {
        .ip = a->grpc_ip,
        .port = a->grpc_port,
        .api_versions = a->api_versions,
        .default_timeout_ms = GRPC_DEFAULT_TIMEOUT_MS,
    };
    if (rpc_server_start(&o, err, sizeof(err))) {
        log_error("%s", err);
        app_shutdown(1);
        return;
    }
    log_info("io-engine %s (%s) started: node %s, %d reactor(s)%s, APIs%s%s", IO_ENGINE_VERSION,
             IO_ENGINE_GIT_REV, a->node_name, reactor_count(), a->busy_poll ? " busy-polling" : "",
             a->api_versions & API_V0 ? " v0" : "", a->api_versions & API_V1 ? " v1" : "");
}

/* eal_opts in the config file override the command line, as upstream does. */
static int apply_config_cores(struct ioe_args *a, char *err, size_t errlen)
{
    json_t *eal = json_object_get(g_env.config.config, "eal_opts");
    const char *list = json_string_value(json_object_get(eal, "core_list"));
    const char *mask = json_string_value(json_object_get(eal, "reactor_mask"));
    int n = 0;
    if (list)
        n = ioe_parse_core_list(list, a->cores, IOE_MAX_CORES);
    else if (mask)
        n = ioe_parse_core_mask(mask, a->cores, IOE_MAX_CORES);
    else
        return 0;
    if (n <= 0) {
        snprintf(err, errlen, "invalid eal_opts %s '%s' in the configuration file",
                 list ? "core_list" : "reactor_mask", list ? list : mask);
        return -EINVAL;
    }
    a->n_cores = n;
    return 0;
}

int main(int argc, char **argv)
{
    struct ioe_args args;
    char err[512];

    switch (ioe_args_parse(argc, argv, &args, err, sizeof(err))) {
    case IOE_ARGS_EXIT:
        return 0;
    case IOE_ARGS_ERROR:
        fprintf(stderr, "io-engine: error: %s\nTry 'io-engine --help' for more information.\n",
                err);
        return 2;
    case IOE_ARGS_OK:
        break;
    }
    if (args.n_log_flags)
        log_set_level(LOG_DEBUG);
    if (ioe_env_init(&args, err, sizeof(err)) ||
        apply_config_cores(&g_env.args, err, sizeof(err))) {
        fprintf(stderr, "io-engine: error: %s\n", err);
        ioe_config_free(&g_env.config);
        return 1;
    }

    /* Signals are taken by a signalfd on the primary reactor; block them in every thread
     * (gRPC's included, hence before grpc_init). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    app.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (app.sfd < 0) {
        fprintf(stderr, "io-engine: error: signalfd: %s\n", strerror(errno));
        return 1;
    }

    grpc_init();
    struct reactor_opts ro = {
        .cores = g_env.args.cores,
        .n_cores = g_env.args.n_cores,
        .busy_poll = g_env.args.busy_poll,
        .pin = true,
    };
    int rc = reactors_init(&ro);
    if (rc == 0)
        rc = reactors_start(app_start, NULL);
    if (rc) {
        fprintf(stderr, "io-engine: error: cannot start reactors: %s\n", strerror(-rc));
        return 1;
    }
    reactors_join();
    rpc_server_destroy();
    grpc_shutdown();
    close(app.sfd);
    ioe_config_free(&g_env.config);
    int code = atomic_load(&app.exit_code);
    log_info("io-engine exited (%d)", code);
    return code;
}

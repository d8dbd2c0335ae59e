/* Process-wide facts fixed at start: the parsed arguments, this instance's uuid and
 * host NQN, and the configuration file. Written once before reactors start, read-only
 * afterwards, so any thread may read them. */
#pragma once
#include "cli_args.h"
#include "config_file.h"

struct ioe_env {
    struct ioe_args args;
    struct ioe_config config;
    char instance_uuid[37];
    char host_nqn[224];
    char grpc_endpoint[96]; /* what registration announces: "ip:port", IPv6 bracketed */
    bool ana_enabled;       /* NEXUS_NVMF_ANA_ENABLE=1 */
};

extern struct ioe_env g_env;

/* Fills g_env from parsed args (instance uuid, host NQN, endpoint). Returns 0 or -errno
 * with a message in err. */
int ioe_env_init(const struct ioe_args *args, char *err, size_t errlen);

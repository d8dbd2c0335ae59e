#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "nqn.h"

struct ioe_env g_env;

int ioe_env_init(const struct ioe_args *args, char *err, size_t errlen)
{
    uuid_t u;
    g_env.args = *args;
    uuid_generate_random(u);
    uuid_unparse_lower(u, g_env.instance_uuid);
    if (nqn_for_host(args->node_name, g_env.host_nqn, sizeof(g_env.host_nqn))) {
        snprintf(err, errlen, "invalid host NQN (env HOSTNQN or node name '%s')", args->node_name);
        return -EINVAL;
    }
    if (strchr(args->grpc_ip, ':'))
        snprintf(g_env.grpc_endpoint, sizeof(g_env.grpc_endpoint), "[%s]:%u", args->grpc_ip,
                 args->grpc_port);
    else
        snprintf(g_env.grpc_endpoint, sizeof(g_env.grpc_endpoint), "%s:%u", args->grpc_ip,
                 args->grpc_port);
    const char *ana = getenv("NEXUS_NVMF_ANA_ENABLE");
    g_env.ana_enabled = ana && !strcmp(ana, "1");
    return ioe_config_load(args->config_file, args->pool_file, &g_env.config, err, errlen);
}

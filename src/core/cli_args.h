/* The io-engine command line (upstream MayastorCliArgs, behaviour §1). Parsing is pure
 * (no side effects beyond reading the environment) so it is unit-tested. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IOE_MAX_CORES 256
#define IOE_DEFAULT_GRPC_PORT 10124
#define IOE_DEFAULT_RPC_SOCKET "/var/tmp/mayastor.sock"
#define IOE_DEFAULT_NODE_NAME "mayastor-node"
#define IOE_ETCD_DEFAULT_PORT 2379

enum api_version { API_V0 = 1u << 0, API_V1 = 1u << 1 };

struct ioe_args {
    char grpc_ip[64];          /* textual IPv4/IPv6 address, no brackets */
    uint16_t grpc_port;
    unsigned api_versions;     /* API_V0 | API_V1 */
    char node_name[256];
    char rpc_socket[108];      /* sun_path limit */
    uint32_t cores[IOE_MAX_CORES];
    int n_cores;
    bool busy_poll;
    char persistent_store[256]; /* "host:port", empty = none */
    uint32_t ps_timeout_ms;
    uint32_t ps_retries;
    char registration[256];     /* control-plane endpoint URI, empty = none */
    char pool_file[4096];
    char config_file[4096];
    char ptpl_dir[4096];
    char huge_dir[4096];
    char env_context[1024];
    char tgt_iface[256];
    uint16_t tgt_crdt[3];
    uint64_t mem_size_mb;
    bool no_pci;
    bool enable_lvm, enable_snapshot_rebuild, enable_rdma;
    char events_url[256];
    char log_format[64];
    int n_log_flags;
    char log_flags[16][64];
};

enum ioe_args_result {
    IOE_ARGS_OK = 0,   /* run the daemon */
    IOE_ARGS_EXIT = 1, /* --help / --version printed: exit 0 */
    IOE_ARGS_ERROR = -1,
};

/* Parses argv (and the environment variables of §1). On error, writes a one-line
 * message to err. `out` is always initialised to the defaults first. */
enum ioe_args_result ioe_args_parse(int argc, char **argv, struct ioe_args *out, char *err,
                                    size_t errlen);
void ioe_args_usage(FILE *f, const char *prog);

/* Helpers exposed for tests. */
int ioe_parse_core_mask(const char *s, uint32_t *cores, int max);
int ioe_parse_core_list(const char *s, uint32_t *cores, int max);
int ioe_parse_api_versions(const char *s, unsigned *out);
int ioe_parse_grpc_endpoint(const char *s, char *ip, size_t iplen, uint16_t *port);
int ioe_parse_duration_ms(const char *s, uint64_t *ms);
int ioe_parse_bool(const char *s, bool *out);

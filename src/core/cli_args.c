#include "cli_args.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "version.h"

enum {
    OPT_GRPC_IP = 1000,
    OPT_GRPC_PORT,
    OPT_API_VERSIONS,
    OPT_PS_TIMEOUT,
    OPT_PS_RETRIES,
    OPT_PTPL_DIR,
    OPT_HUGE_DIR,
    OPT_ENV_CONTEXT,
    OPT_TGT_CRDT,
    OPT_ENABLE_LVM,
    OPT_ENABLE_SNAPSHOT_REBUILD,
    OPT_ENABLE_RDMA,
    OPT_EVENTS_URL,
    OPT_BUSY_POLL,
};

static const struct option long_opts[] = {
    {"grpc-ip", required_argument, NULL, OPT_GRPC_IP},
    {"grpc-port", required_argument, NULL, OPT_GRPC_PORT},
    {"grpc-endpoint", required_argument, NULL, 'g'},
    {"api-versions", required_argument, NULL, OPT_API_VERSIONS},
    {"node-name", required_argument, NULL, 'N'},
    {"rpc-address", required_argument, NULL, 'r'},
    {"cpu-list", required_argument, NULL, 'l'},
    {"reactor-mask", required_argument, NULL, 'm'},
    {"persistent-store-endpoint", required_argument, NULL, 'p'},
    {"ps-timeout", required_argument, NULL, OPT_PS_TIMEOUT},
    {"ps-retries", required_argument, NULL, OPT_PS_RETRIES},
    {"registration-endpoint", required_argument, NULL, 'R'},
    {"pool-config", required_argument, NULL, 'P'},
    {"config", required_argument, NULL, 'y'},
    {"mem-size", required_argument, NULL, 's'},
    {"no-pci", no_argument, NULL, 'u'},
    {"ptpl-dir", required_argument, NULL, OPT_PTPL_DIR},
    {"huge-dir", required_argument, NULL, OPT_HUGE_DIR},
    {"env-context", required_argument, NULL, OPT_ENV_CONTEXT},
    {"tgt-iface", required_argument, NULL, 'T'},
    {"tgt-crdt", required_argument, NULL, OPT_TGT_CRDT},
    {"log-components", required_argument, NULL, 'L'},
    {"log-format", required_argument, NULL, 'F'},
    {"enable-lvm", optional_argument, NULL, OPT_ENABLE_LVM},
    {"enable-snapshot-rebuild", optional_argument, NULL, OPT_ENABLE_SNAPSHOT_REBUILD},
    {"enable-rdma", optional_argument, NULL, OPT_ENABLE_RDMA},
    {"events-url", required_argument, NULL, OPT_EVENTS_URL},
    {"busy-poll", no_argument, NULL, OPT_BUSY_POLL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

void ioe_args_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "Usage: %s [OPTIONS] [GRPC_IP] [GRPC_PORT]\n"
            "\n"
            "Storage data-plane daemon: pools, replicas, nexus, NVMe-oF, served over gRPC.\n"
            "\n"
            "  --grpc-ip IP              gRPC listen address (default ::)\n"
            "  --grpc-port PORT          gRPC listen port (default 10124)\n"
            "  -g, --grpc-endpoint IP[:PORT]  deprecated form of the two above\n"
            "  --api-versions LIST       gRPC API versions to serve: V0,V1 (default V0,V1;\n"
            "                            env API_VERSIONS; case-insensitive)\n"
            "  -N, --node-name NAME      node name (default $HOSTNAME, else mayastor-node)\n"
            "  -r, --rpc-address PATH    JSON-RPC unix socket (default /var/tmp/mayastor.sock)\n"
            "  -m, --reactor-mask MASK   reactor cores as a hex mask (default 0x1)\n"
            "  -l, --cpu-list LIST       reactor cores as a list, e.g. 0,2-3 (wins over -m)\n"
            "  --busy-poll               reactors poll instead of sleeping when idle\n"
            "  -p, --persistent-store-endpoint HOST[:PORT]  etcd endpoint (port 2379 default)\n"
            "  --ps-timeout DURATION     per etcd operation timeout (default 10s, 1s..60s)\n"
            "  --ps-retries N            nexus-info put retries (default 30)\n"
            "  -R, --registration-endpoint URI  control-plane registration endpoint\n"
            "  -P, --pool-config FILE    pools to create or import at start (YAML)\n"
            "  -y, --config FILE         configuration file (YAML)\n"
            "  -s, --mem-size MIB        memory limit (accepted for compatibility)\n"
            "  -u, --no-pci              no PCI devices (accepted; this engine never uses PCI)\n"
            "  --ptpl-dir DIR            reservation persist-through-power-loss directory\n"
            "  --huge-dir DIR, --env-context ARGS  accepted for compatibility; unused\n"
            "  -T, --tgt-iface SEL       NVMe-oF listen interface: name:IF, mac:MAC,\n"
            "                            ip:A.B.C.D, subnet:A.B.C.D/N or an interface name\n"
            "                            (env NVMF_TGT_IFACE)\n"
            "  --tgt-crdt N|A,B,C        command retry delay times, x100ms, each <= 100\n"
            "  -L, --log-components FLAG  enable debug logging (repeatable)\n"
            "  -F, --log-format FMT      log format\n"
            "  --enable-lvm[=BOOL], --enable-snapshot-rebuild[=BOOL], --enable-rdma[=BOOL]\n"
            "  --events-url URL          event bus endpoint\n"
            "  -h, --help                this text\n"
            "  -V, --version             print the version\n",
            prog);
}

static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static int copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(dst, src, n + 1);
    return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int ioe_parse_bool(const char *s, bool *out)
{
    if (!s || !*s || !strcasecmp(s, "1") || !strcasecmp(s, "true")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(s, "0") || !strcasecmp(s, "false")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

static int cores_add(uint32_t *cores, int *n, int max, uint64_t core)
{
    if (core >= (uint64_t)IOE_MAX_CORES)
        return -ERANGE;
    for (int i = 0; i < *n; i++)
        if (cores[i] == core)
            return 0;
    if (*n >= max)
        return -E2BIG;
    cores[(*n)++] = (uint32_t)core;
    return 0;
}

/* "0x3", "3" (hex, as SPDK reads masks) or a list in brackets "[0,1]". */
int ioe_parse_core_mask(const char *s, uint32_t *cores, int max)
{
    if (s[0] == '[') {
        size_t n = strlen(s);
        if (n < 3 || s[n - 1] != ']')
            return -EINVAL;
        char buf[256];
        if (n - 2 >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = 0;
        return ioe_parse_core_list(buf, cores, max);
    }
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    if (!*p)
        return -EINVAL;
    size_t len = strlen(p);
    int n = 0;
    /* Read hex digits from the right so masks wider than 64 bits work. */
    for (size_t i = 0; i < len; i++) {
        char c = p[len - 1 - i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return -EINVAL;
        for (int b = 0; b < 4; b++)
            if (v & (1 << b)) {
                int rc = cores_add(cores, &n, max, i * 4 + (size_t)b);
                if (rc)
                    return rc;
            }
    }
    if (n == 0)
        return -EINVAL;
    /* Ascending order: the lowest core is the primary, as with SPDK masks. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && cores[j - 1] > cores[j]; j--) {
            uint32_t t = cores[j];
            cores[j] = cores[j - 1];
            cores[j - 1] = t;
        }
    return n;
}

/* "0,2-3": the first core listed is the primary. */
int ioe_parse_core_list(const char *s, uint32_t *cores, int max)
{
    int n = 0;
    const char *p = s;
    if (!*p)
        return -EINVAL;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        unsigned long a = strtoul(p, &end, 10), b = a;
        p = end;
        if (*p == '-') {
            p++;
            if (!isdigit((unsigned char)*p))
                return -EINVAL;
            b = strtoul(p, &end, 10);
            p = end;
            if (b < a)
                return -EINVAL;
        }
        for (unsigned long c = a; c <= b; c++) {
            int rc = cores_add(cores, &n, max, c);
            if (rc)
                return rc;
        }
        if (*p == ',') {
            p++;
            if (!*p)
                return -EINVAL;
        } else if (*p) {
            return -EINVAL;
        }
    }
    return n;
}

int ioe_parse_api_versions(const char *s, unsigned *out)
{
    unsigned v = 0;
    char buf[128];
    if (copy_str(buf, sizeof(buf), s))
        return -EINVAL;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1]))
            *--e = 0;
        if (!strcasecmp(tok, "v0"))
            v |= API_V0;
        else if (!strcasecmp(tok, "v1"))
            v |= API_V1;
        else
            return -EINVAL;
    }
    if (!v)
        return -EINVAL;
    *out = v;
    return 0;
}

static bool valid_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int parse_port(const char *s, uint16_t *port)
{
    uint64_t v;
    if (parse_u64(s, 65535, &v) || v == 0)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* "ip", "ip:port", "[v6]", "[v6]:port"; a bare IPv6 address has no port. A missing
 * port leaves *port untouched (the --grpc-port value applies). */
int ioe_parse_grpc_endpoint(const char *s, char *ip, size_t iplen, uint16_t *port)
{
    char host[64];
    const char *portstr = NULL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || (size_t)(rb - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = 0;
        if (rb[1] == ':')
            portstr = rb + 2;
        else if (rb[1])
            return -EINVAL;
    } else {
        const char *c = strchr(s, ':');
        if (c && !strchr(c + 1, ':')) {
            if ((size_t)(c - s) >= sizeof(host))
                return -EINVAL;
            memcpy(host, s, (size_t)(c - s));
            host[c - s] = 0;
            portstr = c + 1;
        } else if (copy_str(host, sizeof(host), s)) {
            return -EINVAL;
        }
    }
    if (!valid_ip(host))
        return -EINVAL;
    if (portstr && parse_port(portstr, port))
        return -EINVAL;
    return copy_str(ip, iplen, host);
}

/* "10s", "500ms", "1m", "2" (seconds). */
int ioe_parse_duration_ms(const char *s, uint64_t *ms)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    uint64_t mul;
    if (!*end || !strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        mul = 60000;
    else
        return -EINVAL;
    if (v > UINT64_MAX / mul)
        return -EINVAL;
    *ms = v * mul;
    return 0;
}

static int parse_crdt(const char *s, uint16_t crdt[3])
{
    uint64_t v[3] = {0, 0, 0};
    char buf[64];
    int n = 0;
    if (copy_str(buf, sizeof(buf), s))
        return -EINVAL;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == 3 || parse_u64(tok, 100, &v[n]))
            return -EINVAL;
        n++;
    }
    if (n != 1 && n != 3)
        return -EINVAL;
    for (int i = 0; i < 3; i++)
        crdt[i] = (uint16_t)v[i];
    return 0;
}

static bool valid_tgt_iface(const char *s)
{
    unsigned char buf[4];
    if (!strncmp(s, "ip:", 3))
        return inet_pton(AF_INET, s + 3, buf) == 1;
    if (!strncmp(s, "subnet:", 7)) {
        char addr[32];
        const char *slash = strchr(s + 7, '/');
        uint64_t bits;
        if (!slash || (size_t)(slash - s - 7) >= sizeof(addr))
            return false;
        memcpy(addr, s + 7, (size_t)(slash - s - 7));
        addr[slash - s - 7] = 0;
        return inet_pton(AF_INET, addr, buf) == 1 && parse_u64(slash + 1, 32, &bits) == 0;
    }
    if (!strncmp(s, "mac:", 4)) {
        unsigned m[6];
        char tail;
        return sscanf(s + 4, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
                      &m[5], &tail) == 6;
    }
    const char *name = strncmp(s, "name:", 5) ? s : s + 5;
    return *name && strlen(name) < 16 && !strchr(name, '/') && !strchr(name, ':');
}

/* etcd endpoint: "host[:port]", optionally with an http(s):// scheme; adds 2379. */
static int normalize_etcd(const char *s, char *out, size_t len)
{
    const char *h = s;
    if (!strncmp(h, "http://", 7))
        h += 7;
    else if (!strncmp(h, "https://", 8))
        h += 8;
    if (!*h || strchr(h, '/') || strchr(h, ' '))
        return -EINVAL;
    const char *colon = strrchr(h, ':');
    bool bracketed = h[0] == '[';
    if (!bracketed && colon && strchr(h, ':') != colon) {
        /* A bare IPv6 address has no port: bracket it and add the default. */
        unsigned char buf[16];
        int n = snprintf(out, len, "[%s]:%d", h, IOE_ETCD_DEFAULT_PORT);
        return inet_pton(AF_INET6, h, buf) == 1 && n > 0 && (size_t)n < len ? 0 : -EINVAL;
    }
    bool has_port = colon && (!bracketed || colon > strchr(h, ']'));
    if (has_port) {
        uint16_t port;
        if (colon == h || parse_port(colon + 1, &port))
            return -EINVAL;
        return copy_str(out, len, h);
    }
    int n = snprintf(out, len, "%s:%d", h, IOE_ETCD_DEFAULT_PORT);
    return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static bool valid_uri(const char *s)
{
    const char *p = strstr(s, "://");
    if (!p || p == s || !p[3])
        return false;
    for (const char *c = s; c < p; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
            return false;
    return !strchr(s, ' ');
}

static void set_defaults(struct ioe_args *a)
{
    memset(a, 0, sizeof(*a));
    strcpy(a->grpc_ip, "::");
    a->grpc_port = IOE_DEFAULT_GRPC_PORT;
    a->api_versions = API_V0 | API_V1;
    const char *host = getenv("HOSTNAME");
    if (!host || !*host || copy_str(a->node_name, sizeof(a->node_name), host))
        strcpy(a->node_name, IOE_DEFAULT_NODE_NAME);
    strcpy(a->rpc_socket, IOE_DEFAULT_RPC_SOCKET);
    a->cores[0] = 0;
    a->n_cores = 1;
    a->ps_timeout_ms = 10000;
    a->ps_retries = 30;
}

/* Environment defaults; the command line overrides them. */
static int apply_env(struct ioe_args *a, char *err, size_t errlen)
{
    const char *v;
    if ((v = getenv("API_VERSIONS")) && *v && ioe_parse_api_versions(v, &a->api_versions)) {
        seterr(err, errlen, "invalid API_VERSIONS '%s': expected a list of V0, V1", v);
        return -1;
    }
    if ((v = getenv("NVMF_TGT_IFACE")) && *v) {
        if (!valid_tgt_iface(v) || copy_str(a->tgt_iface, sizeof(a->tgt_iface), v)) {
            seterr(err, errlen, "invalid NVMF_TGT_IFACE '%s'", v);
            return -1;
        }
    }
    if ((v = getenv("NVMF_TGT_CRDT")) && *v && parse_crdt(v, a->tgt_crdt)) {
        seterr(err, errlen, "invalid NVMF_TGT_CRDT '%s': one value or three, each 0..100", v);
        return -1;
    }
    if ((v = getenv("ENABLE_LVM")) && *v && ioe_parse_bool(v, &a->enable_lvm)) {
        seterr(err, errlen, "invalid ENABLE_LVM '%s': expected 1, true, 0 or false", v);
        return -1;
    }
    return 0;
}

enum ioe_args_result ioe_args_parse(int argc, char **argv, struct ioe_args *a, char *err,
                                    size_t errlen)
{
    bool have_list = false, have_mask = false, have_grpc_ip = false, have_grpc_port = false;
    char mask[256] = "";
    char list[256] = "";
    const char *prog = argc > 0 ? argv[0] : "io-engine";
    uint64_t u;
    int c;

    set_defaults(a);
    err[0] = 0;
    if (apply_env(a, err, errlen))
        return IOE_ARGS_ERROR;

    optind = 0; /* full re-initialisation, so the parser can run more than once */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":g:N:r:l:m:p:R:P:y:s:uT:L:F:d:hV", long_opts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case OPT_GRPC_IP:
            if (!valid_ip(optarg) || copy_str(a->grpc_ip, sizeof(a->grpc_ip), optarg))
                bad = "--grpc-ip: not an IPv4 or IPv6 address";
            have_grpc_ip = true;
            break;
        case OPT_GRPC_PORT:
            if (parse_port(optarg, &a->grpc_port))
                bad = "--grpc-port: not a port number (1..65535)";
            have_grpc_port = true;
            break;
        case 'g':
            if (ioe_parse_grpc_endpoint(optarg, a->grpc_ip, sizeof(a->grpc_ip), &a->grpc_port))
                bad = "-g/--grpc-endpoint: expected IP or IP:PORT";
            have_grpc_ip = true;
            break;
        case OPT_API_VERSIONS:
            if (ioe_parse_api_versions(optarg, &a->api_versions))
                bad = "--api-versions: expected a comma-separated list of V0, V1";
            break;
        case 'N':
            if (!*optarg || copy_str(a->node_name, sizeof(a->node_name), optarg))
                bad = "-N: node name must be 1..255 characters";
            break;
        case 'r':
            if (!*optarg || copy_str(a->rpc_socket, sizeof(a->rpc_socket), optarg))
                bad = "-r: socket path must be 1..107 characters";
            break;
        case 'l':
            have_list = true;
            if (copy_str(list, sizeof(list), optarg))
                bad = "-l: core list too long";
            break;
        case 'm':
            have_mask = true;
            if (copy_str(mask, sizeof(mask), optarg))
                bad = "-m: core mask too long";
            break;
        case OPT_BUSY_POLL:
            a->busy_poll = true;
            break;
        case 'p':
            if (normalize_etcd(optarg, a->persistent_store, sizeof(a->persistent_store)))
                bad = "-p: expected an etcd endpoint HOST[:PORT]";
            break;
        case OPT_PS_TIMEOUT:
            if (ioe_parse_duration_ms(optarg, &u))
                bad = "--ps-timeout: expected a duration such as 10s or 500ms";
            else
                a->ps_timeout_ms = (uint32_t)(u < 1000 ? 1000 : u > 60000 ? 60000 : u);
            break;
        case OPT_PS_RETRIES:
            if (parse_u64(optarg, UINT32_MAX, &u))
                bad = "--ps-retries: expected a non-negative integer";
            else
                a->ps_retries = (uint32_t)u;
            break;
        case 'R':
            if (!valid_uri(optarg) || copy_str(a->registration, sizeof(a->registration), optarg))
                bad = "-R: expected a URI such as https://agent-core:50051";
            break;
        case 'P':
            if (!*optarg || copy_str(a->pool_file, sizeof(a->pool_file), optarg))
                bad = "-P: invalid pool file path";
            break;
        case 'y':
            if (!*optarg || copy_str(a->config_file, sizeof(a->config_file), optarg))
                bad = "-y: invalid config file path";
            break;
        case 's':
            if (parse_u64(optarg, UINT32_MAX, &a->mem_size_mb))
                bad = "-s: expected a size in MiB";
            break;
        case 'u':
            a->no_pci = true;
            break;
        case OPT_PTPL_DIR:
            if (!*optarg || copy_str(a->ptpl_dir, sizeof(a->ptpl_dir), optarg))
                bad = "--ptpl-dir: invalid directory";
            break;
        case OPT_HUGE_DIR:
            if (copy_str(a->huge_dir, sizeof(a->huge_dir), optarg))
                bad = "--huge-dir: path too long";
            break;
        case OPT_ENV_CONTEXT:
            if (copy_str(a->env_context, sizeof(a->env_context), optarg))
                bad = "--env-context: too long";
            break;
        case 'T':
            if (!valid_tgt_iface(optarg) || copy_str(a->tgt_iface, sizeof(a->tgt_iface), optarg))
                bad = "-T/--tgt-iface: expected name:IF, mac:MAC, ip:A.B.C.D, subnet:A.B.C.D/N "
                      "or an interface name";
            break;
        case OPT_TGT_CRDT:
            if (parse_crdt(optarg, a->tgt_crdt))
                bad = "--tgt-crdt: one value or three comma-separated, each 0..100";
            break;
        case 'L':
            if (a->n_log_flags >= 16 ||
                copy_str(a->log_flags[a->n_log_flags++], sizeof(a->log_flags[0]), optarg))
                bad = "-L: too many or too long log flags";
            break;
        case 'F':
            if (copy_str(a->log_format, sizeof(a->log_format), optarg))
                bad = "-F: log format too long";
            break;
        case OPT_ENABLE_LVM:
            if (ioe_parse_bool(optarg, &a->enable_lvm))
                bad = "--enable-lvm: expected 1, true, 0 or false";
            break;
        case OPT_ENABLE_SNAPSHOT_REBUILD:
            if (ioe_parse_bool(optarg, &a->enable_snapshot_rebuild))
                bad = "--enable-snapshot-rebuild: expected 1, true, 0 or false";
            break;
        case OPT_ENABLE_RDMA:
            if (ioe_parse_bool(optarg, &a->enable_rdma))
                bad = "--enable-rdma: expected 1, true, 0 or false";
            break;
        case OPT_EVENTS_URL:
            if (!valid_uri(optarg) || copy_str(a->events_url, sizeof(a->events_url), optarg))
                bad = "--events-url: expected a URI";
            break;
        case 'd':
            break; /* diagnostics flag: accepted, nothing to do */
        case 'h':
            ioe_args_usage(stdout, prog);
            return IOE_ARGS_EXIT;
        case 'V':
            printf("io-engine %s (%s)\n", IO_ENGINE_VERSION, IO_ENGINE_GIT_REV);
            return IOE_ARGS_EXIT;
        case ':':
            seterr(err, errlen, "option '%s' requires a value", argv[optind - 1]);
            return IOE_ARGS_ERROR;
        default: {
            /* Long options are reported as typed: glibc sets optopt to the short letter
             * of "--no-pci=1", which the user never wrote. */
            const char *tok = argv[optind - 1];
            if (!strncmp(tok, "--", 2)) {
                size_t n = strcspn(tok + 2, "=");
                for (const struct option *o = long_opts; o->name; o++)
                    if (tok[2 + n] == '=' && strlen(o->name) == n && !strncmp(o->name, tok + 2, n)) {
                        seterr(err, errlen, "option '--%s' does not take a value", o->name);
                        return IOE_ARGS_ERROR;
                    }
                seterr(err, errlen, "unknown option '%s'", tok);
            } else {
                seterr(err, errlen, "unknown option '-%c'", optopt ? optopt : '?');
            }
            return IOE_ARGS_ERROR;
        }
        }
        if (bad) {
            seterr(err, errlen, "invalid value '%s' for %s", optarg ? optarg : "", bad);
            return IOE_ARGS_ERROR;
        }
    }

    /* Positional GRPC_IP [GRPC_PORT], as the upstream parser declares them. */
    int npos = argc - optind;
    if (npos > 2) {
        seterr(err, errlen, "unexpected argument '%s'", argv[optind + 2]);
        return IOE_ARGS_ERROR;
    }
    if (npos >= 1) {
        if (have_grpc_ip || !valid_ip(argv[optind]) ||
            copy_str(a->grpc_ip, sizeof(a->grpc_ip), argv[optind])) {
            seterr(err, errlen, "unexpected argument '%s' (a gRPC IP address was expected)",
                   argv[optind]);
            return IOE_ARGS_ERROR;
        }
    }
    if (npos == 2 && (have_grpc_port || parse_port(argv[optind + 1], &a->grpc_port))) {
        seterr(err, errlen, "unexpected argument '%s' (a gRPC port was expected)", argv[optind + 1]);
        return IOE_ARGS_ERROR;
    }

    int n = -1;
    if (have_list)
        n = ioe_parse_core_list(list, a->cores, IOE_MAX_CORES);
    else if (have_mask)
        n = ioe_parse_core_mask(mask, a->cores, IOE_MAX_CORES);
    if (have_list || have_mask) {
        if (n <= 0) {
            seterr(err, errlen, "invalid core %s '%s'", have_list ? "list (-l)" : "mask (-m)",
                   have_list ? list : mask);
            return IOE_ARGS_ERROR;
        }
        a->n_cores = n;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    for (int i = 0; i < a->n_cores; i++)
        if (ncpu > 0 && a->cores[i] >= (uint32_t)ncpu) {
            seterr(err, errlen, "core %u does not exist (this machine has %ld cores)", a->cores[i],
                   ncpu);
            return IOE_ARGS_ERROR;
        }
    return IOE_ARGS_OK;
}

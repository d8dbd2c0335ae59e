/* The target: its listen address (behaviour §1: -T, MY_POD_IP, 127.0.0.1, or the config
 * file), the listeners on the replica and nexus ports, accepting connections and handing
 * each to a reactor, and shutdown. Primary reactor. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/env.h"
#include "core/log.h"
#include "nvmf/nvmf_internal.h"

int nvmf_discovery_create(void);
void nvmf_subsys_stop_all(void (*done)(void *arg), void *arg);

#define N_LISTENERS 2
#define DRAIN_POLL_US 5000
#define DRAIN_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)

static struct {
    bool running;
    char addr[64];
    uint16_t replica_port;
    struct nvmf_target_listener l[N_LISTENERS];
    int n_l;
    unsigned next_reactor;
    void (*stopped)(void *arg);
    void *stopped_arg;
    struct reactor_timer *drain; /* shutdown: waits for the connections to be freed */
    uint64_t drain_deadline_ns;
} g_tgt;

bool nvmf_target_running(void) { return g_tgt.running; }
const char *nvmf_target_addr(void) { return g_tgt.addr; }
uint16_t nvmf_target_replica_port(void)
{
    return g_tgt.replica_port ? g_tgt.replica_port : NVMF_DEFAULT_REPLICA_PORT;
}

void nvmf_sockaddr_str(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        port = ntohs(s4->sin_port);
        snprintf(out, len, "%s:%u", a, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        port = ntohs(s6->sin6_port);
        snprintf(out, len, "[%s]:%u", a, port);
    } else {
        snprintf(out, len, "?");
    }
}

/* ---- the listen address ---- */

static int mac_of(const char *ifname, uint8_t mac[6])
{
    struct ifaddrs *ifa, *i;
    int rc = -ENOENT;
    if (getifaddrs(&ifa))
        return -errno;
    for (i = ifa; i; i = i->ifa_next) {
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET && !strcmp(i->ifa_name, ifname)) {
            const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;
            if (ll->sll_halen == 6) {
                memcpy(mac, ll->sll_addr, 6);
                rc = 0;
            }
        }
    }
    freeifaddrs(ifa);
    return rc;
}

/* Resolves a -T selector (name:<if>, mac:<mac>, ip:<a.b.c.d>, subnet:<a.b.c.d/n>, or a
 * bare interface name) to the one IPv4 address it names. */
int nvmf_resolve_iface(const char *sel, char *out, size_t outlen, char *err, size_t errlen)
{
    enum { BY_NAME, BY_MAC, BY_IP, BY_SUBNET } kind = BY_NAME;
    const char *v = sel;
    uint8_t mac[6];
    struct in_addr want = {0}, net = {0};
    uint32_t mask = 0;
    if (!strncmp(sel, "name:", 5)) {
        v = sel + 5;
    } else if (!strncmp(sel, "mac:", 4)) {
        kind = BY_MAC;
        unsigned m[6];
        if (sscanf(sel + 4, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
            goto bad;
        for (int k = 0; k < 6; k++)
            mac[k] = (uint8_t)m[k];
    } else if (!strncmp(sel, "ip:", 3)) {
        kind = BY_IP;
        if (inet_pton(AF_INET, sel + 3, &want) != 1)
            goto bad;
    } else if (!strncmp(sel, "subnet:", 7)) {
        kind = BY_SUBNET;
        char a[32];
        const char *slash = strchr(sel + 7, '/');
        if (!slash || (size_t)(slash - sel - 7) >= sizeof(a))
            goto bad;
        memcpy(a, sel + 7, (size_t)(slash - sel - 7));
        a[slash - sel - 7] = 0;
        int bits = atoi(slash + 1);
        if (inet_pton(AF_INET, a, &net) != 1 || bits < 0 || bits > 32)
            goto bad;
        mask = bits ? htonl(~0u << (32 - bits)) : 0;
    }
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa)) {
        snprintf(err, errlen, "cannot list network interfaces: %s", strerror(errno));
        return -errno;
    }
    int found = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr a = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
        bool match = false;
        uint8_t m2[6];
        switch (kind) {
        case BY_NAME:
            match = !strcmp(i->ifa_name, v);
            break;
        case BY_MAC:
            match = mac_of(i->ifa_name, m2) == 0 && !memcmp(m2, mac, 6);
            break;
        case BY_IP:
            match = a.s_addr == want.s_addr;
            break;
        case BY_SUBNET:
            match = (a.s_addr & mask) == (net.s_addr & mask);
            break;
        }
        if (match) {
            if (found++ == 0)
                inet_ntop(AF_INET, &a, out, (socklen_t)outlen);
        }
    }
    freeifaddrs(ifa);
    if (found != 1) {
        snprintf(err, errlen, "-T %s: %s", sel,
                 found ? "matches more than one interface address" : "matches no interface with an IPv4 address");
        return -EINVAL;
    }
    return 0;
bad:
    snprintf(err, errlen, "invalid interface selector '%s'", sel);
    return -EINVAL;
}

static int port_from(json_t *obj, const char *key, uint16_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return -EINVAL;
    *out = (uint16_t)json_integer_value(v);
    return 0;
}

int nvmf_target_opts_from_env(struct nvmf_target_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->replica_port = NVMF_DEFAULT_REPLICA_PORT;
    o->nexus_port = NVMF_DEFAULT_NEXUS_PORT;
    json_t *cfg = g_env.config.config;
    json_t *tgt = json_object_get(cfg, "nvmf_tgt_conf");
    const char *iface = json_string_value(json_object_get(tgt, "interface"));
    const char *sel = g_env.args.tgt_iface[0] ? g_env.args.tgt_iface : iface;
    const char *pod = getenv("MY_POD_IP");
    struct in_addr tmp;
    if (sel && *sel) {
        int rc = nvmf_resolve_iface(sel, o->addr, sizeof(o->addr), err, errlen);
        if (rc)
            return rc;
    } else if (pod && *pod) {
        if (inet_pton(AF_INET, pod, &tmp) != 1) {
            snprintf(err, errlen, "MY_POD_IP '%s' is not an IPv4 address", pod);
            return -EINVAL;
        }
        snprintf(o->addr, sizeof(o->addr), "%s", pod);
    } else {
        snprintf(o->addr, sizeof(o->addr), "127.0.0.1");
    }
    json_t *nx = json_object_get(cfg, "nexus_opts");
    if (port_from(nx, "nvmf_replica_port", &o->replica_port) ||
        port_from(nx, "nvmf_nexus_port", &o->nexus_port)) {
        snprintf(err, errlen, "nexus_opts: invalid NVMe-oF port");
        return -EINVAL;
    }
    if (o->replica_port == o->nexus_port) {
        snprintf(err, errlen, "nexus_opts: the replica and nexus ports must differ (both %u)",
                 o->replica_port);
        return -EINVAL;
    }
    return 0;
}

/* ---- listeners ---- */

static void on_accept(struct reactor_completion *c, int res, uint32_t flags);

static void listen_arm(struct nvmf_target_listener *l)
{
    if (l->closing || l->armed)
        return;
    if (reactor_poll_fd(l->fd, POLLIN, &l->poll) == 0)
        l->armed = true;
    else
        log_error("nvmf: cannot watch listener %s:%u", l->addr, l->port);
}

static void listener_closed_check(void);

static void on_accept(struct reactor_completion *c, int res, uint32_t flags)
{
    (void)flags;
    (void)res;
    struct nvmf_target_listener *l =
        (struct nvmf_target_listener *)((char *)c - offsetof(struct nvmf_target_listener, poll));
    l->armed = false;
    if (l->closing) {
        listener_closed_check();
        return;
    }
    for (int k = 0; k < 64; k++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                log_warn("nvmf: accept on %s:%u: %s", l->addr, l->port, strerror(errno));
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct reactor *r = reactor_get((int)(g_tgt.next_reactor++ % (unsigned)reactor_count()));
        nvmf_qpair_start(l, fd, r);
    }
    listen_arm(l);
}

static int listener_open(struct nvmf_target_listener *l, const char *addr, uint16_t port,
                         char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            goto badaddr;
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            goto badaddr;
        sl = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "NVMe-oF listener: socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 128)) {
        int e = errno;
        snprintf(err, errlen, "NVMe-oF listener on %s:%u: %s", addr, port, strerror(e));
        close(fd);
        return -e;
    }
    memset(l, 0, sizeof(*l));
    l->fd = fd;
    l->port = port;
    l->family = ss.ss_family;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    l->poll.cb = on_accept;
    listen_arm(l);
    return 0;
badaddr:
    snprintf(err, errlen, "NVMe-oF listen address '%s' is not an IP address", addr);
    return -EINVAL;
}

const struct nvmf_target_listener *nvmf_listener_for_port(uint16_t port)
{
    for (int i = 0; i < g_tgt.n_l; i++)
        if (g_tgt.l[i].port == port)
            return &g_tgt.l[i];
    return NULL;
}

int nvmf_target_start(const struct nvmf_target_opts *o, char *err, size_t errlen)
{
    if (g_tgt.running)
        return -EALREADY;
    snprintf(g_tgt.addr, sizeof(g_tgt.addr), "%s", o->addr);
    g_tgt.replica_port = o->replica_port ? o->replica_port : NVMF_DEFAULT_REPLICA_PORT;
    uint16_t ports[N_LISTENERS] = {g_tgt.replica_port,
                                   o->nexus_port ? o->nexus_port : NVMF_DEFAULT_NEXUS_PORT};
    g_tgt.n_l = 0;
    for (int i = 0; i < N_LISTENERS; i++) {
        int rc = listener_open(&g_tgt.l[i], o->addr, ports[i], err, errlen);
        if (rc) {
            for (int k = 0; k < g_tgt.n_l; k++) {
                g_tgt.l[k].closing = true;
                if (g_tgt.l[k].armed)
                    reactor_poll_cancel(&g_tgt.l[k].poll);
                else
                    close(g_tgt.l[k].fd);
            }
            return rc;
        }
        g_tgt.n_l++;
    }
    int rc = nvmf_discovery_create();
    if (rc) {
        snprintf(err, errlen, "cannot create the discovery subsystem");
        return rc;
    }
    g_tgt.running = true;
    log_info("nvmf: NVMe/TCP target listening on %s ports %u (replicas) and %u (nexus)", o->addr,
             ports[0], ports[1]);
    return 0;
}

static void target_stopped(void)
{
    void (*d)(void *) = g_tgt.stopped;
    g_tgt.stopped = NULL;
    d(g_tgt.stopped_arg);
}

static void qpairs_drained_check(void *arg)
{
    (void)arg;
    unsigned live = nvmf_qpairs_live();
    if (live && reactor_now_ns() < g_tgt.drain_deadline_ns)
        return;
    if (live)
        log_warn("nvmf: %u connection(s) still closing at shutdown", live);
    reactor_timer_cancel(g_tgt.drain);
    g_tgt.drain = NULL;
    target_stopped();
}

static void listener_closed_check(void)
{
    for (int i = 0; i < g_tgt.n_l; i++)
        if (g_tgt.l[i].armed)
            return;
    for (int i = 0; i < g_tgt.n_l; i++) {
        if (g_tgt.l[i].fd >= 0)
            close(g_tgt.l[i].fd);
        g_tgt.l[i].fd = -1;
    }
    g_tgt.n_l = 0;
    if (!g_tgt.stopped || g_tgt.drain)
        return;
    /* connections no controller holds (before or after a Connect, or refused) go too,
     * and the target is stopped once every connection is freed */
    nvmf_qpairs_close_all();
    g_tgt.drain_deadline_ns = reactor_now_ns() + DRAIN_TIMEOUT_NS;
    g_tgt.drain = reactor_timer_start(1000, DRAIN_POLL_US, qpairs_drained_check, NULL);
    if (!g_tgt.drain)
        target_stopped();
}

static void subsystems_stopped(void *arg)
{
    (void)arg;
    for (int i = 0; i < g_tgt.n_l; i++) {
        g_tgt.l[i].closing = true;
        if (g_tgt.l[i].armed)
            reactor_poll_cancel(&g_tgt.l[i].poll);
    }
    listener_closed_check();
}

void nvmf_target_stop(void (*done)(void *arg), void *arg)
{
    if (!g_tgt.running) {
        done(arg);
        return;
    }
    g_tgt.running = false;
    g_tgt.stopped = done;
    g_tgt.stopped_arg = arg;
    nvmf_subsys_stop_all(subsystems_stopped, NULL);
}

/* Subsystems (primary reactor): the discovery subsystem and one NVM subsystem per
 * shared device, their allowed hosts, controllers, serial/model numbers (behaviour §6),
 * ANA state, and stopping one. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/nqn.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

#define MODEL "Mayastor NVMe controller"

static struct nvmf_subsys *g_subsystems;
static uint64_t g_disc_genctr;

struct nvmf_subsys *nvmf_subsys_first(void) { return g_subsystems; }
uint64_t nvmf_discovery_genctr(void) { return g_disc_genctr; }

struct nvmf_subsys *nvmf_subsys_by_nqn(const char *nqn)
{
    for (struct nvmf_subsys *s = g_subsystems; s; s = s->next)
        if (!strcmp(s->nqn, nqn))
            return s;
    return NULL;
}

struct nvmf_subsys *nvmf_subsys_for_bdev(const char *bdev_name)
{
    for (struct nvmf_subsys *s = g_subsystems; s; s = s->next)
        if (!s->discovery && !strcmp(s->bdev_name, bdev_name))
            return s;
    return NULL;
}

const char *nvmf_subsys_nqn(const struct nvmf_subsys *ss) { return ss->nqn; }

size_t nvmf_subsys_n_hosts(const struct nvmf_subsys *ss)
{
    size_t n = 0;
    for (const struct nvmf_host *h = ss->hosts; h; h = h->next)
        n++;
    return n;
}

const char *nvmf_subsys_host(const struct nvmf_subsys *ss, size_t i)
{
    const struct nvmf_host *h = ss->hosts;
    while (h && i--)
        h = h->next;
    return h ? h->nqn : NULL;
}

bool nvmf_subsys_host_allowed(const struct nvmf_subsys *ss, const char *hostnqn)
{
    if (!ss->hosts)
        return true;
    for (const struct nvmf_host *h = ss->hosts; h; h = h->next)
        if (!strcmp(h->nqn, hostnqn))
            return true;
    return false;
}

/* Tells every discovery controller that wants it that the log page changed. */
void nvmf_discovery_changed(void)
{
    g_disc_genctr++;
    for (struct nvmf_subsys *s = g_subsystems; s; s = s->next) {
        if (!s->discovery)
            continue;
        for (struct nvmf_ctrlr *c = s->ctrlrs; c; c = c->next)
            nvmf_ctrlr_aen(c, NVME_AEN_CFG_DISC_CHANGE,
                           NVME_AER_TYPE_NOTICE | (NVME_AER_NOTICE_DISC_CHANGED << 8) |
                               ((uint32_t)NVME_LOG_DISCOVERY << 16));
    }
}

/* "DCS" + the first 17 upper-case hex digits of SHA-256 over the uuid's 16 bytes. */
static void serial_for(const uint8_t uuid[16], char out[21])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(uuid, 16, md, &mdlen, EVP_sha256(), NULL)) {
        snprintf(out, 21, "DCS");
        return;
    }
    char hex[65];
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02X", md[i]);
    snprintf(out, 21, "DCS%.17s", hex);
}

static struct nvmf_subsys *subsys_new(const char *nqn)
{
    struct nvmf_subsys *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    snprintf(s->nqn, sizeof(s->nqn), "%s", nqn);
    snprintf(s->model, sizeof(s->model), "%s", MODEL);
    s->min_cntlid = 1;
    s->max_cntlid = 0xFFEF;
    s->next_cntlid = 1;
    s->ana_state = NVME_ANA_OPTIMIZED;
    s->port = nvmf_target_replica_port();
    nvmf_resv_init(&s->resv);
    return s;
}

int nvmf_discovery_create(void)
{
    if (nvmf_subsys_by_nqn(NQN_DISCOVERY))
        return 0;
    struct nvmf_subsys *s = subsys_new(NQN_DISCOVERY);
    if (!s)
        return -ENOMEM;
    s->discovery = true;
    snprintf(s->serial, sizeof(s->serial), "DCS-DISCOVERY");
    s->next = g_subsystems;
    g_subsystems = s;
    return 0;
}

static void hosts_free(struct nvmf_host *h)
{
    while (h) {
        struct nvmf_host *n = h->next;
        free(h);
        h = n;
    }
}

static int hosts_build(const char *const *hosts, size_t n, struct nvmf_host **out)
{
    struct nvmf_host *head = NULL, **tail = &head;
    for (size_t i = 0; i < n; i++) {
        if (!hosts[i] || !nqn_is_valid(hosts[i])) {
            hosts_free(head);
            return -EINVAL;
        }
        bool dup = false;
        for (struct nvmf_host *h = head; h && !dup; h = h->next)
            dup = !strcmp(h->nqn, hosts[i]);
        if (dup)
            continue;
        struct nvmf_host *h = calloc(1, sizeof(*h));
        if (!h) {
            hosts_free(head);
            return -ENOMEM;
        }
        snprintf(h->nqn, sizeof(h->nqn), "%s", hosts[i]);
        *tail = h;
        tail = &h->next;
    }
    *out = head;
    return 0;
}

int nvmf_share(const char *bdev_name, const char *const *hosts, size_t n_hosts,
               struct nvmf_subsys **out, char *err, size_t errlen)
{
    char nqn[NVMF_NQN_MAX + 1];
    if (!nvmf_target_running()) {
        snprintf(err, errlen, "the NVMe-oF target is not running");
        return -ENODEV;
    }
    if (nqn_for_target(bdev_name, nqn, sizeof(nqn))) {
        snprintf(err, errlen, "device name %s makes no valid NQN", bdev_name);
        return -EINVAL;
    }
    if (nvmf_subsys_by_nqn(nqn)) {
        snprintf(err, errlen, "%s is already shared as %s", bdev_name, nqn);
        return -EEXIST;
    }
    struct bdev *b = bdev_lookup(bdev_name);
    if (!b) {
        snprintf(err, errlen, "no device %s", bdev_name);
        return -ENODEV;
    }
    if (b->claimed_by) {
        snprintf(err, errlen, "device %s is claimed by %s", bdev_name, b->claimed_by);
        return -EBUSY;
    }
    struct nvmf_host *hl = NULL;
    int rc = hosts_build(hosts, n_hosts, &hl);
    if (rc) {
        snprintf(err, errlen, rc == -EINVAL ? "invalid host NQN in allowed hosts" : "out of memory");
        return rc;
    }
    struct nvmf_subsys *s = subsys_new(nqn);
    if (!s) {
        hosts_free(hl);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = bdev_open_bdev(b, &s->desc);
    if (rc) {
        hosts_free(hl);
        free(s);
        snprintf(err, errlen, "cannot open %s: %s", bdev_name, strerror(-rc));
        return rc;
    }
    s->bdev = b;
    s->kind = b->ops && b->ops->driver && !strcmp(b->ops->driver, "nexus") ? NVMF_SUBSYS_NEXUS
                                                                            : NVMF_SUBSYS_REPLICA;
    s->hosts = hl;
    snprintf(s->bdev_name, sizeof(s->bdev_name), "%s", bdev_name);
    memcpy(s->nguid, b->uuid, 16);
    serial_for(b->uuid, s->serial);
    s->next = g_subsystems;
    g_subsystems = s;
    free(b->shared_uri);
    b->shared_uri = nvmf_share_uri(s);
    log_info("nvmf: shared %s as %s (%zu allowed host(s))", bdev_name, nqn, n_hosts);
    nvmf_discovery_changed();
    if (out)
        *out = s;
    return 0;
}

int nvmf_set_hosts(struct nvmf_subsys *ss, const char *const *hosts, size_t n_hosts)
{
    struct nvmf_host *hl = NULL;
    int rc = hosts_build(hosts, n_hosts, &hl);
    if (rc)
        return rc;
    /* hosts that were listed and are no longer lose their controllers; with the old list
     * empty (any host), nobody is kicked */
    struct nvmf_host *old = ss->hosts;
    ss->hosts = hl;
    for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next) {
        bool was_listed = false;
        for (struct nvmf_host *h = old; h && !was_listed; h = h->next)
            was_listed = !strcmp(h->nqn, c->hostnqn);
        if (was_listed && !nvmf_subsys_host_allowed(ss, c->hostnqn)) {
            log_info("nvmf: %s: host %s no longer allowed: disconnecting controller %u",
                     ss->nqn, c->hostnqn, c->cntlid);
            nvmf_ctrlr_destroy(c);
        }
    }
    hosts_free(old);
    nvmf_discovery_changed();
    return 0;
}

static void subsys_free(struct nvmf_subsys *ss)
{
    for (struct nvmf_subsys **p = &g_subsystems; *p; p = &(*p)->next) {
        if (*p == ss) {
            *p = ss->next;
            break;
        }
    }
    if (ss->bdev) {
        free(ss->bdev->shared_uri);
        ss->bdev->shared_uri = NULL;
    }
    if (ss->desc)
        bdev_close(ss->desc);
    hosts_free(ss->hosts);
    free(ss->ptpl_path);
    void (*cb)(void *, int) = ss->stopped_cb;
    void *arg = ss->stopped_arg;
    free(ss);
    if (cb)
        cb(arg, 0);
}

void nvmf_subsys_ctrlr_removed(struct nvmf_subsys *ss)
{
    if (ss->stopping && !ss->ctrlrs && !ss->resv_busy)
        subsys_free(ss);
}

void nvmf_unshare(struct nvmf_subsys *ss, void (*done)(void *arg, int rc), void *arg)
{
    if (ss->stopping) {
        if (done)
            done(arg, -EALREADY);
        return;
    }
    ss->stopping = true;
    ss->stopped_cb = done;
    ss->stopped_arg = arg;
    log_info("nvmf: unsharing %s", ss->nqn);
    if (!ss->discovery)
        nvmf_discovery_changed();
    if (!ss->ctrlrs) {
        if (!ss->resv_busy) /* else when the PTPL write ends (resv_cmd.c) */
            subsys_free(ss);
        return;
    }
    for (struct nvmf_ctrlr *c = ss->ctrlrs, *n; c; c = n) {
        n = c->next;
        nvmf_ctrlr_destroy(c); /* may free c (no queues), and ss after the last */
    }
}

void nvmf_bdev_resized(const char *bdev_name)
{
    struct nvmf_subsys *ss = nvmf_subsys_for_bdev(bdev_name);
    if (!ss)
        return;
    for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next) {
        c->ns_changed = true;
        nvmf_ctrlr_aen(c, NVME_AEN_CFG_NS_ATTR,
                       NVME_AER_TYPE_NOTICE | (NVME_AER_NOTICE_NS_CHANGED << 8) |
                           ((uint32_t)NVME_LOG_CHANGED_NS << 16));
    }
}

int nvmf_set_ana_state(struct nvmf_subsys *ss, uint8_t state)
{
    if (state != NVME_ANA_OPTIMIZED && state != NVME_ANA_NON_OPTIMIZED &&
        state != NVME_ANA_INACCESSIBLE && state != NVME_ANA_PERSISTENT_LOSS &&
        state != NVME_ANA_CHANGE)
        return -EINVAL;
    if (ss->ana_state == state)
        return 0;
    ss->ana_state = state;
    ss->ana_chgcnt++;
    for (struct nvmf_ctrlr *c = ss->ctrlrs; c; c = c->next) {
        nvmf_ctrlr_push_access(c);
        nvmf_ctrlr_aen(c, NVME_AEN_CFG_ANA_CHANGE,
                       NVME_AER_TYPE_NOTICE | (NVME_AER_NOTICE_ANA << 8) |
                           ((uint32_t)NVME_LOG_ANA << 16));
    }
    return 0;
}

int nvmf_set_cntlid_range(struct nvmf_subsys *ss, uint16_t min, uint16_t max)
{
    if (min < 1 || max > 0xFFEF || min > max)
        return -EINVAL;
    ss->min_cntlid = min;
    ss->max_cntlid = max;
    ss->next_cntlid = min;
    return 0;
}

char *nvmf_share_uri(const struct nvmf_subsys *ss)
{
    char uuid[37];
    uuid_unparse_lower(ss->bdev->uuid, uuid);
    const char *addr = nvmf_target_addr();
    bool v6 = strchr(addr, ':') != NULL;
    char *s = NULL;
    if (asprintf(&s, "nvmf://%s%s%s:%u/%s?uuid=%s", v6 ? "[" : "", addr, v6 ? "]" : "",
                 (unsigned)ss->port, ss->nqn, uuid) < 0)
        return NULL;
    return s;
}

/* nvmf_get_subsystems, in SPDK's shape. */
json_t *nvmf_subsystems_json(void)
{
    json_t *arr = json_array();
    for (struct nvmf_subsys *s = g_subsystems; s; s = s->next) {
        json_t *o = json_object();
        json_object_set_new(o, "nqn", json_string(s->nqn));
        json_object_set_new(o, "subtype", json_string(s->discovery ? "Discovery" : "NVMe"));
        json_t *la = json_array();
        json_t *l = json_object();
        json_object_set_new(l, "trtype", json_string("TCP"));
        json_object_set_new(l, "adrfam", json_string(strchr(nvmf_target_addr(), ':') ? "IPv6" : "IPv4"));
        json_object_set_new(l, "traddr", json_string(nvmf_target_addr()));
        char port[8];
        snprintf(port, sizeof(port), "%u", (unsigned)s->port);
        json_object_set_new(l, "trsvcid", json_string(port));
        json_array_append_new(la, l);
        json_object_set_new(o, "listen_addresses", la);
        json_object_set_new(o, "allow_any_host", json_boolean(s->hosts == NULL));
        json_t *ha = json_array();
        for (struct nvmf_host *h = s->hosts; h; h = h->next) {
            json_t *ho = json_object();
            json_object_set_new(ho, "nqn", json_string(h->nqn));
            json_array_append_new(ha, ho);
        }
        json_object_set_new(o, "hosts", ha);
        if (!s->discovery) {
            json_object_set_new(o, "serial_number", json_string(s->serial));
            json_object_set_new(o, "model_number", json_string(s->model));
            json_object_set_new(o, "max_namespaces", json_integer(1));
            json_object_set_new(o, "min_cntlid", json_integer(s->min_cntlid));
            json_object_set_new(o, "max_cntlid", json_integer(s->max_cntlid));
            json_t *ns = json_object();
            char uuid[37];
            uuid_unparse_lower(s->bdev->uuid, uuid);
            char nguid[33];
            for (int i = 0; i < 16; i++)
                snprintf(nguid + 2 * i, 3, "%02X", s->nguid[i]);
            json_object_set_new(ns, "nsid", json_integer(1));
            json_object_set_new(ns, "bdev_name", json_string(s->bdev_name));
            json_object_set_new(ns, "name", json_string(s->bdev_name));
            json_object_set_new(ns, "nguid", json_string(nguid));
            json_object_set_new(ns, "uuid", json_string(uuid));
            json_object_set_new(ns, "anagrpid", json_integer(1));
            json_t *nsa = json_array();
            json_array_append_new(nsa, ns);
            json_object_set_new(o, "namespaces", nsa);
        }
        int nc = 0;
        for (struct nvmf_ctrlr *c = s->ctrlrs; c; c = c->next)
            nc++;
        json_object_set_new(o, "controllers", json_integer(nc));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Shutdown: every subsystem stops; done(arg) when all are gone. */
struct stop_all {
    void (*done)(void *arg);
    void *arg;
    int left;
};

static void one_stopped(void *arg, int rc)
{
    (void)rc;
    struct stop_all *st = arg;
    if (--st->left == 0) {
        void (*d)(void *) = st->done;
        void *a = st->arg;
        free(st);
        d(a);
    }
}

void nvmf_subsys_stop_all(void (*done)(void *arg), void *arg)
{
    struct stop_all *st = calloc(1, sizeof(*st));
    if (!st) {
        done(arg);
        return;
    }
    st->done = done;
    st->arg = arg;
    st->left = 1;
    for (struct nvmf_subsys *s = g_subsystems, *n; s; s = n) {
        n = s->next;
        if (s->stopping)
            continue;
        st->left++;
        nvmf_unshare(s, one_stopped, st);
    }
    one_stopped(st, 0);
}

/* Replicas over NVMe-oF (behaviour §4): sharing a replica shares its device with the
 * NVMe-oF target and persists the "shared" and "allowed-hosts" properties, so the
 * replica is shared again when its pool is imported (at start or by ImportPool). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lvs/lvol.h"
#include "lvs/lvol_share.h"
#include "nvmf/nvmf.h"

/* The live allowed hosts the Replica message shows. */
static void set_hosts(struct lvol *lv, const char *const *hosts, size_t n)
{
    for (size_t i = 0; i < lv->n_allowed_hosts; i++)
        free(lv->allowed_hosts[i]);
    free(lv->allowed_hosts);
    lv->allowed_hosts = NULL;
    lv->n_allowed_hosts = 0;
    if (!n || !(lv->allowed_hosts = calloc(n, sizeof(char *))))
        return;
    for (size_t i = 0; i < n; i++)
        if ((lv->allowed_hosts[lv->n_allowed_hosts] = strdup(hosts[i])))
            lv->n_allowed_hosts++;
}

bool lvol_is_shared(const struct lvol *lv)
{
    return lv->bdev && nvmf_subsys_for_bdev(lv->name) != NULL;
}

/* "a,b,c" of the hosts (allocated). */
static char *join_hosts(const char *const *hosts, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(hosts[i]) + 1;
    char *s = calloc(1, len), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", hosts[i]);
    return s;
}

struct share_ctx {
    char name[LVS_NAME_MAX];
    bool was_shared;
    lvs_done_cb cb;
    void *arg;
};

static void share_persisted(void *arg, int rc, const char *errmsg)
{
    struct share_ctx *x = arg;
    if (rc && !x->was_shared) {
        /* not recorded: do not leave it shared behind the pool's back */
        struct nvmf_subsys *ss = nvmf_subsys_for_bdev(x->name);
        if (ss)
            nvmf_unshare(ss, NULL, NULL);
    }
    x->cb(x->arg, rc, errmsg);
    free(x);
}

static void hosts_persisted(void *arg, int rc, const char *errmsg)
{
    struct share_ctx *x = arg;
    struct lvol *lv = lvol_lookup_name(x->name);
    if (rc || !lv || x->was_shared) {
        share_persisted(x, rc ? rc : (lv ? 0 : -ENOENT), errmsg);
        return;
    }
    /* both properties reach the disk in this one metadata write */
    lvol_set_property(lv, LVOL_XATTR_SHARED, "true", true, share_persisted, x);
}

void lvol_share(struct lvol *lv, const char *const *hosts, size_t n_hosts, lvs_done_cb cb,
                void *arg)
{
    char err[LVS_ERRMSG_LEN] = "";
    struct share_ctx *x = calloc(1, sizeof(*x));
    char *joined = join_hosts(hosts, n_hosts);
    if (!x || !joined) {
        free(x);
        free(joined);
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    x->was_shared = lvol_is_shared(lv);
    int rc = nvmf_share_device(lv->name, hosts, n_hosts, err, sizeof(err));
    if (rc) {
        free(x);
        free(joined);
        cb(arg, rc, err);
        return;
    }
    snprintf(x->name, sizeof(x->name), "%s", lv->name);
    x->cb = cb;
    x->arg = arg;
    lv->share = LVOL_SHARE_NVMF;
    set_hosts(lv, hosts, n_hosts);
    /* a change of hosts alone is not synced (as upstream); a new share is */
    lvol_set_property(lv, LVOL_XATTR_ALLOWED_HOSTS, joined, false, hosts_persisted, x);
    free(joined);
}

struct unshare_ctx {
    char name[LVS_NAME_MAX];
    bool persist;
    lvs_done_cb cb;
    void *arg;
};

static void unshare_done(void *arg, int rc)
{
    struct unshare_ctx *x = arg;
    struct lvol *lv = lvol_lookup_name(x->name);
    if (lv) {
        lv->share = LVOL_SHARE_NONE;
        set_hosts(lv, NULL, 0);
    }
    if (rc || !x->persist || !lv) {
        x->cb(x->arg, rc, rc ? "cannot stop the NVMe-oF subsystem" : NULL);
        free(x);
        return;
    }
    lvs_done_cb cb = x->cb;
    void *a = x->arg;
    free(x);
    lvol_set_property(lv, LVOL_XATTR_SHARED, "false", true, cb, a);
}

static void lvol_unshare_with(struct lvol *lv, bool persist, lvs_done_cb cb, void *arg)
{
    struct unshare_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    snprintf(x->name, sizeof(x->name), "%s", lv->name);
    x->persist = persist;
    x->cb = cb;
    x->arg = arg;
    nvmf_unshare_device(lv->name, unshare_done, x);
}

void lvol_unshare(struct lvol *lv, lvs_done_cb cb, void *arg) { lvol_unshare_with(lv, true, cb, arg); }

void lvol_stop_sharing(struct lvol *lv, lvs_done_cb cb, void *arg) { lvol_unshare_with(lv, false, cb, arg); }

/* Import: a replica whose "shared" property is "true" is shared again with its allowed
 * hosts. A failure is logged; the replica stays usable locally. */
void lvol_reshare(struct lvol *lv)
{
    char shared[8], hosts[4096];
    if (!lv->bdev || lvol_get_property(lv, LVOL_XATTR_SHARED, shared, sizeof(shared)) ||
        strcmp(shared, "true"))
        return;
    if (!nvmf_target_running()) {
        log_warn("replica %s is marked shared, but the NVMe-oF target is not running",
                 lv->name);
        return;
    }
    const char *list[1024];
    size_t n = 0;
    if (!lvol_get_property(lv, LVOL_XATTR_ALLOWED_HOSTS, hosts, sizeof(hosts))) {
        for (char *s = hosts, *t; n < 1024 && *hosts && (t = strsep(&s, ","));)
            if (*t)
                list[n++] = t;
    }
    char err[LVS_ERRMSG_LEN];
    int rc = nvmf_share_device(lv->name, list, n, err, sizeof(err));
    if (rc)
        log_error("replica %s: cannot share it again: %s", lv->name, err);
    else {
        lv->share = LVOL_SHARE_NVMF;
        set_hosts(lv, list, n);
    }
}

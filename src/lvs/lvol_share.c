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
#include "nvmf/ptpl.h"

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
    char uuid[37];
    bool was_shared;
    char *joined; /* the allowed hosts, "a,b,c" */
    lvs_done_cb cb;
    void *arg;
};

static void share_ctx_end(struct share_ctx *x, int rc, const char *errmsg)
{
    x->cb(x->arg, rc, errmsg);
    free(x->joined);
    free(x);
}

static void share_persisted(void *arg, int rc, const char *errmsg)
{
    struct share_ctx *x = arg;
    if (rc && !x->was_shared) {
        /* not recorded: do not leave it shared behind the pool's back */
        struct nvmf_subsys *ss = nvmf_subsys_for_bdev(x->name);
        if (ss)
            nvmf_unshare(ss, NULL, NULL);
    }
    share_ctx_end(x, rc, errmsg);
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

/* Splits "a,b,c" in place into at most `max` hosts. */
static size_t split_hosts(char *joined, const char **list, size_t max)
{
    size_t n = 0;
    for (char *s = joined, *t; n < max && *joined && (t = strsep(&s, ","));)
        if (*t)
            list[n++] = t;
    return n;
}

/* The replica's PTPL file was read (text NULL: none, or no --ptpl-dir): share it. */
static void share_with_ptpl(void *arg, int rc, char *text)
{
    struct share_ctx *x = arg;
    char err[LVS_ERRMSG_LEN] = "", path[4300];
    struct lvol *lv = lvol_lookup_name(x->name);
    if (!rc && (!lv || strcmp(lv->uuid_str, x->uuid)))
        rc = -ENOENT, snprintf(err, sizeof(err), "replica %s is gone", x->name);
    bool ptpl = !rc && !nvmf_ptpl_replica_path(lv->lvs->uuid_str, lv->uuid_str, path,
                                               sizeof(path));
    if (rc && !err[0]) {
        snprintf(err, sizeof(err), "cannot read the reservation persistence file: %s",
                 strerror(-rc));
        rc = -EBADMSG;
    }
    char *hosts = x->joined ? strdup(x->joined) : NULL;
    const char *list[1024];
    size_t n = hosts ? split_hosts(hosts, list, 1024) : 0;
    if (!rc)
        rc = nvmf_share_device_ptpl(x->name, list, n, ptpl ? path : NULL, text, err, sizeof(err));
    free(text);
    if (!rc) {
        lv->share = LVOL_SHARE_NVMF;
        set_hosts(lv, list, n);
    }
    free(hosts);
    if (rc) {
        share_ctx_end(x, rc, err);
        return;
    }
    /* a change of hosts alone is not synced (as upstream); a new share is */
    lvol_set_property(lv, LVOL_XATTR_ALLOWED_HOSTS, x->joined, false, hosts_persisted, x);
}

/* Reads lv's PTPL file (when --ptpl-dir is set and lv is not shared yet), then then(). */
static void load_ptpl(const struct lvol *lv, bool shared,
                      void (*then)(void *arg, int rc, char *text), void *arg)
{
    char path[4300];
    if (shared || nvmf_ptpl_replica_path(lv->lvs->uuid_str, lv->uuid_str, path, sizeof(path)))
        then(arg, 0, NULL);
    else
        nvmf_ptpl_load(path, then, arg);
}

void lvol_share(struct lvol *lv, const char *const *hosts, size_t n_hosts, lvs_done_cb cb,
                void *arg)
{
    struct share_ctx *x = calloc(1, sizeof(*x));
    char *joined = join_hosts(hosts, n_hosts);
    if (!x || !joined) {
        free(x);
        free(joined);
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    if (!nvmf_target_running()) {
        free(x);
        free(joined);
        cb(arg, -ESHUTDOWN, "the NVMe-oF target is not running (nexus_opts.nvmf_enable)");
        return;
    }
    snprintf(x->name, sizeof(x->name), "%s", lv->name);
    memcpy(x->uuid, lv->uuid_str, sizeof(x->uuid));
    x->joined = joined;
    x->cb = cb;
    x->arg = arg;
    x->was_shared = lvol_is_shared(lv);
    load_ptpl(lv, x->was_shared, share_with_ptpl, x);
}

/* ---- a replica created shared ---- */

struct new_share_ctx {
    char uuid[37];
    char label[LVS_NAME_MAX + 40];
    int share_rc;
    char err[LVS_ERRMSG_LEN];
    lvol_cb cb;
    void *arg;
};

static void new_share_undone(void *arg, int rc, const char *errmsg)
{
    (void)errmsg;
    struct new_share_ctx *x = arg;
    char msg[LVS_ERRMSG_LEN + 200];
    snprintf(msg, sizeof(msg), "failed to share created replica %s: %s%s", x->label, x->err,
             rc ? " (and destroying it again failed)" : "; it was destroyed again");
    x->cb(x->arg, x->share_rc, NULL, msg);
    free(x);
}

static void new_share_done(void *arg, int rc, const char *errmsg)
{
    struct new_share_ctx *x = arg;
    struct lvol *lv = lvol_find_uuid(x->uuid);
    if (!lv) {
        x->cb(x->arg, -ENOENT, NULL, "the replica disappeared");
        free(x);
        return;
    }
    if (rc) {
        x->share_rc = rc;
        snprintf(x->err, sizeof(x->err), "%s", errmsg ? errmsg : strerror(-rc));
        lvol_destroy(lv, new_share_undone, x);
        return;
    }
    x->cb(x->arg, 0, lv, NULL);
    free(x);
}

void lvol_share_new(struct lvol *lv, const char *const *hosts, size_t n_hosts, const char *label,
                    lvol_cb cb, void *arg)
{
    struct new_share_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        cb(arg, -ENOMEM, NULL, "out of memory");
        return;
    }
    memcpy(x->uuid, lv->uuid_str, sizeof(x->uuid));
    snprintf(x->label, sizeof(x->label), "%s", label);
    x->cb = cb;
    x->arg = arg;
    lvol_share(lv, hosts, n_hosts, new_share_done, x);
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

/* Import: every replica whose "shared" property is "true" is shared again with its
 * allowed hosts and the reservations of its PTPL file, one after the other. A failure is
 * logged; the replica stays usable locally. */
struct reshare_ctx {
    char (*uuids)[37];
    size_t n, i;
    char hosts[4096];
    void (*done)(void *arg);
    void *arg;
};

static void reshare_next(struct reshare_ctx *x);

static void reshare_loaded(void *arg, int rc, char *text)
{
    struct reshare_ctx *x = arg;
    struct lvol *lv = lvol_find_uuid(x->uuids[x->i++]);
    char err[LVS_ERRMSG_LEN], path[4300];
    if (!lv || !lv->bdev || lvol_is_shared(lv)) {
        free(text);
        reshare_next(x);
        return;
    }
    const char *list[1024];
    size_t n = 0;
    if (!lvol_get_property(lv, LVOL_XATTR_ALLOWED_HOSTS, x->hosts, sizeof(x->hosts)))
        n = split_hosts(x->hosts, list, 1024);
    bool ptpl = !nvmf_ptpl_replica_path(lv->lvs->uuid_str, lv->uuid_str, path, sizeof(path));
    if (rc)
        snprintf(err, sizeof(err), "cannot read the reservation persistence file %.300s: %s", path,
                 strerror(-rc));
    else
        rc = nvmf_share_device_ptpl(lv->name, list, n, ptpl ? path : NULL, text, err,
                                    sizeof(err));
    free(text);
    if (rc)
        log_error("replica %s: cannot share it again: %s", lv->name, err);
    else {
        lv->share = LVOL_SHARE_NVMF;
        set_hosts(lv, list, n);
    }
    reshare_next(x);
}

static void reshare_next(struct reshare_ctx *x)
{
    if (x->i == x->n) {
        void (*done)(void *) = x->done;
        void *arg = x->arg;
        free(x->uuids);
        free(x);
        done(arg);
        return;
    }
    struct lvol *lv = lvol_find_uuid(x->uuids[x->i]);
    if (!lv) {
        x->i++;
        reshare_next(x);
        return;
    }
    load_ptpl(lv, false, reshare_loaded, x);
}

void lvol_reshare_all(struct lvs *l, void (*done)(void *arg), void *arg)
{
    struct reshare_ctx *x = calloc(1, sizeof(*x));
    if (x)
        x->uuids = calloc(l->n_lvols ? l->n_lvols : 1, sizeof(*x->uuids));
    if (!x || !x->uuids) {
        log_error("pool %s: out of memory: its shared replicas are not shared again", l->name);
        if (x)
            free(x);
        done(arg);
        return;
    }
    x->done = done;
    x->arg = arg;
    bool target = nvmf_target_running();
    for (struct lvol *lv = l->lvols; lv && x->n < l->n_lvols; lv = lv->next) {
        char shared[8];
        if (!lv->bdev || lvol_get_property(lv, LVOL_XATTR_SHARED, shared, sizeof(shared)) ||
            strcmp(shared, "true"))
            continue;
        if (!target) {
            log_warn("replica %s is marked shared, but the NVMe-oF target is not running",
                     lv->name);
            continue;
        }
        memcpy(x->uuids[x->n++], lv->uuid_str, 37);
    }
    reshare_next(x);
}

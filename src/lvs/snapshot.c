/* Snapshots and clones of replicas: creation, destruction, listing facts (behaviour §7). */
#include "snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/log.h"

/* ---- time text ---- */

void lvol_time_now(char buf[LVOL_TIME_LEN])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char date[40];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, LVOL_TIME_LEN, "%s.%09ld UTC", date, ts.tv_nsec);
}

int lvol_time_parse(const char *s, struct timespec *out)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -EINVAL;
    s += n;
    long nsec = 0;
    if (*s == '.') {
        int digits = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 9)
                nsec = nsec * 10 + (*s - '0');
        if (!digits)
            return -EINVAL;
        for (; digits < 9; digits++)
            nsec *= 10;
    }
    if (strcmp(s, " UTC") && strcmp(s, ""))
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    out->tv_sec = timegm(&tm);
    out->tv_nsec = nsec;
    return 0;
}

/* ---- lookups and facts ---- */

struct lvol *lvol_snapshot_lookup(const char *uuid)
{
    struct lvol *lv = uuid ? lvol_find_uuid(uuid) : NULL;
    return lv && lvol_is_snapshot(lv) ? lv : NULL;
}

size_t lvol_snapshot_clones(const struct lvol *snap, struct lvol **out, size_t max)
{
    size_t n = 0;
    char src[64];
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
        for (struct lvol *lv = l->lvols; lv; lv = lv->next)
            if (!lvol_get_property(lv, LVOL_XATTR_CLONE_SOURCE, src, sizeof(src)) &&
                !strcmp(src, snap->uuid_str)) {
                if (n < max)
                    out[n] = lv;
                n++;
            }
    return n;
}

void lvol_snapshot_info(const struct lvol *snap, struct lvol_snapshot_info *i)
{
    memset(i, 0, sizeof(*i));
    char v[8];
    const void *u;
    size_t ulen;
    i->valid = !lvol_get_property(snap, LVOL_XATTR_SNAP_TX_ID, i->txn_id, sizeof(i->txn_id));
    i->valid &= !lvol_get_property(snap, LVOL_XATTR_SNAP_ENTITY_ID, i->entity_id,
                                   sizeof(i->entity_id));
    i->valid &= !lvol_get_property(snap, LVOL_XATTR_SNAP_PARENT_ID, i->parent_id,
                                   sizeof(i->parent_id));
    i->valid &= !bs_blob_get_xattr(snap->blob, "uuid", &u, &ulen);
    i->valid &= !lvol_get_property(snap, LVOL_XATTR_SNAP_CREATE_TIME, i->create_time,
                                   sizeof(i->create_time));
    i->valid &= !lvol_get_property(snap, LVOL_XATTR_SNAP_DISCARDED, v, sizeof(v));
    i->discarded = lvol_is_discarded(snap);
    i->has_time = i->create_time[0] && !lvol_time_parse(i->create_time, &i->time);
    const struct lvol *src = i->parent_id[0] ? lvol_find_uuid(i->parent_id) : NULL;
    if (src && src != snap && !lvol_is_snapshot(src))
        memcpy(i->source_uuid, src->uuid_str, sizeof(i->source_uuid));
    struct lvol_usage us;
    lvol_get_usage(snap, &us);
    i->size = us.allocated_bytes;
    i->source_size = us.capacity_bytes;
    i->referenced_bytes = us.has_snapshot_from_clone ? us.allocated_bytes_snapshot_from_clone
                                                     : us.allocated_bytes_snapshots;
    i->num_clones = lvol_snapshot_clones(snap, NULL, 0);
}

/* ---- shared checks ---- */

/* Name and uuid of a new lvol: well formed and unused by any device or lvol. */
static int check_new(const char *what, const char *name, const char *uuid, char *err,
                     size_t errlen)
{
    uuid_t u;
    if (!name || !*name || strlen(name) >= LVS_NAME_MAX) {
        lvs_errf(err, errlen, "invalid %s name '%s': 1 to %d bytes", what, name ? name : "",
                 LVS_NAME_MAX - 1);
        return -EINVAL;
    }
    if (!uuid || uuid_parse(uuid, u)) {
        lvs_errf(err, errlen, "invalid %s uuid '%s'", what, uuid ? uuid : "");
        return -EINVAL;
    }
    if (bdev_lookup_uuid(u) || lvol_find_uuid(uuid)) {
        lvs_errf(err, errlen, "%s uuid %s is already in use", what, uuid);
        return -EEXIST;
    }
    if (bdev_lookup(name)) {
        lvs_errf(err, errlen, "%s name %s is already in use by a device", what, name);
        return -EEXIST;
    }
    return 0;
}

/* ---- create (snapshot or clone) ---- */

struct make_ctx {
    struct lvs *lvs;
    bool clone;
    char name[LVS_NAME_MAX];
    char from[LVS_NAME_MAX];
    lvol_cb cb;
    void *arg;
    int rc;
    char err[LVS_ERRMSG_LEN];
};

static void make_answer(struct make_ctx *c, struct lvol *lv)
{
    if (c->rc)
        log_error("%s", c->err);
    else
        log_info("created %s %s (%s) of %s in pool %s", c->clone ? "clone" : "snapshot", lv->name,
                 lv->uuid_str, c->from, c->lvs->name);
    c->cb(c->arg, c->rc, c->rc ? NULL : lv, c->rc ? c->err : NULL);
    free(c);
}

static void make_undone(void *arg, int rc)
{
    struct make_ctx *c = arg;
    if (rc)
        log_error("%s: cannot delete it again: %s", c->name, strerror(-rc));
    make_answer(c, NULL);
}

static void made(void *arg, int rc, bs_blob_id id)
{
    struct make_ctx *c = arg;
    const char *what = c->clone ? "clone" : "snapshot";
    if (rc) {
        c->rc = rc;
        lvs_errf(c->err, sizeof(c->err), "failed to create %s %s of %s: %s", what, c->name,
                 c->from, rc == -ENOSPC ? "not enough space" :
                 rc == -ENOMEM ? "out of metadata pages" : strerror(-rc));
        make_answer(c, NULL);
        return;
    }
    struct lvol *lv;
    rc = lvol_adopt(c->lvs, id, &lv);
    if (rc) {
        c->rc = rc;
        lvs_errf(c->err, sizeof(c->err), "failed to create %s %s: cannot register it: %s", what,
                 c->name, strerror(-rc));
        /* A snapshot has the replica as its clone now: it cannot go, it stays without a
         * device (listed by ListSnapshot, a device again at the next import). */
        if (lv && c->clone) {
            lvol_delete(lv, make_undone, c);
            return;
        }
        if (lv) {
            c->rc = 0;
            log_warn("%s", c->err);
        }
    }
    make_answer(c, lv);
}

static struct make_ctx *make_ctx(struct lvol *from, bool clone, const char *name, lvol_cb cb,
                                 void *arg)
{
    struct make_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        cb(arg, -ENOMEM, NULL, "out of memory");
        return NULL;
    }
    c->lvs = from->lvs;
    c->clone = clone;
    snprintf(c->name, sizeof(c->name), "%.63s", name ? name : "");
    snprintf(c->from, sizeof(c->from), "%s", from->name);
    c->cb = cb;
    c->arg = arg;
    return c;
}

static void make_fail(struct make_ctx *c, int rc)
{
    c->rc = rc;
    make_answer(c, NULL);
}

static void pad_name(char out[LVS_NAME_MAX], const char *name)
{
    memset(out, 0, LVS_NAME_MAX);
    memcpy(out, name, strlen(name));
}

void lvol_snapshot_create(struct lvol *src, const struct lvol_snapshot_args *a, lvol_cb cb,
                          void *arg)
{
    struct make_ctx *c = make_ctx(src, false, a->name, cb, arg);
    if (!c)
        return;
    int rc = check_new("snapshot", a->name, a->uuid, c->err, sizeof(c->err));
    if (!rc && (lvol_is_snapshot(src) || bs_blob_is_read_only(src->blob))) {
        rc = -EPERM;
        lvs_errf(c->err, sizeof(c->err), "cannot snapshot %s: it is read-only (a snapshot)",
                 src->name);
    }
    if (rc) {
        make_fail(c, rc);
        return;
    }
    char name64[LVS_NAME_MAX], uuid_text[37], now[LVOL_TIME_LEN];
    pad_name(name64, a->name);
    uuid_t u;
    uuid_parse(a->uuid, u);
    uuid_unparse_lower(u, uuid_text);
    const char *when = a->create_time ? a->create_time : (lvol_time_now(now), now);
    const char *tx = a->txn_id ? a->txn_id : "", *ent = a->entity_id ? a->entity_id : "";
    /* Order and encodings of docs/on-disk-format.md §10 (io-engine values without NUL). */
    const struct bs_xattr x[] = {
        {"name", name64, LVS_NAME_MAX},
        {"uuid", uuid_text, 37},
        {LVOL_XATTR_SNAP_TX_ID, tx, strlen(tx)},
        {LVOL_XATTR_SNAP_ENTITY_ID, ent, strlen(ent)},
        {LVOL_XATTR_SNAP_PARENT_ID, src->uuid_str, 36},
        {LVOL_XATTR_SNAP_CREATE_TIME, when, strlen(when)},
        {LVOL_XATTR_SNAP_DISCARDED, "false", 5},
    };
    bs_blob_snapshot(src->lvs->bs, src->id, x, sizeof(x) / sizeof(x[0]), made, c);
}

void lvol_clone_create(struct lvol *snap, const char *name, const char *uuid, lvol_cb cb,
                       void *arg)
{
    struct make_ctx *c = make_ctx(snap, true, name, cb, arg);
    if (!c)
        return;
    int rc = check_new("clone", name, uuid, c->err, sizeof(c->err));
    if (!rc && (!lvol_is_snapshot(snap) || lvol_is_discarded(snap))) {
        rc = -ENOENT;
        lvs_errf(c->err, sizeof(c->err), "snapshot %s not found%s", snap->uuid_str,
                 lvol_is_snapshot(snap) ? " (it is discarded)" : "");
    }
    if (rc) {
        make_fail(c, rc);
        return;
    }
    char name64[LVS_NAME_MAX], uuid_text[37], now[LVOL_TIME_LEN];
    pad_name(name64, name);
    uuid_t u;
    uuid_parse(uuid, u);
    uuid_unparse_lower(u, uuid_text);
    lvol_time_now(now);
    const struct bs_xattr x[] = {
        {"name", name64, LVS_NAME_MAX},
        {"uuid", uuid_text, 37},
        {LVOL_XATTR_CLONE_SOURCE, snap->uuid_str, 36},
        {LVOL_XATTR_CLONE_CREATE_TIME, now, strlen(now)},
    };
    bs_blob_clone(snap->lvs->bs, snap->id, x, sizeof(x) / sizeof(x[0]), made, c);
}

/* ---- destroy ---- */

struct sdestroy_ctx {
    char name[LVS_NAME_MAX];
    lvs_done_cb cb;
    void *arg;
};

static void discarded_synced(void *arg, int rc)
{
    struct sdestroy_ctx *d = arg;
    char e[LVS_ERRMSG_LEN];
    if (rc) {
        lvs_errf(e, sizeof(e), "failed to mark snapshot %s discarded: %s", d->name,
                 strerror(-rc));
        log_error("%s", e);
    } else {
        log_info("snapshot %s marked discarded (it goes with its last dependant)", d->name);
    }
    d->cb(d->arg, rc, rc ? e : NULL);
    free(d);
}

void lvol_snapshot_destroy(struct lvol *snap, bool *deleted, lvs_done_cb cb, void *arg)
{
    *deleted = false;
    /* No io-engine clones: deleted. A remaining dependant that is the replica itself (or a
     * later snapshot of it) gets the snapshot's clusters (blobstore merge, format §7.4). */
    if (lvol_snapshot_deletable(snap)) {
        *deleted = true;
        lvol_destroy(snap, cb, arg); /* also takes discarded ancestors along */
        return;
    }
    struct sdestroy_ctx *d = calloc(1, sizeof(*d));
    if (!d) {
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    snprintf(d->name, sizeof(d->name), "%s", snap->name);
    d->cb = cb;
    d->arg = arg;
    if (lvol_is_discarded(snap)) {
        discarded_synced(d, 0); /* already: nothing to write */
        return;
    }
    int rc = bs_blob_set_xattr(snap->blob, LVOL_XATTR_SNAP_DISCARDED, "true", 4);
    if (rc) {
        discarded_synced(d, rc);
        return;
    }
    bs_blob_sync_md(snap->blob, discarded_synced, d);
}

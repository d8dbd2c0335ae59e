/* Logical volumes: the lvol block-device backend, replica create/destroy/resize, the
 * persistent properties and what the control surfaces report (behaviour §4). */
#include "lvol.h"
#include "lvol_share.h"
#include "nvmf/nvmf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/env.h"
#include "core/log.h"
#include "snapshot.h"

/* ---- the block-device backend ----
 *
 * The blobstore takes a struct bdev_io of its own per request (it fills every field), so
 * each lvol I/O borrows one from its channel's free list and completes the device-layer
 * I/O from that one's callback (always on the submitting reactor). */

struct lvol_bio {
    struct bdev_io bio; /* first: its alignment */
    struct bdev_io *outer;
    struct lvol_chan *ch;
    bool submitting;
    struct lvol_bio *next;
};

struct lvol_chan {
    struct lvol_bio *free;
};

static int lvol_channel_create(struct bdev *b, void **ctx)
{
    (void)b;
    struct lvol_chan *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    *ctx = ch;
    return 0;
}

static void lvol_channel_destroy(struct bdev *b, void *ctx)
{
    (void)b;
    struct lvol_chan *ch = ctx;
    while (ch->free) {
        struct lvol_bio *x = ch->free;
        ch->free = x->next;
        free(x);
    }
    free(ch);
}

static void lvol_io_done(struct bdev_io *inner, int status, void *arg)
{
    (void)inner;
    struct lvol_bio *x = arg;
    struct bdev_io *outer = x->outer;
    bool sync = x->submitting;
    x->next = x->ch->free;
    x->ch->free = x;
    /* Completed from inside the blobstore call: not from inside our submit. */
    if (sync)
        bdev_io_complete_deferred(outer, status);
    else
        bdev_io_complete(outer, status);
}

static void lvol_submit(struct bdev *b, void *ctx, struct bdev_io *io)
{
    struct lvol *lv = b->ctx;
    struct lvol_chan *ch = ctx;
    if (io->type == BDEV_IO_RESET) {
        bdev_io_complete_deferred(io, 0);
        return;
    }
    struct lvol_bio *x = ch->free;
    if (x)
        ch->free = x->next;
    else if (!(x = aligned_alloc(_Alignof(struct lvol_bio), sizeof(*x)))) {
        bdev_io_complete_deferred(io, -ENOMEM);
        return;
    }
    memset(x, 0, sizeof(*x));
    x->outer = io;
    x->ch = ch;
    x->submitting = true;
    switch (io->type) {
    case BDEV_IO_READ:
        bs_blob_readv(lv->blob, &x->bio, io->iov, io->iovcnt, io->offset_blocks, io->num_blocks,
                      lvol_io_done, x);
        break;
    case BDEV_IO_WRITE:
        bs_blob_writev(lv->blob, &x->bio, io->iov, io->iovcnt, io->offset_blocks,
                       io->num_blocks, lvol_io_done, x);
        break;
    case BDEV_IO_WRITE_ZEROES:
        bs_blob_write_zeroes(lv->blob, &x->bio, io->offset_blocks, io->num_blocks, lvol_io_done,
                             x);
        break;
    case BDEV_IO_UNMAP:
        bs_blob_unmap(lv->blob, &x->bio, io->offset_blocks, io->num_blocks, lvol_io_done, x);
        break;
    case BDEV_IO_FLUSH:
        bs_blob_flush(lv->blob, &x->bio, lvol_io_done, x);
        break;
    default:
        x->next = ch->free;
        ch->free = x;
        bdev_io_complete_deferred(io, -ENOTSUP);
        return;
    }
    /* x is ours even once completed (it sits on the free list): no use after free. */
    x->submitting = false;
}

static bool lvol_supports(const struct bdev *b, enum bdev_io_type t)
{
    (void)b;
    return t == BDEV_IO_UNMAP || t == BDEV_IO_WRITE_ZEROES || t == BDEV_IO_FLUSH;
}

static void lvol_dump_info(const struct bdev *b, json_t *o)
{
    const struct lvol *lv = b->ctx;
    json_object_set_new(o, "lvol_store_uuid", json_string(lv->lvs->uuid_str));
    json_object_set_new(o, "base_bdev", json_string(lv->lvs->base->name));
    json_object_set_new(o, "thin_provision", json_boolean(lvol_is_thin(lv)));
    json_object_set_new(o, "num_allocated_clusters",
                        json_integer((json_int_t)bs_blob_num_allocated_clusters(lv->blob)));
    json_object_set_new(o, "snapshot", json_boolean(bs_blob_is_snapshot(lv->blob)));
    json_object_set_new(o, "clone", json_boolean(bs_blob_parent(lv->blob) != BS_INVALID_ID));
    json_object_set_new(o, "esnap_clone", json_false());
}

static const struct bdev_ops lvol_ops = {
    .driver = LVOL_DRIVER,
    .channel_create = lvol_channel_create,
    .channel_destroy = lvol_channel_destroy,
    .submit = lvol_submit,
    .supports = lvol_supports,
    .dump_info = lvol_dump_info,
};

static int lvol_register(struct lvol *lv)
{
    struct bdev *b = bdev_alloc(lv->name, LVOL_PRODUCT, &lvol_ops);
    if (!b)
        return -ENOMEM;
    b->ctx = lv;
    uuid_copy(b->uuid, lv->uuid);
    b->blk_size = bs_io_unit_size(lv->lvs->bs);
    b->num_blocks = bs_blob_num_io_units(lv->blob);
    b->required_alignment = lv->lvs->base->required_alignment;
    char alias[2 * LVS_NAME_MAX];
    snprintf(alias, sizeof(alias), "%s/%s", lv->lvs->name, lv->name);
    int rc = bdev_add_alias(b, alias);
    if (!rc)
        rc = bdev_register(b);
    if (rc) {
        bdev_free(b);
        return rc;
    }
    lv->bdev = b;
    return 0;
}

/* ---- lists ---- */

static void list_append(struct lvs *lvs, struct lvol *lv)
{
    struct lvol **pp = &lvs->lvols;
    while (*pp)
        pp = &(*pp)->next;
    lv->next = NULL;
    *pp = lv;
    lvs->n_lvols++;
}

static void list_remove(struct lvol *lv)
{
    for (struct lvol **pp = &lv->lvs->lvols; *pp; pp = &(*pp)->next)
        if (*pp == lv) {
            *pp = lv->next;
            lv->lvs->n_lvols--;
            return;
        }
}

static void lvol_free(struct lvol *lv)
{
    for (size_t i = 0; i < lv->n_allowed_hosts; i++)
        free(lv->allowed_hosts[i]);
    free(lv->allowed_hosts);
    free(lv);
}

struct lvol *lvol_first_in(const struct lvs *lvs) { return lvs->lvols; }

struct lvol *lvol_from_bdev(const struct bdev *b)
{
    return b && b->ops == &lvol_ops ? b->ctx : NULL;
}

struct lvol *lvol_lookup_name(const char *name)
{
    return lvol_from_bdev(bdev_lookup(name));
}

int lvol_lookup_uuid(const char *uuid, struct lvol **out)
{
    uuid_t u;
    *out = NULL;
    if (!uuid || uuid_parse(uuid, u))
        return -EINVAL;
    struct bdev *b = bdev_lookup_uuid(u);
    if (!b)
        return -ENOENT;
    if (b->ops != &lvol_ops)
        return -ENOTTY;
    *out = b->ctx;
    return 0;
}

/* An lvol of any pool by its uuid text (not only registered ones). Exported for
 * snapshot.c as lvol_find_uuid. */
struct lvol *lvol_find_uuid(const char *uuid)
{
    uuid_t u;
    if (uuid_parse(uuid, u))
        return NULL;
    for (struct lvs *l = lvs_first(); l; l = lvs_next(l))
        for (struct lvol *lv = l->lvols; lv; lv = lv->next)
            if (!uuid_compare(lv->uuid, u))
                return lv;
    return NULL;
}

struct lvol *lvol_lookup_blob(const struct lvs *lvs, bs_blob_id id)
{
    for (struct lvol *lv = lvs->lvols; lv; lv = lv->next)
        if (lv->id == id)
            return lv;
    return NULL;
}

/* ---- facts ---- */

bool lvol_snapshot_deletable(const struct lvol *lv)
{
    bs_blob_id ids[2];
    size_t n = bs_blob_clones(lv->blob, ids, 2);
    /* one blob clone that is not an io-engine clone (the source replica, or a later
     * snapshot of it): the blobstore merges the snapshot into it (§7.4 of the format) */
    return n == 0 || (n == 1 && lvol_is_snapshot(lv) && lvol_snapshot_clones(lv, NULL, 0) == 0);
}

uint64_t lvol_size(const struct lvol *lv)
{
    return bs_blob_num_io_units(lv->blob) * bs_io_unit_size(lv->lvs->bs);
}

uint64_t lvol_num_clusters(const struct lvol *lv) { return bs_blob_num_clusters(lv->blob); }
bool lvol_is_thin(const struct lvol *lv) { return bs_blob_is_thin(lv->blob); }

static bool has_xattr(const struct lvol *lv, const char *name)
{
    const void *v;
    size_t len;
    return bs_blob_get_xattr(lv->blob, name, &v, &len) == 0;
}

int lvol_get_property(const struct lvol *lv, const char *xattr, char *buf, size_t len)
{
    const void *v;
    size_t n;
    if (bs_blob_get_xattr(lv->blob, xattr, &v, &n))
        return -ENOENT;
    /* Readers strip trailing NULs (§10): values are written with or without one. */
    while (n && !((const char *)v)[n - 1])
        n--;
    if (n + 1 > len)
        return -ENOBUFS;
    memcpy(buf, v, n);
    buf[n] = 0;
    /* A NUL inside ends the value, as the io-engine reads it as a C string. */
    return 0;
}

bool lvol_is_snapshot(const struct lvol *lv)
{
    return has_xattr(lv, LVOL_XATTR_SNAP_CREATE_TIME);
}

static struct lvol *clone_source(const struct lvol *lv)
{
    char src[64];
    if (lvol_get_property(lv, LVOL_XATTR_CLONE_SOURCE, src, sizeof(src)))
        return NULL;
    return lvol_find_uuid(src);
}

bool lvol_is_clone(const struct lvol *lv) { return clone_source(lv) != NULL; }

bool lvol_is_discarded(const struct lvol *lv)
{
    char v[8];
    return !lvol_get_property(lv, LVOL_XATTR_SNAP_DISCARDED, v, sizeof(v)) && !strcmp(v, "true");
}

uint64_t lvol_committed(const struct lvol *lv)
{
    if (lvol_is_snapshot(lv))
        return bs_blob_num_allocated_clusters(lv->blob) * bs_cluster_size(lv->lvs->bs);
    return lvol_size(lv);
}

void lvol_get_usage(const struct lvol *lv, struct lvol_usage *u)
{
    struct bs *bs = lv->lvs->bs;
    uint64_t cs = bs_cluster_size(bs);
    memset(u, 0, sizeof(*u));
    u->capacity_bytes = lvol_size(lv);
    u->cluster_size = cs;
    u->num_clusters = bs_blob_num_clusters(lv->blob);
    u->num_allocated_clusters = bs_blob_num_allocated_clusters(lv->blob);
    u->allocated_bytes = u->num_allocated_clusters * cs;
    /* Clusters held by the ancestors (the snapshots this lvol reads through). */
    const struct lvol *src = clone_source(lv);
    bs_blob_id stop = src ? src->id : BS_INVALID_ID;
    bool below_source = src != NULL;
    uint64_t from_clone = 0;
    size_t guard = 0;
    for (bs_blob_id p = bs_blob_parent(lv->blob); p != BS_INVALID_ID && guard < 100000; guard++) {
        struct bs_blob *pb = bs_blob_lookup(bs, p);
        if (!pb)
            break;
        uint64_t n = bs_blob_num_allocated_clusters(pb);
        u->num_allocated_clusters_snapshots += n;
        if (p == stop)
            below_source = false;
        if (below_source)
            from_clone += n;
        p = bs_blob_parent(pb);
    }
    u->allocated_bytes_snapshots = u->num_allocated_clusters_snapshots * cs;
    if (src) {
        /* Snapshots taken of this clone, up to the snapshot it was cloned from. */
        u->has_snapshot_from_clone = true;
        u->allocated_bytes_snapshot_from_clone = from_clone * cs;
    }
}

char *lvol_share_uri(const struct lvol *lv)
{
    char *s;
    if (lv->bdev && lv->bdev->shared_uri)
        return strdup(lv->bdev->shared_uri);
    if (asprintf(&s, "bdev:///%s?uuid=%s", lv->name, lv->uuid_str) < 0)
        return NULL;
    return s;
}

/* ---- load / unload (for lvs.c) ---- */

int lvol_check_blobs(struct bs *bs, bs_blob_id super, char *err, size_t errlen)
{
    for (struct bs_blob *b = bs_blob_first(bs); b; b = bs_blob_next(b)) {
        if (bs_blob_get_id(b) == super)
            continue;
        const void *v;
        size_t len;
        if (bs_blob_get_xattr(b, "name", &v, &len)) {
            lvs_errf(err, errlen, "blob 0x%" PRIx64 " has no name", bs_blob_get_id(b));
            return -EINVAL;
        }
        if (len > LVS_NAME_MAX) {
            lvs_errf(err, errlen, "blob 0x%" PRIx64 " has a name of %zu bytes", bs_blob_get_id(b),
                     len);
            return -EINVAL;
        }
    }
    return 0;
}

static struct lvol *lvol_from_blob(struct lvs *lvs, struct bs_blob *b)
{
    struct lvol *lv = calloc(1, sizeof(*lv));
    if (!lv)
        return NULL;
    lv->lvs = lvs;
    lv->blob = b;
    lv->id = bs_blob_get_id(b);
    const void *v;
    size_t len;
    if (!bs_blob_get_xattr(b, "name", &v, &len)) {
        size_t n = strnlen(v, len);
        if (n >= LVS_NAME_MAX)
            n = LVS_NAME_MAX - 1;
        memcpy(lv->name, v, n);
        lv->name[n] = 0;
    }
    /* A bad uuid is not fatal: the lvol gets the all-zero uuid (§8.3). */
    uuid_clear(lv->uuid);
    if (!bs_blob_get_xattr(b, "uuid", &v, &len) && len == 37 && !((const char *)v)[36]) {
        char text[37];
        memcpy(text, v, 37);
        if (uuid_parse(text, lv->uuid))
            uuid_clear(lv->uuid);
    }
    uuid_unparse_lower(lv->uuid, lv->uuid_str);
    return lv;
}

int lvol_load_all(struct lvs *lvs)
{
    for (struct bs_blob *b = bs_blob_first(lvs->bs); b; b = bs_blob_next(b)) {
        if (bs_blob_get_id(b) == lvs->super_id)
            continue;
        struct lvol *lv = lvol_from_blob(lvs, b);
        if (!lv) {
            while (lvs->lvols) {
                struct lvol *x = lvs->lvols;
                lvs->lvols = x->next;
                lvol_free(x); /* nothing registered yet */
            }
            lvs->n_lvols = 0;
            return -ENOMEM;
        }
        list_append(lvs, lv);
    }
    /* Devices after the whole list is built (clone/snapshot facts look across it). */
    for (struct lvol *lv = lvs->lvols; lv; lv = lv->next) {
        int rc = lvol_register(lv);
        if (rc)
            log_error("pool %s: lvol %s (%s) has no block device: %s", lvs->name, lv->name,
                      lv->uuid_str,
                      rc == -EEXIST ? "its name or uuid is used by another device" : strerror(-rc));
    }
    return 0;
}

size_t lvol_open_count(const struct lvs *lvs)
{
    size_t n = 0;
    for (const struct lvol *lv = lvs->lvols; lv; lv = lv->next)
        n += lv->bdev && lv->bdev->open_count;
    return n;
}

struct unload_ctx {
    struct lvs *lvs;
    struct lvol *cur;
    void (*done)(void *, int);
    void *arg;
};

static void unload_next(struct unload_ctx *u);

static void unload_unshared(void *arg, int rc, const char *errmsg)
{
    struct unload_ctx *u = arg;
    if (rc) {
        log_error("pool %s: cannot stop sharing lvol %s: %s", u->lvs->name, u->cur->name,
                  errmsg ? errmsg : strerror(-rc));
        u->done(u->arg, rc);
        free(u);
        return;
    }
    unload_next(u);
}

static void unload_unregistered(void *arg, int rc)
{
    struct unload_ctx *u = arg;
    (void)rc;
    struct lvol *lv = u->cur;
    lv->bdev = NULL;
    list_remove(lv);
    lvol_free(lv);
    unload_next(u);
}

static void unload_next(struct unload_ctx *u)
{
    struct lvol *lv = u->lvs->lvols;
    while (lv && !lv->bdev) {
        struct lvol *next = lv->next;
        list_remove(lv);
        lvol_free(lv);
        lv = next;
    }
    if (!lv) {
        u->done(u->arg, 0);
        free(u);
        return;
    }
    u->cur = lv;
    if (lvol_is_shared(lv)) {
        lvol_stop_sharing(lv, unload_unshared, u);
        return;
    }
    int rc = bdev_unregister(lv->bdev, unload_unregistered, u);
    if (rc) {
        log_error("pool %s: cannot remove the device of lvol %s: %s", u->lvs->name, lv->name,
                  strerror(-rc));
        u->done(u->arg, rc);
        free(u);
    }
}

void lvol_unload_all(struct lvs *lvs, void (*done)(void *arg, int rc), void *arg)
{
    struct unload_ctx *u = calloc(1, sizeof(*u));
    if (!u) {
        done(arg, -ENOMEM);
        return;
    }
    u->lvs = lvs;
    u->done = done;
    u->arg = arg;
    unload_next(u);
}

/* ---- for snapshot.c: a blob just made by a snapshot or clone becomes an lvol ---- */

int lvol_adopt(struct lvs *lvs, bs_blob_id id, struct lvol **out)
{
    struct bs_blob *b = bs_blob_lookup(lvs->bs, id);
    struct lvol *lv = b ? lvol_from_blob(lvs, b) : NULL;
    *out = NULL;
    if (!lv)
        return b ? -ENOMEM : -EIO;
    list_append(lvs, lv);
    *out = lv;
    return lvol_register(lv); /* on failure the caller deletes it (lvol_delete) */
}

/* ---- delete one lvol (device, then blob) ---- */

struct del_ctx {
    struct lvol *lv;
    void (*done)(void *arg, int rc);
    void *arg;
};

static void del_finish(struct del_ctx *d, int rc)
{
    d->done(d->arg, rc);
    free(d);
}

static void del_blob_done(void *arg, int rc)
{
    struct del_ctx *d = arg;
    struct lvol *lv = d->lv;
    if (rc) {
        /* The blob stays: give it its device back. */
        int r2 = lvol_register(lv);
        if (r2)
            log_error("lvol %s: cannot re-register its device: %s", lv->name, strerror(-r2));
        del_finish(d, rc);
        return;
    }
    list_remove(lv);
    lvol_free(lv);
    del_finish(d, 0);
}

static void del_unregistered(void *arg, int rc)
{
    (void)rc;
    struct del_ctx *d = arg;
    d->lv->bdev = NULL;
    bs_blob_delete(d->lv->lvs->bs, d->lv->id, del_blob_done, d);
}

void lvol_delete(struct lvol *lv, void (*done)(void *arg, int rc), void *arg)
{
    if (lv->bdev && lv->bdev->open_count) {
        done(arg, -EBUSY);
        return;
    }
    if (!lvol_snapshot_deletable(lv)) {
        done(arg, -EBUSY);
        return;
    }
    struct del_ctx *d = calloc(1, sizeof(*d));
    if (!d) {
        done(arg, -ENOMEM);
        return;
    }
    d->lv = lv;
    d->done = done;
    d->arg = arg;
    if (lv->bdev) {
        int rc = bdev_unregister(lv->bdev, del_unregistered, d);
        if (rc) {
            free(d);
            done(arg, rc);
        }
        return;
    }
    bs_blob_delete(lv->lvs->bs, lv->id, del_blob_done, d);
}

/* ---- destroy (DestroyReplica) ---- */

struct destroy_ctx {
    struct lvs *lvs;
    char name[LVS_NAME_MAX];
    char uuid[37];
    char pool_uuid[37];
    char snap_uuid[37]; /* the discarded-snapshot candidate, "" if none: the lvol's
                         * blob parent (a snapshot of it, or the snapshot it is a clone of) */
    char next_uuid[37]; /* the candidate after it (its own blob parent) */
    lvs_done_cb cb;
    void *arg;
};

static void destroy_answer(struct destroy_ctx *x, int rc, const char *what)
{
    char e[LVS_ERRMSG_LEN];
    if (rc) {
        lvs_errf(e, sizeof(e), "failed to destroy lvol %s: %s", x->name,
                 what ? what : strerror(-rc));
        log_error("%s", e);
    } else {
        log_info("destroyed lvol %s (%s)", x->name, x->uuid);
    }
    x->cb(x->arg, rc, rc ? e : NULL);
    free(x);
}

/* lv's blob parent (a snapshot of it, or the snapshot it is a clone of) into out. */
static void parent_uuid(const struct lvol *lv, char out[37])
{
    bs_blob_id p = bs_blob_parent(lv->blob);
    const struct lvol *s = p == BS_INVALID_ID ? NULL : lvol_lookup_blob(lv->lvs, p);
    if (s)
        memcpy(out, s->uuid_str, 37);
    else
        out[0] = 0;
}

static void purge_candidate(struct destroy_ctx *x);

static void snapshot_purged(void *arg, int rc)
{
    struct destroy_ctx *x = arg;
    if (rc) {
        log_warn("cannot delete discarded snapshot %s: %s", x->snap_uuid, strerror(-rc));
        destroy_answer(x, 0, NULL);
        return;
    }
    log_info("deleted discarded snapshot %s (its last clone is gone)", x->snap_uuid);
    memcpy(x->snap_uuid, x->next_uuid, sizeof(x->snap_uuid));
    purge_candidate(x);
}

/* Deletes the candidate if it is a discarded snapshot with no io-engine clones left, then
 * its own parent likewise (a chain of discarded snapshots goes with its last dependant).
 * A remaining single dependant that is not a clone (its replica, or a later snapshot of
 * it) takes the snapshot's clusters: the blobstore merges the snapshot into it. */
static void purge_candidate(struct destroy_ctx *x)
{
    struct lvol *snap = x->snap_uuid[0] ? lvol_find_uuid(x->snap_uuid) : NULL;
    if (snap && lvol_is_snapshot(snap) && lvol_is_discarded(snap) &&
        lvol_snapshot_deletable(snap)) {
        parent_uuid(snap, x->next_uuid);
        lvol_delete(snap, snapshot_purged, x);
        return;
    }
    destroy_answer(x, 0, NULL);
}

static void remove_replica_ptpl(const char *pool_uuid, const char *uuid)
{
    if (!g_env.args.ptpl_dir[0])
        return;
    char path[4300];
    snprintf(path, sizeof(path), "%s/pool/%s/replica/%s.json", g_env.args.ptpl_dir, pool_uuid,
             uuid);
    if (unlink(path) && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
}

static void destroy_deleted(void *arg, int rc)
{
    struct destroy_ctx *x = arg;
    if (rc) {
        destroy_answer(x, rc, rc == -EBUSY ? "it is in use" : NULL);
        return;
    }
    remove_replica_ptpl(x->pool_uuid, x->uuid);
    purge_candidate(x);
}

static void destroy_unshared(void *arg, int rc, const char *errmsg)
{
    struct destroy_ctx *x = arg;
    struct lvol *lv = lvol_lookup_name(x->name);
    if (rc || !lv) {
        destroy_answer(x, rc ? rc : -ENOENT, errmsg);
        return;
    }
    lvol_delete(lv, destroy_deleted, x);
}

void lvol_destroy(struct lvol *lv, lvs_done_cb cb, void *arg)
{
    struct destroy_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    x->lvs = lv->lvs;
    x->cb = cb;
    x->arg = arg;
    snprintf(x->name, sizeof(x->name), "%s", lv->name);
    memcpy(x->uuid, lv->uuid_str, sizeof(x->uuid));
    memcpy(x->pool_uuid, lv->lvs->uuid_str, sizeof(x->pool_uuid));
    parent_uuid(lv, x->snap_uuid);
    /* Always unshared first (upstream destroys shared replicas too). */
    lvol_unshare(lv, destroy_unshared, x);
}

/* ---- create ---- */

struct create_ctx {
    struct lvs *lvs;
    char name[LVS_NAME_MAX];
    uuid_t uuid;
    char *entity_id;
    uint64_t clusters;
    bool thin;
    enum bs_clear_method clear;
    struct lvol *lv;
    struct bdev_desc *desc;
    struct bdev_io io;
    lvol_cb cb;
    void *arg;
    int rc;
    char err[LVS_ERRMSG_LEN];
};

static void create_finish(struct create_ctx *c)
{
    if (c->rc)
        log_error("%s", c->err);
    else
        log_info("created lvol %s (%s) in pool %s: %" PRIu64 " bytes%s", c->lv->name,
                 c->lv->uuid_str, c->lvs->name, lvol_size(c->lv), c->thin ? ", thin" : "");
    c->cb(c->arg, c->rc, c->rc ? NULL : c->lv, c->rc ? c->err : NULL);
    free(c->entity_id);
    free(c);
}

static void create_undone(void *arg, int rc)
{
    struct create_ctx *c = arg;
    if (rc)
        log_error("lvol %s: cannot delete it after a failed creation: %s", c->name, strerror(-rc));
    create_finish(c);
}

static void wiped(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct create_ctx *c = arg;
    bdev_close(c->desc);
    c->desc = NULL;
    if (status) {
        /* No space (-ENOSPC, or -ENOMEM: no metadata pages) stays what it is. */
        c->rc = status == -ENOSPC || status == -ENOMEM ? status : -EIO;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: cannot zero its first %llu "
                 "bytes: %s", c->name, LVOL_WIPE_LEN,
                 status == -ENOMEM ? "out of metadata pages" : strerror(-status));
        lvol_delete(c->lv, create_undone, c);
        return;
    }
    create_finish(c);
}

static void created(void *arg, int rc, bs_blob_id id)
{
    struct create_ctx *c = arg;
    if (rc) {
        c->rc = rc;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s in pool %s: %s", c->name,
                 c->lvs->name, rc == -ENOSPC ? "not enough space" :
                 rc == -ENOMEM ? "out of metadata pages" : strerror(-rc));
        create_finish(c);
        return;
    }
    struct bs_blob *b = bs_blob_lookup(c->lvs->bs, id);
    struct lvol *lv = b ? lvol_from_blob(c->lvs, b) : NULL;
    if (!lv) {
        c->rc = b ? -ENOMEM : -EIO;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: the new blob is missing",
                 c->name);
        if (b)
            bs_blob_delete(c->lvs->bs, id, create_undone, c);
        else
            create_finish(c);
        return;
    }
    list_append(c->lvs, lv);
    c->lv = lv;
    rc = lvol_register(lv);
    if (rc) {
        c->rc = rc;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: cannot register its device: %s",
                 c->name, rc == -EEXIST ? "the name or uuid is taken" : strerror(-rc));
        lvol_delete(lv, create_undone, c);
        return;
    }
    if (c->clear == BS_CLEAR_UNMAP) {
        create_finish(c);
        return;
    }
    /* No UNMAP on the disk: zero the start so no stale data (a partition table, a file
     * system) shows through (§4). */
    uint64_t len = lvol_size(lv) < LVOL_WIPE_LEN ? lvol_size(lv) : LVOL_WIPE_LEN;
    struct bdev_channel *ch = NULL;
    rc = bdev_open_bdev(lv->bdev, &c->desc);
    if (!rc && !(ch = bdev_get_channel(c->desc)))
        rc = -ENOMEM;
    if (rc || !len) {
        if (c->desc)
            bdev_close(c->desc);
        c->desc = NULL;
        if (!rc) {
            create_finish(c);
            return;
        }
        c->rc = rc;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: cannot open it: %s", c->name,
                 strerror(-rc));
        lvol_delete(lv, create_undone, c);
        return;
    }
    bdev_write_zeroes(ch, &c->io, 0, len / lv->bdev->blk_size, wiped, c);
}

void lvol_create(struct lvs *lvs, const struct lvol_create_args *a, lvol_cb cb, void *arg)
{
    struct create_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        cb(arg, -ENOMEM, NULL, "out of memory");
        return;
    }
    c->lvs = lvs;
    c->cb = cb;
    c->arg = arg;
    c->thin = a->thin;
    snprintf(c->name, sizeof(c->name), "%.63s", a->name ? a->name : "");
    const char *name = a->name ? a->name : "";
    bool has_uuid = a->uuid && *a->uuid;
    uuid_t u;
    int rc = 0;
    if (!*name || strlen(name) >= LVS_NAME_MAX) {
        rc = -EINVAL;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol '%s': the name must have 1 to %d "
                 "bytes", name, LVS_NAME_MAX - 1);
    } else if (has_uuid && !uuid_parse(a->uuid, u) && bdev_lookup_uuid(u)) {
        rc = -EEXIST;
        lvs_errf(c->err, sizeof(c->err), "lvol exists: a device with uuid %s exists", a->uuid);
    } else if (bdev_lookup(name)) {
        rc = -EEXIST;
        lvs_errf(c->err, sizeof(c->err), "lvol exists: a device named %s exists", name);
    } else if (has_uuid && uuid_parse(a->uuid, u)) {
        rc = -EINVAL;
        lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: invalid uuid '%s'", name,
                 a->uuid);
    }
    if (!rc) {
        c->clear = bdev_io_type_supported(lvs->base, BDEV_IO_UNMAP) ? BS_CLEAR_UNMAP
                                                                     : BS_CLEAR_NONE;
        if (c->clear != BS_CLEAR_UNMAP && LVOL_WIPE_LEN > lvs_available(lvs)) {
            rc = -ENOSPC;
            lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: not enough space (the "
                     "first %llu bytes must be zeroed)", name, LVOL_WIPE_LEN);
        } else if (a->size > lvs_capacity(lvs)) {
            rc = -EOVERFLOW;
            lvs_errf(c->err, sizeof(c->err), "failed to create lvol %s: capacity overflow: %" PRIu64
                     " bytes requested, the pool has %" PRIu64, name, a->size, lvs_capacity(lvs));
        }
    }
    if (!rc && a->entity_id && !(c->entity_id = strdup(a->entity_id)))
        rc = -ENOMEM;
    if (rc) {
        c->rc = rc;
        create_finish(c);
        return;
    }
    if (has_uuid)
        uuid_copy(c->uuid, u);
    else
        uuid_generate_random(c->uuid);
    uint64_t cs = lvs_cluster_size(lvs);
    c->clusters = (a->size + cs - 1) / cs;

    /* xattrs: name (NUL-padded to 64 bytes), uuid (36 + NUL), then entity_id (+ NUL), §8.3. */
    char name64[LVS_NAME_MAX] = {0};
    memcpy(name64, name, strlen(name));
    char uuid_text[37];
    uuid_unparse_lower(c->uuid, uuid_text);
    struct bs_xattr x[3] = {
        {"name", name64, LVS_NAME_MAX},
        {"uuid", uuid_text, 37},
        {LVOL_XATTR_ENTITY_ID, c->entity_id, c->entity_id ? strlen(c->entity_id) + 1 : 0},
    };
    struct bs_blob_opts o = {
        .num_clusters = c->clusters,
        .thin = a->thin,
        .clear_method = c->clear,
        .xattrs = x,
        .n_xattrs = c->entity_id ? 3 : 2,
    };
    bs_blob_create(lvs->bs, &o, created, c);
}

/* ---- resize ---- */

struct resize_ctx {
    struct lvol *lv;
    uint64_t size;
    lvs_done_cb cb;
    void *arg;
};

static void resized(void *arg, int rc)
{
    struct resize_ctx *r = arg;
    struct lvol *lv = r->lv;
    lv->busy = false;
    char e[LVS_ERRMSG_LEN];
    if (!rc) {
        if (lv->bdev)
            lv->bdev->num_blocks = bs_blob_num_io_units(lv->blob);
        log_info("resized lvol %s to %" PRIu64 " bytes", lv->name, lvol_size(lv));
        nvmf_bdev_resized(lv->name); /* hosts of a shared replica are told */
    } else {
        lvs_errf(e, sizeof(e), "failed to resize lvol %s to %" PRIu64 " bytes: %s", lv->name,
                 r->size, rc == -ENOSPC ? "not enough space" : strerror(-rc));
        log_error("%s", e);
    }
    r->cb(r->arg, rc, rc ? e : NULL);
    free(r);
}

void lvol_resize(struct lvol *lv, uint64_t size, lvs_done_cb cb, void *arg)
{
    if (lv->busy) {
        cb(arg, -EALREADY, "the replica is busy");
        return;
    }
    struct resize_ctx *r = calloc(1, sizeof(*r));
    if (!r) {
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    r->lv = lv;
    r->size = size;
    r->cb = cb;
    r->arg = arg;
    uint64_t cs = lvs_cluster_size(lv->lvs);
    lv->busy = true;
    bs_blob_resize(lv->blob, (size + cs - 1) / cs, resized, r);
}

/* ---- properties ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Same set of comma-separated hosts? */
static bool same_hosts(const char *a, const char *b)
{
    char *x = strdup(a), *y = strdup(b);
    bool same = false;
    char *xa[1024], *ya[1024];
    size_t nx = 0, ny = 0;
    if (!x || !y)
        goto out;
    for (char *s = x, *t; nx < 1024 && *x && (t = strsep(&s, ","));)
        xa[nx++] = t;
    for (char *s = y, *t; ny < 1024 && *y && (t = strsep(&s, ","));)
        ya[ny++] = t;
    if (nx != ny)
        goto out;
    qsort(xa, nx, sizeof(char *), cmp_str);
    qsort(ya, ny, sizeof(char *), cmp_str);
    same = true;
    for (size_t i = 0; i < nx && same; i++)
        same = !strcmp(xa[i], ya[i]);
out:
    free(x);
    free(y);
    return same;
}

struct prop_ctx {
    char name[LVS_NAME_MAX];
    char xattr[64];
    lvs_done_cb cb;
    void *arg;
};

static void prop_synced(void *arg, int rc)
{
    struct prop_ctx *p = arg;
    char e[LVS_ERRMSG_LEN];
    if (rc) {
        lvs_errf(e, sizeof(e), "failed to sync properties of lvol %s (%s): %s", p->name, p->xattr,
                 strerror(-rc));
        log_error("%s", e);
    }
    p->cb(p->arg, rc, rc ? e : NULL);
    free(p);
}

void lvol_set_property(struct lvol *lv, const char *xattr, const char *value, bool sync,
                       lvs_done_cb cb, void *arg)
{
    if (lvol_is_snapshot(lv)) {
        log_warn("ignoring set property %s on snapshot %s", xattr, lv->name); /* as upstream */
        cb(arg, 0, NULL);
        return;
    }
    char cur[4096];
    int have = lvol_get_property(lv, xattr, cur, sizeof(cur));
    if (!have) {
        bool same = !strcmp(xattr, LVOL_XATTR_ALLOWED_HOSTS) ? same_hosts(cur, value)
                                                             : !strcmp(cur, value);
        if (same) {
            cb(arg, 0, NULL); /* the current value: nothing is written */
            return;
        }
    }
    char e[LVS_ERRMSG_LEN];
    int rc = bs_blob_set_xattr(lv->blob, xattr, value, strlen(value) + 1);
    if (rc) {
        lvs_errf(e, sizeof(e), "failed to set property %s on lvol %s: %s", xattr, lv->name,
                 strerror(-rc));
        cb(arg, rc, e);
        return;
    }
    if (!sync) {
        cb(arg, 0, NULL);
        return;
    }
    struct prop_ctx *p = calloc(1, sizeof(*p));
    if (!p) {
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    snprintf(p->name, sizeof(p->name), "%s", lv->name);
    snprintf(p->xattr, sizeof(p->xattr), "%s", xattr);
    p->cb = cb;
    p->arg = arg;
    bs_blob_sync_md(lv->blob, prop_synced, p);
}

/* ---- discarded snapshots at import ---- */

struct purge_ctx {
    struct lvs *lvs;
    void (*done)(void *);
    void *arg;
};

static void purge_next(struct purge_ctx *p);

static void purge_deleted(void *arg, int rc)
{
    struct purge_ctx *p = arg;
    if (rc)
        log_warn("pool %s: cannot delete a discarded snapshot: %s", p->lvs->name, strerror(-rc));
    purge_next(p);
}

static void purge_next(struct purge_ctx *p)
{
    for (struct lvol *lv = p->lvs->lvols; lv; lv = lv->next) {
        if (lv->busy || !lvol_is_snapshot(lv) || !lvol_is_discarded(lv) ||
            !lvol_snapshot_deletable(lv))
            continue;
        log_info("pool %s: deleting discarded snapshot %s (no clones left)", p->lvs->name,
                 lv->name);
        lv->busy = true; /* not retried if the delete fails */
        lvol_delete(lv, purge_deleted, p);
        return;
    }
    for (struct lvol *lv = p->lvs->lvols; lv; lv = lv->next)
        lv->busy = false;
    p->done(p->arg);
    free(p);
}

void lvol_purge_discarded(struct lvs *lvs, void (*done)(void *arg), void *arg)
{
    struct purge_ctx *p = calloc(1, sizeof(*p));
    if (!p) {
        done(arg);
        return;
    }
    p->lvs = lvs;
    p->done = done;
    p->arg = arg;
    purge_next(p);
}

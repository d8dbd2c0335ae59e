/* Pools (lvolstores): create-or-import, import, export, destroy, grow, the -P pool file
 * at start and the export of every pool at shutdown. docs/pools-and-replicas.md is the
 * reference; behaviour §3 the rules. */
#include "lvs.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bdev/bdev_uri.h"
#include "bdev/file_common.h"
#include "core/env.h"
#include "core/log.h"
#include "core/reactor.h"
#include "lvol.h"
#include "lvol_share.h"

static struct lvs *g_pools;

void lvs_errf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

grpc_status_code lvs_grpc_status(int rc)
{
    switch (rc < 0 ? -rc : rc) {
    case 0:
        return GRPC_STATUS_OK;
    case EINVAL:
    case EOVERFLOW:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case ENOENT:
    case ENODEV:
        return GRPC_STATUS_NOT_FOUND;
    case ENOMEDIUM:
    case EBUSY:
    case EBADMSG: /* a host file the share needs (PTPL) is unreadable or not ours */
        return GRPC_STATUS_FAILED_PRECONDITION;
    case EALREADY:
    case EMEDIUMTYPE:
        return GRPC_STATUS_ABORTED;
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case EOPNOTSUPP:
        return GRPC_STATUS_UNIMPLEMENTED;
    case ECANCELED:
        return GRPC_STATUS_CANCELLED;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

/* ---- lookups ---- */

struct lvs *lvs_first(void) { return g_pools; }
struct lvs *lvs_next(struct lvs *l) { return l->next; }

size_t lvs_count(void)
{
    size_t n = 0;
    for (struct lvs *l = g_pools; l; l = l->next)
        n++;
    return n;
}

struct lvs *lvs_lookup(const char *name)
{
    for (struct lvs *l = g_pools; l; l = l->next)
        if (!strcmp(l->name, name))
            return l;
    return NULL;
}

struct lvs *lvs_lookup_uuid(const char *uuid)
{
    uuid_t u;
    if (!uuid || uuid_parse(uuid, u))
        return NULL;
    for (struct lvs *l = g_pools; l; l = l->next)
        if (!uuid_compare(l->uuid, u))
            return l;
    return NULL;
}

struct lvs *lvs_lookup_any(const char *id)
{
    struct lvs *l = lvs_lookup_uuid(id);
    return l ? l : lvs_lookup(id);
}

static void pool_add(struct lvs *l)
{
    struct lvs **pp = &g_pools;
    while (*pp)
        pp = &(*pp)->next;
    l->next = NULL;
    *pp = l;
}

static void pool_remove(struct lvs *l)
{
    for (struct lvs **pp = &g_pools; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            return;
        }
}

/* ---- reported values ---- */

uint64_t lvs_cluster_size(const struct lvs *l) { return bs_cluster_size(l->bs); }
uint64_t lvs_capacity(const struct lvs *l)
{
    return bs_cluster_size(l->bs) * bs_total_data_clusters(l->bs);
}
uint64_t lvs_available(const struct lvs *l)
{
    return bs_cluster_size(l->bs) * bs_free_clusters(l->bs);
}
uint64_t lvs_used(const struct lvs *l)
{
    uint64_t c = lvs_capacity(l), a = lvs_available(l);
    return c > a ? c - a : 0;
}
uint64_t lvs_committed(const struct lvs *l)
{
    uint64_t sum = 0;
    for (const struct lvol *lv = l->lvols; lv; lv = lv->next)
        sum += lvol_committed(lv);
    return sum;
}
uint64_t lvs_disk_capacity(const struct lvs *l)
{
    return (uint64_t)l->base->num_blocks * l->base->blk_size;
}
uint32_t lvs_page_size(const struct lvs *l)
{
    (void)l;
    return BS_PAGE_SIZE;
}
uint64_t lvs_md_pages(const struct lvs *l) { return bs_md_pages_total(l->bs); }
uint64_t lvs_md_used_pages(const struct lvs *l) { return bs_md_pages_used(l->bs); }

char *lvs_disk_uri(const struct lvs *l)
{
    char *u = bdev_uri(l->base);
    if (u && !*u) {
        /* A disk given by device name (JSON-RPC): the reference URI upstream reports. */
        free(u);
        char uu[37];
        uuid_unparse_lower(l->base->uuid, uu);
        if (asprintf(&u, "bdev:///%s?uuid=%s", l->base->name, uu) < 0)
            u = NULL;
    }
    return u;
}

/* The URI a device was created from (its first alias with a scheme), allocated. */
static char *creation_uri(const struct bdev *b)
{
    for (const struct bdev_alias *a = b->aliases; a; a = a->next)
        if (strstr(a->name, "://"))
            return strdup(a->name);
    return NULL;
}

/* ---- name locks ---- */

struct name_lock {
    char *name;
    struct name_lock *next;
};
static struct name_lock *g_locks;

bool lvs_name_locked(const char *name)
{
    for (struct name_lock *l = g_locks; l; l = l->next)
        if (!strcmp(l->name, name))
            return true;
    return false;
}

int lvs_name_trylock(const char *name)
{
    if (lvs_name_locked(name))
        return -EALREADY;
    struct name_lock *l = calloc(1, sizeof(*l));
    if (!l || !(l->name = strdup(name))) {
        free(l);
        return -ENOMEM;
    }
    l->next = g_locks;
    g_locks = l;
    return 0;
}

void lvs_name_unlock(const char *name)
{
    for (struct name_lock **pp = &g_locks; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name)) {
            struct name_lock *l = *pp;
            *pp = l->next;
            free(l->name);
            free(l);
            return;
        }
}

/* ---- serializers ---- */

struct lvs_serial_op {
    void (*run)(void *arg);
    void *arg;
    bool excl;
    struct lvs_serial_op *next;
};

struct lvs_serial lvs_pool_serial, lvs_replica_serial;

static void pump(struct lvs_serial *s)
{
    if (s->pumping)
        return; /* an outer pump loop sees the new state */
    s->pumping = true;
    while (s->head) {
        struct lvs_serial_op *op = s->head;
        if (s->running && (op->excl || s->running_excl))
            break;
        s->head = op->next;
        if (!s->head)
            s->tail = NULL;
        s->running++;
        s->running_excl = op->excl;
        void (*run)(void *) = op->run;
        void *arg = op->arg;
        free(op);
        run(arg);
    }
    s->pumping = false;
}

int lvs_serial_submit(struct lvs_serial *s, bool exclusive, void (*run)(void *arg), void *arg)
{
    struct lvs_serial_op *op = calloc(1, sizeof(*op));
    if (!op)
        return -ENOMEM;
    op->run = run;
    op->arg = arg;
    op->excl = exclusive;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    pump(s);
    return 0;
}

void lvs_serial_done(struct lvs_serial *s)
{
    if (s->running > 0)
        s->running--;
    if (!s->running)
        s->running_excl = false;
    pump(s);
}

/* ---- pool identity (super blob xattrs, on-disk format §8.2) ---- */

static int read_identity(struct bs *bs, bs_blob_id *super, char name[LVS_NAME_MAX], uuid_t uuid,
                         char *err, size_t errlen)
{
    bs_blob_id id = bs_get_super_blob(bs);
    struct bs_blob *b = id == BS_INVALID_ID ? NULL : bs_blob_lookup(bs, id);
    if (!b) {
        lvs_errf(err, errlen, "the blobstore has no lvolstore super blob");
        return -ENODEV;
    }
    const void *v;
    size_t len;
    if (bs_blob_get_xattr(b, "uuid", &v, &len) || len != 37 || ((const char *)v)[36]) {
        lvs_errf(err, errlen, "the pool's uuid xattr is missing or malformed");
        return -EINVAL;
    }
    char text[37];
    memcpy(text, v, 37);
    if (uuid_parse(text, uuid)) {
        lvs_errf(err, errlen, "the pool's uuid xattr is not a uuid: '%.36s'", text);
        return -EINVAL;
    }
    if (bs_blob_get_xattr(b, "name", &v, &len) || len > LVS_NAME_MAX || !len) {
        lvs_errf(err, errlen, "the pool's name xattr is missing or longer than %d bytes",
                 LVS_NAME_MAX);
        return -EINVAL;
    }
    size_t n = strnlen(v, len);
    if (n >= LVS_NAME_MAX) {
        lvs_errf(err, errlen, "the pool's name xattr is not terminated");
        return -EINVAL;
    }
    memcpy(name, v, n);
    name[n] = 0;
    *super = id;
    return 0;
}

/* ---- create or import ---- */

struct cctx {
    char name[LVS_NAME_MAX];
    char uuid_text[37];
    bool has_uuid;
    uuid_t uuid;
    char *uri;        /* the disk URI (NULL when given by device name) */
    char *bdev_name;  /* the disk device name */
    uint32_t cluster_size, md_ratio;
    enum lvs_mode mode;
    bool created_bdev; /* this call created the disk device */
    bool formatted;    /* this call formatted the disk (a failure erases it again) */
    bool locked;
    struct bdev_desc *desc;
    struct bs *bs;
    struct lvs *lvs;
    bs_blob_id super_id;
    lvs_cb cb;
    void *arg;
    int rc;
    char err[LVS_ERRMSG_LEN];
};

static void cctx_finish(struct cctx *c)
{
    if (c->locked)
        lvs_name_unlock(c->name);
    if (c->rc)
        log_error("pool %s: %s", c->name, c->err);
    c->cb(c->arg, c->rc, c->rc ? NULL : c->lvs, c->rc ? c->err : NULL);
    free(c->uri);
    free(c->bdev_name);
    free(c);
}

static void cleanup_step(struct cctx *c);

static void cleanup_bs_done(void *arg, int rc)
{
    struct cctx *c = arg;
    if (rc)
        log_warn("pool %s: releasing the blobstore after a failure: %s", c->name, strerror(-rc));
    cleanup_step(c);
}

static void cleanup_bdev_done(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    (void)b;
    struct cctx *c = arg;
    if (rc)
        log_warn("pool %s: cannot destroy the disk device after a failure: %s", c->name,
                 errmsg ? errmsg : strerror(-rc));
    cleanup_step(c);
}

/* Undoes what this call did (unload or erase the store, close, destroy the device it
 * created), then answers the error already recorded in c. */
static void cleanup_step(struct cctx *c)
{
    if (c->bs) {
        struct bs *bs = c->bs;
        c->bs = NULL;
        if (c->formatted)
            bs_destroy(bs, cleanup_bs_done, c);
        else
            bs_unload(bs, cleanup_bs_done, c); /* SPDK also unloads cleanly on a rejected import */
        return;
    }
    if (c->desc) {
        bdev_close(c->desc);
        c->desc = NULL;
    }
    if (c->created_bdev && c->uri) {
        c->created_bdev = false;
        bdev_destroy_uri(c->uri, cleanup_bdev_done, c);
        return;
    }
    cctx_finish(c);
}

static void cctx_fail(struct cctx *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cctx_fail(struct cctx *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    c->rc = rc;
    cleanup_step(c);
}

static struct lvs *lvs_new(struct cctx *c, const char *name, const uuid_t uuid)
{
    struct lvs *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    snprintf(l->name, sizeof(l->name), "%s", name);
    uuid_copy(l->uuid, uuid);
    uuid_unparse_lower(uuid, l->uuid_str);
    l->bs = c->bs;
    l->desc = c->desc;
    l->base = bdev_desc_bdev(c->desc);
    l->super_id = c->super_id;
    return l;
}

static void import_purged(void *arg)
{
    struct cctx *c = arg;
    log_info("pool %s (%s) imported from %s: %zu lvol(s), %" PRIu64 " of %" PRIu64
             " bytes used", c->lvs->name, c->lvs->uuid_str, c->lvs->base->name,
             c->lvs->n_lvols, lvs_used(c->lvs), lvs_capacity(c->lvs));
    c->rc = 0;
    cctx_finish(c);
}

static void import_reshared(void *arg)
{
    struct cctx *c = arg;
    lvol_purge_discarded(c->lvs, import_purged, c);
}

static void import_loaded(struct cctx *c)
{
    char found[LVS_NAME_MAX];
    uuid_t uuid;
    int rc = read_identity(c->bs, &c->super_id, found, uuid, c->err, sizeof(c->err));
    if (rc) {
        char why[LVS_ERRMSG_LEN];
        snprintf(why, sizeof(why), "%s", c->err);
        cctx_fail(c, -EINVAL, "failed to import pool %s: %s", c->name, why);
        return;
    }
    if (strcmp(found, c->name)) {
        cctx_fail(c, -EINVAL, "failed to import pool %s: existing pool disk has different name: %s",
                  c->name, found);
        return;
    }
    char found_uuid[37];
    uuid_unparse_lower(uuid, found_uuid);
    if (c->has_uuid && uuid_compare(uuid, c->uuid)) {
        cctx_fail(c, -EINVAL, "failed to import pool %s: existing pool has different uuid: %s",
                  c->name, found_uuid);
        return;
    }
    for (struct lvs *o = g_pools; o; o = o->next)
        if (!uuid_compare(o->uuid, uuid)) {
            cctx_fail(c, -EINVAL, "failed to import pool %s: pool %s already has uuid %s",
                      c->name, o->name, found_uuid);
            return;
        }
    rc = lvol_check_blobs(c->bs, c->super_id, c->err, sizeof(c->err));
    if (rc) {
        char why[LVS_ERRMSG_LEN];
        snprintf(why, sizeof(why), "%s", c->err);
        cctx_fail(c, rc, "failed to import pool %s: %s", c->name, why);
        return;
    }
    struct lvs *l = lvs_new(c, found, uuid);
    if (!l) {
        cctx_fail(c, -ENOMEM, "failed to import pool %s: out of memory", c->name);
        return;
    }
    rc = lvol_load_all(l);
    if (rc) {
        free(l);
        cctx_fail(c, rc, "failed to import pool %s: cannot load its volumes: %s", c->name,
                  strerror(-rc));
        return;
    }
    c->lvs = l;
    c->bs = NULL; /* owned by the pool now */
    c->desc = NULL;
    pool_add(l);
    lvol_reshare_all(l, import_reshared, c);
}

static void create_now(struct cctx *c);

static void load_done(void *arg, int rc, struct bs *bs)
{
    struct cctx *c = arg;
    if (rc == -EILSEQ && c->mode == LVS_CREATE_OR_IMPORT) {
        /* No blobstore on the disk: a new pool. */
        create_now(c);
        return;
    }
    if (rc == -EILSEQ) {
        cctx_fail(c, -EINVAL, "failed to import pool %s: no pool found on %s", c->name,
                  c->bdev_name);
        return;
    }
    if (rc) {
        const char *why = bs_last_error();
        cctx_fail(c, -EINVAL, "failed to import pool %s: cannot load the blobstore on %s: %s%s%s",
                  c->name, c->bdev_name, strerror(-rc), why && *why ? ": " : "",
                  why ? why : "");
        return;
    }
    c->bs = bs;
    import_loaded(c);
}

static void super_set(void *arg, int rc)
{
    struct cctx *c = arg;
    if (rc) {
        cctx_fail(c, rc, "failed to create pool %s: cannot record the super blob: %s", c->name,
                  strerror(-rc));
        return;
    }
    struct lvs *l = lvs_new(c, c->name, c->uuid);
    if (!l) {
        cctx_fail(c, -ENOMEM, "failed to create pool %s: out of memory", c->name);
        return;
    }
    c->lvs = l;
    c->bs = NULL;
    c->desc = NULL;
    pool_add(l);
    log_info("pool %s (%s) created on %s: cluster size %" PRIu64 ", %" PRIu64 " bytes", l->name,
             l->uuid_str, l->base->name, lvs_cluster_size(l), lvs_capacity(l));
    c->rc = 0;
    cctx_finish(c);
}

static void super_created(void *arg, int rc, bs_blob_id id)
{
    struct cctx *c = arg;
    if (rc) {
        cctx_fail(c, rc, "failed to create pool %s: cannot create the super blob: %s", c->name,
                  strerror(-rc));
        return;
    }
    c->super_id = id;
    bs_set_super_blob(c->bs, id, super_set, c);
}

static void init_done(void *arg, int rc, struct bs *bs)
{
    struct cctx *c = arg;
    if (rc) {
        const char *why = bs_last_error();
        cctx_fail(c, rc, "failed to create pool %s on %s: %s%s%s", c->name, c->bdev_name,
                  strerror(-rc), why && *why ? ": " : "", why ? why : "");
        return;
    }
    c->bs = bs;
    c->formatted = true;
    /* Super blob: uuid (36 characters + NUL) then name + NUL, §8.2. */
    char uuid_text[37];
    uuid_unparse_lower(c->uuid, uuid_text);
    struct bs_xattr x[2] = {
        {"uuid", uuid_text, 37},
        {"name", c->name, strlen(c->name) + 1},
    };
    struct bs_blob_opts o = {
        .num_clusters = 0,
        .thin = false,
        .clear_method = BS_CLEAR_DEFAULT,
        .xattrs = x,
        .n_xattrs = 2,
    };
    bs_blob_create(bs, &o, super_created, c);
}

static void create_now(struct cctx *c)
{
    uint32_t cs = c->cluster_size ? c->cluster_size : LVS_DEFAULT_CLUSTER_SIZE;
    if (cs % LVS_CLUSTER_SIZE_UNIT) {
        cctx_fail(c, -EINVAL, "Invalid cluster-size %u for pool %s: not a multiple of 1 MiB",
                  c->cluster_size, c->name);
        return;
    }
    if (cs > LVS_MAX_CLUSTER_SIZE) {
        cctx_fail(c, -EINVAL, "Invalid cluster-size %u for pool %s: larger than max limit %u",
                  c->cluster_size, c->name, LVS_MAX_CLUSTER_SIZE);
        return;
    }
    if (!c->has_uuid)
        uuid_generate_random(c->uuid);
    struct bs_init_opts o = {
        .cluster_size = cs,
        .md_pages_ratio = c->md_ratio,
        .bstype = BS_LVOLSTORE_TYPE,
    };
    log_info("pool %s: creating on %s (cluster size %u)", c->name, c->bdev_name, cs);
    bs_init(c->desc, &o, init_done, c);
}

static void disk_ready(struct cctx *c, struct bdev *b)
{
    if (b->claimed_by) {
        cctx_fail(c, c->mode == LVS_CREATE ? -EBUSY : -EINVAL,
                  "failed to %s pool %s: disk %s is in use by %s",
                  c->mode == LVS_CREATE ? "create" : "import", c->name, b->name, b->claimed_by);
        return;
    }
    int rc = bdev_open_bdev(b, &c->desc);
    if (!rc)
        rc = bdev_claim(c->desc, LVS_CLAIM_MODULE);
    if (rc) {
        cctx_fail(c, rc, "cannot open disk %s: %s", b->name, strerror(-rc));
        return;
    }
    if (c->mode == LVS_CREATE)
        create_now(c);
    else
        bs_load(c->desc, BS_LVOLSTORE_TYPE, load_done, c);
}

static void disk_created(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct cctx *c = arg;
    if (rc) {
        cctx_fail(c, rc, "failed to create the disk device %s for pool %s: %s", c->uri, c->name,
                  errmsg ? errmsg : strerror(-rc));
        return;
    }
    c->created_bdev = true;
    free(c->bdev_name);
    c->bdev_name = strdup(b->name);
    if (!c->bdev_name) {
        cctx_fail(c, -ENOMEM, "out of memory");
        return;
    }
    disk_ready(c, b);
}

/* A disk as given in a request: a URI, or a bare path that is no absolute URL
 * ("/dev/sdb" -> "aio:///dev/sdb", as upstream's parse_disk). */
static char *normalize_disk(const char *disk)
{
    char *out;
    const char *colon = strstr(disk, "://");
    bool url = colon && colon != disk;
    for (const char *p = disk; url && p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
            url = false;
    if (url)
        return strdup(disk);
    if (asprintf(&out, "aio://%s", disk) < 0)
        return NULL;
    return out;
}

void lvs_create_or_import(const struct lvs_pool_args *a, lvs_cb cb, void *arg)
{
    struct cctx *c = calloc(1, sizeof(*c));
    if (!c) {
        cb(arg, -ENOMEM, NULL, "out of memory");
        return;
    }
    c->cb = cb;
    c->arg = arg;
    c->mode = a->mode;
    c->cluster_size = a->cluster_size;
    c->md_ratio = a->md_ratio;
    snprintf(c->name, sizeof(c->name), "%.63s", a->name ? a->name : "");

    const char *verb = a->mode == LVS_IMPORT ? "import" : "create";
    if (!a->name || !*a->name || strlen(a->name) >= LVS_NAME_MAX) {
        c->rc = -EINVAL;
        lvs_errf(c->err, sizeof(c->err), "invalid pool name '%s': 1 to %d bytes",
                 a->name ? a->name : "", LVS_NAME_MAX - 1);
        cctx_finish(c);
        return;
    }
    if (a->uuid && *a->uuid) {
        if (uuid_parse(a->uuid, c->uuid)) {
            c->rc = -EINVAL;
            lvs_errf(c->err, sizeof(c->err), "invalid uuid provided: '%s'", a->uuid);
            cctx_finish(c);
            return;
        }
        c->has_uuid = true;
    }
    int rc = lvs_name_trylock(c->name);
    if (rc) {
        c->rc = rc;
        lvs_errf(c->err, sizeof(c->err), "pool %s: lock already held (another operation on it "
                 "is under way)", c->name);
        cctx_finish(c);
        return;
    }
    c->locked = true;

    char dev[4096], err[BDEV_ERRMSG_LEN];
    if (a->bdev_name) {
        snprintf(dev, sizeof(dev), "%s", a->bdev_name);
    } else {
        if (!a->disk || !*a->disk) {
            c->rc = -EINVAL;
            lvs_errf(c->err, sizeof(c->err), "invalid argument, missing devices");
            cctx_finish(c);
            return;
        }
        c->uri = normalize_disk(a->disk);
        if (!c->uri) {
            c->rc = -ENOMEM;
            lvs_errf(c->err, sizeof(c->err), "out of memory");
            cctx_finish(c);
            return;
        }
        rc = bdev_uri_name(c->uri, dev, sizeof(dev), err, sizeof(err));
        if (rc) {
            c->rc = rc;
            lvs_errf(c->err, sizeof(c->err), "invalid disk '%s': %s", a->disk, err);
            cctx_finish(c);
            return;
        }
    }
    c->bdev_name = strdup(dev);
    if (!c->bdev_name) {
        c->rc = -ENOMEM;
        lvs_errf(c->err, sizeof(c->err), "out of memory");
        cctx_finish(c);
        return;
    }
    /* Step 1: a pool of that name is loaded already. */
    struct lvs *existing = lvs_lookup(c->name);
    if (existing) {
        bool same = !strcmp(existing->base->name, dev);
        c->rc = same || a->mode == LVS_CREATE ? -EEXIST : -EINVAL;
        if (same)
            lvs_errf(c->err, sizeof(c->err), "failed to %s pool %s: it already exists on %s",
                     verb, c->name, dev);
        else
            lvs_errf(c->err, sizeof(c->err),
                     "failed to %s pool %s: another pool already exists with this name, on disk %s",
                     verb, c->name, existing->base->name);
        cctx_finish(c);
        return;
    }
    /* Step 2: the disk device (an existing one is fine). */
    struct bdev *b = bdev_lookup(dev);
    if (b) {
        disk_ready(c, b);
        return;
    }
    if (a->bdev_name) {
        c->rc = -ENODEV;
        lvs_errf(c->err, sizeof(c->err), "no device named '%s'", dev);
        cctx_finish(c);
        return;
    }
    log_info("pool %s: creating disk device %s", c->name, c->uri);
    bdev_create_uri(c->uri, disk_created, c);
}

/* ---- export / destroy ---- */

struct xctx {
    struct lvs *lvs;
    char name[LVS_NAME_MAX];
    char uuid_str[37];
    bool destroy, keep_disk;
    char *disk_uri;
    lvs_done_cb cb;
    void *arg;
    int rc;
    char err[LVS_ERRMSG_LEN];
};

static void xctx_finish(struct xctx *x)
{
    lvs_name_unlock(x->name);
    if (x->rc)
        log_error("pool %s: %s", x->name, x->err);
    else
        log_info("pool %s %s", x->name, x->destroy ? "destroyed" : "exported");
    x->cb(x->arg, x->rc, x->rc ? x->err : NULL);
    free(x->disk_uri);
    free(x);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path))
        log_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

static void remove_pool_ptpl(const char *uuid)
{
    if (!g_env.args.ptpl_dir[0])
        return;
    char path[4200];
    snprintf(path, sizeof(path), "%s/pool/%s", g_env.args.ptpl_dir, uuid);
    if (access(path, F_OK))
        return;
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void disk_destroyed(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    (void)b;
    struct xctx *x = arg;
    if (rc) {
        log_warn("pool %s: cannot destroy its disk device %s: %s", x->name, x->disk_uri,
                 errmsg ? errmsg : strerror(-rc));
        if (!x->rc) {
            x->rc = rc;
            lvs_errf(x->err, sizeof(x->err), "failed to destroy the disk device %s: %s",
                     x->disk_uri, errmsg ? errmsg : strerror(-rc));
        }
    }
    xctx_finish(x);
}

static void store_released(void *arg, int rc)
{
    struct xctx *x = arg;
    struct lvs *l = x->lvs;
    if (rc && !x->rc) {
        x->rc = rc;
        lvs_errf(x->err, sizeof(x->err), "failed to %s pool %s: %s",
                 x->destroy ? "destroy" : "export", x->name, strerror(-rc));
    }
    /* The store is gone either way (blobstore.h): drop the pool. */
    pool_remove(l);
    bdev_close(l->desc);
    free(l);
    x->lvs = NULL;
    if (x->destroy)
        remove_pool_ptpl(x->uuid_str);
    if (!x->keep_disk && x->disk_uri) {
        bdev_destroy_uri(x->disk_uri, disk_destroyed, x);
        return;
    }
    xctx_finish(x);
}

static void lvols_unloaded(void *arg, int rc)
{
    struct xctx *x = arg;
    struct lvs *l = x->lvs;
    if (rc) {
        l->unloading = false;
        x->rc = rc;
        lvs_errf(x->err, sizeof(x->err), "failed to %s pool %s: cannot remove its volumes: %s",
                 x->destroy ? "destroy" : "export", x->name, strerror(-rc));
        xctx_finish(x);
        return;
    }
    if (x->destroy)
        bs_destroy(l->bs, store_released, x);
    else
        bs_unload(l->bs, store_released, x);
}

static void export_or_destroy(struct lvs *l, bool destroy, bool keep_disk, lvs_done_cb cb,
                              void *arg)
{
    int rc = lvs_name_trylock(l->name);
    if (rc) {
        char e[LVS_ERRMSG_LEN];
        lvs_errf(e, sizeof(e), "pool %s: lock already held (another operation on it is under way)",
                 l->name);
        cb(arg, rc, e);
        return;
    }
    struct xctx *x = calloc(1, sizeof(*x));
    if (!x) {
        lvs_name_unlock(l->name);
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    x->lvs = l;
    x->destroy = destroy;
    x->keep_disk = keep_disk;
    x->cb = cb;
    x->arg = arg;
    snprintf(x->name, sizeof(x->name), "%s", l->name);
    memcpy(x->uuid_str, l->uuid_str, sizeof(x->uuid_str));
    x->disk_uri = creation_uri(l->base);
    for (struct lvol *lv = l->lvols; lv; lv = lv->next)
        if (lv->bdev && lv->bdev->open_count > (lvol_is_shared(lv) ? 1 : 0)) {
            x->rc = -EBUSY;
            lvs_errf(x->err, sizeof(x->err), "failed to %s pool %s: replica %s is in use",
                     destroy ? "destroy" : "export", l->name, lv->name);
            xctx_finish(x);
            return;
        }
    log_info("pool %s: %s", l->name, destroy ? "destroying" : "exporting");
    l->unloading = true;
    /* Shared replicas stop being shared first (lvol_unload_all); on export their "shared"
     * property stays, so the next import shares them again. */
    lvol_unload_all(l, lvols_unloaded, x);
}

void lvs_export(struct lvs *l, lvs_done_cb cb, void *arg)
{
    export_or_destroy(l, false, false, cb, arg);
}

void lvs_destroy(struct lvs *l, bool keep_disk, lvs_done_cb cb, void *arg)
{
    export_or_destroy(l, true, keep_disk, cb, arg);
}

/* ---- grow ---- */

struct gctx {
    char name[LVS_NAME_MAX];
    lvs_done_cb cb;
    void *arg;
};

static void grown(void *arg, int rc)
{
    struct gctx *g = arg;
    lvs_name_unlock(g->name);
    char e[LVS_ERRMSG_LEN];
    if (rc)
        lvs_errf(e, sizeof(e), "failed to grow pool %s: %s", g->name, strerror(-rc));
    g->cb(g->arg, rc, rc ? e : NULL);
    free(g);
}

void lvs_grow(struct lvs *l, lvs_done_cb cb, void *arg)
{
    char e[LVS_ERRMSG_LEN];
    int rc = lvs_name_trylock(l->name);
    if (rc) {
        lvs_errf(e, sizeof(e), "pool %s: lock already held (another operation on it is under way)",
                 l->name);
        cb(arg, rc, e);
        return;
    }
    if (l->base->ops->destruct == file_destruct) {
        char err[BDEV_ERRMSG_LEN];
        rc = file_rescan(l->base, err, sizeof(err));
        if (rc) {
            lvs_name_unlock(l->name);
            lvs_errf(e, sizeof(e), "failed to rescan disk %s of pool %s: %s", l->base->name,
                     l->name, err);
            cb(arg, rc, e);
            return;
        }
    }
    struct gctx *g = calloc(1, sizeof(*g));
    if (!g) {
        lvs_name_unlock(l->name);
        cb(arg, -ENOMEM, "out of memory");
        return;
    }
    snprintf(g->name, sizeof(g->name), "%s", l->name);
    g->cb = cb;
    g->arg = arg;
    bs_grow(l->bs, grown, g);
}

/* ---- shutdown: export everything ---- */

struct xall {
    void (*done)(void *);
    void *arg;
    uint64_t deadline_ns;
    size_t skipped; /* pools that could not be exported stay first in the list */
};

static void xall_next(void *arg);

static void xall_exported(void *arg, int rc, const char *errmsg)
{
    struct xall *x = arg;
    if (rc) {
        /* Left loaded: its store stays dirty and is recovered at the next import. */
        log_error("shutdown: %s", errmsg ? errmsg : strerror(-rc));
        x->skipped++;
    }
    xall_next(x);
}

static void xall_next(void *arg)
{
    struct xall *x = arg;
    struct lvs *l = g_pools;
    for (size_t i = 0; l && i < x->skipped; i++)
        l = l->next;
    if (!l) {
        x->done(x->arg);
        free(x);
        return;
    }
    if (lvs_name_locked(l->name)) {
        if (reactor_now_ns() < x->deadline_ns) {
            /* An operation on this pool is under way: let it finish first. */
            if (reactor_timer_start(20000, 0, xall_next, x))
                return;
        }
        log_error("shutdown: pool %s is still busy: left as it is", l->name);
        x->skipped++;
        xall_next(x);
        return;
    }
    lvs_export(l, xall_exported, x);
}

void lvs_export_all(void (*done)(void *arg), void *arg)
{
    struct xall *x = calloc(1, sizeof(*x));
    if (!x) {
        done(arg);
        return;
    }
    x->done = done;
    x->arg = arg;
    x->deadline_ns = reactor_now_ns() + 10ull * 1000000000ull;
    if (g_pools)
        log_info("shutdown: exporting %zu pool(s)", lvs_count());
    xall_next(x);
}

/* ---- the -P pool file ---- */

/* The import holds both gRPC serializers, so pool and replica calls that arrive while it
 * runs wait for it, as upstream opens its gRPC port only after importing. */
struct cfgctx {
    size_t idx;
};

static void cfg_next(struct cfgctx *c);

static void cfg_done(void *arg, int rc, struct lvs *l, const char *errmsg)
{
    struct cfgctx *c = arg;
    json_t *p = json_array_get(g_env.config.pools, c->idx);
    const char *name = json_string_value(json_object_get(p, "name"));
    if (rc)
        log_error("pool file: pool %s: %s", name ? name : "?", errmsg ? errmsg : strerror(-rc));
    else
        log_info("pool file: pool %s ready (%s)", l->name, l->uuid_str);
    c->idx++;
    cfg_next(c);
}

static void cfg_next(struct cfgctx *c)
{
    json_t *pools = g_env.config.pools;
    while (c->idx < json_array_size(pools)) {
        json_t *p = json_array_get(pools, c->idx);
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *disk = json_string_value(json_array_get(json_object_get(p, "disks"), 0));
        const char *backend = json_string_value(json_object_get(p, "backend"));
        if (backend && !strcasecmp(backend, "lvm")) {
            log_error("pool file: pool %s: backend Lvm is not supported by this io-engine",
                      name ? name : "?");
            c->idx++;
            continue;
        }
        struct lvs_pool_args a = {
            .name = name,
            .disk = disk,
            .mode = LVS_CREATE_OR_IMPORT,
        };
        lvs_create_or_import(&a, cfg_done, c);
        return;
    }
    free(c);
    lvs_serial_done(&lvs_replica_serial);
    lvs_serial_done(&lvs_pool_serial);
}

static void cfg_start(void *arg)
{
    cfg_next(arg);
}

static void cfg_got_pool_serial(void *arg)
{
    if (lvs_serial_submit(&lvs_replica_serial, true, cfg_start, arg))
        cfg_start(arg); /* out of memory: run anyway */
}

void lvs_import_config_pools(void)
{
    if (!json_array_size(g_env.config.pools))
        return;
    struct cfgctx *c = calloc(1, sizeof(*c));
    if (!c) {
        log_error("pool file: out of memory");
        return;
    }
    log_info("pool file: creating or importing %zu pool(s)", json_array_size(g_env.config.pools));
    if (lvs_serial_submit(&lvs_pool_serial, true, cfg_got_pool_serial, c)) {
        log_error("pool file: out of memory");
        free(c);
    }
}

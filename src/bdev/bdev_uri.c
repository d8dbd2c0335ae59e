#include "bdev_uri.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/offload.h"
#include "core/uri.h"
#include "file_common.h"

extern const struct bdev_scheme bdev_scheme_malloc, bdev_scheme_null, bdev_scheme_aio,
    bdev_scheme_uring, bdev_scheme_nvmf, bdev_scheme_nvmf_tcp, bdev_scheme_nvmf_rdma_tcp;

static const struct bdev_scheme *const schemes[] = {
    &bdev_scheme_malloc, &bdev_scheme_null,     &bdev_scheme_aio,
    &bdev_scheme_uring,  &bdev_scheme_nvmf,     &bdev_scheme_nvmf_tcp,
    &bdev_scheme_nvmf_rdma_tcp, NULL,
};

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return rc;
}

int bdev_param_uuid(const struct uri *u, uuid_t out, bool *given, char *err, size_t errlen)
{
    const char *v = uri_param(u, "uuid");
    *given = v != NULL;
    if (v && uuid_parse(v, out))
        return fail(err, errlen, -EINVAL, "invalid uuid '%s'", v);
    return 0;
}

int bdev_param_u64(const struct uri *u, const char *key, uint64_t *out, bool *given, char *err,
                   size_t errlen)
{
    const char *v = uri_param(u, key);
    *given = v != NULL;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || *v == '-')
        return fail(err, errlen, -EINVAL, "invalid value '%s' for '%s'", v, key);
    *out = n;
    return 0;
}

static bool is_reference(const struct uri *u)
{
    return !strcmp(u->scheme, "bdev") || !strcmp(u->scheme, "loopback");
}

static const struct bdev_scheme *find_scheme(const char *s)
{
    for (const struct bdev_scheme *const *p = schemes; *p; p++)
        if (!strcmp((*p)->scheme, s))
            return *p;
    return NULL;
}

/* bdev:///name — the path without its leading slash. */
static int reference_name(const struct uri *u, char *name, size_t len, char *err, size_t errlen)
{
    const char *n = u->path[0] == '/' ? u->path + 1 : u->path;
    if (u->host[0] || !*n || strchr(n, '/'))
        return fail(err, errlen, -EINVAL, "expected %s:///<name>", u->scheme);
    static const char *const allowed[] = {"uuid", NULL};
    const char *bad = uri_unknown_param(u, allowed);
    if (bad)
        return fail(err, errlen, -EINVAL, "unknown parameter '%s' for %s://", bad, u->scheme);
    if (strlen(n) >= len)
        return fail(err, errlen, -EINVAL, "name too long");
    strcpy(name, n);
    return 0;
}

static int parse(const char *s, struct uri *u, const struct bdev_scheme **scheme, char *name,
                 size_t len, char *err, size_t errlen)
{
    if (uri_parse(s, u, err, errlen))
        return -EINVAL;
    *scheme = NULL;
    int rc;
    if (is_reference(u)) {
        rc = reference_name(u, name, len, err, errlen);
    } else if (!(*scheme = find_scheme(u->scheme))) {
        rc = fail(err, errlen, -EINVAL, "unsupported URI scheme '%s'", u->scheme);
    } else {
        rc = (*scheme)->name(u, name, len, err, errlen);
    }
    if (rc)
        uri_free(u);
    return rc;
}

int bdev_uri_name(const char *s, char *name, size_t len, char *err, size_t errlen)
{
    struct uri u;
    const struct bdev_scheme *scheme;
    int rc = parse(s, &u, &scheme, name, len, err, errlen);
    if (!rc)
        uri_free(&u);
    return rc;
}

/* ---- create ---- */

struct create_job {
    char *uri_str;
    struct uri u;
    const struct bdev_scheme *scheme;
    char name[4096];
    bdev_uri_done done;
    void *arg;
    int rc;
    struct bdev *b;
    char err[BDEV_ERRMSG_LEN];
};

static void job_finish(struct create_job *j)
{
    j->done(j->arg, j->rc, j->rc ? NULL : j->b, j->rc ? j->err : NULL);
    uri_free(&j->u);
    free(j->uri_str);
    free(j);
}

static void create_work(void *arg)
{
    struct create_job *j = arg;
    j->rc = j->scheme->create(&j->u, j->name, &j->b, j->err, sizeof(j->err));
}

static void destruct_unregistered(struct bdev *b)
{
    if (b->ops->destruct)
        b->ops->destruct(b);
    bdev_free(b);
}

static void create_done(void *arg)
{
    struct create_job *j = arg;
    if (!j->rc) {
        /* Another create of the same name may have finished meanwhile. */
        j->rc = bdev_add_alias(j->b, j->uri_str);
        if (!j->rc)
            j->rc = bdev_register(j->b);
        if (j->rc) {
            if (j->rc == -EEXIST)
                snprintf(j->err, sizeof(j->err), "a device named '%.200s' or with that uuid already exists",
                         j->name);
            else
                snprintf(j->err, sizeof(j->err), "cannot register '%.200s': %s", j->name, strerror(-j->rc));
            destruct_unregistered(j->b);
            j->b = NULL;
        }
    }
    job_finish(j);
}

static void created_async(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct create_job *j = arg;
    j->rc = rc;
    j->b = b;
    if (rc)
        snprintf(j->err, sizeof(j->err), "%s", errmsg ? errmsg : strerror(-rc));
    create_done(j);
}

static void create_reference(struct create_job *j)
{
    struct bdev *b = bdev_lookup(j->name);
    uuid_t want;
    bool given;
    if (!b) {
        j->rc = fail(j->err, sizeof(j->err), -ENOENT, "device '%s' not found", j->name);
    } else if ((j->rc = bdev_param_uuid(&j->u, want, &given, j->err, sizeof(j->err)))) {
    } else if (given && uuid_compare(want, b->uuid)) {
        char have[37];
        uuid_unparse_lower(b->uuid, have);
        j->rc = fail(j->err, sizeof(j->err), -EINVAL, "device '%s' has uuid %s, not %s", j->name,
                     have, uri_param(&j->u, "uuid"));
    } else {
        j->rc = bdev_add_alias(b, j->uri_str);
        if (j->rc)
            snprintf(j->err, sizeof(j->err), "cannot add alias: %s", strerror(-j->rc));
        j->b = b;
    }
    job_finish(j);
}

void bdev_create_uri(const char *uri, bdev_uri_done done, void *arg)
{
    struct create_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->uri_str = strdup(uri))) {
        free(j);
        done(arg, -ENOMEM, NULL, "out of memory");
        return;
    }
    j->done = done;
    j->arg = arg;
    j->rc = parse(uri, &j->u, &j->scheme, j->name, sizeof(j->name), j->err, sizeof(j->err));
    if (j->rc) {
        memset(&j->u, 0, sizeof(j->u));
        job_finish(j);
        return;
    }
    if (!j->scheme) {
        create_reference(j);
        return;
    }
    struct bdev *existing = bdev_lookup(j->name);
    if (existing && j->scheme == &bdev_scheme_aio && uri_param(&j->u, "rescan") &&
        !strcmp(existing->ops->driver, "aio")) {
        /* aio's rescan: re-read the size of the open file or device (pool grow). */
        j->rc = file_rescan(existing, j->err, sizeof(j->err));
        j->b = existing;
        job_finish(j);
        return;
    }
    if (existing) {
        j->rc = fail(j->err, sizeof(j->err), -EEXIST, "a device named '%.200s' already exists", j->name);
        job_finish(j);
        return;
    }
    if (j->scheme->create_async) {
        j->scheme->create_async(&j->u, j->name, created_async, j);
        return;
    }
    int rc = offload(create_work, create_done, j);
    if (rc) {
        j->rc = fail(j->err, sizeof(j->err), rc, "cannot start device creation");
        job_finish(j);
    }
}

/* ---- destroy ---- */

struct destroy_ctx {
    bdev_uri_done done;
    void *arg;
};

static void unregistered(void *arg, int rc)
{
    struct destroy_ctx *d = arg;
    d->done(d->arg, rc, NULL, rc ? "unregister failed" : NULL);
    free(d);
}

void bdev_destroy_uri(const char *uri, bdev_uri_done done, void *arg)
{
    struct uri u;
    const struct bdev_scheme *scheme;
    char name[4096], err[BDEV_ERRMSG_LEN];
    int rc = parse(uri, &u, &scheme, name, sizeof(name), err, sizeof(err));
    if (rc) {
        done(arg, rc, NULL, err);
        return;
    }
    struct bdev *b = bdev_lookup(name);
    bool reference = scheme == NULL;
    uri_free(&u);
    if (!b) {
        snprintf(err, sizeof(err), "device '%.200s' not found", name);
        done(arg, -ENOENT, NULL, err);
        return;
    }
    if (reference) {
        /* A reference never owned the device: only its alias goes. */
        bdev_remove_alias(b, uri);
        log_info("loopback reference %s removed", uri);
        done(arg, 0, NULL, NULL);
        return;
    }
    const char *driver = scheme->driver ? scheme->driver : scheme->scheme;
    if (strcmp(b->ops->driver, driver)) {
        snprintf(err, sizeof(err), "device '%.150s' is a %s device, not %s", name, b->ops->driver,
                 driver);
        done(arg, -EINVAL, NULL, err);
        return;
    }
    if (b->claimed_by || b->open_count) {
        snprintf(err, sizeof(err), "device '%.150s' is in use%s%.64s", name,
                 b->claimed_by ? " by " : "", b->claimed_by ? b->claimed_by : "");
        done(arg, -EBUSY, NULL, err);
        return;
    }
    struct destroy_ctx *d = malloc(sizeof(*d));
    if (!d) {
        done(arg, -ENOMEM, NULL, "out of memory");
        return;
    }
    d->done = done;
    d->arg = arg;
    rc = bdev_unregister(b, unregistered, d);
    if (rc) {
        free(d);
        done(arg, rc, NULL, "device is busy");
    }
}

/* Test helpers for the block-device layer, on top of reactor_harness.h: create and
 * destroy devices from URIs, open and close them, all on the primary reactor while the
 * test thread waits. Include after <cmocka.h>. */
#pragma once
#include <stdio.h>
#include <string.h>

#include "bdev/bdev.h"
#include "bdev/bdev_uri.h"
#include "reactor_harness.h"

struct uri_op {
    const char *uri;
    bool destroy;
    struct bdev *b;
    char err[BDEV_ERRMSG_LEN];
};

static void uri_done(void *arg, int rc, struct bdev *b, const char *msg)
{
    struct harness_call *c = arg;
    struct uri_op *op = c->arg;
    op->b = b;
    snprintf(op->err, sizeof(op->err), "%s", msg ? msg : "");
    harness_done(c, rc);
}

static void uri_on_primary(struct harness_call *c)
{
    struct uri_op *op = c->arg;
    if (op->destroy)
        bdev_destroy_uri(op->uri, uri_done, c);
    else
        bdev_create_uri(op->uri, uri_done, c);
}

static inline int create(const char *uri, struct bdev **out, char *err)
{
    struct uri_op op = {.uri = uri};
    int rc = harness_run(0, uri_on_primary, &op);
    if (out)
        *out = op.b;
    if (err)
        strcpy(err, op.err);
    return rc;
}

static void noop_call(struct harness_call *c) { harness_done(c, 0); }

/* Lets every reactor run a few more loop turns (cancelled polls complete). */
static inline void settle(void)
{
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < reactor_count(); i++)
            assert_int_equal(harness_run(i, noop_call, NULL), 0);
}

static inline int destroy(const char *uri, char *err)
{
    struct uri_op op = {.uri = uri, .destroy = true};
    int rc = harness_run(0, uri_on_primary, &op);
    if (err)
        strcpy(err, op.err);
    settle();
    return rc;
}

struct open_op {
    const char *name;
    struct bdev_desc *desc;
    const char *claim; /* optional module name to claim with */
};

static void open_on_primary(struct harness_call *c)
{
    struct open_op *o = c->arg;
    int rc = bdev_open(o->name, &o->desc);
    if (!rc && o->claim)
        rc = bdev_claim(o->desc, o->claim);
    harness_done(c, rc);
}

static void close_on_primary(struct harness_call *c)
{
    bdev_close(c->arg);
    harness_done(c, 0);
}

static inline struct bdev_desc *open_dev(const char *name)
{
    struct open_op o = {.name = name};
    assert_int_equal(harness_run(0, open_on_primary, &o), 0);
    return o.desc;
}

static inline void close_dev(struct bdev_desc *d)
{
    assert_int_equal(harness_run(0, close_on_primary, d), 0);
}

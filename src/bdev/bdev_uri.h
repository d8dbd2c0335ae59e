/* Creating and destroying block devices from URIs (behaviour §2):
 *   malloc:///name?size_mb=N|num_blocks=N&blk_size=512|4096&uuid=U
 *   null:///name?...            (same parameters)
 *   aio:///path?blk_size=&uuid=&rescan     (libaio)
 *   uring:///path?blk_size=&uuid=          (io_uring)
 *   bdev:///name?uuid=  loopback:///name?uuid=   (references to an existing device)
 * Errors: -EINVAL (bad URI, unknown scheme or parameter, size), -ENOENT (no such file or
 * device), -EEXIST (name taken), -EBUSY (claimed), with a message for the user.
 *
 * Both calls run on the primary reactor and complete asynchronously there (opening and
 * sizing a file may block, so that part runs off the reactor). */
#pragma once
#include <stddef.h>

#include "bdev.h"

#define BDEV_ERRMSG_LEN 256

typedef void (*bdev_uri_done)(void *arg, int rc, struct bdev *b, const char *errmsg);

void bdev_create_uri(const char *uri, bdev_uri_done done, void *arg);
void bdev_destroy_uri(const char *uri, bdev_uri_done done, void *arg);
/* The device name a URI refers to ("/dev/sdb" for aio:///dev/sdb, "m0" for
 * malloc:///m0). 0 or -EINVAL with a message. */
int bdev_uri_name(const char *uri, char *name, size_t len, char *err, size_t errlen);

/* A backend for one URI scheme. `create` validates the parsed URI and builds the device
 * (not registered); it may block (runs on an offload thread) and must not touch the
 * device table. `name` is the device name the URI designates. */
struct uri;
struct bdev_scheme {
    const char *scheme;
    int (*name)(const struct uri *u, char *name, size_t len, char *err, size_t errlen);
    int (*create)(const struct uri *u, const char *name, struct bdev **out, char *err,
                  size_t errlen);
    /* Instead of `create`, for devices that need the reactors to come up (a remote
     * controller to connect to): runs on the primary and calls done there with the built,
     * unregistered device, or an error and a message. */
    void (*create_async)(const struct uri *u, const char *name,
                         void (*done)(void *arg, int rc, struct bdev *b, const char *errmsg),
                         void *arg);
    /* The driver name of the devices it makes, when it is not the scheme's name. */
    const char *driver;
};

/* Shared parameter parsing for backends. */
int bdev_param_uuid(const struct uri *u, uuid_t out, bool *given, char *err, size_t errlen);
int bdev_param_u64(const struct uri *u, const char *key, uint64_t *out, bool *given, char *err,
                   size_t errlen);

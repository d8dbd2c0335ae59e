/* JSON-RPC methods of the block-device layer and the device view of gRPC BdevRpc.
 *
 * The SPDK-named methods keep SPDK's parameter names, result shapes and error codes
 * (negative errno, -ENODEV for an unknown device); creation and deletion go through the
 * URI layer (bdev_uri.h), so a device made here is the same as one made from its URI,
 * and carries that URI as its first alias. Parameter problems answer -32602 (invalid
 * params) with a message naming the parameter, and so does an -EINVAL from the URI layer,
 * which at this level can only come from a bad parameter value. docs/block-devices.md is
 * the reference. */
#include "bdev_rpc.h"
#include "jsonrpc/params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_uri.h"
#include "core/log.h"

/* ---- device view (gRPC) ---- */

void bdev_view_free(struct bdev_view *v)
{
    free(v->name);
    free(v->claimed_by);
    free(v->aliases);
    free(v->uri);
    free(v->product_name);
    free(v->share_uri);
    memset(v, 0, sizeof(*v));
}

int bdev_views_collect(const struct bdev *only, struct bdev_view **views, size_t *n)
{
    size_t count = 0;
    for (const struct bdev *b = bdev_first(); b; b = bdev_next((struct bdev *)b))
        count += !only || b == only;
    struct bdev_view *v = calloc(count ? count : 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t done = 0;
    for (const struct bdev *b = bdev_first(); b && done < count; b = bdev_next((struct bdev *)b)) {
        if (only && b != only)
            continue;
        if (bdev_view_get(b, &v[done])) {
            bdev_views_free(v, done);
            return -ENOMEM;
        }
        done++;
    }
    *views = v;
    *n = done;
    return 0;
}

void bdev_views_free(struct bdev_view *views, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bdev_view_free(&views[i]);
    free(views);
}

int bdev_view_get(const struct bdev *b, struct bdev_view *v)
{
    memset(v, 0, sizeof(*v));
    size_t n = 1;
    for (const struct bdev_alias *a = b->aliases; a; a = a->next)
        n += strlen(a->name) + 1;
    v->aliases = malloc(n);
    if (v->aliases) {
        char *p = v->aliases;
        for (const struct bdev_alias *a = b->aliases; a; a = a->next) {
            if (p != v->aliases)
                *p++ = ',';
            size_t l = strlen(a->name);
            memcpy(p, a->name, l);
            p += l;
        }
        *p = 0;
    }
    v->name = strdup(b->name);
    uuid_unparse_lower(b->uuid, v->uuid);
    v->num_blocks = b->num_blocks;
    v->blk_size = b->blk_size;
    v->claimed = b->claimed_by != NULL;
    v->claimed_by = strdup(b->claimed_by ? b->claimed_by : "Orphaned");
    v->uri = bdev_uri(b);
    v->product_name = strdup(b->product_name ? b->product_name : "");
    v->share_uri = bdev_share_uri(b);
    if (!v->aliases || !v->name || !v->claimed_by || !v->uri || !v->product_name ||
        !v->share_uri) {
        bdev_view_free(v);
        return -ENOMEM;
    }
    return 0;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *bdev_rpc_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = '=';
    }
    *o = 0;
    return out;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int bdev_rpc_base64_decode(const char *s, void **out, size_t *len)
{
    size_t n = strlen(s);
    *out = NULL;
    *len = 0;
    if (n % 4)
        return -EINVAL;
    size_t pad = 0;
    if (n && s[n - 1] == '=')
        pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
    size_t olen = n / 4 * 3 - pad;
    unsigned char *buf = malloc(olen ? olen : 1), *o = buf;
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        for (int k = 0; k < 4; k++) {
            bool padded = last && k >= 4 - (int)pad;
            v[k] = padded ? 0 : b64_val(s[i + (size_t)k]);
            if (v[k] < 0) {
                free(buf);
                return -EINVAL;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        /* Bits below the padding must be zero (canonical encoding). */
        if (last && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))) {
            free(buf);
            return -EINVAL;
        }
        *o++ = (unsigned char)(w >> 16);
        if (!last || pad < 2)
            *o++ = (unsigned char)(w >> 8);
        if (!last || pad < 1)
            *o++ = (unsigned char)w;
    }
    *out = buf;
    *len = olen;
    return 0;
}

/* ---- URIs ---- */

/* Writes s percent-encoded: RFC 3986 unreserved characters stay, and '/' too when
 * keep_slash (file paths). */
static void put_encoded(FILE *f, const char *s, bool keep_slash)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~", *c) || (keep_slash && *c == '/'))
            fputc(*c, f);
        else
            fprintf(f, "%%%02X", *c);
    }
}

/* Device URI of a name (malloc:///<name>) or a path (aio:///<path>), with parameters
 * from a NULL-terminated list of key/value pairs (values NULL are skipped). */
static char *make_uri(const char *scheme, const char *name, bool is_path, const char *const *kv)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "%s://%s", scheme, is_path ? "" : "/");
    put_encoded(f, name, is_path);
    char sep = '?';
    for (; kv && kv[0]; kv += 2) {
        if (!kv[1])
            continue;
        fprintf(f, "%c%s=", sep, kv[0]);
        put_encoded(f, kv[1], false);
        sep = '&';
    }
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- create / delete through the URI layer ---- */

static void create_done(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    struct jsonrpc_request *req = arg;
    if (rc) {
        /* -EINVAL at this level is always a bad parameter value (size, block size...). */
        jsonrpc_error(req, rc == -EINVAL ? JSONRPC_INVALID_PARAMS : rc, "%s",
                      errmsg ? errmsg : strerror(-rc));
        return;
    }
    jsonrpc_reply(req, json_string(b->name));
}

static void create_from_uri(struct jsonrpc_request *req, char *uri)
{
    if (!uri) {
        jsonrpc_error(req, -ENOMEM, "out of memory");
        return;
    }
    log_info("JSON-RPC: creating %s", uri);
    bdev_create_uri(uri, create_done, req);
    free(uri);
}

static void delete_done(void *arg, int rc, struct bdev *b, const char *errmsg)
{
    (void)b;
    struct jsonrpc_request *req = arg;
    if (rc == -ENOENT)
        rc = -ENODEV; /* SPDK's code for an unknown device */
    if (rc)
        jsonrpc_error(req, rc, "%s", errmsg ? errmsg : strerror(-rc));
    else
        jsonrpc_reply(req, NULL);
}

/* bdev_<driver>_delete {name}: the device (name or alias) must be of that driver; SPDK
 * answers -ENODEV otherwise. */
static void delete_device(struct jsonrpc_request *req, json_t *params, const char *method,
                          const char *driver, bool is_path)
{
    const char *name = NULL;
    const struct jsonrpc_param spec[] = {{"name", P_STR, true, &name, NULL}, {0}};
    if (!jsonrpc_decode_params(req, method, params, spec))
        return;
    struct bdev *b = bdev_lookup(name);
    if (!b || strcmp(b->ops->driver, driver)) {
        jsonrpc_error(req, -ENODEV, "No such device: no %s device named '%s'", driver, name);
        return;
    }
    char *uri = make_uri(driver, b->name, is_path, NULL);
    if (!uri) {
        jsonrpc_error(req, -ENOMEM, "out of memory");
        return;
    }
    log_info("JSON-RPC: destroying %s", uri);
    bdev_destroy_uri(uri, delete_done, req);
    free(uri);
}

static void u64_text(char *buf, size_t len, uint64_t v)
{
    snprintf(buf, len, "%" PRIu64, v);
}

/* bdev_malloc_create / bdev_null_create: {name, num_blocks, block_size, uuid}. */
static void create_ram(struct jsonrpc_request *req, json_t *params, const char *method,
                       const char *scheme, bool name_required)
{
    const char *name = NULL, *uuid = NULL;
    uint64_t num_blocks = 0, block_size = 0;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, name_required, &name, NULL},
        {"num_blocks", P_U64, true, &num_blocks, NULL},
        {"block_size", P_U64, true, &block_size, NULL},
        {"uuid", P_UUID, false, &uuid, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, method, params, spec))
        return;
    char gen[32];
    if (!name) {
        /* SPDK's default: Malloc0, Malloc1... from a counter that only grows. */
        static unsigned seq;
        do
            snprintf(gen, sizeof(gen), "Malloc%u", seq++);
        while (bdev_lookup(gen));
        name = gen;
    }
    if (!*name) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: 'name' must not be empty", method);
        return;
    }
    if (!num_blocks || !block_size) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: num_blocks and block_size must be > 0",
                      method);
        return;
    }
    char nb[24], bs[24];
    u64_text(nb, sizeof(nb), num_blocks);
    u64_text(bs, sizeof(bs), block_size);
    const char *kv[] = {"num_blocks", nb, "blk_size", bs, "uuid", uuid, NULL};
    create_from_uri(req, make_uri(scheme, name, false, kv));
}

/* bdev_aio_create / bdev_uring_create: {name, filename, block_size, uuid} (+ aio's
 * readonly/fallocate, accepted when false). Our device name is the file path, so a name
 * is accepted only when it equals filename. */
static void create_file(struct jsonrpc_request *req, json_t *params, const char *method,
                        const char *scheme, bool aio)
{
    const char *name = NULL, *filename = NULL, *uuid = NULL;
    uint64_t block_size = 0;
    bool readonly = false, fallocate = false;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, false, &name, NULL},
        {"filename", P_STR, true, &filename, NULL},
        {"block_size", P_U64, false, &block_size, NULL},
        {"uuid", P_UUID, false, &uuid, NULL},
        /* aio only: for uring the NULL key ends the list here */
        {aio ? "readonly" : NULL, P_BOOL, false, &readonly, NULL},
        {"fallocate", P_BOOL, false, &fallocate, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, method, params, spec))
        return;
    if (filename[0] != '/') {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: filename must be an absolute path, not '%s'",
                      method, filename);
        return;
    }
    if (name && strcmp(name, filename)) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "%s: the device name is its file path: 'name' must be absent or equal "
                      "to filename ('%s')",
                      method, filename);
        return;
    }
    if (readonly || fallocate) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: '%s' is not supported", method,
                      readonly ? "readonly" : "fallocate");
        return;
    }
    char bs[24];
    u64_text(bs, sizeof(bs), block_size);
    /* block_size 0 or absent: the backend's default (512 for files, the device's own
     * logical block size for block devices). */
    const char *kv[] = {"blk_size", block_size ? bs : NULL, "uuid", uuid, NULL};
    create_from_uri(req, make_uri(scheme, filename, true, kv));
}

static void malloc_create(struct jsonrpc_request *req, json_t *params)
{
    create_ram(req, params, "bdev_malloc_create", "malloc", false);
}

static void malloc_delete(struct jsonrpc_request *req, json_t *params)
{
    delete_device(req, params, "bdev_malloc_delete", "malloc", false);
}

static void null_create(struct jsonrpc_request *req, json_t *params)
{
    create_ram(req, params, "bdev_null_create", "null", true);
}

static void null_delete(struct jsonrpc_request *req, json_t *params)
{
    delete_device(req, params, "bdev_null_delete", "null", false);
}

static void aio_create(struct jsonrpc_request *req, json_t *params)
{
    create_file(req, params, "bdev_aio_create", "aio", true);
}

static void aio_delete(struct jsonrpc_request *req, json_t *params)
{
    delete_device(req, params, "bdev_aio_delete", "aio", true);
}

static void uring_create(struct jsonrpc_request *req, json_t *params)
{
    create_file(req, params, "bdev_uring_create", "uring", false);
}

static void uring_delete(struct jsonrpc_request *req, json_t *params)
{
    delete_device(req, params, "bdev_uring_delete", "uring", true);
}

/* ---- bdev_get_bdevs ---- */

static json_t *bdev_json(const struct bdev *b)
{
    char uuid[37];
    uuid_unparse_lower(b->uuid, uuid);
    json_t *aliases = json_array();
    for (const struct bdev_alias *a = b->aliases; a; a = a->next)
        json_array_append_new(aliases, json_string(a->name));
    json_t *io = json_object();
    static const struct {
        const char *name;
        int type; /* enum bdev_io_type, or -1: a type this layer does not have */
    } types[] = {
        {"read", BDEV_IO_READ},
        {"write", BDEV_IO_WRITE},
        {"unmap", BDEV_IO_UNMAP},
        {"flush", BDEV_IO_FLUSH},
        {"reset", BDEV_IO_RESET},
        {"compare", -1},
        {"compare_and_write", -1},
        {"abort", -1},
        {"seek_hole", -1},
        {"seek_data", -1},
        {"copy", -1},
        {"nvme_admin", -1},
        {"nvme_io", -1},
        {"nvme_io_md", -1},
        {"write_zeroes", BDEV_IO_WRITE_ZEROES},
        {"zcopy", -1},
        {"get_zone_info", -1},
        {"zone_management", -1},
        {"zone_append", -1},
        {"nvme_iov_md", -1},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        json_object_set_new(io, types[i].name,
                            json_boolean(types[i].type >= 0 &&
                                         bdev_io_type_supported(b, (enum bdev_io_type)types[i].type)));
    /* SPDK's shape: {"<driver>": {...}}, {} for a driver with nothing to add. */
    json_t *ds = json_object();
    if (b->ops->dump_info) {
        json_t *mine = json_object();
        b->ops->dump_info(b, mine);
        json_object_set_new(ds, b->ops->driver, mine);
    }
    json_t *o = json_pack("{s:s, s:o, s:s, s:I, s:I, s:s, s:{s:i, s:i, s:i, s:i}, s:b}",
                          "name", b->name, "aliases", aliases, "product_name",
                          b->product_name ? b->product_name : "", "block_size",
                          (json_int_t)b->blk_size, "num_blocks", (json_int_t)b->num_blocks, "uuid",
                          uuid, "assigned_rate_limits", "rw_ios_per_sec", 0, "rw_mbytes_per_sec",
                          0, "r_mbytes_per_sec", 0, "w_mbytes_per_sec", 0, "claimed",
                          b->claimed_by != NULL);
    if (!o) {
        json_decref(io);
        json_decref(ds);
        return NULL;
    }
    if (b->claimed_by) {
        /* A module's claim is SPDK's v1 claim: exclusive write. */
        json_object_set_new(o, "claim_type", json_string("exclusive_write"));
        json_object_set_new(o, "claimed_by", json_string(b->claimed_by));
    }
    json_object_set_new(o, "zoned", json_false());
    json_object_set_new(o, "supported_io_types", io);
    json_object_set_new(o, "driver_specific", ds);
    return o;
}

static void get_bdevs(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    uint64_t timeout = 0;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, false, &name, NULL},
        {"timeout", P_U64, false, &timeout, NULL}, /* accepted; devices appear synchronously */
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_get_bdevs", params, spec))
        return;
    json_t *arr = json_array();
    if (name) {
        struct bdev *b = bdev_lookup(name);
        if (!b) {
            json_decref(arr);
            jsonrpc_error(req, -ENODEV, "No such device: '%s'", name);
            return;
        }
        json_array_append_new(arr, bdev_json(b));
    } else {
        for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
            json_array_append_new(arr, bdev_json(b));
    }
    jsonrpc_reply(req, arr);
}

/* ---- bdev_get_iostat / bdev_reset_iostat ---- */

static json_t *iostat_json(const struct bdev *b)
{
    struct bdev_io_stats s;
    bdev_get_stats(b, &s);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(b->name));
#define SET(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
    SET("bytes_read", s.bytes_read);
    SET("num_read_ops", s.num_read_ops);
    SET("bytes_written", s.bytes_written);
    SET("num_write_ops", s.num_write_ops);
    SET("bytes_unmapped", s.bytes_unmapped);
    SET("num_unmap_ops", s.num_unmap_ops);
    SET("bytes_copied", 0);
    SET("num_copy_ops", 0);
    SET("read_latency_ticks", s.read_latency_ticks);
    SET("max_read_latency_ticks", s.max_read_latency_ticks);
    SET("min_read_latency_ticks", s.min_read_latency_ticks);
    SET("write_latency_ticks", s.write_latency_ticks);
    SET("max_write_latency_ticks", s.max_write_latency_ticks);
    SET("min_write_latency_ticks", s.min_write_latency_ticks);
    SET("unmap_latency_ticks", s.unmap_latency_ticks);
    SET("max_unmap_latency_ticks", s.max_unmap_latency_ticks);
    SET("min_unmap_latency_ticks", s.min_unmap_latency_ticks);
    SET("copy_latency_ticks", 0);
    SET("max_copy_latency_ticks", 0);
    SET("min_copy_latency_ticks", 0);
    /* Ours, beyond SPDK's set: the layer counts these too. */
    SET("bytes_write_zeroed", s.bytes_write_zeroed);
    SET("num_write_zeroes_ops", s.num_write_zeroes_ops);
    SET("num_flush_ops", s.num_flush_ops);
    SET("num_reset_ops", s.num_reset_ops);
    SET("num_errors", s.num_errors);
#undef SET
    return o;
}

static void get_iostat(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    bool per_channel = false;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, false, &name, NULL},
        {"per_channel", P_BOOL, false, &per_channel, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_get_iostat", params, spec))
        return;
    if (per_channel) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_get_iostat: per_channel statistics are not supported");
        return;
    }
    struct bdev *only = NULL;
    if (name && !(only = bdev_lookup(name))) {
        jsonrpc_error(req, -ENODEV, "No such device: '%s'", name);
        return;
    }
    json_t *arr = json_array();
    for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
        if (!only || b == only)
            json_array_append_new(arr, iostat_json(b));
    jsonrpc_reply(req, json_pack("{s:I, s:I, s:o}", "tick_rate", (json_int_t)bdev_tick_rate(),
                                 "ticks", (json_int_t)bdev_ticks(), "bdevs", arr));
}

static void reset_done(void *arg)
{
    jsonrpc_reply(arg, NULL);
}

static void reset_iostat(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *mode = NULL;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, false, &name, NULL},
        {"mode", P_STR, false, &mode, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "bdev_reset_iostat", params, spec))
        return;
    if (mode && strcmp(mode, "all")) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS,
                      "bdev_reset_iostat: mode '%s' is not supported (only \"all\")", mode);
        return;
    }
    struct bdev *b = NULL;
    if (name && !(b = bdev_lookup(name))) {
        jsonrpc_error(req, -ENODEV, "No such device: '%s'", name);
        return;
    }
    bdev_reset_stats(b, reset_done, req);
}

/* ---- ioe_bdev_write / ioe_bdev_read (diagnostics) ---- */

#define IOE_IO_MAX (4u << 20)

struct ioe_io {
    struct bdev_io io; /* first: its alignment */
    struct jsonrpc_request *req;
    struct bdev_desc *desc;
    struct bdev_channel *ch;
    struct iovec iov;
    void *buf;
    uint64_t offset_blocks, num_blocks;
};

static void ioe_free(struct ioe_io *x)
{
    /* Closed before the answer, so a caller may destroy the device right after it. */
    bdev_close(x->desc);
    free(x->buf);
    free(x);
}

/* Opens the device and checks the range; answers and returns NULL on a problem. */
static struct ioe_io *ioe_start(struct jsonrpc_request *req, const char *method, const char *name,
                                uint64_t offset, uint64_t length)
{
    struct bdev_desc *desc;
    int rc = bdev_open(name, &desc);
    if (rc) {
        jsonrpc_error(req, rc, rc == -ENODEV ? "No such device: '%s'" : "cannot open '%s'", name);
        return NULL;
    }
    struct bdev *b = bdev_desc_bdev(desc);
    uint64_t blk = b->blk_size;
    const char *bad = NULL;
    if (!length)
        bad = "the length must not be 0";
    else if (length > IOE_IO_MAX)
        bad = "at most 4 MiB per call";
    else if (offset % blk || length % blk)
        bad = "offset and length must be multiples of the block size";
    else if (offset / blk >= b->num_blocks || length / blk > b->num_blocks - offset / blk)
        bad = "the range is beyond the end of the device";
    if (bad) {
        jsonrpc_error(req, JSONRPC_INVALID_PARAMS, "%s: %s (device '%s': %" PRIu64
                      " blocks of %" PRIu64 " bytes)", method, bad, b->name, b->num_blocks, blk);
        bdev_close(desc);
        return NULL;
    }
    struct ioe_io *x = calloc(1, sizeof(*x));
    size_t align = b->required_alignment > 4096 ? b->required_alignment : 4096;
    void *buf = aligned_alloc(align, (length + align - 1) / align * align);
    struct bdev_channel *ch = x && buf ? bdev_get_channel(desc) : NULL;
    if (!ch) {
        jsonrpc_error(req, -ENOMEM, "%s: out of memory", method);
        free(buf);
        free(x);
        bdev_close(desc);
        return NULL;
    }
    x->req = req;
    x->desc = desc;
    x->ch = ch;
    x->buf = buf;
    x->iov.iov_base = buf;
    x->iov.iov_len = length;
    x->offset_blocks = offset / blk;
    x->num_blocks = length / blk;
    return x;
}

static void ioe_fail(struct ioe_io *x, const char *what, int status)
{
    struct jsonrpc_request *req = x->req;
    char name[256];
    snprintf(name, sizeof(name), "%s", bdev_desc_bdev(x->desc)->name);
    ioe_free(x);
    jsonrpc_error(req, status, "%s of '%s' failed: %s", what, name, strerror(-status));
}

static void flush_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct ioe_io *x = arg;
    if (status) {
        ioe_fail(x, "flush", status);
        return;
    }
    struct jsonrpc_request *req = x->req;
    ioe_free(x);
    jsonrpc_reply(req, NULL);
}

static void write_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct ioe_io *x = arg;
    if (status) {
        ioe_fail(x, "write", status);
        return;
    }
    /* An acknowledged write is durable: flush it where the device caches. */
    if (bdev_io_type_supported(bdev_desc_bdev(x->desc), BDEV_IO_FLUSH)) {
        bdev_flush(x->ch, &x->io, x->offset_blocks, x->num_blocks, flush_done, x);
        return;
    }
    flush_done(&x->io, 0, x);
}

static void ioe_write(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL, *data = NULL;
    uint64_t offset = 0;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},
        {"offset", P_U64, true, &offset, NULL},
        {"data", P_STR, true, &data, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "ioe_bdev_write", params, spec))
        return;
    void *bytes;
    size_t len;
    int rc = bdev_rpc_base64_decode(data, &bytes, &len);
    if (rc) {
        jsonrpc_error(req, rc == -EINVAL ? JSONRPC_INVALID_PARAMS : rc,
                      "ioe_bdev_write: 'data' is not valid base64");
        return;
    }
    struct ioe_io *x = ioe_start(req, "ioe_bdev_write", name, offset, len);
    if (x) {
        memcpy(x->buf, bytes, len);
        bdev_writev(x->ch, &x->io, &x->iov, 1, x->offset_blocks, x->num_blocks, write_done, x);
    }
    free(bytes);
}

static void read_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct ioe_io *x = arg;
    if (status) {
        ioe_fail(x, "read", status);
        return;
    }
    char *s = bdev_rpc_base64_encode(x->buf, x->iov.iov_len);
    struct jsonrpc_request *req = x->req;
    ioe_free(x);
    if (!s) {
        jsonrpc_error(req, -ENOMEM, "ioe_bdev_read: out of memory");
        return;
    }
    jsonrpc_reply(req, json_pack("{s:s}", "data", s));
    free(s);
}

static void ioe_read(struct jsonrpc_request *req, json_t *params)
{
    const char *name = NULL;
    uint64_t offset = 0, length = 0;
    const struct jsonrpc_param spec[] = {
        {"name", P_STR, true, &name, NULL},
        {"offset", P_U64, true, &offset, NULL},
        {"length", P_U64, true, &length, NULL},
        {0},
    };
    if (!jsonrpc_decode_params(req, "ioe_bdev_read", params, spec))
        return;
    struct ioe_io *x = ioe_start(req, "ioe_bdev_read", name, offset, length);
    if (x)
        bdev_readv(x->ch, &x->io, &x->iov, 1, x->offset_blocks, x->num_blocks, read_done, x);
}

/* ---- the table ---- */

const struct jsonrpc_method bdev_rpc_m_get_bdevs = {"bdev_get_bdevs", get_bdevs};
const struct jsonrpc_method bdev_rpc_m_get_iostat = {"bdev_get_iostat", get_iostat};
const struct jsonrpc_method bdev_rpc_m_reset_iostat = {"bdev_reset_iostat", reset_iostat};
const struct jsonrpc_method bdev_rpc_m_malloc_create = {"bdev_malloc_create", malloc_create};
const struct jsonrpc_method bdev_rpc_m_malloc_delete = {"bdev_malloc_delete", malloc_delete};
const struct jsonrpc_method bdev_rpc_m_null_create = {"bdev_null_create", null_create};
const struct jsonrpc_method bdev_rpc_m_null_delete = {"bdev_null_delete", null_delete};
const struct jsonrpc_method bdev_rpc_m_aio_create = {"bdev_aio_create", aio_create};
const struct jsonrpc_method bdev_rpc_m_aio_delete = {"bdev_aio_delete", aio_delete};
const struct jsonrpc_method bdev_rpc_m_uring_create = {"bdev_uring_create", uring_create};
const struct jsonrpc_method bdev_rpc_m_uring_delete = {"bdev_uring_delete", uring_delete};
const struct jsonrpc_method bdev_rpc_m_ioe_write = {"ioe_bdev_write", ioe_write};
const struct jsonrpc_method bdev_rpc_m_ioe_read = {"ioe_bdev_read", ioe_read};

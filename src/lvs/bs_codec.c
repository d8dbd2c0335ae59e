/* Pure encode/decode of the blobstore on-disk format (docs/on-disk-format.md). */
#include "bs_codec.h"

#include "core/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- CRC-32C (src/core/crc32c.c) ---- */

uint32_t bs_crc32c_sw(const void *buf, size_t len)
{
    return crc32c_final(crc32c_update_sw(CRC32C_INIT, buf, len));
}

uint32_t bs_crc32c(const void *buf, size_t len) { return crc32c(buf, len); }
bool bs_crc32c_hw_available(void) { return crc32c_hw_available(); }

/* ---- bit arrays ---- */

int bs_bitmap_init(struct bs_bitmap *b, uint32_t nbits)
{
    size_t words = ((size_t)nbits + 63) / 64;
    b->w = calloc(words ? words : 1, sizeof(uint64_t));
    b->n = nbits;
    b->hint = 0;
    return b->w ? 0 : -ENOMEM;
}

void bs_bitmap_free(struct bs_bitmap *b)
{
    free(b->w);
    b->w = NULL;
    b->n = 0;
    b->hint = 0;
}

int bs_bitmap_resize(struct bs_bitmap *b, uint32_t nbits)
{
    if (nbits <= b->n)
        return nbits == b->n ? 0 : -EINVAL;
    size_t oldw = ((size_t)b->n + 63) / 64, neww = ((size_t)nbits + 63) / 64;
    if (neww > oldw) {
        uint64_t *n = realloc(b->w, neww * sizeof(uint64_t));
        if (!n)
            return -ENOMEM;
        memset(n + oldw, 0, (neww - oldw) * sizeof(uint64_t));
        b->w = n;
    }
    b->n = nbits;
    return 0;
}

void bs_bit_set(struct bs_bitmap *b, uint32_t i)
{
    if (i < b->n)
        b->w[i / 64] |= 1ull << (i % 64);
}

void bs_bit_clear(struct bs_bitmap *b, uint32_t i)
{
    if (i < b->n) {
        b->w[i / 64] &= ~(1ull << (i % 64));
        if (i < b->hint)
            b->hint = i;
    }
}

void bs_bitmap_clear_all(struct bs_bitmap *b)
{
    memset(b->w, 0, ((size_t)b->n + 63) / 64 * sizeof(uint64_t));
    b->hint = 0;
}

uint32_t bs_bitmap_find_clear(struct bs_bitmap *b, uint32_t from)
{
    bool from_hint = from <= b->hint;
    uint32_t i = from_hint ? b->hint : from;
    uint32_t res = BS_INVALID32;
    while (i < b->n) {
        uint64_t w = ~b->w[i / 64] >> (i % 64);
        if (w) {
            uint32_t c = i + (uint32_t)__builtin_ctzll(w);
            if (c < b->n)
                res = c;
            break;
        }
        i = (i / 64 + 1) * 64;
    }
    if (from_hint)
        b->hint = res == BS_INVALID32 ? b->n : res;
    return res;
}

uint32_t bs_bitmap_find_set(const struct bs_bitmap *b, uint32_t from)
{
    uint32_t i = from;
    while (i < b->n) {
        uint64_t w = b->w[i / 64] >> (i % 64);
        if (w) {
            uint32_t c = i + (uint32_t)__builtin_ctzll(w);
            return c < b->n ? c : BS_INVALID32;
        }
        i = (i / 64 + 1) * 64;
    }
    return BS_INVALID32;
}

uint32_t bs_bitmap_count(const struct bs_bitmap *b)
{
    uint32_t c = 0;
    for (size_t i = 0; i < ((size_t)b->n + 63) / 64; i++)
        c += (uint32_t)__builtin_popcountll(b->w[i]);
    return c;
}

bool bs_bitmap_equal(const struct bs_bitmap *a, const struct bs_bitmap *b)
{
    return a->n == b->n && !memcmp(a->w, b->w, ((size_t)a->n + 63) / 64 * sizeof(uint64_t));
}

/* ---- super block ---- */

uint32_t bs_mask_pages(uint64_t nbits)
{
    return (uint32_t)((BS_MASK_HDR + (nbits + 7) / 8 + BS_PG - 1) / BS_PG);
}

void bs_bstype_fill(uint8_t out[BS_BSTYPE_LEN], const char *s)
{
    memset(out, 0, BS_BSTYPE_LEN);
    if (s)
        memcpy(out, s, strnlen(s, BS_BSTYPE_LEN));
}

int bs_layout_compute(uint64_t blockcnt, uint32_t blocklen, uint32_t cluster_size, uint32_t ratio,
                      const char *bstype, struct bs_super *sb)
{
    if (!blocklen || BS_PG % blocklen || cluster_size < BS_PG || cluster_size % BS_PG)
        return -EINVAL;
    if (!ratio)
        ratio = 100;
    uint64_t total = blockcnt / (cluster_size / blocklen);
    if (total > UINT32_MAX)
        return -EINVAL;
    uint64_t md_len = (uint64_t)ratio * total / 100;
    if (!md_len || md_len > UINT32_MAX / 2)
        return -EINVAL;
    memset(sb, 0, sizeof(*sb));
    sb->version = BS_VERSION;
    sb->length = BS_PG;
    sb->clean = 0;
    sb->super_blob = BS_INVALID64;
    sb->cluster_size = cluster_size;
    sb->used_page_mask_start = 1;
    sb->used_page_mask_len = bs_mask_pages(md_len);
    sb->used_cluster_mask_start = 1 + sb->used_page_mask_len;
    sb->used_cluster_mask_len = bs_mask_pages(total);
    uint32_t reserved = sb->used_page_mask_len > sb->used_cluster_mask_len ? sb->used_page_mask_len
                                                                           : sb->used_cluster_mask_len;
    sb->used_blobid_mask_start = sb->used_cluster_mask_start + reserved;
    sb->used_blobid_mask_len = bs_mask_pages(md_len);
    sb->md_start = sb->used_blobid_mask_start + sb->used_blobid_mask_len;
    sb->md_len = (uint32_t)md_len;
    bs_bstype_fill(sb->bstype, bstype);
    sb->size = blockcnt * blocklen;
    sb->io_unit_size = blocklen;
    if (bs_super_md_clusters(sb) > total)
        return -ENOMEM;
    return 0;
}

uint64_t bs_super_md_clusters(const struct bs_super *sb)
{
    uint64_t ppc = sb->cluster_size / BS_PG;
    if (!ppc)
        return 0;
    return ((uint64_t)sb->md_start + sb->md_len + ppc - 1) / ppc;
}

void bs_super_encode(const struct bs_super *sb, uint8_t *p)
{
    memset(p, 0, BS_PG);
    memcpy(p, "SPDKBLOB", 8);
    bs_put32(p + 0x08, sb->version);
    bs_put32(p + 0x0C, sb->length);
    bs_put32(p + 0x10, sb->clean);
    bs_put64(p + 0x14, sb->super_blob);
    bs_put32(p + 0x1C, sb->cluster_size);
    bs_put32(p + 0x20, sb->used_page_mask_start);
    bs_put32(p + 0x24, sb->used_page_mask_len);
    bs_put32(p + 0x28, sb->used_cluster_mask_start);
    bs_put32(p + 0x2C, sb->used_cluster_mask_len);
    bs_put32(p + 0x30, sb->md_start);
    bs_put32(p + 0x34, sb->md_len);
    memcpy(p + 0x38, sb->bstype, BS_BSTYPE_LEN);
    bs_put32(p + 0x48, sb->used_blobid_mask_start);
    bs_put32(p + 0x4C, sb->used_blobid_mask_len);
    bs_put64(p + 0x50, sb->size);
    bs_put32(p + 0x58, sb->io_unit_size);
    bs_put32(p + 0x5C, sb->md_page_size);
    bs_page_set_crc(p);
}

void bs_super_decode(const uint8_t *p, struct bs_super *sb)
{
    memset(sb, 0, sizeof(*sb));
    sb->version = bs_le32(p + 0x08);
    sb->length = bs_le32(p + 0x0C);
    sb->clean = bs_le32(p + 0x10);
    sb->super_blob = bs_le64(p + 0x14);
    sb->cluster_size = bs_le32(p + 0x1C);
    sb->used_page_mask_start = bs_le32(p + 0x20);
    sb->used_page_mask_len = bs_le32(p + 0x24);
    sb->used_cluster_mask_start = bs_le32(p + 0x28);
    sb->used_cluster_mask_len = bs_le32(p + 0x2C);
    sb->md_start = bs_le32(p + 0x30);
    sb->md_len = bs_le32(p + 0x34);
    memcpy(sb->bstype, p + 0x38, BS_BSTYPE_LEN);
    sb->used_blobid_mask_start = bs_le32(p + 0x48);
    sb->used_blobid_mask_len = bs_le32(p + 0x4C);
    sb->size = bs_le64(p + 0x50);
    sb->io_unit_size = bs_le32(p + 0x58);
    sb->md_page_size = bs_le32(p + 0x5C);
    sb->crc = bs_le32(p + BS_CRC_OFF);
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

int bs_super_validate(const uint8_t *page, const char *bstype, uint64_t dev_bytes,
                      uint32_t dev_blocklen, struct bs_super *sb, char *err, size_t errlen)
{
    bs_super_decode(page, sb);
    if (sb->version < 1 || sb->version > BS_VERSION)
        return fail(err, errlen, -EILSEQ, "super block version %u not supported", sb->version);
    if (memcmp(page, "SPDKBLOB", 8))
        return fail(err, errlen, -EILSEQ, "no blobstore signature");
    if (!bs_page_crc_ok(page))
        return fail(err, errlen, -EILSEQ, "super block CRC mismatch (stored 0x%08x, computed 0x%08x)",
                    sb->crc, bs_page_crc(page));
    if (bstype) {
        uint8_t want[BS_BSTYPE_LEN], zero[BS_BSTYPE_LEN] = {0};
        bs_bstype_fill(want, bstype);
        if (memcmp(want, zero, BS_BSTYPE_LEN) && memcmp(want, sb->bstype, BS_BSTYPE_LEN))
            return fail(err, errlen, -ENXIO, "blobstore type '%.16s' is not '%.16s'",
                        (const char *)sb->bstype, bstype);
    }
    if (sb->size > dev_bytes)
        return fail(err, errlen, -EILSEQ, "blobstore size %" PRIu64 " exceeds the device (%" PRIu64 ")",
                    sb->size, dev_bytes);
    /* defaults */
    if (!sb->size)
        sb->size = dev_bytes;
    if (!sb->io_unit_size)
        sb->io_unit_size = BS_PG;
    /* our sanity checks: never anything the pinned SPDK writes */
    if (sb->md_page_size && sb->md_page_size != BS_PG)
        return fail(err, errlen, -EINVAL, "metadata page size %u not supported", sb->md_page_size);
    if (!sb->cluster_size || sb->cluster_size % BS_PG)
        return fail(err, errlen, -EINVAL, "bad cluster size %u", sb->cluster_size);
    if (BS_PG % sb->io_unit_size || sb->cluster_size % sb->io_unit_size)
        return fail(err, errlen, -EINVAL, "bad io unit size %u", sb->io_unit_size);
    if (dev_blocklen && sb->io_unit_size != dev_blocklen)
        return fail(err, errlen, -EINVAL, "io unit size %u differs from the device block size %u",
                    sb->io_unit_size, dev_blocklen);
    uint64_t total = sb->size / sb->cluster_size;
    if (total > UINT32_MAX)
        return fail(err, errlen, -EINVAL, "too many clusters (%" PRIu64 ")", total);
    if (!sb->md_len || sb->md_len > UINT32_MAX / 2)
        return fail(err, errlen, -EINVAL, "bad metadata length %u", sb->md_len);
    if (sb->used_page_mask_len < bs_mask_pages(sb->md_len) ||
        sb->used_cluster_mask_len < bs_mask_pages(total) ||
        (sb->used_blobid_mask_len && sb->used_blobid_mask_len < bs_mask_pages(sb->md_len)))
        return fail(err, errlen, -EINVAL, "mask regions too small for the metadata");
    uint64_t ps = sb->used_page_mask_start, pl = sb->used_page_mask_len;
    uint64_t cs = sb->used_cluster_mask_start, cl = sb->used_cluster_mask_len;
    uint64_t bs = sb->used_blobid_mask_start, bl = sb->used_blobid_mask_len;
    if (!ps || !cs || (bl && !bs) || ps + pl > sb->md_start || cs + cl > sb->md_start ||
        (bl && bs + bl > sb->md_start) || overlap(ps, pl, cs, cl) || overlap(ps, pl, bs, bl) ||
        overlap(cs, cl, bs, bl))
        return fail(err, errlen, -EINVAL, "mask regions overlap or run into the metadata region");
    if (((uint64_t)sb->md_start + sb->md_len) * BS_PG > sb->size ||
        bs_super_md_clusters(sb) > total)
        return fail(err, errlen, -EINVAL, "metadata region beyond the blobstore size");
    return 0;
}

/* ---- masks ---- */

void bs_mask_encode(uint8_t type, const struct bs_bitmap *bm, uint8_t *r, size_t rlen)
{
    memset(r, 0, rlen);
    r[0] = type;
    bs_put32(r + 1, bm->n);
    size_t bytes = ((size_t)bm->n + 7) / 8;
    if (BS_MASK_HDR + bytes > rlen)
        bytes = rlen - BS_MASK_HDR;
    for (size_t j = 0; j < bytes; j++)
        r[BS_MASK_HDR + j] = (uint8_t)(bm->w[j / 8] >> (8 * (j % 8)));
}

int bs_mask_decode(const uint8_t *r, size_t rlen, uint8_t type, uint32_t want, bool allow_longer,
                   struct bs_bitmap *bm, char *err, size_t errlen)
{
    if (rlen < BS_MASK_HDR)
        return fail(err, errlen, -EINVAL, "mask region too small");
    uint32_t len = bs_le32(r + 1);
    if (r[0] != type)
        return fail(err, errlen, -EINVAL, "mask type %u, expected %u", r[0], type);
    if (len != want && !(allow_longer && len > want))
        return fail(err, errlen, -EINVAL, "mask type %u has %u bits, expected %u", type, len, want);
    if (BS_MASK_HDR + ((uint64_t)len + 7) / 8 > rlen)
        return fail(err, errlen, -EINVAL, "mask type %u: %u bits do not fit in its region", type, len);
    int rc = bs_bitmap_init(bm, want);
    if (rc)
        return rc;
    for (uint32_t j = 0; j < (want + 7) / 8; j++)
        bm->w[j / 8] |= (uint64_t)r[BS_MASK_HDR + j] << (8 * (j % 8));
    if (want % 64) /* drop bits beyond want */
        bm->w[want / 64] &= (1ull << (want % 64)) - 1;
    return 0;
}

/* ---- xattr lists ---- */

int bs_xattr_find(const struct bs_xattr_list *l, const char *name)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            return (int)i;
    return -1;
}

static int xattr_append(struct bs_xattr_list *l, const char *name, size_t nl, const void *value,
                        size_t len)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        struct bs_xattr_ent *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct bs_xattr_ent *e = &l->v[l->n];
    e->name = malloc(nl + 1);
    e->value = malloc(len ? len : 1);
    if (!e->name || !e->value) {
        free(e->name);
        free(e->value);
        return -ENOMEM;
    }
    memcpy(e->name, name, nl);
    e->name[nl] = 0;
    if (len)
        memcpy(e->value, value, len);
    e->len = (uint16_t)len;
    l->n++;
    return 0;
}

int bs_xattr_set(struct bs_xattr_list *l, const char *name, const void *value, size_t len)
{
    if (!name || !*name || (len && !value))
        return -EINVAL;
    size_t nl = strlen(name);
    if (nl > UINT16_MAX || len > UINT16_MAX || 9 + nl + len > BS_DESC_AREA)
        return -ENOMEM;
    int i = bs_xattr_find(l, name);
    if (i < 0)
        return xattr_append(l, name, nl, value, len);
    uint8_t *v = malloc(len ? len : 1);
    if (!v)
        return -ENOMEM;
    if (len)
        memcpy(v, value, len);
    free(l->v[i].value);
    l->v[i].value = v;
    l->v[i].len = (uint16_t)len;
    return 0;
}

int bs_xattr_remove(struct bs_xattr_list *l, const char *name)
{
    int i = bs_xattr_find(l, name);
    if (i < 0)
        return -ENOENT;
    free(l->v[i].name);
    free(l->v[i].value);
    memmove(&l->v[i], &l->v[i + 1], (l->n - (uint32_t)i - 1) * sizeof(l->v[0]));
    l->n--;
    return 0;
}

void bs_xattr_list_free(struct bs_xattr_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int bs_xattr_list_copy(struct bs_xattr_list *dst, const struct bs_xattr_list *src)
{
    memset(dst, 0, sizeof(*dst));
    for (uint32_t i = 0; i < src->n; i++) {
        int rc = xattr_append(dst, src->v[i].name, strlen(src->v[i].name), src->v[i].value,
                              src->v[i].len);
        if (rc) {
            bs_xattr_list_free(dst);
            return rc;
        }
    }
    return 0;
}

void bs_blob_md_free(struct bs_blob_md *md)
{
    bs_xattr_list_free(&md->xattrs);
    bs_xattr_list_free(&md->ixattrs);
    free(md->clusters);
    free(md->extent_pages);
    md->clusters = NULL;
    md->extent_pages = NULL;
    md->num_clusters = md->num_extent_pages = 0;
}

/* ---- serialization (§5.8) ---- */

struct ser {
    uint64_t id;
    uint8_t *pages;
    uint32_t n;
    uint8_t *buf; /* write position in the last page */
    size_t rem;   /* descriptor bytes left in the last page */
};

static int ser_add_page(struct ser *s)
{
    uint8_t *p = realloc(s->pages, (size_t)(s->n + 1) * BS_PG);
    if (!p)
        return -ENOMEM;
    s->pages = p;
    uint8_t *pg = p + (size_t)s->n * BS_PG;
    memset(pg, 0, BS_PG);
    bs_put64(pg, s->id);
    bs_put32(pg + 8, s->n);
    bs_put32(pg + BS_NEXT_OFF, BS_INVALID32);
    s->n++;
    s->buf = pg + BS_DESC_OFF;
    s->rem = BS_DESC_AREA;
    return 0;
}

static int ser_xattrs(struct ser *s, const struct bs_xattr_list *l, uint8_t type)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct bs_xattr_ent *e = &l->v[i];
        size_t nl = strlen(e->name), req = 9 + nl + e->len;
        if (s->rem < req) {
            int rc = ser_add_page(s);
            if (rc)
                return rc;
            if (s->rem < req)
                return -ENOMEM;
        }
        uint8_t *d = s->buf;
        d[0] = type;
        bs_put32(d + 1, (uint32_t)(4 + nl + e->len));
        bs_put16(d + 5, (uint16_t)nl);
        bs_put16(d + 7, e->len);
        memcpy(d + 9, e->name, nl);
        memcpy(d + 9 + nl, e->value, e->len);
        s->buf += req;
        s->rem -= req;
    }
    return 0;
}

/* One EXTENT_TABLE descriptor from slot `start`; returns the next slot to serialize. */
static uint64_t ser_et_entry(struct ser *s, const struct bs_blob_md *md, uint64_t start)
{
    size_t cur = 5 + 8;
    if (s->rem < cur)
        return start;
    uint8_t *d = s->buf;
    d[0] = BS_DESC_EXTENT_TABLE;
    bs_put64(d + 5, md->num_clusters);
    uint32_t ep_len = 1;
    uint64_t et_idx = 0, i;
    for (i = start; i < md->num_extent_pages; i++) {
        if (s->rem < cur + 8) {
            /* Out of room while a run of empty slots is pending: end the descriptor before
             * the run (SPDK drops the run here, §13.1 item 3). */
            i -= ep_len - 1;
            break;
        }
        uint32_t ep = md->extent_pages[i];
        if (ep == 0 && i + 1 < md->num_extent_pages && md->extent_pages[i + 1] == 0) {
            ep_len++;
            continue;
        }
        bs_put32(d + 13 + 8 * et_idx, ep);
        bs_put32(d + 17 + 8 * et_idx, ep_len);
        et_idx++;
        ep_len = 1;
        cur += 8;
    }
    uint32_t length = (uint32_t)(8 + 8 * et_idx);
    bs_put32(d + 1, length);
    s->rem -= 5 + length;
    s->buf += 5 + length;
    return i;
}

static int ser_extent_table(struct ser *s, const struct bs_blob_md *md)
{
    uint64_t last = 0;
    while (last <= md->num_extent_pages) {
        last = ser_et_entry(s, md, last);
        if (last == md->num_extent_pages)
            break;
        int rc = ser_add_page(s);
        if (rc)
            return rc;
    }
    return 0;
}

/* One EXTENT_RLE descriptor from cluster slot `start`; returns the next slot. */
static uint64_t ser_rle_entry(struct ser *s, const struct bs_blob_md *md, uint64_t start)
{
    size_t cur = 5 + 8;
    if (s->rem < cur)
        return start;
    uint8_t *d = s->buf;
    d[0] = BS_DESC_EXTENT_RLE;
    uint64_t c = md->clusters[start], cnt = 1, idx = 0, next = md->num_clusters, i;
    bool done = false;
    for (i = start + 1; i < md->num_clusters; i++) {
        uint32_t ci = md->clusters[i];
        if ((c != 0 && c + cnt == ci) || (c == 0 && ci == 0)) {
            cnt++;
            continue;
        }
        bs_put32(d + 5 + 8 * idx, (uint32_t)c);
        bs_put32(d + 9 + 8 * idx, (uint32_t)cnt);
        idx++;
        cur += 8;
        if (s->rem < cur) {
            next = i;
            done = true;
            break;
        }
        c = ci;
        cnt = 1;
    }
    if (!done) {
        bs_put32(d + 5 + 8 * idx, (uint32_t)c);
        bs_put32(d + 9 + 8 * idx, (uint32_t)cnt);
        idx++;
        next = md->num_clusters;
    }
    uint32_t length = (uint32_t)(8 * idx);
    bs_put32(d + 1, length);
    s->rem -= 5 + length;
    s->buf += 5 + length;
    return next;
}

static int ser_rle(struct ser *s, const struct bs_blob_md *md)
{
    uint64_t last = 0;
    while (last < md->num_clusters) {
        last = ser_rle_entry(s, md, last);
        if (last == md->num_clusters)
            break;
        int rc = ser_add_page(s);
        if (rc)
            return rc;
    }
    return 0;
}

int bs_md_serialize(const struct bs_blob_md *md, uint8_t **pages, uint32_t *npages)
{
    struct ser s = {.id = md->id};
    int rc = ser_add_page(&s);
    if (rc)
        return rc;
    uint8_t *d = s.buf;
    d[0] = BS_DESC_FLAGS;
    bs_put32(d + 1, 24);
    bs_put64(d + 5, md->invalid_flags);
    bs_put64(d + 13, md->data_ro_flags);
    bs_put64(d + 21, md->md_ro_flags);
    s.buf += 29;
    s.rem -= 29;
    rc = ser_xattrs(&s, &md->xattrs, BS_DESC_XATTR);
    if (!rc)
        rc = ser_xattrs(&s, &md->ixattrs, BS_DESC_XATTR_INTERNAL);
    if (!rc)
        rc = md->use_extent_table ? ser_extent_table(&s, md) : ser_rle(&s, md);
    if (rc) {
        free(s.pages);
        return rc;
    }
    *pages = s.pages;
    *npages = s.n;
    return 0;
}

void bs_md_chain_finish(uint8_t *pages, uint32_t npages, const uint32_t *idx)
{
    for (uint32_t i = 0; i < npages; i++) {
        uint8_t *pg = pages + (size_t)i * BS_PG;
        bs_put32(pg + BS_NEXT_OFF, i + 1 < npages ? idx[i + 1] : BS_INVALID32);
        bs_page_set_crc(pg);
    }
}

void bs_md_hdr_decode(const uint8_t *page, struct bs_md_hdr *h)
{
    h->id = bs_le64(page);
    h->seq = bs_le32(page + 8);
    h->next = bs_le32(page + BS_NEXT_OFF);
    h->crc_ok = bs_page_crc_ok(page);
}

/* ---- decoding ---- */

#define BS_MAX_BLOB_CLUSTERS (1ull << 31)

static int u32_append(uint32_t **arr, uint64_t *n, uint64_t *cap, uint32_t v, uint64_t count)
{
    if (*n + count > BS_MAX_BLOB_CLUSTERS)
        return -EINVAL;
    if (*n + count > *cap) {
        uint64_t c = *cap ? *cap : 16;
        while (c < *n + count)
            c *= 2;
        uint32_t *a = realloc(*arr, c * sizeof(uint32_t));
        if (!a)
            return -ENOMEM;
        *arr = a;
        *cap = c;
    }
    for (uint64_t i = 0; i < count; i++)
        (*arr)[*n + i] = v;
    *n += count;
    return 0;
}

int bs_md_decode_chain(const uint8_t *pages, uint32_t npages, uint64_t id, struct bs_blob_md *md,
                       char *err, size_t errlen)
{
    memset(md, 0, sizeof(*md));
    md->id = id;
    bool et_found = false, rle_found = false;
    uint64_t et_nc = 0, ncap = 0, epcap = 0, nslots = 0;
    int rc = 0;
    for (uint32_t k = 0; k < npages && !rc; k++) {
        const uint8_t *pg = pages + (size_t)k * BS_PG;
        if (bs_le64(pg) != id || bs_le32(pg + 8) != k) {
            rc = fail(err, errlen, -EINVAL, "md chain page %u of blob 0x%" PRIx64
                      " has id 0x%" PRIx64 " sequence %u", k, id, bs_le64(pg), bs_le32(pg + 8));
            break;
        }
        const uint8_t *d = pg + BS_DESC_OFF;
        uint32_t off = 0;
        while (off + 5 <= BS_DESC_AREA) {
            uint8_t t = d[off];
            uint32_t len = bs_le32(d + off + 1);
            if (t == BS_DESC_PADDING && len == 0)
                break;
            if (len > BS_DESC_AREA - off - 5) {
                rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " page %u: descriptor type %u at "
                          "0x%x has length %u past the page end", id, k, t, BS_DESC_OFF + off, len);
                break;
            }
            const uint8_t *b = d + off + 5;
            switch (t) {
            case BS_DESC_FLAGS:
                if (len != 24) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": FLAGS length %u", id, len);
                    break;
                }
                md->invalid_flags = bs_le64(b);
                md->data_ro_flags = bs_le64(b + 8);
                md->md_ro_flags = bs_le64(b + 16);
                break;
            case BS_DESC_XATTR:
            case BS_DESC_XATTR_INTERNAL: {
                if (len < 4) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": xattr descriptor length %u",
                              id, len);
                    break;
                }
                uint16_t nl = bs_le16(b), vl = bs_le16(b + 2);
                if (4u + nl + vl != len) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": xattr lengths %u+%u do not "
                              "match the descriptor length %u", id, nl, vl, len);
                    break;
                }
                if (memchr(b + 4, 0, nl)) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": xattr name contains NUL", id);
                    break;
                }
                rc = xattr_append(t == BS_DESC_XATTR ? &md->xattrs : &md->ixattrs, (const char *)b + 4,
                                  nl, b + 4 + nl, vl);
                break;
            }
            case BS_DESC_EXTENT_RLE:
                if (et_found) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " has both RLE and extent table",
                              id);
                    break;
                }
                if (len == 0 || len % 8) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": RLE length %u", id, len);
                    break;
                }
                rle_found = true;
                for (uint32_t j = 0; j < len / 8 && !rc; j++) {
                    uint32_t c = bs_le32(b + 8 * j), n = bs_le32(b + 8 * j + 4);
                    if (c && (uint64_t)c + n > UINT32_MAX) {
                        rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": RLE run %u+%u overflows",
                                  id, c, n);
                        break;
                    }
                    if (md->num_clusters + n > BS_MAX_BLOB_CLUSTERS) {
                        rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " too large", id);
                        break;
                    }
                    if (c) {
                        for (uint32_t q = 0; q < n && !rc; q++)
                            rc = u32_append(&md->clusters, &md->num_clusters, &ncap, c + q, 1);
                    } else {
                        rc = u32_append(&md->clusters, &md->num_clusters, &ncap, 0, n);
                    }
                }
                break;
            case BS_DESC_EXTENT_TABLE: {
                if (rle_found) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " has both RLE and extent table",
                              id);
                    break;
                }
                if (len < 8 || (len - 8) % 8) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": extent table length %u", id,
                              len);
                    break;
                }
                uint64_t nc = bs_le64(b);
                if (et_found && nc != et_nc) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": extent tables disagree on "
                              "the size (%" PRIu64 " / %" PRIu64 ")", id, et_nc, nc);
                    break;
                }
                if (nc > BS_MAX_BLOB_CLUSTERS) {
                    rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " too large (%" PRIu64
                              " clusters)", id, nc);
                    break;
                }
                et_found = true;
                et_nc = nc;
                uint64_t want = bs_ep_count(nc);
                for (uint32_t j = 0; j < (len - 8) / 8 && !rc; j++) {
                    uint32_t pidx = bs_le32(b + 8 + 8 * j), np = bs_le32(b + 12 + 8 * j);
                    if (pidx && np != 1) {
                        rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": extent table entry "
                                  "(%u, %u)", id, pidx, np);
                        break;
                    }
                    if (nslots + (pidx ? 1 : np) > want) {
                        rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": extent table lists more "
                                  "than %" PRIu64 " slots", id, want);
                        break;
                    }
                    rc = u32_append(&md->extent_pages, &nslots, &epcap, pidx, pidx ? 1 : np);
                }
                break;
            }
            case BS_DESC_EXTENT_PAGE:
                rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": extent page descriptor in its "
                          "chain", id);
                break;
            default: /* PADDING with a length, unknown types: skipped on open */
                break;
            }
            if (rc)
                break;
            off += 5 + len;
        }
    }
    if (!rc && (md->invalid_flags & ~BS_IF_KNOWN))
        rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " has unknown invalid flags 0x%" PRIx64, id,
                  md->invalid_flags);
    bool thin = md->invalid_flags & BS_IF_THIN;
    if (!rc && et_found) {
        md->use_extent_table = true;
        md->num_extent_pages = nslots;
        if (nslots != bs_ep_count(et_nc)) {
            rc = fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 ": extent table lists %" PRIu64
                      " slots for %" PRIu64 " clusters", id, nslots, et_nc);
        } else {
            for (uint64_t j = 0; j < nslots && !rc; j++)
                if (!md->extent_pages[j] && !thin)
                    rc = fail(err, errlen, -EINVAL, "thick blob 0x%" PRIx64 " has an unallocated "
                              "extent page slot", id);
        }
        if (!rc) {
            free(md->clusters);
            md->num_clusters = et_nc;
            md->clusters = calloc(et_nc ? et_nc : 1, sizeof(uint32_t));
            if (!md->clusters)
                rc = -ENOMEM;
        }
    } else if (!rc) {
        md->use_extent_table = false;
        for (uint64_t j = 0; j < md->num_clusters && !rc; j++)
            if (!md->clusters[j] && !thin)
                rc = fail(err, errlen, -EINVAL, "thick blob 0x%" PRIx64 " has an unallocated cluster",
                          id);
    }
    if (rc)
        bs_blob_md_free(md);
    return rc;
}

int bs_extent_page_check(const uint8_t *page, uint64_t *start, const uint8_t **entries, uint32_t *n,
                         char *err, size_t errlen)
{
    if (!bs_page_crc_ok(page))
        return fail(err, errlen, -EINVAL, "CRC mismatch");
    if (bs_le32(page + 8) != 0)
        return fail(err, errlen, -EINVAL, "sequence number %u", bs_le32(page + 8));
    if (bs_le32(page + BS_NEXT_OFF) != BS_INVALID32)
        return fail(err, errlen, -EINVAL, "extent page with a next page");
    const uint8_t *d = page + BS_DESC_OFF;
    uint32_t len = bs_le32(d + 1);
    if (d[0] != BS_DESC_EXTENT_PAGE)
        return fail(err, errlen, -EINVAL, "descriptor type %u instead of an extent page", d[0]);
    if (len > BS_DESC_AREA - 5)
        return fail(err, errlen, -EINVAL, "extent page descriptor past the page end");
    if (5 + len + 5 <= BS_DESC_AREA && bs_le32(d + 5 + len + 1) != 0)
        return fail(err, errlen, -EINVAL, "more than one descriptor in an extent page");
    if (len <= 4 || (len - 4) % 4)
        return fail(err, errlen, -EINVAL, "extent page descriptor length %u", len);
    *start = bs_le32(d + 5);
    *entries = d + 9;
    *n = (len - 4) / 4;
    return 0;
}

int bs_md_apply_extent_page(struct bs_blob_md *md, uint64_t slot, const uint8_t *page, char *err,
                            size_t errlen)
{
    uint64_t start;
    const uint8_t *e;
    uint32_t n;
    char why[128];
    int rc = bs_extent_page_check(page, &start, &e, &n, why, sizeof(why));
    if (rc)
        return fail(err, errlen, rc, "blob 0x%" PRIx64 " extent page %u: %s", md->id,
                    md->extent_pages[slot], why);
    if (start != slot * BS_EXTENTS_PER_EP)
        return fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " extent page %u starts at cluster %"
                    PRIu64 ", expected %" PRIu64, md->id, md->extent_pages[slot], start,
                    slot * BS_EXTENTS_PER_EP);
    uint64_t want = md->num_clusters - start;
    if (want > BS_EXTENTS_PER_EP)
        want = BS_EXTENTS_PER_EP;
    if (n < want || n > BS_EXTENTS_PER_EP)
        return fail(err, errlen, -EINVAL, "blob 0x%" PRIx64 " extent page %u has %u entries, "
                    "expected %" PRIu64, md->id, md->extent_pages[slot], n, want);
    bool thin = md->invalid_flags & BS_IF_THIN;
    for (uint64_t j = 0; j < want; j++) {
        uint32_t c = bs_le32(e + 4 * j);
        if (!c && !thin)
            return fail(err, errlen, -EINVAL, "thick blob 0x%" PRIx64 " has an unallocated cluster",
                        md->id);
        md->clusters[start + j] = c;
    }
    return 0;
}

void bs_extent_page_encode(const struct bs_blob_md *md, uint64_t owner_id, uint64_t slot,
                           uint64_t override_slot, uint32_t override_cluster, uint8_t *page)
{
    memset(page, 0, BS_PG);
    bs_put64(page, owner_id);
    bs_put32(page + BS_NEXT_OFF, BS_INVALID32);
    uint8_t *d = page + BS_DESC_OFF;
    uint64_t start = slot * BS_EXTENTS_PER_EP, n = 0;
    d[0] = BS_DESC_EXTENT_PAGE;
    bs_put32(d + 5, (uint32_t)start);
    for (uint64_t i = start; i < md->num_clusters && n < BS_EXTENTS_PER_EP; i++, n++) {
        uint32_t c = i == override_slot ? override_cluster
                                        : __atomic_load_n(&md->clusters[i], __ATOMIC_RELAXED);
        bs_put32(d + 9 + 4 * n, c);
    }
    bs_put32(d + 1, (uint32_t)(4 + 4 * n));
    bs_page_set_crc(page);
}

int bs_md_page_walk(const uint8_t *page, const struct bs_walk_cb *cb, char *err, size_t errlen)
{
    const uint8_t *d = page + BS_DESC_OFF;
    uint32_t off = 0;
    int rc;
    while (off + 5 <= BS_DESC_AREA) {
        uint8_t t = d[off];
        uint32_t len = bs_le32(d + off + 1);
        if (t == BS_DESC_PADDING && len == 0)
            break;
        if (len > BS_DESC_AREA - off - 5)
            return fail(err, errlen, -EINVAL, "descriptor type %u at 0x%x: length %u past the page "
                        "end", t, BS_DESC_OFF + off, len);
        const uint8_t *b = d + off + 5;
        switch (t) {
        case BS_DESC_PADDING:
        case BS_DESC_XATTR:
        case BS_DESC_XATTR_INTERNAL:
        case BS_DESC_FLAGS:
            break;
        case BS_DESC_EXTENT_RLE:
            if (len == 0 || len % 8)
                return fail(err, errlen, -EINVAL, "RLE descriptor length %u", len);
            for (uint32_t j = 0; j < len / 8; j++) {
                uint32_t c = bs_le32(b + 8 * j), n = bs_le32(b + 8 * j + 4);
                if (!c)
                    continue;
                if ((uint64_t)c + n > UINT32_MAX)
                    return fail(err, errlen, -EINVAL, "RLE run %u+%u overflows", c, n);
                for (uint32_t q = 0; q < n; q++)
                    if (cb->cluster && (rc = cb->cluster(cb->ctx, c + q)))
                        return fail(err, errlen, rc, "cluster %u out of range", c + q);
            }
            break;
        case BS_DESC_EXTENT_TABLE:
            if (len < 8 || (len - 8) % 8)
                return fail(err, errlen, -EINVAL, "extent table length %u", len);
            if (cb->table_clusters && (rc = cb->table_clusters(cb->ctx, bs_le64(b))))
                return fail(err, errlen, rc, "extent table size");
            for (uint32_t j = 0; j < (len - 8) / 8; j++) {
                uint32_t pidx = bs_le32(b + 8 + 8 * j), np = bs_le32(b + 12 + 8 * j);
                if (!pidx)
                    continue;
                if (np != 1)
                    return fail(err, errlen, -EINVAL, "extent table entry (%u, %u)", pidx, np);
                if (cb->extent_page && (rc = cb->extent_page(cb->ctx, pidx)))
                    return fail(err, errlen, rc, "extent table entry %u out of range", pidx);
            }
            break;
        case BS_DESC_EXTENT_PAGE:
            if (len < 4 || len % 4)
                return fail(err, errlen, -EINVAL, "extent page descriptor length %u", len);
            for (uint32_t j = 0; j < (len - 4) / 4; j++) {
                uint32_t c = bs_le32(b + 4 + 4 * j);
                if (c && cb->cluster && (rc = cb->cluster(cb->ctx, c)))
                    return fail(err, errlen, rc, "cluster %u out of range", c);
            }
            break;
        default:
            return fail(err, errlen, -EINVAL, "unknown descriptor type %u at 0x%x", t,
                        BS_DESC_OFF + off);
        }
        off += 5 + len;
    }
    return 0;
}

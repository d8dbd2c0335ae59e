/* Pure encoding and decoding of the blobstore's on-disk structures
 * (docs/on-disk-format.md): CRC-32C, the super block, the three masks, metadata pages,
 * descriptors, chains and extent pages. No I/O and no global state: everything here is
 * usable from unit tests on plain byte buffers.
 *
 * Errors are negative errnos; decoders that can fail for corrupt input also write a
 * human-readable reason into `err` (may be NULL). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BS_PG 4096u               /* metadata page size */
#define BS_DESC_AREA 4072u        /* descriptor bytes of an md page (0x10..0xFF7) */
#define BS_DESC_OFF 0x10u
#define BS_NEXT_OFF 0xFF8u
#define BS_CRC_OFF 0xFFCu
#define BS_EXTENTS_PER_EP 512u    /* cluster slots per extent page */
#define BS_INVALID32 0xFFFFFFFFu
#define BS_INVALID64 UINT64_MAX
#define BS_ID_HIGH ((uint64_t)0x100000000) /* every blob id is BS_ID_HIGH | root md page */
#define BS_BSTYPE_LEN 16
#define BS_VERSION 3u

/* descriptor types */
enum {
    BS_DESC_PADDING = 0,
    BS_DESC_EXTENT_RLE = 1,
    BS_DESC_XATTR = 2,
    BS_DESC_FLAGS = 3,
    BS_DESC_XATTR_INTERNAL = 4,
    BS_DESC_EXTENT_TABLE = 5,
    BS_DESC_EXTENT_PAGE = 6,
};

/* invalid_flags */
#define BS_IF_THIN 0x1ull
#define BS_IF_INTERNAL_XATTR 0x2ull
#define BS_IF_EXTENT_TABLE 0x4ull
#define BS_IF_EXTSNAP 0x8ull
#define BS_IF_KNOWN (BS_IF_THIN | BS_IF_INTERNAL_XATTR | BS_IF_EXTENT_TABLE | BS_IF_EXTSNAP)
/* data_ro_flags */
#define BS_DRO_READ_ONLY 0x1ull
#define BS_DRO_KNOWN BS_DRO_READ_ONLY
/* md_ro_flags */
#define BS_MRO_CLEAR_MASK 0x3ull
#define BS_MRO_KNOWN BS_MRO_CLEAR_MASK

/* mask types */
enum { BS_MASK_MD_PAGES = 0, BS_MASK_CLUSTERS = 1, BS_MASK_BLOBIDS = 2 };
#define BS_MASK_HDR 5u

/* internal xattr names (§7.1) */
#define BS_XATTR_SNAP "SNAP"
#define BS_XATTR_SNAPTMP "SNAPTMP"
#define BS_XATTR_SNAPRM "SNAPRM"
#define BS_XATTR_EXTSNAP "EXTSNAP"

/* ---- little endian ---- */
static inline uint16_t bs_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t bs_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t bs_le64(const uint8_t *p) { return bs_le32(p) | (uint64_t)bs_le32(p + 4) << 32; }
static inline void bs_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void bs_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void bs_put64(uint8_t *p, uint64_t v)
{
    bs_put32(p, (uint32_t)v);
    bs_put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- CRC-32C (Castagnoli) ---- */

/* Standard CRC-32C of buf (initial ~0, final ~0): "123456789" -> 0xE3069283. Uses the
 * SSE4.2 instruction when the CPU has it. */
uint32_t bs_crc32c(const void *buf, size_t len);
/* The table-free bitwise implementation (always available; for tests). */
uint32_t bs_crc32c_sw(const void *buf, size_t len);
/* True if bs_crc32c uses the CPU instruction. */
bool bs_crc32c_hw_available(void);
/* CRC of a 4 KiB page: CRC-32C of bytes 0..4091 (stored little-endian at 0xFFC). */
static inline uint32_t bs_page_crc(const uint8_t *page) { return bs_crc32c(page, BS_CRC_OFF); }
static inline void bs_page_set_crc(uint8_t *page) { bs_put32(page + BS_CRC_OFF, bs_page_crc(page)); }
static inline bool bs_page_crc_ok(const uint8_t *page)
{
    return bs_le32(page + BS_CRC_OFF) == bs_page_crc(page);
}

/* ---- bit arrays (in-memory masks) ---- */

struct bs_bitmap {
    uint64_t *w;
    uint32_t n;    /* bits */
    uint32_t hint; /* every bit below is set (speeds up lowest-free searches) */
};

int bs_bitmap_init(struct bs_bitmap *b, uint32_t nbits);
void bs_bitmap_free(struct bs_bitmap *b);
/* Grows to nbits (new bits clear); shrinking is not supported. */
int bs_bitmap_resize(struct bs_bitmap *b, uint32_t nbits);
static inline bool bs_bit_get(const struct bs_bitmap *b, uint32_t i)
{
    return i < b->n && (b->w[i / 64] >> (i % 64)) & 1;
}
void bs_bit_set(struct bs_bitmap *b, uint32_t i);
void bs_bit_clear(struct bs_bitmap *b, uint32_t i);
void bs_bitmap_clear_all(struct bs_bitmap *b);
/* Lowest clear bit >= from, or BS_INVALID32. */
uint32_t bs_bitmap_find_clear(struct bs_bitmap *b, uint32_t from);
/* Lowest set bit >= from, or BS_INVALID32. */
uint32_t bs_bitmap_find_set(const struct bs_bitmap *b, uint32_t from);
uint32_t bs_bitmap_count(const struct bs_bitmap *b);
bool bs_bitmap_equal(const struct bs_bitmap *a, const struct bs_bitmap *b);

/* ---- super block ---- */

struct bs_super {
    uint32_t version;
    uint32_t length;
    uint32_t clean;
    uint64_t super_blob;
    uint32_t cluster_size;
    uint32_t used_page_mask_start, used_page_mask_len;
    uint32_t used_cluster_mask_start, used_cluster_mask_len;
    uint32_t md_start, md_len;
    uint8_t bstype[BS_BSTYPE_LEN];
    uint32_t used_blobid_mask_start, used_blobid_mask_len;
    uint64_t size;
    uint32_t io_unit_size;
    uint32_t md_page_size; /* 0x05C: 0 in what we write; 4096 accepted */
    uint32_t crc;          /* as stored (decode) */
};

/* Pages a mask of nbits needs: ceil((5 + ceil(nbits/8)) / 4096). */
uint32_t bs_mask_pages(uint64_t nbits);
/* §1.3: fills a version-3 super block (clean 0, no super blob) for a device of blockcnt
 * blocks of blocklen bytes. -EINVAL for bad parameters (blocklen not dividing 4096,
 * cluster size not a multiple of 4096, md_len 0, counts over 32 bits), -ENOMEM if the
 * metadata does not fit in the device. */
int bs_layout_compute(uint64_t blockcnt, uint32_t blocklen, uint32_t cluster_size, uint32_t ratio,
                      const char *bstype, struct bs_super *out);
/* Writes the 4 KiB super block page (reserved bytes zero, CRC computed). */
void bs_super_encode(const struct bs_super *sb, uint8_t *page);
/* Reads the fields (no checks). */
void bs_super_decode(const uint8_t *page, struct bs_super *sb);
/* §2.3 in SPDK's order: version, signature, CRC (-EILSEQ), bstype (-ENXIO; NULL or an
 * all-zero bstype accepts any), size > dev_bytes (-EILSEQ). Then our sanity checks of
 * the layout (-EINVAL). dev_blocklen 0 skips the io_unit_size check. Applies the
 * defaults for 0 fields (size, io_unit_size). */
int bs_super_validate(const uint8_t *page, const char *bstype, uint64_t dev_bytes,
                      uint32_t dev_blocklen, struct bs_super *out, char *err, size_t errlen);
/* Clusters holding metadata (M of §1.2). */
uint64_t bs_super_md_clusters(const struct bs_super *sb);
/* 16-byte bstype field from a string (NUL padded, truncated to 16). */
void bs_bstype_fill(uint8_t out[BS_BSTYPE_LEN], const char *s);

/* ---- masks ---- */

/* Encodes a mask region of region_len bytes (whole pages): header + bitmap + zeroes. */
void bs_mask_encode(uint8_t type, const struct bs_bitmap *bm, uint8_t *region, size_t region_len);
/* Decodes a mask region into bm (initialised to want_bits): the type must match and the
 * stored length must equal want_bits (or, with allow_longer, be at least want_bits:
 * the rest is dropped). -EINVAL otherwise. */
int bs_mask_decode(const uint8_t *region, size_t region_len, uint8_t type, uint32_t want_bits,
                   bool allow_longer, struct bs_bitmap *bm, char *err, size_t errlen);

/* ---- xattr lists ---- */

struct bs_xattr_ent {
    char *name;
    uint8_t *value;
    uint16_t len;
};

struct bs_xattr_list {
    struct bs_xattr_ent *v;
    uint32_t n, cap;
};

/* Index of the first entry named name, or -1. */
int bs_xattr_find(const struct bs_xattr_list *l, const char *name);
/* Sets (in place if present, else appended). -EINVAL bad name, -ENOMEM too large for one
 * page (9 + name + value > 4072) or out of memory. */
int bs_xattr_set(struct bs_xattr_list *l, const char *name, const void *value, size_t len);
int bs_xattr_remove(struct bs_xattr_list *l, const char *name);
void bs_xattr_list_free(struct bs_xattr_list *l);
int bs_xattr_list_copy(struct bs_xattr_list *dst, const struct bs_xattr_list *src);

/* ---- a blob's metadata ---- */

struct bs_blob_md {
    uint64_t id;
    uint64_t invalid_flags, data_ro_flags, md_ro_flags;
    struct bs_xattr_list xattrs, ixattrs; /* user, internal */
    bool use_extent_table;
    uint64_t num_clusters;
    uint32_t *clusters;         /* [num_clusters] cluster index per slot, 0 = unallocated */
    uint64_t num_extent_pages;  /* ceil(num_clusters / 512) when use_extent_table */
    uint32_t *extent_pages;     /* [num_extent_pages] md page of each extent page, 0 = none */
};

void bs_blob_md_free(struct bs_blob_md *md);
static inline uint64_t bs_ep_count(uint64_t num_clusters)
{
    return (num_clusters + BS_EXTENTS_PER_EP - 1) / BS_EXTENTS_PER_EP;
}

/* §5.8: serializes md into a chain of *npages pages (malloc'd, *npages * 4096 bytes) with
 * id and sequence numbers set, next = INVALID32 and no CRC yet. */
int bs_md_serialize(const struct bs_blob_md *md, uint8_t **pages, uint32_t *npages);
/* Links a serialized chain to its md pages idx[0..n-1] (idx[0] = root) and computes
 * every CRC. */
void bs_md_chain_finish(uint8_t *pages, uint32_t npages, const uint32_t *idx);

struct bs_md_hdr {
    uint64_t id;
    uint32_t seq;
    uint32_t next;
    bool crc_ok;
};
void bs_md_hdr_decode(const uint8_t *page, struct bs_md_hdr *h);

/* Decodes a whole chain (pages in chain order, headers already checked by the reader) of
 * blob `id`. For the extent-table format, md->extent_pages lists every slot and
 * md->clusters is allocated zero-filled: resolve it with bs_md_apply_extent_page for each
 * slot with a page. -EINVAL for corrupt content, -ENOMEM. */
int bs_md_decode_chain(const uint8_t *pages, uint32_t npages, uint64_t id, struct bs_blob_md *md,
                       char *err, size_t errlen);
/* Checks that page is a valid extent page (CRC, sequence 0, next INVALID32, a single
 * EXTENT_PAGE descriptor within the page) and returns its start slot and entries
 * (pointer into the page, little-endian u32s). */
int bs_extent_page_check(const uint8_t *page, uint64_t *start, const uint8_t **entries, uint32_t *n,
                         char *err, size_t errlen);
/* Fills md->clusters for extent-page slot `slot` from its page (§5.6). Extra entries past
 * the blob's end are ignored (a shrink/grow interrupted between the extent page and the
 * root page leaves them). */
int bs_md_apply_extent_page(struct bs_blob_md *md, uint64_t slot, const uint8_t *page, char *err,
                            size_t errlen);
/* Builds the extent page of slot `slot` of md, owned by owner_id (§5.7): entries for
 * [512*slot, min(512*slot+512, num_clusters)). `override_slot`/`override_cluster` replace
 * one entry (override_slot UINT64_MAX for none). */
void bs_extent_page_encode(const struct bs_blob_md *md, uint64_t owner_id, uint64_t slot,
                           uint64_t override_slot, uint32_t override_cluster, uint8_t *page);

/* Recovery (§9.3): walks the descriptors of a valid chain page, reporting every non-zero
 * cluster (RLE / EXTENT_PAGE) and every extent-table entry with page_idx != 0 (a callback
 * returning non-zero aborts with that error). -EINVAL
 * for unknown descriptor types, an extent-table entry with page_idx != 0 and
 * num_pages != 1, an RLE descriptor without runs, or lengths past the page end. */
struct bs_walk_cb {
    void *ctx;
    int (*cluster)(void *ctx, uint32_t cluster); /* non-zero aborts the walk */
    int (*extent_page)(void *ctx, uint32_t page_idx);
    /* The blob size an EXTENT_TABLE descriptor states (optional). */
    int (*table_clusters)(void *ctx, uint64_t num_clusters);
};
int bs_md_page_walk(const uint8_t *page, const struct bs_walk_cb *cb, char *err, size_t errlen);

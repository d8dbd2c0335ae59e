/*
 * The blobstore codec (src/lvs/bs_codec.c): CRC-32C, layout, super block, masks, md pages,
 * descriptors, chains and extent pages, against the byte-exact images of
 * docs/on-disk-format.md §11 (512 and 4096-byte blocks), plus corrupt inputs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bs_example.h"
#include "lvs/bs_codec.h"

#define PG 4096
#define MiB (1024ull * 1024)

static void assert_page_eq(const uint8_t *got, const uint8_t *want)
{
    for (int i = 0; i < PG; i++)
        if (got[i] != want[i]) {
            print_error("first difference at page offset 0x%03x: got %02x want %02x\n", i, got[i],
                        want[i]);
            fail();
        }
}

/* ---- CRC ---- */

static void test_crc_vectors(void **state)
{
    (void)state;
    assert_int_equal(bs_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(bs_crc32c_sw("123456789", 9), 0xE3069283u);
    uint8_t z[4092] = {0};
    assert_int_equal(bs_crc32c(z, sizeof(z)), 0xA732586Eu);
    assert_int_equal(bs_crc32c_sw(z, sizeof(z)), 0xA732586Eu);
    assert_int_equal(bs_crc32c("", 0), 0u);
    /* hardware and software agree at every length and alignment */
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof(buf); len += 7)
            assert_int_equal(bs_crc32c(buf + off, len), bs_crc32c_sw(buf + off, len));
    print_message("CRC-32C via %s\n", bs_crc32c_hw_available() ? "SSE4.2" : "software");
}

/* ---- layout ---- */

static void check_layout(uint64_t bytes, uint32_t ratio, uint64_t total, uint32_t md_len,
                         uint32_t ps, uint32_t pl, uint32_t cs, uint32_t cl, uint32_t bs_,
                         uint32_t bl, uint32_t md_start, uint64_t M)
{
    struct bs_super sb;
    assert_int_equal(bs_layout_compute(bytes / 512, 512, 4 * MiB, ratio, "LVOLSTORE", &sb), 0);
    assert_int_equal(sb.size / sb.cluster_size, total);
    assert_int_equal(sb.md_len, md_len);
    assert_int_equal(sb.used_page_mask_start, ps);
    assert_int_equal(sb.used_page_mask_len, pl);
    assert_int_equal(sb.used_cluster_mask_start, cs);
    assert_int_equal(sb.used_cluster_mask_len, cl);
    assert_int_equal(sb.used_blobid_mask_start, bs_);
    assert_int_equal(sb.used_blobid_mask_len, bl);
    assert_int_equal(sb.md_start, md_start);
    assert_int_equal(bs_super_md_clusters(&sb), M);
}

static void test_layout(void **state)
{
    (void)state;
    check_layout(64 * MiB, 100, 16, 16, 1, 1, 2, 1, 3, 1, 4, 1);
    check_layout(10240 * MiB, 100, 2560, 2560, 1, 1, 2, 1, 3, 1, 4, 3);
    check_layout(1024 * 1024 * MiB, 100, 262144, 262144, 1, 9, 10, 9, 19, 9, 28, 257);
    check_layout(100 * 1024 * MiB, 50, 25600, 12800, 1, 1, 2, 1, 3, 1, 4, 13);
    struct bs_super sb;
    assert_int_equal(bs_layout_compute(131072, 512, 4 * MiB, 0, NULL, &sb), 0); /* ratio 0 = 100 */
    assert_int_equal(sb.md_len, 16);
    assert_int_equal(bs_layout_compute(131072, 500, 4 * MiB, 100, NULL, &sb), -EINVAL);
    assert_int_equal(bs_layout_compute(131072, 512, 4 * MiB + 512, 100, NULL, &sb), -EINVAL);
    assert_int_equal(bs_layout_compute(131072, 512, 4 * MiB, 1, NULL, &sb), -EINVAL); /* md_len 0 */
    /* a device where the metadata does not fit */
    assert_int_equal(bs_layout_compute(16, 512, 4096, 100000, NULL, &sb), -ENOMEM);
}

/* ---- super block ---- */

static void example_super(struct bs_super *sb, uint32_t blocklen, uint32_t clean)
{
    assert_int_equal(bs_layout_compute(64 * MiB / blocklen, blocklen, 4 * MiB, 100, "LVOLSTORE", sb), 0);
    sb->clean = clean;
    sb->super_blob = 0x100000000ull;
}

static void test_super_encode(void **state)
{
    (void)state;
    uint8_t want[PG], got[PG];
    struct bs_super sb;
    ex_page(EX_SUPER_CLEAN_512, want);
    example_super(&sb, 512, 1);
    bs_super_encode(&sb, got);
    assert_page_eq(got, want);
    assert_int_equal(bs_le32(got + 0xFFC), 0x33FF2265u);
    /* dirty: only byte 0x10 and the CRC differ */
    example_super(&sb, 512, 0);
    bs_super_encode(&sb, got);
    assert_int_equal(bs_le32(got + 0xFFC), 0x4BC9BFD7u);
    want[0x10] = 0;
    memcpy(want + 0xFFC, got + 0xFFC, 4);
    assert_page_eq(got, want);
    /* 4096-byte blocks */
    example_super(&sb, 4096, 1);
    bs_super_encode(&sb, got);
    assert_int_equal(bs_le32(got + 0x58), 4096);
    assert_int_equal(bs_le32(got + 0xFFC), 0xFF053E29u);
    example_super(&sb, 4096, 0);
    bs_super_encode(&sb, got);
    assert_int_equal(bs_le32(got + 0xFFC), 0x8733A39Bu);
    /* right after format: no super blob */
    example_super(&sb, 512, 0);
    sb.super_blob = BS_INVALID64;
    bs_super_encode(&sb, got);
    assert_int_equal(bs_le64(got + 0x14), BS_INVALID64);
}

static void test_super_validate(void **state)
{
    (void)state;
    uint8_t pg[PG], bad[PG];
    struct bs_super sb, out;
    char err[256];
    ex_page(EX_SUPER_CLEAN_512, pg);
    uint64_t dev = 64 * MiB;
    assert_int_equal(bs_super_validate(pg, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), 0);
    example_super(&sb, 512, 1);
    assert_int_equal(out.clean, 1);
    assert_int_equal(out.super_blob, 0x100000000ull);
    assert_int_equal(out.md_start, 4);
    assert_int_equal(out.md_len, 16);
    assert_int_equal(out.size, dev);
    assert_int_equal(out.io_unit_size, 512);
    assert_memory_equal(out.bstype, sb.bstype, 16);
    /* any type */
    assert_int_equal(bs_super_validate(pg, NULL, dev, 512, &out, err, sizeof(err)), 0);
    assert_int_equal(bs_super_validate(pg, "", dev, 0, &out, err, sizeof(err)), 0);
    /* order of checks and their codes */
    memcpy(bad, pg, PG);
    bs_put32(bad + 8, 4); /* version, even with a bad CRC */
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EILSEQ);
    bs_put32(bad + 8, 0);
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EILSEQ);
    memcpy(bad, pg, PG);
    bad[0] = 'X';
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EILSEQ);
    memcpy(bad, pg, PG);
    bad[0x100] = 1; /* CRC mismatch */
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EILSEQ);
    assert_non_null(strstr(err, "CRC"));
    assert_int_equal(bs_super_validate(pg, "OTHER", dev, 512, &out, err, sizeof(err)), -ENXIO);
    assert_int_equal(bs_super_validate(pg, "LVOLSTORE", dev - 512, 512, &out, err, sizeof(err)),
                     -EILSEQ);
    /* older images: size 0 = device, io unit 0 = 4096 */
    memcpy(bad, pg, PG);
    bs_put64(bad + 0x50, 0);
    bs_put32(bad + 0x58, 0);
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 0, &out, err, sizeof(err)), 0);
    assert_int_equal(out.size, dev);
    assert_int_equal(out.io_unit_size, 4096);
    /* our sanity checks */
    memcpy(bad, pg, PG);
    bs_put32(bad + 0x5C, 4096); /* newer SPDK's md_page_size 4096: fine */
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), 0);
    bs_put32(bad + 0x5C, 8192);
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EINVAL);
    assert_int_equal(bs_super_validate(pg, "LVOLSTORE", dev, 4096, &out, err, sizeof(err)), -EINVAL);
    memcpy(bad, pg, PG);
    bs_put32(bad + 0x1C, 0);
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EINVAL);
    memcpy(bad, pg, PG);
    bs_put32(bad + 0x28, 1); /* cluster mask over the page mask */
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EINVAL);
    memcpy(bad, pg, PG);
    bs_put32(bad + 0x34, 20000); /* md region beyond the device */
    bs_page_set_crc(bad);
    assert_int_equal(bs_super_validate(bad, "LVOLSTORE", dev, 512, &out, err, sizeof(err)), -EINVAL);
    /* decode/encode round trip */
    bs_super_decode(pg, &out);
    uint8_t again[PG];
    bs_super_encode(&out, again);
    assert_page_eq(again, pg);
}

/* ---- masks ---- */

static void test_masks(void **state)
{
    (void)state;
    struct bs_bitmap md, cl, ids, back;
    assert_int_equal(bs_bitmap_init(&md, 16), 0);
    assert_int_equal(bs_bitmap_init(&cl, 16), 0);
    assert_int_equal(bs_bitmap_init(&ids, 16), 0);
    for (uint32_t i = 0; i < 4; i++)
        bs_bit_set(&md, i);
    for (uint32_t i = 0; i < 3; i++) {
        bs_bit_set(&cl, i);
        bs_bit_set(&ids, i);
    }
    uint8_t r[PG], zero[PG] = {0};
    char err[128];
    bs_mask_encode(BS_MASK_MD_PAGES, &md, r, PG);
    assert_memory_equal(r, EX_MASK_MD, 6);
    assert_memory_equal(r + 6, zero, PG - 6);
    assert_int_equal(bs_mask_decode(r, PG, BS_MASK_MD_PAGES, 16, false, &back, err, sizeof(err)), 0);
    assert_true(bs_bitmap_equal(&back, &md));
    bs_bitmap_free(&back);
    assert_int_equal(bs_mask_decode(r, PG, BS_MASK_CLUSTERS, 16, false, &back, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(bs_mask_decode(r, PG, BS_MASK_MD_PAGES, 17, false, &back, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(bs_mask_decode(r, PG, BS_MASK_MD_PAGES, 15, true, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 15);
    bs_bitmap_free(&back);
    bs_mask_encode(BS_MASK_CLUSTERS, &cl, r, PG);
    assert_memory_equal(r, EX_MASK_CLUSTERS, 6);
    bs_mask_encode(BS_MASK_BLOBIDS, &ids, r, PG);
    assert_memory_equal(r, EX_MASK_BLOBIDS, 6);
    /* a never-written region */
    assert_int_equal(bs_mask_decode(zero, PG, BS_MASK_BLOBIDS, 16, false, &back, err, sizeof(err)),
                     -EINVAL);
    /* a length whose bitmap does not fit the region */
    bs_put32(r + 1, PG * 8);
    assert_int_equal(bs_mask_decode(r, PG, BS_MASK_BLOBIDS, 16, true, &back, err, sizeof(err)),
                     -EINVAL);
    /* multi-page masks (1 TiB pool: 9 pages) round trip, bits past 8 bits per byte boundary */
    struct bs_bitmap big;
    assert_int_equal(bs_bitmap_init(&big, 262144), 0);
    for (uint32_t i = 0; i < 262144; i += 37)
        bs_bit_set(&big, i);
    uint8_t *reg = calloc(9, PG);
    bs_mask_encode(BS_MASK_CLUSTERS, &big, reg, 9 * PG);
    assert_int_equal(reg[5 + 37 / 8], 1 << (37 % 8));
    assert_int_equal(bs_mask_decode(reg, 9 * PG, BS_MASK_CLUSTERS, 262144, false, &back, err,
                                    sizeof(err)), 0);
    assert_true(bs_bitmap_equal(&back, &big));
    bs_bitmap_free(&back);
    free(reg);
    /* lowest-free search with its hint */
    assert_int_equal(bs_bitmap_find_clear(&big, 0), 1);
    bs_bit_set(&big, 1);
    assert_int_equal(bs_bitmap_find_clear(&big, 0), 2);
    bs_bit_clear(&big, 0);
    assert_int_equal(bs_bitmap_find_clear(&big, 0), 0);
    assert_int_equal(bs_bitmap_find_clear(&big, 1), 2);
    assert_int_equal(bs_bitmap_find_set(&big, 2), 37);
    bs_bitmap_free(&big);
    bs_bitmap_free(&md);
    bs_bitmap_free(&cl);
    bs_bitmap_free(&ids);
}

/* ---- md pages ---- */

static void md_init(struct bs_blob_md *md, uint64_t id, uint64_t invalid, uint64_t data_ro,
                    uint64_t md_ro, uint64_t nclusters)
{
    memset(md, 0, sizeof(*md));
    md->id = id;
    md->invalid_flags = invalid;
    md->data_ro_flags = data_ro;
    md->md_ro_flags = md_ro;
    md->use_extent_table = true;
    md->num_clusters = nclusters;
    md->clusters = calloc(nclusters + 1, sizeof(uint32_t));
    md->num_extent_pages = bs_ep_count(nclusters);
    md->extent_pages = calloc(md->num_extent_pages + 1, sizeof(uint32_t));
}

static void add_name64(struct bs_blob_md *md, const char *name)
{
    char v[64] = {0};
    memcpy(v, name, strlen(name));
    assert_int_equal(bs_xattr_set(&md->xattrs, "name", v, 64), 0);
}

static void add_str(struct bs_xattr_list *l, const char *name, const char *v, bool nul)
{
    assert_int_equal(bs_xattr_set(l, name, v, strlen(v) + (nul ? 1 : 0)), 0);
}

static void add_id(struct bs_xattr_list *l, const char *name, uint64_t id)
{
    uint8_t v[8];
    bs_put64(v, id);
    assert_int_equal(bs_xattr_set(l, name, v, 8), 0);
}

/* Serializes a one-page blob at md page `idx` and returns its CRC. */
static uint32_t one_page(const struct bs_blob_md *md, uint8_t *out)
{
    uint8_t *pages;
    uint32_t n;
    assert_int_equal(bs_md_serialize(md, &pages, &n), 0);
    assert_int_equal(n, 1);
    uint32_t idx = (uint32_t)md->id;
    bs_md_chain_finish(pages, 1, &idx);
    memcpy(out, pages, PG);
    free(pages);
    return bs_le32(out + 0xFFC);
}

static void check_roundtrip(const struct bs_blob_md *md, const uint8_t *page)
{
    struct bs_blob_md d;
    char err[256];
    assert_int_equal(bs_md_decode_chain(page, 1, md->id, &d, err, sizeof(err)), 0);
    assert_int_equal(d.invalid_flags, md->invalid_flags);
    assert_int_equal(d.data_ro_flags, md->data_ro_flags);
    assert_int_equal(d.md_ro_flags, md->md_ro_flags);
    assert_int_equal(d.num_clusters, md->num_clusters);
    assert_int_equal(d.use_extent_table, md->use_extent_table);
    assert_int_equal(d.num_extent_pages, md->num_extent_pages);
    if (d.num_extent_pages)
        assert_memory_equal(d.extent_pages, md->extent_pages, d.num_extent_pages * 4);
    assert_int_equal(d.xattrs.n, md->xattrs.n);
    for (uint32_t i = 0; i < d.xattrs.n; i++) {
        assert_string_equal(d.xattrs.v[i].name, md->xattrs.v[i].name);
        assert_int_equal(d.xattrs.v[i].len, md->xattrs.v[i].len);
        assert_memory_equal(d.xattrs.v[i].value, md->xattrs.v[i].value, d.xattrs.v[i].len);
    }
    assert_int_equal(d.ixattrs.n, md->ixattrs.n);
    bs_blob_md_free(&d);
}

static void build_super_blob(struct bs_blob_md *md)
{
    md_init(md, 0x100000000ull, 0x4, 0, 0, 0);
    add_str(&md->xattrs, "uuid", EX_POOL_UUID, true);
    add_str(&md->xattrs, "name", "pool1", true);
}

static void build_r1(struct bs_blob_md *md, uint64_t mdro)
{
    md_init(md, 0x100000001ull, 0x5, 0, mdro, 2);
    add_name64(md, "r1");
    add_str(&md->xattrs, "uuid", EX_R1_UUID, true);
}

static void build_r2(struct bs_blob_md *md, uint64_t id, uint64_t mdro)
{
    md_init(md, id, 0x4, 0, mdro, 2);
    add_name64(md, "r2");
    add_str(&md->xattrs, "uuid", EX_R2_UUID, true);
}

static void test_md_pages_11_3(void **state)
{
    (void)state;
    uint8_t want[PG], got[PG];
    struct bs_blob_md md;

    build_super_blob(&md);
    ex_page(EX_MD0_SUPER_BLOB, want);
    assert_int_equal(one_page(&md, got), 0x0804437Au);
    assert_page_eq(got, want);
    check_roundtrip(&md, got);
    bs_blob_md_free(&md);

    build_r1(&md, 2);
    ex_page(EX_MD1_R1, want);
    assert_int_equal(one_page(&md, got), 0xFD9B2E4Eu);
    assert_page_eq(got, want);
    check_roundtrip(&md, got);
    bs_blob_md_free(&md);

    build_r2(&md, 0x100000002ull, 2);
    md.extent_pages[0] = 3;
    md.clusters[0] = 1;
    md.clusters[1] = 2;
    ex_page(EX_MD2_R2, want);
    assert_int_equal(one_page(&md, got), 0xC6CCE74Au);
    assert_page_eq(got, want);
    check_roundtrip(&md, got);

    /* its extent page, and resolving the map from it */
    ex_page(EX_MD3_R2_EP, want);
    bs_extent_page_encode(&md, md.id, 0, UINT64_MAX, 0, got);
    assert_int_equal(bs_le32(got + 0xFFC), 0x4E31D53Au);
    assert_page_eq(got, want);
    /* the override used while allocating produces the same page */
    md.clusters[1] = 0;
    bs_extent_page_encode(&md, md.id, 0, 1, 2, got);
    assert_page_eq(got, want);
    struct bs_blob_md d;
    char err[256];
    uint8_t root[PG];
    md.clusters[1] = 2;
    one_page(&md, root);
    assert_int_equal(bs_md_decode_chain(root, 1, md.id, &d, err, sizeof(err)), 0);
    assert_int_equal(d.clusters[0], 0);
    assert_int_equal(bs_md_apply_extent_page(&d, 0, want, err, sizeof(err)), 0);
    assert_int_equal(d.clusters[0], 1);
    assert_int_equal(d.clusters[1], 2);
    bs_blob_md_free(&d);
    bs_blob_md_free(&md);
}

static uint32_t crc_of(const struct bs_blob_md *md)
{
    uint8_t pg[PG];
    uint32_t c = one_page(md, pg);
    check_roundtrip(md, pg);
    return c;
}

static void test_md_pages_11_6_11_7(void **state)
{
    (void)state;
    struct bs_blob_md md;
    uint8_t pg[PG];

    /* §11.7: r1 after a thin write at 4 MiB (cluster 3, extent page at md page 4) */
    build_r1(&md, 2);
    md.extent_pages[0] = 4;
    md.clusters[1] = 3;
    assert_int_equal(crc_of(&md), 0xBA2C3523u);
    bs_extent_page_encode(&md, md.id, 0, UINT64_MAX, 0, pg);
    assert_int_equal(bs_le32(pg + 0xFFC), 0xA9627396u);
    bs_blob_md_free(&md);

    /* r2 after the snapshot: thin clone of s1 with an empty table */
    build_r2(&md, 0x100000002ull, 2);
    md.invalid_flags = 0x7;
    add_id(&md.ixattrs, "SNAP", 0x100000005ull);
    assert_int_equal(crc_of(&md), 0xA3C48D5Eu);
    bs_blob_md_free(&md);

    /* s1 */
    md_init(&md, 0x100000005ull, 0x4, 0x1, 0x2, 2);
    add_name64(&md, "s1");
    add_str(&md.xattrs, "uuid", EX_S1_UUID, true);
    add_str(&md.xattrs, "io-engine.tx_id", "tx1", false);
    add_str(&md.xattrs, "io-engine.entity_id", "e1", false);
    add_str(&md.xattrs, "io-engine.parent_id", EX_R2_UUID, false);
    add_str(&md.xattrs, "io-engine.snapshot_create_time", "2024-10-23 16:46:38.123456789 UTC", false);
    add_str(&md.xattrs, "io-engine.discarded_snapshot", "false", false);
    md.extent_pages[0] = 3;
    md.clusters[0] = 1;
    md.clusters[1] = 2;
    assert_int_equal(crc_of(&md), 0xFDEA0CF8u);
    bs_blob_md_free(&md);

    /* c1 */
    md_init(&md, 0x100000006ull, 0x7, 0, 0, 2);
    add_name64(&md, "c1");
    add_str(&md.xattrs, "uuid", EX_C1_UUID, true);
    add_str(&md.xattrs, "io-engine.source_uuid", EX_S1_UUID, false);
    add_str(&md.xattrs, "io-engine.clone_create_time", "2024-10-23 16:50:00.000000001 UTC", false);
    add_id(&md.ixattrs, "SNAP", 0x100000005ull);
    assert_int_equal(crc_of(&md), 0x0876E832u);
    bs_blob_md_free(&md);

    /* §11.6: replicas with clear method 1, first 8 MiB zero-written */
    build_r1(&md, 1);
    md.extent_pages[0] = 2;
    md.clusters[0] = 1;
    md.clusters[1] = 2;
    assert_int_equal(crc_of(&md), 0x124998FDu);
    bs_extent_page_encode(&md, md.id, 0, UINT64_MAX, 0, pg);
    assert_int_equal(bs_le32(pg + 0xFFC), 0xF2C34876u);
    bs_blob_md_free(&md);
    build_r2(&md, 0x100000003ull, 1);
    md.extent_pages[0] = 4;
    md.clusters[0] = 3;
    md.clusters[1] = 4;
    assert_int_equal(crc_of(&md), 0x5591E537u);
    bs_extent_page_encode(&md, md.id, 0, UINT64_MAX, 0, pg);
    assert_int_equal(bs_le32(pg + 0xFFC), 0xF78EBCE1u);
    bs_blob_md_free(&md);
}

/* ---- chains ---- */

static void decode_pages(uint8_t *pages, uint32_t n, uint64_t id, struct bs_blob_md *out)
{
    char err[256];
    int rc = bs_md_decode_chain(pages, n, id, out, err, sizeof(err));
    if (rc)
        print_error("decode: %s\n", err);
    assert_int_equal(rc, 0);
}

static void test_chain_xattrs(void **state)
{
    (void)state;
    struct bs_blob_md md, d;
    md_init(&md, 0x100000007ull, 0x5, 0, 2, 1000);
    char name[32], value[1500];
    for (int i = 0; i < 9; i++) { /* 9 x ~1.5 KiB: 4 pages */
        snprintf(name, sizeof(name), "x%d", i);
        memset(value, 'a' + i, sizeof(value));
        assert_int_equal(bs_xattr_set(&md.xattrs, name, value, sizeof(value)), 0);
    }
    add_id(&md.ixattrs, "SNAP", 0x100000001ull);
    md.extent_pages[1] = 9;
    uint8_t *pages;
    uint32_t n;
    assert_int_equal(bs_md_serialize(&md, &pages, &n), 0);
    assert_int_equal(n, 5); /* 2 xattrs of 1511 bytes per page; the 9th + table in page 5 */
    uint32_t idx[5] = {7, 3, 1, 12, 2};
    bs_md_chain_finish(pages, n, idx);
    for (uint32_t k = 0; k < n; k++) {
        struct bs_md_hdr h;
        bs_md_hdr_decode(pages + k * PG, &h);
        assert_true(h.crc_ok);
        assert_int_equal(h.id, md.id);
        assert_int_equal(h.seq, k);
        assert_int_equal(h.next, k + 1 < n ? idx[k + 1] : BS_INVALID32);
    }
    /* xattrs are never split: each page ends where the next xattr did not fit */
    assert_int_equal(pages[0x10], BS_DESC_FLAGS);
    assert_int_equal(pages[PG + 0x10], BS_DESC_XATTR);
    decode_pages(pages, n, md.id, &d);
    assert_int_equal(d.xattrs.n, 9);
    assert_int_equal(d.ixattrs.n, 1);
    assert_int_equal(d.num_clusters, 1000);
    assert_int_equal(d.num_extent_pages, 2);
    assert_int_equal(d.extent_pages[0], 0);
    assert_int_equal(d.extent_pages[1], 9);
    bs_blob_md_free(&d);
    /* a page out of order is refused */
    char err[256];
    uint8_t *swapped = malloc((size_t)n * PG);
    memcpy(swapped, pages, (size_t)n * PG);
    memcpy(swapped + PG, pages + 2 * PG, PG);
    assert_int_equal(bs_md_decode_chain(swapped, n, md.id, &d, err, sizeof(err)), -EINVAL);
    /* an xattr too large for one page is refused when set */
    char huge[4072];
    memset(huge, 1, sizeof(huge));
    assert_int_equal(bs_xattr_set(&md.xattrs, "big", huge, 4072 - 9 - 3 + 1), -ENOMEM);
    assert_int_equal(bs_xattr_set(&md.xattrs, "big", huge, 4072 - 9 - 3), 0);
    free(swapped);
    free(pages);
    bs_blob_md_free(&md);
}

/* A huge thin blob with alternating allocated / empty extent-page slots: the table spans
 * several pages and must decode to the same slots (no run dropped at a page break). */
static void test_chain_extent_table(void **state)
{
    (void)state;
    struct bs_blob_md md, d;
    uint64_t slots = 3000;
    md_init(&md, 0x100000002ull, 0x5, 0, 0, slots * 512);
    for (uint64_t s = 0; s < slots; s++) {
        uint64_t r = (s * 2654435761u) % 7;
        md.extent_pages[s] = r < 3 ? (uint32_t)(100 + s) : 0;
    }
    uint8_t *pages;
    uint32_t n;
    assert_int_equal(bs_md_serialize(&md, &pages, &n), 0);
    assert_true(n > 1);
    uint32_t *idx = malloc(n * sizeof(uint32_t));
    for (uint32_t k = 0; k < n; k++)
        idx[k] = 2 + k * 3;
    bs_md_chain_finish(pages, n, idx);
    /* every continuation repeats num_clusters */
    for (uint32_t k = 1; k < n; k++) {
        assert_int_equal(pages[k * PG + 0x10], BS_DESC_EXTENT_TABLE);
        assert_int_equal(bs_le64(pages + k * PG + 0x15), slots * 512);
    }
    decode_pages(pages, n, md.id, &d);
    assert_int_equal(d.num_extent_pages, slots);
    assert_memory_equal(d.extent_pages, md.extent_pages, slots * 4);
    bs_blob_md_free(&d);
    free(pages);
    free(idx);
    bs_blob_md_free(&md);
}

static void test_chain_rle(void **state)
{
    (void)state;
    /* legacy RLE blobs: decode, re-encode identically */
    struct bs_blob_md md, d;
    md_init(&md, 0x100000004ull, 0x1, 0, 0, 2000);
    md.use_extent_table = false;
    md.num_extent_pages = 0;
    for (uint64_t s = 0; s < 2000; s++)
        md.clusters[s] = (s % 5 == 0 || s % 7 == 0) ? (uint32_t)(10 + s) : 0;
    uint8_t *pages;
    uint32_t n;
    assert_int_equal(bs_md_serialize(&md, &pages, &n), 0);
    assert_true(n >= 2);
    uint32_t idx[16];
    for (uint32_t k = 0; k < n; k++)
        idx[k] = 4 + k;
    bs_md_chain_finish(pages, n, idx);
    decode_pages(pages, n, md.id, &d);
    assert_false(d.use_extent_table);
    assert_int_equal(d.num_clusters, 2000);
    assert_memory_equal(d.clusters, md.clusters, 2000 * 4);
    /* recovery walk sees every allocated cluster */
    bs_blob_md_free(&d);
    free(pages);
    /* a contiguous thick RLE blob is one run */
    for (uint64_t s = 0; s < 2000; s++)
        md.clusters[s] = (uint32_t)(50 + s);
    md.invalid_flags = 0;
    assert_int_equal(bs_md_serialize(&md, &pages, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pages[0x2D], BS_DESC_EXTENT_RLE);
    assert_int_equal(bs_le32(pages + 0x2E), 8);
    assert_int_equal(bs_le32(pages + 0x32), 50);
    assert_int_equal(bs_le32(pages + 0x36), 2000);
    free(pages);
    bs_blob_md_free(&md);
}

/* 0-cluster blob whose xattrs leave < 13 bytes: SPDK writes no extent table (§13 item 4). */
static void test_chain_empty_table_quirk(void **state)
{
    (void)state;
    struct bs_blob_md md, d;
    md_init(&md, 0x100000000ull, 0x4, 0, 0, 0);
    /* 4072 - 29 (flags) = 4043; an xattr of 4035 bytes leaves 8 */
    char v[4035 - 9 - 1];
    memset(v, 'v', sizeof(v));
    assert_int_equal(bs_xattr_set(&md.xattrs, "n", v, sizeof(v)), 0);
    uint8_t *pages;
    uint32_t n;
    assert_int_equal(bs_md_serialize(&md, &pages, &n), 0);
    assert_int_equal(n, 1);
    decode_pages(pages, 1, md.id, &d);
    assert_false(d.use_extent_table);
    assert_int_equal(d.num_clusters, 0);
    bs_blob_md_free(&d);
    free(pages);
    bs_blob_md_free(&md);
}

/* ---- corrupt input ---- */

static void page_with(uint8_t *pg, uint64_t id, const uint8_t *desc, size_t len)
{
    memset(pg, 0, PG);
    bs_put64(pg, id);
    bs_put32(pg + 0xFF8, BS_INVALID32);
    memcpy(pg + 0x10, desc, len);
    bs_page_set_crc(pg);
}

static size_t put_flags(uint8_t *d, uint64_t invalid, uint32_t len)
{
    d[0] = BS_DESC_FLAGS;
    bs_put32(d + 1, len);
    bs_put64(d + 5, invalid);
    bs_put64(d + 13, 0);
    bs_put64(d + 21, 0);
    return 29;
}

/* EXTENT_TABLE with (page_idx, num_pages) pairs */
static size_t put_et(uint8_t *d, uint64_t nc, const uint32_t *pairs, int npairs)
{
    d[0] = BS_DESC_EXTENT_TABLE;
    bs_put32(d + 1, 8 + 8 * (uint32_t)npairs);
    bs_put64(d + 5, nc);
    for (int i = 0; i < npairs; i++) {
        bs_put32(d + 13 + 8 * i, pairs[2 * i]);
        bs_put32(d + 17 + 8 * i, pairs[2 * i + 1]);
    }
    return 13 + 8 * (size_t)npairs;
}

static size_t put_xattr(uint8_t *d, const char *name, const char *value, uint32_t desc_len)
{
    size_t nl = strlen(name), vl = strlen(value);
    d[0] = BS_DESC_XATTR;
    bs_put32(d + 1, desc_len);
    bs_put16(d + 5, (uint16_t)nl);
    bs_put16(d + 7, (uint16_t)vl);
    memcpy(d + 9, name, nl);
    memcpy(d + 9 + nl, value, vl);
    return 9 + nl + vl;
}

static size_t put_ep(uint8_t *d, uint32_t start, const uint32_t *c, int n)
{
    d[0] = BS_DESC_EXTENT_PAGE;
    bs_put32(d + 1, 4 + 4 * (uint32_t)n);
    bs_put32(d + 5, start);
    for (int i = 0; i < n; i++)
        bs_put32(d + 9 + 4 * i, c[i]);
    return 9 + 4 * (size_t)n;
}

static int decode1(const uint8_t *pg, uint64_t id)
{
    struct bs_blob_md d;
    char err[256] = "";
    int rc = bs_md_decode_chain(pg, 1, id, &d, err, sizeof(err));
    if (!rc)
        bs_blob_md_free(&d);
    else
        print_message("  rejected: %s\n", err);
    return rc;
}

static void test_corrupt(void **state)
{
    (void)state;
    const uint64_t id = 0x100000001ull;
    uint8_t pg[PG], d[512];
    char err[256];
    size_t n;
    struct bs_walk_cb nocb = {0};

    /* baseline: flags + empty table */
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 0, NULL, 0);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), 0);
    assert_int_equal(bs_md_page_walk(pg, &nocb, err, sizeof(err)), 0);
    /* wrong blob id */
    assert_int_equal(decode1(pg, id + 1), -EINVAL);
    /* FLAGS with length 23 (the rest shifts but still fits) */
    n = put_flags(d, 0x5, 23);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* unknown invalid flag */
    n = put_flags(d, 0x15, 24);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* xattr whose name/value lengths disagree with the descriptor length */
    n = put_flags(d, 0x5, 24);
    n += put_xattr(d + n, "n", "vvvv", 4 + 1 + 4 + 1);
    page_with(pg, id, d, n + 1);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* truncated: descriptor length shorter than its header fields */
    n = put_flags(d, 0x5, 24);
    n += put_xattr(d + n, "n", "v", 3);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* xattr with a NUL in its name */
    n = put_flags(d, 0x5, 24);
    n += put_xattr(d + n, "ab", "v", 4 + 2 + 1);
    d[29 + 10] = 0;
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* a descriptor length past the page end */
    n = put_flags(d, 0x5, 24);
    n += put_xattr(d + n, "n", "v", 5000);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    assert_int_equal(bs_md_page_walk(pg, &nocb, err, sizeof(err)), -EINVAL);
    memset(d, 0, sizeof(d));
    page_with(pg, id, d, 0);
    bs_put32(pg + 0x10 + 1, 4055); /* padding up to descriptor offset 4060 */
    pg[0x10 + 4060] = BS_DESC_XATTR;
    bs_put32(pg + 0x10 + 4061, 20); /* 7 bytes left */
    bs_page_set_crc(pg);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* padding with a length is skipped; fewer than 5 bytes left ends the page */
    bs_put32(pg + 0x10 + 1, 4063);
    pg[0x10 + 4060] = 0;
    bs_put32(pg + 0x10 + 4061, 0);
    pg[0x10 + 4068] = 9;
    bs_page_set_crc(pg);
    assert_int_equal(decode1(pg, id), 0);
    /* unknown descriptor types: skipped when opening, fatal for recovery */
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 0, NULL, 0);
    d[n] = 9;
    bs_put32(d + n + 1, 3);
    n += 8;
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), 0);
    assert_int_equal(bs_md_page_walk(pg, &nocb, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown descriptor type 9"));
    /* extent table entry (page 7, 2 pages) */
    uint32_t bad_pair[] = {7, 2};
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 1024, bad_pair, 1);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    assert_int_equal(bs_md_page_walk(pg, &nocb, err, sizeof(err)), -EINVAL);
    /* more slots than the size needs, fewer slots than needed */
    uint32_t two[] = {7, 1, 8, 1};
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 512, two, 2);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 2000, two, 2);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* continuation tables disagreeing on the size */
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 1024, two, 1);
    n += put_et(d + n, 1000, two + 2, 1);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 1024, two, 1);
    n += put_et(d + n, 1024, two + 2, 1);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), 0);
    /* unallocated slot in a thick blob */
    uint32_t empty[] = {0, 1};
    n = put_flags(d, 0x4, 24);
    n += put_et(d + n, 10, empty, 1);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* extent table length not 8 + 8n */
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 0, NULL, 0);
    bs_put32(d + 30, 12);
    page_with(pg, id, d, n + 4);
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* both RLE and extent table */
    n = put_flags(d, 0x5, 24);
    n += put_et(d + n, 0, NULL, 0);
    uint8_t rle[] = {1, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0};
    memcpy(d + n, rle, sizeof(rle));
    page_with(pg, id, d, n + sizeof(rle));
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* RLE without runs; an unallocated run in a thick blob */
    n = put_flags(d, 0x5, 24);
    memcpy(d + n, rle, 5);
    d[n + 1] = 0;
    page_with(pg, id, d, n + 5);
    assert_int_equal(decode1(pg, id), -EINVAL);
    assert_int_equal(bs_md_page_walk(pg, &nocb, err, sizeof(err)), -EINVAL);
    n = put_flags(d, 0x0, 24);
    memcpy(d + n, rle, sizeof(rle));
    page_with(pg, id, d, n + sizeof(rle));
    assert_int_equal(decode1(pg, id), -EINVAL);
    /* an extent page descriptor inside a chain */
    uint32_t one = 1;
    n = put_flags(d, 0x5, 24);
    n += put_ep(d + n, 0, &one, 1);
    page_with(pg, id, d, n);
    assert_int_equal(decode1(pg, id), -EINVAL);

    /* extent pages */
    struct bs_blob_md md;
    md_init(&md, id, 0x5, 0, 0, 3);
    md.extent_pages[0] = 5;
    n = put_ep(d, 0, &one, 1); /* 1 entry for 3 clusters */
    page_with(pg, id, d, n);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    uint32_t three[] = {1, 0, 9};
    n = put_ep(d, 0, three, 3);
    page_with(pg, id, d, n);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), 0);
    assert_int_equal(md.clusters[0], 1);
    assert_int_equal(md.clusters[2], 9);
    pg[0x200] ^= 1; /* bad CRC */
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "CRC"));
    n = put_ep(d, 1, three, 3); /* start cluster 1 */
    page_with(pg, id, d, n);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    n = put_ep(d, 0, three, 3);
    page_with(pg, id, d, n);
    bs_put32(pg + 0xFF8, 3); /* linked into a chain */
    bs_page_set_crc(pg);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    page_with(pg, id, d, n);
    bs_put32(pg + 0x10 + n + 1, 4); /* a second descriptor */
    bs_page_set_crc(pg);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    page_with(pg, id, d, n);
    bs_put32(pg + 8, 1); /* sequence 1 */
    bs_page_set_crc(pg);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    page_with(pg, id, d, n);
    bs_put32(pg + 0x10 + 1, 5000); /* past the page end */
    bs_page_set_crc(pg);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    /* extra entries past the blob's end (an interrupted resize) are ignored */
    uint32_t five[] = {1, 0, 9, 11, 12};
    n = put_ep(d, 0, five, 5);
    page_with(pg, id, d, n);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), 0);
    /* thick blobs refuse unallocated entries */
    md.invalid_flags = 0x4;
    n = put_ep(d, 0, three, 3);
    page_with(pg, id, d, n);
    assert_int_equal(bs_md_apply_extent_page(&md, 0, pg, err, sizeof(err)), -EINVAL);
    bs_blob_md_free(&md);
}

static int walk_clusters(void *ctx, uint32_t c)
{
    uint32_t *sum = ctx;
    *sum += c;
    return 0;
}

static int walk_eps(void *ctx, uint32_t p)
{
    uint32_t *sum = ctx;
    *sum += 1000 * p;
    return 0;
}

static void test_recovery_walk(void **state)
{
    (void)state;
    uint8_t pg[PG];
    char err[128];
    uint32_t sum = 0;
    struct bs_walk_cb cb = {.ctx = &sum, .cluster = walk_clusters, .extent_page = walk_eps};
    ex_page(EX_MD2_R2, pg);
    assert_int_equal(bs_md_page_walk(pg, &cb, err, sizeof(err)), 0);
    assert_int_equal(sum, 3000);
    sum = 0;
    ex_page(EX_MD3_R2_EP, pg);
    assert_int_equal(bs_md_page_walk(pg, &cb, err, sizeof(err)), 0);
    assert_int_equal(sum, 3);
    sum = 0;
    ex_page(EX_MD1_R1, pg);
    assert_int_equal(bs_md_page_walk(pg, &cb, err, sizeof(err)), 0);
    assert_int_equal(sum, 0);
    uint8_t rle[] = {1, 16, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0};
    page_with(pg, 0x100000001ull, rle, sizeof(rle));
    sum = 0;
    assert_int_equal(bs_md_page_walk(pg, &cb, err, sizeof(err)), 0);
    assert_int_equal(sum, 5 + 6 + 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_vectors),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_super_encode),
        cmocka_unit_test(test_super_validate),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_md_pages_11_3),
        cmocka_unit_test(test_md_pages_11_6_11_7),
        cmocka_unit_test(test_chain_xattrs),
        cmocka_unit_test(test_chain_extent_table),
        cmocka_unit_test(test_chain_rle),
        cmocka_unit_test(test_chain_empty_table_quirk),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_recovery_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

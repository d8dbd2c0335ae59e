/*
 * Unit tests for the NVMe/TCP PDU checks and builders (src/nvmf/tcp_pdu.h): every check of
 * a host's common header with its fatal error status and field, the header digest, ICReq
 * and H2CData parsing, and the exact bytes of every PDU the target builds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/crc32c.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/tcp_pdu.h"

/* limits of a connection before ICReq, and after it with or without digests */
static const struct tcp_pdu_limits before_ic = {.max_incapsule = 8192, .maxh2cdata = 131072};
static const struct tcp_pdu_limits plain = {
    .ic_done = true, .max_incapsule = 4096, .maxh2cdata = 131072};
static const struct tcp_pdu_limits digests = {
    .ic_done = true, .hdgst = true, .ddgst = true, .max_incapsule = 4096, .maxh2cdata = 131072};

static void ch(uint8_t *b, uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen)
{
    b[0] = type;
    b[1] = flags;
    b[2] = hlen;
    b[3] = pdo;
    le32_put(b + 4, plen);
}

/* Checks a common header; returns 0 or -1, err filled with FES << 16 | FEI on -1. */
static int check(const struct tcp_pdu_limits *lim, uint8_t type, uint8_t flags, uint8_t hlen,
                 uint8_t pdo, uint32_t plen, struct tcp_pdu_layout *l, uint32_t *err)
{
    uint8_t b[TCP_CH_LEN];
    ch(b, type, flags, hlen, pdo, plen);
    struct tcp_pdu_error e = {0, 0xDEAD};
    int rc = tcp_pdu_check_ch(b, lim, l, &e);
    *err = rc ? ((uint32_t)e.fes << 16 | e.fei) : 0;
    return rc;
}

#define FAILS(lim, type, flags, hlen, pdo, plen, fes, fei)                                    \
    do {                                                                                    \
        struct tcp_pdu_layout l_;                                                           \
        uint32_t e_;                                                                        \
        assert_int_equal(check(lim, type, flags, hlen, pdo, plen, &l_, &e_), -1);          \
        assert_int_equal(e_, (uint32_t)(fes) << 16 | (fei));                               \
    } while (0)

static struct tcp_pdu_layout passes(const struct tcp_pdu_limits *lim, uint8_t type,
                                    uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen)
{
    struct tcp_pdu_layout l;
    uint32_t e;
    assert_int_equal(check(lim, type, flags, hlen, pdo, plen, &l, &e), 0);
    assert_int_equal(l.type, type);
    assert_int_equal(l.flags, flags);
    assert_int_equal(l.hlen, hlen);
    assert_int_equal(l.plen, plen);
    assert_int_equal(l.plen, l.hlen + l.hdgst + l.pad + l.data_len + l.ddgst);
    return l;
}

/* ---- tcp_pdu_check_ch ---- */

static void test_types_a_host_may_not_send(void **state)
{
    (void)state;
    static const uint8_t types[] = {TCP_PDU_ICRESP, TCP_PDU_C2H_TERM, TCP_PDU_CAPSULE_RESP,
                                    TCP_PDU_C2H_DATA, 0x08, TCP_PDU_R2T, 0x0A, 0x7F, 0xFF};
    for (size_t i = 0; i < sizeof(types); i++) {
        /* before and after ICReq, whatever the rest of the header says */
        FAILS(&before_ic, types[i], 0, 24, 0, 24, TCP_FES_INVALID_HEADER_FIELD, 0);
        FAILS(&plain, types[i], 0, 24, 0, 24, TCP_FES_INVALID_HEADER_FIELD, 0);
        FAILS(&digests, types[i], 0xFF, 128, 0, 128, TCP_FES_INVALID_HEADER_FIELD, 0);
    }
}

static void test_sequence(void **state)
{
    (void)state;
    /* ICReq first and only once */
    FAILS(&plain, TCP_PDU_ICREQ, 0, 128, 0, 128, TCP_FES_PDU_SEQUENCE_ERROR, 0);
    FAILS(&before_ic, TCP_PDU_CAPSULE_CMD, 0, 72, 0, 72, TCP_FES_PDU_SEQUENCE_ERROR, 0);
    FAILS(&before_ic, TCP_PDU_H2C_DATA, 0, 24, 24, 28, TCP_FES_PDU_SEQUENCE_ERROR, 0);
    FAILS(&before_ic, TCP_PDU_H2C_TERM, 0, 24, 0, 24, TCP_FES_PDU_SEQUENCE_ERROR, 0);
    /* the sequence is checked before the header length */
    FAILS(&before_ic, TCP_PDU_CAPSULE_CMD, 0, 1, 0, 72, TCP_FES_PDU_SEQUENCE_ERROR, 0);
}

static void test_header_length(void **state)
{
    (void)state;
    static const uint8_t bad[] = {0, 8, 23, 25, 71, 73, 127, 129, 255};
    for (size_t i = 0; i < sizeof(bad); i++) {
        if (bad[i] != 128)
            FAILS(&before_ic, TCP_PDU_ICREQ, 0, bad[i], 0, 128, TCP_FES_INVALID_HEADER_FIELD, 2);
        if (bad[i] != 72)
            FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, bad[i], 0, 72, TCP_FES_INVALID_HEADER_FIELD, 2);
        FAILS(&plain, TCP_PDU_H2C_DATA, 0, bad[i], 0, 600, TCP_FES_INVALID_HEADER_FIELD, 2);
        FAILS(&plain, TCP_PDU_H2C_TERM, 0, bad[i], 0, 24, TCP_FES_INVALID_HEADER_FIELD, 2);
    }
}

static void test_icreq(void **state)
{
    (void)state;
    struct tcp_pdu_layout l = passes(&before_ic, TCP_PDU_ICREQ, 0, 128, 0, 128);
    assert_int_equal(l.data_len, 0);
    assert_int_equal(l.hdgst, 0);
    FAILS(&before_ic, TCP_PDU_ICREQ, 0, 128, 0, 127, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&before_ic, TCP_PDU_ICREQ, 0, 128, 0, 132, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&before_ic, TCP_PDU_ICREQ, 0, 128, 0, 0xFFFFFFFFu, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&before_ic, TCP_PDU_ICREQ, 0, 128, 128, 128, TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&before_ic, TCP_PDU_ICREQ, 0, 128, 1, 128, TCP_FES_INVALID_HEADER_FIELD, 3);
}

static void test_h2c_term(void **state)
{
    (void)state;
    /* never digests; its data is the header the host found fault with, up to 128 bytes */
    struct tcp_pdu_layout l = passes(&digests, TCP_PDU_H2C_TERM, 0, 24, 0, 24);
    assert_int_equal(l.data_len, 0);
    l = passes(&digests, TCP_PDU_H2C_TERM, 0, 24, 0, 24 + 72);
    assert_int_equal(l.data_len, 72);
    assert_int_equal(l.hdgst + l.ddgst + l.pad, 0);
    l = passes(&plain, TCP_PDU_H2C_TERM, 0, 24, 0, 24 + 128);
    assert_int_equal(l.data_len, 128);
    FAILS(&plain, TCP_PDU_H2C_TERM, 0, 24, 0, 23, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&plain, TCP_PDU_H2C_TERM, 0, 24, 0, 24 + 129, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&plain, TCP_PDU_H2C_TERM, 0, 24, 0, 0xFFFFFFFFu, TCP_FES_INVALID_HEADER_FIELD, 4);
}

static void test_header_digest_flag(void **state)
{
    (void)state;
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST, 72, 0, 76, TCP_FES_INVALID_HEADER_FIELD, 1);
    FAILS(&digests, TCP_PDU_CAPSULE_CMD, 0, 72, 0, 72, TCP_FES_INVALID_HEADER_FIELD, 1);
    FAILS(&digests, TCP_PDU_H2C_DATA, TCP_F_DDGST, 24, 28, 600, TCP_FES_INVALID_HEADER_FIELD, 1);
    struct tcp_pdu_layout l = passes(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST, 72, 0, 76);
    assert_int_equal(l.hdgst, 4);
    assert_int_equal(l.data_len, 0);
}

static void test_plen_against_header(void **state)
{
    (void)state;
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 0, 71, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 0, 0, TCP_FES_INVALID_HEADER_FIELD, 4);
    /* with a header digest, plen covers it */
    FAILS(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST, 72, 0, 72, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST, 72, 0, 75, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&plain, TCP_PDU_H2C_DATA, 0, 24, 24, 23, TCP_FES_INVALID_HEADER_FIELD, 4);
    /* an H2CData PDU carries data */
    FAILS(&plain, TCP_PDU_H2C_DATA, 0, 24, 24, 24, TCP_FES_INVALID_HEADER_FIELD, 4);
    FAILS(&digests, TCP_PDU_H2C_DATA, TCP_F_HDGST, 24, 28, 28, TCP_FES_INVALID_HEADER_FIELD, 4);
    /* a capsule without data: neither pdo nor the data digest flag matter */
    struct tcp_pdu_layout l = passes(&plain, TCP_PDU_CAPSULE_CMD, TCP_F_DDGST, 72, 99, 72);
    assert_int_equal(l.data_len + l.ddgst + l.pad, 0);
}

static void test_data_digest_flag(void **state)
{
    (void)state;
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, TCP_F_DDGST, 72, 72, 72 + 512, TCP_FES_INVALID_HEADER_FIELD,
          1);
    FAILS(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST, 72, 76, 76 + 512 + 4,
          TCP_FES_INVALID_HEADER_FIELD, 1);
    FAILS(&plain, TCP_PDU_H2C_DATA, TCP_F_DDGST | TCP_F_DATA_LAST, 24, 24, 24 + 512,
          TCP_FES_INVALID_HEADER_FIELD, 1);
}

static void test_pdo(void **state)
{
    (void)state;
    /* data starts after the header and its digest, and before the end (and digest) */
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 0, 72 + 512, TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 71, 72 + 512, TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST | TCP_F_DDGST, 72, 75, 76 + 512 + 4,
          TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 100, 100, TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 255, 100, TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&digests, TCP_PDU_H2C_DATA, TCP_F_HDGST | TCP_F_DDGST, 24, 100, 104,
          TCP_FES_INVALID_HEADER_FIELD, 3);
    FAILS(&plain, TCP_PDU_H2C_DATA, 0, 24, 8, 600, TCP_FES_INVALID_HEADER_FIELD, 3);
    /* one byte of data, right at the boundary */
    struct tcp_pdu_layout l = passes(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 99, 100);
    assert_int_equal(l.pad, 27);
    assert_int_equal(l.data_len, 1);
    l = passes(&digests, TCP_PDU_H2C_DATA, TCP_F_HDGST | TCP_F_DDGST, 24, 100, 105);
    assert_int_equal(l.pad, 72);
    assert_int_equal(l.data_len, 1);
}

static void test_layout(void **state)
{
    (void)state;
    struct tcp_pdu_layout l = passes(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 72, 72 + 4096);
    assert_int_equal(l.hdgst, 0);
    assert_int_equal(l.pad, 0);
    assert_int_equal(l.data_len, 4096);
    assert_int_equal(l.ddgst, 0);
    l = passes(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST | TCP_F_DDGST, 72, 80, 80 + 1024 + 4);
    assert_int_equal(l.hdgst, 4);
    assert_int_equal(l.pad, 4);
    assert_int_equal(l.data_len, 1024);
    assert_int_equal(l.ddgst, 4);
    l = passes(&digests, TCP_PDU_H2C_DATA, TCP_F_HDGST | TCP_F_DDGST | TCP_F_DATA_LAST, 24, 28,
               28 + 131072 + 4);
    assert_int_equal(l.data_len, 131072);
}

static void test_data_limits(void **state)
{
    (void)state;
    passes(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 72, 72 + 4096);
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 72, 72 + 4097, TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    FAILS(&plain, TCP_PDU_CAPSULE_CMD, 0, 72, 72, 0xFFFFFFFFu, TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    passes(&before_ic, TCP_PDU_ICREQ, 0, 128, 0, 128);
    FAILS(&digests, TCP_PDU_CAPSULE_CMD, TCP_F_HDGST | TCP_F_DDGST, 72, 76, 76 + 4097 + 4,
          TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    passes(&plain, TCP_PDU_H2C_DATA, 0, 24, 24, 24 + 131072);
    FAILS(&plain, TCP_PDU_H2C_DATA, 0, 24, 24, 24 + 131073, TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    FAILS(&digests, TCP_PDU_H2C_DATA, TCP_F_HDGST | TCP_F_DDGST, 24, 28, 0xFFFFFFFFu,
          TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    /* no in-capsule data accepted at all */
    struct tcp_pdu_limits none = plain;
    none.max_incapsule = 0;
    FAILS(&none, TCP_PDU_CAPSULE_CMD, 0, 72, 72, 73, TCP_FES_DATA_LIMIT_EXCEEDED, 4);
}

/* ---- digests ---- */

/* the bitwise CRC-32C, independent of the one the builders use */
static uint32_t sw_crc(const void *p, size_t n)
{
    return crc32c_final(crc32c_update_sw(CRC32C_INIT, p, n));
}

static void test_header_digest(void **state)
{
    (void)state;
    uint8_t h[TCP_CMD_LEN + TCP_DGST_LEN];
    for (size_t i = 0; i < TCP_CMD_LEN; i++)
        h[i] = (uint8_t)(i * 7 + 3);
    le32_put(h + TCP_CMD_LEN, sw_crc(h, TCP_CMD_LEN));
    assert_int_equal(tcp_pdu_check_hdgst(h, TCP_CMD_LEN), 0);
    for (size_t bit = 0; bit < 8 * sizeof(h); bit += 13) {
        h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(tcp_pdu_check_hdgst(h, TCP_CMD_LEN), -1);
        h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* RFC 3720's vector: 32 zero bytes */
    uint8_t z[32 + 4] = {0};
    memcpy(z + 32, "\xAA\x36\x91\x8A", 4);
    assert_int_equal(tcp_pdu_check_hdgst(z, 32), 0);
}

/* ---- ICReq, H2CData ---- */

static void icreq(uint8_t *b, uint16_t pfv, uint8_t hpda, uint8_t dgst, uint32_t maxr2t)
{
    memset(b, 0, TCP_ICREQ_LEN);
    ch(b, TCP_PDU_ICREQ, 0, 128, 0, 128);
    le16_put(b + 8, pfv);
    b[10] = hpda;
    b[11] = dgst;
    le32_put(b + 12, maxr2t);
}

static void test_parse_icreq(void **state)
{
    (void)state;
    uint8_t b[TCP_ICREQ_LEN];
    struct tcp_icreq ic;
    struct tcp_pdu_error e;
    icreq(b, 0, 0, 0, 0);
    assert_int_equal(tcp_pdu_parse_icreq(b, &ic, &e), 0);
    assert_false(ic.hdgst);
    assert_false(ic.ddgst);
    assert_int_equal(ic.hpda, 0);
    assert_int_equal(ic.maxr2t, 0);
    icreq(b, 0, 31, 0x03 | 0xFC, 0x01020304);
    assert_int_equal(tcp_pdu_parse_icreq(b, &ic, &e), 0);
    assert_true(ic.hdgst);
    assert_true(ic.ddgst);
    assert_int_equal(ic.hpda, 31);
    assert_int_equal(ic.maxr2t, 0x01020304);
    icreq(b, 0, 7, 0x02, 0);
    assert_int_equal(tcp_pdu_parse_icreq(b, &ic, &e), 0);
    assert_false(ic.hdgst);
    assert_true(ic.ddgst);

    /* a protocol version other than 1.0, a host PDU data alignment beyond 128 bytes */
    static const struct {
        uint16_t pfv;
        uint8_t hpda;
        enum tcp_fes fes;
        uint32_t fei;
    } bad[] = {{1, 0, TCP_FES_UNSUPPORTED_PARAMETER, 8},
               {0x100, 0, TCP_FES_UNSUPPORTED_PARAMETER, 8},
               {0, 32, TCP_FES_INVALID_HEADER_FIELD, 10},
               {0, 0xFF, TCP_FES_INVALID_HEADER_FIELD, 10}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        icreq(b, bad[i].pfv, bad[i].hpda, 0, 0);
        assert_int_equal(tcp_pdu_parse_icreq(b, &ic, &e), -1);
        assert_int_equal(e.fes, bad[i].fes);
        assert_int_equal(e.fei, bad[i].fei);
    }
}

static void test_parse_h2c(void **state)
{
    (void)state;
    uint8_t b[TCP_DATA_HLEN] = {0};
    ch(b, TCP_PDU_H2C_DATA, TCP_F_DATA_LAST, 24, 24, 24 + 0x200);
    le16_put(b + 8, 0xBEEF);
    le16_put(b + 10, 0x007F);
    le32_put(b + 12, 0x11223344);
    le32_put(b + 16, 0x200);
    struct tcp_h2c_data h;
    tcp_pdu_parse_h2c(b, &h);
    assert_int_equal(h.cccid, 0xBEEF);
    assert_int_equal(h.ttag, 0x7F);
    assert_int_equal(h.datao, 0x11223344);
    assert_int_equal(h.datal, 0x200);
}

/* ---- builders: exact bytes ---- */

static void assert_digest(const uint8_t *b, size_t hlen)
{
    uint8_t d[4];
    le32_put(d, sw_crc(b, hlen));
    assert_memory_equal(b + hlen, d, 4);
}

static void test_build_icresp(void **state)
{
    (void)state;
    uint8_t b[TCP_ICRESP_LEN + 8];
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_icresp(b, 0, true, false, 131072), 128);
    uint8_t want[TCP_ICRESP_LEN] = {0x01, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00};
    assert_memory_equal(b, want, sizeof(want));
    assert_int_equal(b[128], 0xEE);
    assert_int_equal(tcp_pdu_build_icresp(b, 3, false, true, 0x1000), 128);
    want[10] = 3;
    want[11] = 0x02;
    want[12] = 0x00;
    want[13] = 0x10;
    want[14] = 0x00;
    assert_memory_equal(b, want, sizeof(want));
    tcp_pdu_build_icresp(b, 0, true, true, 0);
    assert_int_equal(b[11], 0x03);
}

static void test_build_resp(void **state)
{
    (void)state;
    uint8_t cqe[16], b[TCP_RSP_LEN + TCP_DGST_LEN + 4];
    for (int i = 0; i < 16; i++)
        cqe[i] = (uint8_t)(0xA0 + i);
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_resp(b, cqe, false), 24);
    static const uint8_t ch_plain[8] = {0x05, 0x00, 0x18, 0x00, 0x18, 0x00, 0x00, 0x00};
    assert_memory_equal(b, ch_plain, 8);
    assert_memory_equal(b + 8, cqe, 16);
    assert_int_equal(b[24], 0xEE);
    assert_int_equal(tcp_pdu_build_resp(b, cqe, true), 28);
    static const uint8_t ch_dg[8] = {0x05, 0x01, 0x18, 0x00, 0x1C, 0x00, 0x00, 0x00};
    assert_memory_equal(b, ch_dg, 8);
    assert_memory_equal(b + 8, cqe, 16);
    assert_digest(b, 24);
    assert_int_equal(b[28], 0xEE);
}

static void test_build_r2t(void **state)
{
    (void)state;
    uint8_t b[TCP_R2T_LEN + TCP_DGST_LEN + 4];
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_r2t(b, 0x1234, 0x0056, 0x1000, 0x20000, false), 24);
    static const uint8_t want[24] = {0x09, 0x00, 0x18, 0x00, 0x18, 0x00, 0x00, 0x00,
                                     0x34, 0x12, 0x56, 0x00, 0x00, 0x10, 0x00, 0x00,
                                     0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_memory_equal(b, want, 24);
    assert_int_equal(b[24], 0xEE);
    assert_int_equal(tcp_pdu_build_r2t(b, 0x1234, 0x0056, 0x1000, 0x20000, true), 28);
    assert_int_equal(b[1], TCP_F_HDGST);
    assert_int_equal(le32_get(b + 4), 28);
    assert_memory_equal(b + 8, want + 8, 16);
    assert_digest(b, 24);
}

static void test_build_c2h(void **state)
{
    (void)state;
    uint8_t b[160];
    memset(b, 0xEE, sizeof(b));
    /* no digests, no alignment: data right after the 24-byte header */
    assert_int_equal(tcp_pdu_build_c2h(b, 0x0102, 0x40, 512, true, false, false, 0), 24);
    static const uint8_t want[24] = {0x07, 0x04, 0x18, 0x18, 0x18, 0x02, 0x00, 0x00,
                                     0x02, 0x01, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
                                     0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_memory_equal(b, want, 24);
    assert_int_equal(b[24], 0xEE);
    /* not the last: no flag */
    tcp_pdu_build_c2h(b, 0x0102, 0x40, 512, false, false, false, 0);
    assert_int_equal(b[1], 0);
    /* both digests: pdo after the header digest, plen counts the data digest */
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_c2h(b, 7, 0, 4096, true, true, true, 0), 28);
    assert_int_equal(b[1], TCP_F_HDGST | TCP_F_DDGST | TCP_F_DATA_LAST);
    assert_int_equal(b[2], 24);
    assert_int_equal(b[3], 28);
    assert_int_equal(le32_get(b + 4), 28 + 4096 + 4);
    assert_digest(b, 24);
    assert_int_equal(b[28], 0xEE);
    /* the host's alignment (hpda 3: 16 bytes): zeroed padding up to pdo */
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_c2h(b, 7, 0, 100, true, true, false, 3), 32);
    assert_int_equal(b[3], 32);
    assert_int_equal(le32_get(b + 4), 32 + 100);
    assert_digest(b, 24);
    static const uint8_t zero[128] = {0};
    assert_memory_equal(b + 28, zero, 4);
    assert_int_equal(b[32], 0xEE);
    /* the largest alignment, 128 bytes */
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_c2h(b, 7, 0, 100, true, false, false, 31), 128);
    assert_int_equal(b[3], 128);
    assert_int_equal(le32_get(b + 4), 228);
    assert_memory_equal(b + 24, zero, 104);
    assert_int_equal(b[128], 0xEE);
}

static void test_build_term(void **state)
{
    (void)state;
    uint8_t bad_hdr[200], b[TCP_TERM_HLEN + TCP_TERM_MAX_DATA + 8];
    for (size_t i = 0; i < sizeof(bad_hdr); i++)
        bad_hdr[i] = (uint8_t)(i + 1);
    memset(b, 0xEE, sizeof(b));
    assert_int_equal(tcp_pdu_build_term(b, TCP_FES_DATA_OUT_OF_RANGE, 12, bad_hdr, 24), 48);
    static const uint8_t want[24] = {0x03, 0x00, 0x18, 0x00, 0x30, 0x00, 0x00, 0x00,
                                     0x04, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_memory_equal(b, want, 24);
    assert_memory_equal(b + 24, bad_hdr, 24);
    assert_int_equal(b[48], 0xEE);
    /* no header; and a long one cut at 128 bytes */
    assert_int_equal(tcp_pdu_build_term(b, TCP_FES_HDGST_ERROR, 0x01020304, NULL, 0), 24);
    assert_int_equal(le32_get(b + 4), 24);
    assert_int_equal(le16_get(b + 8), TCP_FES_HDGST_ERROR);
    assert_int_equal(le32_get(b + 10), 0x01020304);
    assert_int_equal(tcp_pdu_build_term(b, TCP_FES_INVALID_HEADER_FIELD, 2, bad_hdr, 200), 152);
    assert_int_equal(le32_get(b + 4), 152);
    assert_memory_equal(b + 24, bad_hdr, 128);
    assert_int_equal(b[152], 0xEE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_a_host_may_not_send),
        cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_icreq),
        cmocka_unit_test(test_h2c_term),
        cmocka_unit_test(test_header_digest_flag),
        cmocka_unit_test(test_plen_against_header),
        cmocka_unit_test(test_data_digest_flag),
        cmocka_unit_test(test_pdo),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_data_limits),
        cmocka_unit_test(test_header_digest),
        cmocka_unit_test(test_parse_icreq),
        cmocka_unit_test(test_parse_h2c),
        cmocka_unit_test(test_build_icresp),
        cmocka_unit_test(test_build_resp),
        cmocka_unit_test(test_build_r2t),
        cmocka_unit_test(test_build_c2h),
        cmocka_unit_test(test_build_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

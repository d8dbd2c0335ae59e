/* NVMe/TCP PDU checks and builders (see tcp_pdu.h). Offsets are those of the NVMe/TCP
 * Transport Specification 1.0, §3.6 "PDU formats". */
#include "nvmf/tcp_pdu.h"

#include <string.h>

#include "core/crc32c.h"
#include "nvmf/nvme_spec.h"

static int bad(struct tcp_pdu_error *err, enum tcp_fes fes, uint32_t fei)
{
    err->fes = fes;
    err->fei = fei;
    return -1;
}

static uint32_t expected_hlen(uint8_t type)
{
    switch (type) {
    case TCP_PDU_ICREQ:
        return TCP_ICREQ_LEN;
    case TCP_PDU_H2C_TERM:
        return TCP_TERM_HLEN;
    case TCP_PDU_CAPSULE_CMD:
        return TCP_CMD_LEN;
    case TCP_PDU_H2C_DATA:
        return TCP_DATA_HLEN;
    default:
        return 0; /* a PDU only a controller sends, or an unknown type */
    }
}

int tcp_pdu_check_ch(const uint8_t ch[TCP_CH_LEN], const struct tcp_pdu_limits *lim,
                     struct tcp_pdu_layout *out, struct tcp_pdu_error *err)
{
    memset(out, 0, sizeof(*out));
    out->type = ch[0];
    out->flags = ch[1];
    out->hlen = ch[2];
    out->plen = le32_get(ch + 4);
    uint32_t pdo = ch[3];

    uint32_t want = expected_hlen(out->type);
    if (!want)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 0);
    if (!lim->ic_done != (out->type == TCP_PDU_ICREQ))
        return bad(err, TCP_FES_PDU_SEQUENCE_ERROR, 0);
    if (out->hlen != want)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 2);

    if (out->type == TCP_PDU_ICREQ) {
        if (out->plen != TCP_ICREQ_LEN)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
        if (pdo != 0)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 3);
        return 0;
    }
    if (out->type == TCP_PDU_H2C_TERM) {
        /* no digests; the data is the header the host found fault with */
        if (out->plen < TCP_TERM_HLEN || out->plen > TCP_TERM_HLEN + TCP_TERM_MAX_DATA)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
        out->data_len = out->plen - TCP_TERM_HLEN;
        return 0;
    }

    /* capsule command or H2CData: digests as negotiated */
    if (!!(out->flags & TCP_F_HDGST) != lim->hdgst)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 1);
    out->hdgst = lim->hdgst ? TCP_DGST_LEN : 0;
    uint32_t hend = out->hlen + out->hdgst;
    if (out->plen < hend)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
    bool has_data = out->plen > hend;
    if (!has_data) {
        if (out->type == TCP_PDU_H2C_DATA)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
        return 0;
    }
    if (!!(out->flags & TCP_F_DDGST) != lim->ddgst)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 1);
    out->ddgst = lim->ddgst ? TCP_DGST_LEN : 0;
    if (pdo < hend || pdo + out->ddgst >= out->plen)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 3);
    out->pad = pdo - hend;
    out->data_len = out->plen - pdo - out->ddgst;
    uint32_t max = out->type == TCP_PDU_CAPSULE_CMD ? lim->max_incapsule : lim->maxh2cdata;
    if (out->data_len > max)
        return bad(err, TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    return 0;
}

int tcp_pdu_check_hdgst(const uint8_t *hdr, uint32_t hlen)
{
    return crc32c(hdr, hlen) == le32_get(hdr + hlen) ? 0 : -1;
}

int tcp_pdu_parse_icreq(const uint8_t *hdr, struct tcp_icreq *out, struct tcp_pdu_error *err)
{
    out->pfv = le16_get(hdr + 8);
    out->hpda = hdr[10];
    out->hdgst = hdr[11] & 1;
    out->ddgst = (hdr[11] >> 1) & 1;
    out->maxr2t = le32_get(hdr + 12);
    if (out->pfv != 0)
        return bad(err, TCP_FES_UNSUPPORTED_PARAMETER, 8);
    if (out->hpda > 31)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 10);
    return 0;
}

void tcp_pdu_parse_h2c(const uint8_t *hdr, struct tcp_h2c_data *out)
{
    out->cccid = le16_get(hdr + 8);
    out->ttag = le16_get(hdr + 10);
    out->datao = le32_get(hdr + 12);
    out->datal = le32_get(hdr + 16);
}

void tcp_pdu_put_ch(uint8_t *b, uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo,
                    uint32_t plen)
{
    b[0] = type;
    b[1] = flags;
    b[2] = hlen;
    b[3] = pdo;
    le32_put(b + 4, plen);
}

size_t tcp_pdu_finish_hdr(uint8_t *buf, uint32_t hlen, bool hdgst)
{
    if (!hdgst)
        return hlen;
    le32_put(buf + hlen, crc32c(buf, hlen));
    return hlen + TCP_DGST_LEN;
}

size_t tcp_pdu_build_icresp(uint8_t *buf, uint8_t cpda, bool hdgst, bool ddgst, uint32_t maxh2cdata)
{
    memset(buf, 0, TCP_ICRESP_LEN);
    tcp_pdu_put_ch(buf, TCP_PDU_ICRESP, 0, TCP_ICRESP_LEN, 0, TCP_ICRESP_LEN);
    buf[10] = cpda;
    buf[11] = (uint8_t)((hdgst ? 1 : 0) | (ddgst ? 2 : 0));
    le32_put(buf + 12, maxh2cdata);
    return TCP_ICRESP_LEN;
}

size_t tcp_pdu_build_resp(uint8_t *buf, const uint8_t cqe[16], bool hdgst)
{
    uint32_t dg = hdgst ? TCP_DGST_LEN : 0;
    tcp_pdu_put_ch(buf, TCP_PDU_CAPSULE_RESP, hdgst ? TCP_F_HDGST : 0, TCP_RSP_LEN, 0, TCP_RSP_LEN + dg);
    memcpy(buf + TCP_CH_LEN, cqe, 16);
    return tcp_pdu_finish_hdr(buf, TCP_RSP_LEN, hdgst);
}

size_t tcp_pdu_build_r2t(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t offset,
                         uint32_t len, bool hdgst)
{
    uint32_t dg = hdgst ? TCP_DGST_LEN : 0;
    memset(buf, 0, TCP_R2T_LEN);
    tcp_pdu_put_ch(buf, TCP_PDU_R2T, hdgst ? TCP_F_HDGST : 0, TCP_R2T_LEN, 0, TCP_R2T_LEN + dg);
    le16_put(buf + 8, cccid);
    le16_put(buf + 10, ttag);
    le32_put(buf + 12, offset);
    le32_put(buf + 16, len);
    return tcp_pdu_finish_hdr(buf, TCP_R2T_LEN, hdgst);
}

size_t tcp_pdu_build_data(uint8_t *buf, uint8_t type, uint16_t cccid, uint16_t ttag,
                          uint32_t offset, uint32_t len, bool last, bool hdgst, bool ddgst,
                          uint8_t pda)
{
    uint32_t dg = hdgst ? TCP_DGST_LEN : 0, dd = ddgst ? TCP_DGST_LEN : 0;
    uint32_t align = ((uint32_t)pda + 1) * 4;
    uint32_t pdo = (TCP_DATA_HLEN + dg + align - 1) / align * align;
    memset(buf, 0, pdo);
    uint8_t flags = (uint8_t)((hdgst ? TCP_F_HDGST : 0) | (ddgst ? TCP_F_DDGST : 0) |
                              (last ? TCP_F_DATA_LAST : 0));
    tcp_pdu_put_ch(buf, type, flags, TCP_DATA_HLEN, (uint8_t)pdo, pdo + len + dd);
    le16_put(buf + 8, cccid);
    le16_put(buf + 10, ttag);
    le32_put(buf + 12, offset);
    le32_put(buf + 16, len);
    tcp_pdu_finish_hdr(buf, TCP_DATA_HLEN, hdgst);
    return pdo;
}

size_t tcp_pdu_build_c2h(uint8_t *buf, uint16_t cccid, uint32_t offset, uint32_t len,
                         bool last, bool hdgst, bool ddgst, uint8_t hpda)
{
    /* C2HData has no transfer tag: the field is reserved (0) */
    return tcp_pdu_build_data(buf, TCP_PDU_C2H_DATA, cccid, 0, offset, len, last, hdgst, ddgst,
                              hpda);
}

size_t tcp_pdu_build_term_pdu(uint8_t *buf, uint8_t type, enum tcp_fes fes, uint32_t fei,
                              const uint8_t *bad_hdr, size_t bad_len)
{
    if (bad_len > TCP_TERM_MAX_DATA)
        bad_len = TCP_TERM_MAX_DATA;
    memset(buf, 0, TCP_TERM_HLEN);
    tcp_pdu_put_ch(buf, type, 0, TCP_TERM_HLEN, 0, (uint32_t)(TCP_TERM_HLEN + bad_len));
    le16_put(buf + 8, (uint16_t)fes);
    le32_put(buf + 10, fei);
    if (bad_len)
        memcpy(buf + TCP_TERM_HLEN, bad_hdr, bad_len);
    return TCP_TERM_HLEN + bad_len;
}

size_t tcp_pdu_build_term(uint8_t *buf, enum tcp_fes fes, uint32_t fei, const uint8_t *bad_hdr,
                          size_t bad_len)
{
    return tcp_pdu_build_term_pdu(buf, TCP_PDU_C2H_TERM, fes, fei, bad_hdr, bad_len);
}

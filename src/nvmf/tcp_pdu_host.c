/* NVMe/TCP PDUs as the host sees them (tcp_pdu.h, "the host's side"): the checks on what
 * a controller sends and the builders of what a host sends. Offsets are those of the
 * NVMe/TCP Transport Specification 1.0, §3.6. */
#include <string.h>

#include "core/crc32c.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/tcp_pdu.h"

#define TCP_C2H_TERM_MAX_DATA 152 /* a C2HTermReq carries at most this much of a header */

static int bad(struct tcp_pdu_error *err, enum tcp_fes fes, uint32_t fei)
{
    err->fes = fes;
    err->fei = fei;
    return -1;
}

static uint32_t expected_hlen(uint8_t type)
{
    switch (type) {
    case TCP_PDU_ICRESP:
        return TCP_ICRESP_LEN;
    case TCP_PDU_C2H_TERM:
        return TCP_TERM_HLEN;
    case TCP_PDU_CAPSULE_RESP:
        return TCP_RSP_LEN;
    case TCP_PDU_C2H_DATA:
        return TCP_DATA_HLEN;
    case TCP_PDU_R2T:
        return TCP_R2T_LEN;
    default:
        return 0; /* a PDU only a host sends, or an unknown type */
    }
}

int tcp_pdu_check_ch_ctrlr(const uint8_t ch[TCP_CH_LEN], const struct tcp_pdu_limits *lim,
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
    /* a C2HTermReq may come at any time, even instead of the ICResp */
    if (out->type != TCP_PDU_C2H_TERM && !lim->ic_done != (out->type == TCP_PDU_ICRESP))
        return bad(err, TCP_FES_PDU_SEQUENCE_ERROR, 0);
    if (out->hlen != want)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 2);
    if (out->type == TCP_PDU_ICRESP) {
        if (out->plen != TCP_ICRESP_LEN)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
        return 0;
    }
    if (out->type == TCP_PDU_C2H_TERM) {
        if (out->plen < TCP_TERM_HLEN || out->plen > TCP_TERM_HLEN + TCP_C2H_TERM_MAX_DATA)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
        out->data_len = out->plen - TCP_TERM_HLEN;
        return 0;
    }
    if (!!(out->flags & TCP_F_HDGST) != lim->hdgst)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 1);
    out->hdgst = lim->hdgst ? TCP_DGST_LEN : 0;
    uint32_t hend = out->hlen + out->hdgst;
    if (out->type != TCP_PDU_C2H_DATA) { /* responses and R2Ts carry no data */
        if (out->plen != hend)
            return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
        return 0;
    }
    if (out->plen <= hend)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 4);
    if (!!(out->flags & TCP_F_DDGST) != lim->ddgst)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 1);
    out->ddgst = lim->ddgst ? TCP_DGST_LEN : 0;
    if (pdo < hend || pdo + out->ddgst >= out->plen)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 3);
    out->pad = pdo - hend;
    out->data_len = out->plen - pdo - out->ddgst;
    if (lim->maxh2cdata && out->data_len > lim->maxh2cdata)
        return bad(err, TCP_FES_DATA_LIMIT_EXCEEDED, 4);
    return 0;
}

int tcp_pdu_parse_icresp(const uint8_t *hdr, struct tcp_icresp *out, struct tcp_pdu_error *err)
{
    out->pfv = le16_get(hdr + 8);
    out->cpda = hdr[10];
    out->hdgst = hdr[11] & 1;
    out->ddgst = (hdr[11] >> 1) & 1;
    out->maxh2cdata = le32_get(hdr + 12);
    if (out->pfv != 0)
        return bad(err, TCP_FES_UNSUPPORTED_PARAMETER, 8);
    if (out->cpda > 31)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 10);
    if (out->maxh2cdata < 4096 || out->maxh2cdata % 4)
        return bad(err, TCP_FES_INVALID_HEADER_FIELD, 12);
    return 0;
}

void tcp_pdu_parse_c2h(const uint8_t *hdr, struct tcp_c2h_data *out)
{
    out->cccid = le16_get(hdr + 8);
    out->datao = le32_get(hdr + 12);
    out->datal = le32_get(hdr + 16);
    out->last = hdr[1] & TCP_F_DATA_LAST;
    out->success = hdr[1] & TCP_F_DATA_SUCCESS;
}

void tcp_pdu_parse_r2t(const uint8_t *hdr, struct tcp_r2t *out)
{
    out->cccid = le16_get(hdr + 8);
    out->ttag = le16_get(hdr + 10);
    out->r2to = le32_get(hdr + 12);
    out->r2tl = le32_get(hdr + 16);
}

size_t tcp_pdu_build_icreq(uint8_t *buf, uint8_t hpda, bool hdgst, bool ddgst, uint32_t maxr2t)
{
    memset(buf, 0, TCP_ICREQ_LEN);
    tcp_pdu_put_ch(buf, TCP_PDU_ICREQ, 0, TCP_ICREQ_LEN, 0, TCP_ICREQ_LEN);
    le16_put(buf + 8, 0); /* PFV */
    buf[10] = hpda;
    buf[11] = (uint8_t)((hdgst ? 1 : 0) | (ddgst ? 2 : 0));
    le32_put(buf + 12, maxr2t);
    return TCP_ICREQ_LEN;
}

size_t tcp_pdu_build_capsule(uint8_t *buf, const uint8_t sqe[64], uint32_t data_len, bool hdgst,
                             bool ddgst)
{
    uint32_t dg = hdgst ? TCP_DGST_LEN : 0, dd = data_len && ddgst ? TCP_DGST_LEN : 0;
    uint32_t hend = TCP_CMD_LEN + dg;
    uint8_t flags = (uint8_t)((hdgst ? TCP_F_HDGST : 0) | (dd ? TCP_F_DDGST : 0));
    tcp_pdu_put_ch(buf, TCP_PDU_CAPSULE_CMD, flags, TCP_CMD_LEN, data_len ? (uint8_t)hend : 0,
                   hend + data_len + dd);
    memcpy(buf + TCP_CH_LEN, sqe, 64);
    return tcp_pdu_finish_hdr(buf, TCP_CMD_LEN, hdgst);
}

size_t tcp_pdu_build_h2c(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t offset,
                         uint32_t len, bool last, bool hdgst, bool ddgst, uint8_t cpda)
{
    return tcp_pdu_build_data(buf, TCP_PDU_H2C_DATA, cccid, ttag, offset, len, last, hdgst, ddgst,
                              cpda);
}

size_t tcp_pdu_build_h2c_term(uint8_t *buf, enum tcp_fes fes, uint32_t fei, const uint8_t *bad_hdr,
                              size_t bad_len)
{
    return tcp_pdu_build_term_pdu(buf, TCP_PDU_H2C_TERM, fes, fei, bad_hdr, bad_len);
}

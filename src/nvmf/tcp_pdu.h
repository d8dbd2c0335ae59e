/* NVMe/TCP PDUs (NVMe/TCP Transport Specification 1.0): the layout of every PDU type and
 * the checks on a PDU a host sends, as pure functions so the connection code, the unit
 * tests and the fuzzer share them.
 *
 * Every PDU starts with an 8-byte common header (type, flags, hlen, pdo, plen); then the
 * rest of its header (PSH), a header digest if negotiated, padding up to pdo, data, and a
 * data digest if negotiated and the PDU carries data. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tcp_pdu_type {
    TCP_PDU_ICREQ = 0x00,
    TCP_PDU_ICRESP = 0x01,
    TCP_PDU_H2C_TERM = 0x02,
    TCP_PDU_C2H_TERM = 0x03,
    TCP_PDU_CAPSULE_CMD = 0x04,
    TCP_PDU_CAPSULE_RESP = 0x05,
    TCP_PDU_H2C_DATA = 0x06,
    TCP_PDU_C2H_DATA = 0x07,
    TCP_PDU_R2T = 0x09,
};

/* common header flags */
#define TCP_F_HDGST 0x01
#define TCP_F_DDGST 0x02
#define TCP_F_DATA_LAST 0x04
#define TCP_F_DATA_SUCCESS 0x08

/* header lengths (common header included) */
#define TCP_CH_LEN 8
#define TCP_ICREQ_LEN 128
#define TCP_ICRESP_LEN 128
#define TCP_CMD_LEN (TCP_CH_LEN + 64)
#define TCP_RSP_LEN (TCP_CH_LEN + 16)
#define TCP_DATA_HLEN 24 /* H2CData, C2HData */
#define TCP_R2T_LEN 24
#define TCP_TERM_HLEN 24
#define TCP_TERM_MAX_DATA 128 /* bytes of the offending header a TermReq carries */
#define TCP_DGST_LEN 4
#define TCP_MAX_HDR (TCP_ICREQ_LEN + TCP_DGST_LEN)

/* Fatal error status of a termination request */
enum tcp_fes {
    TCP_FES_INVALID_HEADER_FIELD = 0x01,
    TCP_FES_PDU_SEQUENCE_ERROR = 0x02,
    TCP_FES_HDGST_ERROR = 0x03,
    TCP_FES_DATA_OUT_OF_RANGE = 0x04,
    TCP_FES_DATA_LIMIT_EXCEEDED = 0x05,
    TCP_FES_UNSUPPORTED_PARAMETER = 0x06,
};

/* What the connection has negotiated, for checking the next PDU. */
struct tcp_pdu_limits {
    bool ic_done;          /* ICReq/ICResp exchanged */
    bool hdgst, ddgst;     /* digests enabled */
    uint32_t max_incapsule; /* bytes of in-capsule data accepted */
    uint32_t maxh2cdata;    /* bytes of data per H2CData PDU */
};

/* Where the parts of a received PDU are, from its common header. */
struct tcp_pdu_layout {
    uint8_t type, flags;
    uint32_t hlen;      /* header length, common header included, no digest */
    uint32_t hdgst;     /* 0 or 4 */
    uint32_t pad;       /* bytes between header (+digest) and data */
    uint32_t data_len;  /* bytes of data */
    uint32_t ddgst;     /* 0 or 4 */
    uint32_t plen;      /* total */
};

/* A check failure: the termination request to send. */
struct tcp_pdu_error {
    enum tcp_fes fes;
    uint32_t fei; /* field error information: byte offset of the bad field */
};

/* Checks a host's common header against the limits and computes its layout.
 * Returns 0, or -1 with err filled (the connection is then terminated). */
int tcp_pdu_check_ch(const uint8_t ch[TCP_CH_LEN], const struct tcp_pdu_limits *lim,
                     struct tcp_pdu_layout *out, struct tcp_pdu_error *err);

/* Verifies the header digest of a complete header (hlen bytes + 4). 0 or -1. */
int tcp_pdu_check_hdgst(const uint8_t *hdr, uint32_t hlen);

/* ICReq fields, checked. Returns 0 or -1 with err. */
struct tcp_icreq {
    uint16_t pfv;
    uint8_t hpda; /* host PDU data alignment: C2H data at multiples of (hpda+1)*4 */
    bool hdgst, ddgst;
    uint32_t maxr2t; /* 0-based: outstanding R2Ts per command */
};
int tcp_pdu_parse_icreq(const uint8_t *hdr, struct tcp_icreq *out, struct tcp_pdu_error *err);

/* H2CData fields (the PSH after the common header). */
struct tcp_h2c_data {
    uint16_t cccid, ttag;
    uint32_t datao, datal;
};
void tcp_pdu_parse_h2c(const uint8_t *hdr, struct tcp_h2c_data *out);

/* Builders of the PDUs the target sends; each writes the header (and the header digest
 * when hdgst) into buf and returns the bytes written before any data. */
size_t tcp_pdu_build_icresp(uint8_t *buf, uint8_t cpda, bool hdgst, bool ddgst, uint32_t maxh2cdata);
size_t tcp_pdu_build_resp(uint8_t *buf, const uint8_t cqe[16], bool hdgst);
size_t tcp_pdu_build_r2t(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t offset,
                         uint32_t len, bool hdgst);
/* C2HData header: pad bytes up to the host's alignment are zeroed in buf and counted. */
size_t tcp_pdu_build_c2h(uint8_t *buf, uint16_t cccid, uint32_t offset, uint32_t len,
                         bool last, bool hdgst, bool ddgst, uint8_t hpda);
/* C2HTermReq carrying up to TCP_TERM_MAX_DATA bytes of the offending header. */
size_t tcp_pdu_build_term(uint8_t *buf, enum tcp_fes fes, uint32_t fei, const uint8_t *bad,
                          size_t bad_len);

/* ---- the host's side (the NVMe/TCP initiator, src/nvme/; tcp_pdu_host.c) ---- */

/* Checks a controller's common header (ICResp before the exchange; capsule responses,
 * C2HData, R2T and C2HTermReq after it) against the limits (max_incapsule unused;
 * maxh2cdata is the largest C2HData this host takes) and computes its layout. */
int tcp_pdu_check_ch_ctrlr(const uint8_t ch[TCP_CH_LEN], const struct tcp_pdu_limits *lim,
                           struct tcp_pdu_layout *out, struct tcp_pdu_error *err);

struct tcp_icresp {
    uint16_t pfv;
    uint8_t cpda; /* controller PDU data alignment: H2C data at multiples of (cpda+1)*4 */
    bool hdgst, ddgst;
    uint32_t maxh2cdata;
};
/* ICResp fields, checked (PFV 0, CPDA <= 31, MAXH2CDATA >= 4096 and a multiple of 4). */
int tcp_pdu_parse_icresp(const uint8_t *hdr, struct tcp_icresp *out, struct tcp_pdu_error *err);

struct tcp_c2h_data {
    uint16_t cccid;
    uint32_t datao, datal;
    bool last, success;
};
void tcp_pdu_parse_c2h(const uint8_t *hdr, struct tcp_c2h_data *out);

struct tcp_r2t {
    uint16_t cccid, ttag;
    uint32_t r2to, r2tl;
};
void tcp_pdu_parse_r2t(const uint8_t *hdr, struct tcp_r2t *out);

size_t tcp_pdu_build_icreq(uint8_t *buf, uint8_t hpda, bool hdgst, bool ddgst, uint32_t maxr2t);
/* Command capsule with data_len bytes of in-capsule data after it (0: none); returns the
 * bytes before the data (header, digest, pad). */
size_t tcp_pdu_build_capsule(uint8_t *buf, const uint8_t sqe[64], uint32_t data_len, bool hdgst,
                             bool ddgst);
/* H2CData header for len bytes at offset of the command's data; pad to the controller's
 * alignment zeroed and counted. */
size_t tcp_pdu_build_h2c(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t offset,
                         uint32_t len, bool last, bool hdgst, bool ddgst, uint8_t cpda);
/* H2CTermReq (the host's fatal error report). */
size_t tcp_pdu_build_h2c_term(uint8_t *buf, enum tcp_fes fes, uint32_t fei, const uint8_t *bad,
                              size_t bad_len);

/* shared by the builders of both sides */
void tcp_pdu_put_ch(uint8_t *b, uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo,
                    uint32_t plen);
size_t tcp_pdu_finish_hdr(uint8_t *buf, uint32_t hlen, bool hdgst);
/* A data PDU header (C2HData or H2CData: the same layout) aligned to the peer's PDA; and
 * a termination request (C2HTermReq or H2CTermReq). */
size_t tcp_pdu_build_data(uint8_t *buf, uint8_t type, uint16_t cccid, uint16_t ttag,
                          uint32_t offset, uint32_t len, bool last, bool hdgst, bool ddgst,
                          uint8_t pda);
size_t tcp_pdu_build_term_pdu(uint8_t *buf, uint8_t type, enum tcp_fes fes, uint32_t fei,
                              const uint8_t *bad, size_t bad_len);

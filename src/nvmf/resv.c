/* NVMe reservations of one namespace: the state machine of NVMe Base Specification 2.0
 * §8.19 and the Reservation Register / Report / Acquire / Release commands of the NVM
 * Command Set Specification 1.0. See resv.h for the interface; the rules each function
 * follows are cited where they are applied. */
#include "nvmf/resv.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cdw10 fields shared by Register (RREGA), Acquire (RACQA) and Release (RRELA). */
#define CDW10_ACTION(c) ((uint8_t)((c) & 0x7))
#define CDW10_IEKEY(c) (((c) >> 3) & 1)
#define CDW10_RTYPE(c) ((uint8_t)(((c) >> 8) & 0xff))
#define CDW10_CPTPL(c) ((uint8_t)(((c) >> 30) & 0x3))

enum { RREGA_REGISTER = 0, RREGA_UNREGISTER = 1, RREGA_REPLACE = 2 };
enum { RACQA_ACQUIRE = 0, RACQA_PREEMPT = 1, RACQA_PREEMPT_ABORT = 2 };
enum { RRELA_RELEASE = 0, RRELA_CLEAR = 1 };
enum { CPTPL_NO_CHANGE = 0, CPTPL_CLEAR = 2, CPTPL_SET = 3 };
enum { NOTICE_REG_PREEMPTED = 1, NOTICE_RESV_RELEASED = 2, NOTICE_RESV_PREEMPTED = 3 };

/* Reservation Status extended data structure: 64-byte header, 64-byte entries. */
#define REPORT_EXT_HDR 64
#define REPORT_EXT_ENTRY 64

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void nvmf_resv_init(struct nvmf_resv *r)
{
    memset(r, 0, sizeof(*r));
    r->type = NVMF_RESV_NONE;
    r->holder = -1;
}

/* ---- registrants and holders ---- */

static bool all_regs_type(enum nvmf_resv_type t)
{
    return t == NVMF_RESV_WRITE_EXCLUSIVE_ALL_REGS || t == NVMF_RESV_EXCLUSIVE_ACCESS_ALL_REGS;
}

static bool reg_only_type(enum nvmf_resv_type t)
{
    return t == NVMF_RESV_WRITE_EXCLUSIVE_REG_ONLY || t == NVMF_RESV_EXCLUSIVE_ACCESS_REG_ONLY;
}

static int find_reg(const struct nvmf_resv *r, const uint8_t hostid[16])
{
    for (size_t i = 0; i < r->n_regs; i++)
        if (!memcmp(r->regs[i].hostid, hostid, 16))
            return (int)i;
    return -1;
}

/* §8.19: for the All Registrants types every registrant is a reservation holder. */
static bool is_holder(const struct nvmf_resv *r, int idx)
{
    if (idx < 0 || r->type == NVMF_RESV_NONE)
        return false;
    return all_regs_type(r->type) || r->holder == idx;
}

static void set_reservation(struct nvmf_resv *r, enum nvmf_resv_type t, int holder_idx)
{
    r->type = t;
    r->holder = t == NVMF_RESV_NONE || all_regs_type(t) ? -1 : holder_idx;
}

static uint16_t add_reg(struct nvmf_resv *r, const uint8_t hostid[16], uint64_t rkey)
{
    if (r->n_regs >= NVMF_RESV_MAX_REGISTRANTS)
        return NVMF_SC_INSUFFICIENT_CAPACITY;
    memcpy(r->regs[r->n_regs].hostid, hostid, 16);
    r->regs[r->n_regs].rkey = rkey;
    r->n_regs++;
    return NVMF_SC_SUCCESS;
}

/* Removes registrant idx. Unregistering the holder of a Write Exclusive, Exclusive Access or
 * Registrants Only reservation releases it; an All Registrants reservation is released when
 * its last registrant goes (§8.19.4 "Unregistering"). Returns whether it was released. */
static bool remove_reg(struct nvmf_resv *r, int idx)
{
    bool released = false;
    if (r->type != NVMF_RESV_NONE && !all_regs_type(r->type) && r->holder == idx) {
        set_reservation(r, NVMF_RESV_NONE, -1);
        released = true;
    }
    memmove(&r->regs[idx], &r->regs[idx + 1], (r->n_regs - (size_t)idx - 1) * sizeof(r->regs[0]));
    r->n_regs--;
    if (r->holder > idx)
        r->holder--;
    if (r->type != NVMF_RESV_NONE && r->n_regs == 0) {
        set_reservation(r, NVMF_RESV_NONE, -1);
        released = true;
    }
    return released;
}

/* ---- notices ---- */

static void notice(struct nvmf_resv_notices *out, const uint8_t hostid[16], uint8_t type)
{
    if (out->n < NVMF_RESV_MAX_NOTICES) {
        memcpy(out->v[out->n].hostid, hostid, 16);
        out->v[out->n].type = type;
        out->n++;
    }
}

/* Every registrant other than `self` gets `type`. */
static void notice_others(const struct nvmf_resv *r, const uint8_t self[16],
                          struct nvmf_resv_notices *out, uint8_t type)
{
    for (size_t i = 0; i < r->n_regs; i++)
        if (memcmp(r->regs[i].hostid, self, 16))
            notice(out, r->regs[i].hostid, type);
}

/* ---- command prologue ---- */

/* Outputs reset, the payload's two keys read (the second only when need is 16). */
static uint16_t start(const uint8_t *data, size_t len, size_t need, uint64_t keys[2],
                      struct nvmf_resv_notices *out, bool *changed)
{
    memset(out, 0, sizeof(*out));
    *changed = false;
    if (!data || len < need)
        return NVMF_SC_DATA_SGL_LENGTH_INVALID;
    keys[0] = get_le64(data);
    keys[1] = need >= 16 ? get_le64(data + 8) : 0;
    return NVMF_SC_SUCCESS;
}

/* Acquire and Release: the payload (need bytes) read; a reserved action, RTYPE (when
 * check_rtype) or IEKEY is Invalid Field in Command (IEKEY in these two commands: "If
 * this bit is set to '1', then the controller shall return an error of Invalid Field in
 * Command"); then the host must be a registrant and CRKEY its key (§8.19.5, §8.19.8),
 * else Reservation Conflict. *idx is its registrant index. */
static uint16_t start_keyed(const struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                            const uint8_t *data, size_t len, size_t need, uint8_t max_action,
                            bool check_rtype, uint64_t keys[2], int *idx,
                            struct nvmf_resv_notices *out, bool *changed)
{
    uint8_t rtype = CDW10_RTYPE(cdw10);
    uint16_t sc = start(data, len, need, keys, out, changed);
    if (sc)
        return sc;
    if (CDW10_ACTION(cdw10) > max_action || CDW10_IEKEY(cdw10) ||
        (check_rtype &&
         (rtype < NVMF_RESV_WRITE_EXCLUSIVE || rtype > NVMF_RESV_EXCLUSIVE_ACCESS_ALL_REGS)))
        return NVMF_SC_INVALID_FIELD;
    *idx = find_reg(r, hostid);
    if (*idx < 0 || r->regs[*idx].rkey != keys[0])
        return NVMF_SC_RESERVATION_CONFLICT;
    return NVMF_SC_SUCCESS;
}

/* ---- Reservation Register ---- */

uint16_t nvmf_resv_register(struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                            const uint8_t *data, size_t len, struct nvmf_resv_notices *out,
                            bool *changed)
{
    uint8_t rrega = CDW10_ACTION(cdw10), cptpl = CDW10_CPTPL(cdw10);
    bool iekey = CDW10_IEKEY(cdw10);
    uint64_t k[2];
    uint16_t sc = start(data, len, 16, k, out, changed);
    if (sc)
        return sc;
    if (rrega > RREGA_REPLACE || cptpl == 1) /* reserved values */
        return NVMF_SC_INVALID_FIELD;
    uint64_t crkey = k[0], nrkey = k[1];
    int idx = find_reg(r, hostid);

    switch (rrega) {
    case RREGA_REGISTER:
        /* §8.19.3: registering the same key again succeeds; another key is a conflict.
         * CRKEY and IEKEY play no part here. */
        if (idx >= 0) {
            if (r->regs[idx].rkey != nrkey)
                return NVMF_SC_RESERVATION_CONFLICT;
        } else if ((sc = add_reg(r, hostid, nrkey)))
            return sc;
        break;
    case RREGA_UNREGISTER: {
        if (idx < 0 || (!iekey && r->regs[idx].rkey != crkey))
            return NVMF_SC_RESERVATION_CONFLICT;
        enum nvmf_resv_type was = r->type;
        /* §8.19.4: a Registrants Only reservation released by its holder unregistering is
         * a Reservation Released notice to the other registrants. */
        if (remove_reg(r, idx) && reg_only_type(was))
            notice_others(r, hostid, out, NOTICE_RESV_RELEASED);
        break;
    }
    case RREGA_REPLACE:
        /* §8.19.3: with IEKEY the key is replaced "without regard to its registration
         * status or current reservation key value", so a host that is not a registrant
         * becomes one; without IEKEY a non-registrant or a wrong CRKEY is a conflict.
         * Replacing a key has no effect on a reservation the host holds. */
        if (idx < 0) {
            if (!iekey)
                return NVMF_SC_RESERVATION_CONFLICT;
            if ((sc = add_reg(r, hostid, nrkey)))
                return sc;
        } else if (!iekey && r->regs[idx].rkey != crkey)
            return NVMF_SC_RESERVATION_CONFLICT;
        else
            r->regs[idx].rkey = nrkey;
        break;
    }
    if (cptpl == CPTPL_CLEAR)
        r->ptpl = false;
    else if (cptpl == CPTPL_SET)
        r->ptpl = true;
    /* Reservation Status GEN: incremented whenever a Reservation Register command
     * completes successfully. */
    r->generation++;
    *changed = true;
    return NVMF_SC_SUCCESS;
}

/* ---- Reservation Acquire ---- */

/* Unregisters the registrants whose key is `key` (all of them, or all but `self` when
 * spare_self), noting "registration preempted" (and, for Preempt and Abort, an abort)
 * for each host other than `self`. Returns how many were removed. */
static size_t preempt_by_key(struct nvmf_resv *r, const uint8_t self[16], bool any_key,
                             uint64_t key, bool spare_self, bool abort,
                             struct nvmf_resv_notices *out)
{
    size_t removed = 0;
    for (int i = 0; i < (int)r->n_regs;) {
        struct nvmf_resv_registrant *g = &r->regs[i];
        bool mine = !memcmp(g->hostid, self, 16);
        if ((!any_key && g->rkey != key) || (mine && spare_self)) {
            i++;
            continue;
        }
        if (!mine) {
            notice(out, g->hostid, NOTICE_REG_PREEMPTED);
            if (abort && out->n_abort < NVMF_RESV_MAX_NOTICES)
                memcpy(out->abort_hostid[out->n_abort++], g->hostid, 16);
        }
        remove_reg(r, i);
        removed++;
    }
    return removed;
}

/* §8.19.7 "Preempting a Reservation or Registration". */
static uint16_t preempt(struct nvmf_resv *r, const uint8_t hostid[16], uint64_t prkey,
                        enum nvmf_resv_type rtype, bool abort, struct nvmf_resv_notices *out)
{
    enum nvmf_resv_type was = r->type;
    bool replace; /* the reservation is released and a new one created for the issuer */
    if (was == NVMF_RESV_NONE)
        replace = false;
    else if (all_regs_type(was))
        replace = prkey == 0;
    else if (prkey == r->regs[r->holder].rkey)
        replace = true;
    else if (prkey == 0)
        return NVMF_SC_INVALID_FIELD;
    else
        replace = false;

    if (!replace) {
        /* Only the registrations whose key is PRKEY go; the reservation, if any, stays
         * (an All Registrants one goes with its last registrant). None is a conflict. */
        if (!preempt_by_key(r, hostid, false, prkey, false, abort, out))
            return NVMF_SC_RESERVATION_CONFLICT;
        return NVMF_SC_SUCCESS;
    }
    /* All Registrants with PRKEY 0: every other registrant goes; otherwise those whose
     * key is the holder's, other than the issuer. Then the issuer holds a new RTYPE
     * reservation. */
    preempt_by_key(r, hostid, all_regs_type(was), prkey, true, abort, out);
    set_reservation(r, rtype, find_reg(r, hostid));
    /* A changed type changes what the remaining registrants may do: they are told the
     * old reservation was released. */
    if (rtype != was)
        notice_others(r, hostid, out, NOTICE_RESV_RELEASED);
    return NVMF_SC_SUCCESS;
}

uint16_t nvmf_resv_acquire(struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                           const uint8_t *data, size_t len, struct nvmf_resv_notices *out,
                           bool *changed)
{
    uint8_t racqa = CDW10_ACTION(cdw10), rtype = CDW10_RTYPE(cdw10);
    uint64_t k[2];
    int idx;
    uint16_t sc = start_keyed(r, hostid, cdw10, data, len, 16, RACQA_PREEMPT_ABORT, true, k, &idx,
                              out, changed);
    if (sc)
        return sc;

    if (racqa == RACQA_ACQUIRE) {
        /* §8.19.5: a holder acquiring again with the same type succeeds and changes
         * nothing; any other acquire while a reservation is held is a conflict. */
        if (r->type == NVMF_RESV_NONE) {
            set_reservation(r, (enum nvmf_resv_type)rtype, idx);
            *changed = true;
            return NVMF_SC_SUCCESS;
        }
        if (is_holder(r, idx) && r->type == rtype)
            return NVMF_SC_SUCCESS;
        return NVMF_SC_RESERVATION_CONFLICT;
    }
    if ((sc = preempt(r, hostid, k[1], (enum nvmf_resv_type)rtype, racqa == RACQA_PREEMPT_ABORT,
                      out))) {
        memset(out, 0, sizeof(*out));
        return sc;
    }
    r->generation++; /* GEN: every successful Preempt / Preempt and Abort */
    *changed = true;
    return NVMF_SC_SUCCESS;
}

/* ---- Reservation Release ---- */

uint16_t nvmf_resv_release(struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                           const uint8_t *data, size_t len, struct nvmf_resv_notices *out,
                           bool *changed)
{
    uint8_t rrela = CDW10_ACTION(cdw10), rtype = CDW10_RTYPE(cdw10);
    uint64_t k[2];
    int idx;
    uint16_t sc = start_keyed(r, hostid, cdw10, data, len, 8, RRELA_CLEAR, false, k, &idx, out,
                              changed);
    if (sc)
        return sc;

    if (rrela == RRELA_CLEAR) {
        /* §8.19.9: the reservation released, every registrant unregistered, the others
         * told "reservation preempted"; GEN counts a successful Clear. */
        notice_others(r, hostid, out, NOTICE_RESV_PREEMPTED);
        r->n_regs = 0;
        memset(r->regs, 0, sizeof(r->regs));
        set_reservation(r, NVMF_RESV_NONE, -1);
        r->generation++;
        *changed = true;
        return NVMF_SC_SUCCESS;
    }
    /* §8.19.8: releasing when no reservation is held, or by a registrant that is not a
     * holder, succeeds with no effect; a holder naming another type gets Invalid Field. */
    if (!is_holder(r, idx))
        return NVMF_SC_SUCCESS;
    if (rtype != r->type)
        return NVMF_SC_INVALID_FIELD;
    enum nvmf_resv_type was = r->type;
    set_reservation(r, NVMF_RESV_NONE, -1);
    *changed = true;
    if (was != NVMF_RESV_WRITE_EXCLUSIVE && was != NVMF_RESV_EXCLUSIVE_ACCESS)
        notice_others(r, hostid, out, NOTICE_RESV_RELEASED);
    return NVMF_SC_SUCCESS;
}

/* ---- Reservation Report ---- */

static void copy_clipped(uint8_t *buf, size_t buf_len, size_t off, const uint8_t *src, size_t n)
{
    if (off < buf_len)
        memcpy(buf + off, src, n < buf_len - off ? n : buf_len - off);
}

uint16_t nvmf_resv_report(const struct nvmf_resv *r, uint32_t cdw11, uint8_t *buf, size_t buf_len,
                          uint16_t (*cntlid_of)(const uint8_t hostid[16], void *ctx), void *ctx)
{
    /* Every host here has a 128-bit identifier, which only the extended structure can
     * carry. */
    if (!(cdw11 & 1))
        return NVMF_SC_HOSTID_INCONSISTENT;
    if (!buf)
        buf_len = 0;
    if (buf_len)
        memset(buf, 0, buf_len);

    uint8_t hdr[REPORT_EXT_HDR] = {0};
    put_le(hdr + 0, r->generation, 4);  /* GEN */
    hdr[4] = (uint8_t)r->type;          /* RTYPE */
    put_le(hdr + 5, r->n_regs, 2);      /* REGCTL: all of them, however many fit */
    hdr[9] = r->ptpl;                   /* PTPLS */
    copy_clipped(buf, buf_len, 0, hdr, sizeof(hdr));

    for (size_t i = 0; i < r->n_regs; i++) {
        size_t off = REPORT_EXT_HDR + i * REPORT_EXT_ENTRY;
        if (off >= buf_len)
            break;
        uint8_t e[REPORT_EXT_ENTRY] = {0};
        put_le(e + 0, cntlid_of ? cntlid_of(r->regs[i].hostid, ctx) : 0xFFFF, 2); /* CNTLID */
        e[2] = is_holder(r, (int)i);                                             /* RCSTS */
        put_le(e + 8, r->regs[i].rkey, 8);                                        /* RKEY */
        memcpy(e + 16, r->regs[i].hostid, 16);                                     /* HOSTID */
        copy_clipped(buf, buf_len, off, e, sizeof(e));
    }
    return NVMF_SC_SUCCESS;
}

/* ---- access (NVM Command Set, "Command Behavior in the Presence of a Reservation") ---- */

bool nvmf_resv_access(const struct nvmf_resv *r, const uint8_t hostid[16], bool write)
{
    if (r->type == NVMF_RESV_NONE)
        return true;
    int idx = find_reg(r, hostid);
    if (is_holder(r, idx))
        return true;
    bool registrant = idx >= 0;
    switch (r->type) {
    case NVMF_RESV_WRITE_EXCLUSIVE: /* anyone reads, only the holder writes */
        return !write;
    case NVMF_RESV_EXCLUSIVE_ACCESS: /* only the holder */
        return false;
    case NVMF_RESV_WRITE_EXCLUSIVE_REG_ONLY:
    case NVMF_RESV_WRITE_EXCLUSIVE_ALL_REGS: /* anyone reads, registrants write */
        return !write || registrant;
    case NVMF_RESV_EXCLUSIVE_ACCESS_REG_ONLY:
    case NVMF_RESV_EXCLUSIVE_ACCESS_ALL_REGS: /* registrants only */
        return registrant;
    default:
        return false;
    }
}

/* ---- JSON ---- */

static void hostid_fmt(const uint8_t id[16], char out[37])
{
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        p += sprintf(p, "%02x", id[i]);
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly the 8-4-4-4-12 form hostid_fmt writes. */
static int hostid_parse(const char *s, uint8_t id[16])
{
    if (!s || strlen(s) != 36)
        return -EINVAL;
    int n = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        id[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}

/* SPDK writes the 64-bit keys as bare JSON integers, which may exceed json_int_t; before
 * parsing, the values of "rkey" and "crkey" are put in quotes (a copy of the text is
 * rewritten token by token, strings left alone) and read as decimal text. */
static char *quote_key_numbers(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(2 * n + 1), *o = out;
    if (!out)
        return NULL;
    bool in_str = false, esc = false, key = false, colon = false;
    const char *str_start = NULL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (in_str) {
            *o++ = c;
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"') {
                in_str = false;
                size_t len = (size_t)(in + i - str_start);
                key = (len == 4 && !memcmp(str_start, "rkey", 4)) ||
                      (len == 5 && !memcmp(str_start, "crkey", 5));
                colon = false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            *o++ = c;
            continue;
        }
        if (key && !colon && c == ':') {
            colon = true;
            *o++ = c;
            continue;
        }
        if (key && colon && (c == '-' || (c >= '0' && c <= '9'))) {
            *o++ = '"';
            while (i < n && strchr("+-.0123456789eE", in[i]))
                *o++ = in[i++];
            *o++ = '"';
            i--;
            key = false;
            continue;
        }
        key = false;
        if (c == '"') {
            in_str = true;
            str_start = in + i + 1;
        }
        *o++ = c;
    }
    *o = 0;
    return out;
}

/* A decimal unsigned 64-bit key (the text quote_key_numbers made of the number). */
static int key_parse(json_t *v, uint64_t *key)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 20)
        return -EINVAL;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -EINVAL;
        x = x * 10 + d;
    }
    *key = x;
    return 0;
}

/* The key of the reservation as SPDK records it ("crkey"): the holder's; for the
 * all-registrants types the first registrant's, which SPDK's loader checks is one of
 * the registrants' keys. */
static uint64_t current_key(const struct nvmf_resv *r)
{
    if (r->type == NVMF_RESV_NONE || !r->n_regs)
        return 0;
    if (r->holder >= 0 && (size_t)r->holder < r->n_regs)
        return r->regs[r->holder].rkey;
    return r->regs[0].rkey;
}

char *nvmf_resv_to_ptpl(const struct nvmf_resv *r, const char *bdev_uuid)
{
    if (!r->ptpl)
        return strdup(""); /* persistence off: the file is emptied, as SPDK does */
    size_t cap = 256 + strlen(bdev_uuid) + r->n_regs * 80;
    char *out = malloc(cap), id[37] = "";
    if (!out)
        return NULL;
    if (r->type != NVMF_RESV_NONE && !all_regs_type(r->type) && r->holder >= 0 &&
        (size_t)r->holder < r->n_regs)
        hostid_fmt(r->regs[r->holder].hostid, id);
    size_t n = (size_t)snprintf(out, cap,
                                "{\"ptpl\":true,\"rtype\":%d,\"crkey\":%llu,\"bdev_uuid\":\"%s\","
                                "\"holder_uuid\":\"%s\",\"registrants\":[",
                                (int)r->type, (unsigned long long)current_key(r), bdev_uuid, id);
    for (size_t i = 0; i < r->n_regs; i++) {
        hostid_fmt(r->regs[i].hostid, id);
        n += (size_t)snprintf(out + n, cap - n, "%s{\"rkey\":%llu,\"host_uuid\":\"%s\"}",
                              i ? "," : "", (unsigned long long)r->regs[i].rkey, id);
    }
    snprintf(out + n, cap - n, "]}");
    return out;
}

#define BAD(...)                                  \
    do {                                          \
        snprintf(err, errlen, __VA_ARGS__);       \
        return -EINVAL;                           \
    } while (0)

static int regs_from_ptpl(json_t *arr, struct nvmf_resv *t, char *err, size_t errlen)
{
    if (!json_is_array(arr))
        BAD("\"registrants\" is not an array");
    if (json_array_size(arr) > NVMF_RESV_MAX_REGISTRANTS)
        BAD("more than %d registrants", NVMF_RESV_MAX_REGISTRANTS);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        struct nvmf_resv_registrant g;
        if (!json_is_object(e) ||
            hostid_parse(json_string_value(json_object_get(e, "host_uuid")), g.hostid) ||
            key_parse(json_object_get(e, "rkey"), &g.rkey))
            BAD("registrant %zu is not {\"rkey\": key, \"host_uuid\": uuid}", i);
        if (find_reg(t, g.hostid) >= 0)
            BAD("host %s is registered twice", json_string_value(json_object_get(e, "host_uuid")));
        t->regs[t->n_regs++] = g;
    }
    return 0;
}

static int from_ptpl(json_t *o, const char *bdev_uuid, struct nvmf_resv *t, char *err,
                     size_t errlen)
{
    json_t *ptpl = json_object_get(o, "ptpl"), *rtype = json_object_get(o, "rtype");
    json_t *uuid = json_object_get(o, "bdev_uuid"), *holder = json_object_get(o, "holder_uuid");
    uint64_t crkey = 0;
    if (!json_is_boolean(ptpl))
        BAD("\"ptpl\" is missing or not a boolean");
    if (!json_is_string(uuid) || strcasecmp(json_string_value(uuid), bdev_uuid))
        BAD("it belongs to device %s, not %s",
            json_is_string(uuid) ? json_string_value(uuid) : "(none)", bdev_uuid);
    if (!json_is_true(ptpl))
        return 0; /* persistence was switched off: nothing to restore */
    if (!json_is_integer(rtype) || json_integer_value(rtype) < NVMF_RESV_NONE ||
        json_integer_value(rtype) > NVMF_RESV_EXCLUSIVE_ACCESS_ALL_REGS)
        BAD("\"rtype\" is missing or not a reservation type");
    if (json_object_get(o, "crkey") && key_parse(json_object_get(o, "crkey"), &crkey))
        BAD("\"crkey\" is not an unsigned 64-bit key");
    if (holder && !json_is_string(holder))
        BAD("\"holder_uuid\" is not a string");
    int rc = regs_from_ptpl(json_object_get(o, "registrants"), t, err, errlen);
    if (rc)
        return rc;
    t->ptpl = true;
    enum nvmf_resv_type rt = (enum nvmf_resv_type)json_integer_value(rtype);
    if (rt == NVMF_RESV_NONE)
        return 0;
    if (!t->n_regs)
        BAD("a reservation of type %d without registrants", (int)rt);
    bool key_known = false;
    for (size_t i = 0; i < t->n_regs; i++)
        key_known |= t->regs[i].rkey == crkey;
    if (!key_known)
        BAD("the reservation key is no registrant's key");
    int h = -1;
    if (!all_regs_type(rt)) {
        uint8_t id[16];
        if (hostid_parse(json_string_value(holder), id) || (h = find_reg(t, id)) < 0)
            BAD("the reservation holder is not a registrant");
    }
    set_reservation(t, rt, h);
    return 0;
}

int nvmf_resv_from_ptpl(struct nvmf_resv *r, const char *text, const char *bdev_uuid, char *err,
                        size_t errlen)
{
    struct nvmf_resv t;
    nvmf_resv_init(&t);
    const char *p = text ? text : "";
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (!*p) { /* no file, or emptied: persistence off */
        *r = t;
        return 0;
    }
    char *q = quote_key_numbers(p);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    json_error_t je;
    json_t *o = json_loads(q, JSON_REJECT_DUPLICATES, &je);
    free(q);
    int rc;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object (%s)", o ? "another value" : je.text);
        rc = -EINVAL;
    } else {
        rc = from_ptpl(o, bdev_uuid, &t, err, errlen);
    }
    if (!rc)
        *r = t;
    json_decref(o);
    return rc;
}

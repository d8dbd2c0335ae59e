/* Admin commands (primary reactor): Identify, Get Log Page, Get/Set Features,
 * Asynchronous Event Request, Keep Alive, Abort; for NVM and discovery controllers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"
#include "version.h"

void nvmf_ctrlr_aer(struct nvmf_ctrlr *c, struct nvmf_req *r);
void nvmf_ctrlr_set_kato(struct nvmf_ctrlr *c, uint32_t kato_ms);

#define PAGE 4096
#define AEN_SUPPORTED (NVME_AEN_CFG_NS_ATTR | NVME_AEN_CFG_ANA_CHANGE)

static void bad_field(struct nvmf_req *r)
{
    r->status = NVME_SC_INVALID_FIELD;
    r->dnr = true;
}

/* Copies a built structure into the command's buffer (what the host asked for). */
static void give(struct nvmf_req *r, const void *data, size_t len)
{
    if (!r->buf || !r->c2h) {
        r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
        r->dnr = true;
        return;
    }
    size_t n = len < r->xfer_len ? len : r->xfer_len;
    memcpy(r->buf, data, n);
    r->c2h_len = r->xfer_len;
}

/* Persist Through Power Loss is offered where the namespace has a PTPL file. */
static bool ptpl_capable(const struct nvmf_subsys *ss) { return ss->ptpl_path != NULL; }

/* ---- Identify ---- */

static void id_ctrl(struct nvmf_req *r, const struct nvmf_ctrlr *c)
{
    const struct nvmf_subsys *ss = c->ss;
    uint8_t d[PAGE] = {0};
    ascii_put(d + 4, 20, ss->serial);
    ascii_put(d + 24, 40, ss->model);
    ascii_put(d + 64, 8, IO_ENGINE_VERSION);
    d[72] = 6; /* recommended arbitration burst */
    d[77] = NVMF_MDTS;
    le16_put(d + 78, c->cntlid);
    le32_put(d + 80, 0x00010300u);
    le32_put(d + 96, 1u); /* CTRATT: 128-bit host identifier */
    for (int i = 0; i < 3; i++) /* CRDT1..3 (100 ms units), --tgt-crdt */
        le16_put(d + 128 + 2 * i, g_env.args.tgt_crdt[i]);
    le16_put(d + 320, 10); /* KAS: keep alive granularity 100 ms x 10 */
    d[258] = 3;            /* ACL: 4 outstanding aborts */
    d[259] = NVMF_MAX_AER - 1;
    d[261] = 0x06; /* LPA: commands supported and effects, extended data for Get Log Page */
    le16_put(d + 514, NVMF_MAX_QUEUE_DEPTH);
    le32_put(d + 536, 1u | (1u << 20)); /* SGLs, with offsets for in-capsule data */
    memcpy(d + 768, ss->nqn, strlen(ss->nqn)); /* NUL-padded */
    le32_put(d + 1792, (64 + NVMF_IN_CAPSULE) / 16); /* IOCCSZ */
    le32_put(d + 1796, 1);                          /* IORCSZ */
    d[1803] = 1;                                    /* MSDBD */
    if (ss->discovery) {
        d[111] = 2;                        /* discovery controller */
        le32_put(d + 92, 1u << 31);        /* OAES: discovery log page change notices */
    } else {
        d[111] = 1; /* I/O controller */
        d[76] = 0x2 | (g_env.ana_enabled ? 0x8 : 0); /* CMIC: multiple controllers, ANA */
        le32_put(d + 92, (1u << 8) | (g_env.ana_enabled ? (1u << 11) : 0));
        d[260] = 0x3;  /* FRMW: one slot, read-only */
        d[262] = 127;  /* ELPE */
        if (g_env.ana_enabled) {
            d[342] = 10;   /* ANATT s */
            d[343] = 0x1F | 0x40; /* ANACAP: every state; group id fixed */
            le32_put(d + 344, 1);
            le32_put(d + 348, 1);
        }
        d[512] = 0x66;
        d[513] = 0x44;
        le32_put(d + 516, 1); /* NN */
        le16_put(d + 520, 0x1 | 0x4 | 0x8 | 0x20); /* ONCS: compare, DSM, write zeroes, resv */
        d[525] = 0x7; /* VWC present; flush with nsid FFFFFFFFh */
        d[530] = 1;
    }
    give(r, d, sizeof(d));
}

static unsigned log2u(uint32_t v)
{
    unsigned n = 0;
    while (v > 1) {
        v >>= 1;
        n++;
    }
    return n;
}

static void id_ns(struct nvmf_req *r, const struct nvmf_subsys *ss, uint32_t nsid)
{
    if (nsid != 1) {
        r->status = NVME_SC_INVALID_NS;
        r->dnr = true;
        return;
    }
    uint8_t d[PAGE] = {0};
    uint64_t n = atomic_load(&ss->bdev->num_blocks);
    le64_put(d + 0, n);
    le64_put(d + 8, n);
    le64_put(d + 16, n);
    d[30] = 1; /* NMIC: may be attached to several controllers */
    d[31] = (uint8_t)(0x7E | 0x80 | (ptpl_capable(ss) ? 1 : 0)); /* RESCAP */
    memcpy(d + 104, ss->nguid, 16);
    if (g_env.ana_enabled)
        le32_put(d + 92, 1);
    d[128 + 2] = (uint8_t)log2u(ss->bdev->blk_size); /* LBAF0: LBADS */
    give(r, d, sizeof(d));
}

static void id_ns_list(struct nvmf_req *r, uint32_t nsid)
{
    if (nsid >= 0xFFFFFFFEu) {
        bad_field(r);
        return;
    }
    uint8_t d[PAGE] = {0};
    if (nsid < 1)
        le32_put(d, 1);
    give(r, d, sizeof(d));
}

static void id_ns_desc(struct nvmf_req *r, const struct nvmf_subsys *ss, uint32_t nsid)
{
    if (nsid != 1) {
        r->status = NVME_SC_INVALID_NS;
        r->dnr = true;
        return;
    }
    uint8_t d[PAGE] = {0};
    d[0] = 0x02; /* NGUID */
    d[1] = 16;
    memcpy(d + 4, ss->nguid, 16);
    d[20] = 0x03; /* UUID */
    d[21] = 16;
    memcpy(d + 24, ss->nguid, 16);
    d[40] = 0x04; /* CSI: NVM */
    d[41] = 1;
    give(r, d, sizeof(d));
}

static void identify(struct nvmf_req *r, struct nvmf_ctrlr *c)
{
    uint8_t cns = (uint8_t)SQE_CDW(r->sqe, 10);
    uint32_t nsid = SQE_NSID(r->sqe);
    if (c->ss->discovery && cns != NVME_ID_CNS_CTRL) {
        bad_field(r);
        return;
    }
    switch (cns) {
    case NVME_ID_CNS_CTRL:
        id_ctrl(r, c);
        break;
    case NVME_ID_CNS_NS:
        id_ns(r, c->ss, nsid);
        break;
    case NVME_ID_CNS_NS_ACTIVE_LIST:
        id_ns_list(r, nsid);
        break;
    case NVME_ID_CNS_NS_DESC_LIST:
        id_ns_desc(r, c->ss, nsid);
        break;
    default:
        bad_field(r);
    }
}

/* ---- Get Log Page ---- */

static size_t log_smart(const struct nvmf_subsys *ss, uint8_t *d)
{
    struct bdev_io_stats st;
    bdev_get_stats(ss->bdev, &st);
    le16_put(d + 1, 273 + 25); /* composite temperature: 25 C in kelvin */
    d[3] = 100;                /* available spare */
    d[4] = 10;                 /* its threshold */
    /* data units are thousands of 512-byte units, rounded up */
    uint64_t ur = (st.bytes_read / 512 + 999) / 1000, uw = (st.bytes_written / 512 + 999) / 1000;
    le64_put(d + 32, ur);
    le64_put(d + 48, uw);
    le64_put(d + 64, st.num_read_ops);
    le64_put(d + 80, st.num_write_ops);
    return 512;
}

static size_t log_fw(uint8_t *d)
{
    d[0] = 1; /* active slot 1 */
    ascii_put(d + 8, 8, IO_ENGINE_VERSION);
    return 512;
}

static size_t log_effects(uint8_t *d)
{
    static const uint8_t adm[] = {NVME_ADM_GET_LOG_PAGE, NVME_ADM_IDENTIFY, NVME_ADM_ABORT,
                                  NVME_ADM_SET_FEATURES, NVME_ADM_GET_FEATURES,
                                  NVME_ADM_ASYNC_EVENT, NVME_ADM_KEEP_ALIVE};
    for (size_t i = 0; i < sizeof(adm); i++)
        le32_put(d + 4 * adm[i], 1);
    static const uint8_t rd[] = {NVME_IO_READ, NVME_IO_COMPARE, NVME_IO_RESV_REPORT,
                                 NVME_IO_FLUSH, NVME_IO_RESV_REGISTER, NVME_IO_RESV_ACQUIRE,
                                 NVME_IO_RESV_RELEASE};
    for (size_t i = 0; i < sizeof(rd); i++)
        le32_put(d + 1024 + 4 * rd[i], 1);
    static const uint8_t wr[] = {NVME_IO_WRITE, NVME_IO_WRITE_ZEROES, NVME_IO_DSM};
    for (size_t i = 0; i < sizeof(wr); i++)
        le32_put(d + 1024 + 4 * wr[i], 1 | 2); /* supported, changes logical block content */
    return PAGE;
}

static size_t log_ana(const struct nvmf_subsys *ss, uint8_t *d, bool groups_only)
{
    le64_put(d, ss->ana_chgcnt);
    le16_put(d + 8, 1);
    uint8_t *g = d + 16;
    le32_put(g, 1);
    le32_put(g + 4, groups_only ? 0 : 1);
    le64_put(g + 8, ss->ana_chgcnt);
    g[16] = ss->ana_state;
    if (groups_only)
        return 16 + 32;
    le32_put(g + 32, 1);
    return 16 + 32 + 4;
}

static size_t log_resv(struct nvmf_ctrlr *c, uint8_t *d, bool retain)
{
    if (!c->n_resv_notices)
        return 64; /* empty: zeroes */
    le64_put(d, c->resv_log_count);
    d[8] = c->resv_notices[0].type;
    d[9] = (uint8_t)(c->n_resv_notices - 1 > 255 ? 255 : c->n_resv_notices - 1);
    le32_put(d + 12, 1);
    if (!retain) {
        memmove(c->resv_notices, c->resv_notices + 1,
                sizeof(c->resv_notices[0]) * (size_t)(c->n_resv_notices - 1));
        c->n_resv_notices--;
    }
    return 64;
}

static void get_log_page(struct nvmf_req *r, struct nvmf_ctrlr *c)
{
    uint32_t c10 = SQE_CDW(r->sqe, 10), c11 = SQE_CDW(r->sqe, 11);
    uint8_t lid = (uint8_t)c10, lsp = (uint8_t)((c10 >> 8) & 0x7F);
    bool rae = c10 & 0x8000u;
    uint64_t numd = ((uint64_t)(c11 & 0xFFFF) << 16 | (c10 >> 16)) + 1;
    uint64_t off = (uint64_t)SQE_CDW(r->sqe, 12) | ((uint64_t)SQE_CDW(r->sqe, 13) << 32);
    if (off & 3 || numd * 4 > r->xfer_len) {
        bad_field(r);
        return;
    }
    uint8_t *page = NULL;
    size_t len = 0;
    if (lid == NVME_LOG_DISCOVERY && c->ss->discovery) {
        len = nvmf_discovery_log(c->hostnqn, &page);
    } else if (!c->ss->discovery || lid == NVME_LOG_ERROR) {
        page = calloc(1, PAGE);
        if (!page) {
            r->status = NVME_SC_INTERNAL;
            return;
        }
        switch (lid) {
        case NVME_LOG_ERROR:
            len = 64; /* no error entries: one zeroed entry */
            break;
        case NVME_LOG_SMART:
            len = log_smart(c->ss, page);
            break;
        case NVME_LOG_FW_SLOT:
            len = log_fw(page);
            break;
        case NVME_LOG_CHANGED_NS:
            if (c->ns_changed)
                le32_put(page, 1);
            if (!rae)
                c->ns_changed = false;
            len = PAGE;
            break;
        case NVME_LOG_CMD_EFFECTS:
            len = log_effects(page);
            break;
        case NVME_LOG_ANA:
            if (!g_env.ana_enabled)
                goto invalid;
            len = log_ana(c->ss, page, lsp & 1);
            break;
        case NVME_LOG_RESV_NOTIFICATION:
            len = log_resv(c, page, rae);
            break;
        default:
            goto invalid;
        }
    } else {
        goto invalid;
    }
    if (!page) {
        r->status = NVME_SC_INTERNAL;
        return;
    }
    if (off > len) {
        free(page);
        bad_field(r);
        return;
    }
    give(r, page + off, len - off);
    free(page);
    return;
invalid:
    free(page);
    r->status = NVME_SC_INVALID_LOG_PAGE;
    r->dnr = true;
}

/* ---- features ---- */

static uint32_t *simple_feature(struct nvmf_ctrlr *c, uint8_t fid)
{
    switch (fid) {
    case NVME_FEAT_ARBITRATION:
        return &c->feat_arbitration;
    case NVME_FEAT_POWER_MGMT:
        return &c->feat_power;
    case NVME_FEAT_TEMP_THRESH:
        return &c->feat_temp;
    case NVME_FEAT_ERR_RECOVERY:
        return &c->feat_err_recovery;
    case NVME_FEAT_VOLATILE_WC:
        return &c->feat_vwc;
    case NVME_FEAT_IRQ_COALESCE:
        return &c->feat_irq_coalesce;
    case NVME_FEAT_WRITE_ATOMIC:
        return &c->feat_write_atomic;
    default:
        return NULL;
    }
}

/* true: r completes later (it went on elsewhere) */
static bool features(struct nvmf_req *r, struct nvmf_ctrlr *c, bool set)
{
    uint32_t c10 = SQE_CDW(r->sqe, 10), c11 = SQE_CDW(r->sqe, 11);
    uint8_t fid = (uint8_t)c10;
    uint8_t sel = (uint8_t)((c10 >> 8) & 7);
    if (set && (c10 & 0x80000000u)) {
        r->status = NVME_SC_FEATURE_NOT_SAVEABLE;
        r->dnr = true;
        return false;
    }
    if (!set && sel == 3) { /* supported capabilities: every feature here is changeable */
        r->dw0 = fid == NVME_FEAT_RESV_MASK || fid == NVME_FEAT_RESV_PERSIST ? 0x6 : 0x4;
        return false;
    }
    bool disc = c->ss->discovery;
    if (disc && fid != NVME_FEAT_KATO && fid != NVME_FEAT_ASYNC_EVENT) {
        bad_field(r);
        return false;
    }
    uint32_t *v = simple_feature(c, fid);
    if (v) {
        if (set)
            *v = c11;
        else
            r->dw0 = *v;
        return false;
    }
    switch (fid) {
    case NVME_FEAT_NUM_QUEUES:
        if (set) {
            uint32_t nsq = c11 & 0xFFFF, ncq = c11 >> 16;
            if (nsq == 0xFFFF || ncq == 0xFFFF) {
                bad_field(r);
                return false;
            }
            if (c->io_qpairs) { /* only before I/O queues exist */
                r->status = NVME_SC_CMD_SEQ_ERROR;
                return false;
            }
            uint32_t want = (nsq > ncq ? nsq : ncq) + 1;
            c->n_io_queues = (uint16_t)(want < NVMF_MAX_IO_QUEUES ? want : NVMF_MAX_IO_QUEUES);
        }
        {
            uint32_t n = (c->n_io_queues ? c->n_io_queues : NVMF_MAX_IO_QUEUES) - 1;
            r->dw0 = n | (n << 16);
        }
        return false;
    case NVME_FEAT_ASYNC_EVENT:
        if (set)
            c->aen_cfg = c11 & (disc ? NVME_AEN_CFG_DISC_CHANGE : AEN_SUPPORTED);
        else
            r->dw0 = c->aen_cfg;
        return false;
    case NVME_FEAT_KATO:
        if (set)
            nvmf_ctrlr_set_kato(c, c11);
        else
            r->dw0 = c->kato_ms;
        return false;
    case NVME_FEAT_HOST_ID:
        if (set) { /* over fabrics the host identifier is the one given at Connect */
            r->status = NVME_SC_CMD_SEQ_ERROR;
            r->dnr = true;
            return false;
        }
        if (!(c11 & 1)) {
            r->status = NVME_SC_HOSTID_INCONSISTENT;
            r->dnr = true;
            return false;
        }
        give(r, c->hostid, 16);
        return false;
    case NVME_FEAT_HOST_BEHAVIOR: { /* 512 bytes; of its fields only ACRE is used here */
        if (!set) {
            uint8_t d[512] = {c->acre ? 1 : 0};
            give(r, d, sizeof(d));
            return false;
        }
        if (!r->h2c || !r->buf || r->xfer_len < 512) {
            r->status = NVME_SC_DATA_SGL_LENGTH_INVALID;
            r->dnr = true;
            return false;
        }
        c->acre = r->buf[0] & 1;
        nvmf_ctrlr_push_access(c);
        return false;
    }
    case NVME_FEAT_RESV_MASK:
        if (SQE_NSID(r->sqe) != 1 && SQE_NSID(r->sqe) != 0xFFFFFFFFu) {
            r->status = NVME_SC_INVALID_NS;
            r->dnr = true;
            return false;
        }
        if (set)
            c->resv_mask = c11 & 0xEu;
        else
            r->dw0 = c->resv_mask;
        return false;
    case NVME_FEAT_RESV_PERSIST:
        if (SQE_NSID(r->sqe) != 1) {
            r->status = NVME_SC_INVALID_NS;
            r->dnr = true;
            return false;
        }
        if (set) {
            nvmf_resv_exec(r); /* with the reservation commands: may write the PTPL file */
            return true;
        }
        r->dw0 = c->ss->resv.ptpl ? 1 : 0;
        return false;
    default:
        bad_field(r);
    }
    return false;
}

void nvmf_admin_exec(struct nvmf_req *r)
{
    struct nvmf_ctrlr *c = r->qp->ctrlr;
    if (!c || c->dying) {
        r->status = NVME_SC_ABORT_SQ_DELETION;
        nvmf_req_complete_from_primary(r);
        return;
    }
    c->last_ka_ns = reactor_now_ns();
    uint8_t opc = SQE_OPC(r->sqe);
    if (!(c->csts & NVME_CSTS_RDY)) {
        r->status = NVME_SC_CMD_SEQ_ERROR;
        nvmf_req_complete_from_primary(r);
        return;
    }
    switch (opc) {
    case NVME_ADM_IDENTIFY:
        identify(r, c);
        break;
    case NVME_ADM_GET_LOG_PAGE:
        get_log_page(r, c);
        break;
    case NVME_ADM_GET_FEATURES:
        features(r, c, false);
        break;
    case NVME_ADM_SET_FEATURES:
        if (features(r, c, true))
            return;
        break;
    case NVME_ADM_ASYNC_EVENT:
        nvmf_ctrlr_aer(c, r);
        return;
    case NVME_ADM_KEEP_ALIVE:
        break;
    case NVME_ADM_CREATE_SNAPSHOT:
        nvmf_admin_create_snapshot(r, c);
        return;
    case NVME_ADM_ABORT:
        r->dw0 = 1; /* commands run to completion here; none is aborted */
        break;
    default:
        r->status = NVME_SC_INVALID_OPCODE;
        r->dnr = true;
    }
    nvmf_req_complete_from_primary(r);
}

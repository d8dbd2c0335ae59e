/* NVMe base / NVMe-oF / NVMe-TCP constants the target uses (public specifications:
 * NVM Express Base 2.0, NVMe over Fabrics 1.1, NVMe/TCP Transport 1.0), and little-endian
 * field access for the wire structures, which are built and parsed byte by byte. */
#pragma once
#include <stdint.h>
#include <string.h>

static inline uint16_t le16_get(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t le32_get(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}
static inline uint64_t le64_get(const void *p)
{
    return (uint64_t)le32_get(p) | ((uint64_t)le32_get((const uint8_t *)p + 4) << 32);
}
static inline void le16_put(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void le32_put(void *p, uint32_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static inline void le64_put(void *p, uint64_t v)
{
    le32_put(p, (uint32_t)v);
    le32_put((uint8_t *)p + 4, (uint32_t)(v >> 32));
}
/* Space-padded ASCII field (serial, model, firmware revision). */
static inline void ascii_put(void *p, size_t len, const char *s)
{
    size_t n = strlen(s);
    memset(p, ' ', len);
    memcpy(p, s, n < len ? n : len);
}

/* ---- submission queue entry (64 bytes) ---- */
#define NVME_SQE_SIZE 64
#define NVME_CQE_SIZE 16
#define SQE_OPC(s) ((s)[0])
#define SQE_CID(s) le16_get((s) + 2)
#define SQE_NSID(s) le32_get((s) + 4)
#define SQE_CDW(s, n) le32_get((s) + 4 * (n)) /* cdw10 = SQE_CDW(s, 10) */
#define SQE_SGL(s) ((s) + 24)                 /* SGL descriptor 1, 16 bytes */
#define SQE_FCTYPE(s) ((s)[4])                /* fabrics commands */

/* SGL descriptor identifiers (type << 4 | subtype) used over NVMe/TCP */
#define SGL_DATA_BLOCK_OFFSET 0x01     /* in-capsule data */
#define SGL_TRANSPORT_DATA_BLOCK 0x5A  /* data moved by R2T/H2CData or C2HData */

/* ---- opcodes ---- */
enum {
    NVME_ADM_GET_LOG_PAGE = 0x02,
    NVME_ADM_IDENTIFY = 0x06,
    NVME_ADM_ABORT = 0x08,
    NVME_ADM_SET_FEATURES = 0x09,
    NVME_ADM_GET_FEATURES = 0x0A,
    NVME_ADM_ASYNC_EVENT = 0x0C,
    NVME_ADM_KEEP_ALIVE = 0x18,
    NVME_ADM_CREATE_SNAPSHOT = 0xC1, /* vendor specific: the io-engine's (behaviour §6) */
    NVME_FABRICS = 0x7F,
};
enum {
    NVME_IO_FLUSH = 0x00,
    NVME_IO_WRITE = 0x01,
    NVME_IO_READ = 0x02,
    NVME_IO_COMPARE = 0x05,
    NVME_IO_WRITE_ZEROES = 0x08,
    NVME_IO_DSM = 0x09,
    NVME_IO_RESV_REGISTER = 0x0D,
    NVME_IO_RESV_REPORT = 0x0E,
    NVME_IO_RESV_ACQUIRE = 0x11,
    NVME_IO_RESV_RELEASE = 0x15,
};
enum {
    NVMF_FCTYPE_PROPERTY_SET = 0x00,
    NVMF_FCTYPE_CONNECT = 0x01,
    NVMF_FCTYPE_PROPERTY_GET = 0x04,
    NVMF_FCTYPE_AUTH_SEND = 0x05,
    NVMF_FCTYPE_AUTH_RECV = 0x06,
    NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* ---- status: (SCT << 8) | SC ---- */
#define NVME_SCT_GENERIC 0
#define NVME_SCT_CMD_SPECIFIC 1
#define NVME_SCT_MEDIA 2
enum {
    NVME_SC_SUCCESS = 0x000,
    NVME_SC_INVALID_OPCODE = 0x001,
    NVME_SC_INVALID_FIELD = 0x002,
    NVME_SC_CID_CONFLICT = 0x003,
    NVME_SC_DATA_TRANSFER_ERROR = 0x004,
    NVME_SC_INTERNAL = 0x006,
    NVME_SC_ABORT_REQUESTED = 0x007,
    NVME_SC_ABORT_SQ_DELETION = 0x008,
    NVME_SC_INVALID_NS = 0x00B,
    NVME_SC_CMD_SEQ_ERROR = 0x00C,
    NVME_SC_SGL_INVALID_LAST = 0x00D,
    NVME_SC_SGL_INVALID_COUNT = 0x00E,
    NVME_SC_DATA_SGL_LENGTH_INVALID = 0x00F,
    NVME_SC_SGL_INVALID_TYPE = 0x011,
    NVME_SC_SGL_INVALID_OFFSET = 0x016,
    NVME_SC_HOSTID_INCONSISTENT = 0x020,
    NVME_SC_TRANSIENT_TRANSPORT = 0x022,
    NVME_SC_KA_TIMEOUT_INVALID = 0x021,
    NVME_SC_LBA_RANGE = 0x080,
    NVME_SC_CAPACITY_EXCEEDED = 0x081,
    NVME_SC_NS_NOT_READY = 0x082,
    NVME_SC_RESERVATION_CONFLICT = 0x083,
    NVME_SC_ABORT_LIMIT = 0x103,
    NVME_SC_ASYNC_LIMIT = 0x105,
    NVME_SC_INVALID_LOG_PAGE = 0x109,
    NVME_SC_FEATURE_NOT_SAVEABLE = 0x10D,
    NVME_SC_FEATURE_NOT_CHANGEABLE = 0x10E,
    NVME_SC_CONNECT_FORMAT = 0x180,
    NVME_SC_CONNECT_CTRL_BUSY = 0x181,
    NVME_SC_CONNECT_INVALID_PARAM = 0x182,
    NVME_SC_CONNECT_RESTART_DISC = 0x183,
    NVME_SC_CONNECT_INVALID_HOST = 0x184,
    NVME_SC_WRITE_FAULT = 0x280,
    NVME_SC_READ_ERROR = 0x281,
    NVME_SC_COMPARE_FAILED = 0x285,
    NVME_SC_ACCESS_DENIED = 0x286,
    NVME_SC_ANA_INACCESSIBLE = 0x302,
    NVME_SC_ANA_TRANSITION = 0x303,
};
#define NVME_STATUS_DNR 0x8000 /* do-not-retry bit of the CQE status field (bit 15) */
#define NVME_STATUS_CRD_SHIFT 12 /* Command Retry Delay index, bits 13:12 */

/* ---- controller properties (register offsets) ---- */
enum {
    NVME_REG_CAP = 0x00,
    NVME_REG_VS = 0x08,
    NVME_REG_CC = 0x14,
    NVME_REG_CSTS = 0x1C,
    NVME_REG_NSSR = 0x20,
};
#define NVME_CC_EN 0x1u
#define NVME_CC_SHN(cc) (((cc) >> 14) & 3u)
#define NVME_CSTS_RDY 0x1u
#define NVME_CSTS_CFS 0x2u
#define NVME_CSTS_SHST_CMPLT (2u << 2)

/* ---- log pages ---- */
enum {
    NVME_LOG_ERROR = 0x01,
    NVME_LOG_SMART = 0x02,
    NVME_LOG_FW_SLOT = 0x03,
    NVME_LOG_CHANGED_NS = 0x04,
    NVME_LOG_CMD_EFFECTS = 0x05,
    NVME_LOG_ANA = 0x0C,
    NVME_LOG_DISCOVERY = 0x70,
    NVME_LOG_RESV_NOTIFICATION = 0x80,
};

/* ---- features ---- */
enum {
    NVME_FEAT_ARBITRATION = 0x01,
    NVME_FEAT_POWER_MGMT = 0x02,
    NVME_FEAT_TEMP_THRESH = 0x04,
    NVME_FEAT_ERR_RECOVERY = 0x05,
    NVME_FEAT_VOLATILE_WC = 0x06,
    NVME_FEAT_NUM_QUEUES = 0x07,
    NVME_FEAT_IRQ_COALESCE = 0x08,
    NVME_FEAT_IRQ_CONFIG = 0x09,
    NVME_FEAT_WRITE_ATOMIC = 0x0A,
    NVME_FEAT_ASYNC_EVENT = 0x0B,
    NVME_FEAT_KATO = 0x0F,
    NVME_FEAT_HOST_BEHAVIOR = 0x16,
    NVME_FEAT_HOST_ID = 0x81,
    NVME_FEAT_RESV_MASK = 0x82,
    NVME_FEAT_RESV_PERSIST = 0x83,
};

/* ---- identify CNS ---- */
enum {
    NVME_ID_CNS_NS = 0x00,
    NVME_ID_CNS_CTRL = 0x01,
    NVME_ID_CNS_NS_ACTIVE_LIST = 0x02,
    NVME_ID_CNS_NS_DESC_LIST = 0x03,
};

/* ---- asynchronous events (completion dword 0: type | info << 8 | log page << 16) ---- */
#define NVME_AER_TYPE_NOTICE 2
#define NVME_AER_TYPE_IO_SPECIFIC 6
#define NVME_AER_NOTICE_NS_CHANGED 0x00
#define NVME_AER_NOTICE_ANA 0x03
#define NVME_AER_NOTICE_DISC_CHANGED 0xF0
#define NVME_AER_IO_RESV_LOG 0x00
/* Async Event Configuration feature bits that enable them */
#define NVME_AEN_CFG_NS_ATTR (1u << 8)
#define NVME_AEN_CFG_ANA_CHANGE (1u << 11)
#define NVME_AEN_CFG_DISC_CHANGE (1u << 31)

/* ANA states */
enum {
    NVME_ANA_OPTIMIZED = 0x01,
    NVME_ANA_NON_OPTIMIZED = 0x02,
    NVME_ANA_INACCESSIBLE = 0x03,
    NVME_ANA_PERSISTENT_LOSS = 0x04,
    NVME_ANA_CHANGE = 0x0F,
};

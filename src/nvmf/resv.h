/* NVMe reservations of one namespace (NVMe Base Specification 2.0, §8.19 "Reservations"),
 * as pure state: the transport decodes a Reservation Register / Acquire / Release /
 * Report command, calls these functions with the host identifier of the issuing
 * controller, and turns the returned status into a completion.
 *
 * Hosts are identified by their 128-bit host identifier (NVMe-oF always uses the
 * extended form, CTRATT bit 0). One registrant per host identifier; several
 * controllers of one host share its registration.
 *
 * Everything here runs on the primary reactor; the I/O path asks
 * nvmf_resv_access() on a copy of the state pushed to each I/O queue's reactor. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVMF_RESV_MAX_REGISTRANTS 64

/* Reservation types (RTYPE). */
enum nvmf_resv_type {
    NVMF_RESV_NONE = 0,
    NVMF_RESV_WRITE_EXCLUSIVE = 1,
    NVMF_RESV_EXCLUSIVE_ACCESS = 2,
    NVMF_RESV_WRITE_EXCLUSIVE_REG_ONLY = 3,
    NVMF_RESV_EXCLUSIVE_ACCESS_REG_ONLY = 4,
    NVMF_RESV_WRITE_EXCLUSIVE_ALL_REGS = 5,
    NVMF_RESV_EXCLUSIVE_ACCESS_ALL_REGS = 6,
};

/* NVMe status as (SCT << 8) | SC, 0 = success. */
#define NVMF_SC_SUCCESS 0x000
#define NVMF_SC_INVALID_FIELD 0x002
#define NVMF_SC_DATA_SGL_LENGTH_INVALID 0x00F
#define NVMF_SC_HOSTID_INCONSISTENT 0x020     /* Host Identifier Inconsistent Format */
#define NVMF_SC_RESERVATION_CONFLICT 0x083
#define NVMF_SC_INSUFFICIENT_CAPACITY 0x081   /* no room for another registrant (the NVM
                                                * command set's "Capacity Exceeded": NVMe
                                                * has no status of its own for this) */

struct nvmf_resv_registrant {
    uint8_t hostid[16];
    uint64_t rkey;
};

struct nvmf_resv {
    /* PRgeneration (Reservation Status GEN), wrapping: +1 on every Reservation Register
     * that completes successfully (register, also of the same key again; unregister;
     * replace), every successful Preempt / Preempt and Abort, and every Clear, as the
     * GEN field's definition says. Acquire and Release do not count. */
    uint32_t generation;
    enum nvmf_resv_type type; /* NONE when no reservation is held */
    /* The holder: for the all-registrants types every registrant is a holder and this is -1. */
    int holder;               /* index into regs, or -1 */
    bool ptpl;                /* persist through power loss state (PTPLS), set with CPTPL */
    size_t n_regs;
    struct nvmf_resv_registrant regs[NVMF_RESV_MAX_REGISTRANTS];
};

/* Hosts that must be told of a change, with the reservation notification log page type:
 * 1 registration preempted, 2 reservation released, 3 reservation preempted. */
struct nvmf_resv_notice {
    uint8_t hostid[16];
    uint8_t type;
};
#define NVMF_RESV_MAX_NOTICES NVMF_RESV_MAX_REGISTRANTS
struct nvmf_resv_notices {
    size_t n;
    struct nvmf_resv_notice v[NVMF_RESV_MAX_NOTICES];
    /* Preempt and Abort: the hosts whose outstanding commands are to be aborted. */
    size_t n_abort;
    uint8_t abort_hostid[NVMF_RESV_MAX_NOTICES][16];
};

void nvmf_resv_init(struct nvmf_resv *r);

/* Reservation Register (opcode 0x0D). cdw10: RREGA [2:0], IEKEY [3], CPTPL [31:30].
 * data: the 16-byte payload (CRKEY, NRKEY), len its length (< 16 → DATA_SGL_LENGTH_INVALID).
 * Returns an NVMe status; *changed says whether the state changed (persist it).
 * For all three commands `out` and `changed` must be non-NULL; on an error nothing is
 * done: the state is untouched, *out empty and *changed false.
 * Reserved values (RREGA/RACQA/RRELA, CPTPL 01b, RTYPE) and IEKEY in Acquire / Release
 * give INVALID_FIELD; reserved bits are ignored. Replace with IEKEY by a host that is not
 * a registrant registers it (the key is replaced "without regard to its registration
 * status"); NRKEY may be any value, 0 included. */
uint16_t nvmf_resv_register(struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                            const uint8_t *data, size_t len, struct nvmf_resv_notices *out,
                            bool *changed);
/* Reservation Acquire (0x11). cdw10: RACQA [2:0], IEKEY [3], RTYPE [15:8]; data CRKEY, PRKEY.
 * Preempt: hosts whose registration is removed get "registration preempted" (1); when the
 * reservation is taken over with another type, the remaining registrants get "reservation
 * released" (2). Preempt and Abort lists the removed hosts in abort_hostid; the issuer is
 * never listed nor notified, even when PRKEY removes its own registration. */
uint16_t nvmf_resv_acquire(struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                           const uint8_t *data, size_t len, struct nvmf_resv_notices *out,
                           bool *changed);
/* Reservation Release (0x15). cdw10: RRELA [2:0], IEKEY [3], RTYPE [15:8]; data CRKEY. */
uint16_t nvmf_resv_release(struct nvmf_resv *r, const uint8_t hostid[16], uint32_t cdw10,
                           const uint8_t *data, size_t len, struct nvmf_resv_notices *out,
                           bool *changed);
/* Reservation Report (0x0E) into buf (buf_len bytes, the host's NUMD). cdw11 bit 0 EDS
 * (extended data structure); without EDS a host with a 128-bit identifier gets
 * HOSTID_INCONSISTENT, as NVMe-oF hosts always have one. cntlid_of(hostid, ctx) gives the
 * controller id to report for a registrant (0xFFFF if it has none connected; a NULL
 * cntlid_of reports 0xFFFF for all). The report is truncated to buf_len (to the byte, a
 * last entry in part); bytes of buf past the report are zeroed, and REGCTL counts every
 * registrant, whatever fits. Without EDS nothing is written. */
uint16_t nvmf_resv_report(const struct nvmf_resv *r, uint32_t cdw11, uint8_t *buf, size_t buf_len,
                          uint16_t (*cntlid_of)(const uint8_t hostid[16], void *ctx), void *ctx);

/* May a command from `hostid` run? write: a command that modifies the medium (write, write
 * zeroes, DSM deallocate); otherwise a read (read, compare). Flush counts as a write here
 * as the specification lists it among the commands a Write Exclusive reservation blocks. */
bool nvmf_resv_access(const struct nvmf_resv *r, const uint8_t hostid[16], bool write);

/* The reservation state in the file that keeps it through power loss (--ptpl-dir), in
 * the format SPDK's target writes, so a node keeps its reservations when it moves
 * between an upstream io-engine and this one:
 *   {"ptpl": true, "rtype": 0..6, "crkey": u64, "bdev_uuid": "<device uuid>",
 *    "holder_uuid": "<host identifier>" or "",
 *    "registrants": [{"rkey": u64, "host_uuid": "<host identifier>"}, ...]}
 * (keys as bare decimal integers, identifiers as lower-case 8-4-4-4-12 text). With
 * persistence off (PTPLS 0) the text is empty, as SPDK empties the file.
 * The reservation generation is not kept (SPDK's format has none): it restarts at 0.
 *
 * to_ptpl: allocated text (free() it), NULL only when out of memory.
 * from_ptpl: text NULL or blank, or with "ptpl": false, gives the initial state;
 * otherwise the state in the text. -EINVAL with a message (state untouched) when the
 * text is not such an object, belongs to another device, or is inconsistent (a holder
 * that is no registrant, a reservation key that is nobody's, a host twice, more than
 * NVMF_RESV_MAX_REGISTRANTS registrants); unknown members are ignored. */
char *nvmf_resv_to_ptpl(const struct nvmf_resv *r, const char *bdev_uuid);
int nvmf_resv_from_ptpl(struct nvmf_resv *r, const char *text, const char *bdev_uuid, char *err,
                        size_t errlen);

/* NVM command set I/O on an I/O queue's reactor: Read, Write, Compare, Flush, Write
 * Zeroes and Dataset Management go to the namespace's device through this reactor's
 * channel; reservation commands go to the primary, which owns the reservation state. */
#include <errno.h>
#include <string.h>

#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

static uint16_t status_from_errno(int rc, bool write)
{
    switch (rc) {
    case 0:
        return NVME_SC_SUCCESS;
    case -EINVAL:
    case -ERANGE:
        return NVME_SC_LBA_RANGE;
    case -ENOSPC:
        return NVME_SC_CAPACITY_EXCEEDED;
    case -ENOTSUP:
        return NVME_SC_INVALID_OPCODE;
    case -EIO:
        return write ? NVME_SC_WRITE_FAULT : NVME_SC_READ_ERROR;
    default:
        return NVME_SC_INTERNAL;
    }
}

static void io_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct nvmf_req *r = arg;
    uint8_t opc = SQE_OPC(r->sqe);
    if (opc == NVME_IO_FLUSH && status == -ENOTSUP)
        status = 0; /* nothing volatile to flush */
    r->status = status_from_errno(status, opc != NVME_IO_READ);
    nvmf_req_complete(r);
}

static void compare_read(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct nvmf_req *r = arg;
    if (status)
        r->status = status_from_errno(status, false);
    else if (memcmp(r->cmp_buf, r->buf, r->xfer_len))
        r->status = NVME_SC_COMPARE_FAILED;
    nvmf_req_complete(r);
}

static void dsm_next(struct bdev_io *io, int status, void *arg);

/* Deallocates the next range of a Dataset Management command. */
static void dsm_run(struct nvmf_req *r)
{
    while (r->dsm_next < r->dsm_n) {
        const uint8_t *rg = r->buf + 16u * r->dsm_next++;
        uint32_t nlb = le32_get(rg + 4);
        if (!nlb)
            continue;
        bdev_unmap(r->qp->ch, &r->bio, le64_get(rg + 8), nlb, dsm_next, r);
        return;
    }
    nvmf_req_complete(r);
}

static void dsm_next(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct nvmf_req *r = arg;
    /* deallocation is advisory: a device that cannot unmap has still done what was asked */
    if (status && status != -ENOTSUP) {
        r->status = status_from_errno(status, true);
        nvmf_req_complete(r);
        return;
    }
    dsm_run(r);
}

static bool in_range(uint64_t slba, uint64_t nlb, uint64_t nblocks)
{
    return slba < nblocks && nlb <= nblocks - slba;
}

static void fail(struct nvmf_req *r, uint16_t sc)
{
    r->status = sc;
    nvmf_req_complete(r);
}

void nvmf_io_exec(struct nvmf_req *r)
{
    struct nvmf_qpair *qp = r->qp;
    const uint8_t *s = r->sqe;
    uint8_t opc = SQE_OPC(s);
    if (opc == NVME_IO_RESV_REGISTER || opc == NVME_IO_RESV_REPORT ||
        opc == NVME_IO_RESV_ACQUIRE || opc == NVME_IO_RESV_RELEASE) {
        if (SQE_NSID(s) != 1) {
            r->dnr = true;
            fail(r, NVME_SC_INVALID_NS);
            return;
        }
        nvmf_req_to_primary(r, nvmf_resv_exec);
        return;
    }
    uint32_t nsid = SQE_NSID(s);
    if (nsid != 1 && !(opc == NVME_IO_FLUSH && nsid == 0xFFFFFFFFu)) {
        r->dnr = true;
        fail(r, NVME_SC_INVALID_NS);
        return;
    }
    struct nvmf_subsys *ss = qp->ctrlr->ss;
    if (!qp->ch && !(qp->ch = bdev_get_channel(ss->desc))) {
        fail(r, NVME_SC_INTERNAL);
        return;
    }
    uint32_t access = atomic_load_explicit(&qp->access, memory_order_acquire);
    uint8_t ana = (uint8_t)(access >> NVMF_ACCESS_ANA_SHIFT);
    if (ana == NVME_ANA_INACCESSIBLE || ana == NVME_ANA_PERSISTENT_LOSS) {
        fail(r, NVME_SC_ANA_INACCESSIBLE);
        return;
    }
    if (ana == NVME_ANA_CHANGE) {
        fail(r, NVME_SC_ANA_TRANSITION);
        return;
    }
    const struct bdev *b = ss->bdev;
    uint64_t nblocks = atomic_load(&((struct bdev *)b)->num_blocks);
    uint64_t slba = (uint64_t)SQE_CDW(s, 10) | ((uint64_t)SQE_CDW(s, 11) << 32);
    uint64_t nlb = (SQE_CDW(s, 12) & 0xFFFFu) + 1;
    bool write = opc != NVME_IO_READ && opc != NVME_IO_COMPARE;

    switch (opc) {
    case NVME_IO_READ:
    case NVME_IO_WRITE:
    case NVME_IO_COMPARE:
    case NVME_IO_WRITE_ZEROES:
        if (opc != NVME_IO_WRITE_ZEROES && nlb * b->blk_size != r->xfer_len) {
            r->dnr = true;
            fail(r, NVME_SC_DATA_SGL_LENGTH_INVALID);
            return;
        }
        if (!in_range(slba, nlb, nblocks)) {
            r->dnr = true;
            fail(r, NVME_SC_LBA_RANGE);
            return;
        }
        break;
    case NVME_IO_FLUSH:
    case NVME_IO_DSM:
        break;
    default:
        r->dnr = true;
        fail(r, NVME_SC_INVALID_OPCODE);
        return;
    }
    if (!(access & (write ? NVMF_ACCESS_WRITE : NVMF_ACCESS_READ))) {
        fail(r, NVME_SC_RESERVATION_CONFLICT);
        return;
    }

    switch (opc) {
    case NVME_IO_READ:
        r->iov = (struct iovec){r->buf, r->xfer_len};
        r->c2h_len = r->xfer_len;
        bdev_readv(qp->ch, &r->bio, &r->iov, 1, slba, nlb, io_done, r);
        return;
    case NVME_IO_WRITE:
        r->iov = (struct iovec){r->buf, r->xfer_len};
        bdev_writev(qp->ch, &r->bio, &r->iov, 1, slba, nlb, io_done, r);
        return;
    case NVME_IO_COMPARE:
        r->cmp_buf = nvmf_buf_get(r->buf_len);
        if (!r->cmp_buf) {
            fail(r, NVME_SC_INTERNAL);
            return;
        }
        r->iov = (struct iovec){r->cmp_buf, r->xfer_len};
        bdev_readv(qp->ch, &r->bio, &r->iov, 1, slba, nlb, compare_read, r);
        return;
    case NVME_IO_WRITE_ZEROES:
        bdev_write_zeroes(qp->ch, &r->bio, slba, nlb, io_done, r);
        return;
    case NVME_IO_FLUSH:
        bdev_flush(qp->ch, &r->bio, 0, nblocks, io_done, r);
        return;
    case NVME_IO_DSM: {
        uint32_t n = (SQE_CDW(s, 10) & 0xFFu) + 1;
        if (r->xfer_len < 16u * n) {
            r->dnr = true;
            fail(r, NVME_SC_DATA_SGL_LENGTH_INVALID);
            return;
        }
        if (!(SQE_CDW(s, 11) & 0x4u)) { /* only attributes: nothing to do */
            nvmf_req_complete(r);
            return;
        }
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *rg = r->buf + 16u * i;
            if (!in_range(le64_get(rg + 8), le32_get(rg + 4), nblocks) && le32_get(rg + 4)) {
                r->dnr = true;
                fail(r, NVME_SC_LBA_RANGE);
                return;
            }
        }
        r->dsm_next = 0;
        r->dsm_n = n;
        dsm_run(r);
        return;
    }
    }
}

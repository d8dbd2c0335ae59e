/* The custom admin command 0xC1 "create snapshot" (behaviour §6): an upstream nexus
 * snapshots each of its replicas through the replica's NVMe-oF controller with it.
 *
 * Data (in the capsule): bincode v1 (little-endian, fixed-size integers) of the enum
 * V1{SnapshotParams}: a u32 variant index (0), then entity_id, parent_id, txn_id, name,
 * snapshot_uuid, create_time, each an Option<String> (u8 tag 0/1; if 1, a u64 length and
 * the UTF-8 bytes), then `discarded` (u8). cdw10/cdw11: the snapshot time, Unix seconds
 * (used when create_time is absent). On a replica subsystem the replica is snapshotted
 * (as SnapshotRpc.CreateReplicaSnapshot would); failure is generic status 06h (Internal)
 * with dword 0 = the errno, as upstream. Primary reactor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "lvs/lvol.h"
#include "lvs/snapshot.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"

#define FIELD_MAX 255 /* longest string field taken */

struct snap_params {
    char entity_id[FIELD_MAX + 1], parent_id[FIELD_MAX + 1], txn_id[FIELD_MAX + 1],
        name[FIELD_MAX + 1], uuid[FIELD_MAX + 1], create_time[FIELD_MAX + 1];
    bool has[6];
    bool discarded;
};

/* One Option<String> at *off; 0, or -EINVAL if it runs past the data or is too long. */
static int opt_string(const uint8_t *d, size_t len, size_t *off, char *out, bool *has)
{
    if (*off + 1 > len)
        return -EINVAL;
    uint8_t tag = d[(*off)++];
    *has = tag == 1;
    out[0] = 0;
    if (tag == 0)
        return 0;
    if (tag != 1 || *off + 8 > len)
        return -EINVAL;
    uint64_t n = le64_get(d + *off);
    *off += 8;
    if (n > FIELD_MAX || *off + n > len)
        return -EINVAL;
    memcpy(out, d + *off, (size_t)n);
    out[n] = 0;
    if (strlen(out) != n) /* a NUL inside */
        return -EINVAL;
    *off += (size_t)n;
    return 0;
}

static int decode(const uint8_t *d, size_t len, struct snap_params *p)
{
    memset(p, 0, sizeof(*p));
    if (len < 4 || le32_get(d) != 0) /* V1 */
        return -EINVAL;
    size_t off = 4;
    char *fields[6] = {p->entity_id, p->parent_id, p->txn_id, p->name, p->uuid, p->create_time};
    for (int i = 0; i < 6; i++)
        if (opt_string(d, len, &off, fields[i], &p->has[i]))
            return -EINVAL;
    if (off + 1 > len || d[off] > 1)
        return -EINVAL;
    p->discarded = d[off];
    return 0;
}

struct snap_ctx {
    struct nvmf_req *r;
    char pool[LVS_NAME_MAX];
};

static void created(void *arg, int rc, struct lvol *lv, const char *errmsg)
{
    (void)lv;
    struct snap_ctx *x = arg;
    lvs_name_unlock(x->pool);
    if (rc) {
        log_warn("nvmf: create-snapshot command failed: %s", errmsg ? errmsg : strerror(-rc));
        x->r->status = NVME_SC_INTERNAL;
        x->r->dw0 = (uint32_t)-rc;
    }
    nvmf_req_complete_from_primary(x->r);
    free(x);
}

static void fail(struct nvmf_req *r, uint16_t sc)
{
    r->status = sc;
    r->dnr = true;
    nvmf_req_complete_from_primary(r);
}

void nvmf_admin_create_snapshot(struct nvmf_req *r, struct nvmf_ctrlr *c)
{
    struct lvol *src = c->ss->bdev ? lvol_from_bdev(c->ss->bdev) : NULL;
    if (c->ss->discovery || !src || lvol_is_snapshot(src)) {
        fail(r, NVME_SC_INVALID_OPCODE); /* not a replica subsystem */
        return;
    }
    struct snap_params p;
    if (!r->h2c || !r->buf || decode(r->buf, r->xfer_len, &p) || !p.has[3] || !p.has[4] ||
        p.discarded) {
        fail(r, NVME_SC_INVALID_FIELD);
        return;
    }
    char when[LVOL_TIME_LEN];
    const char *create_time = p.has[5] ? p.create_time : NULL;
    uint64_t secs = (uint64_t)SQE_CDW(r->sqe, 10) | ((uint64_t)SQE_CDW(r->sqe, 11) << 32);
    if (!create_time && secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S.000000000 UTC", &tm);
        create_time = when;
    }
    struct snap_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        r->status = NVME_SC_INTERNAL;
        r->dw0 = ENOMEM;
        nvmf_req_complete_from_primary(r);
        return;
    }
    snprintf(x->pool, sizeof(x->pool), "%s", src->lvs->name);
    if (lvs_name_trylock(x->pool)) {
        free(x);
        r->status = NVME_SC_INTERNAL;
        r->dw0 = EBUSY; /* another operation on the pool: the nexus retries */
        nvmf_req_complete_from_primary(r);
        return;
    }
    x->r = r;
    struct lvol_snapshot_args a = {
        .name = p.name,
        .uuid = p.uuid,
        .entity_id = p.has[0] ? p.entity_id : NULL,
        .txn_id = p.has[2] ? p.txn_id : NULL,
        .create_time = create_time,
    };
    log_info("nvmf: %s: create-snapshot command from host %s: %s (%s)", c->ss->nqn, c->hostnqn,
             p.name, p.uuid);
    lvol_snapshot_create(src, &a, created, x);
}

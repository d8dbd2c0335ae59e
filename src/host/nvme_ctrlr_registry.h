/* NVMe controllers this engine has connected to as an initiator (nvmf:// devices).
 * The initiator registers its controllers here; HostRpc ListNvmeControllers /
 * StatNvmeController and their v0 twins read it. Primary reactor only. */
#pragma once
#include <stddef.h>
#include <stdint.h>

enum nvme_ctrlr_state {
    NVME_CTRLR_NEW = 0,
    NVME_CTRLR_INITIALIZING = 1,
    NVME_CTRLR_RUNNING = 2,
    NVME_CTRLR_FAULTED = 3,
    NVME_CTRLR_UNCONFIGURING = 4,
    NVME_CTRLR_UNCONFIGURED = 5,
};

struct nvme_ctrlr_io_stats {
    uint64_t num_read_ops, num_write_ops, bytes_read, bytes_written, num_unmap_ops,
        bytes_unmapped;
};

struct nvme_ctrlr_info {
    char name[288];
    enum nvme_ctrlr_state state;
    uint64_t size;     /* namespace size in bytes, 0 if none */
    uint32_t blk_size; /* namespace block size, 0 if none */
    struct nvme_ctrlr_io_stats stats;
};

/* A registered controller reports its current info through this callback. */
struct nvme_ctrlr_entry {
    void (*describe)(struct nvme_ctrlr_entry *e, struct nvme_ctrlr_info *out);
    struct nvme_ctrlr_entry *next;
};

void nvme_ctrlr_registry_add(struct nvme_ctrlr_entry *e);
void nvme_ctrlr_registry_remove(struct nvme_ctrlr_entry *e);
/* Snapshot of every controller, in registration order; caller frees *out. */
int nvme_ctrlr_registry_list(struct nvme_ctrlr_info **out, size_t *n);
/* 0 and *out filled, or -ENOENT. */
int nvme_ctrlr_registry_find(const char *name, struct nvme_ctrlr_info *out);
